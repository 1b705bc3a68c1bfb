"""rsync/syncstate.py on its own, with the Pythons an old host has (3, and the 2.7 of Mailman 2
hosts where pyenv has it): the record, the delta and the check over two local folders standing
for the hosts (the copies made here by Python, not rsync: tests/test_final_sync_e2e.py runs the
plan's scripts with the real rsync). Names no filesystem forbids, files that are not files,
links that lead out, and broken input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import need, python27
from emitters.rsync_plan import SYNCSTATE

SPEC = {"trees": [{"path": "lists/users"},
                  {"path": "archives/private/users.mbox", "mbox": True},
                  {"path": "data", "include": ["heldmsg-users-[0-9]*.pck"], "folders": ["keep"]}],
        "skip": ["config.pck.tmp.*"]}
ODD = "caf\xe9 \n\x01name"  # Latin-1 bytes, a newline, a control character


def pythons() -> list[str]:
    return [sys.executable] + [p for p in [python27()] if p]


@pytest.fixture(params=pythons(), ids=lambda p: "py2" if "2.7" in p else "py3")
def py(request):
    return request.param


def run(py: str, tmp: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    script = tmp / "syncstate.py"
    if not script.exists():
        script.write_text(SYNCSTATE)
    proc = subprocess.run([py, str(script), *args], capture_output=True)
    if check:
        assert proc.returncode == 0, proc.stderr.decode()
    return proc


def make_host(var: Path) -> None:
    (var / "lists/users").mkdir(parents=True)
    (var / "lists/users/config.pck").write_bytes(b"config")
    (var / "lists/users/config.pck.tmp.12").write_bytes(b"stray")
    (var / os.fsdecode(b"lists/users/" + ODD.encode("latin-1"))).write_bytes(b"odd name")
    (var / "lists/users/inside").symlink_to("config.pck")
    (var / "lists/users/outside").symlink_to("../../../etc")
    (var / "lists/users/absolute").symlink_to("/etc/passwd")
    os.mkfifo(var / "lists/users/fifo")
    (var / "archives/private/users.mbox").mkdir(parents=True)
    (var / "archives/private/users.mbox/users.mbox").write_bytes(b"From a\n\nbody\n\n" * 5000)
    (var / "data/keep").mkdir(parents=True)
    (var / "data/keep/x").write_bytes(b"kept")
    (var / "data/heldmsg-users-1.pck").write_bytes(b"held")
    (var / "data/bounce-events-1.pck").write_bytes(b"not carried")


def copy_host(old: Path, new: Path) -> None:
    """What rsync leaves: the carried files and safe links; FIFOs, strays, unsafe links not."""
    shutil.copytree(old, new, symlinks=True,
                    ignore=lambda d, names: [n for n in names
                                             if n in ("fifo", "outside", "absolute",
                                                      "bounce-events-1.pck")
                                             or n.startswith("config.pck.tmp")])


def records(text: bytes) -> dict[str, dict]:
    return {e["p"]: e for e in map(json.loads, text.decode().splitlines())}


def test_record_delta_check_with_every_python(py, tmp_path):
    old, new, state = tmp_path / "old", tmp_path / "new", tmp_path / "state"
    for d in (old, state):
        d.mkdir()
    make_host(old)
    copy_host(old, new)
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    spec = str(tmp_path / "spec.json")
    # the pre-sync: a post arrives between the copy and the old host's record
    with (old / "archives/private/users.mbox/users.mbox").open("ab") as fh:
        fh.write(b"From b\n\nlate\n\n")
    new_rec = run(py, tmp_path, "scan", str(new), spec).stdout
    (state / "new.rec").write_bytes(new_rec)
    old_rec = run(py, tmp_path, "scan", str(old), spec, "--cut", str(state / "new.rec")).stdout
    (state / "old.rec").write_bytes(old_rec)
    seen = records(old_rec)
    odd = "lists/users/" + ODD
    assert odd in seen and "lists/users/inside" in seen and "data/keep/x" in seen
    for left_out in ("fifo", "outside", "absolute", "config.pck.tmp.12"):
        assert f"lists/users/{left_out}" not in seen
    assert "data/bounce-events-1.pck" not in seen
    mbox = seen["archives/private/users.mbox/users.mbox"]
    assert mbox["cut"][0] == (new / "archives/private/users.mbox/users.mbox").stat().st_size
    agreed = run(py, tmp_path, "agree", str(state / "old.rec"), str(state / "new.rec"))
    (state / "synced.rec").write_bytes(agreed.stdout)
    assert records(agreed.stdout)["archives/private/users.mbox/users.mbox"]["size"] \
        == mbox["cut"][0]
    # the freeze: a rescan reuses every checksum (nothing read); the delta sees the grown mbox
    again = run(py, tmp_path, "scan", str(old), spec, "--prev", str(state / "old.rec"))
    assert b"0 bytes read" in again.stderr
    (old / "lists/users/config.pck").write_bytes(b"changed")
    stat = run(py, tmp_path, "stat", str(new), spec).stdout
    (state / "new.stat").write_bytes(stat)
    lists = [str(state / "append"), str(state / "whole")]
    d = run(py, tmp_path, "delta", str(old), spec, str(state / "synced.rec"),
            str(state / "new.stat"), *lists)
    assert b"1 grown (tail only), 1 to copy whole, 0 deleted" in d.stderr, d.stderr
    manifest = state / "manifest"
    manifest.write_bytes(d.stdout)
    assert (state / "append").read_bytes() == b"archives/private/users.mbox/users.mbox\0"
    assert (state / "whole").read_bytes() == b"lists/users/config.pck\0"
    # before the copies the new host differs and the check says where
    bad = run(py, tmp_path, "check", str(new), spec, str(manifest), check=False)
    assert bad.returncode == 1
    assert b'"archives/private/users.mbox/users.mbox": differs from the old host' in bad.stderr
    assert b'"lists/users/config.pck": differs from the old host' in bad.stderr
    # a tail of the right length but not the old host's
    target = new / "archives/private/users.mbox/users.mbox"
    with target.open("ab") as fh:
        fh.write(b"From b\n\nLATE\n\n")
    bad = run(py, tmp_path, "check", str(new), spec, str(manifest), check=False)
    assert b'"archives/private/users.mbox/users.mbox": its appended part differs' in bad.stderr
    # the copies (as rsync --append and a whole copy would make them), then all holds
    with target.open("r+b") as fh:
        fh.truncate(target.stat().st_size - len(b"From b\n\nLATE\n\n"))
        fh.seek(0, 2)
        fh.write(b"From b\n\nlate\n\n")
    shutil.copy(old / "lists/users/config.pck", new / "lists/users/config.pck")
    run(py, tmp_path, "settle", str(old), spec, str(manifest))
    ok = run(py, tmp_path, "check", str(new), spec, str(manifest))
    assert b"0 differ" in ok.stderr
    # after the window the old host reads the appended mbox's copied part whole
    assert b"1 appended mbox(es) read whole" in run(py, tmp_path, "prefixes", str(old), spec,
                                                    str(manifest)).stderr
    with (old / "archives/private/users.mbox/users.mbox").open("r+b") as fh:
        fh.write(b"X")
    assert run(py, tmp_path, "prefixes", str(old), spec, str(manifest),
               check=False).returncode == 1
    with (old / "archives/private/users.mbox/users.mbox").open("r+b") as fh:
        fh.write(b"F")
    # a file on the new host only, and one missing there
    (new / "data/heldmsg-users-2.pck").write_bytes(b"only here")
    (new / odd.encode("latin-1").decode("utf-8", "surrogateescape")).unlink()
    bad = run(py, tmp_path, "check", str(new), spec, str(manifest), check=False)
    assert bad.returncode == 1
    assert b'"data/heldmsg-users-2.pck": on the new host, not on the old' in bad.stderr
    assert b'"lists/users/caf\\u00e9 \\n\\u0001name": missing on the new host' in bad.stderr


def test_a_copied_folder_that_is_a_link_is_refused(py, tmp_path):
    (tmp_path / "var/lists").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "var/lists/users").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    proc = run(py, tmp_path, "scan", str(tmp_path / "var"), str(tmp_path / "spec.json"),
               check=False)
    assert proc.returncode == 1 and b'"lists/users" is a symbolic link: not copied' in proc.stderr


def test_broken_input_is_named_with_its_line(py, tmp_path):
    (tmp_path / "rec").write_text('{"p": "a", "t": "f"}\nnot json\n')
    proc = run(py, tmp_path, "agree", str(tmp_path / "rec"), str(tmp_path / "rec"), check=False)
    assert proc.returncode == 3 and f"{tmp_path / 'rec'}, line 2: not a record line".encode() \
        in proc.stderr
    proc = run(py, tmp_path, "scan", str(tmp_path), str(tmp_path / "nosuch.json"), check=False)
    assert proc.returncode == 3 and b"unreadable sync spec" in proc.stderr
    assert run(py, tmp_path, "frobnicate", check=False).returncode == 2


def test_runs_on_python_2_6_and_3_0():
    vermin = shutil.which("vermin") or str(Path(sys.executable).with_name("vermin"))
    need(os.path.exists(vermin), "vermin is not installed (pip install -e '.[test]')")
    script = Path(__file__).parents[1] / "emitters/scripts/syncstate.py"
    ok = subprocess.run([vermin, "--no-tips", "-t=2.6", "-t=3.0", "--violations", str(script)],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "not met" not in ok.stdout, ok.stdout
    SYNCSTATE.encode("ascii")
