"""The old-MTA recipe, proved: a second MTA plugs in from this one file.

"fakemta" is a made-up MTA with a tiny configuration of its own
(``/usr/local/etc/fakemta/fakemta.conf``: ``domain NAME ROLE`` and ``list NAME`` lines). Its
reading half parses that into the inventory's ``Mta``; its writing half gives the old host's
files and the runbook's parts. Registered once, it is inspected from ``--root`` and planned
through the CLI, and the plan holds its commands and files, none of Exim's."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from conftest import REPO, SAMPLES
from migrate.core import mta
from migrate.app import cli
from migrate.core.mailman2 import ADDRESSES
from migrate.core.model import (Domain, DomainRole, Finding, ListRoute, Mta, RouteVia, Severity,
                                Source)
from migrate.core.mta import Plugin, Read, Reader, StepParts, Table, Writer
from parsers.base import read_text
from migrate.core.steps import Insert

CONF = "/usr/local/etc/fakemta/fakemta.conf"
FORWARD = "files/old/fakemta-forward.rule"
FREEZE = "files/old/fakemta-freeze.rule"


@dataclass
class FakePart:
    """fakemta's own part of the inventory (``Mta.detail``): the lists its rules name."""

    lists: list[str] = field(default_factory=list)


# --- the reading half ---------------------------------------------------------------------------


def read_fake(tree, config: str, hostname: str | None, defines: dict[str, str]) -> Read:
    tf = read_text(tree, config, "fakemta")
    found = Mta(kind="fakemta", config_files=[tf.config] if tf.config else [],
                detail=FakePart())
    findings = list(tf.findings)
    for n, line in enumerate((tf.text or "").splitlines(), 1):
        words = line.split()
        if words[:1] == ["domain"] and len(words) == 3:
            found.domains.append(Domain(words[1], DomainRole(words[2]), "fakemta.conf",
                                        Source(config, n)))
        elif words[:1] == ["list"] and len(words) == 2:
            found.detail.lists.append(words[1])
            for domain in found.domains_by_role(DomainRole.LIST):
                found.list_routes += [
                    ListRoute(words[1] + suffix, domain, words[1], RouteVia.ROUTER,
                              router="fake_lists", source=Source(config, n), action=action)
                    for suffix, action in ADDRESSES]
        elif words:
            findings.append(Finding("fakemta.unknown-line", Severity.WARNING,
                                    f"fakemta.conf line {n} is not understood",
                                    "Check the line on the old host.", Source(config, n)))
    return Read(found, findings, has_aliases=False)


def summary(found: Mta) -> list[Table]:
    return [Table("Fake rules", ("rule", "addresses"),
                  [("fake_lists", str(len(found.list_routes)))])]


READER = Reader(name="FakeMTA", service="fakemta", config_paths=(CONF,), read=read_fake,
                summary=summary, model=FakePart,
                define_problem=lambda name: None if name.startswith("fake.") else
                "a fakemta setting starts with fake.")


# --- the writing half ---------------------------------------------------------------------------


def old_host(inv, target, domains, kept):
    address = (target.ipv6 or target.ipv4)[0]
    lists = " ".join(inv.mta.detail.lists)
    return ({FORWARD: f"# lists: {lists}\n"
             + "".join(f"forward {d} to [{address}]\n" for d in domains),
             FREEZE: "".join(f"tempfail {d}\n" for d in domains)}, [])


class FakeAdapter:
    kind = "fakemta"
    name = "FakeMTA"
    version = "fakemtactl version"
    reload = "fakemtactl reload"
    queue_step = "old-fakemta-queue"

    def __init__(self, inv, domains, probe):
        self.inv = inv

    def _freeze(self) -> Insert:
        return Insert(source=FREEZE, paths=[CONF], before=r"\A", marker="freeze")

    def freeze(self) -> StepParts:
        return StepParts([self._freeze(), self.reload], ["fakemtactl frozen"],
                         [self.unfreeze(), self.reload])

    def unfreeze(self):
        return self._freeze().undo()

    def queue(self) -> StepParts:
        return StepParts(["fakemtactl flush"], ["fakemtactl queue-empty"], [])

    def forward(self) -> StepParts:
        forward = Insert(source=FORWARD, paths=[CONF], before=r"\A", marker="forward")
        return StepParts([forward, self.unfreeze(), self.reload], ["fakemtactl forwards"],
                         [forward.undo(), self.reload])


FAKE = Plugin("fakemta", READER, Writer(adapter=FakeAdapter, old_host=old_host,
                                        continued=("fakemta-forward.rule",)))


# --- the host and the proof ---------------------------------------------------------------------


@pytest.fixture
def registered(monkeypatch):
    """The fake plugin registered once, for this test only."""
    monkeypatch.setattr(mta, "_PLUGINS", dict(mta._PLUGINS))
    mta.register(FAKE)
    return FAKE


@pytest.fixture
def fake_host(tmp_path) -> Path:
    """The small sample, its Exim replaced by fakemta."""
    root = tmp_path / "host"
    shutil.copytree(SAMPLES / "small", root, symlinks=True)
    shutil.rmtree(root / "usr/local/etc/exim")
    rc = root / "etc/rc.conf"
    rc.write_text(rc.read_text().replace('exim_enable="YES"', 'fakemta_enable="YES"'))
    conf = root / CONF.lstrip("/")
    conf.parent.mkdir(parents=True)
    conf.write_text("domain lists.smallclub.example list\n"
                    "domain smallclub.example local\n"
                    "list members\nlist mailman\n")
    return root


def test_a_second_mta_is_inspected_and_planned_from_its_plugin(registered, fake_host,
                                                                 tmp_path):
    runner = CliRunner()
    inv_file, plan_dir = tmp_path / "inventory.yaml", tmp_path / "plan"
    result = runner.invoke(cli.app, ["inspect", "--root", str(fake_host), "-o", str(inv_file)])
    assert result.exit_code in (0, 1), result.stderr
    assert "kind: fakemta" in inv_file.read_text()
    assert "lists:\n  - members\n  - mailman" in inv_file.read_text()  # its own part
    assert "Fake rules" in result.stdout  # its terminal summary
    result = runner.invoke(cli.app, ["plan", str(inv_file), "-o", str(plan_dir),
                                     "--hostname", "lists.smallclub.example",
                                     "--ipv6", "2001:db8::25"])
    assert result.exit_code in (0, 1), result.stderr
    assert "no commands for the old host's MTA" not in (plan_dir / "report.md").read_text()
    runbook = (plan_dir / "runbook.md").read_text()
    for command in ("fakemtactl reload", "fakemtactl flush", "fakemtactl queue-empty",
                    "fakemtactl forwards", "old-fakemta-queue", FREEZE, FORWARD):
        assert command in runbook
    assert (plan_dir / FORWARD).read_text() == (  # from its part, read back by its plugin
        "# lists: members mailman\nforward lists.smallclub.example to [2001:db8::25]\n")
    old = sorted(p.name for p in (plan_dir / "files/old").iterdir())
    assert "fakemta-freeze.rule" in old and not [n for n in old if "exim" in n]
    # (the reports and plan.yaml's findings show the inventory's findings as they were found)
    inventory_findings = yaml.safe_load(inv_file.read_text())["findings"]
    data = yaml.safe_load((plan_dir / "plan.yaml").read_text())
    data["findings"] = [f for f in data["findings"] if f not in inventory_findings]
    plan_text = "\n".join(p.read_text() for p in plan_dir.rglob("*") if p.is_file()
                          and not p.name.startswith("report.") and p.name != "plan.yaml")
    assert "exim" not in (plan_text + yaml.safe_dump(data)).lower()


def test_the_fake_mta_needed_no_change_elsewhere():
    """Nothing of the project names the fake MTA: this file alone plugs it in."""
    named = [str(p.relative_to(REPO)) for d in ("migrate", "parsers", "emitters")
             for p in (REPO / d).glob("*.py") if "fakemta" in p.read_text()]
    assert named == []


def test_the_ssh_snapshot_fetches_the_plugins_configuration(registered):
    from migrate.app.inspection import remote_spec

    assert ("/usr/local/etc/fakemta", "content", 3) in remote_spec()
    assert ("/usr/local/etc/exim", "content", 3) in remote_spec()


def test_the_guard_takes_the_plugins_continued_files(registered):
    from emitters.guard import output_problem

    text = "# a comment that ends in a backslash \\\nforward x\n"
    assert output_problem(f"files/old/{FAKE.writer.continued[0]}", text)
    assert output_problem("files/old/fakemta-other.txt", text) is None


def test_an_mta_without_a_plugin_gets_no_exim_commands(tmp_path, fake_host):
    """Without the plugin registered, the same host plans with the blocker, and the runbook
    asks a person instead of running another MTA's commands."""
    runner = CliRunner()
    inv_file, plan_dir = tmp_path / "inventory.yaml", tmp_path / "plan"
    result = runner.invoke(cli.app, ["inspect", "--root", str(fake_host), "-o", str(inv_file)])
    assert result.exit_code in (0, 1), result.stderr
    inv_file.write_text(inv_file.read_text().replace("  kind: null", "  kind: postfix"))
    result = runner.invoke(cli.app, ["plan", str(inv_file), "-o", str(plan_dir),
                                     "--hostname", "lists.smallclub.example",
                                     "--ipv6", "2001:db8::25"])
    assert result.exit_code == 1, result.stderr
    assert "no commands for the old host's MTA (postfix)" in (plan_dir / "report.md").read_text()
    runbook = (plan_dir / "runbook.md").read_text()
    assert "by hand" in runbook and "exim" not in runbook.lower()


def test_the_plugins_say_which_defines_they_take(registered, fake_host, tmp_path):
    runner = CliRunner()
    out = str(tmp_path / "inventory.yaml")
    result = runner.invoke(cli.app, ["inspect", "--root", str(fake_host), "-o", out,
                                     "-D", "fake.queue=2"])
    assert result.exit_code in (0, 1), result.stderr
    result = runner.invoke(cli.app, ["inspect", "--root", str(fake_host), "-o", out,
                                     "-D", "lower=2"])
    assert result.exit_code == 2
    assert "a macro name starts with an upper-case letter" in result.stderr
    assert "a fakemta setting starts with fake." in result.stderr


def test_a_kind_is_registered_once(registered):
    mta.register(FAKE)  # the same plugin again: nothing changes
    with pytest.raises(ValueError, match="'fakemta' is registered already"):
        mta.register(Plugin("fakemta", READER, FAKE.writer))
    assert mta.lookup("fakemta") is FAKE and mta.lookup(None) is None
