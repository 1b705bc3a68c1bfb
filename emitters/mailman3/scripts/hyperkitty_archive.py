#!/usr/bin/env python3
"""A list's pipermail mbox into HyperKitty, every post once: run on the new host by the plan.

``prepare MBOX OUT SUMMARY --list LIST@HOST``
    Writes a copy of the list's copied mbox that HyperKitty's ``hyperkitty_import`` reads as
    exactly the posts the inventory counted (the old host's original is never touched):

    * it is split where the inspection splits it (``mboxscan``, shipped beside this script:
      a full Unix-from line after an empty line), and every other line that starts ``From ``
      is escaped as ``>From `` (what Mailman 2's ``bin/cleanarch`` does): ``mailbox.mbox``,
      which the import reads with, splits at every such line and would invent posts;
    * a post without a Message-ID, or with one HyperKitty would take for an earlier post's
      (it skips a second post of the same id), gets one of its own, made from the list and the
      post's number (the same on every run); a renamed id is kept as X-Original-Message-ID;
    * a post whose date HyperKitty would file in another month than the inspection (no Date:,
      one no parser reads, an implausible one, or a Date: across a month's end from the time
      the post arrived) gets a Date: in the inspection's month: the time its separator says it
      arrived, as Mailman 2's ArchRunner itself did at delivery for such posts; the old value
      is kept as X-Original-Date. A post the inspection could date nowhere (undated) takes the
      date of the post before it (the archive's first date, if it comes first).

    SUMMARY (JSON) holds the posts, their months, and what was changed. Before writing it the
    script scans the file as the inspection does and refuses (exit 3) if the two counts differ.

    Beside SUMMARY, ``SUMMARY.ids`` names each post: the month it must be filed under and
    its Message-ID as HyperKitty stores it, a line each.

``check SUMMARY --list LIST@HOST``
    Finds every prepared post in HyperKitty by its Message-ID, in its month; exit 1 naming
    the posts missing or misfiled. Posts the list archived itself since the switch are not
    counted: they are not in the copy. Runs with mailman-web's Python and settings (as
    ``mailman-web`` finds them).

Exit codes: 0 done, 1 counts differ, 2 usage, 3 the mbox cannot be read or prepared.
Memory stays flat: the mbox is read a line at a time (at most 1 MiB of a line at once), only a
post's header block is held, and the ids seen are kept as 20-byte digests.
"""

import argparse
import datetime
import email.utils
import hashlib
import json
import os
import re
import stat
import sys
from email import policy
from email.parser import BytesHeaderParser

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mboxscan  # noqa: E402  (the inspection's own rules, shipped beside this script)

UTC = datetime.timezone.utc
#: The most of a line read at once: a longer line (binary data) is passed on in pieces.
MAX_LINE = 1 << 20
#: HyperKitty keeps at most this many characters of a Message-ID (a VARCHAR(255)).
MAX_ID = 254
_HEADER_PARSER = BytesHeaderParser(policy=policy.compat32)


class Refused(Exception):
    """The mbox cannot be prepared: the message says why."""


# --- what HyperKitty 1.3.12 makes of a post (hyperkitty/management/commands/hyperkitty_import.py,
# DbImporter.from_mbox, _fix_mid, _get_date; hyperkitty/lib/utils.py, get_message_id) ---------

def _fix_mid(mid):
    mid = re.sub(r"\s", "", mid)
    if mid.startswith("<"):
        mid = re.sub(">.*", ">", mid)
    else:
        mid = "<" + mid
    if not mid.endswith(">"):
        mid += ">"
    return mid.encode("ascii", "ignore").decode("ascii")


def hyperkitty_id(value):
    """The Message-ID HyperKitty stores for a post's raw Message-ID value (None: it would make
    up a random one, as it does for none, an empty one and ``<>``)."""
    if value is None or value.strip() in ("", "<>"):
        return None
    return email.utils.unquote(re.sub(r"\s", "", _fix_mid(value)))[:MAX_ID]


def id_hash(message_id):
    """HyperKitty's name of a message in its URLs (``get_message_id_hash``)."""
    import base64
    return base64.b32encode(hashlib.sha1(message_id.encode("utf-8")).digest()).decode("ascii")


def hyperkitty_date(headers):
    """The time HyperKitty files a post under (aware, UTC), from its headers (a compat32
    Message), or None where it would take the time of the import: the first Date:, else
    Resent-Date:, as ``email.utils.parsedate_to_datetime`` reads it (HyperKitty's fallback to
    the separator line is text its date parser refuses)."""
    for name in ("date", "resent-date"):
        value = headers.get(name)
        if not value:
            continue
        try:
            when = email.utils.parsedate_to_datetime(
                " ".join(str(value).split()))
        except (TypeError, ValueError, IndexError, OverflowError):
            continue
        if when is None:
            continue
        try:
            return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
        except (ValueError, OverflowError):
            continue
    return None


# --- reading the mbox --------------------------------------------------------------------------

def open_regular(path):
    """``path`` opened for reading if it is a regular file (a FIFO or device is refused
    without blocking on it)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise Refused("%s: cannot open: %s" % (path, exc.strerror))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise Refused("%s: not a regular file" % path)
    return os.fdopen(fd, "rb")


def _lines(fh):
    """(piece, at_line_start) for every line of ``fh``, a long line in pieces of MAX_LINE."""
    start = True
    while True:
        piece = fh.readline(MAX_LINE)
        if not piece:
            return
        yield piece, start
        start = piece.endswith(b"\n")


def _is_empty(line):
    return line in (b"\n", b"\r\n")


def posts(fh):
    """Split ``fh`` as the inspection does: yields ("pre", lines) for what comes before the
    first separator, then for each post ("post", separator, head, body): ``head`` the header
    block as (piece, at_line_start), up to ``mboxscan.MAX_HEADER_BYTES``, its empty line not
    included, and ``body`` an iterator of the same that must be consumed before the next."""
    pending = []  # lines read ahead: the next post's separator, if any
    source = _lines(fh)
    previous_empty = [True]  # the file's first line follows a virtual empty line

    def next_line():
        if pending:
            return pending.pop()
        return next(source, None)

    def is_separator(piece, at_start):
        return (at_start and previous_empty[0] and piece.startswith(b"From ")
                and mboxscan.SEPARATOR.match(piece.rstrip(b"\r\n") + b"\n") is not None)

    def body():
        while True:
            item = next_line()
            if item is None:
                return
            piece, at_start = item
            if is_separator(piece, at_start):
                pending.append(item)
                return
            previous_empty[0] = at_start and _is_empty(piece)
            yield piece, at_start

    pre = []
    while True:
        item = next_line()
        if item is None:
            break
        if is_separator(*item):
            pending.append(item)
            break
        pre.append(item)
        previous_empty[0] = item[1] and _is_empty(item[0])
    yield ("pre", pre)
    while True:
        item = next_line()
        if item is None:
            return
        separator = item[0]
        head, size = [], 0
        while True:
            item = next_line()
            if item is None:
                break
            piece, at_start = item
            if at_start and _is_empty(piece):
                pending.append(item)
                break
            head.append(item)
            size += len(piece)
            if size >= mboxscan.MAX_HEADER_BYTES:
                break
        previous_empty[0] = False
        yield ("post", separator, head, body())


# --- preparing ----------------------------------------------------------------------------------

def _rename(head, name, new_name):
    """The header lines with every ``name:`` field renamed ``new_name:`` (any case)."""
    pattern = re.compile(re.escape(name.encode("ascii")) + rb"[ \t]*:", re.I)
    out = []
    for line, at_start in head:
        m = pattern.match(line) if at_start else None
        if m:
            line = new_name.encode("ascii") + b":" + line[m.end():]
        out.append((line, at_start))
    return out


def _escaped(piece, at_start, counts):
    """A line as the prepared copy holds it: ``From `` at a line's start escaped."""
    if at_start and piece.startswith(b"From "):
        counts["escaped_from_lines"] += 1
        return b">" + piece
    return piece


def _eol(separator):
    return b"\r\n" if separator.endswith(b"\r\n") else b"\n"


def prepare(mbox, out, summary_path, list_address, now):
    """Write the prepared copy and the summary (the docstring says how); returns the summary."""
    local, _, host = list_address.partition("@")
    seen = set()
    counts = {"messages": 0, "months": {}, "escaped_from_lines": 0, "ids_made": 0,
              "ids_renamed": 0, "dates_set": 0, "undated_placed": 0}
    months = counts["months"]  # as the inspection counts them
    placed = {}  # the undated posts, by the month they are given
    last_date = None
    tmp = out + ".tmp"
    with open_regular(mbox) as fh, open(summary_path + ".ids.tmp", "w", encoding="ascii",
                                         errors="backslashreplace") as ids:
        # the inspection's own count of the file, first: what the split must match
        scanned = mboxscan.scan_open_file(fh, now, resolve=mboxscan.fuzzy_date)
        if scanned["changed"] is not None or scanned["read_error"]:
            raise Refused("%s changed or could not be read while it was scanned (%s): "
                          "prepare it again once nothing writes it"
                          % (mbox, scanned["changed"] or scanned["read_error"]))
        mboxscan.settle(scanned, mboxscan.fuzzy_date, now)
        size = os.fstat(fh.fileno()).st_size
        first = mboxscan.from_iso(scanned["first_date"])
        fh.seek(0)
        with open(tmp, "wb") as dst:
            for kind, *rest in posts(fh):
                if kind == "pre":
                    for piece, at_start in rest[0]:
                        dst.write(_escaped(piece, at_start, counts))
                    continue
                separator, head, body = rest
                counts["messages"] += 1
                n = counts["messages"]
                eol = _eol(separator)
                raw_head = b"".join(piece for piece, _ in head)
                headers = _HEADER_PARSER.parsebytes(raw_head)
                added = []
                # the day the inspection files this post under, and its time
                sep_line = separator.rstrip(b"\r\n") + b"\n"
                date = mboxscan.header_date(b"\n" + raw_head, mboxscan.fuzzy_date)
                day = mboxscan.post_day(sep_line, date, now)
                when = None
                if day is not None:
                    sep_date = mboxscan.separator_date(sep_line)
                    for candidate in (sep_date, date):
                        if candidate is not None and \
                                candidate.strftime("%Y-%m-%d") == day:
                            when = candidate
                            break
                    if when is None:  # the separator's day, at noon: no time is known
                        when = datetime.datetime.strptime(day + " 12", "%Y-%m-%d %H")
                    months[day[:7]] = months.get(day[:7], 0) + 1
                elif last_date is not None or first is not None:
                    when = last_date or first
                    counts["undated_placed"] += 1
                    placed[when.strftime("%Y-%m")] = placed.get(when.strftime("%Y-%m"), 0) + 1
                if when is not None:
                    last_date = when
                    filed = hyperkitty_date(headers)
                    if filed is None or filed.strftime("%Y-%m") != when.strftime("%Y-%m"):
                        head = _rename(head, "Date", "X-Original-Date")
                        head = _rename(head, "Resent-Date", "X-Original-Resent-Date")
                        added.append(b"Date: " + email.utils.format_datetime(
                            when.replace(tzinfo=UTC)).encode("ascii") + eol)
                        counts["dates_set"] += 1
                # the post's Message-ID, once in the list
                mid = hyperkitty_id(_header_text(headers.get("message-id")))
                key = hashlib.sha1(mid.encode("utf-8")).digest() if mid else None
                if key is None or key in seen:
                    if mid is not None:
                        head = _rename(head, "Message-ID", "X-Original-Message-ID")
                        counts["ids_renamed"] += 1
                    else:
                        head = _rename(head, "Message-ID", "X-Original-Message-ID")
                        counts["ids_made"] += 1
                    suffix = 0
                    while True:
                        made = "pipermail.%s.%d%s@%s" % (local, n, ".%d" % suffix if suffix
                                                         else "", host)
                        key = hashlib.sha1(made.encode("utf-8")).digest()
                        if key not in seen:
                            break
                        suffix += 1
                    added.append(b"Message-ID: <" + made.encode("ascii") + b">" + eol)
                    mid = made
                seen.add(key)
                ids.write("%s %s\n" % (when.strftime("%Y-%m") if when else "-", mid))
                dst.write(separator)
                for line in added:
                    dst.write(line)
                for piece, at_start in head:
                    dst.write(_escaped(piece, at_start, counts))
                for piece, at_start in body:
                    dst.write(_escaped(piece, at_start, counts))
        if os.fstat(fh.fileno()).st_size != size:
            os.unlink(tmp)
            os.unlink(summary_path + ".ids.tmp")
            raise Refused("%s changed while it was read: prepare it again" % mbox)
    scan_months = {}
    for day, count in scanned["days"].items():
        scan_months[day[:7]] = scan_months.get(day[:7], 0) + count
    if scanned["messages"] != counts["messages"] or months != scan_months:
        os.unlink(tmp)
        os.unlink(summary_path + ".ids.tmp")
        raise Refused("%s: the inspection's rules count %d posts (%s), this split %d (%s): "
                      "nothing was written" % (mbox, scanned["messages"], scan_months,
                                               counts["messages"], months))
    counts["inspection_months"] = dict(sorted(scan_months.items()))
    for month, count in placed.items():
        months[month] = months.get(month, 0) + count
    counts["months"] = dict(sorted(months.items()))  # what HyperKitty must hold
    counts["list"] = list_address
    counts["mbox"] = mbox
    counts["sha256"] = scanned["sha256"]
    os.replace(tmp, out)
    os.replace(summary_path + ".ids.tmp", summary_path + ".ids")
    _write_json(summary_path, counts)
    return counts


def _header_text(value):
    if value is None:
        return None
    return str(value)


def _write_json(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, path)


# --- checking ------------------------------------------------------------------------------------

def hyperkitty_posts(list_address):
    """HyperKitty's posts of the list: Message-ID -> month (UTC), read through Django with
    mailman-web's settings (``MAILMAN_WEB_CONFIG``, default /etc/mailman3/settings.py)."""
    from mailman_web.manage import setup
    setup()
    import django
    django.setup()
    from hyperkitty.models import Email
    return {mid: when.astimezone(UTC).strftime("%Y-%m") for mid, when in
            Email.objects.filter(mailinglist__name=list_address).values_list(
                "message_id", "date").iterator()}


def check(summary_path, list_address, limit=20):
    with open(summary_path) as fh:
        summary = json.load(fh)
    have = hyperkitty_posts(list_address)
    missing, misfiled, found = [], [], 0
    with open(summary_path + ".ids", encoding="ascii") as fh:
        for line in fh:
            month, _, mid = line.rstrip("\n").partition(" ")
            if mid not in have:
                missing.append(mid)
            elif month != "-" and have[mid] != month:
                misfiled.append("%s (in %s, not %s)" % (mid, have[mid], month))
            else:
                found += 1
    if missing or misfiled:
        print("%s: %d of the archive's %d posts are in HyperKitty as prepared; %d missing, %d "
              "in another month:\n  %s" % (
                  list_address, found, summary["messages"], len(missing), len(misfiled),
                  "\n  ".join((missing + misfiled)[:limit])))
        return 1
    print("%s: all %d posts of the archive in HyperKitty, month by month as in the archive "
          "(%d posts there in all)" % (list_address, found, len(have)))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("mbox")
    p.add_argument("out")
    p.add_argument("summary")
    p.add_argument("--list", required=True, dest="list_address")
    p.add_argument("--now", help="the inspection's time (ISO, UTC); default: now")
    c = sub.add_parser("check")
    c.add_argument("summary")
    c.add_argument("--list", required=True, dest="list_address")
    args = parser.parse_args(argv)
    if "@" not in args.list_address:
        parser.error("--list must be LIST@HOST")
    if args.command == "check":
        return check(args.summary, args.list_address)
    now = (datetime.datetime.fromisoformat(args.now) if args.now
           else datetime.datetime.now(UTC).replace(tzinfo=None))
    try:
        summary = prepare(args.mbox, args.out, args.summary, args.list_address, now)
    except Refused as exc:
        print("hyperkitty_archive: %s" % exc, file=sys.stderr)
        return 3
    print("%s: %d posts prepared (%d From lines escaped, %d Message-IDs made, %d renamed, "
          "%d dates set)" % (args.list_address, summary["messages"],
                             summary["escaped_from_lines"], summary["ids_made"],
                             summary["ids_renamed"], summary["dates_set"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
