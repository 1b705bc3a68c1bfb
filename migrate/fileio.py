"""Writing output files so that a reader never sees half of one."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

from migrate.errors import Exit, MigrateError


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


def write_tree(out_dir: str, files: dict[str, str | bytes], *, marker: str, what: str,
               modes: dict[str, int] | None = None) -> None:
    """Write a whole folder (``relative path -> text or bytes``): into a temp folder beside
    it, then swapped in, so the folder is always the old one or the complete new one.

    An existing ``out_dir`` is replaced only if it is empty or an earlier one of ours (it holds
    ``marker``); anything else is refused. ``modes`` may set a file's mode; scripts (``#!``)
    are 0755, the rest 0644.
    """
    out = Path(out_dir)
    if out.exists():
        if not out.is_dir():
            raise MigrateError("exists and is not a folder", file=out_dir, code=Exit.USAGE)
        if any(out.iterdir()) and not (out / marker).is_file():
            raise MigrateError(f"exists and is not {what} (no {marker} in it)",
                               file=out_dir, code=Exit.USAGE,
                               hint="choose an empty or new folder with -o")
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
