"""The emitted smtpd.conf and aliases, run unchanged by the real OpenSMTPD daemon: every list
address on every moved domain reaches the real Mailman 2.1 with the right command, through its
mail wrapper run as the daemon's own user (so past Mailman's group check); unknown addresses and
foreign domains are refused.

The daemon is Debian's OpenSMTPD 6.8 in a private mount and network namespace
(tests/smtpdtools.py); the new host's address is added to that namespace's loopback, and the
plan's aliases file and a copy of the real Mailman built in the OpenBSD package's layout
(tests/mailmantools.py, "openbsd": mail group ``opensmtpd``, holding the sample's lists) are
shown at the absolute paths the files name. OpenBSD's smtpd runs pipes as _smtpd; here the
daemon user is opensmtpd. Each address gets its own message; the test reads back, from
Mailman's own queue files, which queue and which command flag the wrapper gave each one.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import pytest

from conftest import SAMPLES
from mailmantools import python_of
from emitters.mailman2.paths import MM_PREFIX, MM_VAR
from migrate.core.mailman2 import ADDRESSES as MAILMAN_ADDRESSES
from migrate.app.inspection import inspect_tree
from migrate.core.model import Origin
from migrate.app.planning import build_plan, resolve_target
from migrate.app.sources import LocalTree
from smtpdtools import smtpd_running
from test_mailman_newhost import NewHost

V6 = "2001:db8:50::25"

#: Where Mailman 2.1.26 queues what each of the wrapper's commands receives, and the flag it
#: sets in the entry's metadata (its scripts/post, owner, request, confirm, join, leave and
#: bounces; scripts/Makefile.in installs admin as bounces, subscribe as join, unsubscribe as
#: leave).
REAL_QUEUE = {
    "post": ("in", "tolist"), "owner": ("in", "toowner"),
    "request": ("commands", "torequest"), "confirm": ("commands", "toconfirm"),
    "join": ("commands", "tojoin"), "subscribe": ("commands", "tojoin"),
    "leave": ("commands", "toleave"), "unsubscribe": ("commands", "toleave"),
    "bounces": ("bounces", None), "admin": ("bounces", None),
}

#: Mailman's queue entries as JSON lines, read by the build's Python 2 (an entry is two
#: pickles: the message text, then the metadata dict the script wrote).
READ_QUEUES = r'''
import cPickle, json, os, sys
qfiles = sys.argv[1]
for queue in sorted(os.listdir(qfiles)):
    folder = os.path.join(qfiles, queue)
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".pck"):
            continue
        with open(os.path.join(folder, name), "rb") as fp:
            text, data = cPickle.load(fp), cPickle.load(fp)
        if not isinstance(text, str):
            text = text.as_string()
        tags = [l[5:].strip() for l in text.splitlines() if l.startswith("addr=")]
        flags = sorted(k for k, v in data.items() if k.startswith("to") and v)
        print(json.dumps({"queue": queue, "list": data.get("listname"), "flags": flags,
                          "addr": tags[0] if tags else None}))
'''


@pytest.fixture(scope="module")
def plan():
    inv = inspect_tree(LocalTree(SAMPLES / "netsight"), Origin("local", "/samples/netsight"))
    target = resolve_target(inv, {"tls_certificate": None, "tls_key": None},
                            {"hostname": "lists.netsight.example", "ipv6": [V6],
                             "destination": "mailman2"})
    return inv, build_plan(inv, target)


def test_every_list_address_reaches_the_real_mailman(plan, tmp_path):
    inv, result = plan
    conf = result.files["files/new/etc/mail/smtpd.conf"]
    mail = {rel.rsplit("/", 1)[1]: text for rel, text in result.files.items()
            if rel.startswith("files/new/etc/mail/") and not rel.endswith("smtpd.conf")}
    assert set(mail) == {"aliases", "virtual", "handback", "recipients"}
    assert "tls" not in conf  # no certificate in this variant; the config runs as emitted
    # the new host's Mailman with the sample's lists (the OpenBSD layout; see the docstring)
    host = NewHost(tmp_path / "mailman", "openbsd")
    spool = host.base / "root" / MM_VAR.lstrip("/")
    for ml in inv.lists:
        shutil.copytree(SAMPLES / "netsight/usr/local/mailman/lists" / ml.name,
                        spool / "lists" / ml.name)
    res = host.run(f"chown -R mailman:mailman {MM_VAR}/lists && {MM_PREFIX}/bin/check_perms -f")
    assert res.returncode == 0, res.stderr
    # every list on the domain it is hosted on; lists.riverbend.example is a virtual domain
    # (the old per-domain alias file) and keeps only its own list, devtalk
    expected = {f"{ml.name}{suffix}@{ml.host_name}": (ml.name, command) for ml in inv.lists
                for suffix, command in MAILMAN_ADDRESSES}
    expected.update({f"announce{suffix}@lists.netsight.example": ("announce", command)
                     for suffix, command in MAILMAN_ADDRESSES})
    with smtpd_running(conf, files=mail, addresses=(f"{V6}/128",),
                       binds={"/etc/mail/aliases": "aliases", "/etc/mail/virtual": "virtual",
                              "/etc/mail/handback": "handback",
                              "/etc/mail/recipients": "recipients",
                              MM_PREFIX: str(host.base / "root" / MM_PREFIX.lstrip("/")),
                              MM_VAR: str(spool)}) as smtpd:
        for address in sorted(expected):  # one message each: the queue entry names it
            reply = smtpd.send(address, client="127.0.0.2", body=f"addr={address}")
            assert reply.accepted, reply.transcript
        deadline = time.monotonic() + 120
        entries: list[dict] = []
        while time.monotonic() < deadline:
            proc = subprocess.run([str(python_of("openbsd")), "-c", READ_QUEUES,
                                   str(spool / "qfiles")], capture_output=True, text=True,
                                  timeout=60)
            assert proc.returncode == 0, proc.stderr
            entries = [json.loads(line) for line in proc.stdout.splitlines()]
            if len(entries) >= len(expected) and smtpd.wait(timeout=1):
                break
            time.sleep(0.5)
        assert not smtpd.queue().strip(), smtpd.queue()  # nothing deferred (a group mismatch)
        got = {e["addr"]: (e["queue"], e["list"], e["flags"]) for e in entries}
        assert len(got) == len(entries), entries  # each address queued once
        want = {addr: (REAL_QUEUE[command][0], name,
                       [REAL_QUEUE[command][1]] if REAL_QUEUE[command][1] else [])
                for addr, (name, command) in expected.items()}
        assert got == want
        errors = spool / "logs" / "error"
        assert "Group mismatch" not in (errors.read_text(errors="replace")
                                        if errors.exists() else "")
        unknown = smtpd.send("no-such-list@lists.netsight.example", client="127.0.0.2")
        assert not unknown.accepted and "550" in unknown.transcript
        foreign = smtpd.send("someone@elsewhere.example", client="127.0.0.2")
        assert not foreign.accepted  # not an open relay
        # the virtual domain takes its own addresses only, as its alias file did
        other = smtpd.send("announce@lists.riverbend.example", client="127.0.0.2")
        assert not other.accepted and other.rcpt_code("announce@lists.riverbend.example") \
            in ("524", "550")
        post = smtpd.send("postmaster@lists.riverbend.example", client="127.0.0.2")
        assert post.accepted  # handed back to the old host, which delivers it as before
