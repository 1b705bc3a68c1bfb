"""No output flag ever loses a user's file: `plan -o`, `export ansible -o` and `inspect -o`
replace only what migrate wrote there before. A folder is replaced whole only when its marker
(plan.yaml, or the export's README and site.yaml) is really one migrate wrote and it holds
nothing else than what that run wrote; otherwise exit 2 with the path, and nothing changes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import migrate.app.cli as cli
from conftest import SAMPLES

RUNNER = CliRunner()
PLAN_ARGS = ["--hostname", "lists.example.org", "--ipv6", "2001:db8::25"]


@pytest.fixture(scope="module")
def inventory(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("inv") / "inventory.yaml"
    res = RUNNER.invoke(cli.app, ["inspect", "--root", str(SAMPLES / "small"), "-o", str(out)])
    assert res.exit_code in (0, 1), res.stderr
    return out


def plan(inventory: Path, out: Path, *args: str):
    return RUNNER.invoke(cli.app, ["plan", str(inventory), *PLAN_ARGS, "-o", str(out), *args])


def _refused(res, path: Path) -> None:
    assert res.exit_code == 2, (res.exit_code, res.stderr)
    assert res.stderr.count("\n") == 1 and str(path) in res.stderr, res.stderr


def test_an_empty_plan_yaml_does_not_make_a_folder_ours(inventory, tmp_path):
    out = tmp_path / "plan"
    out.mkdir()
    (out / "plan.yaml").write_text("")
    (out / "important.txt").write_text("keep me")
    _refused(plan(inventory, out), out)
    assert (out / "important.txt").read_text() == "keep me"


@pytest.mark.parametrize("content", [
    "plan_version: 1\nfiles: {}\n",  # no header: not written by migrate
    "# The plan as data, for `migrate cutover`. Written by migrate; do not edit.\nx: 1\n",
    "# The plan as data, for `migrate cutover`. Written by migrate; do not edit.\n[: bad\n",
])
def test_a_plan_yaml_that_is_not_a_plan_is_refused(inventory, tmp_path, content):
    out = tmp_path / "plan"
    out.mkdir()
    (out / "plan.yaml").write_text(content)
    _refused(plan(inventory, out), out)
    assert (out / "plan.yaml").read_text() == content


@pytest.mark.parametrize("extra", ["important.txt", "files/new/notes.md", "journal.jsonl",
                                   "emptydir/"])
def test_a_real_plan_with_anything_more_is_refused(inventory, tmp_path, extra):
    out = tmp_path / "plan"
    assert plan(inventory, out).exit_code in (0, 1)
    target = out / extra
    if extra.endswith("/"):
        target.mkdir()
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("mine")
    res = plan(inventory, out)
    _refused(res, out / extra.rstrip("/"))
    assert target.exists()


def test_an_earlier_plan_is_replaced_whole(inventory, tmp_path):
    out = tmp_path / "plan"
    assert plan(inventory, out).exit_code in (0, 1)
    (out / "runbook.md").with_name("parity.md").unlink()  # one missing: written again
    res = plan(inventory, out)
    assert res.exit_code in (0, 1), res.stderr
    assert (out / "parity.md").is_file()
    (out / "runbook.md").write_text("edited")  # an edit is never dropped silently
    res = plan(inventory, out)
    assert res.exit_code == 2 and "runbook.md" in res.stderr, res.stderr
    assert (out / "runbook.md").read_text() == "edited"
    res = plan(inventory, out, "--discard-edits")  # but when told: replaced
    assert res.exit_code in (0, 1), res.stderr
    assert "edited" not in (out / "runbook.md").read_text()
    assert (out / "parity.md").is_file()


def test_export_ansible_keeps_a_users_file(inventory, tmp_path):
    pytest.importorskip("ansible")
    p = tmp_path / "plans" / "lists-a"
    p.parent.mkdir()
    assert plan(inventory, p).exit_code in (0, 1)
    fleet = tmp_path / "fleet"
    res = RUNNER.invoke(cli.app, ["export", "ansible", str(p), "-o", str(fleet)])
    assert res.exit_code == 0, res.stderr
    res = RUNNER.invoke(cli.app, ["export", "ansible", str(p), "-o", str(fleet)])
    assert res.exit_code == 0, res.stderr  # an earlier export is replaced
    (fleet / "inventory-notes.txt").write_text("mine")
    res = RUNNER.invoke(cli.app, ["export", "ansible", str(p), "-o", str(fleet)])
    _refused(res, fleet / "inventory-notes.txt")
    (fleet / "inventory-notes.txt").unlink()
    (fleet / "plans/lists_a/mine.txt").write_text("mine")
    res = RUNNER.invoke(cli.app, ["export", "ansible", str(p), "-o", str(fleet)])
    _refused(res, fleet / "plans/lists_a/mine.txt")
    other = tmp_path / "other"
    other.mkdir()
    (other / "site.yaml").write_text("- hosts: all\n")
    res = RUNNER.invoke(cli.app, ["export", "ansible", str(p), "-o", str(other)])
    _refused(res, other)


def test_inspect_keeps_a_file_that_is_not_an_inventory(tmp_path):
    target = tmp_path / "important.txt"
    target.write_text("keep me")
    res = RUNNER.invoke(cli.app, ["inspect", "--root", str(SAMPLES / "small"), "-o",
                                  str(target)])
    _refused(res, target)
    assert target.read_text() == "keep me"
    for name in ("inventory.yaml", "inventory.json"):
        out = tmp_path / name
        for _ in range(2):  # written, then replaced
            res = RUNNER.invoke(cli.app, ["inspect", "--root", str(SAMPLES / "small"),
                                          "-o", str(out)])
            assert res.exit_code in (0, 1), res.stderr
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    res = RUNNER.invoke(cli.app, ["inspect", "--root", str(SAMPLES / "small"), "-o",
                                  str(empty)])
    assert res.exit_code in (0, 1) and empty.stat().st_size > 0
