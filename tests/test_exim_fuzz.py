"""Fuzz ``parse_exim`` + ``read_exim``: no input makes them raise, and every finding is usable.

More than 10,000 Exim configurations go through the parser and the model mapping, each as a host
tree in a temp folder read through ``LocalTree`` (``/usr/local/etc/exim/configure`` plus include
files, alias files and Mailman list folders):

* ``test_fuzz_hypothesis``: hypothesis draws grammar-aware configurations (shrinkable);
* ``test_fuzz_grammar_loop``: the same grammar driven by a seeded ``random.Random``, larger files;
* ``test_fuzz_mutated_sample``: byte-level mutations of the netsight sample (configure, acl.conf,
  dnsbl.conf, the virtual alias file, /etc/mail/aliases): lines deleted, duplicated, swapped,
  moved, bytes flipped or replaced, tokens inserted, files truncated or spliced.

The grammar covers macros (``=``, ``==``, redefinitions, substrings, builtins), ``.include`` and
``.include_if_exists`` (relative, absolute, quoted, missing, a directory, self-including and
mutually including files, a symlink loop), ``.ifdef``/``.ifndef``/``.elifdef``/``.elifndef``/
``.else``/``.endif`` (balanced and not), backslash continuations with comment and blank lines in
them, ``begin`` sections (known, repeated, unknown, singular), routers/transports/authenticators
with and without ``driver``, ACLs, retry and rewrite rules, named lists with ``+name`` references
and ``<;`` separators, lookups, quoted strings with escapes, and byte noise: NUL bytes, invalid
UTF-8, a BOM, CR/LF mixes, form feeds, very long lines, truncation.

Every run is reproducible: hypothesis is derandomized with no database, and loop iteration ``i``
uses ``random.Random(f"{SEED}-grammar-{i}")`` / ``f"{SEED}-mutate-{i}"``; a failure message names
the iteration (``grammar_case(i)`` / ``mutated_case(i)`` rebuild it).

Checked for every configuration: ``parse_exim`` and ``read_exim`` return (no exception), and each
finding has a non-empty message and hint and a source whose file is a host path (starts with
``/``) and whose line is None or >= 1.

The parser bugs the fuzz tests found (crashes on a bare ``daemon_smtp_ports``, superscript digits
in ports, a host list that is only ``<;``; a relative lsearch file name giving a finding without
a host path; a path of 20,000 components taking a minute to resolve; lines broken at form feeds
and ``\x85``) are fixed; each has a regression test at the end of this file. ``KNOWN_BUGS`` lets
a fuzz test count hits of a bug whose reproducer still fails instead of failing outright; with
every reproducer passing, none is tolerated.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import shutil
import signal
import tempfile
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import migrate
import parsers
from migrate.core.model import Finding, Severity
from parsers.exim import parse_exim
from parsers.exim_model import read_exim
from migrate.app.sources import LocalTree

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_configs" / "netsight"

EXIM_DIR = "/usr/local/etc/exim"
CONFIGURE = f"{EXIM_DIR}/configure"
SEED = 20250611

HYPOTHESIS_EXAMPLES = 1_500
GRAMMAR_LOOP = 4_500
MUTATION_LOOP = 4_500
TOTAL_REQUIRED = 10_000
assert HYPOTHESIS_EXAMPLES + GRAMMAR_LOOP + MUTATION_LOOP >= TOTAL_REQUIRED

#: How many configurations each fuzz test actually ran, for ``test_fuzz_total``.
RAN: dict[str, int] = {}


# --- running one host tree -------------------------------------------------------------------


@dataclass
class Case:
    """One host tree: file contents by host path, symlinks, and how the parser is called."""

    files: dict[str, bytes]
    links: dict[str, str] = field(default_factory=dict)
    defines: dict[str, str] | None = None
    hostname: str | None = None


@dataclass(frozen=True)
class Problem:
    signature: tuple  # ("exception", type, (outer function, inner function)) or ("finding", ...)
    detail: str


_PROJECT_DIRS = tuple(str(Path(m.__file__).resolve().parent) + os.sep
                      for m in (migrate, parsers))


def exception_signature(exc: BaseException) -> tuple:
    """The exception type and the last two project functions on its traceback."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if str(Path(f.filename).resolve()).startswith(_PROJECT_DIRS)]
    return ("exception", type(exc).__name__, tuple(f.name for f in frames[-2:]))


def finding_defects(finding: object) -> list[str]:
    """What is wrong with a finding (empty when it is well formed)."""
    if not isinstance(finding, Finding):
        return ["not-a-finding"]
    bad = []
    if not isinstance(finding.id, str) or not finding.id:
        bad.append("empty-id")
    if not isinstance(finding.severity, Severity):
        bad.append("bad-severity")
    if not isinstance(finding.message, str) or not finding.message.strip():
        bad.append("empty-message")
    if not isinstance(finding.hint, str) or not finding.hint.strip():
        bad.append("empty-hint")
    src = finding.source
    if src is None:
        bad.append("no-source")
    else:
        if not isinstance(src.file, str) or not src.file.startswith("/"):
            bad.append("file-not-absolute")
        if src.line is not None and (not isinstance(src.line, int) or src.line < 1):
            bad.append("bad-line")
    return bad


def write_tree(root: Path, case: Case) -> None:
    for host_path, data in case.files.items():
        local = root / host_path.lstrip("/")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(data)
    for host_path, target in case.links.items():
        local = root / host_path.lstrip("/")
        local.parent.mkdir(parents=True, exist_ok=True)
        if not local.exists() and not local.is_symlink():
            os.symlink(target, local)


def parse_tree(root: Path, case: Case) -> list[Problem]:
    """Parse and map the tree at ``root``; every exception or finding defect is a Problem."""
    tree = LocalTree(root)
    try:
        cfg = parse_exim(tree, CONFIGURE, defines=case.defines)
        result = read_exim(cfg, tree, hostname=case.hostname)
    except Exception as exc:  # noqa: BLE001 - that is what is being looked for
        return [Problem(exception_signature(exc),
                        "".join(traceback.format_exception(exc, limit=-6)))]
    problems = []
    for finding in result.findings:
        for defect in finding_defects(finding):
            problems.append(Problem(("finding", getattr(finding, "id", "?"), defect),
                                    repr(finding)[:400]))
    return problems


def run_case(base: Path, case: Case) -> list[Problem]:
    """Write ``case`` into a fresh folder under ``base``, parse it, remove the folder."""
    root = Path(tempfile.mkdtemp(dir=base))
    try:
        write_tree(root, case)
        return parse_tree(root, case)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_strict(base: Path, case: Case) -> None:
    """For the reproducers: let exceptions through, assert the finding contract."""
    root = Path(tempfile.mkdtemp(dir=base))
    write_tree(root, case)
    tree = LocalTree(root)
    cfg = parse_exim(tree, CONFIGURE, defines=case.defines)
    result = read_exim(cfg, tree, hostname=case.hostname)
    bad = [(f, finding_defects(f)) for f in result.findings if finding_defects(f)]
    assert not bad, bad


def describe(case: Case, limit: int = 1500) -> str:
    parts = []
    for path, data in case.files.items():
        parts.append(f"--- {path} ({len(data)} bytes)\n{data[:limit]!r}")
    if case.links:
        parts.append(f"--- links {case.links}")
    if case.defines is not None:
        parts.append(f"--- defines {case.defines}")
    return "\n".join(parts)


# --- choices: one grammar, driven by hypothesis or by random.Random ----------------------------


_UNICODE_SAMPLES = "é²٣߀\u2028\u2029\x85\x0b\x0c\x1c\ufeff\u200b€\U0001f4e7ÅßİK"
_SPECIALS = "\"\\{}$:;#.=+<>!@*|\t ,-_/()[]'"
_ASCII = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


class RandomChoices:
    """Choices from a seeded ``random.Random``."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def choice(self, seq: Sequence):
        return seq[self.rng.randrange(len(seq))]

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def chance(self, percent: int) -> bool:
        return self.rng.randrange(100) < percent

    def text(self, alphabet: str | None = None, max_size: int = 20) -> str:
        n = self.rng.randint(0, max_size)
        if alphabet is not None:
            return "".join(self.rng.choice(alphabet) for _ in range(n))
        out = []
        for _ in range(n):
            roll = self.rng.randrange(10)
            if roll < 6:
                out.append(self.rng.choice(_ASCII))
            elif roll < 8:
                out.append(self.rng.choice(_SPECIALS))
            elif roll < 9:
                out.append(self.rng.choice(_UNICODE_SAMPLES))
            else:
                cp = self.rng.randrange(0x20, 0x110000)
                out.append(chr(cp) if not 0xD800 <= cp <= 0xDFFF else "?")
        return "".join(out)

    def raw_bytes(self, max_size: int = 8) -> bytes:
        return bytes(self.rng.randrange(256) for _ in range(self.rng.randint(1, max_size)))


# Strategies are cached: building one per draw costs more than the draw.
_sampled = functools.lru_cache(maxsize=4096)(st.sampled_from)
_integers = functools.lru_cache(maxsize=4096)(st.integers)


class HypothesisChoices:
    """Choices drawn from hypothesis, so failures shrink (rare features shrink to 'off')."""

    def __init__(self, draw: Callable) -> None:
        self.draw = draw

    def choice(self, seq: Sequence):
        return self.draw(_sampled(tuple(seq)))

    def integer(self, lo: int, hi: int) -> int:
        return self.draw(_integers(lo, hi))

    def chance(self, percent: int) -> bool:
        return self.draw(_integers(0, 99)) >= 100 - percent

    def text(self, alphabet: str | None = None, max_size: int = 20) -> str:
        if alphabet is None:
            return self.draw(st.text(max_size=max_size))
        return self.draw(st.text(alphabet=alphabet, max_size=max_size))

    def raw_bytes(self, max_size: int = 8) -> bytes:
        return self.draw(st.binary(min_size=1, max_size=max_size))


# --- the grammar ------------------------------------------------------------------------------

MACROS = ["MAILMAN_HOME", "MAILMAN_WRAP", "MAILMAN", "VDIR", "LISTS", "SPAM_LIMIT", "SPAM",
          "HAVE_SCANNERS", "TLS_ON", "X", "Y2", "MAILMAN_USER", "ROUTE"]
BUILTINS = ["_HAVE_TLS", "_HAVE_OPENSSL", "_HAVE_DKIM", "_DRIVER_ROUTER_ACCEPT", "_HAVE_NOTHING"]
LIST_NAMES = ["local_domains", "relay_to_domains", "mm_domains", "virtual_domains",
              "relay_from_hosts", "self_ref", "loop_a", "loop_b", "staff"]
LIST_KINDS = ["domainlist", "hostlist", "addresslist", "localpartlist"]
ROUTER_NAMES = ["smarthost", "mailman_router", "virtual_aliases", "system_aliases", "localuser",
                "userforward", "r1", "R2"]
TRANSPORT_NAMES = ["remote_smtp", "mailman_transport", "cyrus_lmtp", "address_pipe",
                   "address_file", "address_reply", "t1"]
AUTH_NAMES = ["PLAIN", "LOGIN", "cram"]
ACL_NAMES = ["acl_check_rcpt", "acl_check_data", "acl_x"]
DOMAINS = ["lists.example.org", "example.org", "LISTS.Example.ORG", "a.example"]
LISTS = ["devtalk", "users", "announce"]
SUFFIXES = ["-admin", "-bounces", "-bounces+*", "-confirm", "-confirm+*", "-join", "-leave",
            "-owner", "-request", "-subscribe", "-unsubscribe", "-bogus", "+*", ""]

INCLUDE_FILES = [f"{EXIM_DIR}/inc1.conf", f"{EXIM_DIR}/sub/inc2.conf", "/etc/exim/abs.conf"]
ALIAS_FILES = ["/etc/aliases", f"{EXIM_DIR}/aliases"]
VIRTUAL_DIR = f"{EXIM_DIR}/virtual"
STAFF_LIST = "/etc/mail/staff.list"

LOOKUP_PATHS = [
    "/etc/aliases", f"{EXIM_DIR}/aliases", "VDIR/$domain", f"{VIRTUAL_DIR}/$domain",
    f"{VIRTUAL_DIR}/${{domain}}", f"{VIRTUAL_DIR}/${{domain}}.aliases", "$domain",
    "aliases", "virtual/$domain", "/nonexistent/file", "/", "", "/etc", STAFF_LIST,
    f"{EXIM_DIR}/link-loop", "/etc/aliases}", "MAILMAN_HOME/data/aliases",
]
LOOKUP_TYPES = ["lsearch", "lsearch*", "lsearch*@", "wildlsearch", "nwildlsearch", "dsearch",
                "cdb", "dbm", "partial-lsearch", "partial2-lsearch", "lsearch,ret=full",
                "iplsearch", "mysql", "LSEARCH"]
PORTS = ["25", "25 : 587", "smtp : submission", "<; 25 ; 465", "587", "", ":", "²", "٢٥",
         "-1", "99999999999999999999", "0x19", "25:", "<;", "<", "smtps", " 25 ", "2 5",
         "\u0662\u0665", "¹²³", "<; ²"]
INTERFACES = ["<; 127.0.0.1 ; ::1", "[::1]:25", "192.0.2.1.25", "0.0.0.0", "*", "",
              "<; [2001:db8::1]:587 ; 192.0.2.7", "<;", "::0 : 127.0.0.1", "[::1]:²",
              "192.0.2.1.٢٥", "<; ::1.25", "@"]
MAIN_OPTIONS = ["primary_hostname", "qualify_domain", "daemon_smtp_ports", "daemon_smtp_port",
                "tls_on_connect_ports", "local_interfaces", "tls_certificate", "tls_privatekey",
                "av_scanner", "spamd_address", "acl_smtp_rcpt", "acl_smtp_data",
                "message_size_limit", "log_selector", "never_users", "split_spool_directory",
                "smtp_banner", "exim_user", "host_lookup", "rfc1413_hosts"]
ROUTER_DRIVERS = ["accept", "redirect", "manualroute", "dnslookup", "queryprogram",
                  "ipliteral", "bogus", "", "Accept", "redirect ", "${if true{accept}}"]
TRANSPORT_DRIVERS = ["pipe", "smtp", "appendfile", "lmtp", "autoreply", "", "bogus"]
SECTIONS = ["acl", "acls", "routers", "router", "transports", "transport", "authenticators",
            "retry", "rewrite", "local_scan", "bogus", "", "ROUTERS", "routers x",
            "acl\t", "rewrites"]
ACL_VERBS = ["accept", "deny", "defer", "discard", "drop", "require", "warn", "reject",
             "acceptx"]
ACL_CONDITIONS = ["hosts", "domains", "local_parts", "message", "control", "verify",
                  "authenticated", "malware", "spam", "dnslists", "ratelimit", "condition",
                  "add_header", "senders", "set acl_m0", "log_message"]
ESCAPES = ["a", "b", " ", "\\n", "\\t", "\\r", "\\\\", '\\"', "\\101", "\\777", "\\0", "\\x41",
           "\\xg", "\\x", "\\q", "\\", "$", "{", "}", ":", "é", "\\1234"]


class Gen:
    """Builds one host tree from a grammar, with every choice made through ``c``."""

    def __init__(self, c: RandomChoices | HypothesisChoices, scale: int) -> None:
        self.c = c
        self.scale = scale  # rough number of blocks per file

    # values ------------------------------------------------------------------------------

    def macro_name(self) -> str:
        c = self.c
        if c.chance(10):
            return c.choice(BUILTINS)
        if c.chance(8):
            return c.text("ABCXYZ_", 6) or "Q"
        return c.choice(MACROS)

    def lookup(self) -> str:
        c = self.c
        path = c.choice(LOOKUP_PATHS) if not c.chance(10) else c.text(max_size=30)
        kind = c.choice(LOOKUP_TYPES)
        form = c.integer(0, 6)
        if form == 0:
            return f"${{lookup{{$local_part}}{kind}{{{path}}}}}"
        if form == 1:
            return f"${{lookup{{$local_part@$domain}}{kind}{{{path}}}{{$value}}fail}}"
        if form == 2:
            return f"{kind};{path}"
        if form == 3:
            return f"${{readfile{{{path}}}}}"
        if form == 4:  # unbalanced
            return f"${{lookup{{$local_part}}{kind}{{{path}"
        if form == 5:
            return f"${{lookup {{$local_part}} {kind} {{{path}}}}}"
        return f"${{if exists{{{path}}}{{{kind};{path}}}}}"

    def quoted(self) -> str:
        c = self.c
        body = "".join(c.choice(ESCAPES) for _ in range(c.integer(0, 8)))
        return f'"{body}"' if not c.chance(10) else f'"{body}'

    def list_item(self) -> str:
        c = self.c
        roll = c.integer(0, 12)
        if roll == 0:
            return "+" + c.choice(LIST_NAMES + ["undefined_list", ""])
        if roll == 1:
            return "! +" + c.choice(LIST_NAMES)
        if roll == 2:
            return c.choice(["@", "@[]", "@mx_any", "@mx_primary", "localhost", "*"])
        if roll == 3:
            return c.choice(DOMAINS)
        if roll == 4:
            return c.choice(["*.example.org", "^lists\\d+\\.example$", "\\N^x:y\\N", "a::b"])
        if roll == 5:
            return c.choice(["dsearch;", "lsearch;", "partial-lsearch;", "cdb;"]) + c.choice(
                [VIRTUAL_DIR, "VDIR", "/etc/aliases", "/nonexistent", "relative/dir", ""])
        if roll == 6:
            return self.lookup()
        if roll == 7:
            return c.choice(["127.0.0.1", "::1", "192.0.2.0/24", "2001:db8::/32"])
        if roll == 8:
            return c.choice(SUFFIXES)
        if roll == 9:
            return c.choice(MACROS)
        if roll == 10:
            return ""
        return c.text(max_size=12)

    def a_list(self) -> str:
        c = self.c
        n = c.integer(0, 5)
        items = [self.list_item() for _ in range(n)]
        sep = c.choice([":", ":", ":", ";", ",", "|", "::"])
        head = {":": "", "::": ""}.get(sep, "<" + sep + " ") if not c.chance(15) else c.choice(
            ["<; ", "<", "<;", "< ", "<:"])
        joiner = f" {sep} " if c.chance(70) else sep
        tail = c.choice(["", "", "", f" {sep}", f" {sep} "])
        return head + joiner.join(items) + tail

    def value(self) -> str:
        c = self.c
        roll = c.integer(0, 11)
        if roll == 0:
            return ""
        if roll == 1:
            return self.quoted()
        if roll == 2:
            return self.lookup()
        if roll == 3:
            return self.a_list()
        if roll == 4:
            return c.choice(MACROS) + c.choice(["", "/lists", "/mail/mailman", " x"])
        if roll == 5:
            return c.choice(["true", "false", "yes", "no", "TRUE", "1", "0s", "2d", "40M"])
        if roll == 6:
            return c.choice(PORTS)
        if roll == 7:
            return "${if def:local_part_suffix {${sg{$local_part_suffix}{-(\\\\w+)}{\\\\$1}}}{post}}"
        if roll == 8:
            return c.text(max_size=40)
        if roll == 9:
            return c.choice(DOMAINS)
        if roll == 10:
            return "/" + "/".join(c.text(_ASCII + "._-$", 8) for _ in range(c.integer(1, 4)))
        return " ".join(c.text(_ASCII, 6) for _ in range(c.integer(1, 4)))

    def option(self, names: Sequence[str]) -> str:
        c = self.c
        name = c.choice(names) if c.chance(85) else c.text("abcdefghijklmnopqrstuvwxyz_0", 14)
        form = c.integer(0, 11)
        if form == 0:
            return name
        if form == 1:
            return "no_" + name
        if form == 2:
            return "not_" + name
        if form == 3:
            return f"hide {name} = {self.value()}"
        if form == 4:
            return f"{name} {self.value()}"  # no '='
        if form == 5:
            return f"{name}={self.value()}"
        if form == 6:
            return f"{name} == {self.value()}"
        return f"{name} = {self.value()}"

    # lines -------------------------------------------------------------------------------

    def macro_def(self) -> str:
        c = self.c
        name = self.macro_name()
        op = c.choice(["=", "=", "=", "==", " = ", "==  ", "="])
        value = self.value() if not c.chance(20) else c.choice(MACROS) + c.choice(MACROS)
        if c.chance(5):
            return f"{name.lower()} {op} {value}"
        if c.chance(5):
            return f"{name}{op}"
        return f"{name} {op} {value}"

    def named_list(self) -> str:
        c = self.c
        kind = c.choice(LIST_KINDS)
        name = c.choice(LIST_NAMES) if c.chance(90) else c.text(max_size=8)
        hide = "hide " if c.chance(5) else ""
        return f"{hide}{kind} {name} = {self.a_list()}"

    def main_option(self) -> str:
        c = self.c
        name = c.choice(MAIN_OPTIONS)
        if name in ("daemon_smtp_ports", "daemon_smtp_port", "tls_on_connect_ports") \
                and c.chance(60):
            return c.choice([f"{name} = {c.choice(PORTS)}", name, f"no_{name}", f"{name} ="])
        if name == "local_interfaces" and c.chance(60):
            return c.choice([f"{name} = {c.choice(INTERFACES)}", name])
        return self.option(MAIN_OPTIONS)

    def conditional(self) -> str:
        c = self.c
        word = c.choice(["ifdef", "ifndef", "elifdef", "elifndef", "else", "endif", "ifdef",
                         "endif", "IFDEF", "ifdefx", "include_if_exist"])
        arg = "" if word in ("else", "endif") and c.chance(80) else " " + self.macro_name()
        return f".{word}{arg}"

    def include(self, here: str) -> str:
        c = self.c
        here_dir = here.rsplit("/", 1)[0]
        targets = [
            "inc1.conf", "sub/inc2.conf", "../exim/inc1.conf", "/etc/exim/abs.conf",
            '"inc1.conf"', '"/etc/exim/abs.conf"', "missing.conf", "/nonexistent.conf", "",
            here.rsplit("/", 1)[1], here, "configure", CONFIGURE, "sub", EXIM_DIR, "link-loop",
            f"{EXIM_DIR}/link-loop", f"{EXIM_DIR}/link-to-configure", "../../../../../etc/passwd",
            "inc1.conf extra", "inc 1.conf", "MAILMAN_HOME/x.conf", "/etc/aliases",
            "./inc1.conf", f"{here_dir}/./sub/../inc1.conf",
        ]
        target = c.choice(targets)
        directive = c.choice([".include", ".include", ".include_if_exists", ".include_if_exists",
                              ".includex", ".include\t", ".include_if_exists\t"])
        sep = "" if directive.endswith("\t") else c.choice([" ", " ", "  ", "\t"])
        return f"{directive}{sep}{target}".rstrip() if target else directive

    def junk(self) -> str:
        c = self.c
        roll = c.integer(0, 5)
        if roll == 0:
            return c.text(max_size=60)
        if roll == 1:
            return c.choice(["=", ":", "name:", "name: x", "}", "${", "\\", "\\\\", "begin",
                             "begin ", "  begin routers", "#", " #x", ".", "..", ". include x",
                             "hide", "hide ", "hide  x = y", "no_", "!", "! x = y", "a=b=c"])
        if roll == 2:
            return c.text(max_size=400)
        return " ".join(c.text(max_size=10) for _ in range(c.integer(1, 5)))

    def block(self, section: str, here: str, depth: int) -> list[str]:
        """Logical lines for one item of ``section`` (before continuation rendering)."""
        c = self.c
        roll = c.integer(0, 99)
        if roll < 8:
            return [self.macro_def()]
        if roll < 14:
            return [self.include(here)]
        if roll < 20:
            return self.conditional_block(section, here, depth)
        if roll < 24:
            return [self.conditional()]  # possibly unbalanced
        if roll < 28:
            return [c.choice(["", "# a comment", "   # indented comment", "#", "\t"])]
        if roll < 32:
            return [self.junk()]
        if roll < 35:
            return [f"begin {c.choice(SECTIONS)}"]
        if section == "main":
            if roll < 60:
                return [self.named_list()]
            return [self.main_option()]
        if section in ("routers", "transports", "authenticators"):
            return self.driver(section)
        if section == "acl":
            return self.acl()
        if section == "retry":
            return [c.choice(["*  *  F,2h,15m; G,16h,1h,1.5; F,4d,6h", "smtp.example * F,1h,5m",
                              "* quota", "*"]) if c.chance(80) else self.junk()]
        if section == "rewrite":
            return [c.choice(["*@mail.example  $1@example  Ffrs", "^x  y  Q", "*"])
                    if c.chance(80) else self.junk()]
        return [self.option(["x", "y", "timeout"])]

    def conditional_block(self, section: str, here: str, depth: int) -> list[str]:
        c = self.c
        lines = [f".{c.choice(['ifdef', 'ifndef'])} {self.macro_name()}"]
        for _ in range(c.integer(1, 3) if depth < 3 else 1):
            lines += self.block(section, here, depth + 1) if depth < 3 else [self.main_option()]
            if c.chance(30):
                lines.append(c.choice([f".elifdef {self.macro_name()}",
                                       f".elifndef {self.macro_name()}", ".else"]))
        if not c.chance(8):  # sometimes never closed
            lines.append(".endif")
        return lines

    def driver(self, section: str) -> list[str]:
        c = self.c
        kind = section[:-1]
        names = {"router": ROUTER_NAMES, "transport": TRANSPORT_NAMES,
                 "authenticator": AUTH_NAMES}[kind]
        name = c.choice(names) if c.chance(90) else c.text(max_size=10)
        head = c.choice([f"{name}:", f"{name}:", f"{name} :", f"{name}: junk", f"{name}:  "])
        lines = [head]
        if kind == "router":
            driver = c.choice(ROUTER_DRIVERS)
        elif kind == "transport":
            driver = c.choice(TRANSPORT_DRIVERS)
        else:
            driver = c.choice(["plaintext", "cram_md5", "dovecot", ""])
        if driver or c.chance(50):
            lines.append(f"  driver = {driver}")
        for _ in range(c.integer(0, 6)):
            lines.append("  " + self.driver_option(kind, driver))
        if c.chance(25):
            c_pos = c.integer(1, len(lines))
            lines.insert(c_pos, "  " + self.macro_def())
        return lines

    def driver_option(self, kind: str, driver: str) -> str:
        c = self.c
        if kind == "router":
            roll = c.integer(0, 14)
            if roll == 0:
                return f"transport = {c.choice(TRANSPORT_NAMES + ['undefined_t', ''])}"
            if roll == 1:
                return f"domains = {self.a_list()}"
            if roll == 2:
                return "require_files = " + c.choice([
                    "MAILMAN_HOME/lists/$local_part/config.pck",
                    "/usr/local/mailman/lists/$local_part/config.pck",
                    "/usr/local/mailman/lists/${local_part}/config.pck",
                    "+/usr/local/mailman/lists/$local_part/", "$local_part",
                    "/nonexistent/$local_part/x", "!/etc/$local_part"])
            if roll == 3:
                suffixes = [c.choice(SUFFIXES) for _ in range(c.integer(0, 11))]
                return "local_part_suffix = " + " : ".join(suffixes)
            if roll == 4:
                return c.choice(["local_part_suffix_optional", "no_local_part_suffix_optional",
                                 "local_part_suffix_optional = false",
                                 "local_part_suffix_optional = yes", "local_part_prefix = x- : y-",
                                 "local_part_prefix_optional"])
            if roll == 5:
                return f"data = {self.lookup()}"
            if roll == 6:
                return f"route_list = {self.route()}"
            if roll == 7:
                return f"route_data = {self.route(data=True)}"
            if roll == 8:
                return f"pipe_transport = {c.choice(TRANSPORT_NAMES)}"
            if roll == 9:
                return f"condition = {c.choice(['${if eq{$x}{y}}', '', 'true', self.value()])}"
            if roll == 10:
                return c.choice(["headers_add = X-A: b", "headers_remove = X-B", "allow_filter",
                                 "no_more", "allow_fail", "check_local_user", "headers_add ="])
            return self.option(["user", "group", "file_transport", "self", "more",
                                "allow_defer", "cannot_route_message", "local_parts"])
        if kind == "transport":
            roll = c.integer(0, 9)
            if roll == 0:
                return f"port = {c.choice(PORTS)}"
            if roll == 1:
                return "command = " + c.choice([
                    "/usr/local/mailman/mail/mailman post devtalk",
                    "MAILMAN_WRAP '${if def:local_part_suffix {x}{post}}' $local_part",
                    "/usr/local/mailman/mail/mailman", "'/usr/local/mailman/mail/mailman",
                    '"/usr/local/mailman/mail/mailman" post "list', "/bin/cat", "",
                    "/usr/local/mailman/mail/wrapper post x"])
            if roll == 2:
                return c.choice(["dkim_domain = example.org", "hide dkim_private_key = /k",
                                 "dkim_selector", "headers_add = X: y"])
            if roll == 3:
                return f"file = {self.value()}"
            return self.option(["user", "group", "socket", "hosts_require_tls", "batch_max",
                                "return_output", "current_directory", "home_directory"])
        return self.option(["server_set_id", "server_prompts", "server_condition",
                            "server_advertise_condition", "public_name"])

    def route(self, data: bool = False) -> str:
        c = self.c
        host = c.choice(["smtp.example", "h1:h2", "<; h1 ; h2", "<;", "<", "<:", ":", "", "$h",
                         "[192.0.2.1]", "h1::25", "${lookup{$domain}lsearch{/etc/r}}", "²"])
        if data:
            return f"{host} {c.choice(['', 'byname', 'randomize'])}".strip()
        pattern = c.choice(["*", "!+local_domains", "example.org", "+mm_domains", ""])
        rules = [f"{pattern} {host} {c.choice(['', 'byname', 'bydns'])}".strip()]
        if c.chance(20):
            rules.append(f"* {c.choice(['a', '<;', ''])}")
        return (c.choice(["", "<; "]) if c.chance(20) else "") + " ; ".join(rules)

    def acl(self) -> list[str]:
        c = self.c
        lines = []
        if c.chance(50):
            lines.append(c.choice(ACL_NAMES) + c.choice([":", ":", " :", ": x"]))
        verb = c.choice(ACL_VERBS)
        cond = c.choice(ACL_CONDITIONS)
        first = f"{verb}  {'!' if c.chance(10) else ''}{cond} = {self.acl_value(cond)}"
        lines.append(c.choice([first, verb, f"{verb} {cond}", f"  {first}"]))
        for _ in range(c.integer(0, 3)):
            neg = "!" if c.chance(15) else ""
            cond = c.choice(ACL_CONDITIONS)
            lines.append(f"        {neg}{cond} = {self.acl_value(cond)}")
        return lines

    def acl_value(self, cond: str) -> str:
        c = self.c
        if c.chance(40):
            return self.value()
        return c.choice({
            "verify": ["sender", "recipient", "sender/callout=30s", "callout", "header_syntax"],
            "spam": ["nobody", "nobody:true", ""], "malware": ["*", ""],
            "dnslists": ["zen.example", "a.example : b.example", ""],
            "ratelimit": ["100 / 1h / strict", ""],
            "hosts": [":", "+relay_from_hosts", "<; ::1"],
        }.get(cond, [self.a_list()]))

    # files -------------------------------------------------------------------------------

    def render(self, logical: list[str]) -> list[str]:
        """Physical lines: indentation, continuations (with comment/blank lines inside)."""
        c = self.c
        out: list[str] = []
        for line in logical:
            roll = c.integer(0, 99)  # one draw per line: 80% of lines are left alone
            if roll < 4:
                line = c.choice([" ", "  ", "\t"]) + line
            elif roll < 8:
                line += c.choice([" ", "\t", "  "])
            elif len(line) > 4 and roll < 20:
                pieces = []
                rest = line
                for _ in range(c.integer(1, 3)):
                    if len(rest) < 2:
                        break
                    cut = c.integer(1, len(rest) - 1)
                    pieces.append(rest[:cut])
                    rest = rest[cut:]
                pieces.append(rest)
                for i, piece in enumerate(pieces):
                    last = i == len(pieces) - 1
                    out.append(piece if last else piece + c.choice(["\\", "\\", " \\", "\\ "]))
                    if not last and c.chance(20):
                        out.append(c.choice(["# comment inside a continuation", "  #x", "",
                                             ".ifdef X", ".endif", "   "]))
                continue
            out.append(line)
        if c.chance(5):
            out.append(c.choice(["trailing \\", "\\", "x = y \\"]))
        return out

    def file_body(self, path: str, section: str, blocks: int) -> list[str]:
        lines: list[str] = []
        for _ in range(blocks):
            lines += self.block(section, path, 0)
        return lines

    def config(self) -> list[str]:
        c = self.c
        lines = self.file_body(CONFIGURE, "main", c.integer(0, self.scale))
        order = ["acl", "routers", "transports", "authenticators", "retry", "rewrite",
                 "local_scan"]
        for _ in range(c.integer(0, 8)):
            section = c.choice(order)
            header = section if c.chance(85) else c.choice(SECTIONS)
            lines.append(c.choice(["begin ", "begin ", "begin  ", "BEGIN ", "begin\t"]) + header)
            lines += self.file_body(CONFIGURE, section, c.integer(0, self.scale))
        return lines

    def realistic_config(self) -> list[str]:
        """A Mailman host's configuration (as the samples), each line kept, dropped or
        disturbed at random, so that read_exim's deeper paths (list routes, virtual alias
        tables, the router pattern, the smarthost) see mostly sane input."""
        c = self.c
        lines = ["MAILMAN_HOME = /usr/local/mailman", "MAILMAN_WRAP = MAILMAN_HOME/mail/mailman",
                 f"VDIR = {VIRTUAL_DIR}", "MAILMAN_USER = mailman", "SPAM_LIMIT = 50"]
        if c.chance(30):
            lines.append(c.choice(["SPAM_LIMIT == 80", "SPAM_LIMIT = 80", "SPAM == 1"]))
        if c.chance(30):
            lines.append("HAVE_SCANNERS = yes")
        if c.chance(40):
            lines.append(self.include(CONFIGURE))
        lines += [
            "domainlist local_domains = " + c.choice(["@ : localhost : example.org", "@",
                                                      "+mm_domains : example.org", "",
                                                      "<; @ ; localhost", self.a_list()]),
            "domainlist mm_domains = " + c.choice(["lists.example.org", "LISTS.Example.ORG",
                                                   "lists.example.org : a.example",
                                                   "*.example.org", self.a_list()]),
            "domainlist virtual_domains = " + c.choice(["dsearch;VDIR", f"dsearch;{VIRTUAL_DIR}",
                                                        f"lsearch;{EXIM_DIR}/aliases",
                                                        "dsearch;/nonexistent", self.a_list()]),
            "domainlist relay_to_domains = " + self.a_list(),
            "hostlist relay_from_hosts = <; 127.0.0.1 ; ::1 ; 192.0.2.0/24",
            c.choice(["primary_hostname = mail.example.org", "primary_hostname",
                      "# no primary_hostname", "primary_hostname = " + c.text(max_size=12)]),
            "qualify_domain = example.org",
            c.choice(["daemon_smtp_ports", "daemon_smtp_port", "tls_on_connect_ports"])
            + " = " + c.choice(PORTS),
            "local_interfaces = " + c.choice(INTERFACES),
            "tls_certificate = /usr/local/etc/ssl/mail.crt",
            c.choice(["tls_privatekey = /usr/local/etc/ssl/mail.key",
                      "hide tls_privatekey = /k"]),
            ".ifdef HAVE_SCANNERS", "av_scanner = clamd:/var/run/clamd.sock",
            "spamd_address = 127.0.0.1 783", ".else", "# no scanners", ".endif",
            "acl_smtp_rcpt = acl_check_rcpt", "begin acl", "acl_check_rcpt:",
        ]
        for _ in range(c.integer(0, 4)):
            lines += self.acl()
        routers = {
            "smarthost": ["driver = manualroute", "domains = ! +local_domains : ! +mm_domains",
                          "transport = remote_smtp", f"route_list = {self.route()}",
                          f"route_data = {self.route(data=True)}", "no_more"],
            "mailman_router": [
                "driver = accept", "domains = +mm_domains",
                "require_files = " + c.choice(["MAILMAN_HOME/lists/$local_part/config.pck",
                                               "MAILMAN_HOME/lists/${local_part}/config.pck",
                                               "/nonexistent/$local_part/config.pck"]),
                c.choice(["local_part_suffix_optional", "local_part_suffix_optional = true",
                          "no_local_part_suffix_optional"]),
                "local_part_suffix = " + " : ".join(
                    s for s in SUFFIXES if s and (c.chance(85) or "+" in s)),
                "transport = mailman_transport"],
            "virtual_aliases": [
                "driver = redirect", "domains = +virtual_domains",
                "data = ${lookup{$local_part}lsearch{" + c.choice(
                    ["VDIR/$domain", f"{VIRTUAL_DIR}/${{domain}}", "VDIR/$domain.aliases",
                     "$domain", "/nonexistent/$domain"]) + "}}",
                "pipe_transport = address_pipe", "allow_fail", "no_more"],
            "system_aliases": [
                "driver = redirect", "domains = +local_domains",
                "data = ${lookup{$local_part}lsearch{" + c.choice(ALIAS_FILES + [
                    "/nonexistent", "/etc", "$home/x"]) + "}}",
                "pipe_transport = address_pipe", "file_transport = address_file"],
            "localuser": ["driver = accept", "check_local_user", "transport = local_delivery"],
        }
        transports = {
            "remote_smtp": ["driver = smtp", f"port = {c.choice(PORTS)}",
                            "hosts_require_tls = *"],
            "mailman_transport": [
                "driver = pipe", "command = " + c.choice([
                    "MAILMAN_WRAP '${if def:local_part_suffix "
                    "{${sg{$local_part_suffix}{-(\\\\w+)(\\\\+.*)?}{\\\\$1}}}{post}}' "
                    "$local_part", "MAILMAN_WRAP post $local_part",
                    "/usr/local/mailman/mail/mailman", "MAILMAN_WRAP '$local_part"]),
                "current_directory = MAILMAN_HOME", "user = MAILMAN_USER"],
            "address_pipe": ["driver = pipe", "return_output"],
            "address_file": ["driver = appendfile", "envelope_to_add"],
            "local_delivery": ["driver = appendfile", "file = /var/mail/$local_part"],
        }
        for header, drivers, kind in (("routers", routers, "router"),
                                      ("transports", transports, "transport")):
            lines.append(f"begin {header}")
            names = list(drivers)
            if c.chance(20):
                names.reverse()
            for name in names:
                if not c.chance(85):
                    continue
                lines.append(f"{name}:")
                for opt in drivers[name]:
                    if c.chance(92):
                        lines.append("  " + opt)
                if c.chance(20):
                    lines.append("  " + self.driver_option(kind, ""))
        if c.chance(30):
            lines += ["begin retry", "*  *  F,2h,15m; G,16h,1h,1.5; F,4d,6h"]
        if c.chance(30):
            lines += ["begin rewrite", "*@mail.example.org  $1@example.org  Ffrs"]
        if c.chance(30):
            lines += ["begin authenticators", "PLAIN:", "  driver = plaintext",
                      "  server_condition = ${if pam{$auth2:${sg{$auth3}{:}{::}}}}"]
        noise = c.choice([0, 0, 2, 5, 15])
        out = []
        for line in lines:
            if noise and c.integer(0, 99) < noise:
                roll = c.integer(0, 4)
                if roll == 0:
                    continue  # dropped
                if roll == 1:
                    out.append(self.junk())
                elif roll == 2:
                    out += self.block(c.choice(["main", "acl", "routers", "transports"]),
                                      CONFIGURE, 2)
                elif roll == 3:
                    out.append(self.conditional())
                else:
                    out.append(self.include(CONFIGURE))
            out.append(line)
        return out

    def aliases(self, domain_file: bool) -> list[str]:
        c = self.c
        lines = []
        for _ in range(c.integer(0, self.scale)):
            name = c.choice(LISTS) + c.choice(SUFFIXES) if c.chance(70) else c.text(max_size=8)
            roll = c.integer(0, 5)
            if roll < 3:
                action = c.choice(["post", "admin", "bounces", "confirm", "join", "leave",
                                   "owner", "request", "subscribe", "unsubscribe", "bogus"])
                target = f'"|/usr/local/mailman/mail/mailman {action} {c.choice(LISTS)}"'
            elif roll == 3:
                target = f":include:{c.choice([STAFF_LIST, 'relative.list', '/nonexistent'])}"
            elif roll == 4:
                target = c.choice(["root", "a@b, c d", ":fail: gone", ":blackhole:", "/dev/null",
                                   "\"|/usr/local/mailman/mail/mailman post 'devtalk\"",
                                   "|/usr/local/mailman/mail/mailman post",
                                   "\"|/usr/local/mailman/mail/mailman  join  devtalk extra\""])
            else:
                target = c.text(max_size=30)
            lines.append(f"{name}: {target}" if c.chance(90) else f"  {target}")
        return lines

    def encode(self, lines: list[str]) -> bytes:
        """Join lines with byte-level noise: line endings, BOM, bad UTF-8, NUL, long lines."""
        c = self.c
        newline = "\n" if c.chance(90) else c.choice(["\r\n", "\r", "\x0c\n", "\n\n"])
        text = newline.join(lines) + ("" if c.chance(10) else newline)
        data = text.encode("utf-8", "surrogatepass")
        if c.chance(4):  # a very long line
            filler = c.choice([b"a", b"x = y ", b"${", b"\\", b"+local_domains : ", b"X"])
            pos = c.integer(0, len(data))
            data = data[:pos] + filler * c.integer(10_000, 120_000) + data[pos:]
        if c.chance(8):  # invalid UTF-8 (read as Latin-1)
            pos = c.integer(0, len(data))
            data = data[:pos] + c.choice([b"\xff", b"\xc3", b"\xe2\x82", b"\x85", b"\xa0\xa0",
                                          b"\xed\xa0\x80", b"\xc0\xaf"]) + data[pos:]
        if c.chance(3):
            data = b"\xef\xbb\xbf" + data
        if c.chance(3):  # a NUL byte: the file is binary
            pos = c.integer(0, len(data))
            data = data[:pos] + b"\0" + data[pos:]
        if c.chance(3):
            data = data[:c.integer(0, len(data))]
        if c.chance(3):
            pos = c.integer(0, len(data))
            data = data[:pos] + c.raw_bytes() + data[pos:]
        return data

    def case(self) -> Case:
        c = self.c
        body = self.realistic_config() if c.chance(50) else self.config()
        files = {CONFIGURE: self.encode(self.render(body))}
        for path in INCLUDE_FILES:
            if c.chance(70):
                section = c.choice(["main", "acl", "routers", "transports", "retry"])
                blocks = c.integer(0, max(1, self.scale // 2))
                files[path] = self.encode(self.render(self.file_body(path, section, blocks)))
        for path in ALIAS_FILES:
            if c.chance(60):
                files[path] = self.encode(self.aliases(False))
        for domain in DOMAINS[:2]:
            if c.chance(50):
                files[f"{VIRTUAL_DIR}/{domain}"] = self.encode(self.aliases(True))
        if c.chance(40):
            files[STAFF_LIST] = self.encode(["jdoe", "# c", "a@b, c@d", ":include:/etc/mail/staff.list"])
        for name in LISTS[: c.integer(0, 3)]:
            files[f"/usr/local/mailman/lists/{name}/config.pck"] = b"(dp0\n."
        if c.chance(30):
            files["/usr/local/mailman/mail/mailman"] = b"\x7fELF"
        links = {}
        if c.chance(30):
            links[f"{EXIM_DIR}/link-loop"] = "link-loop"
        if c.chance(30):
            links[f"{EXIM_DIR}/link-to-configure"] = CONFIGURE  # absolute: re-rooted
        defines = None
        if c.chance(10):
            defines = {c.choice(MACROS + BUILTINS): c.choice(["", "1", "MAILMAN", "x y"])
                       for _ in range(c.integer(1, 3))}
        hostname = c.choice([None, "mail.example.org", ""])
        return Case(files, links, defines, hostname)


def grammar_case(i: int) -> Case:
    """Iteration ``i`` of ``test_fuzz_grammar_loop``."""
    rng = random.Random(f"{SEED}-grammar-{i}")
    return Gen(RandomChoices(rng), scale=rng.choice([3, 8, 20, 40])).case()


@st.composite
def exim_cases(draw) -> Case:
    c = HypothesisChoices(draw)
    return Gen(c, scale=c.integer(1, 8)).case()


# --- mutations of the netsight sample ----------------------------------------------------------

SAMPLE_FILES = [
    CONFIGURE, f"{EXIM_DIR}/acl.conf", f"{EXIM_DIR}/dnsbl.conf", f"{EXIM_DIR}/staff.list",
    f"{EXIM_DIR}/virtual/lists.riverbend.example", "/etc/mail/aliases",
    "/usr/local/mailman/mail/mailman",
] + [f"/usr/local/mailman/lists/{name}/config.pck"
     for name in ("devtalk", "users", "announce", "mailman")]
MUTABLE = [(CONFIGURE, 70), (f"{EXIM_DIR}/acl.conf", 10), (f"{EXIM_DIR}/dnsbl.conf", 5),
           (f"{EXIM_DIR}/virtual/lists.riverbend.example", 8), ("/etc/mail/aliases", 7)]
INTERESTING_BYTES = [b"\0", b"\xff", b"\xc3", b"\x85", b"\\", b"\n", b"\r", b"#", b".", b"{",
                     b"}", b'"', b":", b";", b"=", b"+", b"<", b"$", b" ", b"\t", b"\x0c"]
TOKENS = [b"\\\n", b".endif\n", b".else\n", b".ifdef HAVE_SCANNERS\n", b".ifndef X\n",
          b".elifdef MAILMAN_HOME\n", b"begin bogus\n", b"begin routers\n", b"begin\n",
          b".include configure\n", b".include acl.conf\n", b".include missing.conf\n",
          b".include_if_exists acl.conf\n", b".include /usr/local/etc/exim\n", b"${", b"}}",
          b"+", b"<; ", "²".encode(), b"MAILMAN_HOME", b"MAILMAN_HOME == /x\n",
          b"MAILMAN = y\n", b"no_", b"hide ", b"daemon_smtp_ports\n", b"  driver = \n",
          b"x:\n", b"route_list = * <;\n", b"port = 25\n", b"lsearch{aliases}",
          b"domainlist local_domains = +local_domains\n", b"\"\\x", b"\\0", b"\"",
          b"# comment\n", b"\n\n", b"acl_check_rcpt:\n", b"  deny  \n"]
REPLACEMENTS = [(b"begin routers", b"begin router"), (b"begin transports", b"begin acl"),
                (b"begin acl", b"begin bogus"), (b"driver = accept", b"driver = manualroute"),
                (b"driver = redirect", b"driver = accept"), (b"driver = pipe", b"driver = smtp"),
                (b".endif", b".else"), (b".ifdef", b".ifndef"), (b"=", b"=="), (b" = ", b" "),
                (b"lsearch", b"dsearch"), (b"+local_domains", b"+undefined"), (b":", b";"),
                (b"$local_part", b"$domain"), (b"/", b""), (b"\\\n", b"\n"), (b"\n", b"\\\n"),
                (b"MAILMAN_HOME", b"MAILMAN"), (b"25", "²".encode()), (b"acl.conf", b"configure"),
                (b"/etc/aliases", b"aliases"), (b"mailman post", b"mailman bogus")]


@functools.cache
def sample_bytes() -> dict[str, bytes]:
    return {path: (SAMPLE / path.lstrip("/")).read_bytes() for path in SAMPLE_FILES}


def mutate(rng: random.Random, data: bytes, other: bytes) -> bytes:
    """Apply 1..8 random byte/line-level mutations to ``data``; ``other`` feeds splices."""
    for _ in range(min(8, 1 + int(rng.expovariate(0.5)))):
        lines = data.split(b"\n")
        op = rng.randrange(15)
        n = len(lines)
        if op == 0 and n > 1:  # delete a line
            del lines[rng.randrange(n)]
        elif op == 1:  # duplicate a line
            i = rng.randrange(n)
            lines.insert(i, lines[i])
        elif op == 2 and n > 1:  # swap two lines
            i, j = rng.randrange(n), rng.randrange(n)
            lines[i], lines[j] = lines[j], lines[i]
        elif op == 3 and n > 1:  # move a block of lines
            i = rng.randrange(n)
            block = lines[i:i + rng.randint(1, 10)]
            del lines[i:i + len(block)]
            j = rng.randrange(len(lines) + 1)
            lines[j:j] = block
        elif op == 4 and data:  # flip a bit
            b = bytearray(data)
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
            data = bytes(b)
            continue
        elif op == 5 and data:  # replace a byte
            i = rng.randrange(len(data))
            data = data[:i] + rng.choice(INTERESTING_BYTES) + data[i + 1:]
            continue
        elif op == 6:  # insert a token
            i = rng.randrange(len(data) + 1)
            data = data[:i] + rng.choice(TOKENS) + data[i:]
            continue
        elif op == 7 and data:  # truncate
            data = data[:rng.randrange(len(data))]
            continue
        elif op == 8 and data:  # delete a byte range
            i = rng.randrange(len(data))
            data = data[:i] + data[i + rng.randint(1, 64):]
            continue
        elif op == 9:  # splice lines from another file
            others = other.split(b"\n")
            i = rng.randrange(len(others))
            lines[rng.randrange(n + 1):0] = others[i:i + rng.randint(1, 12)]
        elif op == 10:  # a grammar-generated line
            gen = Gen(RandomChoices(rng), scale=3)
            section = rng.choice(["main", "acl", "routers", "transports"])
            lines.insert(rng.randrange(n + 1),
                         "\n".join(gen.render(gen.block(section, CONFIGURE, 0))).encode())
        elif op == 11:  # replace a token everywhere or once
            old, new = rng.choice(REPLACEMENTS)
            data = data.replace(old, new) if rng.random() < 0.3 else data.replace(old, new, 1)
            continue
        elif op == 12:  # repeat a line many times (long files)
            i = rng.randrange(n)
            lines[i:i + 1] = [lines[i]] * rng.randint(2, 300)
        elif op == 13 and data:  # a very long line
            i = rng.randrange(len(data))
            chunk = data[i:i + rng.randint(1, 20)]
            # Paths of thousands of components are test_hang_long_path_in_lookup's business;
            # here they would only make the run slow.
            reps = rng.randint(100, 300 if b"/" in chunk else 5000)
            data = data[:i] + chunk * reps + data[i:]
            continue
        elif op == 14:  # CRLF / indentation changes
            i = rng.randrange(n)
            lines[i] = rng.choice([lines[i] + b"\r", b"  " + lines[i], lines[i].lstrip(),
                                   lines[i].upper(), lines[i] + b" \\"])
        data = b"\n".join(lines)
    return data


def mutated_case(i: int) -> Case:
    """Iteration ``i`` of ``test_fuzz_mutated_sample``: only the mutated files are in it."""
    rng = random.Random(f"{SEED}-mutate-{i}")
    originals = sample_bytes()
    paths = [p for p, _ in MUTABLE]
    weights = [w for _, w in MUTABLE]
    chosen = {rng.choices(paths, weights)[0]}
    if rng.random() < 0.1:
        chosen.add(rng.choice(paths))
    files = {}
    for path in sorted(chosen):
        other = originals[rng.choice(paths)]
        files[path] = mutate(rng, originals[path], other)
    defines = {"HAVE_SCANNERS": ""} if rng.random() < 0.05 else None
    return Case(files, {}, defines, rng.choice([None, "mail.netsight.example"]))


# --- known bugs (reproducers at the end of the file) ---------------------------------------------


@dataclass(frozen=True)
class KnownBug:
    name: str
    signature: tuple
    config: str
    extra: tuple[tuple[str, str], ...] = ()

    def case(self) -> Case:
        files = {CONFIGURE: self.config.encode()}
        files.update({p: t.encode() for p, t in self.extra})
        return Case(files)


BUG_BARE_PORTS = KnownBug(
    "bare daemon_smtp_ports",
    ("exception", "AttributeError", ("_ports", "split_list")),
    "daemon_smtp_ports\n")
BUG_UNICODE_DIGIT_PORTS = KnownBug(
    "non-ASCII digit in daemon_smtp_ports",
    ("exception", "ValueError", ("_tls_and_listeners", "_ports")),
    "daemon_smtp_ports = \u00b2\n")
BUG_UNICODE_DIGIT_TRANSPORT_PORT = KnownBug(
    "non-ASCII digit in a smarthost transport's port",
    ("exception", "ValueError", ("read_exim", "_smarthost")),
    "begin routers\nr:\n  driver = manualroute\n  route_list = * h\n  transport = t\n"
    "begin transports\nt:\n  driver = smtp\n  port = \u00b2\n")
BUG_EMPTY_ROUTE_HOSTS = KnownBug(
    "route_list host list with only a separator",
    ("exception", "IndexError", ("read_exim", "_smarthost")),
    "begin routers\nr:\n  driver = manualroute\n  route_list = * <;\n")
BUG_RELATIVE_LSEARCH = KnownBug(
    "relative lsearch file in a redirect router",
    ("finding", "input.missing", "file-not-absolute"),
    "begin routers\nr:\n  driver = redirect\n  data = ${lookup{$local_part}lsearch{aliases}}\n")
KNOWN_BUGS = [BUG_BARE_PORTS, BUG_UNICODE_DIGIT_PORTS, BUG_UNICODE_DIGIT_TRANSPORT_PORT,
              BUG_EMPTY_ROUTE_HOSTS, BUG_RELATIVE_LSEARCH]


@functools.cache
def live_known_bugs() -> dict[tuple, str]:
    """Signatures of the known bugs whose reproducer still shows them, by signature."""
    live = {}
    with tempfile.TemporaryDirectory() as base:
        for bug in KNOWN_BUGS:
            if any(p.signature == bug.signature for p in run_case(Path(base), bug.case())):
                live[bug.signature] = bug.name
    return live


class Tally:
    """Counts configurations, known-bug hits and new problems of one fuzz test."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.count = 0
        self.known: Counter[str] = Counter()
        self.failures: list[str] = []
        self.new_signatures: set[tuple] = set()

    def record(self, problems: list[Problem], describe_input: Callable[[], str]) -> list[Problem]:
        """Count one configuration; return its problems that are not known bugs."""
        self.count += 1
        live = live_known_bugs()
        new = []
        for p in problems:
            if p.signature in live:
                self.known[live[p.signature]] += 1
            else:
                new.append(p)
        for p in new:
            if p.signature not in self.new_signatures and len(self.failures) < 5:
                self.failures.append(f"{p.signature}\n{p.detail}\ninput:\n{describe_input()}")
            self.new_signatures.add(p.signature)
        return new

    def report(self) -> str:
        known = ", ".join(f"{name}: {n}" for name, n in sorted(self.known.items())) or "none"
        return (f"{self.label}: {self.count} configurations, known-bug hits ({known}), "
                f"new problem kinds: {len(self.new_signatures)}")


@pytest.fixture(scope="module")
def fuzz_base(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("exim-fuzz")


# --- the fuzz tests ---------------------------------------------------------------------------


@pytest.mark.slow
def test_fuzz_hypothesis(fuzz_base: Path) -> None:
    tally = Tally("hypothesis")

    @settings(max_examples=HYPOTHESIS_EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate, Phase.shrink], print_blob=False,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.large_base_example])
    @given(case=exim_cases())
    def one(case: Case) -> None:
        new = tally.record(run_case(fuzz_base, case), lambda: describe(case))
        assert not new, "\n\n".join(f"{p.signature}\n{p.detail}" for p in new)

    one()
    print(tally.report())
    RAN["hypothesis"] = tally.count
    assert tally.count >= HYPOTHESIS_EXAMPLES


@pytest.mark.slow
def test_fuzz_grammar_loop(fuzz_base: Path) -> None:
    tally = Tally("grammar loop")
    for i in range(GRAMMAR_LOOP):
        case = grammar_case(i)
        tally.record(run_case(fuzz_base, case), lambda: f"grammar_case({i})\n{describe(case)}")
    print(tally.report())
    RAN["grammar"] = tally.count
    assert not tally.failures, tally.report() + "\n\n" + "\n\n".join(tally.failures)
    assert tally.count == GRAMMAR_LOOP


@pytest.mark.slow
def test_fuzz_mutated_sample(fuzz_base: Path) -> None:
    tally = Tally("mutated sample")
    root = fuzz_base / "netsight"
    originals = sample_bytes()
    write_tree(root, Case(dict(originals)))
    # The unmutated sample itself must parse cleanly first.
    assert parse_tree(root, Case({})) == []
    for i in range(MUTATION_LOOP):
        case = mutated_case(i)
        write_tree(root, case)
        try:
            problems = parse_tree(root, case)
        finally:
            write_tree(root, Case({p: originals[p] for p in case.files}))
        tally.record(problems, lambda: f"mutated_case({i})\n{describe(case)}")
    print(tally.report())
    RAN["mutation"] = tally.count
    assert not tally.failures, tally.report() + "\n\n" + "\n\n".join(tally.failures)
    assert tally.count == MUTATION_LOOP


@pytest.mark.slow
def test_fuzz_total() -> None:
    """All three fuzz tests together parsed at least TOTAL_REQUIRED configurations."""
    if set(RAN) != {"hypothesis", "grammar", "mutation"}:
        pytest.skip(f"only {sorted(RAN)} of the fuzz tests ran in this session")
    assert sum(RAN.values()) >= TOTAL_REQUIRED, RAN


# --- regression tests for the parser bugs the fuzz tests found (all fixed) ---------------------


def _repro(tmp_path: Path, bug: KnownBug):
    """Run a reproducer strictly (exceptions through, finding contract asserted); the model."""
    run_strict(tmp_path, bug.case())
    root = Path(tempfile.mkdtemp(dir=tmp_path))
    write_tree(root, bug.case())
    tree = LocalTree(root)
    return read_exim(parse_exim(tree, CONFIGURE), tree)


def test_regression_bare_daemon_smtp_ports(tmp_path: Path) -> None:
    result = _repro(tmp_path, BUG_BARE_PORTS)
    assert [(l.address, l.port) for l in result.mta.listeners] == [("*", 25)]  # Exim's default


def test_regression_unicode_digit_in_daemon_smtp_ports(tmp_path: Path) -> None:
    result = _repro(tmp_path, BUG_UNICODE_DIGIT_PORTS)
    assert [l.port for l in result.mta.listeners] == [25]  # "\u00b2" is not a port


def test_regression_unicode_digit_in_smarthost_transport_port(tmp_path: Path) -> None:
    result = _repro(tmp_path, BUG_UNICODE_DIGIT_TRANSPORT_PORT)
    assert result.mta.smarthost is not None
    assert (result.mta.smarthost.host, result.mta.smarthost.port) == ("h", None)


def test_regression_route_list_with_empty_host_list(tmp_path: Path) -> None:
    result = _repro(tmp_path, BUG_EMPTY_ROUTE_HOSTS)
    assert result.mta.smarthost is None  # no host: no smarthost, and no crash


def test_regression_relative_lsearch_path(tmp_path: Path) -> None:
    result = _repro(tmp_path, BUG_RELATIVE_LSEARCH)
    relative = [f for f in result.findings if f.id == "exim.lookup-relative-path"]
    assert len(relative) == 1
    assert relative[0].source.file == CONFIGURE and relative[0].source.line == 2
    assert not [f for f in result.findings if f.id == "input.missing"]


class TookTooLong(BaseException):
    """Raised by ``time_limit``; a BaseException so that no ``except Exception`` swallows it."""


@contextlib.contextmanager
def time_limit(seconds: float):
    def alarm(signum, frame):
        raise TookTooLong(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_regression_long_path_in_lookup(tmp_path: Path) -> None:
    case = Case({CONFIGURE: ("domainlist local_domains = dsearch;" + "/a" * 20_000
                             + "\n").encode()})
    with time_limit(3):
        run_strict(tmp_path, case)


def test_regression_line_break_characters_inside_a_line(tmp_path: Path) -> None:
    root = tmp_path / "host"
    write_tree(root, Case({CONFIGURE: b"# caf\xe9 \x85 au lait\nprimary_hostname = a\x0cb\n"
                                      b"qualify_domain = c\n"}))
    cfg = parse_exim(LocalTree(root), CONFIGURE)
    assert [f.id for f in cfg.findings] == ["input.encoding"]
    assert [(o.name, o.value, o.source.line) for o in cfg.main] == [
        ("primary_hostname", "a\x0cb", 2), ("qualify_domain", "c", 3)]
