"""Every cell of every terminal table is bounded: one huge value (a 10 MB alias target, a
list's description with newlines) is one line cut to ui.MAX_CELL characters, quickly."""

from __future__ import annotations

import shutil
import time

import pytest
from typer.testing import CliRunner

import migrate.app.cli as cli
from conftest import SAMPLES
from migrate.app import ui

RUNNER = CliRunner()


def test_cells_are_cut_and_on_one_line():
    long = ui.cell("x" * 10_000_000)
    assert len(long.plain) == ui.MAX_CELL and long.plain.endswith("\u2026")
    lines = ui.cell("a\nb\nc")
    assert lines.plain == "a\\nb\\nc"
    assert ui.cell("short").plain == "short"


@pytest.mark.slow
def test_a_10_mb_alias_target_is_one_short_row(tmp_path):
    root = tmp_path / "host"
    shutil.copytree(SAMPLES / "small", root, symlinks=True)
    aliases = root / "etc/aliases"
    huge = "a" * 10_000_000 + "@example.org"
    aliases.write_text(aliases.read_text() + f"huge: {huge}\nmany: "
                       + ", ".join(f"u{i}@example.org" for i in range(20_000)) + "\n")
    start = time.monotonic()
    res = RUNNER.invoke(cli.app, ["inspect", "--root", str(root), "-o",
                                  str(tmp_path / "inv.yaml")], env={"COLUMNS": "120"})
    took = time.monotonic() - start
    assert res.exit_code in (0, 1), res.stderr
    assert took < 30, took
    out = res.stdout.splitlines()
    assert len(out) < 400, len(out)
    # every table row fits; the closing line is one line whatever its length (a path in it)
    assert out[-1].startswith("inventory written to ")
    assert max(len(line) for line in out[:-1]) <= 120
    huge_rows = [line for line in out if "│ huge" in line]
    assert len(huge_rows) == 1
