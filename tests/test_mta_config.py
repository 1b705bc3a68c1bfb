"""An Exim configuration that cannot be read on a host whose rc.conf enables Exim is an error
finding naming the path, never a silent "MTA unknown": missing, a dangling link, a link loop,
a FIFO, a device, a folder in its place."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from conftest import SAMPLES
from migrate.app.inspection import exit_code_for, inspect_tree
from migrate.core.model import Origin
from migrate.app.sources import LocalTree

CONFIGURE = "/usr/local/etc/exim/configure"


def _damage(root: Path, how: str) -> None:
    path = root / CONFIGURE.lstrip("/")
    path.unlink()
    if how == "missing":
        return
    if how == "dangling-link":
        path.symlink_to("/usr/local/etc/exim/configure.gone")
    elif how == "link-loop":
        path.symlink_to("configure.b")
        (path.parent / "configure.b").symlink_to("configure")
    elif how == "fifo":
        os.mkfifo(path)
    elif how == "device":
        if os.geteuid() != 0:
            pytest.skip("mknod of a device node needs root")
        os.mknod(path, 0o644 | stat.S_IFCHR, os.makedev(1, 5))
    elif how == "folder":
        path.mkdir()


@pytest.fixture
def small(tmp_path):
    root = tmp_path / "small"
    shutil.copytree(SAMPLES / "small", root, symlinks=True)
    return root


def _inspect(root: Path):
    inv = inspect_tree(LocalTree(root), Origin("local", str(root)))
    return inv, [f for f in inv.findings if f.severity.rank >= 2]


@pytest.mark.parametrize("how", ["missing", "dangling-link", "link-loop", "fifo", "device",
                                 "folder"])
def test_unreadable_exim_configuration_is_an_error_with_the_path(small, how):
    _damage(small, how)
    inv, errors = _inspect(small)
    mta = [f for f in errors if f.id.startswith("mta.config-")]
    assert len(mta) == 1, [f.message for f in errors]
    f = mta[0]
    assert CONFIGURE in f.message and "Exim" in f.message and f.hint
    if how in ("missing", "folder"):
        assert f.id == "mta.config-missing" and f.source.file == "/etc/rc.conf"
        assert f.source.line  # the exim_enable line
    else:
        assert f.id == "mta.config-unreadable" and f.source.file == CONFIGURE
        # a file that is there but unusable is unusable input (3); a dangling link, a
        # missing file (1)
        assert int(exit_code_for(inv)) == (1 if how == "dangling-link" else 3)


def test_exim_not_enabled_and_no_configuration_is_quiet(small):
    rc = small / "etc/rc.conf"
    rc.write_text(rc.read_text().replace('exim_enable="YES"', 'exim_enable="NO"'))
    _damage(small, "missing")
    _, errors = _inspect(small)
    assert not [f for f in errors if f.id.startswith("mta.config-")]
