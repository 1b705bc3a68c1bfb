"""Mailman 2.1 archives: the list's mbox and its pipermail HTML tree.

Files, as Mailman 2.1 lays them out under ``var_prefix`` (``/usr/local/mailman`` on FreeBSD):

* ``archives/private/NAME.mbox/NAME.mbox``: every archived post, appended by
  ``Archiver.__archive_to_mbox``; the source ``bin/arch`` rebuilds the HTML from;
* ``archives/private/NAME/``: the pipermail HTML, one folder per volume (``2007-March/`` with
  ``NNNNNN.html`` articles and the date/thread/subject/author indexes) beside
  ``2007-March.txt`` or ``2007-March.txt.gz``, the volume's posts as plain text;
* ``archives/public/NAME``: an absolute symlink to the private folder, which Mailman creates
  when the archive is public and removes when it becomes private (Apache serves
  ``/pipermail/`` from ``archives/public``).

Counting posts (the rule this project decided; see ``../shared/fixtures/README.md``):

* A separator is a line that starts with ``From ``, matches the full Unix-from pattern of
  Python 2's ``mailbox.UnixMailbox._fromlinepattern`` (``From `` + sender + a ctime-style
  date) and is the first line of the file or follows an empty line (the mboxo/mboxrd rule).
  ``messages`` counts separators.
* Any other line starting ``From `` is an unescaped From line. Those that match the full
  pattern are ``embedded_separators``: Python 2's ``PortableUnixMailbox``, which Mailman's
  ``bin/arch`` uses, splits at every line starting ``From `` and even the strict
  ``UnixMailbox`` would split at these, so a rebuild would cut the post in two (a warning).
  The rest (``From what I heard``) are loose From lines (info: a rebuild splits there too).
  ``>From `` lines are escaped and fine.

Dates:

* The date of a post is its ``Date:`` header (first one, folded lines joined; only the header
  block up to the first empty line is read, as bytes, and only the value is decoded, as ASCII
  with replacement), parsed by ``email.utils.parsedate_to_datetime``, else by
  ``dateutil.parser.parse(fuzzy=True)`` (which must find a year, month and day), else the date
  of the post's separator line. Dates before 1990-01-01 or after ``now`` are implausible;
  such a post takes its separator's date if that one is plausible. A post with no usable date
  counts as ``undated``, one whose only dates are implausible as ``implausible_dates``. All
  datetimes are UTC-aware; the separator's ctime has no zone and is read as UTC.
* The month of a post is the month of its separator date (the year must be plausible; else
  the month of the post's date). Pipermail itself files an article under
  ``time.localtime(Date:)`` after ``ArchRunner`` replaced a missing, unparsable or skewed
  (more than 15 days) ``Date:`` by the time of receipt, and the separator is that time of
  receipt as ``time.ctime`` in the same local zone. The separator is therefore the better
  guide: the server's zone (needed to file a ``Date:`` by local month) is unknown, and for
  every post whose ``Date:`` Mailman clobbered only the separator is right. On the sample
  archives both readings agree; their clean lists' per-month counts equal the HTML article
  counts per month.

Speed: ``scan_mbox`` makes one streaming pass over the bytes, in chunks (partial lines and
unfinished header blocks are carried over), finds candidate lines with a compiled bytes
pattern on whole chunks and parses only each post's header block; SHA-256 runs in a helper
thread on the same chunks (``hashlib`` releases the GIL). No post is ever held in memory.
Exact line numbers for findings cost a newline count over the whole file; they are on when
``line_numbers`` is set (``inspect_archive`` does so for mboxes up to 256 MiB), byte offsets
and post numbers are always given.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import hashlib
import re
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import BinaryIO

from migrate.model import Archive, ArchiveMonth, FileMode, Finding, Severity, Source
from migrate.parsers.base import NotFound, Tree, TreeError

UTC = _dt.timezone.utc
#: Posts dated before this are implausible (mailing list archives start in the 1990s).
EARLIEST_PLAUSIBLE = _dt.datetime(1990, 1, 1, tzinfo=UTC)
CHUNK_SIZE = 8 * 1024 * 1024
#: A header block longer than this is cut there (its Date: is looked for in what was read).
MAX_HEADER_BYTES = 1024 * 1024
#: A line longer than this (binary data) is not carried over whole between chunks.
MAX_LINE_BYTES = 1024 * 1024
#: How many examples of each kind of problem a scan keeps (offsets, lines, excerpts).
MAX_EXAMPLES = 20
#: inspect_archive counts lines (for exact line numbers in findings) up to this mbox size.
LINE_NUMBER_LIMIT = 256 * 1024 * 1024
_THREAD_HASH_MIN = 1024 * 1024  # smaller chunks are hashed in line

# Python 2's mailbox.UnixMailbox._fromlinepattern, with groups around the date fields:
# 1 weekday, 2 month, 3 day, 4 hour, 5 minute, 6 second, 7 year. Matched against one line
# (pos/endpos), so \s never meets a newline.
_SEPARATOR = re.compile(
    rb"From \s*[^\s]+\s+(\w\w\w)\s+(\w\w\w)\s+(\d?\d)\s+(\d?\d):(\d\d)(?::(\d\d))?"
    rb"(?:\s+[^\s]+)?\s+(\d\d\d\d)\s*[^\s]*\s*$")
_CANDIDATE = re.compile(rb"\nFrom ")
_DATE_ANY_CASE = re.compile(rb"\n[Dd][Aa][Tt][Ee][ \t]*:")
_HEADER_VALUE = re.compile(rb"[^\n]*(?:\n[ \t][^\n]*)*")
# The common RFC 5322 form, handled without calling the email package: same result as
# parsedate_to_datetime for every string it matches.
_FAST_DATE = re.compile(
    rb"[ \t]*(?:[A-Za-z]{3},?[ \t]*)?(\d{1,2})[ \t]+([A-Za-z]{3})[ \t]+(\d{4})[ \t]+"
    rb"(\d{1,2}):(\d\d)(?::(\d\d))?[ \t]+([+-]\d{4})(?![0-9])")
_MONTH_ABBR = (b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun",
               b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec")
_MONTH_NUMBER = {m: i for i, m in enumerate(_MONTH_ABBR, start=1)}
_MONTH_NUMBER_ANY_CASE = {**{m.lower(): i for m, i in _MONTH_NUMBER.items()},
                          **{m.upper(): i for m, i in _MONTH_NUMBER.items()}, **_MONTH_NUMBER}
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
               "September", "October", "November", "December")


# --- scanning the mbox -------------------------------------------------------------------------


@dataclass
class MboxExample:
    """One problem line or post, for findings: where it is and what it says."""

    offset: int  # byte offset of the line in the file
    post: int  # 1-based number of the post it is in (0: before the first separator)
    text: str  # the line (or the Date: value), shortened, decoded as ASCII with replacement
    line: int | None = None  # 1-based line number, when the scan counted lines


@dataclass
class MboxScan:
    """What one pass over an mbox found. Counts follow the module's rules."""

    path: str
    bytes: int = 0
    sha256: str | None = None
    messages: int = 0
    first_date: _dt.datetime | None = None
    last_date: _dt.datetime | None = None
    months: dict[str, int] = field(default_factory=dict)  # "YYYY-MM" -> posts, sorted
    undated: int = 0
    implausible_dates: int = 0
    missing_date_header: int = 0
    bad_date_header: int = 0  # present, but neither parser found a date
    fuzzy_date_header: int = 0  # only dateutil's fuzzy parser found a date
    embedded_separators: int = 0  # full-pattern From lines not after an empty line
    loose_from_lines: int = 0  # other unescaped lines starting "From "
    crlf: bool = False  # separator lines end in CR LF
    nul_in_head: bool = False  # a NUL byte in the first KiB: binary data, not an mbox
    first_separator_offset: int | None = None  # > 0: bytes before the first post
    line_numbers: bool = False
    read_error: str | None = None  # the stream failed part-way; counts cover what was read
    examples: dict[str, list[MboxExample]] = field(default_factory=dict)
    # kinds: "embedded", "loose", "missing_date", "bad_date", "implausible", "undated"


def _fast_offset(zone: bytes, cache: dict[bytes, _dt.timedelta]) -> _dt.timedelta:
    off = cache.get(zone)
    if off is None:
        minutes = int(zone[1:3]) * 60 + int(zone[3:5])
        off = cache[zone] = _dt.timedelta(minutes=-minutes if zone[:1] == b"-" else minutes)
    return off


_FUZZY_DEFAULTS = (_dt.datetime(1904, 1, 1), _dt.datetime(1905, 2, 2))


def parse_date_value(value: bytes) -> tuple[_dt.datetime | None, bool]:
    """A ``Date:`` value as a UTC datetime, and whether only the fuzzy parser understood it.

    First ``email.utils.parsedate_to_datetime`` (RFC 5322 and its obsolete forms, as mail
    software reads it), then ``dateutil.parser.parse(fuzzy=True)`` for malformed values; the
    fuzzy result counts only if the value itself gave a year, month and day (``GMT+00:00``
    gives none: dateutil would fill them in from its default). A value without a zone is UTC.
    """
    text = " ".join(value.decode("ascii", "replace").split())[:200]
    if not text:
        return None, False
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        parsed = None
    if parsed is not None:
        return _as_utc(parsed), False
    try:
        from dateutil import parser as dateparser
    except ImportError:  # pragma: no cover - a declared dependency
        return None, False
    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # UnknownTimezoneWarning: the zone is then UTC
        for default in _FUZZY_DEFAULTS:
            try:
                results.append(dateparser.parse(text, fuzzy=True, default=default))
            except (ValueError, OverflowError, TypeError, AttributeError):
                return None, False
    if results[0].date() != results[1].date():
        return None, False  # the day, month or year came from the default
    try:
        return _as_utc(results[0]), True
    except (ValueError, OverflowError):
        return None, False


def _as_utc(value: _dt.datetime) -> _dt.datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _separator_date(groups: tuple[bytes | None, ...]) -> _dt.datetime | None:
    """The ctime date of a separator line's match groups (weekday ignored), as UTC."""
    _wday, mon, day, hour, minute, second, year = groups
    number = _MONTH_NUMBER_ANY_CASE.get(mon)  # type: ignore[arg-type]
    if number is None:
        return None
    try:
        return _dt.datetime(int(year), number, int(day), int(hour), int(minute),  # type: ignore[arg-type]
                            int(second or 0), tzinfo=UTC)
    except ValueError:
        return None


class _Scanner:
    """The state of one pass. ``feed`` takes buffers that start with two context bytes."""

    def __init__(self, scan: MboxScan, now: _dt.datetime, line_numbers: bool) -> None:
        self.scan = scan
        self.now = _as_utc(now)
        self.now_year = b"%04d" % self.now.year
        self.line_numbers = line_numbers
        self.months: dict[tuple[bytes, bytes], int] = {}
        self.offsets: dict[bytes, _dt.timedelta] = {}
        # buf[0] is at file offset ``base``; ``lines_before`` newlines of the file precede it.
        # Both start at -3: the first buffer begins with three virtual newlines.
        self.base = -len(_VIRTUAL_START)
        self.lines_before = -len(_VIRTUAL_START)
        self._lc_pos = 0
        self._lc_line = 0

    def _line_of(self, buf: bytes, pos: int) -> int | None:
        if not self.line_numbers:
            return None
        self._lc_line += buf.count(b"\n", self._lc_pos, pos)
        self._lc_pos = pos
        return self.lines_before + self._lc_line + 1

    def _example(self, kind: str, buf: bytes, pos: int, text: bytes | str, post: int) -> None:
        examples = self.scan.examples.setdefault(kind, [])
        if len(examples) >= MAX_EXAMPLES:
            return
        if isinstance(text, bytes):
            text = text[:200].decode("ascii", "replace")
        text = " ".join(text.split())[:120]
        examples.append(MboxExample(self.base + pos, post, text, self._line_of(buf, pos)))

    def feed(self, buf: bytes, start: int, eof: bool) -> int:
        """Scan the lines of ``buf`` after index ``start``; return the index to keep from.

        ``buf[start - 2:start]`` is context (so an empty line before the next line can be
        seen) and ``buf[start]`` is normally the newline before the first line not yet looked
        at. The caller keeps ``buf[keep:]`` and calls again with ``start=2`` after appending
        the next chunk: what is kept is an incomplete last line, or a post whose header block
        has not ended yet (up to ``MAX_HEADER_BYTES``).
        """
        scan = self.scan
        self._lc_pos = self._lc_line = 0
        n = len(buf)
        stop = n if eof else buf.rfind(b"\n", start)
        find = buf.find
        match_separator = _SEPARATOR.match
        fast_date = _FAST_DATE.match
        month_number = _MONTH_NUMBER
        months = self.months
        offsets = self.offsets
        now = self.now
        now_year = self.now_year
        earliest = EARLIEST_PLAUSIBLE
        first = scan.first_date
        last = scan.last_date
        messages = scan.messages
        for cand in _CANDIDATE.finditer(buf, start, stop):
            i = cand.start()
            p = i + 1
            eol = find(b"\n", p)
            if eol < 0:
                eol = n
            sep = match_separator(buf, p, eol)
            if sep is None:
                scan.loose_from_lines += 1
                self._example("loose", buf, p, buf[p:eol], messages)
                continue
            prev = buf[i - 1]
            if not (prev == 10 or (prev == 13 and buf[i - 2] == 10)):
                scan.embedded_separators += 1
                self._example("embedded", buf, p, buf[p:eol], messages)
                continue
            # a separator; its header block ends at the first empty line
            if buf[eol - 1] == 13:
                scan.crlf = True
            hend = find(b"\n\n", eol)
            if scan.crlf:
                crlf_end = find(b"\n\r\n", eol, hend if hend >= 0 else n)
                if crlf_end >= 0:
                    hend = crlf_end
            if hend < 0:
                if not eof and n - p < MAX_HEADER_BYTES:
                    scan.messages, scan.first_date, scan.last_date = messages, first, last
                    self._drop(buf, i - 2)
                    return i - 2  # wait for the rest of the header block
                hend = n
            messages += 1
            if scan.first_separator_offset is None:
                scan.first_separator_offset = self.base + p
            groups = sep.groups()
            mon = groups[1]
            year = groups[6]
            # the Date: header
            date = None
            d = find(b"\nDate:", eol, hend)
            if d >= 0:
                vstart = d + 6
            else:
                any_case = _DATE_ANY_CASE.search(buf, eol, hend)
                vstart = any_case.end() if any_case is not None else -1
            if vstart >= 0:
                fm = fast_date(buf, vstart, hend)
                if fm is not None:
                    number = month_number.get(fm.group(2))
                    if number is not None:
                        dd, _mon, yy, hh, mi, ss, zone = fm.groups()
                        try:
                            date = (_dt.datetime(int(yy), number, int(dd), int(hh), int(mi),
                                                 int(ss or 0), tzinfo=UTC)
                                    - _fast_offset(zone, offsets))
                        except (ValueError, OverflowError):
                            date = None
                if date is None:
                    date = self._slow_date(buf, vstart, hend, p, messages)
            else:
                scan.missing_date_header += 1
                self._example("missing_date", buf, p, buf[p:eol], messages)
            implausible = False
            if date is not None and not earliest <= date <= now:
                implausible = True
                scan.implausible_dates += 1
                self._example("implausible", buf, p,
                              f"Date: {date.isoformat()} ({buf[p:eol].decode('ascii', 'replace')})",
                              messages)
                date = None
            if date is None:
                date = _separator_date(groups)
                if date is not None and not earliest <= date <= now:
                    if not implausible:
                        implausible = True
                        scan.implausible_dates += 1
                        self._example("implausible", buf, p, buf[p:eol], messages)
                    date = None
                if date is None and not implausible:
                    scan.undated += 1
                    self._example("undated", buf, p, buf[p:eol], messages)
            if date is not None:
                if first is None or date < first:
                    first = date
                if last is None or date > last:
                    last = date
            # the month: the separator's, when its year is plausible
            if not (b"1990" <= year <= now_year and mon in month_number):
                if date is None:
                    continue
                year, mon = b"%04d" % date.year, _MONTH_ABBR[date.month - 1]
            key = (year, mon)
            months[key] = months.get(key, 0) + 1
        scan.messages, scan.first_date, scan.last_date = messages, first, last
        if eof:
            return n
        if stop < start:  # no newline after start: keep the partial line
            keep = start - 2
            if n - keep > MAX_LINE_BYTES:
                keep = n - 2  # a line this long is binary data: drop it
        else:
            keep = stop - 2
            if n - stop > MAX_LINE_BYTES:
                if buf.startswith(b"From ", stop + 1):
                    scan.loose_from_lines += 1
                    self._example("loose", buf, stop + 1, buf[stop + 1:stop + 121], messages)
                keep = n - 2
        self._drop(buf, keep)
        return keep

    def _drop(self, buf: bytes, keep: int) -> None:
        """Account for ``buf[:keep]``, which the caller discards."""
        if self.line_numbers:
            self.lines_before += buf.count(b"\n", 0, keep)
        self.base += keep

    def _slow_date(self, buf: bytes, vstart: int, hend: int, p: int, post: int
                   ) -> _dt.datetime | None:
        value_match = _HEADER_VALUE.match(buf, vstart, hend)
        value = value_match.group(0) if value_match is not None else b""
        date, fuzzy = parse_date_value(value)
        if date is None:
            self.scan.bad_date_header += 1
            self._example("bad_date", buf, p, b"Date:" + value, post)
        elif fuzzy:
            self.scan.fuzzy_date_header += 1
        return date

    def finish(self) -> None:
        months: dict[str, int] = {}
        for (year, mon), count in self.months.items():
            key = f"{int(year):04d}-{_MONTH_NUMBER[mon]:02d}"
            months[key] = months.get(key, 0) + count
        self.scan.months = dict(sorted(months.items()))


_VIRTUAL_START = b"\n\n\n"  # the file's first line then follows an empty line


def scan_mbox(stream: BinaryIO, path: str, *, now: _dt.datetime,
              progress: Callable[[int], None] | None = None,
              chunk_size: int = CHUNK_SIZE, line_numbers: bool = False) -> MboxScan:
    """Count the posts of an mbox in one streaming pass (the rules are in the module docstring).

    ``stream`` is read in chunks of ``chunk_size`` bytes until it returns ``b""``;
    ``progress`` is called with the number of bytes read so far after each chunk. A read
    error ends the scan with ``read_error`` set (the counts cover what was read); bad content
    never raises. ``line_numbers`` adds exact line numbers to the examples, at the cost of a
    newline count over the whole file. ``path`` is only recorded.
    """
    scan = MboxScan(path, line_numbers=line_numbers)
    scanner = _Scanner(scan, now, line_numbers)
    digest = hashlib.sha256()
    buf = _VIRTUAL_START
    start = len(_VIRTUAL_START) - 1
    total = 0
    head = b""
    pending: Future[None] | None = None
    pool: ThreadPoolExecutor | None = None
    try:
        while True:
            try:
                data = stream.read(chunk_size)
            except (OSError, ValueError) as exc:
                scan.read_error = str(exc) or type(exc).__name__
                data = b""
            if pending is not None:
                pending.result()  # one chunk in flight: memory stays bounded
                pending = None
            if not data:
                break
            if len(data) >= _THREAD_HASH_MIN:
                if pool is None:
                    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mbox-sha256")
                pending = pool.submit(digest.update, data)
            else:
                digest.update(data)
            if len(head) < 1024:
                head += data[:1024 - len(head)]
            total += len(data)
            buf += data
            keep = scanner.feed(buf, start, eof=False)
            buf = buf[keep:]
            start = 2
            if progress is not None:
                progress(total)
        scanner.feed(buf, start, eof=True)
    finally:
        if pending is not None:
            pending.result()
        if pool is not None:
            pool.shutdown(wait=True)
    scanner.finish()
    scan.nul_in_head = b"\0" in head
    scan.bytes = total
    scan.sha256 = digest.hexdigest()
    return scan
