"""`migrate cutover`: the dry run of every sample plan, and the engine (journal, idempotent
actions, resume after SIGKILL at every step, rollback) run for real with local stand-in hosts.

The end-to-end run against real Exim, OpenSMTPD and sshd in network namespaces is not here yet
(see the CHANGELOG); these tests drive the same Runner with ``LocalHost`` "old" and "new"
hosts whose files live in a temp folder, so every action really edits, backs up and restores
files, and every command really runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import plantools
import pytest
import yaml
from typer.testing import CliRunner

import migrate.app.cli as cli
from conftest import SAMPLES
from migrate.app.cutover import Journal, Runner, StepFailed, load_plan, timings, window_parts
from migrate.app.hosts import LocalHost, SshHost
from migrate.core.errors import MigrateError
from migrate.app.inspection import inspect_tree
from migrate.core.model import Origin, Severity
from migrate.app.planning import build_plan, resolve_target, write_plan
from migrate.app.sources import LocalTree

RUNNER = CliRunner()
REPO = Path(__file__).resolve().parents[1]


# --- the dry run of the real plans --------------------------------------------------------------


@pytest.mark.parametrize("sample, flags", [
    ("netsight", {"hostname": "lists.netsight.example", "ipv6": ["2001:db8:50::25"],
                  "smarthost": "smtp.upstream.example"}),
    ("small", {"hostname": "lists.example.org", "ipv6": ["2001:db8:60::25"]}),
])
def test_dry_run_prints_every_step_and_changes_nothing(tmp_path, sample, flags):
    inv = inspect_tree(LocalTree(SAMPLES / sample), Origin("local", sample))
    plan = build_plan(inv, resolve_target(inv, {}, flags))
    write_plan(plan, str(tmp_path / "plan"))
    before = sorted(p.name for p in (tmp_path / "plan").iterdir())
    res = RUNNER.invoke(cli.app, ["cutover", str(tmp_path / "plan")])
    # the same rule as `migrate plan`: 1 while a finding of severity error or blocker stands
    serious = [f for f in plan.standing() if f.severity.rank >= Severity.ERROR.rank]
    assert res.exit_code == (1 if serious else 0), res.output
    assert sample != "netsight" or serious  # its planted problems: the rule is exercised
    out = res.stdout
    last = out.strip().splitlines()[-1]  # the closing line: steps per host and phase, and
    assert last.startswith(f"dry run: {len(plan.steps)} step(s) (local "), last  # what's next
    assert f"preflight {sum(s.phase == 'preflight' for s in plan.steps)}, " in last
    if plan.blockers():
        assert "cannot be executed" in last and "--execute" not in last
    else:
        assert f"--execute --plan-digest {plan.digest}" in last
    for step in (s.to_data() for s in plan.steps):
        assert f" {step['id']} on " in out
        for action in step["actions"]:
            if action["do"] == "run":
                assert action["command"] in out
            if action["do"] in ("put", "append"):
                assert action["path"] in out
    assert sorted(p.name for p in (tmp_path / "plan").iterdir()) == before  # no journal
    if sample == "netsight":
        assert "acl_check_rcpt" in out and "migrate:freeze" in out and "migrate:forward" in out


def test_a_changed_plan_file_is_refused(tmp_path):
    inv = inspect_tree(LocalTree(SAMPLES / "small"), Origin("local", "small"))
    plan = build_plan(inv, resolve_target(inv, {}, {"hostname": "lists.example.org",
                                                    "ipv6": ["2001:db8:60::25"]}))
    write_plan(plan, str(tmp_path / "plan"))
    aliases = tmp_path / "plan/files/new/etc/mail/aliases"
    aliases.write_text(aliases.read_text() + "evil: |/bin/sh\n")
    res = RUNNER.invoke(cli.app, ["cutover", str(tmp_path / "plan")])
    assert res.exit_code == 3 and "differs from what `migrate plan` wrote" in res.stderr
    res = RUNNER.invoke(cli.app, ["cutover", str(tmp_path / "nope")])
    assert res.exit_code == 3 and "not a plan directory" in res.stderr


# --- the engine on a synthetic plan with local stand-in hosts ------------------------------------


def synthetic_plan(tmp: Path) -> Path:
    """A plan whose steps edit files under tmp/old and tmp/new as a cutover edits hosts."""
    plan = tmp / "plan"
    (plan / "files").mkdir(parents=True)
    (plan / "files/smtpd.conf").write_text("listen on ::1\n")
    (plan / "files/extra.conf").write_text("extra = yes\n")
    (plan / "files/freeze.conf").write_text("  defer domains = lists.example.org\n")
    old, new = tmp / "old", tmp / "new"
    (old / "etc").mkdir(parents=True)
    (new / "etc").mkdir(parents=True)
    (old / "etc/configure").write_text("begin acl\nacl_check_rcpt:\n  accept\n")
    (old / "etc/configure").chmod(0o640)  # edits and restores keep a file's mode
    (new / "etc/smtpd.conf").write_text("# the package's default\n")
    (new / "etc/mm_cfg.py").write_text("from Defaults import *\n")
    log = tmp / "log"
    steps = [
        {"id": "put", "phase": "prepare", "host": "new", "title": "install", "why": "",
         "actions": [{"do": "put", "source": "files/smtpd.conf",
                      "path": str(new / "etc/smtpd.conf"), "mode": "0644"},
                     {"do": "put", "source": "files/extra.conf",
                      "path": str(new / "etc/extra.conf"), "mode": "0600"}],
         "check": [f"grep -q '::1' {new}/etc/smtpd.conf"]},
        {"id": "append", "phase": "prepare", "host": "new", "title": "mm_cfg", "why": "",
         "actions": [{"do": "append", "source": "files/extra.conf",
                      "path": str(new / "etc/mm_cfg.py"), "marker": "mm_cfg"},
                     {"do": "run", "command": f"echo append >> {log}"}]},
        {"id": "freeze", "phase": "freeze", "host": "old", "title": "freeze", "why": "",
         "actions": [{"do": "insert", "source": "files/freeze.conf",
                      "paths": [str(old / "etc/missing"), str(old / "etc/configure")],
                      "after": r"^\s*acl_check_rcpt:\s*$", "marker": "freeze"},
                     {"do": "run", "command": f"echo freeze >> {log}"}],
         "rollback": [{"do": "run", "command": f"echo unfreeze >> {log}"}]},
        {"id": "slow", "phase": "freeze", "host": "local", "title": "wait", "why": "",
         "actions": [{"do": "run", "command": f"echo slow >> {log}; sleep ${{SLOW:-0}}"}]},
        {"id": "unfreeze", "phase": "switch", "host": "old", "title": "forward", "why": "",
         "actions": [{"do": "unmark", "paths": [str(old / "etc/configure")],
                      "marker": "freeze"},
                     {"do": "run", "command": f"echo forward >> {log}"}]},
    ]
    files = {rel: hashlib.sha256((plan / rel).read_bytes()).hexdigest()
             for rel in ("files/smtpd.conf", "files/extra.conf", "files/freeze.conf")}
    plantools.write_plan(plan, ({"plan_version": 1, "files": files,
                                                    "steps": steps}))
    return plan


def hosts(env: dict | None = None) -> dict:
    return {name: LocalHost(name, env) for name in ("old", "new", "local")}


def tree_state(tmp: Path) -> dict[str, bytes]:
    return {str(p.relative_to(tmp)): p.read_bytes()
            for p in sorted(tmp.glob("*/etc/*")) if p.is_file()}


def test_execute_journal_idempotence_and_resume(tmp_path):
    plan_dir = synthetic_plan(tmp_path)
    plan = load_plan(str(plan_dir))
    before = tree_state(tmp_path)
    journal = Journal(tmp_path / "journal.jsonl")
    ran = Runner(plan, hosts(), journal, say=lambda s: None).execute()
    assert ran == ["put", "append", "freeze", "slow", "unfreeze"]
    state = tree_state(tmp_path)
    assert state["new/etc/smtpd.conf"] == b"listen on ::1\n"
    assert (tmp_path / "new/etc/extra.conf").stat().st_mode & 0o777 == 0o600
    assert state["new/etc/mm_cfg.py"] == (b"from Defaults import *\n# migrate:mm_cfg begin\n"
                                          b"extra = yes\n# migrate:mm_cfg end\n")
    assert state["old/etc/configure"] == before["old/etc/configure"]  # frozen, then unfrozen
    assert (tmp_path / "old/etc/configure").stat().st_mode & 0o7777 == 0o640
    records = [json.loads(x) for x in (tmp_path / "journal.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["event"] == "done"] == ran
    assert {(r["host"], Path(r["path"]).name) for r in records if r["event"] == "backup"} == {
        ("new", "smtpd.conf"), ("new", "extra.conf"), ("new", "mm_cfg.py"),
        ("old", "configure")}
    # a second run without --resume is refused; with it, nothing is done again
    with pytest.raises(MigrateError):
        Runner(plan, hosts(), Journal(tmp_path / "journal.jsonl"), say=lambda s: None).execute()
    again = Runner(plan, hosts(), Journal(tmp_path / "journal.jsonl"),
                   say=lambda s: None).execute(resume=True)
    assert again == [] and tree_state(tmp_path) == state
    # every step run twice in a fresh journal is harmless (idempotent actions)
    Runner(plan, hosts(), Journal(tmp_path / "j2.jsonl"), say=lambda s: None).execute()
    assert tree_state(tmp_path) == state


def test_a_failing_check_stops_and_rollback_restores_every_file(tmp_path):
    plan_dir = synthetic_plan(tmp_path)
    data = yaml.safe_load((plan_dir / "plan.yaml").read_text())
    data["steps"][3]["check"] = ["false"]  # the "slow" step's check fails
    plantools.write_plan(plan_dir, data)
    plan = load_plan(str(plan_dir))
    before = tree_state(tmp_path)
    journal = Journal(tmp_path / "journal.jsonl")
    runner = Runner(plan, hosts(), journal, say=lambda s: None)
    with pytest.raises(StepFailed) as failed:
        runner.execute()
    assert failed.value.step.id == "slow"
    assert b"migrate:freeze" in (tmp_path / "old/etc/configure").read_bytes()  # still frozen
    undone = runner.rollback()
    assert undone == ["slow", "freeze", "append", "put"]
    assert tree_state(tmp_path) == before  # every file as it was, extra.conf gone
    assert (tmp_path / "old/etc/configure").stat().st_mode & 0o7777 == 0o640
    assert "unfreeze" in (tmp_path / "log").read_text()


_CHILD = r"""
import sys
from pathlib import Path
from migrate.app.cutover import Journal, Runner, load_plan
from migrate.app.hosts import LocalHost
plan = load_plan(sys.argv[1])
hosts = {n: LocalHost(n, {"SLOW": sys.argv[3]}) for n in ("old", "new", "local")}
Runner(plan, hosts, Journal(Path(sys.argv[2])), say=lambda s: None).execute(
    resume=sys.argv[4] == "resume")
"""


@pytest.mark.parametrize("kill_at", ["put", "append", "freeze", "slow",
                                     # waits out the 20 s below: "slow" sleeps 30 s first
                                     pytest.param("unfreeze", marks=pytest.mark.slow)])
def test_sigkill_at_any_step_then_resume_gives_the_same_result(tmp_path, kill_at):
    reference = tmp_path / "reference"
    reference.mkdir()
    plan_ref = synthetic_plan(reference)
    Runner(load_plan(str(plan_ref)), hosts(), Journal(reference / "j.jsonl"),
           say=lambda s: None).execute()
    expected = tree_state(reference)

    work = tmp_path / "work"
    work.mkdir()
    plan_dir = synthetic_plan(work)
    journal = work / "j.jsonl"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(plan_dir), str(journal), "30",
                              "fresh"], env=env, start_new_session=True)
    # kill it while the chosen step is running: the "slow" step sleeps; other steps are
    # killed right after their start record (the journal is fsynced before each action)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        text = journal.read_text() if journal.exists() else ""
        if '"event": "start", "host"' in text and f'"step": "{kill_at}"' in text:
            break
        if child.poll() is not None:
            break
        time.sleep(0.005)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    resumed = subprocess.run([sys.executable, "-c", _CHILD, str(plan_dir), str(journal), "0",
                              "resume"], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    got = tree_state(work)
    assert got == {k.replace("reference", "work"): v for k, v in expected.items()}
    done = [json.loads(x)["step"] for x in journal.read_text().splitlines()
            if json.loads(x)["event"] == "done"]
    assert done == ["put", "append", "freeze", "slow", "unfreeze"]


# --- the checks the cutover makes from outside: SMTP, HTTP, DNS ----------------------------------


def _runner_for(tmp_path, actions):
    plan_dir = tmp_path / "plan"
    plan_dir.mkdir(parents=True)
    plantools.write_plan(plan_dir, ({
        "plan_version": 1, "files": {},
        "steps": [{"id": "probe", "phase": "verify", "host": "local", "title": "probe", "why": "",
                   "actions": actions}]}))
    return Runner(load_plan(str(plan_dir)), hosts(), Journal(tmp_path / "j.jsonl"),
                  say=lambda s: None)


def test_smtp_and_http_probes(tmp_path):
    import http.server
    import socket
    import threading

    smtp = socket.socket()
    smtp.bind(("127.0.0.1", 0))
    smtp.listen(4)

    def greet():
        try:
            for _ in range(2):
                conn, _ = smtp.accept()
                conn.sendall(b"220 new.example ESMTP\r\n")
                conn.recv(64)
                conn.close()
        except OSError:
            pass  # the listening socket was closed at the end of the test
    threading.Thread(target=greet, daemon=True).start()

    class Pages(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/mailman/listinfo/users" and self.headers["Host"] == "lists.ex":
                body = b"<h1>users</h1>"
                self.send_response(200)
            else:
                body = b"no"
                self.send_response(404)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{web.server_address[1]}"
    try:
        ok = _runner_for(tmp_path / "a", [
            {"do": "smtp", "address": "127.0.0.1", "port": smtp.getsockname()[1]},
            {"do": "http", "url": f"{base}/mailman/listinfo/users", "host_header": "lists.ex",
             "expect": "users"}])
        ok.execute()
        bad = _runner_for(tmp_path / "b", [
            {"do": "http", "url": f"{base}/mailman/listinfo/users", "host_header": "other",
             "expect": "users", "timeout": 0}])
        with pytest.raises(StepFailed, match="answers 404"):
            bad.execute()
    finally:
        web.shutdown()
        smtp.close()


def test_dns_probe_against_a_real_dns_responder(tmp_path):
    """dnspython on both ends: a UDP responder answers from a zone; the probe waits for the
    planned value and checks TTLs."""
    import socket
    import threading

    import dns.message
    import dns.rrset

    zone = {("lists.example.org.", "MX"): (300, ["10 new.example.org."]),
            ("old.example.org.", "MX"): (86400, ["10 old.example.org."])}
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return  # closed at the end of the test
            query = dns.message.from_wire(data)
            reply = dns.message.make_response(query)
            q = query.question[0]
            key = (q.name.to_text(), dns.rdatatype.to_text(q.rdtype))
            if key in zone:
                ttl, values = zone[key]
                reply.answer.append(dns.rrset.from_text_list(q.name, ttl, "IN", key[1], values))
            else:
                reply.set_rcode(dns.rcode.NXDOMAIN)
            sock.sendto(reply.to_wire(), peer)
    threading.Thread(target=serve, daemon=True).start()
    port = sock.getsockname()[1]
    ns = {"nameserver": "127.0.0.1", "nameserver_port": port}
    try:
        _runner_for(tmp_path / "a", [
            {"do": "dns", "name": "lists.example.org", "type": "MX",
             "value": "10 new.example.org.", **ns},
            {"do": "dns", "name": "lists.example.org", "type": "MX", "max_ttl": 300, **ns},
        ]).execute()
        with pytest.raises(StepFailed, match="TTL 86400"):
            _runner_for(tmp_path / "b", [{"do": "dns", "name": "old.example.org", "type": "MX",
                                          "max_ttl": 300, "timeout": 0, **ns}]).execute()
        with pytest.raises(StepFailed, match="not 10 new"):
            _runner_for(tmp_path / "c", [{"do": "dns", "name": "old.example.org", "type": "MX",
                                          "value": "10 new.example.org", "timeout": 1,
                                          "interval": 0.2, **ns}]).execute()
    finally:
        stop.set()
        sock.close()


def test_timings_and_the_freeze_window_come_from_the_journal(tmp_path):
    from migrate.app.cutover import timings
    plan_dir = synthetic_plan(tmp_path)
    data = yaml.safe_load((plan_dir / "plan.yaml").read_text())
    data["steps"][2]["id"] = "old-freeze"
    data["steps"][4]["id"] = "old-forward"
    plantools.write_plan(plan_dir, data)
    lines = []
    journal = Journal(tmp_path / "j.jsonl")
    Runner(load_plan(str(plan_dir)), hosts({"SLOW": "1"}), journal,
           say=lines.append).execute()
    steps, freeze, total = timings(Journal(tmp_path / "j.jsonl"))
    assert [s for s, _ in steps] == ["put", "append", "old-freeze", "slow", "old-forward"]
    assert dict(steps)["slow"] >= 1.0
    assert 1.0 <= freeze <= total
    assert any("[freeze +00:0" in line for line in lines)  # the live timer while frozen


# --- the same engine over SSH: the real sshd on loopback plays both hosts -------------------------


def test_execute_resume_and_rollback_over_ssh(tmp_path):
    """The synthetic plan run through ``SshHost`` against OpenSSH's sshd (both "old" and "new"
    are the loopback sshd; their files are in separate folders): file installs, marker edits,
    backups and restores all go over SSH."""
    from migrate.app import remote
    from sshtools import sshd_running
    plan_dir = synthetic_plan(tmp_path)
    before = tree_state(tmp_path)
    with sshd_running() as sshd:
        def connect():
            return remote.connect("root@127.0.0.1", port=sshd.port, identity=str(sshd.key),
                                  known_hosts=str(sshd.known_hosts))
        ssh_hosts = {"old": SshHost("old", connect(), plan_dir=str(plan_dir)),
                     "new": SshHost("new", connect(), plan_dir=str(plan_dir)),
                     "local": LocalHost("local")}
        journal = Journal(tmp_path / "ssh.jsonl")
        runner = Runner(load_plan(str(plan_dir)), ssh_hosts, journal, say=lambda s: None)
        assert runner.execute() == ["put", "append", "freeze", "slow", "unfreeze"]
        after = tree_state(tmp_path)
        assert after["new/etc/smtpd.conf"] == b"listen on ::1\n"
        assert b"# migrate:mm_cfg begin" in after["new/etc/mm_cfg.py"]
        assert (tmp_path / "new/etc/extra.conf").stat().st_mode & 0o777 == 0o600
        assert (tmp_path / "old/etc/configure").stat().st_mode & 0o7777 == 0o640
        assert Runner(load_plan(str(plan_dir)), ssh_hosts, Journal(tmp_path / "ssh.jsonl"),
                      say=lambda s: None).execute(resume=True) == []
        runner.rollback()
        assert tree_state(tmp_path) == before
        for host in ssh_hosts.values():
            if hasattr(host, "client"):
                host.client.close()
    assert "freeze" in (tmp_path / "log").read_text()


# --- the live view ------------------------------------------------------------------------------


def _render(view) -> str:
    from rich.console import Console
    console = Console(width=120, record=True, force_terminal=False, color_system=None)
    console.print(view)
    return console.export_text()


def test_the_live_view_follows_the_journal_with_the_freeze_timer():
    from migrate.app.cutover import frozen_for
    from migrate.app.ui import CutoverView
    clock = [100.0]
    records: list[dict] = [{"event": "done", "step": "preflight", "t": "x"}]  # an earlier run
    steps = [("preflight", "old", "Both hosts answer"), ("old-freeze", "old", "Freeze"),
             ("final-sync", "old", "Final sync"), ("old-forward", "old", "Forward")]
    t0 = "2026-11-25T10:00:00.000+00:00"
    view = CutoverView(steps, records, lambda: frozen_for(records, now=now()),
                       now=lambda: clock[0])

    def now():
        import datetime as dt
        return dt.datetime.fromisoformat(t0) + dt.timedelta(seconds=clock[0] - 100)

    def feed(**record):
        record.setdefault("t", now().isoformat())
        records.append(record)
        view.event(record)

    text = _render(view)
    assert "1/4 steps" in text and "earlier run" in text and "freeze window" not in text
    feed(event="start", step="old-freeze", host="old")
    feed(event="action", step="old-freeze", index=0, action="insert freeze.conf")
    clock[0] += 75
    text = _render(view)
    assert "freeze window 01:15" in text  # the timer moves while the step is quiet
    assert "insert freeze.conf" in text and "01:15" in text.split("old-freeze")[1]
    feed(event="done", step="old-freeze")
    feed(event="start", step="final-sync", host="old")
    clock[0] += 3
    feed(event="failed", step="final-sync", message="rsync exited 23")
    text = _render(view)
    line = next(x for x in text.splitlines() if "final-sync" in x)
    assert "✗" in line and "rsync exited 23" in line
    assert "75.0 s" in next(x for x in text.splitlines() if "old-freeze" in x)
    assert "freeze window 01:18" in text  # still frozen: the forward step never finished
    feed(event="start", step="old-forward", host="old")
    feed(event="done", step="old-forward")
    assert "freeze window" not in _render(view)


def test_cutover_on_a_terminal_shows_the_live_table(tmp_path, monkeypatch):
    """The CLI, its output a terminal, runs the synthetic plan over the loopback sshd (both
    hosts, addressed as USER@HOST:PORT) with the live table: the frames show the freeze timer
    while the slow step runs, the last frame every step done."""
    import io

    from rich.console import Console

    import migrate.app.ui as ui
    from sshtools import sshd_running
    plan_dir = synthetic_plan(tmp_path)
    data = yaml.safe_load((plan_dir / "plan.yaml").read_text())
    data["steps"][2]["id"] = "old-freeze"
    data["steps"][4]["id"] = "old-forward"
    plantools.write_plan(plan_dir, data)
    buf = io.StringIO()
    monkeypatch.setattr(ui, "out", Console(file=buf, force_terminal=True, width=120,
                                           color_system=None))
    monkeypatch.setenv("SLOW", "2")
    with sshd_running() as sshd:
        spec = f"root@127.0.0.1:{sshd.port}"
        result = RUNNER.invoke(cli.app, ["cutover", str(plan_dir), "--old", spec, "--new", spec,
                                         "--identity", str(sshd.key), "--known-hosts",
                                         str(sshd.known_hosts), "--execute", "--yes"])
    assert result.exit_code == 0, result.output + buf.getvalue()
    frames = buf.getvalue()
    assert "freeze window 00:01" in frames or "freeze window 00:02" in frames
    last = frames[frames.rfind("cutover: 5/5 steps"):]
    import re
    assert all(re.search(rf"✓ +{sid} ", last) for sid in ("put", "append", "old-freeze", "slow",
                                                        "old-forward")), last
    assert "run  put" not in frames  # the table replaces the log lines
    assert "freeze window:" in frames and "cutover done in" in frames  # the summary after it


# --- blockers recorded in plan.yaml --------------------------------------------------------------

BLOCKER = {"id": "plan.unsafe-value", "severity": "blocker",
           "message": "host.hostname holds a line break", "hint": "fix rc.conf",
           "source": {"file": "/etc/rc.conf", "line": 3}}


def _with_findings(plan_dir: Path, findings: list[dict]) -> None:
    data = yaml.safe_load((plan_dir / "plan.yaml").read_text())
    data["findings"] = findings
    plantools.write_plan(plan_dir, data)


def test_a_plan_with_blockers_is_never_executed_but_can_be_rolled_back(tmp_path):
    """plan.yaml records the blockers `migrate plan` found: --execute and --resume refuse with
    one line (the count and the first blocker) before any host is touched; the dry run shows
    the steps under a clear BLOCKED line; --rollback still puts the hosts back."""
    from sshtools import sshd_running
    plan_dir = synthetic_plan(tmp_path)
    warning = dict(BLOCKER, id="aliases.odd", severity="warning", message="just so")
    second = dict(BLOCKER, id="pickle-broken", message="config.pck of x")
    before = tree_state(tmp_path)
    with sshd_running() as sshd:
        spec = f"root@127.0.0.1:{sshd.port}"
        conn = ["--old", spec, "--new", spec, "--identity", str(sshd.key),
                "--known-hosts", str(sshd.known_hosts)]
        _with_findings(plan_dir, [warning])  # a warning does not block
        res = RUNNER.invoke(cli.app, ["cutover", str(plan_dir), *conn, "--execute", "--yes"])
        assert res.exit_code == 0, res.output
        after = tree_state(tmp_path)
        assert after != before
        _with_findings(plan_dir, [warning, BLOCKER, second])
        journal = (plan_dir / "journal.jsonl").read_bytes()
        for flags in (["--execute", "--yes"], ["--execute", "--resume"],
                      ["--execute", "--resume", "--yes"]):
            res = RUNNER.invoke(cli.app, ["cutover", str(plan_dir), *conn, *flags])
            assert res.exit_code == 1, (flags, res.output)
            assert res.stderr.count("\n") == 1, res.stderr
            assert "2 blocker(s)" in res.stderr and "plan.unsafe-value" in res.stderr
            assert "host.hostname holds a line break" in res.stderr and "/etc/rc.conf" in res.stderr
            assert "pickle-broken" not in res.stderr  # the first one only
            assert tree_state(tmp_path) == after
            assert (plan_dir / "journal.jsonl").read_bytes() == journal
        for flags in ([], ["--resume"]):  # the dry runs still print, and exit 1
            res = RUNNER.invoke(cli.app, ["cutover", str(plan_dir), *flags])
            assert res.exit_code == 1, res.output
            lines = res.stdout.strip().splitlines()
            assert lines[0].startswith("BLOCKED: the plan has 2 blocker(s)"), lines[0]
            assert lines[-2].startswith("BLOCKED: 2 blocker(s)"), lines[-2]
            assert "2 blocker(s) stand" in lines[-1] and "cannot be executed" in lines[-1]
            assert "Add --execute" not in res.stdout
            assert (" put on new host" in res.stdout) == (not flags)  # resume: all done
        res = RUNNER.invoke(cli.app, ["cutover", str(plan_dir), *conn, "--rollback"])
        assert res.exit_code == 1 and tree_state(tmp_path) == after  # a dry run: no change
        assert "restore " in res.stdout and "--execute --rollback" in res.stdout
        res = RUNNER.invoke(cli.app, ["cutover", str(plan_dir), *conn, "--execute",
                                      "--rollback", "--yes"])
        assert res.exit_code == 0, res.output
        assert tree_state(tmp_path) == before


@pytest.mark.parametrize("findings", [
    [{"id": "x", "severity": "blocker", "message": "m"}],
    [{"id": "x", "severity": "BLOCKER?", "message": "m"}],  # unknown severity: fails closed
    ["not a finding"],
    {"not": "a list"},
])
def test_execute_refuses_before_connecting(tmp_path, findings):
    plan_dir = synthetic_plan(tmp_path)
    _with_findings(plan_dir, findings)
    # an address nothing listens on: the refusal comes before any connection
    res = RUNNER.invoke(cli.app, ["cutover", str(plan_dir), "--old", "root@127.0.0.1:1",
                                  "--new", "root@127.0.0.1:1", "--execute", "--yes"])
    assert res.exit_code == 1 and "blocker(s)" in res.stderr, res.output
    assert res.stderr.count("\n") == 1
    assert not (plan_dir / "journal.jsonl").exists()


def test_the_freeze_windows_parts_come_from_the_journal():
    """After the cutover, the line under the freeze window's total: each step inside the
    window with its seconds, and the final sync's own parts as final.sh printed them."""
    from types import SimpleNamespace

    from migrate.core.steps import FINAL_SYNC_SUMMARY

    def at(s: float) -> str:
        return f"2026-12-07T22:00:{s:06.3f}+00:00"
    summary = FINAL_SYNC_SUMMARY.format(delta=1, copy=3, sent=4096, verify=2)
    records = []
    for sid, start, end in (("presync", 0, 5), ("old-freeze", 10, 11),
                            ("old-mailman-drain", 11, 15), ("final-sync", 15, 22),
                            ("new-mailman", 22, 30), ("old-forward", 30, 31),
                            ("verify", 31, 40)):
        records.append({"t": at(start), "step": sid, "event": "start"})
        if sid == "final-sync":
            records.append({"t": at(end), "step": sid, "event": "output",
                            "output": f"delta: 0 unchanged\n{summary}\n"})
        records.append({"t": at(end), "step": sid, "event": "done"})
    book = SimpleNamespace(records=records)
    assert timings(book)[1] == 21.0
    assert window_parts(book) == (
        f"old-freeze 1 s, old-mailman-drain 4 s, final-sync 7 s, new-mailman 8 s, "
        f"old-forward 1 s; {summary}")
    # no whole window yet: nothing to say
    assert window_parts(SimpleNamespace(records=records[:8])) == ""


def test_status_says_where_a_cutover_stands(tmp_path):
    """`migrate status PLAN`: from the journal only (no host reached), before the start, after
    a failed step (its message and output, what --resume runs next, what --rollback would
    undo and restore), after the resume and after a rollback; --json the same as data."""
    plan_dir = synthetic_plan(tmp_path)
    journal_path = plan_dir / "journal.jsonl"
    res = RUNNER.invoke(cli.app, ["status", str(plan_dir), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["state"] == "not started"
    original = yaml.safe_load((plan_dir / "plan.yaml").read_text())
    data = yaml.safe_load((plan_dir / "plan.yaml").read_text())
    data["steps"][3]["actions"][0]["command"] += "; echo 'the disk is full'; exit 7"
    plantools.write_plan(plan_dir, data)
    runner = Runner(load_plan(str(plan_dir)), hosts(), Journal(journal_path),
                    say=lambda s: None)
    with pytest.raises(StepFailed):
        runner.execute()
    res = RUNNER.invoke(cli.app, ["status", str(plan_dir), "--json"])
    assert res.exit_code == 0, res.output
    state = json.loads(res.stdout)
    assert state["state"] == "failed" and state["done"] == ["put", "append", "freeze"]
    assert state["failed"]["step"] == "slow" and "the disk is full" in state["failed"]["output"]
    assert state["next"] == "slow" and state["remaining"] == ["slow", "unfreeze"]
    assert [u["step"] for u in state["rollback"]] == ["slow", "freeze", "append", "put"]
    assert any("echo unfreeze" in a for u in state["rollback"] for a in u["actions"])
    assert f"old:{tmp_path}/old/etc/configure" in state["restore"]
    assert state["frozen_for"] is None  # the synthetic plan's freeze is not old-freeze
    text = RUNNER.invoke(cli.app, ["status", str(plan_dir)]).output
    assert "failed: slow:" in text and "| the disk is full" in text
    assert "next with --resume: slow (2 step(s) left)" in text
    assert "--rollback would undo, newest first:" in text and "restore old:" in text
    # the cause fixed (the plan as it was), the cutover resumed to its end
    plantools.write_plan(plan_dir, original)
    Runner(load_plan(str(plan_dir)), hosts(), Journal(journal_path),
           say=lambda s: None).execute(resume=True)
    state = json.loads(RUNNER.invoke(cli.app, ["status", str(plan_dir), "--json"]).stdout)
    assert state["state"] == "done" and state["next"] is None and state["failed"] is None
    Runner(load_plan(str(plan_dir)), hosts(), Journal(journal_path),
           say=lambda s: None).rollback()
    state = json.loads(RUNNER.invoke(cli.app, ["status", str(plan_dir), "--json"]).stdout)
    assert state["state"] == "rolled back"
    # a damaged journal: a clear error naming its line, exit 3
    journal_path.write_text("not json\n" + journal_path.read_text())
    res = RUNNER.invoke(cli.app, ["status", str(plan_dir)])
    assert res.exit_code == 3 and "journal.jsonl:1: the journal is damaged" in res.stderr
