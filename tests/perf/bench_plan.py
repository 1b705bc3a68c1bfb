"""Benchmark: ``migrate plan`` on a generated inventory of 200 lists and 1,000,000 archived
posts (goal from the issue: under 2 s).

The inventory is built in memory from the model (200 lists over 4 domains, 60-400 members
each, 20 years of monthly volumes per list with posts summing to exactly 1,000,000, ten list
routes per list and domain, a system alias table), written as YAML to a temp folder, and then
timed in three parts, best of ``--repeat``: reading the inventory (``codec.load_yaml``),
building the plan (``build_plan``: every emitter and the report) and writing the plan directory.
Beside it, the YAML readers are compared on the same text, best of ``--repeat``: PyYAML's C
safe loader (what ``load_yaml`` used before), the same with the garbage collector paused,
ruamel.yaml's safe C loader and rapidyaml (when installed), and ``migrate.core.safeyaml`` (what
``load_yaml`` uses), each with whether it gives the same data as ``yaml.SafeLoader``.

Run it as a script::

    python tests/perf/bench_plan.py [--lists 200] [--posts 1000000] [--repeat 3]

or through pytest (skipped unless ``-m perf`` is given)::

    pytest -m perf -s tests/perf/bench_plan.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import re
import sys
import tempfile
import time
from pathlib import Path

import yaml

from migrate.core import codec, model, safeyaml
from migrate.core.model import (Alias, AliasTarget, AliasTargetKind, Archive, ArchiveMonth,
                                ArchiveVolume, Domain, DomainRole, FileMode, Host, IPAddress,
                                Inventory, ListRoute, Mailman, MailmanSettings, MailingList,
                                Members, Mta, Origin, VirtualHost)
from migrate.app.planning import build_plan, resolve_target, write_plan

DOMAINS = ("lists.example.org", "lists.example.net", "lists.example.com", "lists.example.edu")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
GOAL_SECONDS = 2.0


def generate(lists: int = 200, posts: int = 1_000_000, seed: int = 20261125) -> Inventory:
    rng = random.Random(seed)
    weights = [rng.uniform(0.2, 3.0) for _ in range(lists)]
    scale = posts / sum(weights)
    per_list = [int(w * scale) for w in weights]
    per_list[0] += posts - sum(per_list)
    inv = Inventory(model.SCHEMA_VERSION, "bench", dt.datetime(2026, 11, 25, tzinfo=dt.timezone.utc),
                    Origin("local", "/bench"))
    inv.host = Host(hostname="old.example.org",
                    addresses=[IPAddress("192.0.2.10", "inet", 24, "em0")])
    inv.mailman = Mailman(version="2.1.29", layout="freebsd-port", prefix="/usr/local/mailman",
                          var_prefix="/usr/local/mailman", settings=MailmanSettings(
                              default_url_host=DOMAINS[0], default_email_host=DOMAINS[0],
                              virtual_hosts=[VirtualHost(d, d) for d in DOMAINS]))
    mta = Mta(kind="exim", domains=[Domain(d, DomainRole.LIST) for d in DOMAINS])
    for i, count in enumerate(per_list):
        name = f"list{i:03d}"
        domain = DOMAINS[i % len(DOMAINS)]
        n = rng.randint(60, 400)
        ml = MailingList(name, host_name=domain, web_page_url=f"http://{domain}/mailman/",
                         owners=[f"owner{i}@example.org"], archive=True, archive_private=False,
                         archive_volume_frequency=1,
                         members=Members(regular_count=n, regular=[
                             f"member{j}.{i}@example.net" for j in range(n)]),
                         files=[FileMode(f"/usr/local/mailman/lists/{name}/config.pck", "mailman",
                                         "mailman", "0660", 20000, "%064x" % rng.getrandbits(256))])
        inv.lists.append(ml)
        archive = Archive(name, public=True, volume_frequency=1,
                          mbox_path=f"/usr/local/mailman/archives/private/{name}.mbox/{name}.mbox",
                          bytes=count * 6000, sha256="%064x" % rng.getrandbits(256),
                          messages=count, html_dir=f"/usr/local/mailman/archives/private/{name}")
        monthly = [count // 240] * 240
        monthly[-1] += count - sum(monthly)
        for k, m in enumerate(monthly):
            year, month = 2006 + k // 12, k % 12 + 1
            archive.months.append(ArchiveMonth(f"{year}-{month:02d}", m))
            archive.volumes.append(ArchiveVolume(f"{year}-{MONTHS[month - 1]}", m, True, m))
        archive.html_articles = count
        archive.files.append(FileMode(archive.mbox_path, "mailman", "mailman", "0664",
                                      archive.bytes, archive.sha256))
        inv.archives.append(archive)
        for suffix in ("", "-admin", "-bounces", "-confirm", "-join", "-leave", "-owner",
                       "-request", "-subscribe", "-unsubscribe"):
            mta.list_routes.append(ListRoute(f"{name}{suffix}", domain, name, "router",
                                             router="mailman_router",
                                             transport="mailman_transport"))
    mta.aliases = [Alias(f"alias{k}", [AliasTarget(AliasTargetKind.ADDRESS, f"a{k}@example.org")],
                         "/etc/aliases") for k in range(500)]
    inv.mta = mta
    return inv


def _ruamel_loader():
    try:
        import _ruamel_yaml  # noqa: F401 - its C parser; without it ruamel.yaml is pure Python
        from ruamel.yaml import YAML
    except ImportError:
        return None
    return YAML(typ="safe", pure=False).load


def _ryml_loaders():
    """rapidyaml: its parse alone, and a walk that builds the data (SafeLoader's resolution of
    plain scalars borrowed from safeyaml). Neither refuses tags nor bounds aliases: measured
    only, to see where a C++ parser would leave us."""
    try:
        import ryml
    except ImportError:
        return {}
    resolve = safeyaml._Resolver()

    def walk(tree, node):
        if tree.is_map(node):
            out, child = {}, tree.first_child(node)
            while child != ryml.NONE:
                out[bytes(tree.key(child)).decode()] = value(tree, child)
                child = tree.next_sibling(child)
            return out
        if tree.is_seq(node):
            out, child = [], tree.first_child(node)
            while child != ryml.NONE:
                out.append(value(tree, child))
                child = tree.next_sibling(child)
            return out
        return value(tree, node)

    def value(tree, node):
        if tree.is_container(node):
            return walk(tree, node)
        text = bytes(tree.val(node)).decode()
        return text if tree.is_val_quoted(node) else resolve(text)

    def parse_only(text):
        return ryml.parse_in_arena(text.encode())

    def parse_and_walk(text):
        tree = ryml.parse_in_arena(text.encode())
        with safeyaml.no_gc():
            return walk(tree, tree.first_child(tree.root_id()) if tree.is_doc(tree.root_id())
                        else tree.root_id())
    return {"rapidyaml: parse only (no Python data)": parse_only,
            "rapidyaml: parse + Python walk (unsafe: tags, aliases)": parse_and_walk}


def compare_readers(text: str, repeat: int, out=sys.stdout) -> dict[str, float]:
    """Time each YAML reader on ``text`` (best of ``repeat``); say if it equals SafeLoader's."""

    def csafe_paused(t):
        with safeyaml.no_gc():
            return yaml.load(t, Loader=yaml.CSafeLoader)  # noqa: S506

    readers = {
        "PyYAML CSafeLoader (before)": lambda t: yaml.load(t, Loader=yaml.CSafeLoader),  # noqa: S506
        "PyYAML CSafeLoader, gc paused": csafe_paused,
    }
    ruamel = _ruamel_loader()
    readers["ruamel.yaml typ=safe, C parser"] = ruamel
    readers.update(_ryml_loaders())
    readers["migrate.core.safeyaml (after)"] = safeyaml.load
    reference = yaml.load(text, Loader=yaml.CSafeLoader)  # noqa: S506 - same data as SafeLoader
    best: dict[str, float] = {}
    print(f"{'YAML reader':<56} {'best s':>7}  same data as SafeLoader", file=out)
    for name, load in readers.items():
        if load is None:
            print(f"{name:<56} {'-':>7}  not installed", file=out)
            continue
        for _ in range(repeat):
            t0 = time.perf_counter()
            data = load(text)
            best[name] = min(best.get(name, 1e9), time.perf_counter() - t0)
        same = "n/a" if "parse only" in name else ("yes" if data == reference else "NO")
        print(f"{name:<56} {best[name]:7.2f}  {same}", file=out)
        del data
    return best


def run(lists: int, posts: int, repeat: int, out=sys.stdout) -> dict[str, float]:
    inv = generate(lists, posts)
    assert sum(a.messages for a in inv.archives) == posts
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-plan-") as tmp:
        path = Path(tmp) / "inventory.yaml"
        path.write_text(codec.dump_yaml(inv))
        size = path.stat().st_size
        json_path = Path(tmp) / "inventory.json"
        json_path.write_text(codec.dump_json(inv))
        for _ in range(repeat):
            t0 = time.perf_counter()
            codec.load_json(json_path.read_text())
            best["read_json"] = min(best.get("read_json", 1e9), time.perf_counter() - t0)
        for i in range(repeat):
            t0 = time.perf_counter()
            loaded = codec.load_yaml(path.read_text())
            t1 = time.perf_counter()
            target = resolve_target(loaded, {}, {"hostname": "lists.example.org",
                                                 "ipv6": ["2001:db8:60::25"]})
            plan = build_plan(loaded, target)
            t2 = time.perf_counter()
            write_plan(plan, str(Path(tmp) / "plan"))
            t3 = time.perf_counter()
            for key, value in (("read", t1 - t0), ("plan", t2 - t1), ("write", t3 - t2),
                               ("total", t3 - t0)):
                best[key] = min(best.get(key, value), value)
        files = len(plan.files)
        yaml_text = path.read_text()
    print(f"{lists} lists, {posts:,} archived posts, inventory {size / 1e6:.1f} MB, "
          f"{files} plan files", file=out)
    print(f"read {best['read']:.2f} s, plan {best['plan']:.2f} s, write {best['write']:.2f} s, "
          f"total {best['total']:.2f} s (best of {repeat})", file=out)
    print(f"reading the same inventory as JSON (inspect -o inventory.json): "
          f"{best['read_json']:.2f} s", file=out)
    work = best["plan"] + best["write"]
    print(f"goal: plan in < {GOAL_SECONDS} s: build + write {work:.2f} s, "
          f"{'met' if work < GOAL_SECONDS else 'MISSED'}; end to end from YAML "
          f"{best['total']:.2f} s, from JSON {best['read_json'] + work:.2f} s", file=out)
    readers = compare_readers(yaml_text, repeat, out)
    best.update({f"reader: {k}": v for k, v in readers.items()})
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lists", type=int, default=200)
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    run(args.lists, args.posts, args.repeat)
    return 0


try:
    import pytest
except ImportError:  # the script runs without pytest
    pytest = None

if pytest is not None:

    @pytest.mark.perf
    def test_bench_plan(request) -> None:
        expr = request.config.getoption("markexpr", default="") or ""
        if not re.search(r"(?<!not )\bperf\b", expr):
            pytest.skip("benchmark: run with `pytest -m perf -s tests/perf/bench_plan.py`")
        best = run(200, 1_000_000, 3)
        assert best["total"] > 0  # figures only; never a timed test


if __name__ == "__main__":
    sys.exit(main())
