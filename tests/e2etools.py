"""Hosts for the end-to-end cutover test: network namespaces made by the test, each with a
private mount namespace that shows the host's own files at the paths a real host has them.

``Network`` makes three namespaces joined by a bridge: ``world`` (where the test's mail
client, DNS server and the ``migrate`` process live), ``old`` and ``new``, with documentation
addresses (2001:db8:ff::/64) on the bridge only: nothing outside the namespaces sees them.

``Host`` starts an anchor process in a host's network namespace and a new mount namespace,
mounts tmpfs and bind mounts there (folders that do not exist on this machine are made by
shadowing their parent, as tests/smtpdtools.py does), and then runs commands and daemons in
both namespaces with ``nsenter``. Everything is torn down by ``close()``: daemons killed,
namespaces deleted; nothing of it outlives the test.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from conftest import need, wait_until

PREFIX = "2001:db8:ff::"

#: ``python3 -c CONNECT ADDRESS PORT`` exits 0 when a TCP connection to [ADDRESS]:PORT is
#: accepted, 1 when not: run in a host's namespaces, it says whether a daemon listens yet.
CONNECT = ("import socket, sys\n"
           "try:\n"
           "    socket.create_connection((sys.argv[1], int(sys.argv[2])), 1).close()\n"
           "except OSError:\n"
           "    sys.exit(1)\n")


def answers(enter: list[str], address: str, port: int) -> bool:
    """Whether something accepts a TCP connection on [address]:port, asked from the namespaces
    that the command prefix ``enter`` (``nsenter ...``, ``ip netns exec NS``) runs in."""
    return subprocess.run([*enter, "python3", "-c", CONNECT, address, str(port)],
                          capture_output=True, timeout=30).returncode == 0


SETUP = r'''
set -eu
T=$1
mount --make-rprivate /
n=0
ours=""  # folders this script mounted: only below them is anything created
under_ours() {  # $1's parent, symlinks resolved, lies in a tmpfs this script mounted
	p=$(readlink -f "$(dirname "$1")")
	for t in $ours; do
		case "$p/" in "$t"/*) return 0 ;; esac
	done
	return 1
}
need_ours() {
	under_ours "$1" || { echo "refusing to create $1 outside the test's mounts" >&2; exit 3; }
}
while read -r kind src dst; do
	case $kind in
	shadow)  # an existing folder, replaced by a tmpfs of symlinks to its entries
		real=$(readlink -f "$dst")
		n=$((n + 1)); s="$T/.shadow/$n"
		mkdir -p "$s"
		mount --bind "$real" "$s"
		mount -t tmpfs -o "mode=$(stat -c %a "$real")" tmpfs "$real"
		for e in "$s"/* "$s"/.[!.]* "$s"/..?*; do
			if [ -e "$e" ] || [ -L "$e" ]; then ln -s "$e" "$real/${e##*/}"; fi
		done
		ours="$ours $real" ;;
	tmpfs) if [ ! -d "$dst" ] || [ -L "$dst" ]; then need_ours "$dst"; rm -f "$dst"; mkdir -p "$dst"; fi
		mount -t tmpfs -o "mode=${src}" tmpfs "$dst"; ours="$ours $(readlink -f "$dst")" ;;
	mkdir) need_ours "$dst"; [ -L "$dst" ] && rm -f "$dst"; mkdir -p "$dst"; chmod "$src" "$dst" ;;
	bind) need_ours "$dst"; rm -f "$dst"; mkdir -p "$dst"; mount --bind "$src" "$dst" ;;
	copy) need_ours "$dst"; rm -f "$dst"; mkdir -p "$(dirname "$dst")"; cp -a "$src" "$dst" ;;
	link) need_ours "$dst"; rm -f "$dst"; mkdir -p "$(dirname "$dst")"; ln -s "$src" "$dst" ;;
	esac
done < "$T/mounts"
# written whole, then renamed: the reader never sees the file before its content
echo $$ > "$T/anchor.pid.tmp" && mv "$T/anchor.pid.tmp" "$T/anchor.pid"
exec sleep 100000
'''


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def fresh_netns(name: str) -> None:
    """``ip netns add NAME`` for a name that carries the test process's pid. One that exists
    already was left by a killed test process that had the same pid (pids are reused, and the
    processes of two test runs side by side, pytest-xdist's workers among them, never share
    one): what still runs in it is killed and it is deleted first."""
    if Path("/run/netns", name).exists():
        for pid in subprocess.run(["ip", "netns", "pids", name], capture_output=True,
                                  text=True).stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    _ip("netns", "add", name)


class Network:
    """world, old and new network namespaces on one bridge (in world)."""

    ADDRESSES = {"world": PREFIX + "100", "old": PREFIX + "25", "new": PREFIX + "26"}

    def __init__(self) -> None:
        need(os.geteuid() == 0, "network namespaces need root")
        # the names carry this process's pid, whole: unique among the processes alive (two test
        # runs side by side, pytest-xdist's workers); an interface name's 15 characters hold
        # the longest (7 digits)
        tag = str(os.getpid())
        self.names = {role: f"mt{tag}{role[0]}" for role in ("world", "old", "new")}
        self.made: list[str] = []
        try:
            for name in self.names.values():
                fresh_netns(name)
                self.made.append(name)
            w = self.names["world"]
            _ip("-n", w, "link", "add", "br0", "type", "bridge")
            for role in ("old", "new"):
                ns = self.names[role]
                a, b = f"v{tag}{role[0]}", f"v{tag}{role[0]}w"
                # a pair left here by a killed process of the same pid, before it was moved
                subprocess.run(["ip", "link", "del", a], capture_output=True)
                _ip("link", "add", a, "type", "veth", "peer", "name", b)
                _ip("link", "set", a, "netns", ns)
                _ip("link", "set", b, "netns", w)
                _ip("-n", w, "link", "set", b, "master", "br0")
                _ip("-n", w, "link", "set", b, "up")
                _ip("-n", ns, "link", "set", "lo", "up")
                _ip("-n", ns, "link", "set", a, "up")
                _ip("-n", ns, "addr", "add", self.ADDRESSES[role] + "/64", "dev", a, "nodad")
            _ip("-n", w, "link", "set", "lo", "up")
            _ip("-n", w, "link", "set", "br0", "up")
            _ip("-n", w, "addr", "add", self.ADDRESSES["world"] + "/64", "dev", "br0", "nodad")
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for name in self.made:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        self.made = []


class Host:
    """One host: a network namespace plus a private mount namespace with its own files."""

    def __init__(self, net: Network, role: str, mounts: list[tuple[str, str, str]]) -> None:
        self.role = role
        self.address = net.ADDRESSES[role]
        self.netns = net.names[role]
        self.tmp = Path(tempfile.mkdtemp(prefix=f"migrate-e2e-{role}-"))
        self.tmp.chmod(0o755)
        (self.tmp / "mounts").write_text("".join(f"{k} {s} {d}\n" for k, s, d in mounts))
        self.daemons: list[subprocess.Popen] = []
        self.anchor = subprocess.Popen(
            ["ip", "netns", "exec", self.netns, "unshare", "--mount", "--propagation",
             "private", "sh", "-c", SETUP, "setup", str(self.tmp)],
            stdout=subprocess.DEVNULL, stderr=open(self.tmp / "setup.log", "wb"),
            start_new_session=True)

        def anchored() -> str:  # renamed into place whole; a whole line, to be sure
            if self.anchor.poll() is not None:
                raise RuntimeError(f"{role} host setup failed: "
                                   + (self.tmp / "setup.log").read_text())
            try:
                pid = (self.tmp / "anchor.pid").read_text()
            except FileNotFoundError:
                return ""
            return pid if pid.endswith("\n") else ""
        self.pid = int(wait_until(anchored, 30, f"the {role} host's namespaces (anchor.pid)",
                                  diagnose=lambda: (self.tmp / "setup.log").read_text()))

    def _enter(self, argv: list[str]) -> list[str]:
        return ["nsenter", "-t", str(self.pid), "-m", "-n", *argv]

    def run(self, command: str, timeout: float = 60, check: bool = True,
            input: str | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run(self._enter(["sh", "-c", command]), capture_output=True,
                              text=True, timeout=timeout, input=input)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{self.role}: `{command}` exited {proc.returncode}: "
                               f"{proc.stderr[-2000:]}")
        return proc

    def wait_listening(self, address: str, port: int, timeout: float = 30) -> None:
        """Until a TCP connection to [address]:port succeeds from this host (a daemon just
        spawned is not listening yet, the more so on a loaded machine)."""
        wait_until(lambda: answers(self._enter([]), address, port), timeout,
                   f"something to listen on [{address}]:{port} in the {self.role} host",
                   every=0.1)

    def spawn(self, argv: list[str], log: str) -> subprocess.Popen:
        proc = subprocess.Popen(self._enter(argv), stdout=open(self.tmp / log, "ab"),
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.daemons.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.daemons + [self.anchor]:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
        # daemons that detached inside the namespace (exim -bd forks) die with the netns
        # processes: kill whatever still runs in it
        pids = subprocess.run(["ip", "netns", "pids", self.netns], capture_output=True,
                              text=True).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)


def world_run(net: Network, argv: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", net.names["world"], *argv], **kw)
