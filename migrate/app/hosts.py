"""The hosts the cutover changes: this machine, or a host over SSH.

A ``WritableHost`` (its protocol is in migrate/core/steps.py, where the actions use it) runs commands and
reads and writes whole files, each command's ``Result`` its exit code and output; the cutover (migrate/app/cutover.py)
and its actions (migrate/core/steps.py) work through it. ``LocalHost`` runs on this machine (the
``local`` steps, and stand-in hosts in tests); ``SshHost`` runs over a paramiko connection made
by ``migrate.app.remote.connect`` (host key verified). The inspection's side (``LocalTree``,
``RemoteTree``) is read-only and lives apart, in migrate/app/sources.py and migrate/app/remote.py.
"""

from __future__ import annotations

import os
import posixpath
import shlex
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import paramiko

from migrate.core.errors import Exit, MigrateError
from migrate.app.remote import _PACKET, _RECV, _WINDOW
from migrate.core.steps import HOST_PLAN_DIR, WritableHost  # noqa: F401  (the protocol they implement)


@dataclass
class Result:
    code: int
    out: str
    err: str


class LocalHost:
    """This machine (``local`` steps), or a stand-in host in tests: commands run with sh."""

    def __init__(self, name: str, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.env = env or {}

    def run(self, command: str, timeout: float = 600) -> Result:
        try:
            proc = subprocess.run(["sh", "-c", command], capture_output=True, text=True,
                                  timeout=timeout, env={**os.environ, **self.env})
        except subprocess.TimeoutExpired:
            return Result(124, "", f"timed out after {timeout:.0f} s")
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def read(self, path: str) -> bytes | None:
        try:
            return Path(path).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, path: str, data: bytes, mode: int | None = None) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.migrate-tmp")
        try:
            old = os.stat(target)
        except FileNotFoundError:
            old = None
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if old is not None:
            os.chown(tmp, old.st_uid, old.st_gid)
        os.chmod(tmp, mode if mode is not None else
                 (old.st_mode & 0o7777 if old is not None else 0o644))
        os.replace(tmp, target)

    def remove(self, path: str) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


class SshHost:
    """The cutover's view of a host over SSH: commands, and whole-file reads and writes.

    Commands run with ``PLAN`` set to where the plan was copied; every path is shell-quoted;
    files are written to a temp file beside the target and renamed, so a reader never sees
    half of one."""

    def __init__(self, name: str, client: paramiko.SSHClient,
                 plan_dir: str = HOST_PLAN_DIR) -> None:
        self.name = name
        self.client = client
        self.plan_dir = plan_dir

    def _exec(self, command: str, stdin: bytes | None = None,
              timeout: float = 600) -> tuple[int, bytes, bytes]:
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise MigrateError(f"the SSH connection to the {self.name} host was lost",
                               code=Exit.UNREACHABLE)
        channel = transport.open_session(window_size=_WINDOW, max_packet_size=_PACKET)
        channel.settimeout(timeout)
        channel.exec_command(command)
        if stdin is not None:
            channel.sendall(stdin)
        channel.shutdown_write()
        out, err = [], []
        try:
            while True:
                data = channel.recv(_RECV)
                if not data:
                    break
                out.append(data)
            while True:
                data = channel.recv_stderr(65536)
                if not data:
                    break
                err.append(data)
            code = channel.recv_exit_status()
        except socket.timeout:
            channel.close()
            return 124, b"", f"timed out after {timeout:.0f} s".encode()
        return code, b"".join(out), b"".join(err)

    def run(self, command: str, timeout: float = 600) -> Result:
        code, out, err = self._exec(f"PLAN={shlex.quote(self.plan_dir)}; export PLAN; "
                                    f"{command}", timeout=timeout)
        return Result(code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))

    def read(self, path: str) -> bytes | None:
        q = shlex.quote(path)
        code, out, err = self._exec(f"if [ -e {q} ]; then cat -- {q}; else exit 3; fi")
        if code == 3:
            return None
        if code != 0:
            raise MigrateError(f"cannot read {path} on the {self.name} host: "
                               f"{err.decode('utf-8', 'replace').strip()}", code=Exit.INPUT)
        return out

    def write(self, path: str, data: bytes, mode: int | None = None) -> None:
        q = shlex.quote(path)
        tmp = shlex.quote(f"{posixpath.dirname(path)}/.{posixpath.basename(path)}.migrate-tmp")
        # cp -p first: an existing file's owner and mode carry over to the new content
        # (portable: no stat(1) format, which differs between the BSDs and GNU)
        keep = f"if [ -e {q} ]; then cp -p -- {q} {tmp}; fi && "
        chmod = (f" && chmod {mode:o} {tmp}" if mode is not None
                 else f" && {{ [ -e {q} ] || chmod 644 {tmp}; }}")
        command = (f"mkdir -p -- {shlex.quote(posixpath.dirname(path) or '/')} && {keep}"
                   f"cat > {tmp}{chmod} && mv -f -- {tmp} {q}")
        code, _out, err = self._exec(command, stdin=data)
        if code != 0:
            raise MigrateError(f"cannot write {path} on the {self.name} host: "
                               f"{err.decode('utf-8', 'replace').strip()}", code=Exit.INPUT)

    def remove(self, path: str) -> None:
        self._exec(f"rm -f -- {shlex.quote(path)}")
