"""Writing output files so that a reader never sees half of one."""

from __future__ import annotations

import errno
import fnmatch
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

import yaml

from migrate.core import safeyaml
from migrate.core.errors import Exit, MigrateError
from migrate.core.steps import PLAN_FILE


def write_atomic(path: str, text: str, mode: int = 0o644) -> None:
    """Write ``text`` to ``path`` via a temp file in the same folder, fsync, then rename.

    Either the old file or the complete new one is there, whatever happens meanwhile. A path
    that exists and is not a regular file (``/dev/null``) is written into, not replaced.
    """
    try:
        special = not stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        special = False
    except OSError as exc:
        raise MigrateError(f"cannot write: {exc.strerror}", file=path, code=Exit.USAGE) from None
    if special:  # /dev/null, /dev/stdout, a fifo: written into, never replaced by a rename
        try:
            with open(path, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
        except OSError as exc:
            raise MigrateError(f"cannot write: {exc.strerror}", file=path,
                               code=Exit.USAGE) from None
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise MigrateError("the folder to write into does not exist", file=path,
                           code=Exit.USAGE, hint="create it first or choose another -o")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                                   dir=folder)
    except OSError as exc:
        raise MigrateError(f"cannot write here: {exc.strerror}", file=path,
                           code=Exit.USAGE) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise MigrateError(f"cannot write: {exc.strerror}", file=path,
                               code=Exit.USAGE) from None
        raise
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def read_inside(root: str, rel: str) -> bytes:
    """The bytes of the regular file ``rel`` (``a/b/c``) inside the folder ``root``, each part
    opened without following a link (``O_NOFOLLOW``, relative to the part before): a link
    anywhere on the way raises OSError (ELOOP or ENOTDIR), so does a file that is not
    regular (a FIFO is opened without waiting for a writer). ``root`` itself may be a link."""
    parts = rel.split("/")
    folder = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder)
            os.close(folder)
            folder = inner
        fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)
    finally:
        os.close(folder)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        return fh.read()


#: the first line of every plan.yaml migrate writes (migrate/app/planning.py)
PLAN_HEADER = "# The plan as data, for `migrate cutover`. Written by migrate; do not edit.\n"
#: the first line of every YAML inventory migrate writes (migrate/core/codec.py)
INVENTORY_HEADER = "# migrate inventory, schema "
_MAX_MARKER_BYTES = 64 * 1024 * 1024


def _read_marker(path: Path) -> str | None:
    """A marker file's text, when it is a regular file of sane size in UTF-8; else None."""
    try:
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > _MAX_MARKER_BYTES:
            return None
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def plan_files(folder: Path) -> set[str] | None:
    """The files of the plan in ``folder`` as its plan.yaml lists them (with plan.yaml), or
    None when there is no plan.yaml that migrate wrote (its header, ``plan_version``, and a
    ``files`` table). Read with the bounded reader, as every plan.yaml is: the folder given
    may hold anything."""
    text = _read_marker(folder / PLAN_FILE)
    if text is None or not text.startswith(PLAN_HEADER):
        return None
    try:
        data = safeyaml.load(text)
    except (yaml.YAMLError, ValueError):  # ValueError: an int of 5,000 digits
        return None
    if not isinstance(data, dict) or not isinstance(data.get("plan_version"), int) or \
            not isinstance(data.get("files"), dict):
        return None
    return {k for k in data["files"] if isinstance(k, str)} | {PLAN_FILE}


#: what `migrate export ansible` writes besides the plans it copies (migrate/app/ansible.py)
_EXPORT_PATTERNS = ("ansible.cfg", "hosts.yaml", "site.yaml", "rollback.yaml", "README.md",
                    ".ansible-lint", "group_vars/*.yaml", "host_vars/*.yaml", "roles/*")


def export_files(folder: Path) -> set[str] | None:
    """The files of the Ansible export in ``folder`` (its own files, and each copied plan's
    files as that plan's plan.yaml lists them), or None when it is not one migrate wrote."""
    readme = _read_marker(folder / "README.md")
    if readme is None or "Written by `migrate export ansible`" not in readme:
        return None
    owned = set()
    for path in _files_in(folder):
        if any(fnmatch.fnmatchcase(path, p) for p in _EXPORT_PATTERNS):
            owned.add(path)
    plans = folder / "plans"
    if plans.is_dir() and not plans.is_symlink():
        for entry in plans.iterdir():
            listed = plan_files(entry) if entry.is_dir() and not entry.is_symlink() else None
            owned |= {f"plans/{entry.name}/{rel}" for rel in listed or ()}
    return owned


#: the marker file of each kind of folder migrate writes -> what that folder's files are
OWNED_BY_MARKER: dict[str, Callable[[Path], set[str] | None]] = {
    PLAN_FILE: plan_files,
    "site.yaml": export_files,
}


def _files_in(folder: Path) -> list[str]:
    """Every entry of ``folder`` that is not a folder (files, links, FIFOs...), relative,
    and every empty folder (with a trailing /), without following links."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        rel = os.path.relpath(dirpath, folder)
        prefix = "" if rel == "." else rel + "/"
        for name in list(dirnames):
            if os.path.islink(os.path.join(dirpath, name)):  # a link is an entry, not a walk
                dirnames.remove(name)
                filenames.append(name)
        out += [prefix + name for name in filenames]
        if not dirnames and not filenames and prefix:
            out.append(prefix)
    return sorted(out)


def check_replaceable(out: Path, marker: str, what: str) -> None:
    """Refuse (exit 2, naming the path) to replace ``out`` unless it is empty or holds only
    what an earlier run wrote there: its ``marker`` is really ours and every entry in it is
    one that run wrote. A user's file in it, or a marker that is not ours, is never lost."""
    entries = _files_in(out)
    if not entries:
        return
    recognize = OWNED_BY_MARKER.get(marker)
    owned = recognize(out) if recognize is not None else None
    if owned is None:
        raise MigrateError(f"exists and is not {what} written by migrate (no {marker} of "
                           f"its own in it); it was left as it is", file=str(out),
                           code=Exit.USAGE, hint="choose an empty or new folder with -o")
    foreign = [e for e in entries if e not in owned]
    if foreign:
        raise MigrateError(f"holds {foreign[0]}"
                           + (f" and {len(foreign) - 1} more" if len(foreign) > 1 else "")
                           + f", which {what} does not write; it was left as it is",
                           file=str(out / foreign[0].rstrip("/")), code=Exit.USAGE,
                           hint="move it out of the folder, or choose another -o")


def check_replaceable_file(path: str) -> None:
    """Refuse (exit 2) to replace a regular file that is not empty and not an inventory
    migrate wrote (YAML with its header line, or JSON with ``schema_version`` first)."""
    p = Path(path)
    try:
        info = p.lstat()
    except OSError:
        return
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISREG(info.st_mode) or info.st_size == 0:
        return  # a link is replaced, not followed; a device is written into
    try:
        with open(p, "rb") as fh:
            head = fh.read(200).decode("utf-8", "replace")
    except OSError:
        return
    if head.startswith(INVENTORY_HEADER) or head.lstrip().startswith('{') and \
            head.lstrip()[1:].lstrip().startswith('"schema_version"'):
        return
    raise MigrateError("exists and is not an inventory written by migrate; it was left as it "
                       "is", file=path, code=Exit.USAGE,
                       hint="choose another -o, or remove the file first")


def write_tree(out_dir: str, files: dict[str, str | bytes], *, marker: str, what: str,
               modes: dict[str, int] | None = None) -> None:
    """Write a whole folder (``relative path -> text or bytes``): into a temp folder beside
    it, then swapped in, so the folder is always the old one or the complete new one.

    An existing ``out_dir`` is replaced only if it is empty or an earlier one of ours, whole:
    its ``marker`` is one migrate wrote and it holds nothing else than what that run wrote
    (``check_replaceable``); anything else is refused. ``modes`` may set a file's mode;
    scripts (``#!``) are 0755, the rest 0644.
    """
    out = Path(out_dir)
    if out.exists() or out.is_symlink():
        if out.is_symlink() or not out.is_dir():
            raise MigrateError("exists and is not a folder", file=out_dir, code=Exit.USAGE)
        check_replaceable(out, marker, what)
    parent = out.absolute().parent
    if not parent.is_dir():
        raise MigrateError("the folder to write into does not exist", file=str(parent),
                           code=Exit.USAGE)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    try:
        for rel, content in files.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            data = content.encode("utf-8") if isinstance(content, str) else content
            path.write_bytes(data)
            mode = (modes or {}).get(rel)
            os.chmod(path, mode if mode is not None else
                     0o755 if data.startswith(b"#!") else 0o644)
        os.chmod(tmp, 0o755)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=parent))
            os.rename(out, old / "previous")
            os.rename(tmp, out)
            shutil.rmtree(old)
        else:
            os.rename(tmp, out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise MigrateError(f"cannot write {what}: {exc.strerror}", file=out_dir,
                           code=Exit.USAGE) from None
