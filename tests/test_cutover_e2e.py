"""End to end: `migrate cutover --execute` moves a live list from a real Exim to a real
OpenSMTPD while a client sends numbered posts the whole time; every post is recorded exactly
once, on one host or the other.

Three network namespaces made by the test (tests/e2etools.py), on one bridge with
documentation addresses only: ``world`` (the mail client, a DNS server, and migrate itself),
``old`` (Debian's Exim with the `small` sample's configuration, adapted: its own spool and log
folders, listening on the namespace address, and the list's ten pipe aliases, which the sample
itself leaves out) and ``new`` (OpenSMTPD from the unpacked Debian package, started with the
emitted smtpd.conf by the cutover). Each host runs OpenSSH's sshd; the cutover drives both over
SSH, and the old host pushes the archives to the new one with rsync over SSH.

What cannot run here is replaced by stand-ins, each a few lines of shell under
/usr/local/sbin in the host's namespace: Mailman (it needs Python 2: both hosts' mail wrapper
appends the command, list and Subject of each post to a log), OpenBSD's rcctl, pkg_info,
pkg_add, httpd (a Python HTTP server answers for Mailman's pages), usermod, sha256, and
FreeBSD's service. They are said to be stand-ins in their own text.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from conftest import SAMPLES, need, smtpd_binary
from e2etools import Host, Network, PREFIX, world_run
from eximtools import ensure_users as ensure_exim_users
from smtpdtools import _libexec, ensure_users as ensure_smtpd_users
from sshtools import keygen

REPO = Path(__file__).resolve().parents[1]
OLD, NEW, WORLD = PREFIX + "25", PREFIX + "26", PREFIX + "100"
LIST = "members"
DOMAIN = "lists.smallclub.example"
POSTS = int(os.environ.get("MIGRATE_E2E_POSTS", "200"))

OLD_SHIMS = {
    "service": """#!/bin/sh
# stand-in for FreeBSD's service(8)
case "$1 $2" in
"exim reload"|"exim restart")
  # a restart: Exim's own SIGHUP re-exec of the daemon does not survive in this namespace.
  # The daemon writes its pid file after it forks: wait for the content, never read it empty
  i=0; while [ ! -s /usr/local/exim.pid ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  pid=$(cat /usr/local/exim.pid)
  kill "$pid" 2>/dev/null
  i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  rm -f /usr/local/exim.pid
  exim4 -bd -q2s -oP /usr/local/exim.pid
  i=0; while [ ! -s /usr/local/exim.pid ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done ;;
"mailman start")
  # Mailman's qrunners: the stand-in ArchRunner (the wrapper stands in for the others)
  if ! { [ -s /usr/local/archrunner.pid ] && kill -0 "$(cat /usr/local/archrunner.pid)"; } \
      2>/dev/null; then
    python3 /usr/local/sbin/archrunner.py </dev/null >>/usr/local/archrunner.log 2>&1 &
    echo $! > /usr/local/archrunner.pid.tmp && mv /usr/local/archrunner.pid.tmp \
      /usr/local/archrunner.pid
  fi ;;
"mailman stop")
  [ -s /usr/local/archrunner.pid ] && kill "$(cat /usr/local/archrunner.pid)" 2>/dev/null
  rm -f /usr/local/archrunner.pid ;;
*) echo "stand-in: service $*" ;;
esac
""",
    "exim": "#!/bin/sh\nexec exim4 \"$@\"\n",
    "apachectl": "#!/bin/sh\necho 'stand-in: apachectl (no Apache here)'\n",
    # stand-in for the part of Mailman's IncomingRunner that hands a post to the archive:
    # a Switchboard entry in qfiles/archive (the message and its metadata, two Python 2
    # pickles), written to a temp file and renamed as Switchboard.enqueue does
    "enqueue.py": """import hashlib, os, sys, time
sys.path.insert(0, "/usr/local/sbin")
from py2pickle import dumps
text = sys.stdin.buffer.read()
now = time.time()
folder = "/usr/local/mailman/qfiles/archive"
name = "%r+%s" % (now, hashlib.sha1(text + repr(now).encode()).hexdigest())
meta = {b"listname": sys.argv[1].encode(), b"tolist": 1, b"version": 3, b"received_time": now,
        b"_plaintext": True, b"whichq": folder.encode()}
with open(os.path.join(folder, name + ".tmp"), "wb") as fh:
    fh.write(dumps(text, protocol=0) + dumps(meta, protocol=0))
os.rename(os.path.join(folder, name + ".tmp"), os.path.join(folder, name + ".pck"))
""",
    # stand-in for Mailman's ArchRunner: appends each post in qfiles/archive to the list's
    # archive mbox, slowly (an entry waits ARCHIVE_DELAY seconds), so that posts still sit in
    # the queue when the freeze begins and the drain has to wait for them; the entries are
    # read with migrate's restricted unpickler
    "archrunner.py": """import io, os, sys, time
sys.path.insert(0, "@REPO@")
from migrate.parsers.pickles import SafeUnpickler
folder = "/usr/local/mailman/qfiles/archive"
while True:
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if not name.endswith(".pck") or os.stat(path).st_mtime > time.time() - @DELAY@:
            continue
        stream = io.BytesIO(open(path, "rb").read())
        text = SafeUnpickler(stream, encoding="bytes").load()
        meta = SafeUnpickler(stream, encoding="bytes").load()
        mbox = "/usr/local/mailman/archives/private/%s.mbox/%s.mbox" % (
            meta[b"listname"].decode(), meta[b"listname"].decode())
        with open(mbox, "ab") as fh:
            fh.write(b"From poster@example.net Wed Nov 25 10:00:00 2026\\n"
                     + text.rstrip(b"\\n") + b"\\n\\n")
        os.unlink(path)
        print("archived %s %.3f" % (name, time.time()), flush=True)
    time.sleep(0.5)
""",
}
#: How long the ArchRunner stand-in leaves a post in qfiles/archive (seconds).
ARCHIVE_DELAY = 8

NEW_SHIMS = {
    "pkg_info": """#!/bin/sh
# stand-in for OpenBSD's pkg_info: the mailman package 'is there'
case "$1" in -Q) echo "mailman-2.1.39" ;; *) exit 0 ;; esac
""",
    "pkg_add": "#!/bin/sh\necho \"stand-in: pkg_add $*\"\n",
    "pkg_delete": "#!/bin/sh\necho \"stand-in: pkg_delete $*\"\n",
    "usermod": "#!/bin/sh\necho \"stand-in: usermod $*\"\n",
    "id": """#!/bin/sh
case "$*" in "-Gn _smtpd"|"-Gn www") echo "_mailmanq" ;; *) exec /usr/bin/id "$@" ;; esac
""",
    "sha256": "#!/bin/sh\n# stand-in for OpenBSD's sha256(1)\n[ \"$1\" = -c ] && shift\n"
              "exec sha256sum -c \"$@\"\n",
    "su": "#!/bin/sh\n# stand-in: run the command as root\nwhile [ $# -gt 1 ]; do shift; done\n"
          "exec sh -c \"$1\"\n",
    "smtpd": "#!/bin/sh\n# OpenBSD's smtpd reads /etc/mail/smtpd.conf; Debian's build /etc/smtpd.conf\n"
             "case \" $* \" in *' -f '*) exec @SMTPD@ \"$@\" ;; esac\n"
             "exec @SMTPD@ -f /etc/mail/smtpd.conf \"$@\"\n",
    "httpd": "#!/bin/sh\necho 'stand-in: httpd -n (OpenBSD httpd is not here)'\n",
    # stand-in for OpenBSD's crontab(1): keeps each user's table in /var/cron/tabs
    "crontab": """#!/bin/sh
[ "$1" = -u ] && { user=$2; shift 2; } || user=root
case "$1" in
  -l) cat "/var/cron/tabs/$user" ;;
  -r) rm -f "/var/cron/tabs/$user" ;;
  -) cat > "/var/cron/tabs/$user" ;;
  *) cp "$1" "/var/cron/tabs/$user" ;;
esac
""",
    "mail": """#!/bin/sh
# stand-in for mail(1): hand the message to the local smtpd
while [ $# -gt 1 ]; do shift; done
exec python3 -c 'import smtplib, sys; s = smtplib.SMTP("::1", 25, timeout=20); \
s.sendmail("root@localhost", [sys.argv[1]], "Subject: help\\r\\n\\r\\n" + sys.stdin.read()); \
s.quit()' "$1"
""",
    "rcctl": """#!/bin/sh
# stand-in for OpenBSD's rcctl: starts the real smtpd, a Python stand-in for httpd
cmd=$1; shift
[ "$cmd" = set ] && exit 0
for svc in "$@"; do
  case "$cmd $svc" in
  "restart smtpd"|"start smtpd")
    [ -f /run/smtpd.pid ] && kill "$(cat /run/smtpd.pid)" 2>/dev/null && sleep 1
    @SMTPD@ -f /etc/mail/smtpd.conf >>/run/smtpd.log 2>&1 &
    echo $! > /run/smtpd.pid; sleep 1 ;;
  "restart httpd"|"start httpd")
    [ -f /run/httpd.pid ] && kill "$(cat /run/httpd.pid)" 2>/dev/null
    python3 /usr/local/sbin/web.py >>/run/httpd.log 2>&1 &
    echo $! > /run/httpd.pid; sleep 1 ;;
  "check smtpd") kill -0 "$(cat /run/smtpd.pid)" || exit 1 ;;
  "check httpd") kill -0 "$(cat /run/httpd.pid)" || exit 1 ;;
  "stop smtpd"|"stop httpd") kill "$(cat /run/$svc.pid)" 2>/dev/null || true ;;
  *) echo "stand-in: rcctl $cmd $svc" ;;
  esac
done
""",
    "web.py": """# stand-in for OpenBSD httpd + Mailman's CGI: listinfo, admin, private and pipermail
# answer for lists that exist on this host
import http.server, os, socket
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        parts = [p for p in self.path.split("/") if p]
        ok = False
        body = ""
        if parts == ["mailman", "listinfo"]:  # the overview: every list
            ok = True
            body = " ".join(sorted(os.listdir("/var/spool/mailman/lists")))
        elif len(parts) >= 3 and parts[0] == "mailman" and parts[1] in (
                "listinfo", "admin", "private"):  # a list's pages
            ok = os.path.isdir("/var/spool/mailman/lists/" + parts[2])
        elif len(parts) >= 2 and parts[0] == "pipermail":
            ok = os.path.exists("/var/spool/mailman/archives/public/" + parts[1])
        body = ("<h1>%s</h1>%s" % (parts[-1] if parts else "", body)).encode()
        self.send_response(200 if ok else 404)
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
class S(http.server.HTTPServer):
    address_family = socket.AF_INET6
S(("::", 80), H).serve_forever()
""",
}

WRAPPER = """#!/bin/sh
# stand-in for Mailman's mail wrapper (Mailman 2 needs Python 2): record the post
if [ $# -eq 0 ]; then
  echo 'Group mismatch error.  Mailman expected the mail wrapper script to be executed as'
  echo 'group "_smtpd", but the system mail server executed it as group "wheel".'
  exit 2
fi
msg=$(cat)
subject=$(printf '%s\\n' "$msg" | sed -n 's/^Subject: //p' | head -n 1)
@ENQUEUE@
echo "@HOST@ $1 $2 $subject" >> @LOG@
"""
#: The old host's wrapper also queues each post for the archive (the ArchRunner stand-in).
OLD_ENQUEUE = ('if [ "$1" = post ]; then printf \'%s\\n\' "$msg" | '
               'python3 /usr/local/sbin/enqueue.py "$2" || exit 75; fi')

SENDER = r"""
import json, socket, smtplib, sys, time
import dns.resolver
server, count, out, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
res = dns.resolver.Resolver(configure=False)
res.nameservers = [server]
res.lifetime = 5
def target():
    mx = sorted(res.resolve("lists.smallclub.example", "MX"), key=lambda r: r.preference)
    return res.resolve(mx[0].exchange.to_text(), "AAAA")[0].address
pending = list(range(1, count + 1))
retry = []
log = open(out, "a")
start = time.time()
while pending or retry:
    now = time.time()
    if pending and (not retry or retry[0][0] > now):
        n = pending.pop(0)
    elif retry and retry[0][0] <= now:
        n = retry.pop(0)[1]
    else:
        time.sleep(0.1)
        continue
    try:
        host = target()
        s = smtplib.SMTP(host, 25, timeout=20)
        s.sendmail("poster@example.net", ["members@lists.smallclub.example"],
                   "Subject: post %s%d\r\n\r\nnumber %d\r\n" % (tag, n, n))
        s.quit()
        log.write(json.dumps({"n": n, "host": host, "t": time.time()}) + "\n")
        log.flush()
    except (smtplib.SMTPException, OSError, Exception) as exc:
        log.write(json.dumps({"n": n, "retry": str(exc)[:80], "t": time.time()}) + "\n")
        log.flush()
        retry.append((time.time() + 2, n))
        retry.sort()
    time.sleep(0.3)
    if time.time() - start > 900:
        break
"""

DNS_SERVER = r"""
import json, socket, sys
import dns.message, dns.rrset, dns.rcode, dns.rdatatype
zone_file = sys.argv[1]
sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
sock.bind(("2001:db8:ff::100", 53))
zone = {}
while True:
    data, peer = sock.recvfrom(4096)
    try:
        query = dns.message.from_wire(data)
    except Exception:
        continue
    try:  # the test replaces the file atomically; a file it cannot read keeps the last zone
        with open(zone_file) as fh:
            zone = json.load(fh)
    except (OSError, ValueError):
        pass
    reply = dns.message.make_response(query)
    q = query.question[0]
    key = q.name.to_text().rstrip(".").lower() + " " + dns.rdatatype.to_text(q.rdtype)
    if key in zone:
        ttl, values = zone[key]
        reply.answer.append(dns.rrset.from_text_list(q.name, ttl, "IN",
                                                     dns.rdatatype.to_text(q.rdtype), values))
    else:
        reply.set_rcode(dns.rcode.NXDOMAIN)
    sock.sendto(reply.to_wire(), peer)
"""


DNS_READY = r"""
import sys, time
import dns.exception, dns.resolver
res = dns.resolver.Resolver(configure=False)
res.nameservers = [sys.argv[1]]
res.lifetime = 1
end = time.monotonic() + 30
while True:
    try:
        res.resolve("lists.smallclub.example", "MX")
        break
    except dns.exception.DNSException:
        if time.monotonic() > end:
            raise
        time.sleep(0.1)
"""


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def _adapt_old_tree(tree: Path) -> None:
    """The small sample, as its Exim runs in the old namespace."""
    conf = tree / "usr/local/etc/exim/configure"
    text = conf.read_text()
    text = text.replace("acl_smtp_rcpt = acl_check_rcpt",
                        "acl_smtp_rcpt = acl_check_rcpt\n"
                        "spool_directory = /usr/local/exim-spool\n"
                        "log_file_path = /usr/local/exim-log/%slog\n"
                        f"local_interfaces = <; {OLD} ; 127.0.0.1\n"
                        "tls_advertise_hosts =\n")
    conf.write_text(text)
    aliases = (tree / "etc/aliases").resolve()
    lines = aliases.read_text()
    for name in (LIST, "mailman"):
        for suffix, cmd in (("", "post"), ("-admin", "admin"), ("-bounces", "bounces"),
                            ("-confirm", "confirm"), ("-join", "join"), ("-leave", "leave"),
                            ("-owner", "owner"), ("-request", "request"),
                            ("-subscribe", "subscribe"), ("-unsubscribe", "unsubscribe")):
            lines += f'{name}{suffix}: "|/usr/local/mailman/mail/mailman {cmd} {name}"\n'
    aliases.unlink()
    (tree / "etc/aliases").unlink(missing_ok=True)
    _write(tree / "etc/aliases", lines)
    wrapper = tree / "usr/local/mailman/mail/mailman"
    _write(wrapper, WRAPPER.replace("@HOST@", "old").replace("@LOG@", "/usr/local/posts.log")
           .replace("@ENQUEUE@", OLD_ENQUEUE), 0o755)
    # the queue the wrapper (run as Exim's user) writes and the ArchRunner stand-in reads
    queue = tree / "usr/local/mailman/qfiles/archive"
    queue.mkdir(parents=True)
    queue.chmod(0o1777)
    (tree / "usr/local/mailman/archives/private/members.mbox/members.mbox").chmod(0o666)


def _sshd_config(tmp: Path, address: str, host_key: Path, auth: Path) -> Path:
    cfg = tmp / "sshd_config"
    cfg.write_text(f"Port 22\nListenAddress {address}\nHostKey {host_key}\n"
                   f"PidFile /run/sshd-e2e.pid\nAuthorizedKeysFile {auth}\nStrictModes no\n"
                   "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
                   "KbdInteractiveAuthentication no\nUsePAM no\n"
                   "Subsystem sftp internal-sftp\n")
    return cfg


@pytest.fixture
def world(tmp_path):
    need(os.geteuid() == 0, "network namespaces, sshd and Exim's daemon need root")
    for tool in ("ip", "nsenter", "unshare", "exim4", "rsync", "sshd"):
        need(shutil.which(tool) is not None or os.path.exists(f"/usr/sbin/{tool}"),
             f"{tool} is not installed")
    smtpd = smtpd_binary()
    ensure_exim_users()
    ensure_smtpd_users()
    if subprocess.run(["id", "_mailman"], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--system", "--no-create-home", "--user-group", "--shell",
                        "/usr/sbin/nologin", "_mailman"], check=True, capture_output=True)
    base = Path(tempfile.mkdtemp(prefix="migrate-e2e-"))
    base.chmod(0o755)
    net = Network()
    hosts: list[Host] = []
    daemons = []
    try:
        # keys: one for migrate (both hosts), one for old -> new (rsync)
        keys = base / "keys"
        keys.mkdir()
        client = keys / "client"
        keygen(client)
        hostkeys = {}
        for role in ("old", "new"):
            hostkeys[role] = keys / f"{role}_host"
            keygen(hostkeys[role])
        auth = keys / "authorized_keys"
        auth.write_text(Path(f"{client}.pub").read_text())
        known = keys / "known_hosts"
        known.write_text(f"{OLD} " + Path(f"{hostkeys['old']}.pub").read_text()
                         + f"{NEW} " + Path(f"{hostkeys['new']}.pub").read_text())
        for p in keys.iterdir():
            p.chmod(0o644 if p.suffix == ".pub" or p.name in ("known_hosts",
                                                               "authorized_keys") else 0o600)
        # the old host
        old_tree = base / "oldtree"
        shutil.copytree(SAMPLES / "small", old_tree, symlinks=True)
        _adapt_old_tree(old_tree)
        old_ssh = base / "old-root-ssh"
        old_ssh.mkdir()
        shutil.copy(client, old_ssh / "id_ed25519")
        shutil.copy(known, old_ssh / "known_hosts")
        old_sbin = base / "old-sbin"
        for name, text in OLD_SHIMS.items():
            _write(old_sbin / name, text.replace("@REPO@", str(REPO)).replace(
                "@DELAY@", str(ARCHIVE_DELAY)), 0o755)
        shutil.copy(REPO / "tools/py2pickle.py", old_sbin / "py2pickle.py")
        old = Host(net, "old", [
            ("tmpfs", "755", "/usr/local"),
            ("bind", str(old_tree / "usr/local/etc/exim"), "/usr/local/etc/exim"),
            ("bind", str(old_tree / "usr/local/mailman"), "/usr/local/mailman"),
            ("bind", str(old_sbin), "/usr/local/sbin"),
            ("shadow", "-", "/etc"),
            ("copy", str(old_tree / "etc/aliases"), "/etc/aliases"),
            ("mkdir", "755", "/etc/exim4"),
            ("link", "/usr/local/etc/exim/configure", "/etc/exim4/exim4.conf"),
            ("tmpfs", "700", "/root"),
            ("copy", str(old_ssh), "/root/.ssh"),
            ("tmpfs", "755", "/run"),
            ("mkdir", "755", "/run/sshd"),
            ("tmpfs", "1777", "/var/mail"),
        ])
        hosts.append(old)
        old.run("mkdir -p /usr/local/exim-spool /usr/local/exim-log && "
                "chown mailnull:mail /usr/local/exim-spool && chmod 777 /usr/local/exim-log && "
                ": > /usr/local/posts.log && chmod 666 /usr/local/posts.log")
        old.run("exim4 -bd -q2s -oP /usr/local/exim.pid")
        old.run("service mailman start")
        old.spawn(["/usr/sbin/sshd", "-D", "-e", "-f",
                   str(_sshd_config(base / "oldcfg" if (base / "oldcfg").mkdir() is None
                                    else base, OLD, hostkeys["old"], auth))], "sshd.log")
        # the new host
        new_sbin = base / "new-sbin"
        for name, text in NEW_SHIMS.items():
            _write(new_sbin / name, text.replace("@SMTPD@", smtpd), 0o755)
        new_mm = base / "new-mailman"
        _write(new_mm / "mail/mailman", WRAPPER.replace("@HOST@", "new").replace(
            "@LOG@", "/var/spool/mailman/posts.log").replace("@ENQUEUE@", ":"), 0o755)
        _write(new_mm / "Mailman/mm_cfg.py", "from Defaults import *\n")
        for tool in ("withlist", "check_perms", "list_lists"):
            _write(new_mm / "bin" / tool, "#!/bin/sh\necho 'stand-in: Mailman needs "
                   "Python 2'\n", 0o755)
        new = Host(net, "new", [
            ("tmpfs", "755", "/usr/local"),
            ("bind", str(new_sbin), "/usr/local/sbin"),
            ("bind", str(new_mm), "/usr/local/lib/mailman"),
            ("shadow", "-", "/etc"),
            ("mkdir", "755", "/etc/mail"),
            ("shadow", "-", "/var"),
            ("shadow", "-", "/var/spool"),
            ("shadow", "-", "/var/lib"),
            ("mkdir", "755", "/var/spool/mailman/lists"),
            ("mkdir", "755", "/var/spool/mailman/archives/private"),
            ("mkdir", "755", "/var/spool/mailman/archives/public"),
            ("mkdir", "711", "/var/spool/smtpd"),
            ("mkdir", "755", "/var/cron/tabs"),
            ("mkdir", "755", "/var/lib/opensmtpd/empty"),
            ("mkdir", "1777", "/var/mail"),
            ("shadow", "-", "/usr/libexec"),
            ("bind", str(_libexec(smtpd)), "/usr/libexec/opensmtpd"),
            ("tmpfs", "700", "/root"),
            ("tmpfs", "755", "/run"),
            ("mkdir", "755", "/run/sshd"),
        ])
        hosts.append(new)
        new.run(": > /var/spool/mailman/posts.log && chmod 666 /var/spool/mailman/posts.log")
        (base / "newcfg").mkdir()
        new.spawn(["/usr/sbin/sshd", "-D", "-e", "-f",
                   str(_sshd_config(base / "newcfg", NEW, hostkeys["new"], auth))],
                  "sshd.log")
        # DNS in world: MX and AAAA, TTL already lowered
        zone = base / "zone.json"
        zone.write_text(json.dumps({
            f"{DOMAIN} MX": [60, ["10 old.smallclub.example."]],
            "old.smallclub.example AAAA": [60, [OLD]]}))
        (base / "dnsserver.py").write_text(DNS_SERVER)
        daemons.append(subprocess.Popen(
            ["ip", "netns", "exec", net.names["world"], sys.executable, str(base / "dnsserver.py"),
             str(zone)], stdout=subprocess.DEVNULL, stderr=open(base / "dns.log", "wb"),
            start_new_session=True))
        (base / "resolv.conf").write_text(f"nameserver {WORLD}\n")
        # every daemon answers before the test starts (not a guess at how long they take)
        old.wait_listening(OLD, 22)
        new.wait_listening(NEW, 22)
        old.wait_listening(OLD, 25)
        ready = world_run(net, [sys.executable, "-c", DNS_READY, WORLD], capture_output=True,
                          text=True, timeout=60)
        assert ready.returncode == 0, ready.stderr + (base / "dns.log").read_text()
        yield {"net": net, "old": old, "new": new, "base": base, "client": client,
               "known": known, "zone": zone, "old_tree": old_tree, "cleanup": daemons}
    finally:
        for proc in daemons:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, 9)
                except ProcessLookupError:
                    pass
                proc.wait()
        for host in hosts:
            host.close()
        net.close()
        shutil.rmtree(base, ignore_errors=True)


def _plan(w) -> Path:
    from migrate.inspection import inspect_tree
    from migrate.model import Origin
    from migrate.planning import build_plan, resolve_target, write_plan
    from migrate.sources import LocalTree
    inv = inspect_tree(LocalTree(w["old_tree"]), Origin("local", str(w["old_tree"])))
    target = resolve_target(inv, {}, {"hostname": "new.smallclub.example", "ipv6": [NEW],
                                      "dns_ttl": 300})
    plan = build_plan(inv, target)
    w["old_name"] = inv.host.hostname
    out = w["base"] / "plan"
    write_plan(plan, str(out))
    return out


def _cutover(w, plan: Path, *extra: str) -> subprocess.Popen:
    base = w["base"]
    script = (f"mount --bind {base}/resolv.conf /etc/resolv.conf && exec {sys.executable} "
              f"-m migrate cutover {plan} --old root@[{OLD}] --new root@[{NEW}] "
              f"--identity {w['client']} --known-hosts {w['known']} " + " ".join(extra))
    return subprocess.Popen(["ip", "netns", "exec", w["net"].names["world"], "unshare",
                             "--mount", "--propagation", "private", "sh", "-c", script],
                            stdout=open(base / "cutover.log", "ab"), stderr=subprocess.STDOUT,
                            env=dict(os.environ, PYTHONPATH=str(REPO)), cwd=str(REPO),
                            start_new_session=True)


def _diagnostics(w) -> str:
    out = []
    for name in ("dns.log", "sender.log"):
        path = w["base"] / name
        if path.exists():
            out.append(f"--- {name}\n" + path.read_text()[-1500:])
    for role in ("old", "new"):
        out.append(f"--- {role} setup\n" + (w[role].tmp / "setup.log").read_text()[-500:])
    logs = w["old"].run("tail -n 15 /usr/local/exim-log/mainlog /usr/local/exim-log/paniclog "
                        "/usr/local/service.log 2>&1", check=False)
    out.append("--- old exim\n" + logs.stdout[-2500:])
    logs = w["new"].run("tail -n 15 /run/smtpd.log 2>&1", check=False)
    out.append("--- new smtpd\n" + logs.stdout[-2500:])
    return "\n".join(out)


def _records(w) -> list[tuple[str, str, str, int, str]]:
    """(host, command, list, number, sender tag) of every post the stand-in wrappers saw."""
    out = []
    for role in ("old", "new"):
        path = "/usr/local/posts.log" if role == "old" else "/var/spool/mailman/posts.log"
        text = w[role].run(f"cat {path}").stdout
        for line in text.splitlines():
            m = re.match(r"(\w+) (\w+) (\S+) post ([a-z]+)(\d+)$", line)
            if m:
                out.append((m.group(1), m.group(2), m.group(3), int(m.group(5)), m.group(4)))
    return out


def _start_sender(w, count: int, name: str) -> subprocess.Popen:
    (w["base"] / "sender.py").write_text(SENDER)
    sender = subprocess.Popen(["ip", "netns", "exec", w["net"].names["world"], sys.executable,
                               str(w["base"] / "sender.py"), WORLD, str(count),
                               str(w["base"] / f"{name}.jsonl"), name],
                              stderr=open(w["base"] / "sender.log", "ab"),
                              start_new_session=True)
    w["cleanup"].append(sender)
    return sender


def _publish(w, plan: Path) -> None:
    """The operator publishes the records the cutover asks for (dns/records.md; the same
    records are the dns-switch step's checks)."""
    steps = yaml.safe_load((plan / "plan.yaml").read_text())["steps"]
    step = next(s for s in steps if s["id"] == "dns-switch")
    zone = json.loads(w["zone"].read_text())
    planned: dict[str, list[str]] = {}
    for a in step["actions"]:
        if a["do"] == "dns":
            planned.setdefault(f"{a['name']} {a['type']}", []).append(a["value"])
    for key, values in planned.items():
        zone[key] = [60, values]
    _write_zone(w["zone"], zone)


def _write_zone(path: Path, zone: dict) -> None:
    """Replace the DNS server's zone whole: written beside it, then renamed over it (seen
    under load: the server read the file while write_text had only truncated it)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(zone))
    os.replace(tmp, path)


def _run(w, plan: Path, *extra: str, kill_each: bool = False) -> tuple[int, str, list[str]]:
    """Run the cutover to its end (publishing DNS when it asks). With ``kill_each``, SIGKILL
    it as soon as each step in turn has started (the journal says so), then go on with
    --resume: every step is interrupted once. Returns the exit code, the output and the steps
    that were running when each kill landed."""
    journal = plan / "journal.jsonl"
    order = [s["id"] for s in yaml.safe_load((plan / "plan.yaml").read_text())["steps"]]
    cutover = _cutover(w, plan, *extra)
    w["cleanup"].append(cutover)
    deadline = time.monotonic() + 400 + (len(order) * 20 if kill_each else 0)
    published = False
    next_kill = 0  # the index in ``order`` of the step to kill next
    killed_in: list[str] = []
    while time.monotonic() < deadline:
        records = [json.loads(x) for x in
                   (journal.read_text().splitlines() if journal.exists() else [])
                   if x.endswith("}")]
        started = {r["step"] for r in records if r.get("event") == "start"}
        if kill_each and next_kill < len(order) and order[next_kill] in started:
            os.killpg(cutover.pid, 9)
            cutover.wait()
            running = [r["step"] for r in records if r.get("event") in ("start", "done")]
            last = records[-1] if records else {}
            killed_in.append(running[-1] if last.get("event") != "done" else "between")
            next_kill += 1
            cutover = _cutover(w, plan, "--execute", "--resume", "--yes")
            w["cleanup"].append(cutover)
            continue
        if not published and "dns-switch" in started:
            _publish(w, plan)
            published = True
        if cutover.poll() is not None:
            break
        time.sleep(0.05)
    else:
        os.killpg(cutover.pid, 9)
    cutover.wait()
    return cutover.returncode, (w["base"] / "cutover.log").read_text(), killed_in


def _check_posts(w, names: list[str], counts: dict[str, int]) -> dict[str, list[int]]:
    """Every post of every sender recorded exactly once; returns the hosts' post numbers."""
    records = _records(w)
    by_host: dict[str, list[int]] = {"old": [], "new": []}
    for name in names:
        got = [n for host, cmd, lst, n, tag in records if cmd == "post" and lst == LIST
               and tag == name]
        c = {n: got.count(n) for n in set(got)}
        lost = sorted(set(range(1, counts[name] + 1)) - set(c))
        dups = sorted(n for n, k in c.items() if k > 1)
        assert not lost and not dups, (name, lost, dups, _diagnostics(w))
    for host, cmd, lst, n, tag in records:
        if cmd == "post":
            by_host[host].append(n)
    return by_host


HELD = "heldmsg-members-1.pck"
COOKIE = b"5b2c7e0a9d41f3b86c0e2a7d1f94b3c8e6a05d21"


def _plant_requests(w) -> dict[str, bytes]:
    """After the plan was made (the inspection never saw them), as a live list gets them: a
    post held for moderation (request.pck pointing at a real pickled Mailman.Message in
    data/), a subscription held for the moderator, and a subscription waiting for the
    member's confirmation (pending.pck). Returns the files' bytes by path under the var
    prefix."""
    sys.path.insert(0, str(REPO / "tools"))
    from py2pickle import Py2Instance, dumps
    t = time.time()
    message = Py2Instance("Mailman.Message", "Message", {
        b"_headers": [(b"From", b"stranger@example.net"), (b"To", f"{LIST}@{DOMAIN}".encode()),
                      (b"Subject", b"Held for the moderator"),
                      (b"Message-ID", b"<held.1@example.net>")],
        b"_payload": b"Please approve me.\n", b"_charset": None, b"preamble": None,
        b"epilogue": None, b"defects": [], b"_default_type": b"text/plain",
        b"_unixfrom": b"From stranger@example.net Wed Nov 25 10:00:00 2026"})
    msgdata = {b"listname": LIST.encode(), b"tolist": 1, b"version": 3, b"received_time": t}
    requests = {1: (1, (t, b"stranger@example.net", b"Held for the moderator",
                        b"Post by non-member to a members-only list", HELD.encode(), msgdata)),
                2: (2, (t + 1, b"joiner@example.net", b"Jo Joiner", b"pw-e2e-joiner", 0, b"en")),
                b"version": (0, 1)}
    desc = Py2Instance("Mailman.UserDesc", "UserDesc", {
        b"address": b"newcomer@example.net", b"fullname": b"Nora Newcomer",
        b"password": b"pw-e2e-newcomer", b"digest": 0, b"language": b"en"})
    pending = {b"version": 2, COOKIE: (b"S", desc), b"evictions": {COOKIE: t + 3 * 86400.0}}
    files = {f"data/{HELD}": dumps(message, protocol=1),
             f"lists/{LIST}/request.pck": dumps(requests, protocol=1),
             f"lists/{LIST}/pending.pck": dumps(pending, protocol=0)}
    var = w["old_tree"] / "usr/local/mailman"
    for rel, data in files.items():
        (var / rel).parent.mkdir(parents=True, exist_ok=True)
        (var / rel).write_bytes(data)
    return files


def _check_requests(w, planted: dict[str, bytes]) -> None:
    """The held post, the held subscription and the pending confirmation on the new host:
    every file byte for byte, request.pck still pointing at the held post (read with
    migrate's restricted unpickler), pending.pck still holding the cookie, owned by
    _mailman."""
    from migrate.parsers.pickles import safe_loads
    new_var = "/var/spool/mailman"
    for rel, data in planted.items():
        got = w["new"].run(f"base64 -w0 {new_var}/{rel}").stdout
        assert base64.b64decode(got) == data, rel
        assert w["new"].run(f"stat -c %U {new_var}/{rel}").stdout.strip() == "_mailman", rel
    requests = safe_loads(planted[f"lists/{LIST}/request.pck"])
    held = [v for k, v in requests.items() if k != b"version" and v[0] == 1]
    assert [h[1][4] for h in held] == [HELD.encode()]
    assert w["new"].run(f"test -f {new_var}/data/{held[0][1][4].decode()}",
                        check=False).returncode == 0
    assert [v[0] for k, v in requests.items() if k != b"version"] == [1, 2]
    pending = safe_loads(planted[f"lists/{LIST}/pending.pck"])
    assert pending[COOKIE][0] == b"S" and pending[b"evictions"][COOKIE] > time.time()


def _archived_posts(w, role: str, tag: str) -> list[int]:
    """The numbers of the stream's posts in the list's archive mbox on that host."""
    var = "/usr/local/mailman" if role == "old" else "/var/spool/mailman"
    text = w[role].run(f"cat {var}/archives/private/{LIST}.mbox/{LIST}.mbox").stdout
    return [int(n) for n in re.findall(rf"^Subject: post {tag}(\d+)$", text, re.M)]


def test_cutover_under_a_stream_of_posts_loses_and_duplicates_nothing(world):
    w = world
    plan = _plan(w)
    planted = _plant_requests(w)
    sender = _start_sender(w, POSTS, "a")
    time.sleep(3)  # posts flow to the old host first
    code, log, _ = _run(w, plan, "--execute", "--yes")
    assert code == 0, log[-4000:] + _diagnostics(w)
    sender.wait(timeout=600)
    by_host = _check_posts(w, ["a"], {"a": POSTS})
    assert by_host["old"] and by_host["new"]  # the stream really crossed the switch
    # every post the old host took is in the archive that moved, once: also those that still
    # sat in qfiles/archive when the freeze began (the drain waited for the ArchRunner)
    assert sorted(_archived_posts(w, "new", "a")) == sorted(by_host["old"])
    records = [json.loads(x) for x in (plan / "journal.jsonl").read_text().splitlines()]
    drain = next(dt.datetime.fromisoformat(r["t"]).timestamp() for r in records
                 if r.get("event") == "start" and r.get("step") == "old-mailman-drain")
    log = w["old"].run("cat /usr/local/archrunner.log").stdout
    late = [line for line in log.splitlines()
            if line.startswith("archived ") and float(line.split()[2]) > drain]
    assert late, log[-2000:]
    print(f"{len(late)} post(s) sat in qfiles/archive at the freeze and were archived before "
          "the final sync")
    # the held post, the held subscription and the pending confirmation arrived intact
    _check_requests(w, planted)
    out = "\n".join(r.get("output", "") for r in records if r.get("step") == "final-sync")
    assert f"{LIST}: 1 held post file(s), {HELD} " in out, out[-2000:]
    # Mailman's crontab is installed for _mailman on the new host (the crontab stand-in)
    tab = w["new"].run("cat /var/cron/tabs/_mailman").stdout
    assert "written by migrate" in tab and "/usr/local/lib/mailman/cron/" in tab
    print(f"{POSTS} posts: {len(by_host['old'])} on old, {len(by_host['new'])} on new")
    sent = total = 0
    for line in (plan / "journal.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("event") == "output" and record.get("step") == "final-sync":
            sent += sum(int(x.replace(",", "")) for x in
                        re.findall(r"Total bytes sent: ([\d,]+)", record["output"]))
            total += sum(int(x.replace(",", "")) for x in
                         re.findall(r"Total file size: ([\d,]+)", record["output"]))
    assert total > 0 and sent < total, (sent, total)
    print(f"final delta: {sent} bytes sent for {total} bytes of lists and archives")
    for line in log.splitlines():
        if "freeze window" in line or "cutover done" in line:
            print(line)


def test_sigkill_at_each_step_in_turn_then_resume(world):
    """One cutover, killed (SIGKILL, the whole process group) once in every step: as soon as
    step k has started the tool dies and ``--resume`` goes on, until step k+1 has started...
    The posts sent all the while are each recorded once, and the archives are whole."""
    w = world
    plan = _plan(w)
    sender = _start_sender(w, 250, "k")
    time.sleep(2)
    code, log, killed_in = _run(w, plan, "--execute", "--yes", kill_each=True)
    assert code == 0, log[-4000:] + _diagnostics(w)
    steps = [s["id"] for s in yaml.safe_load((plan / "plan.yaml").read_text())["steps"]]
    assert len(killed_in) == len(steps)  # a kill, and a resume, for every step
    mid = [s for s in killed_in if s != "between"]
    print(f"{len(killed_in)} kills, {len(mid)} inside a running step: {', '.join(mid)}")
    assert len(mid) >= len(steps) // 2, killed_in  # most land inside a step, not between two
    assert log.count("skip ") >= len(steps)  # each resume went on from the journal
    sender.wait(timeout=900)
    by_host = _check_posts(w, ["k"], {"k": 250})
    assert by_host["old"] and by_host["new"]
    # the freeze manifest (final-sync's check) still holds after all the kills: it covers
    # the archive mbox, which the ArchRunner stand-in changed since the plan was made
    res = w["new"].run("cd / && sha256 -c /root/migrate-plan/rsync/manifest-freeze.sha256",
                       check=False)
    assert res.returncode == 0 and f"{LIST}.mbox: OK" in res.stdout, res.stdout[-2000:]
    assert sorted(_archived_posts(w, "new", "k")) == sorted(by_host["old"])


def test_a_failing_post_check_then_rollback_brings_posts_back_to_the_old_host(world):
    w = world
    plan = _plan(w)
    # the new host's web server runs, but Mailman's pages fail (500): the post-checks fail
    w["new"].run("sed -i 's/200 if ok else 404/500/' /usr/local/sbin/web.py")
    sender = _start_sender(w, 30, "r")
    time.sleep(2)
    code, log, _ = _run(w, plan, "--execute", "--yes")
    assert code != 0 and "post-checks failed" in log, log[-3000:]
    sender.wait(timeout=600)
    code, log, _ = _run(w, plan, "--execute", "--rollback")
    assert code == 0, log[-3000:] + _diagnostics(w)
    # the operator puts the old records back, as the rollback asks
    zone = json.loads(w["zone"].read_text())
    zone[f"{DOMAIN} MX"] = [60, ["10 old.smallclub.example."]]
    _write_zone(w["zone"], zone)
    after = _start_sender(w, 10, "s")
    after.wait(timeout=300)
    by = _records(w)
    assert sorted(n for host, cmd, lst, n, tag in by if tag == "s") == list(range(1, 11))
    assert all(host == "old" for host, cmd, lst, n, tag in by if tag == "s")
    _check_posts(w, ["r", "s"], {"r": 30, "s": 10})
