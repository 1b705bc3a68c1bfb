# -*- coding: utf-8 -*-
"""Counting an archive mbox in one streaming pass: the one scanner of local and remote inspection.

``migrate inspect --root`` imports this module; ``migrate inspect --host`` sends its source to
the old host with the read-only agent (``migrate/app/remote_agent.py``), which runs it there with
the host's own Python, so that only the summary crosses the link. Both sides therefore run the
same lines, and the module keeps to what every Python the old host may have can run: Python 2.6+
and 3.x, standard library only (``tests/test_remote.py`` checks it with vermin). Nothing here
imports from the project, and the module is plain ASCII.

What a scan gives is a *summary*: a dict of plain values (numbers, strings, lists), the same
as JSON on both sides. ``parsers/pipermail.py`` turns it into ``MboxScan``; its docstring has
the counting rules. Datetimes are naive and in UTC here.

Dates: a post's ``Date:`` value is read by ``rfc_date``, a port of CPython 3.11's
``email._parseaddr._parsedate_tz`` as ``email.utils.parsedate_to_datetime`` uses it (ported so
that every Python reads a date alike: the stdlib's parser changed between 2.6 and 3.11). A
value it does not understand is *deferred*: the post is recorded in ``summary["deferred"]``,
and ``settle`` finishes it later with a resolver (pipermail's fuzzy parser, python-dateutil,
which the old host does not have). Local scans defer and settle exactly as remote ones do.
Every count a deferred post touches is a sum, a minimum or a maximum, and examples are kept by
file offset, so settling later gives what settling at once would have.

A host rarely has more than a few such posts; past ``MAX_DEFERRED`` the scan marks its summary
``incomplete`` (the caller then fetches the file and scans it where the resolver is) or, given a
resolver, settles the batch at once.

Speed: three threads pass buffers down a chain (a reader, a SHA-256 hasher, the scanner); the
reader's ``readinto`` and ``hashlib`` release the GIL, so a scan costs about its slowest stage.
Memory is flat: four buffers of ``CHUNK_SIZE`` reused for the whole file.
"""

import datetime
import hashlib
import os
import re
import stat
import sys
import threading

try:
    import queue as _queue  # novermin (Python 3)
except ImportError:  # Python 2
    import Queue as _queue  # novermin

try:
    _memoryview = memoryview  # novermin (Python 2.7+)
except NameError:  # Python 2.6
    _memoryview = None

CHUNK_SIZE = 8 * 1024 * 1024
#: A header block longer than this is cut there (its Date: is looked for in what was read).
MAX_HEADER_BYTES = 1024 * 1024
#: A line longer than this (binary data) is not carried over whole between chunks.
MAX_LINE_BYTES = 1024 * 1024
#: How many examples of each kind of problem a scan keeps (offsets, lines, excerpts).
MAX_EXAMPLES = 20
#: How many posts with a Date: only the fuzzy parser may read a scan records for ``settle``.
MAX_DEFERRED = 5000
#: How often a file that changed in place while it was scanned is scanned again.
ATTEMPTS = 3
#: Posts dated before this are implausible (mailing list archives start in the 1990s).
EARLIEST_PLAUSIBLE = datetime.datetime(1990, 1, 1)

# Python 2's mailbox.UnixMailbox._fromlinepattern, with groups around the date fields:
# 1 weekday, 2 month, 3 day, 4 hour, 5 minute, 6 second, 7 year. Matched against one line
# (pos/endpos), so \s never meets a newline.
SEPARATOR = re.compile(
    br"From \s*[^\s]+\s+(\w\w\w)\s+(\w\w\w)\s+(\d?\d)\s+(\d?\d):(\d\d)(?::(\d\d))?"
    br"(?:\s+[^\s]+)?\s+(\d\d\d\d)\s*[^\s]*\s*$")
_CANDIDATE = re.compile(b"\nFrom ")
# The end of a header block; a regex search finds it about twice as fast as bytes.find.
_HEADER_END = re.compile(b"\n\n")
_DATE_OR_END = re.compile(b"\n(?:\n|Date:)")
_DATE_ANY_CASE = re.compile(b"\n[Dd][Aa][Tt][Ee][ \t]*:")
_HEADER_VALUE = re.compile(b"[^\n]*(?:\n[ \t][^\n]*)*")
# The common RFC 5322 form, read without the general parser: the same result as rfc_date for
# every value it matches.
_FAST_DATE = re.compile(
    br"[ \t]*(?:[A-Za-z]{3},?[ \t]*)?(\d{1,2})[ \t]+([A-Za-z]{3})[ \t]+(\d{4})[ \t]+"
    br"(\d{1,2}):(\d\d)(?::(\d\d))?[ \t]+([+-]\d{4})(?![0-9])")
MONTH_ABBR = (b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun",
              b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec")
MONTH_NUMBER = dict((m, i + 1) for i, m in enumerate(MONTH_ABBR))
_MONTH_ANY_CASE = dict(MONTH_NUMBER)
for _m, _i in list(MONTH_NUMBER.items()):
    _MONTH_ANY_CASE[_m.lower()] = _i
    _MONTH_ANY_CASE[_m.upper()] = _i
_VIRTUAL_START = b"\n\n\n"  # the file's first line then follows an empty line
_BUFFERS = 4  # one being read, one being hashed, one being scanned, one ready
_SWITCH_INTERVAL = 0.0002  # seconds; measured: 8 MiB chunks, 5 ms 0.80 s, 1 ms 0.50, 0.2 ms 0.45 per 500 MB
# Python 2's re gives bytearray groups for a bytearray (unhashable): they are made bytes there.
_GROUPS_ARE_BYTES = isinstance(re.match(b"a", bytearray(b"a")).group(0), bytes)

# Example kinds: "embedded", "loose", "missing_date", "bad_date", "implausible", "undated";
# an example is [offset, post, text, line]: the byte offset of the line, the 1-based post it
# is in (0: before the first separator), the line shortened, its 1-based line number or None.


# --- dates -------------------------------------------------------------------------------------

_MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                "dec", "january", "february", "march", "april", "may", "june", "july",
                "august", "september", "october", "november", "december"]
_DAY_NAMES = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_ZONES = {"UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "AST": -400, "ADT": -300, "EST": -500,
          "EDT": -400, "CST": -600, "CDT": -500, "MST": -700, "MDT": -600, "PST": -800,
          "PDT": -700}
_INT = re.compile(r"[+-]?[0-9]+(?:_[0-9]+)*\Z")


def _int(text):
    """int() as Python 3.11 reads an ASCII word (digits, a sign, single underscores)."""
    if _INT.match(text) is None:
        raise ValueError(text)
    return int(text.replace("_", ""))


def _parsedate_tz(data):
    """CPython 3.11's email._parseaddr._parsedate_tz (PSF licence), with int() made alike on
    every Python: [year, month, day, hour, minute, second, 0, 1, -1, offset seconds or None]."""
    if not data:
        return None
    data = data.split()
    if not data:
        return None
    if data[0].endswith(",") or data[0].lower() in _DAY_NAMES:
        del data[0]
    else:
        i = data[0].rfind(",")
        if i >= 0:
            data[0] = data[0][i + 1:]
    if len(data) == 3:  # RFC 850 date, deprecated
        stuff = data[0].split("-")
        if len(stuff) == 3:
            data = stuff + data[1:]
    if len(data) == 4:
        s = data[3]
        i = s.find("+")
        if i == -1:
            i = s.find("-")
        if i > 0:
            data[3:] = [s[:i], s[i:]]
        else:
            data.append("")  # dummy zone
    if len(data) < 5:
        return None
    dd, mm, yy, tm, tz = data[:5]
    if not (dd and mm and yy):
        return None
    mm = mm.lower()
    if mm not in _MONTH_NAMES:
        dd, mm = mm, dd.lower()
        if mm not in _MONTH_NAMES:
            return None
    mm = _MONTH_NAMES.index(mm) + 1
    if mm > 12:
        mm -= 12
    if dd[-1] == ",":
        dd = dd[:-1]
    i = yy.find(":")
    if i > 0:
        yy, tm = tm, yy
    if yy[-1] == ",":
        yy = yy[:-1]
        if not yy:
            return None
    if not yy[0].isdigit():
        yy, tz = tz, yy
    if tm[-1] == ",":
        tm = tm[:-1]
    tm = tm.split(":")
    if len(tm) == 2:
        thh, tmm = tm
        tss = "0"
    elif len(tm) == 3:
        thh, tmm, tss = tm
    elif len(tm) == 1 and "." in tm[0]:
        tm = tm[0].split(".")
        if len(tm) == 2:
            thh, tmm = tm
            tss = "0"
        elif len(tm) == 3:
            thh, tmm, tss = tm
        else:
            return None
    else:
        return None
    try:
        yy = _int(yy)
        dd = _int(dd)
        thh = _int(thh)
        tmm = _int(tmm)
        tss = _int(tss)
    except ValueError:
        return None
    if yy < 100:
        if yy > 68:
            yy += 1900
        else:
            yy += 2000
    tzoffset = None
    tz = tz.upper()
    if tz in _ZONES:
        tzoffset = _ZONES[tz]
    else:
        try:
            tzoffset = _int(tz)
        except ValueError:
            pass
        if tzoffset == 0 and tz.startswith("-"):
            tzoffset = None
    if tzoffset:
        if tzoffset < 0:
            tzsign = -1
            tzoffset = -tzoffset
        else:
            tzsign = 1
        tzoffset = tzsign * ((tzoffset // 100) * 3600 + (tzoffset % 100) * 60)
    return [yy, mm, dd, thh, tmm, tss, 0, 1, -1, tzoffset]


def date_text(value):
    """A Date: value (bytes) as the text the parsers read: ASCII with replacement, whitespace
    runs made one space, at most 200 characters."""
    return " ".join(bytes(value).decode("ascii", "replace").split())[:200]


def rfc_date(text):
    """A Date: value's text as a naive UTC datetime, as ``email.utils.parsedate_to_datetime``
    (Python 3.11) reads it, then converted to UTC; None where it fails (no zone: UTC)."""
    parsed = _parsedate_tz(text)
    if parsed is None:
        return None
    offset = parsed[9]
    if offset is not None and not -86400 < offset < 86400:
        return None  # datetime.timezone refuses it
    try:
        value = datetime.datetime(*parsed[:6])
        if offset:
            value -= datetime.timedelta(seconds=offset)
    except (ValueError, OverflowError, TypeError):
        return None
    return value


_FUZZY_DEFAULTS = (datetime.datetime(1904, 1, 1), datetime.datetime(1905, 2, 2))


def fuzzy_date(text):
    """A Date: value's text that ``rfc_date`` could not read, as a naive UTC datetime:
    ``dateutil.parser.parse(fuzzy=True)``, which counts only if the value itself gave a year,
    month and day (``GMT+00:00`` gives none: dateutil would fill them in from its default). A
    value without a zone is UTC. This is ``settle``'s resolver where python-dateutil is (the
    inspection's side, and the new host's archive preparation); None where it is not."""
    if not text:
        return None
    try:
        from dateutil import parser as dateparser
    except ImportError:
        return None
    import warnings
    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # UnknownTimezoneWarning: the zone is then UTC
        for default in _FUZZY_DEFAULTS:
            try:
                results.append(dateparser.parse(text, fuzzy=True, default=default))
            except (ValueError, OverflowError, TypeError, AttributeError):
                return None
    if results[0].date() != results[1].date():
        return None  # the day, month or year came from the default
    value = results[0]
    try:
        offset = value.utcoffset()
        return value.replace(tzinfo=None) - offset if offset is not None else \
            value.replace(tzinfo=None)
    except (ValueError, OverflowError):
        return None


def header_date(head, resolve=None):
    """A post's date as a scan reads it, from its header block ``head`` (bytes, from the end of
    its separator line, ``\\n`` included, to its empty line): the first ``Date:`` (else a
    ``date:`` in any case), folded lines joined, read by ``rfc_date``, else by ``resolve``
    (``fuzzy_date``); naive UTC, or None. The scan itself reads the common form faster, with
    the same result."""
    d = head.find(b"\nDate:")
    if d >= 0:
        start = d + 6
    else:
        any_case = _DATE_ANY_CASE.search(head)
        if any_case is None:
            return None
        start = any_case.end()
    value = _HEADER_VALUE.match(head, start).group(0)
    text = date_text(value)
    date = rfc_date(text)
    if date is None and resolve is not None:
        date = resolve(text)
    return date


def separator_date(separator):
    """The date of a separator line (bytes, a ``SEPARATOR`` match), naive UTC, or None."""
    match = SEPARATOR.match(separator)
    if match is None:
        return None
    groups = match.groups()
    return _separator_date(groups if _GROUPS_ARE_BYTES else _as_bytes(groups))


def post_day(separator, date, now):
    """The day ("YYYY-MM-DD") a scan files a post under, or None where it counts the post as
    undated: ``separator`` is the post's separator line (bytes, a ``SEPARATOR`` match),
    ``date`` its ``header_date`` (naive UTC, or None) and ``now`` the scan's time (naive UTC).

    The rule, which ``_Scanner.feed`` and ``_State.conclude`` follow inline: the separator's
    own day where its year is from 1990 to now's and its month is spelled as ctime spells it;
    else the post's date where plausible; else the separator's date where that is plausible."""
    match = SEPARATOR.match(separator)
    if match is None:
        raise ValueError("not a separator line")
    groups = match.groups()
    if not _GROUPS_ARE_BYTES:
        groups = _as_bytes(groups)
    year, mon = bytes(groups[6]), bytes(groups[1])
    if ("%04d" % now.year).encode("ascii") >= year >= b"1990" and mon in MONTH_NUMBER:
        return _day_key(int(year), MONTH_NUMBER[mon], int(groups[2]))
    if date is None or not EARLIEST_PLAUSIBLE <= date <= now:
        date = _separator_date(groups)
        if date is None or not EARLIEST_PLAUSIBLE <= date <= now:
            return None
    return _day_key(date.year, date.month, date.day)


def iso(value):
    """A naive UTC datetime as the summary carries it."""
    return None if value is None else value.isoformat()


def from_iso(text):
    """The inverse of ``iso``."""
    if text is None:
        return None
    main, _dot, frac = text.partition(".")
    value = datetime.datetime.strptime(main, "%Y-%m-%dT%H:%M:%S")
    return value.replace(microsecond=int(frac)) if frac else value


def _separator_date(groups):
    """The ctime date of a separator line's match groups (weekday ignored), naive UTC."""
    number = _MONTH_ANY_CASE.get(bytes(groups[1]))
    if number is None:
        return None
    try:
        return datetime.datetime(int(groups[6]), number, int(groups[2]), int(groups[3]),
                                 int(groups[4]), int(groups[5] or 0))
    except ValueError:
        return None


def _clean(raw):
    """A line (bytes) as an example shows it."""
    return " ".join(bytes(raw[:200]).decode("ascii", "replace").split())[:120]


def _day_key(year, month, day):
    return "%04d-%02d-%02d" % (year, month, day)


# --- the summary ---------------------------------------------------------------------------------


def new_summary(line_numbers=False):
    return {"bytes": 0, "sha256": None, "messages": 0, "first_date": None, "last_date": None,
            "days": {}, "undated": 0, "implausible_dates": 0, "missing_date_header": 0,
            "bad_date_header": 0, "embedded_separators": 0, "loose_from_lines": 0,
            "crlf": False, "nul_in_head": False, "first_separator_offset": None,
            "line_numbers": line_numbers, "read_error": None, "examples": {}, "deferred": [],
            "incomplete": None, "changed": None}


class _State(object):
    """The counts a post's date decides, kept while a scan runs or while ``settle`` works."""

    def __init__(self, summary, now):
        self.summary = summary
        self.now = now
        self.first = from_iso(summary["first_date"])
        self.last = from_iso(summary["last_date"])
        self.days = summary["days"]
        self.capped = True  # keep the first MAX_EXAMPLES of a kind (False: keep all, sort later)

    def example(self, kind, offset, post, text, line):
        examples = self.summary["examples"].setdefault(kind, [])
        if not self.capped or len(examples) < MAX_EXAMPLES:
            examples.append([offset, post, text, line])

    def conclude(self, post, offset, line, sep_text, sep_raw, sep_date, sep_key, date):
        """The rest of a post once its header's date is known (None: none or unreadable).

        ``sep_text`` is the separator line as examples show it, ``sep_raw`` the same line with
        its whitespace runs made one space, ``sep_date`` its date (or None) and ``sep_key``
        its day ("YYYY-MM-DD") when its year is plausible and its month spelled as ctime does.
        """
        summary = self.summary
        now = self.now
        implausible = False
        if date is not None and not EARLIEST_PLAUSIBLE <= date <= now:
            implausible = True
            summary["implausible_dates"] += 1
            text = " ".join(("Date: %s+00:00 (%s)" % (date.isoformat(), sep_raw)).split())
            self.example("implausible", offset, post, text[:120], line)
            date = None
        if date is None:
            date = sep_date
            if date is not None and not EARLIEST_PLAUSIBLE <= date <= now:
                if not implausible:
                    implausible = True
                    summary["implausible_dates"] += 1
                    self.example("implausible", offset, post, sep_text, line)
                date = None
            if date is None and not implausible:
                summary["undated"] += 1
                self.example("undated", offset, post, sep_text, line)
        if date is not None:
            if self.first is None or date < self.first:
                self.first = date
            if self.last is None or date > self.last:
                self.last = date
        if sep_key is None:
            if date is None:
                return
            sep_key = _day_key(date.year, date.month, date.day)
        self.days[sep_key] = self.days.get(sep_key, 0) + 1

    def store(self):
        self.summary["first_date"] = iso(self.first)
        self.summary["last_date"] = iso(self.last)


def _sort_in_place(mapping):
    items = sorted(mapping.items())
    mapping.clear()
    mapping.update(items)


def settle(summary, resolve, now, state=None):
    """Finish the deferred posts of ``summary`` with ``resolve(text) -> datetime or None`` (a
    naive UTC datetime for a Date: value's text), in place; ``now`` is the scan's. A value
    ``resolve`` cannot read counts as a bad Date: header, and the post then takes its
    separator's date, as in the scan itself. Returns ``summary``."""
    deferred = summary["deferred"]
    if not deferred:
        return summary
    if state is None:
        state = _State(summary, now)
    state.capped = False
    try:
        for post, offset, line, value, bad_text, sep_text, sep_raw, sep_date, sep_key \
                in deferred:
            date = resolve(value)
            if date is None:
                summary["bad_date_header"] += 1
                state.example("bad_date", offset, post, bad_text, line)
            state.conclude(post, offset, line, sep_text, sep_raw, from_iso(sep_date), sep_key,
                           date)
    finally:
        state.capped = True
    state.store()
    summary["deferred"] = []
    for examples in summary["examples"].values():
        examples.sort(key=lambda ex: ex[0])
        del examples[MAX_EXAMPLES:]
    _sort_in_place(summary["days"])
    return summary


# --- scanning --------------------------------------------------------------------------------------


class _Scanner(object):
    """The state of one pass. ``feed`` takes buffers that start with two context bytes."""

    def __init__(self, summary, now, resolve=None):
        self.summary = summary
        self.state = _State(summary, now)
        self.now = now
        self.now_year = ("%04d" % now.year).encode("ascii")
        self.resolve = resolve
        self.line_numbers = summary["line_numbers"]
        self.days = {}  # (year, month, day) of separators, as bytes -> posts
        self.offsets = {}
        # buf[lo] is at file offset ``pos_lo``; ``lines_lo`` newlines of the file precede it.
        # Both start at -3: the first buffer begins with three virtual newlines.
        self.lo = 0
        self.pos_lo = -len(_VIRTUAL_START)
        self.lines_lo = -len(_VIRTUAL_START)
        self._lc_pos = 0
        self._lc_line = 0

    def _line_of(self, buf, pos):
        if not self.line_numbers:
            return None
        self._lc_line += buf.count(b"\n", self._lc_pos, pos)
        self._lc_pos = pos
        return self.lines_lo + self._lc_line + 1

    def _example(self, kind, buf, pos, raw, post):
        """An example of the line at ``buf[pos]`` (``raw`` its text), while there is room."""
        if len(self.summary["examples"].get(kind, ())) < MAX_EXAMPLES:
            self.state.example(kind, self.pos_lo + pos - self.lo, post, _clean(raw),
                               self._line_of(buf, pos))

    def feed(self, buf, lo, start, n, eof):
        """Scan the lines of ``buf[lo:n]`` after index ``start``; return the index to keep from.

        ``buf[lo]`` is the byte after what the previous call dropped. ``buf[start - 2:start]``
        is context (so an empty line before the next line can be seen) and ``buf[start]`` is
        normally the newline before the first line not yet looked at. The caller keeps
        ``buf[keep:n]`` and calls again with that carry-over at the new ``lo`` followed by the
        next chunk, and ``start = lo + 2``: what is kept is an incomplete last line, or a post
        whose header block has not ended yet (up to ``MAX_HEADER_BYTES``).
        """
        summary = self.summary
        state = self.state
        self.lo = lo
        self._lc_pos = lo
        self._lc_line = 0
        stop = n if eof else buf.rfind(b"\n", start, n)
        find = buf.find
        match_separator = SEPARATOR.match
        fast_date = _FAST_DATE.match
        header_end = _HEADER_END.search
        date_or_end = _DATE_OR_END.search
        month_number = MONTH_NUMBER
        days = self.days
        str_days = state.days
        offsets = self.offsets
        now = self.now
        now_year = self.now_year
        earliest = EARLIEST_PLAUSIBLE
        first = state.first
        last = state.last
        messages = summary["messages"]
        crlf = summary["crlf"]
        first_offset = summary["first_separator_offset"]
        groups_are_bytes = _GROUPS_ARE_BYTES
        new_date = datetime.datetime
        for cand in _CANDIDATE.finditer(buf, start, stop):
            i = cand.start()
            p = i + 1
            eol = find(b"\n", p, n)
            if eol < 0:
                eol = n
            sep = match_separator(buf, p, eol)
            if sep is None:
                summary["loose_from_lines"] += 1
                self._example("loose", buf, p, buf[p:eol], messages)
                continue
            prev = buf[i - 1]
            if not (prev == 10 or (prev == 13 and buf[i - 2] == 10)):
                summary["embedded_separators"] += 1
                self._example("embedded", buf, p, buf[p:eol], messages)
                continue
            # a separator; its header block ends at the first empty line
            if buf[eol - 1] == 13:
                summary["crlf"] = crlf = True
            d = -1
            date = None
            if crlf:
                hm = header_end(buf, eol, n)
                hend = hm.start() if hm is not None else -1
                crlf_end = find(b"\n\r\n", eol, hend if hend >= 0 else n)
                if crlf_end >= 0:
                    hend = crlf_end
                if hend >= 0:
                    d = find(b"\nDate:", eol, hend)
            else:
                # one search finds the exact Date: line or the header's end, whichever is first
                hm = date_or_end(buf, eol, n)
                if hm is not None and hm.end() - hm.start() > 2:
                    d = hm.start()
                    # a whole Date: line in the common form needs no more of the header (the
                    # pattern never crosses a line end; a byte must follow it, for its
                    # look-ahead): about 5 % of the scan's time on a realistic archive
                    fm = fast_date(buf, d + 6, n)
                    if fm is not None and fm.end() < n:
                        date = _fast_value(fm, groups_are_bytes, offsets, new_date)
                    if date is None:
                        hm = header_end(buf, d + 6, n)
                    else:
                        hm = fm
                hend = hm.start() if hm is not None else -1
            if hend < 0:
                if not eof and n - p < MAX_HEADER_BYTES:
                    summary["messages"] = messages
                    state.first, state.last = first, last
                    self._drop(buf, i - 2)
                    return i - 2  # wait for the rest of the header block
                hend = n
                if d < 0:
                    d = find(b"\nDate:", eol, hend)
            messages += 1
            if first_offset is None:
                summary["first_separator_offset"] = first_offset = self.pos_lo + p - lo
            groups = sep.groups()
            if not groups_are_bytes:
                groups = _as_bytes(groups)
            mon = groups[1]
            year = groups[6]
            # the Date: header, unless its line was read above
            value = None  # a value only the fuzzy parser may read
            missing = False
            if date is None:
                if d >= 0:
                    vstart = d + 6
                else:
                    any_case = _DATE_ANY_CASE.search(buf, eol, hend)
                    vstart = any_case.end() if any_case is not None else -1
                if vstart < 0:
                    missing = True
                else:
                    fm = fast_date(buf, vstart, hend)
                    if fm is not None:
                        date = _fast_value(fm, groups_are_bytes, offsets, new_date)
                    if date is None:
                        value_match = _HEADER_VALUE.match(buf, vstart, hend)
                        value = value_match.group(0) if value_match is not None else b""
                        date = rfc_date(date_text(value))
                        if date is not None:
                            value = None
            plausible_sep = now_year >= year >= b"1990" and mon in month_number
            if date is not None and earliest <= date <= now:
                if first is None or date < first:
                    first = date
                if last is None or date > last:
                    last = date
                if plausible_sep:
                    key = (year, mon, groups[2])
                    days[key] = days.get(key, 0) + 1
                else:
                    key = _day_key(date.year, date.month, date.day)
                    str_days[key] = str_days.get(key, 0) + 1
                continue
            # the rare rest: no date, an implausible one, or one only the fuzzy parser may read
            summary["messages"] = messages
            state.first, state.last = first, last
            self._rest(buf, p, eol, groups, plausible_sep, messages, date, value, missing)
            first, last = state.first, state.last
        summary["messages"] = messages
        state.first, state.last = first, last
        if eof:
            return n
        if stop < start:  # no newline after start: keep the partial line
            keep = start - 2
            if n - keep > MAX_LINE_BYTES:
                keep = n - 2  # a line this long is binary data: drop it
        else:
            keep = stop - 2
            if n - stop > MAX_LINE_BYTES:
                if buf.startswith(b"From ", stop + 1, n):
                    summary["loose_from_lines"] += 1
                    self._example("loose", buf, stop + 1, buf[stop + 1:stop + 121], messages)
                keep = n - 2
        self._drop(buf, keep)
        return keep

    def _rest(self, buf, p, eol, groups, plausible_sep, post, date, value, missing):
        summary = self.summary
        offset = self.pos_lo + p - self.lo
        line = self._line_of(buf, p)
        sep_line = buf[p:eol]
        sep_text = _clean(sep_line)
        raw = bytes(sep_line[:400]).decode("ascii", "replace")
        sep_raw = " ".join(raw.split())[:130] + (" " if raw[-1:].isspace() else "")
        sep_date = _separator_date(groups)
        sep_key = None
        if plausible_sep:
            sep_key = _day_key(int(groups[6]), MONTH_NUMBER[bytes(groups[1])], int(groups[2]))
        if missing:
            summary["missing_date_header"] += 1
            self.state.example("missing_date", offset, post, sep_text, line)
        if value is not None:
            if summary["incomplete"] is not None:
                return  # the caller scans this file again where the resolver is
            deferred = summary["deferred"]
            deferred.append([post, offset, line, date_text(value), _clean(b"Date:" + value),
                             sep_text, sep_raw, iso(sep_date), sep_key])
            if len(deferred) >= MAX_DEFERRED:
                if self.resolve is not None:
                    settle(summary, self.resolve, self.now, self.state)
                else:
                    summary["incomplete"] = (
                        "more than %d posts have a Date: only the fuzzy parser may read"
                        % MAX_DEFERRED)
                    summary["deferred"] = []
            return
        self.state.conclude(post, offset, line, sep_text, sep_raw, sep_date, sep_key, date)

    def _drop(self, buf, keep):
        """Account for ``buf[lo:keep]``, which the caller discards."""
        if self.line_numbers:
            self.lines_lo += buf.count(b"\n", self.lo, keep)
        self.pos_lo += keep - self.lo

    def finish(self):
        days = self.state.days
        for (year, mon, day), count in self.days.items():
            key = _day_key(int(year), MONTH_NUMBER[bytes(mon)], int(day))
            days[key] = days.get(key, 0) + count
        _sort_in_place(days)
        self.state.store()


def _fast_value(fm, groups_are_bytes, offsets, new_date):
    """The date of a ``_FAST_DATE`` match, naive UTC; None for a month or day that is no date."""
    fields = fm.groups()
    if not groups_are_bytes:
        fields = _as_bytes(fields)
    dd, fmon, yy, hh, mi, ss, zone = fields
    number = MONTH_NUMBER.get(fmon)
    if number is None:
        return None
    off = offsets.get(zone)
    if off is None:
        off = _fast_offset(zone, offsets)
    try:
        return new_date(int(yy), number, int(dd), int(hh), int(mi), int(ss or 0)) - off
    except (ValueError, OverflowError):
        return None


def _as_bytes(groups):
    return tuple(None if g is None else bytes(g) for g in groups)


def _fast_offset(zone, cache):
    zone = bytes(zone)
    minutes = int(zone[1:3]) * 60 + int(zone[3:5])
    off = cache[zone] = datetime.timedelta(minutes=-minutes if zone[:1] == b"-" else minutes)
    return off


def scan(stream, now, progress=None, chunk_size=CHUNK_SIZE, line_numbers=False,
         size_hint=None, limit=None, resolve=None):
    """Count the posts of an mbox in one streaming pass; return the summary.

    ``stream`` is read in chunks of ``chunk_size`` bytes until it is exhausted, or until
    ``limit`` bytes; ``progress`` is called with the number of bytes read so far after each
    chunk. A read error ends the scan with ``read_error`` set (the counts cover what was read);
    bad content never raises. ``now`` is a naive UTC datetime. ``line_numbers`` adds exact line
    numbers to the examples, at the cost of a newline count over the whole file. ``size_hint``
    (the file's size, if known) keeps the buffers small for small files. ``resolve``: settle
    deferred posts in batches when there are too many (see the module's docstring), instead
    of marking the summary incomplete.

    Work runs in three stages, one thread each, passing buffers down a chain: a reader fills
    a free buffer, a hasher updates SHA-256 with it and this thread scans it and gives it back
    to the reader. Each buffer is in one stage at a time, and the stages work on different
    buffers at once. An error in the hasher is raised here once both helpers have ended.
    """
    summary = new_summary(line_numbers)
    scanner = _Scanner(summary, now, resolve)
    digest = hashlib.sha256()
    slack = max(MAX_HEADER_BYTES, MAX_LINE_BYTES) + 16  # the carry-over always fits
    if size_hint is not None:  # a small file needs no big buffers (allocating is not free)
        chunk_size = min(chunk_size, max(64 * 1024, size_hint + 1))
    chain = _Chain(stream, summary, digest, slack, chunk_size, limit)
    # The helpers need the GIL briefly after every read and every hash; at the default
    # switch interval (5 ms) they would wait for it most of the time. It is put back after.
    get_interval = getattr(sys, "getswitchinterval", None)
    set_interval = getattr(sys, "setswitchinterval", None)
    interval = get_interval() if get_interval is not None else None
    if interval is not None:
        set_interval(min(interval, _SWITCH_INTERVAL))
    carry = _VIRTUAL_START
    total = 0
    head = b""
    try:
        chain.start()
        while True:
            item = chain.scanned.get()
            if item is None:
                break
            buf, got = item
            lo = slack - len(carry)
            buf[lo:slack] = carry
            n = slack + got
            if len(head) < 1024:
                head += bytes(buf[slack:slack + min(got, 1024 - len(head))])
            total += got
            keep = scanner.feed(buf, lo, lo + 2, n, False)
            carry = bytes(buf[keep:n])
            chain.free.put(buf)
            if progress is not None:
                progress(total)
        last = bytearray(carry)
        scanner.feed(last, 0, 2, len(last), True)
    finally:
        chain.stop()
        if interval is not None:
            set_interval(interval)
    if chain.hash_error is not None:
        raise chain.hash_error
    scanner.finish()
    summary["nul_in_head"] = b"\0" in head
    summary["bytes"] = total
    summary["sha256"] = digest.hexdigest()
    return summary


class _Chain(object):
    """The reader and hasher threads of ``scan`` and the queues between the stages.

    ``free`` -> reader -> ``filled`` -> hasher -> ``scanned`` -> the scanning thread, which
    puts each buffer back into ``free``. Buffers go down the chain as ``(buf, got)``: the chunk
    is ``buf[offset:offset + got]``; ``None`` ends the stream (end of file or of ``limit``, a
    read error in ``read_error``, a hash error in ``hash_error``, or ``stop``).
    """

    def __init__(self, stream, summary, digest, offset, size, limit):
        self.stream = stream
        self.summary = summary
        self.digest = digest
        self.offset = offset
        self.size = size
        self.left = limit
        self.free = _queue.Queue()
        for _ in range(_BUFFERS):
            self.free.put(bytearray(offset + size))
        self.filled = _queue.Queue()
        self.scanned = _queue.Queue()
        self.stopping = threading.Event()
        self.hash_error = None
        self.threads = [threading.Thread(target=self._read, name="mbox-read"),
                        threading.Thread(target=self._hash, name="mbox-hash")]
        for thread in self.threads:
            thread.daemon = True

    def start(self):
        for thread in self.threads:
            thread.start()

    def stop(self):
        """End both helpers (at once if the scan is cut short) and wait for them."""
        self.stopping.set()
        self.free.put(bytearray(0))  # wakes the reader if it waits for a buffer
        for thread in self.threads:
            if thread.is_alive():
                thread.join()

    def _read(self):
        """Fill free buffers from the stream; a read error is recorded, never raised."""
        summary = self.summary
        try:
            while not self.stopping.is_set():
                buf = self.free.get()
                if not buf or self.stopping.is_set():
                    break
                size = self.size if self.left is None else min(self.size, self.left)
                got = _fill(self.stream, buf, self.offset, size, summary) if size else 0
                if not got:
                    break
                if self.left is not None:
                    self.left -= got
                self.filled.put((buf, got))
                if summary["read_error"] is not None:
                    break
        except BaseException:  # reported; the scan ends with what was read
            exc = sys.exc_info()[1]
            summary["read_error"] = "%s: %s" % (type(exc).__name__, exc)
        self.filled.put(None)

    def _hash(self):
        """Hash each filled buffer, in order, and pass it on; an error stops the chain."""
        try:
            while True:
                item = self.filled.get()
                if item is None:
                    break
                if self.hash_error is None and not self.stopping.is_set():
                    buf, got = item
                    if _memoryview is not None:
                        view = _memoryview(buf)
                        self.digest.update(view[self.offset:self.offset + got])
                        release = getattr(view, "release", None)
                        if release is not None:
                            release()
                    else:
                        self.digest.update(bytes(buf[self.offset:self.offset + got]))
                    self.scanned.put(item)
        except BaseException:  # raised by scan
            self.hash_error = sys.exc_info()[1]
            self.stopping.set()
            self.free.put(bytearray(0))  # the reader may wait for a buffer
            while self.filled.get() is not None:  # until the reader has ended
                pass
        self.scanned.put(None)


def _fill(stream, buf, offset, size, summary):
    """Read up to ``size`` bytes into ``buf[offset:]``; fewer only at the end of the stream.

    Uses ``readinto`` when the stream has it (and memoryview exists), else ``read``. A read
    error is recorded in ``summary["read_error"]`` and ends the filling.
    """
    got = 0
    readinto = getattr(stream, "readinto", None) if _memoryview is not None else None
    view = _memoryview(buf) if _memoryview is not None else None
    try:
        while got < size:
            if readinto is not None:
                n = readinto(view[offset + got:offset + size])
            else:
                data = stream.read(size - got)
                n = len(data) if data else 0
                buf[offset + got:offset + got + n] = data
            if not n:
                break
            got += n
    except (OSError, IOError, ValueError):
        exc = sys.exc_info()[1]
        summary["read_error"] = str(exc) or type(exc).__name__
    if view is not None:
        release = getattr(view, "release", None)
        if release is not None:
            release()
    return got


# --- a file on disk -------------------------------------------------------------------------------


def change(before, after, path=None):
    """How a file opened for reading changed between two ``os.fstat`` results of its
    descriptor (taken before and after it was read): None, "grew", "shrank", "modified" (the
    same size, a new mtime) or, with ``path``, "replaced" (another file is at the path now)."""
    if after.st_size < before.st_size:
        return "shrank"
    if after.st_size > before.st_size:
        return "grew"
    if after.st_mtime != before.st_mtime:
        return "modified"
    if path is not None:
        try:
            at_path = os.lstat(path)
        except OSError:
            return "replaced"
        if not stat.S_ISREG(at_path.st_mode) or \
                (at_path.st_ino, at_path.st_dev) != (after.st_ino, after.st_dev):
            return "replaced"
    return None


#: Every way ``change`` says a file changed.
CHANGES = ("grew", "shrank", "modified", "replaced")
#: What a change means for what was read up to the first size: "grew" (Mailman appends) and
#: "replaced" (the opened file was read whole) leave it consistent; the rest do not.
CONSISTENT = ("grew", "replaced")


def changed_record(how, size_from, size_to, attempts, earlier=None):
    """The summary's ``changed``: None when nothing changed in the first attempt. ``earlier``
    is how the file changed during the attempt before (it held still in this one)."""
    if how is None and earlier is None:
        return None
    if how is None:  # read again, and this time it held still
        return {"how": earlier, "from": size_from, "to": size_to, "stable": True,
                "attempts": attempts}
    return {"how": how, "from": size_from, "to": size_to, "stable": how in CONSISTENT,
            "attempts": attempts}


def until_still(attempt):
    """Read a file again while it changes in place: ``attempt()`` reads it once and returns
    ``(result, how, size_from, size_to)`` (``how`` as ``change`` says). Stops when the file held
    still or changed consistently, or after ``ATTEMPTS``; returns the last result and its
    ``changed`` record. Local scans, the agent's and fetched mboxes all go through here."""
    earlier = None  # how the file changed during the last attempt
    for number in range(1, ATTEMPTS + 1):
        result, how, size_from, size_to = attempt()
        changed = changed_record(how, size_from, size_to, number, earlier)
        if how is None or how in CONSISTENT:
            break
        earlier = how
    return result, changed


def scan_open_file(fh, now, path=None, progress=None, line_numbers=False, resolve=None,
                   chunk_size=CHUNK_SIZE):
    """``scan`` a regular file opened for reading, up to the size it had when the scan began,
    and say whether it changed meanwhile (``summary["changed"]``, see ``change``).

    Mailman only appends to an archive mbox: a file that grew is scanned up to its first size
    (the counts and the checksum are those of the file as it was). A file that shrank or changed
    in place is scanned again from its start (``until_still``); if it never holds still,
    ``changed`` says so with ``stable`` False and the counts must not be trusted. With
    ``path``, a file replaced meanwhile (a new file at the path) is reported too; the scan then
    covers the file that was opened. ``progress`` is called with the bytes scanned of this
    attempt and the size, ``(done, size)``.
    """
    def once():
        before = os.fstat(fh.fileno())
        size = before.st_size
        fh.seek(0)

        def report(done):
            if progress is not None:
                progress(done, size)
        summary = scan(fh, now, progress=report, line_numbers=line_numbers,
                       size_hint=size, limit=size, resolve=resolve, chunk_size=chunk_size)
        after = os.fstat(fh.fileno())
        return summary, change(before, after, path), size, after.st_size
    summary, changed = until_still(once)
    summary["changed"] = changed
    return summary
