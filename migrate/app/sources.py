"""Where the old host's files come from. ``LocalTree``: a directory holding the host's ``/``.

The tree behaves like a chroot: host paths are absolute, ``..`` stops at the root, and symlinks
are followed the way the old host would follow them, with absolute targets re-rooted inside the
inspected directory. Nothing is ever read from outside the root, even through a hostile link.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat as st
from collections.abc import Callable
from typing import BinaryIO

from parsers.base import NotFound, Stat, TreeError, file_kind, not_regular

_MAX_SYMLINK_HOPS = 40  # as Linux's MAXSYMLINKS


def walk_symlinks(path: str, probe: Callable[[str], str | None],
                  max_hops: int = _MAX_SYMLINK_HOPS) -> str:
    """``path`` with every symlink followed as the host would, ``..`` stopping at ``/``.

    ``probe(host_path)`` says what a path is: None (missing or unreadable: nothing below it
    can be a link, so the rest is taken as it stands, with ``.`` and ``..`` applied
    lexically), ``""`` (not a link) or the link's target (an absolute one restarts at ``/``).
    Used by every tree (local, over SSH), so all resolve alike. Raises ``TreeError`` on a
    link loop.
    """
    pending = [p for p in path.split("/") if p][::-1]  # a stack: next component last
    done: list[str] = []
    current = ""  # "/" + "/".join(done), built up one component at a time
    hops = 0
    while pending:
        comp = pending.pop()
        if comp == ".":
            continue
        if comp == "..":
            if done:
                done.pop()
                current = "/" + "/".join(done) if done else ""
            continue
        candidate = f"{current}/{comp}"
        target = probe(candidate)
        if target is None:
            done.append(comp)
            for rest in reversed(pending):
                if rest == "..":
                    if done:
                        done.pop()
                elif rest != ".":
                    done.append(rest)
            break
        if target == "":
            done.append(comp)
            current = candidate
            continue
        hops += 1
        if hops > max_hops:
            raise TreeError(path, "too many levels of symbolic links (a link loop)")
        if target.startswith("/"):
            done, current = [], ""
        pending.extend([p for p in target.split("/") if p][::-1])
    return "/" + "/".join(done)


class LocalTree:
    """A host's file system rooted at a local directory (a snapshot or a mounted disk)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = os.path.abspath(os.fspath(root))
        self._resolved: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"LocalTree({self.root!r})"

    def local_path(self, host_path: str) -> str:
        """The local file for a host path, without following symlinks."""
        norm = posixpath.normpath("/" + host_path.lstrip("/"))
        rel = norm.lstrip("/")
        return os.path.join(self.root, rel) if rel else self.root

    def resolve(self, path: str) -> str:
        cached = self._resolved.get(path)
        if cached is None:
            cached = self._resolved[path] = walk_symlinks(path, self._probe)
        return cached

    def _probe(self, host_path: str) -> str | None:
        local = self.root + host_path
        try:
            info = os.lstat(local)
        except (OSError, ValueError):
            return None
        return os.readlink(local) if st.S_ISLNK(info.st_mode) else ""

    def _local(self, path: str, follow: bool = True) -> str:
        if follow:
            return self.local_path(self.resolve(path))
        parent, name = posixpath.split(posixpath.normpath("/" + path.lstrip("/")))
        return os.path.join(self.local_path(self.resolve(parent)), name) if name else self.root

    def exists(self, path: str) -> bool:
        try:
            return os.path.exists(self._local(path))
        except TreeError:
            return False

    def is_file(self, path: str) -> bool:
        try:
            return os.path.isfile(self._local(path))
        except TreeError:
            return False

    def is_dir(self, path: str) -> bool:
        try:
            return os.path.isdir(self._local(path))
        except TreeError:
            return False

    def readlink(self, path: str) -> str | None:
        local = self._local(path, follow=False)
        try:
            return os.readlink(local)
        except OSError:
            return None

    def list_dir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(self._local(path)))
        except OSError as exc:
            raise self._error(path, exc) from None

    def stat(self, path: str, follow: bool = True) -> Stat:
        try:
            s = os.stat(self._local(path, follow), follow_symlinks=follow)
        except OSError as exc:
            raise self._error(path, exc) from None
        if st.S_ISLNK(s.st_mode):
            kind = "link"
        elif st.S_ISDIR(s.st_mode):
            kind = "dir"
        elif st.S_ISREG(s.st_mode):
            kind = "file"
        else:
            kind = "other"
        return Stat(kind, s.st_size, st.S_IMODE(s.st_mode), s.st_uid, s.st_gid, s.st_mtime)

    def symlinks(self, path: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        try:
            top = self.resolve(path)
        except TreeError:
            return [], []
        links: list[tuple[str, str]] = []
        unlisted: list[tuple[str, str]] = []
        if not self.is_dir(top):
            return links, unlisted
        stack = [top]  # not recursion: a hostile tree may be nested deeper than Python's stack
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(self.local_path(folder)) as it:
                    found = list(it)  # in any order: the result is sorted
            except OSError as exc:
                if exc.errno != errno.ENOENT:  # gone since: a live Mailman's temporary folder
                    unlisted.append((folder, self._error(folder, exc).reason))
                continue
            for entry in found:
                host = f"{folder.rstrip('/')}/{entry.name}"
                try:
                    if entry.is_symlink():
                        links.append((host, os.readlink(entry.path)))
                    elif entry.is_dir(follow_symlinks=False):
                        stack.append(host)
                except OSError as exc:
                    if exc.errno != errno.ENOENT:  # gone since it was listed (a lock file)
                        unlisted.append((host, self._error(host, exc).reason))
        return sorted(links), sorted(unlisted)

    def read_bytes(self, path: str, limit: int | None = None) -> bytes:
        with self._open(path, limit) as fh:
            if limit is None:
                return fh.read()
            data = fh.read(limit + 1)  # it may have grown since it was measured
        if len(data) > limit:
            raise TreeError(path, _too_large(limit))
        return data

    def open(self, path: str) -> BinaryIO:
        return self._open(path, None)

    def _open(self, path: str, limit: int | None) -> BinaryIO:
        """The file opened without blocking and without following a last link (the path is
        resolved already; a link swapped in since is refused), then checked by its own
        descriptor to be a regular file no larger than ``limit``: a FIFO, a device or a socket
        is refused before a byte is read, so none can hang the inspection or feed it without
        end."""
        local = self._local(path)
        flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(
            os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(local, flags)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise TreeError(path, "changed into a symbolic link while it was read") from None
            if exc.errno == errno.EISDIR:
                raise TreeError(path, "is a directory, not a file") from None
            if exc.errno in (errno.ENXIO, errno.EOPNOTSUPP):  # a socket cannot be opened
                try:
                    mode = os.lstat(local).st_mode
                except OSError:
                    mode = 0
                if mode and not st.S_ISREG(mode):
                    raise TreeError(path, not_regular(file_kind(mode))) from None
            raise self._error(path, exc) from None
        try:
            info = os.fstat(fd)
            if st.S_ISDIR(info.st_mode):
                raise TreeError(path, "is a directory, not a file")
            if not st.S_ISREG(info.st_mode):
                raise TreeError(path, not_regular(file_kind(info.st_mode)))
            if limit is not None and info.st_size > limit:
                raise TreeError(path, _too_large(limit))
            os.set_blocking(fd, True)
            return os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise

    @staticmethod
    def _error(path: str, exc: OSError) -> TreeError:
        if exc.errno == errno.ENOENT:
            return NotFound(path)
        if exc.errno in (errno.EACCES, errno.EPERM):
            return TreeError(path, "permission denied")
        return TreeError(path, exc.strerror or str(exc))


def _too_large(limit: int) -> str:
    return f"larger than {limit // (1024 * 1024)} MiB; not a config file"
