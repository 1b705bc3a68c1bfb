"""The guard between inventory and plan (emitters/guard.py), tested as an attacker would.

The property: whatever string of an inventory holds (control characters, quotes, ``$(...)``,
backticks, newlines followed by a command), no emitted file runs it, parses it as syntax or
lets it start a line of its own. Tested on the three sample hosts' real inventories: every
string field of the model (walked generically over the dataclasses, so a new field is covered
without being named here) is made hostile in turn, all its instances at once (every
``mta.list_routes[].address``), with two payloads: one of shell and Python metacharacters
only (it passes the guard's screen, so it tests the emitters' context functions) and one of
line breaks and control characters (it tests the screen: a blocker naming the field). A
hypothesis test then makes a few random single fields hostile at once with random payloads.

Every emitted file is checked:

* no control character but newline and TAB, anywhere;
* shell scripts (``#!/bin/sh``, and every command of plan.yaml's steps) that hold the payload
  pass ``sh -n`` and are run, with every external command a stub, against a sentinel file
  that the payload writes if it ever runs (``set -e`` is taken out so every line runs);
* the crontab's job lines are run as cron runs them (``sh -c``, up to the first ``%``);
* Python files parse (``ast``), hold no statement or call besides the ones migrate writes,
  and are run against the sentinel;
* in every other configuration or table file, a line that holds the payload is a comment;
* the real ``smtpd -n`` (with the emitted aliases and virtual tables), ``exim4 -bV -C`` (the
  old host's forward router and freeze ACL in a minimal Exim configuration) and
  ``apache2 -t`` (the old host's proxy) accept each distinct file that holds the payload.
"""

from __future__ import annotations

import ast
import builtins
import copy
import dataclasses
import datetime as dt
import enum
import functools
import hashlib
import re
import shutil
import subprocess
import tempfile
import time
import typing
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emitters import guard
from migrate.app.inspection import inspect_tree
from migrate.core.model import Finding, Inventory, Mta, Origin, Severity, Source
from migrate.app.planning import build_plan, resolve_target
from migrate.app.sources import LocalTree
from conftest import SAMPLE_HOSTS as SAMPLES

REPO = Path(__file__).resolve().parents[1]
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.timezone.utc)
FLAGS = {"hostname": "lists.new.example", "ipv6": ["2001:db8:99::25"]}

# A folder the payloads write into when they run: it must stay empty. World-readable, so the
# sandboxed runs (and Exim after dropping root) can reach it.
SANDBOX = Path(tempfile.mkdtemp(prefix="migrate-guard-"))
SANDBOX.chmod(0o755)
SENTINEL = SANDBOX / "pwned"
S = str(SENTINEL)
#: the new host's mail configuration in a plan: smtpd.conf and the tables it reads
MAIL = "files/new/etc/mail/"

#: Shell and Python metacharacters, no control character: passes the screen.
META = (f"'\"$(echo injected >>{S})`echo injected >>{S}`;echo injected >>{S};"
        f"'+__import__(\"os\").system(\"echo injected >>{S}\")+'#%\\")
#: Line breaks (each one a consumer splits on) and other control characters: the screen's.
CTL = (f"\necho injected >>{S} #\r\n__import__('os').system('echo injected >>{S}')\n"
       f"\x00\x1b[1m\x85\u2028\u2029\u202e\x0b\x0c\udcff echo injected >>{S}\\")


# --- the inventory's strings, generically ------------------------------------------------------


@dataclasses.dataclass
class Slot:
    """One string of the inventory: where it is and how to replace it."""

    path: str  # "mta.list_routes[3].address", as the guard's findings name it
    cls: str  # the field, whatever the instance: "mta.list_routes[].address"
    owner: typing.Any  # the dataclass, list or dict holding it
    key: typing.Any  # attribute name, index, or ("key", k) for a dict key
    value: str | None

    @property
    def named(self) -> str:
        """How a finding starts that names this field (a key is named as it is after the
        payload)."""
        return self.path.split(" key ")[0] + " key " if isinstance(self.key, tuple) \
            else self.path

    def set(self, value: str | None) -> None:
        if isinstance(self.key, tuple):
            now = self.key[2] if len(self.key) > 2 else self.key[1]
            items = [(value if k == now else k, v) for k, v in self.owner.items()]
            self.owner.clear()
            self.owner.update(items)
            self.key = ("key", self.key[1], value)
        elif isinstance(self.owner, (list, dict)):
            self.owner[self.key] = value
        else:
            setattr(self.owner, self.key, value)


@functools.cache
def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def _holds_str(hint) -> bool:
    return hint is str or str in typing.get_args(hint)


def slots(obj, path: str = "", cls: str = "") -> list[Slot]:
    """Every string under ``obj`` (dataclass fields, list items, dict keys and values), and
    every field typed to hold a string that is None (it may hold one in another inventory)."""
    out: list[Slot] = []
    if dataclasses.is_dataclass(obj):
        hints = _hints(type(obj))
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            where, kind = (f"{path}.{f.name}", f"{cls}.{f.name}") if path else (f.name, f.name)
            if f.name == "detail" and isinstance(obj, Mta):  # inline, as the inventory has it
                where, kind = path, cls
            if isinstance(value, str) and not isinstance(value, enum.Enum):
                out.append(Slot(where, kind, obj, f.name, value))
            elif value is None and _holds_str(hints[f.name]):
                out.append(Slot(where, kind, obj, f.name, None))
            else:
                out += slots(value, where, kind)
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            if isinstance(item, str):
                out.append(Slot(f"{path}[{i}]", f"{cls}[]", obj, i, item))
            else:
                out += slots(item, f"{path}[{i}]", f"{cls}[]")
    elif isinstance(obj, dict):
        for k, v in list(obj.items()):
            if isinstance(k, str):
                out.append(Slot(f"{path} key {k!r}", f"{cls} key", obj, ("key", k), k))
            if isinstance(v, str):
                out.append(Slot(f"{path}[{k!r}]", f"{cls}[]", obj, k, v))
            else:
                out += slots(v, f"{path}[{k!r}]", f"{cls}[]")
    return out


def hostile(value: str | None, payload: str) -> str:
    """The value with the payload appended (a plausible prefix keeps it on its usual path)."""
    return (value or "") + payload


# --- checking one plan -------------------------------------------------------------------------


class Collected:
    """What the plans emitted that must go through a real tool, each distinct text once."""

    def __init__(self) -> None:
        self.shell: dict[str, str] = {}  # sha -> script
        self.python: dict[str, str] = {}
        self.smtpd: dict[str, tuple[str, ...]] = {}  # smtpd.conf, then its tables by name
        self.exim: dict[str, tuple[str, str]] = {}  # router, freeze
        self.apache: dict[str, str] = {}
        self.plans = 0

    @staticmethod
    def _key(*texts: str) -> str:
        return hashlib.sha256("\0".join(texts).encode("utf-8", "surrogateescape")).hexdigest()

    def shell_text(self, text: str) -> None:
        self.shell.setdefault(self._key(text), text)


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MM_NAMES = {"VIRTUAL_HOSTS", "add_virtualhost", "DEFAULT_URL_HOST", "DEFAULT_EMAIL_HOST"}
_SCRIPTS = re.compile(r"\.sh$")
_DOCS = (".md", ".html")
_YAML = (".yaml",)


def _python_is_data(path: str, text: str) -> list[str]:
    """Statements of an emitted mm_cfg.py besides NAME = literal, add_virtualhost(...) and
    VIRTUAL_HOSTS.clear(): each is an injection."""
    problems = []
    tree = ast.parse(text)
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name):
            try:
                ast.literal_eval(node.value)
            except ValueError:
                problems.append(f"{path}:{node.lineno}: not a literal: {ast.unparse(node)}")
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            call = node.value
            name = ast.unparse(call.func)
            if name == "VIRTUAL_HOSTS.clear" and not call.args:
                continue
            if name == "add_virtualhost" and all(
                    isinstance(a, ast.Constant) and isinstance(a.value, str)
                    or isinstance(a, ast.Name) and a.id in _MM_NAMES for a in call.args):
                continue
            problems.append(f"{path}:{node.lineno}: injected call {ast.unparse(node)}")
        else:
            problems.append(f"{path}:{node.lineno}: injected statement {ast.unparse(node)}")
    return problems


def check_plan(plan, collected: Collected, payload: str) -> list[str]:
    """The in-process checks of one plan; real tools' texts are collected for later."""
    collected.plans += 1
    problems = []
    files = plan.files
    for path, text in files.items():
        bad = guard._BAD_OUTPUT.search(text)
        if bad:
            problems.append(f"{path}: control character {bad.group()!r}")
            continue
        if S not in text:
            continue
        if _SCRIPTS.search(path) or text.startswith("#!/bin/sh"):
            collected.shell_text(text)
        elif path.endswith((".py", ".py.migrate")):
            try:
                problems += _python_is_data(path, text)
            except SyntaxError as exc:
                problems.append(f"{path}: not Python: {exc}")
            collected.python.setdefault(Collected._key(text), text)
        elif path.endswith("crontab._mailman"):
            for n, line in enumerate(text.splitlines(), 1):
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                m = re.match(r"(@\w+|(?:\S+\s+){4}\S+)\s+(.*)", line)
                if not m:
                    problems.append(f"{path}:{n}: not a crontab line: {line!r}")
                    continue
                command = re.split(r"(?<!\\)%", m.group(2))[0]
                collected.shell_text("#!/bin/sh\n" + command + "\n")
        elif path == "plan.yaml":
            # what it holds is plan.steps and plan.findings, dumped by yaml.safe_dump (each
            # string a YAML scalar); the steps' commands are run below
            yaml.load(text, Loader=_LOADER)
        elif path.endswith(_DOCS + _YAML):
            if path.endswith(_YAML):
                yaml.safe_load(text)
        else:
            # configurations and tables: the payload only ever in a comment
            for n, line in enumerate(text.split("\n"), 1):
                if S in line and not line.lstrip().startswith("#"):
                    problems.append(f"{path}:{n}: live line {line!r}")
    mail = {p: t for p, t in sorted(files.items()) if p.startswith(MAIL)}
    if MAIL + "smtpd.conf" in mail and any(S in t for t in mail.values()):
        texts = (mail.pop(MAIL + "smtpd.conf"),
                 *(f"{p.removeprefix(MAIL)}\0{t}" for p, t in mail.items()))
        collected.smtpd.setdefault(Collected._key(*texts), texts)
    router, freeze = (files.get("files/old/exim-forward-router.conf"),
                      files.get("files/old/exim-freeze-acl.conf"))
    if router and freeze and (S in router or S in freeze):
        collected.exim.setdefault(Collected._key(router, freeze), (router, freeze))
    proxy = files.get("files/old/apache-proxy.conf")
    if proxy and S in proxy:
        collected.apache.setdefault(Collected._key(proxy), proxy)
    for step in plan.steps:  # the cutover runs these with sh on the hosts
        commands = list(step.check) + [a.command for a in step.actions + step.rollback
                                       if a.kind in ("run", "wait")]
        for command in commands:
            if S in command:
                collected.shell_text("#!/bin/sh\n" + command + "\n")
    return problems


# --- the real tools ----------------------------------------------------------------------------

_STUBS = ("rsync", "ssh", "scp", "python3", "python2.7", "python2", "python", "cmp", "diff", "cat",
          "rm", "chown", "chmod", "ln", "find", "grep", "ls", "su", "sha256", "sha256sum", "dig",
          "sort", "tr", "sleep", "service", "rcctl", "pkg_add", "pkg_info", "pkg_delete", "exim",
          "crontab", "mail", "openssl", "touch", "usermod", "id", "awk", "df", "head", "tail",
          "wc", "install", "acme-client", "smtpd", "httpd", "apachectl", "newaliases", "cp",
          "mkdir", "sed", "printf", "sh", "test")


def _stub_dir() -> Path:
    """Every external command the emitted scripts call, as a stub that does nothing."""
    bin_dir = SANDBOX / "bin"
    if bin_dir.is_dir():
        return bin_dir
    bin_dir.mkdir()
    for name in _STUBS:
        (bin_dir / name).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / name).chmod(0o755)
    (bin_dir / "mktemp").write_text(f"#!/bin/sh\nd={SANDBOX}/tmp.$$; /bin/mkdir -p $d; echo $d\n")
    (bin_dir / "dirname").write_text("#!/bin/sh\necho .\n")
    for name in ("mktemp", "dirname"):
        (bin_dir / name).chmod(0o755)
    return bin_dir


def run_shell(text: str) -> list[str]:
    """``sh -n``, then the script run with stubs (errexit off, so every line runs)."""
    script = SANDBOX / "script.sh"
    script.write_text(text, encoding="utf-8", errors="surrogateescape")
    syntax = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
    if syntax.returncode != 0:
        return [f"sh -n: {syntax.stderr.strip()} in\n{text}"]
    script.write_text(re.sub(r"^set -eu?$", "set +e", text, flags=re.M), encoding="utf-8",
                      errors="surrogateescape")
    env = {"PATH": str(_stub_dir()), "HOME": str(SANDBOX), "NEW": "root@2001:db8::1",
           "PLAN": str(SANDBOX / "plan")}
    subprocess.run(["/bin/sh", str(script)], cwd=SANDBOX, env=env, capture_output=True,
                   timeout=20, stdin=subprocess.DEVNULL)
    return [f"the payload ran:\n{text}"] if SENTINEL.exists() else []


def run_python(text: str) -> list[str]:
    namespace = {"VIRTUAL_HOSTS": {}, "add_virtualhost": lambda *a: None,
                 "__builtins__": builtins}
    try:
        exec(compile(text, "mm_cfg.py.migrate", "exec"), namespace)  # noqa: S102
    except Exception as exc:  # noqa: BLE001
        return [f"mm_cfg.py.migrate does not run: {exc!r}"]
    return [f"the payload ran:\n{text}"] if SENTINEL.exists() else []


def run_smtpd(conf: str, *tables: str) -> list[str]:
    """``smtpd -n`` on an emitted smtpd.conf with its tables (each "NAME\\0TEXT")."""
    from smtpdtools import check_config
    pki = re.findall(r'^pki \S+ (?:cert|key) "([^"]+)"', conf, re.M)
    files = dict(t.split("\0", 1) for t in tables)
    for name in files:
        conf = conf.replace(f"file:/etc/mail/{name}", f"file:@TMP@/{name}")
    if pki:
        cert, key = _certificate()
        conf = conf.replace(f'cert "{pki[0]}"', f'cert "{cert}"') \
            .replace(f'key "{pki[1]}"', f'key "{key}"')
    proc = check_config(conf, files)
    if proc.returncode != 0 or "configuration OK" not in proc.stderr + proc.stdout:
        return [f"smtpd -n: {(proc.stderr + proc.stdout).strip()}\n{conf}"]
    return []


def _certificate() -> tuple[Path, Path]:
    cert, key = SANDBOX / "cert.pem", SANDBOX / "key.pem"
    if not cert.exists():
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                        "2", "-subj", "/CN=guard.example", "-keyout", str(key), "-out",
                        str(cert)], check=True, capture_output=True, timeout=60)
        key.chmod(0o600)
    return cert, key


def run_exim(router: str, freeze: str) -> list[str]:
    """The forward router and freeze ACL in a minimal configuration, as written: ``exim -bV``
    reads every line (a comment the payload broke would show as an error)."""
    from eximtools import exim
    body, _, extra = router.partition("# No smtp transport exists yet")
    transport = re.search(r"^\s*transport = (\S+)", body, re.M)
    conf = SANDBOX / "exim.conf"
    conf.write_text(
        "primary_hostname = guard.example\nacl_smtp_rcpt = acl_check_rcpt\n"
        "begin acl\nacl_check_rcpt:\n" + freeze + "  accept\n\n"
        "begin routers\n" + body + "\nbegin transports\n"
        + (f"{transport.group(1)}:\n  driver = smtp\n" if transport else ""),
        encoding="utf-8", errors="surrogateescape")
    proc = exim(conf, "-bV")
    if proc.returncode != 0:
        return [f"exim -bV: {(proc.stdout + proc.stderr).strip()[-600:]}\n{conf.read_text()}"]
    return []


def run_apache(proxy: str) -> list[str]:
    from apachetools import MODULES, apache_binary, run
    binary = apache_binary()
    root = SANDBOX / "apache"
    (root / "logs").mkdir(parents=True, exist_ok=True)
    cert, key = _certificate()
    text = re.sub(r'^(\s*SSLCertificate(?:Key|Chain)?File) "[^"$\\]*"$',
                  lambda m: f'{m.group(1)} "{key if "Key" in m.group(1) else cert}"', proxy,
                  flags=re.M)
    (root / "proxy.conf").write_text(text, encoding="utf-8", errors="surrogateescape")
    modules = ["mpm_prefork", "authz_core", "proxy", "proxy_http", "ssl", "socache_shmcb"]
    loads = "".join(f"LoadModule {m}_module {MODULES / f'mod_{m}.so'}\n" for m in modules
                    if (MODULES / f"mod_{m}.so").exists())
    (root / "httpd.conf").write_text(
        f'ServerRoot "{root}"\n{loads}ErrorLog "{root}/logs/error.log"\n'
        f'PidFile "{root}/logs/httpd.pid"\nListen 80\nListen 443\n'
        f'Include "{root}/proxy.conf"\n')
    proc = run(binary, root / "httpd.conf")
    if proc.returncode != 0 or "Syntax OK" not in proc.stderr:
        return [f"apache2 -t: {proc.stderr.strip()}\n{text}"]
    return []


def run_tools(collected: Collected) -> list[str]:
    problems = []
    for text in collected.shell.values():
        problems += run_shell(text)
    for text in collected.python.values():
        problems += run_python(text)
    for texts in collected.smtpd.values():
        problems += run_smtpd(*texts)
    for router, freeze in collected.exim.values():
        problems += run_exim(router, freeze)
    for proxy in collected.apache.values():
        problems += run_apache(proxy)
    return problems


# --- the tests ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def inventories() -> dict[str, Inventory]:
    return {name: inspect_tree(LocalTree(REPO / "sample_configs" / name),
                               Origin("local", f"/samples/{name}"), now=NOW)
            for name in SAMPLES}


@pytest.fixture(autouse=True)
def _no_sentinel():
    SENTINEL.unlink(missing_ok=True)
    yield
    assert not SENTINEL.exists(), "a payload ran"


def _plan(inv: Inventory):
    return build_plan(inv, resolve_target(inv, {}, dict(FLAGS)))


class _LibYaml:
    """``yaml`` for migrate.app.planning with libyaml's dumper (the same document, several times
    faster): the sweep below plans about 1,400 times."""

    def __getattr__(self, name):
        return getattr(yaml, name)

    @staticmethod
    def safe_dump(data, **kwargs):
        return yaml.dump(data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), **kwargs)


def _blocker_names(plan, field: str) -> bool:
    return any(f.severity == Severity.BLOCKER and f.id == "plan.unsafe-value"
               and f.message.startswith(field) for f in plan.blockers())


@pytest.mark.parametrize("sample", SAMPLES)
def test_every_string_field_is_harmless_in_every_emitted_file(inventories, sample,
                                                              monkeypatch):
    """Each string field of the model (all its instances at once), with either payload: no
    emitted file runs or parses it as syntax; with control characters, a blocker names the
    field. Every real tool accepts every distinct file the payloads reached."""
    import migrate.app.planning as planning
    monkeypatch.setattr(planning, "yaml", _LibYaml())
    t0 = time.monotonic()
    inv = copy.deepcopy(inventories[sample])
    pristine = copy.deepcopy(inv)
    by_class: dict[str, list[Slot]] = {}
    for s in slots(inv):
        by_class.setdefault(s.cls, []).append(s)
    classes = sorted(by_class)
    assert len(classes) > 100
    collected = Collected()
    problems: list[str] = []
    for cls in classes:
        chosen = by_class[cls]
        for payload in (META, CTL):
            for s in chosen:  # in place, and back after (a copy per plan costs more)
                s.set(hostile(s.value, payload))
            try:
                plan = _plan(inv)
            except Exception as exc:  # noqa: BLE001  (an exception is exit 70)
                problems.append(f"{cls}: {type(exc).__name__}: {exc}")
                continue
            finally:
                for s in reversed(chosen):
                    s.set(s.value)
            problems += [f"{cls}: {p}" for p in check_plan(plan, collected, payload)]
            if payload is CTL and not _blocker_names(plan, chosen[0].named):
                problems.append(f"{cls}: no blocker names {chosen[0].path}")
    assert inv == pristine, "planning changed the inventory"
    problems += run_tools(collected)
    elapsed = time.monotonic() - t0
    print(f"{sample}: {len(classes)} fields x 2 payloads = {collected.plans} plans; "
          f"{len(collected.shell)} scripts, {len(collected.python)} Python files, "
          f"{len(collected.smtpd)} smtpd.conf, {len(collected.exim)} Exim, "
          f"{len(collected.apache)} Apache configs through the real tools; {elapsed:.1f} s")
    assert not problems, "\n\n".join(problems[:20])


_FRAGMENTS = ["\n", "\r", "\r\n", "\x00", "\x1b", "\x85", "\u2028", "\u202e", "\x0b", "\t",
              "'", '"', "`", "$(", ")", ";", "&", "|", "#", "%", "\\", "{", "}", "<", ">",
              " ", "${IFS}", f"echo injected >>{S}", f"`echo injected >>{S}`",
              f"$(echo injected >>{S})", f"__import__('os').system('echo injected >>{S}')"]


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(data=st.data())
def test_random_fields_with_random_payloads(inventories, data):
    """A few single fields (any instance) of one sample at once, each with a random mix of
    metacharacters and commands; every emitted file checked the same way."""
    sample = data.draw(st.sampled_from(SAMPLES))
    inv = copy.deepcopy(inventories[sample])
    every = slots(inv)
    chosen = data.draw(st.lists(st.sampled_from(range(len(every))), min_size=1, max_size=4,
                                unique=True))
    for i in chosen:
        payload = "".join(data.draw(st.lists(st.sampled_from(_FRAGMENTS), min_size=1,
                                             max_size=8)))
        payload += f"$(echo injected >>{S})"
        every[i].set(data.draw(st.sampled_from([hostile(every[i].value, payload), payload])))
    collected = Collected()
    plan = _plan(inv)
    problems = check_plan(plan, collected, "") + run_tools(collected)
    assert not problems, "\n\n".join(problems[:10])


# --- the guard's pieces ------------------------------------------------------------------------


def test_the_hostname_of_the_issue_is_a_blocker_and_no_command(inventories):
    """rc.conf's hostname="lists.example.org<newline>touch pwned #": the plan names the field,
    the file it came from and the emitted files, and rsync/presync.sh runs nothing."""
    inv = copy.deepcopy(inventories["netsight"])
    inv.host.hostname = f"lists.example.org\necho injected >>{S} #"
    plan = _plan(inv)
    blockers = [f for f in plan.blockers() if f.id == "plan.unsafe-value"]
    screened = [f for f in blockers if "holds a line break" in f.message]
    assert len(screened) == 1  # (and the DNS records leave the old name out: a second one)
    b = screened[0]
    assert b.message.startswith("host.hostname ") and b.source == Source("/etc/rc.conf", 3)
    assert "rsync/presync.sh" in b.message and "files/new/etc/mail/smtpd.conf" in b.message
    assert "lists.example.org\\necho injected" in plan.files["rsync/presync.sh"]
    assert run_shell(plan.files["rsync/presync.sh"]) == []
    assert "\necho injected" not in "".join(plan.files.values())


def test_screen_walks_every_string_and_copies_only_when_needed(inventories):
    inv = inventories["netsight"]
    same, taints = guard.screen(inv)
    assert same is inv and taints == []
    bad = copy.deepcopy(inv)
    bad.mailman.settings.other["X\nY"] = "'a\x1bb'"
    bad.housekeeping.cron_jobs[0].command += "\r\nrm -rf /"
    clean, taints = guard.screen(bad)
    assert clean is not bad and bad.housekeeping.cron_jobs[0].command.endswith("rm -rf /")
    assert {t.field for t in taints} == {
        "mailman.settings.other key 'X\\nY'", "mailman.settings.other['X\\nY']",
        "housekeeping.cron_jobs[0].command"}
    assert all(guard.is_clean(s.value) for s in slots(clean) if s.value)
    assert clean.housekeeping.cron_jobs[0].command.endswith("\\r\\nrm -rf /")


@pytest.mark.parametrize("text, out", [
    ("a\nb", "a\\nb"), ("tab\tkept", "tab\tkept"), ("ends in \\", "ends in \\x5c"),
    ("\u202eevil", "\\u202eevil"), ("caf\xe9", "caf\xe9"), ("\udcff", "\\udcff"),
])
def test_comment(text, out):
    assert guard.comment(text) == out


def test_context_functions_refuse_what_they_cannot_write():
    assert guard.sh_word("a b'c") == "'a b'\"'\"'c'"
    for bad in ("a\nb", "a\x00b"):
        with pytest.raises(guard.UnsafeValue):
            guard.sh_word(bad)
    assert guard.conf_str("/etc/ssl/a.pem") == '"/etc/ssl/a.pem"'
    for bad in ('a"b', "a\\", "${X}", "a\nb", "a\tb"):
        with pytest.raises(guard.UnsafeValue):
            guard.conf_str(bad)
    # Python literals that Mailman 2's Python 2.7 reads the same: ASCII source
    assert guard.py_str("caf\xe9") == "u'caf\\xe9'" and guard.py_str("a'b") == '"a\'b"'
    value = {"k": [1, ("x",), {"y\n"}], "n": None, "b": b"\x00"}
    assert ast.literal_eval(guard.py_literal(value)) == value
    assert guard.py_literal(()) == "()" and guard.py_literal(set()) == "set()"


def test_output_check_leaves_out_a_file_that_escaped_the_guard():
    files = {"rsync/presync.sh": "#!/bin/sh\necho \x1b[2J\n", "x.py": "a = (\n",
             "files/new/etc/mail/smtpd.conf": "# from \\\nlisten on ::1\n", "ok.txt": "fine\n"}
    kept, findings = guard.check_output(files)
    assert list(kept) == ["ok.txt"]
    assert [f.id for f in findings] == ["plan.unsafe-output"] * 3
    assert all(isinstance(f, Finding) and f.severity == Severity.BLOCKER for f in findings)


def test_an_emitter_that_raises_writes_nothing_and_is_a_blocker(inventories, monkeypatch):
    import migrate.app.planning as planning

    def broken(inv, target, release):
        guard.sh_word("x\ny")

    monkeypatch.setattr(planning, "EMITTERS", planning.EMITTERS + (planning.Emitter(broken),))
    plan = _plan(inventories["small"])
    assert any(f.id == "plan.unsafe-value" and f.message.startswith("broken:")
               for f in plan.blockers())


def test_every_unsafe_value_blocker_shows_its_value_one_way(inventories, monkeypatch):
    """``plan.unsafe-value`` has one builder (``guard.unsafe_value``): a list name an emitter
    leaves out, a field the screen tainted and a value an emitter could not write show the
    value the same way, in quotes as ``text.visible`` shows it (a backslash as it is, a line
    break as ``\\n``), not three ways (``repr`` doubled the backslash)."""
    import migrate.app.planning as planning
    from emitters.common import Emitter
    from migrate.core.text import visible
    inv = copy.deepcopy(inventories["small"])
    name, host, written = "bad\\list", "lists.example.org\\x\nnext", "x\\y\nz"
    inv.lists[0].name = name
    inv.host.hostname = host

    def broken(inv, target, release):
        raise guard.UnsafeValue("a test context", written)

    monkeypatch.setattr(planning, "EMITTERS", planning.EMITTERS + (Emitter(broken),))
    messages = [f.message for f in _plan(inv).blockers() if f.id == "plan.unsafe-value"]
    for value, start in ((name, "list name "), (host, "host.hostname "),
                         (written, "broken: the value ")):
        shown = [m for m in messages if m.startswith(start + f"'{visible(value)}' ")]
        assert shown, (start, messages)


def teardown_module():
    shutil.rmtree(SANDBOX, ignore_errors=True)


def test_the_checks_really_catch_an_injection():
    """The oracles above fail on a live payload (so a pass means something)."""
    assert run_shell(f"#!/bin/sh\n# from host\necho injected >>{S} #\n")
    SENTINEL.unlink()
    assert run_shell("#!/bin/sh\nif then\n")  # sh -n
    assert run_python(f"X = 1\n__import__('os').system('echo injected >>{S}')\n")
    SENTINEL.unlink()
    assert _python_is_data("m.py", "X = 1\nimport os\nY = f()\nadd_virtualhost(g())\n") == [
        "m.py:2: injected statement import os", "m.py:3: not a literal: Y = f()",
        "m.py:4: injected call add_virtualhost(g())"]

    class Fake:
        files = {"files/new/etc/httpd.conf": f"# ok {S}\nserver \"{S}\" {{\n}}\n"}
        steps: list = []
    assert check_plan(Fake, Collected(), META) == [
        f"files/new/etc/httpd.conf:2: live line 'server \"{S}\" {{'"]
    assert run_exim("r:\n  driver = manualroute\n  transport = t\n  route_data = <;::1\n"
                    "  x\n", "")
