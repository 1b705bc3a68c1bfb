"""End to end to Mailman 3: `migrate cutover --execute` moves the ``small`` sample's live list
from a real Exim and a real Mailman 2.1 to a real OpenSMTPD delivering over LMTP into the real
Mailman 3 core (``destination: mailman3``, OpenBSD 7.8's default) while a client sends numbered
posts the whole time; every member receives every post exactly once; then ``--rollback`` gives
the list back to the old host. Every other sample cuts over too, each with its own Exim
configuration and lists on the old host (``test_every_sample_cuts_over_to_mailman3``), one of
them killed in every step and resumed.

The world is tests/test_cutover_e2e.py's (``make_world``: the namespaces world, old and new on
one bridge, the old host with its real Exim and Mailman 2.1, the test's DNS server and the
members' mail server, the sink, which here also keeps the text of every digest); only the new
host differs. What is real on it:

- OpenSMTPD (the unpacked Debian package) with the emitted smtpd.conf: list mail goes over LMTP
  to 127.0.0.1:8024, its list table (/etc/mail/mailman3-lists) filled by the emitted hook.
- Mailman 3 core at the lock file's versions (the tests' venv, built from
  emitters/mailman3/requirements.txt) on the emitted /etc/mailman.cfg and /etc/mailman-mta.cfg,
  run as ``_mailman3`` through the emitted rc.d script: its LMTP runner takes the posts, its
  runners send them through the new host's smtpd to the sink, its prototype archiver keeps
  them. The emitted import script creates and imports each list (``mailman create``,
  ``import21 --charset``) from the final sync's copy; each create runs the emitted hook through
  doas, as root.
- The old host as in test_cutover_e2e.py; the plan's freeze sends its collected digests with
  old_digests.py, run by its real Mailman's withlist.

What cannot run here is replaced by stand-ins under /usr/local/sbin in the new host's namespace,
each a few lines saying what it stands in for: pkg_info, pkg_add, pkg_delete, useradd (OpenBSD's
flags: the first free uid of the range, added to the namespace's copies of /etc/passwd, group
and shadow), userdel, python3 (only ``-m venv /usr/local/mailman3``, which PyPI would fill: it
makes the venv from the tests' one, its scripts pointing at /usr/local/mailman3 and its lib that
venv's, which the namespace sees read-only; the plan's ``pip install -r`` and ``pip check`` run
for real on it, and find every pin installed), doas (a setuid program of a few lines,
/usr/bin/doas, running a shell script as root that applies /etc/doas.conf's rules), OpenBSD's
rc.subr (/etc/rc.d/rc.subr: rc_exec through su, rc_check with pgrep on the script's ``pexp``),
rcctl (smtpd, httpd, slowcgi as in test_cutover_e2e.py; mailman3 through the emitted
/etc/rc.d/mailman3), sha256, crontab and mail. What waits in Mailman 2 at the freeze is
carried by the plan's own scripts (export_waiting.py with the old host's real Mailman 2,
import_waiting.py with the new host's Mailman 3), run by the cutover as the plan says.
"""

from __future__ import annotations

import collections
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from conftest import WAIT_UNTIL_SH, need, smtpd_binary, wait_until
from e2etools import CONNECT, Host, Network, world_run
from httpdtools import fcgiwrap_binary, httpd_binary, httpd_sh, slowcgi_sh
from hktools import VENV as WEB_VENV_CACHE, web_bin
from mm3tools import VENV, mailman3_bin
from smtpdtools import SINK, _libexec
from emitters.common import SLOWCGI_SOCKET
from emitters.mailman3.paths import (HK_IMPORT, MM3_BIN, MM3_PID, MM3_USER, MM3_VAR, MM3_VENV,
                                     REQUIREMENTS, SMTPD_LIST_TABLE, TABLE_SENTINEL, WEB_DATA,
                                     WEB_VENV)
from emitters.mailman3.plugin import INBOUND, LOCK_FILE, PROTOTYPE
from migrate.core.mailman2 import MODERATED_SUBSCRIPTIONS
from test_cutover_e2e import (DOMAIN, LIST, NEW, NEW_RC_CONF_LOCAL, NEW_SHIMS, NEW_SMTPD_CONF,
                              OFFICE, OLD, PERSON, POSTS, SAMPLES_E2E, SMALL,
                              _check_handed_back, _check_posts, _deliveries, _diagnostics,
                              _inventory, _make_requests, _plan, _run, _sent, _sshd_config,
                              _start_sender, _wait_delivered, _wait_sent, _write, _write_zone,
                              make_world)
from migrate.core.steps import FREEZE_STEP

pytestmark = [pytest.mark.e2e, pytest.mark.realtool]  # out of `make test-fast`

#: The tests' venv as the machine has it (its scripts name this path): the new host sees it
#: read-only, its python's installation too.
VENV_REAL = VENV.resolve()
WEB_VENV_REAL = WEB_VENV_CACHE.resolve()
#: The member who takes the list's digests (the small sample's one digest member).
DIGEST_MEMBER = "victor.keller@isp.example"
#: Asks Mailman 3's REST API on the new host (loopback; the default credentials the plan
#: leaves) for a list's held posts and subscription requests, as Postorius does.
REST_PROBE = """
import base64, configparser, json, sys, urllib.request
secrets = configparser.ConfigParser()
secrets.read("/etc/mailman-secrets.cfg")  # made on the host by the plan's make-secrets.sh
auth = base64.b64encode(b"restadmin:" + secrets["webservice"]["admin_pass"].encode()).decode()
out = {}
for part in ("held", "requests"):
    url = f"http://127.0.0.1:8001/3.1/lists/{sys.argv[1]}/{part}"
    req = urllib.request.Request(url, headers={"Authorization": "Basic " + auth})
    out[part] = json.load(urllib.request.urlopen(req, timeout=30))
print(json.dumps(out))
"""
#: How many posts the way back's test sends to the new host while its archive runner waits.
HELD_BACK = 20

#: Stand-in for OpenBSD's doas(1) itself: setuid root, it runs the rules' script below as root,
#: telling it who asked (no other environment passes).
DOAS_C = r"""
/* stand-in for OpenBSD's doas(1): setuid root; /usr/local/sbin/doas applies doas.conf */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    char uid[32], **args = calloc(argc + 2, sizeof *args);
    char *env[] = {uid, "PATH=/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    snprintf(uid, sizeof uid, "DOAS_UID=%d", (int)getuid());
    args[0] = "sh";
    args[1] = "/usr/local/sbin/doas";
    for (int i = 1; i < argc; i++)
        args[i + 1] = argv[i];
    if (setgid(0) || setuid(0)) {
        perror("doas");
        return 1;
    }
    execve("/bin/sh", args, env);
    perror("doas");
    return 1;
}
"""

#: Stand-in for OpenBSD's /etc/rc.d/rc.subr, the part Mailman 3's rc.d script uses.
RC_SUBR = """\
# stand-in for OpenBSD's rc.subr(8): rc_exec runs as daemon_user (su -s /bin/sh, as
# rc.subr does), rc_check looks for pexp among the processes (pgrep -xf; of this host only:
# those sharing its mount namespace, as the machine runs other tests' hosts), rc_cmd starts,
# stops (waiting until no process matches) and checks; rc_start and rc_stop write to a log,
# not to the caller (rc.subr's _rc_do: to /dev/null), or a daemon would hold its output open
@WAIT@
rc_exec() { su -s /bin/sh "${daemon_user}" -c "$*"; }
# rc.subr's own rc_start and rc_stop, which a script may replace: the daemon with its flags
# (with rc_bg=YES in the background, its output to the log by a plain command: a shell running
# a function with redirections keeps the caller's output open on a spare descriptor, which
# would hold rcctl's caller waiting), and pkill of pexp
rc_start() {
  if [ "${rc_bg}" = YES ]; then
    su -s /bin/sh "${daemon_user}" -c "${daemon} ${daemon_flags}" </dev/null \
      >>/run/rc.d.log 2>&1 &
  else rc_exec "${daemon} ${daemon_flags}"; fi
}
rc_stop() { pkill --ns $$ --nslist mnt -xf "${pexp}"; }
rc_check() { pgrep --ns $$ --nslist mnt -xf "${pexp}" >/dev/null; }
rc_gone() { ! rc_check; }
rc_cmd() {
  case "$1" in
  start) rc_check && return 0; rc_start </dev/null >>/run/rc.d.log 2>&1 || return 1
    wait_until 60 "${daemon} (${pexp}) to run" rc_check ;;
  stop) rc_check || return 0; rc_stop </dev/null >>/run/rc.d.log 2>&1 || return 1
    wait_until 120 "${daemon} (${pexp}) to stop" rc_gone ;;
  check) rc_check ;;
  *) return 1 ;;
  esac
}
"""

MM3_SHIMS = {
    "pkg_info": """#!/bin/sh
# stand-in for OpenBSD's pkg_info: the python3 package 'is there'
case "$*" in "-Q python") echo "python-3.11.7p0" ;; *) exit 0 ;; esac
""",
    "pkg_add": "#!/bin/sh\necho \"stand-in: pkg_add $*\"\n",
    "pkg_delete": "#!/bin/sh\necho \"stand-in: pkg_delete $*\"\n",
    "userdel": "#!/bin/sh\necho \"stand-in: userdel $*\"\n",
    "useradd": """#!/bin/sh
# stand-in for OpenBSD's useradd(8) with the plan's flags (-s SHELL -d HOME -c COMMENT
# -g =uid -r LOW..HIGH NAME): the first uid of the range free as uid and gid, its group of
# the same name, in this namespace's copies of /etc/passwd, /etc/group, /etc/shadow
set -e
while getopts s:d:c:g:r: o; do
  case $o in s) shell=$OPTARG ;; d) home=$OPTARG ;; c) comment=$OPTARG ;;
  g) [ "$OPTARG" = =uid ] ;; r) range=$OPTARG ;; *) exit 2 ;; esac
done
shift $((OPTIND - 1))
uid=${range%..*}
while getent passwd "$uid" >/dev/null || getent group "$uid" >/dev/null; do
  uid=$((uid + 1)); [ "$uid" -le "${range#*..}" ]
done
echo "$1:x:$uid:$uid:$comment:$home:$shell" >> /etc/passwd
echo "$1:x:$uid:" >> /etc/group
echo "$1:!:20000::::::" >> /etc/shadow
""",
    "python3": """#!/bin/sh
# stand-in for OpenBSD's python3 where the plan makes Mailman 3's virtual environment, which
# pip would fill from PyPI (not reachable here): `-m venv /usr/local/mailman3` makes it from
# the tests' venv, built from the same lock file: its pyvenv.cfg and interpreter links, its
# scripts pointing at /usr/local/mailman3, its lib that venv's (read-only here), so that the
# plan's pip install -r finds every pin installed. Anything else is the real python3.
# The web UI's venv (`-m venv /usr/local/mailman3-web`) likewise, from the tests' web venv.
case "$*" in
"-m venv @MM3_VENV@") src=@VENV@ dst=@MM3_VENV@ ;;
"-m venv @WEB_VENV@") src=@WEB_VENV_REAL@ dst=@WEB_VENV@ ;;
*) exec /usr/bin/python3 "$@" ;;
esac
# (again over an existing one, as venv does)
mkdir -p $dst/bin && cp $src/pyvenv.cfg $dst/ && ln -sfn $src/lib $dst/lib
for f in $src/bin/*; do
  if [ -L "$f" ]; then ln -sfn "$(readlink "$f")" "$dst/bin/${f##*/}"
  else sed "1s|^#!$src/bin/|#!$dst/bin/|" "$f" > "$dst/bin/${f##*/}"; chmod 755 "$dst/bin/${f##*/}"
  fi
done
""",
    "doas": """#!/bin/sh
# stand-in for OpenBSD's doas(1), run as root by /usr/bin/doas (setuid), which says who asked
# in DOAS_UID: -C FILE checks that every rule is one this stand-in knows, -n CMD ARGS runs CMD
# as root where /etc/doas.conf has `permit nopass USER as root cmd CMD` for the caller
user=$(id -nu "${DOAS_UID:-$(id -u)}")
case "$1" in
-C) exec awk '/^[ \\t]*(#|$)/ { next }
  !/^permit nopass [^ ]+ as root cmd [^ ]+$/ { print "doas: unknown rule: " $0; bad = 1 }
  END { exit bad }' "$2" ;;
-n) shift ;;
esac
grep -qx "permit nopass $user as root cmd $1" /etc/doas.conf ||
  { echo "doas: Operation not permitted" >&2; exit 1; }
exec "$@"
""",
}
#: Mailman 3 in rcctl's stand-in: its emitted rc.d script, which reads rc.subr's stand-in. On
#: stop it first notes what Mailman 3's queues still hold (the test reads it: the way back
#: stops Mailman 3 only once its inbound queues are empty).
RCCTL_MM3 = """\
  "start mailman3"|"check mailman3") sh /etc/rc.d/mailman3 "$cmd" || exit 1 ;;
  "stop mailman3")
    echo "$(date +%s.%N) inbound $(find @INBOUND@ -type f 2>/dev/null | wc -l)" \\
      >> /run/mailman3-stop.log
    sh /etc/rc.d/mailman3 stop || exit 1 ;;
  "restart mailman3") { sh /etc/rc.d/mailman3 stop && sh /etc/rc.d/mailman3 start; } || exit 1 ;;
  "start mailman3web"|"check mailman3web"|"stop mailman3web"|"start mailman3webq"|\
  "check mailman3webq"|"stop mailman3webq") sh "/etc/rc.d/$svc" "$cmd" || exit 1 ;;
"""

#: What the diagnostics show of the new host.
NEW_LOGS = (f"tail -n 15 /run/smtpd.log /run/rc.d.log {MM3_VAR}/logs/mailman.log "
            f"{MM3_VAR}/logs/smtp.log {WEB_DATA}/logs/mailmanweb.log /run/httpd.log 2>&1; "
            f"find {MM3_VAR}/queue -type f | sort | tail -n 20; "
            "echo '--- its processes'; pgrep -a --ns $$ --nslist mnt . | tail -n 30")

#: The sink, also keeping the text of each digest (its Subject says Digest) in its record.
SINK_DIGESTS = SINK.replace(
    '"message_id": str(head.get("Message-ID", "")),',
    '"message_id": str(head.get("Message-ID", "")), "digest": b"".join(data).decode("latin-1")'
    ' if "Digest" in str(head.get("Subject", "")) else None,')
assert SINK_DIGESTS != SINK


def _rcctl() -> str:
    """rcctl's stand-in of test_cutover_e2e.py with Mailman 3's service."""
    text = NEW_SHIMS["rcctl"]
    last = '  *) echo "stand-in: rcctl $cmd $svc" ;;\n'
    assert last in text
    cases = RCCTL_MM3.replace("@INBOUND@", " ".join(f"{MM3_VAR}/queue/{q}" for q in INBOUND))
    return text.replace(last, cases + last).replace(
        "# same FastCGI-to-CGI gateway)",
        "# same FastCGI-to-CGI gateway), and Mailman 3 through its rc.d script", 1)


def new_host_mailman3(net: Network, base: Path, resolv: Path, host_key: Path, auth: Path,
                      hosts: list[Host]) -> tuple[Host, dict]:
    """The new host as the Mailman 3 plan finds it: OpenSMTPD with the host's own smtpd.conf,
    no Mailman, no _mailman3; the stand-ins above, OpenBSD's httpd and slowcgi's."""
    mailman3_bin()  # skips (fails under make test) without the tests' venv
    web_bin()  # and without the web UI's
    need(shutil.which("sassc") is not None, "sassc is not installed (mailman-web compress)")
    need(shutil.which("cc") is not None, "cc is not installed (doas's stand-in is built)")
    smtpd = smtpd_binary()
    httpd, fcgiwrap = httpd_binary(), fcgiwrap_binary()
    python_home = Path(next(line.split("=", 1)[1].strip() for line in
                            (VENV_REAL / "pyvenv.cfg").read_text().splitlines()
                            if line.startswith("home"))).parent
    sbin = base / "new-sbin"
    starts = {"@SLOWCGI@": slowcgi_sh(fcgiwrap, SLOWCGI_SOCKET),
              "@HTTPD_START@": httpd_sh(httpd), "@SMTPD@": smtpd, "@HTTPD@": httpd,
              "@WAIT@": WAIT_UNTIL_SH, "@CONNECT@": CONNECT, "@VENV@": str(VENV_REAL),
              "@MM3_VENV@": MM3_VENV, "@WEB_VENV_REAL@": str(WEB_VENV_REAL),
              "@WEB_VENV@": WEB_VENV}
    shims = {**{k: NEW_SHIMS[k] for k in ("sha256", "smtpd", "httpd", "crontab", "mail")},
             **MM3_SHIMS, "rcctl": _rcctl()}
    for name, text in shims.items():
        for key, value in starts.items():
            text = text.replace(key, value)
        _write(sbin / name, text, 0o755)
    etc = base / "new-etc"
    for name in ("passwd", "group", "shadow"):
        _write(etc / name, Path(f"/etc/{name}").read_text(), 0o600 if name == "shadow" else 0o644)
    _write(etc / "rc.conf.local", NEW_RC_CONF_LOCAL)
    _write(etc / "smtpd.conf", NEW_SMTPD_CONF)
    _write(etc / "rc.subr", RC_SUBR.replace("@WAIT@", WAIT_UNTIL_SH))
    (base / "doas.c").write_text(DOAS_C)
    subprocess.run(["cc", "-o", str(base / "doas"), str(base / "doas.c")], check=True,
                   capture_output=True)
    (base / "doas").chmod(0o4755)
    smtpctl = Path(smtpd).with_name("smtpctl")
    var = base / "new-mm3"  # /var/mailman3 (its database, queues): on disk, not in a tmpfs
    var.mkdir()
    new = Host(net, "new", [
        ("tmpfs", "755", "/usr/local"),
        ("bind", str(sbin), "/usr/local/sbin"),
        ("bind", str(python_home), "/usr/local/.python"),  # before /root is replaced
        ("shadow", "-", "/usr/sbin"),
        ("copy", str(smtpctl), "/usr/sbin/smtpctl"),  # setgid below, as installed
        ("shadow", "-", "/etc"),
        *(("copy", str(etc / name), f"/etc/{name}") for name in ("passwd", "group", "shadow")),
        ("copy", str(resolv), "/etc/resolv.conf"),
        ("copy", str(etc / "rc.conf.local"), "/etc/rc.conf.local"),
        ("mkdir", "755", "/etc/rc.d"),
        ("copy", str(etc / "rc.subr"), "/etc/rc.d/rc.subr"),
        ("mkdir", "755", "/etc/mail"),
        ("copy", str(etc / "smtpd.conf"), "/etc/mail/smtpd.conf"),
        ("shadow", "-", "/var"),
        ("shadow", "-", "/var/spool"),
        ("shadow", "-", "/var/lib"),
        ("bind", str(var), MM3_VAR),
        ("tmpfs", "755", "/var/www"),  # httpd's logs and slowcgi's socket, as on OpenBSD
        ("mkdir", "755", "/var/www/logs"),
        ("mkdir", "755", "/var/www/run"),
        ("mkdir", "711", "/var/spool/smtpd"),
        ("mkdir", "755", "/var/cron/tabs"),
        ("mkdir", "755", "/var/lib/opensmtpd/empty"),
        ("mkdir", "1777", "/var/mail"),
        ("shadow", "-", "/usr/libexec"),
        ("bind", str(_libexec(smtpd)), "/usr/libexec/opensmtpd"),
        # root's home, where the venv's interpreter lives on this machine: passable (711) so
        # that _mailman3 reaches it
        ("tmpfs", "711", "/root"),
        *(("mkdir", "755", str(p)) for p in reversed(python_home.parents)
          if str(p).startswith("/root/")),
        ("bind", "/usr/local/.python", str(python_home)),
        ("tmpfs", "755", "/run"),
        ("mkdir", "755", "/run/sshd"),
    ])
    hosts.append(new)
    # doas is /usr/bin/doas (the plan's mailman-mta.cfg names it): /usr/bin shadowed here, not
    # by the setup, which needs its ln while it makes the links
    new.run("mkdir /run/.usr-bin && mount --bind /usr/bin /run/.usr-bin && "
            "mount -t tmpfs -o mode=755 tmpfs /usr/bin && "
            "for e in /run/.usr-bin/*; do /run/.usr-bin/ln -s \"$e\" /usr/bin/; done && "
            f"/run/.usr-bin/cp -a {base / 'doas'} /usr/bin/doas")
    new.run("chgrp opensmtpq /usr/sbin/smtpctl && chmod 2555 /usr/sbin/smtpctl")
    # the tests' venv, read-only for everything in this host (pip may not change it)
    new.run(f"mount --bind {VENV_REAL} {VENV_REAL} && mount -o remount,bind,ro {VENV_REAL} "
            f"&& mount -o remount,bind,ro {python_home} && mount --bind {WEB_VENV_REAL} "
            f"{WEB_VENV_REAL} && mount -o remount,bind,ro {WEB_VENV_REAL}")
    (base / "newcfg").mkdir()
    new.spawn(["/usr/sbin/sshd", "-D", "-e", "-f",
               str(_sshd_config(base / "newcfg", NEW, host_key, auth))], "sshd.log")
    return new, {"new_logs": NEW_LOGS}


@pytest.fixture
def world(tmp_path):
    yield from make_world(new_host_mailman3, sink=SINK_DIGESTS)


def _as_mm3(w, args: str) -> subprocess.CompletedProcess:
    """``mailman ARGS`` on the new host, as Mailman 3's user."""
    return w["new"].run(f"su -s /bin/sh {MM3_USER} -c '{MM3_BIN} {args}'", timeout=300)


def _journal(plan: Path) -> list[dict]:
    return [json.loads(x) for x in (plan / "journal.jsonl").read_text().splitlines()]


def _output(plan: Path, step: str) -> str:
    return "\n".join(r.get("output", "") for r in _journal(plan) if r.get("step") == step)


def _digests(w) -> list[tuple[str, collections.Counter]]:
    """The digests the digest member received: (the peer that sent it, how often each post
    number of stream ``a`` is in it, counted by the Subject header of each post it holds),
    in the order they arrived."""
    out = []
    for d in _deliveries(w):
        if d.get("digest") and DIGEST_MEMBER in d["rcpts"]:
            numbers = re.findall(r"^Subject: [^\r\n]*\bpost a(\d+)\s*$", d["digest"], re.M)
            out.append((d["peer"], collections.Counter(int(n) for n in numbers)))
    return out


def _smtp_answers(w, rcpt: str) -> int:
    """The code the new host's smtpd answers to RCPT TO rcpt, asked from the world."""
    script = ("import smtplib, sys\n"
              "s = smtplib.SMTP(sys.argv[1], 25, timeout=30)\n"
              "s.ehlo('probe.example.net'); s.mail('probe@example.net')\n"
              "print(s.rcpt(sys.argv[2])[0]); s.quit()\n")
    res = world_run(w["net"], [sys.executable, "-c", script, NEW, rcpt], capture_output=True,
                    text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return int(res.stdout.split()[-1])


def test_cutover_to_mailman3_under_a_stream_of_posts_then_the_way_back(world):
    """POSTS numbered posts sent before, during and after the switch each reach every member
    once, those the new host sent from Mailman 3; mail to a person's addresses on the list
    domain reaches her mailbox on the old host once (handed back); the list's members in
    Mailman 3 are the inventory's; what waited in Mailman 2 at the freeze (a held post, a
    subscription for the moderator) waits in Mailman 3; the posts the old host collected for
    the digest reach the digest member; a list created later takes mail at once (the hook,
    through doas, makes smtpd reread its table). Then the way back, begun while Mailman 3's
    archive runner still holds posts: it stops Mailman 3 only once its inbound queues are
    empty, counts the posts that reached the list since the switch, and the old host serves
    the list again, nothing sent twice."""
    w = world
    start = time.monotonic()
    plan = _plan(w, destination="mailman3")
    # the lock file the plan installs is the one the tests' venv was built from (its pins:
    # the copy install-test-deps.sh keeps beside the venv may differ in comments only)
    lock = (plan / LOCK_FILE).read_text()
    assert lock == REQUIREMENTS.read_text()

    def pins(text: str) -> list[str]:
        return [x for x in text.splitlines() if x and not x.startswith("#")]
    assert pins(lock) == pins((VENV.parent / "requirements.txt").read_text())
    # what waits in Mailman 2 when the freeze comes, made after the plan (its inspection never
    # saw them): a nonmember's post held for the moderator, a subscription held for the
    # moderator, a member's unsubscription waiting for her confirmation
    _make_requests(w)
    sender = _start_sender(w, POSTS, "a")
    # mail to the office (a person's alias on the list domain, handed back to the old host):
    # before the cutover, from the switch on, and after it (also to her own address there)
    office = [_start_sender(w, 10, "o", OFFICE)]
    _wait_sent(w, "a", 5)  # posts flow to the old host first
    code, log, _ = _run(w, plan, "--execute", "--yes", on_start={
        "old-forward": lambda: office.append(_start_sender(w, 20, "w", OFFICE))})
    assert code == 0, log[-4000:] + _diagnostics(w)
    office += [_start_sender(w, 5, "x", OFFICE), _start_sender(w, 3, "c", f"{PERSON}@{DOMAIN}")]
    for proc in [sender, *office]:
        proc.wait(timeout=900)
    took = _check_handed_back(w, {"o": 10, "w": 20, "x": 5, "c": 3})
    after = {(tag, n) for tag, count in (("x", 5), ("c", 3)) for n in range(1, count + 1)}
    assert after <= set(took["new"]) and took["old"], took
    by_host = _check_posts(w, {"a": POSTS})
    assert by_host["old"] and by_host["new"]  # the stream really crossed the switch
    # those the new host sent, its Mailman 3 sent (its smtp log names each post's Message-ID)
    smtp_log = w["new"].run(f"cat {MM3_VAR}/logs/smtp.log").stdout
    sent_by_mm3 = {int(n) for n in re.findall(r"<post-a(\d+)@example\.net>", smtp_log)}
    assert sent_by_mm3 == set(by_host["new"]), (sorted(sent_by_mm3), sorted(by_host["new"]))
    print(f"{POSTS} posts: {len(by_host['old'])} sent by the old host's Mailman 2, "
          f"{len(by_host['new'])} by the new host's Mailman 3")

    # the list in Mailman 3: its members are the inventory's, regular and digest
    from migrate.app.inspection import inspect_tree
    from migrate.app.sources import LocalTree
    from migrate.core.model import Origin
    inv = inspect_tree(LocalTree(w["old_tree"]), Origin("local", str(w["old_tree"])))
    ml = next(m for m in inv.lists if m.name == LIST)
    address = f"{LIST}@{DOMAIN}"
    regular = _as_mm3(w, f"members -e --regular {address}").stdout.split()
    digest = _as_mm3(w, f"members -e --digest any {address}").stdout.split()
    assert sorted(regular) == sorted(ml.members.regular), regular
    assert digest == ml.members.digest == [DIGEST_MEMBER], digest
    # smtpd's list table is Mailman 3's addresses, copied by the hook (through doas, as root)
    table = w["new"].run(f"cat {SMTPD_LIST_TABLE}").stdout.split()
    assert table[0] == TABLE_SENTINEL and f"{LIST}-request@{DOMAIN}" in table, table
    assert len(table) == 1 + 9 * len(inv.lists), table
    # its archive in HyperKitty (the posts the old host archived, as the inventory counts
    # them), its pages through httpd
    _check_archives_and_web(w, plan, inv)

    # the digest: what the old host had collected when the freeze began went out from there
    # (old_digests.py), and every post the old host's Mailman took is in exactly one of its
    # digests; Mailman 3 sends its own (size threshold), none holding a post twice
    assert f"{LIST}: digest sent" in _output(plan, "old-mailman-drain")
    digests = _digests(w)
    by_peer = {peer: sum((c for p, c in digests if p == peer), collections.Counter())
               for peer in (OLD, NEW)}
    assert set(by_peer[OLD]) == set(by_host["old"]), (sorted(by_peer[OLD]), by_host["old"])
    assert set(by_peer[NEW]) <= set(by_host["new"]), sorted(by_peer[NEW])
    assert set(by_peer[OLD].values()) | set(by_peer[NEW].values()) == {1}, by_peer
    print(f"the digest member received {sum(p == OLD for p, _ in digests)} digest(s) from "
          f"the old host holding the {len(by_peer[OLD])} posts its Mailman 2 took, the last "
          f"sent at the freeze, and {sum(p == NEW for p, _ in digests)} from Mailman 3")

    # what waited in Mailman 2 waits in Mailman 3: the held post held again for the moderator
    # (as Postorius asks Mailman 3's REST API for it) and the subscription for the moderator;
    # the unsubscription's confirmation link is not carried (named at the export and import)
    carried = _output(plan, "new-mailman")
    assert (f"{address}: 1 held posts held, 1 subscriptions waiting for the moderator "
            "registered") in carried, carried[-3000:]
    assert "NOT carried" in carried and "1 unsubscription confirmations" in carried, carried
    list_id = address.replace("@", ".")
    rest = w["new"].run(f"python3 - {list_id}", input=REST_PROBE, timeout=120)
    assert rest.returncode == 0, rest.stderr
    answer = json.loads(rest.stdout)
    assert [e["sender"] for e in answer["held"].get("entries", [])] == \
        ["stranger@example.net"], answer
    assert [e["email"] for e in answer["requests"].get("entries", [])] == \
        ["joiner@example.net"], answer

    # a list created later on the new host takes mail at once: the hook makes smtpd reread
    # its table (smtpctl update table)
    fresh = f"fresh@{DOMAIN}"
    assert _smtp_answers(w, fresh) >= 500
    _as_mm3(w, f"create --quiet {fresh}")
    assert _smtp_answers(w, fresh) == 250
    _as_mm3(w, f"remove {fresh}")
    assert _smtp_answers(w, fresh) >= 500
    t_cutover = time.monotonic() - start

    # the way back, with posts in Mailman 3's archive queue when it begins: its archive runner
    # waits (SIGSTOP) while a stream reaches the members through the new host
    master = w["new"].run(f"cat {MM3_PID}").stdout.strip()
    archiver = w["new"].run(f"pgrep -P {master} -f -- '--runner=archive'").stdout.split()
    assert len(archiver) == 1, archiver
    w["new"].run(f"kill -STOP {archiver[0]}")
    sender = _start_sender(w, HELD_BACK, "r")
    sender.wait(timeout=600)
    assert set(_sent(w, "r").values()) == {NEW}
    _wait_delivered(w, {"r": HELD_BACK})
    waiting = int(w["new"].run(f"find {MM3_VAR}/queue/archive -type f | wc -l").stdout)
    assert waiting >= HELD_BACK, waiting
    released: dict = {}

    def release() -> None:
        """Once smtpd stopped (the way back's first action) and the wait has looked at the
        queues at least once, the archive runner goes on."""
        wait_until(lambda: w["new"].run(f"python3 -c '{CONNECT}' ::1 25",
                                        check=False).returncode != 0, 300, "smtpd to stop")
        time.sleep(15)  # the wait polls every 10 s
        released["t"] = time.time()
        w["new"].run(f"kill -CONT {archiver[0]}")
    thread = threading.Thread(target=release)
    thread.start()
    code, log, _ = _run(w, plan, "--execute", "--rollback", "--yes")
    thread.join(timeout=60)
    assert code == 0, log[-4000:] + _diagnostics(w)
    # Mailman 3 stopped after the archive runner went on, its inbound queues empty
    stops = w["new"].run("cat /run/mailman3-stop.log").stdout.split()
    assert float(stops[-3]) > released["t"] and stops[-2:] == ["inbound", "0"], stops
    assert w["new"].run(f"pgrep --ns $$ --nslist mnt -f '^{MM3_VENV}/bin/python'",
                        check=False).returncode == 1
    # the way back counts the posts that reached the list here since the switch, each
    # archived once by Mailman 3 (for the old host's archive)
    counted = re.findall(rf"{PROTOTYPE}/{re.escape(f'{LIST}@{DOMAIN}')}: +(\d+) post", log)
    assert counted == [str(len(by_host["new"]) + HELD_BACK)], log[-3000:]
    assert w["old"].run("cat /usr/local/etc/exim/configure").stdout == w["exim_conf"]
    assert w["new"].run("cat /etc/mail/smtpd.conf").stdout == NEW_SMTPD_CONF
    # the operator puts the old records back, as the rollback asks: the old host serves the
    # list again, its own Mailman 2 sending
    zone = json.loads(w["zone"].read_text())
    zone[f"{DOMAIN} MX"] = [60, ["10 old.smallclub.example."]]
    _write_zone(w["zone"], zone)
    after = _start_sender(w, 10, "s")
    after.wait(timeout=300)
    by_host_after = _check_posts(w, {"s": 10})
    assert sorted(by_host_after["old"]) == list(range(1, 11)) and not by_host_after["new"]
    _check_posts(w, {"a": POSTS, "r": HELD_BACK, "s": 10})  # and nothing came twice
    print(f"run time: cutover and checks {t_cutover:.0f} s, "
          f"with the way back {time.monotonic() - start:.0f} s")



@pytest.fixture
def sample_world(request):
    yield from make_world(new_host_mailman3, sample=request.param)


#: Posts to every list before the cutover and after it; posts to the main list sent from the
#: moment the freeze begins (the old host answers 4xx to them until the switch).
BEFORE, AFTER, FROZEN = 3, 3, 10
#: A moderator's decision on the old host, through Mailman 2's own ListAdmin (withlist -r
#: decide.discard LIST), as the admindb page would make it: every subscription waiting for the
#: moderator is discarded.
DECIDE = """
from Mailman import mm_cfg
def discard(mlist):
    for request in mlist.GetSubscriptionIds():
        mlist.HandleRequest(request, mm_cfg.DISCARD)
    mlist.Save()
"""


def _decide(w) -> None:
    """What the plan says must be decided before the freeze (its blocker
    plan.mailman3-subscriptions-waiting: netsight's users list holds a subscription for the
    moderator under the policy confirm), the moderators decide on the old host, as its hint
    asks."""
    inv = _inventory(w["old_tree"])
    names = [ml.name for ml in inv.lists
             if ml.held_subscriptions and ml.subscribe_policy not in MODERATED_SUBSCRIPTIONS]
    for name in names:
        w["old"].run(f"cat > /run/decide.py && cd /run && chmod a+r decide.py && "
                     f"setpriv --reuid=mailman --regid=mailman --init-groups env PYTHONPATH=/run "
                     f"/usr/local/mailman/bin/withlist -l -r decide.discard {name}",
                     input=DECIDE, timeout=120)


#: The sample whose cutover is killed (SIGKILL, the whole process group) once in every step,
#: as soon as the step has started, and resumed each time (``--resume``).
KILLED = "oakfield"


#: Asks the new host's httpd, from the world, for each (Host, path): a GET; prints each answer's
#: status and Location as JSON.
HTTP_PROBE = r"""
import http.client, json, sys
out = []
for host, path in json.loads(sys.argv[2]):
    conn = http.client.HTTPConnection(sys.argv[1], 80, timeout=60)
    conn.request("GET", path, headers={"Host": host})
    res = conn.getresponse()
    res.read()
    out.append([res.status, res.getheader("Location") or ""])
print(json.dumps(out))
"""


def _http(w, requests: list[tuple[str, str]]) -> list[tuple[int, str]]:
    res = world_run(w["net"], [sys.executable, "-c", HTTP_PROBE, NEW, json.dumps(requests)],
                    capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    return [tuple(x) for x in json.loads(res.stdout)]


def _article_message_id(path: Path) -> str | None:
    """The Message-ID a pipermail article names in its reply link (In-Reply-To=...)."""
    import html
    from urllib.parse import unquote
    m = re.search(r'In-Reply-To=([^"\s>]*)', path.read_text("latin-1"))
    return unquote(html.unescape(m.group(1))).strip("<>") if m else None


def _check_archives_and_web(w, plan: Path, inv) -> None:
    """Every list's archive in HyperKitty, as the inventory counts it (the old host's tree is
    the live one: the inventory read after the freeze counts what the final sync copied), and
    the web through the real httpd in front of the real Postorius and HyperKitty: the old
    Mailman 2 pages redirect to them, a private archive's article to its message, the public
    archives answer as they did, the static files are served."""
    steps = {r["step"]: r for r in _journal(plan) if r.get("event") == "done"}
    archived = [a for a in inv.archives if a.mbox_path and a.messages]
    if archived:
        assert "new-archives" in steps, sorted(steps)
    for a in archived:
        summary = json.loads(w["new"].run(f"cat {HK_IMPORT}/{a.list_name}.json").stdout)
        # the prepared copy holds exactly the inventory's posts, month by month
        assert summary["messages"] == a.messages, (a.list_name, summary["messages"])
        assert summary["inspection_months"] == {m.month: m.messages for m in a.months}
        # and HyperKitty holds every one of them in its month (the plan's own check)
        check = w["new"].run(f"su -s /bin/sh _mailmanweb -c 'cd {WEB_DATA} && "
                             f"{WEB_VENV}/bin/python /usr/local/libexec/mailman3-archive/"
                             f"hyperkitty_archive.py check {HK_IMPORT}/{a.list_name}.json "
                             f"--list {a.list_name}@{_host_of(inv, a.list_name)}'",
                             check=False)
        assert check.returncode == 0 and "all " in check.stdout, check.stdout + check.stderr
    web = re.search(r'^server "([^"]+)"', (plan / "files/new/etc/httpd.conf").read_text(),
                    re.M).group(1)
    private_archives = w["old_tree"] / "usr/local/mailman/archives/private"
    asks, wants = [], []
    for ml in inv.lists:
        address, list_id = f"{ml.name}@{ml.host_name}", f"{ml.name}.{ml.host_name}"
        prefix = re.match(r"https?://[^/]+(/.*?)/?$", ml.web_page_url or "http://x/mailman/")
        cgi = prefix.group(1).rstrip("/") + "/"
        asks += [(web, f"{cgi}listinfo/{ml.name}"), (web, f"/mailman3/lists/{list_id}/"),
                 (web, f"{cgi}admin/{ml.name}"), (web, f"{cgi}admindb/{ml.name}"),
                 (web, f"{cgi}private/{ml.name}/"), (web, f"/archives/list/{address}/"),
                 (web, f"/hyperkitty/list/{address}/")]
        wants += [(301, f"/mailman3/lists/{list_id}/"), (200, ""),
                  (301, f"/mailman3/lists/{list_id}/settings/"),
                  (301, f"/mailman3/lists/{list_id}/held_messages"),
                  (301, f"/archives/list/{address}/"),
                  (403 if ml.archive_private else 200, ""),
                  (403 if ml.archive_private else 200, "")]
        articles = sorted((private_archives / ml.name).glob("*/[0-9]*.html"))
        mid = _article_message_id(articles[0]) if articles else None
        if mid:
            sys.path.insert(0, str(plan / "files/new/mailman3/archive"))
            from hyperkitty_archive import hyperkitty_id, id_hash
            volume = articles[0].parent.name
            asks.append((web, f"{cgi}private/{ml.name}/{volume}/{articles[0].name}"))
            wants.append((301, f"/archives/list/{address}/message/"
                               f"{id_hash(hyperkitty_id(mid))}/"))
        if not ml.archive_private and articles:
            asks.append((web, f"/pipermail/{ml.name}/"))
            wants.append((200, ""))
    asks.append((web, "/static/postorius/css/style.css"))
    wants.append((200, ""))
    got = _http(w, asks)
    wrong = [(ask, have, want) for ask, have, want in zip(asks, got, wants)
             if have[0] != want[0] or not have[1].endswith(want[1])]
    assert not wrong, wrong
    # web-parity.md: no old address is missing, and every one that names a single URL (no
    # pattern) answers on the new host as a page, a redirect or a refusal, never a 404
    rows = yaml.safe_load((plan / "plan.yaml").read_text())["web_parity"]
    assert not [r for r in rows if r["status"] == "missing"]
    concrete = [(m.group(1), m.group(2) or "/") for r in rows
                if (m := re.fullmatch(r"http://([^/*\s]+)(/[^*\s]*)?", r["url"]))
                and not re.search(r"VOLUME|NNNNNN", r["url"])]
    answered = _http(w, concrete)
    dead = [(url, have) for url, have in zip(concrete, answered)
            if have[0] not in (200, 301, 302, 403)]
    assert not dead, dead
    print(f"web: {len(asks)} addresses answer as planned, {len(concrete)} of web-parity.md "
          f"answer; archives: "
          f"{sum(a.messages for a in archived)} posts of {len(archived)} lists in HyperKitty")


def _host_of(inv, name: str) -> str:
    return next(ml.host_name for ml in inv.lists if ml.name == name)


@pytest.mark.parametrize("sample_world", [s for s in SAMPLES_E2E if s != SMALL],
                         indirect=True, ids=lambda s: s.name)
def test_every_sample_cuts_over_to_mailman3(sample_world):
    """Every sample cuts over to Mailman 3 (the small one is the test above): its real Exim
    configuration (as the world adapts it: tests/test_cutover_e2e.py ``_adapt_exim``) and its
    real Mailman 2 lists on the old host, the plan's freeze, forward route and final sync
    there; on the new host the real OpenSMTPD and the real Mailman 3 with every list
    imported. Posts to every list before the cutover reach its members from the old host,
    posts sent to the main list from the freeze on and posts to every list after the switch
    reach them from Mailman 3, each exactly once; every list's members in Mailman 3 are the
    inventory's, and smtpd's list table holds every list's addresses. One sample's cutover
    (KILLED) dies once in every step and is resumed from the journal each time, with the
    same outcome."""
    w = sample_world
    _decide(w)
    # the web pages over HTTP only: no ACME server here to sign a certificate
    plan = _plan(w, destination="mailman3", tls="none")
    lists = w["recipients_of"]  # list address -> who receives its posts
    tags = {address: "abcdefghijklmnopqrstuvwxyz"[i] for i, address in enumerate(sorted(lists))}
    main = f"{w['sample'].list}@{w['sample'].domain}"
    before = [_start_sender(w, BEFORE, f"b{tag}", address) for address, tag in tags.items()]
    for proc in before:
        proc.wait(timeout=300)
    # the stream to the main list starts once the freeze is in place (the step after it)
    order = [s["id"] for s in yaml.safe_load((plan / "plan.yaml").read_text())["steps"]]
    frozen = []
    kill = w["sample"].name == KILLED
    code, log, killed_in = _run(w, plan, "--execute", "--yes", kill_each=kill, on_start={
        order[order.index(FREEZE_STEP) + 1]:
            lambda: frozen.append(_start_sender(w, FROZEN, "f", main))})
    assert code == 0, (log[-4000:] + _diagnostics(w)
                       + "\n--- journal\n" + "\n".join(map(str, _journal(plan)[-4:])))
    print("; ".join(re.findall(r"^(?:freeze window: [^\n]*|cutover done in \d+ s)", log, re.M)))
    if kill:
        mid = [s for s in killed_in if s != "between"]
        print(f"{len(killed_in)} kills, {len(mid)} inside a running step: {', '.join(mid)}")
        assert len(killed_in) == len(order), killed_in
        assert log.count("skip ") >= len(killed_in)  # each resume went on from the journal
    after = [_start_sender(w, AFTER, f"z{tag}", address) for address, tag in tags.items()]
    for proc in [*frozen, *after]:
        proc.wait(timeout=600)
    for address, tag in tags.items():
        by_host = _check_posts(w, {f"b{tag}": BEFORE}, lists[address])
        assert sorted(by_host["old"]) == list(range(1, BEFORE + 1)), (address, by_host)
        by_host = _check_posts(w, {f"z{tag}": AFTER}, lists[address])
        assert sorted(by_host["new"]) == list(range(1, AFTER + 1)), (address, by_host)
    by_host = _check_posts(w, {"f": FROZEN}, lists[main])
    assert sorted(by_host["new"]) == list(range(1, FROZEN + 1)), by_host
    # every list in Mailman 3: its members are the inventory's, regular and digest (the
    # case of an address as either shows it: tests/test_mailman3_import.py)
    inv = _inventory(w["old_tree"])

    def folded(addresses: list[str]) -> list[str]:
        return sorted(a.lower() for a in addresses)
    for ml in inv.lists:
        address = f"{ml.name}@{ml.host_name}"
        regular = _as_mm3(w, f"members -e --regular {address}").stdout.split()
        digest = _as_mm3(w, f"members -e --digest any {address}").stdout.split()
        assert (folded(regular), folded(digest)) == (folded(ml.members.regular),
                                                     folded(ml.members.digest)), address
    table = w["new"].run(f"cat {SMTPD_LIST_TABLE}").stdout.split()
    assert table[0] == TABLE_SENTINEL and len(table) == 1 + 9 * len(inv.lists), table
    _check_archives_and_web(w, plan, inv)
    print(f"{w['sample'].name}: {len(lists)} lists cut over to Mailman 3; "
          f"{sum(len(r) for r in lists.values())} recipients")

