"""The command line: exit codes, outputs, and bad input giving one clear line, never a traceback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import migrate.app.cli as cli
from conftest import REPO, SAMPLES
from migrate import __version__
from migrate.core import codec

runner = CliRunner()
NETSIGHT = SAMPLES / "netsight"


def run(*args: str):
    return runner.invoke(cli.app, list(args))


def _one_clean_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def _alias_lines(path):
    """An independent reading: (name, line) for each line that starts an alias, first wins."""
    seen, out = set(), []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line or line[0] in " \t#":
            continue
        name = re.split(r"[:\s]", line, maxsplit=1)[0]
        if name.lower() not in seen:
            seen.add(name.lower())
            out.append((name, number))
    return out


def test_inspect_netsight_writes_host_facts_and_every_alias(tmp_path):
    out = tmp_path / "inv.yaml"
    result = run("inspect", "--root", str(NETSIGHT), "-o", str(out))
    # Exit 1: the sample's one planted error (devtalk-unsubscribe has no route).
    assert result.exit_code == 1, result.stdout + result.stderr
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in tmp_path.iterdir()] == ["inv.yaml"]  # no temp file left behind
    inv = codec.load_yaml(out.read_text(encoding="utf-8"))
    host = inv.host
    assert host.hostname == "mail.netsight.example"
    assert (host.os, host.release) == ("FreeBSD", "11.2-RELEASE-p4")
    assert {a.address for a in host.addresses_v4} == {"192.0.2.25", "192.0.2.26"}
    assert {a.address for a in host.addresses_v6} == {"2001:db8:40::25", "2001:db8:40::26"}
    enabled = {s.name for s in host.enabled_services()}
    assert {"exim", "apache24", "mailman", "cyrus_imapd", "spamd", "clamav_clamd"} <= enabled
    assert "sendmail" not in enabled
    flags = {s.name: s.flags for s in host.services}
    assert flags["exim"] == "-bd -q5m"  # rc.conf.local overrides rc.conf
    assert {a.name for a in host.accounts if a.kind == "user"} >= {"mailman", "mailnull"}
    assert inv.mta.kind == "exim"
    errors = [(f.id, f.source.file) for f in inv.findings if f.severity.rank >= 2]
    assert errors == [("mailman.missing-addresses",
                       "/usr/local/etc/exim/virtual/lists.riverbend.example")]
    expected = _alias_lines(NETSIGHT / "etc/mail/aliases")
    got = [(a.name, a.source.line) for a in inv.mta.aliases if a.domain is None]
    assert got == expected
    assert all(a.source.file == "/etc/mail/aliases" for a in inv.mta.aliases if a.domain is None)
    roles = {c.role for c in inv.mta.config_files}
    assert {"exim", "aliases", "alias-include"} <= roles
    assert "Aliases" in result.stdout and "mail.netsight.example" in result.stdout
    # the web and housekeeping side, each with file and line
    out_text = " ".join(result.stdout.split())
    assert "Web: apache 2.4" in out_text
    assert "/usr/local/etc/apache24/Includes/mailman.conf:41" in out_text  # the TLS vhost
    assert "TLS cert" in out_text
    assert "cron senddigests as mailman" in out_text and "/var/cron/tabs/mailman:14" in out_text
    assert "/etc/newsyslog.conf:14" in out_text


def test_small_host(tmp_path):
    out = tmp_path / "inv.yaml"
    result = run("inspect", "--root", str(SAMPLES / "small"), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    inv = codec.load_yaml(out.read_text())
    assert inv.host.hostname == "lists.smallclub.example"
    assert inv.host.release and inv.host.release.startswith("13.2")
    assert inv.host.addresses_v6 == []
    pipes = [a.name for a in inv.mta.aliases
             if a.targets and a.targets[0].kind.value == "pipe" and "mailman" in a.targets[0].value]
    # the ten addresses of members and of the site list, and members' old names club and
    # club-request (board reaches it through an :include: file)
    assert len(pipes) == 22
    routes = {(r.address, r.domain) for r in inv.mta.list_routes if r.list_name == "members"}
    assert ("board", "lists.smallclub.example") in routes
    assert ("club", "smallclub.example") in routes  # /etc/aliases serves every local domain


def test_json_is_the_same_inventory(tmp_path):
    out = tmp_path / "inv.yaml"
    result = run("inspect", "--root", str(NETSIGHT), "--json", "-o", str(out))
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    from_file = codec.to_data(codec.load_yaml(out.read_text()))
    data.pop("collected_at"), from_file.pop("collected_at")
    assert data == from_file
    assert codec.inventory_from_data(json.loads(result.stdout)).host.hostname


def test_json_alone_writes_no_file_and_dash_writes_yaml(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run("inspect", "--root", str(NETSIGHT), "--json").exit_code == 1
    assert list(tmp_path.iterdir()) == []
    result = run("inspect", "--root", str(NETSIGHT), "-o", "-")
    assert codec.load_yaml(result.stdout).host.hostname == "mail.netsight.example"


def test_rerun_is_identical_but_for_the_time(tmp_path):
    texts = []
    for name in ("a.yaml", "b.yaml"):
        assert run("inspect", "--root", str(NETSIGHT), "-o", str(tmp_path / name)).exit_code == 1
        texts.append(re.sub(r"collected_at: .*", "", (tmp_path / name).read_text()))
    assert texts[0] == texts[1]


@pytest.mark.parametrize("root, message", [
    ("/nonexistent", "/nonexistent: no such directory"),
    ("{file}", "not a directory"),
    ("{empty}", "does not look like a host's root"),
])
def test_bad_roots_exit_3_with_one_line(tmp_path, root, message):
    (tmp_path / "file").write_text("x")
    (tmp_path / "empty").mkdir()
    root = root.format(file=tmp_path / "file", empty=tmp_path / "empty")
    result = run("inspect", "--root", root, "-o", str(tmp_path / "inv.yaml"))
    assert result.exit_code == 3
    assert message in _one_clean_line(result.stderr)
    assert not (tmp_path / "inv.yaml").exists()


def test_binary_garbage_names_file_and_line_and_still_writes(tree_factory, tmp_path):
    root = tree_factory({"/etc/rc.conf": 'hostname="h.example"\n',
                         "/etc/aliases": b"root: a@example.org\npostmaster: root\n\x00\xff\xfe\x00"})
    out = tmp_path / "inv.yaml"
    result = run("inspect", "--root", str(root), "-o", str(out))
    assert result.exit_code == 3
    line = _one_clean_line(result.stderr)
    assert "/etc/aliases:3" in line and "binary" in line
    inv = codec.load_yaml(out.read_text())  # complete, with the finding in it
    assert [f.id for f in inv.findings] == ["host.os-unknown", "input.binary"]
    assert inv.host.hostname == "h.example"


def test_unreadable_file_is_one_line(tree_factory, tmp_path):
    # A directory where the aliases file should be: unreadable as a file, for any user.
    root = tree_factory({"/etc/rc.conf": "", "/etc/aliases/oops": ""})
    result = run("inspect", "--root", str(root), "-o", str(tmp_path / "inv.yaml"))
    assert result.exit_code == 3
    line = _one_clean_line(result.stderr)
    assert "cannot read /etc/aliases" in line and "directory" in line


def test_error_findings_exit_1(tree_factory, tmp_path):
    root = tree_factory({"/etc/rc.conf": 'broken="never closed\n', "/etc/aliases": "root: x\n"})
    result = run("inspect", "--root", str(root), "-o", str(tmp_path / "inv.yaml"))
    assert result.exit_code == 1
    assert "rc.conf:1" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["inspect"], "give --root DIR or --host USER@HOST"),
    (["inspect", "--host", "root@"], "give the host as USER@HOST"),
    (["inspect", "--host", "root@127.0.0.1", "--accept-host-key", "MD5:aa"], "SHA256"),
])
def test_usage_and_unbuilt_verbs_exit_2(args, message):
    result = run(*args)
    assert result.exit_code == 2
    assert message in _one_clean_line(result.stderr)


def test_output_into_missing_folder_exits_2(tmp_path):
    result = run("inspect", "--root", str(NETSIGHT), "-o", str(tmp_path / "no" / "inv.yaml"))
    assert result.exit_code == 2
    assert "does not exist" in _one_clean_line(result.stderr)


def test_internal_error_goes_to_a_log_not_the_terminal(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("injected fault")

    monkeypatch.setattr(cli, "inspect_tree", boom)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    result = run("inspect", "--root", str(NETSIGHT), "-o", str(tmp_path / "inv.yaml"))
    assert result.exit_code == 70
    line = _one_clean_line(result.stderr)
    log = re.search(r"traceback is in (\S+):", line).group(1)
    assert log.startswith(str(tmp_path)) and "injected fault" in open(log).read()


@pytest.mark.parametrize("verb", ["inspect", "plan", "cutover"])
def test_every_verb_has_help_with_an_example(verb):
    result = run(verb, "--help")
    assert result.exit_code == 0
    assert "Example" in result.stdout and f"migrate {verb}" in result.stdout


@pytest.mark.parametrize("columns", ["80", "120"])
def test_help_paragraphs_are_reflowed_to_the_terminal(columns, monkeypatch):
    """The docstring's own line breaks do not show: a paragraph fills the terminal's width."""
    monkeypatch.setenv("COLUMNS", columns)
    text = " ".join(run("plan", "--help").stdout.split())  # words, whatever the wrapping
    assert "httpd.conf, the list manager's settings) and plan.yaml" in text
    lines = [ln.strip() for ln in run("plan", "--help").stdout.splitlines()]
    i = next(n for n, ln in enumerate(lines) if ln.startswith("The directory holds"))
    # the paragraph's first line is filled to the width, not cut where the source was
    assert len(lines[i]) > int(columns) - 20, lines[i:i + 3]


def test_version_and_module_entry_points():
    assert run("--version").stdout.strip() == f"migrate {__version__}"
    # From the checkout (migrate/ shadows the installed package) and as the console script.
    proc = subprocess.run([sys.executable, "-m", "migrate", "--version"], cwd=REPO,
                          capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == f"migrate {__version__}"
    proc = subprocess.run([sys.executable, "-c", "import parsers.aliases, emitters"],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    script = os.path.join(os.path.dirname(sys.executable), "migrate")
    if os.path.exists(script):
        proc = subprocess.run([script, "inspect", "--root", "/nonexistent"], capture_output=True,
                              text=True, cwd="/")
        assert proc.returncode == 3 and "Traceback" not in proc.stderr


def test_output_to_a_device_writes_into_it_and_never_replaces_it():
    """`-o /dev/null` (as root, too) must leave /dev/null a device."""
    import stat as st
    before = os.stat("/dev/null")
    result = run("inspect", "--root", str(NETSIGHT), "-o", "/dev/null")
    after = os.stat("/dev/null")
    assert result.exit_code == 1
    assert st.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
