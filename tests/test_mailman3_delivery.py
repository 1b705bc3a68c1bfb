"""The Mailman 3 plan's own mail files, run as emitted by the real OpenSMTPD, deliver every old
list address of a moved domain to the real Mailman 3 over LMTP, as the Mailman 3 address the
plan maps it to; unknown addresses and foreign domains are refused at RCPT time.

The plan is netsight's with ``--list-manager mailman3`` (no certificate, so the conf runs as
emitted): its smtpd.conf, and the folder /etc/mail it names (aliases, virtual, handback,
recipients and the list table ``mailman3-lists``) shown at /etc/mail inside smtpd's namespace
(tests/smtpdtools.py). Mailman 3 runs with its runners in smtpd's network namespace
(tests/mm3tools.py): its postmap command is the plan's own hook, its paths moved to the
test's folder and smtpctl reached through nsenter (the stand-in for doas and the control
socket, which is private to the namespace). The lists are created in Mailman 3 at the domains
the plan gives them, so the hook fills the list table as on the new host. The system user the
lmtp action names, ``_mailman3``, is made if missing (as the plan's useradd makes it).

The expected Mailman 3 address of each old address is worked out here from the old host's
routing facts (``Mta.list_routes``: every address that reached a list, with its command) and
one fact of Mailman 3 (no ``-admin``: Mailman 2's ``-admin`` was ``-bounces``), not from the
plan."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from contextlib import ExitStack
from pathlib import Path

import pytest

from conftest import SAMPLES, smtpd_binary, wait_until
from migrate.app.inspection import inspect_tree
from migrate.app.planning import build_plan, resolve_target
from migrate.app.sources import LocalTree
from migrate.core.mailman2 import ACTION_SUFFIX
from migrate.core.model import Origin
from mm3tools import Mailman3, mailman3_bin
from smtpdtools import need_daemon, smtpd_running

from emitters.common import route_action
from emitters.mailman3.lists import lists_in_mailman3
from emitters.mailman3.mailman_cfg import HOOK
from emitters.mailman3.paths import MM3_TABLE, MM3_USER, SMTPD_LIST_TABLE

V6 = "2001:db8:50::25"
#: The members' mail servers (a documentation address on the namespace's lo)
SINK = "2001:db8:ff::25"
#: Not in smtpd's <localhost>: the client looks remote ("from any" but not "from local")
REMOTE = "127.0.0.2"


@pytest.fixture(scope="module")
def plan():
    inv = inspect_tree(LocalTree(SAMPLES / "netsight"), Origin("local", "/samples/netsight"))
    target = resolve_target(inv, {"tls_certificate": None, "tls_key": None},
                            {"hostname": "lists.netsight.example", "ipv6": [V6],
                             "destination": "mailman3"})
    return inv, target, build_plan(inv, target)


def _expected(inv, target) -> dict[str, tuple[str, str]]:
    """Old address -> (its Mailman 3 address, the list), from the old host's routes."""
    moved = set(target.email_domains)
    hosts = {ml.name: host for ml, host in lists_in_mailman3(inv, target)}
    out = {}
    for route in inv.mta.list_routes:
        action = route_action(route)
        if route.domain not in moved or action is None or route.list_name not in hosts \
                or route.address == "*":
            continue
        suffix = ACTION_SUFFIX["bounces" if action == "admin" else action]
        out[f"{route.address}@{route.domain}".lower()] = (
            f"{route.list_name}{suffix}@{hosts[route.list_name]}", route.list_name)
    return out


def _ensure_user(name: str) -> None:
    if subprocess.run(["id", name], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", name], check=True, capture_output=True)


def test_every_old_list_address_reaches_mailman3_as_its_new_address(plan):
    mailman3_bin(), need_daemon()  # skip before making anything
    inv, target, result = plan
    files = result.files
    conf = files["files/new/etc/mail/smtpd.conf"]
    assert "tls" not in conf and f"table listmanager file:{SMTPD_LIST_TABLE}" in conf
    expected = _expected(inv, target)
    assert len(expected) > 40 and any("-admin@" in old for old in expected)
    assert any(old.split("@")[1] != new.split("@")[1] for old, (new, _) in expected.items())
    _ensure_user(MM3_USER)
    # not under pytest's 0700 folders: smtpd's lookup process reads the tables here
    base = Path(tempfile.mkdtemp(prefix="migrate-mm3deliver-"))
    try:
        base.chmod(0o755)
        etc = base / "etc-mail"
        etc.mkdir()
        for rel, text in files.items():
            if rel.startswith("files/new/etc/mail/") and not rel.endswith("smtpd.conf"):
                (etc / rel.rsplit("/", 1)[1]).write_text(text)
        pidfile, smtpctl = base / "smtpd.pid", base / "smtpctl"
        # the stand-in for doas + smtpctl: smtpctl in smtpd's mount namespace (its control
        # socket is there), setgid opensmtpq as it insists
        smtpctl.write_text(
            f'#!/bin/sh\n[ -s {pidfile} ] || exit 0\nexec nsenter --target "$(cat {pidfile})" '
            f'--mount setpriv --egid opensmtpq --keep-groups '
            f'{Path(smtpd_binary()).with_name("smtpctl")} "$@"\n')
        smtpctl.chmod(0o755)
        mm = Mailman3(base / "mm3", mta="postfix", smtp=(SINK, 25))
        hook = base / "hook"
        hook.write_text(files[HOOK].replace(MM3_TABLE, str(mm.lmtp_file))
                        .replace(SMTPD_LIST_TABLE, str(etc / "mailman3-lists"))
                        .replace("/usr/sbin/smtpctl", str(smtpctl)))
        hook.chmod(0o755)
        mm.set_postmap(str(hook))
        lists = {name: f"{name}@{host}" for name, host in
                 ((ml.name, h) for ml, h in lists_in_mailman3(inv, target))}
        for address in lists.values():
            mm.create(address)
        table = (etc / "mailman3-lists").read_text().split()
        assert all(a in table for a in lists.values())  # the hook filled smtpd's list table
        with ExitStack() as stack:
            d = stack.enter_context(smtpd_running(
                conf, addresses=(f"{V6}/128", f"{SINK}/128"), binds={"/etc/mail": str(etc)}))
            pidfile.write_text(str(d.proc.pid))
            stack.enter_context(d.sink(SINK))
            stack.enter_context(mm.start(["nsenter", "--target", str(d.proc.pid), "--net"]))
            for old in sorted(expected):
                reply = d.send(old, client=REMOTE, body=f"old={old}")
                assert reply.accepted, reply.transcript
            for old, (new, name) in sorted(expected.items()):
                pattern = (rf"mda delivery .* to=<{re.escape(new)}> rcpt=<{re.escape(old)}> "
                           rf".*result=Ok stat=Delivered")
                assert d.wait(pattern, timeout=60), old
                assert wait_until(lambda: f" to: {new}, list: {name}, " in mm.log("smtp"), 30,
                                  f"Mailman 3 to take {new}", diagnose=lambda: mm.log("smtp"))
            # Mailman's LMTP server never saw an address it does not answer (no -admin)
            rcpts = set(re.findall(r"RCPT TO:<([^>]*)>", mm.log("smtp")))
            assert rcpts and not [r for r in rcpts if "-admin@" in r]
            # refused at RCPT: an unknown local part of a list domain, a foreign domain
            for address in ("no-such-list@lists.netsight.example",
                            "announce-bogus@lists.netsight.example"):
                reply = d.send(address, client=REMOTE)
                assert not reply.accepted and reply.rcpt_code(address) in ("524", "550"), \
                    reply.transcript
            foreign = d.send("someone@elsewhere.example", client=REMOTE)
            assert not foreign.accepted  # not an open relay
    finally:
        shutil.rmtree(base, ignore_errors=True)
