"""Shared test helpers: build small host trees on disk, run the CLI in-process; the markers
that keep the real tools and the end-to-end runs out of the fast lane (``make test-fast``)."""

from __future__ import annotations

import ast
import contextlib
import fcntl
import functools
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_configs"
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"
TESTS = Path(__file__).resolve().parent
#: The sample hosts (sample_configs/README.md): every folder of sample_configs/, sorted. A test
#: that runs on every sample takes this; one that must leave a sample out says why.
SAMPLE_HOSTS = tuple(sorted(p.name for p in SAMPLES.iterdir() if p.is_dir()))


def _installed_from() -> Path | None:
    """The checkout the venv's ``migrate`` is installed from in editable mode (pip's
    direct_url.json), or None (not installed, or installed as a copy)."""
    import importlib.metadata
    try:
        info = json.loads(importlib.metadata.distribution("migrate")
                          .read_text("direct_url.json") or "{}")
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return None
    url = urlsplit(info.get("url", ""))
    if url.scheme != "file" or not info.get("dir_info", {}).get("editable"):
        return None
    return Path(unquote(url.path)).resolve()


def _own_packages() -> str:
    """A temp folder holding this checkout's top-level packages (links to them) and nothing
    else: what the tests' subprocesses get on PYTHONPATH. Not REPO itself: a pip build leaves
    migrate.egg-info there, and a Python of another venv on REPO (Mailman 3's) would count
    migrate among its installed packages. Made by the first test process and removed when it
    exits; a pytest-xdist worker inherits it."""
    import atexit
    import shutil
    import tomllib

    if os.environ.get("MIGRATE_TESTS_PACKAGES"):
        return os.environ["MIGRATE_TESTS_PACKAGES"]
    setup = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    folder = Path(tempfile.mkdtemp(prefix="migrate-tests-packages-"))
    folder.chmod(0o755)  # read by the tests' other users (a CGI as www, Mailman as mailman)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    for name in sorted({p.split(".")[0] for p in setup["tool"]["setuptools"]["packages"]}):
        (folder / name).symlink_to(REPO / name)
    os.environ["MIGRATE_TESTS_PACKAGES"] = str(folder)
    return str(folder)


# The tests test this checkout, in this process and in every Python it starts: where the venv
# has another one installed (a git worktree run with the main tree's venv) or a copy, this
# checkout comes first on sys.path, and its packages on PYTHONPATH (a subprocess started
# elsewhere than REPO, or a console script, would import the installed ones); never a mix.
if _installed_from() != REPO:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    _packages = _own_packages()
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [_packages, *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                      if p and p != _packages)])
import migrate as _migrate  # noqa: E402

if Path(_migrate.__file__).resolve().parents[1] != REPO:
    raise ImportError(f"the tests of {REPO} import migrate from {_migrate.__file__}: run "
                      "them from the checkout (python -m pytest) or with PYTHONPATH set to it")


# pytest imports readline at its start, and GNU readline writes the terminal's size (LINES and
# COLUMNS; 24 and 80 when there is no terminal) into the process's C environment, behind
# os.environ's back: the run in one process never sees them in os.environ (its subprocesses
# get them). A pytest-xdist worker, started by that process, inherits them as variables of its
# own os.environ: the CLI's tables would be 80 columns wide there and 120 in a run in one
# process (migrate/app/ui.py). So the first process says which of the two its os.environ held,
# and a worker takes the others out of its os.environ, and only of it (os.putenv: its
# subprocesses still get them, as the first process's do).
_TERMINAL_SIZE = ("COLUMNS", "LINES")
if "PYTEST_XDIST_WORKER" not in os.environ:
    os.environ["MIGRATE_TESTS_TERMINAL_SIZE"] = ",".join(
        name for name in _TERMINAL_SIZE if name in os.environ)
else:
    _had = os.environ.get("MIGRATE_TESTS_TERMINAL_SIZE", ",".join(_TERMINAL_SIZE)).split(",")
    for _name in set(_TERMINAL_SIZE) - set(_had):
        if _name in os.environ:
            os.putenv(_name, os.environ.pop(_name))


@contextlib.contextmanager
def machine_lock(name: str):
    """An exclusive lock that every test process on this machine shares (pytest-xdist's
    workers, a run in another checkout), held for the ``with`` block: around what the tests
    change outside their own temp folders (the users in /etc/passwd) and around a build into
    a shared folder. A lock file in /run/lock (or the temp folder), never removed."""
    folder = Path("/run/lock")
    if not os.access(folder, os.W_OK):
        folder = Path(tempfile.gettempdir())
    with open(folder / f"migrate-tests-{name}.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_user(name: str, *useradd: str) -> bool:
    """Make the user ``name`` with ``useradd USERADD... NAME`` unless it exists; True if it was
    made. Under ``machine_lock("users")``: two test processes (pytest-xdist's workers) that
    both miss the same user would both run useradd, and the second one fails (it exists)."""
    import subprocess
    with machine_lock("users"):
        if subprocess.run(["id", name], capture_output=True).returncode == 0:
            return False
        subprocess.run(["useradd", *useradd, name], check=True, capture_output=True)
        return True


@functools.cache
def golden_tool():
    """tools/update_golden.py as a module: the sample hosts' target flags (``HOSTS``), the
    releases of the golden plans and the fixed inspection time."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("update_golden",
                                                  REPO / "tools/update_golden.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_tree(root: Path, files: dict[str, str | bytes], links: dict[str, str] | None = None) -> Path:
    """Write a host tree: ``files`` maps host paths to content, ``links`` to symlink targets."""
    for host_path, content in files.items():
        path = root / host_path.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    for host_path, target in (links or {}).items():
        path = root / host_path.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, path)
    return root


class CountingTree:
    """A ``LocalTree`` that counts the files it reads, and stops a runaway reader: past
    ``stop`` reads it raises, so a test of a bound fails at once instead of running for ever."""

    def __init__(self, root: Path, stop: int) -> None:
        from migrate.app.sources import LocalTree

        self.tree = LocalTree(root)
        self.stop = stop
        self.reads = 0

    def __getattr__(self, name: str):
        return getattr(self.tree, name)

    def read_bytes(self, path: str, limit: int | None = None) -> bytes:
        self.reads += 1
        if self.reads > self.stop:
            raise AssertionError(f"more than {self.stop} reads: the reader is not bounded")
        return self.tree.read_bytes(path, limit)


@pytest.fixture
def tree_factory(tmp_path: Path):
    def factory(files: dict[str, str | bytes], links: dict[str, str] | None = None,
                name: str = "host") -> Path:
        root = tmp_path / name
        root.mkdir(exist_ok=True)
        return make_tree(root, files, links)

    return factory


def shared_fixture(*parts: str) -> Path:
    """A file under ../shared/fixtures, or skip the test saying why."""
    path = SHARED_FIXTURES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared fixture {path} is absent (../shared/fixtures is not beside the checkout)")
    return path


def need(condition: bool, reason: str) -> None:
    """Skip when a real tool is missing; under CI (MIGRATE_REQUIRE_TOOLS=1) fail instead, so a
    broken install never turns the real-tool tests into silent skips."""
    if condition:
        return
    if os.environ.get("MIGRATE_REQUIRE_TOOLS") == "1":
        pytest.fail(f"required tool missing in CI: {reason}")
    pytest.skip(reason)


class WaitTimeout(AssertionError):
    """What ``wait_until`` raises when the condition never held: a test failure that says what
    did not happen."""


def wait_until(predicate, timeout: float, what: str, *, every: float = 0.05,
               diagnose=None):
    """Wait for a condition, never for a guessed time: call ``predicate()`` until it returns a
    true value (which is returned), checking every ``every`` seconds; after ``timeout`` seconds
    fail with ``WaitTimeout`` naming ``what`` was awaited (plus ``diagnose()``: the logs that
    say why). A predicate that knows the wait is hopeless (the daemon exited) raises.
    The shell stand-ins use its twin, ``WAIT_UNTIL_SH``."""
    end = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() > end:
            detail = diagnose() if diagnose is not None else ""
            raise WaitTimeout(f"timed out after {timeout:g} s waiting for {what}"
                              + (f"\n{detail}" if detail else ""))
        time.sleep(every)


#: ``wait_until SECONDS WHAT COMMAND [ARG...]``: ``wait_until`` for the shell scripts the tests
#: run in their hosts (the stand-ins for rcctl and service): runs COMMAND until it exits 0;
#: exit 1 means "not yet", any other status fails at once; after SECONDS it says on stderr
#: what it waited for and returns 1. ``gone PID``: the process has exited.
WAIT_UNTIL_SH = r"""
wait_until() {
	_wu_end=$(($(date +%s) + $1 + 1)); _wu_what=$2; shift 2  # whole seconds: at least $1
	while :; do
		_wu_rc=0; "$@" || _wu_rc=$?  # (so under set -e too)
		[ $_wu_rc = 0 ] && return 0
		if [ $_wu_rc != 1 ] || [ "$(date +%s)" -ge $_wu_end ]; then
			echo "gave up waiting for $_wu_what" >&2
			return 1
		fi
		sleep 0.05
	done
}
gone() { ! kill -0 "$1" 2>/dev/null; }
"""


def exim_binary() -> str:
    import shutil

    path = shutil.which("exim4") or shutil.which("exim")
    need(path is not None, "exim4 is not installed (tools/install-test-deps.sh installs it)")
    need(os.geteuid() == 0, "exim -C with a test config runs only as root")
    return path  # type: ignore[return-value]


def smtpd_binary() -> str:
    path = os.environ.get("MIGRATE_SMTPD") or str(REPO / ".cache/opensmtpd/usr/sbin/smtpd")
    need(os.access(path, os.X_OK),
         f"OpenSMTPD's smtpd is not unpacked at {path} (tools/install-test-deps.sh does it)")
    return path


def python27() -> str | None:
    """The Python 2.7 of the old hosts' Mailman (pyenv's 2.7.18 on this image; ``$PYTHON2``
    wins), or None. The one place the tests look for it."""
    import shutil
    import subprocess
    candidates = [os.environ.get("PYTHON2", "")]
    pyenv = shutil.which("pyenv") or os.path.expanduser("~/.pyenv/bin/pyenv")
    try:
        prefix = subprocess.run([pyenv, "prefix", "2.7.18"], capture_output=True, text=True,
                                timeout=30).stdout.strip()
        if prefix:
            candidates.append(prefix.splitlines()[0] + "/bin/python2.7")
    except (OSError, subprocess.SubprocessError):
        pass
    root = Path(os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv")))
    candidates += [str(p) for p in sorted(root.glob("versions/2.7*/bin/python2.7"))]
    candidates.append(shutil.which("python2.7") or "")
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    return None


# --- markers: what a test reaches, found by reading it --------------------------------------------

#: The gates of the real tools: ``need`` skips (or, under MIGRATE_REQUIRE_TOOLS=1, fails) when
#: a tool, or root, is missing; ``shutil.which`` looks a program up. A test that reaches either
#: is marked ``realtool``.
REAL_TOOL_GATES = frozenset({"need", "shutil.which"})
#: The modules being read now: an import cycle between test modules stops there.
_READING: set[str] = set()


def _referenced(node: ast.AST) -> set[str]:
    """The names a definition's body uses: ``x`` and, for ``module.x``, ``module.x`` too
    (decorators left out: a ``skipif`` that reads the uid runs nothing)."""
    parts = node.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                             ast.ClassDef)) else [node]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        parts = [*node.args.defaults, *node.args.kw_defaults, *parts]
    out: set[str] = set()
    for part in parts:
        for sub in ast.walk(part) if part is not None else ():
            if isinstance(sub, ast.Name):
                out.add(sub.id)
            elif isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name):
                out.add(f"{sub.value.id}.{sub.attr}")
    return out


@functools.cache
def reaching_real_tools(module: str) -> frozenset[str]:
    """The top-level functions, classes and aliases of the module ``tests/<module>.py`` that
    reach a gate: directly, through each other, or through what they import from another
    module of tests/ (the tools modules: ``from sshtools import sshd_running``, ``import
    test_cutover_e2e as e2e`` then ``e2e.world``). Computed once per module, at collection."""
    path = TESTS / f"{module}.py"
    if not path.is_file():
        return frozenset()
    _READING.add(module)
    imported: dict[str, tuple[str, str | None]] = {}
    uses: dict[str, set[str]] = {}
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):  # imports inside a function count for the whole module
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            imported.update({a.asname or a.name: (node.module, a.name) for a in node.names})
        elif isinstance(node, ast.Import):
            imported.update({a.asname or a.name: (a.name, None) for a in node.names})
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            uses[node.name] = _referenced(node)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    uses[target.id] = _referenced(node.value)

    def foreign(name: str) -> bool:
        head, _, attr = name.partition(".")
        if head not in imported:
            return False
        other, member = imported[head]
        member = member if not attr else attr if member is None else None
        if member is None or other in _READING:
            return False
        return member in reaching_real_tools(other)

    real = set(REAL_TOOL_GATES & set(uses))
    grew = True
    while grew:
        grew = False
        for name, names in uses.items():
            if name not in real and (names & (REAL_TOOL_GATES | real)
                                     or any(foreign(n) for n in names)):
                real.add(name)
                grew = True
    _READING.discard(module)
    return frozenset(real)


def _reaches_real_tools(module: str, qualname: str) -> bool:
    return qualname.split(".")[0] in reaching_real_tools(module.rpartition(".")[2])


def _end_to_end(path: str | Path) -> bool:
    """Whether the test file at ``path`` is an end-to-end one: ``test_*_e2e.py`` or
    ``test_*_e2e_*.py`` (``test_cutover_e2e_mm3.py``)."""
    return re.fullmatch(r"test_\w+_e2e(_\w+)?\.py", Path(path).name) is not None


def pytest_collection_modifyitems(config, items):
    """Mark each test by what it reaches, so that new tests get their marks without anyone
    remembering them: ``realtool`` when the test or one of its fixtures reaches a gate
    (``need``: a real tool, or root; ``shutil.which``), ``e2e`` (and ``realtool``) for the end-to-end files
    (``_end_to_end``). ``slow`` is written on the tests themselves (a duration is not read).
    An ``e2e`` mark elsewhere is refused: pytest-xdist's scheduler knows an end-to-end test by
    its file's name alone (``pytest_xdist_make_scheduler``)."""
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        name = item.cls.__name__ if item.cls is not None else item.originalname
        fixtures = item._fixtureinfo.name2fixturedefs.values()
        if _reaches_real_tools(item.path.stem, name) or any(
                _reaches_real_tools(d.func.__module__, d.func.__qualname__)
                for chain in fixtures for d in chain):
            item.add_marker("realtool")
        if _end_to_end(item.path):
            item.add_marker("e2e")
            item.add_marker("realtool")
        elif item.get_closest_marker("e2e") is not None:
            raise pytest.UsageError(f"{item.nodeid} is marked e2e in a file not named as an "
                                    "end-to-end one (test_*_e2e.py, test_*_e2e_*.py): name it so")


# --- pytest-xdist: the end-to-end tests on one worker ---------------------------------------------

#: The work unit of every end-to-end test under ``--dist loadgroup`` (``make test``: ``-n 2``):
#: one worker runs them one after the other, while the other worker runs everything else, test
#: by test. Each of them waits on a dozen daemons in namespaces of its own, idle most of the
#: time; two at once on two cores, beside the CPU-bound tests, would stretch the waits they
#: time (their names and addresses would not meet: tests/e2etools.py names the namespaces by
#: process). The largest unit goes first: the end-to-end tests start at once.
E2E_GROUP = "e2e"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup`` with the end-to-end tests in ``E2E_GROUP``, known by their file's
    name (``_end_to_end``, the rule that marks them e2e). A mark would do it (``xdist_group``),
    but pytest-xdist 3.8 passes the group to the scheduler in the test's node id, which pytest
    9.2 no longer lets it change (pytest-xdist#1386: the mark is silently ignored).
    ``xdist_group`` marks still count where they work."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class EndToEndGroup(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if _end_to_end(nodeid.split("::", 1)[0]):
                return E2E_GROUP
            return super()._split_scope(nodeid)

    return EndToEndGroup(config, log)
