"""The moved domains' addresses that are not lists': handed back to the old host while it stays,
carried when it goes, refused with the old host's own code class and text.

The inventory is netsight's with a few more addresses of the kinds the issue names, on the
moved domains: ``security`` (an alias to a local mailbox), ``webmaster`` (an alias to two
addresses of other hosts), a catch-all on the virtual domain, a ``:fail:`` and a ``:defer:``
entry with texts. What the plan does with each is checked on the plan's own files; the real
OpenSMTPD then answers each address with the emitted configuration (relaying the handed-back
ones to a stand-in for the old host at its address, in the daemon's private network
namespace), and the real Exim, with the emitted forward router inserted first, routes the
kept addresses and mail handed back past it (no loop).
"""

from __future__ import annotations

import json
import re
import shutil

import pytest

from conftest import SAMPLES, wait_until
from eximtools import bt_leaves, ensure_users as ensure_exim_users, exim, with_homes
from eximtools import world_tmp  # noqa: F401 (a fixture)
from emitters.mailman2.paths import MM_WRAPPER
from migrate.app.inspection import inspect_tree
from migrate.app.planning import build_plan, resolve_target
from migrate.app.sources import LocalTree
from migrate.core.model import (AcceptedAddress, AcceptedKind, Origin, Recipient, RecipientKind,
                                RefusedAddress, Source)
from smtpdtools import check_config, smtpd_running
from test_parity_delivery import WRAPPER  # the recording stand-in for Mailman's wrapper

NEW = "2001:db8:50::25"
OLD = "2001:db8:40::25"  # netsight's em0 address: where the plan hands mail back
LISTS = "lists.netsight.example"
VIRTUAL = "lists.riverbend.example"
ALIASES = "/etc/mail/aliases"
HILL = "lists.hillcrest.example"
ALUMNI = "alumni.hillcrest.example"
CONFIGURE = "/usr/local/etc/exim/configure"


def _inventory():
    inv = inspect_tree(LocalTree(SAMPLES / "netsight"), Origin("local", "/samples/netsight"))
    inv.mta.accepted += [
        AcceptedAddress("security", LISTS, AcceptedKind.ALIAS,
                        [Recipient(RecipientKind.MAILBOX, "root", "router localuser")],
                        "system_aliases", Source(ALIASES, 90)),
        AcceptedAddress("webmaster", LISTS, AcceptedKind.ALIAS,
                        [Recipient(RecipientKind.ADDRESS, "alice@example.org"),
                         Recipient(RecipientKind.ADDRESS, "bob@example.org")],
                        "system_aliases", Source(ALIASES, 91)),
        AcceptedAddress("*", VIRTUAL, AcceptedKind.CATCH_ALL,
                        [Recipient(RecipientKind.ADDRESS, "catch@example.org")],
                        "virtual_aliases", Source("/usr/local/etc/exim/virtual/" + VIRTUAL, 9)),
    ]
    inv.mta.refused += [
        RefusedAddress("old-news", LISTS, "rejected", "This list moved to news@example.org",
                       "system_aliases", Source(ALIASES, 92)),
        RefusedAddress("later", LISTS, "deferred", "Mailbox being moved", "system_aliases",
                       Source(ALIASES, 93)),
    ]
    return inv


def _plan(inv=None, openbsd="7.8", **settings):
    inv = inv or _inventory()
    target = resolve_target(inv, {"tls_certificate": None, "tls_key": None, **settings},
                            {"hostname": "new.netsight.example", "ipv6": [NEW],
                             "openbsd": openbsd, "destination": "mailman2"})
    return build_plan(inv, target)


def _rows(plan, section):
    return {r["address"]: r for r in plan.parity if r["section"] == section}


def test_while_the_old_host_stays_its_other_addresses_are_handed_back_to_it():
    plan = _plan()
    back = plan.files["files/new/etc/mail/handback"]
    # netsight's own postmaster of the virtual domain, and the two added here
    assert [line for line in back.splitlines() if line and not line.startswith("#")] == [
        f"postmaster@{VIRTUAL}", f"security@{LISTS}", f"webmaster@{LISTS}"]
    conf = plan.files["files/new/etc/mail/smtpd.conf"]
    assert f'action "handback" relay host "smtp://[{OLD}]"' in conf
    matches = [line for line in conf.splitlines() if line.startswith("match ")]
    # the hand-back rules come before the rules that deliver the moved domains
    assert matches[:3] == [
        'match from any for domain <listdomains> rcpt-to <handback> action "handback"',
        'match from any for domain <virtualdomains> rcpt-to <handback> action "handback"',
        'match from any for domain <handbackdomains> !rcpt-to <handbackkeep> action "handback"']
    # the new host's own webmaster alias does not shadow the old one on the moved domain
    rows = _rows(plan, "other")
    assert {a for a, r in rows.items() if r["status"] == "handed back"} == {
        f"security@{LISTS}", f"webmaster@{LISTS}", f"*@{VIRTUAL}", f"postmaster@{VIRTUAL}"}
    assert not [f for f in plan.findings if f.id == "plan.address-lost"]
    parity = plan.files["parity.md"]
    assert "## Lists" in parity and "## Everything else" in parity
    assert "0 addresses lost" in parity


def test_the_old_forward_router_leaves_the_kept_addresses_to_the_old_routers():
    router = _plan().files["files/old/exim-forward-router.conf"]
    kept = f"postmaster@{VIRTUAL} ; security@{LISTS} ; webmaster@{LISTS}"
    lists = " ; ".join(sorted(f"devtalk{s}@{VIRTUAL}" for s in (
        "", "-admin", "-bounces", "-confirm", "-join", "-leave", "-owner", "-request",
        "-subscribe", "-unsubscribe")))
    assert ("  condition = ${if or{{match_address{$local_part@$domain}{<; " + kept + "}}"
            "{and{{match_domain{$domain}{<; " + VIRTUAL + "}}"
            "{!match_address{$local_part@$domain}{<; " + lists + "}}}}}{no}{yes}}") in router
    # nothing kept: the router forwards everything, as before
    assert "condition" not in _plan(old_host_stays=False).files[
        "files/old/exim-forward-router.conf"]


def test_when_the_old_host_goes_aliases_to_other_hosts_are_carried_and_mailboxes_are_blockers():
    plan = _plan(old_host_stays=False)
    assert "files/new/etc/mail/handback" not in plan.files
    aliases = plan.files["files/new/etc/mail/aliases"]
    # the old recipients win over the new host's own "webmaster: root"
    assert re.search(r"^webmaster:\s+alice@example\.org, bob@example\.org$", aliases, re.M)
    assert not re.search(r"^webmaster:\s+root$", aliases, re.M)
    assert f"@{VIRTUAL}" in plan.files["files/new/etc/mail/virtual"]
    rows = _rows(plan, "other")
    assert rows[f"webmaster@{LISTS}"]["status"] == "carried"
    assert rows[f"*@{VIRTUAL}"]["status"] == "carried"
    assert rows[f"security@{LISTS}"]["status"] == "lost"
    # netsight's postmaster of the virtual domain ends in a mailbox on the old host too
    lost = {f.message.split()[0]: f for f in plan.findings if f.id == "plan.address-lost"}
    assert sorted(lost) == [f"postmaster@{VIRTUAL}", f"security@{LISTS}"]
    assert {f.severity for f in lost.values()} == {"blocker"}
    assert lost[f"security@{LISTS}"].source.line == 90
    assert "2 addresses lost" in plan.files["parity.md"]


def test_an_address_named_in_drop_addresses_is_dropped_without_a_blocker():
    plan = _plan(old_host_stays=False, drop_addresses=[f"security@{LISTS}"])
    assert _rows(plan, "other")[f"security@{LISTS}"]["status"] == "dropped by choice"
    assert [f.message.split()[0] for f in plan.findings if f.id == "plan.address-lost"] == [
        f"postmaster@{VIRTUAL}"]


def test_no_address_to_hand_back_to_is_a_blocker_for_each_address():
    inv = _inventory()
    inv.host.addresses = [a for a in inv.host.addresses if a.family != "inet6"]
    plan = _plan(inv)  # an IPv6-only new host and an old host without IPv6
    lost = {f.message.split()[0] for f in plan.findings if f.id == "plan.address-lost"}
    assert lost == {f"security@{LISTS}", f"webmaster@{LISTS}", f"*@{VIRTUAL}",
                    f"postmaster@{VIRTUAL}"}
    assert "files/new/etc/mail/handback" not in plan.files
    plan = _plan(inv, old_host_address="2001:db8:40::99")
    assert not [f for f in plan.findings if f.id == "plan.address-lost"]
    assert 'relay host "smtp://[2001:db8:40::99]"' in plan.files["files/new/etc/mail/smtpd.conf"]


def test_refusals_keep_their_code_class_and_text_where_the_release_has_filters():
    conf = _plan().files["files/new/etc/mail/smtpd.conf"]
    assert 'reject "451 4.3.0 Mailbox being moved"' in conf
    assert 'reject "550 5.1.1 This list moved to news@example.org"' in conf
    rows = _rows(_plan(), "other")
    assert rows[f"later@{LISTS}"]["status"] == "deferred"
    # 6.5 has no filters: the deferral becomes a refusal for good, and parity says so
    plan = _plan(openbsd="6.5")
    assert "filter" not in plan.files["files/new/etc/mail/smtpd.conf"]
    assert _rows(plan, "other")[f"later@{LISTS}"]["status"] == "changed"


def test_a_refusal_text_that_smtpd_conf_cannot_quote_gets_a_plain_one():
    inv = _inventory()
    inv.mta.refused[-1].message = 'moved: "see $HOME" \\ there'
    conf = _plan(inv).files["files/new/etc/mail/smtpd.conf"]
    assert 'reject "451 4.3.0 Please try again later"' in conf
    assert "$HOME" not in conf


def test_the_accept_grammar_hands_back_too():
    conf = _plan(openbsd="6.3").files["files/new/etc/mail/smtpd.conf"]
    lines = [line for line in conf.splitlines() if line.startswith("accept ")]
    via = f'relay via "smtp://[{OLD}]"'
    # a catch-all domain's own addresses first, then what goes back, then the lists
    assert lines[0].startswith("accept from any for domain <virtualdomains> recipient "
                               "<handbackkeep> virtual <virtuals>")
    assert f"accept from any for domain <listdomains> recipient <handback> {via}" in lines
    assert f"accept from any for domain <handbackdomains> {via}" in lines
    assert lines.index(f"accept from any for domain <handbackdomains> {via}") < lines.index(
        "accept from any for domain <listdomains> alias <aliases> deliver to mbox")


def test_the_emitted_configuration_passes_smtpd_n():
    plan = _plan()
    files = {name.rsplit("/", 1)[1]: text for name, text in plan.files.items()
             if name.startswith("files/new/etc/mail/") and not name.endswith("smtpd.conf")}
    conf = plan.files["files/new/etc/mail/smtpd.conf"]
    for name in files:
        conf = conf.replace(f"/etc/mail/{name}", f"@TMP@/{name}")
    proc = check_config(conf, files)
    assert proc.returncode == 0, proc.stderr


def test_the_real_smtpd_answers_each_address_as_the_plan_says():
    plan = _plan()
    files = plan.files
    conf = files["files/new/etc/mail/smtpd.conf"]
    mail = {rel.rsplit("/", 1)[1]: text for rel, text in files.items()
            if rel.startswith("files/new/etc/mail/") and not rel.endswith("smtpd.conf")}
    binds = {f"/etc/mail/{name}": name for name in mail}
    binds[MM_WRAPPER] = "wrapper"
    with smtpd_running(conf, files=mail, scripts={"wrapper": WRAPPER},
                       addresses=(f"{NEW}/128", f"{OLD}/128"), binds=binds) as smtpd, \
            smtpd.sink(OLD) as old:
        for address in (f"security@{LISTS}", f"Webmaster@{LISTS}", f"nosuch-x7@{VIRTUAL}"):
            reply = smtpd.send(address, client="127.0.0.2", body=f"probe {address}")
            assert reply.accepted, (address, reply.transcript)
        for unknown in (f"nosuch-x7@{LISTS}", f"daemon@{LISTS}", f"www@{LISTS}"):
            # refused at RCPT, as on the old host: also a name of one of this host's accounts
            reply = smtpd.send(unknown, client="127.0.0.2")
            assert reply.rcpt_code(unknown) == "550", reply.transcript
        reply = smtpd.send(f"old-news@{LISTS}", client="127.0.0.2")
        assert reply.rcpt_code(f"old-news@{LISTS}") == "550", reply.transcript
        assert "This list moved to news@example.org" in reply.transcript
        reply = smtpd.send(f"later@{LISTS}", client="127.0.0.2")
        assert reply.rcpt_code(f"later@{LISTS}") == "451", reply.transcript
        assert "Mailbox being moved" in reply.transcript
        reply = smtpd.send(f"devtalk@{VIRTUAL}", client="127.0.0.2", body="probe list")
        assert reply.accepted, reply.transcript  # the catch-all domain's list stays here

        def relayed() -> list[dict]:
            if not old.exists():
                return []
            return [json.loads(line) for line in old.read_text().splitlines()]
        wait_until(lambda: len(relayed()) >= 3, 60, "three messages at the old host",
                   diagnose=smtpd.log)
        got = sorted(r for m in relayed() for r in m["rcpts"])
        assert got == sorted([f"nosuch-x7@{VIRTUAL}", f"security@{LISTS}",
                              f"webmaster@{LISTS}"])
        wait_until(lambda: any("probe list" in p.read_text() for p in smtpd.out.glob("call.*")
                               if not p.name.endswith(".tmp")), 60, "the list's delivery",
                   diagnose=smtpd.log)


def test_the_real_exim_keeps_what_is_handed_back_and_forwards_the_rest(world_tmp):  # noqa: F811
    """hillcrest as it is: the emitted forward router first in its Exim configuration. A kept
    address is delivered by the old routers as before, also when it came back from the new
    host; what a kept alias redirects to a list goes on to the new host; a catch-all domain's
    list addresses are forwarded, its other local parts kept."""
    root = SAMPLES / "hillcrest"
    inv = inspect_tree(LocalTree(root), Origin("local", "/samples/hillcrest"))
    target = resolve_target(inv, {}, {"hostname": "mlist.hillcrest.example", "ipv6": [NEW]})
    plan = build_plan(inv, target)
    back = [line for line in plan.files["files/new/etc/mail/handback"].splitlines()
            if line and not line.startswith("#")]
    assert {f"webmaster@{HILL}", f"security@{HILL}", f"bob@{HILL}", f"dave@{HILL}",
            f"reunion@{ALUMNI}"} <= set(back)
    ensure_exim_users(root)
    view = with_homes(root, world_tmp)
    (view / "usr/local/etc").unlink()
    shutil.copytree(root / "usr/local/etc", view / "usr/local/etc", symlinks=True)
    conf = view / "usr/local/etc/exim/configure"
    body = "\n".join(line for line in plan.files["files/old/exim-forward-router.conf"]
                     .splitlines() if not line.startswith("#"))
    original = conf.read_text()
    conf.write_text(original.replace("begin routers\n", f"begin routers\n{body}\n", 1))

    def leaves(*args: str) -> dict[str, set]:
        proc = exim(CONFIGURE, *args, host_root=view, timeout=120)
        out: dict[str, set] = {}
        for top, address, outcome, detail, router, _ in bt_leaves(proc.stdout):
            out.setdefault(top, set()).add((address, outcome, detail, router))
        return out
    probes = back + [f"staff@{HILL}", f"news-request@{ALUMNI}", f"nosuch-x7@{ALUMNI}"]
    with_router = leaves("-bt", *probes)
    handed = leaves("-oMa", NEW, "-bt", *back)
    conf.write_text(original)
    before = leaves("-bt", *probes)
    lists = {f"{r.address}@{r.domain}".lower() for r in inv.mta.list_routes}

    def own(found: set) -> set:  # what the old host delivers itself (a list goes on)
        return {leaf for leaf in found if leaf[0].lower() not in lists}
    for address in back + [f"nosuch-x7@{ALUMNI}"]:
        assert own(with_router[address]) == own(before[address]), address
        assert {r for a, *_, r in with_router[address] if a.lower() in lists} <= {
            "migrate_forward"}, address
        assert "migrate_forward" not in {r for *_, r in own(with_router[address])}, address
    for address in back:  # handed back from the new host: the same again
        assert handed[address] == with_router[address], address
    for address in (f"staff@{HILL}", f"news-request@{ALUMNI}"):
        assert {r for *_, r in with_router[address]} == {"migrate_forward"}, address
    # news@alumni is kept; the list address it redirects to is forwarded to the new host
    assert with_router[f"news@{ALUMNI}"] == {
        (f"alumni-news@{HILL}", "routed", "", "migrate_forward")}


@pytest.mark.parametrize("settings, said", [
    ({"old_host_address": "old.example"}, "is not an IP address"),
    ({"drop_addresses": ["not an address"]}, "is not a mail address")])
def test_bad_hand_back_settings_are_one_clear_error(settings, said):
    from migrate.core.errors import MigrateError
    with pytest.raises(MigrateError, match=said):
        _plan(**settings)


def test_the_runbook_checks_first_that_the_new_host_reaches_the_old_hosts_smtp():
    steps = {s.id: s for s in _plan().steps}
    step = steps["preflight-handback"]
    assert step.host == "new" and step.phase == "preflight"
    assert [str(c) for c in step.check] == [f"nc -z -w 10 {OLD} 25"]
    assert "preflight-handback" not in {s.id for s in _plan(old_host_stays=False).steps}
