"""Every other address the old Exim accepted (``Mta.accepted``): each alias, local user, forward
file and catch-all of its domains, with the final recipients Exim delivers it to.

The unit tests read small hand-written hosts. The oracle asks the real Exim (``exim -bt`` in the
private mount namespace of tests/eximtools.py, which shows the host's files, users and home
folders at their absolute paths) about every accepted address of each sample host, and of a
hand-written host with forward files, and about some hundreds of local parts no table names:
Exim's final recipients must be the inventory's, and an unknown local part must fail unless the
inventory has a catch-all for its domain (then it reaches the catch-all's recipients). Over SSH
(sshd on loopback), the same table comes with the inspection's one snapshot command.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from addresstools import owned_by_their_users, shown_host, unknown_parts
from conftest import SAMPLES, make_tree
from eximtools import bt_leaves, ensure_users, exim, world_tmp  # noqa: F401
from migrate.app.inspection import inspect_tree
from migrate.app.sources import LocalTree
from migrate.core.codec import dump_yaml, inventory_from_data, inventory_to_data, load_yaml
from migrate.core.model import AcceptedKind, DomainRole, Origin, RecipientKind
from parsers.exim import parse_exim
from parsers.exim_model import read_exim

CONFIGURE = "/usr/local/etc/exim/configure"
HOSTS = sorted(p.name for p in SAMPLES.iterdir() if (p / CONFIGURE.lstrip("/")).is_file())

#: A host in the issue's style: system aliases serve the local and the list domains, users
#: have forward files, a virtual domain has a catch-all.
HOST_CONFIG = r"""
primary_hostname = mail.example.org
qualify_domain = example.org
domainlist local_domains = @ : example.org
domainlist list_domains = lists.example.org
domainlist virtual_domains = dsearch;/usr/local/etc/exim/virtual
exim_user = mailnull
exim_group = mail
begin routers
dnslookup:
  driver = dnslookup
  domains = ! +local_domains : ! +list_domains : ! +virtual_domains
  transport = remote_smtp
  no_more
mailman:
  driver = accept
  domains = +list_domains
  require_files = /usr/local/mailman/lists/$local_part/config.pck
  transport = mailman_transport
virtual:
  driver = redirect
  domains = +virtual_domains
  data = ${lookup{$local_part}lsearch*{${lookup{$domain}dsearch,ret=full{/usr/local/etc/exim/virtual}}}}
  allow_fail
  allow_defer
  pipe_transport = address_pipe
  no_more
copies:
  driver = redirect
  domains = +local_domains
  data = ${lookup{$local_part}lsearch{/usr/local/etc/exim/copies}}
  unseen
system_aliases:
  driver = redirect
  domains = +local_domains : +list_domains
  allow_fail
  allow_defer
  data = ${lookup{$local_part}lsearch{/etc/aliases}}
  user = mailnull
  file_transport = address_file
  pipe_transport = address_pipe
userforward:
  driver = redirect
  domains = +local_domains
  check_local_user
  file = $home/.forward
  check_ancestor
  file_transport = address_file
  pipe_transport = address_pipe
localuser:
  driver = accept
  domains = +local_domains
  check_local_user
  transport = local_delivery
  cannot_route_message = Unknown user
begin transports
remote_smtp:
  driver = smtp
mailman_transport:
  driver = pipe
  command = /usr/local/mailman/mail/mailman post $local_part
  user = mailnull
local_delivery:
  driver = appendfile
  file = /var/mail/$local_part
address_pipe:
  driver = pipe
address_file:
  driver = appendfile
"""

HOST_FILES = {
    CONFIGURE: HOST_CONFIG,
    "/etc/aliases": """\
postmaster: root
root: alice
webmaster: alice, bob
security: \\carol
nested: webmaster, ops@elsewhere.example
loop: loop
ping: pong
pong: ping
staff: :include:/usr/local/etc/exim/staff.list
archive: /var/mail/archive, "|/usr/local/bin/archiver --quiet"
gone: :fail: left in 2019
held: :defer: mailbox being moved
trap: :blackhole:
partly: bob, trap
failing: bob, gone
waiting: bob, held
away: dave
dropped: bob, :blackhole:
refused: bob, :fail: ask bob
announce: "|/usr/local/mailman/mail/mailman post announce"
""",
    "/usr/local/etc/exim/copies": "carol: carol-archive@elsewhere.example\n",
    "/usr/local/etc/exim/staff.list": "# the staff\nalice\ndave@elsewhere.example, bob\n",
    "/usr/local/etc/exim/virtual/shop.example": "sales: bob\ninfo: sales, info@partner.example\n"
                                                "*: alice\n",
    "/usr/local/mailman/lists/announce/config.pck": "",
    "/etc/passwd": """\
root:*:0:0:Charlie &:/root:/bin/sh
mailnull:*:26:26:Exim:/var/spool/mqueue:/usr/sbin/nologin
alice:*:2001:2001:Alice:/home/alice:/bin/sh
bob:*:2002:2002:Bob:/home/bob:/bin/sh
carol:*:2003:2003:Carol:/home/carol:/bin/sh
dave:*:2004:2004:Dave:/home/dave:/bin/sh
""",
    "/home/alice/.forward": "# keep a copy, and on the phone\n\\alice, alice@phone.example\n",
    "/home/bob/notes.txt": "no forward file here\n",
    "/home/carol/.forward": "security, carol@phone.example\n",
}


def _read(root: Path):
    tree = LocalTree(root)
    return read_exim(parse_exim(tree, CONFIGURE), tree)


def _accepted(result) -> dict[str, tuple]:
    """address@domain -> (kind, router, {(recipient kind, value)})."""
    return {f"{a.address}@{a.domain}": (a.kind, a.router, {(r.kind, r.value) for r in a.recipients})
            for a in result.mta.accepted}


M, A, P, F = RecipientKind.MAILBOX, RecipientKind.ADDRESS, RecipientKind.PIPE, RecipientKind.FILE
ALICE = {(M, "alice"), (A, "alice@phone.example")}


@pytest.fixture
def host(tree_factory):
    return _read(tree_factory(HOST_FILES))


def test_system_aliases_on_a_list_domain_end_at_the_people(host):
    got = _accepted(host)
    # webmaster@ on the list domain: the bare names are qualified with qualify_domain, then
    # routed again from the first router: alice's forward file, bob's mailbox
    assert got["webmaster@lists.example.org"] == (AcceptedKind.ALIAS, "system_aliases",
                                                  ALICE | {(M, "bob")})
    assert got["postmaster@lists.example.org"] == got["root@example.org"][:1] + (
        "system_aliases", ALICE)
    # the list's own address is a ListRoute, and the refusals are RefusedAddresses
    assert "announce@lists.example.org" not in got and "announce@example.org" not in got
    assert not {"gone", "held", "trap"} & {k.split("@")[0] for k in got}
    refused = {(r.address, r.domain, r.outcome) for r in host.mta.refused}
    assert ("trap", "example.org", "dropped") in refused
    # the first special item decides for the whole entry, wherever it stands (Exim drops
    # everything for :blackhole:, and fails the address for :fail:)
    assert {("dropped", "example.org", "dropped"), ("refused", "example.org", "rejected")} \
        <= refused
    assert "dropped@example.org" not in got and "refused@example.org" not in got


def test_a_list_domain_the_system_aliases_alone_serve(tree_factory):
    config = HOST_CONFIG.replace("""mailman:
  driver = accept
  domains = +list_domains
  require_files = /usr/local/mailman/lists/$local_part/config.pck
  transport = mailman_transport
""", "")
    result = _read(tree_factory({**HOST_FILES, CONFIGURE: config}))
    assert "lists.example.org" not in result.mta.domains_by_role(DomainRole.LOCAL)
    got = _accepted(result)
    assert got["webmaster@lists.example.org"][2] == ALICE | {(M, "bob")}
    assert "announce@lists.example.org" not in got  # the list's, through the alias


def test_a_user_with_a_forward_file_and_one_without(host):
    got = _accepted(host)
    assert got["alice@example.org"] == (AcceptedKind.FORWARD, "userforward", ALICE)
    assert got["bob@example.org"] == (AcceptedKind.USER, "localuser", {(M, "bob")})
    bob = next(a for a in host.mta.accepted if a.address == "bob")
    assert bob.recipients[0].rule == "router localuser, transport local_delivery"
    assert bob.source.file == "/etc/passwd" and bob.source.line == 4
    alice = next(a for a in host.mta.accepted if a.address == "alice")
    assert alice.source.file == "/home/alice/.forward"
    # no user and no alias on the list domain: users are local_domains' only
    assert "bob@lists.example.org" not in got


def test_a_backslashed_name_takes_the_incoming_domain_and_check_ancestor(host):
    got = _accepted(host)
    # security -> \carol -> carol's .forward names security again: check_ancestor turns it
    # back into carol, whom the forward router has handled, so her mailbox takes it
    assert got["security@example.org"][2] == {(M, "carol"), (A, "carol@phone.example"),
                                              (A, "carol-archive@elsewhere.example")}
    # on the list domain, \carol stays there, where no router takes a user: it fails with
    # the message of the last router considered (localuser's, though it was skipped)
    assert got["security@lists.example.org"][2] == {(RecipientKind.FAIL, "Unknown user")}


def test_nested_aliases_includes_pipes_files_and_special_items(host):
    got = _accepted(host)
    assert got["nested@example.org"][2] == ALICE | {(M, "bob"), (A, "ops@elsewhere.example")}
    assert got["staff@example.org"][2] == ALICE | {(M, "bob"), (A, "dave@elsewhere.example")}
    assert got["archive@example.org"][2] == {(F, "/var/mail/archive"),
                                             (P, "/usr/local/bin/archiver --quiet")}
    assert got["partly@example.org"][2] == {(M, "bob"), (RecipientKind.DISCARD, "")}
    assert got["failing@example.org"][2] == {(M, "bob"), (RecipientKind.FAIL, "left in 2019")}
    assert got["waiting@example.org"][2] == {(M, "bob"),
                                             (RecipientKind.DEFER, "mailbox being moved")}
    # dave has no home folder: Exim cannot tell whether a forward file exists, and defers
    assert got["away@example.org"][2] == {
        (RecipientKind.DEFER, "failed to stat /home/dave/. (No such file or directory)")}
    assert any(f.id == "exim.home-missing" and "dave" in f.message for f in host.findings)


def test_an_unseen_router_delivers_a_copy_and_routing_goes_on(host):
    got = _accepted(host)
    # carol's copies entry is taken with unseen: the copy, then her forward file as before
    assert got["carol@example.org"] == (AcceptedKind.ALIAS, "copies", {
        (A, "carol-archive@elsewhere.example"), (M, "carol"), (A, "carol@phone.example")})


def test_loops_end_as_exims_loop_rule_ends_them(host):
    got = _accepted(host)
    # an alias naming itself: the aliases router is skipped the second time, no user takes it
    assert got["loop@example.org"][2] == {(RecipientKind.FAIL, "Unknown user")}
    assert got["ping@example.org"][2] == {(RecipientKind.FAIL, "Unknown user")}


def test_a_catch_all_of_a_virtual_domain(host):
    got = _accepted(host)
    assert got["*@shop.example"] == (AcceptedKind.CATCH_ALL, "virtual", ALICE)
    # a bare name in a per-domain table is qualified with qualify_domain, not the table's
    assert got["info@shop.example"][2] == {(RecipientKind.FAIL, "Unknown user"),
                                           (A, "info@partner.example")}
    # no catch-all where unknown local parts fail
    assert "*@example.org" not in got and "*@lists.example.org" not in got


def test_what_cannot_be_decided_is_a_finding(tree_factory):
    config = HOST_CONFIG.replace("""userforward:
  driver = redirect""", """userforward:
  driver = redirect
  condition = ${if eq{$sender_address}{}{no}{yes}}
  senders = ! :""").replace("""localuser:
  driver = accept""", """query:
  driver = queryprogram
  command = /usr/local/bin/where $local_part
localuser:
  driver = accept""")
    result = _read(tree_factory({**HOST_FILES, CONFIGURE: config}))
    ids = {(f.id, f.source.line if f.source else None) for f in result.findings}
    assert any(i == "exim.router-undecided" for i, _ in ids)
    assert any("queryprogram" in f.message and f.id == "exim.router-undecided"
               for f in result.findings)
    # what it could decide is still there
    assert _accepted(result)["webmaster@example.org"][2] == ALICE | {(M, "bob")}


def test_a_filter_file_is_named_without_recipients_and_a_finding(tree_factory):
    files = {**HOST_FILES, "/home/bob/.forward": "# Exim filter\nif $h_subject: contains "
             "\"x\" then deliver x@elsewhere.example endif\n"}
    result = _read(tree_factory(files))
    assert _accepted(result)["bob@example.org"] == (AcceptedKind.FORWARD, "userforward", set())
    assert any(f.id == "aliases.filter-file" and f.source.file == "/home/bob/.forward"
               for f in result.findings)


def test_a_router_taking_suffixes_is_a_finding(tree_factory, host):
    assert not [f for f in host.findings if f.id == "exim.local-part-affix"]  # Mailman's own
    config = HOST_CONFIG.replace("""localuser:
  driver = accept""", """localuser:
  driver = accept
  local_part_suffix = +*
  local_part_suffix_optional""")
    result = _read(tree_factory({**HOST_FILES, CONFIGURE: config}))
    found = [f for f in result.findings if f.id == "exim.local-part-affix"]
    assert len(found) == 1 and "router localuser" in found[0].message and "+*" in \
        found[0].message
    assert _accepted(result)["bob@example.org"] == (AcceptedKind.USER, "localuser", {(M, "bob")})


def test_no_passwd_is_a_finding_not_a_guess(tree_factory):
    files = {k: v for k, v in HOST_FILES.items() if k != "/etc/passwd"}
    result = _read(tree_factory(files))
    got = _accepted(result)
    assert "bob@example.org" not in got
    assert got["webmaster@example.org"][2] == {(RecipientKind.FAIL, "Unknown user")}
    assert [f.id for f in result.findings].count("exim.users-unknown") == 2


def _big_host(tree_factory, n: int):
    """``n`` aliases, each to an address elsewhere and to one of ten staff aliases (which
    reach alice and bob), plus a chain of 150 aliases each naming the next."""
    lines = [f"u{k}: u{k}@remote.example, staff{k % 10}" for k in range(n)]
    lines += [f"staff{j}: alice, bob, m{j}@remote.example" for j in range(10)]
    lines += [f"c{k}: c{k + 1}" for k in range(150)] + ["c150: bob"]
    files = {**HOST_FILES, "/etc/aliases": "\n".join(lines) + "\n"}
    return tree_factory(files, name=f"big{n}")


def test_a_big_aliases_file_is_walked_in_linear_time(tree_factory, monkeypatch):
    import parsers.exim_model as exim_model
    calls = []
    route = exim_model._Walk.route

    def counted(self, *args, **kwargs):
        calls.append(1)
        return route(self, *args, **kwargs)

    monkeypatch.setattr(exim_model._Walk, "route", counted)
    small = _read(_big_host(tree_factory, 1000))
    small_calls = len(calls)
    calls.clear()
    result = _read(_big_host(tree_factory, 8000))
    # each address is routed once, and again only where an ancestor could change its route
    assert len(calls) < 10 * small_calls, (len(calls), small_calls)
    got = _accepted(result)
    assert got["u7777@example.org"][2] == ALICE | {(M, "bob"), (A, "u7777@remote.example"),
                                                  (A, "m7@remote.example")}
    assert len(small.mta.accepted) < len(result.mta.accepted)
    # the chain: Exim follows it to the end; the table stops after 100 generations, and says so
    assert got["c100@example.org"][2] == {(M, "bob")}
    assert any(f.id == "exim.routing-deep" for f in result.findings)


# --- the oracle: the real Exim -------------------------------------------------------------------


def _expected(recipients, served: set[str]) -> set[tuple]:
    """The recipients as ``exim -bt`` shows them (it shows no line for an address aliased to
    :blackhole: below the one asked about: nothing is delivered there)."""
    out = set()
    for r in recipients:
        if r.kind == RecipientKind.DISCARD:
            continue
        transport = r.rule.split("transport ")[1] if r.rule and "transport " in r.rule else None
        if r.kind == RecipientKind.ADDRESS and r.value.rpartition("@")[2] not in served:
            transport = None  # sent on: what the DNS says here does not matter
        if r.kind in (RecipientKind.FAIL, RecipientKind.DEFER, RecipientKind.DISCARD):
            transport = None
        out.add((str(r.kind), r.value, transport))
    return out


def _exim_says(stdout: str, served: set[str], user_routers: set[str]) -> dict[str, set[tuple]]:
    """Exim's final recipients of each address asked about, in the inventory's terms."""
    out: dict[str, set[tuple]] = {}
    for top, address, outcome, detail, router, transport in bt_leaves(stdout):
        local, _, domain = address.rpartition("@")
        if outcome in ("pipe", "file"):
            leaf = (outcome, detail, transport)
        elif outcome == "discarded":
            leaf = ("discard", "", None)
        elif domain not in served:
            leaf = ("address", address, None)
        elif outcome == "failed":
            leaf = ("fail", detail, None)
        elif outcome == "deferred":
            leaf = ("defer", detail, None)
        elif router in user_routers:
            leaf = ("mailbox", local, transport)
        else:
            leaf = ("address", address, transport)
        out.setdefault(top, set()).add(leaf)
    return out


def _oracle(inv, shown_root: Path, seed: int) -> int:
    """Ask the real Exim about ``inv``'s accepted addresses and unknown local parts; the
    number of addresses asked."""
    mta = inv.mta
    served = {d.name for d in mta.domains if d.role != DomainRole.RELAY}
    user_routers = {r.router for r in mta.accepted if r.kind == AcceptedKind.USER}
    user_routers |= {x.rule.split(",")[0].removeprefix("router ") for a in mta.accepted
                     for x in a.recipients if x.kind == RecipientKind.MAILBOX and x.rule}
    accepted = {f"{a.address}@{a.domain}": a for a in mta.accepted if a.address != "*"}
    catch_all = {a.domain: a for a in mta.accepted if a.address == "*"}
    unknown = unknown_parts(mta, 40, seed)
    proc = exim(CONFIGURE, "-bt", *accepted, *unknown, host_root=shown_root, timeout=300)
    said = _exim_says(proc.stdout, served, user_routers)
    for address, a in accepted.items():
        assert said.get(address, set()) == _expected(a.recipients, served), (address,
                                                                               proc.stdout)
    for address in unknown:
        domain = address.rpartition("@")[2]
        if domain in catch_all:
            assert said.get(address, set()) == _expected(catch_all[domain].recipients,
                                                         served), address
        else:
            assert {leaf[0] for leaf in said.get(address, ())} == {"fail"}, (address, said)
            assert re.search(re.escape(address) + r" is undeliverable", proc.stdout), address
    return len(accepted) + len(unknown)


@pytest.mark.parametrize("host", HOSTS)
def test_exim_delivers_every_accepted_address_as_the_inventory_says(host, world_tmp):
    ensure_users()
    root = SAMPLES / host
    inv = inspect_tree(LocalTree(root), Origin("local", f"/samples/{host}"))
    checked = _oracle(inv, shown_host(root, world_tmp), seed=len(host))
    assert checked > 200
    assert inv.mta.accepted or host == "small"


def test_exim_delivers_a_hand_written_hosts_addresses_as_the_inventory_says(world_tmp):
    ensure_users()
    root = make_tree(world_tmp / "tree", HOST_FILES)
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    result = _read(root)
    assert len(result.mta.accepted) > 20
    shown = world_tmp / "shown"
    shutil.copytree(root, shown, symlinks=True)
    owned_by_their_users(shown)
    assert _oracle(result, shown, seed=25) > 100


@pytest.mark.parametrize("host", HOSTS)
def test_every_sample_inventory_round_trips_with_its_accepted_addresses(host):
    inv = inspect_tree(LocalTree(SAMPLES / host), Origin("local", f"/samples/{host}"))
    assert inventory_from_data(inventory_to_data(inv)) == inv
    assert load_yaml(dump_yaml(inv)).mta.accepted == inv.mta.accepted
    assert inv.mta.accepted or host == "small"


def test_over_ssh_the_forward_files_come_with_the_snapshot(world_tmp, monkeypatch):
    """``inspect --host`` reads the same table, forward files included, and its one snapshot
    command brings them (the agent sends each user's forward file, following FreeBSD's
    /home -> usr/home link): no command of its own per user."""
    from migrate.app import remote
    from migrate.app.inspection import remote_mbox_dirs, remote_spec
    from sshtools import sshd_running
    files = {path.replace("/home/", "/usr/home/"): text for path, text in HOST_FILES.items()}
    root = make_tree(world_tmp / "host", files, links={"/home": "usr/home"})
    here = inspect_tree(LocalTree(root), Origin("local", str(root)))
    assert _accepted(here)["alice@example.org"][2] == ALICE
    fetched: list[str] = []
    snapshot = remote.RemoteTree.snapshot

    def recorded(self, spec, *args, **kwargs):
        fetched.extend(path for path, _how, _depth in spec)
        return snapshot(self, spec, *args, **kwargs)

    monkeypatch.setattr(remote.RemoteTree, "snapshot", recorded)
    with sshd_running() as sshd:
        client = remote.connect("root@127.0.0.1", port=sshd.port, identity=str(sshd.key),
                                known_hosts=str(sshd.known_hosts))
        tree = remote.RemoteTree(client, root=str(root))
        try:
            tree.snapshot(remote_spec(), mbox_dirs=remote_mbox_dirs())
            first = len(fetched)
            there = inspect_tree(tree, Origin("ssh", str(root)))
        finally:
            tree.close()
    assert there.mta.accepted == here.mta.accepted
    users = ("alice", "bob", "carol", "dave")
    assert not [p for p in fetched[first:] if any(f"/{u}" in p for u in users)], fetched
