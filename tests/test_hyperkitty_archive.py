"""Every archived post into the real HyperKitty, once, in the month the inspection counted it.

The plan's ``hyperkitty_archive.py prepare`` (emitters/mailman3/scripts, run on the new host
with the inspection's ``mboxscan`` beside it) writes the copy ``mailman-web hyperkitty_import``
reads; the real HyperKitty from PyPI (tests/hktools.py, SQLite) imports it. For every sample
archive the import holds the inventory's strict count, month by month; on an archive with the
usual faults (body ``From `` lines, a post cut by an unescaped separator, no Message-ID, the
same Message-ID twice, no Date:, a Date: no parser reads, one from the future, one across a
month's end from its arrival) the plain import of the original gets it wrong and the prepared
one right.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, SAMPLE_HOSTS, SAMPLES
from hktools import WebSite, web_bin

pytestmark = pytest.mark.realtool

SCRIPT = REPO / "emitters/mailman3/scripts/hyperkitty_archive.py"
UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def tools(tmp_path_factory) -> Path:
    """The script and the inspection's mboxscan in one folder, as the plan installs them."""
    web_bin()
    folder = tmp_path_factory.mktemp("bin")
    shutil.copyfile(SCRIPT, folder / SCRIPT.name)
    shutil.copyfile(REPO / "parsers/mboxscan.py", folder / "mboxscan.py")
    return folder


def _inventory(sample: str):
    from migrate.app.inspection import inspect_tree
    from migrate.app.sources import LocalTree
    from migrate.core.model import Origin

    tree = SAMPLES / sample
    return inspect_tree(LocalTree(tree), Origin("local", str(tree)))


def prepare(site: WebSite, tools: Path, mbox: Path, address: str, now: dt.datetime,
            out: Path) -> tuple[subprocess.CompletedProcess, dict]:
    res = site.python([str(tools / SCRIPT.name), "prepare", str(mbox), str(out),
                       f"{out}.json", "--list", address,
                       "--now", now.astimezone(UTC).replace(tzinfo=None).isoformat()])
    summary = json.loads(Path(f"{out}.json").read_text()) if res.returncode == 0 else {}
    return res, summary


def hk_import(site: WebSite, mbox: Path, address: str) -> None:
    # --since: not only what is newer than the newest post already there (a second run);
    # --ignore-mtime: nor skip the file for its time
    res = site.run(["hyperkitty_import", "--no-sync-mailman", "--ignore-mtime",
                    "--since", "1000-01-01T00:00:00+00:00", "-l", address, str(mbox)])
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Failed" not in res.stderr and "failed" not in res.stderr, res.stderr


@pytest.mark.parametrize("sample", SAMPLE_HOSTS)
def test_every_sample_archive_imports_whole_month_by_month(sample, tools, tmp_path):
    inv = _inventory(sample)
    site = WebSite(tmp_path / "web")
    archives = [a for a in inv.archives if a.mbox_path and a.messages]
    assert archives, f"{sample} has no archive with posts"
    for archive in archives:
        address = f"{archive.list_name}@lists.{sample}.example"
        mbox = SAMPLES / sample / archive.mbox_path.lstrip("/")
        res, summary = prepare(site, tools, mbox, address, inv.collected_at,
                               tmp_path / f"{archive.list_name}.mbox")
        assert res.returncode == 0, res.stderr
        want = {m.month: m.messages for m in archive.months}
        assert summary["messages"] == archive.messages
        assert summary["inspection_months"] == want
        hk_import(site, tmp_path / f"{archive.list_name}.mbox", address)
        have = site.months(address)
        assert sum(have.values()) == archive.messages, (archive.list_name, have, want)
        assert have == summary["months"]
        if not archive.undated:
            assert have == want, archive.list_name
        check = site.python([str(tools / SCRIPT.name), "check", f"{tmp_path}/"
                             f"{archive.list_name}.mbox.json", "--list", address])
        assert check.returncode == 0, check.stdout + check.stderr
        assert "month by month as in the archive" in check.stdout
        # the original mbox is never touched
        assert not list(mbox.parent.glob("*.tmp"))


# --- an archive with every fault ----------------------------------------------------------------

NOW = dt.datetime(2026, 12, 1, tzinfo=UTC)


def _post(sender: str, arrived: str, headers: list[str], body: list[str]) -> list[str]:
    return [f"From {sender} {arrived}", *headers, "", *body, ""]


def faulty_mbox() -> tuple[bytes, dict[str, int], int]:
    """An mbox with the faults real archives have; its posts by month as the inspection counts
    them, and how many lines start ``From `` (what a plain split counts)."""
    posts = [
        # 1: clean, and a body line that starts "From " (loose)
        _post("ann@example.org", "Mon Mar  4 10:00:00 2019",
              ["From: Ann <ann@example.org>", "Date: Mon, 4 Mar 2019 10:00:00 +0000",
               "Message-ID: <one@example.org>", "Subject: first"],
              ["Hello", "From what I heard, it works.", "Bye"]),
        # 2: an unescaped full separator inside the body (not after an empty line)
        _post("bob@example.org", "Tue Mar  5 10:00:00 2019",
              ["From: Bob <bob@example.org>", "Date: Tue, 5 Mar 2019 10:00:00 +0000",
               "Message-ID: <two@example.org>", "Subject: quoted"],
              ["Forwarded:", "From bob@example.org Tue Mar  5 09:00:00 2019", "text"]),
        # 3: no Message-ID
        _post("cat@example.org", "Wed Mar  6 10:00:00 2019",
              ["From: Cat <cat@example.org>", "Date: Wed, 6 Mar 2019 10:00:00 +0000",
               "Subject: no id"], ["body"]),
        # 4: the same Message-ID as post 1 (a resend)
        _post("ann@example.org", "Thu Apr  4 10:00:00 2019",
              ["From: Ann <ann@example.org>", "Date: Thu, 4 Apr 2019 10:00:00 +0000",
               "Message-ID: <one@example.org>", "Subject: first, again"], ["again"]),
        # 5: no Date: (the separator's month: May)
        _post("dan@example.org", "Fri May 10 10:00:00 2019",
              ["From: Dan <dan@example.org>", "Message-ID: <five@example.org>",
               "Subject: no date"], ["body"]),
        # 6: a Date: no parser reads
        _post("eve@example.org", "Mon Jun 10 10:00:00 2019",
              ["From: Eve <eve@example.org>", "Date: sometime soon",
               "Message-ID: <six@example.org>", "Subject: bad date"], ["body"]),
        # 7: a Date: in the future (implausible: the separator's month, July 2019)
        _post("fay@example.org", "Wed Jul 10 10:00:00 2019",
              ["From: Fay <fay@example.org>", "Date: Fri, 1 Jan 2038 10:00:00 +0000",
               "Message-ID: <seven@example.org>", "Subject: future"], ["body"]),
        # 8: sent at 23:50 UTC on 31 August, arrived on 1 September by the server's clock
        # (its zone an hour east of UTC; the separator has no zone)
        _post("gus@example.org", "Sun Sep  1 00:50:00 2019",
              ["From: Gus <gus@example.org>", "Date: Sat, 31 Aug 2019 19:50:00 -0400",
               "Message-ID: <eight@example.org>", "Subject: across midnight"], ["body"]),
        # 9: a Message-ID HyperKitty rewrites (spaces, a comment after it)
        _post("hal@example.org", "Tue Oct  1 10:00:00 2019",
              ["From: Hal <hal@example.org>", "Date: Tue, 1 Oct 2019 10:00:00 +0000",
               "Message-ID: < nine @example.org> (added by postmaster)",
               "Subject: odd id"], ["body", ">From an escaped line", "end"]),
    ]
    lines = [line for post in posts for line in post]
    text = "\n".join(lines) + "\n"
    months = {"2019-03": 3, "2019-04": 1, "2019-05": 1, "2019-06": 1, "2019-07": 1,
              "2019-09": 1, "2019-10": 1}
    from_lines = sum(1 for line in lines if line.startswith("From "))
    return text.encode(), months, from_lines


def test_plain_import_gets_a_faulty_archive_wrong_and_the_prepared_one_right(tools, tmp_path):
    data, months, from_lines = faulty_mbox()
    mbox = tmp_path / "faults.mbox"
    mbox.write_bytes(data)
    site = WebSite(tmp_path / "web")
    # what the inspection counts: 9 posts in these months
    sys.path.insert(0, str(REPO))
    from parsers.pipermail import scan_mbox
    with mbox.open("rb") as fh:
        scan = scan_mbox(fh, str(mbox), now=NOW)
    assert scan.messages == 9 and scan.months == months
    # the plain import splits at every "From " line and skips the resend of <one@...>
    plain = "plain@lists.example.org"
    hk_import(site, mbox, plain)
    plain_months = site.months(plain)
    assert sum(plain_months.values()) == from_lines - 1 == 10
    assert plain_months != months
    # the prepared copy: exactly the inspection's posts, month by month
    address = "faults@lists.example.org"
    res, summary = prepare(site, tools, mbox, address, NOW, tmp_path / "prepared.mbox")
    assert res.returncode == 0, res.stderr
    assert summary["messages"] == 9
    assert summary["escaped_from_lines"] == 2
    assert (summary["ids_made"], summary["ids_renamed"]) == (1, 1)
    # no date (5), unreadable (6), future (7), across the month's end (8)
    assert summary["dates_set"] == 4
    hk_import(site, tmp_path / "prepared.mbox", address)
    assert site.months(address) == months
    assert mbox.read_bytes() == data  # the original is untouched
    # a second import (a resumed step) adds nothing
    hk_import(site, tmp_path / "prepared.mbox", address)
    assert site.months(address) == months
    # the ids HyperKitty holds are the ones the script computes (the old links' targets)
    ids = site.message_ids(address)
    assert len(ids) == 9
    sys.path.insert(0, str(tools))
    import hyperkitty_archive as script
    for raw in ("<two@example.org>", "< nine @example.org> (added by postmaster)"):
        mid = script.hyperkitty_id(raw)
        assert mid in ids and ids[mid] == script.id_hash(mid)
    assert "pipermail.faults.3@lists.example.org" in ids  # made for post 3
    assert "pipermail.faults.4@lists.example.org" in ids  # the resend, renamed
    prepared = (tmp_path / "prepared.mbox").read_bytes()
    assert b"X-Original-Message-ID: <one@example.org>" in prepared
    assert b"X-Original-Date: Fri, 1 Jan 2038 10:00:00 +0000" in prepared
    assert b"\n>From what I heard" in prepared
    assert b"\n>From bob@example.org Tue Mar  5 09:00:00 2019" in prepared
    # the check finds each post by its Message-ID: one gone from HyperKitty is named
    check = [str(tools / SCRIPT.name), "check", f"{tmp_path}/prepared.mbox.json", "--list",
             address]
    res = site.python(check)
    assert res.returncode == 0 and "all 9 posts of the archive" in res.stdout, res.stdout
    gone = site.python(["-c", "from mailman_web.manage import setup; setup(); import django; "
                        "django.setup(); from hyperkitty.models import Email; "
                        "Email.objects.filter(message_id='two@example.org').delete()"])
    assert gone.returncode == 0, gone.stderr
    res = site.python(check)
    assert res.returncode == 1 and "1 missing" in res.stdout, res.stdout
    assert "two@example.org" in res.stdout


@pytest.mark.parametrize("what", ["fifo", "missing", "directory"])
def test_what_is_not_an_mbox_is_refused_with_nothing_written(what, tools, tmp_path):
    import os

    path = tmp_path / "in.mbox"
    if what == "fifo":
        os.mkfifo(path)
    elif what == "directory":
        path.mkdir()
    res = subprocess.run([sys.executable, str(tools / SCRIPT.name), "prepare", str(path),
                          str(tmp_path / "out"), str(tmp_path / "out.json"), "--list",
                          "x@lists.example.org"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 3, res.stderr
    assert "Traceback" not in res.stderr and str(path) in res.stderr
    assert not list(tmp_path.glob("out*"))
