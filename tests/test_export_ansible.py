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

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import plantools
import pytest
import yaml

from conftest import SAMPLES, need
from migrate.core import steps
from migrate.app.exporting import export_ansible
from migrate.app.inspection import inspect_tree
from migrate.core.model import Origin
from migrate.app.planning import build_plan, resolve_target, write_plan
from migrate.app.sources import LocalTree

BIN = Path(sys.executable).parent
TARGETS = {
    "netsight": {"hostname": "lists.netsight.example", "ipv6": ["2001:db8:50::25"],
                 "smarthost": "smtp.upstream.example"},
    "small": {"hostname": "lists.example.org", "ipv6": ["2001:db8:60::25"]},
    "campus": {"hostname": "lists.cs.campus.example", "ipv6": ["2001:db8:70::25"]},
}
for _flags in TARGETS.values():
    _flags["destination"] = "mailman2"  # the plans the export's tests were written for


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


class _TreeLoader(yaml.SafeLoader):
    """Reads the exported tree: ``!unsafe 'text'`` is the text (Ansible never templates it)."""


_TreeLoader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def _tree_yaml(path: Path):
    return yaml.load(path.read_text(), Loader=_TreeLoader)


def _strings(path: Path) -> list[tuple[str, bool]]:
    """Every string value of a tree file, and whether it is tagged ``!unsafe``."""
    out: list[tuple[str, bool]] = []

    class Loader(yaml.SafeLoader):
        pass

    def tagged(loader, node):
        out.append((loader.construct_scalar(node), True))
        return None

    Loader.add_constructor("!unsafe", tagged)

    def walk(data):
        if isinstance(data, str):
            out.append((data, False))
        elif isinstance(data, dict):
            for v in data.values():
                walk(v)
        elif isinstance(data, list):
            for v in data:
                walk(v)

    walk(yaml.load(path.read_text(), Loader=Loader))
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
    hosts = _tree_yaml(fleet / "hosts.yaml")["all"]["children"]
    names = [p.name for p in plans]
    for name in names:
        assert set(hosts[name]["hosts"]) == {f"{name}-old", f"{name}-new"}
        new = hosts["migrate_new"]["hosts"][f"{name}-new"]
        assert new["ansible_host"] == TARGETS[name]["ipv6"][0] and new["ansible_user"] == "root"
        steps = _tree_yaml(fleet / f"host_vars/{name}-new.yaml")
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
    from migrate.core.errors import MigrateError
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
    from migrate.core.errors import MigrateError
    [plan] = _sample_plans(tmp_path)[1:2] or pytest.skip("no small sample")
    (plan / "files/new/etc/mail/smtpd.conf").write_text("# edited after review\n")
    with pytest.raises(MigrateError) as err:
        export_ansible([str(plan)], str(tmp_path / "fleet"))
    assert "differs from what `migrate plan` wrote" in str(err.value)


# --- what a field plan.yaml leaves out means, to the cutover and to the export -----------------

#: The smallest action of each kind that has defaults (only its required fields).
_BARE = {"run": {"command": "false"}, "wait": {"command": "true"},
         "smtp": {"address": "192.0.2.25"}, "http": {"url": "http://192.0.2.80/"},
         "dns": {"name": "lists.example.org", "type": "MX", "nameserver": "192.0.2.53"}}


def _by_the_cutover(kind: str, monkeypatch) -> dict:
    """What ``migrate cutover`` does with a bare action of ``kind``: the values its ``apply``
    hands on (to the probe, to the wait loop, to the host)."""
    from migrate.core import probes
    seen: dict = {}

    def until(probe, timeout, interval):
        probe()  # (a wait's probe runs its command with a timeout of its own)
        seen.update(timeout=timeout, interval=interval)

    def recorder(*names):
        return lambda *args: seen.update(zip(names, args)) or None
    monkeypatch.setattr(steps, "_until", until)
    monkeypatch.setattr(probes, "smtp_banner", recorder("address", "port"))
    monkeypatch.setattr(probes, "http_check", recorder("url", "host_header", "expect", "status",
                                                       "location", "verify"))
    monkeypatch.setattr(probes, "dns_check", recorder("name", "type", "value", "max_ttl",
                                                      "nameserver", "nameserver_port"))

    class Host:
        def run(self, command, timeout):
            seen["timeout"] = timeout
            return type("Result", (), {"code": 1, "out": "", "err": "no"})()

    class Ctx:
        host = Host()

        def say(self, line):
            pass

        def record(self, **event):
            pass
    action = steps.action_from_data({"do": kind, **_BARE[kind]})
    try:
        action.apply(Ctx())
        seen["report"] = True  # a failing command did not fail the step
    except steps.ActionFailed:
        seen["report"] = False
    return seen


def _by_the_export(kind: str) -> dict:
    """What the exported task file does with the same bare action, rendered by Jinja as
    Ansible renders it: a retried task waits ``retries * delay`` seconds, every ``delay``."""
    import jinja2
    from migrate.app import ansible
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    action = steps.action_from_data({"do": kind, **_BARE[kind]}).to_data()

    def render(value, **names):
        return yaml.safe_load(env.from_string(str(value)).render(
            migrate_step_action=action, **names))
    done: dict = {}
    for task in yaml.safe_load(ansible.ACTION_TASKS[kind]):
        module = next((v for k, v in task.items() if k.startswith("ansible.builtin.")), {})
        if "retries" in task:
            delay = render(task["delay"])
            done.update(timeout=render(task["retries"]) * delay, interval=delay)
        elif kind in ("run", "wait") and "timeout" in task:
            done["timeout"] = render(task["timeout"])
        if "failed_when" in task:
            done["report"] = not render("{{ " + task["failed_when"] + " }}",
                                        migrate_step_ran={"rc": 1})
        if kind == "smtp":
            done["port"] = render(module["port"])
        elif kind == "http":
            done.update(status=render(module["status_code"]),
                        verify=render(module["validate_certs"]))
        elif kind == "dns":
            done["nameserver_port"] = render(module["argv"][-1])
    return done


@pytest.mark.parametrize("kind", sorted(k for k, cls in steps.REGISTRY.items() if cls.defaults))
def test_a_field_left_out_means_the_same_to_the_export_and_the_cutover(kind, monkeypatch):
    """One table of defaults (``Action.defaults``): for every field of it, the task file the
    export writes does what the cutover does when plan.yaml leaves the field out. A check
    without a timeout is tried once by both (the export used to retry a web or SMTP check for
    60 s, the cutover tried once)."""
    assert kind in _BARE, f"add a bare {kind} action to _BARE"
    defaults = steps.REGISTRY[kind].defaults
    cutover = {k: v for k, v in _by_the_cutover(kind, monkeypatch).items() if k in defaults}
    export = _by_the_export(kind)
    assert set(export) == set(defaults), f"the export does not use {kind}'s " \
        f"{sorted(set(defaults) - set(export))}"
    assert cutover == export == defaults


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
    plantools.write_plan(plan, data)
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
    from migrate.app.cutover import Journal, Runner, load_plan
    from migrate.app.hosts import LocalHost
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
        plantools.write_plan(bad, data)
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


# --- template injection: a plan's values are data, never Jinja ---------------------------------


def _jinja(sentinel: Path, n: int) -> str:
    """Jinja that runs a command on the controller if Ansible ever templates it (no single
    quote: a shell word keeps it intact)."""
    return f'{{{{ lookup("pipe", "touch {sentinel}-{n}") }}}}'


def _block(sentinel: Path, n: int) -> str:
    return f'{{% set x = lookup("pipe", "touch {sentinel}-{n}") %}}{{{{ x }}}}'


RENDER = """\
# Renders every value of each pair's steps as the migrate_step role does (nothing is run).
---
- name: Render the steps
  hosts: migrate_new
  connection: local
  gather_facts: false
  tasks:
    - name: Every step as data
      ansible.builtin.debug:
        msg: "{{ migrate_steps }}"
    - name: Every action and check, one by one
      ansible.builtin.debug:
        msg: "{{ item }} {{ item.command | default('') }} {{ item.text | default('') }}"
      loop: "{{ migrate_steps | map(attribute='actions') | flatten }}"
    - name: Each step as the role selects it
      ansible.builtin.include_tasks: render_step.yaml
      loop: "{{ migrate_steps | map(attribute='id') | list }}"
      loop_control:
        loop_var: migrate_step_id
"""

RENDER_STEP = """\
---
- name: Select
  ansible.builtin.include_tasks: roles/migrate_step/tasks/select.yaml
- name: Render the selected step
  ansible.builtin.debug:
    msg: "{{ migrate_step_current.title }} {{ migrate_step_current.check }} {{ migrate_step_where }}"
- name: Render its actions as the role's tasks do
  ansible.builtin.debug:
    msg: "{{ migrate_step_action.command | default(migrate_step_action.path | default('')) }}"
  loop: "{{ migrate_step_current.actions + migrate_step_current.rollback }}"
  loop_control:
    loop_var: migrate_step_action
"""


def test_inventory_values_are_never_templated_by_ansible(tmp_path):
    """A value from the old host (Mailman's var prefix, an Exim configuration path, the old
    host's name) holding Jinja reaches step commands, paths, the copied mm_cfg.py.migrate and
    hosts.yaml; Ansible renders all of it and runs nothing."""
    if not (SAMPLES / "small").is_dir():
        pytest.skip("no small sample")
    sentinel = tmp_path / "pwned"
    inv = inspect_tree(LocalTree(SAMPLES / "small"), Origin("local", "/samples/small"))
    inv.mailman.var_prefix = "/usr/local/mailman" + _jinja(sentinel, 1)
    inv.mailman.config_file = "/usr/local/mailman/Mailman/mm_cfg.py" + _jinja(sentinel, 4)
    exim = [c for c in inv.mta.config_files if c.path.startswith("/")]
    assert exim, "the sample has an Exim configuration"
    exim[0].path = exim[0].path + _block(sentinel, 2)
    plan = build_plan(inv, resolve_target(inv, {}, TARGETS["small"]))
    write_plan(plan, str(tmp_path / "small"))
    data = yaml.safe_load((tmp_path / "small/plan.yaml").read_text())
    data["inventory"]["host"] = "old.example" + _jinja(sentinel, 3)
    plantools.write_plan(tmp_path / "small", data)
    fleet = tmp_path / "fleet"
    export_ansible([str(tmp_path / "small")], str(fleet))
    host_vars = (fleet / "host_vars/small-new.yaml").read_text()
    steps = _tree_yaml(fleet / "host_vars/small-new.yaml")["migrate_steps"]
    commands = [a.get("command", "") for s in steps for a in s["actions"]] + [
        c for s in steps for c in s["check"]]
    assert any(_jinja(sentinel, 1) in c for c in commands)  # it did reach a command
    assert any(_block(sentinel, 2) in p for s in steps for a in s["actions"]
               for p in a.get("paths", []))
    copied = [p for p in fleet.rglob("mm_cfg.py.migrate")]
    # appended by the role through a file lookup (whose result Ansible never templates)
    assert copied and _jinja(sentinel, 4) in copied[0].read_text()
    assert "!unsafe" in (fleet / "hosts.yaml").read_text() and "!unsafe" in host_vars
    for path in (fleet / "host_vars/small-new.yaml", fleet / "hosts.yaml"):
        live = [v for v, tagged in _strings(path) if "lookup(" in v and not tagged]
        assert not live, live  # every string holding the payload is an !unsafe scalar
    playbook = _tool("ansible-playbook")
    (fleet / "render.yaml").write_text(RENDER)
    (fleet / "render_step.yaml").write_text(RENDER_STEP)
    for book in ("site.yaml", "rollback.yaml", "render.yaml"):
        res = subprocess.run([playbook, "-i", "hosts.yaml", book, "--syntax-check"],
                             cwd=fleet, capture_output=True, text=True, env=_ansible_env())
        assert res.returncode == 0, res.stdout + res.stderr
    res = subprocess.run([playbook, "-i", "hosts.yaml", "site.yaml", "--list-tasks"],
                         cwd=fleet, capture_output=True, text=True, env=_ansible_env())
    assert res.returncode == 0, res.stdout + res.stderr
    res = subprocess.run([playbook, "-i", "hosts.yaml", "render.yaml", "-e",
                          "ansible_python_interpreter=" + sys.executable], cwd=fleet,
                         capture_output=True, text=True, env=_ansible_env(), timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert 'lookup(\\"pipe\\", \\"touch' in res.stdout or 'lookup("pipe", "touch' in res.stdout
    assert not list(tmp_path.glob("pwned*"))


def test_plan_values_run_verbatim_under_ansible(tmp_path):
    """The synthetic plan with Jinja in a command, a check, a title, a note, a way back and the
    files it appends and inserts, run for real by ansible-playbook over sshd: every command
    runs as written, every file lands as written, no lookup ever runs."""
    from sshtools import sshd_running
    sentinel = tmp_path / "pwned"
    with sshd_running() as sshd:
        plan = _synthetic(tmp_path, sshd.port)
        work = plan.parent
        data = yaml.safe_load((plan / "plan.yaml").read_text())
        steps = {s["id"]: s for s in data["steps"]}
        steps["append"]["actions"][1]["command"] = f"echo '{_jinja(sentinel, 1)}' >> {work}/log"
        steps["append"]["title"] = "mm_cfg " + _block(sentinel, 2)
        steps["put"]["check"].append(f": '{_block(sentinel, 3)}'")
        steps["freeze"]["rollback"].append({"do": "run", "command": f": '{_jinja(sentinel, 4)}'"})
        steps["slow"]["actions"].insert(0, {"do": "note", "text": "note " + _jinja(sentinel, 5)})
        for rel, n in (("files/extra.conf", 6), ("files/freeze.conf", 7)):
            text = f"  x = {_jinja(sentinel, n)}\n  {_block(sentinel, n + 10)}\n"
            (plan / rel).write_text(text)
            data["files"][rel] = hashlib.sha256(text.encode()).hexdigest()
        plantools.write_plan(plan, data)
        fleet = tmp_path / "fleet"
        export_ansible([str(plan)], str(fleet))
        for book in ("site.yaml", "rollback.yaml"):
            res = subprocess.run([_tool("ansible-playbook"), "-i", "hosts.yaml", book,
                                  "--syntax-check"], cwd=fleet, capture_output=True, text=True,
                                 env=_ansible_env())
            assert res.returncode == 0, res.stdout + res.stderr
        res = _playbook(fleet, sshd, "site.yaml", backup=tmp_path / "kept")
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
        assert _jinja(sentinel, 1) in (work / "log").read_text()  # ran as written
        assert _jinja(sentinel, 6) in (work / "new/etc/mm_cfg.py").read_text()
        assert _block(sentinel, 16) in (work / "new/etc/mm_cfg.py").read_text()  # (freeze.conf: inserted, then unmarked by the forward step)
        assert _jinja(sentinel, 6) in (work / "new/etc/extra.conf").read_text()
        res = _playbook(fleet, sshd, "rollback.yaml", backup=tmp_path / "kept")
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert not list(tmp_path.glob("pwned*")), list(tmp_path.glob("pwned*"))


@pytest.mark.parametrize("step_id", ["{{ x }}", "../../etc/x", "a b", "Freeze"])
def test_a_step_id_that_is_not_a_plain_name_is_refused(tmp_path, step_id):
    """Step ids become task file names and tags (syntax, never !unsafe): refused, one line."""
    from migrate.core.errors import MigrateError
    from test_cutover import synthetic_plan
    plan = synthetic_plan(tmp_path)
    data = yaml.safe_load((plan / "plan.yaml").read_text())
    data["steps"][1]["id"] = step_id
    data["inventory"] = {"host": "old.example"}
    data["target"] = {"hostname": "new.example", "ipv4": ["192.0.2.1"]}
    plantools.write_plan(plan, data)
    with pytest.raises(MigrateError) as err:
        export_ansible([str(plan)], str(tmp_path / "fleet"))
    assert "not a plain name" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "fleet").exists()


def test_a_destinations_start_steps_are_in_the_start_role_whatever_their_ids():
    """The export names no list manager's step: the new host's steps at the switch start it
    (Mailman 2's new-mailman, a fake destination's own ids, smtpd's new-smtpd), before the old
    host forwards; acme-client's step keeps its own role."""
    from migrate.app.ansible import role_of
    make = steps.Step.make
    assert role_of(make("new-fakelists", "switch", "new", "t", "w", ["true"])) == "start"
    assert role_of(make(steps.NEW_SMTPD, "switch", "new", "t", "w", ["true"])) == "start"
    assert role_of(make(steps.NEW_ACME, "switch", "new", "t", "w", ["true"])) == "forward"
    assert role_of(make(steps.UNFREEZE_STEP, "switch", "old", "t", "w", ["true"])) == "forward"
