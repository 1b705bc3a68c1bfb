"""Exim 4's runtime configuration, read as Exim's own ``readconf.c`` reads it.

Two layers:

* ``EximReader`` turns physical lines into logical lines exactly as ``get_config_line()`` does:
  macro substitution on each physical line (plain substring replacement, macros in definition
  order, a replacement never rescanned for its own macro), then comment lines, the conditional
  directives (``.ifdef``/``.ifndef``/``.elifdef``/``.elifndef``/``.else``/``.endif``, true when
  a macro was substituted in the directive's line), ``.include`` (relative to the including
  file's folder) and ``.include_if_exists`` (absolute only), then backslash continuation.
* ``parse_exim_text``/``parse_exim`` split the logical lines into the main section (options,
  named lists, macro definitions) and the ``begin`` sections: ACL statements, router,
  transport and authenticator instances with their options in order, retry and rewrite rules.

Expansion strings (``${...}``) are kept verbatim and never evaluated; they are only scanned for
the files lookups read. Every item carries the file and line of its first physical line, in
the included file where it came from one. Problems are findings; nothing here raises on bad
input.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from migrate.core.model import ConfigFile, Finding, Lookup, Severity, Source
from parsers.base import IncludeBudget, Tree, read_text

#: Builtin macros (``_HAVE_*``, ...) assumed for the old host's Exim: a FreeBSD ports build with
#: its default options. ``-D`` definitions override them; a config that tests one gets a finding.
DEFAULT_BUILTINS = (
    "_HAVE_TLS", "_HAVE_OPENSSL", "_HAVE_IPV6", "_HAVE_DKIM", "_HAVE_DNSSEC", "_HAVE_PRDR",
    "_HAVE_OCSP", "_HAVE_EVENT", "_HAVE_AUTH_PLAINTEXT", "_HAVE_AUTH_CRAM_MD5",
    "_HAVE_LOOKUP_LSEARCH", "_HAVE_LOOKUP_DSEARCH", "_HAVE_LOOKUP_CDB", "_HAVE_LOOKUP_DBM",
    "_DRIVER_ROUTER_ACCEPT", "_DRIVER_ROUTER_DNSLOOKUP", "_DRIVER_ROUTER_MANUALROUTE",
    "_DRIVER_ROUTER_REDIRECT", "_DRIVER_TRANSPORT_APPENDFILE", "_DRIVER_TRANSPORT_PIPE",
    "_DRIVER_TRANSPORT_SMTP", "_DRIVER_TRANSPORT_LMTP", "_DRIVER_TRANSPORT_AUTOREPLY",
)

SECTIONS = ("acls", "authenticators", "local_scans", "retrys", "rewrites", "routers",
            "transports")
ACL_VERBS = ("accept", "defer", "deny", "discard", "drop", "require", "warn")
NAMED_LIST_KINDS = ("domainlist", "hostlist", "addresslist", "localpartlist")
_CONDITIONALS = ("ifdef", "ifndef", "elifdef", "elifndef", "else", "endif")
_MAX_INCLUDE_DEPTH = 40
#: How many files the ``.include`` lines of one configuration may read in all (a file included
#: twice counts twice; see ``IncludeBudget``): split configurations hold a few dozen.
MAX_INCLUDE_READS = 1_000
_MACRO_DEF = re.compile(r"([A-Z][A-Za-z0-9_]*)\s*(==?)\s*(.*)\Z", re.S)
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_MACRO_START = re.compile(r"[A-Z]|_[A-Z]")


@dataclass
class LogicalLine:
    text: str
    source: Source


@dataclass
class Option:
    name: str
    value: str | None  # None for a bare boolean (``no_more``, ``local_part_suffix_optional``)
    negated: bool = False  # ``no_xxx`` / ``not_xxx``
    hidden: bool = False  # ``hide xxx = ...``: the value must never be shown
    source: Source | None = None

    @property
    def truthy(self) -> bool:
        if self.value is None:
            return not self.negated
        return self.value.strip().lower() in ("true", "yes")


@dataclass
class Driver:
    """A router, transport or authenticator instance with its options in order."""

    name: str
    kind: str  # "router", "transport", "authenticator"
    options: list[Option] = field(default_factory=list)
    source: Source | None = None

    def get(self, name: str) -> Option | None:
        for opt in self.options:
            if opt.name == name:
                return opt
        return None

    def value(self, name: str) -> str | None:
        opt = self.get(name)
        return opt.value if opt else None

    def all(self, name: str) -> list[Option]:
        return [o for o in self.options if o.name == name]

    @property
    def driver(self) -> str | None:
        return self.value("driver")


@dataclass
class AclStatement:
    acl: str
    verb: str
    conditions: list[Option] = field(default_factory=list)  # conditions and modifiers in order
    source: Source | None = None


@dataclass
class RawRule:
    """A retry or rewrite rule, verbatim."""

    section: str
    text: str
    source: Source | None = None


@dataclass
class EximConfig:
    """Exim's configuration as Exim reads it, before any meaning is given to it."""

    path: str
    main: list[Option] = field(default_factory=list)
    named_lists: dict[str, tuple[str, str, Source]] = field(default_factory=dict)
    routers: list[Driver] = field(default_factory=list)
    transports: list[Driver] = field(default_factory=list)
    authenticators: list[Driver] = field(default_factory=list)
    acl: list[AclStatement] = field(default_factory=list)
    #: each ACL by its name, where it begins (its ``name:`` line; the first, if named twice)
    acl_starts: dict[str, Source] = field(default_factory=dict)
    rules: list[RawRule] = field(default_factory=list)
    macros: dict[str, str] = field(default_factory=dict)
    builtins_tested: dict[str, Source] = field(default_factory=dict)
    files: list[ConfigFile] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def main_value(self, name: str) -> str | None:
        value = None
        for opt in self.main:  # the last setting wins, as in Exim
            if opt.name == name:
                value = opt.value
        return value

    def main_option(self, name: str) -> Option | None:
        found = None
        for opt in self.main:
            if opt.name == name:
                found = opt
        return found

    def router(self, name: str) -> Driver | None:
        return next((r for r in self.routers if r.name == name), None)

    def transport(self, name: str) -> Driver | None:
        return next((t for t in self.transports if t.name == name), None)


# --- the reader: physical lines to logical lines ------------------------------------------------


@dataclass
class _Frame:
    path: str
    lines: list[str]
    index: int = 0


@dataclass
class _Cond:
    """One level of .ifdef nesting."""

    parent_active: bool
    taken: bool  # a branch at this level was already true
    active: bool
    source: Source


class EximReader:
    """Logical lines of an Exim configuration, with macros, conditionals and includes done."""

    def __init__(self, tree: Tree, defines: dict[str, str] | None = None,
                 builtins: tuple[str, ...] = DEFAULT_BUILTINS) -> None:
        self.tree = tree
        self.budget = IncludeBudget(MAX_INCLUDE_READS)
        self.over_budget = False  # an include was skipped (reported once)
        # Macros in definition order; command-line (-D) ones first, as Exim adds them first.
        self.macros: dict[str, str] = {}
        self.command_line: set[str] = set()
        self.builtins: dict[str, str] = {name: "" for name in builtins}
        for name, value in (defines or {}).items():
            if name.startswith("_"):
                self.builtins[name] = value
            else:
                self.macros[name] = value
                self.command_line.add(name)
        self.findings: list[Finding] = []
        self.files: list[ConfigFile] = []
        self.builtins_tested: dict[str, Source] = {}

    def _finding(self, fid: str, severity: Severity, message: str, hint: str,
                 source: Source) -> None:
        self.findings.append(Finding(fid, severity, message, hint, source))

    # Macro definitions are applied by the section parser when it meets one, before the next
    # line is read, exactly as readconf.c does.
    def define(self, line: LogicalLine) -> None:
        m = _MACRO_DEF.match(line.text)
        if not m:
            self._finding("exim.macro-syntax", Severity.ERROR,
                          f"malformed macro definition {line.text[:60]!r}",
                          "Write it as NAME = value; Exim refuses to start with this line.",
                          line.source)
            return
        name, op, value = m.group(1), m.group(2), m.group(3).strip()
        if name in self.command_line:
            return  # a -D definition wins over every definition in the file
        if name in self.macros:
            if op != "==":
                self._finding("exim.macro-redefined", Severity.ERROR,
                              f"macro {name} is already defined; Exim refuses this line",
                              "Use == to redefine a macro on purpose.", line.source)
                return
            self.macros[name] = value
            return
        if op == "==":
            self._finding("exim.macro-undefined", Severity.ERROR,
                          f"macro {name} is redefined with == but was never defined",
                          "Use = for the first definition.", line.source)
            return
        for other in self.macros:
            if len(other) < len(name) and other in name:
                self._finding("exim.macro-substring", Severity.ERROR,
                              f"macro {name} contains the earlier macro {other}; "
                              "Exim refuses to define it",
                              f"Rename {name} or define it before {other}.", line.source)
                return
        self.macros[name] = value

    def _expand(self, raw: str, logical_start: bool, here: Source) -> tuple[str, bool]:
        """Macro substitution on one physical line, as ``macros_expand()``."""
        stripped = raw.lstrip()
        start = 0
        if logical_start and stripped[:1].isupper():
            m = re.match(r"[A-Za-z0-9_]*\s*=", stripped)
            if m:
                start = m.end()  # no substitution in the name of a macro being defined
        m = _MACRO_START.search(stripped, start)
        if not m:
            return stripped, False
        head, tail = stripped[: m.start()], stripped[m.start():]
        found = False
        sources = [self.builtins, self.macros] if tail.startswith("_") else [self.macros]
        for table in sources:
            for name, value in table.items():
                if name in tail:
                    tail = tail.replace(name, value)
                    found = True
                    if table is self.builtins:
                        self.builtins_tested.setdefault(name, here)
        return head + tail, found

    def lines(self, path: str) -> Iterator[LogicalLine]:
        """Yield the logical lines of the configuration starting at ``path``."""
        tf = read_text(self.tree, path, "exim")
        self.findings.extend(tf.findings)
        if tf.config:
            self.files.append(tf.config)
        if tf.text is None:
            return
        stack = [_Frame(tf.path, tf.lines())]
        conds: list[_Cond] = []
        parts: list[str] = []
        start: Source | None = None
        while stack:
            frame = stack[-1]
            if frame.index >= len(frame.lines):
                stack.pop()
                continue
            raw = frame.lines[frame.index].rstrip("\r\n")
            frame.index += 1
            here = Source(frame.path, frame.index)
            text, found = self._expand(raw, not parts, here)
            if text.startswith("#"):
                continue
            if text.startswith("."):
                word = re.match(r"\.([a-z_]+)", text)
                directive = word.group(1) if word else ""
                if directive in _CONDITIONALS:
                    self._conditional(directive, found, conds, here)
                    continue
            if conds and not conds[-1].active:
                continue
            if text.startswith(".include") and re.match(r"\.include(_if_exists)?(\s|$)", text):
                self._include(text, frame, stack, here)
                continue
            body = text.rstrip()
            if not parts:
                start = here
            parts.append(body)
            joined_len = sum(len(p) for p in parts)
            if joined_len and body.endswith("\\"):
                parts[-1] = body[:-1]
                continue
            if not joined_len:
                parts = []
                continue
            logical = "".join(parts)
            parts = []
            if start is not None:
                yield LogicalLine(logical, start)
        if parts and start is not None and "".join(parts):
            yield LogicalLine("".join(parts), start)
        for cond in conds:
            self._finding("exim.unterminated-conditional", Severity.ERROR,
                          "this conditional has no .endif before the end of the configuration",
                          "Add the missing .endif; Exim refuses to start without it.",
                          cond.source)

    def _conditional(self, directive: str, found: bool, conds: list[_Cond], here: Source) -> None:
        if directive in ("ifdef", "ifndef"):
            parent = conds[-1].active if conds else True
            truth = found if directive == "ifdef" else not found
            conds.append(_Cond(parent, truth, parent and truth, here))
            return
        if not conds:
            self._finding("exim.stray-conditional", Severity.ERROR,
                          f".{directive} without a matching .ifdef or .ifndef",
                          "Remove it or add the opening .ifdef; Exim refuses to start.", here)
            return
        top = conds[-1]
        if directive == "endif":
            conds.pop()
        elif directive == "else":
            top.active = top.parent_active and not top.taken
            top.taken = True
        else:  # elifdef / elifndef
            truth = found if directive == "elifdef" else not found
            top.active = top.parent_active and not top.taken and truth
            top.taken = top.taken or truth

    def _include(self, text: str, frame: _Frame, stack: list[_Frame], here: Source) -> None:
        if_exists = text.startswith(".include_if_exists")
        name = text[len(".include_if_exists" if if_exists else ".include"):].strip()
        if len(name) >= 2 and name.startswith('"') and name.endswith('"'):
            name = name[1:-1]
        if not name:
            self._finding("exim.include-syntax", Severity.ERROR, ".include without a file name",
                          "Name the file to include.", here)
            return
        if not name.startswith("/"):
            if if_exists:
                self._finding("exim.include-relative", Severity.ERROR,
                              f".include_if_exists needs an absolute path, not {name!r}",
                              "Exim refuses a relative path here; make it absolute.", here)
                return
            name = posixpath.normpath(posixpath.join(posixpath.dirname(frame.path), name))
        if if_exists and not self.tree.exists(name):
            return
        if any(f.path == self._resolved(name) for f in stack) or len(stack) > _MAX_INCLUDE_DEPTH:
            self._finding("exim.include-loop", Severity.ERROR,
                          f".include of {name} loops back into a file being read",
                          "Remove the include that closes the loop.", here)
            return
        if self.budget.spent:
            if not self.over_budget:
                self.over_budget = True
                self._finding("exim.include-budget", Severity.ERROR,
                              f".include of {name} is not read, nor is any later one: "
                              f"{self.budget.describe()} (Exim reads a file again each time "
                              "it is included); the inventory lacks what they hold",
                              "Include each file once (the includes that repeat a file grow "
                              "exponentially with their depth), then inspect again.", here)
            return
        tf = read_text(self.tree, name, "exim-include", required=False)
        self.budget.spend(tf)
        if tf.text is None:
            if tf.findings:
                self.findings.extend(tf.findings)
            else:
                self._finding("exim.include-missing", Severity.ERROR,
                              f"included file {name} does not exist",
                              "Exim refuses to start without it: copy it from the old host, "
                              "or use .include_if_exists if it is optional.", here)
            return
        self.findings.extend(tf.findings)
        if tf.config and tf.config.path not in {f.path for f in self.files}:
            self.files.append(tf.config)
        stack.append(_Frame(tf.path, tf.lines()))

    def _resolved(self, path: str) -> str:
        try:
            return self.tree.resolve(path)
        except Exception:  # noqa: BLE001 - a loop is reported when the file is read
            return path


# --- the section parser -----------------------------------------------------------------------


def unquote(value: str) -> str:
    """A string option's value: verbatim, or a double-quoted string with escapes resolved."""
    if not (len(value) >= 2 and value.startswith('"') and value.endswith('"')):
        return value
    out: list[str] = []
    i = 1
    end = len(value) - 1
    escapes = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\"}
    while i < end:
        ch = value[i]
        if ch != "\\" or i + 1 >= end:
            out.append(ch)
            i += 1
            continue
        nxt = value[i + 1]
        if nxt in escapes:
            out.append(escapes[nxt])
            i += 2
        elif nxt in "01234567":
            m = re.match(r"[0-7]{1,3}", value[i + 1:end])
            out.append(chr(int(m.group(0), 8)))  # type: ignore[union-attr]
            i += 1 + len(m.group(0))  # type: ignore[union-attr]
        elif nxt == "x" and re.match(r"[0-9a-fA-F]", value[i + 2:i + 3]):
            m = re.match(r"[0-9a-fA-F]{1,2}", value[i + 2:end])
            out.append(chr(int(m.group(0), 16)))  # type: ignore[union-attr]
            i += 2 + len(m.group(0))  # type: ignore[union-attr]
        else:
            out.append(nxt)
            i += 2
    return "".join(out)


def parse_option(line: LogicalLine) -> Option | None:
    """``[hide] name [= value]``; ``no_name``/``not_name`` negate a boolean. None if not one."""
    text = line.text
    hidden = False
    if text.startswith("hide ") or text.startswith("hide\t"):
        hidden = True
        text = text[5:].lstrip()
    m = re.match(r"([a-z_][a-z0-9_]*)\s*", text)  # options are lower case
    if not m:
        return None
    name = m.group(1)
    rest = text[m.end():]
    if not rest:
        negated = False
        for prefix in ("no_", "not_"):
            if name.startswith(prefix):
                name, negated = name[len(prefix):], True
                break
        return Option(name, None, negated, hidden, line.source)
    if not rest.startswith("="):
        return None
    return Option(name, unquote(rest[1:].strip()), False, hidden, line.source)


def _is_macro_line(text: str) -> bool:
    m = re.match(r"[A-Z][A-Za-z0-9_]*\s*=", text)
    return bool(m)


def parse_exim(tree: Tree, path: str, defines: dict[str, str] | None = None) -> EximConfig:
    """Read the configuration at ``path`` (and what it includes) as Exim would."""
    reader = EximReader(tree, defines)
    return _parse_lines(reader, path)


def _parse_lines(reader: EximReader, path: str) -> EximConfig:
    cfg = EximConfig(path)
    section = "main"
    seen_sections: set[str] = set()
    driver_names: dict[str, set[str]] = {}
    current: Driver | None = None
    acl_name: str | None = None
    statement: AclStatement | None = None
    skipping = False

    def finding(fid: str, severity: Severity, message: str, hint: str, source: Source) -> None:
        cfg.findings.append(Finding(fid, severity, message, hint, source))

    def close_driver() -> None:
        nonlocal current
        if current is not None and current.kind in ("router", "transport", "authenticator"):
            if not current.driver:
                finding("exim.no-driver", Severity.ERROR,
                        f"{current.kind} {current.name} has no driver option",
                        f"Add `driver = ...` to {current.name}; Exim refuses to start without it.",
                        current.source or Source(path))
        current = None

    for line in reader.lines(path):
        text = line.text
        if text[:6].lower() == "begin " or text.lower() == "begin":
            close_driver()
            acl_name, statement = None, None
            name = text[6:].strip().lower()
            plural = name if name.endswith("s") else name + "s"
            if plural not in SECTIONS:
                finding("exim.unknown-section", Severity.ERROR,
                        f"unknown configuration section {name!r}",
                        "Exim knows acl, authenticators, local_scan, retry, rewrite, routers "
                        "and transports; fix the begin line. Lines up to the next begin are "
                        "skipped here.", line.source)
                skipping = True
                continue
            if plural in seen_sections:
                finding("exim.repeated-section", Severity.ERROR,
                        f"section {name} appears twice", "Merge the two sections into one.",
                        line.source)
            seen_sections.add(plural)
            section = plural
            skipping = False
            continue
        if skipping:
            continue
        if section == "main":
            _main_line(reader, cfg, line, finding)
        elif section in ("routers", "transports", "authenticators"):
            kind = section[:-1]
            if _is_macro_line(text):
                close_driver()
                reader.define(line)
                continue
            m = re.match(r"([A-Za-z][A-Za-z0-9_]*)\s*:\s*(.*)\Z", text)
            if m and not m.group(2):
                close_driver()
                drivers = getattr(cfg, section)
                names = driver_names.setdefault(section, set())
                if m.group(1) in names:
                    finding("exim.duplicate-driver", Severity.ERROR,
                            f"there are two {section} called {m.group(1)}",
                            "Rename one; Exim refuses to start.", line.source)
                current = Driver(m.group(1), kind, source=line.source)
                drivers.append(current)
                names.add(m.group(1))
                continue
            opt = parse_option(line)
            if current is None:
                finding("exim.option-outside-driver", Severity.ERROR,
                        f"option line before any {kind} name: {text[:60]!r}",
                        f"Put it inside a {kind} (after `name:`); Exim says '{kind} name "
                        "missing'.", line.source)
                continue
            if opt is None:
                finding("exim.syntax", Severity.ERROR,
                        f"cannot read this line of {kind} {current.name}: {text[:60]!r}",
                        "Write options as `name = value`.", line.source)
                continue
            current.options.append(opt)
        elif section == "acls":
            if _is_macro_line(text):
                reader.define(line)
                continue
            m = re.match(r"([A-Za-z][A-Za-z0-9_]*)\s*:\s*\Z", text)
            if m:
                acl_name, statement = m.group(1), None
                cfg.acl_starts.setdefault(acl_name, line.source)
                continue
            verb = re.match(r"(" + "|".join(ACL_VERBS) + r")\b\s*(.*)\Z", text)
            if verb and acl_name is not None:
                statement = AclStatement(acl_name, verb.group(1), source=line.source)
                cfg.acl.append(statement)
                rest = verb.group(2)
                if rest:
                    cond = _acl_condition(LogicalLine(rest, line.source))
                    if cond:
                        statement.conditions.append(cond)
                continue
            cond = _acl_condition(line)
            if statement is None or cond is None:
                finding("exim.acl-syntax", Severity.ERROR,
                        f"cannot read this ACL line: {text[:60]!r}",
                        "ACL statements start with accept, deny, defer, discard, drop, "
                        "require or warn inside a named ACL (`name:`).", line.source)
                continue
            statement.conditions.append(cond)
        elif section in ("retrys", "rewrites"):
            cfg.rules.append(RawRule(section[:-1], text, line.source))
        # local_scan options are not used by anything the move touches.
    close_driver()
    cfg.macros = dict(reader.macros)
    cfg.files = reader.files
    cfg.builtins_tested = dict(reader.builtins_tested)
    cfg.findings = reader.findings + cfg.findings
    return cfg


def _acl_condition(line: LogicalLine) -> Option | None:
    m = re.match(r"(!\s*)?([a-z_][a-z0-9_]*)\s*(=\s*(.*))?\Z", line.text, re.S)
    if not m:
        return None
    value = m.group(4)
    return Option(m.group(2), value.strip() if value is not None else None,
                  bool(m.group(1)), False, line.source)


def _main_line(reader: EximReader, cfg: EximConfig, line: LogicalLine, finding) -> None:
    text = line.text
    if _is_macro_line(text):
        reader.define(line)
        return
    m = re.match(r"(hide\s+)?(" + "|".join(NAMED_LIST_KINDS) + r")\s+([A-Za-z0-9_]+)\s*=\s*(.*)\Z",
                 text, re.S)
    if m:
        cfg.named_lists[m.group(3)] = (m.group(2), m.group(4).strip(), line.source)
        return
    opt = parse_option(line)
    if opt is None:
        finding("exim.syntax", Severity.ERROR, f"cannot read this main option: {text[:60]!r}",
                "Write options as `name = value`.", line.source)
        return
    cfg.main.append(opt)


# --- lists and lookups ------------------------------------------------------------------------


def split_list(value: str) -> list[str]:
    """Split an Exim list: colon-separated (``::`` is a literal colon), ``<X`` changes the
    separator, items are stripped, a trailing empty item is dropped."""
    text = value.strip()
    sep = ":"
    if len(text) >= 2 and text[0] == "<" and not text[1].isalnum() and not text[1].isspace():
        sep, text = text[1], text[2:]
    items: list[str] = []
    buf: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == sep:
            if i + 1 < len(text) and text[i + 1] == sep:
                buf.append(sep)
                i += 2
                continue
            items.append("".join(buf).strip())
            buf = []
        elif ch == "$" and text.startswith("${", i):
            end = _matching_brace(text, i + 1)
            buf.append(text[i:end])
            i = end
            continue
        else:
            buf.append(ch)
        i += 1
    last = "".join(buf).strip()
    if last:  # an empty item at the end of a list is ignored
        items.append(last)
    return items


def _matching_brace(text: str, open_index: int) -> int:
    """The index after the ``}`` closing the ``{`` at ``open_index`` (or the end of text)."""
    depth = 0
    i = open_index
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(text)


LOOKUP_TYPES = ("lsearch", "wildlsearch", "nwildlsearch", "iplsearch", "dsearch", "cdb",
                "dbm", "dbmnz", "dbmjz")
_LOOKUP_EXPANSION = re.compile(
    r"\b(?:partial\d*-)?(" + "|".join(LOOKUP_TYPES) + r")\*{0,1}@?(?:,[^{}\s]*)?\s*\{([^{}]*)\}")
_LOOKUP_LIST = re.compile(
    r"(?:^|[\s!:;])(?:partial\d*-)?(" + "|".join(LOOKUP_TYPES) + r")\*{0,1}@?(?:,[^;\s]*)?\s*;\s*([^\s:;]+)")
_READFILE = re.compile(r"\$\{readfile\{([^{}]+)\}")


def find_lookups(value: str) -> list[tuple[str, str]]:
    """(kind, path) of the files an option's value reads through lookups."""
    found = [(m.group(1), m.group(2).strip()) for m in _LOOKUP_EXPANSION.finditer(value)]
    found += [(m.group(1), m.group(2).strip()) for m in _LOOKUP_LIST.finditer(value)]
    found += [("readfile", m.group(1).strip()) for m in _READFILE.finditer(value)]
    return [(k, p) for k, p in found if p.startswith("/")]


def config_lookups(cfg: EximConfig) -> list[Lookup]:
    """Every file read by a lookup anywhere in the configuration, in order of appearance."""
    out: list[Lookup] = []
    seen: set[tuple[str, str, str]] = set()

    def add(value: str | None, used_by: str, source: Source | None) -> None:
        if not value:
            return
        for kind, path in find_lookups(value):
            key = (kind, path, used_by)
            if key not in seen:
                seen.add(key)
                out.append(Lookup(kind, path, used_by, source))

    for opt in cfg.main:
        add(opt.value, f"main {opt.name}", opt.source)
    for name, (kind, value, source) in cfg.named_lists.items():
        add(value, f"{kind} {name}", source)
    for stmt in cfg.acl:
        for cond in stmt.conditions:
            add(cond.value, f"acl {stmt.acl}", cond.source)
    for kind, drivers in (("router", cfg.routers), ("transport", cfg.transports)):
        for d in drivers:
            for opt in d.options:
                add(opt.value, f"{kind} {d.name}", opt.source)
    return out
