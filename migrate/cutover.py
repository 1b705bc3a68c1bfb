"""``migrate cutover``: run the plan's steps against the old and the new host, journaled.

The steps come from ``plan.yaml`` (written by ``migrate plan``; see emitters/runbook.py). Each
step runs on one host (``old``, ``new``) or on the machine running migrate (``local``), and is a
list of actions:

* ``run``: a shell command (already quoted by the plan);
* ``put``: install a file of the plan directory at a path (mode kept in the action);
* ``append``: add a plan file to the end of a host file, between marker lines;
* ``insert``: add a plan file before or after the first line matching a pattern, between
  marker lines, in the first of the candidate files that has such a line;
* ``unmark``: remove what an ``append``/``insert`` with that marker added;
* ``wait``: repeat a command until it succeeds (or time runs out);
* ``note``: tell the operator something that migrate does not do itself (DNS at a provider).

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
import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from migrate.emitters.runbook import describe
from migrate.errors import Exit, MigrateError

PLAN_FILE = "plan.yaml"
HOSTS = ("old", "new", "local")
#: the steps that open and close the freeze window (the runbook's ids)
FREEZE_STEP, UNFREEZE_STEP = "old-freeze", "old-forward"


# --- the plan -------------------------------------------------------------------------------


@dataclass
class Step:
    id: str
    phase: str
    host: str
    title: str
    why: str
    actions: list[dict]
    check: list[str] = field(default_factory=list)
    rollback: list[dict] = field(default_factory=list)


@dataclass
class Plan:
    directory: Path
    steps: list[Step]
    data: dict


def _actions(items: list) -> list[dict]:
    out = []
    for item in items or []:
        if isinstance(item, str):
            if item.lstrip().startswith("#"):
                out.append({"do": "note", "text": item.lstrip("# ").strip()})
            else:
                out.append({"do": "run", "command": item})
        elif isinstance(item, dict) and item.get("do"):
            out.append(item)
        else:
            raise MigrateError(f"a step action is malformed: {item!r}", code=Exit.INPUT)
    return out


#: the top-level keys of plan.yaml (planning.plan_yaml writes them)
PLAN_KEYS = frozenset({"plan_version", "release", "inventory", "target", "files", "findings",
                       "steps"})


def load_plan(directory: str) -> Plan:
    """Read and check a plan directory: plan.yaml, and every file it lists unchanged."""
    root = Path(directory)
    path = root / PLAN_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MigrateError("not a plan directory (no plan.yaml)", file=directory,
                           code=Exit.INPUT, hint="write one with `migrate plan`") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise MigrateError(f"plan.yaml is not valid YAML: {getattr(exc, 'problem', None) or exc}",
                           file=str(path), line=mark.line + 1 if mark else None,
                           code=Exit.INPUT, hint="write it again with `migrate plan`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MigrateError(f"cannot read the plan: {exc}", file=str(path),
                           code=Exit.INPUT) from None
    if not isinstance(data, dict) or data.get("plan_version") != 1:
        raise MigrateError("not a plan this version of migrate can run", file=str(path),
                           code=Exit.INPUT, hint="write it again with `migrate plan`")
    unknown = sorted(str(k) for k in data if k not in PLAN_KEYS)
    if unknown:  # as the inventory reader refuses unknown fields
        raise MigrateError(f"plan.yaml has unknown key(s) {', '.join(unknown)[:200]}",
                           file=str(path), code=Exit.INPUT,
                           hint="write it again with `migrate plan`; the cutover runs only a "
                           "plan as migrate wrote it")
    for rel, digest in (data.get("files") or {}).items():
        f = root / rel
        if not f.is_file() or hashlib.sha256(f.read_bytes()).hexdigest() != digest:
            raise MigrateError(f"{rel} differs from what `migrate plan` wrote",
                               file=str(f), code=Exit.INPUT,
                               hint="plan again, or restore the file; the cutover runs only "
                               "a plan as it was reviewed")
    steps = []
    for raw in data.get("steps") or []:
        if raw.get("host") not in HOSTS + ("dns",):
            raise MigrateError(f"step {raw.get('id')!r} names an unknown host",
                               file=str(path), code=Exit.INPUT)
        steps.append(Step(raw["id"], raw.get("phase", ""),
                          "local" if raw["host"] == "dns" else raw["host"], raw.get("title", ""),
                          raw.get("why", ""), _actions(raw.get("actions") or raw.get("run")),
                          list(raw.get("check") or []), _actions(raw.get("rollback"))))
    return Plan(root, steps, data)


# --- hosts ----------------------------------------------------------------------------------


@dataclass
class Result:
    code: int
    out: str
    err: str


class Host(Protocol):
    name: str

    def run(self, command: str, timeout: float = 600) -> Result: ...

    def read(self, path: str) -> bytes | None:
        """A file's content, or None if it does not exist."""

    def write(self, path: str, data: bytes, mode: int | None = None) -> None:
        """Replace a file atomically (temp file + rename in its folder). An existing file
        keeps its owner and mode unless ``mode`` is given; a new one gets ``mode`` or 0644."""

    def remove(self, path: str) -> None: ...


class LocalHost:
    """This machine (``local`` steps), or a stand-in host in tests: commands run with sh."""

    def __init__(self, name: str, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.env = env or {}

    def run(self, command: str, timeout: float = 600) -> Result:
        import subprocess
        try:
            proc = subprocess.run(["sh", "-c", command], capture_output=True, text=True,
                                  timeout=timeout, env={**os.environ, **self.env})
        except subprocess.TimeoutExpired:
            return Result(124, "", f"timed out after {timeout:.0f} s")
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def read(self, path: str) -> bytes | None:
        try:
            return Path(path).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, path: str, data: bytes, mode: int | None = None) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.migrate-tmp")
        try:
            old = os.stat(target)
        except FileNotFoundError:
            old = None
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if old is not None:
            os.chown(tmp, old.st_uid, old.st_gid)
        os.chmod(tmp, mode if mode is not None else
                 (old.st_mode & 0o7777 if old is not None else 0o644))
        os.replace(tmp, target)

    def remove(self, path: str) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


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


def _smtp_banner(address: str, port: int) -> str | None:
    import socket
    try:
        with socket.create_connection((address, port), timeout=10) as sock:
            sock.settimeout(10)
            banner = sock.recv(512).decode("ascii", "replace")
            sock.sendall(b"QUIT\r\n")
    except OSError as exc:
        return f"no SMTP on [{address}]:{port}: {exc}"
    if not banner.startswith("220"):
        return f"[{address}]:{port} greets with {banner.strip()[:80]!r}, not 220"
    return None


def _http_check(url: str, host_header: str | None, expect: str | None, status: int = 200,
                location: str | None = None, verify: bool = True) -> str | None:
    """GET ``url`` once (redirects are answers, not followed), sending ``host_header`` as the
    Host (and, over HTTPS, as the TLS server name the certificate must match). None when the
    answer has ``status`` and, for a 200, the body shows ``expect``; for a redirect, its
    Location is ``location`` (or ends with it, when that is a path)."""
    import http.client
    import ssl
    import urllib.parse
    parts = urllib.parse.urlsplit(url)
    address = parts.hostname or ""
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        if parts.scheme == "https":
            context = ssl.create_default_context()
            if not verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            name = host_header or address

            class _Sni(http.client.HTTPSConnection):
                def connect(self) -> None:  # the server name is the web host, not the address
                    http.client.HTTPConnection.connect(self)
                    self.sock = context.wrap_socket(self.sock, server_hostname=name)

            conn: http.client.HTTPConnection = _Sni(address, parts.port or 443, timeout=15,
                                                    context=context)
        else:
            conn = http.client.HTTPConnection(address, parts.port or 80, timeout=15)
        try:
            conn.request("GET", path, headers={"Host": host_header} if host_header else {})
            resp = conn.getresponse()
            body = resp.read(1024 * 1024).decode("utf-8", "replace")
            got, where = resp.status, resp.getheader("Location") or ""
        finally:
            conn.close()
    except (OSError, ValueError, http.client.HTTPException) as exc:
        return f"{url}: {exc}"
    if got != status:
        return f"{url} answers {got}" + (f" (to {where})" if where else "") + \
            f", not {status}"
    if location and not (where == location or (location.startswith("/")
                                                and where.endswith(location))):
        return f"{url} redirects to {where or 'nowhere'}, not {location}"
    if expect and expect not in body:
        return f"{url} does not show {expect!r}"
    return None


def _dns_check(action: dict) -> str | None:
    """The planned record is served (``value``), or the record's TTL is low enough
    (``max_ttl``), asked of the system's resolver or of ``nameserver``."""
    import dns.exception
    import dns.resolver
    resolver = dns.resolver.Resolver(configure=not action.get("nameserver"))
    if action.get("nameserver"):
        resolver.nameservers = [action["nameserver"]]
        resolver.port = int(action.get("nameserver_port", 53))
    resolver.lifetime = 10
    name, rtype = action["name"], action["type"]
    try:
        answer = resolver.resolve(name, rtype)
    except (dns.exception.DNSException, OSError) as exc:
        return f"{name} {rtype}: {exc.__class__.__name__}: {exc}"
    values = {r.to_text().rstrip(".").lower().strip('"') for r in answer}
    want = action.get("value")
    if want is not None and want.rstrip(".").lower().strip('"') not in values:
        return f"{name} {rtype} is {sorted(values)}, not {want}"
    if action.get("max_ttl") is not None and answer.rrset.ttl > int(action["max_ttl"]):
        return f"{name} {rtype} has TTL {answer.rrset.ttl}, more than {action['max_ttl']} s"
    return None


class StepFailed(Exception):
    def __init__(self, step: Step, message: str) -> None:
        super().__init__(message)
        self.step = step
        self.message = message


def _marked(block: bytes, marker: str) -> bytes:
    begin = f"# migrate:{marker} begin\n".encode()
    end = f"# migrate:{marker} end\n".encode()
    if not block.endswith(b"\n"):
        block += b"\n"
    return begin + block + end


def _without(data: bytes, marker: str) -> bytes:
    pattern = re.compile(rb"(?m)^# migrate:" + re.escape(marker.encode())
                         + rb" begin\n.*?^# migrate:" + re.escape(marker.encode()) + rb" end\n",
                         re.S)
    return pattern.sub(b"", data)


class Runner:
    """Runs steps on hosts, journaled. ``say`` receives the lines for the operator (notes,
    reports, restored files); ``status`` the one-line step states (run, done, skip), which a
    live view replaces by following the journal."""

    def __init__(self, plan: Plan, hosts: dict[str, Host], journal: Journal,
                 say: Callable[[str], None] = print,
                 status: Callable[[str], None] | None = None) -> None:
        self.plan = plan
        self.hosts = hosts
        self.journal = journal
        self.say = say
        self.status = say if status is None else status

    def _source(self, rel: str) -> bytes:
        path = self.plan.directory / rel
        return path.read_bytes()

    def _change(self, host: Host, step: Step, path: str, new: bytes,
                mode: int | None = None) -> bool:
        old = host.read(path)
        if old == new:
            return False
        self.journal.backup(host.name, path, old, step.id)
        host.write(path, new, mode)
        return True

    def action(self, step: Step, host: Host, action: dict) -> None:
        do = action["do"]
        if do == "run":
            res = host.run(action["command"], timeout=float(action.get("timeout", 3600)))
            if action.get("report"):  # information for the operator, never a failure
                for line in (res.out + res.err).strip().splitlines()[-20:]:
                    self.say(f"  {line}")
                self.journal.write(event="report", step=step.id, output=res.out[-4000:])
            elif res.code != 0:
                raise StepFailed(step, f"`{action['command']}` exited {res.code}: "
                                       f"{(res.err or res.out).strip()[-300:]}")
            elif res.out.strip():
                self.journal.write(event="output", step=step.id, output=res.out[-20000:])
        elif do == "wait":
            deadline = time.monotonic() + float(action.get("timeout", 600))
            while True:
                res = host.run(action["command"], timeout=60)
                if res.code == 0:
                    break
                if time.monotonic() > deadline:
                    raise StepFailed(step, f"still not true after {action.get('timeout', 600)}"
                                           f" s: `{action['command']}`")
                time.sleep(float(action.get("interval", 5)))
        elif do == "put":
            self._change(host, step, action["path"], self._source(action["source"]),
                         int(str(action.get("mode", "0644")), 8))
        elif do == "append":
            current = host.read(action["path"]) or b""
            if f"# migrate:{action['marker']} begin".encode() not in current:
                if current and not current.endswith(b"\n"):
                    current += b"\n"
                self._change(host, step, action["path"],
                             current + _marked(self._source(action["source"]),
                                               action["marker"]))
        elif do == "insert":
            self._insert(step, host, action)
        elif do == "unmark":
            for path in action["paths"]:
                current = host.read(path)
                if current is not None:
                    self._change(host, step, path, _without(current, action["marker"]))
        elif do in ("comment", "uncomment"):
            # comment out the lines matching ``match`` (and not already comments) with a
            # marker, or take exactly those markers away again
            prefix = f"#migrate:{action['marker']}# ".encode()
            pattern = re.compile(action.get("match", "").encode())
            for path in action["paths"]:
                current = host.read(path)
                if current is None:
                    continue
                lines = current.split(b"\n")
                if do == "comment":
                    lines = [prefix + line if pattern.search(line)
                             and not line.lstrip().startswith(b"#") else line for line in lines]
                else:
                    lines = [line[len(prefix):] if line.startswith(prefix) else line
                             for line in lines]
                self._change(host, step, path, b"\n".join(lines))
        elif do == "upload":
            for name in action.get("hosts", []):
                target = self.hosts[name]
                for rel in sorted(self.plan.data.get("files", {})) + [PLAN_FILE]:
                    data = self._source(rel)
                    path = f"{action['path'].rstrip('/')}/{rel}"
                    if target.read(path) != data:
                        target.write(path, data, 0o755 if data.startswith(b"#!") else 0o644)
        elif do == "note":
            self.say(f"  note: {action['text']}")
        elif do == "smtp":
            self._until(step, action, lambda: _smtp_banner(action["address"],
                                                           int(action.get("port", 25))))
        elif do == "http":
            self._until(step, action, lambda: _http_check(
                action["url"], action.get("host_header"), action.get("expect"),
                int(action.get("status", 200)), action.get("location"),
                bool(action.get("verify", True))))
        elif do == "dns":
            self._until(step, action, lambda: _dns_check(action))
        else:
            raise StepFailed(step, f"unknown action {do!r}")

    def _until(self, step: Step, action: dict, probe: Callable[[], str | None]) -> None:
        """Run ``probe`` (None: fine, else the problem) until it passes or time runs out."""
        deadline = time.monotonic() + float(action.get("timeout", 0))
        while True:
            problem = probe()
            if problem is None:
                return
            if time.monotonic() >= deadline:
                raise StepFailed(step, problem)
            time.sleep(float(action.get("interval", 5)))

    def _insert(self, step: Step, host: Host, action: dict) -> None:
        marker = f"# migrate:{action['marker']} begin".encode()
        pattern = re.compile((action.get("before") or action.get("after")).encode(), re.M)
        block = _marked(self._source(action["source"]), action["marker"])
        for path in action["paths"]:
            current = host.read(path)
            if current is None:
                continue
            if marker in current:
                return  # already there (a step run again)
            m = pattern.search(current)
            if m is None:
                continue
            if action.get("before"):
                at = m.start()
            else:
                eol = current.find(b"\n", m.end())
                at = len(current) if eol < 0 else eol + 1
            self._change(host, step, path, current[:at] + block + current[at:])
            return
        raise StepFailed(step, f"no line matching {pattern.pattern.decode()!r} in "
                               f"{', '.join(action['paths'])}")

    def run_step(self, step: Step) -> None:
        host = self.hosts[step.host]
        self.journal.write(event="start", step=step.id, host=step.host)
        for i, action in enumerate(step.actions):
            self.journal.write(event="action", step=step.id, index=i,
                               action=describe(action))
            self.action(step, host, action)
        for command in step.check:
            res = host.run(command, timeout=600)
            if res.code != 0:
                raise StepFailed(step, f"check failed: `{command}` exited {res.code}: "
                                       f"{(res.err or res.out).strip()[-300:]}")
        self.journal.write(event="done", step=step.id, mode="execute")

    def execute(self, resume: bool = False) -> list[str]:
        """Run every step not yet done; return the ids run. Raises StepFailed."""
        done = self.journal.done()
        if done and not resume:
            raise MigrateError("this plan was already started (the journal has finished "
                               "steps)", file=str(self.journal.path), code=Exit.USAGE,
                               hint="use --resume to go on, or --rollback")
        ran = []
        for step in self.plan.steps:
            if step.id in done:
                self.status(f"skip {step.id} (done)")
                continue
            frozen = self._frozen_since()
            clock = f" [freeze +{int(frozen // 60):02d}:{int(frozen % 60):02d}]" \
                if frozen is not None else ""
            self.status(f"run  {step.id} on {step.host}: {step.title}{clock}")
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
        started = []
        for r in self.journal.records:
            if r.get("event") == "start" and r["step"] not in started:
                started.append(r["step"])
        by_id = {s.id: s for s in self.plan.steps}
        undone = []
        for sid in reversed(started):
            step = by_id.get(sid)
            if step is None:
                continue
            host = self.hosts[step.host]
            for action in step.rollback:
                try:
                    self.action(step, host, action)
                except StepFailed as exc:
                    self.say(f"  rollback of {sid}: {exc.message} (going on)")
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
        self.journal.write(event="rolled-back", steps=undone)
        return undone


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


def blocker_line(found: list[dict]) -> str:
    """One line: how many blockers, and the first one (id, message, where it came from)."""
    first = found[0]
    source = first.get("source") if isinstance(first.get("source"), dict) else {}
    where = f" ({source['file']})" if source.get("file") else ""
    return (f"the plan has {len(found)} blocker(s) and cannot be executed; the first: "
            f"{first.get('id', '?')}: {first.get('message', '')}{where}")[:400]


def dry_run(plan: Plan, say: Callable[[str], None] = print) -> None:
    """Every step with its exact commands per host; nothing is run."""
    for n, step in enumerate(plan.steps, 1):
        say(f"{n:>2}. [{step.phase}] {step.id} on {step.host} host: {step.title}")
        for action in step.actions:
            say(f"      {describe(action)}")
        for command in step.check:
            say(f"      check: {command}")
