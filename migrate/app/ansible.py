"""An Ansible tree that runs the cutover of many plans: the inventory, a playbook, and roles
built from the same typed steps as ``migrate cutover`` (plan.yaml, read by migrate/core/steps.py).
It reads plans, not inventories: it sits beside the cutover, not among the emitters.

Layout (every file deterministic: same plans, same bytes)::

    hosts.yaml                 every old/new pair as a group; connection settings, no secrets
    host_vars/PAIR-new.yaml    the pair's steps (from plan.yaml), its old host's name
    site.yaml                  one play over the new hosts: every step in runbook order
    rollback.yaml              the way back, for the pairs given with --limit
    roles/ROLE/tasks/STEP.yaml one file per step a role runs; main.yaml runs them all
    roles/migrate_step/...     how a step runs: each action kind with builtin modules
    plans/PAIR/...             the plan directories as reviewed (the files the steps install)

The play runs on each pair's new host and hands a step to the host it names (``delegate_to``:
the pair's old host, the new host, or the controller for DNS and post-checks), so the order of
steps across the two hosts of a pair is the runbook's. ``serial`` takes one pair at a time by
default and ``max_fail_percentage: 0`` stops the rollout at the first failing pair: the pairs
of later batches are not touched. Tags name the role and the step (``--tags freeze``,
``--tags final-sync``). With ``--check`` nothing changes: commands are skipped, file modules
report what they would change, and the steps' read-only checks run but cannot fail the play.

Action kinds and the modules they use (one task file per kind, ``ACTION_TASKS``; a kind of
migrate/core/steps.py without one is refused here and fails tests/test_steps.py): ``run`` and checks: ``ansible.builtin.command`` with
an argv list (``/bin/sh -c`` plus the command, which keeps the runbook's pipes); ``wait``: the
same with ``until``; ``put``: ``copy``; ``append``, ``insert``, ``unmark``: ``blockinfile``
with the markers ``migrate cutover`` writes (``# migrate:NAME begin``/``end``), so either tool
can undo the other's edits; ``comment``, ``uncomment``: ``replace``; ``upload``: ``copy`` of
the plan directory; ``smtp``: ``wait_for`` with a 220 greeting; ``http``: ``uri`` (no
redirects followed; status and Location checked); ``dns``: dnspython through the controller's
Python (the one running Ansible; ``pip install migrate`` brings it). Before the first change to
a file its original is kept under ``/root/migrate-backup`` on that host; the rollback playbook
runs each step's own way back and puts those originals back.
"""

from __future__ import annotations

import re
from importlib import resources

import yaml

from migrate.core.steps import (COPY_PLAN, FINAL_SYNC, HOST_PLAN_DIR, NEW_ACME, NEW_SERVICES,
                                REGISTRY, SAFE_NAME, Step, block_mark, line_mark)
from migrate.core.text import comment

#: The roles, in the order the runbook needs them, and the steps each runs by default.
ROLES = ("preflight", "install", "start", "presync", "freeze", "final_sync", "forward",
         "verify", "rollback")
_BY_ID = {
    COPY_PLAN: "preflight", NEW_SERVICES: "start", FINAL_SYNC: "final_sync", NEW_ACME: "forward",
}
_BY_PHASE = {"preflight": "preflight", "prepare": "install", "presync": "presync",
             "freeze": "freeze", "switch": "forward", "verify": "verify", "after": "verify"}
BACKUP = "/root/migrate-backup"


def role_of(step: Step) -> str:
    """A step's role: by its id where it has one of its own, else the new host's steps at the
    switch start it (the list manager's, whatever the destination calls them, and smtpd),
    else by phase."""
    if step.id in _BY_ID:
        return _BY_ID[step.id]
    if step.phase == "switch" and step.host == "new":
        return "start"
    return _BY_PHASE.get(step.phase, "verify")


def pair_name(name: str, taken: set[str]) -> str:
    """An Ansible group name ([a-z0-9_], not starting with a digit), unique among ``taken``."""
    base = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_") or "pair"
    if base[0].isdigit():
        base = "pair_" + base
    out, n = base, 2
    while out in taken:
        out, n = f"{base}_{n}", n + 1
    return out


class Unsafe(str):
    """A string from a plan (and so from an inventory, from an old host nobody fully trusts):
    written as ``!unsafe '...'``, which Ansible never templates, so ``{{ lookup('pipe', ...) }}``
    or ``{% ... %}`` in a list's description, a path or a step's command stays text."""


def unsafe(data):
    """``data`` with every string value (not the keys) made ``Unsafe``, recursively."""
    if isinstance(data, str):
        return Unsafe(data)
    if isinstance(data, dict):
        return {k: unsafe(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [unsafe(v) for v in data]
    return data


class _Dumper(yaml.SafeDumper):
    """Lists indented under their key, as yamllint (and ansible-lint) want them."""

    def increase_indent(self, flow: bool = False, indentless: bool = False):
        return super().increase_indent(flow, False)


_Dumper.add_representer(
    Unsafe, lambda dumper, data: dumper.represent_scalar("!unsafe", str(data), style="'"))


def _dump(data) -> str:
    return "---\n" + yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                               width=100, default_flow_style=False)


def _step_vars(step: Step) -> dict:
    """A step as the migrate_step role reads it (a dns step runs on the controller)."""
    data = step.to_data()
    return {"id": data["id"], "host": step.runs_on, "title": data["title"],
            "actions": data["actions"], "check": data["check"], "rollback": data["rollback"]}


def emit_ansible(pairs: list[dict], serial: int = 1) -> dict[str, str]:
    """``pairs``: each ``{"name", "plan" (plan.yaml as data), "steps" (its typed steps, as the
    cutover loads them), "old": {"host", "user", "port", "python"}, "new": {...}}``. Returns
    the tree as relative path -> text."""
    untasked = sorted(set(REGISTRY) - set(ACTION_TASKS))
    if untasked:  # a programming error: tests/test_steps.py says which
        raise ValueError(f"action kind(s) {', '.join(untasked)} have no Ansible task")
    bad = next((p["name"] for p in pairs if not SAFE_NAME.fullmatch(p["name"])), None)
    if bad:
        raise ValueError(f"pair name {bad!r} is not a plain name ([a-z0-9_.-])")
    files: dict[str, str] = {}
    order: list[tuple[str, str, str]] = []  # (step id, role, title), runbook order, each once
    for pair in pairs:
        for step in pair["steps"]:
            if all(step.id != sid for sid, _, _ in order):
                order.append((step.id, role_of(step), step.title))

    hosts: dict = {"all": {"children": {"migrate_new": {"hosts": {}},
                                        "migrate_old": {"hosts": {}}}}}
    children = hosts["all"]["children"]
    for pair in pairs:
        name = pair["name"]
        old, new = f"{name}-old", f"{name}-new"
        for key, group, conn in ((old, "migrate_old", pair["old"]),
                                 (new, "migrate_new", pair["new"])):
            entry = {"ansible_host": unsafe(str(conn["host"])),
                     "ansible_user": unsafe(str(conn.get("user") or "root"))}
            if conn.get("port"):
                entry["ansible_port"] = int(conn["port"])
            if conn.get("python"):
                entry["ansible_python_interpreter"] = unsafe(str(conn["python"]))
            children[group]["hosts"][key] = entry
        children[name] = {"hosts": {old: None, new: None}}
        target = pair["plan"].get("target") or {}
        files[f"host_vars/{new}.yaml"] = (
            f"# The pair {comment(name)}: "
            f"{comment(pair['plan'].get('inventory', {}).get('host') or 'old host')}"
            f" to {comment(target.get('hostname', 'new host'))}, from plan.yaml (written by "
            "migrate).\n"
            + _dump({"migrate_pair": name, "migrate_old": old,
                     "migrate_plan_dir": f"plans/{name}",
                     "migrate_steps": unsafe([_step_vars(s) for s in pair["steps"]])}))
    files["hosts.yaml"] = ("# Every old/new host pair as a group (migrate export ansible). "
                           "Connection settings only: use your SSH keys or agent.\n"
                           + _dump(hosts))
    files["ansible.cfg"] = ANSIBLE_CFG
    files["group_vars/all.yaml"] = (
        "# Where the plan is copied on each host, and where originals are kept before a change\n"
        "# (the rollback puts them back from there).\n"
        + _dump({"migrate_remote_plan": HOST_PLAN_DIR, "migrate_backup_dir": BACKUP}))
    files[".ansible-lint"] = LINT_CFG
    files["site.yaml"] = _site(order, serial)
    for role in ROLES[:-1]:
        steps = [(sid, title) for sid, r, title in order if r == role]
        main = [{"name": unsafe(f"Step {sid}: {title}" if title else f"Step {sid}"),
                 "ansible.builtin.include_tasks": f"{sid}.yaml"} for sid, title in steps]
        files[f"roles/{role}/tasks/main.yaml"] = (
            f"# Role {role}: its steps in runbook order (site.yaml runs each at its place).\n"
            + (_dump(main) if main else "---\n[]\n"))
        files[f"roles/{role}/meta/main.yaml"] = _meta(role)
        for sid, title in steps:
            files[f"roles/{role}/tasks/{sid}.yaml"] = _dump([{
                "name": f"Run step {sid}",
                "ansible.builtin.include_role": {"name": "migrate_step"},
                "vars": {"migrate_step_id": sid}}])
    files["roles/rollback/meta/main.yaml"] = _meta("rollback")
    files["roles/migrate_step/meta/main.yaml"] = _meta("migrate_step")
    for path, text in FIXED.items():
        files[path] = text.replace("@SERIAL@", str(serial))  # rollback.yaml's batches
    for kind, text in ACTION_TASKS.items():
        files[f"roles/migrate_step/tasks/action_{kind}.yaml"] = text
    files["README.md"] = README
    return dict(sorted(files.items()))


def _meta(role: str) -> str:
    return _dump({"galaxy_info": {
        "author": "migrate", "description": f"migrate cutover: {role.replace('_', ' ')}",
        "license": "MIT", "min_ansible_version": "2.15",
        "platforms": [{"name": "OpenBSD", "versions": ["all"]},
                      {"name": "FreeBSD", "versions": ["all"]}]},
        "dependencies": []})


def _site(order: list[tuple[str, str, str]], serial: int) -> str:
    tasks = []
    for sid, role, title in order:
        tasks.append({
            "name": unsafe(f"{role.capitalize().replace('_', ' ')}: {sid}"
                           + (f" ({title})" if title else "")),
            "ansible.builtin.include_role": {"name": role, "tasks_from": sid,
                                             "apply": {"tags": [role, sid]}},
            "tags": [role, sid]})
    play = [{
        "name": "Move each list host to its new host, one batch of pairs at a time",
        "hosts": "migrate_new",
        "serial": f"{{{{ migrate_serial | default({serial}) }}}}",
        "max_fail_percentage": 0,
        "gather_facts": False,
        "tasks": tasks}]
    return ("# The cutover of every pair (migrate export ansible). Runs on each pair's new "
            "host;\n# a step that names the old host or the controller is delegated there.\n"
            "#   ansible-playbook -i hosts.yaml site.yaml --check        # what would change\n"
            "#   ansible-playbook -i hosts.yaml site.yaml --tags preflight\n"
            "#   ansible-playbook -i hosts.yaml site.yaml -e migrate_serial=5\n"
            + _dump(play))


ANSIBLE_CFG = """\
# Settings for this tree (migrate export ansible).
[defaults]
inventory = hosts.yaml
roles_path = roles
host_key_checking = True
retry_files_enabled = False
stdout_callback = default

[ssh_connection]
pipelining = True
"""

LINT_CFG = """\
# ansible-lint for this tree (default profile). plans/ holds the reviewed plan directories
# byte for byte (plan.yaml is data for the roles, not Ansible content): not linted.
---
exclude_paths:
  - plans/
"""

#: The tree's fixed files (the rollback play, the rollback role, the migrate_step role), kept
#: as YAML in package data at the paths they take in the tree. They are templated once, here:
#: ``@BLOCK_MARK@`` and ``@LINE_MARK@`` are the cutover's markers (``steps.block_mark``,
#: ``steps.line_mark``) around the action's marker name, and ``@default:FIELD@`` in
#: ``action_KIND.yaml`` is that kind's default (``Action.defaults``), so what the export does
#: with a field plan.yaml leaves out is what the cutover does.
TASKS_DIR = "ansible_tasks"
_ACTION_FILE = re.compile(r"roles/migrate_step/tasks/action_([a-z0-9_]+)\.yaml")
_MARKER = "{{ migrate_step_action.marker }}"
_TOKEN = re.compile(r"@(BLOCK_MARK|LINE_MARK|default:([a-z_]+))@")


def _jinja_literal(value: bool | float) -> str:
    """A default (a number or a boolean) as Jinja writes it: ``5``, ``true``."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _templated(rel: str, text: str) -> str:
    """A fixed file with its markers and (for an action's tasks) its kind's defaults."""
    m = _ACTION_FILE.fullmatch(rel)
    defaults = REGISTRY[m.group(1)].defaults if m and m.group(1) in REGISTRY else {}

    def fill(token: re.Match) -> str:
        if token.group(1) == "BLOCK_MARK":
            return block_mark(_MARKER, "{mark}")
        if token.group(1) == "LINE_MARK":
            return line_mark(_MARKER)
        return _jinja_literal(defaults[token.group(2)])
    return _TOKEN.sub(fill, text)


def _fixed_files() -> dict[str, str]:
    """The tree's fixed files by their path in the tree, templated."""
    out: dict[str, str] = {}

    def walk(folder, prefix: str) -> None:
        for entry in folder.iterdir():
            rel = prefix + entry.name
            if entry.is_dir():
                walk(entry, f"{rel}/")
            elif rel.endswith(".yaml"):
                out[rel] = _templated(rel, entry.read_text(encoding="utf-8"))
    walk(resources.files(__package__) / TASKS_DIR, "")
    return dict(sorted(out.items()))


_FILES = _fixed_files()
#: one task file per action kind of migrate/core/steps.py (``roles/migrate_step/tasks/action_KIND``)
ACTION_TASKS: dict[str, str] = {m.group(1): text for rel, text in _FILES.items()
                                if (m := _ACTION_FILE.fullmatch(rel))}
#: the others (the plays and tasks that run a step and the way back)
FIXED: dict[str, str] = {rel: text for rel, text in _FILES.items()
                         if not _ACTION_FILE.fullmatch(rel)}

README = """\
# The cutover of many list hosts, as an Ansible tree

Written by `migrate export ansible` from reviewed plan directories (copied under `plans/`).
Nothing here holds a secret: connections use your SSH keys or agent, host keys are checked.

    ansible-playbook -i hosts.yaml site.yaml --check             # what would change
    ansible-playbook -i hosts.yaml site.yaml --tags preflight    # every pair's preflight
    ansible-playbook -i hosts.yaml site.yaml                     # the whole cutover, pair by pair
    ansible-playbook -i hosts.yaml site.yaml -e migrate_serial=5 # five pairs per batch
    ansible-playbook -i hosts.yaml rollback.yaml --limit PAIR    # the way back for one pair

One batch of pairs at a time (`migrate_serial`, default 1); a failing pair stops the rollout,
later batches are not touched. Tags are the role names and the step ids of plan.yaml. The
old hosts run Mailman 2, hence Python 2.7: ansible-core 2.16 is the last release that manages
such hosts.
"""
