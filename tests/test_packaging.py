"""A non-editable install puts parsers/ and emitters/ under migrate/, claiming no global names."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO


@pytest.mark.slow  # pip builds the wheel: about 10 s
def test_wheel_layout(tmp_path):
    target = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
         "--target", str(target), str(REPO)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    top = sorted(p.name for p in target.iterdir() if not p.name.endswith(".dist-info"))
    assert top == ["bin", "migrate"] or top == ["migrate"]
    assert (target / "migrate/parsers/aliases.py").is_file()
    assert (target / "migrate/emitters/__init__.py").is_file()
    check = subprocess.run(
        [sys.executable, "-c", "import migrate.parsers.rcconf, migrate.emitters; print('ok')"],
        cwd=tmp_path, env={"PYTHONPATH": str(target)}, capture_output=True, text=True)
    assert check.stdout.strip() == "ok", check.stderr
