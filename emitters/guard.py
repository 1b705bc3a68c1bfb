"""The one guard between the inventory and the plan's files.

Every string of an inventory comes from an old host nobody fully trusts (or from an inventory
file someone edited): a host name, a cron command, an Exim router's name, a log rotation line.
Emitted files are read by shells (``rsync/*.sh`` run as root on the old host, the crontab,
the runbook's commands), by Python (``mm_cfg.py``), by daemons' parsers (smtpd.conf,
httpd.conf, Exim, Apache, newsyslog) and by people. A value must never become syntax in any
of them, not even in a comment: a newline in a comment ends it and starts a live line.

The guard has three layers. The first and the last are generic (they know nothing about
fields or file formats beyond the list below), so a new field or a new emitter is covered
without being named anywhere:

1. **Screen (before any emitter runs).** ``screen()`` walks every string of the inventory and
   of the target settings generically (dataclass fields, list items, dict keys and values; no
   field list to keep up to date). A value holding a line break or another control character
   (C0 and C1 controls except TAB, DEL, U+2028/U+2029, lone surrogates, and the bidirectional
   overrides that make a file read differently from how it parses) is *tainted*: the emitters
   see a copy of the inventory in which each such character is replaced by its Python escape
   (``\\n``, ``\\x1b``, ``\\u2028``), and every tainted value is a BLOCKER finding
   (``plan.unsafe-value``) naming the field (``host.hostname``), where the old host had it
   (the item's ``source``) and the emitted files that show it (escaped). After the screen no
   value an emitter sees can break a line, whatever the emitter does with it. TAB is kept:
   newsyslog and crontab lines hold tabs, and a tab breaks no line in any of these formats.

2. **Context functions (in the emitters).** Where a value is written, it is written for that
   context: ``comment()`` for a comment line (non-printable characters escaped, and never a
   trailing backslash, which smtpd.conf, httpd.conf, Exim and Apache read as a line
   continuation), ``md_text()``, ``md_code()`` and ``md_block()`` for Markdown (inline text and
   table cells, code spans, fenced blocks: no link, image, HTML or emphasis from a value;
   nothing inside a code span or block is escaped, as Markdown shows it as written there),
   ``md_prose()`` for a sentence of the plan whose backticks mark commands (a finding's message
   and hint, a step's why: its spans by ``md_code``, the rest by ``md_text``),
   ``sh_word()`` for a shell word (single-quoted), ``py_literal()`` for a Python 2/3 literal
   (ASCII source, ``u''`` for text beyond ASCII), ``conf_str()`` for a quoted string of
   smtpd.conf, httpd.conf or Apache (no quote, backslash or ``$`` inside:
   those cannot be escaped in all three, so the value is refused). Values written bare into a
   grammar (domains, list names, paths, Exim names, cron script names) are checked by the
   emitters against what the grammar allows (``common.is_domain``, ``is_path``, ...) and left
   out with a blocker naming the field when they fail (``refuse()``). A context function that
   is handed something it cannot write raises ``UnsafeValue``; ``migrate.app.planning`` turns that
   into a blocker and leaves the emitter's files out (fail closed, never a traceback).

3. **Output check (after every emitter ran).** ``check_output()`` reads every emitted file:
   a control character other than newline and TAB, Python that does not parse (``ast``), or a
   comment line that ends in a backslash in a format that continues such lines is a BLOCKER
   (``plan.unsafe-output``) and the file is left out of the plan. This catches what an emitter
   writes from anywhere else, today or after a change.

The plan is still written when a blocker stands (with the value escaped, for review), but
``plan`` exits 1 and the findings say what to fix.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import enum
import re
import shlex
from dataclasses import dataclass
from typing import Any

from migrate.core.model import Finding, Mta, Severity, Source
from migrate.core.mta import plugins
# the writers for comments and Markdown: the emitters take them from here
from migrate.core.text import (comment, html_prose, md_block, md_code,  # noqa: F401
                               md_prose, md_text, visible)

#: What ``breaks_line`` flags: Unicode's Cc (C0 and C1 controls, DEL) but TAB, Zl and Zp
#: (U+2028, U+2029), Cs (lone surrogates: file names read with surrogateescape) and the
#: bidirectional embeddings, overrides and isolates ("Trojan Source", CVE-2021-42574).
_BREAKS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e"
                     "\u2066-\u2069\ud800-\udfff]")
#: The same, less the newline: what an emitted file may not hold anywhere.
_BAD_OUTPUT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e"
                         "\u2066-\u2069\ud800-\udfff]")
#: Formats that join a line ending in a backslash with the next one, comments included (and
#: the files each old-MTA plugin names: ``continued``).
_CONTINUED = ("smtpd.conf", "httpd.conf", "apache-proxy.conf", "acme-client.conf")


class UnsafeValue(ValueError):
    """A context function was handed a value it cannot write safely."""

    def __init__(self, context: str, value: str) -> None:
        super().__init__(f"{value!r} cannot be written as {context}")
        self.context = context
        self.value = value


def breaks_line(ch: str) -> bool:
    """A character no emitted file may hold from the old host: C0 and C1 controls (TAB
    excepted), DEL, U+2028/U+2029, lone surrogates, bidirectional overrides."""
    return bool(_BREAKS.match(ch))


def is_clean(text: str) -> bool:
    return _BREAKS.search(text) is None


def neutral(text: str) -> str:
    """``text`` with every character ``breaks_line`` flags (and any other that is not
    printable, but TAB) written as its Python escape."""
    return visible(text, keep="\t")


# --- layer 2: one function per context -------------------------------------------------------


def sh_word(text: str) -> str:
    """One shell word (POSIX sh), quoted when needed. Refuses a NUL and line breaks: they are
    never part of a name or path that a script of the plan works with."""
    if not is_clean(text) or "\0" in text:
        raise UnsafeValue("a shell word", text)
    return shlex.quote(text)


def py_str(text: str) -> str:
    """A Python string literal that means ``text`` in Python 2.7 and 3 (ASCII source:
    Mailman 2's mm_cfg.py has no coding line)."""
    return repr(text) if text.isascii() else "u" + ascii(text)


def py_literal(value: Any) -> str:
    """A Python 2.7/3 literal for a value ``ast.literal_eval`` gave (str, bytes, numbers,
    bool, None, and tuples, lists, sets and dicts of them)."""
    if isinstance(value, str):
        return py_str(value)
    if isinstance(value, (bool, int, float, complex, bytes)) or value is None:
        return repr(value)
    if isinstance(value, tuple):
        inner = ", ".join(py_literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(py_literal(v) for v in value) + "]"
    if isinstance(value, (set, frozenset)):
        if not value:
            return "set()"
        return "{" + ", ".join(sorted(py_literal(v) for v in value)) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{py_literal(k)}: {py_literal(v)}" for k, v in value.items()) \
            + "}"
    raise UnsafeValue("a Python literal", repr(value))


def conf_str(text: str) -> str:
    """A double-quoted string of smtpd.conf, httpd.conf (OpenBSD's parse.y) or Apache. None of
    them can escape everything (parse.y keeps a backslash before most characters, Apache
    expands ``${VAR}`` inside quotes), so a quote, backslash, ``$`` or control character is
    refused rather than escaped."""
    if not is_clean(text) or not text.isprintable() or any(c in text for c in '"\\$'):
        raise UnsafeValue("a quoted configuration string", text)
    return f'"{text}"'


def unsafe_value(subject: str, value: object, problem: str, hint: str,
                 source: Source | None = None) -> Finding:
    """The blocker ``plan.unsafe-value``, built here only: ``subject`` (the field, or what the
    value is), the value in quotes as ``visible`` shows it (whatever it holds, it breaks no
    line and moves no cursor where the finding is read), then ``problem``."""
    return Finding("plan.unsafe-value", Severity.BLOCKER,
                   f"{subject} '{visible(value)}' {problem}", hint, source)


def refuse(field: str, value: object, emitted: str, source: Source | None = None,
           hint: str | None = None) -> Finding:
    """The blocker for an inventory value an emitter leaves out because it cannot be written
    into ``emitted`` safely."""
    return unsafe_value(
        field, value, f"cannot be written into {emitted}: it holds characters that the file or "
        "a shell would read as syntax",
        hint or "Fix the value on the old host (or leave the item out of the move) and inspect "
        "again; the plan leaves it out until then.", source)


# --- layer 1: the screen ---------------------------------------------------------------------


@dataclass
class Taint:
    """A value of the inventory (or the target) that held characters no file may hold."""

    field: str  # "host.hostname", "housekeeping.cron_jobs[2].command"
    value: str  # as it was
    shown: str  # as the emitters saw it (``neutral(value)``)
    source: Source | None


def _walk(obj: Any, path: str, source: Source | None, taints: list[Taint], fix: bool) -> Any:
    """Every string under ``obj``; with ``fix``, tainted ones replaced in place. Returns the
    object to keep in the parent (a new string, or ``obj`` itself)."""
    if isinstance(obj, enum.Enum) or obj is None:
        return obj
    if isinstance(obj, str):
        if is_clean(obj):
            return obj
        shown = neutral(obj)
        if not fix:
            where = Source(neutral(source.file), source.line) if source is not None else None
            taints.append(Taint(path, obj, shown, where))
        return shown
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        own = getattr(obj, "source", None)
        here = own if isinstance(own, Source) else source
        sources = getattr(obj, "sources", None)
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            where = getattr(obj, f"{f.name}_source", None)
            if not isinstance(where, Source):
                where = here
                if f.name in ("os", "release") and isinstance(getattr(obj, "os_source", None),
                                                               Source):
                    where = obj.os_source
            if f.name == "other" and isinstance(sources, dict) and isinstance(value, dict):
                new = _walk_settings(value, f"{path}.{f.name}", sources, where, taints, fix)
            elif f.name == "detail" and isinstance(obj, Mta):  # inline in the inventory
                new = _walk(value, path, where, taints, fix)
            else:
                new = _walk(value, f"{path}.{f.name}" if path else f.name, where, taints, fix)
            if fix and new is not value:
                setattr(obj, f.name, new)
        return obj
    if isinstance(obj, list):
        for i, item in enumerate(obj):
            new = _walk(item, f"{path}[{i}]", source, taints, fix)
            if fix and new is not item:
                obj[i] = new
        return obj
    if isinstance(obj, dict):
        return _walk_dict(obj, path, lambda key: source, taints, fix)
    return obj


def _walk_settings(obj: dict, path: str, sources: dict, source: Source | None,
                   taints: list[Taint], fix: bool) -> dict:
    return _walk_dict(obj, path, lambda key: sources.get(key) if isinstance(
        sources.get(key), Source) else source, taints, fix)


def _walk_dict(obj: dict, path: str, source_of, taints: list[Taint], fix: bool) -> dict:
    items = []
    changed = False
    for key, value in obj.items():
        where = source_of(key)
        new_key = _walk(key, f"{path} key {key!r}", where, taints, fix) \
            if isinstance(key, str) else key
        new_value = _walk(value, f"{path}[{key!r}]", where, taints, fix)
        changed |= new_key is not key or new_value is not value
        items.append((new_key, new_value))
    if fix and changed:
        obj.clear()
        obj.update(items)
    return obj


def screen(obj: Any, name: str = "") -> tuple[Any, list[Taint]]:
    """``obj`` (an Inventory, a Target) as the emitters may see it, and its tainted values.
    Without taints ``obj`` itself is returned; else a deep copy with each tainted value
    replaced by ``neutral(value)``. ``name`` prefixes the field paths (``target``)."""
    taints: list[Taint] = []
    _walk(obj, name, None, taints, fix=False)
    if not taints:
        return obj, taints
    clean = copy.deepcopy(obj)
    _walk(clean, name, None, [], fix=True)
    return clean, taints


def taint_findings(taints: list[Taint], files: dict[str, str]) -> list[Finding]:
    """One blocker per tainted value, naming the emitted files that show it (escaped)."""
    out = []
    for t in taints:
        forms = {t.shown, comment(t.shown), repr(t.shown)[1:-1], shlex.quote(t.shown)}
        forms = {f for f in forms if len(f) >= 2}
        reached = sorted(path for path, text in files.items()
                         if any(f in text or f.lower() in text.lower() for f in forms))
        where = (f"it reaches {', '.join(reached)}, shown escaped there" if reached else
                 "the plan shows it escaped")
        out.append(unsafe_value(
            t.field, t.value, f"holds a line break or control character; {where}",
            "A value from the old host must never carry a line break into a script, a "
            "configuration or a comment: fix it on the old host (or in the inventory) and "
            "inspect again. The cutover must not run this plan.", t.source))
    return out


# --- layer 3: the emitted files --------------------------------------------------------------


def output_problem(path: str, text: str) -> str | None:
    """What makes ``text`` unfit to be the plan file ``path`` (a control character, Python
    that does not parse, a comment that swallows the next line), or None."""
    bad = _BAD_OUTPUT.search(text)
    if bad is not None:
        n = text.count("\n", 0, bad.start()) + 1
        return f"line {n} holds the control character {bad.group()!r}"
    if path.endswith((".py", ".py.migrate")):
        try:
            ast.parse(text)
        except (SyntaxError, ValueError) as exc:
            return f"it is not valid Python ({exc})"
    if path.endswith(_CONTINUED + tuple(n for p in plugins() for n in p.writer.continued)):
        for n, line in enumerate(text.split("\n"), 1):
            if line.lstrip().startswith("#") and line.endswith("\\"):
                return f"comment line {n} ends in a backslash and would swallow the next line"
    return None


def check_output(files: dict[str, str]) -> tuple[dict[str, str], list[Finding]]:
    """The emitted files that pass, and a blocker for each one left out."""
    kept, findings = {}, []
    for path, text in files.items():
        problem = output_problem(path, text)
        if problem is None:
            kept[path] = text
            continue
        findings.append(Finding(
            "plan.unsafe-output", Severity.BLOCKER,
            f"{path} is left out of the plan: {problem}",
            "This is a bug of migrate (a value reached the file without the guard): report "
            "it with the inventory; do not write the file by hand from the old values.", None))
    return kept, findings
