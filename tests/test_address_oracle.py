"""The oracle of issue 25: every address of the moved domains that is not a list's, asked of the
old host and of the new one, for every sample host, while the old host stays and when it goes.

The addresses: each row of parity.md's "everything else" section that names one address, and
some hundreds of local parts no table names on the moved domains (``unknown_parts``).

* The old host: the sample's own Exim configuration under the real Exim (``exim -bt``, all the
  addresses in one run, in the namespace of tests/eximtools.py that shows the sample's files,
  users and home folders: ``shown_host``). Its final leaves per address (``bt_leaves``, which
  keeps a leaf shared by several addresses under each): delivered somewhere, refused (every
  leaf failed: the RCPT ACL's ``verify = recipient`` refuses it), deferred, discarded.
* The new host: the emitted smtpd.conf, aliases, virtual and handback files, unchanged, under
  the real OpenSMTPD daemon, with a recording stand-in for Mailman's wrapper and a recording
  SMTP server at the address smtpd.conf hands mail back to (read from its action line). Many
  recipients per message; per address the RCPT reply (5xx refused, 4xx deferred) and, for an
  accepted one, where it went: the old host (the recording server's envelopes), other hosts
  (smtpd's relay attempts in its log: DNS does not resolve in its namespace, the envelope
  recipients are what count), Mailman (the stand-in: its arguments and the Delivered-To
  header), a mailbox or /dev/null (smtpd's local deliveries). The namespace's accounts are
  this machine's without the samples' people (``_accounts``), as on a new host.
* Every handed-back address again under the real Exim, the plan's forward router inserted
  first and the mail coming from the new host's address (``-oMa``): the old host delivers it
  to the same leaves as before, and what it redirects to a list goes to the forward router
  (to the new host), so nothing loops.

Address by address: the same final recipients, or a hand-back that the old host routes the
same way, or a refusal on both (5xx both; 4xx both: 7.8 has filters), or a discard on both.
Any other difference fails, naming the address and both outcomes; where the plan says an
address is lost (a blocker, when the old host goes), the differences are exactly those, and
the new host does what parity.md says it does with each. Each row's status is checked
against what smtpd did, too.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from addresstools import shown_host, unknown_parts
from conftest import SAMPLE_HOSTS, SAMPLES, wait_until
import eximtools
from eximtools import bt_leaves, ensure_users as ensure_exim_users, exim
from emitters.common import route_action
from emitters.mailman2.paths import MM_WRAPPER
from migrate.app.inspection import inspect_tree
from migrate.app.planning import build_plan, resolve_target
from migrate.app.sources import LocalTree
from migrate.core.model import DomainRole, Inventory, Origin
from smtpdtools import USERS, ensure_users as ensure_smtpd_users, smtpd_running

CONFIGURE = "/usr/local/etc/exim/configure"
NEW = "2001:db8:50::25"
BATCH = 100  # recipients per message
SMTPD_USER = USERS[0]  # smtpd runs aliases' commands and files as this user
#: The stand-in for Mailman's wrapper: its arguments, then the message (with smtpd's
#: Delivered-To header: the recipient the message was sent to).
WRAPPER = """#!/bin/sh
f=$(mktemp @OUT@/call.XXXXXXXX)
{ echo "args=$*"; cat; } > "$f.tmp" && mv "$f.tmp" "$f"
"""
HANDBACK = re.compile(r'^action "handback" relay host "smtp://\[?([0-9A-Fa-f:.]+)\]?"$', re.M)
MDA = re.compile(r"mda delivery evpid=(\w+) from=<[^>]*> to=<([^>]*)> rcpt=<([^>]*)> "
                 r"user=(\S+) .*result=(\w+)")
MTA = re.compile(r'mta delivery evpid=(\w+) from=<[^>]*> to=<([^>]*)> rcpt=<([^>]*)> '
                 r'source="[^"]*" relay="([^"]*)" .*result="?(\w+)')


@dataclass
class Old:
    """A sample's old host: the inventory, the host Exim is shown, and its leaves."""

    inv: Inventory
    shown: Path
    served: set[str]
    lists: dict[str, tuple[str, str]]  # list address -> (command, list)
    leaves: dict[str, list[tuple]] = field(default_factory=dict)  # address -> bt_leaves rows


@dataclass
class New:
    """What the new host did with one address."""

    code: str | None  # the RCPT reply
    handed: bool = False  # the old host (the recording server) got it
    recipients: set[tuple] = field(default_factory=set)  # what the new host delivered itself

    def __str__(self) -> str:
        if self.code is None or self.code[0] != "2":
            return f"RCPT {self.code}"
        where = sorted(map(str, self.recipients)) + (["handed back"] if self.handed else [])
        return f"accepted -> {', '.join(where) or 'nothing'}"


@pytest.fixture(scope="module")
def old_hosts():
    """The samples' old hosts, each made once: both variants of a sample ask the same one."""
    tmp = Path(tempfile.mkdtemp(prefix="migrate-oracle-"))
    tmp.chmod(0o755)  # Exim reads it after it drops root
    made: dict[str, Old] = {}

    def old(host: str) -> Old:
        if host not in made:
            made[host] = _old(host, tmp)
        return made[host]
    yield old
    shutil.rmtree(tmp, ignore_errors=True)


def _old(host: str, tmp: Path) -> Old:
    """A sample's old host, its leaves not asked yet."""
    ensure_exim_users()
    root = SAMPLES / host
    inv = inspect_tree(LocalTree(root), Origin("local", f"/samples/{host}"))
    served = {d.name for d in inv.mta.domains if d.role != DomainRole.RELAY}
    lists = {f"{r.address}@{r.domain}".lower(): (route_action(r), r.list_name)
             for r in inv.mta.list_routes}
    return Old(inv, shown_host(root, Path(tempfile.mkdtemp(prefix=f"{host}-", dir=tmp))),
               served, lists)


def _ask(old: Old, addresses: list[str]) -> None:
    """Exim's leaves for ``addresses`` not asked yet (one run)."""
    wanted = [a for a in dict.fromkeys(addresses) if a.lower() not in old.leaves]
    if not wanted:
        return
    proc = exim(CONFIGURE, "-bt", *wanted, host_root=old.shown, timeout=300)
    for a in wanted:
        old.leaves[a.lower()] = []
    for top, *leaf in bt_leaves(proc.stdout):
        old.leaves.setdefault(top.lower(), []).append(tuple(leaf))
    missing = [a for a in wanted if not old.leaves[a.lower()]]
    assert not missing, (missing, proc.stdout[-3000:], proc.stderr[-2000:])


def _plan(inv, host: str, stays: bool, openbsd: str = "7.8"):
    target = resolve_target(inv, {"tls_certificate": None, "tls_key": None,
                                  "old_host_stays": stays},
                            {"hostname": f"new.{host}.example", "ipv6": [NEW],
                             "openbsd": openbsd, "destination": "mailman2"})
    return target, build_plan(inv, target)


def _recipients(old: Old, leaves: list[tuple]) -> set[tuple]:
    """The old host's final recipients in the terms of the new host's: an address of another
    host (whatever Exim could make of it here, where DNS does not answer), a list and its
    command, a discard; anything else as Exim says it."""
    out = set()
    wrapper = old.inv.mailman.wrapper if old.inv.mailman else None
    for address, outcome, detail, router, _transport in leaves:
        address = address.lower()
        domain = address.rpartition("@")[2]
        if address in old.lists:
            out.add(("list",) + old.lists[address])
        elif outcome == "pipe" and wrapper and detail.split()[:1] == [wrapper] \
                and len(detail.split()) == 3:
            out.add(("list",) + tuple(detail.split()[1:]))
        elif outcome == "discarded":
            out.add(("discard",))
        elif domain not in old.served:
            out.add(("address", address))
        elif outcome in ("failed", "deferred"):
            out.add((outcome, detail))
        else:
            out.add((outcome, address if outcome == "routed" else detail, router))
    return out


def _old_kind(old: Old, leaves: list[tuple]) -> str:
    """refused, deferred, discarded (each leaf; what Exim cannot route to another host here,
    where DNS does not answer, counts as delivered), or delivered."""
    kinds = {leaf[1] if leaf[0].rpartition("@")[2].lower() in old.served else "routed"
             for leaf in leaves}
    return {frozenset({"failed"}): "refused", frozenset({"deferred"}): "deferred",
            frozenset({"discarded"}): "discarded"}.get(frozenset(kinds), "delivered")


def _accounts() -> str:
    """The new host's accounts: this machine's (smtpd delivers mail for a local part that no
    alias names to the account of that name), but not the samples' people, whom some tests
    add here and a new host does not have."""
    ensure_smtpd_users()  # the daemon's own, before the file is read
    people = {name for host in SAMPLE_HOSTS for name in eximtools.people(SAMPLES / host)}
    return "".join(line for line in Path("/etc/passwd").read_text().splitlines(True)
                   if line.split(":", 1)[0] not in people)


def _new(plan, addresses: list[str]) -> tuple[dict[str, New], str | None]:
    """The real smtpd with the plan's files: what it did with each address, and the address
    it hands back to."""
    files = plan.files
    conf = files["files/new/etc/mail/smtpd.conf"]
    mail = {rel.rsplit("/", 1)[1]: text for rel, text in files.items()
            if rel.startswith("files/new/etc/mail/") and not rel.endswith("smtpd.conf")}
    binds = {f"/etc/mail/{name}": name for name in mail}
    binds[MM_WRAPPER] = "wrapper"
    mail["passwd"] = _accounts()
    binds["/etc/passwd"] = "passwd"
    found = HANDBACK.search(conf)
    back = found.group(1) if found else None
    addrs = (f"{NEW}/128",) + ((f"{back}/128",) if back else ())
    out: dict[str, New] = {}
    with smtpd_running(conf, files=mail, scripts={"wrapper": WRAPPER}, addresses=addrs,
                       binds=binds) as smtpd, ExitStack() as stack:
        recorded = stack.enter_context(smtpd.sink(back)) if back else None
        for i in range(0, len(addresses), BATCH):
            batch = addresses[i:i + BATCH]
            reply = smtpd.send(*batch, client="127.0.0.2", body="oracle probe")
            codes = dict((arg.strip("<>"), code) for arg, code in reply.replies("RCPT TO"))
            for a in batch:
                out[a.lower()] = New(codes.get(a))
            if any(c.startswith("2") for c in codes.values()):
                assert reply.accepted, reply.transcript[-3000:]

        def settled() -> bool:
            if smtpd.proc.poll() is not None:
                raise RuntimeError(f"smtpd exited:\n{smtpd.log()}")
            if any(p.name.endswith(".tmp") for p in smtpd.out.glob("call.*")):
                return False
            # what is left in the queue has been tried (a relay that DNS cannot resolve)
            return all(line.rsplit("|", 1)[-1].strip()
                       for line in smtpd.queue().splitlines() if line.strip())
        wait_until(settled, 120, "smtpd to try every envelope once", every=0.2,
                   diagnose=smtpd.log)
        log = smtpd.log()
        handed = set()
        if recorded is not None and recorded.exists():
            for line in recorded.read_text().splitlines():
                handed |= {r.lower() for r in json.loads(line)["rcpts"]}
        calls = []
        for path in smtpd.out.glob("call.*"):
            text = path.read_text(errors="replace")
            args = re.match(r"args=(\S+) (\S+)\n", text)
            to = re.search(r"^Delivered-To: (\S+)$", text, re.M)
            assert args and to, text[:500]
            calls.append((to.group(1).lower(), args.group(1), args.group(2)))
    assert handed <= set(out), f"handed back, but not sent: {sorted(handed - set(out))}"
    for a in handed:
        out[a].handed = True
    seen = set()
    for evpid, to, rcpt, relay, _result in MTA.findall(log):
        if (evpid, to) in seen or (back and back in relay):
            continue  # a retry; the hand-back (recorded by the server)
        seen.add((evpid, to))
        out[rcpt.lower()].recipients.add(("address", to.lower()))
    pipes: dict[str, int] = {}
    for rcpt, action, name in calls:
        out[rcpt].recipients.add(("list", action, name))
        pipes[rcpt] = pipes.get(rcpt, 0) + 1
    for evpid, to, rcpt, user, result in MDA.findall(log):
        assert result == "Ok", (rcpt, to, log[-3000:])
        rcpt = rcpt.lower()
        if user == SMTPD_USER:  # a pipe (the stand-in's call, above) or /dev/null
            if pipes.get(rcpt):
                pipes[rcpt] -= 1
            else:
                out[rcpt].recipients.add(("discard",))
        else:
            out[rcpt].recipients.add(("mailbox", user))
    return out, back


def _differs(old: Old, address: str, new: New) -> str | None:
    """Why the new host's outcome is not the old host's (None: the same)."""
    leaves = old.leaves[address.lower()]
    kind = _old_kind(old, leaves)
    said = f"old: {kind} {sorted(map(str, _recipients(old, leaves)))}; new: {new}"
    code = new.code or ""
    if code.startswith("5"):
        return None if kind == "refused" else said
    if code.startswith("4"):
        return None if kind == "deferred" else said
    if not code.startswith("2"):
        return f"no RCPT reply; {said}"
    if new.handed and not new.recipients:
        # the old host delivers it (or retries it), checked with the forward router below
        return None if kind != "refused" else said
    if new.handed:
        return said
    return None if _recipients(old, leaves) == new.recipients else said


#: What smtpd does with an address whose parity row has this status (lost: as its text says).
CLAIMS = {"handed back": "handed", "carried": "self", "added": "self", "rejected": "5",
          "deferred": "4", "dropped": "discard"}


def _claim_kept(row: dict, new: New) -> bool:
    claim = CLAIMS.get(row["status"])
    code = new.code or ""
    if row["status"] in ("lost", "dropped by choice"):
        if not row["new"].startswith("refused at RCPT"):
            claim = "self"  # the new host's own alias of the name
        elif ", unless the new host has an account of that name" in row["new"]:
            local = row["address"].rpartition("@")[0]
            return code.startswith("5") or (code.startswith("2") and not new.handed
                                            and new.recipients == {("mailbox", local)})
        else:
            claim = "5"
    if claim in ("5", "4"):
        return code.startswith(claim)
    if not code.startswith("2"):
        return False
    if claim == "handed":
        return new.handed and not new.recipients
    if claim == "discard":
        return new.recipients == {("discard",)} and not new.handed
    return claim == "self" and bool(new.recipients) and not new.handed


def _forwarded(old: Old, plan, addresses: list[str], new_address: str) -> dict[str, list]:
    """Exim's leaves for ``addresses`` with the plan's forward router first in the old
    configuration, the mail coming from the new host."""
    conf = old.shown / CONFIGURE.lstrip("/")
    original = conf.read_text()
    body = "\n".join(line for line in plan.files["files/old/exim-forward-router.conf"]
                     .splitlines() if not line.startswith("#"))
    conf.write_text(original.replace("begin routers\n", f"begin routers\n{body}\n", 1))
    try:
        proc = exim(CONFIGURE, "-oMa", new_address, "-bt", *addresses, host_root=old.shown,
                    timeout=300)
    finally:
        conf.write_text(original)
    out: dict[str, list] = {}
    for top, *leaf in bt_leaves(proc.stdout):
        out.setdefault(top.lower(), []).append(tuple(leaf))
    return out


@pytest.mark.parametrize("stays", [True, False], ids=["old-host-stays", "old-host-goes"])
@pytest.mark.parametrize("host", SAMPLE_HOSTS)
def test_every_other_address_works_on_the_new_host_as_on_the_old(host, stays, old_hosts):
    started = time.monotonic()
    old = old_hosts(host)
    target, plan = _plan(old.inv, host, stays)
    rows = {r["address"].lower(): r for r in plan.parity
            if r["section"] == "other" and not r["address"].startswith("*@")}
    unknown = unknown_parts(old.inv.mta, 60, len(host), domains=sorted(target.email_domains),
                            accounts=bool(old.inv.host.accounts))
    addresses = [r["address"] for r in rows.values()] + unknown
    _ask(old, addresses)
    new, back = _new(plan, addresses)
    assert (back is not None) == (stays and any(
        r["status"] == "handed back" for r in plan.parity))

    wrong = [f"{a}: parity.md says {r['status']} ({r['new']}), smtpd: {new[a]}"
             for a, r in rows.items() if not _claim_kept(r, new[a])]
    assert not wrong, "\n".join(wrong)
    differs = {a.lower(): _differs(old, a, new[a.lower()]) for a in addresses}
    differs = {a: why for a, why in differs.items() if why is not None
               and rows.get(a, {}).get("status") != "added"}  # the new host's own alias
    lost = {a for a, r in rows.items() if r["status"] == "lost"}
    assert set(differs) == lost, "\n".join(
        f"{a}: {why}" for a, why in sorted(differs.items()) if a not in lost) + "\n" + \
        "\n".join(f"{a}: parity.md says lost, but the new host does as the old" for a in
                  sorted(lost - set(differs)))
    for a, r in rows.items():  # the new host's own aliases take what the old host refused
        if r["status"] == "added":
            assert _old_kind(old, old.leaves[a]) == "refused", (a, old.leaves[a])

    handed = sorted(a for a, n in new.items() if n.handed)
    if handed:
        again = _forwarded(old, plan, handed, NEW)
        for a in handed:
            now = again.get(a, [])
            # its own leaves as before (none by the forward router: no loop), and what it
            # redirects to a list goes on to the new host
            assert {leaf for leaf in now if leaf[0].lower() not in old.lists} == {
                leaf for leaf in old.leaves[a] if leaf[0].lower() not in old.lists}, (
                a, sorted(now), sorted(old.leaves[a]))
            assert {leaf[3] for leaf in now if leaf[0].lower() in old.lists} <= {
                "migrate_forward"}, (a, sorted(now))
    assert len(addresses) > 250 and len(rows) >= 6
    outcomes = Counter("lost" if a.lower() in lost else str(new[a.lower()]).split(" ->")[0]
                       if not new[a.lower()].handed else "handed back" for a in addresses)
    print(f"{host} old_host_stays={stays}: {len(rows)} rows + {len(unknown)} unknown: "
          f"{dict(sorted(outcomes.items()))}, {time.monotonic() - started:.1f}s")


def test_parity_says_what_takes_a_lost_address_instead():
    """When the old host goes, an address the new host cannot carry is lost; parity.md says
    what the new host does with it then: its own alias of the name, the domain's carried
    catch-all, or a local account of the name take it where they exist (smtpd refuses it
    otherwise), not the old recipients."""
    inv = inspect_tree(LocalTree(SAMPLES / "hillcrest"), Origin("local", "/samples/hillcrest"))
    _target, plan = _plan(inv, "hillcrest", False)
    rows = {r["address"]: r for r in plan.parity if r["status"] == "lost"}
    assert rows["postmaster@lists.hillcrest.example"]["new"].startswith(
        "the new host's own alias postmaster: root takes it instead")
    assert rows["reunion@alumni.hillcrest.example"]["new"].startswith(
        "the domain's catch-all (alumni-office@elsewhere.example) takes it instead")
    # from 6.4 the lists' rule takes the aliases' names only: the new host's accounts do not
    assert rows["alice@lists.hillcrest.example"]["new"].startswith("refused at RCPT (550): ")
    _target, plan = _plan(inv, "hillcrest", False, openbsd="6.3")
    rows = {r["address"]: r for r in plan.parity if r["status"] == "lost"}
    assert rows["alice@lists.hillcrest.example"]["new"].startswith(
        "refused at RCPT (550), unless the new host has an account of that name")
