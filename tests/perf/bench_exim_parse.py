"""Benchmark: ``parse_exim`` on generated Exim configurations of 1,000, 10,000 and 100,000 lines.

Each configuration is a host tree in a temp folder: ``/usr/local/etc/exim/configure`` (macros,
named lists, main options, ``.ifdef`` blocks) that ``.include``s, relatively and absolutely,
several files per section under ``conf.d/`` (main options, ACL statements, routers,
transports; the first ACL file includes one more file itself), plus an ``.include_if_exists``
of a file that is absent. Routers and transports have continuation lines, macros, named-list
references, lookups and comments, as a large Mailman host's configuration has. The macro count
is fixed (``MACROS``): every physical line with an upper-case letter is scanned for each macro,
so the number of macros, not of lines, sets the cost per line.

Each size is parsed ``--repeat`` times with a fresh ``LocalTree`` and the best
``time.perf_counter()`` is kept. The table shows lines, files, seconds, lines per second, and the
ratios time(10k)/time(1k) and time(100k)/time(10k): about 10 each when parsing grows linearly.
The goal from the issue: 10,000 lines with includes in under 0.2 s. ``--fan-out`` adds
configurations whose files include the next one 2 and 4 times, 14 deep (Exim reads 32,767 and
358 million files): the include budget stops both early.

Run it as a script::

    python tests/perf/bench_exim_parse.py [--sizes 1000,10000,100000] [--repeat 5] [--fan-out]
                                          [--profile]

or through pytest (not collected by the default run, which collects ``test_*.py`` only; skipped
unless ``-m perf`` is given)::

    pytest -m perf tests/perf/bench_exim_parse.py -s

The pytest test checks that every generated configuration parses to what was generated; it
never fails on time (the figures depend on the machine).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

try:
    import pytest
except ImportError:  # the script runs without pytest
    pytest = None

from parsers.exim import EximConfig, parse_exim
from migrate.app.sources import LocalTree

EXIM_DIR = "/usr/local/etc/exim"
CONFIGURE = f"{EXIM_DIR}/configure"
SIZES = (1_000, 10_000, 100_000)
GOAL_LINES, GOAL_SECONDS = 10_000, 0.2
MACROS = 40
SEED = 20250611

_DOMAINS = ("example.org", "example.net", "lists.example.org", "riverbend.example",
            "netsight.example", "mail.example.com")


@dataclass
class Generated:
    """What was written, so the benchmark can check what the parser read."""

    root: Path
    lines: int = 0  # physical lines in all files
    files: int = 0
    routers: int = 0
    transports: int = 0
    acl_statements: int = 0
    named_lists: int = 0
    main_options: int = 0
    macros: int = 0
    contents: dict[str, list[str]] = field(default_factory=dict)

    def add(self, host_path: str, lines: list[str]) -> None:
        self.contents.setdefault(host_path, []).extend(lines)

    def write(self) -> None:
        for host_path, lines in self.contents.items():
            local = self.root / host_path.lstrip("/")
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.files = len(self.contents)
        self.lines = sum(len(lines) for lines in self.contents.values())


def _macro(i: int) -> str:
    return f"MAC{i:03d}"  # fixed width: no macro name is a substring of another


def _router(rng: random.Random, g: Generated, i: int) -> list[str]:
    g.routers += 1
    n_lists = max(1, g.named_lists)
    kind = i % 4
    head = [f"# router {i}: " + rng.choice(("virtual aliases", "list traffic", "local users",
                                             "relay")), f"r{i:06d}:"]
    if kind == 0:
        body = ["  driver = redirect",
                f"  domains = +dom{rng.randrange(n_lists):05d} : ! +local_domains",
                "  data = ${lookup{$local_part}lsearch{VDIR/$domain}}",
                f"  condition = ${{if !eq{{$local_part}}{{{_macro(rng.randrange(MACROS))}}}}}",
                "  pipe_transport = address_pipe",
                "  local_part_suffix = -admin : -bounces : -bounces+* : -confirm : \\",
                "                      -join : -leave : -owner : -request",
                "  local_part_suffix_optional", "  no_more"]
    elif kind == 1:
        body = ["  driver = accept", f"  domains = +dom{rng.randrange(n_lists):05d}",
                "  require_files = MAILMAN_HOME/lists/$local_part/config.pck",
                f"  transport = t{rng.randrange(max(1, g.transports or 1)):06d}",
                "  headers_add = X-Router: " + rng.choice(_DOMAINS)]
    elif kind == 2:
        body = ["  driver = manualroute", "  domains = ! +local_domains",
                f"  route_list = * smtp{i % 7}.{rng.choice(_DOMAINS)} byname",
                "  transport = remote_smtp", "  self = send", "  no_more"]
    else:
        body = ["  driver = redirect", "  check_local_user", "  file = $home/.forward",
                "  no_verify", "  allow_filter", "  file_transport = address_file",
                "  reply_transport = address_reply"]
    return head + body + [""]


def _transport(rng: random.Random, g: Generated, i: int) -> list[str]:
    g.transports += 1
    head = [f"t{i:06d}:"]
    if i % 3 == 0:
        body = ["  driver = pipe",
                "  command = MAILMAN_WRAP \\",
                "            '${if def:local_part_suffix \\",
                "                  {${sg{$local_part_suffix}{-(\\\\w+)(\\\\+.*)?}{\\\\$1}}} \\",
                "                  {post}}' \\",
                "            $local_part",
                "  current_directory = MAILMAN_HOME", "  user = MAILMAN_USER",
                "  group = MAILMAN_GROUP"]
    elif i % 3 == 1:
        body = ["  driver = smtp", f"  port = {rng.choice((25, 587, 2525))}",
                f"  hosts_require_tls = {rng.choice(_DOMAINS)}",
                '  helo_data = "mail.example.org\\t(test)"', "  hide dkim_private_key = /k"]
    else:
        body = ["  driver = appendfile", "  file = /var/mail/$local_part",
                "  delivery_date_add", "  envelope_to_add", "  return_path_add",
                "  mode = 0600"]
    return head + body + [""]


def _acl_statement(rng: random.Random, g: Generated, i: int) -> list[str]:
    g.acl_statements += 1
    n_lists = max(1, g.named_lists)
    verb = rng.choice(("accept", "deny", "require", "warn", "defer"))
    return [f"  {verb}  domains       = +dom{rng.randrange(n_lists):05d} : +local_domains",
            f"          hosts         = <; 127.0.0.1 ; ::1 ; 192.0.2.{i % 250}/32",
            f"          message       = rule {i} for {_macro(rng.randrange(MACROS))}",
            "          condition     = ${lookup{$sender_address}lsearch{/etc/exim/senders}"
            "{yes}{no}}", ""]


def generate_config(root: Path, lines: int, seed: int = SEED) -> Generated:
    """Write a configuration of about ``lines`` physical lines (a few more, never fewer)."""
    rng = random.Random(f"{seed}-{lines}")
    g = Generated(root)
    per_section = max(1, min(10, lines // 2_500))
    conf_d = f"{EXIM_DIR}/conf.d"
    # Line budget: main file 8%, main-option includes 7%, ACLs 25%, routers 35%, transports 25%.
    budget = {"main": lines * 8 // 100, "options": lines * 7 // 100, "acl": lines // 4,
              "routers": lines * 35 // 100}
    budget["transports"] = lines - sum(budget.values())

    main: list[str] = ["# Exim 4 runtime configuration (generated for the benchmark)", ""]
    for i in range(MACROS):
        main.append(f"{_macro(i)} = value-{i}")
        g.macros += 1
    main += ["MAILMAN_HOME = /usr/local/mailman", "MAILMAN_WRAP = MAILMAN_HOME/mail/mailman",
             "MAILMAN_USER = mailman", "MAILMAN_GROUP = mailman",
             f"VDIR = {EXIM_DIR}/virtual", "SPAM_LIMIT = 50", "SPAM_LIMIT == 80",
             "HAVE_SCANNERS = yes", ""]
    g.macros += 7
    main.append(".include_if_exists /usr/local/etc/exim/configure.local")
    main.append("domainlist local_domains = @ : localhost : " + " : ".join(_DOMAINS[:3]))
    g.named_lists += 1
    main.append("hostlist relay_from_hosts = <; 127.0.0.1 ; ::1 ; 192.0.2.0/24")
    g.named_lists += 1
    main += [".ifdef HAVE_SCANNERS", "av_scanner = clamd:/var/run/clamav/clamd.sock",
             ".else", "# scanning disabled", ".endif"]
    g.main_options += 1
    while len(main) < budget["main"] - 4 * per_section - 12:
        k = g.named_lists
        if k % 5 == 4:
            main += [f"domainlist dom{k:05d} = <; {rng.choice(_DOMAINS)} ; \\",
                     f"    sub{k}.{rng.choice(_DOMAINS)} ; dsearch;VDIR"]
        else:
            main.append(f"domainlist dom{k:05d} = {rng.choice(_DOMAINS)} : +local_domains : "
                        f"${{lookup{{$domain}}lsearch{{{EXIM_DIR}/domains-{k % 9}}}}}")
        g.named_lists += 1
    main += ["primary_hostname = mail.example.org", "qualify_domain = example.org",
             "daemon_smtp_ports = 25 : 587", "acl_smtp_rcpt = acl_check_rcpt", ""]
    g.main_options += 4

    def section_files(section: str, quota: int, item) -> None:
        """Fill ``per_section`` include files for ``section`` with items up to ``quota``."""
        share = quota // per_section
        for n in range(per_section):
            path = f"{conf_d}/{section}-{n:02d}.conf"
            # alternate relative and absolute includes
            main.append(f".include {path}" if n % 2 else f".include conf.d/{section}-{n:02d}.conf")
            body = [f"# {section} part {n}"]
            if section == "acl" and n == 0:
                body += ["acl_check_rcpt:", "  .include nested/dnsbl.conf"]
                g.add(f"{conf_d}/nested/dnsbl.conf", [
                    "  deny    dnslists = zen.example : bl.example", "          !hosts = :",
                    "          message = listed at $dnslist_domain", ""])
                g.acl_statements += 1
            while len(body) < share:
                body += item(rng, g, g.acl_statements if section == "acl" else (
                    g.routers if section == "routers" else g.transports if
                    section == "transports" else g.main_options))
            g.add(path, body)

    def option(rng: random.Random, g: Generated, i: int) -> list[str]:
        g.main_options += 1
        name = rng.choice(("message_size_limit", "smtp_accept_max", "queue_run_max",
                           "remote_max_parallel", "log_selector", "smtp_banner",
                           "tls_advertise_hosts", "ignore_bounce_errors_after"))
        if i % 10 == 0:
            return ["log_selector = +smtp_protocol_error +smtp_syntax_error \\",
                    "               +tls_certificate_verified +subject"]
        return [f"{name} = {_macro(i % MACROS)}-{i}"]

    section_files("options", budget["options"], option)
    main.append("begin acl")
    section_files("acl", budget["acl"], _acl_statement)
    main.append("begin routers")
    routers_at = len(main)
    main.append("begin transports")
    section_files("transports", budget["transports"], _transport)
    # routers after transports are generated, so routers can name existing transports;
    # their include lines still sit under "begin routers"
    tail = main[routers_at:]
    del main[routers_at:]
    section_files("routers", budget["routers"], _router)
    main += tail
    main += ["", "begin retry", "*  *  F,2h,15m; G,16h,1h,1.5; F,4d,6h",
             "", "begin rewrite", "*@mail.example.org  $1@example.org  Ffrs"]
    g.contents = {CONFIGURE: main, **g.contents}
    g.write()
    return g


def check(g: Generated, cfg: EximConfig) -> list[str]:
    """Differences between what was generated and what was parsed (empty when all is read)."""
    problems = []
    want = {"routers": g.routers, "transports": g.transports, "acl statements": g.acl_statements,
            "named lists": g.named_lists, "main options": g.main_options}
    got = {"routers": len(cfg.routers), "transports": len(cfg.transports),
           "acl statements": len(cfg.acl), "named lists": len(cfg.named_lists),
           "main options": len(cfg.main)}
    for key in want:
        if want[key] != got[key]:
            problems.append(f"{key}: generated {want[key]}, parsed {got[key]}")
    if len(cfg.files) != g.files:
        problems.append(f"files: wrote {g.files}, parser read {len(cfg.files)}")
    if cfg.findings:
        problems.append(f"{len(cfg.findings)} findings, first: {cfg.findings[0]}")
    return problems


@dataclass
class Row:
    size: int  # the size asked for; the generator writes a few lines more
    lines: int
    files: int
    seconds: float
    problems: list[str]

    @property
    def rate(self) -> float:
        return self.lines / self.seconds if self.seconds else float("inf")


def time_parse(root: Path, repeat: int) -> tuple[float, EximConfig]:
    best = float("inf")
    cfg = None
    for _ in range(repeat):
        tree = LocalTree(root)  # fresh: no resolve cache carried over between runs
        start = time.perf_counter()
        cfg = parse_exim(tree, CONFIGURE)
        best = min(best, time.perf_counter() - start)
    assert cfg is not None
    return best, cfg


def run(sizes: tuple[int, ...] = SIZES, repeat: int = 5, out=sys.stdout) -> list[Row]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-exim-") as tmp:
        for size in sizes:
            root = Path(tmp) / f"host-{size}"
            g = generate_config(root, size)
            # big configurations: fewer repeats, the best of 3 is steady enough
            seconds, cfg = time_parse(root, repeat if size <= 10_000 else max(1, min(repeat, 3)))
            rows.append(Row(size, g.lines, g.files, seconds, check(g, cfg)))
    print(table(rows), file=out)
    return rows


def table(rows: list[Row]) -> str:
    lines = [f"{'lines':>9}  {'files':>5}  {'seconds':>9}  {'lines/s':>10}  ratio to previous",
             f"{'-' * 9}  {'-' * 5}  {'-' * 9}  {'-' * 10}  {'-' * 17}"]
    prev = None
    for row in rows:
        ratio = ""
        if prev is not None:
            ratio = (f"time x{row.seconds / prev.seconds:.1f} for lines "
                     f"x{row.lines / prev.lines:.1f}")
        lines.append(f"{row.lines:>9,}  {row.files:>5}  {row.seconds:>9.4f}  "
                     f"{row.rate:>10,.0f}  {ratio}")
        prev = row
    by_size = {r.size: r for r in rows}
    for big, small in ((10_000, 1_000), (100_000, 10_000)):
        if big in by_size and small in by_size:
            lines.append(f"time({big // 1000}k)/time({small // 1000}k) = "
                         f"{by_size[big].seconds / by_size[small].seconds:.2f} "
                         f"(10 = linear growth)")
    goal = by_size.get(GOAL_LINES)
    if goal is not None:
        verdict = "met" if goal.seconds < GOAL_SECONDS else "MISSED"
        lines.append(f"goal: {GOAL_LINES:,} lines with includes in < {GOAL_SECONDS} s: "
                     f"{goal.seconds:.4f} s, {verdict}")
    for row in rows:
        for problem in row.problems:
            lines.append(f"warning ({row.lines:,} lines): {problem}")
    return "\n".join(lines)


def profile(size: int = GOAL_LINES, top: int = 25, out=sys.stdout) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-exim-") as tmp:
        root = Path(tmp) / "host"
        generate_config(root, size)
        time_parse(root, 1)  # warm the page cache
        prof = cProfile.Profile()
        tree = LocalTree(root)
        prof.enable()
        parse_exim(tree, CONFIGURE)
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
        print(buf.getvalue(), file=out)


def fan_out(ways: tuple[int, ...] = (2, 4), depth: int = 14, out=sys.stdout) -> list[str]:
    """Parse configurations whose files include the next one ``way`` times, ``depth`` deep
    (Exim would read about ``way ** depth`` files): the include budget stops them early. Prints
    reads, files and seconds per case; returns the problems (no budget finding)."""
    from parsers.exim import MAX_INCLUDE_READS

    problems = []
    lines = [f"include fan-out, {depth} deep (budget: {MAX_INCLUDE_READS:,} reads)"]
    for way in ways:
        with tempfile.TemporaryDirectory(prefix="bench-exim-fan-") as tmp:
            g = Generated(Path(tmp))
            g.add(CONFIGURE, [".include f1.conf"] * way + ["primary_hostname = x.example"])
            for i in range(1, depth + 1):
                g.add(f"{EXIM_DIR}/f{i}.conf", [f"# level {i}"] + (
                    [f".include f{i + 1}.conf"] * way if i < depth else []))
            g.write()
            seconds, cfg = time_parse(g.root, 3)
            budget = [f for f in cfg.findings if f.id == "exim.include-budget"]
            reads = 1 + sum(way ** i for i in range(1, depth + 1))
            lines.append(f"  {way}-way: Exim reads {reads:,} files; parsed in "
                         f"{seconds:.4f} s, {'stopped at the budget' if budget else 'NOT stopped'}")
            if not budget:
                problems.append(f"{way}-way fan-out not stopped")
    print("\n".join(lines), file=out)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES),
                        help="comma-separated line counts (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per size; the best counts")
    parser.add_argument("--fan-out", action="store_true",
                        help="also time includes that fan out (2 and 4 ways, 14 deep)")
    parser.add_argument("--profile", action="store_true",
                        help=f"also profile one parse of {GOAL_LINES:,} lines with cProfile")
    args = parser.parse_args(argv)
    sizes = tuple(int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip())
    rows = run(sizes, args.repeat)
    problems = fan_out() if args.fan_out else []
    if args.profile:
        profile()
    return 1 if any(row.problems for row in rows) or problems else 0


# --- pytest -------------------------------------------------------------------------------------


def _perf_selected(config) -> bool:
    """True when ``-m`` selects the perf marker (``-m perf``, ``-m "perf or slow"``...)."""
    expr = config.getoption("markexpr", default="") or ""
    return bool(re.search(r"(?<!not )\bperf\b", expr))


if pytest is not None:

    @pytest.mark.perf
    def test_bench_exim_parse(request) -> None:
        if not _perf_selected(request.config):
            pytest.skip("benchmark: run with `pytest -m perf tests/perf/bench_exim_parse.py`")
        out = io.StringIO()
        rows = run(SIZES, repeat=5, out=out)
        problems = fan_out(out=out)
        print(out.getvalue())
        # Not a timed test: only that every configuration was read completely, and that
        # includes fanning out stopped at the budget.
        for row in rows:
            assert not row.problems, (row.lines, row.problems)
        assert not problems


if __name__ == "__main__":
    sys.exit(main())
