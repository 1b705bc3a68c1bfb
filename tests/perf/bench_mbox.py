"""Benchmark: counting an archive mbox with ``parsers.pipermail.scan_mbox``.

Generates realistic list archives (Mailman headers, quoted replies, base64 attachments,
``>From`` escapes, unescaped ``From`` body lines) of 100 MB, 250 MB, 500 MB and 1 GB in a temp
folder (never committed, removed afterwards) and, on each, in the same run and on a warm page
cache:

* ``grep -c '^From '``: the floor (a C program that only looks for line starts);
* Python's ``mailbox.mbox`` counting (``len(mbox.keys())``: the table of contents, which reads
  every line), the stdlib way; run on the sizes up to ``--mailbox-max`` (default 1 GB: all);
* the project's ``scan_mbox`` (posts, dates, months, SHA-256 of every byte), in a child process
  so that its peak RSS (``ru_maxrss``) is its own;
* SHA-256 of the file alone (read and hash, nothing else): the floor for any pass that
  checksums every byte, as the scanner must.

Printed per size: the wall times, the scanner/SHA-256, scanner/grep and mailbox/scanner ratios,
the scanner's peak RSS, and whether the counts agree with what was generated. Goals from the
issues: within 1.2x of SHA-256 alone and within 2.5x of grep (issue 18: the scan and the hash
run side by side, so a scan costs about the slower of the two), >= 10x faster than
``mailbox.mbox``, peak RSS < 100 MB and flat from 100 MB to 1 GB.

Run it as a script::

    python tests/perf/bench_mbox.py [--sizes 100,250,500,1000] [--repeat 3]

or through pytest (skipped unless ``-m perf`` is given)::

    pytest -m perf -s tests/perf/bench_mbox.py

The pytest test checks the counts (scanner = generated posts; grep = posts + loose + embedded
From lines; mailbox.mbox = grep's count, as it splits at every ``From `` line) and that RSS stays
under 100 MB; it never fails on time (the figures depend on the machine).
"""

from __future__ import annotations

import argparse
import base64
import json
import mailbox
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

_WORDS = (
    "the list archive server upgrade mailman exim apache kernel patch release meeting "
    "minutes agenda budget board vote members policy backup restore firewall network "
    "router switch disk quota account password reset schedule downtime maintenance "
    "newsletter workshop volunteer ticket helpdesk question answer thanks regards "
    "please could would should about after before during with without from into over "
    "under again further then once here there when where why how all any both each few "
    "more most other some such only own same than too very can will just don now"
).split()
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_ZONES = ((0, "+0000"), (3600, "+0100"), (7200, "+0200"), (-18000, "-0500"),
          (-28800, "-0800"), (19800, "+0530"), (32400, "+0900"))
_NAMES = ("Alice Example", "Bob Sample", "Carol Tester", "Dave Operator", "Eve Admin",
          "Frank Volunteer", "Grace Member", "Heidi Board", "Ivan Helpdesk", "Judy Treasurer")
_FOOTER = (b"_______________________________________________\n"
           b"Users mailing list\nusers@lists.example.org\n"
           b"https://lists.example.org/mailman/listinfo/users\n")


@dataclass
class Generated:
    """What was written, so the benchmark can check the scanner's counts too."""

    path: Path
    bytes: int
    messages: int
    multipart: int
    escaped: int  # ">From " body lines
    loose: int  # unescaped body lines starting "From " that are not separators
    embedded: int  # body lines matching the full Unix-from pattern, not after a blank line


def _sentence(rng: random.Random) -> str:
    words = rng.choices(_WORDS, k=rng.randint(6, 14))
    return " ".join(words).capitalize() + "."


def _paragraph(rng: random.Random) -> bytes:
    lines, line = [], ""
    for _ in range(rng.randint(2, 9)):
        s = _sentence(rng)
        if len(line) + len(s) > 72:
            lines.append(line)
            line = s
        else:
            line = f"{line} {s}".strip()
    lines.append(line)
    if rng.random() < 0.3:
        lines = ["> " + x for x in lines]
    # Mailman's archiver escapes body lines starting "From " (Python's email Generator with
    # mangle_from_): the unescaped ones are added on purpose below, and counted.
    lines = [">" + x if x.startswith("From ") else x for x in lines]
    return ("\n".join(lines) + "\n").encode()


def _ctime(t: int) -> str:
    tm = time.gmtime(t)
    return (f"{_DAYS[tm.tm_wday]} {_MONTHS[tm.tm_mon - 1]} {tm.tm_mday:2d} "
            f"{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d} {tm.tm_year}")


def _rfc2822(t: int, zone: tuple[int, str]) -> str:
    tm = time.gmtime(t + zone[0])
    return (f"{_DAYS[tm.tm_wday]}, {tm.tm_mday} {_MONTHS[tm.tm_mon - 1]} {tm.tm_year} "
            f"{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d} {zone[1]}")


def generate_mbox(path: str | Path, size: int, seed: int = 20061114) -> Generated:
    """Write a realistic list archive of about ``size`` bytes (at least that many).

    Messages carry the headers a Mailman 2.1 list adds (Received chains, List-*), plain text
    bodies of varying length with quoted replies, about 8% multipart/mixed with a base64
    attachment (4 KiB to 1.5 MiB), 5% multipart/alternative, ``>From `` escapes, unescaped
    ``From what ...`` body lines (some right after a blank line), and rarely a forwarded
    message whose body line matches the full Unix-from pattern.
    """
    rng = random.Random(seed)
    path = Path(path)
    paragraphs = [_paragraph(rng) for _ in range(600)]
    blobs = []
    for _ in range(40):
        n = int(min(1_500_000, max(4096, rng.lognormvariate(10.5, 1.2))))
        blobs.append(base64.encodebytes(rng.randbytes(n)))
    t = 1_041_379_200  # 2003-01-01
    # spread the posts over about 20 years whatever the size
    mean_gap = max(60, int(20 * 365 * 86400 / max(1, size // 9000)))
    written = messages = multipart = escaped = loose = embedded = 0
    out: list[bytes] = []
    pending = 0
    with path.open("wb") as fh:
        while written < size:
            t += int(rng.expovariate(1 / mean_gap)) + 1
            name = rng.choice(_NAMES)
            addr = name.lower().replace(" ", ".") + rng.choice(("@example.org", "@example.net",
                                                               "@mail.example.com"))
            msgid = f"<{t:x}.{rng.getrandbits(40):x}@{addr.split('@')[1]}>"
            zone = rng.choice(_ZONES)
            hops = rng.randint(1, 3)
            head = [f"From {addr} {_ctime(t)}\n", f"Return-Path: <{addr}>\n"]
            for hop in range(hops):
                head.append(
                    f"Received: from mx{hop}.{addr.split('@')[1]} (mx{hop}.example [192.0.2.{hop + 10}])\n"
                    f"\tby lists.example.org with esmtp (Exim 4.92)\n"
                    f"\t(envelope-from <{addr}>) id 1{rng.getrandbits(30):x}-000{hop}\n"
                    f"\tfor users@lists.example.org; {_rfc2822(t - hop, (0, '+0000'))}\n")
            head.append(f"Message-ID: {msgid}\n")
            if rng.random() < 0.5:
                head.append(f"In-Reply-To: <{rng.getrandbits(48):x}@example.org>\n")
            head.append(f"Date: {_rfc2822(t - rng.randint(5, 300), zone)}\n")
            head.append(f"From: {name} <{addr}>\nTo: users@lists.example.org\n")
            if rng.random() < 0.05:
                head.append("Subject: [Users] =?iso-8859-1?q?=C4nderung_f=FCr_alle?=\n")
            else:
                head.append(f"Subject: [Users] {_sentence(rng)[:-1]}\n")
            head.append("MIME-Version: 1.0\n")
            body = [paragraphs[rng.randrange(600)] + b"\n"
                    for _ in range(max(1, int(rng.lognormvariate(1.3, 0.8))))]
            html_text = b"".join(body)  # the HTML part repeats the paragraphs only
            r = rng.random()
            if r < 0.006:
                body.insert(1, b"From what I heard, the " + _sentence(rng).lower().encode() + b"\n")
                loose += 1
            elif r < 0.012:  # at a paragraph start, after a blank line: still not a separator
                body.insert(1, b"From my side: " + _sentence(rng).encode() + b"\n\n")
                loose += 1
            elif r < 0.025:
                body.insert(1, b">From the minutes: " + _sentence(rng).encode() + b"\n")
                escaped += 1
            elif r < 0.0253:
                body.insert(1, b"---------- Forwarded message ----------\n"
                            + f"From someone@example.org {_ctime(t - 86400)}\n".encode()
                            + b"Subject: the original\n\n")
                embedded += 1
            text = b"".join(body) + b"-- \n" + name.encode() + b"\n" + _FOOTER
            kind = rng.random()
            if kind < 0.08:
                boundary = "===============%019d==" % rng.getrandbits(60)
                head.append(f'Content-Type: multipart/mixed; boundary="{boundary}"\n')
                b = boundary.encode()
                payload = (b"This is a multi-part message in MIME format.\n--" + b + b"\n"
                           b'Content-Type: text/plain; charset="us-ascii"\n'
                           b"Content-Transfer-Encoding: 7bit\n\n" + text + b"\n--" + b + b"\n"
                           b"Content-Type: application/octet-stream; name=\"report.pdf\"\n"
                           b"Content-Transfer-Encoding: base64\n"
                           b'Content-Disposition: attachment; filename="report.pdf"\n\n'
                           + blobs[rng.randrange(len(blobs))] + b"--" + b + b"--\n")
                multipart += 1
            elif kind < 0.13:
                boundary = "===============%019d==" % rng.getrandbits(60)
                head.append(f'Content-Type: multipart/alternative; boundary="{boundary}"\n')
                b = boundary.encode()
                html = (b"<html><body><p>" + html_text.replace(b"\n\n", b"</p><p>")
                        + b"</p></body></html>\n")
                payload = (b"--" + b + b"\nContent-Type: text/plain; charset=\"us-ascii\"\n\n"
                           + text + b"\n--" + b + b"\nContent-Type: text/html; charset=\"us-ascii\"\n\n"
                           + html + b"\n--" + b + b"--\n")
                multipart += 1
            else:
                head.append('Content-Type: text/plain; charset="us-ascii"\n'
                            "Content-Transfer-Encoding: 7bit\n")
                payload = text
            head.append("Precedence: list\nList-Id: Users <users.lists.example.org>\n"
                        "List-Unsubscribe: <https://lists.example.org/mailman/options/users>,\n"
                        "\t<mailto:users-request@lists.example.org?subject=unsubscribe>\n"
                        "List-Archive: <https://lists.example.org/pipermail/users/>\n"
                        "List-Post: <mailto:users@lists.example.org>\n"
                        "Sender: users-bounces@lists.example.org\n"
                        "Errors-To: users-bounces@lists.example.org\n\n")
            msg = "".join(head).encode() + payload + b"\n"
            out.append(msg)
            pending += len(msg)
            written += len(msg)
            messages += 1
            if pending > 4 * 1024 * 1024:
                fh.write(b"".join(out))
                out.clear()
                pending = 0
        fh.write(b"".join(out))
    return Generated(path, written, messages, multipart, escaped, loose, embedded)


# --- measuring ---------------------------------------------------------------------------------

_CHILD = r"""
import datetime, json, resource, sys, time
from parsers.pipermail import scan_mbox
now = datetime.datetime.now(datetime.timezone.utc)
t0 = time.perf_counter()
with open(sys.argv[1], "rb", buffering=0) as fh:
    scan = scan_mbox(fh, sys.argv[1], now=now)
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "messages": scan.messages, "loose": scan.loose_from_lines,
                  "embedded": scan.embedded_separators, "bytes": scan.bytes,
                  "months": len(scan.months), "undated": scan.undated,
                  "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


@dataclass
class Row:
    size_mb: int
    generated: Generated
    grep_seconds: float
    grep_count: int
    scanner_seconds: float
    scanner: dict
    mailbox_seconds: float | None
    mailbox_count: int | None
    sha256_seconds: float = 0.0

    @property
    def rss_mb(self) -> float:
        return self.scanner["maxrss_kib"] / 1024

    def problems(self) -> list[str]:
        g = self.generated
        out = []
        if self.scanner["messages"] != g.messages:
            out.append(f"scanner counted {self.scanner['messages']} posts, {g.messages} written")
        if self.scanner["loose"] != g.loose or self.scanner["embedded"] != g.embedded:
            out.append(f"scanner: {self.scanner['loose']} loose / {self.scanner['embedded']} "
                       f"embedded From lines, {g.loose} / {g.embedded} written")
        unescaped = g.messages + g.loose + g.embedded
        if self.grep_count != unescaped:
            out.append(f"grep counted {self.grep_count}, expected {unescaped}")
        if self.mailbox_count is not None and self.mailbox_count != unescaped:
            out.append(f"mailbox.mbox counted {self.mailbox_count}, expected {unescaped}")
        if self.rss_mb >= 100:
            out.append(f"scanner peak RSS {self.rss_mb:.1f} MB (goal < 100 MB)")
        return out


def _best(fn, repeat: int):
    best = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - t0
        if best is None or seconds < best[0]:
            best = (seconds, result)
    return best


def _grep(path: Path) -> int:
    out = subprocess.run(["grep", "-c", "^From ", str(path)], check=True, capture_output=True,
                         text=True, env={**os.environ, "LC_ALL": "C"})
    return int(out.stdout)


def _sha256(path: Path) -> str:
    """SHA-256 of the file alone (read + hash, nothing else): the floor for any pass that
    checksums every byte, as the scanner must."""
    import hashlib
    digest = hashlib.sha256()
    buf = bytearray(8 << 20)
    with open(path, "rb", buffering=0) as fh, memoryview(buf) as view:
        while n := fh.readinto(buf):
            digest.update(view[:n])
    return digest.hexdigest()


def _mailbox(path: Path) -> int:
    box = mailbox.mbox(str(path), create=False)
    try:
        return len(box.keys())
    finally:
        box.close()


def _scanner(path: Path) -> dict:
    env = dict(os.environ)
    repo = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = repo + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path)], check=True,
                         capture_output=True, text=True, env=env)
    return json.loads(out.stdout)


def run(sizes_mb, repeat: int = 3, mailbox_max_mb: int = 1000, out=sys.stdout) -> list[Row]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-mbox-") as tmp:
        for size_mb in sizes_mb:
            path = Path(tmp) / f"archive-{size_mb}.mbox"
            print(f"generating {size_mb} MB ...", file=out, flush=True)
            gen = generate_mbox(path, size_mb * 1_000_000)
            _grep(path)  # warm the page cache
            grep_s, grep_n = _best(lambda: _grep(path), repeat)
            sha_s, _ = _best(lambda: _sha256(path), repeat)
            best_scan = None
            for _ in range(repeat):
                result = _scanner(path)
                if best_scan is None or result["seconds"] < best_scan["seconds"]:
                    best_scan = result
            mb_s = mb_n = None
            if size_mb <= mailbox_max_mb:
                mb_s, mb_n = _best(lambda: _mailbox(path), 1)
            row = Row(size_mb, gen, grep_s, grep_n, best_scan["seconds"], best_scan, mb_s, mb_n,
                      sha_s)
            rows.append(row)
            path.unlink()
            print(_format_row(row), file=out, flush=True)
    print(summary(rows), file=out, flush=True)
    return rows


def _format_row(row: Row) -> str:
    mb = f"{row.mailbox_seconds:8.2f} s" if row.mailbox_seconds is not None else "   (skipped)"
    vs_mb = (f"{row.mailbox_seconds / row.scanner_seconds:6.1f}x"
             if row.mailbox_seconds is not None else "     -")
    return (f"{row.size_mb:>6} MB  {row.generated.messages:>9,} posts  grep {row.grep_seconds:7.2f} s"
            f"  sha256 alone {row.sha256_seconds:5.2f} s"
            f"  mailbox.mbox {mb}  scanner {row.scanner_seconds:7.2f} s  "
            f"scanner/sha256 {row.scanner_seconds / row.sha256_seconds:5.2f}x  "
            f"scanner/grep {row.scanner_seconds / row.grep_seconds:5.2f}x  "
            f"mailbox/scanner {vs_mb}  peak RSS {row.rss_mb:6.1f} MB")


def summary(rows: list[Row]) -> str:
    lines = [""]
    for row in rows:
        lines.append(_format_row(row))
    if rows:
        worst_grep = max(r.scanner_seconds / r.grep_seconds for r in rows)
        with_mb = [r for r in rows if r.mailbox_seconds is not None]
        floor = max(r.sha256_seconds / r.grep_seconds for r in rows)
        worst_sha = max(r.scanner_seconds / r.sha256_seconds for r in rows)
        lines.append(f"goal scanner within 1.2x of SHA-256 alone: worst {worst_sha:.2f}x, "
                     f"{'met' if worst_sha <= 1.2 else 'MISSED'}")
        lines.append(f"goal scanner within 2.5x of grep: worst {worst_grep:.2f}x, "
                     f"{'met' if worst_grep <= 2.5 else 'MISSED'} (SHA-256 of the file alone "
                     f"takes up to {floor:.2f}x grep's time on this machine)")
        if with_mb:
            least = min(r.mailbox_seconds / r.scanner_seconds for r in with_mb)
            lines.append(f"goal >= 10x faster than mailbox.mbox: least {least:.1f}x, "
                         f"{'met' if least >= 10 else 'MISSED'}")
        rss = [r.rss_mb for r in rows]
        lines.append(f"goal peak RSS < 100 MB and flat: {min(rss):.1f} .. {max(rss):.1f} MB, "
                     f"{'met' if max(rss) < 100 and max(rss) - min(rss) < 10 else 'MISSED'}")
    for row in rows:
        for problem in row.problems():
            lines.append(f"warning ({row.size_mb} MB): {problem}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,250,500,1000",
                        help="comma-separated sizes in MB (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool; the best counts")
    parser.add_argument("--mailbox-max", type=int, default=1000,
                        help="run mailbox.mbox only up to this size in MB (default: %(default)s)")
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    rows = run(sizes, args.repeat, args.mailbox_max)
    return 1 if any(row.problems() for row in rows) else 0


# --- pytest -------------------------------------------------------------------------------------

try:
    import pytest
except ImportError:  # the script runs without pytest
    pytest = None


def _perf_selected(config) -> bool:
    expr = config.getoption("markexpr", default="") or ""
    return bool(re.search(r"(?<!not )\bperf\b", expr))


if pytest is not None:

    @pytest.mark.perf
    def test_bench_mbox(request) -> None:
        if not _perf_selected(request.config):
            pytest.skip("benchmark: run with `pytest -m perf -s tests/perf/bench_mbox.py`")
        rows = run([100, 250, 500, 1000], repeat=3)
        for row in rows:  # counts and memory; never time (the figures depend on the machine)
            assert not row.problems(), (row.size_mb, row.problems())


if __name__ == "__main__":
    sys.exit(main())
