"""End to end: `migrate cutover --execute` moves a live list from a real Exim and a real
Mailman to a real OpenSMTPD and a real Mailman while a client sends numbered posts the whole
time; every member receives every post exactly once, and every post is archived exactly once.

Three network namespaces made by the test (tests/e2etools.py), on one bridge with
documentation addresses only: ``world`` (the mail client, a DNS server, the members' mail
servers and migrate itself), ``old`` and ``new``. Each host runs OpenSSH's sshd; the cutover
drives both over SSH, and the old host pushes the lists and archives to the new one with rsync
over SSH.

What is real:

- The old host: Debian's Exim with the `small` sample's configuration (adapted: its own spool
  and log folders, listening on the namespace address, its mailbox path in the taint-safe form
  Exim 4.94 and later want, ``$local_part_data``, and the list's ten pipe aliases, which the
  sample itself leaves out) piping each post into GNU Mailman 2.1 built in the FreeBSD port's
  layout (tests/mailmantools.py, ``freebsd``: /usr/local/mailman, the wrapper built for the
  group ``mailman``, the group the sample's ``address_pipe`` transport runs it as). A per-test
  copy of the build holds the sample's lists, archives and mm_cfg.py; its files belong to
  ``mailman``; pipermail rebuilt the archive from the sample's mbox (``bin/arch --wipe``: the
  sample has the HTML but not pipermail's own database, which numbers the articles). The
  list accepts the test's poster (``config_list``: accept_these_nonmembers). The old tree
  has what a real host has and the sample leaves out: an etc/passwd with the system users the
  configuration names and one person, ``chair`` (the list owner chair@smallclub.example),
  whose mail Exim's localuser router appends to /var/mail/chair, an alias ``office: chair``
  (system_aliases serves the list domain too), and the host's IPv6 address in rc.conf. So the
  plan hands office@ and the other non-list addresses of the moved domain back to the old host
  (the new host's smtpd relays them to it; its forward router leaves them to its own routers),
  and the test sends numbered mail to office@ before, during and after the switch (and to
  chair@ of the list domain after it): each message is in chair's mailbox once, those the
  new host took arrived from it (the old Exim's mainlog), and after a rollback office@ is
  served by the old routers as before.
- The new host: OpenSMTPD from the unpacked Debian package, started with the emitted
  smtpd.conf by the cutover, piping into Mailman built as OpenBSD's package is (``openbsd``:
  /usr/local/lib/mailman, /var/spool/mailman, the wrapper built for ``opensmtpd``, the user
  Debian's smtpd runs the aliases' pipes as, standing in for OpenBSD's ``_smtpd``), a per-test
  copy; the plan's mm_cfg.py additions, rsync phases, mailman-after-copy.sh and wrapper check
  run on it as they are. The plan names OpenBSD's users: in this host's namespace only,
  /etc/passwd, /etc/group and /etc/shadow are copies where ``_mailman`` is the build's
  ``mailman`` (same uid and gid, listed first) and ``_smtpd`` is ``opensmtpd`` (listed after
  it, so that the group's name stays the one the wrapper checks); ``su`` is the real one.
- The qrunners run on both hosts. On the new host the rcctl stand-in starts and stops the
  real ``mailmanctl``, as the package's rc.d script does. On the old host the service
  stand-in starts each qrunner as mailmanctl would (``bin/qrunner --runner=NAME:0:1 -s`` as
  ``mailman``) and stops them with SIGTERM; ArchRunner alone runs in passes every
  ARCHIVE_DELAY seconds, so that posts sit in qfiles/archive when the freeze begins and the
  drain must wait for them (mailmanctl would run it with the rest; the old mm_cfg.py, which the
  plan reads, stays the sample's).
- The members' mail servers are one SMTP server in world (SINK), the MX of every domain the
  lists mail to in the test's DNS: each host's Mailman hands its deliveries to its own MTA
  (SMTPHOST localhost), and that MTA finds the sink by MX, as it would find a member's server:
  the old host's Exim through its dnslookup router, the new host's smtpd through the
  emitted ``relay`` action (no smarthost). The sink records the peer, envelope, Subject and
  Message-ID of each message: a post's deliveries are counted per member, and the peer says
  which host's Mailman sent it.
- The held post, held subscription and pending confirmations are made by mail through the
  old host's Mailman after the plan was made, and read on the new host by its Mailman.
- The new host's web: OpenBSD's own httpd (tests/httpdtools.py, built from
  ../shared/tools/openbsd-httpd), started by the rcctl stand-in with the emitted httpd.conf
  (which the plan's ``httpd -n`` checked for real), in front of the new host's real Mailman
  CGI wrappers (built for the group www, as OpenBSD's package is) through Debian's fcgiwrap,
  which stands in for OpenBSD's slowcgi: the same FastCGI-to-CGI gateway, on slowcgi's socket
  (/var/www/run/slowcgi.sock), running the CGI as www as slowcgi does. The plan's post-checks
  (every old web address) are answered by Mailman's own pages and the synced archive.

What cannot run here is replaced by stand-ins, each a few lines of shell under
/usr/local/sbin in the host's namespace, said to be stand-ins in their own text: OpenBSD's
rcctl (it runs the real smtpd, mailmanctl and httpd, and fcgiwrap for slowcgi), pkg_info,
pkg_add, pkg_delete, usermod, id (for the group _mailmanq), sha256, crontab and mail, and
FreeBSD's service (Exim's restart, Mailman's qrunners as above) and apachectl. The old host's
Apache proxy, through which the name that stays there (lists.smallclub.example) shows the new
host's pages, is a few lines of Python on [OLD]:80 (``WEB_PROXY``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.errors
import email.header
import grp
import json
import mailbox
import os
import pwd
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from conftest import SAMPLES, WAIT_UNTIL_SH, WaitTimeout, need, smtpd_binary, wait_until
from e2etools import CONNECT, Host, Network, PREFIX, world_run
from eximtools import ensure_users as ensure_exim_users
from httpdtools import fcgiwrap_binary, httpd_binary, httpd_sh, slowcgi_sh
from mailmantools import mailman_build, python_of
from emitters.common import SLOWCGI_SOCKET
from migrate.app.inspection import inspect_tree
from migrate.app.planning import build_plan, resolve_target, write_plan
from migrate.app.sources import LocalTree
from migrate.core.model import AddressFamily, DomainRole, Origin
from parsers.rcconf import parse_rc_conf
from smtpdtools import SINK, _libexec, ensure_users as ensure_smtpd_users
from sshtools import keygen

pytestmark = [pytest.mark.e2e, pytest.mark.realtool]  # out of `make test-fast`

REPO = Path(__file__).resolve().parents[1]
OLD, NEW, WORLD = PREFIX + "25", PREFIX + "26", PREFIX + "100"
LIST = "members"
DOMAIN = "lists.smallclub.example"
POSTS = int(os.environ.get("MIGRATE_E2E_POSTS", "200"))
#: The sender of the numbered posts: not a member; the list accepts its posts
#: (accept_these_nonmembers, set by the test with Mailman's config_list)
POSTER = "poster@example.net"

OLD_SHIMS = {
    "service": """#!/bin/sh
# stand-in for FreeBSD's service(8)
@WAIT@
case "$1 $2" in
"exim reload"|"exim restart")
  # a restart: Exim's own SIGHUP re-exec of the daemon does not survive in this namespace.
  # The daemon writes its pid file after it forks: wait for the content, never read it empty
  wait_until 10 "exim's pid file" test -s /usr/local/exim.pid || exit 1
  pid=$(cat /usr/local/exim.pid)
  kill "$pid" 2>/dev/null
  wait_until 10 "exim $pid to exit" gone "$pid" || exit 1
  rm -f /usr/local/exim.pid
  exim4 -bd -q2s -oP /usr/local/exim.pid
  wait_until 10 "the new exim's pid file" test -s /usr/local/exim.pid || exit 1 ;;
"mailman start"|"mailman stop") exec sh /usr/local/sbin/mailman-rc "$2" ;;
*) echo "stand-in: service $*" ;;
esac
""",
    # stand-in for the FreeBSD port's rc.d/mailman only (which runs `mailmanctl -s start` and
    # `mailmanctl stop`): the qrunners themselves are the real Mailman's, each started as
    # mailmanctl starts it (bin/qrunner --runner=NAME:0:1 -s, as the user mailman) and stopped
    # with SIGTERM (a qrunner finishes the message in hand). ArchRunner alone runs in passes
    # (bin/qrunner -r Arch -o every @DELAY@ s, archloop below): posts wait in qfiles/archive for
    # a while, so that some sit there when the freeze begins and the drain has to wait for them
    # (mailmanctl itself would run ArchRunner along with the rest, and the old mm_cfg.py, which
    # the plan reads, stays the sample's)
    "mailman-rc": """#!/bin/sh
MM=/usr/local/mailman
RUN=/run/mailman
@WAIT@
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
none_alive() { for f in $RUN/*.pid; do alive "$f" && return 1; done; return 0; }
case "$1" in
start)
  mkdir -p $RUN
  for r in Incoming Outgoing Virgin Bounce Command Retry News; do
    alive $RUN/$r.pid && continue
    setpriv --reuid=mailman --regid=mailman --init-groups \\
      $MM/bin/qrunner --runner=${r}Runner:0:1 -s </dev/null >>$RUN/qrunner.log 2>&1 &
    echo $! > $RUN/$r.pid.tmp && mv $RUN/$r.pid.tmp $RUN/$r.pid
  done
  if ! alive $RUN/arch.pid; then
    sh /usr/local/sbin/archloop </dev/null >>$RUN/arch.log 2>&1 &
    echo $! > $RUN/arch.pid.tmp && mv $RUN/arch.pid.tmp $RUN/arch.pid
  fi ;;
stop)
  for f in $RUN/*.pid; do [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  wait_until 60 "the qrunners to stop" none_alive || exit 1
  rm -f $RUN/*.pid ;;
esac
""",
    "archloop": """#!/bin/sh
# the real ArchRunner in passes: every @DELAY@ s it runs until qfiles/archive is empty, then
# stops (SIGTERM: it finishes the post in hand); each pass logged with the posts it found
# (while the test holds it, /run/mailman/arch.hold, it runs no pass: see ARCHIVE_HOLD); a
# pass ends "done", or "stopped" when Mailman is stopped before its ArchRunner is (the freeze
# stops it once the queue is empty, which can be before this loop has seen that)
count() { find /usr/local/mailman/qfiles/archive -name '*.pck' | wc -l; }
pid=
stop() {
  [ -z "$pid" ] || { kill "$pid" 2>/dev/null; echo "stopped $(date +%s.%N)"; }
  wait; exit 0
}
trap stop TERM INT
while :; do
  if [ -e /run/mailman/arch.hold ]; then sleep 0.5 & wait $!; continue; fi
  n=$(count)
  echo "pass $(date +%s.%N) $n"
  if [ "$n" -gt 0 ]; then
    setpriv --reuid=mailman --regid=mailman --init-groups \\
      /usr/local/mailman/bin/qrunner --runner=ArchRunner:0:1 -s &
    pid=$!
    while [ "$(count)" -gt 0 ]; do sleep 0.5; done
    kill "$pid"; wait "$pid"; pid=
    echo "done $(date +%s.%N)"
  fi
  sleep @DELAY@ & wait $!
done
""",
    "exim": "#!/bin/sh\nexec exim4 \"$@\"\n",
    "apachectl": "#!/bin/sh\necho 'stand-in: apachectl (no Apache here)'\n",
}
#: The new host's own rc.conf.local and smtpd.conf before the move (OpenBSD's default: local
#: mail only, on the loopback interface; Linux names it lo): the plan keeps the first's lines
#: and replaces the second only at the switch.
NEW_RC_CONF_LOCAL = "# the new host's own settings\nntpd_flags=-s\npkg_scripts=postgresql\n"
NEW_SMTPD_CONF = """\
table aliases file:/etc/mail/aliases
listen on lo
action "local_mail" mbox alias <aliases>
action "outbound" relay
match from local for local action "local_mail"
match from local for any action "outbound"
"""
#: How long the old host's ArchRunner waits between two passes (seconds).
ARCHIVE_DELAY = 8
#: While this file exists on the old host, its ArchRunner runs no pass: the stream test holds
#: it from before the cutover until the drain starts, so that posts surely sit in
#: qfiles/archive when the freeze begins (with passes alone that was a matter of timing, and
#: under load a pass had just emptied the queue when the drain began).
ARCHIVE_HOLD = "/run/mailman/arch.hold"

NEW_SHIMS = {
    "pkg_info": """#!/bin/sh
# stand-in for OpenBSD's pkg_info: the mailman package 'is there'
case "$1" in -Q) echo "mailman-2.1.39" ;; *) exit 0 ;; esac
""",
    "pkg_add": "#!/bin/sh\necho \"stand-in: pkg_add $*\"\n",
    "pkg_delete": "#!/bin/sh\necho \"stand-in: pkg_delete $*\"\n",
    "usermod": "#!/bin/sh\necho \"stand-in: usermod $*\"\n",
    "id": """#!/bin/sh
# stand-in for id(1) where OpenBSD's group _mailmanq is asked about (the usermod stand-in
# makes no group): smtpd's user and www are in it
case "$*" in "-Gn _smtpd"|"-Gn www") echo "_mailmanq" ;; *) exec /usr/bin/id "$@" ;; esac
""",
    "sha256": "#!/bin/sh\n# stand-in for OpenBSD's sha256(1)\n[ \"$1\" = -c ] && shift\n"
              "exec sha256sum -c \"$@\"\n",
    "smtpd": "#!/bin/sh\n# OpenBSD's smtpd reads /etc/mail/smtpd.conf; Debian's build /etc/smtpd.conf\n"
             "case \" $* \" in *' -f '*) exec @SMTPD@ \"$@\" ;; esac\n"
             "exec @SMTPD@ -f /etc/mail/smtpd.conf \"$@\"\n",
    # OpenBSD's real httpd (tests/httpdtools.py), which reads /etc/httpd.conf as on OpenBSD:
    # the plan's `httpd -n` checks the emitted file for real
    "httpd": "#!/bin/sh\nexec @HTTPD@ \"$@\"\n",
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
# stand-in for OpenBSD's rcctl: starts the real smtpd, the real Mailman (mailmanctl, as the
# package's rc.d/mailman does), OpenBSD's real httpd and, for slowcgi, Debian's fcgiwrap (the
# same FastCGI-to-CGI gateway) on slowcgi's socket, running the CGI as www as slowcgi does
# Debian's patch of the Mailman built here keeps the master's pid file in /var/run/mailman,
# which Debian's init script makes
MMPID=/var/run/mailman/mailman.pid
@WAIT@
mm_alive() { [ -s $MMPID ] && kill -0 "$(cat $MMPID)" 2>/dev/null; }
mm_stop() {
  mm_alive || return 0
  pid=$(cat $MMPID)
  /usr/local/lib/mailman/bin/mailmanctl stop </dev/null >>/run/mailman.log 2>&1
  wait_until 60 "mailmanctl $pid to stop" gone "$pid"
}
stop() {  # a daemon by its pid file (slowcgi's: its process group), until it is gone
  [ -s "/run/$1.pid" ] || return 0
  pid=$(cat "/run/$1.pid")
  kill -TERM "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null
  wait_until 10 "$1 ($pid) to stop" gone "$pid" || return 1
  rm -f "/run/$1.pid"
}
smtp_answers() { python3 -c '@CONNECT@' ::1 25; }
smtp_closed() { ! smtp_answers; }
slowcgi_start() {
@SLOWCGI@}
httpd_start() {
@HTTPD_START@}
cmd=$1; shift
[ "$cmd" = set ] && exit 0
for svc in "$@"; do
  case "$cmd $svc" in
  "restart smtpd"|"start smtpd")
    [ -f /run/smtpd.pid ] && kill "$(cat /run/smtpd.pid)" 2>/dev/null &&
      { wait_until 10 "the old smtpd to close port 25" smtp_closed || exit 1; }
    @SMTPD@ -f /etc/mail/smtpd.conf >>/run/smtpd.log 2>&1 &
    echo $! > /run/smtpd.pid
    wait_until 30 "smtpd to answer on [::1]:25" smtp_answers || exit 1 ;;
  "restart slowcgi"|"start slowcgi") stop slowcgi; slowcgi_start || exit 1 ;;
  "restart httpd"|"start httpd") stop httpd; httpd_start || exit 1 ;;
  "reload httpd") kill -HUP "$(cat /run/httpd.pid)" || exit 1 ;;
  "restart mailman"|"start mailman")
    # like rc.d: starting a running daemon is no error
    [ "$cmd" = restart ] && mm_stop
    if ! mm_alive; then
      mkdir -p /var/run/mailman && chown mailman:mailman /var/run/mailman
      /usr/local/lib/mailman/bin/mailmanctl -s start </dev/null >>/run/mailman.log 2>&1 || exit 1
      wait_until 30 "mailmanctl's pid file" mm_alive || exit 1
    fi ;;
  "stop mailman") mm_stop ;;
  "check mailman") mm_alive || exit 1 ;;
  "check smtpd"|"check httpd"|"check slowcgi") kill -0 "$(cat /run/$svc.pid)" || exit 1 ;;
  "stop smtpd") kill "$(cat /run/smtpd.pid)" 2>/dev/null || true ;;
  "stop httpd"|"stop slowcgi") stop "$svc" ;;
  *) echo "stand-in: rcctl $cmd $svc" ;;
  esac
done
""",
}

SENDER = r"""
import email.utils, json, socket, smtplib, sys, time
import dns.resolver
server, count, out, tag, rcpt = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6]
POSTER = "@POSTER@"
res = dns.resolver.Resolver(configure=False)
res.nameservers = [server]
res.lifetime = 5
def target():
    mx = sorted(res.resolve(rcpt.rsplit("@", 1)[1], "MX"), key=lambda r: r.preference)
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
        s.sendmail(POSTER, [rcpt],
                   "From: %s\r\nTo: %s\r\nSubject: post %s%d\r\n"
                   "Message-ID: <post-%s%d@example.net>\r\nDate: %s\r\n\r\nnumber %d\r\n"
                   % (POSTER, rcpt, tag, n, tag, n, email.utils.formatdate(), n))
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
    elif not any(k.split(" ")[0] == key.split(" ")[0] for k in zone):
        reply.set_rcode(dns.rcode.NXDOMAIN)  # else: the name exists, not with that type
    sock.sendto(reply.to_wire(), peer)
"""


#: Exits 0 when the test's DNS server answers the list domain's MX (one question).
DNS_READY = r"""
import sys
import dns.exception, dns.resolver
res = dns.resolver.Resolver(configure=False)
res.nameservers = [sys.argv[1]]
res.lifetime = 1
try:
    res.resolve(sys.argv[2], "MX")
except dns.exception.DNSException:
    sys.exit(1)
"""


#: Stand-in for the old host's Apache as the plan leaves it for a name that stays there
#: (files/old/apache-proxy.conf: Mailman's pages proxied to the new host): each GET or HEAD on
#: [OLD]:80 is asked of [NEW]:80 with its own path and Host header, and answered as it answers
#: (502 while nothing answers there).
WEB_PROXY = r"""
import http.client, http.server, sys
OLD, NEW = sys.argv[1], sys.argv[2]
class Proxy(http.server.BaseHTTPRequestHandler):
    def _forward(self):
        try:
            conn = http.client.HTTPConnection(NEW, 80, timeout=30)
            conn.request(self.command, self.path, headers={"Host": self.headers.get("Host", "")})
            res = conn.getresponse()
            body = res.read()
        except OSError:
            self.send_error(502)
            return
        self.send_response(res.status)
        for name, value in res.getheaders():
            if name.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
    do_GET = do_HEAD = _forward
class Server(http.server.ThreadingHTTPServer):
    address_family = __import__("socket").AF_INET6
Server((OLD, 80), Proxy).serve_forever()
"""

#: The MX name every member domain points at (its AAAA is world's address).
SINK_MX = "mx.sink.example"
#: A person with a mailbox on the old host (its etc/passwd, as a real host has one; the
#: sample's list owner chair@smallclub.example), whose Exim's localuser router delivers to
#: /var/mail/chair; ``office`` on the list domain is an alias for her (system_aliases serves
#: both of small's domains): an address of a moved domain that is not a list's, which the
#: plan hands back to the old host
PERSON, PERSON_ID = "chair", 61000
OFFICE = f"office@{DOMAIN}"
#: The users small's Exim configuration names (never_users, exim_user, the address_pipe
#: transport's user): the old tree's etc/passwd carries them with this machine's ids, as the
#: namespace has them, and etc/group their groups and ``mail`` (exim_group, local_delivery's)
SYSTEM_USERS = ("root", "mailnull", "mailman")


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


@dataclass(frozen=True)
class Sample:
    """A sample host as the world runs it on the old host: its folder under sample_configs,
    the list the streams post to and its domain (whose MX the sender follows), the new host's
    name in the plan and the old host's name in the list domains' MX records."""
    name: str
    domain: str
    list: str
    hostname: str
    old_mx: str


SMALL = Sample("small", DOMAIN, LIST, "new.smallclub.example", "old.smallclub.example")
#: The other samples, each with its largest list on its main list domain.
SAMPLES_E2E = (
    SMALL,
    Sample("campus", "lists.cs.campus.example", "seminar", "new.cs.campus.example",
           "old.cs.campus.example"),
    Sample("hillcrest", "lists.hillcrest.example", "alumni-news", "new.hillcrest.example",
           "old.hillcrest.example"),
    Sample("netsight", "lists.netsight.example", "users", "new.netsight.example",
           "old.netsight.example"),
    Sample("oakfield", "lists.oakfield.example", "residents", "new.oakfield.example",
           "old.oakfield.example"),
)

#: The main options the world sets in the old host's Exim configuration, and the ones it
#: drops: STARTTLS is offered to no one and required of no one (no certificate here, and the
#: members' mail server, the sink, speaks none; the certificate settings stay, and the plan
#: reads them), the content scanners (no clamd or spamd here) and the DATA ACL that calls
#: them.
EXIM_SET = ("spool_directory = /usr/local/exim-spool\n"
            "log_file_path = /usr/local/exim-log/%slog\n"
            f"local_interfaces = <; {OLD} ; 127.0.0.1\n"
            "tls_advertise_hosts =\n")
EXIM_DROP = re.compile(r"^[ \t]*(spool_directory|log_file_path|local_interfaces|"
                       r"tls_advertise_hosts|hosts_require_tls|"
                       r"av_scanner|spamd_address|acl_smtp_data)[ \t]*=.*\n", re.M)


#: The Mailman router's check that a list exists, in the samples' spellings (the exim.org
#: howto's, with the macros of each).
MM_ROUTER = re.compile(r"^([ \t]*)require_files = (MM_LISTCHK|MAILMAN_HOME/lists/\$local_part/"
                       r"config\.pck)\n", re.M)
#: The Mailman transport's command word, from the address's suffix (the howto's).
MM_COMMAND = re.compile(r"\$\{sg\{\$local_part_suffix\}\{[^{}]*\}\{[^{}]*\}\}")
#: The commands of Mailman's wrapper that a list address's suffix names.
MM_COMMANDS = "admin:bounces:confirm:join:leave:owner:request:subscribe:unsubscribe"


def _adapt_exim(text: str) -> str:
    """A sample's Exim configuration as it runs in the old namespace: its own spool and log
    folders, listening on the namespace address and the loopback one, no STARTTLS, no content
    scanning (EXIM_SET, EXIM_DROP: set first in the file, before anything the sample sets).
    The samples' Exim is 4.92 (FreeBSD's port), this machine's 4.96, which refuses tainted
    data (the address's text) in a pipe's command: the Mailman router finds the list's name
    in Mailman's lists folder (dsearch: $local_part_data, untainted) and the transport its
    command word in the wrapper's list (inlist: $value), as Exim 4.96 configurations do.
    A virtual domain's alias file is found by its name in its folder (dsearch), not named by
    the address's domain. Debian's Exim reads it as /etc/exim4/exim4.conf (a link), and Exim
    takes a relative ``.include`` from the folder of the path it was given: such includes
    name the configuration's own folder."""
    text = EXIM_SET + EXIM_DROP.sub("", text)
    text = re.sub(r"^(\.include(?:_if_exists)?[ \t]+)(?=[^/\s])", r"\1/usr/local/etc/exim/",
                  text, flags=re.M)
    # a virtual domain's alias file named by the address's domain (tainted in a file name):
    # the file's own name, found in its folder (dsearch), as in tests/test_plan_old_host.py
    text = re.sub(r"lsearch\{([^{}$]+)/\$domain\}", r"lsearch{${lookup{$domain}dsearch,"
                  r"ret=full{\1}}}", text)
    text = MM_ROUTER.sub(lambda m: m.group(0) + m.group(1)
                         + "local_parts = dsearch;/usr/local/mailman/lists\n", text)
    text = MM_COMMAND.sub(lambda m: f"${{if inlist{{{m.group(0)}}}{{{MM_COMMANDS}}}"
                          "{$value}{post}}", text)
    text = re.sub(r"^([ \t]+)\$local_part\n", r"\1$local_part_data\n", text, flags=re.M)
    # Exim 4.94 and later refuse a tainted mailbox path ($local_part is the sender's text):
    # the user's name as check_local_user found it, as those releases want it
    return text.replace("file = /var/mail/$local_part\n", "file = /var/mail/$local_part_data\n")


def _adapt_old_tree(tree: Path, build: Path, sample: Sample = SMALL) -> None:
    """A sample, as its Exim and Mailman run in the old namespace: Exim as ``_adapt_exim``
    makes it, the host's IPv6 address the namespace's (the plan hands mail back to it);
    Mailman is a copy of the real Mailman built in the FreeBSD port's layout, holding the
    sample's lists, archives and mm_cfg.py. The small sample also gets its list's pipe aliases
    (which it leaves out) and what a real host has beside (``_adapt_small``)."""
    conf = tree / "usr/local/etc/exim/configure"
    text = _adapt_exim(conf.read_text())
    conf.unlink()
    _write(conf, text)
    # the host's IPv6 address (as the inspection reads rc.conf) is the namespace's
    first = next((a.address for a in parse_rc_conf(LocalTree(tree)).host.addresses
                  if a.family == AddressFamily.INET6 and not a.alias), None)
    rc = tree / "etc/rc.conf"
    text = rc.read_text()
    rc.unlink()
    _write(rc, re.sub(rf"(?<![0-9a-fA-F:]){re.escape(first)}(?![0-9a-fA-F:])", OLD, text)
           if first else text + f'ifconfig_vtnet0_ipv6="inet6 {OLD} prefixlen 64"\n')
    if sample == SMALL:
        _adapt_small(tree)
    else:
        _machine_ids(tree)
    # the real Mailman's files under the sample's: its code, wrappers and empty var folders;
    # the sample's lists, archives and mm_cfg.py stay (its Version.py is the real one's now)
    var = tree / "usr/local/mailman"
    site = (var / "Mailman/mm_cfg.py").read_bytes()
    shutil.copytree(build / "usr/local/mailman", var, symlinks=True, dirs_exist_ok=True)
    (var / "Mailman/mm_cfg.py").write_bytes(site)


def _machine_ids(tree: Path) -> None:
    """The sample's etc/passwd and etc/group with this machine's ids for the users and groups
    this machine has too (mailman, mailnull...): the old host's files belong to them here,
    and a real host's passwd names the owners of its files."""
    for name, db in (("passwd", pwd.getpwnam), ("group", grp.getgrnam)):
        path = tree / "etc" / name
        if not path.is_file():
            continue
        lines = []
        for line in path.read_text().splitlines(keepends=True):
            fields = line.split(":")
            try:
                entry = db(fields[0]) if len(fields) > 3 and not line.startswith("#") else None
            except KeyError:
                entry = None
            if entry is not None and name == "passwd":
                fields[2:4] = [str(entry.pw_uid), str(entry.pw_gid)]
            elif entry is not None:
                fields[2] = str(entry.gr_gid)
            lines.append(":".join(fields))
        path.unlink()
        _write(path, "".join(lines))


def _adapt_small(tree: Path) -> None:
    """The small sample's list's ten pipe aliases (and the site list's), which the sample
    leaves out, an alias ``office`` for the club's chair, and the old host's users as a real
    host has them: the system users its configuration names and one person with a mailbox
    and a home."""
    aliases = (tree / "etc/aliases").resolve()
    lines = aliases.read_text()
    for name in (LIST, "mailman"):
        for suffix, cmd in (("", "post"), ("-admin", "admin"), ("-bounces", "bounces"),
                            ("-confirm", "confirm"), ("-join", "join"), ("-leave", "leave"),
                            ("-owner", "owner"), ("-request", "request"),
                            ("-subscribe", "subscribe"), ("-unsubscribe", "unsubscribe")):
            lines += f'{name}{suffix}: "|/usr/local/mailman/mail/mailman {cmd} {name}"\n'
    lines += f"# the club's office (added by the test)\noffice: {PERSON}\n"
    aliases.unlink()
    (tree / "etc/aliases").unlink(missing_ok=True)
    _write(tree / "etc/aliases", lines)
    # the old host's users, as a real host has them: the system users the configuration
    # names and one person with a mailbox and a home
    users = [pwd.getpwnam(u) for u in SYSTEM_USERS]
    _write(tree / "etc/passwd", "".join(
        f"{u.pw_name}:*:{u.pw_uid}:{u.pw_gid}:{u.pw_gecos}:{u.pw_dir}:{u.pw_shell}\n"
        for u in users) + f"{PERSON}:*:{PERSON_ID}:{PERSON_ID}:Club chair:/home/{PERSON}:"
        "/bin/sh\n")
    groups = {g.gr_gid: g for g in [grp.getgrgid(u.pw_gid) for u in users]
              + [grp.getgrnam("mail")]}.values()
    _write(tree / "etc/group", "".join(f"{g.gr_name}:*:{g.gr_gid}:{','.join(g.gr_mem)}\n"
                                       for g in groups) + f"{PERSON}:*:{PERSON_ID}:\n")
    _write(tree / f"home/{PERSON}/.login", "# the club chair's login\n")


def _sshd_config(tmp: Path, address: str, host_key: Path, auth: Path) -> Path:
    cfg = tmp / "sshd_config"
    cfg.write_text(f"Port 22\nListenAddress {address}\nHostKey {host_key}\n"
                   f"PidFile /run/sshd-e2e.pid\nAuthorizedKeysFile {auth}\nStrictModes no\n"
                   "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
                   "KbdInteractiveAuthentication no\nUsePAM no\n"
                   "Subsystem sftp internal-sftp\n")
    return cfg


def _alias_users(passwd: str, group: str, shadow: str) -> tuple[str, str, str]:
    """The new host's /etc/passwd and /etc/group (copies in its namespace only): OpenBSD's
    names for the users the test's programs run as. ``_mailman`` (the plan's owner of the
    lists) is Mailman's ``mailman`` (the build's --with-username: same uid and gid, listed
    first, so files show as ``_mailman``); ``_smtpd`` (the user the plan says smtpd runs the
    aliases' pipes as) is ``opensmtpd``, the user Debian's smtpd really runs them as (listed
    after it: the group's name stays ``opensmtpd``, the one the wrapper checks)."""
    users = {line.split(":")[0]: line.split(":") for line in passwd.splitlines() if line}
    mm, smtpd = users["mailman"], users["opensmtpd"]
    out = []
    for line in passwd.splitlines():
        name = line.split(":")[0]
        if name in ("_mailman", "_smtpd"):
            continue
        if name == "mailman":
            out.append(":".join(["_mailman"] + mm[1:]))
        out.append(line)
        if name == "opensmtpd":
            out.append(":".join(["_smtpd"] + smtpd[1:]))
    groups = []
    for line in group.splitlines():
        name = line.split(":")[0]
        if name == "_mailman":
            continue
        if name == "mailman":
            groups.append(f"_mailman:x:{mm[3]}:")
        groups.append(line)
    # PAM (su) wants each user in /etc/shadow too: locked, as system users are
    shadows = [line for line in shadow.splitlines()
               if line and line.split(":")[0] not in ("_mailman", "_smtpd")]
    shadows += ["_mailman:!:20000::::::", "_smtpd:!:20000::::::"]
    return ("\n".join(out) + "\n", "\n".join(groups) + "\n", "\n".join(shadows) + "\n")


def _as_mailman(cmd: str) -> str:
    return f"setpriv --reuid=mailman --regid=mailman --init-groups {cmd}"


#: What the diagnostics show of the new host (its smtpd and Mailman).
NEW_LOGS = ("tail -n 15 /run/smtpd.log /run/mailman.log /var/spool/mailman/logs/error "
            "/var/spool/mailman/logs/smtp-failure 2>&1; "
            "find /var/spool/mailman/qfiles -type f | sort | tail -n 20")


def new_host_mailman2(net: Network, base: Path, resolv: Path, host_key: Path, auth: Path,
                      hosts: list[Host]) -> tuple[Host, dict]:
    """The new host with Mailman 2.1 as OpenBSD's package installs it (a copy of the real
    build), OpenSMTPD, OpenBSD's httpd and slowcgi's stand-in."""
    smtpd = smtpd_binary()
    httpd, fcgiwrap = httpd_binary(), fcgiwrap_binary()
    new_build = mailman_build("openbsd")
    python2 = str(python_of("openbsd"))
    new_sbin = base / "new-sbin"
    starts = {"@SLOWCGI@": slowcgi_sh(fcgiwrap, SLOWCGI_SOCKET),
              "@HTTPD_START@": httpd_sh(httpd), "@SMTPD@": smtpd, "@HTTPD@": httpd,
              "@WAIT@": WAIT_UNTIL_SH, "@CONNECT@": CONNECT}
    for name, text in NEW_SHIMS.items():
        for key, value in starts.items():
            text = text.replace(key, value)
        _write(new_sbin / name, text, 0o755)
    new_mm, new_var = base / "new-mailman", base / "new-var"
    shutil.copytree(new_build / "usr/local/lib/mailman", new_mm, symlinks=True)
    shutil.copytree(new_build / "var/spool/mailman", new_var, symlinks=True)
    passwd, group, shadow = _alias_users(Path("/etc/passwd").read_text(),
                                         Path("/etc/group").read_text(),
                                         Path("/etc/shadow").read_text())
    _write(base / "new-etc/passwd", passwd)
    _write(base / "new-etc/group", group)
    _write(base / "new-etc/shadow", shadow, 0o600)
    _write(base / "new-etc/rc.conf.local", NEW_RC_CONF_LOCAL)
    _write(base / "new-etc/smtpd.conf", NEW_SMTPD_CONF)
    smtpctl = Path(smtpd).with_name("smtpctl")
    new = Host(net, "new", [
        ("tmpfs", "755", "/usr/local"),
        ("bind", str(new_sbin), "/usr/local/sbin"),
        ("bind", str(new_mm), "/usr/local/lib/mailman"),
        ("shadow", "-", "/usr/sbin"),
        ("copy", str(smtpctl), "/usr/sbin/smtpctl"),  # setgid below, as installed
        ("shadow", "-", "/etc"),
        ("copy", str(base / "new-etc/passwd"), "/etc/passwd"),
        ("copy", str(base / "new-etc/group"), "/etc/group"),
        ("copy", str(base / "new-etc/shadow"), "/etc/shadow"),
        ("copy", str(resolv), "/etc/resolv.conf"),
        ("copy", str(base / "new-etc/rc.conf.local"), "/etc/rc.conf.local"),
        ("mkdir", "755", "/etc/mail"),
        ("copy", str(base / "new-etc/smtpd.conf"), "/etc/mail/smtpd.conf"),
        ("shadow", "-", "/var"),
        ("shadow", "-", "/var/spool"),
        ("shadow", "-", "/var/lib"),
        ("bind", str(new_var), "/var/spool/mailman"),
        ("tmpfs", "755", "/var/www"),  # httpd's logs and slowcgi's socket, as on OpenBSD
        ("mkdir", "755", "/var/www/logs"),
        ("mkdir", "755", "/var/www/run"),
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
    new.run("chgrp opensmtpq /usr/sbin/smtpctl && chmod 2555 /usr/sbin/smtpctl")
    # as pkg_add leaves it: Mailman's groups and modes
    new.run("/usr/local/lib/mailman/bin/check_perms -f >/dev/null 2>&1; true", timeout=300)
    (base / "newcfg").mkdir()
    new.spawn(["/usr/sbin/sshd", "-D", "-e", "-f",
               str(_sshd_config(base / "newcfg", NEW, host_key, auth))],
              "sshd.log")
    return new, {"new_var": new_var, "python2": python2, "new_logs": NEW_LOGS}


@pytest.fixture
def world(tmp_path):
    yield from make_world(new_host_mailman2)


def make_world(new_host, sink: str = SINK, sample: Sample = SMALL):
    """The three namespaces with the old host (``sample``'s), the DNS server and the sink
    running, and the new host that ``new_host(net, base, resolv, host_key, auth, hosts)``
    makes (it appends it to ``hosts`` as soon as it exists, so that it is closed whatever
    fails next, and returns it with what the test's dict should hold of it). Yields that
    dict; tears everything down."""
    need(os.geteuid() == 0, "network namespaces, sshd and Exim's daemon need root")
    for tool in ("ip", "nsenter", "unshare", "exim4", "rsync", "sshd", "setpriv"):
        need(shutil.which(tool) is not None or os.path.exists(f"/usr/sbin/{tool}"),
             f"{tool} is not installed")
    ensure_exim_users()  # mailman among them: the group the old host's wrapper is built for
    ensure_smtpd_users()
    # the real Mailman in the FreeBSD port's layout for the old host
    old_build = mailman_build("freebsd")
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
        resolv = base / "resolv.conf"
        resolv.write_text(f"nameserver {WORLD}\n")
        # the old host: the sample's tree with a copy of the real Mailman in it
        old_tree = base / "oldtree"
        shutil.copytree(SAMPLES / sample.name, old_tree, symlinks=True)
        _adapt_old_tree(old_tree, old_build, sample)
        inv = _inventory(old_tree)
        addresses = {ml.name: f"{ml.name}@{ml.host_name}" for ml in inv.lists}
        old_ssh = base / "old-root-ssh"
        old_ssh.mkdir()
        shutil.copy(client, old_ssh / "id_ed25519")
        shutil.copy(known, old_ssh / "known_hosts")
        old_sbin = base / "old-sbin"
        for name, text in OLD_SHIMS.items():
            _write(old_sbin / name, text.replace("@DELAY@", str(ARCHIVE_DELAY))
                   .replace("@WAIT@", WAIT_UNTIL_SH), 0o755)
        old = Host(net, "old", [
            ("tmpfs", "755", "/usr/local"),
            ("bind", str(old_tree / "usr/local/etc"), "/usr/local/etc"),
            ("bind", str(old_tree / "usr/local/mailman"), "/usr/local/mailman"),
            ("bind", str(old_sbin), "/usr/local/sbin"),
            ("shadow", "-", "/etc"),
            # the aliases file where the sample has it (FreeBSD's: /etc/aliases a link to
            # mail/aliases)
            *([("mkdir", "755", "/etc/mail"),
               ("copy", str((old_tree / "etc/aliases").resolve()), "/etc/mail/aliases"),
               ("link", "mail/aliases", "/etc/aliases")]
              if (old_tree / "etc/aliases").is_symlink()
              else [("copy", str(old_tree / "etc/aliases"), "/etc/aliases")]),
            ("copy", str(resolv), "/etc/resolv.conf"),
            ("mkdir", "755", "/etc/exim4"),
            ("link", "/usr/local/etc/exim/configure", "/etc/exim4/exim4.conf"),
            ("tmpfs", "700", "/root"),
            ("copy", str(old_ssh), "/root/.ssh"),
            ("tmpfs", "755", "/run"),
            ("mkdir", "755", "/run/sshd"),
            # the crontabs where the sample has them (the freeze comments Mailman's jobs out)
            *([("shadow", "-", "/var"), ("bind", str(old_tree / "var/cron"), "/var/cron")]
              if (old_tree / "var/cron").is_dir() else []),
            ("tmpfs", "1777", "/var/mail"),
            ("tmpfs", "755", "/home"),
        ])
        hosts.append(old)
        old.run("mkdir -p /usr/local/exim-spool /usr/local/exim-log && "
                "chown mailnull:mail /usr/local/exim-spool && chmod 777 /usr/local/exim-log")
        # Mailman's files belong to mailman, as on a host where Mailman made them; the small
        # sample's archive is rebuilt by pipermail from the mbox (the sample has HTML but not
        # pipermail's own database, which numbers the articles: the archive checks count
        # them); the test's poster may post to every list
        mm = "/usr/local/mailman"
        old.run(f"cd {mm} && chown -R mailman:mailman lists archives data qfiles logs locks "
                f"&& bin/check_perms -f >/dev/null 2>&1; "
                + (_as_mailman(f"{mm}/bin/arch --wipe -q {LIST}") if sample == SMALL
                   else "true"), timeout=600)
        old.run("cat > /run/accept.py && " + " && ".join(
            _as_mailman(f"{mm}/bin/config_list -i /run/accept.py {name}") for name in addresses),
                input=f"accept_these_nonmembers = [{POSTER!r}]\n", timeout=300)
        exim_conf = old.run("cat /usr/local/etc/exim/configure").stdout
        old.run("exim4 -bd -q2s -oP /usr/local/exim.pid")
        old.run("service mailman start")
        old.spawn(["/usr/sbin/sshd", "-D", "-e", "-f",
                   str(_sshd_config(base / "oldcfg" if (base / "oldcfg").mkdir() is None
                                    else base, OLD, hostkeys["old"], auth))], "sshd.log")
        (base / "webproxy.py").write_text(WEB_PROXY)
        old.spawn(["python3", str(base / "webproxy.py"), OLD, NEW], "webproxy.log")
        new, extra = new_host(net, base, resolv, hostkeys["new"], auth, hosts)
        # who receives a post: the real Mailman says (regular members with delivery on), but
        # for the members at a domain the old host's Exim delivers itself (its local and
        # virtual domains: the sink never sees their mail as theirs, wherever it comes from)
        own_domains = {d.name for d in inv.mta.domains if d.role != DomainRole.RELAY}
        recipients_of, everyone = {}, set()
        for name, address in addresses.items():
            members = old.run(_as_mailman(f"{mm}/bin/list_members -r {name}")).stdout.split()
            nomail = old.run(_as_mailman(f"{mm}/bin/list_members -r -n {name}")).stdout.split()
            recipients_of[address] = sorted(
                a for a in set(members) - set(nomail)
                if a.rsplit("@", 1)[1].lower() not in own_domains)
            everyone |= set(old.run(_as_mailman(f"{mm}/bin/list_members {name}")).stdout.split())
            everyone |= set(old.run(_as_mailman(f"{mm}/bin/list_owners -m {name}")).stdout.split())
        if sample == SMALL:
            # the old tree's person is a user there, with her home, and so are the owners
            # whose mailboxes are on the old host (its Exim's local domain smallclub.example),
            # in its namespace's /etc/passwd and /etc/group only: Mailman's notices to them
            # are delivered, not bounced to mailman-loop@ and frozen
            local = sorted({a.split("@")[0] for a in everyone
                            if a.rsplit("@", 1)[1].lower() == "smallclub.example"} - {PERSON})
            entries = [f"{PERSON}:x:{PERSON_ID}:{PERSON_ID}:Club chair:/home/{PERSON}:/bin/sh"]
            entries += [f"{u}:x:{60000 + i}:8::/var/mail:/bin/sh" for i, u in enumerate(local)]
            old.run("for f in passwd group; do cp /etc/$f /run/$f && rm /etc/$f && "
                    "cp /run/$f /etc/$f; done"
                    + "".join(f" && echo {shlex.quote(e)} >> /etc/passwd" for e in entries)
                    + f" && echo {PERSON}:x:{PERSON_ID}: >> /etc/group"
                    f" && cp -r {old_tree}/home/{PERSON} /home/ && "
                    f"chown -R {PERSON}: /home/{PERSON}")
        # DNS in world: MX and AAAA, TTL already lowered; the list domains and the domains
        # the old host delivers itself have the old host for their MX, every other domain a
        # list mails to the sink, and so has the old host's smarthost, if it has one
        zone = {f"{sample.old_mx} AAAA": [60, [OLD]], f"{SINK_MX} AAAA": [60, [WORLD]]}
        for domain in {a.rsplit("@", 1)[1].lower() for a in everyone | {POSTER}}:
            zone[f"{domain} MX"] = [60, [f"10 {SINK_MX}."]]
        for domain in own_domains | {ml.host_name for ml in inv.lists}:
            zone[f"{domain} MX"] = [60, [f"10 {sample.old_mx}."]]
        if inv.mta.smarthost is not None:
            zone[f"{inv.mta.smarthost.host} AAAA"] = [60, [WORLD]]
        zone_file = base / "zone.json"
        _write_zone(zone_file, zone)
        (base / "dnsserver.py").write_text(DNS_SERVER)
        daemons.append(subprocess.Popen(
            ["ip", "netns", "exec", net.names["world"], sys.executable, str(base / "dnsserver.py"),
             str(zone_file)], stdout=subprocess.DEVNULL, stderr=open(base / "dns.log", "wb"),
            start_new_session=True))
        (base / "sink.py").write_text(sink)
        (base / "sink.jsonl").touch()
        daemons.append(subprocess.Popen(
            ["ip", "netns", "exec", net.names["world"], sys.executable, str(base / "sink.py"),
             str(base / "sink.jsonl"), WORLD], stdout=subprocess.DEVNULL,
            stderr=open(base / "sink.log", "wb"), start_new_session=True))
        # every daemon answers before the test starts (not a guess at how long they take)
        old.wait_listening(OLD, 22)
        new.wait_listening(NEW, 22)
        old.wait_listening(OLD, 25)
        old.wait_listening(OLD, 80)
        old.wait_listening(WORLD, 25)
        wait_until(lambda: world_run(net, [sys.executable, "-c", DNS_READY, WORLD,
                                           sample.domain],
                                     capture_output=True, timeout=60).returncode == 0,
                   30, "the test's DNS server to answer",
                   diagnose=lambda: (base / "dns.log").read_text())
        yield {"net": net, "old": old, "new": new, "base": base, "client": client,
               "known": known, "zone": zone_file, "old_tree": old_tree,
               "cleanup": daemons, "exim_conf": exim_conf, **extra, "sample": sample,
               "recipients_of": recipients_of,
               "recipients": recipients_of[f"{sample.list}@{sample.domain}"],
               "articles_before": _articles(old_tree / "usr/local/mailman")}
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


def _inventory(tree: Path):
    """What ``migrate inspect`` reads of the old host's tree."""
    return inspect_tree(LocalTree(tree), Origin("local", str(tree)))


def _plan(w, **flags) -> Path:
    """The plan for the new host: Mailman 2 as OpenBSD's package unless ``flags`` (more of
    the target's settings) name another destination (OpenBSD 7.8, the default release, would
    get Mailman 3)."""
    inv = _inventory(w["old_tree"])
    target = resolve_target(inv, {}, {"hostname": w["sample"].hostname, "ipv6": [NEW],
                                      "dns_ttl": 300, "destination": "mailman2",
                                      **flags})
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
    for name in ("dns.log", "sender.log", "sink.log", "sink.jsonl"):
        path = w["base"] / name
        if path.exists():
            out.append(f"--- {name}\n" + path.read_text()[-1500:])
    for role in ("old", "new"):
        out.append(f"--- {role} setup\n" + (w[role].tmp / "setup.log").read_text()[-500:])
    logs = w["old"].run("tail -n 25 /usr/local/exim-log/mainlog /usr/local/exim-log/paniclog "
                        "/usr/local/mailman/logs/error /usr/local/mailman/logs/smtp-failure "
                        "/run/mailman/arch.log 2>&1; grep -m 3 chair /usr/local/exim-log/mainlog; "
                        "exim4 -bpr | tail -n 20; "
                        "find /usr/local/mailman/qfiles -type f | sort | tail -n 20",
                        check=False)
    out.append("--- old exim and mailman\n" + logs.stdout[-4000:])
    logs = w["new"].run(w["new_logs"], check=False)
    out.append("--- new smtpd and mailman\n" + logs.stdout[-4000:])
    return "\n".join(out)


def _deliveries(w) -> list[dict]:
    """What the members' mail servers (the sink) received: one record per SMTP transaction."""
    text = (w["base"] / "sink.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]


def _post_of(subject: str) -> tuple[str, int] | None:
    """The stream and number of a numbered post, from its Subject as the sink recorded it
    (RFC 2047 encoded words decoded: Mailman 3 encodes a subject it prefixes for a list whose
    language's charset is not ASCII)."""
    try:
        subject = str(email.header.make_header(email.header.decode_header(subject)))
    except (email.errors.HeaderParseError, LookupError, UnicodeError):
        pass
    m = re.search(r"\bpost ([a-z]+)(\d+)\s*$", subject)
    return (m.group(1), int(m.group(2))) if m else None


def _wait_delivered(w, counts: dict[str, int], timeout: float = 900,
                    recipients: list[str] | None = None) -> None:
    """Until every member (of the streams' list: ``recipients``, the main list's unless told)
    has each numbered post of each stream (or the time is up: the caller's checks then say
    what is missing): the qrunners and both MTAs are slow on a loaded machine."""
    want = {(tag, n) for tag, count in counts.items() for n in range(1, count + 1)}
    rcpts = set(w["recipients"] if recipients is None else recipients)

    def delivered() -> bool:
        got: dict[tuple[str, int], set[str]] = {}
        for d in _deliveries(w):
            post = _post_of(d["subject"])
            if post in want:
                got.setdefault(post, set()).update(d["rcpts"])
        return all(got.get(p, set()) >= rcpts for p in want)
    with contextlib.suppress(WaitTimeout):
        wait_until(delivered, timeout, "every post at every member", every=1)


def _check_posts(w, counts: dict[str, int],
                 recipients: list[str] | None = None) -> dict[str, list[int]]:
    """Every member (of the streams' list: ``recipients``, the main list's unless told)
    received every numbered post of every stream exactly once, no one else received it, and
    each post went out from one host only (the peer the sink saw: the old host's Exim or the
    new host's smtpd, each relaying its own Mailman's deliveries). Returns the post numbers
    each host's Mailman delivered."""
    rcpts = sorted(w["recipients"] if recipients is None else recipients)
    _wait_delivered(w, counts, recipients=rcpts)
    seen: dict[tuple[str, int], list[str]] = {}
    peers: dict[tuple[str, int], set[str]] = {}
    for d in _deliveries(w):
        post = _post_of(d["subject"])
        if post and post[0] in counts:
            seen.setdefault(post, []).extend(d["rcpts"])
            peers.setdefault(post, set()).add(d["peer"])
    lost, dups, strays, split = [], [], [], []
    for tag, count in counts.items():
        for n in range(1, count + 1):
            got = seen.get((tag, n), [])
            lost += [(tag, n, r) for r in rcpts if r not in got]
            dups += [(tag, n, r) for r in set(got) if got.count(r) > 1]
            strays += [(tag, n, r) for r in set(got) if r not in rcpts]
            if len(peers.get((tag, n), ())) > 1:
                split.append((tag, n))
    assert not lost and not dups and not strays and not split, (
        f"lost {len(lost)}: {lost[:10]}; duplicated {len(dups)}: {dups[:10]}; "
        f"strays {strays[:5]}; from both hosts {split[:5]}\n" + _diagnostics(w))
    by_host: dict[str, list[int]] = {"old": [], "new": []}
    for (tag, n), where in peers.items():
        by_host["old" if where == {OLD} else "new"].append(n)
    print(f"{sum(counts.values())} posts x {len(rcpts)} members: each delivered once "
          f"({sum(len(v) for v in seen.values())} deliveries)")
    return by_host


def _start_sender(w, count: int, name: str, rcpt: str = f"{LIST}@{DOMAIN}") -> subprocess.Popen:
    """Numbered messages ``post NAME1``... to ``rcpt`` (the list's post address unless told),
    each sent to the list domain's MX of the moment (the test's DNS), retried until taken."""
    (w["base"] / "sender.py").write_text(SENDER.replace("@POSTER@", POSTER))
    sender = subprocess.Popen(["ip", "netns", "exec", w["net"].names["world"], sys.executable,
                               str(w["base"] / "sender.py"), WORLD, str(count),
                               str(w["base"] / f"{name}.jsonl"), name, rcpt],
                              stderr=open(w["base"] / "sender.log", "ab"),
                              start_new_session=True)
    w["cleanup"].append(sender)
    return sender


def _wait_sent(w, name: str, count: int) -> None:
    """Until the sender of stream ``name`` has handed ``count`` posts to a host (its log says
    so): the stream is flowing to the old host before the cutover starts."""
    log = w["base"] / f"{name}.jsonl"

    def sent() -> bool:
        lines = log.read_text().splitlines() if log.exists() else []
        return sum('"host"' in line for line in lines) >= count
    wait_until(sent, 120, f"{count} posts of stream {name} to reach the old host",
               every=0.1, diagnose=lambda: _diagnostics(w))


def _sent(w, name: str) -> dict[int, str]:
    """Where the sender of stream ``name`` handed each message: number -> the host's address
    (the list domain's MX of that moment)."""
    log = w["base"] / f"{name}.jsonl"
    records = [json.loads(x) for x in log.read_text().splitlines() if x.endswith("}")]
    return {r["n"]: r["host"] for r in records if "host" in r}


def _mailbox(w) -> list[tuple[str, int]]:
    """The numbered messages in the person's mailbox on the old host (/var/mail/chair, mbox,
    as Exim's local_delivery appends), by each message's own Message-ID."""
    text = w["old"].run(f"cat /var/mail/{PERSON} 2>/dev/null || true").stdout
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mbox"
        path.write_text(text)
        box = mailbox.mbox(str(path), create=False)
        ids = [str(m.get("Message-ID", "")) for m in box]
        box.close()
    out = []
    for mid in ids:
        m = re.fullmatch(r"\s*<post-([a-z]+)(\d+)@example\.net>\s*", mid)
        if m:
            out.append((m.group(1), int(m.group(2))))
    return out


def _received_from(w, peer: str) -> set[tuple[str, int]]:
    """The numbered messages the old host's Exim received from ``peer`` (its mainlog's
    ``<=`` lines: the peer's address and the message's id=)."""
    log = w["old"].run("cat /usr/local/exim-log/mainlog").stdout
    out = set()
    for m in re.finditer(r" <= .*\[" + re.escape(peer) + r"\]\S* .*id=post-([a-z]+)(\d+)"
                         r"@example\.net", log):
        out.add((m.group(1), int(m.group(2))))
    return out


def _check_handed_back(w, counts: dict[str, int]) -> dict[str, list[tuple[str, int]]]:
    """Every numbered message of the streams ``counts`` to the person's addresses on the list
    domain (office@, her own: a moved domain's addresses that are not a list's, handed back)
    is in her mailbox on the old host exactly once, wherever the sender handed it; those the
    new host took reached the old host from the new host (handed back, the old host's mainlog
    says) and nothing was handed back that the new host did not take. Returns the messages
    each host took from the sender."""
    want = {(tag, n) for tag, count in counts.items() for n in range(1, count + 1)}
    with contextlib.suppress(WaitTimeout):  # the checks below say what is missing
        wait_until(lambda: want <= set(_mailbox(w)), 300,
                   "every message to the person in her mailbox", every=1)
    got = [m for m in _mailbox(w) if m[0] in counts]
    lost = sorted(want - set(got))
    dups = sorted({m for m in got if got.count(m) > 1})
    strays = sorted(set(got) - want)
    assert not lost and not dups and not strays, (
        f"lost {lost}; duplicated {dups}; strays {strays}\n" + _diagnostics(w))
    took: dict[str, list[tuple[str, int]]] = {"old": [], "new": []}
    for tag in counts:
        for n, host in _sent(w, tag).items():
            took["old" if host == OLD else "new"].append((tag, n))
    back = {m for m in _received_from(w, NEW) if m[0] in counts}
    assert back == set(took["new"]), (sorted(back), sorted(took["new"]), _diagnostics(w))
    print(f"{len(want)} messages to {PERSON}'s addresses on {DOMAIN}: each in "
          f"/var/mail/{PERSON} on the old host once "
          f"({len(took['old'])} taken by the old host, {len(took['new'])} by the new host and "
          "handed back)")
    return took


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


def _status(plan: Path) -> dict:
    """`migrate status PLAN --json`, as the operator runs it beside a cutover: the journal only,
    no host reached."""
    res = subprocess.run([sys.executable, "-m", "migrate", "status", str(plan), "--json"],
                         capture_output=True, text=True, timeout=120, cwd=str(REPO),
                         env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def _run(w, plan: Path, *extra: str, kill_each: bool = False,
         on_start: dict | None = None) -> tuple[int, str, list[str]]:
    """Run the cutover to its end, publishing DNS as an operator ready with dns/records.md
    does: once the step before the DNS switch is done (the switch's check then finds the
    records at its first look, not 30 s later). With ``kill_each``, SIGKILL
    it as soon as each step in turn has started (the journal says so), then go on with
    --resume: every step is interrupted once. ``on_start`` maps a step id to a function called
    once when the journal says that step started. Returns the exit code, the output and the
    steps that were running when each kill landed."""
    pending = dict(on_start or {})
    journal = plan / "journal.jsonl"
    order = [s["id"] for s in yaml.safe_load((plan / "plan.yaml").read_text())["steps"]]
    cutover = _cutover(w, plan, *extra)
    w["cleanup"].append(cutover)
    published = False
    ready = order[order.index("dns-switch") - 1] if "dns-switch" in order[1:] else None
    next_kill = 0  # the index in ``order`` of the step to kill next
    killed_in: list[str] = []

    def ended() -> bool:
        """Reacts to what the journal says so far; true once the cutover has exited."""
        nonlocal cutover, published, next_kill
        records = [json.loads(x) for x in
                   (journal.read_text().splitlines() if journal.exists() else [])
                   if x.endswith("}")]
        started = {r["step"] for r in records if r.get("event") == "start"}
        for step in [step for step in pending if step in started]:
            pending.pop(step)()
        if kill_each and next_kill < len(order) and order[next_kill] in started:
            os.killpg(cutover.pid, 9)
            cutover.wait()
            running = [r["step"] for r in records if r.get("event") in ("start", "done")]
            last = records[-1] if records else {}
            killed_in.append(running[-1] if last.get("event") != "done" else "between")
            # where it stands, read from the journal the kill left: stopped (not failed), and
            # --resume would begin at the step the kill cut short
            state = _status(plan)
            assert state["failed"] is None, state
            if not state["remaining"]:  # the kill landed after the last step was done
                assert state["state"] == "done" and killed_in[-1] == "between", state
            else:
                assert state["state"] == "stopped", state
                assert state["next"] == state["remaining"][0]
                assert state["next"] not in state["done"]
            if killed_in[-1] != "between":
                assert state["next"] == killed_in[-1], (state["next"], killed_in)
            next_kill += 1
            cutover = _cutover(w, plan, "--execute", "--resume", "--yes")
            w["cleanup"].append(cutover)
            return False
        done = {r["step"] for r in records if r.get("event") == "done"}
        if not published and ("dns-switch" in started or ready in done):
            _publish(w, plan)
            published = True
        return cutover.poll() is not None
    try:
        wait_until(ended, 400 + (len(order) * 20 if kill_each else 0), "the cutover to end")
    except WaitTimeout:  # the caller's check of the exit code shows the log
        os.killpg(cutover.pid, 9)
    cutover.wait()
    return cutover.returncode, (w["base"] / "cutover.log").read_text(), killed_in



def _mail(w, sender: str, rcpt: str, subject: str, body: str) -> None:
    """One message from the world to the old host's Exim."""
    script = ("import smtplib, sys\n"
              "s = smtplib.SMTP(sys.argv[1], 25, timeout=60)\n"
              "s.sendmail(sys.argv[2], [sys.argv[3]], sys.argv[4])\n"
              "s.quit()\n")
    text = (f"From: {sender}\r\nTo: {rcpt}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{abs(hash((sender, subject)))}@example.net>\r\n\r\n{body}\r\n")
    res = world_run(w["net"], [sys.executable, "-c", script, OLD, sender, rcpt, text],
                    capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr


def _requests_now(w) -> tuple[dict, dict]:
    """The old host's request.pck and pending.pck, read with migrate's restricted unpickler."""
    from parsers.pickles import safe_loads
    folder = w["old_tree"] / f"usr/local/mailman/lists/{LIST}"
    out = []
    for name in ("request.pck", "pending.pck"):
        try:
            out.append(safe_loads((folder / name).read_bytes()))
        except (OSError, ValueError, EOFError):
            out.append({})  # not there yet (Mailman renames the file into place whole)
    return out[0], out[1]


def _make_requests(w) -> None:
    """After the plan was made (the inspection never saw them), as a live list gets them: by
    mail to the old host, handled there by its real Mailman, a post by a non-member held for
    the moderator (request.pck and data/heldmsg-members-N.pck), a subscription by mail to
    LIST-join held for the moderator's approval (the list's subscribe_policy is 2), and a
    member's unsubscription by mail to LIST-leave waiting for the member's confirmation
    (pending.pck). (A -request mail would carry the command twice, Subject and body.)"""
    member = w["recipients"][0]
    steps = [
        (("stranger@example.net", f"{LIST}@{DOMAIN}", "Held for the moderator",
          "Please approve me."),
         lambda req, pend: any(v[0] == 1 for k, v in req.items() if k != b"version")),
        (("joiner@example.net", f"{LIST}-join@{DOMAIN}", "join", "join"),
         lambda req, pend: any(v[0] == 2 for k, v in req.items() if k != b"version")),
        ((member, f"{LIST}-leave@{DOMAIN}", "leave", "leave"),
         lambda req, pend: any(isinstance(v, tuple) and v[:1] == (b"U",)
                               for v in pend.values())),
    ]
    for message, done in steps:
        _mail(w, *message)
        wait_until(lambda: done(*_requests_now(w)), 300, f"Mailman to record {message}",
                   every=0.5, diagnose=lambda: _diagnostics(w))


#: Run by the new host's real Mailman: what it holds for the moderator and what waits for a
#: confirmation, as its own code reads the copied request.pck and pending.pck (Python 2).
CHECK_REQUESTS = r"""
import cPickle, json, os, sys
sys.path.insert(0, '/usr/local/lib/mailman/bin')
import paths
from Mailman import mm_cfg, MailList
m = MailList.MailList(sys.argv[1])  # locked: Mailman reads request.pck only so
try:
    out = {'held': [], 'subs': [], 'pending': []}
    for i in m.GetHeldMessageIds():
        rec = m.GetRecord(i)
        out['held'].append([rec[1], rec[2], rec[4],
                            os.path.exists(os.path.join(mm_cfg.DATA_DIR, rec[4]))])
    for i in m.GetSubscriptionIds():
        out['subs'].append(m.GetRecord(i)[1])
    db = cPickle.load(open(os.path.join(m.fullpath(), 'pending.pck')))
    for cookie in db:
        if cookie not in ('version', 'evictions'):
            out['pending'].append(list(m.pend_confirm(cookie, expunge=False)))
finally:
    m.Unlock()  # never saved: nothing changes
print json.dumps(out)
"""


def _check_requests(w) -> str:
    """The held post, the held subscription and the pending confirmations on the new host:
    the files byte for byte as the old host left them, owned by _mailman, and the new host's
    real Mailman finds them (the held post's file included). Returns the held post's file."""
    from parsers.pickles import safe_loads
    old_var = w["old_tree"] / "usr/local/mailman"
    requests = safe_loads((old_var / f"lists/{LIST}/request.pck").read_bytes())
    held = [v[1][4].decode() for k, v in requests.items() if k != b"version" and v[0] == 1]
    held_id = [k for k, v in requests.items() if k != b"version" and v[0] == 1]
    assert len(held) == 1, requests
    for rel in (f"lists/{LIST}/request.pck", f"lists/{LIST}/pending.pck", f"data/{held[0]}"):
        assert (w["new_var"] / rel).read_bytes() == (old_var / rel).read_bytes(), rel
        owner = w["new"].run(f"stat -c %U /var/spool/mailman/{rel}").stdout.strip()
        assert owner == "_mailman", rel
    res = w["new"].run(_as_mailman(f"{w['python2']} -c {shlex.quote(CHECK_REQUESTS)} {LIST}"))
    found = json.loads(res.stdout)
    assert found["held"] == [["stranger@example.net", "Held for the moderator", held[0], True]]
    assert found["subs"] == ["joiner@example.net"]
    # the member's unsubscription, and the poster's cookie to cancel the held post
    assert sorted(found["pending"]) == [["H", held_id[0]], ["U", w["recipients"][0]]], found
    return held[0]


#: A line that starts a message in an mbox, as Python 2's mailbox.UnixMailbox (and so
#: Mailman's archiver) matches it: ``From `` + sender + a ctime-style date.
_FROM_LINE = re.compile(rb"From \s*[^\s]+\s+\w\w\w\s+\w\w\w\s+\d?\d\s+\d?\d:\d\d(:\d\d)?"
                        rb"(\s+[^\s]+)?\s+\d\d\d\d\s*[^\s]*\s*$")


def _mbox_posts(var: Path, tag: str) -> list[int]:
    """The stream's post numbers in the list's archive mbox, counted strictly: a post starts
    at a line of the full Unix-from pattern at the file's start or after an empty line
    (../shared/fixtures/README.md); its number is read from its own Subject header."""
    data = (var / f"archives/private/{LIST}.mbox/{LIST}.mbox").read_bytes()
    posts: list[list[bytes]] = []
    previous_empty = True
    for line in data.split(b"\n"):
        if previous_empty and _FROM_LINE.match(line):
            posts.append([])
        elif posts:
            posts[-1].append(line)
        previous_empty = line == b""
    out = []
    for lines in posts:
        head = b"\n".join(lines).split(b"\n\n", 1)[0]
        m = re.search(rb"^Subject:[^\n]*\bpost " + tag.encode() + rb"(\d+)[ \t]*$", head, re.M)
        if m:
            out.append(int(m.group(1)))
    return out


def _articles(var: Path) -> dict[int, str]:
    """The list's pipermail articles: number (the month folder's NNNNNN.html) -> title."""
    out: dict[int, str] = {}
    for path in sorted((var / f"archives/private/{LIST}").glob("*/[0-9]*.html")):
        if not re.fullmatch(r"\d{6}", path.stem):
            continue
        m = re.search(r"<TITLE>\s*(.*?)\s*</TITLE>", path.read_text(errors="replace"),
                      re.S | re.I)
        assert int(path.stem) not in out, f"article {path.stem} twice (reused): {path}"
        out[int(path.stem)] = " ".join(m.group(1).split()) if m else ""
    return out


def _numbered(articles: dict[int, str], tag: str) -> dict[int, list[int]]:
    """post number -> the article numbers showing that post."""
    out: dict[int, list[int]] = {}
    for number, title in articles.items():
        post = _post_of(title)
        if post and post[0] == tag:
            out.setdefault(post[1], []).append(number)
    return out


def _check_archives(w, tag: str, count: int, by_host: dict[str, list[int]]) -> None:
    """Each host's archive, in the mbox (strict count) and in pipermail's HTML: the old host
    has the posts its Mailman delivered, each once; the new host every post once (the old
    ones copied, the rest archived there), the old archive's articles unchanged, and the
    stream's article numbers continuing the old archive's without reuse or gap."""
    old_var, new_var = w["old_tree"] / "usr/local/mailman", w["new_var"]
    want = list(range(1, count + 1))
    with contextlib.suppress(WaitTimeout):  # the checks below say what is missing
        wait_until(lambda: sorted(_mbox_posts(new_var, tag)) == want
                   and sorted(_numbered(_articles(new_var), tag)) == want
                   and not list((new_var / "qfiles/archive").iterdir()),
                   600, "the new host's ArchRunner to archive every post",  # slow under load
                   every=1)
    new_mbox, old_mbox = _mbox_posts(new_var, tag), _mbox_posts(old_var, tag)
    assert sorted(new_mbox) == want, (len(new_mbox), _diagnostics(w))
    assert sorted(old_mbox) == sorted(by_host["old"])
    new_html, old_html = _numbered(_articles(new_var), tag), _numbered(_articles(old_var), tag)
    assert sorted(new_html) == want and all(len(v) == 1 for v in new_html.values()), new_html
    assert sorted(old_html) == sorted(by_host["old"])
    assert all(len(v) == 1 for v in old_html.values()), old_html
    before = w["articles_before"]
    start = max(before, default=-1) + 1
    numbers = sorted(v[0] for v in new_html.values())
    assert numbers == list(range(start, start + count)), (start, numbers)
    assert all(new_html[n] == old_html[n] for n in old_html)  # moved with their numbers
    if by_host["old"] and by_host["new"]:
        assert max(old_html[n][0] for n in by_host["old"]) < min(
            new_html[n][0] for n in by_host["new"])
    new_articles = _articles(new_var)
    assert all(new_articles.get(n) == title for n, title in before.items())
    print(f"archives: {len(old_mbox)} posts on the old host, {len(new_mbox)} on the new "
          f"(mbox, strict count); articles {start}..{start + count - 1} in pipermail, "
          f"after the {len(before)} the old archive had")


def test_cutover_under_a_stream_of_posts_loses_and_duplicates_nothing(world):
    w = world
    plan = _plan(w)
    _make_requests(w)
    # from now until the drain starts, the old host's posts wait in qfiles/archive
    w["old"].run(f"mkdir -p /run/mailman && touch {ARCHIVE_HOLD}")
    sender = _start_sender(w, POSTS, "a")
    # mail to the office (a person's alias on the list domain, which the plan hands back to
    # the old host): before the cutover, from the switch on (the old host's forward router
    # goes in, then the DNS moves), and after it
    office = [_start_sender(w, 10, "o", OFFICE)]
    _wait_sent(w, "a", 5)  # posts flow to the old host first
    code, log, _ = _run(w, plan, "--execute", "--yes", on_start={
        "old-mailman-drain": lambda: w["old"].run(f"rm -f {ARCHIVE_HOLD}"),
        "old-forward": lambda: office.append(_start_sender(w, 20, "w", OFFICE))})
    assert code == 0, log[-4000:] + _diagnostics(w)
    # and, after it, to her own address on the list domain (her mailbox, router localuser)
    office += [_start_sender(w, 5, "x", OFFICE), _start_sender(w, 3, "c", f"{PERSON}@{DOMAIN}")]
    for proc in [sender, *office]:
        proc.wait(timeout=900)
    took = _check_handed_back(w, {"o": 10, "w": 20, "x": 5, "c": 3})
    after = {(tag, n) for tag, count in (("x", 5), ("c", 3)) for n in range(1, count + 1)}
    assert after <= set(took["new"]) and took["old"], took
    by_host = _check_posts(w, {"a": POSTS})
    assert by_host["old"] and by_host["new"]  # the stream really crossed the switch
    # archived once: also the posts that still sat in qfiles/archive when the freeze began
    # (the drain waited for the ArchRunner)
    _check_archives(w, "a", POSTS, by_host)
    records = [json.loads(x) for x in (plan / "journal.jsonl").read_text().splitlines()]
    drain = next(dt.datetime.fromisoformat(r["t"]).timestamp() for r in records
                 if r.get("event") == "start" and r.get("step") == "old-mailman-drain")
    arch = w["old"].run("cat /run/mailman/arch.log").stdout
    passes = re.findall(r"^pass (\S+) (\d+)\n(?:done|stopped) (\S+)$", arch, re.M)
    late = [(float(t0), int(n)) for t0, n, t1 in passes if int(n) and float(t1) > drain]
    assert late, arch[-2000:]  # the drain began while the ArchRunner still had posts
    print(f"the drain began while the old host's ArchRunner still had posts to archive "
          f"(passes of {', '.join(str(n) for _, n in late)} posts)")
    # the held post, the held subscription and the pending confirmation arrived intact
    held = _check_requests(w)
    out = "\n".join(r.get("output", "") for r in records if r.get("step") == "final-sync")
    assert f"{LIST}: 1 held post file(s), {held} " in out, out[-2000:]
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
    The posts sent all the while each reach every member once, and the archives are whole."""
    w = world
    plan = _plan(w)
    sender = _start_sender(w, 250, "k")
    _wait_sent(w, "k", 3)
    code, log, killed_in = _run(w, plan, "--execute", "--yes", kill_each=True)
    assert code == 0, log[-4000:] + _diagnostics(w)
    steps = [s["id"] for s in yaml.safe_load((plan / "plan.yaml").read_text())["steps"]]
    assert len(killed_in) == len(steps)  # a kill, and a resume, for every step
    mid = [s for s in killed_in if s != "between"]
    print(f"{len(killed_in)} kills, {len(mid)} inside a running step: {', '.join(mid)}")
    assert len(mid) >= len(steps) // 2, killed_in  # most land inside a step, not between two
    assert log.count("skip ") >= len(steps)  # each resume went on from the journal
    sender.wait(timeout=900)
    by_host = _check_posts(w, {"k": 250})
    assert by_host["old"] and by_host["new"]
    _check_archives(w, "k", 250, by_host)
    # the archive that moved is whole after all the kills: the old host's mbox, as its
    # Mailman left it at the freeze, begins the new host's (whose Mailman appends to it; the
    # final-sync step checked the freeze manifest before the new Mailman started)
    name = f"archives/private/{LIST}.mbox/{LIST}.mbox"
    old_mbox = (w["old_tree"] / "usr/local/mailman" / name).read_bytes()
    assert (w["new_var"] / name).read_bytes().startswith(old_mbox)


def _boot_files(w) -> tuple[str, str]:
    """The new host's rc.conf.local and smtpd.conf: what it would start at boot."""
    return (w["new"].run("cat /etc/rc.conf.local").stdout,
            w["new"].run("cat /etc/mail/smtpd.conf").stdout)


def test_a_failing_post_check_then_rollback_brings_posts_back_to_the_old_host(world):
    """Also: after the prepare phase, nothing on the new host would start Mailman or take list
    mail at boot (its rc.conf.local starts no mailman, its smtpd.conf is its own), and its
    own rc.conf.local lines survive the cutover and come back whole with the rollback."""
    w = world
    plan = _plan(w)
    prepared: dict = {}

    def after_prepare() -> None:  # the first step after the prepare phase has started
        prepared["boot"] = _boot_files(w)
        journal = (plan / "journal.jsonl").read_text()
        prepared["switched"] = '"step": "new-mailman"' in journal

    # slowcgi dies after the new host's services started (their checks passed): httpd still
    # runs and serves the archives, but Mailman's pages fail (httpd answers 500 when nothing
    # listens on the FastCGI socket), so the post-checks fail
    sender = _start_sender(w, 30, "r")
    _wait_sent(w, "r", 3)
    code, log, _ = _run(w, plan, "--execute", "--yes", on_start={
        "presync": after_prepare,
        "new-mailman": lambda: w["new"].run("kill -KILL \"-$(cat /run/slowcgi.pid)\"")})
    assert code == 7 and "post-checks failed" in log, log[-3000:]  # a step failed: its code
    state = _status(plan)  # what the operator reads before deciding
    assert state["state"] == "failed" and f"step {state['failed']['step']} failed" in log
    assert state["next"] == state["failed"]["step"] and state["rollback"] and state["restore"]
    assert state["failed"]["step"] == "post-checks" and state["failed"]["message"]
    rc, smtpd_conf = prepared["boot"]
    assert not prepared["switched"]  # read before the switch began
    assert smtpd_conf == NEW_SMTPD_CONF  # local mail only: the list-taking one waits
    assert "mailman" not in "".join(line for line in rc.splitlines()
                                    if line.startswith(("pkg_scripts=", "mailman_")))
    assert rc.startswith(NEW_RC_CONF_LOCAL) and "httpd_flags=" in rc
    # the switch enabled Mailman after the host's own scripts, and smtpd with the plan's file
    rc, smtpd_conf = _boot_files(w)
    assert "pkg_scripts=postgresql mailman\n" in rc and "ntpd_flags=-s\n" in rc, rc
    assert "smtpd_flags=\n" in rc and smtpd_conf != NEW_SMTPD_CONF
    sender.wait(timeout=600)
    # the operator reads the failure before rolling back: by then the new host's Mailman has
    # sent what it took (the rollback stops its smtpd and lets it empty its queues first)
    _check_posts(w, {"r": 30})
    code, log, _ = _run(w, plan, "--execute", "--rollback", "--yes")
    assert code == 0, log[-3000:] + _diagnostics(w)
    assert _status(plan)["state"] == "rolled back"
    assert _boot_files(w) == (NEW_RC_CONF_LOCAL, NEW_SMTPD_CONF)
    # the operator puts the old records back, as the rollback asks
    zone = json.loads(w["zone"].read_text())
    zone[f"{DOMAIN} MX"] = [60, ["10 old.smallclub.example."]]
    _write_zone(w["zone"], zone)
    after = _start_sender(w, 10, "s")
    office = _start_sender(w, 5, "u", OFFICE)
    after.wait(timeout=300)
    office.wait(timeout=300)
    by_host = _check_posts(w, {"s": 10})
    assert sorted(by_host["old"]) == list(range(1, 11)) and not by_host["new"]
    # the old routing of the handed-back address is back too: the forward router is gone
    # (Exim's configuration is the one before the cutover) and the office's mail reaches the
    # person's mailbox once, through the old host's routers
    assert w["old"].run("cat /usr/local/etc/exim/configure").stdout == w["exim_conf"]
    took = _check_handed_back(w, {"u": 5})
    assert len(took["old"]) == 5 and not took["new"], took
    routed = re.findall(r"=> " + PERSON + r" <" + re.escape(OFFICE) + r"> R=localuser",
                        w["old"].run("cat /usr/local/exim-log/mainlog").stdout)
    assert len(routed) == 5, routed
    _check_posts(w, {"r": 30, "s": 10})
