"""A non-editable install carries the three packages (migrate with its two floors, parsers,
emitters) and nothing else, with the Ansible export's task files."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO, machine_lock

pytestmark = pytest.mark.slow  # a wheel build


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """This checkout installed as a wheel (pip builds one) into a folder of its own."""
    target = tmp_path_factory.mktemp("site")
    # pip builds in the checkout (build/, *.egg-info): one build at a time, as two test
    # processes (pytest-xdist's workers) that both need this fixture would build together
    with machine_lock("wheel-build"):
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
             "--target", str(target), str(REPO)],
            capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return target


def test_wheel_layout(site, tmp_path):
    target = site
    top = sorted(p.name for p in target.iterdir() if not p.name.endswith(".dist-info"))
    assert top in (["bin", "emitters", "migrate", "parsers"], ["emitters", "migrate", "parsers"])
    assert (target / "parsers/aliases.py").is_file()
    assert (target / "emitters/__init__.py").is_file()
    assert (target / "migrate/core/model.py").is_file()
    # every destination's package, and the Mailman 3 lock file the plan copies
    assert (target / "emitters/mailman3/requirements.txt").read_text() == \
        (REPO / "emitters/mailman3/requirements.txt").read_text()
    # every file the emitters carry into a plan (lock files, scripts): one left out of the
    # package data fails only in an installed migrate, at plan time
    carried = sorted(str(f.relative_to(REPO)) for f in (REPO / "emitters").rglob("*")
                     if f.is_file() and "__pycache__" not in f.parts)
    assert [f for f in carried if not (target / f).is_file()] == []
    check = subprocess.run(
        [sys.executable, "-c", "import parsers.rcconf, emitters, migrate.app.cli, "
         "emitters.mailman2.plugin, emitters.mailman3; print('ok')"],
        cwd=tmp_path, env={"PYTHONPATH": str(target)}, capture_output=True, text=True)
    assert check.stdout.strip() == "ok", check.stderr


def test_the_wheel_carries_the_ansible_task_files(site, tmp_path):
    """The Ansible export's task files are package data: an installed migrate exports the same
    fixed files as this checkout, one task file per action kind."""
    target = site
    assert (target / "migrate/app/ansible_tasks/roles/migrate_step/tasks/action_run.yaml").is_file()
    show = ("import json, migrate.app.ansible as a, migrate.core.steps as s; "
            "print(json.dumps([a.FIXED, a.ACTION_TASKS, sorted(s.REGISTRY)]))")
    installed = subprocess.run([sys.executable, "-c", show], cwd=tmp_path,
                               env={"PYTHONPATH": str(target)}, capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr
    here = subprocess.run([sys.executable, "-c", show], cwd=REPO, capture_output=True,
                          text=True)
    fixed, tasks, kinds = json.loads(installed.stdout)
    assert [fixed, tasks] == json.loads(here.stdout)[:2]
    assert sorted(tasks) == kinds and "rollback.yaml" in fixed
