"""Aliases files: ``/etc/aliases`` (sendmail's aliases(5) format as Exim's ``lsearch`` reads it),
the per-domain virtual alias files of Exim setups, and the ``:include:`` files they name.

Format, as FreeBSD's aliases(5) and the Exim specification (chapter 22, redirect data) give it:

* ``#`` at the start of a line is a comment; empty lines are ignored;
* a line starting with a space or tab continues the entry above, and so does a line ending in a
  backslash;
* ``name: target, target, ...``; the name may be double-quoted, and Exim's lsearch also accepts
  white space instead of the colon;
* targets are separated by commas (a line break between continuation lines separates too);
  double quotes protect commas and spaces (``"|/usr/local/mailman/mail/mailman post list"``);
* ``|command`` pipes, ``/path`` files, ``:include:/path`` lists of addresses (which may nest),
  ``:fail: text`` and ``:defer: text`` (the text runs to the end of the entry, commas included,
  as in the Exim specification's ``:fail: Gone away, no forwarding address``), ``:blackhole:``,
  ``:unknown:``, and ``\\user`` (a local user, not aliased again).

Lookups are case-independent and the first entry of a name wins, so a repeated name is a finding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from migrate.core.model import (MAX_INCLUDE_DEPTH, Alias, AliasTarget, AliasTargetKind, ConfigFile,
                                Finding, Severity, Source)
from parsers.base import IncludeBudget, TextFile, Tree, read_text

_SPECIAL = {
    ":blackhole:": AliasTargetKind.BLACKHOLE,
    ":unknown:": AliasTargetKind.UNKNOWN,
}
_WITH_TEXT = {":fail:": AliasTargetKind.FAIL, ":defer:": AliasTargetKind.DEFER}
_INCLUDE = ":include:"
#: How many files the ``:include:`` items of the aliases tables read together may read in all
#: (an included file counts each time: once per alias that names it; see ``IncludeBudget``): a
#: host where each alias has its own list file reads one per alias.
MAX_INCLUDE_READS = 10_000


@dataclass
class AliasesResult:
    aliases: list[Alias] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    files: list[ConfigFile] = field(default_factory=list)  # the aliases file and its includes


@dataclass
class _Entry:
    """One logical entry: text joined from its physical lines, and where each part came from."""

    line: int  # where the entry starts
    text: str
    # (offset in text, line number) for each physical line joined in, in order
    line_starts: list[tuple[int, int]]
    backslash_lines: list[int] = field(default_factory=list)

    def line_at(self, offset: int) -> int:
        line = self.line
        for start, number in self.line_starts:
            if start > offset:
                break
            line = number
        return line


def _logical_entries(lines: list[str], orphans: list[int] | None = None) -> list[_Entry]:
    """Join continuation lines with one space, as Exim's lsearch does.

    A line starting with white space continues the entry above; an empty line changes nothing;
    a comment line ends the entry, so indented lines after it belong to no entry (Exim skips
    them: their numbers go to ``orphans``). A line ending in a backslash continues the entry for
    sendmail (aliases(5)) but not for Exim; it is joined here, as its author meant, and recorded
    in ``backslash_lines`` so the caller can report the difference.
    """
    entries: list[_Entry] = []
    current: _Entry | None = None
    backslash_pending = False
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r")
        stripped = line.strip()
        if not backslash_pending:
            if not stripped:
                continue
            if line.startswith("#"):
                current = None
                continue
        continues = backslash_pending or line[:1] in (" ", "\t")
        ends_with_backslash = line.endswith("\\") and not line.endswith("\\\\")
        body = line[:-1] if ends_with_backslash else line
        if continues and current is None:
            if orphans is not None:
                orphans.append(number)
            backslash_pending = False
            continue
        if continues and current is not None:
            offset = len(current.text) + 1
            current.text += " " + body.strip()
            current.line_starts.append((offset, number))
        else:
            current = _Entry(number, body.strip(), [(0, number)])
            entries.append(current)
        if ends_with_backslash:
            current.backslash_lines.append(number)
        backslash_pending = ends_with_backslash
    return entries


def _split_name(entry_text: str) -> tuple[str, str, bool] | None:
    """Split ``name: value``. Returns (name, rest, had_colon) or None when there is no name."""
    text = entry_text
    if text.startswith('"'):
        name_chars: list[str] = []
        i = 1
        while i < len(text):
            ch = text[i]
            if ch == "\\" and i + 1 < len(text):
                name_chars.append(text[i + 1])
                i += 2
                continue
            if ch == '"':
                break
            name_chars.append(ch)
            i += 1
        else:
            return None  # unterminated quote
        name = "".join(name_chars)
        rest = text[i + 1:].lstrip(" \t")
    else:
        end = 0
        while end < len(text) and text[end] not in ": \t\n":
            end += 1
        name = text[:end]
        rest = text[end:].lstrip(" \t")
    if not name:
        return None
    had_colon = rest.startswith(":") and not rest.startswith(_INCLUDE)
    if had_colon:
        rest = rest[1:]
    return name, rest, had_colon


def _split_items(value: str, base: int) -> list[tuple[str, int]]:
    """Split redirect data into (item, offset) at commas outside double quotes.

    ``:fail:`` and ``:defer:`` items swallow the rest of the data as their message.
    """
    items: list[tuple[str, int]] = []
    i = 0
    n = len(value)
    while i < n:
        while i < n and value[i] in " \t,":
            i += 1
        if i >= n:
            break
        start = i
        lowered = value[i:i + 8].lower()
        if lowered.startswith(":fail:") or lowered.startswith(":defer:"):
            items.append((value[start:].strip(), base + start))
            break
        in_quotes = False
        while i < n:
            ch = value[i]
            if in_quotes and ch == "\\" and i + 1 < n:
                i += 2
                continue
            if ch == '"':
                in_quotes = not in_quotes
            elif ch == "," and not in_quotes:
                break
            i += 1
        item = _unquote(value[start:i].strip())
        if in_quotes:
            item = "\0unterminated\0" + item
        items.append((item, base + start))
    return items


def _unquote(item: str) -> str:
    """Remove the quotes around a wholly quoted item (``"|cmd arg"``), keeping partial quotes
    such as the quoted local part of ``"c d"@example.org``."""
    if len(item) < 2 or not (item.startswith('"') and item.endswith('"')):
        return item
    out: list[str] = []
    i = 1
    while i < len(item) - 1:
        ch = item[i]
        if ch == "\\" and i + 1 < len(item) - 1:
            out.append(item[i + 1])
            i += 2
            continue
        if ch == '"':
            return item  # the first quote closes before the end: not one quoted string
        out.append(ch)
        i += 1
    return "".join(out)


def _unquoted_words(item: str) -> list[str]:
    """Split at white space outside double quotes: more than one word is a missing comma."""
    words: list[str] = []
    buf: list[str] = []
    in_quotes = False
    for ch in item:
        if ch == '"':
            in_quotes = not in_quotes
        if ch in " \t" and not in_quotes:
            if buf:
                words.append("".join(buf))
                buf = []
            continue
        buf.append(ch)
    if buf:
        words.append("".join(buf))
    return words


def classify_target(item: str) -> AliasTarget:
    """Type one redirect item (quotes already removed)."""
    lowered = item.lower()
    for prefix, kind in _WITH_TEXT.items():
        if lowered.startswith(prefix):
            return AliasTarget(kind, item[len(prefix):].strip())
    for word, kind in _SPECIAL.items():
        if lowered == word:
            return AliasTarget(kind, "")
    if lowered.startswith(_INCLUDE):
        return AliasTarget(AliasTargetKind.INCLUDE, item[len(_INCLUDE):].strip())
    if item.startswith("|"):
        return AliasTarget(AliasTargetKind.PIPE, item[1:].strip())
    if item.startswith("/"):
        return AliasTarget(AliasTargetKind.FILE, item)
    return AliasTarget(AliasTargetKind.ADDRESS, item)


class _Parser:
    def __init__(self, tree: Tree, budget: IncludeBudget) -> None:
        self.tree = tree
        self.result = AliasesResult()
        self.budget = budget
        self.over_budget = False  # an :include: was skipped (reported once per table)
        self.included: set[str] = set()  # the files of result.files, each listed once

    def finding(self, fid: str, severity: Severity, message: str, hint: str, file: str,
                line: int | None) -> None:
        self.result.findings.append(Finding(fid, severity, message, hint, Source(file, line)))

    def parse_table(self, path: str, domain: str | None, required: bool) -> None:
        tf = read_text(self.tree, path, "aliases", required=required)
        self.result.findings.extend(tf.findings)
        if tf.config:
            self.result.files.append(tf.config)
        if tf.text is None:
            return
        file = tf.path
        seen: dict[str, int] = {}
        orphans: list[int] = []
        entries = _logical_entries(tf.lines(), orphans)
        for line in orphans:
            self.finding(
                "aliases.orphan-continuation", Severity.WARNING,
                "an indented line follows a comment line: it belongs to no alias, and Exim "
                "ignores it (a comment ends the alias above it)",
                "Move the comment above the alias, or remove the indentation if this line "
                "is meant as an alias of its own.", file, line)
        for entry in entries:
            split = _split_name(entry.text)
            if split is None:
                self.finding(
                    "aliases.syntax", Severity.ERROR,
                    f"cannot read this line as an alias: {entry.text[:60]!r}",
                    "Write it as `name: target, target` or comment it out with #.",
                    file, entry.line)
                continue
            name, rest, had_colon = split
            if not had_colon and not rest.strip():
                self.finding(
                    "aliases.syntax", Severity.ERROR,
                    f"{name!r} has no colon and no targets: not an alias",
                    "Write it as `name: target, target` or comment it out with #.",
                    file, entry.line)
                continue
            key = name.lower()
            if key in seen:
                self.finding(
                    "aliases.duplicate", Severity.WARNING,
                    f"alias {name!r} is defined again (first on line {seen[key]}); "
                    "the first entry wins and this one is ignored",
                    f"Merge the two entries into the one on line {seen[key]} and delete this one.",
                    file, entry.line)
                continue
            seen[key] = entry.line
            for line in entry.backslash_lines:
                self.finding(
                    "aliases.backslash-continuation", Severity.ERROR,
                    f"alias {name!r} continues on the next line with a trailing backslash: "
                    "sendmail reads that, Exim does not (it takes the next line as a new "
                    "alias and keeps the backslash)",
                    "Start the continued line with white space instead of ending this one "
                    "with a backslash.", file, line)
            value_offset = len(entry.text) - len(rest)
            targets = self.parse_targets(rest, value_offset, entry, file, name, depth=0)
            if not targets:
                self.finding(
                    "aliases.empty", Severity.WARNING, f"alias {name!r} has no targets",
                    "Give it a target, or :blackhole: if mail to it should be dropped.",
                    file, entry.line)
            self.result.aliases.append(
                Alias(name, targets, file, domain, Source(file, entry.line)))

    def parse_targets(self, value: str, base: int, entry: _Entry, file: str, name: str,
                      depth: int, stack: tuple[str, ...] = ()) -> list[AliasTarget]:
        targets = []
        for item, offset in _split_items(value, base):
            line = entry.line_at(offset)
            if item.startswith("\0unterminated\0"):
                item = item.removeprefix("\0unterminated\0")
                self.finding(
                    "aliases.quote", Severity.ERROR,
                    f"unterminated double quote in the targets of {name!r}",
                    "Close the quote; until then the MTA reads this entry differently.",
                    file, line)
            if not item:
                continue
            target = classify_target(item)
            if line != entry.line or depth > 0:
                target.source = Source(file, line)
            if target.kind == AliasTargetKind.INCLUDE:
                self.expand_include(target, file, line, name, depth, stack)
            if target.kind == AliasTargetKind.ADDRESS:
                words = _unquoted_words(target.value)
                if len(words) > 1 and "<" not in target.value:
                    # Exim: "malformed address: b may not follow a"; mail to the alias defers.
                    self.finding(
                        "aliases.missing-comma", Severity.ERROR,
                        f"targets of {name!r} lack a comma between {words[0]!r} and "
                        f"{words[1]!r}: Exim defers all mail to this alias",
                        "Put a comma between the addresses.", file, line)
                    for word in words:
                        targets.append(AliasTarget(AliasTargetKind.ADDRESS, word,
                                                   target.source))
                    continue
            targets.append(target)
        return targets

    def expand_include(self, target: AliasTarget, file: str, line: int, name: str, depth: int,
                       stack: tuple[str, ...]) -> None:
        path = target.value
        if not path.startswith("/"):
            self.finding(
                "aliases.include-relative", Severity.ERROR,
                f":include: of {name!r} names a relative path {path!r}",
                "Use an absolute path: the MTA resolves :include: files from the root.",
                file, line)
            return
        if depth >= MAX_INCLUDE_DEPTH or path in stack:
            self.finding(
                "aliases.include-loop", Severity.ERROR,
                f":include: {path} of {name!r} loops back into itself",
                "Break the loop: an :include: file must not include itself, directly or not.",
                file, line)
            return
        if self.budget.spent:
            if not self.over_budget:
                self.over_budget = True
                self.finding(
                    "aliases.include-budget", Severity.ERROR,
                    f":include: {path} of {name!r} is not read, nor is any later one: "
                    f"{self.budget.describe()} (Exim reads an :include: file each time an "
                    "alias names it); the inventory lacks their addresses",
                    "Include each file once (an :include: file that names the next one twice "
                    "grows exponentially with the depth), then inspect again.", file, line)
            return
        tf = read_text(self.tree, path, "alias-include", required=False)
        self.budget.spend(tf)
        self.result.findings.extend(tf.findings)
        if tf.config and tf.config.path not in self.included:
            self.included.add(tf.config.path)
            self.result.files.append(tf.config)
        if tf.text is None:
            if not tf.findings:
                self.finding(
                    "aliases.include-missing", Severity.ERROR,
                    f":include: file {path} of alias {name!r} does not exist",
                    "Mail to this alias is deferred by Exim until the file exists: restore it "
                    "from the old host, or remove the :include:.", file, line)
            return
        target.members.extend(self.items(tf, name, depth, stack + (path,)))

    def items(self, tf: TextFile, name: str, depth: int, stack: tuple[str, ...]
              ) -> list[AliasTarget]:
        """The items of a file that holds redirection items only (an :include: file, a
        forward file): line breaks separate them as commas do."""
        out: list[AliasTarget] = []
        for number, line in enumerate(tf.lines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            sub = _Entry(number, line.strip(), [(0, number)])
            out += self.parse_targets(sub.text, 0, sub, tf.path, name, depth + 1, stack)
        return out


def parse_aliases(tree: Tree, path: str, *, domain: str | None = None,
                  required: bool = True, budget: IncludeBudget | None = None) -> AliasesResult:
    """Parse one aliases table (``/etc/aliases`` or a per-domain virtual alias file); the
    tables of one MTA share one ``budget`` for their ``:include:`` files (a table alone has
    its own)."""
    parser = _Parser(tree, budget or IncludeBudget(MAX_INCLUDE_READS))
    parser.parse_table(path, domain, required)
    return parser.result


#: The first line of a forward file that is a filter, not a list of items (Exim, Sieve).
_FILTER = ("# exim filter", "# sieve filter")


def parse_forward(tree: Tree, path: str, name: str, *,
                  budget: IncludeBudget | None = None) -> AliasesResult:
    """A user's forward file (``~/.forward``), read as Exim reads one without filtering: items
    separated by commas or line breaks, with the :include: files they name, as one alias
    ``name``; no alias when the file is missing, nor, with a finding, when it is a filter
    (what a filter does with mail is a program, not a list)."""
    parser = _Parser(tree, budget or IncludeBudget(MAX_INCLUDE_READS))
    tf = read_text(tree, path, "forward", required=False)
    parser.result.findings.extend(tf.findings)
    if tf.config:
        parser.result.files.append(tf.config)
    if tf.text is None:
        return parser.result
    if tf.text.lstrip().lower().startswith(_FILTER):
        parser.finding(
            "aliases.filter-file", Severity.WARNING,
            f"{tf.path} is a filter, not a list of addresses: where it sends {name}'s mail "
            "is not read", f"Check by hand where mail to {name} goes; the inventory names the "
            "address without its recipients.", tf.path, 1)
        return parser.result
    targets = parser.items(tf, name, 0, (tf.path,))
    parser.result.aliases.append(Alias(name, targets, tf.path, None, Source(tf.path, 1)))
    return parser.result
