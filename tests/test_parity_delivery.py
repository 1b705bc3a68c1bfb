"""Routing parity proved with the real binaries, for every sample host.

Each row of the plan's parity table makes a claim about one address; here both hosts are asked:

* the old host: the sample's own Exim configuration under the real Exim (``exim -bt``, in a
  private mount namespace that shows the sample's files at their absolute paths) routes each
  list address into the mail wrapper with the list and command the row names, and refuses or
  discards each address the row says it refused or dropped;
* the new host: the emitted ``smtpd.conf``, ``aliases`` and ``virtual``, unchanged, under the
  real OpenSMTPD daemon (tests/smtpdtools.py) deliver a message to each such address into a
  recording stand-in for the mailman package's wrapper (it writes down its arguments), with
  the same list and command; refused addresses get a 550 at RCPT, and
  dropped ones are accepted and reach nothing.

The samples hold the layouts this is about: small routes /etc/aliases with Exim's default
configuration (a ``system_aliases`` router without a ``domains`` option after ``dnslookup``
with ``no_more``), reaches ``members`` as ``club``, ``club-request`` and through an
``:include:`` file (``board``), and has a ``:fail:`` and a ``:blackhole:`` entry; campus has a
per-domain alias folder (``vdomains/``, ``lsearch*`` with a ``*: :fail:`` catch-all) where
``seminar`` is reached as ``talks``; netsight has Mailman's router and a virtual domain.

The stand-in stays here on purpose: this test is about routing, hundreds of addresses over three
samples compared argument for argument, which a recording script answers exactly and fast.
That the real Mailman 2.1 behind the emitted tables takes every command from smtpd (its group
check passed, each command in the queue Mailman gives it) is proved in test_plan_delivery.py.
"""

from __future__ import annotations

import re
import time

import pytest

from conftest import SAMPLE_HOSTS, SAMPLES
from eximtools import bt_blocks, ensure_users as ensure_exim_users, exim, world_tmp  # noqa: F401
from emitters.mailman2.paths import MM_WRAPPER
from migrate.app.inspection import inspect_tree
from migrate.core.model import Origin
from migrate.app.planning import build_plan, resolve_target
from migrate.app.sources import LocalTree
from smtpdtools import smtpd_running
from test_exim_oracle import _taint_safe_copy

CONFIGURE = "/usr/local/etc/exim/configure"
V6 = "2001:db8:50::25"
WRAPPER = """#!/bin/sh
f=$(mktemp @OUT@/call.XXXXXXXX)
{ echo "args=$*"; cat; } > "$f.tmp" && mv "$f.tmp" "$f"
"""


def _plan(host):
    inv = inspect_tree(LocalTree(SAMPLES / host), Origin("local", f"/samples/{host}"))
    target = resolve_target(inv, {"tls_certificate": None, "tls_key": None},
                            {"hostname": f"new.{host}.example", "ipv6": [V6],
                             "destination": "mailman2"})
    return inv, build_plan(inv, target)


def _expected(inv, row):
    """(command, list) the old host's wrapper got for a parity row's address."""
    local, _, domain = row["address"].rpartition("@")
    for r in inv.mta.list_routes:
        if r.address.lower() == local.lower() and r.domain == domain \
                and r.list_name == row["list"]:
            return r.action, r.list_name
    return None


@pytest.mark.parametrize("host", SAMPLE_HOSTS)
def test_every_sample_has_full_parity(host):
    inv, plan = _plan(host)
    statuses = {r["status"] for r in plan.parity}
    assert "missing" not in statuses, [r for r in plan.parity if r["status"] == "missing"]
    assert not [f for f in plan.findings if f.id == "plan.parity-missing"]


@pytest.mark.parametrize("host", SAMPLE_HOSTS)
def test_old_exim_routes_every_row_as_the_table_says(host, world_tmp):  # noqa: F811
    ensure_exim_users()
    inv, plan = _plan(host)
    rows = [r for r in plan.parity if r["status"] in ("ok", "forward", "rejected", "dropped")
            and not r["address"].startswith("*@")]
    catch_all = [r for r in plan.parity if r["address"].startswith("*@")
                 and r["status"] == "rejected"]
    probes = [r["address"] for r in rows]
    probes += [f"nosuch-parity-probe@{r['address'][2:]}" for r in catch_all]
    root = _taint_safe_copy(SAMPLES / host, world_tmp)
    proc = exim(CONFIGURE, "-bt", *probes, host_root=root, timeout=120)
    out = proc.stdout + proc.stderr
    blocks = bt_blocks(proc.stdout)
    assert rows
    for row in rows:
        address = row["address"]
        if row["status"] in ("ok", "forward"):
            action, name = _expected(inv, row)
            via_router = any(h == address and any("router = " in line for line in body)
                             for h, body in blocks.items())
            pipe = re.search(re.escape(address) + r" -> \|(\S+) (\S+) (\S+)", out)
            if via_router:  # Mailman's router: the transport passes the suffix as the command
                assert row["old"] not in ("",) and "mailman" in "".join(blocks[address])
            else:
                assert pipe, (address, out)
                assert pipe.groups() == (inv.mailman.wrapper, action, name), address
        elif row["status"] == "rejected":
            assert re.search(re.escape(address) + r" is undeliverable", out), address
        else:  # dropped
            assert f"mail to {address} is discarded" in out, address
    for row in catch_all:
        probe = f"nosuch-parity-probe@{row['address'][2:]}"
        assert re.search(re.escape(probe) + r" is undeliverable", out), probe


@pytest.mark.parametrize("host", SAMPLE_HOSTS)
def test_new_smtpd_delivers_every_row_as_the_table_says(host):
    inv, plan = _plan(host)
    files = plan.files
    conf = files["files/new/etc/mail/smtpd.conf"]
    mail = {rel.rsplit("/", 1)[1]: text for rel, text in files.items()
            if rel.startswith("files/new/etc/mail/") and not rel.endswith("smtpd.conf")}
    binds = {f"/etc/mail/{name}": name for name in mail}
    binds[MM_WRAPPER] = "wrapper"
    rows = [r for r in plan.parity if r["status"] in ("ok", "added", "rejected", "dropped")
            and (r["list"] or r["status"] != "added")]  # not the new host's system aliases
    assert rows
    with smtpd_running(conf, files=mail, scripts={"wrapper": WRAPPER},
                       addresses=(f"{V6}/128",), binds=binds) as smtpd:
        expected: dict[str, tuple[str, str]] = {}
        dropped: list[str] = []
        for row in rows:
            address = row["address"]
            if address.startswith("*@"):
                address = f"nosuch-parity-probe@{address[2:]}"
            reply = smtpd.send(address, client="127.0.0.2", body=f"probe {address}")
            if row["status"] == "rejected":
                assert (reply.rcpt_code(address) or "")[:1] == "5", (address, reply.transcript)
                assert not reply.accepted
                continue
            assert reply.accepted, (address, reply.transcript)
            if row["status"] == "dropped":
                dropped.append(address)
                continue
            local = address.rpartition("@")[0]
            if row["status"] == "added":
                suffix = local[len(row["list"]):]
                action = next(a for s, a in (("", "post"),) + tuple(
                    (f"-{c}", c) for c in ("admin", "bounces", "confirm", "join", "leave",
                                           "owner", "request", "subscribe", "unsubscribe"))
                    if s == suffix)
                expected[address] = (action, row["list"])
            else:
                expected[address] = _expected(inv, row)
        deadline = time.monotonic() + 60
        calls: dict[str, str] = {}
        while time.monotonic() < deadline:
            calls = {}
            for path in smtpd.out.glob("call.*"):
                if path.name.endswith(".tmp"):
                    continue
                text = path.read_text(errors="replace")
                probe = re.search(r"probe (\S+)", text)
                args = re.match(r"args=(.*)", text)
                if probe and args:
                    calls[probe.group(1)] = args.group(1)
            if set(calls) >= set(expected):
                break
            time.sleep(0.2)
        for address, (action, name) in expected.items():
            assert calls.get(address) == f"{action} {name}", (address, calls.get(address))
        for address in dropped:  # delivered, to /dev/null: nothing got it
            assert address not in calls
            done = re.compile(rf"mda delivery .*rcpt=<{re.escape(address)}> .*result=Ok")
            deadline = time.monotonic() + 30
            while not done.search(smtpd.log()) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert done.search(smtpd.log()), address
