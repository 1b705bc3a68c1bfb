"""The fast lane's parts: which tests conftest marks ``realtool`` (by what they reach), and the
one wait of the tests, ``wait_until`` and its shell twin."""

from __future__ import annotations

import subprocess
import time

import pytest

from conftest import WAIT_UNTIL_SH, WaitTimeout, reaching_real_tools, wait_until


def test_a_test_is_realtool_when_it_reaches_need_through_any_helper():
    links = reaching_real_tools("test_links")
    # a function-level import of sshtools' sshd_running, which calls need()
    assert "test_over_ssh_the_links_are_the_same_as_from_the_tree" in links
    assert "test_what_stays_inside_its_folder" not in links  # pure parsing
    # a fixture aliased from another module: world = e2e.world
    assert "world" in reaching_real_tools("test_export_ansible_e2e")
    assert "sshd_running" in reaching_real_tools("sshtools")
    assert "need" in reaching_real_tools("conftest")  # the gate itself
    assert reaching_real_tools("test_lane") == frozenset()  # this file runs no tool


def test_wait_until_returns_the_value_or_says_what_never_happened():
    start = time.monotonic()
    ready = start + 0.2
    assert wait_until(lambda: time.monotonic() > ready and "up", 5, "the clock") == "up"
    with pytest.raises(WaitTimeout, match="0.2 s waiting for nothing at all\nlogs here"):
        wait_until(lambda: False, 0.2, "nothing at all", diagnose=lambda: "logs here")


@pytest.mark.parametrize("body, code, says", [
    ("n=0; three() { n=$((n + 1)); [ $n -ge 3 ]; }; wait_until 5 'three tries' three", 0, ""),
    ("wait_until 1 'a miracle' false || exit 7", 7, "gave up waiting for a miracle"),
    ("hopeless() { return 2; }; wait_until 60 'hope' hopeless || exit 7", 7,
     "gave up waiting for hope"),
    ("sleep 0.2 & wait_until 5 'sleep to end' gone $!", 0, ""),
])
def test_the_shell_twin_waits_under_set_e(body, code, says):
    start = time.monotonic()
    res = subprocess.run(["sh", "-c", "set -eu\n" + WAIT_UNTIL_SH + body],
                         capture_output=True, text=True, timeout=30)
    assert (res.returncode, res.stderr.strip()) == (code, says)
    assert time.monotonic() - start < 5  # exit 2 gives up at once, not after 60 s
