"""Edits the hints ask for are supported, not refused or lost (issue 23, part 9).

* ``migrate plan --overlay DIR``: DIR/new/etc/httpd.conf replaces files/new/etc/httpd.conf. The
  file is checked as the emitted one is (the guard here, at plan time; the install's own check,
  the real OpenBSD httpd's ``httpd -n`` from .cache, which refuses a broken one), sealed in
  plan.yaml (the cutover loads it) and named in a finding. A file the checks refuse, a link or a
  file that is not text is refused at plan time, one line, nothing written.
* ``plan -o`` over a plan folder with local edits (a digest that is not plan.yaml's, plan.yaml
  itself changed, or files of an overlay that is not given again) refuses (exit 2, naming them),
  keeps them (``--overlay DIR --keep-edits``: copied into DIR, then sealed) or drops them
  (``--discard-edits``).
* No hint of a parser or an emitter asks for an edit inside the plan folder: each one that asks
  for a change of a plan file points to the overlay.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from conftest import REPO, SAMPLES
from migrate.core import codec
from migrate.app import cli
from migrate.app.cutover import load_plan
from migrate.app.inspection import inspect_tree
from migrate.core.model import Origin
from migrate.app.sources import LocalTree

HTTPD = "files/new/etc/httpd.conf"
MM_CFG = "files/new/usr/local/lib/mailman/Mailman/mm_cfg.py.migrate"
FLAGS = ["--hostname", "lists.example.org", "--ipv6", "2001:db8:60::25", "--tls", "none",
         "--list-manager", "mailman2"]


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    path = tmp_path_factory.mktemp("inv") / "inventory.yaml"
    inv = inspect_tree(LocalTree(SAMPLES / "small"), Origin("local", "/samples/small"))
    path.write_text(codec.dump_yaml(inv))
    return path


def _plan(inventory: Path, out: Path, *args: str):
    return CliRunner().invoke(cli.app, ["plan", str(inventory), *FLAGS, "-o", str(out), *args])


def _overlay(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "local"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    root.mkdir(exist_ok=True)
    return root


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_an_overlay_file_replaces_the_emitted_one_sealed_and_checked_by_real_httpd(
        inventory, tmp_path):
    from httpdtools import httpd_check, httpd_complaints
    res = _plan(inventory, tmp_path / "plain")
    assert res.exit_code == 0, res.output
    emitted = (tmp_path / "plain" / HTTPD).read_text()
    broken = emitted.replace("server ", "servre ", 1)
    local = _overlay(tmp_path, {"new/etc/httpd.conf": broken, "new/root/notes.txt": "mine\n"})
    res = _plan(inventory, tmp_path / "plan", "--overlay", str(local))
    assert res.exit_code == 0, res.output
    plan = load_plan(str(tmp_path / "plan"))  # sealed: the cutover loads it as it is
    assert plan.contents[HTTPD] == broken.encode()
    assert plan.contents["files/new/root/notes.txt"] == b"mine\n"
    assert plan.data["overlay"] == [HTTPD, "files/new/root/notes.txt"]
    found = {f["message"].split(" ")[0]: f for f in plan.data["findings"]
             if f["id"] == "plan.overlay"}
    assert "checks it with `httpd -n`" in found[HTTPD]["message"]
    assert found[HTTPD]["source"]["file"] == str(local / "new/etc/httpd.conf")
    assert "no step installs it" in found["files/new/root/notes.txt"]["message"]
    install = next(s for s in plan.steps if s.id == "new-files")
    assert any(getattr(a, "source", None) == HTTPD for a in install.actions)
    assert "httpd -n" in install.check  # the check the cutover runs on the installed file
    # the real httpd refuses what the overlay brought, and takes what migrate emitted
    assert httpd_check(emitted, tmp_path / "ok").returncode == 0
    proc = httpd_check(plan.contents[HTTPD].decode(), tmp_path / "broken")
    assert proc.returncode != 0 and "syntax error" in " ".join(httpd_complaints(proc)), \
        proc.stdout + proc.stderr


@pytest.mark.parametrize("rel, text, said", [
    ("new/etc/httpd.conf", "server \"x\" {\x1b[2J\n}\n", "control character"),
    ("new/usr/local/lib/mailman/Mailman/mm_cfg.py.migrate", "print 'py2'\n",
     "not valid Python"),
    ("new/etc/mail/smtpd.conf", "# listen on all \\\nlisten on lo0\n", "backslash"),
    ("new/etc/mail/aliases", "\udcff", "not UTF-8"),
])
def test_an_overlay_file_the_checks_refuse_is_refused_before_anything_is_written(
        inventory, tmp_path, rel, text, said):
    local = tmp_path / "local"
    (local / rel).parent.mkdir(parents=True)
    (local / rel).write_bytes(text.encode("utf-8", "surrogateescape"))
    res = _plan(inventory, tmp_path / "plan", "--overlay", str(local))
    assert res.exit_code == 3, res.output
    assert f"overlay file {rel}" in res.output and said in res.output, res.output
    assert "Traceback" not in res.output and not (tmp_path / "plan").exists()


@pytest.mark.parametrize("kind", ["file link", "folder link", "fifo"])
def test_an_overlay_entry_that_is_not_a_file_is_refused(inventory, tmp_path, kind):
    secret = tmp_path / "id_ed25519"
    secret.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    local = tmp_path / "local"
    (local / "new").mkdir(parents=True)
    if kind == "file link":
        os.symlink(secret, local / "new/key")
    elif kind == "folder link":
        os.symlink(tmp_path, local / "new/etc")
    else:
        os.mkfifo(local / "new/pipe")
    res = _plan(inventory, tmp_path / "plan", "--overlay", str(local))
    assert res.exit_code == 3, res.output
    assert "overlay file new/" in res.output and "Traceback" not in res.output, res.output
    assert not (tmp_path / "plan").exists()


def test_an_overlay_inside_the_plan_folder_is_refused(inventory, tmp_path):
    assert _plan(inventory, tmp_path / "plan").exit_code == 0
    local = _overlay(tmp_path / "plan", {"new/x": "x\n"})
    res = _plan(inventory, tmp_path / "plan", "--overlay", str(local))
    assert res.exit_code == 2 and "cannot hold one another" in res.output, res.output


def test_plan_over_local_edits_refuses_keeps_or_discards(inventory, tmp_path):
    plan = tmp_path / "plan"
    assert _plan(inventory, plan).exit_code == 0
    crontab = plan / "files/new/crontab._mailman"
    mine = crontab.read_text() + "15 3 * * * /usr/local/bin/backup-lists\n"
    crontab.write_text(mine)
    before = _tree(plan)
    # refused: the edit is named and the folder is left as it was
    res = _plan(inventory, plan)
    assert res.exit_code == 2, res.output
    assert "files/new/crontab._mailman" in res.output and "--keep-edits" in res.output
    assert _tree(plan) == before
    # kept: copied into the overlay, then merged and sealed
    local = tmp_path / "local"
    local.mkdir()
    res = _plan(inventory, plan, "--overlay", str(local), "--keep-edits")
    assert res.exit_code == 0, res.output
    assert (local / "new/crontab._mailman").read_text() == mine
    assert load_plan(str(plan)).contents["files/new/crontab._mailman"] == mine.encode()
    # and kept by every later plan with the overlay, without a flag
    assert _plan(inventory, plan, "--overlay", str(local)).exit_code == 0
    assert crontab.read_text() == mine
    # the overlay forgotten: refused again, rather than dropped silently
    res = _plan(inventory, plan)
    assert res.exit_code == 2 and "overlay not given now" in res.output, res.output
    # discarded: the emitted file again
    res = _plan(inventory, plan, "--discard-edits")
    assert res.exit_code == 0, res.output
    assert "backup-lists" not in crontab.read_text()
    assert "overlay" not in yaml.safe_load((plan / "plan.yaml").read_text())


def test_an_edit_of_plan_yaml_or_outside_files_cannot_be_kept(inventory, tmp_path):
    plan = tmp_path / "plan"
    assert _plan(inventory, plan).exit_code == 0
    text = (plan / "plan.yaml").read_text()
    (plan / "plan.yaml").write_text(text.replace("dns_ttl: 300", "dns_ttl: 600"))
    res = _plan(inventory, plan)
    assert res.exit_code == 2 and "(plan.yaml)" in res.output, res.output
    (tmp_path / "local").mkdir()
    res = _plan(inventory, plan, "--overlay", str(tmp_path / "local"), "--keep-edits")
    assert res.exit_code == 2 and "only files under files/ can be kept" in res.output
    assert _plan(inventory, plan, "--discard-edits").exit_code == 0
    assert "dns_ttl: 300" in (plan / "plan.yaml").read_text()
    res = _plan(inventory, plan, "--keep-edits")
    assert res.exit_code == 2 and "give --overlay DIR too" in res.output, res.output


def _hints() -> list[tuple[str, int, str]]:
    """Every finding hint written in parsers/ and emitters/: (file, line, its text, with
    ``{...}`` for each value put into it)."""
    out = []
    for path in sorted((REPO / "parsers").glob("*.py")) + sorted((REPO / "emitters").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Finding":
                hint = node.args[3] if len(node.args) >= 4 else next(
                    (k.value for k in node.keywords if k.arg == "hint"), None)
                if hint is not None:
                    out.append((path.name, node.lineno, ast.unparse(hint)))
    return out


def test_no_hint_asks_for_an_edit_inside_the_plan_folder():
    """A hint that asks to change a file the plan holds sends the operator to the overlay
    (``overlay_hint``); the plan folder itself is sealed."""
    hints = _hints()
    assert len(hints) > 70
    plan_file = re.compile(r"httpd\.conf|aliases|virtual table|mm_cfg\.py|crontab|smtpd\.conf|"
                           r"\bPATH\b|emitted")
    asks = re.compile(r"\bedit|by hand|\b(add|set|write|forward|redirect)\b", re.I)
    wrong = [(f, n, h) for f, n, h in hints if plan_file.search(h) and asks.search(h)
             and "overlay" not in h and "on the old host" not in h]
    assert not wrong, wrong
