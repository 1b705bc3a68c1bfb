"""Inputs are checked at the door, and every error is one line on stderr: --smarthost like
--hostname and --ipv6 (exit 2); a bad port in --host or --port is a usage error, not
"connection refused"; a YAML inventory cut short that still parses is refused (its trailer
line is missing); plan.yaml with a YAML error is one line with its line number, and with
unknown keys is refused as the inventory reader refuses unknown fields."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import migrate.app.cli as cli
from conftest import SAMPLES

RUNNER = CliRunner()
TARGET = ["--hostname", "lists.example.org", "--ipv6", "2001:db8::25"]


@pytest.fixture(scope="module")
def inventory(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("inv") / "inventory.yaml"
    res = RUNNER.invoke(cli.app, ["inspect", "--root", str(SAMPLES / "small"), "-o", str(out)])
    assert res.exit_code in (0, 1), res.stderr
    return out


def _one_line_error(res, code: int, *words: str) -> None:
    assert res.exit_code == code, (res.exit_code, res.stderr)
    assert res.stderr.count("\n") == 1, res.stderr
    for w in words:
        assert w in res.stderr, res.stderr


@pytest.mark.parametrize("smarthost", ["smtp example.net", "smtp.example.net:0",
                                       "smtp.example.net:99999", "smtp.example.net:port",
                                       "[2001:db8::zz]:587", "[2001:db8::1", "-oProxy=x",
                                       "a\nb", "smtp.example.net;touch x", ""])
def test_a_bad_smarthost_is_a_usage_error(inventory, tmp_path, smarthost):
    res = RUNNER.invoke(cli.app, ["plan", str(inventory), *TARGET, "--smarthost", smarthost,
                                  "-o", str(tmp_path / "plan")])
    _one_line_error(res, 2, "smarthost")
    assert not (tmp_path / "plan").exists()


@pytest.mark.parametrize("smarthost", ["smtp.example.net", "smtp.example.net:587",
                                       "[2001:db8::1]:587", "[192.0.2.1]"])
def test_a_good_smarthost_is_taken(inventory, tmp_path, smarthost):
    res = RUNNER.invoke(cli.app, ["plan", str(inventory), *TARGET, "--smarthost", smarthost,
                                  "-o", str(tmp_path / "plan")])
    assert res.exit_code in (0, 1), res.stderr


@pytest.mark.parametrize("spec, extra", [
    ("root@127.0.0.1:abc", []), ("root@127.0.0.1:0", []), ("root@127.0.0.1:70000", []),
    ("root@[::1]:x", []), ("root@127.0.0.1:", []), ("root@127.0.0.1", ["--port", "0"]),
    ("root@127.0.0.1", ["--port", "65536"]),
])
def test_a_bad_port_is_a_usage_error(spec, extra):
    res = RUNNER.invoke(cli.app, ["inspect", "--host", spec, *extra, "--timeout", "2"])
    _one_line_error(res, 2, "port")


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9, 0.999])
def test_a_truncated_inventory_is_refused(inventory, tmp_path, keep):
    text = inventory.read_text()
    lines = text.splitlines(keepends=True)
    cut = tmp_path / "cut.yaml"
    cut.write_text("".join(lines[:int(len(lines) * keep)]))
    res = RUNNER.invoke(cli.app, ["plan", str(cut), *TARGET, "-o", str(tmp_path / "plan")])
    _one_line_error(res, 3, str(cut), "truncated")


def _plan(inventory: Path, tmp_path: Path) -> Path:
    out = tmp_path / "plan"
    res = RUNNER.invoke(cli.app, ["plan", str(inventory), *TARGET, "-o", str(out)])
    assert res.exit_code in (0, 1), res.stderr
    return out


def test_a_yaml_error_in_plan_yaml_is_one_line(inventory, tmp_path):
    out = _plan(inventory, tmp_path)
    path = out / "plan.yaml"
    lines = path.read_text().splitlines(keepends=True)
    lines[5] = "  broken: [unclosed\n"
    path.write_text("".join(lines))
    res = RUNNER.invoke(cli.app, ["cutover", str(out)])
    _one_line_error(res, 3, f"{path}:", "not valid YAML")


def test_unknown_keys_in_plan_yaml_are_refused(inventory, tmp_path):
    out = _plan(inventory, tmp_path)
    path = out / "plan.yaml"
    path.write_text(path.read_text() + "extra_steps: [rm -rf /]\n")
    res = RUNNER.invoke(cli.app, ["cutover", str(out)])
    _one_line_error(res, 3, str(path), "extra_steps")


@pytest.mark.parametrize("text, words", [
    ("hostname: " + "[" * 500 + "]" * 500 + "\n", ["nest more than"]),
    ("hostname: lists.example.org\nipv6: " + "[" * 5_000 + "]" * 5_000 + "\n", ["YAML"]),
    ("a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join(['*a' + (str(i - 1) if i > 1 else '')] * 9)}]\n"
        for i in range(1, 9)), ["alias bomb"]),
])
def test_target_yaml_is_read_as_safely_as_the_inventory(inventory, tmp_path, text, words):
    """target.yaml goes through the bounded reader: nesting and aliases are bounded, and a
    document past either is one line naming the file and line (exit 3), with no plan."""
    target = tmp_path / "target.yaml"
    target.write_text(text)
    res = RUNNER.invoke(cli.app, ["plan", str(inventory), "--target", str(target), *TARGET,
                                  "-o", str(tmp_path / "plan")])
    _one_line_error(res, 3, f"{target}:", *words)
    assert not (tmp_path / "plan").exists()
