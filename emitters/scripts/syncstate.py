# Written by migrate (rsync/syncstate.py): what the pre-sync copied and what changed since.
# Runs with the host's own Python, 2.6+ or 3, on both hosts; it reads files and never loads a
# pickle. Every record is JSON lines, one file per line, paths relative to the var prefix.
#
#   stat VAR SPEC                      the files the sync carries, by lstat only (no read)
#   scan VAR SPEC [--prev REC] [--cut REC]
#                                      the same with each regular file's SHA-256 (reused from
#                                      --prev where size, mtime, ctime and inode are unchanged);
#                                      --cut: a shorter copy's size per path (the new host's
#                                      scan) for which the prefix of that size is hashed too
#   agree OLD NEW                      after the pre-sync: the files both hosts hold alike
#                                      (whole, or for an archive mbox a prefix of the old one)
#   delta VAR SPEC SYNCED NEWSTAT APPEND WHOLE
#                                      in the freeze, on the old host: the freeze manifest on
#                                      stdout, the paths to append to and to copy whole
#                                      (NUL-separated); unchanged files are not read
#   settle VAR SPEC MANIFEST           after the copy: nothing changed on the old host since
#   check VAR SPEC MANIFEST            on the new host: every file as the manifest says
#   prefixes VAR SPEC MANIFEST         after the window, on the old host: each appended mbox's
#                                      copied part read whole against the pre-sync's checksum
#
# SPEC is the plan's rsync/sync-spec.json: the copied trees with the rsync filters as data.
# Exit 0 done, 1 a difference (named on stderr), 2 usage, 3 unreadable input.
import fnmatch, hashlib, json, os, stat, sys

CHUNK = 1 << 20
WINDOW = 1 << 16   # the head and the tail of a prefix probed whole
SAMPLES = 14       # evenly spread 4 KiB windows between them
SAMPLE = 4096
PARTIAL = ".rsync-partial"


def out(text):
    sys.stdout.write(text)


def err(text):
    sys.stderr.write(text + "\n")


def name(raw):
    """A path as bytes (both Pythons) made a JSON string and back, whatever its bytes."""
    return raw.decode("latin-1")


def raw(path):
    data = path.encode("latin-1")
    if sys.version_info[0] >= 3:
        return os.fsdecode(data)  # novermin (Python 3.2+)
    return data


class Spec(object):
    def __init__(self, path):
        try:
            f = open(path)
            try:
                doc = json.load(f)
            finally:
                f.close()
        except (IOError, OSError, ValueError):
            err("%s: unreadable sync spec: %s" % (path, sys.exc_info()[1]))
            sys.exit(3)
        self.trees = doc["trees"]
        self.skip = doc.get("skip", [])

    def walk(self):
        """(path, lstat, tree) for every entry the sync carries, the path relative to the
        current folder (the var prefix) as name() gives it, in a fixed order."""
        for tree in self.trees:
            try:
                st = os.lstat(raw(tree["path"]))
            except OSError:
                continue
            if stat.S_ISLNK(st.st_mode):  # rsync would copy what it points to
                err("%s is a symbolic link: not copied" % show(tree["path"]))
                sys.exit(1)
            if not stat.S_ISDIR(st.st_mode):
                continue
            include = tree.get("include")
            folders = tree.get("folders", [])
            exclude = tree.get("exclude", [])
            stack = [tree["path"]]
            while stack:
                here = stack.pop()
                try:
                    entries = sorted(name(_bytes(e)) for e in os.listdir(raw(here)))
                except OSError:
                    continue
                subdirs = []
                for entry in entries:
                    path = here + "/" + entry
                    rel = path[len(tree["path"]) + 1:]
                    if rel in exclude or entry == PARTIAL:
                        continue
                    if [p for p in self.skip if fnmatch.fnmatchcase(entry, p)]:
                        continue
                    if include is not None and here == tree["path"] and not (
                            [p for p in include if fnmatch.fnmatchcase(entry, p)]
                            or entry in folders):
                        continue
                    try:
                        st = os.lstat(raw(path))
                    except OSError:
                        continue
                    if kind(st) is None:
                        continue
                    if stat.S_ISLNK(st.st_mode) and not safe_link(path, rel):
                        continue  # rsync --safe-links leaves it out: never compared
                    yield path, st, tree
                    if stat.S_ISDIR(st.st_mode):
                        subdirs.append(path)
                stack.extend(reversed(subdirs))


def safe_link(path, rel):
    """rsync's --safe-links rule, with the copied folder as the root: a link is safe when its
    target is relative and never climbs above that folder on the way (REL: its path in the
    folder)."""
    try:
        target = name(_bytes(os.readlink(raw(path))))
    except OSError:
        return False
    if target.startswith("/"):
        return False
    depth = rel.count("/")
    for part in target.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return False
        elif part not in ("", "."):
            depth += 1
    return True


def _bytes(path):
    if sys.version_info[0] >= 3:
        return os.fsencode(path)  # novermin (Python 3.2+)
    return path


def show(path):
    """A path for a message: quoted, every byte outside printable ASCII escaped."""
    return json.dumps(path)


def stamp(st):
    """Size, mtime, ctime and inode: a file with all four unchanged was not written (ctime
    moves with every write and with touch -r, and no user can set it)."""
    m = getattr(st, "st_mtime_ns", None)
    c = getattr(st, "st_ctime_ns", None)
    if m is None:
        m, c = repr(st.st_mtime), repr(st.st_ctime)
    return [st.st_size, m, c, st.st_ino]


KINDS = {"f": "file", "d": "folder", "l": "symbolic link"}


def kind(st):
    if stat.S_ISREG(st.st_mode):
        return "f"
    if stat.S_ISDIR(st.st_mode):
        return "d"
    if stat.S_ISLNK(st.st_mode):
        return "l"
    return None  # FIFOs, devices, sockets: rsync skips them too


class Reader(object):
    """Reads files, counting the bytes."""

    def __init__(self):
        self.bytes = 0

    def digest(self, path, start=0, stop=None, cuts=()):
        """SHA-256 of [start, stop) (stop None: to the end), and of each prefix [0, cut) for
        the cuts asked for (start 0 only): (hexdigest, {cut: hexdigest}, lstat before)."""
        h = hashlib.sha256()
        at = {}
        f = open(path, "rb")
        try:
            before = os.fstat(f.fileno())
            f.seek(start)
            pos = start
            todo = sorted(c for c in cuts if 0 <= c)
            while stop is None or pos < stop:
                want = CHUNK if stop is None else min(CHUNK, stop - pos)
                if todo and todo[0] - pos < want:
                    want = todo[0] - pos
                chunk = f.read(want) if want else b""
                if want and not chunk:
                    break
                h.update(chunk)
                pos += len(chunk)
                self.bytes += len(chunk)
                while todo and todo[0] == pos:
                    at[todo.pop(0)] = h.hexdigest()
        finally:
            f.close()
        return h.hexdigest(), at, before

    def probe(self, path, size):
        """A fingerprint of the prefix [0, size): its size, head, tail and samples between.
        A rewrite that moved any byte (cleanarch's '>From ' escapes, an edit that adds or
        removes a character) changes the tail; it is read in a constant number of bytes."""
        spans = [(0, min(WINDOW, size)), (max(0, size - WINDOW), size)]
        for k in range(1, SAMPLES + 1):
            at = (size * k) // (SAMPLES + 1)
            spans.append((at, min(size, at + SAMPLE)))
        h = hashlib.sha256(("%d\n" % size).encode("ascii"))
        f = open(path, "rb")
        try:
            for a, b in spans:
                f.seek(a)
                chunk = f.read(b - a)
                self.bytes += len(chunk)
                if len(chunk) != b - a:
                    return None
                h.update(chunk)
        finally:
            f.close()
        return h.hexdigest()


def load(path):
    """A record as {path: entry}."""
    records = {}
    try:
        f = open(path)
    except (IOError, OSError):
        err("%s: unreadable record: %s" % (path, sys.exc_info()[1]))
        sys.exit(3)
    try:
        for n, line in enumerate(f):
            try:
                entry = json.loads(line)
                records[entry["p"]] = entry
            except (ValueError, KeyError, TypeError):
                err("%s, line %d: not a record line" % (path, n + 1))
                sys.exit(3)
    finally:
        f.close()
    return records


def emit(entry):
    out(json.dumps(entry, sort_keys=True) + "\n")


def entry_of(path, st, tree):
    e = {"p": path, "t": kind(st), "st": stamp(st)}
    if e["t"] == "d":
        e["mo"] = stat.S_IMODE(st.st_mode)
    elif e["t"] == "l":
        try:
            e["lt"] = name(_bytes(os.readlink(raw(path))))
        except OSError:
            pass
    if tree.get("mbox"):
        e["mbox"] = True
    return e


def walk(var, spec):
    """Spec.walk() run in VAR (the paths the records hold are relative to it)."""
    os.chdir(var)
    return spec.walk()


def cmd_stat(var, spec):
    for path, st, tree in walk(var, spec):
        emit(entry_of(path, st, tree))
    return 0


def cmd_scan(var, spec, prev, cut):
    reader = Reader()
    n = 0
    for path, st, tree in walk(var, spec):
        e = entry_of(path, st, tree)
        if e["t"] == "f":
            old = prev.get(path)
            cuts = []
            c = cut.get(path)
            if c and e.get("mbox") and c["t"] == "f" and c["st"][0] < st.st_size:
                cuts = [c["st"][0]]
            if old and old.get("st") == e["st"] and old.get("h") and not cuts:
                e["h"], e["pr"] = old["h"], old.get("pr")
            else:
                try:
                    h, at, before = reader.digest(raw(path), cuts=cuts)
                    after = os.lstat(raw(path))
                except (IOError, OSError):
                    continue
                # changed while read: no checksum (the final sync copies it whole)
                if stamp(before) == e["st"] == stamp(after):
                    e["h"] = h
                    if e.get("mbox"):
                        e["pr"] = reader.probe(raw(path), st.st_size)
                        for size, digest in at.items():
                            e["cut"] = [size, digest, reader.probe(raw(path), size)]
        emit(e)
        n += 1
    err("scan: %d entries, %d bytes read" % (n, reader.bytes))
    return 0


def cmd_agree(old, new):
    """Per path both hosts hold alike: the old host's stamp, the new host's, and the size of
    the prefix they share with its checksum and probe."""
    agreed = unknown = 0
    for path in sorted(old):
        o, n = old[path], new.get(path)
        if n is None or o["t"] != n["t"]:
            unknown += 1
            continue
        e = {"p": path, "t": o["t"], "old": o["st"], "new": n["st"]}
        if o.get("mbox"):
            e["mbox"] = True
        if o["t"] == "f":
            if o.get("h") and o["h"] == n.get("h") and o["st"][0] == n["st"][0]:
                e.update({"size": o["st"][0], "h": o["h"], "pr": o.get("pr")})
            elif o.get("cut") and n.get("h") and o["cut"][:2] == [n["st"][0], n["h"]]:
                e.update({"size": n["st"][0], "h": n["h"], "pr": o["cut"][2]})
            else:
                unknown += 1
                continue
        elif o["t"] == "d":
            if o.get("mo") != n.get("mo"):
                unknown += 1
                continue
            e["mo"] = o.get("mo")
        elif o["t"] == "l":
            if o.get("lt") != n.get("lt"):
                unknown += 1
                continue
            e["lt"] = o.get("lt")
        emit(e)
        agreed += 1
    err("agree: %d entries alike on both hosts, %d to copy again at the freeze"
        % (agreed, unknown))
    return 0


def cmd_delta(var, spec, synced, newstat, append_list, whole_list):
    reader = Reader()
    seen = set()
    counts = {"same": 0, "grown": 0, "whole": 0, "gone": 0}
    tail_bytes = [0]
    appends, wholes = [], []
    for path, st, tree in walk(var, spec):
        seen.add(path)
        e = entry_of(path, st, tree)
        rec, now = synced.get(path), newstat.get(path)
        new_as_recorded = rec is not None and now is not None and now["st"] == rec["new"]
        if e["t"] != "f":
            # a folder's times move with its entries: its kind, mode and link target count
            if rec and now and rec["t"] == e["t"] == now["t"] and \
                    rec.get("mo") == e.get("mo") == now.get("mo") and \
                    rec.get("lt") == e.get("lt") == now.get("lt"):
                e["k"] = "same"
            else:
                e["k"] = "whole"
                wholes.append(path)
            counts[e["k"]] += 1
            emit(_manifest(e))
            continue
        size = st.st_size
        if rec and rec["t"] == "f" and new_as_recorded and rec["old"] == e["st"] \
                and rec["size"] == size:
            e.update({"k": "same", "h": rec["h"], "n": rec["new"]})
        elif rec and rec["t"] == "f" and new_as_recorded and e.get("mbox") \
                and rec["old"][3] == st.st_ino and size > rec["size"] and rec.get("pr") \
                and reader.probe(raw(path), rec["size"]) == rec["pr"]:
            try:
                tail, _, before = reader.digest(raw(path), start=rec["size"], stop=size)
            except (IOError, OSError):
                tail, before = None, None
            if before is not None and stamp(before) == e["st"]:
                e.update({"k": "grown", "from": rec["size"], "tail": tail, "pr": rec["pr"],
                          "n": rec["new"], "h": rec["h"]})
                tail_bytes[0] += size - rec["size"]
                appends.append(path)
        if "k" not in e:
            try:
                h, _, before = reader.digest(raw(path))
            except (IOError, OSError):
                err("delta: %s: unreadable: %s" % (show(path), sys.exc_info()[1]))
                return 1
            if stamp(before) != e["st"] or stamp(os.lstat(raw(path))) != e["st"]:
                err("delta: %s changed while it was read: Mailman or another process still "
                    "writes; stop it and run the final sync again" % show(path))
                return 1
            e.update({"k": "whole", "h": h})
            wholes.append(path)
        counts[e["k"]] += 1
        emit(_manifest(e))
    for path in sorted(synced):
        if path not in seen:
            emit({"p": path, "k": "gone", "t": synced[path]["t"]})
            counts["gone"] += 1
    for target, paths in ((append_list, appends), (whole_list, wholes)):
        f = open(target, "wb")
        try:
            for path in paths:
                f.write(path.encode("latin-1") + b"\0")
        finally:
            f.close()
    err("delta: %(same)d unchanged (not read), %(grown)d grown (tail only), %(whole)d to copy "
        "whole, %(gone)d deleted" % counts)
    err("delta: %d bytes read on this host (%d of them new tails)"
        % (reader.bytes, tail_bytes[0]))
    return 0


def _manifest(e):
    keep = ("p", "t", "k", "st", "h", "n", "from", "tail", "pr", "mo", "lt")
    return dict((k, e[k]) for k in keep if k in e)


def against(var, spec, manifest, seen):
    """(path, lstat, manifest entry or None) for every entry in VAR, noting each path in
    ``seen``; then ``missing(manifest, seen)`` gives what the manifest holds and VAR lacks."""
    for path, st, tree in walk(var, spec):
        seen.add(path)
        m = manifest.get(path)
        yield path, st, (None if m is None or m["k"] == "gone" else m)


def missing(manifest, seen):
    return [path for path, m in sorted(manifest.items())
            if m["k"] != "gone" and path not in seen]


def cmd_settle(var, spec, manifest):
    bad = []
    seen = set()
    for path, st, m in against(var, spec, manifest, seen):
        if m is None:
            bad.append("%s: new since the final sync began" % show(path))
        elif m.get("st") != stamp(st):
            bad.append("%s: changed during the final sync" % show(path))
    bad += ["%s: deleted during the final sync" % show(p) for p in missing(manifest, seen)]
    for line in bad:
        err("settle: " + line)
    if bad:
        err("settle: the old host changed while the final sync ran: stop what writes there "
            "(Mailman, cron) and run the final sync again")
        return 1
    err("settle: the old host unchanged during the final sync (%d entries)" % len(seen))
    return 0


def cmd_check(var, spec, manifest):
    reader = Reader()
    bad = []
    seen = set()
    for path, st, m in against(var, spec, manifest, seen):
        if m is None:
            bad.append("%s: on the new host, not on the old" % show(path))
            continue
        if m["t"] != kind(st):
            bad.append("%s: a %s on the new host, a %s on the old"
                       % (show(path), KINDS[kind(st)], KINDS[m["t"]]))
            continue
        if m["t"] != "f":
            continue  # folders and links: their names are enough (rsync set the rest)
        now = stamp(st)
        if m["k"] == "same" and now == m["n"]:
            continue
        if m["k"] == "grown" and now[0] == m["st"][0] and now[3] == m["n"][3]:
            tail = reader.digest(raw(path), start=m["from"], stop=now[0])[0]
            if tail == m["tail"] and reader.probe(raw(path), m["from"]) == m["pr"]:
                continue
            bad.append("%s: its appended part differs from the old host's" % show(path))
            continue
        # copied whole, or not as recorded: read it all
        if now[0] != m["st"][0] or reader.digest(raw(path))[0] != m.get("h"):
            bad.append("%s: differs from the old host's" % show(path))
    bad += ["%s: missing on the new host" % show(p) for p in missing(manifest, seen)]
    for line in bad:
        err("check: " + line)
    err("check: %d entries, %d bytes read, %d differ" % (len(seen), reader.bytes, len(bad)))
    return 1 if bad else 0


def cmd_prefixes(var, spec, manifest):
    """After the freeze window, on the old host (frozen: its Mailman stopped, its mail
    forwarded): each mbox the final sync appended to, its copied part read whole against the
    pre-sync's checksum. The window trusted the probe (head, tail, samples); this proves it."""
    reader = Reader()
    bad = 0
    grown = [(p, m) for p, m in sorted(manifest.items()) if m.get("k") == "grown"]
    os.chdir(var)
    for path, m in grown:
        try:
            now = stamp(os.lstat(raw(path)))
            same = now == m["st"] and reader.digest(raw(path), stop=m["from"])[0] == m["h"]
        except (IOError, OSError):
            now, same = None, False
        if not same:
            bad += 1
            err("prefixes: %s: its first %d bytes on this host are not what the pre-sync copied"
                "%s: the new host holds the pre-sync's; put this host's file there, followed "
                "by the new host's bytes after %d (the posts archived there since the switch)"
                % (show(path), m["from"], "" if now == m["st"] else " (and it changed since the "
                   "freeze)", m["st"][0]))
    err("prefixes: %d appended mbox(es) read whole, %d bytes, %d differ"
        % (len(grown), reader.bytes, bad))
    return 1 if bad else 0


def main(argv):
    args = argv[1:]
    opts = {}
    rest = []
    while args:
        a = args.pop(0)
        if a in ("--prev", "--cut") and args:
            opts[a] = args.pop(0)
        else:
            rest.append(a)
    if len(rest) < 2:
        return usage()
    verb = rest[0]
    if verb == "agree" and len(rest) == 3:
        return cmd_agree(load(rest[1]), load(rest[2]))
    if len(rest) < 3:
        return usage()
    var, spec = rest[1], Spec(rest[2])
    if not os.path.isdir(var):
        err("%s: no such folder" % var)
        return 3
    if verb == "stat" and len(rest) == 3:
        return cmd_stat(var, spec)
    if verb == "scan" and len(rest) == 3:
        prev = load(opts["--prev"]) if os.path.isfile(opts.get("--prev", "")) else {}
        cut = load(opts["--cut"]) if "--cut" in opts else {}
        return cmd_scan(var, spec, prev, cut)
    if verb == "delta" and len(rest) == 7:
        return cmd_delta(var, spec, load(rest[3]), load(rest[4]), rest[5], rest[6])
    if verb == "settle" and len(rest) == 4:
        return cmd_settle(var, spec, load(rest[3]))
    if verb == "check" and len(rest) == 4:
        return cmd_check(var, spec, load(rest[3]))
    if verb == "prefixes" and len(rest) == 4:
        return cmd_prefixes(var, spec, load(rest[3]))
    return usage()


def usage():
    err("usage: syncstate.py stat|scan|delta|settle|check|prefixes VAR SPEC ... | "
        "agree OLD NEW (see the head of this file)")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
