"""Running the real OpenSMTPD daemon (the unpacked Debian 6.8 package) for delivery tests.

``smtpd_running(conf, files=..., scripts=...)`` starts ``smtpd -d -v -f CONF`` inside a private
mount and network namespace (``unshare --mount --net``) with only ``lo`` up, so the daemon and
the mail sent to it (swaks, run in the same namespaces via ``nsenter``) never touch the real
network. Inside the namespace only:

- the package's libexec folder is bound at ``/usr/libexec/opensmtpd``;
- tmpfs is mounted on ``/var/spool/smtpd`` (mode 711), ``/run`` (control socket),
  ``/var/mail``, ``/root`` and ``/home`` (so an mbox or maildir delivery to a system user never
  writes the host's mailboxes; a maildir delivery to a user whose home is elsewhere, such as
  daemon's /usr/sbin, is not covered: deliver test mail to pipes or to root);
- ``/var/lib/opensmtpd/empty`` (the compiled-in chroot) is made to exist.

A folder that must exist but does not (``/var/spool/smtpd`` ...) is made by "shadowing" its
nearest existing parent: the parent is bound to a staging folder in the temp dir, a tmpfs is
mounted over it and filled with symlinks to the staged entries, and the folder is created in
that tmpfs. Nothing is created, mounted or changed outside the namespace except the temp dir
and, if absent, the two system users ``opensmtpd`` and ``opensmtpq`` the daemon drops to.

In ``conf``, ``files`` and ``scripts`` the text ``@TMP@`` stands for the temp dir (mode 755)
and ``@OUT@`` for its ``out`` folder (mode 1777, writable by any delivery user).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from conftest import ensure_user, need, smtpd_binary, wait_until

USERS = ("opensmtpd", "opensmtpq")

# A minimal SMTP client printing a swaks-like transcript ("-> command", "<-  reply", "<** reply"
# for 4xx/5xx), for IPv6 where swaks lacks its Perl module.
_SMTPLIB_CLIENT = r'''
import smtplib, sys
server, port, sender, body, client, *rcpts = sys.argv[1:]
s = smtplib.SMTP(timeout=15, source_address=(client, 0) if client else None)
def show(cmd, reply):
    code, text = reply
    print(" -> " + cmd)
    print(("<** " if code >= 400 else "<-  ") + "%d %s" % (code, text.decode(errors="replace")))
    return code
show("CONNECT " + server, s.connect(server, int(port)))
show("EHLO client.example", s.ehlo("client.example"))
bad = show("MAIL FROM:<%s>" % sender, s.mail(sender)) >= 400
ok = [r for r in rcpts if show("RCPT TO:<%s>" % r, s.rcpt(r)) < 400]
if ok and not bad:
    show("DATA", s.data(("From: %s\r\nTo: %s\r\nSubject: test\r\n\r\n%s\r\n"
                         % (sender, ", ".join(rcpts), body)).encode()))
show("QUIT", s.quit())
sys.exit(0 if ok else 24)
'''

NS_SCRIPT = r'''
set -u
T=$1; LIBEXEC=$2; shift 2
n=0
shadow_mkdir() {  # make folder $1 exist in this mount namespace only
	[ -d "$1" ] && return 0
	a=$1
	while [ ! -d "$a" ]; do a=$(dirname "$a"); done
	a=$(readlink -f "$a")
	n=$((n + 1)); s="$T/.shadow/$n"
	mkdir -p "$s" || return 1
	mount --rbind "$a" "$s" || return 1  # with what is mounted below it (an earlier bind)
	mount -t tmpfs -o "mode=$(stat -c %a "$a"),uid=$(stat -c %u "$a"),gid=$(stat -c %g "$a")" tmpfs "$a" || return 1
	for e in "$s"/* "$s"/.[!.]* "$s"/..?*; do
		if [ -e "$e" ] || [ -L "$e" ]; then ln -s "$e" "$a/${e##*/}" || return 1; fi
	done
	mkdir -p "$1"
}
ip link set lo up || exit 90
for a in ${EXTRA_ADDRS:-}; do ip addr add "$a" dev lo || exit 88; done
for pair in ${BIND_FILES:-}; do  # SRC=DST: show a temp file or folder at an absolute path
	src=${pair%%=*}; dst=${pair#*=}
	if [ -d "$src" ]; then
		shadow_mkdir "$dst" || exit 89
	else
		shadow_mkdir "$(dirname "$dst")" || exit 89
		[ -e "$dst" ] || touch "$dst" || exit 89
	fi
	mount --bind "$src" "$dst" || exit 89
done
shadow_mkdir /usr/libexec/opensmtpd || exit 91
mount --bind "$LIBEXEC" /usr/libexec/opensmtpd || exit 92
shadow_mkdir /var/spool/smtpd || exit 93
mount -t tmpfs -o mode=711 tmpfs /var/spool/smtpd || exit 94
shadow_mkdir /var/lib/opensmtpd/empty || exit 95
mount -t tmpfs -o mode=755 tmpfs /run || exit 96
mount -t tmpfs -o mode=2775,gid=mail tmpfs /var/mail || exit 97
mount -t tmpfs -o mode=700 tmpfs /root || exit 98
mount -t tmpfs -o mode=755 tmpfs /home || exit 99
echo "namespace ready" >&2
exec "$@"
'''


#: An SMTP server that accepts everything and appends one JSON line per message (peer
#: address, envelope, Subject, Message-ID), written whole and flushed before it answers 250:
#: ``python3 -c SINK OUT ADDRESS`` listens on ADDRESS port 25 (IPv6). The members' mail
#: servers of tests/test_cutover_e2e.py, the old host in tests/test_handback.py.
SINK = r"""
import email.parser, json, os, socket, socketserver, sys, threading, time
out, address = sys.argv[1], sys.argv[2]
lock = threading.Lock()
class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        say = lambda text: (self.wfile.write(text.encode() + b"\r\n"), self.wfile.flush())
        say("220 mx.sink.example ESMTP test sink")
        sender, rcpts = None, []
        while True:
            line = self.rfile.readline(65536)
            if not line:
                return
            cmd = line.decode("latin-1").strip()
            verb = cmd[:4].upper()
            if verb in ("EHLO", "HELO"):
                say("250 mx.sink.example")
            elif verb == "MAIL":
                sender, rcpts = cmd[10:].split()[0].strip("<>") if cmd[10:].strip() else "", []
                say("250 ok")
            elif verb == "RCPT":
                rcpts.append(cmd[8:].split()[0].strip("<>").lower())
                say("250 ok")
            elif verb == "DATA":
                say("354 go on")
                data = []
                while True:
                    chunk = self.rfile.readline(1 << 20)
                    if not chunk:
                        return
                    if chunk in (b".\r\n", b".\n"):
                        break
                    data.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                head = email.parser.BytesHeaderParser().parsebytes(b"".join(data))
                record = {"peer": self.client_address[0], "from": sender, "rcpts": rcpts,
                          "subject": str(head.get("Subject", "")),
                          "message_id": str(head.get("Message-ID", "")), "t": time.time()}
                with lock, open(out, "a") as fh:
                    fh.write(json.dumps(record) + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                sender, rcpts = None, []
                say("250 recorded")
            elif verb in ("RSET", "NOOP"):
                sender, rcpts = (None, []) if verb == "RSET" else (sender, rcpts)
                say("250 ok")
            elif verb == "QUIT":
                say("221 bye")
                return
            else:
                say("502 not here")
class Server(socketserver.ThreadingTCPServer):
    address_family = socket.AF_INET6
    allow_reuse_address = True
    daemon_threads = True
Server((address, 25), Handler).serve_forever()
"""


def _libexec(binary: str) -> Path:
    root = Path(binary).resolve().parents[2]  # .../usr/sbin/smtpd -> package root
    for candidate in ("usr/libexec/opensmtpd", "usr/lib/x86_64-linux-gnu/opensmtpd",
                      "usr/lib/opensmtpd"):
        if (root / candidate / "mail.local").exists():
            return root / candidate
    need(False, f"OpenSMTPD's libexec helpers (mail.local ...) are not under {root}")
    raise AssertionError  # unreachable


def ensure_users() -> None:
    """smtpd drops privileges to these users and refuses to start without them."""
    for name in USERS:
        ensure_user(name, "--system", "--no-create-home", "--user-group",
                    "--home-dir", "/var/lib/opensmtpd/empty", "--shell", "/usr/sbin/nologin")


def need_daemon() -> tuple[str, Path]:
    """The smtpd binary and its libexec folder, or skip saying what is missing."""
    binary = smtpd_binary()
    need(os.geteuid() == 0, "running OpenSMTPD as a daemon (namespaces, bind mounts) needs root")
    for tool in ("unshare", "nsenter", "setpriv", "ip", "swaks"):
        need(shutil.which(tool) is not None, f"{tool} is not installed")
    return binary, _libexec(binary)


def check_config(conf: str, files: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``smtpd -n -f CONF`` (a parse-only check, run outside any namespace); ``@TMP@`` as above."""
    binary = smtpd_binary()
    tmp = Path(tempfile.mkdtemp(prefix="migrate-smtpdn-"))
    try:
        tmp.chmod(0o755)
        for name, text in (files or {}).items():
            (tmp / name).write_text(text.replace("@TMP@", str(tmp)))
        path = tmp / "smtpd.conf"
        path.write_text(conf.replace("@TMP@", str(tmp)))
        proc = subprocess.run([binary, "-n", "-f", str(path)], capture_output=True, text=True,
                              timeout=30)
        proc.stderr = proc.stderr.replace(str(tmp), "@TMP@")
        return proc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class SmtpReply:
    """One swaks run: its exit code, transcript and the reply code to each command."""

    returncode: int
    transcript: str

    def replies(self, command: str) -> list[tuple[str, str]]:
        """[(argument, reply code)] for each ``command`` (``RCPT TO``, ``MAIL FROM``, ``DATA``...)."""
        out: list[tuple[str, str]] = []
        lines = self.transcript.splitlines()
        for i, line in enumerate(lines):
            m = re.match(r"\s*->\s+" + re.escape(command) + r":?\s*(.*)", line)
            if not m:
                continue
            for reply in lines[i + 1:]:
                r = re.match(r"\s*<(?:\*\*)?[- ]+(\d{3})[ -]", reply)
                if r:
                    out.append((m.group(1), r.group(1)))
                    break
        return out

    def rcpt_code(self, address: str) -> str | None:
        for arg, code in self.replies("RCPT TO"):
            if arg.strip("<>") == address:
                return code
        return None

    @property
    def accepted(self) -> bool:
        """The message was queued (250 after the end of DATA)."""
        return bool(re.search(r"<-\s+250 2\.0\.0 \w+ Message accepted for delivery",
                              self.transcript))


class Smtpd:
    """A running daemon in its namespace (made by ``smtpd_running``)."""

    def __init__(self, proc: subprocess.Popen, tmp: Path, logfile: Path, binary: str):
        self.proc = proc
        self.tmp = tmp
        self.out = tmp / "out"
        self.logfile = logfile
        self.smtpctl = str(Path(binary).with_name("smtpctl"))

    def log(self) -> str:
        return self.logfile.read_text(errors="replace")

    def run(self, *cmd: str, timeout: float = 30, check: bool = False) -> subprocess.CompletedProcess:
        """Run a command inside the daemon's mount and network namespaces."""
        return subprocess.run(["nsenter", "--target", str(self.proc.pid), "--mount", "--net", *cmd],
                              capture_output=True, text=True, timeout=timeout, check=check)

    def send(self, *to: str, sender: str = "sender@client.example", server: str = "127.0.0.1",
             port: int = 25, client: str | None = None, body: str = "test body",
             extra: tuple[str, ...] = ()) -> SmtpReply:
        """Send one message with swaks to a loopback address (never anything else).

        ``client`` binds the client end: 127.0.0.1 is "from local" for smtpd, while another
        127/8 address such as 127.0.0.2 (not configured on lo, so not in smtpd's <localhost>
        table) makes the connection look remote ("from any" but not "from local")."""
        for addr in (server, client):
            assert addr is None or addr == "::1" or addr.startswith("127."), "loopback only"
        cmd = ["swaks", "--server", server, "--port", str(port), "--from", sender,
               "--to", ",".join(to), "--helo", "client.example", "--body", body,
               "--timeout", "15", *extra]
        if client is not None:
            cmd += ["--local-interface", client]
        if server == "::1":
            cmd.append("-6")
        proc = self.run(*cmd, timeout=30)
        if "IPv6 not available" in proc.stdout + proc.stderr:
            # Debian's swaks needs libio-socket-inet6-perl for IPv6; speak SMTP from Python.
            python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
            proc = self.run(python, "-c", _SMTPLIB_CLIENT, server, str(port), sender,
                            body, client or "", *to, timeout=30)
        return SmtpReply(proc.returncode, proc.stdout + proc.stderr)

    @contextmanager
    def sink(self, address: str) -> Iterator[Path]:
        """An SMTP server (``SINK``) on ``address`` port 25 in the daemon's namespaces (add the
        address to ``smtpd_running``'s ``addresses``); yields the file it records into."""
        out = self.tmp / f"sink-{address.replace(':', '_')}.jsonl"
        python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        proc = subprocess.Popen(["nsenter", "--target", str(self.proc.pid), "--mount", "--net",
                                 python, "-c", SINK, str(out), address],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            probe = ["python3", "-c", "import socket,sys; socket.create_connection("
                     "(sys.argv[1], 25), timeout=1).close()", address]
            wait_until(lambda: self.run(*probe).returncode == 0, 15,
                       f"the sink on {address} to answer", every=0.1)
            yield out
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    def ctl(self, *args: str) -> subprocess.CompletedProcess:
        """``smtpctl ARGS`` (it insists on running setgid opensmtpq; setpriv gives it that egid)."""
        return self.run("setpriv", "--egid", "opensmtpq", "--keep-groups", self.smtpctl, *args)

    def queue(self) -> str:
        return self.ctl("show", "queue").stdout

    def wait(self, pattern: str | None = None, *, timeout: float = 15) -> bool:
        """Until the log matches ``pattern`` (a regex) and the queue is empty; True, or a
        failure that shows the log."""
        def settled() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"smtpd exited ({self.proc.returncode}):\n{self.log()}")
            return bool((pattern is None or re.search(pattern, self.log(), re.M))
                        and not self.queue().strip())
        return wait_until(settled, timeout, f"smtpd's log to match {pattern!r} and its queue "
                          "to empty", every=0.1, diagnose=self.log)

    def wait_file(self, path: Path, *, timeout: float = 15) -> bool:
        """Until ``path`` holds something (the delivery scripts write it whole, then rename
        it into place); True, or a failure that shows the log."""
        return wait_until(lambda: path.exists() and path.stat().st_size > 0, timeout,
                          f"{path} to be delivered", every=0.1, diagnose=self.log)


def _ns_pids(ns: str) -> list[int]:
    """Processes in mount namespace ``ns`` (e.g. ``mnt:[4026532201]``)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/mnt") == ns:
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


@contextmanager
def smtpd_running(conf: str, files: dict[str, str] | None = None,
                  scripts: dict[str, str] | None = None, *,
                  start_timeout: float = 15, addresses: tuple[str, ...] = (),
                  binds: dict[str, str] | None = None) -> Iterator[Smtpd]:
    """Start smtpd with ``conf`` (files and executable scripts written beside it), yield a
    ``Smtpd``, then stop the daemon and everything left in its namespace.

    ``addresses`` ("2001:db8:50::25/128") are added to ``lo`` inside the private network
    namespace (documentation prefixes only: nothing outside sees them); ``binds`` maps an
    absolute path to the name of one of ``files``/``scripts``, or to an absolute path of a file
    or folder of the test's own, shown there in the namespace (so a config can be run
    unchanged at the paths it names)."""
    for addr in addresses:
        assert addr.startswith(("2001:db8:", "192.0.2.", "198.51.100.", "203.0.113.")), addr
    binary, libexec = need_daemon()
    ensure_users()
    tmp = Path(tempfile.mkdtemp(prefix="migrate-smtpd-"))
    proc = None
    ns = None
    try:
        tmp.chmod(0o755)
        (tmp / "out").mkdir()
        (tmp / "out").chmod(0o1777)

        def sub(text: str) -> str:
            return text.replace("@TMP@", str(tmp)).replace("@OUT@", str(tmp / "out"))

        for name, text in (files or {}).items():
            (tmp / name).write_text(sub(text))
            (tmp / name).chmod(0o644)
        for name, text in (scripts or {}).items():
            (tmp / name).write_text(sub(text))
            (tmp / name).chmod(0o755)
        (tmp / "smtpd.conf").write_text(sub(conf))
        logfile = tmp / "smtpd.log"
        with open(logfile, "wb") as log:
            env = dict(os.environ, EXTRA_ADDRS=" ".join(addresses),
                       BIND_FILES=" ".join(f"{tmp / name}={path}"
                                           for path, name in (binds or {}).items()))
            proc = subprocess.Popen(
                ["unshare", "--mount", "--net", "--propagation", "private",
                 "sh", "-c", NS_SCRIPT, "ns", str(tmp), str(libexec),
                 binary, "-d", "-v", "-f", str(tmp / "smtpd.conf")],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, env=env)
        daemon = Smtpd(proc, tmp, logfile, binary)

        def up() -> bool:
            nonlocal ns
            if proc.poll() is not None:
                raise RuntimeError(f"smtpd exited ({proc.returncode}):\n{daemon.log()}")
            if ns is None and "namespace ready" in daemon.log():
                ns = os.readlink(f"/proc/{proc.pid}/ns/mnt")
            return ns is not None and daemon.ctl("show", "status").returncode == 0
        wait_until(up, start_timeout, "smtpd to answer smtpctl", every=0.1,
                   diagnose=daemon.log)
        yield daemon
    finally:
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # smtpd -d stops its children and exits
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
            if ns is not None and ns != os.readlink("/proc/self/ns/mnt"):
                for pid in _ns_pids(ns):  # anything left behind (a hung pipe command)
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        shutil.rmtree(tmp, ignore_errors=True)
