"""The cutover plan as types: steps, and one dataclass per action kind, registered by kind.

This is the one form between the plan's builder (emitters/runbook.py, phase by phase) and
everything that reads a plan: the Markdown runbook and the dry run (``Action.describe``), the
cutover (``Action.apply`` on a host, idempotent, and ``Action.undo``, the action that takes
it back) and the Ansible export (migrate/app/ansible.py: one task file per kind). A kind that
lacks its description or its runner cannot be defined (``Action.__init_subclass__``); one
without its Ansible task fails tests/test_steps.py, which names what is missing.

``plan.yaml`` holds the steps as plain data (``Step.to_data``): an action is a mapping whose
``do`` names its kind, and its fields as the dataclass declares them. Reading goes through the
inventory's codec (migrate/core/codec.py), so a tampered or outdated plan is refused at load with the
path of the bad field (``steps[4].actions[1].mode: ...``) before any host is touched.

The plan as reviewed: ``plan_digest`` is the one value a person pins (``migrate cutover
--execute --plan-digest``); ``runbook_markdown`` is runbook.md, rendered from the steps, so the
cutover renders it again at load and refuses a plan whose runbook shows other steps than it
holds; ``plan_path`` is the one check of a path of the plan directory (``files`` keys and
actions' ``source``).

What an action's ``apply`` needs from the cutover is a ``Context``: the host the step runs on,
the plan's files, and a journaled way to change a file (the original is kept first, so the way
back is a copy). An action that cannot do its work raises ``ActionFailed``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from migrate.core import codec
from migrate.core.text import comment, md_block, md_prose, md_text

#: The plan's own file in a plan directory (plan.yaml) and the one version of it this reads.
PLAN_FILE = "plan.yaml"
PLAN_VERSION = 1
#: its top-level keys (migrate/app/planning.py writes them; the cutover refuses any other)
PLAN_KEYS = frozenset({"plan_version", "release", "inventory", "target", "files", "findings",
                       "steps", "web_parity", "overlay"})
#: The documents that show the plan digest (emitters/runbook.py, emitters/report.py write them).
RUNBOOK_FILE = "runbook.md"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
SHOWS_DIGEST = frozenset({RUNBOOK_FILE, REPORT_MD, REPORT_HTML})
#: Where the cutover copies the plan directory on the old and the new host (``$PLAN`` there).
HOST_PLAN_DIR = "/root/migrate-plan"
#: Where a step runs: the old host, the new host, the machine running migrate (``local``), or
#: at the DNS provider (``dns``: a person publishes, migrate checks from ``local``).
STEP_HOSTS = ("old", "new", "local", "dns")
#: The runbook's phases, in order.
PHASES = ("preflight", "prepare", "presync", "freeze", "switch", "verify", "after")
#: The steps other modules name (the freeze window's ends; the Ansible export's roles). The
#: runbook (emitters/runbook.py) names the others where it builds them.
COPY_PLAN = "copy-plan"
#: The preflight's checks of the new host (the list manager's: its package, room in /var) and
#: of the lowered DNS TTLs, which report.md's "Before you start" shows too.
PREFLIGHT_NEW = "preflight-new"
PREFLIGHT_DNS = "preflight-dns"
NEW_SERVICES = "new-services"
FREEZE_STEP = "old-freeze"
FINAL_SYNC = "final-sync"
#: The last line the final sync prints (rsync/final.sh writes it; the cutover's closing lines
#: quote it among the freeze window's parts).
FINAL_SYNC_SUMMARY = ("final sync: delta {delta} s, copy {copy} s ({sent} bytes sent), "
                      "verify {verify} s")
NEW_MAILMAN = "new-mailman"
NEW_SMTPD = "new-smtpd"
UNFREEZE_STEP = "old-forward"
NEW_ACME = "new-acme"
#: What a step id may be: ids become journal keys, Ansible task file names and tags.
SAFE_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,99}", re.ASCII)


class ActionFailed(Exception):
    """An action could not do its work (the message says what and where)."""


class WritableHost(Protocol):
    """What an action works through (migrate/app/hosts.py has the real ones)."""

    name: str

    def run(self, command: str, timeout: float = 600) -> Any:
        """Run with sh; a ``hosts.Result`` (code, out, err)."""

    def read(self, path: str) -> bytes | None:
        """A file's content, or None if it does not exist."""

    def write(self, path: str, data: bytes, mode: int | None = None) -> None:
        """Replace a file atomically (temp file + rename in its folder). An existing file
        keeps its owner and mode unless ``mode`` is given; a new one gets ``mode`` or 0644."""

    def remove(self, path: str) -> None: ...


class Context(Protocol):
    """What the cutover gives an action while it applies it (migrate/app/cutover.py)."""

    host: WritableHost  # the host the step runs on
    hosts: dict[str, WritableHost]  # every host by role: old, new, local
    step: str  # the step's id

    def source(self, rel: str) -> bytes:
        """A file of the plan directory."""

    def plan_files(self) -> list[str]:
        """Every file of the plan directory, plan.yaml last."""

    def change(self, path: str, new: bytes, mode: int | None = None) -> bool:
        """Replace a file on ``host`` (kept in the journal first); False when already equal."""

    def say(self, line: str) -> None: ...

    def record(self, **event: Any) -> None:
        """Add an event to the journal (command output, reports)."""


#: every action kind by its ``do`` name
REGISTRY: dict[str, type["Action"]] = {}
#: where an upload goes, as ssh takes it: user@host (an IPv6 address without brackets)
_SSH_DEST = re.compile(r"[A-Za-z0-9_.-]+@[A-Za-z0-9_.:%-]+")


@dataclass(kw_only=True)
class Action:
    """One thing a step does. Subclasses set ``kind`` and implement ``describe`` and
    ``apply``; ``undo`` returns the action that takes this one back, where there is one
    (files an action changed are put back from the journal in any case)."""

    kind: ClassVar[str] = ""
    #: What a field plan.yaml leaves out (None) means: the one table of these defaults, read
    #: by the cutover (``setting``) and by the Ansible export, whose task files are templated
    #: from it (migrate/app/ansible.py; tests/test_export_ansible.py compares the two).
    defaults: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.kind:
            return
        missing = [m for m in ("describe", "apply") if getattr(cls, m) is getattr(Action, m)]
        if missing:
            raise TypeError(f"action kind {cls.kind!r} lacks {', '.join(missing)}")
        if cls.kind in REGISTRY:
            raise TypeError(f"action kind {cls.kind!r} is defined twice")
        REGISTRY[cls.kind] = cls

    def describe(self, plan_dir: str = "$PLAN") -> str:
        """The action as the command a person would type (runbook.md, the dry run)."""
        raise NotImplementedError

    def apply(self, ctx: Context) -> None:
        """Do it on ``ctx.host``; doing it again changes nothing more."""
        raise NotImplementedError

    def undo(self) -> "Action | None":
        return None

    def setting(self, name: str) -> Any:
        """The field ``name``, or its default (``defaults``) when plan.yaml leaves it out."""
        value = getattr(self, name)
        return self.defaults[name] if value is None else value

    def check(self) -> str | None:
        """What is wrong with the values (beyond their types), or None."""
        return None

    def to_data(self) -> dict[str, Any]:
        out: dict[str, Any] = {"do": self.kind}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and value.is_integer():
                value = int(value)  # the codec reads seconds as numbers; 5 stays 5
            if value is not None and value is not False:
                out[f.name] = list(value) if isinstance(value, list) else value
        return out


def action_from_data(raw: Any, where: str = "") -> Action:
    """An action from plan.yaml: its kind by ``do``, its fields checked by the codec."""
    if not isinstance(raw, dict):
        raise codec.CodecError(where, "an action must be a mapping with a 'do' key")
    kind = raw.get("do")
    cls = REGISTRY.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise codec.CodecError(f"{where}.do" if where else "do",
                               f"unknown action {kind!r} (known: {', '.join(sorted(REGISTRY))})")
    action = codec.from_data(cls, {k: v for k, v in raw.items() if k != "do"}, where)
    problem = _timing_problem(action) or action.check()
    if problem:
        raise codec.CodecError(where, problem)
    return action


def _timing_problem(action: Action) -> str | None:
    """A wait's seconds as the cutover and the export both can run them: an interval of 0
    would spin the cutover and divide by zero in the export; a timeout below 0 is no time."""
    interval = getattr(action, "interval", None)
    timeout = getattr(action, "timeout", None)
    if interval is not None and not interval > 0:
        return f"interval {interval!r}: seconds between tries must be more than 0"
    if timeout is not None and not timeout >= 0:
        return f"timeout {timeout!r}: seconds must be 0 or more"
    return None


def _note_or_run(item: "Action | str") -> Action:
    """The plan builder's shorthand: ``"# text"`` is a note, any other string a command."""
    if isinstance(item, Action):
        return item
    if item.lstrip().startswith("#"):
        return Note(text=item.lstrip("# ").strip())
    return Run(command=item)


# --- marked blocks in a host's files ----------------------------------------------------------


def block_mark(marker: str, mark: str | None = None) -> str:
    """A marked block's line, ``# migrate:MARKER begin`` or ``end`` (``mark``); without
    ``mark``, what both lines start with. The cutover writes these, and the Ansible export's
    blockinfile tasks are templated from this same form (migrate/app/ansible.py), so either tool
    finds and undoes the other's blocks."""
    head = f"# migrate:{marker}"
    return head if mark is None else f"{head} {mark}"


def line_mark(marker: str) -> str:
    """What ``comment`` puts before a line it comments out (and ``uncomment`` takes away);
    the Ansible export's replace tasks are templated from it too."""
    return f"#migrate:{marker}# "


def marked(block: bytes, marker: str) -> bytes:
    """``block`` between the ``block_mark`` lines of ``marker``."""
    if not block.endswith(b"\n"):
        block += b"\n"
    return (f"{block_mark(marker, 'begin')}\n".encode() + block
            + f"{block_mark(marker, 'end')}\n".encode())


def without(data: bytes, marker: str) -> bytes:
    """``data`` with every block ``marked`` with ``marker`` taken out."""
    begin, end = (re.escape(block_mark(marker, m).encode()) for m in ("begin", "end"))
    return re.sub(rb"(?ms)^" + begin + rb"\n.*?^" + end + rb"\n", b"", data)


def _edit(ctx: Context, paths: list[str], transform: Callable[[bytes], bytes]) -> None:
    """Each of ``paths`` that exists on the host, through ``transform`` (journaled)."""
    for path in paths:
        current = ctx.host.read(path)
        if current is not None:
            ctx.change(path, transform(current))


def _by_line(transform: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    return lambda data: b"\n".join(transform(line) for line in data.split(b"\n"))


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def plan_file(source: str, plan_dir: str = "$PLAN") -> str:
    """A file of the plan directory as one shell word: in double quotes, so that ``$PLAN``
    (a path with a space, say) stays one word; a name with a character that double quotes do
    not keep as it is (``"``, ``$``, a backtick, a backslash) is single-quoted after it."""
    if any(c in source for c in '"$`\\'):
        return f'"{plan_dir}"/{shlex.quote(source)}'
    return f'"{plan_dir}/{source}"'


def line_words(pattern: str) -> str:
    """The line a pattern of an ``insert`` finds, in words for the runbook (plan.yaml keeps the
    pattern): ``^\\s*name:\\s*$`` is "the line `name:`", ``^\\s*name:`` "the line that begins
    `name:`" (leading blanks aside); any other, the first line its pattern in plan.yaml finds."""
    m = re.fullmatch(r"\^(?:\\s\*)?([A-Za-z0-9_.:@-]+)(\\s\*\$|\$)?", pattern)
    if m is None:
        return "the first line that its pattern in plan.yaml finds"
    if m.group(2):
        return f"the line `{m.group(1)}`"
    return f"the line that begins `{m.group(1)}`"


def _until(probe: Callable[[], str | None], timeout: float, interval: float) -> None:
    """Run ``probe`` (None: fine, else the problem) until it passes or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        problem = probe()
        if problem is None:
            return
        if time.monotonic() >= deadline:
            raise ActionFailed(problem)
        time.sleep(interval)


# --- the action kinds -------------------------------------------------------------------------

#: A check (smtp, http, dns) without a timeout is tried once: the plan asks for a wait where
#: it wants one (the switch's DNS step, the post-checks), and a check that retries unasked for
#: a minute hides a failure the operator should see (a preflight that passes on the third try
#: has found a host that is not ready) and makes the preflight slow for nothing. With a
#: timeout it is tried every ``interval`` seconds until it passes or the time is up.
_ONE_TRY: dict[str, Any] = {"timeout": 0, "interval": 5}


@dataclass(kw_only=True)
class Run(Action):
    """A shell command (every value in it already quoted by the plan). With ``report`` its
    output is information for the operator and its exit status never fails the step."""

    kind: ClassVar[str] = "run"
    defaults: ClassVar[dict[str, Any]] = {"report": False, "timeout": 3600}
    report: bool | None = None
    command: str
    timeout: float | None = None

    def describe(self, plan_dir: str = "$PLAN") -> str:
        return self.command

    def apply(self, ctx: Context) -> None:
        res = ctx.host.run(self.command, timeout=float(self.setting("timeout")))
        if self.setting("report"):
            for line in (res.out + res.err).strip().splitlines()[-20:]:
                ctx.say(f"  {line}")
            ctx.record(event="report", output=res.out[-4000:])
        elif res.code != 0:
            # journaled whole (its tail): `migrate status` shows what the failure printed
            ctx.record(event="output", output=(res.out + res.err)[-20000:], code=res.code)
            raise ActionFailed(f"`{self.command}` exited {res.code}: "
                               f"{(res.err or res.out).strip()[-300:]}")
        elif res.out.strip():
            ctx.record(event="output", output=res.out[-20000:])


@dataclass(kw_only=True)
class Wait(Action):
    """Repeat a command until it succeeds, at most ``timeout`` seconds."""

    kind: ClassVar[str] = "wait"
    defaults: ClassVar[dict[str, Any]] = {"timeout": 600, "interval": 5}
    command: str
    timeout: float | None = None
    interval: float | None = None

    def describe(self, plan_dir: str = "$PLAN") -> str:
        return (f"until {self.command}; do sleep {_seconds(self.setting('interval'))}; done"
                f"  # at most {_seconds(self.setting('timeout'))} s")

    def apply(self, ctx: Context) -> None:
        timeout = self.setting("timeout")

        def probe() -> str | None:
            res = ctx.host.run(self.command, timeout=60)
            return None if res.code == 0 else \
                f"still not true after {timeout} s: `{self.command}`"
        _until(probe, timeout, self.setting("interval"))


@dataclass(kw_only=True)
class Put(Action):
    """Install a file of the plan directory at ``path`` with ``mode``."""

    kind: ClassVar[str] = "put"
    source: str
    path: str
    mode: str = "0644"

    def check(self) -> str | None:
        return None if re.fullmatch(r"0?[0-7]{3,4}", self.mode) else \
            f"mode {self.mode!r} is not an octal file mode"

    def describe(self, plan_dir: str = "$PLAN") -> str:
        return (f"install -m {self.mode} {plan_file(self.source, plan_dir)} "
                f"{shlex.quote(self.path)}")

    def apply(self, ctx: Context) -> None:
        ctx.change(self.path, ctx.source(self.source), int(self.mode, 8))


@dataclass(kw_only=True)
class Append(Action):
    """Add a plan file to the end of a host file, between marker lines (once)."""

    kind: ClassVar[str] = "append"
    source: str
    path: str
    marker: str

    def describe(self, plan_dir: str = "$PLAN") -> str:
        return (f"cat {plan_file(self.source, plan_dir)} >> {shlex.quote(self.path)}"
                f"  # between '{block_mark(self.marker)}' lines")

    def apply(self, ctx: Context) -> None:
        current = ctx.host.read(self.path) or b""
        if block_mark(self.marker, "begin").encode() in current:
            return
        if current and not current.endswith(b"\n"):
            current += b"\n"
        ctx.change(self.path, current + marked(ctx.source(self.source), self.marker))

    def undo(self) -> Action:
        return Unmark(paths=[self.path], marker=self.marker)


@dataclass(kw_only=True)
class Insert(Action):
    """Add a plan file before or after the first line matching a pattern, between marker
    lines, in the first of ``paths`` that has such a line. The plan names one file, where the
    inspection found the line (``line``: its number then, for people: the pattern finds it);
    an older plan may name several, tried in order."""

    kind: ClassVar[str] = "insert"
    source: str
    paths: list[str]
    before: str | None = None
    after: str | None = None
    marker: str
    line: int | None = None

    def check(self) -> str | None:
        if (self.before is None) == (self.after is None):
            return "an insert needs exactly one of before and after"
        try:
            re.compile(self.before or self.after or "")
        except re.error as exc:
            return f"its pattern is not a regular expression: {exc}"
        return None

    def describe(self, plan_dir: str = "$PLAN") -> str:
        """The place in words, never the pattern: "at the top of FILE", "after the line
        `acl_check_rcpt:` (line 3 of FILE when inspected)"."""
        files = comment(self.paths[0]) if len(self.paths) == 1 else \
            f"the first of {comment(', '.join(self.paths))} that has it"
        mark = f"between '{block_mark(self.marker)}' lines"
        source = plan_file(self.source, plan_dir)
        if self.before == "\\A":
            return f"# insert {source} at the top of {files}, {mark}"
        if "\\Z" in (self.before, self.after):
            return f"# insert {source} at the end of {files}, {mark}"
        where = "before" if self.before is not None else "after"
        line = line_words(self.before if self.before is not None else self.after or "")
        if len(self.paths) != 1:
            return (f"# insert {source} {where} {comment(line)} in {files}, {mark}; the step "
                    "stops if none has it")
        at = f"(line {self.line} of {files} when inspected)" if self.line is not None \
            else f"in {files}"
        return (f"# insert {source} {where} {comment(line)} {at}, {mark}; the step stops if "
                "that line is not there")

    def apply(self, ctx: Context) -> None:
        begin = block_mark(self.marker, "begin").encode()
        pattern = re.compile((self.before if self.before is not None else self.after or "")
                             .encode(), re.M)
        block = marked(ctx.source(self.source), self.marker)
        missing = []
        for path in self.paths:
            current = ctx.host.read(path)
            if current is None:
                missing.append(path)
                continue
            if begin in current:
                return  # already there (a step run again)
            m = pattern.search(current)
            if m is None:
                continue
            if self.before is not None:
                at = m.start()
            else:
                eol = current.find(b"\n", m.end())
                at = len(current) if eol < 0 else eol + 1
            ctx.change(path, current[:at] + block + current[at:])
            return
        if len(missing) == len(self.paths):
            raise ActionFailed(f"{' and '.join(self.paths)}: no such file on the host (the "
                               "inspection read it there): put it back, or edit the plan's "
                               "target and plan again")
        raise ActionFailed(f"no line matching {pattern.pattern.decode()!r} in "
                           f"{', '.join(p for p in self.paths if p not in missing)}")

    def undo(self) -> Action:
        return Unmark(paths=list(self.paths), marker=self.marker)


@dataclass(kw_only=True)
class Unmark(Action):
    """Take away what an ``append`` or ``insert`` with this marker added."""

    kind: ClassVar[str] = "unmark"
    paths: list[str]
    marker: str

    def describe(self, plan_dir: str = "$PLAN") -> str:
        return (f"# remove the '{block_mark(self.marker)}' block from "
                f"{comment(' and '.join(self.paths))}")

    def apply(self, ctx: Context) -> None:
        _edit(ctx, self.paths, lambda data: without(data, self.marker))


@dataclass(kw_only=True)
class Comment(Action):
    """Comment out the lines matching ``match`` (and not comments already) with a marker.
    ``lines``: which lines those are, in words for people (the runbook never shows the
    pattern)."""

    kind: ClassVar[str] = "comment"
    paths: list[str]
    match: str
    marker: str
    lines: str | None = None

    def check(self) -> str | None:
        try:
            re.compile(self.match)
        except re.error as exc:
            return f"match is not a regular expression: {exc}"
        return None

    def describe(self, plan_dir: str = "$PLAN") -> str:
        lines = self.lines or "the lines that its pattern in plan.yaml finds"
        return (f"# comment out {comment(lines)} in {comment(' and '.join(self.paths))} "
                f"(marked '{line_mark(self.marker)}')")

    def apply(self, ctx: Context) -> None:
        prefix = line_mark(self.marker).encode()
        pattern = re.compile(self.match.encode())
        _edit(ctx, self.paths, _by_line(
            lambda line: prefix + line if pattern.search(line)
            and not line.lstrip().startswith(b"#") else line))

    def undo(self) -> Action:
        return Uncomment(paths=list(self.paths), marker=self.marker)


@dataclass(kw_only=True)
class Uncomment(Action):
    """Take exactly the marks of a ``comment`` away again."""

    kind: ClassVar[str] = "uncomment"
    paths: list[str]
    marker: str

    def describe(self, plan_dir: str = "$PLAN") -> str:
        return (f"# take the '{line_mark(self.marker)}' marks away in "
                f"{comment(' and '.join(self.paths))}")

    def apply(self, ctx: Context) -> None:
        prefix = line_mark(self.marker).encode()
        _edit(ctx, self.paths, _by_line(
            lambda line: line[len(prefix):] if line.startswith(prefix) else line))


@dataclass(kw_only=True)
class Setting(Action):
    """One variable of a file of shell assignments (``rc.conf.local``), changed as ``command``
    (what a person types, given by the plan's builder) changes it: its line becomes
    ``name=value``; or, with ``word``, the word joins the list the variable holds; with
    ``remove``, the line (or the word) goes. Every other line is kept as it is, and the file
    changes through the journal, so the way back restores the host's own lines."""

    kind: ClassVar[str] = "setting"
    command: str
    path: str
    name: str
    value: str | None = None
    word: str | None = None
    remove: bool | None = None

    def check(self) -> str | None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", self.name):
            return f"{self.name!r} is not a shell variable name"
        if any(c in (self.value or "") for c in "\n\"'$`\\"):
            return "a setting's value is one line without quotes, $, ` or \\"
        if self.word is not None and not re.fullmatch(r"[A-Za-z0-9_.+-]+", self.word):
            return f"{self.word!r} is not a plain word"
        return None

    def describe(self, plan_dir: str = "$PLAN") -> str:
        return self.command

    def apply(self, ctx: Context) -> None:
        ctx.change(self.path, self.edit(ctx.host.read(self.path) or b""))

    def edit(self, data: bytes) -> bytes:
        """``data`` with this variable set; the first line assigning it is the one changed."""
        lines = data.decode("utf-8", "surrogateescape").splitlines()
        prefix = f"{self.name}="
        at = next((i for i, line in enumerate(lines) if line.startswith(prefix)), None)
        if self.word is not None:
            words = lines[at][len(prefix):].strip("\"'").split() if at is not None else []
            words = [w for w in words if w != self.word] + ([] if self.remove else [self.word])
            line = [prefix + " ".join(words)] if words else []
        else:
            line = [] if self.remove else [prefix + (self.value or "")]
        if at is None:
            lines += line
        else:
            lines[at:at + 1] = line
        return "".join(f"{line}\n" for line in lines).encode("utf-8", "surrogateescape")


@dataclass(kw_only=True)
class Upload(Action):
    """Copy the plan directory (as reviewed) to ``path`` on the hosts named. ``to``: how the
    machine holding the plan reaches the one host named (``root@ADDRESS``, ``port``: its SSH
    port if not 22), for the command a person runs instead (``describe``)."""

    kind: ClassVar[str] = "upload"
    path: str
    hosts: list[str]
    to: str | None = None
    port: int | None = None

    def check(self) -> str | None:
        bad = [h for h in self.hosts if h not in ("old", "new")]
        if bad:
            return f"upload to an unknown host {bad[0]!r}"
        if self.to is not None and (len(self.hosts) != 1 or not _SSH_DEST.fullmatch(self.to)):
            return f"upload to {self.to!r}: one host, as user@host"
        return None

    def describe(self, plan_dir: str = "$PLAN") -> str:
        """The copy as a person makes it from the machine holding the plan: the folder made,
        then the plan's files into it (scp, which every host has: GNU rsync comes to the new
        host only with its packages). Like the cutover, it adds and replaces files and removes
        none: what the steps leave there (rsync/state/) stays."""
        if self.to is None:
            return (f"# copy this plan directory to {self.path} on the "
                    f"{' and the '.join(self.hosts)} host")
        user, _, host = self.to.rpartition("@")
        remote = f"{user}@[{host}]" if ":" in host else self.to
        folder = self.path.rstrip("/") or "/"
        ssh = "ssh" + (f" -p {self.port}" if self.port else "")
        scp = "scp -rp" + (f" -P {self.port}" if self.port else "")
        return (f"{ssh} {shlex.quote(self.to)} mkdir -p {shlex.quote(folder)} && "
                f"{scp} \"{plan_dir}\"/* {shlex.quote(f'{remote}:{folder}/')}"
                f"  # the {self.hosts[0]} host")

    def apply(self, ctx: Context) -> None:
        for name in self.hosts:
            target = ctx.hosts[name]
            for rel in ctx.plan_files():
                data = ctx.source(rel)
                path = f"{self.path.rstrip('/')}/{rel}"
                if target.read(path) != data:
                    target.write(path, data, 0o755 if data.startswith(b"#!") else 0o644)


@dataclass(kw_only=True)
class Note(Action):
    """Something the operator does that migrate does not (a record at a DNS provider)."""

    kind: ClassVar[str] = "note"
    text: str

    def describe(self, plan_dir: str = "$PLAN") -> str:
        return f"# {comment(self.text)}"

    def apply(self, ctx: Context) -> None:
        ctx.say(f"  note: {self.text}")


@dataclass(kw_only=True)
class Smtp(Action):
    """A check: an SMTP greeting (220) on an address, within ``timeout`` seconds."""

    kind: ClassVar[str] = "smtp"
    defaults: ClassVar[dict[str, Any]] = {"port": 25, **_ONE_TRY}
    address: str
    port: int | None = None
    timeout: float | None = None
    interval: float | None = None

    def describe(self, plan_dir: str = "$PLAN") -> str:
        return f"# check: an SMTP greeting (220) on [{self.address}]:{self.setting('port')}"

    def apply(self, ctx: Context) -> None:
        from migrate.core.probes import smtp_banner
        _until(lambda: smtp_banner(self.address, self.setting("port")), self.setting("timeout"),
               self.setting("interval"))


@dataclass(kw_only=True)
class Http(Action):
    """A check: ``url`` (with ``host_header`` as the Host and TLS name) answers ``status``,
    shows ``expect``, redirects to ``location``. Redirects are answers, not followed."""

    kind: ClassVar[str] = "http"
    defaults: ClassVar[dict[str, Any]] = {"status": 200, "verify": True, **_ONE_TRY}
    url: str
    status: int | None = None
    location: str | None = None
    host_header: str | None = None
    timeout: float | None = None
    interval: float | None = None
    expect: str | None = None
    verify: bool | None = None  # False: accept any certificate (tests)

    def describe(self, plan_dir: str = "$PLAN") -> str:
        return (f"# check: {self.url} (Host: {self.host_header}) answers {self.setting('status')}"
                + (f" and shows {self.expect!r}" if self.expect else "")
                + (f" to {self.location}" if self.location else ""))

    def apply(self, ctx: Context) -> None:
        from migrate.core.probes import http_check
        _until(lambda: http_check(self.url, self.host_header, self.expect,
                                  self.setting("status"), self.location, self.setting("verify")),
               self.setting("timeout"), self.setting("interval"))

    def to_data(self) -> dict[str, Any]:
        out = super().to_data()
        if self.verify is False:
            out["verify"] = False
        return out


@dataclass(kw_only=True)
class Dns(Action):
    """A check: DNS serves ``value`` for ``name``/``type``, or its TTL is at most
    ``max_ttl``; asked of the system's resolver or of ``nameserver``."""

    kind: ClassVar[str] = "dns"
    defaults: ClassVar[dict[str, Any]] = {"nameserver_port": 53, **_ONE_TRY}
    name: str
    type: str
    value: str | None = None
    max_ttl: int | None = None
    timeout: float | None = None
    interval: float | None = None
    nameserver: str | None = None
    nameserver_port: int | None = None

    def describe(self, plan_dir: str = "$PLAN") -> str:
        what = (f"serves {self.value}" if self.value is not None
                else f"has a TTL of at most {self.max_ttl} s")
        return f"# check: DNS {self.name} {self.type} {what}"

    def apply(self, ctx: Context) -> None:
        from migrate.core.probes import dns_check
        _until(lambda: dns_check(self.name, self.type, self.value, self.max_ttl,
                                 self.nameserver, self.setting("nameserver_port")),
               self.setting("timeout"), self.setting("interval"))


# --- steps ------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Step:
    """A step: on one host, its actions in order, then its checks (shell commands that must
    exit 0), and its way back (``rollback``, run newest step first)."""

    id: str
    phase: str
    host: str
    title: str
    why: str
    actions: list[Action]
    check: list[str] = field(default_factory=list)
    rollback: list[Action] = field(default_factory=list)

    @staticmethod
    def make(sid: str, phase: str, host: str, title: str, why: str,
             run: "list[Action | str]", check: list[str] | None = None,
             rollback: "list[Action | str] | None" = None) -> "Step":
        """The plan builder's form: commands as strings (``# ...``: a note), actions as they
        are."""
        return Step(id=sid, phase=phase, host=host, title=title, why=why,
                    actions=[_note_or_run(a) for a in run], check=list(check or []),
                    rollback=[_note_or_run(a) for a in rollback or []])

    @property
    def runs_on(self) -> str:
        """The host that runs it: a ``dns`` step is checked from this machine."""
        return "local" if self.host == "dns" else self.host

    def to_data(self) -> dict[str, Any]:
        return {"id": self.id, "phase": self.phase, "host": self.host, "title": self.title,
                "why": self.why, "actions": [a.to_data() for a in self.actions],
                "check": list(self.check), "rollback": [a.to_data() for a in self.rollback]}


@dataclass
class _StepFields:
    """The plain fields of a step in plan.yaml, for the codec (actions are read by kind)."""

    id: str
    phase: str
    host: str
    title: str
    why: str
    actions: list[Any]  # each read by its kind (action_from_data)
    check: list[str] = field(default_factory=list)
    rollback: list[Any] = field(default_factory=list)


def step_from_data(raw: Any, where: str = "") -> Step:
    fields = codec.from_data(_StepFields, raw, where)
    if not SAFE_NAME.fullmatch(fields.id):
        raise codec.CodecError(f"{where}.id", f"step id {fields.id!r} is not a plain name "
                                              "([a-z0-9_.-])")
    if fields.host not in STEP_HOSTS:
        raise codec.CodecError(f"{where}.host", f"unknown host {fields.host!r} (known: "
                                                f"{', '.join(STEP_HOSTS)})")
    if fields.phase not in PHASES:
        raise codec.CodecError(f"{where}.phase", f"unknown phase {fields.phase!r}")
    return Step(id=fields.id, phase=fields.phase, host=fields.host, title=fields.title,
                why=fields.why, check=fields.check,
                actions=[action_from_data(a, f"{where}.actions[{i}]")
                         for i, a in enumerate(fields.actions)],
                rollback=[action_from_data(a, f"{where}.rollback[{i}]")
                          for i, a in enumerate(fields.rollback)])


def steps_from_data(raw: Any, where: str = "steps") -> list[Step]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise codec.CodecError(where, "expected a list of steps")
    steps = [step_from_data(s, f"{where}[{i}]") for i, s in enumerate(raw)]
    seen: set[str] = set()
    for i, s in enumerate(steps):
        if s.id in seen:
            raise codec.CodecError(f"{where}[{i}].id", f"step id {s.id!r} is used twice")
        seen.add(s.id)
    return steps


# --- the plan as reviewed ---------------------------------------------------------------------


def plan_digest(data: dict[str, Any]) -> str:
    """The plan's digest: SHA-256 of plan.yaml's data in a canonical form (JSON, keys sorted),
    without the digests of the documents that show it (``SHOWS_DIGEST``).

    It cannot be the digest of plan.yaml's bytes: plan.yaml holds runbook.md's digest, and
    runbook.md shows the plan digest, so either would have to contain itself. What it leaves
    out is bound another way: runbook.md is rendered from the steps again at load and must be
    equal (``runbook_markdown``), and the reports only inform (their digests in plan.yaml
    still seal them against edits). Everything that decides what runs is inside: every step,
    the target, the findings (blockers stop an execution) and every other file's digest.
    Formatting and comments of plan.yaml are not: the digest is of the data the cutover runs.
    """
    sealed = dict(data)
    files = data.get("files")
    if isinstance(files, dict):
        sealed["files"] = {k: v for k, v in files.items() if k not in SHOWS_DIGEST}
    text = json.dumps(sealed, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def digest_line(digest: str) -> str:
    """How runbook.md, report.md and the dry run show the plan digest."""
    return f"Plan digest: {digest} (`migrate cutover --execute --plan-digest` pins it)"


def shown_digest(text: str) -> str | None:
    """The plan digest a document shows (``digest_line``), or None."""
    m = re.search(r"(?m)^Plan digest: ([0-9a-f]{64}) ", text)
    return m.group(1) if m else None


def runbook_lines(steps: list[Step], old_host: object, new_host: object,
                  digest: str | None) -> list[tuple[str, str]]:
    """runbook.md as (step id, line) pairs: each line with the step it shows (the heading:
    ``""``; a phase's heading: its first step), so a difference can be named by step."""
    old_name = md_text(old_host or "the old host")
    new_name = md_text(new_host or "the new host")
    head = [f"# Cutover runbook: {old_name} to {new_name}", ""]
    if digest is not None:
        head += [digest_line(digest), ""]
    head += ["Run each step on the host named, in order; `migrate cutover` does the same from "
             f"{PLAN_FILE}, journaled. `$PLAN` is this directory on that host. A step is done "
             "when its check passes.", ""]
    out = [("", line) for line in head]
    for phase in PHASES:
        phase_steps = [s for s in steps if s.phase == phase]
        if not phase_steps:
            continue
        out += [(phase_steps[0].id, f"## {phase}"), (phase_steps[0].id, "")]
        for s in phase_steps:
            lines = [f"### {md_text(f'{s.id}: {s.title} ({s.host} host)')}", "",
                     md_prose(s.why), "", *md_block([a.describe() for a in s.actions], "sh"),
                     ""]
            if s.check:
                lines += ["Check:", "", *md_block(s.check, "sh"), ""]
            if s.rollback:
                lines += ["Way back:", "", *md_block([a.describe() for a in s.rollback], "sh"),
                          ""]
            out += [(s.id, line) for line in lines]
    return out


def runbook_markdown(steps: list[Step], old_host: object, new_host: object,
                     digest: str | None) -> str:
    """runbook.md: the steps by phase, each with its commands, check and way back."""
    return "\n".join(line for _, line in runbook_lines(steps, old_host, new_host, digest))


def runbook_difference(text: str, steps: list[Step], old_host: object, new_host: object,
                       digest: str) -> tuple[str, int] | None:
    """Where ``text`` (runbook.md as read) differs from the runbook of ``steps``: the first
    step shown differently and its line, else the heading (``""``: the plan digest, which
    any change to plan.yaml changes, or the hosts) and its line; None when they are equal."""
    expected = runbook_lines(steps, old_host, new_host, digest)
    got = text.split("\n")
    if len(got) > len(expected):
        expected = expected + [(expected[-1][0] if expected else "", None)] * (
            len(got) - len(expected))
    differ = [(sid, n + 1) for n, (sid, line) in enumerate(expected)
              if n >= len(got) or got[n] != line]
    return next((d for d in differ if d[0]), differ[0] if differ else None)


#: how deep plan.yaml's data may nest (migrate writes 6 levels; the digest's JSON encoder and
#: the codec recurse)
MAX_PLAN_DEPTH = 32


def plain_problem(value: Any) -> str | None:
    """What in plan.yaml's data is not plain (mappings with text keys, lists, text without a
    control character, numbers, booleans, null; at most ``MAX_PLAN_DEPTH`` deep), by its
    path; None when all of it is."""
    stack = [(value, "", 0)]
    while stack:
        value, where, depth = stack.pop()
        if depth > MAX_PLAN_DEPTH:
            return f"{where} is nested deeper than {MAX_PLAN_DEPTH} levels"
        if isinstance(value, str):
            if not value.isprintable():
                bad = next(c for c in value if not c.isprintable())
                return f"{where or 'the document'} holds the control character {bad!r}"
        elif isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    return f"{where or 'the document'} has a key that is not text: {key!r}"
                if not key.isprintable():
                    return f"{where or 'the document'} has a key with a control character: " \
                           f"{key!r}"
                stack.append((item, f"{where}.{key}" if where else key, depth + 1))
        elif isinstance(value, list):
            stack += [(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
        elif value is not None and not isinstance(value, (bool, int, float)):
            return f"{where} is not plain data ({type(value).__name__})"
    return None


def plan_path(rel: object) -> str | None:
    """What is wrong with ``rel`` as a file of the plan directory, or None: it must be a
    relative path of plain parts that stays inside the folder (no ``..``, no ``.``, no empty
    part, no absolute path, no backslash, no control character). Links are refused when the
    file is read (migrate/app/cutover.py opens each part without following one)."""
    if not isinstance(rel, str) or not rel:
        return "is not a file name"
    if rel.startswith("/"):
        return "is an absolute path (the plan's files are relative to its folder)"
    if not rel.isprintable() or "\\" in rel:
        return "holds a control character or a backslash"
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "leaves the plan folder or is not a plain path (an empty part, . or ..)"
    if rel == PLAN_FILE:
        return "is plan.yaml itself"
    return None
