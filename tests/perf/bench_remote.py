"""Benchmark: ``migrate inspect --host`` against the real sshd on loopback, for generated hosts
with 10 and 200 lists: SSH commands (each one channel), bytes received, and wall time against
``--root`` on the same tree.

A host is the netsight sample with its ``users`` list (config, pending and request pickles,
archive mbox, pipermail HTML) copied under new names until it has N lists. Both inspections
read the same tree; the remote one includes connecting and the key exchange. Goals from the
issue: commands constant in the number of lists (<= 10 for 200 lists), remote wall time within
1.5x of local.

    python tests/perf/bench_remote.py [--lists 10,200] [--repeat 3]
    pytest -m perf -s tests/perf/bench_remote.py
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from migrate import remote  # noqa: E402
from migrate.inspection import inspect_tree, remote_mbox_dirs, remote_spec  # noqa: E402
from migrate.model import Origin  # noqa: E402
from migrate.sources import LocalTree  # noqa: E402

MM = "usr/local/mailman"


def make_host(base: Path, lists: int) -> Path:
    root = base / f"host-{lists}"
    shutil.copytree(REPO / "sample_configs/netsight", root, symlinks=True)
    existing = sorted(p.name for p in (root / MM / "lists").iterdir())
    for i in range(lists - len(existing)):
        name = f"list{i:03d}"
        shutil.copytree(root / MM / "lists/users", root / MM / "lists" / name)
        shutil.copytree(root / MM / "archives/private/users", root / MM / "archives/private" /
                        name)
        mbox = root / MM / "archives/private" / f"{name}.mbox"
        mbox.mkdir()
        shutil.copy(root / MM / "archives/private/users.mbox/users.mbox",
                    mbox / f"{name}.mbox")
    return root


def run(sizes, repeat: int, out=sys.stdout) -> list[dict]:
    from sshtools import sshd_running
    rows = []
    base = Path(tempfile.mkdtemp(prefix="bench-remote-"))
    base.chmod(0o755)
    try:
        with sshd_running() as sshd:
            for n in sizes:
                root = make_host(base, n)
                local_best = remote_best = 1e9
                stats = None
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    inv_local = inspect_tree(LocalTree(root), Origin("local", str(root)))
                    local_best = min(local_best, time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    client = remote.connect("root@127.0.0.1", port=sshd.port,
                                            identity=str(sshd.key),
                                            known_hosts=str(sshd.known_hosts))
                    tree = remote.RemoteTree(client, root=str(root))
                    try:
                        tree.snapshot(remote_spec(), mbox_dirs=remote_mbox_dirs())
                        inv_remote = inspect_tree(tree, Origin("ssh", str(root)))
                    finally:
                        tree.close()
                    remote_best = min(remote_best, time.perf_counter() - t0)
                    stats = tree.stats
                assert len(inv_remote.lists) == len(inv_local.lists) == n
                row = {"lists": n, "commands": stats.commands, "bytes": stats.bytes_in,
                       "local": local_best, "remote": remote_best}
                rows.append(row)
                print(f"{n:>4} lists: {stats.commands} SSH commands, "
                      f"{stats.bytes_in / 1e6:.1f} MB received, local {local_best:.2f} s, "
                      f"remote {remote_best:.2f} s ({remote_best / local_best:.2f}x)", file=out)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    if rows:
        constant = len({r["commands"] for r in rows}) == 1
        worst = max(r["remote"] / r["local"] for r in rows)
        print(f"goal: commands constant and <= 10: {[r['commands'] for r in rows]}, "
              f"{'met' if constant and rows[-1]['commands'] <= 10 else 'MISSED'}; "
              f"remote within 1.5x of local: worst {worst:.2f}x, "
              f"{'met' if worst <= 1.5 else 'MISSED'}", file=out)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lists", default="10,200")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    run([int(x) for x in args.lists.split(",")], args.repeat)
    return 0


try:
    import pytest
except ImportError:
    pytest = None

if pytest is not None:

    @pytest.mark.perf
    def test_bench_remote(request) -> None:
        expr = request.config.getoption("markexpr", default="") or ""
        if not re.search(r"(?<!not )\bperf\b", expr):
            pytest.skip("benchmark: run with `pytest -m perf -s tests/perf/bench_remote.py`")
        rows = run([10, 200], 3)
        assert len({r["commands"] for r in rows}) == 1  # constant in the number of lists


if __name__ == "__main__":
    sys.exit(main())
