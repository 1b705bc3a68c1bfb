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
* Why not count what ``bin/arch`` would (every ``From `` line, as ``grep -c '^From '``): the
  HTML archive was not built that way. At delivery ``ArchRunner`` hands each post to
  pipermail as one message and appends it to the mbox, so the HTML has one article per post,
  which is what ``messages`` counts; only a rebuild re-splits the mbox, and findings give the
  number it would reach (``messages + embedded_separators + loose_from_lines``).

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

Where the pass runs: ``parsers/mboxscan.py`` holds it, in Python that the old host's own Python
(2.6+ or 3.x) runs too. ``inspect --root`` runs it here; ``inspect --host`` sends it to the old
host with the agent, which scans each mbox where it lies and sends back only its summary. Both
sides give the same summary; ``scan_from_summary`` turns it into ``MboxScan``.

Speed: the pass reads the bytes once, in chunks (partial lines and
unfinished header blocks are carried over), finds candidate lines with a compiled bytes
pattern on whole chunks and parses only each post's header block. A reader thread fills the
chunks and a hasher thread updates SHA-256 with each one (``readinto`` and ``hashlib`` release
the GIL) while this thread scans the one before, so a scan costs about the slowest of the three.
No post is ever held in memory.
Exact line numbers for findings cost a newline count over the whole file; they are on when
``line_numbers`` is set (``inspect_archive`` does so for mboxes up to 256 MiB), byte offsets
and post numbers are always given.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from migrate.core.model import (COUNTS, MONTHS, Archive, ArchiveMonth, ArchiveVolume, Finding,
                                Severity, Source)
from parsers import mboxscan
from parsers.base import NotFound, Tree, TreeError, file_mode

UTC = _dt.timezone.utc
#: Posts dated before this are implausible (mailing list archives start in the 1990s).
EARLIEST_PLAUSIBLE = mboxscan.EARLIEST_PLAUSIBLE.replace(tzinfo=UTC)
CHUNK_SIZE = mboxscan.CHUNK_SIZE
MAX_LINE_BYTES = mboxscan.MAX_LINE_BYTES
#: inspect_archive counts lines (for exact line numbers in findings) up to this mbox size.
LINE_NUMBER_LIMIT = 256 * 1024 * 1024
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
    days: dict[str, int] = field(default_factory=dict)  # "YYYY-MM-DD" -> posts (day may be 31 Feb)
    undated: int = 0
    implausible_dates: int = 0
    missing_date_header: int = 0
    bad_date_header: int = 0  # present, but neither parser found a date
    embedded_separators: int = 0  # full-pattern From lines not after an empty line
    loose_from_lines: int = 0  # other unescaped lines starting "From "
    crlf: bool = False  # separator lines end in CR LF
    nul_in_head: bool = False  # a NUL byte in the first KiB: binary data, not an mbox
    first_separator_offset: int | None = None  # > 0: bytes before the first post
    line_numbers: bool = False
    read_error: str | None = None  # the stream failed part-way; counts cover what was read
    examples: dict[str, list[MboxExample]] = field(default_factory=dict)
    # kinds: "embedded", "loose", "missing_date", "bad_date", "implausible", "undated"
    changed: dict | None = None  # the file changed while it was scanned (mboxscan.scan_open_file)


#: A Date: value's text that ``mboxscan.rfc_date`` could not read, as a naive UTC datetime
#: (``mboxscan.settle``'s resolver; its rule is in ``mboxscan.fuzzy_date``).
fuzzy_date = mboxscan.fuzzy_date


def parse_date_value(value: bytes) -> tuple[_dt.datetime | None, bool]:
    """A ``Date:`` value as a UTC datetime, and whether only the fuzzy parser understood it.

    First ``mboxscan.rfc_date`` (``email.utils.parsedate_to_datetime``'s reading: RFC 5322 and
    its obsolete forms, as mail software reads it), then ``fuzzy_date`` for malformed values.
    """
    text = mboxscan.date_text(value)
    parsed = mboxscan.rfc_date(text)
    if parsed is not None:
        return parsed.replace(tzinfo=UTC), False
    parsed = fuzzy_date(text)
    return (parsed.replace(tzinfo=UTC), True) if parsed is not None else (None, False)


def _naive_utc(now: _dt.datetime) -> _dt.datetime:
    return now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now


class SummaryError(ValueError):
    """A scan summary holding a value no scan gives (the old host's agent is not trusted)."""


#: The counts of a summary (each a ``model.Count``).
_SUMMARY_COUNTS = ("bytes", "messages", "undated", "implausible_dates", "missing_date_header",
                   "bad_date_header", "embedded_separators", "loose_from_lines")
_DAY = re.compile(r"(\d{4}-\d{2})-(\d{2})\Z")


def check_summary(summary: dict, now: _dt.datetime) -> None:
    """Refuse (``SummaryError``) a settled summary with a value out of range: its counts, days
    and dates become the archive's in the inventory and the report. The ranges are the
    model's (``COUNTS``, ``MONTHS``), narrowed to what a scan at ``now`` gives: days and dates
    from ``EARLIEST_PLAUSIBLE`` to ``now``, and no more dated posts than posts."""
    naive_now = _naive_utc(now)
    first_year, last_year = mboxscan.EARLIEST_PLAUSIBLE.year, naive_now.year
    problems: list[tuple[str, str | None]] = [
        (name, COUNTS.problem(summary[name])) for name in _SUMMARY_COUNTS]
    if summary["first_separator_offset"] is not None:
        problems.append(("first_separator_offset",
                         COUNTS.problem(summary["first_separator_offset"])))
    for day, count in summary["days"].items():
        m = _DAY.match(day)
        if m is None or MONTHS.problem(m.group(1)) or not 1 <= int(m.group(2)) <= 31 \
                or not first_year <= int(day[:4]) <= last_year:
            problems.append((f"days[{day!r}]", f"{day!r} is not a day from {first_year} to "
                             f"{last_year} (YYYY-MM-DD)"))
        problems.append((f"days[{day!r}]", COUNTS.problem(count)))
    if sum(summary["days"].values()) > summary["messages"]:
        problems.append(("days", f"more dated posts than the {summary['messages']} posts"))
    for name in ("first_date", "last_date"):
        try:
            date = mboxscan.from_iso(summary[name])
            good = date is None or mboxscan.EARLIEST_PLAUSIBLE <= date <= naive_now
        except (TypeError, ValueError):
            good = False
        if not good:
            problems.append((name, f"{summary[name]!r} is not a date from {first_year} to now"))
    for kind, items in summary["examples"].items():
        for offset, post, _text, line in items:
            if offset < 0 or post < 0 or (line is not None and line < 1):
                problems.append((f"examples[{kind!r}]",
                                 f"offset {offset}, post {post}, line {line}"))
    for what, problem in problems:
        if problem:
            raise SummaryError(f"{what}: {problem}")


def scan_from_summary(summary: dict, path: str, now: _dt.datetime) -> MboxScan:
    """``MboxScan`` from an ``mboxscan`` summary (made here or by the old host's agent), its
    deferred posts settled here with ``fuzzy_date``; one with a value out of range is refused
    (``check_summary``)."""
    mboxscan.settle(summary, fuzzy_date, _naive_utc(now))
    check_summary(summary, now)

    def when(text: str | None) -> _dt.datetime | None:
        value = mboxscan.from_iso(text)
        return value.replace(tzinfo=UTC) if value is not None else None
    months: dict[str, int] = {}
    for day, count in summary["days"].items():
        months[day[:7]] = months.get(day[:7], 0) + count
    examples = {kind: [MboxExample(int(o), int(p), str(t), None if ln is None else int(ln))
                       for o, p, t, ln in items]
                for kind, items in summary["examples"].items() if items}
    return MboxScan(
        path, bytes=summary["bytes"], sha256=summary["sha256"], messages=summary["messages"],
        first_date=when(summary["first_date"]), last_date=when(summary["last_date"]),
        months=dict(sorted(months.items())), days=dict(summary["days"]),
        undated=summary["undated"], implausible_dates=summary["implausible_dates"],
        missing_date_header=summary["missing_date_header"],
        bad_date_header=summary["bad_date_header"],
        embedded_separators=summary["embedded_separators"],
        loose_from_lines=summary["loose_from_lines"], crlf=bool(summary["crlf"]),
        nul_in_head=bool(summary["nul_in_head"]),
        first_separator_offset=summary["first_separator_offset"],
        line_numbers=bool(summary["line_numbers"]), read_error=summary["read_error"],
        examples=examples, changed=summary.get("changed"))


def scan_mbox(stream: BinaryIO, path: str, *, now: _dt.datetime,
              progress: Callable[[int], None] | None = None,
              chunk_size: int = CHUNK_SIZE, line_numbers: bool = False,
              size_hint: int | None = None) -> MboxScan:
    """Count the posts of an mbox in one streaming pass (the rules are in the module docstring;
    the pass is ``mboxscan.scan``, the one the old host's agent runs too).

    ``stream`` is read in chunks of ``chunk_size`` bytes until it is exhausted; ``progress``
    is called with the number of bytes read so far after each chunk. A read error ends the
    scan with ``read_error`` set (the counts cover what was read); bad content never raises.
    ``line_numbers`` adds exact line numbers to the examples, at the cost of a newline count
    over the whole file. ``size_hint`` (the file's size, if known) keeps the buffers small for
    small files. ``path`` is only recorded.
    """
    summary = mboxscan.scan(stream, _naive_utc(now), progress=progress, chunk_size=chunk_size,
                            line_numbers=line_numbers, size_hint=size_hint, resolve=fuzzy_date)
    return scan_from_summary(summary, path, now)


# --- the archive of one list ---------------------------------------------------------------------

#: archive_volume_frequency values (Mailman's Defaults.py) and how HyperArch names volumes.
FREQUENCIES = {0: "yearly", 1: "monthly", 2: "quarterly", 3: "weekly", 4: "daily"}
_VOLUME_PATTERNS = {
    0: re.compile(r"\d{4}\Z"),
    1: re.compile(r"\d{4}-(?:%s)\Z" % "|".join(MONTH_NAMES)),
    2: re.compile(r"\d{4}q[1-4]\Z"),
    3: re.compile(r"Week-of-Mon-\d{8}\Z"),
    4: re.compile(r"\d{8}\Z"),
}
_ARTICLE = re.compile(r"\d{6}\.html\Z")


def volume_name(day: _dt.date, frequency: int) -> str:
    """The pipermail volume a post of ``day`` goes to (HyperArch.dateToVolName, C locale)."""
    if frequency == 0:
        return f"{day.year:04d}"
    if frequency == 2:
        return f"{day.year:04d}q{(day.month - 1) // 3 + 1}"
    if frequency == 3:
        monday = day - _dt.timedelta(days=day.weekday())
        return f"Week-of-Mon-{monday:%Y%m%d}"
    if frequency == 4:
        return f"{day:%Y%m%d}"
    return f"{day.year:04d}-{MONTH_NAMES[day.month - 1]}"


def _volume_sort_key(name: str) -> tuple[str, int, int, str]:
    """Chronological order for volume names of any style: (year, month, day, name)."""
    m = re.match(r"(\d{4})-(\w+)\Z", name)
    if m and m.group(2) in MONTH_NAMES:
        return (m.group(1), MONTH_NAMES.index(m.group(2)) + 1, 0, name)
    m = re.match(r"(\d{4})q([1-4])\Z", name)
    if m:
        return (m.group(1), (int(m.group(2)) - 1) * 3 + 1, 0, name)
    digits = re.sub(r"\D", "", name)
    return (digits[:4], int(digits[4:6] or 0), int(digits[6:8] or 0), name)


@dataclass
class ArchiveResult:
    archive: Archive
    findings: list[Finding] = field(default_factory=list)
    scan: MboxScan | None = None


def archive_paths(var_prefix: str, list_name: str) -> tuple[str, str, str, str]:
    """The mbox, the HTML folder, the public link and the public mbox link of a list."""
    private = f"{var_prefix}/archives/private"
    public = f"{var_prefix}/archives/public"
    return (f"{private}/{list_name}.mbox/{list_name}.mbox", f"{private}/{list_name}",
            f"{public}/{list_name}", f"{public}/{list_name}.mbox")


def mbox_size(tree: Tree, var_prefix: str, list_name: str) -> int:
    """The mbox's size in bytes (0 if it is missing), for progress totals."""
    try:
        st = tree.stat(archive_paths(var_prefix, list_name)[0])
    except (TreeError, OSError):
        return 0
    return st.size if st.kind == "file" else 0


def inspect_archive(tree: Tree, var_prefix: str, list_name: str, *, archive_enabled: bool | None,
                    public: bool | None, volume_frequency: int | None, now: _dt.datetime,
                    users: dict[int, str] | None = None, groups: dict[int, str] | None = None,
                    progress: Callable[[int], None] | None = None) -> ArchiveResult:
    """Everything about one list's archive: the mbox scan, the HTML volumes, the public link.

    ``archive_enabled``, ``public`` and ``volume_frequency`` come from the list's config
    (None when unknown). Never raises on bad content; problems are findings.
    """
    users = users or {}
    groups = groups or {}
    mbox_path, html_dir, link, mbox_link = archive_paths(var_prefix, list_name)
    frequency = volume_frequency if volume_frequency in FREQUENCIES else 1
    archive = Archive(list_name, public=public, volume_frequency=volume_frequency,
                      source=Source(mbox_path))
    result = ArchiveResult(archive)

    def finding(fid: str, severity: Severity, message: str, hint: str, file: str,
                line: int | None = None) -> None:
        result.findings.append(Finding(fid, severity, message, hint, Source(file, line)))

    try:
        scan = _scan_archive_mbox(tree, mbox_path, list_name, archive_enabled, now, progress,
                                  finding)
    except SummaryError as exc:
        scan = None
        finding("input.unreadable", Severity.ERROR,
                f"cannot read {mbox_path}: its scan gave a value no scan gives ({exc})",
                "The old host's agent sent it: inspect again, and if it recurs, bring the "
                "mbox across (--fetch-archives) to scan it here.", mbox_path)
    result.scan = scan
    if scan is not None:
        _copy_scan(scan, archive)
        _scan_findings(scan, list_name, finding)
    for path in (f"{var_prefix}/archives/private/{list_name}.mbox", mbox_path, html_dir):
        fm = file_mode(tree, path, users, groups)
        if fm is not None:
            if scan is not None and path == mbox_path and scan.read_error is None \
                    and _held_still(scan):
                fm.size, fm.sha256 = scan.bytes, scan.sha256
            archive.files.append(fm)

    html_volumes = _html_volumes(tree, html_dir, list_name, archive, finding)
    _compare_volumes(scan, html_volumes, frequency, volume_frequency, list_name, html_dir,
                     archive, finding)
    _public_links(tree, link, mbox_link, html_dir, list_name, public, archive_enabled, archive,
                  users, groups, finding)
    return result


def _scan_archive_mbox(tree: Tree, mbox_path: str, list_name: str, archive_enabled: bool | None,
                       now: _dt.datetime, progress: Callable[[int], None] | None,
                       finding: Callable[..., None]) -> MboxScan | None:
    try:
        st = tree.stat(mbox_path)
    except NotFound:
        if archive_enabled:
            finding("archive.mbox-missing", Severity.WARNING,
                    f"list {list_name} archives posts, but its mbox {mbox_path} does not exist",
                    "Normal for a list that never had a post; otherwise the archive's source "
                    "is gone: copy the HTML as it is and do not run bin/arch --wipe on it "
                    "(a rebuild from an empty mbox deletes every page).", mbox_path)
        return None
    except (TreeError, OSError) as exc:
        _unreadable(mbox_path, exc, finding)
        return None
    if st.kind != "file":
        finding("archive.mbox-not-a-file", Severity.ERROR,
                f"the archive mbox {mbox_path} of list {list_name} is not a regular file",
                "Look at what is there on the old host; Mailman appends posts to this file.",
                mbox_path)
        return None
    line_numbers = st.size <= LINE_NUMBER_LIMIT
    scanned = getattr(tree, "scanned_mbox", None)
    if scanned is not None:  # the old host's agent scanned it where it lies
        summary = scanned(mbox_path, progress)
        if summary is not None and not summary.get("incomplete"):
            return scan_from_summary(summary, mbox_path, now)
    try:
        stream = tree.open(mbox_path)
    except (TreeError, OSError) as exc:
        _unreadable(mbox_path, exc, finding)
        return None
    local_path = getattr(tree, "local_path", None)
    try:
        stream.fileno()
        on_disk = local_path is not None
    except (AttributeError, OSError, ValueError):
        on_disk = False
    if on_disk:
        with stream:
            summary = mboxscan.scan_open_file(
                stream, _naive_utc(now), path=local_path(mbox_path), line_numbers=line_numbers,
                progress=None if progress is None else lambda done, _size: progress(done),
                resolve=fuzzy_date)
        return scan_from_summary(summary, mbox_path, now)
    # A stream (fetched from the old host), scanned as it comes; the agent says how the file
    # changed while it was sent, and one that changed in place is fetched again.
    opened = [stream]
    scans: list[MboxScan] = []

    def once() -> tuple[MboxScan, str | None, int, int]:
        with opened.pop() if opened else tree.open(mbox_path) as fetched:
            scan = scan_mbox(fetched, mbox_path, now=now, progress=progress,
                             line_numbers=line_numbers, size_hint=st.size)
        scans.append(scan)
        changed = getattr(fetched, "changed", None)
        if changed is None:
            return scan, None, scan.bytes, scan.bytes
        scan.changed = dict(changed, attempts=len(scans))  # if fetching it again fails
        return scan, changed["how"], changed["from"], changed["to"]
    try:
        scan, changed = mboxscan.until_still(once)
    except (TreeError, OSError) as exc:  # fetching it again failed: the last scan stands
        _unreadable(mbox_path, exc, finding)
        return scans[-1]
    scan.changed = changed
    return scan


def _unreadable(mbox_path: str, exc: Exception, finding: Callable[..., None]) -> None:
    finding("input.unreadable", Severity.ERROR, f"cannot read {mbox_path}: {exc}",
            "Inspect as a user that can read the archives (Mailman's group).", mbox_path)


_COPIED = ("bytes", "sha256", "messages", "first_date", "last_date", "undated",
           "implausible_dates", "missing_date_header", "bad_date_header", "embedded_separators",
           "loose_from_lines")


def _held_still(scan: MboxScan) -> bool:
    """False for a file that kept changing while it was scanned: its checksum is of no file."""
    return scan.changed is None or bool(scan.changed["stable"])


def _copy_scan(scan: MboxScan, archive: Archive) -> None:
    archive.mbox_path = scan.path
    for name in _COPIED:
        setattr(archive, name, getattr(scan, name))
    if not _held_still(scan):
        archive.sha256 = None
    archive.months = [ArchiveMonth(month, count) for month, count in scan.months.items()]


def _where(examples: list[MboxExample], limit: int = 3) -> str:
    parts = []
    for ex in examples[:limit]:
        at = f"line {ex.line}" if ex.line is not None else f"byte {ex.offset}"
        parts.append(f"{at} (post {ex.post}): {ex.text!r}")
    more = f" and {len(examples) - limit} more" if len(examples) > limit else ""
    return "; ".join(parts) + more


def _nth(n: int) -> str:
    return {1: "first", 2: "second", 3: "third"}.get(n, f"{n}th")


def _first_line(examples: list[MboxExample]) -> int | None:
    return examples[0].line if examples else None


def _scan_findings(scan: MboxScan, list_name: str, finding: Callable[..., None]) -> None:
    path = scan.path
    ex = scan.examples
    if scan.read_error is not None:
        finding("archive.mbox-read-error", Severity.ERROR,
                f"reading {path} failed after {scan.bytes} bytes: {scan.read_error}",
                "The counts cover only what was read. Check the disk and the file on the old "
                "host, then inspect again.", path)
    changed = scan.changed
    if changed is not None:
        if not changed["stable"]:
            finding("archive.mbox-changed", Severity.ERROR,
                    f"{path} changed while it was scanned ({changed['how']}: {changed['from']} "
                    f"then {changed['to']} bytes), {changed['attempts']} times in a row; its "
                    "counts are not to be trusted",
                    "Something rewrites the archive (bin/cleanarch, a restore, an editor): find "
                    "it, let it finish, and inspect again. Mailman itself only appends.", path)
        elif changed["how"] == "grew":
            finding("archive.mbox-changed", Severity.INFO,
                    f"{path} grew from {changed['from']} to {changed['to']} bytes while it was "
                    f"scanned (a post arrived); the counts and the checksum are those of its "
                    f"first {changed['from']} bytes",
                    "Nothing is lost: the archive sync copies the whole file, and the freeze "
                    "before the final sync stops new posts. Inspect again for exact figures.",
                    path)
        elif changed["how"] == "replaced":
            finding("archive.mbox-changed", Severity.WARNING,
                    f"{path} was replaced by another file while it was scanned; the counts are "
                    "those of the file that was there when the scan began",
                    "Something replaced the archive (bin/cleanarch into place, a restore): "
                    "inspect again when it is done.", path)
        else:
            finding("archive.mbox-changed", Severity.WARNING,
                    f"{path} changed in place while it was scanned ({changed['how']}); it was "
                    f"scanned again and held still the {_nth(changed['attempts'])} time, so "
                    "the counts are those of the file as it then was",
                    "Mailman only appends: something else rewrote the archive (bin/cleanarch, "
                    "an editor, a restore). Find out what, and inspect again when it is done.",
                    path)
    if scan.bytes == 0 and scan.read_error is None:
        finding("archive.mbox-empty", Severity.INFO,
                f"the archive mbox of list {list_name} is empty (0 bytes)",
                "Nothing to copy; if the HTML archive has posts, keep it and never rebuild it "
                "from this mbox.", path)
        return
    if scan.nul_in_head or (scan.messages == 0 and scan.bytes > 0):
        what = "binary data (a NUL byte in its first KiB)" if scan.nul_in_head else \
            "no post separator (a 'From sender date' line) at all"
        finding("archive.mbox-not-mbox", Severity.ERROR,
                f"{path} does not look like an mbox: {what}",
                "Find out what replaced the archive (a restore gone wrong, a disk error) and "
                "recover the mbox from a backup before the move; until then keep the HTML "
                "archive as it is.", path)
        if scan.messages == 0:
            return
    if scan.first_separator_offset:
        finding("archive.mbox-leading-data", Severity.WARNING,
                f"{path} has {scan.first_separator_offset} bytes before its first post",
                "Mailman's bin/arch would read them as a post of their own; look at the start "
                "of the file and remove what is not mail (keep a copy).", path, 1)
    if scan.embedded_separators:
        finding("archive.embedded-separator", Severity.WARNING,
                f"{scan.embedded_separators} line(s) inside posts of list {list_name} look "
                f"exactly like post separators: {_where(ex.get('embedded', []))}",
                "The HTML archive is right as it is, but Mailman's bin/arch splits at every "
                "line starting 'From ' and would cut these posts in two if the archive is ever "
                f"rebuilt (it would count "
                f"{scan.messages + scan.embedded_separators + scan.loose_from_lines} posts, not "
                f"{scan.messages}). Copy the HTML as it is; "
                f"before any rebuild run `bin/cleanarch < {list_name}.mbox > fixed.mbox` and "
                "check the result.", path, _first_line(ex.get("embedded", [])))
    if scan.loose_from_lines:
        finding("archive.unescaped-from", Severity.INFO,
                f"{scan.loose_from_lines} body line(s) in the archive of list {list_name} start "
                f"with an unescaped 'From ': {_where(ex.get('loose', []))}",
                "Not post separators (they do not carry a sender and date), but mbox readers "
                "that split at every 'From ' line (grep -c, Python's mailbox, a bin/arch "
                "rebuild) count them as posts; `bin/cleanarch` escapes them.", path,
                _first_line(ex.get("loose", [])))
    if scan.undated:
        finding("archive.undated-posts", Severity.WARNING,
                f"{scan.undated} post(s) in the archive of list {list_name} have no usable "
                f"date: {_where(ex.get('undated', []))}",
                "They are counted but belong to no month; a rebuild files them under the "
                "time of the rebuild.", path, _first_line(ex.get("undated", [])))
    if scan.implausible_dates:
        finding("archive.implausible-dates", Severity.INFO,
                f"{scan.implausible_dates} post(s) in the archive of list {list_name} carry "
                f"a date before 1990 or in the future: {_where(ex.get('implausible', []))}",
                "Counted and filed by their separator's date where that is plausible; nothing "
                "to do unless a rebuild is planned.", path, _first_line(ex.get("implausible", [])))
    if scan.missing_date_header or scan.bad_date_header:
        examples = ex.get("missing_date", []) + ex.get("bad_date", [])
        finding("archive.bad-date-headers", Severity.INFO,
                f"{scan.missing_date_header} post(s) without a Date: header and "
                f"{scan.bad_date_header} with one no parser understood in the archive of list "
                f"{list_name}: {_where(examples)}",
                "Their separator line's date was used instead, as Mailman itself does; "
                "nothing to do.", path, _first_line(examples))
    if scan.crlf:
        finding("archive.crlf", Severity.INFO,
                f"the archive mbox of list {list_name} has CR LF line ends",
                "Mailman writes LF; the file was probably edited or restored on another system. "
                "The counts are right; rsync copies it byte for byte.", path)


def _html_volumes(tree: Tree, html_dir: str, list_name: str, archive: Archive,
                  finding: Callable[..., None]) -> dict[str, ArchiveVolume]:
    """The volume folders and .txt/.txt.gz files of the HTML archive, with article counts."""
    volumes: dict[str, ArchiveVolume] = {}
    try:
        entries = tree.list_dir(html_dir)
    except NotFound:
        return volumes
    except (TreeError, OSError) as exc:
        finding("input.unreadable", Severity.ERROR, f"cannot list {html_dir}: {exc}",
                "Inspect as a user that can read the archives (Mailman's group).", html_dir)
        return volumes
    archive.html_dir = html_dir
    any_pattern = [p for p in _VOLUME_PATTERNS.values()]
    for entry in entries:
        base = entry[:-7] if entry.endswith(".txt.gz") else entry[:-4] if entry.endswith(".txt") \
            else entry
        if not any(p.match(base) for p in any_pattern):
            continue
        vol = volumes.get(base)
        if vol is None:
            vol = volumes[base] = ArchiveVolume(base, messages=0)
        if entry == base:
            path = f"{html_dir}/{entry}"
            if not tree.is_dir(path):
                continue
            vol.html = True
            try:
                vol.html_articles = sum(1 for n in tree.list_dir(path) if _ARTICLE.match(n))
            except (TreeError, OSError) as exc:
                finding("input.unreadable", Severity.ERROR, f"cannot list {path}: {exc}",
                        "Inspect as a user that can read the archives.", path)
        elif entry.endswith(".txt.gz"):
            vol.txt_gz = True
        else:
            vol.txt = True
    return volumes


def _compare_volumes(scan: MboxScan | None, html: dict[str, ArchiveVolume], frequency: int,
                     configured: int | None, list_name: str, html_dir: str, archive: Archive,
                     finding: Callable[..., None]) -> None:
    """Put mbox posts into volumes as pipermail would and compare them with the HTML."""
    pattern = _VOLUME_PATTERNS[frequency]
    foreign = sorted(n for n in html if not pattern.match(n))
    mbox_volumes: dict[str, int] = {}
    if scan is not None:
        for day, count in scan.days.items():
            try:
                date = _dt.date.fromisoformat(day)
            except ValueError:  # 31 Feb in a separator line: file it under its month
                y, m, _d = (int(x) for x in day.split("-"))
                date = _dt.date(y, m, 1)
            name = volume_name(date, frequency)
            mbox_volumes[name] = mbox_volumes.get(name, 0) + count
    volumes = dict(html)
    for name, count in mbox_volumes.items():
        vol = volumes.get(name)
        if vol is None:
            vol = volumes[name] = ArchiveVolume(name)
        vol.messages = count
    archive.volumes = sorted(volumes.values(), key=lambda v: _volume_sort_key(v.name))
    archive.html_articles = sum(v.html_articles for v in archive.volumes)
    if archive.html_dir is None:
        if scan is not None and scan.messages and configured is not None:
            finding("archive.html-missing", Severity.WARNING,
                    f"list {list_name} has {scan.messages} archived posts but no HTML archive "
                    f"({html_dir} does not exist)",
                    f"Build it on the new host after the copy: `bin/arch {list_name}`.",
                    html_dir)
        return
    if foreign:
        finding("archive.volume-style-changed", Severity.INFO,
                f"the HTML archive of list {list_name} has volumes named for another "
                f"frequency than its {FREQUENCIES[frequency]} setting: "
                f"{', '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''}",
                "archive_volume_frequency was changed once; posts before the change stay in "
                "the old volumes. Per-volume counts are compared for the current style only; "
                f"`bin/arch --wipe {list_name}` would regroup every post.", html_dir)
    if scan is None:
        return
    covered = [v for v in archive.volumes if pattern.match(v.name)]
    no_html = [v for v in covered if v.messages and not v.html]
    no_mbox = [v for v in covered if v.html and v.html_articles and not v.messages]
    differ = [v for v in covered if v.html and v.messages and v.html_articles != v.messages]
    if no_html:
        posts = sum(v.messages for v in no_html)
        finding("archive.html-volume-missing", Severity.WARNING,
                f"{len(no_html)} volume(s) of list {list_name} hold {posts} post(s) in the mbox "
                f"but have no HTML: {_names(no_html)}",
                f"Those posts are not on the web today. After the copy, rebuild the HTML on the "
                f"new host with `bin/arch --wipe {list_name}`; a rebuild renumbers the articles, "
                "so links to single posts change.", html_dir)
    if no_mbox:
        finding("archive.mbox-volume-missing", Severity.WARNING,
                f"{len(no_mbox)} HTML volume(s) of list {list_name} have articles but no post in "
                f"the mbox: {_names(no_mbox)}",
                "The mbox lost those posts (or they were filed by another date): copy the HTML "
                f"as it is and do not run `bin/arch --wipe {list_name}`, which would delete "
                "them; recover the posts into the mbox from a backup first.", html_dir)
    if differ:
        detail = ", ".join(f"{v.name} (mbox {v.messages}, HTML {v.html_articles})"
                           for v in differ[:5])
        finding("archive.volume-count-mismatch", Severity.INFO,
                f"{len(differ)} volume(s) of list {list_name} have a different number of posts "
                f"in the mbox and in the HTML: {detail}{' ...' if len(differ) > 5 else ''}",
                "Usually posts deleted from the HTML by hand, or dates near a month's end "
                "filed in the server's time zone; `bin/arch --wipe` after the copy makes the "
                "HTML match the mbox (and renumbers articles).", html_dir)


def _names(volumes: list[ArchiveVolume], limit: int = 6) -> str:
    names = [v.name for v in volumes]
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit
                                       else "")


def _public_links(tree: Tree, link: str, mbox_link: str, html_dir: str, list_name: str,
                  public: bool | None, archive_enabled: bool | None, archive: Archive,
                  users: dict[int, str], groups: dict[int, str],
                  finding: Callable[..., None]) -> None:
    target = None
    try:
        target = tree.readlink(link)
        exists = target is not None or tree.exists(link)
    except (TreeError, OSError):
        exists = False
    if target is not None:
        archive.public_link = link
        archive.public_link_target = target
        fm = file_mode(tree, link, users, groups)
        if fm is not None:
            archive.files.append(fm)
        try:
            points_home = tree.resolve(link) == tree.resolve(html_dir)
        except (TreeError, OSError):
            points_home = False
        if not points_home:
            finding("archive.public-link-dangling", Severity.WARNING,
                    f"the public archive link {link} points to {target}, not to the list's "
                    f"archive {html_dir}",
                    "The plan recreates the link on the new host pointing to the new prefix; "
                    "check why it points elsewhere here.", link)
        if public is False:
            finding("archive.public-link-on-private", Severity.WARNING,
                    f"list {list_name} has a private archive, but {link} makes it public",
                    "Mailman removes this link when an archive becomes private; it is not "
                    "copied (the plan recreates links from archive_private only).", link)
    elif exists:
        finding("archive.public-link-not-link", Severity.WARNING,
                f"{link} is not a symlink", "Mailman expects a symlink to the private archive "
                "here; the plan recreates it as one.", link)
    elif public and archive_enabled:
        finding("archive.public-link-missing", Severity.WARNING,
                f"list {list_name} has a public archive but no link {link}",
                "The archive is not reachable under /pipermail/ today; the plan creates the "
                "link on the new host, which publishes it (check that this is wanted).", link)
    try:
        mbox_target = tree.readlink(mbox_link)
    except (TreeError, OSError):
        mbox_target = None
    if mbox_target is not None:  # Mailman makes it when PUBLIC_MBOX is on (and the list public)
        archive.public_mbox_link_target = mbox_target
        fm = file_mode(tree, mbox_link, users, groups)
        if fm is not None:
            archive.files.append(fm)
