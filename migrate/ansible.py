"""An Ansible tree that runs the cutover of many plans: the inventory, a playbook, and roles
built from the same typed steps as ``migrate cutover`` (plan.yaml, read by migrate/steps.py).
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
migrate/steps.py without one is refused here and fails tests/test_steps.py): ``run`` and checks: ``ansible.builtin.command`` with
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

import yaml

from migrate.steps import (COPY_PLAN, FINAL_SYNC, HOST_PLAN_DIR, NEW_ACME, NEW_MAILMAN,
                           NEW_SERVICES, NEW_SMTPD, REGISTRY, SAFE_NAME, Step)
from migrate.text import comment

#: The roles, in the order the runbook needs them, and the steps each runs by default.
ROLES = ("preflight", "install", "start", "presync", "freeze", "final_sync", "forward",
         "verify", "rollback")
_BY_ID = {
    COPY_PLAN: "preflight", NEW_SERVICES: "start", NEW_MAILMAN: "start", NEW_SMTPD: "start",
    FINAL_SYNC: "final_sync", NEW_ACME: "forward",
}
_BY_PHASE = {"preflight": "preflight", "prepare": "install", "presync": "presync",
             "freeze": "freeze", "switch": "forward", "verify": "verify", "after": "verify"}
BACKUP = "/root/migrate-backup"


def role_of(step: Step) -> str:
    return _BY_ID.get(step.id) or _BY_PHASE.get(step.phase, "verify")


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
    files["rollback.yaml"] = ROLLBACK_PLAY.replace("@SERIAL@", str(serial))
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
    files["roles/rollback/tasks/main.yaml"] = ROLLBACK_TASKS
    files["roles/rollback/meta/main.yaml"] = _meta("rollback")
    files["roles/migrate_step/meta/main.yaml"] = _meta("migrate_step")
    for path, text in STEP_ROLE.items():
        files[f"roles/migrate_step/{path}"] = text
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

ROLLBACK_PLAY = """\
# The way back for the pairs you name: each step's own rollback, newest step first, then
# every file the steps changed put back from /root/migrate-backup on its host.
#   ansible-playbook -i hosts.yaml rollback.yaml --limit PAIR
---
- name: Put the old hosts back
  hosts: migrate_new
  serial: "{{ migrate_serial | default(@SERIAL@) }}"
  gather_facts: false
  roles:
    - role: rollback
"""

ROLLBACK_TASKS = """\
# Role rollback: every step's way back, newest step first, then the kept originals.
---
- name: Run each step's way back, newest step first
  ansible.builtin.include_role:
    name: migrate_step
    tasks_from: rollback
  vars:
    migrate_step_id: "{{ rollback_step.id }}"
  loop: "{{ migrate_steps | reverse | list }}"
  loop_control:
    loop_var: rollback_step
    label: "{{ rollback_step.id }}"

- name: Put back every file the steps changed, on both hosts
  ansible.builtin.command:
    argv:
      - /bin/sh
      - -c
      - |
        set -eu
        [ -d "$1" ] || exit 0
        cd "$1"
        find . -type f | while IFS= read -r kept; do
          path="/${kept#./}"
          case "$path" in
            *.migrate-absent) rm -f "${path%.migrate-absent}" ;;
            *) cp -p "$kept" "$path" ;;
          esac
        done
      - sh
      - "{{ migrate_backup_dir }}"
  delegate_to: "{{ rollback_host }}"
  loop: "{{ [migrate_old, inventory_hostname] }}"
  loop_control:
    loop_var: rollback_host
  changed_when: true
"""

STEP_ROLE: dict[str, str] = {}
#: one task file per action kind of migrate/steps.py (``roles/migrate_step/tasks/action_KIND``)
ACTION_TASKS: dict[str, str] = {}

STEP_ROLE["tasks/main.yaml"] = """\
# One step of the pair's plan (migrate_step_id): its actions in order on the host it names,
# then its checks.
---
- name: Find the step and the host it runs on
  ansible.builtin.include_tasks: select.yaml

- name: Run the step's actions in order
  ansible.builtin.include_tasks: "action_{{ migrate_step_action.do }}.yaml"
  loop: "{{ migrate_step_current.actions | default([]) }}"
  loop_control:
    loop_var: migrate_step_action
    label: "{{ migrate_step_current.id }}: {{ migrate_step_action.do }}"

- name: Check the step
  ansible.builtin.command:
    argv: [/bin/sh, -c, "{{ migrate_step_check }}"]
  environment:
    PLAN: "{{ migrate_step_plan }}"
  delegate_to: "{{ migrate_step_where }}"
  loop: "{{ migrate_step_current.check | default([]) }}"
  loop_control:
    loop_var: migrate_step_check
  register: migrate_step_checked
  changed_when: false
  check_mode: false
  failed_when: migrate_step_checked.rc != 0 and not ansible_check_mode
"""

STEP_ROLE["tasks/select.yaml"] = """\
# The step migrate_step_id of this pair's plan, the host it names (the pair's old host, its
# new host, or the controller) and where the plan is on that host.
---
- name: Find the step in this pair's plan
  ansible.builtin.set_fact:
    migrate_step_current: "{{ migrate_steps | selectattr('id', 'equalto', migrate_step_id) | first | default({}) }}"

- name: Pick the host the step runs on
  ansible.builtin.set_fact:
    migrate_step_where: >-
      {{ migrate_old if migrate_step_current.host | default('') == 'old'
         else (inventory_hostname if migrate_step_current.host | default('') == 'new' else 'localhost') }}
    migrate_step_plan: >-
      {{ (playbook_dir ~ '/' ~ migrate_plan_dir) if migrate_step_current.host | default('') == 'local'
         else migrate_remote_plan }}
"""

STEP_ROLE["tasks/rollback.yaml"] = """\
# The way back of one step (migrate_step_id), on the host it names.
---
- name: Find the step and the host it runs on
  ansible.builtin.include_tasks: select.yaml

- name: Run the step's way back in order
  ansible.builtin.include_tasks: "action_{{ migrate_step_action.do }}.yaml"
  loop: "{{ migrate_step_current.rollback | default([]) }}"
  loop_control:
    loop_var: migrate_step_action
    label: "{{ migrate_step_current.id }}: {{ migrate_step_action.do }}"
"""

ACTION_TASKS["run"] = """\
---
- name: Run a command
  ansible.builtin.command:
    argv: [/bin/sh, -c, "{{ migrate_step_action.command }}"]
  environment:
    PLAN: "{{ migrate_step_plan }}"
  delegate_to: "{{ migrate_step_where }}"
  register: migrate_step_ran
  changed_when: true
  failed_when: migrate_step_ran.rc != 0 and not migrate_step_action.report | default(false)
"""

ACTION_TASKS["wait"] = """\
---
- name: Wait until a command succeeds
  ansible.builtin.command:
    argv: [/bin/sh, -c, "{{ migrate_step_action.command }}"]
  environment:
    PLAN: "{{ migrate_step_plan }}"
  delegate_to: "{{ migrate_step_where }}"
  register: migrate_step_waited
  until: migrate_step_waited.rc == 0
  retries: "{{ ((migrate_step_action.timeout | default(600)) / (migrate_step_action.interval | default(5))) | int }}"
  delay: "{{ migrate_step_action.interval | default(5) }}"
  changed_when: false
"""

STEP_ROLE["tasks/keep.yaml"] = """\
# Keep the original of a file once, before the first change (the rollback puts it back); a
# file that did not exist is remembered as NAME.migrate-absent.
---
- name: Keep the original of {{ migrate_step_keep }}
  ansible.builtin.command:
    argv:
      - /bin/sh
      - -c
      - >-
        if [ -e "$2" ] || [ -e "$2.migrate-absent" ]; then echo kept; exit 0; fi;
        mkdir -p "$(dirname "$2")";
        if [ -e "$1" ]; then cp -p "$1" "$2"; else : > "$2.migrate-absent"; fi
      - sh
      - "{{ migrate_step_keep }}"
      - "{{ migrate_backup_dir }}{{ migrate_step_keep }}"
  delegate_to: "{{ migrate_step_where }}"
  register: migrate_step_kept
  changed_when: migrate_step_kept.stdout | default('kept') != 'kept'
"""

ACTION_TASKS["put"] = """\
---
- name: Keep the original
  ansible.builtin.include_tasks: keep.yaml
  vars:
    migrate_step_keep: "{{ migrate_step_action.path }}"

- name: Install {{ migrate_step_action.path }}
  ansible.builtin.copy:
    src: "{{ playbook_dir }}/{{ migrate_plan_dir }}/{{ migrate_step_action.source }}"
    dest: "{{ migrate_step_action.path }}"
    mode: "{{ migrate_step_action.mode | default('0644') }}"
  delegate_to: "{{ migrate_step_where }}"
"""

ACTION_TASKS["setting"] = """\
# The command a person types (rcctl), which changes the file as the cutover does.
---
- name: Keep the original
  ansible.builtin.include_tasks: keep.yaml
  vars:
    migrate_step_keep: "{{ migrate_step_action.path }}"

- name: Change the setting {{ migrate_step_action.name }}
  ansible.builtin.command:
    argv: [/bin/sh, -c, "{{ migrate_step_action.command }}"]
  delegate_to: "{{ migrate_step_where }}"
  changed_when: true
"""

ACTION_TASKS["append"] = """\
---
- name: Keep the original
  ansible.builtin.include_tasks: keep.yaml
  vars:
    migrate_step_keep: "{{ migrate_step_action.path }}"

- name: Append a marked block to {{ migrate_step_action.path }}
  ansible.builtin.blockinfile:
    path: "{{ migrate_step_action.path }}"
    block: "{{ lookup('ansible.builtin.file', playbook_dir ~ '/' ~ migrate_plan_dir ~ '/' ~ migrate_step_action.source) }}"
    marker: "# migrate:{{ migrate_step_action.marker }} {mark}"
    marker_begin: begin
    marker_end: end
    insertafter: EOF
    create: true
    mode: "0644"
  delegate_to: "{{ migrate_step_where }}"
"""

ACTION_TASKS["insert"] = """\
# A marked block before or after the first line matching a pattern, in the first of the
# files that has such a line.
---
- name: Read the candidate files
  ansible.builtin.slurp:
    src: "{{ migrate_step_candidate }}"
  delegate_to: "{{ migrate_step_where }}"
  loop: "{{ migrate_step_action.paths }}"
  loop_control:
    loop_var: migrate_step_candidate
  register: migrate_step_read
  failed_when: false

- name: Pick the file with the line
  ansible.builtin.set_fact:
    migrate_step_file: >-
      {%- set found = [] -%}
      {%- for r in migrate_step_read.results if r.content is defined
          and (r.content | b64decode) is search(migrate_step_pattern, multiline=True) -%}
      {%- set _ = found.append(r.migrate_step_candidate) -%}
      {%- endfor -%}
      {{- (found + ['']) | first -}}
  vars:
    migrate_step_pattern: "{{ migrate_step_action.before | default(migrate_step_action.after) }}"

- name: Fail when no file has the line
  ansible.builtin.fail:
    msg: "no line matching {{ migrate_step_action.before | default(migrate_step_action.after) }} in {{ migrate_step_action.paths | join(', ') }}"
  when: migrate_step_file | length == 0

- name: Keep the original
  ansible.builtin.include_tasks: keep.yaml
  vars:
    migrate_step_keep: "{{ migrate_step_file }}"

- name: Insert a marked block into {{ migrate_step_file }}
  ansible.builtin.blockinfile:
    path: "{{ migrate_step_file }}"
    block: "{{ lookup('ansible.builtin.file', playbook_dir ~ '/' ~ migrate_plan_dir ~ '/' ~ migrate_step_action.source) }}"
    marker: "# migrate:{{ migrate_step_action.marker }} {mark}"
    marker_begin: begin
    marker_end: end
    # (?m): the whole file is searched and the first match wins, as in migrate cutover
    insertbefore: >-
      {{ ('BOF' if migrate_step_action.before == '\\A' else '(?m)' ~ migrate_step_action.before)
         if migrate_step_action.before is defined else omit }}
    insertafter: "{{ '(?m)' ~ migrate_step_action.after if migrate_step_action.after is defined else omit }}"
  delegate_to: "{{ migrate_step_where }}"
"""

ACTION_TASKS["unmark"] = """\
---
- name: Remove the marked block
  ansible.builtin.blockinfile:
    path: "{{ migrate_step_path }}"
    marker: "# migrate:{{ migrate_step_action.marker }} {mark}"
    marker_begin: begin
    marker_end: end
    state: absent
  delegate_to: "{{ migrate_step_where }}"
  loop: "{{ migrate_step_action.paths }}"
  loop_control:
    loop_var: migrate_step_path
"""

ACTION_TASKS["comment"] = """\
---
- name: Keep the originals
  ansible.builtin.include_tasks: keep.yaml
  vars:
    migrate_step_keep: "{{ migrate_step_path }}"
  loop: "{{ migrate_step_action.paths }}"
  loop_control:
    loop_var: migrate_step_path

- name: Comment out the matching lines, marked
  ansible.builtin.replace:
    path: "{{ migrate_step_path }}"
    regexp: "^(?!#)(.*(?:{{ migrate_step_action.match }}).*)$"
    replace: "#migrate:{{ migrate_step_action.marker }}# \\\\1"
  delegate_to: "{{ migrate_step_where }}"
  loop: "{{ migrate_step_action.paths }}"
  loop_control:
    loop_var: migrate_step_path
"""

ACTION_TASKS["uncomment"] = """\
---
- name: Take the markers away
  ansible.builtin.replace:
    path: "{{ migrate_step_path }}"
    regexp: "^#migrate:{{ migrate_step_action.marker }}# "
    replace: ""
  delegate_to: "{{ migrate_step_where }}"
  loop: "{{ migrate_step_action.paths }}"
  loop_control:
    loop_var: migrate_step_path
"""

ACTION_TASKS["upload"] = """\
---
- name: Copy the plan to the pair's hosts
  ansible.builtin.copy:
    src: "{{ playbook_dir }}/{{ migrate_plan_dir }}/"
    dest: "{{ migrate_remote_plan }}/"
    mode: preserve
  delegate_to: "{{ migrate_step_host }}"
  loop: "{{ [migrate_old, inventory_hostname] }}"
  loop_control:
    loop_var: migrate_step_host
"""

ACTION_TASKS["note"] = """\
---
- name: Note for the operator
  ansible.builtin.debug:
    msg: "{{ migrate_step_action.text }}"
"""

ACTION_TASKS["smtp"] = """\
---
- name: An SMTP greeting on the new address
  ansible.builtin.wait_for:
    host: "{{ migrate_step_action.address }}"
    port: "{{ migrate_step_action.port | default(25) }}"
    search_regex: "^220"
    timeout: "{{ migrate_step_action.timeout | default(60) }}"
  delegate_to: localhost
"""

ACTION_TASKS["http"] = """\
# The web name goes into the URL (DNS names the new host by now) so TLS checks its name.
# (Ansible keeps a template's backslashes as written: '\\1' is the backreference.)
---
- name: The page answers as planned
  ansible.builtin.uri:
    url: >-
      {{ migrate_step_action.url | regex_replace('^(https?)://[^/]+', '\\1://' ~ migrate_step_action.host_header) }}
    status_code: "{{ migrate_step_action.status | default(200) }}"
    follow_redirects: none
    validate_certs: "{{ migrate_step_action.verify | default(true) }}"
    return_content: true
  delegate_to: localhost
  register: migrate_step_page
  until: >-
    migrate_step_page.status == (migrate_step_action.status | default(200))
    and (migrate_step_action.expect is not defined or migrate_step_action.expect in migrate_step_page.content | default(''))
    and (migrate_step_action.location is not defined or (migrate_step_page.location | default('')).endswith(migrate_step_action.location))
  retries: "{{ ((migrate_step_action.timeout | default(60)) / (migrate_step_action.interval | default(5))) | int }}"
  delay: "{{ migrate_step_action.interval | default(5) }}"
  check_mode: false
"""

ACTION_TASKS["dns"] = """\
# dnspython on the controller (the Python running Ansible; migrate brings dnspython).
---
- name: DNS serves the planned record
  ansible.builtin.command:
    argv:
      - "{{ ansible_playbook_python }}"
      - -c
      - |
        import sys, dns.resolver
        name, rtype, value, max_ttl, server = sys.argv[1:6]
        res = dns.resolver.Resolver(configure=not server)
        if server:
            res.nameservers = [server]
        answer = res.resolve(name, rtype)
        if value and value.rstrip(".").lower() not in [r.to_text().rstrip(".").lower() for r in answer]:
            sys.exit("%s %s does not serve %s" % (name, rtype, value))
        if max_ttl and answer.rrset.ttl > int(max_ttl):
            sys.exit("%s %s has a TTL of %d s, more than %s" % (name, rtype, answer.rrset.ttl, max_ttl))
      - "{{ migrate_step_action.name }}"
      - "{{ migrate_step_action.type }}"
      - "{{ migrate_step_action.value | default('') }}"
      - "{{ migrate_step_action.max_ttl | default('') }}"
      - "{{ migrate_step_action.nameserver | default('') }}"
  delegate_to: localhost
  register: migrate_step_dns
  until: migrate_step_dns.rc == 0
  retries: "{{ ((migrate_step_action.timeout | default(0)) / (migrate_step_action.interval | default(30))) | int }}"
  delay: "{{ migrate_step_action.interval | default(30) }}"
  changed_when: false
  check_mode: false
"""

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
