"""The plan's files for the old host, put into the sample host's Exim configuration and run by
the real Exim: the forward router sends every moved list address to the new host, the freeze
ACL answers 4xx for the moved domains only, and the aliases for staying domains forward."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import SAMPLES, exim_binary
from eximtools import bt_blocks, ensure_users, exim, world_tmp  # noqa: F401
from migrate.app.inspection import inspect_tree
from migrate.core.model import Origin
from migrate.app.planning import build_plan, resolve_target
from migrate.app.sources import LocalTree

CONFIGURE = "/usr/local/etc/exim/configure"
V6 = "2001:db8:50::25"


@pytest.fixture(scope="module")
def netsight():
    inv = inspect_tree(LocalTree(SAMPLES / "netsight"), Origin("local", "/samples/netsight"))
    target = resolve_target(inv, {}, {"hostname": "lists.netsight.example", "ipv6": [V6]})
    return inv, build_plan(inv, target)


def _copy(world_tmp: Path) -> Path:
    """The sample's Exim folder, Mailman and aliases, editable, shown to Exim at its paths;
    the virtual router in Exim 4.94+'s taint-safe form (as in test_exim_oracle)."""
    root = SAMPLES / "netsight"
    copy = world_tmp / "host"
    shutil.copytree(root / "usr/local/etc", copy / "usr/local/etc", symlinks=True)
    (copy / "usr/local/mailman").symlink_to(root / "usr/local/mailman")
    (copy / "etc").mkdir()
    shutil.copy(root / "etc/mail/aliases", copy / "etc/aliases")
    conf = copy / "usr/local/etc/exim/configure"
    conf.write_text(conf.read_text().replace(
        "lsearch{VIRTUAL_DIR/$domain}", "lsearch{${lookup{$domain}dsearch,ret=full{VIRTUAL_DIR}}}"))
    return copy


def _snippet(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_forward_router_sends_every_moved_list_address_to_the_new_host(netsight, world_tmp):
    ensure_users()
    inv, plan = netsight
    copy = _copy(world_tmp)
    conf = copy / "usr/local/etc/exim/configure"
    lines = conf.read_text().splitlines()
    at = lines.index("begin routers") + 1
    router = _snippet(plan.files["files/old/exim-forward-router.conf"])
    conf.write_text("\n".join(lines[:at] + router + lines[at:]) + "\n")
    moved = set(plan.target.email_domains)
    addresses = sorted({f"{r.address}@{r.domain}" for r in inv.mta.list_routes
                        if r.domain in moved})
    assert len(addresses) >= 39
    proc = exim(CONFIGURE, "-bt", *addresses, host_root=copy, timeout=120)
    blocks = bt_blocks(proc.stdout)
    for address in addresses:
        lines = next(v for k, v in blocks.items() if k.startswith(address))
        text = " ".join(lines)
        assert "router = migrate_forward" in text and "transport = remote_smtp" in text, \
            (address, lines)
        assert f"host {V6}" in text or V6 in text, (address, lines)
    # a local domain that stays is untouched: announce@netsight.example still pipes locally
    stay = exim(CONFIGURE, "-bt", "announce@netsight.example", host_root=copy)
    assert "migrate_forward" not in stay.stdout and "mailman" in stay.stdout


def test_freeze_acl_defers_moved_domains_only(netsight, world_tmp):
    ensure_users()
    _, plan = netsight
    copy = _copy(world_tmp)
    acl_file = next(p for p in (copy / "usr/local/etc/exim").rglob("*")
                    if p.is_file() and re.search(r"^acl_check_rcpt:", p.read_text(), re.M))
    lines = acl_file.read_text().splitlines()
    at = lines.index("acl_check_rcpt:") + 1
    freeze = _snippet(plan.files["files/old/exim-freeze-acl.conf"])
    acl_file.write_text("\n".join(lines[:at] + freeze + lines[at:]) + "\n")
    session = ("HELO sender.example\r\nMAIL FROM:<someone@sender.example>\r\n"
               "RCPT TO:<announce@lists.netsight.example>\r\n"
               "RCPT TO:<devtalk@lists.riverbend.example>\r\nQUIT\r\n")
    proc = _exim_bh(copy, session)
    replies = [line for line in proc.stdout.splitlines() if re.match(r"\d{3}[ -]", line)]
    rcpt = [r for r in replies if r.startswith(("250 Accepted", "451", "4"))]
    assert [r[:3] for r in rcpt if r.startswith("4")] == ["451", "451"], proc.stdout
    assert any("moving" in r for r in rcpt)


def _exim_bh(copy: Path, session: str):
    import subprocess

    from conftest import exim_binary
    from eximtools import NS_SCRIPT
    cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c", NS_SCRIPT, str(copy),
           exim_binary(), "-C", CONFIGURE, "-bh", "192.0.2.99"]
    return subprocess.run(cmd, input=session, capture_output=True, text=True, timeout=60)


def test_staying_domain_aliases_become_forwards(netsight):
    inv, plan = netsight
    text = plan.files["files/old/aliases-forward.txt"]
    assert re.search(r"^announce:\s+announce@lists\.netsight\.example$", text, re.M)
    assert len([line for line in text.splitlines() if not line.startswith("#")]) == 10
    assert any(f.id == "plan.list-addresses-on-staying-domains" for f in plan.findings)


def test_exim_queue_check_waits_for_list_mail_not_for_mailmans_deliveries(world_tmp):
    """The old-exim-queue step's check, run against the real Exim's queue: a post queued for
    a list address fails it; Mailman's own delivery of a post to the members (its sender is
    the list's -bounces address, in the moved domain) may stay queued for remote hosts."""
    ensure_users()
    inv = inspect_tree(LocalTree(SAMPLES / "small"), Origin("local", "/samples/small"))
    plan = build_plan(inv, resolve_target(inv, {}, {"hostname": "new.smallclub.example",
                                                    "ipv6": [V6]}))
    step = next(s.to_data() for s in plan.steps if s.id == "old-exim-queue")
    [check] = step["check"]
    world_tmp.chmod(0o777)
    conf = world_tmp / "configure"
    conf.write_text(f"keep_environment =\nspool_directory = {world_tmp}/spool\n"
                    f"log_file_path = {world_tmp}/%slog\nexim_user = mailnull\n"
                    "exim_group = mail\nbegin routers\nr:\n  driver = accept\n  transport = t\n"
                    "begin transports\nt:\n  driver = appendfile\n  file = /dev/null\n")
    bin_dir = world_tmp / "bin"
    bin_dir.mkdir()
    (bin_dir / "exim").write_text(f"#!/bin/sh\nexec {exim_binary()} -C {conf} \"$@\"\n")
    (bin_dir / "exim").chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")

    def ids() -> set[str]:
        out = subprocess.run(["exim", "-bpr"], capture_output=True, text=True, env=env,
                             timeout=60).stdout
        return set(re.findall(r"^ *\S+ +\S+ (\S+) <", out, re.M))

    def queue(sender: str, *rcpts: str) -> str:
        before = ids()
        res = subprocess.run(["exim", "-odq", "-f", sender, *rcpts], input="Subject: x\n\nhi\n",
                             capture_output=True, text=True, env=env, timeout=60)
        assert res.returncode == 0, res.stderr
        [new] = ids() - before
        return new

    def passes() -> bool:
        return subprocess.run(["sh", "-c", check], env=env, timeout=60).returncode == 0

    queue("members-bounces@lists.smallclub.example", "alice@example.net", "Bob@Example.ORG")
    assert passes()  # only Mailman's deliveries to the members are queued
    post = queue("poster@example.net", "Members@Lists.Smallclub.Example")
    assert not passes()  # a post for the list waits in the queue
    subprocess.run(["exim", "-Mrm", post], env=env, capture_output=True, timeout=60, check=True)
    assert passes()


@pytest.mark.parametrize("sample", ["campus", "hillcrest", "netsight", "oakfield", "small"])
def test_the_freeze_and_forward_checks_probe_a_list_s_own_address(sample):
    """The old MTA's freeze and forward steps check one address: a list's own posting address
    on a moved domain. (hillcrest's first list name at its first moved domain,
    alumni-news@alumni.hillcrest.example, is no list's: that virtual domain's catch-all keeps
    it on the old host, the forward router rightly leaves it, and the check failed.)"""
    inv = inspect_tree(LocalTree(SAMPLES / sample), Origin("local", f"/samples/{sample}"))
    target = resolve_target(inv, {}, {"hostname": f"new.{sample}.example", "ipv6": [V6]})
    steps = {s.id: s for s in build_plan(inv, target).steps}
    own = {f"{ml.name}@{ml.host_name}" for ml in inv.lists
           if ml.host_name in target.email_domains}
    checks = [str(c) for s in ("old-freeze", "old-forward") for c in steps[s].check]
    probed = {a for c in checks for a in re.findall(r"[\w.-]+@[\w.-]+\.example", c)} - {
        "check@check.example"}
    assert len(checks) == 2 and len(probed) == 1 and probed <= own, (checks, own)
