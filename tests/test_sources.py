"""LocalTree: host paths, symlinks resolved as on the host, never leaving the root."""

from __future__ import annotations

import os

import pytest

from parsers.base import NotFound, TreeError
from migrate.app.sources import LocalTree


def test_relative_and_absolute_links_stay_inside(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("not yours\n")
    root = tmp_path / "root"
    (root / "etc/mail").mkdir(parents=True)
    (root / "etc/mail/aliases").write_text("root: a\n")
    (root / "usr/local/mailman/archives/private/x").mkdir(parents=True)
    (root / "usr/local/mailman/archives/public").mkdir(parents=True)
    os.symlink("mail/aliases", root / "etc/aliases")
    os.symlink("/usr/local/mailman/archives/private/x", root / "usr/local/mailman/archives/public/x")
    os.symlink(str(outside / "secret"), root / "etc/escape")
    os.symlink("../../../../../outside/secret", root / "etc/dotdot")
    tree = LocalTree(root)
    assert tree.resolve("/etc/aliases") == "/etc/mail/aliases"
    assert tree.read_bytes("/etc/aliases") == b"root: a\n"
    assert tree.resolve("/usr/local/mailman/archives/public/x") == "/usr/local/mailman/archives/private/x"
    assert tree.is_dir("/usr/local/mailman/archives/public/x")
    assert tree.readlink("/usr/local/mailman/archives/public/x") == "/usr/local/mailman/archives/private/x"
    assert tree.readlink("/etc/mail/aliases") is None
    # An absolute link to a path of this machine means that path on the old host: not there.
    with pytest.raises(NotFound):
        tree.read_bytes("/etc/escape")
    with pytest.raises(NotFound):
        tree.read_bytes("/etc/dotdot")
    assert tree.stat("/etc/aliases", follow=False).kind == "link"
    assert tree.stat("/etc/aliases").kind == "file"


def test_link_loop_and_errors(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.symlink("b", root / "etc/a")
    os.symlink("a", root / "etc/b")
    tree = LocalTree(root)
    with pytest.raises(TreeError, match="symbolic links"):
        tree.resolve("/etc/a")
    assert not tree.exists("/etc/a")
    with pytest.raises(TreeError, match="directory"):
        tree.read_bytes("/etc")
    with pytest.raises(NotFound):
        tree.list_dir("/nope")
    (root / "etc/big").write_bytes(b"x" * 2048)
    with pytest.raises(TreeError, match="larger"):
        tree.read_bytes("/etc/big", limit=1024)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads mode-000 files; needs a normal user")
def test_unreadable_file(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/x").write_text("x")
    os.chmod(root / "etc/x", 0)
    with pytest.raises(TreeError, match="permission denied"):
        LocalTree(root).read_bytes("/etc/x")
