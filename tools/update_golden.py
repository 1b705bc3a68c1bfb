#!/usr/bin/env python3
"""Write the golden plans: tests/golden/HOST/RELEASE/ for each sample host and grammar era.

    python tools/update_golden.py          # rewrite them (then review `git diff tests/golden`)
    python tools/update_golden.py --check  # exit 1 if any differs (what tests/test_golden.py does)

The plans are made from the sample trees with a fixed inspection time, so they are
reproducible; plan.yaml and the reports are left out (they repeat what the files say), and so
are rsync/compare-manifest.py and rsync/freeze-manifest.py, constants of the emitter (tested
in test_plan_outputs).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from migrate.inspection import inspect_tree  # noqa: E402
from migrate.model import Origin, OriginKind  # noqa: E402
from migrate.planning import build_plan, resolve_target  # noqa: E402
from migrate.sources import LocalTree  # noqa: E402

GOLDEN = REPO / "tests" / "golden"
HOSTS = {
    "netsight": {"hostname": "lists.netsight.example", "ipv6": ["2001:db8:50::25"],
                 "smarthost": "smtp.upstream.example"},
    "small": {"hostname": "lists.example.org", "ipv6": ["2001:db8:60::25"]},
    "campus": {"hostname": "lists.cs.campus.example", "ipv6": ["2001:db8:70::25"]},
}
RELEASES = ("5.7", "6.3", "7.8")  # one per grammar era: 5.x, 6.x before 6.4, 6.4 and later
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.timezone.utc)
SKIP = ("plan.yaml", "report.md", "report.html",  # the same for every host: the emitter's
        "rsync/compare-manifest.py", "rsync/freeze-manifest.py")  # constants


def golden_files() -> dict[Path, str]:
    out: dict[Path, str] = {}
    for host, flags in HOSTS.items():
        inv = inspect_tree(LocalTree(REPO / "sample_configs" / host),
                           Origin(OriginKind.LOCAL, f"/samples/{host}"), now=NOW)
        for release in RELEASES:
            plan = build_plan(inv, resolve_target(inv, {}, dict(flags, openbsd=release)))
            for rel, text in plan.files.items():
                if rel not in SKIP:
                    out[GOLDEN / host / release / rel] = text
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args(argv)
    files = golden_files()
    existing = {p for p in GOLDEN.rglob("*") if p.is_file()} if GOLDEN.exists() else set()
    differ = sorted(str(p.relative_to(REPO)) for p, text in files.items()
                    if not p.is_file() or p.read_text() != text)
    extra = sorted(str(p.relative_to(REPO)) for p in existing - set(files))
    if args.check:
        for name in differ + extra:
            print(f"differs: {name}")
        return 1 if differ or extra else 0
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for name in extra:
        (REPO / name).unlink()
    print(f"{len(files)} golden files; {len(differ)} changed, {len(extra)} removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
