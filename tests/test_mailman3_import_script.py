"""The plan's import script (files/new/mailman3/import-lists.sh) run against the real Mailman 3,
its paths moved under the test's folder and its ``run`` (su to Mailman 3's user) running the
command itself: a run cut short after ``mailman create`` and before the list's stamp (the
cutover killed, then ``--resume``) goes on: the half-made list is made again and imported whole,
where a second ``mailman create`` of it would fail ("List already exists") at every resume."""

from __future__ import annotations

import os
import shutil
import subprocess

from conftest import SAMPLES
from migrate.app.inspection import inspect_tree
from migrate.app.planning import build_plan, resolve_target
from migrate.app.sources import LocalTree
from migrate.core.model import Origin
from mm3tools import Mailman3

from emitters.mailman3.lists import DONE, IMPORT_SCRIPT, lists_in_mailman3
from emitters.mailman3.paths import MAILMAN, MM3_IMPORT, MM3_USER


def test_a_resumed_import_makes_a_half_made_list_again(tmp_path):
    tree = SAMPLES / "small"
    inv = inspect_tree(LocalTree(tree), Origin("local", str(tree)))
    target = resolve_target(inv, {}, {"hostname": "new.smallclub.example",
                                      "ipv6": ["2001:db8:50::26"], "destination": "mailman3"})
    script = build_plan(inv, target).files[IMPORT_SCRIPT]
    mm3 = Mailman3(tmp_path / "mm3")
    lists = lists_in_mailman3(inv, target)
    for ml, _ in lists:  # the final sync's copy
        folder = tmp_path / "import21" / "lists" / ml.name
        folder.mkdir(parents=True)
        shutil.copy(tree / "usr/local/mailman/lists" / ml.name / "config.pck", folder)
    run = f'su -s /bin/sh {MM3_USER} -c "$*"'
    assert run in script
    moved = (script.replace(run, 'sh -c "$*"')
             .replace(MAILMAN, f"{mm3.bin} -C {mm3.config}"
                      + (" --run-as-root" if os.geteuid() == 0 else ""))
             .replace(DONE, str(tmp_path / "done")).replace(MM3_IMPORT, str(tmp_path / "import21")))
    ml, host = next((ml, host) for ml, host in lists if ml.members.regular_count > 1)
    address = f"{ml.name}@{host}"
    mm3.create(address)  # where the run was cut short: created, not imported, no stamp
    proc = subprocess.run(["sh", "-c", moved], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for other, other_host in lists:
        members = mm3.members(f"{other.name}@{other_host}")
        assert sorted(members) == sorted(other.members.regular + other.members.digest)
        assert (tmp_path / "done" / other.name).exists()
