"""The final sync moves and checks only what changed since the pre-sync, and the new host
still equals the old one at the freeze, for every kind of change: the plan's own presync.sh and
final.sh, run as root on an old host (a network namespace) against a new host running sshd,
with the real rsync over the real ssh (tests/synctools.py). Each test changes the old host's
tree between the phases as Mailman, a moderator or an operator would, then compares the copied
folders of both hosts byte for byte, and reads what the final sync says it read and copied.

OpenBSD itself does not run here: the new host is Debian's userland (its find, chown, sh and
Python stand in for OpenBSD's; the commands are POSIX ones both have)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from conftest import SAMPLES, golden_tool
from synctools import SyncPair
from test_links import INSIDE, LEAVING, plant

from emitters.mailman2.paths import MM_VAR
from migrate.app.inspection import inspect_tree
from migrate.app.planning import build_plan, resolve_target
from migrate.app.sources import LocalTree
from migrate.core.model import Origin

OLD_VAR = "/usr/local/mailman"
MBOX = "archives/private/users.mbox/users.mbox"
POST = b"From late@example.org Wed Nov 25 10:00:00 2026\nSubject: late\n\nlate post\n\n"
update_golden = golden_tool()


@pytest.fixture(scope="module")
def plan_files():
    inv = inspect_tree(update_golden.SampleTree(SAMPLES / "netsight"),
                       Origin("local", "/samples/netsight"))
    target = resolve_target(inv, {}, {"hostname": "lists.netsight.example",
                                      "ipv6": ["2001:db8:50::25"], "destination": "mailman2"})
    return build_plan(inv, target).files


@pytest.fixture
def pair(plan_files):
    p = SyncPair(plan_files, SAMPLES / "netsight" / OLD_VAR.lstrip("/"), OLD_VAR, MM_VAR)
    try:
        p.presync()
        yield p
    finally:
        p.close()


def copied(var: Path, spec: dict) -> dict[str, bytes | str]:
    """Every file (its bytes) and link (its target) of the copied folders, by relative path."""
    out: dict[str, bytes | str] = {}
    for tree in spec["trees"]:
        top = var / tree["path"]
        if not top.is_dir():
            continue
        for path in sorted(top.rglob("*")):
            rel = str(path.relative_to(var))
            first = rel[len(tree["path"]) + 1:].split("/")[0]
            if ".rsync-partial" in path.parts or first.startswith("config.pck.tmp"):
                continue
            if "include" in tree and not any(re.fullmatch(_glob(p), first)
                                             for p in tree["include"]) \
                    and first not in tree.get("folders", []):
                continue
            if path.is_symlink():
                out[rel] = os.readlink(path)
            elif path.is_file():
                out[rel] = path.read_bytes()
    return out


def _glob(pattern: str) -> str:
    return re.escape(pattern).replace(r"\[0\-9\]", "[0-9]").replace(r"\*", ".*")


def same_trees(pair: SyncPair, plan_files) -> None:
    spec = json.loads(plan_files["rsync/sync-spec.json"])
    old, new = copied(pair.old_var, spec), copied(pair.new_var, spec)
    assert sorted(old) == sorted(new)
    differ = [rel for rel in old if old[rel] != new[rel]]
    assert differ == []


def delta(out: str) -> dict[str, int]:
    """What final.sh's delta said it found and read."""
    m = re.search(r"delta: (\d+) unchanged \(not read\), (\d+) grown \(tail only\), (\d+) to "
                  r"copy whole, (\d+) deleted", out)
    r = re.search(r"delta: (\d+) bytes read on this host \((\d+) of them new tails\)", out)
    assert m and r, out
    keys = ("same", "grown", "whole", "gone")
    return {**dict(zip(keys, map(int, m.groups()))), "read": int(r.group(1)),
            "tails": int(r.group(2))}


def final(pair: SyncPair) -> tuple[dict[str, int], str]:
    proc = pair.final()
    out = proc.stdout + proc.stderr
    assert re.search(r"final sync: delta \d+ s, copy \d+ s \(\d+ bytes sent\), verify \d+ s",
                     out), out
    return delta(out), out


def test_nothing_changed_nothing_is_read(pair, plan_files):
    """The pre-sync left both hosts alike: the final sync reads no file on the old host."""
    got, out = final(pair)
    assert got["grown"] == got["whole"] == got["gone"] == 0 and got["same"] > 300
    assert got["read"] == 0
    same_trees(pair, plan_files)
    # and again: a repeated final sync reads only data/adm.pw (the first one set its owner
    # and mode on the new host, which moved its ctime there)
    again = final(pair)[0]
    assert again["read"] == (pair.old_var / "data/adm.pw").stat().st_size
    assert again["whole"] == 1


def prefixes(pair: SyncPair, plan_files) -> tuple[int, str]:
    """The verify phase's old-archive-prefixes step, its own command, on the old host."""
    import yaml
    steps = yaml.safe_load(plan_files["plan.yaml"].split("\n", 1)[1])["steps"]
    step = next(s for s in steps if s["id"] == "old-archive-prefixes")
    assert step["host"] == "old" and step["phase"] == "verify"
    proc = pair.old.run(step["actions"][0]["command"], check=False)
    return proc.returncode, proc.stderr


def test_a_post_appended_moves_its_tail_only(pair, plan_files):
    mbox = pair.old_var / MBOX
    size = mbox.stat().st_size
    with mbox.open("ab") as fh:
        fh.write(POST)
    got, out = final(pair)
    assert got["grown"] == 1 and got["whole"] == 0 and got["tails"] == len(POST)
    # the probe of the copied part: head, tail and samples, far less than the mbox
    assert got["read"] < len(POST) + 200_000 < size
    same_trees(pair, plan_files)
    # after the window the old host reads the copied part whole: as the pre-sync copied it
    code, err = prefixes(pair, plan_files)
    assert code == 0 and "1 appended mbox(es) read whole" in err and "0 differ" in err, err


def test_an_edit_in_place_the_probe_misses_is_caught_after_the_window(plan_files):
    """One byte changed in place in the middle of a big mbox, away from the probe's windows,
    and a post appended: the window appends (the probe cannot see it), and the old host's
    whole read after the window stops the cutover, saying how to put it right."""
    p = SyncPair(plan_files, SAMPLES / "netsight" / OLD_VAR.lstrip("/"), OLD_VAR, MM_VAR)
    try:
        mbox = p.old_var / MBOX
        with mbox.open("ab") as fh:  # big enough to leave room between the windows
            while mbox.stat().st_size < 4 << 20:
                fh.write(b"From someone Mon Jan  5 10:00:00 2015\n\n" + b"a line\n" * 500
                         + b"\n")
        p.presync()
        size = mbox.stat().st_size
        at = size // 15 + 4096 + 1000  # past the first sample's 4 KiB, before the second
        with mbox.open("r+b") as fh:
            fh.seek(at)
            byte = fh.read(1)
            fh.seek(at)
            fh.write(bytes([byte[0] ^ 0x01]))
            fh.seek(0, 2)
            fh.write(POST)
        got, _ = final(p)
        assert got["grown"] == 1
        code, err = prefixes(p, plan_files)
        assert code == 1
        assert (f'"{MBOX}": its first {size} bytes on this host are not what the pre-sync '
                "copied") in err
    finally:
        p.close()


def test_the_prefix_rewritten_with_the_same_size_and_mtime(pair, plan_files):
    """touch -r puts the mtime back; the ctime cannot be put back: the file is copied whole."""
    mbox = pair.old_var / MBOX
    st = mbox.stat()
    data = bytearray(mbox.read_bytes())
    data[len(data) // 2] ^= 0x20
    with mbox.open("r+b") as fh:  # in place: the same inode
        fh.write(bytes(data))
    os.utime(mbox, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert mbox.stat().st_mtime_ns == st.st_mtime_ns and mbox.stat().st_ino == st.st_ino
    got, _ = final(pair)
    assert got["whole"] == 1 and got["grown"] == 0
    same_trees(pair, plan_files)


def test_the_prefix_rewritten_in_place_and_grown(pair, plan_files):
    """cleanarch's escape written into the same inode, then a post appended: the probe of the
    copied part (its tail moved by one byte) sees it; copied whole, not appended to."""
    mbox = pair.old_var / MBOX
    data = mbox.read_bytes()
    at = data.index(b"\n\n", len(data) // 3) + 2
    with mbox.open("r+b") as fh:
        fh.write(data[:at] + b">" + data[at:] + POST)
    got, _ = final(pair)
    assert got["whole"] == 1 and got["grown"] == 0
    same_trees(pair, plan_files)


def test_truncation(pair, plan_files):
    mbox = pair.old_var / MBOX
    with mbox.open("r+b") as fh:
        fh.truncate(mbox.stat().st_size // 2)
    got, _ = final(pair)
    assert got["whole"] == 1
    same_trees(pair, plan_files)


def test_replaced_by_a_new_inode(pair, plan_files):
    """The same bytes plus a post, written beside and renamed over (an editor's save): a new
    inode is never appended to."""
    mbox = pair.old_var / MBOX
    tmp = mbox.with_name("users.mbox.new")
    tmp.write_bytes(mbox.read_bytes() + POST)
    tmp.rename(mbox)
    got, _ = final(pair)
    assert got["whole"] == 1 and got["grown"] == 0
    same_trees(pair, plan_files)


def test_a_lists_first_archive_after_the_presync(plan_files):
    """devtalk had no archive at the pre-sync (empty folders); its first posts arrive before
    the freeze: new files, copied and read whole."""
    p = SyncPair(plan_files, SAMPLES / "netsight" / OLD_VAR.lstrip("/"), OLD_VAR, MM_VAR)
    try:
        saved = {}
        for sub in ("archives/private/devtalk", "archives/private/devtalk.mbox"):
            for f in sorted((p.old_var / sub).rglob("*"), reverse=True):
                if f.is_file():
                    saved[f] = f.read_bytes()
                    f.unlink()
                elif f.is_dir():
                    f.rmdir()
        p.presync()
        for f, data in sorted(saved.items()):
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(data)
        got, _ = final(p)
        assert got["whole"] >= len(saved)
        same_trees(p, plan_files)
    finally:
        p.close()


def test_a_deleted_list(pair, plan_files):
    for sub in ("lists/devtalk", "archives/private/devtalk", "archives/private/devtalk.mbox"):
        shutil.rmtree(pair.old_var / sub)
    got, _ = final(pair)
    assert got["gone"] > 3
    assert not (pair.new_var / "lists/devtalk").exists()
    same_trees(pair, plan_files)


def test_a_held_post_added(pair, plan_files):
    """A moderator discarded held post 17 and a new post was held; Mailman's other state in
    data/ and a stray temp file stay on the old host."""
    (pair.old_var / "data/heldmsg-users-19.pck").write_bytes(b"held at the last minute")
    (pair.old_var / "data/heldmsg-users-17.pck").unlink()
    (pair.old_var / "data/bounce-events-01234.pck").write_bytes(b"old host state")
    (pair.old_var / "lists/users/config.pck.tmp.77").write_bytes(b"stray")
    got, out = final(pair)
    assert got["whole"] == 1 and got["gone"] == 1
    assert "users: 1 held post file(s), heldmsg-users-19.pck " in out
    assert sorted(p.name for p in (pair.new_var / "data").iterdir()) == [
        "adm.pw", "heldmsg-users-19.pck"]
    assert not list(pair.new_var.rglob("config.pck.tmp.*"))
    same_trees(pair, plan_files)


def test_pipermail_rebuilt_one_month(pair, plan_files):
    """A month's pages written again (bin/arch for one month): those files move, whole."""
    month = sorted(d for d in (pair.old_var / "archives/private/users").glob("20*")
                   if d.is_dir())[-1]
    pages = [f for f in month.iterdir() if f.suffix == ".html"]
    for page in pages:
        page.write_bytes(page.read_bytes().replace(b"</BODY>", b"<!-- rebuilt --></BODY>"))
    got, _ = final(pair)
    assert got["whole"] == len(pages) and got["grown"] == 0
    same_trees(pair, plan_files)


def test_a_file_that_changes_during_the_final_sync_stops_it(pair, plan_files):
    """Something still writes on the old host while the final sync copies (a cron job missed
    by the freeze): the check afterwards sees it and the phase fails."""
    hook = pair.old_plan / "rsync-hook"
    hook.mkdir()
    (hook / "rsync").write_text(
        "#!/bin/sh\n"
        "[ -e /root/migrate-plan/rsync-hook/touched ] || "
        "{ touch /root/migrate-plan/rsync-hook/touched; "
        f"printf x >> {OLD_VAR}/lists/users/config.pck; }}\n"
        'exec /usr/bin/rsync "$@"\n')
    (hook / "rsync").chmod(0o755)
    proc = pair.old.run(f"PATH=/root/migrate-plan/rsync-hook:$PATH NEW={pair.new_ssh} "
                        "sh /root/migrate-plan/rsync/final.sh", check=False, timeout=600)
    assert proc.returncode != 0
    assert "lists/users/config.pck\": changed during the final sync" in proc.stderr
    # run again, with nothing writing any more: it moves the change and holds
    got, _ = final(pair)
    assert got["whole"] == 1
    same_trees(pair, plan_files)


def test_a_file_changed_on_the_new_host_is_copied_again(pair, plan_files):
    """The record vouches for the new host's copy only while its stat is as recorded."""
    target = pair.new_var / "lists/announce/config.pck"
    target.write_bytes(b"damaged")
    got, _ = final(pair)
    assert got["whole"] == 1
    same_trees(pair, plan_files)


def test_the_final_sync_never_carries_a_link_that_leads_out(tmp_path):
    """The links of tests/test_links.py made after the pre-sync: the final sync copies the new
    ones its record does not know, with rsync's root the whole var prefix (where a link that
    leaves its list's folder can still stay inside): none that leads out of its folder
    travels, by the inspection's names and by the sync's own --safe-links rule."""
    root = tmp_path / "netsight"
    shutil.copytree(SAMPLES / "netsight", root, symlinks=True)
    plant(root, {**LEAVING, **INSIDE})
    inv = inspect_tree(LocalTree(root), Origin("local", str(root)))
    target = resolve_target(inv, {}, {"hostname": "lists.netsight.example",
                                      "ipv6": ["2001:db8:50::25"], "destination": "mailman2"})
    files = build_plan(inv, target).files
    p = SyncPair(files, root / OLD_VAR.lstrip("/"), OLD_VAR, MM_VAR)
    try:
        for rel in {**LEAVING, **INSIDE}:
            (p.old_var / rel).unlink()
        p.presync()
        for rel, target_ in {**LEAVING, **INSIDE}.items():
            os.symlink(target_, p.old_var / rel)
        got, _ = final(p)
        assert got["whole"] == len(INSIDE) + 1  # and sub -> ., which stays in its folder
        for rel in LEAVING:
            assert os.path.lexists(p.new_var / rel) is rel.endswith("/sub"), rel
        for rel, target_ in INSIDE.items():
            assert os.readlink(p.new_var / rel) == target_
    finally:
        p.close()
