"""OpenSSH's real sshd on loopback, for ``migrate inspect --host`` tests.

``sshd_running()`` starts ``/usr/sbin/sshd -D -e`` on 127.0.0.1 on a free port with a config,
host key and authorized key made for the test only, in a private mount namespace where
``/etc/sudoers.d`` is a temp folder (so a test can allow passwordless sudo for its test user
without touching the machine's sudo configuration). It yields an ``Sshd`` with the host address
and port, the client key, a known_hosts file and the host key's fingerprint, and stops sshd
afterwards.

Two options make the host look older or farther away:

* ``no_python3=True``: inside sshd's mount namespace, every ``python3*`` in the folders of
  sshd's PATHs (``/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/games``) is
  removed by a read-only overlay with whiteouts, ``/usr/local/bin`` gets ``python2.7`` (a
  symlink to pyenv's 2.7.18) in the same way, and root's ``~/.bashrc`` (which puts pyenv's
  shims on the PATH) reads as empty: an old FreeBSD host with Python 2.7 only. Only root's
  sessions can run that python2.7: it lives under ``/root``, which only root may traverse.
* ``netns=True`` or ``netns_rate="20mbit"``: sshd runs in its own network namespace, joined to
  the test by a veth pair on a private /30 of 10.199.0.0/16 (``Sshd.host`` is sshd's end; the
  known_hosts line names it). With a rate, both ends of the pair are shaped by ``tc``'s token
  bucket filter. ``Sshd.bytes_received()`` reads the test end's interface counters: every byte
  sshd sends to the test, headers included, and nothing else (no other traffic uses the pair).
  The pair and the namespace are removed afterwards, also when sshd fails to start (and those
  of a killed test process at the next start).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from conftest import ensure_user, need, python27, wait_until

TEST_USER = "migrate-test"

# $1 the temp folder, $2 "1" to hide Python 3, $3 the python2.7 to offer, $4 root's home;
# then sshd's command line.
NS_SCRIPT = r'''
set -eu
T=$1 NOPY3=$2 PY27=$3 RHOME=$4; shift 4
mount --make-rprivate /
mkdir -p "$T/sudoers.d"
mount --bind "$T/sudoers.d" /etc/sudoers.d 2>/dev/null || true
if [ "$NOPY3" = 1 ]; then
    # Each folder of sshd's PATHs that holds a python3* gets a read-only overlay whose top
    # layer has a whiteout (a 0/0 character device) for each: the files are gone, for every
    # shell. /usr/local/bin's top layer also holds python2.7. Symlinked folders (/bin, /sbin on
    # a merged /usr) are skipped: their targets are in the list.
    for d in /usr/local/bin /usr/local/sbin /usr/sbin /usr/bin /sbin /bin /usr/games \
             /usr/local/games; do
        [ -d "$d" ] && [ ! -L "$d" ] || continue
        w="$T/layer$(echo "$d" | tr / _)"
        mkdir -p "$w"
        for f in "$d"/python3*; do
            [ -e "$f" ] || [ -L "$f" ] || continue
            mknod "$w/${f##*/}" c 0 0
        done
        if [ "$d" = /usr/local/bin ]; then
            ln -s "$PY27" "$w/python2.7"
        fi
        if [ -n "$(ls -A "$w")" ]; then
            mount -t overlay overlay -o "lowerdir=$w:$d" "$d"
        fi
    done
    # root's ~/.bashrc (bash reads it for sshd's commands) puts pyenv's shims, python3
    # among them, first on the PATH: the old host's root has no such thing
    if [ -f "$RHOME/.bashrc" ]; then
        : > "$T/bashrc"
        mount --bind "$T/bashrc" "$RHOME/.bashrc"
    fi
fi
exec "$@"
'''

NETNS_NET = "10.199"  # private addresses for the namespaces' veth pairs: 10.199.0.0/16 as /30s


@dataclass
class Sshd:
    port: int
    key: Path  # the client's private key
    known_hosts: Path
    fingerprint: str  # SHA256:... of the host key
    tmp: Path
    host: str = "127.0.0.1"  # the address sshd listens on
    netns: str | None = None  # the network namespace sshd runs in, if any
    veth: str | None = None  # the test's end of the veth pair to that namespace

    def allow_sudo(self, user: str) -> None:
        """Passwordless sudo for ``user``, inside this sshd's namespace only."""
        rule = self.tmp / "sudoers.d" / "migrate-test"
        rule.write_text(f"{user} ALL=(root) NOPASSWD: ALL\n")
        rule.chmod(0o440)

    def ssh_args(self, user: str = "root") -> list[str]:
        """An OpenSSH ``ssh`` command line to this sshd (append the remote command)."""
        return ["ssh", "-p", str(self.port), "-i", str(self.key), "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "IdentitiesOnly=yes", f"{user}@{self.host}"]

    def bytes_received(self) -> int:
        """Bytes the test's end of the veth pair received so far (from sshd's namespace)."""
        if self.veth is None:
            raise RuntimeError("bytes_received() needs sshd_running(netns=True)")
        return int(Path(f"/sys/class/net/{self.veth}/statistics/rx_bytes").read_text())


def ensure_test_user() -> str:
    need(os.geteuid() == 0, "creating the SSH test user needs root")
    ensure_user(TEST_USER, "--create-home", "--shell", "/bin/sh")
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


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def _remove_stale_namespaces() -> None:
    """Namespaces (and their pairs) left by a test process that was killed before cleaning up."""
    for line in _ip("netns", "list", check=False).stdout.splitlines():
        m = re.match(r"migrate-test-(\d+)-(\d+)\b", line)
        if not m:
            continue
        try:
            os.kill(int(m.group(1)), 0)
            continue  # its process still runs
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        _ip("link", "del", f"mgt{m.group(2)}h", check=False)
        _ip("netns", "del", m.group(0), check=False)


@contextmanager
def _network_namespace(rate: str | None) -> Iterator[tuple[str, str, str]]:
    """A fresh network namespace joined to this one by a veth pair on a free /30 of 10.199/16.

    Yields (namespace, the test's interface, sshd's address). The interface name is the lock:
    a concurrent run that picked the same slot fails at ``ip link add`` and tries the next.
    """
    need(shutil.which("ip") is not None, "iproute2's ip is not installed")
    need(rate is None or shutil.which("tc") is not None, "iproute2's tc is not installed")
    need(os.geteuid() == 0, "a network namespace for sshd needs root")
    _remove_stale_namespaces()
    used = _ip("-o", "-4", "addr", "show").stdout
    ns = veth = None
    try:
        for slot in range(16384):
            a, b = divmod(slot * 4, 256)
            near, far = f"{NETNS_NET}.{a}.{b + 1}", f"{NETNS_NET}.{a}.{b + 2}"
            if f" {near}/" in used or f" {far}/" in used:
                continue
            name_h, name_n = f"mgt{slot}h", f"mgt{slot}n"
            if _ip("link", "add", name_h, "type", "veth", "peer", "name", name_n,
                   check=False).returncode == 0:
                veth = name_h
                break
        else:
            raise RuntimeError("no free /30 in 10.199.0.0/16 for a veth pair")
        ns = f"migrate-test-{os.getpid()}-{slot}"
        _ip("netns", "add", ns)
        _ip("link", "set", name_n, "netns", ns)
        _ip("addr", "add", f"{near}/30", "dev", name_h)
        _ip("link", "set", name_h, "up")
        _ip("-n", ns, "addr", "add", f"{far}/30", "dev", name_n)
        _ip("-n", ns, "link", "set", name_n, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        if rate is not None:
            tbf = ["root", "tbf", "rate", rate, "burst", "32kbit", "latency", "400ms"]
            subprocess.run(["tc", "qdisc", "add", "dev", name_h, *tbf], check=True,
                           capture_output=True)
            subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", name_n,
                            *tbf], check=True, capture_output=True)
        yield ns, veth, far
    finally:
        if veth is not None:
            _ip("link", "del", veth, check=False)  # removes both ends
        if ns is not None:
            _ip("netns", "del", ns, check=False)


@contextmanager
def sshd_running(host_key: Path | None = None, *, no_python3: bool = False,
                 netns: bool = False, netns_rate: str | None = None,
                 config: str = "") -> Iterator[Sshd]:
    """sshd for one test (see the module's docstring for ``no_python3`` and ``netns_rate``);
    ``config``: more lines for its sshd_config."""
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    need(os.path.exists(sshd), "OpenSSH's sshd is not installed (openssh-server)")
    need(os.geteuid() == 0, "running sshd for the tests needs root")
    py27 = ""
    if no_python3:
        py27 = python27() or ""
        need(bool(py27), "pyenv's Python 2.7.18 is absent (pyenv install 2.7.18): the host "
             "without Python 3 offers it as python2.7")
    with _maybe_netns(netns or netns_rate is not None, netns_rate) as (ns, veth, host):
        with _sshd(sshd, host_key, host, ns, no_python3, py27, config) as server:
            server.netns, server.veth = ns, veth
            yield server


@contextmanager
def _maybe_netns(wanted: bool, rate: str | None):
    if not wanted:
        yield None, None, "127.0.0.1"
        return
    with _network_namespace(rate) as found:
        yield found


@contextmanager
def _sshd(sshd: str, host_key: Path | None, host: str, ns: str | None, no_python3: bool,
          py27: str, extra: str = "") -> Iterator[Sshd]:
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
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
        known = tmp / "known_hosts"
        config = tmp / "sshd_config"
        # a free port is free when asked, not when sshd binds it: another test process (a
        # pytest-xdist worker) may take it in between; then sshd says so and exits, and it is
        # started again on another
        for attempt in range(5):
            port = _free_port()
            known.write_text(f"[{host}]:{port} " + Path(f"{host_key}.pub").read_text())
            config.write_text(f"""Port {port}
ListenAddress {host}
HostKey {host_key}
PidFile {tmp}/sshd.pid
AuthorizedKeysFile {auth}
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
LogLevel VERBOSE
{extra}""")
            log = open(tmp / "sshd.log", "wb")
            argv = ["unshare", "--mount", "sh", "-c", NS_SCRIPT, "ns", str(tmp),
                    "1" if no_python3 else "0", py27, pwd.getpwuid(0).pw_dir,
                    sshd, "-D", "-e", "-f", str(config)]
            if ns is not None:
                argv = ["ip", "netns", "exec", ns] + argv
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            log.close()

            def listening() -> bool | str:
                # this sshd's own word that it listens (a connection alone might reach the
                # process that took the port), then a connection
                text = (tmp / "sshd.log").read_text(errors="replace")
                if proc.poll() is not None:
                    if "Address already in use" in text:
                        return "taken"
                    raise RuntimeError("sshd exited: " + text)
                if f"listening on {host} port {port}." not in text:
                    return False
                try:
                    with socket.create_connection((host, port), timeout=0.5):
                        return True
                except OSError:
                    return False
            if wait_until(listening, 15, f"sshd to listen on {host}:{port}",
                          diagnose=lambda: (tmp / "sshd.log").read_text()) is True:
                break
            if attempt == 4:
                raise RuntimeError("sshd found its port taken five times: "
                                   + (tmp / "sshd.log").read_text())
        yield Sshd(port, client_key, known, fp, tmp, host=host)
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
