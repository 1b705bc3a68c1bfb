"""The exported Ansible tree run by ansible-playbook against the end-to-end test's hosts: the
old host with the real Exim and the new host with the real OpenSMTPD, each with its own sshd,
in network namespaces made by the test, with the real Mailman on both (see test_cutover_e2e.py
for the hosts and what is a stand-in there: OpenBSD's rcctl, pkg_*, httpd, FreeBSD's service).

The preflight role runs green on its own; then the whole playbook moves the list (freeze,
final sync checked against the manifest, forwarding, post-checks) and the verify role runs
green again on its own. The new DNS records are published before the run (Ansible does not
pause for an operator the way `migrate cutover` waits on the DNS step).
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
import yaml

from conftest import need
from migrate.app.exporting import export_ansible
import test_cutover_e2e as e2e
from test_cutover_e2e import NEW, OLD, REPO, _diagnostics, _plan, _publish

pytestmark = [pytest.mark.e2e, pytest.mark.realtool]  # out of `make test-fast`

world = e2e.world  # the end-to-end test's hosts, as a fixture of this module too
from test_export_ansible import _TreeLoader, _ansible_env, _tool


def _run_playbook(w, fleet, *args: str) -> subprocess.CompletedProcess:
    extra = {"ansible_ssh_private_key_file": str(w["client"]),
             "ansible_ssh_common_args": f"-o UserKnownHostsFile={w['known']} "
                                        "-o IdentitiesOnly=yes",
             "ansible_python_interpreter": "/usr/bin/python3"}
    command = " ".join([
        f"mount --bind {w['base']}/resolv.conf /etc/resolv.conf &&",
        "exec", _tool("ansible-playbook"), "-i", "hosts.yaml", "site.yaml",
        "-e", "'" + json.dumps(extra) + "'", *args])
    return subprocess.run(["ip", "netns", "exec", w["net"].names["world"], "unshare", "--mount",
                           "--propagation", "private", "sh", "-c", command],
                          cwd=fleet, capture_output=True, text=True, timeout=900,
                          env=_ansible_env({
                              "PYTHONPATH": str(REPO),
                              # this run's own SSH control sockets and temp files: the default
                              # ~/.ansible/cp is keyed by user@address:port only, and another
                              # e2e run beside this one (its own namespaces, the same addresses)
                              # would share its master connection (seen: the preflight's upload
                              # landed on the other run's host)
                              "ANSIBLE_SSH_CONTROL_PATH_DIR": str(w["base"] / "ansible-cp"),
                              "ANSIBLE_LOCAL_TEMP": str(w["base"] / "ansible-tmp")}))


def test_preflight_and_verify_roles_run_green_against_the_test_hosts(world):
    need(os.geteuid() == 0, "network namespaces need root")
    w = world
    plan = _plan(w)
    fleet = w["base"] / "fleet"
    summary = export_ansible([str(plan)], str(fleet))
    [pair] = summary["pairs"]
    # the old host was inspected from a copy of its tree: address it as the test network does
    # (the file's values are !unsafe scalars: edited as text, so Ansible still reads them tagged)
    text = (fleet / "hosts.yaml").read_text()
    old_name = f"{pair['name']}-old"
    text, n = re.subn(r"(^\s*" + re.escape(old_name) + r":\n\s*ansible_host: )!unsafe '[^'\n]*'",
                      lambda m: m.group(1) + f"!unsafe '{OLD}'", text, flags=re.M)
    assert n == 1, text
    (fleet / "hosts.yaml").write_text(text)
    hosts = yaml.load(text, Loader=_TreeLoader)
    assert hosts["all"]["children"]["migrate_old"]["hosts"][old_name]["ansible_host"] == OLD
    assert hosts["all"]["children"]["migrate_new"]["hosts"][f"{pair['name']}-new"][
        "ansible_host"] == NEW  # the new host's address comes from the plan
    _publish(w, plan)

    res = _run_playbook(w, fleet, "--tags", "preflight")
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-2000:] + _diagnostics(w)
    assert "failed=0" in res.stdout
    assert w["new"].run("test -f /root/migrate-plan/plan.yaml", check=False).returncode == 0

    res = _run_playbook(w, fleet)  # the whole cutover, verify role included
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:] + _diagnostics(w)
    recap = res.stdout[res.stdout.rfind("PLAY RECAP"):]
    assert "failed=0" in recap and "unreachable=0" in recap, recap
    # the list moved: the new host has it, the old host forwards, its freeze is gone
    assert w["new"].run("test -d /var/spool/mailman/lists/members", check=False).returncode == 0
    config = w["old"].run("cat /usr/local/etc/exim/configure").stdout
    assert "# migrate:forward begin" in config and "# migrate:freeze begin" not in config

    res = _run_playbook(w, fleet, "--tags", "verify")
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-2000:] + _diagnostics(w)
    assert "post-checks" in res.stdout and "failed=0" in res.stdout
    print(f"ansible: {res.stdout[res.stdout.rfind('PLAY RECAP'):].strip()}")
