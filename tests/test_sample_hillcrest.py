"""The hillcrest sample: a host whose own name is its list domain, where the old MTA accepted
more than list mail on the domains that move (sample_configs/README.md, "hillcrest").

The real Exim (tests/eximtools.py) routes the planted addresses: the lists to Mailman; the
role addresses of the list domain through ``system_aliases`` to the people; the people's
forward files; the catch-all of the virtual domain; ``:fail:`` and ``:defer:``. The inventory
(``migrate inspect --root``) is checked for the facts the sample plants.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
from typer.testing import CliRunner

import migrate.app.cli as cli
from conftest import SAMPLES
from eximtools import bt_blocks, bt_route, ensure_users, exim, with_homes, world_tmp  # noqa: F401
from migrate.core import codec
from migrate.core.model import EximPart

ROOT = SAMPLES / "hillcrest"
CONFIGURE = "/usr/local/etc/exim/configure"
HOST = "lists.hillcrest.example"
PEOPLE = "hillcrest.example"
ALUMNI = "alumni.hillcrest.example"
LIST_SUFFIXES = ("", "-admin", "-bounces", "-confirm", "-join", "-leave", "-owner", "-request",
                 "-subscribe", "-unsubscribe")


@pytest.fixture
def shown(world_tmp):
    """The sample as Exim sees it on the host: its users exist, its people have their homes."""
    ensure_users(ROOT)
    return with_homes(ROOT, world_tmp)


class Routed:
    """``exim -bt ADDRESS`` on the sample, alone (Exim delivers an address once per run, so
    addresses routed together hide each other's shared recipients)."""

    def __init__(self, address: str, root) -> None:
        proc = exim(CONFIGURE, "-d-all+route", "-bt", address, host_root=root)
        self.text = proc.stdout
        self.blocks = bt_blocks(proc.stdout)
        #: (router, address) for each address a router generated ("X router generated A")
        self.generated = {(m.group(1), m.group(2)) for m in
                          re.finditer(r"^(\S+) router generated (\S+)$", proc.stderr, re.M)}

    def final(self) -> list[tuple[str, str | None, str | None]]:
        """(final address, router, transport) of each recipient, sorted."""
        out = []
        for header in self.blocks:
            router, transport, _ = bt_route(self.blocks, header)
            out.append((header.split()[0], router, transport))
        return sorted(out, key=lambda t: (t[0], t[1] or "", t[2] or ""))


def truth() -> dict:
    return json.loads((SAMPLES.parent / "tests/sample_truth/hillcrest.json").read_text())


# --- the real Exim ------------------------------------------------------------------------------


def test_exim_accepts_the_configuration(shown):
    proc = exim(CONFIGURE, "-bV", host_root=shown)
    assert proc.returncode == 0, proc.stderr
    assert f"Configuration file is {CONFIGURE}" in proc.stdout


def test_list_addresses_reach_mailman(shown):
    lists = sorted(truth()["lists"])
    assert lists == ["alumni-news", "mailman", "staff"]
    addresses = [f"{name}{suffix}@{HOST}" for name in lists for suffix in LIST_SUFFIXES]
    addresses += [f"staff-bounces+x=example.org@{HOST}", f"Staff@{HOST}"]
    proc = exim(CONFIGURE, "-bt", *addresses, host_root=shown)
    blocks = bt_blocks(proc.stdout)
    for address in addresses:
        assert bt_route(blocks, address)[:2] == ("mailman_router", "mailman_transport"), proc.stdout
    # the virtual domain's alias to the list's address is routed again, to Mailman
    news = Routed(f"news@{ALUMNI}", shown)
    assert news.final() == [(f"alumni-news@{HOST}", "mailman_router", "mailman_transport")]
    assert ("virtual_aliases", f"alumni-news@{HOST}") in news.generated
    request = Routed(f"news-request@{ALUMNI}", shown)
    assert bt_route(request.blocks, f"news-request@{ALUMNI}") == (
        None, "address_pipe", "/usr/local/mailman/mail/mailman request alumni-news"), request.text


def test_role_addresses_of_the_list_domain_reach_the_people(shown):
    """The point of the sample: ``system_aliases`` serves the list domain too. Bare names in
    /etc/aliases take the primary host name, which is the list domain."""
    alice = [(f"alice@{HOST}", "localuser", "cyrus_lmtp"),
             ("alice@elsewhere.example", None, None)]  # her .forward keeps a copy off-host
    security = Routed(f"security@{HOST}", shown)
    assert security.final() == sorted(alice), security.text
    assert {("system_aliases", f"root@{HOST}"), ("system_aliases", f"alice@{HOST}"),
            ("userforward", "alice@elsewhere.example")} <= security.generated
    webmaster = Routed(f"webmaster@{HOST}", shown)
    assert webmaster.final() == sorted(alice + [(f"bob@{HOST}", "localuser", "cyrus_lmtp")]), \
        webmaster.text
    assert {("system_aliases", f"alice@{HOST}"), ("system_aliases", f"bob@{HOST}")} \
        <= webmaster.generated


def test_forward_files_and_mailboxes(shown):
    # dave's .forward sends everything off-host: no mailbox delivery
    dave = Routed(f"dave@{PEOPLE}", shown)
    assert dave.final() == [("dquinn@elsewhere.example", None, None)], dave.text
    assert ("userforward", "dquinn@elsewhere.example") in dave.generated
    # alice's "\alice, alice@elsewhere.example": her mailbox and a copy
    assert Routed(f"alice@{PEOPLE}", shown).final() == sorted(
        [(f"alice@{PEOPLE}", "localuser", "cyrus_lmtp"), ("alice@elsewhere.example", None, None)])
    assert Routed(f"bob@{PEOPLE}", shown).final() == [
        (f"bob@{PEOPLE}", "localuser", "cyrus_lmtp")]
    assert Routed(f"carol@{HOST}", shown).final() == [
        (f"carol@{HOST}", "localuser", "cyrus_lmtp")]


def test_catch_all_of_the_virtual_domain(shown):
    for n in range(1, 40, 7):
        unknown = Routed(f"x{uuid.UUID(int=n).hex[-10:]}@{ALUMNI}", shown)
        assert unknown.final() == [("alumni-office@elsewhere.example", None, None)], unknown.text
        assert ("virtual_aliases", "alumni-office@elsewhere.example") in unknown.generated
    # a named entry wins over the "*" line; the bare name takes the primary host name
    assert Routed(f"reunion@{ALUMNI}", shown).final() == [
        (f"carol@{HOST}", "localuser", "cyrus_lmtp")]


def test_fail_defer_include_and_backslash(shown):
    for domain in (HOST, PEOPLE):
        tickets = Routed(f"tickets@{domain}", shown)
        assert list(tickets.blocks) == [
            f"tickets@{domain} is undeliverable: The ticket address is closed; "
            "use https://help.hillcrest.example/"], tickets.text
        registrar = Routed(f"registrar@{domain}", shown)
        assert list(registrar.blocks) == [
            f"registrar@{domain} cannot be resolved at this time: The registrar's mailbox "
            "is being moved; please try again later"], registrar.text
        nosuch = Routed(f"nosuch@{domain}", shown)
        assert list(nosuch.blocks) == [f"nosuch@{domain} is undeliverable: Unknown user"]
    staff = Routed(f"it-staff@{PEOPLE}", shown)
    assert staff.final() == sorted([
        (f"alice@{HOST}", "localuser", "cyrus_lmtp"), ("alice@elsewhere.example", None, None),
        (f"bob@{HOST}", "localuser", "cyrus_lmtp"), ("oncall-pager@elsewhere.example", None, None)])
    assert ("system_aliases", "oncall-pager@elsewhere.example") in staff.generated
    assert Routed(f"helpdesk@{PEOPLE}", shown).final() == [
        (f"carol@{PEOPLE}", "localuser", "cyrus_lmtp")]


# --- the inventory ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    out = tmp_path_factory.mktemp("hillcrest") / "inventory.yaml"
    result = CliRunner().invoke(cli.app, ["inspect", "--root", str(ROOT), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return codec.load_yaml(out.read_text(encoding="utf-8"))


def test_inventory_names_the_host_and_its_domains(inventory):
    assert inventory.host.hostname == HOST
    assert (inventory.host.os, inventory.host.release) == ("FreeBSD", "12.4-RELEASE-p9")
    assert {a.address for a in inventory.host.addresses} == {"192.0.2.90", "2001:db8:90::90"}
    assert {s.name for s in inventory.host.enabled_services()} >= {
        "exim", "apache24", "mailman", "cyrus_imapd"}
    assert inventory.mta.primary_hostname == HOST
    roles = {(d.name, str(d.role)) for d in inventory.mta.domains}
    assert {(HOST, "local"), (HOST, "list"), (PEOPLE, "local"), (ALUMNI, "virtual")} <= roles
    vhosts = {(v.server_name, tuple(v.listen), v.tls) for v in inventory.web.virtual_hosts}
    assert vhosts == {(HOST, ("*:80",), False), (HOST, ("*:443",), True)}
    system_aliases = next(r for r in EximPart.of(inventory.mta).routers
                          if r.name == "system_aliases")
    assert system_aliases.domains == ["+local_domains", "+list_domains"]


def test_inventory_has_the_people_and_their_homes(inventory):
    homes = {a.name: a.home for a in inventory.host.accounts if a.home and
             a.home.startswith("/home/")}
    assert homes == {n: f"/home/{n}" for n in ("alice", "bob", "carol", "dave")}
    users = {a.name for a in inventory.host.accounts if str(a.kind) == "user"}
    assert {"mailman", "cyrus", "mailnull", "www", "root"} <= users


def test_inventory_has_the_aliases_and_refusals(inventory):
    aliases = {a.name: [(str(t.kind), t.value) for t in a.targets]
               for a in inventory.mta.aliases if a.table == "/etc/mail/aliases"}
    assert aliases["root"] == [("address", "alice")]
    assert aliases["security"] == [("address", "root")]
    assert aliases["webmaster"] == [("address", "alice"), ("address", "bob")]
    assert aliases["helpdesk"] == [("address", "\\carol")]
    assert aliases["it-staff"] == [("include", "/usr/local/etc/exim/it-staff.list")]
    assert aliases["tickets"][0][0] == "fail" and aliases["registrar"][0][0] == "defer"
    refused = {(r.address, r.domain, str(r.outcome)) for r in inventory.mta.refused}
    assert {("tickets", HOST, "rejected"), ("tickets", PEOPLE, "rejected"),
            ("registrar", HOST, "deferred"), ("registrar", PEOPLE, "deferred")} <= refused
    catch_all = [a for a in inventory.mta.aliases if a.catch_all]
    assert [(a.domain, a.targets[0].value) for a in catch_all] == [
        (ALUMNI, "alumni-office@elsewhere.example")]


def test_inventory_names_every_use_of_the_host_name(inventory):
    uses = {str(n.use) for n in inventory.host.names if n.name == HOST}
    assert uses >= {"hostname", "mta", "imap", "tls", "web"}
