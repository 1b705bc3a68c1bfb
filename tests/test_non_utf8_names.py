"""File names that are not UTF-8 never crash inspect (they used to end in exit 70 in the YAML
writer): every such name, wherever it appears in the inventory (a list folder, a file in it,
a cron.d file, an archive folder), is carried escaped (\\xNN per byte) and is one error
finding naming its path; YAML and JSON both load, and plan reads the inventory."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import migrate.app.cli as cli
from conftest import SAMPLES

RUNNER = CliRunner()


@pytest.fixture
def host(tmp_path) -> Path:
    root = tmp_path / "host"
    shutil.copytree(SAMPLES / "small", root, symlinks=True)
    lists = os.fsencode(root / "usr/local/mailman/lists")
    shutil.copytree(lists + b"/members", lists + b"/caf\xe9")
    Path(os.fsdecode(lists + b"/members/notes-\xfc.txt")).write_text("x")
    cron = os.fsencode(root / "etc/cron.d")
    os.makedirs(cron, exist_ok=True)
    Path(os.fsdecode(cron + b"/x\xff")).write_text(
        "0 * * * * mailman /usr/local/mailman/cron/senddigests\n")
    return root


NAMES = {"caf\\xe9": "/usr/local/mailman/lists/caf\\xe9",
         "notes-\\xfc.txt": "/usr/local/mailman/lists/members/notes-\\xfc.txt",
         "x\\xff": "/etc/cron.d/x\\xff"}


@pytest.mark.parametrize("suffix", ["yaml", "json"])
def test_non_utf8_names_are_carried_escaped_with_a_finding(host, tmp_path, suffix):
    out = tmp_path / f"inventory.{suffix}"
    res = RUNNER.invoke(cli.app, ["inspect", "--root", str(host), "-o", str(out)])
    assert res.exit_code == 1, res.stderr  # error findings, not a crash (70)
    data = (json.loads(out.read_text()) if suffix == "json"
            else yaml.safe_load(out.read_text()))
    found = {f["source"]["file"]: f for f in data["findings"] if f["id"] == "input.not-utf8"}
    assert set(found) == set(NAMES.values()), found
    for name, path in NAMES.items():
        assert f"the name {name} " in found[path]["message"]
        assert found[path]["severity"] == "error" and found[path]["hint"]
    assert "caf\\xe9" in {ml["name"] for ml in data["lists"]}
    res = RUNNER.invoke(cli.app, ["plan", str(out), "--hostname", "lists.example.org",
                                  "--ipv6", "2001:db8::25", "-o", str(tmp_path / "plan")])
    assert res.exit_code in (1, 2, 3), res.stderr  # refused or blocked, never a crash
    assert res.stderr.count("\n") <= 1 or res.exit_code == 1
