# -*- coding: utf-8 -*-
"""The program ``migrate inspect --host`` runs on the old host (sent over SSH on stdin).

It only reads: it walks the paths it is given and writes what it finds to stdout as frames,
so that one command brings back every configuration file and the listing of the archives, and
one more streams every archive mbox. It runs under whatever Python the old host has (Mailman 2
needs Python 2, so there always is one): Python 2.6+ and 3.x, standard library only.

Usage (argv): ``snap ROOT SPEC_JSON [MBOX_DIRS_JSON [SCAN_JSON]]`` or ``stream ROOT PATH_JSON``.

* SPEC_JSON is a list of ``[path, how, depth]``; ``how`` is ``content`` (stat every entry to
  ``depth`` levels, and send files up to MAX_CONTENT bytes whole), ``stat`` (entries only),
  ``names`` (directories at the last level send their entry names only), ``links`` (at any
  depth, only the symlinks and the folders that could not be listed, marked ``w``) or
  ``forwards`` (the path is a passwd file: each user's ``HOME/.forward`` whole, and the
  folders on the way to it, symlinks followed inside ROOT).
* PATH_JSON is a list of paths whose content is streamed in chunks.
* MBOX_DIRS_JSON lists archive folders (``archives/private``): after the snapshot, every
  ``NAME.mbox/NAME.mbox`` in them is streamed too, in the order of NAME, so that the whole
  inspection takes one command.
* SCAN_JSON (``{"now": [Y, M, D, h, m, s], "line_limit": N}``, ``now`` in UTC): instead of
  streaming each mbox, scan it here with ``mboxscan`` (``parsers/mboxscan.py``, which the client
  sends ahead of this program and registers as a module) and send only its summary. Line
  numbers are counted for mboxes up to ``line_limit`` bytes.

Paths are host paths (``/etc/rc.conf``) joined under ROOT (``/`` or a jail's root); symlinks
are reported, never followed. Every path travels as a string decoded from bytes as Latin-1, so
any file name, however hostile, arrives exactly.

Frames: one type byte, a 4-byte big-endian length, the payload. ``M`` a JSON header (an entry;
``c`` in it, when content follows, is its size: the client takes no more), ``D`` a chunk of the
last entry's content (at most CHUNK bytes), ``Z`` end of that content (when streaming, a JSON
object: ``e`` an error, ``c`` how the file changed while it was sent), ``X`` end of the stream;
when scanning, ``P`` the progress of the last entry's scan (``DONE SIZE`` in ASCII) and ``S``
its summary (JSON).
"""

import datetime
import json
import os
import stat
import struct
import sys

try:
    import mboxscan  # sent by the client ahead of this program
except ImportError:
    mboxscan = None

MAX_CONTENT = 64 * 1024 * 1024
CHUNK = 1024 * 1024

try:
    _out = sys.stdout.buffer  # Python 3
except AttributeError:  # Python 2
    _out = sys.stdout


def frame(kind, payload):
    _out.write(kind + struct.pack(">I", len(payload)) + payload)


def meta(entry):
    frame(b"M", json.dumps(entry).encode("ascii"))


def text(b):
    """bytes -> str, losslessly (Latin-1)."""
    if isinstance(b, bytes) and not isinstance(b, str):
        return b.decode("latin-1")
    if not isinstance(b, bytes):
        return b  # Python 3 str already
    return b.decode("latin-1")  # Python 2 str


def raw(s):
    """str from the other side -> bytes for the file system."""
    return s.encode("latin-1")


def describe(exc):
    if isinstance(exc, NotRegular):
        return str(exc)
    code = getattr(exc, "errno", None)
    if code in (1, 13):
        return "permission denied"
    if code == 2:
        return "not found"
    return getattr(exc, "strerror", None) or str(exc)


class NotRegular(Exception):
    """A path that is not a regular file (a FIFO, a device, a socket): never read."""


#: the same words as parsers.base.file_kind
KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
         (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
         (stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a symbolic link"))


def kind_words(mode):
    for test, words in KINDS:
        if test(mode):
            return words
    return "not a regular file"


def not_regular(words):
    return "not a regular file (%s); only regular files are read" % words


def open_regular(local):
    """(file, size) of a regular file, opened without blocking and without following a last
    link, and checked by its own descriptor: a FIFO or a device swapped in after the lstat is
    refused before a byte is read (raises NotRegular)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | \
        getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(local, flags)
    except OSError:
        mode = os.lstat(local).st_mode  # a socket cannot be opened (ENXIO): say what it is
        if not stat.S_ISREG(mode):
            raise NotRegular(not_regular(kind_words(mode)))
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegular(not_regular(kind_words(st.st_mode)))
        import fcntl
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~getattr(
            os, "O_NONBLOCK", 0))
        return os.fdopen(fd, "rb"), st.st_size
    except Exception:
        os.close(fd)
        raise


def entry_for(host_path, local):
    try:
        st = os.lstat(local)
    except OSError as exc:
        return {"p": text(host_path), "e": describe(exc)}
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        kind = "link"
    elif stat.S_ISDIR(mode):
        kind = "dir"
    elif stat.S_ISREG(mode):
        kind = "file"
    else:
        kind = "other"
    e = {"p": text(host_path), "k": kind, "s": st.st_size, "m": stat.S_IMODE(mode),
         "u": st.st_uid, "g": st.st_gid, "t": st.st_mtime}
    if kind == "other":
        e["x"] = kind_words(mode)
    if kind == "link":
        try:
            e["l"] = text(os.readlink(local))
        except OSError as exc:
            e["e"] = describe(exc)
    return e


def send_content(e, local):
    """Send the header ``e`` of a file with the size it has once opened (``c``: no more
    content follows), then its content as ``D`` frames, up to that size; return ``(error or
    None, changed or None)``, ``changed`` as ``mboxscan.changed_record`` gives it (how the file
    changed while it was read)."""
    try:
        fh = open_regular(local)[0]
    except (IOError, OSError, NotRegular):
        e["c"] = 0
        meta(e)
        return describe(sys.exc_info()[1]), None
    try:
        before = os.fstat(fh.fileno())
        left = e["c"] = before.st_size
        meta(e)
        while left > 0:
            data = fh.read(min(CHUNK, left))
            if not data:
                break
            left -= len(data)
            frame(b"D", data)
        after = os.fstat(fh.fileno())
    finally:
        fh.close()
    if mboxscan is None:
        return None, None
    return None, mboxscan.changed_record(mboxscan.change(before, after, local), before.st_size,
                                         after.st_size, 1)


def walk_links(root, host_path):
    """Every symlink at any depth below the folder ``host_path`` (never following one, nor the
    folder itself if it is one), and every folder below it that could not be listed, each as
    an entry marked ``w`` (of the links walk: it stands for those paths only)."""
    try:
        if not stat.S_ISDIR(os.lstat(root + host_path if root != b"/" else host_path).st_mode):
            return
    except OSError:
        return
    stack = [host_path]  # not recursion: a hostile tree may be nested deeper than the stack
    while stack:
        folder = stack.pop()
        local = root + folder if root != b"/" else folder
        try:
            names = os.listdir(local)  # in any order: the client sorts what it gets
        except OSError as exc:
            if describe(exc) != "not found":  # gone since: a live Mailman's temporary folder
                meta({"p": text(folder), "e": describe(exc), "w": 1})
            continue
        for name in names:
            path = folder.rstrip(b"/") + b"/" + name
            child = local.rstrip(b"/") + b"/" + name
            try:  # a mode first: an entry is built for links only (nearly no name of an archive)
                mode = os.lstat(child).st_mode
            except OSError as exc:
                if describe(exc) != "not found":  # gone since it was listed (a lock file)
                    meta({"p": text(path), "e": describe(exc), "w": 1})
                continue
            if stat.S_ISLNK(mode):
                e = entry_for(path, child)
                e["w"] = 1
                meta(e)
            elif stat.S_ISDIR(mode):
                stack.append(path)


def forwards(root, passwd):
    """Each user's forward file (``HOME/.forward``, which the MTA reads for the user) and every
    folder on the way to it, for the users of the passwd file ``passwd``: one command for all
    of them. A symlink on the way (FreeBSD's ``/home`` -> ``usr/home``) is followed inside
    ``root``, its target's folders sent too."""
    local = root + passwd if root != b"/" else passwd
    try:
        fh = open_regular(local)[0]
        try:
            data = fh.read(MAX_CONTENT)
        finally:
            fh.close()
    except (IOError, OSError, NotRegular):
        return
    sent = set()
    for line in data.split(b"\n"):
        fields = line.split(b":")
        if len(fields) < 7 or not fields[5].startswith(b"/"):
            continue
        path = os.path.normpath(fields[5]).rstrip(b"/") + b"/.forward"
        for _ in range(40):  # symlinks followed, a loop ends here
            parts = [p for p in path.split(b"/") if p and p != b"."]
            target = None
            for i in range(1, len(parts) + 1):
                prefix = b"/" + b"/".join(parts[:i])
                if prefix not in sent:
                    sent.add(prefix)
                    walk(root, prefix, "content" if i == len(parts) else "stat", 0)
                folder = root + prefix if root != b"/" else prefix
                if i < len(parts) and os.path.islink(folder):
                    link = os.readlink(folder)
                    base = link if link.startswith(b"/") else \
                        b"/".join([b""] + parts[:i - 1] + [link])
                    target = os.path.normpath(base + b"/" + b"/".join(parts[i:]))
                    break
            if target is None:
                break
            path = target


def walk(root, host_path, how, depth):
    local = root + host_path if root != b"/" else host_path
    if how == "links":
        walk_links(root, host_path)
        return
    if how == "forwards":
        forwards(root, host_path)
        return
    e = entry_for(host_path, local)
    if e.get("k") == "dir" and depth <= 0 and how == "names":
        try:
            e["n"] = sorted(text(n) for n in os.listdir(local))
        except OSError as exc:
            e["e"] = describe(exc)
        meta(e)
        return
    if e.get("k") == "dir" and depth > 0:
        try:
            names = os.listdir(local)  # in any order: the client sorts what it gets
        except OSError as exc:
            e["e"] = describe(exc)
            meta(e)
            return
        e["n"] = [text(n) for n in names]
        meta(e)
        for name in names:
            walk(root, host_path.rstrip(b"/") + b"/" + name, how, depth - 1)
        return
    if e.get("k") == "file" and how == "content":
        if e["s"] > MAX_CONTENT:
            e["big"] = True
            meta(e)
            return
        try:
            fh, size = open_regular(local)
            try:
                data = fh.read(MAX_CONTENT + 1) if size <= MAX_CONTENT else b""
            finally:
                fh.close()
        except (IOError, OSError, NotRegular) as exc:
            e["e"] = describe(exc)
            meta(e)
            return
        if size > MAX_CONTENT or len(data) > MAX_CONTENT:  # it grew since the lstat
            e["big"] = True
            meta(e)
            return
        e["c"] = len(data)
        meta(e)
        for i in range(0, len(data), CHUNK):
            frame(b"D", data[i:i + CHUNK])
        frame(b"Z", b"")
        return
    meta(e)


def stream(root, paths):
    for p in paths:
        local = root + p if root != b"/" else p
        e = entry_for(p, local)
        if e.get("k") == "file":
            e["stream"] = True
            error, changed = send_content(e, local)
            frame(b"Z", json.dumps({"e": error, "c": changed}).encode("ascii"))
        else:
            meta(e)
    frame(b"X", b"")


def scan(root, paths, options):
    """Scan each mbox here; send its header, its progress and its summary."""
    now = datetime.datetime(*options["now"])
    for p in paths:
        local = root + p if root != b"/" else p
        e = entry_for(p, local)
        if e.get("k") != "file":
            meta(e)
            continue
        try:
            fh, size = open_regular(local)
        except (IOError, OSError, NotRegular):
            e["e"] = describe(sys.exc_info()[1])
            meta(e)
            continue
        e["scan"] = True
        meta(e)

        def progress(done, total):
            frame(b"P", ("%d %d" % (done, total)).encode("ascii"))
            _out.flush()
        try:
            summary = mboxscan.scan_open_file(fh, now, path=local, progress=progress,
                                              line_numbers=size <= options["line_limit"])
        finally:
            fh.close()
        frame(b"S", json.dumps(summary).encode("ascii"))
        _out.flush()
    frame(b"X", b"")


def mboxes(root, folders):
    """``NAME.mbox/NAME.mbox`` under each archive folder, ordered by NAME."""
    found = []
    for folder in folders:
        local = root + folder if root != b"/" else folder
        try:
            names = os.listdir(local)
        except OSError:
            continue
        for name in sorted(n[:-5] for n in names if n.endswith(b".mbox")):
            path = folder.rstrip(b"/") + b"/" + name + b".mbox/" + name + b".mbox"
            target = root + path if root != b"/" else path
            if os.path.isfile(target) and not os.path.islink(target):
                found.append(path)
    return found


def main(argv):
    command, root, spec = argv[0], raw(argv[1]), json.loads(argv[2])
    root = root.rstrip(b"/") or b"/"
    if command == "snap":
        for host_path, how, depth in spec:
            walk(root, raw(host_path), how, depth)
        frame(b"X", b"")
        if len(argv) > 4:
            if mboxscan is None:
                sys.stderr.write("the scanner was not sent with the agent\n")
                sys.exit(2)
            _out.flush()
            scan(root, mboxes(root, [raw(f) for f in json.loads(argv[3])]),
                 json.loads(argv[4]))
        elif len(argv) > 3:
            stream(root, mboxes(root, [raw(f) for f in json.loads(argv[3])]))
    elif command == "stream":
        stream(root, [raw(p) for p in spec])
    _out.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
