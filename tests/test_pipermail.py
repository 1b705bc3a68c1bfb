"""Pipermail archives: the streaming mbox scanner, HTML volumes, public links, and the archive
part of ``migrate inspect``.

The scanner is checked three ways: against the sample hosts' truth files (written by
tools/make_samples.py when it generated the archives), against a deliberately simple line-by-line
reference implementation of the same counting rules on hypothesis-generated mboxes cut into
chunks of every size, and against Python's ``email`` package for the dates.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import email.utils
import io
import json
import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import migrate.app.cli as cli
from conftest import SAMPLES
from parsers import mboxscan, pipermail
from parsers.pipermail import inspect_archive, parse_date_value, scan_mbox, volume_name
from migrate.app.sources import LocalTree

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 25, tzinfo=UTC)
MM = "/usr/local/mailman"
TRUTH = json.loads((SAMPLES.parent / "tests/sample_truth/netsight.json").read_text())
MONTHS = {name: i for i, name in enumerate(pipermail.MONTH_NAMES, start=1)}


def _ym(volume: str) -> str:
    year, name = volume.split("-")
    return f"{year}-{MONTHS[name]:02d}"


def scan_bytes(data: bytes, chunk_size: int = pipermail.CHUNK_SIZE, **kw) -> pipermail.MboxScan:
    return scan_mbox(io.BytesIO(data), "/test.mbox", now=NOW, chunk_size=chunk_size, **kw)


# --- the sample archives against their truth ----------------------------------------------------


@pytest.mark.parametrize("name", sorted(TRUTH["lists"]))
def test_sample_archives_match_the_truth(name):
    truth = TRUTH["lists"][name]["archive_mbox"]
    tree = LocalTree(SAMPLES / "netsight")
    result = inspect_archive(tree, MM, name, archive_enabled=True,
                             public=not TRUTH["lists"][name]["archive_private"],
                             volume_frequency=1, now=NOW)
    a = result.archive
    assert a.mbox_path == truth["path"]
    assert (a.bytes, a.sha256) == (truth["bytes"], truth["sha256"])
    # the generator wrote messages_generated posts; a body line matching the full separator
    # pattern (not after an empty line) is reported, not counted
    assert a.messages == truth["messages_generated"]
    assert a.embedded_separators == truth["body_full_separator_lines"]
    assert a.messages + a.embedded_separators == truth["messages_mailman_rule"]
    assert a.missing_date_header == truth["missing_date_headers"]
    assert a.missing_date_header + a.bad_date_header == truth["bad_dates"]
    assert {m.month: m.messages for m in a.months} == {
        _ym(v): n for v, n in truth["per_month_generated"].items()}
    html = {v.name: v.html_articles for v in a.volumes if v.html}
    assert html == truth["html_months"]
    assert a.html_articles == truth["html_articles"]
    missing = sorted(v.name for v in a.volumes if v.messages and not v.html)
    assert missing == truth["months_in_mbox_missing_in_html"]
    ids = [f.id for f in result.findings]
    assert ("archive.html-volume-missing" in ids) == bool(missing)
    assert ("archive.embedded-separator" in ids) == bool(truth["body_full_separator_lines"])
    # every clean volume has as many HTML articles as mbox posts
    assert "archive.volume-count-mismatch" not in ids
    if TRUTH["lists"][name]["public_archive_link"]:
        assert a.public_link_target == f"{MM}/archives/private/{name}"
    else:
        assert a.public_link is None
        assert "archive.public-link-missing" not in ids  # private: no link is right


def test_sample_first_and_last_dates_follow_the_date_headers():
    """Reference: Python's email package reading every post the scanner counted."""
    tree = LocalTree(SAMPLES / "netsight")
    for name in TRUTH["lists"]:
        path = SAMPLES / "netsight" / TRUTH["lists"][name]["archive_mbox"]["path"].lstrip("/")
        data = path.read_bytes()
        dates = []
        for post in _reference_posts(data):
            msg = email.message_from_bytes(post, policy=email.policy.compat32)
            value = msg.get("Date")
            try:
                parsed = email.utils.parsedate_to_datetime(value) if value else None
            except (TypeError, ValueError):
                parsed = None
            if parsed is not None and parsed.tzinfo is not None \
                    and pipermail.EARLIEST_PLAUSIBLE <= parsed <= NOW:
                dates.append(parsed.astimezone(UTC))
        result = inspect_archive(tree, MM, name, archive_enabled=True, public=True,
                                 volume_frequency=1, now=NOW)
        # posts with unparsable dates take their separator's date, which lies inside the range
        assert result.archive.first_date == min(dates), name
        assert result.archive.last_date == max(dates), name


def _reference_posts(data: bytes) -> list[bytes]:
    """Split at separators as the module docstring defines them (line by line, slowly)."""
    posts: list[list[bytes]] = []
    prev_empty = True
    for line in data.split(b"\n"):
        if prev_empty and mboxscan.SEPARATOR.match(line.rstrip(b"\r")):
            posts.append([])
        elif posts:
            posts[-1].append(line)
        prev_empty = line in (b"", b"\r")
    return [b"\n".join(p) for p in posts]


def test_embedded_separator_finding_names_the_line():
    tree = LocalTree(SAMPLES / "netsight")
    result = inspect_archive(tree, MM, "announce", archive_enabled=True, public=True,
                             volume_frequency=1, now=NOW)
    f = next(f for f in result.findings if f.id == "archive.embedded-separator")
    path = SAMPLES / "netsight" / f.source.file.lstrip("/")
    line = path.read_bytes().split(b"\n")[f.source.line - 1]
    assert line.startswith(b"From someone@example.org ")
    # bin/arch (PortableUnixMailbox) splits at every "From " line: 300 + 1 embedded + 1 loose
    assert "bin/cleanarch" in f.hint and "302 posts, not 300" in f.hint
    assert TRUTH["lists"]["announce"]["archive_mbox"]["lines_starting_From_space"] == 302


# --- the counting rules, against a line-by-line reference ---------------------------------------


def reference_scan(data: bytes) -> dict:
    """The module's rules, implemented as plainly as possible (no chunks, no fast paths)."""
    messages = embedded = loose = 0
    months: dict[str, int] = {}
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    prev_empty = True
    for line in lines:
        bare = line[:-1] if line.endswith(b"\r") else line
        if line.startswith(b"From "):
            m = mboxscan.SEPARATOR.match(line)
            if m is None:
                loose += 1
            elif not prev_empty:
                embedded += 1
            else:
                messages += 1
                _w, mon, _d, _h, _mi, _s, year = m.groups()
                if b"1990" <= year <= b"%d" % NOW.year and mon in mboxscan.MONTH_NUMBER:
                    key = f"{int(year):04d}-{mboxscan.MONTH_NUMBER[mon]:02d}"
                    months[key] = months.get(key, 0) + 1
        prev_empty = bare == b""
    return {"messages": messages, "embedded": embedded, "loose": loose, "months": months}


_SENDERS = st.sampled_from(["alice@example.org", "MAILER-DAEMON", "bob@ex.net", "x"])
_CTIME = st.builds(
    lambda wd, mon, day, h, m, s, y: f"{wd} {mon} {day:2d} {h:02d}:{m:02d}:{s:02d} {y}",
    st.sampled_from(["Mon", "Tue", "Sat"]),
    st.sampled_from(["Jan", "Feb", "Jun", "Dec"]), st.integers(1, 28), st.integers(0, 23),
    st.integers(0, 59), st.integers(0, 59), st.sampled_from([1995, 2004, 2019, 2026]))
_SEPARATOR_LINE = st.builds(lambda s, t: f"From {s} {t}".encode(), _SENDERS, _CTIME)
_DATE_VALUE = st.one_of(
    st.builds(lambda d: email.utils.format_datetime(d).encode(),
              st.datetimes(dt.datetime(1991, 1, 1), dt.datetime(2026, 1, 1),
                           timezones=st.sampled_from([UTC, dt.timezone(dt.timedelta(hours=-5)),
                                                      dt.timezone(dt.timedelta(hours=5, minutes=30))]))),
    st.sampled_from([b"GMT+00:00", b"2015-13-45 10:00", b"Mon, 32 Foo 2009 25:61:00 +0000",
                     b"Tue, 3 Jun 2008 11:05:30 GMT", b"3 Jun 08 11:05 EDT", b"",
                     b"=?utf-8?q?garbage?=", b"\xff\xfe bad bytes 2010"]))
_BODY_LINE = st.one_of(
    st.sampled_from([b"", b"", b"Hello list.", b"> quoted", b">From the minutes",
                     b"From what I heard", b"From: not a header here", b"From ",
                     b"\x00\x01binary", b"caf\xe9 latin-1", b"x" * 300]),
    _SEPARATOR_LINE,
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b" ")))


@st.composite
def mboxes(draw) -> bytes:
    out: list[bytes] = []
    if draw(st.booleans()):
        out += draw(st.lists(_BODY_LINE, max_size=3))  # data before the first post
    for _ in range(draw(st.integers(0, 8))):
        if out and out[-1] != b"" and draw(st.integers(0, 4)):
            out.append(b"")  # usually a blank line ends the previous post
        out.append(draw(_SEPARATOR_LINE))
        headers = [b"From: a@example.org", b"Subject: hi"]
        date_kind = draw(st.integers(0, 3))
        if date_kind == 1:
            headers.append(b"Date: " + draw(_DATE_VALUE))
        elif date_kind == 2:
            headers.append(b"date:  " + draw(_DATE_VALUE))
        elif date_kind == 3:
            headers.append(b"Date: " + draw(_DATE_VALUE) + b"\n\t(folded comment)")
        out += draw(st.permutations(headers))
        out.append(b"")
        out += draw(st.lists(_BODY_LINE, max_size=12))
    data = b"\n".join(out)
    if draw(st.booleans()):
        data += b"\n"
    if draw(st.integers(0, 5)) == 0:
        data = data.replace(b"\n", b"\r\n")
    return data


@pytest.mark.slow
@settings(max_examples=400, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=mboxes(), chunk_size=st.sampled_from([1, 2, 3, 7, 64, 1000, 1 << 20]))
def test_scanner_equals_reference_for_any_chunk_size(data, chunk_size):
    ref = reference_scan(data)
    scan = scan_bytes(data, chunk_size=chunk_size)
    assert (scan.messages, scan.embedded_separators, scan.loose_from_lines) == (
        ref["messages"], ref["embedded"], ref["loose"])
    assert scan.bytes == len(data)
    import hashlib
    assert scan.sha256 == hashlib.sha256(data).hexdigest()
    # every post is either dated (and in a month) or counted as undated/implausible
    assert sum(scan.months.values()) + scan.undated + scan.implausible_dates >= scan.messages
    # separator-dated months agree with the reference wherever the separator year is plausible
    for month, count in ref["months"].items():
        assert scan.months.get(month, 0) >= count
    whole = scan_bytes(data)
    assert (whole.messages, whole.months, whole.undated, whole.first_date, whole.last_date) == (
        scan.messages, scan.months, scan.undated, scan.first_date, scan.last_date)


def test_separator_rules():
    data = (b"From a@example.org Mon Jan  5 10:00:00 2004\nDate: Mon, 5 Jan 2004 10:00:00 +0000"
            b"\n\nbody\nFrom what I heard\n>From escaped\n"
            b"forwarded:\nFrom b@example.org Tue Jan  6 10:00:00 2004\n\n"
            b"From c@example.org Wed Feb  4 10:00:00 2004\n\nsecond post\n")
    scan = scan_bytes(data, line_numbers=True)
    assert scan.messages == 2
    assert scan.embedded_separators == 1
    assert scan.loose_from_lines == 1
    assert scan.months == {"2004-01": 1, "2004-02": 1}
    assert [e.line for e in scan.examples["embedded"]] == [8]
    assert [e.line for e in scan.examples["loose"]] == [5]
    assert scan.examples["embedded"][0].post == 1


def test_crlf_mbox_counts_the_same():
    lf = (b"From a@example.org Mon Jan  5 10:00:00 2004\nDate: Mon, 5 Jan 2004 10:00:00 +0000"
          b"\n\nbody\n\nFrom c@example.org Wed Feb  4 10:00:00 2004\n\nsecond\n")
    scan = scan_bytes(lf.replace(b"\n", b"\r\n"), chunk_size=5)
    assert (scan.messages, scan.crlf) == (2, True)
    assert scan.first_date == dt.datetime(2004, 1, 5, 10, tzinfo=UTC)


# --- dates --------------------------------------------------------------------------------------


@pytest.mark.slow
@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(when=st.datetimes(dt.datetime(1990, 1, 1), dt.datetime(2030, 1, 1)),
       minutes=st.integers(-12 * 60, 14 * 60), weekday=st.booleans())
def test_fast_date_path_equals_the_email_package(when, minutes, weekday):
    zone = dt.timezone(dt.timedelta(minutes=minutes))
    value = email.utils.format_datetime(when.replace(tzinfo=zone, microsecond=0))
    if not weekday:
        value = value.split(", ", 1)[1]
    data = (b"From a@b Mon Jan  5 10:00:00 2004\nDate: " + value.encode() + b"\n\nx\n")
    scan = scan_bytes(data)
    expected = email.utils.parsedate_to_datetime(value).astimezone(UTC)
    if pipermail.EARLIEST_PLAUSIBLE <= expected <= NOW:
        assert scan.first_date == expected
    else:
        assert scan.implausible_dates == 1


@pytest.mark.parametrize("value, expected, fuzzy", [
    (b"Tue, 3 Jun 2008 11:05:30 +0200", dt.datetime(2008, 6, 3, 9, 5, 30, tzinfo=UTC), False),
    (b"Tue, 3 Jun 2008 11:05:30 GMT", dt.datetime(2008, 6, 3, 11, 5, 30, tzinfo=UTC), False),
    (b"2008-06-03 11:05", dt.datetime(2008, 6, 3, 11, 5, tzinfo=UTC), True),
    (b"Tuesday, June 3rd 2008 at 11:05", dt.datetime(2008, 6, 3, 11, 5, tzinfo=UTC), True),
    (b"GMT+00:00", None, False),
    (b"2015-13-45 10:00", None, False),
    (b"", None, False),
    (b"\xff\xfe\x00", None, False),
])
def test_parse_date_value(value, expected, fuzzy):
    assert parse_date_value(value) == (expected, fuzzy if expected else False)


def test_dates_fall_back_to_the_separator_and_report_implausible_ones():
    data = (b"From a@b Mon Jan  5 10:00:00 2004\nSubject: no date\n\nx\n\n"
            b"From a@b Tue Jan  6 10:00:00 2004\nDate: Mon, 1 Jan 1979 00:00:00 +0000\n\nx\n\n"
            b"From a@b Wed Jan  7 10:00:00 2004\nDate: Fri, 1 Jan 2099 00:00:00 +0000\n\nx\n\n"
            b"From a@b Thu Jan  8 10:00:00 1970\nDate: garbage\n\nx\n")
    scan = scan_bytes(data, line_numbers=True)
    assert scan.messages == 4
    assert scan.missing_date_header == 1 and scan.bad_date_header == 1
    assert scan.implausible_dates == 3  # 1979, 2099 (their separators are fine), 1970
    assert scan.undated == 0
    assert scan.first_date == dt.datetime(2004, 1, 5, 10, tzinfo=UTC)
    assert scan.last_date == dt.datetime(2004, 1, 7, 10, tzinfo=UTC)
    assert scan.months == {"2004-01": 3}  # the 1970 post belongs to no month
    assert [e.line for e in scan.examples["implausible"]] == [6, 11, 16]


def test_a_date_past_year_9999_in_utc_is_a_bad_date_not_a_crash():
    """23:30 on 31 Dec 9999 at -0100 is in the year 10000 in UTC: it once stopped the whole
    inspection with OverflowError."""
    data = b"From a@b Mon Jan  5 10:00:00 2004\nDate: 31 Dec 9999 23:30:00 -0100\n\nx\n"
    scan = scan_bytes(data)
    assert (scan.messages, scan.bad_date_header, scan.undated) == (1, 1, 0)
    assert scan.first_date == dt.datetime(2004, 1, 5, 10, tzinfo=UTC)
    assert parse_date_value(b"31 Dec 9999 23:30:00 -0100") == (None, False)


def test_header_charset_problems_never_stop_the_scan():
    data = (b"From a@b Mon Jan  5 10:00:00 2004\nSubject: =?x-unknown?q?=FF=FE?=\n"
            b"From: \xff\xfe\xfd <a@b>\nDate: \xe9t\xe9 2004\n\nx\n\n"
            b"From a@b Tue Jan  6 10:00:00 2004\nDate: Tue, 6 Jan 2004 10:00:00 +0000\n\n")
    scan = scan_bytes(data)
    assert scan.messages == 2
    assert scan.last_date == dt.datetime(2004, 1, 6, 10, tzinfo=UTC)


# --- memory and streaming -----------------------------------------------------------------------


class _Stream(io.RawIOBase):
    """A readinto-only stream of ``total`` bytes of generated posts; fails at ``fail_at``."""

    def __init__(self, total: int, fail_at: int | None = None) -> None:
        post = (b"From a@example.org Mon Jan  5 10:00:00 2004\n"
                b"Date: Mon, 5 Jan 2004 10:00:00 +0000\n\n" + b"body line\n" * 50 + b"\n")
        self.post = post
        self.total = total
        self.fail_at = fail_at
        self.pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self.fail_at is not None and self.pos >= self.fail_at:
            raise OSError(5, "Input/output error")
        n = min(len(b), self.total - self.pos)
        for i in range(n):  # slow but simple; the tests keep totals small
            b[i] = self.post[(self.pos + i) % len(self.post)]
        self.pos += n
        return n


def test_progress_reports_every_byte_and_a_read_error_ends_the_scan_cleanly():
    size = len(_Stream(0).post) * 40
    seen = []
    scan = scan_mbox(_Stream(size), "/x", now=NOW, chunk_size=4096, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == size
    assert scan.messages == 40 and scan.read_error is None
    broken = scan_mbox(_Stream(size, fail_at=8192), "/x", now=NOW, chunk_size=4096)
    assert broken.read_error and "Input/output error" in broken.read_error
    assert broken.bytes == 8192 and 0 < broken.messages < 40


def _single_pass(data: bytes, line_numbers: bool = False) -> pipermail.MboxScan:
    """The scan's state machine over the whole mbox in one call: no chunks, no threads."""
    import hashlib
    naive = NOW.replace(tzinfo=None)
    summary = mboxscan.new_summary(line_numbers)
    scanner = mboxscan._Scanner(summary, naive)
    buf = bytearray(mboxscan._VIRTUAL_START + data)
    scanner.feed(buf, 0, 2, len(buf), eof=True)
    scanner.finish()
    summary["nul_in_head"] = b"\0" in data[:1024]
    summary["bytes"] = len(data)
    summary["sha256"] = hashlib.sha256(data).hexdigest()
    return pipermail.scan_from_summary(summary, "/test.mbox", NOW)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=mboxes(), chunk_size=st.sampled_from([1, 5, 64, 4096, pipermail.CHUNK_SIZE]),
       line_numbers=st.booleans())
def test_the_threaded_scan_equals_a_single_pass_in_every_field(data, chunk_size, line_numbers):
    """Reader, hasher and scanner threads change nothing: every field, examples included."""
    import dataclasses
    scan = scan_bytes(data, chunk_size=chunk_size, line_numbers=line_numbers)
    assert dataclasses.asdict(scan) == dataclasses.asdict(_single_pass(data, line_numbers))


def _helpers_alive() -> list[str]:
    import threading
    return [t.name for t in threading.enumerate() if t.name in ("mbox-read", "mbox-hash")]


def _within(seconds: float, fn):
    """Run ``fn`` in a thread; fail (instead of hanging the suite) if it does not end in time."""
    import threading
    out: dict = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc
    thread = threading.Thread(target=run)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "the scan hangs"
    return out


class _Raising(_Stream):
    """A stream whose read raises something other than OSError part-way."""

    def readinto(self, b) -> int:
        if self.pos >= 8192:
            raise RuntimeError("the link went away")
        return super().readinto(b)


def test_a_reader_that_raises_mid_stream_ends_the_scan_with_its_error_and_no_thread_left():
    size = len(_Stream(0).post) * 40
    interval = __import__("sys").getswitchinterval()
    out = _within(30, lambda: scan_mbox(_Raising(size), "/x", now=NOW, chunk_size=4096))
    scan = out["value"]
    assert scan.read_error == "RuntimeError: the link went away"
    assert scan.bytes == 8192 and 0 < scan.messages < 40
    assert _helpers_alive() == []
    assert __import__("sys").getswitchinterval() == interval


class _FailingDigest:
    def __init__(self) -> None:
        self.calls = 0

    def update(self, data) -> None:
        self.calls += 1
        if self.calls == 2:
            raise MemoryError("no room to hash")

    def hexdigest(self) -> str:
        return "0" * 64


def test_a_hash_failure_is_raised_by_the_scan_and_no_thread_is_left(monkeypatch):
    monkeypatch.setattr(mboxscan.hashlib, "sha256", _FailingDigest)
    size = len(_Stream(0).post) * 40
    out = _within(30, lambda: scan_mbox(_Stream(size), "/x", now=NOW, chunk_size=1024))
    assert isinstance(out.get("error"), MemoryError), out
    assert _helpers_alive() == []


def test_a_scan_cut_short_stops_both_helpers(monkeypatch):
    """An error in the scanning thread (here in the scanner, while it holds a buffer) never
    leaves the reader waiting for a buffer or the hasher for work, though the stream has far
    more to give."""
    feed = mboxscan._Scanner.feed
    calls = []

    def failing_feed(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            time.sleep(0.2)  # the reader fills every free buffer and waits for one
            raise KeyboardInterrupt
        return feed(self, *args, **kwargs)

    monkeypatch.setattr(mboxscan._Scanner, "feed", failing_feed)
    post = _Stream(0).post
    data = post * (4 * 1024 * 1024 // len(post))
    out = _within(30, lambda: scan_mbox(io.BytesIO(data), "/x", now=NOW, chunk_size=4096))
    assert isinstance(out.get("error"), KeyboardInterrupt), out
    assert _helpers_alive() == []


def test_long_binary_lines_are_not_held_whole():
    blob = b"x" * (3 * mboxscan.MAX_LINE_BYTES)  # no newline for 3 MiB
    data = (b"From a@b Mon Jan  5 10:00:00 2004\n\n" + blob + b"\n\n"
            b"From a@b Tue Jan  6 10:00:00 2004\n\nx\n")
    scan = scan_bytes(data, chunk_size=65536)
    assert scan.messages == 2 and scan.bytes == len(data)


# --- bad input through inspect_archive ----------------------------------------------------------


def _archive(tree_factory, files, links=None, name="host", **kw):
    """inspect_archive of list ``l`` in a tree written from ``files`` (one tree per ``name``)."""
    root = tree_factory(files, links, name=name)
    opts = dict(archive_enabled=True, public=True, volume_frequency=1, now=NOW)
    opts.update(kw)
    return inspect_archive(LocalTree(root), MM, "l", **opts)


MBOX = f"{MM}/archives/private/l.mbox/l.mbox"
HTML = f"{MM}/archives/private/l"
POST = b"From a@b Mon Jan  5 10:00:00 2004\nDate: Mon, 5 Jan 2004 10:00:00 +0000\n\nx\n\n"


@pytest.mark.parametrize("content, fid, severity", [
    (b"", "archive.mbox-empty", "info"),
    (b"\x00\x01\x02PK\x03\x04" + bytes(range(256)) * 10, "archive.mbox-not-mbox", "error"),
    (b"just some text\nwithout posts\n", "archive.mbox-not-mbox", "error"),
    (b"garbage line\n\n" + POST, "archive.mbox-leading-data", "warning"),
])
def test_bad_mboxes_are_findings(tree_factory, content, fid, severity):
    result = _archive(tree_factory, {MBOX: content})
    found = [f for f in result.findings if f.id == fid]
    assert len(found) == 1, [f.id for f in result.findings]
    assert found[0].severity.value == severity
    assert found[0].source.file == MBOX and found[0].hint


def test_missing_mbox_of_an_archiving_list(tree_factory):
    result = _archive(tree_factory, {f"{HTML}/index.html": "x"}, public=False)
    assert [f.id for f in result.findings] == ["archive.mbox-missing"]
    assert "do not run bin/arch --wipe" in result.findings[0].hint
    quiet = _archive(tree_factory, {f"{HTML}/index.html": "x"}, archive_enabled=False,
                     name="quiet")
    assert quiet.findings == []


def test_mbox_that_is_a_folder(tree_factory):
    result = _archive(tree_factory, {f"{MBOX}/oops": "x"}, public=False)
    assert [f.id for f in result.findings] == ["archive.mbox-not-a-file"]


def test_html_volumes_txt_and_mismatches(tree_factory):
    mbox = POST + (b"From a@b Tue Feb  3 10:00:00 2004\nDate: Tue, 3 Feb 2004 10:00:00 +0000"
                   b"\n\nx\n\n") * 2
    files = {MBOX: mbox,
             f"{HTML}/2004-January/000000.html": "a", f"{HTML}/2004-January/date.html": "i",
             f"{HTML}/2004-January.txt.gz": b"\x1f\x8b",
             f"{HTML}/2004-February/000001.html": "a",  # one of two posts
             f"{HTML}/2003-December/000099.html": "a",  # not in the mbox
             f"{HTML}/2003-December.txt": "t",
             f"{HTML}/index.html": "i", f"{HTML}/attachments/x": "y"}
    result = _archive(tree_factory, files,
                      {f"{MM}/archives/public/l": f"{MM}/archives/private/l"})
    vols = {v.name: v for v in result.archive.volumes}
    assert list(vols) == ["2003-December", "2004-January", "2004-February"]
    assert (vols["2004-January"].html_articles, vols["2004-January"].messages,
            vols["2004-January"].txt_gz, vols["2004-January"].txt) == (1, 1, True, False)
    assert (vols["2004-February"].html_articles, vols["2004-February"].messages) == (1, 2)
    assert (vols["2003-December"].messages, vols["2003-December"].txt) == (0, True)
    ids = sorted(f.id for f in result.findings)
    assert ids == ["archive.mbox-volume-missing", "archive.volume-count-mismatch"]
    missing = next(f for f in result.findings if f.id == "archive.mbox-volume-missing")
    assert "2003-December" in missing.message and "do not run" in missing.hint


@pytest.mark.parametrize("frequency, names", [
    (0, ["2004"]), (2, ["2004q1"]), (3, ["Week-of-Mon-20040105", "Week-of-Mon-20040202"]),
    (4, ["20040105", "20040203"]),
])
def test_other_volume_frequencies(tree_factory, frequency, names):
    mbox = POST + b"From a@b Tue Feb  3 10:00:00 2004\nDate: Tue, 3 Feb 2004 10:00:00 +0000\n\nx\n"
    files = {MBOX: mbox}
    for i, day in enumerate([dt.date(2004, 1, 5), dt.date(2004, 2, 3)]):
        files[f"{HTML}/{volume_name(day, frequency)}/00000{i}.html"] = "a"
    result = _archive(tree_factory, files, volume_frequency=frequency,
                      links={f"{MM}/archives/public/l": f"{MM}/archives/private/l"})
    assert sum(v.messages for v in result.archive.volumes) == 2
    assert [v.name for v in result.archive.volumes] == names
    assert result.findings == []
    # the same tree read as monthly: the other style is reported, not compared
    monthly = inspect_archive(LocalTree(tree_factory({}, name="host")), MM, "l",
                              archive_enabled=True, public=True, volume_frequency=1, now=NOW)
    assert [f.id for f in monthly.findings] == ["archive.volume-style-changed",
                                               "archive.html-volume-missing"]


def test_volume_names_follow_hyperarch():
    day = dt.date(2007, 3, 8)  # a Thursday
    assert [volume_name(day, f) for f in range(5)] == [
        "2007", "2007-March", "2007q1", "Week-of-Mon-20070305", "20070308"]


def test_public_links(tree_factory):
    link = f"{MM}/archives/public/l"
    html = {f"{HTML}/2004-January/000000.html": "a"}
    none = _archive(tree_factory, {MBOX: POST, **html}, name="a")
    assert [f.id for f in none.findings] == ["archive.public-link-missing"]
    private = _archive(tree_factory, {MBOX: POST, **html}, {link: f"{MM}/archives/private/l"},
                       public=False, name="b")
    assert [f.id for f in private.findings] == ["archive.public-link-on-private"]
    assert private.archive.public_link_target == f"{MM}/archives/private/l"
    elsewhere = _archive(tree_factory, {MBOX: POST, "/srv/old/x": "y", **html},
                         {link: "/srv/old"},
                         name="c")
    assert "archive.public-link-dangling" in [f.id for f in elsewhere.findings]


def test_file_modes_are_recorded(tree_factory):
    result = _archive(tree_factory, {MBOX: POST})
    paths = {fm.path: fm for fm in result.archive.files}
    assert set(paths) >= {MBOX, f"{MM}/archives/private/l.mbox"}
    assert re.fullmatch(r"0[0-7]{3}", paths[MBOX].mode)


# --- inspect: archives in the inventory, the JSON and the summary -------------------------------


def test_inspect_json_carries_the_archives():
    runner = CliRunner()
    res = runner.invoke(cli.app, ["inspect", "--root", str(SAMPLES / "netsight"), "--json"])
    assert res.exit_code == 1, res.output  # the sample has a planted error finding
    data = json.loads(res.stdout)
    archives = {a["list_name"]: a for a in data["archives"]}
    assert sorted(archives) == sorted(TRUTH["lists"])
    for name, truth in TRUTH["lists"].items():
        assert archives[name]["messages"] == truth["archive_mbox"]["messages_generated"]
        assert archives[name]["sha256"] == truth["archive_mbox"]["sha256"]
        assert len(archives[name]["months"]) == len(truth["archive_mbox"]["per_month_generated"])
    ids = {f["id"] for f in data["findings"]}
    assert {"archive.embedded-separator", "archive.html-volume-missing"} <= ids


def test_inspect_summary_lists_posts_months_and_owners(tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli.app, ["inspect", "--root", str(SAMPLES / "netsight"), "-o", "-"])
    assert res.exit_code == 1
    res = runner.invoke(cli.app, ["inspect", "--root", str(SAMPLES / "netsight"), "-o",
                                  str(tmp_path / "inv.yaml")], env={"COLUMNS": "160"})
    out = res.stdout
    row = next(line for line in out.splitlines()
               if line.startswith("│ announce ") and "hostmaster@" in line)
    cells = [c.strip() for c in row.strip("│").split("│")]
    assert cells[0] == "announce" and "300" in cells and "81" in cells
    assert any(c.startswith("+1 hostmaster@") for c in cells)  # two owners


def test_orphan_archive_is_reported(tmp_path):
    import shutil
    root = tmp_path / "host"
    shutil.copytree(SAMPLES / "small", root, symlinks=True)
    orphan = root / "usr/local/mailman/archives/private/oldlist.mbox"
    orphan.mkdir(parents=True)
    (orphan / "oldlist.mbox").write_bytes(POST)
    res = CliRunner().invoke(cli.app, ["inspect", "--root", str(root), "--json"])
    data = json.loads(res.stdout)
    orphans = [f for f in data["findings"] if f["id"] == "archive.orphan"]
    assert len(orphans) == 1 and "oldlist" in orphans[0]["message"]


def _real_summary() -> dict:
    """The scan summary of a sample list's mbox, as the scanner (here or on the old host)
    makes it."""
    root = SAMPLES / "netsight"
    with open(root / "usr/local/mailman/archives/private/announce.mbox/announce.mbox", "rb") as fh:
        return mboxscan.scan(fh, NOW.replace(tzinfo=None), resolve=pipermail.fuzzy_date)


def _day(summary: dict) -> str:
    return next(iter(summary["days"]))


@pytest.mark.parametrize("mutate, field", [
    (lambda s: s.__setitem__("messages", -1), "messages"),
    (lambda s: s.__setitem__("undated", -3), "undated"),
    (lambda s: s.__setitem__("bytes", -1), "bytes"),
    (lambda s: s.__setitem__("first_separator_offset", -1), "first_separator_offset"),
    (lambda s: s["days"].__setitem__("abcd-01-01", 1), "days['abcd-01-01']"),
    (lambda s: s["days"].__setitem__("0001-01-01", 1), "days['0001-01-01']"),
    (lambda s: s["days"].__setitem__("2007-13-01", 1), "days['2007-13-01']"),
    (lambda s: s["days"].__setitem__("2030-01-01", 1), "days['2030-01-01']"),
    (lambda s: s["days"].__setitem__(_day(s), -1), "days["),
    (lambda s: s["days"].__setitem__(_day(s), s["messages"] + 1), "days"),
    (lambda s: s.__setitem__("first_date", "0001-01-01T00:00:00"), "first_date"),
    (lambda s: s.__setitem__("last_date", "2999-01-01T00:00:00"), "last_date"),
    (lambda s: s["examples"].setdefault("undated", []).append([-1, 1, "x", None]),
     "examples['undated']"),
])
def test_a_summary_out_of_range_is_refused(mutate, field):
    """Counts, days and dates of a summary are checked where local and remote summaries both
    pass (scan_from_summary): a negative count or year 1 never reaches the inventory."""
    summary = _real_summary()
    pipermail.scan_from_summary(_real_summary(), "/x.mbox", NOW)  # the real one passes
    mutate(summary)
    with pytest.raises(pipermail.SummaryError) as info:
        pipermail.scan_from_summary(summary, "/x.mbox", NOW)
    assert str(info.value).startswith(field)


def test_an_agent_summary_out_of_range_is_an_unreadable_mbox():
    """The old host's agent scans the mbox where it lies (``scanned_mbox``; it runs over SSH,
    which tests/test_remote_scan.py drives): a summary out of range from it is an
    input.unreadable error (exit 3), the archive keeps no count of it, and the rest of the
    archive (its HTML volumes) is still read."""

    class AgentTree(LocalTree):
        def scanned_mbox(self, path, progress):
            summary = _real_summary()
            summary["messages"] = -7
            summary["first_date"] = "0001-01-01T00:00:00"
            return summary

    tree = AgentTree(SAMPLES / "netsight")
    result = inspect_archive(tree, MM, "announce", archive_enabled=True, public=True,
                             volume_frequency=1, now=NOW)
    (refused,) = [f for f in result.findings if f.id == "input.unreadable"]
    assert "messages" in refused.message and refused.source.file.endswith("announce.mbox")
    assert result.archive.messages == 0 and result.archive.first_date is None
    assert result.archive.html_articles > 0
