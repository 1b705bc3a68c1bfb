"""``migrate cutover``: run the plan's steps against the old and the new host, journaled.

The steps come from ``plan.yaml`` (written by ``migrate plan``; built by emitters/runbook.py),
read through the typed plan of migrate/core/steps.py: a plan that does not read as those types (an
unknown action, a field of the wrong type, a mode that is not a mode) is refused before any
host is touched, and so is one that is not the plan as reviewed (``load_plan``: a file that is
not as sealed, a runbook.md that shows other steps, another plan digest than the one pinned).
Each step runs on one host (``old``, ``new``) or on the machine running migrate (``local``;
``dns`` steps too), and is a list of actions, each of which knows how to describe and apply
itself (run, wait, put, append, insert, unmark, comment, uncomment, upload, note, and the smtp,
http and dns checks).

Every action is idempotent (a marker already present is not added again, a file already equal
is not rewritten), so a step can always be run again. Before an action first changes a file,
its original content is saved beside the journal and recorded, and ``--rollback`` puts every
saved file back (newest first) and runs the steps' own rollback actions.

The journal is JSON lines, each record flushed and fsynced before the next action: after a
crash or an interrupt, ``--resume`` starts at the first step without a ``done`` record.
Without ``--execute`` nothing is run: the dry run prints every step with the exact commands
per host.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from migrate.core import codec, safeyaml
from migrate.core.errors import Exit, MigrateError
from migrate.app.fileio import read_inside
from migrate.app.hosts import LocalHost, Result  # noqa: F401  (the cutover's hosts)
from migrate.core.steps import (FINAL_SYNC, FINAL_SYNC_SUMMARY, FREEZE_STEP, PLAN_FILE,
                                PLAN_KEYS, PLAN_VERSION, RUNBOOK_FILE, UNFREEZE_STEP,
                                ActionFailed, Step, WritableHost, digest_line, plan_digest,
                                plan_path, plain_problem, runbook_difference, steps_from_data)
from migrate.core.text import visible


# --- the plan -------------------------------------------------------------------------------


@dataclass
class Plan:
    directory: Path
    steps: list[Step]
    data: dict
    #: every file of the plan as checked at load, plan.yaml too: what the cutover uploads and
    #: installs, and the export copies, is these bytes, never the folder read again
    contents: dict[str, bytes] = field(default_factory=dict)
    digest: str = ""  # migrate.core.steps.plan_digest

    def files(self) -> list[str]:
        """Every file of the plan directory, plan.yaml last (as it is copied to the hosts)."""
        return sorted(self.data.get("files") or {}) + [PLAN_FILE]


_REPLAN = "write it again with `migrate plan`; the cutover runs only a plan as migrate wrote it"
_SHA256 = re.compile(r"[0-9a-f]{64}")


def load_plan(directory: str, pin: str | None = None) -> Plan:
    """Read and check a plan directory, in one place for the cutover and the export: the plan
    as reviewed, or a one-line refusal naming the field, file or step, before any host is
    touched.

    * plan.yaml: plain data (no key written twice: migrate/core/safeyaml.py), no control character
      in any string, every step and action of its types (migrate/core/steps.py);
    * ``files``: each key a path inside the folder (``steps.plan_path``), read without
      following a link, its digest the one recorded; an action's ``source`` one of them;
    * runbook.md: the runbook rendered again from the steps as loaded, equal byte for byte
      (a command edited in plan.yaml alone is refused, naming the step);
    * ``pin``: the plan digest the operator reviewed (``--plan-digest``); another is refused.
    """
    root = Path(directory)
    path = root / PLAN_FILE
    if not root.is_dir():
        raise MigrateError("not a plan directory", file=directory, code=Exit.INPUT,
                           hint="give the folder `migrate plan` wrote")
    try:
        raw = read_inside(str(root), PLAN_FILE)
        data = safeyaml.load(raw.decode("utf-8"))
    except FileNotFoundError:
        raise MigrateError("not a plan directory (no plan.yaml)", file=directory,
                           code=Exit.INPUT, hint="write one with `migrate plan`") from None
    except yaml.YAMLError as exc:
        message, line = safeyaml.error_line(exc)
        raise MigrateError(message, file=str(path), line=line, code=Exit.INPUT,
                           hint="write it again with `migrate plan`") from None
    except OSError as exc:
        raise MigrateError(f"cannot read the plan: {_why(exc)}", file=str(path),
                           code=Exit.INPUT) from None
    except UnicodeDecodeError as exc:
        raise MigrateError(f"cannot read the plan: {exc}", file=str(path),
                           code=Exit.INPUT) from None
    except ValueError as exc:  # a value YAML reads but Python will not build (5,000 digits)
        raise MigrateError(f"plan.yaml holds a value that cannot be read: {str(exc)[:200]}",
                           file=str(path), code=Exit.INPUT, hint=_REPLAN) from None
    if not isinstance(data, dict) or data.get("plan_version") != PLAN_VERSION:
        raise MigrateError("not a plan this version of migrate can run", file=str(path),
                           code=Exit.INPUT, hint="write it again with `migrate plan`")
    unknown = sorted(str(k) for k in data if k not in PLAN_KEYS)
    if unknown:  # as the inventory reader refuses unknown fields
        raise MigrateError(f"plan.yaml has unknown key(s) {', '.join(unknown)[:200]}",
                           file=str(path), code=Exit.INPUT, hint=_REPLAN)
    problem = plain_problem(data)
    if problem:
        raise MigrateError(f"plan.yaml: {problem}", file=str(path), code=Exit.INPUT,
                           hint=_REPLAN)
    contents = _read_files(root, data.get("files"))
    contents[PLAN_FILE] = raw
    try:
        steps = steps_from_data(data.get("steps"))
    except codec.CodecError as exc:
        raise MigrateError(f"plan.yaml: {exc}", file=str(path), code=Exit.INPUT,
                           hint=_REPLAN) from None
    for where, action in _actions(steps):
        source = getattr(action, "source", None)
        if source is not None and (source not in contents or source == PLAN_FILE):
            raise MigrateError(f"plan.yaml: {where}.source {source!r} is not one of the plan's "
                               "files", file=str(path), code=Exit.INPUT, hint=_REPLAN)
    digest = plan_digest(data)
    _check_runbook(root, contents, steps, data, digest)
    if pin is not None and pin.lower() != digest:
        raise MigrateError(f"the plan's digest is {digest}, not the {pin} given with "
                           "--plan-digest: this is not the plan that was reviewed",
                           file=directory, code=Exit.INPUT,
                           hint="review this plan (runbook.md, report.md) and pin its digest, "
                           "or find the plan that was reviewed")
    return Plan(root, steps, data, contents, digest)


def _why(exc: OSError) -> str:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        return "it is a link, or a folder on its way is (the plan's files are read as they are)"
    return exc.strerror or str(exc)


def _read_files(root: Path, files: Any) -> dict[str, bytes]:
    """Every file ``files`` lists, read and checked against its recorded digest."""
    if files is None:
        return {}
    if not isinstance(files, dict):
        raise MigrateError("plan.yaml: files is not a mapping of file to digest",
                           file=str(root / PLAN_FILE), code=Exit.INPUT, hint=_REPLAN)
    out = {}
    for rel, digest in files.items():
        problem = plan_path(rel)
        if problem is None and not (isinstance(digest, str) and _SHA256.fullmatch(digest)):
            problem = "has no SHA-256 digest"
        if problem:
            raise MigrateError(f"plan.yaml: files[{rel!r}] {problem}",
                               file=str(root / PLAN_FILE), code=Exit.INPUT, hint=_REPLAN)
        try:
            data = read_inside(str(root), rel)
        except OSError as exc:
            why = "it is missing" if exc.errno == errno.ENOENT else _why(exc)
            raise MigrateError(f"{rel}: {why}", file=str(root / rel), code=Exit.INPUT,
                               hint="plan again, or restore the file; the cutover runs only "
                               "a plan as it was reviewed") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise MigrateError(f"{rel} differs from what `migrate plan` wrote",
                               file=str(root / rel), code=Exit.INPUT,
                               hint="plan again, or restore the file; the cutover runs only "
                               "a plan as it was reviewed (change a file through `migrate "
                               "plan --overlay`)")
        out[rel] = data
    return out


def _actions(steps: list[Step]) -> list[tuple[str, Any]]:
    return [(f"steps[{i}].{part}[{j}]", action) for i, step in enumerate(steps)
            for part in ("actions", "rollback") for j, action in enumerate(getattr(step, part))]


def _check_runbook(root: Path, contents: dict[str, bytes], steps: list[Step], data: dict,
                   digest: str) -> None:
    """runbook.md shows exactly the steps plan.yaml holds (``steps.runbook_markdown``)."""
    if RUNBOOK_FILE not in contents:
        raise MigrateError(f"plan.yaml does not list {RUNBOOK_FILE}", file=str(root / PLAN_FILE),
                           code=Exit.INPUT, hint=_REPLAN)
    inventory, target = data.get("inventory"), data.get("target")
    where = runbook_difference(
        contents[RUNBOOK_FILE].decode("utf-8", "replace"), steps,
        inventory.get("host") if isinstance(inventory, dict) else None,
        target.get("hostname") if isinstance(target, dict) else None, digest)
    if where is not None:
        sid, line = where
        shown = f"at step {sid}" if sid else ("in its heading: the plan digest or the hosts "
                                              "(plan.yaml changed outside its steps)")
        raise MigrateError(f"{RUNBOOK_FILE} and plan.yaml do not show the same plan: they differ "
                           f"first {shown} ({RUNBOOK_FILE} line {line})",
                           file=str(root / RUNBOOK_FILE), code=Exit.INPUT,
                           hint="plan.yaml or runbook.md was changed after `migrate plan` "
                           "wrote them; plan again (change the plan through the target "
                           "settings or `migrate plan --overlay`)")


# --- the journal ----------------------------------------------------------------------------


class Journal:
    """Append-only JSON lines, each fsynced; backups of changed files beside it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.backups = path.with_name(path.name + ".backups")
        self.records: list[dict] = []
        #: called with each record once it is on disk (the live view follows the cutover so)
        self.listeners: list[Callable[[dict], None]] = []
        if path.exists():
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    self.records.append(json.loads(line))
                except json.JSONDecodeError:
                    if n == len(path.read_text(encoding="utf-8").splitlines()):
                        break  # a record cut off by a crash: the action it began is redone
                    raise MigrateError("the journal is damaged", file=str(path), line=n,
                                       code=Exit.INPUT) from None

    def write(self, **record: Any) -> None:
        record = {"t": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"),
                  **record}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self.records.append(record)
        for listener in self.listeners:
            listener(record)

    def done(self, mode: str = "execute") -> set[str]:
        return {r["step"] for r in self.records if r.get("event") == "done"
                and r.get("mode", "execute") == mode}

    def backed_up(self, host: str, path: str) -> bool:
        return any(r.get("event") == "backup" and r.get("host") == host and r.get("path") == path
                   for r in self.records)

    def backup(self, host: str, path: str, data: bytes | None, step: str) -> None:
        if self.backed_up(host, path):
            return  # the first backup is the original; later ones would be our own edits
        name = None
        if data is not None:
            digest = hashlib.sha256(data).hexdigest()
            name = f"{host}-{digest}"
            self.backups.mkdir(parents=True, exist_ok=True)
            target = self.backups / name
            if not target.exists():
                with open(target, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
        self.write(event="backup", step=step, host=host, path=path, existed=data is not None,
                   file=name)


# --- running ---------------------------------------------------------------------------------


class StepFailed(Exception):
    def __init__(self, step: Step, message: str) -> None:
        super().__init__(message)
        self.step = step
        self.message = message


class _StepContext:
    """What an action sees while the runner applies it (``migrate.core.steps.Context``)."""

    def __init__(self, runner: "Runner", step: Step) -> None:
        self.runner = runner
        self.step = step.id
        self.hosts = runner.hosts
        self.host = runner.hosts[step.runs_on]

    def source(self, rel: str) -> bytes:
        """A file of the plan as checked at load (``load_plan``)."""
        try:
            return self.runner.plan.contents[rel]
        except KeyError:
            raise ActionFailed(f"{rel} is not one of the plan's files") from None

    def plan_files(self) -> list[str]:
        return self.runner.plan.files()

    def change(self, path: str, new: bytes, mode: int | None = None) -> bool:
        old = self.host.read(path)
        if old == new:
            return False
        self.runner.journal.backup(self.host.name, path, old, self.step)
        self.host.write(path, new, mode)
        return True

    def say(self, line: str) -> None:
        self.runner.say(line)

    def record(self, **event: Any) -> None:
        self.runner.journal.write(step=self.step, **event)


class Runner:
    """Runs steps on hosts, journaled. ``say`` receives the lines for the operator (notes,
    reports, restored files); ``status`` the one-line step states (run, done, skip), which a
    live view replaces by following the journal."""

    def __init__(self, plan: Plan, hosts: dict[str, WritableHost], journal: Journal,
                 say: Callable[[str], None] = print,
                 status: Callable[[str], None] | None = None) -> None:
        self.plan = plan
        self.hosts = hosts
        self.journal = journal
        self.say = say
        self.status = say if status is None else status
        #: the rollback actions that failed in ``rollback`` (it goes on past each)
        self.rollback_failures: list[str] = []

    def run_step(self, step: Step) -> None:
        ctx = _StepContext(self, step)
        host = ctx.host
        self.journal.write(event="start", step=step.id, host=step.runs_on)
        for i, action in enumerate(step.actions):
            self.journal.write(event="action", step=step.id, index=i,
                               action=action.describe())
            try:
                action.apply(ctx)
            except ActionFailed as exc:
                raise StepFailed(step, str(exc)) from None
        for command in step.check:
            res = host.run(command, timeout=600)
            if res.code != 0:
                raise StepFailed(step, f"check failed: `{command}` exited {res.code}: "
                                       f"{(res.err or res.out).strip()[-300:]}")
        self.journal.write(event="done", step=step.id, mode="execute")

    def execute(self, resume: bool = False) -> list[str]:
        """Run every step not yet done; return the ids run. Raises StepFailed."""
        done = self.journal.done()
        if not resume:
            refuse_restart(self.journal)
        ran = []
        for step in self.plan.steps:
            if step.id in done:
                self.status(f"skip {step.id} (done)")
                continue
            frozen = self._frozen_since()
            clock = f" [freeze +{int(frozen // 60):02d}:{int(frozen % 60):02d}]" \
                if frozen is not None else ""
            self.status(f"run  {step.id} on {step.runs_on}: {step.title}{clock}")
            t0 = time.monotonic()
            try:
                self.run_step(step)
            except StepFailed as exc:
                self.journal.write(event="failed", step=step.id, message=exc.message)
                raise
            self.status(f"done {step.id} ({time.monotonic() - t0:.1f} s)")
            ran.append(step.id)
        return ran

    def _frozen_since(self) -> float | None:
        return frozen_for(self.journal.records)

    def rollback(self) -> list[str]:
        """Undo, newest first: each started step's rollback actions, then every backed-up
        file restored as it was before migrate first changed it."""
        by_id = {s.id: s for s in self.plan.steps}
        undone = []
        for sid in reversed(started_steps(self.journal.records)):
            step = by_id.get(sid)
            if step is None:
                continue
            ctx = _StepContext(self, step)
            for action in step.rollback:
                try:
                    action.apply(ctx)
                except ActionFailed as exc:
                    self.rollback_failures.append(f"{sid}: {exc}")
                    self.say(f"  rollback of {sid}: {exc} (going on)")
            undone.append(sid)
        restored = set()
        for r in reversed(self.journal.records):
            if r.get("event") != "backup":
                continue
            key = (r["host"], r["path"])
            if key in restored:
                continue
            restored.add(key)
            host = self.hosts[r["host"]]
            if r.get("existed"):
                host.write(r["path"], (self.journal.backups / r["file"]).read_bytes())
            else:
                host.remove(r["path"])
            self.say(f"restored {r['host']}:{r['path']}")
        self.journal.write(event="rolled-back", steps=undone, failed=self.rollback_failures)
        return undone


def refuse_restart(journal: Journal) -> None:
    """A run from the first step is refused once the journal has finished steps: it goes on
    (--resume) or is undone (--rollback), never run over again."""
    if journal.done():
        raise MigrateError("this plan was already started (the journal has finished steps)",
                           file=str(journal.path), code=Exit.USAGE,
                           hint="--execute --resume goes on, --execute --rollback undoes")


def started_steps(records: list[dict]) -> list[str]:
    """The steps a journal began, in the order they first began (a rollback undoes them the
    other way round)."""
    started: list[str] = []
    for r in records:
        if r.get("event") == "start" and r.get("step") not in started:
            started.append(r["step"])
    return started


def status(plan: Plan, journal: Journal) -> dict[str, Any]:
    """Where a cutover stands, from its journal alone: the steps done, the one that failed
    with its message and output, what ``--resume`` runs next, what ``--rollback`` would undo
    (the started steps' rollback actions, newest first, and the files it would restore), the
    freeze window (open, or its length) and whether it was rolled back since."""
    records = journal.records
    done = journal.done()
    order = [s.id for s in plan.steps]
    last = next((r for r in reversed(records) if r.get("event") in ("start", "done", "failed",
                                                                      "rolled-back")), None)
    failed = None
    if last is not None and last.get("event") == "failed":
        sid = last.get("step")
        began = max((i for i, r in enumerate(records)
                     if r.get("event") == "start" and r.get("step") == sid), default=0)
        output = "".join(r.get("output") or "" for r in records[began:]
                         if r.get("event") == "output" and r.get("step") == sid)
        failed = {"step": sid, "message": last.get("message", ""), "output": output[-4000:]}
    todo = [sid for sid in order if sid not in done]
    by_id = {s.id: s for s in plan.steps}
    undo = [{"step": sid, "actions": [a.describe() for a in by_id[sid].rollback]}
            for sid in reversed(started_steps(records)) if sid in by_id]
    restore = sorted({f"{r['host']}:{r['path']}" for r in records
                      if r.get("event") == "backup" and "host" in r and "path" in r})
    _, freeze, total = timings(journal)
    return {
        "plan_digest": plan.digest, "journal": str(journal.path),
        "state": ("not started" if not records else "rolled back"
                  if last is not None and last.get("event") == "rolled-back"
                  else "failed" if failed else "done" if not todo else "stopped"),
        "steps": len(order), "done": [sid for sid in order if sid in done],
        "failed": failed, "next": todo[0] if todo else None, "remaining": todo,
        "rollback": undo, "restore": restore,
        "frozen_for": frozen_for(records), "freeze_window": freeze, "elapsed": total,
        # the rollback actions that failed in the last rollback (it went on past each)
        "rollback_failed": list(last.get("failed") or []) if last is not None
        and last.get("event") == "rolled-back" else [],
    }


def status_line(state: dict[str, Any], plan_dir: str) -> str:
    """``status``'s closing line: the state, the steps done, what comes next."""
    what = {"failed": lambda: f"failed at {state['failed']['step']}",
            "stopped": lambda: f"stopped before {state['next']}",
            "rolled back": lambda: "rolled back" + (
                f" ({len(state['rollback_failed'])} rollback action(s) failed: look at them)"
                if state["rollback_failed"] else "")}.get(
        state["state"], lambda: state["state"])()
    line = f"{plan_dir}: {what}, {len(state['done'])} of {state['steps']} steps done"
    if state["state"] in ("failed", "stopped"):
        line += "; next: --execute --resume (or --execute --rollback)"
    elif state["state"] == "not started":
        line += "; next: the dry run, then --execute"
    return line


def frozen_for(records: list[dict], now: dt.datetime | None = None) -> float | None:
    """Seconds since the freeze began, while it lasts (the freeze window timer); None before
    the freeze and after the old host forwards."""
    start = next((r["t"] for r in records if r.get("event") == "start"
                  and r.get("step") == FREEZE_STEP), None)
    ended = any(r.get("event") == "done" and r.get("step") == UNFREEZE_STEP for r in records)
    if start is None or ended:
        return None
    now = now or dt.datetime.now(dt.timezone.utc)
    return (now - dt.datetime.fromisoformat(start)).total_seconds()


def timings(journal: Journal) -> tuple[list[tuple[str, float]], float | None, float | None]:
    """(step, seconds) for every finished step, the freeze window (the freeze step's start to
    the end of the forward step) and the whole run, from the journal's timestamps."""
    starts: dict[str, dt.datetime] = {}
    steps: list[tuple[str, float]] = []
    first = last = None
    for r in journal.records:
        if "t" not in r or "step" not in r:
            continue
        t = dt.datetime.fromisoformat(r["t"])
        first = first or t
        last = t
        if r.get("event") == "start":
            starts.setdefault(r["step"], t)
        elif r.get("event") == "done" and r["step"] in starts:
            steps.append((r["step"], (t - starts[r["step"]]).total_seconds()))
    freeze = None
    done_at = {r["step"]: dt.datetime.fromisoformat(r["t"]) for r in journal.records
               if r.get("event") == "done"}
    if FREEZE_STEP in starts and UNFREEZE_STEP in done_at:
        freeze = (done_at[UNFREEZE_STEP] - starts[FREEZE_STEP]).total_seconds()
    total = (last - first).total_seconds() if first and last else None
    return steps, freeze, total


#: FINAL_SYNC_SUMMARY as printed, its numbers any.
_FINAL_PARTS = re.compile(re.sub(r"\\\{\w+\\\}", r"\\d+", re.escape(FINAL_SYNC_SUMMARY)))


def window_parts(journal: Journal) -> str:
    """The freeze window's parts, for the line after its total: each step that ran inside it
    with its seconds, the final sync's own parts (delta, copy and its bytes, verify) from its
    output. Empty when the journal holds no whole window."""
    steps, freeze, _ = timings(journal)
    if freeze is None:
        return ""
    order = [r["step"] for r in journal.records if r.get("event") == "start"]
    try:
        inside = order[order.index(FREEZE_STEP):order.index(UNFREEZE_STEP) + 1]
    except ValueError:
        return ""
    seconds = dict(steps)
    parts = [f"{sid} {seconds[sid]:.0f} s" for sid in dict.fromkeys(inside) if sid in seconds]
    final = [m.group(0) for r in journal.records
             if r.get("event") == "output" and r.get("step") == FINAL_SYNC
             for m in [_FINAL_PARTS.search(r.get("output") or "")] if m]
    return ", ".join(parts) + (f"; {final[-1]}" if final else "")


def blockers(plan: Plan) -> list[dict]:
    """The findings of severity blocker that plan.yaml records (``migrate plan`` exited 1
    over them): such a plan is printed, never executed. A findings entry that is not a
    finding as ``migrate plan`` writes it counts as a blocker (fail closed)."""
    raw = plan.data.get("findings") or []
    if not isinstance(raw, list):
        return [{"id": "plan.findings-malformed", "message": "plan.yaml's findings are not a list"}]
    return [f if isinstance(f, dict) else {"id": "plan.findings-malformed", "message": repr(f)}
            for f in raw if not isinstance(f, dict) or f.get("severity") not in
            ("info", "warning", "error")]


def serious(plan: Plan) -> list[dict]:
    """The findings of severity error or blocker that plan.yaml records (the blockers as
    ``blockers`` reads them, malformed entries included): the dry run exits 1 over them, as
    ``migrate plan`` did."""
    raw = plan.data.get("findings")
    errors = [f for f in raw if isinstance(f, dict) and f.get("severity") == "error"] \
        if isinstance(raw, list) else []
    return blockers(plan) + errors


def findings_line(found: list[dict]) -> str:
    """``2 blocker(s), 1 error(s)``: findings as ``serious`` returns them, counted."""
    blocked = sum(f.get("severity") != "error" for f in found)
    errors = len(found) - blocked
    return ", ".join(part for part in (f"{blocked} blocker(s)" if blocked else "",
                                       f"{errors} error(s)" if errors else "") if part)


def step_counts(steps: list[Step]) -> str:
    """Steps per host and per phase, in the runbook's order: ``old 12, new 20, local 4;
    preflight 5, prepare 9, ...``."""
    if not steps:
        return "none left"
    hosts: dict[str, int] = {}
    phases: dict[str, int] = {}
    for step in steps:
        hosts[step.runs_on] = hosts.get(step.runs_on, 0) + 1
        phases[step.phase] = phases.get(step.phase, 0) + 1
    return (", ".join(f"{h} {n}" for h, n in hosts.items()) + "; "
            + ", ".join(f"{p} {n}" for p, n in phases.items()))


def blocker_line(found: list[dict]) -> str:
    """One line: how many blockers, and the first one (id, message, where it came from)."""
    first = found[0]
    source = first.get("source") if isinstance(first.get("source"), dict) else {}
    where = f" ({source['file']})" if source.get("file") else ""
    return (f"the plan has {len(found)} blocker(s) and cannot be executed; the first: "
            f"{first.get('id', '?')}: {first.get('message', '')}{where}")[:400]


def dry_run(plan: Plan, say: Callable[[str], None] = print,
            only: set[str] | None = None) -> None:
    """The plan digest, then every step with its exact commands per host; nothing is run.
    Each line passes ``visible``: what plan.yaml holds is shown, never acted on by the terminal
    (an ESC in a command shows as ``\\x1b``; ``\\e[8m`` would hide the rest of the line from
    review)."""
    say(digest_line(plan.digest))
    for n, step in enumerate(plan.steps, 1):
        if only is not None and step.id not in only:
            continue
        say(visible(f"{n:>2}. [{step.phase}] {step.id} on {step.runs_on} host: {step.title}"))
        for action in step.actions:
            say(visible(f"      {action.describe()}"))
        for command in step.check:
            say(visible(f"      check: {command}"))
