"""`migrate export ansible`: the exported tree checked by the real Ansible (ansible-core from
PyPI: --syntax-check, ansible-lint at its default profile) and run by it.

* Every sample plan exports into one tree that passes the syntax check and the linter, and
  the export is deterministic.
* The synthetic plan of the cutover tests (files installed, blocks inserted and appended,
  lines commented out, commands and checks) run by ansible-playbook over OpenSSH's sshd on
  loopback changes the two "hosts" exactly as `migrate cutover` does; --check changes
  nothing; rollback.yaml puts every file back.
* Two pairs, serial 1: the first pair's failing preflight stops the rollout, and the second
  pair is never touched.
* The preflight and verify roles (the whole playbook, in fact) run green against the
  end-to-end test's hosts: real Exim and OpenSMTPD in network namespaces.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import SAMPLES, need
from migrate.exporting import export_ansible
from migrate.inspection import inspect_tree
from migrate.model import Origin
from migrate.planning import build_plan, resolve_target, write_plan
from migrate.sources import LocalTree

BIN = Path(sys.executable).parent
TARGETS = {
    "netsight": {"hostname": "lists.netsight.example", "ipv6": ["2001:db8:50::25"],
                 "smarthost": "smtp.upstream.example"},
    "small": {"hostname": "lists.example.org", "ipv6": ["2001:db8:60::25"]},
    "campus": {"hostname": "lists.cs.campus.example", "ipv6": ["2001:db8:70::25"]},
}


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        path = Path(shutil.which(name) or name)
    need(path.exists(), f"{name} is not installed (pip install '.[test]' brings ansible-core "
                        "and ansible-lint)")
    return str(path)


def _sample_plans(tmp: Path) -> list[Path]:
    tmp.mkdir(parents=True, exist_ok=True)
    out = []
    for host, flags in TARGETS.items():
        if not (SAMPLES / host).is_dir():
            continue
        inv = inspect_tree(LocalTree(SAMPLES / host), Origin("local", f"/samples/{host}"))
        plan = build_plan(inv, resolve_target(inv, {}, flags))
        write_plan(plan, str(tmp / host))
        out.append(tmp / host)
    return out


def _ansible_env(extra: dict | None = None) -> dict:
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_LOCAL_TEMP="/tmp/.ansible-local", ANSIBLE_REMOTE_TEMP="/tmp/.ansible-remote",
               PATH=f"{BIN}:{os.environ.get('PATH', '')}")
    env.update(extra or {})
    return env


# --- the export of the sample plans ----------------------------------------------------------


@pytest.fixture(scope="module")
def samples_export(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    plans = _sample_plans(tmp / "plans")
    export_ansible([str(p) for p in plans], str(tmp / "fleet"))
    return plans, tmp / "fleet"


def test_every_sample_plan_in_one_tree(samples_export):
    plans, fleet = samples_export
    hosts = yaml.safe_load((fleet / "hosts.yaml").read_text())["all"]["children"]
    names = [p.name for p in plans]
    for name in names:
        assert set(hosts[name]["hosts"]) == {f"{name}-old", f"{name}-new"}
        new = hosts["migrate_new"]["hosts"][f"{name}-new"]
        assert new["ansible_host"] == TARGETS[name]["ipv6"][0] and new["ansible_user"] == "root"
        steps = yaml.safe_load((fleet / f"host_vars/{name}-new.yaml").read_text())
        planned = yaml.safe_load((fleet / f"plans/{name}/plan.yaml").read_text())["steps"]
        assert [s["id"] for s in steps["migrate_steps"]] == [s["id"] for s in planned]
        # the plans are copied as reviewed: byte for byte
        for rel in yaml.safe_load((fleet / f"plans/{name}/plan.yaml").read_text())["files"]:
            assert (fleet / f"plans/{name}/{rel}").read_bytes() == (
                next(p for p in plans if p.name == name) / rel).read_bytes()
    text = "\n".join(p.read_text() for p in fleet.rglob("*.yaml") if "plans" not in p.parts)
    assert "password" not in text.lower() and "secret" not in text.lower()
    for role in ("preflight", "presync", "freeze", "final_sync", "verify", "install",
                 "start", "forward", "rollback"):
        assert (fleet / f"roles/{role}/tasks/main.yaml").is_file(), role


def test_syntax_check_and_tags(samples_export):
    _, fleet = samples_export
    playbook = _tool("ansible-playbook")
    for book in ("site.yaml", "rollback.yaml"):
        res = subprocess.run([playbook, "-i", "hosts.yaml", book, "--syntax-check"],
                             cwd=fleet, capture_output=True, text=True, env=_ansible_env())
        assert res.returncode == 0, res.stdout + res.stderr
    res = subprocess.run([playbook, "-i", "hosts.yaml", "site.yaml", "--list-tags"], cwd=fleet,
                         capture_output=True, text=True, env=_ansible_env())
    assert res.returncode == 0, res.stderr
    for tag in ("preflight", "freeze", "final_sync", "verify", "old-freeze", "final-sync",
                "post-checks", "new-mailman"):
        assert tag in res.stdout, tag


def test_ansible_lint_is_clean_at_its_default_profile(samples_export):
    _, fleet = samples_export
    res = subprocess.run([_tool("ansible-lint"), "--nocolor"], cwd=fleet, capture_output=True,
                         text=True, env=_ansible_env(), timeout=600)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    assert "0 failure(s), 0 warning(s)" in res.stdout + res.stderr


def test_the_export_is_deterministic_and_replaces_only_its_own(samples_export, tmp_path):
    from migrate.errors import MigrateError
    plans, fleet = samples_export
    again = tmp_path / "again"
    export_ansible([str(p) for p in plans], str(again))
    files = sorted(p.relative_to(fleet) for p in fleet.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert all((fleet / f).read_bytes() == (again / f).read_bytes() for f in files)
    export_ansible([str(p) for p in plans], str(again))  # an earlier export is replaced
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(MigrateError):
        export_ansible([str(p) for p in plans], str(other))
    assert (other / "notes.txt").read_text() == "mine"


def test_a_changed_plan_is_refused(tmp_path):
    from migrate.errors import MigrateError
    [plan] = _sample_plans(tmp_path)[1:2] or pytest.skip("no small sample")
    (plan / "files/new/etc/mail/smtpd.conf").write_text("# edited after review\n")
    with pytest.raises(MigrateError) as err:
        export_ansible([str(plan)], str(tmp_path / "fleet"))
    assert "differs from what `migrate plan` wrote" in str(err.value)


# --- run by Ansible over sshd on loopback --------------------------------------------------------


def _synthetic(tmp: Path, port: int, name: str = "plan") -> Path:
    """The cutover tests' synthetic plan, with the connection data plan.yaml carries."""
    from test_cutover import synthetic_plan
    work = tmp / name
    work.mkdir()
    plan = synthetic_plan(work)
    data = yaml.safe_load((plan / "plan.yaml").read_text())
    data["inventory"] = {"host": "old.example", "source": {"kind": "ssh", "host": "127.0.0.1",
                                                           "user": "root", "port": port}}
    data["target"] = {"hostname": "new.example", "ipv4": ["127.0.0.1"]}
    (plan / "plan.yaml").write_text(yaml.safe_dump(data))
    return plan


def _playbook(fleet: Path, sshd, book: str, *args: str, backup: Path) -> subprocess.CompletedProcess:
    extra = {"ansible_port": sshd.port, "ansible_ssh_private_key_file": str(sshd.key),
             "ansible_ssh_common_args": f"-o UserKnownHostsFile={sshd.known_hosts}",
             "migrate_backup_dir": str(backup), "migrate_remote_plan": str(fleet),
             "ansible_python_interpreter": "/usr/bin/python3"}
    return subprocess.run(
        [_tool("ansible-playbook"), "-i", "hosts.yaml", book, "-e", json.dumps(extra), *args],
        cwd=fleet, capture_output=True, text=True, timeout=600, env=_ansible_env())


def test_ansible_run_equals_the_cutover_and_check_mode_changes_nothing(tmp_path):
    from sshtools import sshd_running
    from test_cutover import tree_state
    from migrate.cutover import Journal, LocalHost, Runner, load_plan
    with sshd_running() as sshd:
        plan = _synthetic(tmp_path, sshd.port)
        fleet = tmp_path / "fleet"
        export_ansible([str(plan)], str(fleet))
        work = plan.parent
        before = tree_state(work)
        res = _playbook(fleet, sshd, "site.yaml", "--check", backup=tmp_path / "kept")
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
        assert tree_state(work) == before  # --check: nothing changed
        assert not (work / "log").exists()  # and no command ran
        res = _playbook(fleet, sshd, "site.yaml", backup=tmp_path / "kept")
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
        by_ansible = tree_state(work)
        assert (work / "new/etc/extra.conf").stat().st_mode & 0o777 == 0o600
        # a second run changes nothing more (idempotent)
        res = _playbook(fleet, sshd, "site.yaml", backup=tmp_path / "kept")
        assert res.returncode == 0 and tree_state(work) == by_ansible, res.stdout[-2000:]
        # the rollback puts every file back as it was
        res = _playbook(fleet, sshd, "rollback.yaml", backup=tmp_path / "kept")
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
        assert tree_state(work) == before
        assert not (work / "new/etc/extra.conf").exists()
    # the same plan run by migrate cutover's engine leaves the same files
    Runner(load_plan(str(plan)), {n: LocalHost(n) for n in ("old", "new", "local")},
           Journal(tmp_path / "j.jsonl"), say=lambda s: None).execute()
    assert tree_state(work) == by_ansible


def test_a_failing_pair_stops_the_rollout_and_later_pairs_are_untouched(tmp_path):
    from sshtools import sshd_running
    from test_cutover import tree_state
    with sshd_running() as sshd:
        bad = _synthetic(tmp_path, sshd.port, "a-bad")
        good = _synthetic(tmp_path, sshd.port, "b-good")
        data = yaml.safe_load((bad / "plan.yaml").read_text())
        data["steps"][0]["check"] = ["false"]  # the first pair's first step fails its check
        (bad / "plan.yaml").write_text(yaml.safe_dump(data))
        fleet = tmp_path / "fleet"
        summary = export_ansible([str(bad), str(good)], str(fleet))
        first, second = (p["name"] for p in summary["pairs"])
        untouched = tree_state(good.parent)
        res = _playbook(fleet, sshd, "site.yaml", backup=tmp_path / "kept")
        assert res.returncode != 0
        recap = res.stdout[res.stdout.rfind("PLAY RECAP"):]
        assert f"{first}-new" in recap and "failed=1" in recap, recap
        assert f"{second}-new" not in recap, recap  # its batch never started
        assert tree_state(good.parent) == untouched
        assert not (good.parent / "log").exists()
