"""The emitted smtpd.conf and aliases, run unchanged by the real OpenSMTPD daemon: every list
address on every moved domain reaches Mailman's wrapper with the right command, as the daemon's
own user; unknown addresses and foreign domains are refused.

The daemon is Debian's OpenSMTPD 6.8 in a private mount and network namespace
(tests/smtpdtools.py); the new host's address is added to that namespace's loopback, and the
plan's aliases file and a stand-in for the mailman package's wrapper (which records what it was
called with: Mailman 2 itself needs Python 2 and cannot run here) are shown at the absolute
paths the files name. OpenBSD's smtpd runs pipes as _smtpd; here the daemon user is opensmtpd.
"""

from __future__ import annotations

import pwd
import time

import pytest

from conftest import SAMPLES
from migrate.emitters.common import MAILMAN_ADDRESSES, MM_WRAPPER
from migrate.inspection import inspect_tree
from migrate.model import Origin
from migrate.planning import build_plan, resolve_target
from migrate.sources import LocalTree
from smtpdtools import smtpd_running

V6 = "2001:db8:50::25"

WRAPPER = """#!/bin/sh
tag=$(echo "$*" | tr ' ' _)
# the message first, then the id file the test waits for, each under a temp name and renamed:
# the test never reads half a file (seen under load: an empty id file)
cat > @OUT@/m.$$ && mv @OUT@/m.$$ @OUT@/msg.$tag
{ echo "uid=$(id -u) gid=$(id -g)"; echo "args=$*"; } > @OUT@/i.$$ && mv @OUT@/i.$$ @OUT@/id.$tag
"""


@pytest.fixture(scope="module")
def plan():
    inv = inspect_tree(LocalTree(SAMPLES / "netsight"), Origin("local", "/samples/netsight"))
    target = resolve_target(inv, {"tls_certificate": None, "tls_key": None},
                            {"hostname": "lists.netsight.example", "ipv6": [V6]})
    return inv, build_plan(inv, target)


def test_every_list_address_reaches_the_wrapper(plan):
    inv, result = plan
    conf = result.files["files/new/etc/mail/smtpd.conf"]
    mail = {rel.rsplit("/", 1)[1]: text for rel, text in result.files.items()
            if rel.startswith("files/new/etc/mail/") and not rel.endswith("smtpd.conf")}
    assert set(mail) == {"aliases", "virtual"}
    assert "tls" not in conf  # no certificate in this variant; the config runs as emitted
    # every list on the domain it is hosted on; lists.riverbend.example is a virtual domain
    # (the old per-domain alias file) and keeps only its own list, devtalk
    addresses = [f"{ml.name}{suffix}@{ml.host_name}" for ml in inv.lists
                 for suffix, _ in MAILMAN_ADDRESSES]
    addresses += [f"announce{suffix}@lists.netsight.example" for suffix, _ in MAILMAN_ADDRESSES]
    with smtpd_running(conf, files=mail, scripts={"wrapper": WRAPPER},
                       addresses=(f"{V6}/128",),
                       binds={"/etc/mail/aliases": "aliases", "/etc/mail/virtual": "virtual",
                              MM_WRAPPER: "wrapper"}) as smtpd:
        reply = smtpd.send(*addresses, client="127.0.0.2")  # a remote sender
        assert reply.accepted, reply.transcript
        expected = {f"{command}_{ml.name}" for ml in inv.lists
                    for _, command in MAILMAN_ADDRESSES}
        deadline = time.monotonic() + 30
        out = smtpd.tmp / "out"
        while time.monotonic() < deadline:
            seen = {p.name[3:] for p in out.glob("id.*")}
            if seen >= expected:
                break
            time.sleep(0.2)
        assert seen == expected, sorted(expected - seen)
        daemon = pwd.getpwnam("opensmtpd")
        for tag in expected:
            ident = (out / f"id.{tag}").read_text()
            assert f"uid={daemon.pw_uid} gid={daemon.pw_gid}" in ident
            assert "Subject: test" in (out / f"msg.{tag}").read_text()
        unknown = smtpd.send("no-such-list@lists.netsight.example", client="127.0.0.2")
        assert not unknown.accepted and "550" in unknown.transcript
        foreign = smtpd.send("someone@elsewhere.example", client="127.0.0.2")
        assert not foreign.accepted  # not an open relay
        # the virtual domain takes its own addresses only, as its alias file did
        other = smtpd.send("announce@lists.riverbend.example", client="127.0.0.2")
        assert not other.accepted and other.rcpt_code("announce@lists.riverbend.example") \
            in ("524", "550")
        post = smtpd.send("postmaster@lists.riverbend.example", client="127.0.0.2")
        assert post.accepted  # forwarded to hostmaster@netsight.example as before
