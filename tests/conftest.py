"""Shared test helpers: build small host trees on disk, run the CLI in-process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_configs"
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"


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
        from migrate.sources import LocalTree

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
