#!/usr/bin/env python3
"""Write the golden plans: the files each sample host's plan has for one release of each grammar
era (RELEASES), stored once where they do not depend on the release.

    python tools/update_golden.py          # rewrite them (then review `git diff tests/golden`)
    python tools/update_golden.py --check  # exit 1 if any differs (what tests/test_golden.py does)

Layout: ``tests/golden/HOST/common/PATH`` holds a file that every release's plan of HOST has,
byte for byte the same; ``tests/golden/HOST/RELEASE/PATH`` a file that differs between
releases (or that only some releases have), once for each release that has it. Nothing is
stored twice. When an emitter change makes a common file depend on the release (or makes a
release-dependent file the same for all), the test fails saying so; running this script then
moves the file (it removes ``common/PATH`` and writes ``RELEASE/PATH`` for each release, or the
reverse), and ``git diff tests/golden`` shows the move with the change. This script is the one
way to write the golden files: never copy or move them by hand.

The plans are made from the sample trees with a fixed inspection time, so they are
reproducible; plan.yaml and the reports are left out (they repeat what the files say), and so
are rsync/compare-manifest.py and rsync/freeze-manifest.py, constants of the emitter (tested
in test_plan_outputs), and the Mailman 3 destination's copies of its lock file and scripts.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from migrate.app.inspection import inspect_tree  # noqa: E402
from migrate.core.model import Origin, OriginKind  # noqa: E402
from migrate.app.planning import build_plan, resolve_target  # noqa: E402
from migrate.app.sources import LocalTree  # noqa: E402

GOLDEN = REPO / "tests" / "golden"
HOSTS = {
    "netsight": {"hostname": "lists.netsight.example", "ipv6": ["2001:db8:50::25"],
                 "smarthost": "smtp.upstream.example"},
    "small": {"hostname": "lists.example.org", "ipv6": ["2001:db8:60::25"]},
    "campus": {"hostname": "lists.cs.campus.example", "ipv6": ["2001:db8:70::25"]},
    # the old host's own name, as a first try would give it (sample_configs/README.md)
    "hillcrest": {"hostname": "lists.hillcrest.example", "ipv6": ["2001:db8:90::25"]},
    # Mailman under /cgi-bin/mailman/ and /images/mailman/, as the guides set it up (issue 26)
    "oakfield": {"hostname": "lists.oakfield.example", "ipv6": ["2001:db8:a0::25"]},
}
#: one per grammar era: 5.x, 6.x before 6.4, 6.4 and later with Mailman 2 (the last release known
#: to have its package) and with Mailman 3 (the default where the package is not known)
RELEASES = ("5.7", "6.3", "6.9", "7.8")
#: The folder of a host's files that are the same for every release.
COMMON = "common"
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.timezone.utc)
SKIP = ("plan.yaml", "report.md", "report.html",  # the same for every host: the emitter's
        "rsync/compare-manifest.py", "rsync/freeze-manifest.py",  # constants, the sync's
        "rsync/syncstate.py",  # script (tests/test_syncstate.py), and the Mailman
        # 3 destination's copies of its own files (its lock file and scripts, tested where
        # they are: tests/test_mailman3_*.py)
        "files/new/mailman3/requirements.txt", "files/new/mailman3/import_waiting.py",
        "files/old/mailman3/export_waiting.py", "files/old/mailman3/old_digests.py",
        "files/new/mailman3/web-requirements.txt", "files/new/mailman3/web/mailman2_urls.py",
        "files/new/mailman3/web/web_setup.py",
        "files/new/mailman3/archive/hyperkitty_archive.py",
        # the inspection's scanner, shipped beside it: parsers/mboxscan.py as it is
        "files/new/mailman3/archive/mboxscan.py")


class SampleTree(LocalTree):
    """A sample host's tree as git keeps it, whoever checked it out and with whatever umask:
    every entry belongs to uid 0 and gid 0 (root, wheel), a folder or an executable file has
    mode 0755, any other file 0644. Without this the checkout shows in the plan (the owner
    and mode of Mailman's data/adm.pw are in final.sh), and the golden files would hold only
    for a checkout made by root with umask 022 (sample_configs/README.md: "in a checkout it
    belongs to whoever cloned")."""

    def stat(self, path: str, follow: bool = True):
        s = super().stat(path, follow)
        mode = 0o755 if s.kind == "dir" or s.mode & 0o111 else 0o644
        return dataclasses.replace(s, uid=0, gid=0, mode=mode)


def emitted() -> dict[tuple[str, str], dict[str, bytes]]:
    """(host, release) -> {path in the plan: content} for every file the golden set covers."""
    out: dict[tuple[str, str], dict[str, bytes]] = {}
    for host, flags in HOSTS.items():
        inv = inspect_tree(SampleTree(REPO / "sample_configs" / host),
                           Origin(OriginKind.LOCAL, f"/samples/{host}"), now=NOW)
        for release in RELEASES:
            plan = build_plan(inv, resolve_target(inv, {}, dict(flags, openbsd=release)))
            out[host, release] = {rel: text.encode("utf-8") for rel, text in plan.files.items()
                                  if rel not in SKIP}
    return out


def layout(plans: dict[tuple[str, str], dict[str, bytes]]) -> dict[Path, bytes]:
    """Where each file of ``plans`` is stored (see the module's docstring): under COMMON when
    every release of its host has it alike, else under each release that has it."""
    out: dict[Path, bytes] = {}
    for host in HOSTS:
        per_release = [plans[host, release] for release in RELEASES]
        for rel in sorted(set().union(*per_release)):
            versions = [files.get(rel) for files in per_release]
            if all(v is not None and v == versions[0] for v in versions):
                out[GOLDEN / host / COMMON / rel] = versions[0]
                continue
            for release, data in zip(RELEASES, versions):
                if data is not None:
                    out[GOLDEN / host / release / rel] = data
    return out


def golden_files() -> dict[Path, bytes]:
    return layout(emitted())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args(argv)
    files = golden_files()
    existing = {p for p in GOLDEN.rglob("*") if p.is_file()} if GOLDEN.exists() else set()
    differ = sorted(str(p.relative_to(REPO)) for p, data in files.items()
                    if not p.is_file() or p.read_bytes() != data)
    extra = sorted(str(p.relative_to(REPO)) for p in existing - set(files))
    if args.check:
        for name in differ + extra:
            print(f"differs: {name}")
        return 1 if differ or extra else 0
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    for name in extra:
        (REPO / name).unlink()
    for folder in sorted((p for p in GOLDEN.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):  # left empty by a file that moved
            folder.rmdir()
    print(f"{len(files)} golden files; {len(differ)} changed, {len(extra)} removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
