"""OpenSSH's real sshd on loopback, for ``migrate inspect --host`` tests.

``sshd_running()`` starts ``/usr/sbin/sshd -D -e`` on 127.0.0.1 on a free port with a config,
host key and authorized key made for the test only, in a private mount namespace where
``/etc/sudoers.d`` is a temp folder (so a test can allow passwordless sudo for its test user
without touching the machine's sudo configuration). It yields an ``Sshd`` with the port, the
client key, a known_hosts file and the host key's fingerprint, and stops sshd afterwards.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from conftest import need

TEST_USER = "migrate-test"

NS_SCRIPT = r'''
set -eu
T=$1; shift
mount --make-rprivate /
mkdir -p "$T/sudoers.d"
mount --bind "$T/sudoers.d" /etc/sudoers.d 2>/dev/null || true
exec "$@"
'''


@dataclass
class Sshd:
    port: int
    key: Path  # the client's private key
    known_hosts: Path
    fingerprint: str  # SHA256:... of the host key
    tmp: Path

    def allow_sudo(self, user: str) -> None:
        """Passwordless sudo for ``user``, inside this sshd's namespace only."""
        rule = self.tmp / "sudoers.d" / "migrate-test"
        rule.write_text(f"{user} ALL=(root) NOPASSWD: ALL\n")
        rule.chmod(0o440)


def ensure_test_user() -> str:
    need(os.geteuid() == 0, "creating the SSH test user needs root")
    try:
        pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", TEST_USER],
                       check=True, capture_output=True)
    # "*": no password, but not locked ("!"), which sshd would refuse even for keys
    subprocess.run(["usermod", "-p", "*", TEST_USER], check=True, capture_output=True)
    return TEST_USER


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: Path, kind: str = "ed25519") -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(path)], check=True)
    out = subprocess.run(["ssh-keygen", "-lf", f"{path}.pub"], check=True, capture_output=True,
                         text=True).stdout
    return out.split()[1]


@contextmanager
def sshd_running(host_key: Path | None = None) -> Iterator[Sshd]:
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    need(os.path.exists(sshd), "OpenSSH's sshd is not installed (openssh-server)")
    need(os.geteuid() == 0, "running sshd for the tests needs root")
    tmp = Path(tempfile.mkdtemp(prefix="migrate-sshd-"))
    tmp.chmod(0o755)
    proc = None
    try:
        if host_key is None:
            host_key = tmp / "host_key"
            keygen(host_key)
        fp = subprocess.run(["ssh-keygen", "-lf", f"{host_key}.pub"], check=True,
                            capture_output=True, text=True).stdout.split()[1]
        client_key = tmp / "client_key"
        keygen(client_key)
        auth = tmp / "authorized_keys"
        shutil.copy(f"{client_key}.pub", auth)
        auth.chmod(0o644)
        port = _free_port()
        known = tmp / "known_hosts"
        known.write_text(f"[127.0.0.1]:{port} " + Path(f"{host_key}.pub").read_text())
        config = tmp / "sshd_config"
        config.write_text(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
PidFile {tmp}/sshd.pid
AuthorizedKeysFile {auth}
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
LogLevel VERBOSE
""")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
        log = open(tmp / "sshd.log", "wb")
        proc = subprocess.Popen(["unshare", "--mount", "sh", "-c", NS_SCRIPT, "ns", str(tmp),
                                 sshd, "-D", "-e", "-f", str(config)],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                raise RuntimeError("sshd exited: " + (tmp / "sshd.log").read_text())
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("sshd did not start: " + (tmp / "sshd.log").read_text())
                time.sleep(0.05)
        yield Sshd(port, client_key, known, fp, tmp)
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
