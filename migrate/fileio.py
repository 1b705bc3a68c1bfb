"""Writing output files so that a reader never sees half of one."""

from __future__ import annotations

import os
import stat
import tempfile

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
