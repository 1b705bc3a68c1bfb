"""Benchmark: the freeze window's final sync on a 1 GB and a 10 GB host, against the final sync
this project had before (a checksum of everything, three times).

Each host is the netsight sample's Mailman tree grown to the size: its four lists' archive mboxes
(``bench_mbox.generate_mbox``'s realistic posts, repeated to the size: 50/30/15/5 per cent) and
100,000 pipermail article pages spread over months. The old host's tree lives on its own ext4
file system on a loop device, so the bytes the old host reads come from the device's own
counter (``/sys/block/loopN/stat``), with every cache dropped first: a cold host, the
conservative case. Then, with the plan's own scripts on two network namespaces with the real
rsync over the real ssh to the real sshd (tests/synctools.py):

1. the pre-sync (``rsync/presync.sh``: copies, records both hosts);
2. a few posts after it, as Mailman and pipermail leave them: each appended to the biggest
   list's mbox, its article page written, the month's four index pages and the archive's
   index written again, the previous article's page rewritten (its "next" link);
3. caches dropped, then ``rsync/final.sh`` timed, and the old host's device reads counted.

For the 10 GB host the same posts are then repeated and the previous final sync (rebuilt
from ``rsync/transfers.yaml``: a SHA-256 manifest of every carried file on the old host,
``rsync --checksum --delete-after`` over each folder, ``sha256sum -c`` on the new host) is
timed the same way: the baseline.

The window measured is the final sync (delta, copy, verify): the part that grows with the
archive. The freeze's other parts (the MTA answering 4xx, the queues draining, the list
manager starting on the new host) do not read the archive; the cutover's journal times them.

The last line printed, for comparison from run to run::

    freeze window: 1GB=<s> 10GB=<s> ratio=<r> old-host-read=<percent>% baseline-10GB=<s>

Run it as root (namespaces, a loop device, drop_caches), from the checkout::

    python tests/perf/bench_freeze_window.py [--sizes 1,10] [--html 100000] [--no-baseline]
    pytest -m perf -s tests/perf/bench_freeze_window.py      # a small run: 0.2 GB, 5,000 pages
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from bench_mbox import _perf_selected, generate_mbox  # noqa: E402
from conftest import SAMPLES, golden_tool, need  # noqa: E402
from synctools import SyncPair  # noqa: E402

from emitters.mailman2.paths import MM_VAR  # noqa: E402
from migrate.app.inspection import inspect_tree  # noqa: E402
from migrate.app.planning import build_plan, resolve_target  # noqa: E402
from migrate.core.model import Origin  # noqa: E402

GB = 1 << 30
OLD_VAR = "/usr/local/mailman"
#: Each list's share of the archive bytes.
SHARES = {"users": 0.50, "devtalk": 0.30, "announce": 0.15, "mailman": 0.05}
POSTS = 3  # after the pre-sync
BLOCK = 64 << 20  # the generated posts, repeated to the size


@dataclass
class Run:
    size_gb: float
    window: float = 0.0
    old_read: int = 0
    archive: int = 0
    parts: str = ""
    baseline: float | None = None
    baseline_read: int | None = None
    setup: dict[str, float] = field(default_factory=dict)


def plan_files() -> dict[str, str]:
    tool = golden_tool()
    inv = inspect_tree(tool.SampleTree(SAMPLES / "netsight"), Origin("local", "/samples/netsight"))
    target = resolve_target(inv, {}, {"hostname": "lists.netsight.example",
                                      "ipv6": ["2001:db8:50::25"], "destination": "mailman2"})
    return build_plan(inv, target).files


class LoopFs:
    """An ext4 file system on a loop device over a sparse file, mounted at ``mount``."""

    def __init__(self, image: Path, size: int, mount: Path) -> None:
        self.image, self.mount = image, mount
        with open(image, "wb") as fh:
            fh.truncate(size)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0",
                        str(image)], check=True, capture_output=True)
        self.device = subprocess.run(["losetup", "--find", "--show", str(image)], check=True,
                                     capture_output=True, text=True).stdout.strip()
        mount.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", self.device, str(mount)], check=True)

    def bytes_read(self) -> int:
        fields = Path(f"/sys/block/{Path(self.device).name}/stat").read_text().split()
        return int(fields[2]) * 512  # sectors read

    def close(self) -> None:
        subprocess.run(["umount", "-l", str(self.mount)], capture_output=True)
        subprocess.run(["losetup", "-d", self.device], capture_output=True)
        self.image.unlink(missing_ok=True)


def drop_caches() -> None:
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def grow(var: Path, size: int, html: int, work: Path) -> int:
    """The sample's archives grown to ``size`` bytes of mbox and ``html`` article pages."""
    block = work / "block.mbox"
    if not block.exists():
        generate_mbox(block, min(BLOCK, max(size // 8, 1 << 20)))
    data = block.read_bytes()
    total = 0
    for name, share in SHARES.items():
        mbox = var / f"archives/private/{name}.mbox/{name}.mbox"
        want = int(size * share)
        with mbox.open("ab") as fh:
            while mbox.stat().st_size < want:
                fh.write(data[:want - mbox.stat().st_size])
                fh.flush()
        total += mbox.stat().st_size
    users = var / "archives/private/users"
    per_month = 1000
    page = (b"<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2//EN\">\n<HTML><HEAD><TITLE>[users] "
            b"a post</TITLE></HEAD><BODY>\n" + b"<P>quoted text of the post, line by line\n" * 60
            + b"</BODY></HTML>\n")
    for n in range(html):
        month = users / f"bench-{n // per_month:04d}"
        if n % per_month == 0:
            month.mkdir(exist_ok=True)
            for index in ("date", "thread", "subject", "author"):
                (month / f"{index}.html").write_bytes(page * 8)
        (month / f"{n:06d}.html").write_bytes(page)
    return total


def post(var: Path, html: int, k: int) -> None:
    """One post as Mailman 2.1 leaves it: the mbox appended to, pipermail's pages written."""
    mbox = var / "archives/private/users.mbox/users.mbox"
    with mbox.open("ab") as fh:
        fh.write(b"From late%d@example.org Mon Dec  7 22:00:%02d 2026\nFrom: late%d@example.org"
                 b"\nSubject: late post %d\nMessage-ID: <late%d@example.org>\n\nbody\n\n"
                 % (k, k, k, k, k))
    month = var / f"archives/private/users/bench-{max(html - 1, 0) // 1000:04d}"
    month.mkdir(exist_ok=True)
    article = month / f"{html + k:06d}.html"
    article.write_bytes(b"<HTML><BODY>late post</BODY></HTML>\n")
    previous = month / f"{html + k - 1:06d}.html"
    if previous.exists():  # its "next" link
        previous.write_bytes(previous.read_bytes() + b"<!-- next -->\n")
    for index in ("date", "thread", "subject", "author"):
        path = month / f"{index}.html"
        path.write_bytes((path.read_bytes() if path.exists() else b"") + b"<LI>late\n")
    index = var / "archives/private/users/index.html"
    index.write_bytes(index.read_bytes() + b"<!-- late -->\n")


def baseline_script(files: dict[str, str]) -> str:
    """The final sync as it was before the pre-sync's record: everything hashed on the old
    host, rsync --checksum over every folder, everything hashed again on the new host."""
    data = yaml.safe_load(files["rsync/transfers.yaml"])
    flags = [f for f in data["flags"]["common"]]
    lines = ["set -eu", 'TMP=$(mktemp -d); trap \'rm -rf "$TMP"\' EXIT',
             'RNEW="root@[${NEW#*@}]"',
             # the freeze manifest: every carried regular file, hashed on the old host
             "cd / && find " + " ".join(t["source"] for t in data["transfers"]
                                        if t["kind"] != "held-posts-and-site-passwords")
             + f" -type f ! -name 'config.pck.tmp.*' -exec sha256sum {{}} + | sed 's|  {OLD_VAR}/|  {MM_VAR}/|' "
             '> "$TMP/manifest"']
    for t in data["transfers"]:
        only = [f"--include={p}" for p in t.get("include", [])]
        only += ["--exclude=*"] if only else []
        only = [f"--exclude={p}" for p in t.get("exclude", [])] + only
        words = ["rsync", *flags, "--checksum", "--delete-after", "--stats", *only,
                 t["source"], f'"$RNEW:{t["destination"]}"']
        lines.append(" ".join(w if w.startswith('"') else _q(w) for w in words) + " >/dev/null")
    lines += ["rsync --rsh='ssh -o BatchMode=yes' \"$TMP/manifest\" \"$RNEW:/root/manifest\"",
              "ssh -o BatchMode=yes \"$NEW\" 'sha256sum --quiet -c /root/manifest'"]
    return "\n".join(lines) + "\n"


def _q(word: str) -> str:
    return word if re.fullmatch(r"[-A-Za-z0-9_./=:@+,]+", word) else "'" + word.replace(
        "'", "'\\''") + "'"


def timed_final(pair: SyncPair, fs: LoopFs, command: str) -> tuple[float, int, str]:
    drop_caches()
    before = fs.bytes_read()
    start = time.monotonic()
    proc = pair.old.run(command, timeout=7200, check=False)
    seconds = time.monotonic() - start
    read = fs.bytes_read() - before
    if proc.returncode != 0:
        raise RuntimeError(f"`{command}` exited {proc.returncode}: {proc.stderr[-3000:]}")
    return seconds, read, proc.stdout + proc.stderr


def run_size(size_gb: float, html: int, baseline: bool, work: Path, files: dict[str, str],
             out=sys.stdout) -> Run:
    row = Run(size_gb)
    base = Path(tempfile.mkdtemp(prefix="bench-freeze-", dir=work))
    fs = LoopFs(base / "old.img", int(size_gb * GB * 1.3) + 2 * GB, base / "old-mnt")
    pair = None
    try:
        var = fs.mount / "var"
        shutil.copytree(SAMPLES / "netsight" / OLD_VAR.lstrip("/"), var, symlinks=True)
        t = time.monotonic()
        row.archive = grow(var, int(size_gb * GB), html, work)
        row.setup["generate"] = time.monotonic() - t
        (base / "hosts").mkdir()
        pair = SyncPair(files, None, OLD_VAR, MM_VAR, base=base / "hosts", old_folder=var)
        t = time.monotonic()
        pair.presync(timeout=7200)
        row.setup["presync"] = time.monotonic() - t
        for k in range(1, POSTS + 1):
            post(var, html, k)
        command = f"NEW={pair.new_ssh} sh /root/migrate-plan/rsync/final.sh"
        row.window, row.old_read, text = timed_final(pair, fs, command)
        row.parts = re.search(r"final sync: .*", text).group(0)
        if baseline:
            for k in range(POSTS + 1, 2 * POSTS + 1):
                post(var, html, k)
            (base / "hosts/old-plan/baseline.sh").write_text(baseline_script(files))
            row.baseline, row.baseline_read, _ = timed_final(
                pair, fs, f"NEW={pair.new_ssh} sh /root/migrate-plan/baseline.sh")
        print(f"{size_gb:g} GB ({row.archive / GB:.2f} GB of mbox, {html} pages): final sync "
              f"{row.window:.1f} s, old host read {row.old_read / 1e6:.1f} MB "
              f"({100 * row.old_read / row.archive:.3f}%); {row.parts}"
              + (f"; baseline {row.baseline:.1f} s, read {row.baseline_read / 1e6:.0f} MB"
                 if row.baseline is not None else "")
              + f"; setup {', '.join(f'{k} {v:.0f} s' for k, v in row.setup.items())}",
              file=out, flush=True)
        return row
    finally:
        if pair is not None:
            pair.close()
        fs.close()
        shutil.rmtree(base, ignore_errors=True)


def run(sizes=(1, 10), html: int = 100_000, baseline: bool = True, out=sys.stdout) -> list[Run]:
    need(os.geteuid() == 0, "the benchmark needs root (namespaces, loop devices, drop_caches)")
    files = plan_files()
    with tempfile.TemporaryDirectory(prefix="bench-freeze-work-", dir="/var/tmp") as work:
        rows = [run_size(s, html, baseline and s == max(sizes), Path(work), files, out)
                for s in sizes]
    small, big = rows[0], rows[-1]
    ratio = big.window / small.window if small.window else 0.0
    print(f"freeze window: {small.size_gb:g}GB={small.window:.1f} {big.size_gb:g}GB="
          f"{big.window:.1f} ratio={ratio:.2f} old-host-read={100 * big.old_read / big.archive:.3f}%"
          f" baseline-{big.size_gb:g}GB="
          + (f"{big.baseline:.1f}" if big.baseline is not None else "-"), file=out, flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1,10", help="archive sizes in GB, comma-separated")
    parser.add_argument("--html", type=int, default=100_000, help="pipermail pages per host")
    parser.add_argument("--no-baseline", action="store_true", help="skip the old final sync")
    args = parser.parse_args(argv)
    run(tuple(float(s) for s in args.sizes.split(",")), args.html, not args.no_baseline)
    return 0


@pytest.mark.perf
def test_bench_freeze_window(request) -> None:
    if not _perf_selected(request.config):
        pytest.skip("benchmark: run with -m perf")
    rows = run((0.1, 0.2), html=5000)
    for row in rows:
        assert row.old_read < row.archive / 10, row
        assert "bytes sent" in row.parts
    assert rows[-1].baseline is not None


if __name__ == "__main__":
    sys.exit(main())
