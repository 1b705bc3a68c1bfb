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
plan.

With the list ``users`` imported (import21 with the plan's charset), the same files carry a
member's post to every regular member once (Mailman 3 sends to the sink), a ``-request``
command to its reply and a nonmember's post into the held queue, as the list says."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import uuid
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from conftest import SAMPLES, ensure_user, smtpd_binary, wait_until
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
from emitters.mailman3.paths import MM3_TABLE, MM3_USER, SMTPD_LIST_TABLE, TABLE_SENTINEL

V6 = "2001:db8:50::25"
LISTS = SAMPLES / "netsight" / "usr" / "local" / "mailman" / "lists"
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
    ensure_user(name, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin")


@dataclass
class Site:
    """The emitted conf run by smtpd, Mailman 3 with its runners, the sink."""

    smtpd: object
    mm: Mailman3
    sink: Path
    table: Path  # smtpd's list table, as the hook writes it
    expected: dict[str, tuple[str, str]]

    def sent(self) -> list[dict]:
        """What Mailman sent, one record per SMTP transaction."""
        text = self.sink.read_text() if self.sink.exists() else ""
        return [json.loads(line) for line in text.splitlines()]

    def settled(self) -> bool:
        return not any(any((self.mm.var / "queue" / q).glob("*.pck"))
                       for q in ("in", "pipeline", "command", "virgin", "out"))


@pytest.fixture(scope="module")
def site(plan) -> Iterator[Site]:
    mailman3_bin(), need_daemon()  # skip before making anything
    inv, target, result = plan
    files = result.files
    conf = files["files/new/etc/mail/smtpd.conf"]
    assert "tls" not in conf and f"table listmanager file:{SMTPD_LIST_TABLE}" in conf
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
        for ml, host in lists_in_mailman3(inv, target):
            mm.create(f"{ml.name}@{host}")
            if ml.name == "users":  # imported as the plan's script does, with its charset
                mm.import21(f"users@{host}", LISTS / "users" / "config.pck",
                            charset=ml.features.charset)
        with ExitStack() as stack:
            d = stack.enter_context(smtpd_running(
                conf, addresses=(f"{V6}/128", f"{SINK}/128"), binds={"/etc/mail": str(etc)}))
            pidfile.write_text(str(d.proc.pid))
            sink = stack.enter_context(d.sink(SINK))
            stack.enter_context(mm.start(["nsenter", "--target", str(d.proc.pid), "--net"]))
            yield Site(d, mm, sink, etc / "mailman3-lists", _expected(inv, target))
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_the_hook_filled_smtpds_list_table(site, plan):
    """Mailman 3 ran the plan's hook as it created each list: smtpd's list table holds every
    list's posting address after the table's first entry."""
    inv, target, _ = plan
    table = site.table.read_text().split()
    assert table[0] == TABLE_SENTINEL
    assert {f"{ml.name}@{host}" for ml, host in lists_in_mailman3(inv, target)} <= set(table)


def test_every_old_list_address_reaches_mailman3_as_its_new_address(site):
    d, mm, expected = site.smtpd, site.mm, site.expected
    assert len(expected) > 40 and any("-admin@" in old for old in expected)
    assert any(old.split("@")[1] != new.split("@")[1] for old, (new, _) in expected.items())
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


def test_unknown_and_foreign_addresses_are_refused_at_rcpt(site):
    for address in ("no-such-list@lists.netsight.example",
                    "announce-bogus@lists.netsight.example"):
        reply = site.smtpd.send(address, client=REMOTE)
        assert not reply.accepted and reply.rcpt_code(address) in ("524", "550"), \
            reply.transcript
    foreign = site.smtpd.send("someone@elsewhere.example", client=REMOTE)
    assert not foreign.accepted  # not an open relay


def _users(site: Site) -> tuple[str, list[str], list[str], dict]:
    """The imported list's address, its regular members receiving mail, everyone else on it,
    and a member who posts."""
    address = next(a for a in site.mm.probe([]) if a.startswith("users@"))
    members = site.mm.probe([])[address]["members"]
    regular = [m["email"].lower() for m in members
               if m["mode"] == "regular" and m["status"] == "enabled"]
    others = [m["email"].lower() for m in members if m["email"].lower() not in regular]
    poster = next(m for m in members if m["mode"] == "regular" and m["status"] == "enabled"
                  and m["own_postings"] and not m["acknowledge"])
    return address, regular, others, poster


def _settle(site: Site) -> None:
    wait_until(site.settled, 60, "Mailman's queues to empty", every=0.2,
               diagnose=lambda: site.mm.log())


def test_a_members_post_reaches_every_regular_member_once(site):
    address, regular, others, poster = _users(site)
    assert len(regular) > 10 and others  # digest and disabled members too
    subject = f"post {uuid.uuid4().hex}"
    reply = site.smtpd.send(address, sender=poster["email"], client=REMOTE,
                            extra=("--header", f"Subject: {subject}"))
    assert reply.accepted, reply.transcript

    def got() -> Counter:
        return Counter(r.lower() for rec in site.sent() if subject in rec["subject"]
                       for r in rec["rcpts"])
    wait_until(lambda: set(got()) >= set(regular), 90, "every regular member to get the post",
               every=0.2, diagnose=lambda: site.mm.log() + site.mm.log("smtp")[-3000:])
    _settle(site)
    assert got() == Counter(regular)
    assert not set(got()) & set(others)


def test_a_request_command_gets_its_reply(site):
    address, _, _, poster = _users(site)
    sender = poster["email"].lower()
    request = address.replace("users@", "users-request@")
    reply = site.smtpd.send(request, sender=sender, client=REMOTE, body="help",
                            extra=("--header", "Subject: help"))
    assert reply.accepted, reply.transcript
    wait_until(lambda: any(sender in [r.lower() for r in rec["rcpts"]]
                           and "results of your email commands" in rec["subject"].lower()
                           for rec in site.sent()), 60, "the reply to the command",
               every=0.2, diagnose=lambda: site.mm.log())


def test_a_nonmembers_post_is_held(site):
    address, *_ = _users(site)
    before = site.mm.held(address)
    subject = f"stranger {uuid.uuid4().hex}"
    reply = site.smtpd.send(address, sender="stranger@client.example", client=REMOTE,
                            extra=("--header", f"Subject: {subject}"))
    assert reply.accepted, reply.transcript
    wait_until(lambda: site.mm.held(address) == before + 1, 60, "the post to be held",
               every=0.2, diagnose=lambda: site.mm.log())
    _settle(site)
    assert not [rec for rec in site.sent() if subject in rec["subject"]]  # to no member
