"""The operator's side of every verb: one exit-code table (README.md and every --help, from
``EXIT_MEANINGS``), each code pinned by a run that earns it; ``--quiet`` (the closing line
only) and ``--json`` on every verb; nothing changes a host without ``--execute``, and a
declined or unanswered confirmation is its own code, not a usage error; help that names every
value (no typer ``<str>``, ``{inventory}``) and says which options repeat."""

from __future__ import annotations

import json
import re

import pytest
import typer
from typer.testing import CliRunner

import migrate.app.cli as cli
import migrate.app.hosts
import migrate.app.remote
from conftest import REPO, SAMPLES
from migrate.app.hosts import LocalHost
from migrate.core.errors import EXIT_MEANINGS, Exit
from test_cutover import synthetic_plan, tree_state

RUNNER = CliRunner()
VERBS = [["inspect"], ["plan"], ["cutover"], ["status"], ["export", "ansible"]]
SMALL = ["--hostname", "lists.example.org", "--ipv6", "2001:db8:60::25"]
NETSIGHT = ["--hostname", "lists.netsight.example", "--ipv6", "2001:db8:50::25",
            "--smarthost", "smtp.upstream.example"]


def run(*args: str, **kwargs):
    return RUNNER.invoke(cli.app, list(args), **kwargs)


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    """small (nothing of severity error) and netsight (its planted error and blocker), each
    inspected and planned through the command line."""
    base = tmp_path_factory.mktemp("plans")
    out = {}
    for name, flags in (("small", SMALL), ("netsight", NETSIGHT)):
        inv = base / f"{name}.yaml"
        run("inspect", "--root", str(SAMPLES / name), "-o", str(inv), "-q")
        res = run("plan", str(inv), *flags, "-o", str(base / name), "-q")
        out[name] = (inv, base / name, res.exit_code)
    return out


# --- one table ------------------------------------------------------------------------------


def _readme_table() -> dict[int, str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### Exit codes"):]
    section = section[:section.index("\n#", 1)]
    return {int(m.group(1)): m.group(2).replace("\\|", "|")
            for m in re.finditer(r"^\| (\d+) \| (.+) \|$", section, re.M)}


def test_readme_shows_the_one_table():
    assert _readme_table() == {int(code): text for code, text in EXIT_MEANINGS.items()}
    assert set(EXIT_MEANINGS) == set(Exit)  # every code has its meaning


@pytest.mark.parametrize("verb", [[]] + VERBS, ids=lambda v: " ".join(v) or "migrate")
def test_every_help_shows_the_table_and_names_every_value(verb, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one row per line, so each is found whole
    res = run(*verb, "--help")
    assert res.exit_code == 0, res.output
    text = res.stdout
    for code, meaning in EXIT_MEANINGS.items():
        assert re.search(rf"^\s+{int(code)}  {re.escape(meaning)}\s*$", text, re.M), meaning
    # explicit metavars: no typer type labels, no braces around a required argument
    assert not re.search(r"<(bool|str|int|float|path|list\[\w+\])>", text, re.I), text
    assert not re.search(r"\{\w+", text.split("Exit codes")[0]), text
    assert "Usage: migrate" in text


def _commands():
    group = typer.main.get_command(cli.app)
    for name, command in group.commands.items():
        for sub, each in getattr(command, "commands", {name: command}).items():
            yield sub if sub == name else f"{name} {sub}", each


def test_options_that_repeat_say_so_and_every_value_has_a_name():
    seen = 0
    for name, command in _commands():
        for param in command.params:
            if not isinstance(param, typer.core.TyperOption) or param.is_flag:
                continue
            assert param.metavar, f"{name} {param.opts}: no metavar"
            assert param.metavar.upper() == param.metavar or "@" in param.metavar \
                or "|" in param.metavar, (name, param.opts, param.metavar)
            if param.multiple:
                seen += 1
                assert "repeatable" in (param.help or ""), (name, param.opts)
    assert seen >= 5  # -D, --ipv6, --ipv4, --email-domain, --plan-digest


def test_typer_and_rich_are_pinned_to_the_tested_ranges():
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    for package in ("typer", "rich"):  # typer 0.29 carries its own click
        spec = re.search(rf'"{package}(>=[^"]+)"', text)
        assert spec and "<" in spec.group(1), (package, "needs an upper bound")


# --- each code earned -----------------------------------------------------------------------


def test_inspect_codes(tmp_path):
    assert run("inspect", "--root", str(SAMPLES / "small"), "-o", str(tmp_path / "a.yaml"),
               "-q").exit_code == Exit.OK
    assert run("inspect", "--root", str(SAMPLES / "netsight"), "-o", str(tmp_path / "b.yaml"),
               "-q").exit_code == Exit.FINDINGS
    assert run("inspect").exit_code == Exit.USAGE
    assert run("inspect", "--root", str(tmp_path / "nowhere"), "-q").exit_code == Exit.INPUT


def test_plan_codes(plans, tmp_path):
    assert plans["small"][2] == Exit.OK
    assert plans["netsight"][2] == Exit.FINDINGS
    inv = plans["small"][0]
    assert run("plan", str(inv), "--ipv6", "nope", "-o", str(tmp_path / "p")).exit_code \
        == Exit.USAGE
    bad = tmp_path / "bad.yaml"
    bad.write_text("{]\n")
    assert run("plan", str(bad), *SMALL, "-o", str(tmp_path / "q")).exit_code == Exit.INPUT


def test_the_dry_run_exits_as_plan_did(plans, tmp_path):
    for name in ("small", "netsight"):
        _, plan_dir, code = plans[name]
        assert run("cutover", str(plan_dir), "-q").exit_code == code, name
    assert run("cutover", str(tmp_path / "nope")).exit_code == Exit.INPUT
    assert run("cutover", str(plans["small"][1]), "--resume", "--rollback").exit_code \
        == Exit.USAGE
    assert run("status", str(plans["small"][1]), "-q").exit_code == Exit.OK
    assert run("status", str(tmp_path / "nope")).exit_code == Exit.INPUT


def _local_hosts(monkeypatch):
    """The cutover's SSH replaced by this machine (the synthetic plan edits folders)."""
    monkeypatch.setattr(migrate.app.remote, "connect", lambda *a, **k: None)
    monkeypatch.setattr(migrate.app.hosts, "SshHost", lambda name, client: LocalHost(name))


CONN = ["--old", "root@old.invalid", "--new", "root@new.invalid"]


@pytest.mark.parametrize("answer", ["n\n", ""], ids=["no", "no answer"])
@pytest.mark.parametrize("mode", [[], ["--resume"], ["--rollback"]],
                         ids=["execute", "resume", "rollback"])
def test_a_declined_confirmation_changes_nothing_and_exits_8(tmp_path, monkeypatch, answer,
                                                             mode):
    _local_hosts(monkeypatch)
    plan_dir = synthetic_plan(tmp_path)
    if mode:  # something to resume or roll back: a first run that stopped
        run("cutover", str(plan_dir), *CONN, "--execute", "--yes")
        journal = plan_dir / "journal.jsonl"
        kept = [line for line in journal.read_text().splitlines()
                if '"step": "slow"' not in line and '"step": "unfreeze"' not in line]
        journal.write_text("\n".join(kept) + "\n")
    before = tree_state(tmp_path), (plan_dir / "journal.jsonl").exists() and \
        (plan_dir / "journal.jsonl").read_bytes()
    res = run("cutover", str(plan_dir), *CONN, "--execute", *mode, input=answer)
    assert res.exit_code == Exit.DECLINED, res.output
    assert "nothing was changed" in res.stderr and "?" in res.stderr  # the question was asked
    after = tree_state(tmp_path), (plan_dir / "journal.jsonl").exists() and \
        (plan_dir / "journal.jsonl").read_bytes()
    assert after == before


def test_resume_and_rollback_without_execute_only_show(tmp_path, monkeypatch):
    _local_hosts(monkeypatch)
    plan_dir = synthetic_plan(tmp_path)
    # before any start: nothing to roll back, said so
    res = run("cutover", str(plan_dir), *CONN, "--execute", "--rollback", "--yes")
    assert res.exit_code == Exit.USAGE and "nothing to roll back" in res.stderr, res.output
    data = (plan_dir / "plan.yaml").read_text()
    import plantools
    import yaml
    broken = yaml.safe_load(data)
    broken["steps"][3]["actions"][0]["command"] += "; echo 'the disk is full'; exit 3"
    plantools.write_plan(plan_dir, broken)
    res = run("cutover", str(plan_dir), *CONN, "--execute", "--yes")
    assert res.exit_code == Exit.STEP_FAILED, res.output  # a step failed: its own code
    assert "step slow failed" in res.stderr and "migrate status" in res.stderr
    journal = (plan_dir / "journal.jsonl").read_bytes()
    state = tree_state(tmp_path)
    res = run("cutover", str(plan_dir), *CONN, "--resume")
    assert res.exit_code == Exit.OK and "it would run:" in res.stdout
    last = res.stdout.strip().splitlines()[-1]
    assert last.startswith("dry run of --resume: 2 step(s)") and last.endswith("--resume"), last
    res = run("cutover", str(plan_dir), *CONN, "--rollback")
    assert res.exit_code == Exit.OK and "restore old:" in res.stdout
    assert res.stdout.strip().splitlines()[-1].startswith("dry run of --rollback: 4 started")
    assert (plan_dir / "journal.jsonl").read_bytes() == journal and tree_state(tmp_path) == state
    res = run("status", str(plan_dir), "-q")
    assert res.stdout.strip() == (f"{plan_dir}: failed at slow, 3 of 5 steps done; next: "
                                  "--execute --resume (or --execute --rollback)")
    plantools.write_plan(plan_dir, yaml.safe_load(data))  # the cause fixed
    res = run("cutover", str(plan_dir), *CONN, "--execute", "--resume", "--yes", "-q")
    assert res.exit_code == Exit.OK, res.output
    assert res.stdout.count("\n") == 1 and res.stdout.startswith("cutover done in ")
    journal = (plan_dir / "journal.jsonl").read_bytes()  # again: nothing to do, nothing asked
    res = run("cutover", str(plan_dir), *CONN, "--execute", "--resume", "-q")
    assert res.exit_code == Exit.OK and res.stdout.startswith("nothing to resume"), res.output
    assert (plan_dir / "journal.jsonl").read_bytes() == journal


def test_the_cutover_json_is_the_journal(tmp_path, monkeypatch):
    """--json: each journal record as a JSON line, byte for byte as the journal keeps it, then
    one summary record; the dry run: one record per step."""
    _local_hosts(monkeypatch)
    plan_dir = synthetic_plan(tmp_path)
    res = run("cutover", str(plan_dir), "--json")
    records = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["step"] for r in records if r["event"] == "step"] == \
        ["put", "append", "freeze", "slow", "unfreeze"]
    assert records[-1]["event"] == "summary" and records[-1]["dry_run"] is True
    res = run("cutover", str(plan_dir), *CONN, "--execute", "--yes", "--json")
    assert res.exit_code == Exit.OK, res.output
    lines = res.stdout.splitlines()
    assert lines[:-1] == (plan_dir / "journal.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["event"] == "summary" and json.loads(lines[-1])["exit"] == 0


def test_interrupted_exits_130(tmp_path, monkeypatch):
    _local_hosts(monkeypatch)
    plan_dir = synthetic_plan(tmp_path)
    import migrate.app.cutover as engine

    def interrupt(self, step):
        raise KeyboardInterrupt
    monkeypatch.setattr(engine.Runner, "run_step", interrupt)
    res = run("cutover", str(plan_dir), *CONN, "--execute", "--yes")
    assert res.exit_code == Exit.INTERRUPTED and "--resume" in res.stderr, res.output


# --- quiet and JSON on every verb -----------------------------------------------------------


def test_quiet_prints_the_closing_line_only(plans, tmp_path):
    inv, plan_dir, _ = plans["small"]
    lines = {
        "inspect": run("inspect", "--root", str(SAMPLES / "small"), "-o",
                       str(tmp_path / "i.yaml"), "-q").stdout,
        "plan": run("plan", str(inv), *SMALL, "-o", str(tmp_path / "p"), "-q").stdout,
        "cutover": run("cutover", str(plan_dir), "-q").stdout,
        "status": run("status", str(plan_dir), "-q").stdout,
        "export": run("export", "ansible", str(plan_dir), "-o", str(tmp_path / "fleet"),
                      "-q").stdout,
    }
    for verb, text in lines.items():
        assert text.count("\n") == 1, (verb, text)
    assert lines["inspect"].startswith(f"inventory written to {tmp_path}/i.yaml: ")
    assert lines["plan"].startswith(f"plan written to {tmp_path}/p; ")
    assert lines["cutover"].startswith("dry run: ") and "--execute --plan-digest" in \
        lines["cutover"]
    assert lines["status"].startswith(f"{plan_dir}: not started")
    assert lines["export"].startswith("Ansible tree written to ")


def test_json_on_every_verb(plans, tmp_path):
    inv, plan_dir, _ = plans["netsight"]
    for args in (["inspect", "--root", str(SAMPLES / "small"), "--json"],
                 ["plan", str(inv), *NETSIGHT, "-o", str(tmp_path / "p"), "--json"],
                 ["status", str(plan_dir), "--json"],
                 ["export", "ansible", str(plans["small"][1]), "-o", str(tmp_path / "f"),
                  "--json"]):
        res = run(*args)
        assert json.loads(res.stdout), args
    res = run("cutover", str(plan_dir), "--json")
    assert res.exit_code == Exit.FINDINGS
    assert all(json.loads(line) for line in res.stdout.splitlines())
    # plan's findings: the inventory's that stand, with their severity and stage
    data = json.loads(run("plan", str(inv), *NETSIGHT, "-o", str(tmp_path / "p2"),
                          "--json").stdout)
    stages = {(f["stage"], f["severity"]) for f in data["findings"]}
    assert ("inspect", "error") in stages and ("plan", "blocker") in stages


def test_a_failed_rollback_action_exits_7_after_restoring_every_file(tmp_path, monkeypatch):
    """The rollback goes on past an action that fails (every file is still restored), then
    exits 7, not 0: the operator must look."""
    import plantools
    import yaml
    _local_hosts(monkeypatch)
    plan_dir = synthetic_plan(tmp_path)
    before = tree_state(tmp_path)
    assert run("cutover", str(plan_dir), *CONN, "--execute", "--yes").exit_code == Exit.OK
    data = yaml.safe_load((plan_dir / "plan.yaml").read_text())
    data["steps"][2]["rollback"][0]["command"] = "echo 'cannot unfreeze'; exit 1"
    plantools.write_plan(plan_dir, data)
    res = run("cutover", str(plan_dir), *CONN, "--execute", "--rollback", "--yes", "-q")
    assert res.exit_code == Exit.STEP_FAILED, res.output
    assert res.stdout.startswith("rolled back: 5 step(s) undone") and "1 rollback action" in \
        res.stdout and res.stdout.count("\n") == 1
    assert "rollback of freeze: " in res.stderr and "cannot unfreeze" in res.stderr
    state = json.loads(run("status", str(plan_dir), "--json").stdout)
    assert state["state"] == "rolled back" and len(state["rollback_failed"]) == 1
    assert "1 rollback action(s) failed" in run("status", str(plan_dir), "-q").stdout
    assert tree_state(tmp_path) == before
