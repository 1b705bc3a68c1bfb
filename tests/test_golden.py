"""Golden plans: each sample host planned for one release of each grammar era (5.7, 6.3, 7.8)
must give exactly the files under tests/golden/, byte for byte. A file the same for every
release is stored once, in the host's ``common`` folder; the release folders hold what differs
(tools/update_golden.py says how). A change to an emitter that changes output shows here as a
diff to review; `python tools/update_golden.py` rewrites them after review."""

from __future__ import annotations

import difflib
from pathlib import Path

from conftest import REPO, SAMPLE_HOSTS, golden_tool

update_golden = golden_tool()
GOLDEN, COMMON = update_golden.GOLDEN, update_golden.COMMON


def _diff(path: Path, old: bytes, new: bytes) -> str:
    diff = "".join(difflib.unified_diff(old.decode("utf-8", "replace").splitlines(True),
                                        new.decode("utf-8", "replace").splitlines(True),
                                        str(path.relative_to(REPO)), "emitted", n=2))
    return diff[:3000]


def test_every_emitted_file_equals_its_golden_file():
    """Each file of each (host, release) plan against the one place it is stored: its release
    folder or the host's common folder, never both. A common file that the releases now emit
    differently fails as such: update_golden must move it into the release folders."""
    plans = update_golden.emitted()
    for (host, release), files in plans.items():
        for rel, data in sorted(files.items()):
            mine, common = GOLDEN / host / release / rel, GOLDEN / host / COMMON / rel
            assert mine.is_file() or common.is_file(), (
                f"{host} {release}: {rel} is emitted but has no golden file: run "
                "tools/update_golden.py and review the diff")
            assert not (mine.is_file() and common.is_file()), f"{rel} is stored twice"
            stored = mine if mine.is_file() else common
            if stored.read_bytes() == data:
                continue
            versions = {r: plans[host, r].get(rel) for r in update_golden.RELEASES}
            if stored == common and len(set(versions.values())) > 1:
                raise AssertionError(
                    f"{common.relative_to(REPO)} is no longer the same for every release of "
                    f"{host} ({release} differs): run tools/update_golden.py, which moves it "
                    "into the release folders, and review the diff\n"
                    + _diff(common, common.read_bytes(), data))
            raise AssertionError(f"{stored.relative_to(REPO)} differs:\n"
                                 + _diff(stored, stored.read_bytes(), data))


def test_the_golden_folders_hold_each_file_once_and_nothing_else():
    """What is committed is what update_golden writes: no file left behind by an emitter that
    stopped writing it, none stored per release that is the same for every release."""
    committed = {p for p in GOLDEN.rglob("*") if p.is_file()}
    wanted = set(update_golden.golden_files())
    stale = sorted(str(p.relative_to(GOLDEN)) for p in committed - wanted)
    missing = sorted(str(p.relative_to(GOLDEN)) for p in wanted - committed)
    assert not stale and not missing, (
        f"run tools/update_golden.py and review the diff: not written by it {stale[:10]}; "
        f"missing {missing[:10]}")


def test_every_sample_has_golden_plans():
    """update_golden's HOSTS (each sample's target settings) names every sample host."""
    assert tuple(sorted(update_golden.HOSTS)) == SAMPLE_HOSTS


def test_a_file_that_becomes_release_dependent_leaves_the_common_folder():
    """The layout, on plans made up here: a file the same for every release is common; one
    that differs in one release is stored for each release and no longer common."""
    same = {(h, r): {"a.txt": b"same\n", "b.txt": b"b\n"} for h in update_golden.HOSTS
            for r in update_golden.RELEASES}
    host, last = next(iter(update_golden.HOSTS)), update_golden.RELEASES[-1]
    changed = {**same, (host, last): {"a.txt": b"other\n", "b.txt": b"b\n"}}
    before, after = update_golden.layout(same), update_golden.layout(changed)
    assert GOLDEN / host / COMMON / "a.txt" in before
    assert GOLDEN / host / COMMON / "a.txt" not in after
    assert after[GOLDEN / host / last / "a.txt"] == b"other\n"
    assert all(after[GOLDEN / host / r / "a.txt"] == b"same\n"
               for r in update_golden.RELEASES[:-1])
    assert after[GOLDEN / host / COMMON / "b.txt"] == b"b\n"


def test_each_era_has_its_own_grammar():
    g = GOLDEN / "netsight"
    smtpd = {r: (g / r / "files/new/etc/mail/smtpd.conf").read_text() for r in ("5.7", "6.3",
                                                                            "7.8")}
    assert "accept from any for domain <listdomains>" in smtpd["5.7"]
    assert "db:/etc/mail/aliases.db" in smtpd["5.7"]
    assert "accept from any" in smtpd["6.3"] and "file:/etc/mail/aliases" in smtpd["6.3"]
    assert 'match from any for domain <listdomains> rcpt-to <recipients> action "lists"' in smtpd["7.8"]
    httpd = {r: (g / r / "files/new/etc/httpd.conf").read_text() for r in ("6.3", "7.8")}
    assert "strip 1 }" in httpd["6.3"] and "request strip 1" in httpd["7.8"]
