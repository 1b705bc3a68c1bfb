"""FIFOs, devices and sockets in place of the files inspect reads never hang it nor feed it
without end: every file the tree opens (locally and through the SSH agent) is checked by its
own descriptor to be a regular file before a byte is read, and its size is bounded first.

The class: a FIFO, a character device (/dev/zero's and /dev/urandom's numbers: mknod needs
root) and a socket, each in place of rc.conf, the system aliases, Exim's configuration and an
.include file of it, Apache's httpd.conf, a crontab, newsyslog.conf, mm_cfg.py, /etc/passwd,
a list's config.pck and its request.pck; `inspect` runs in a child with a timeout, so a hang
fails the test instead of blocking it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import SAMPLES
from migrate.app import remote_agent
from parsers.base import TreeError
from migrate.app.sources import LocalTree

PATHS = [
    "/etc/rc.conf",
    "/etc/mail/aliases",
    "/etc/passwd",
    "/usr/local/etc/exim/configure",
    "/usr/local/etc/exim/acl.conf",
    "/usr/local/etc/apache24/httpd.conf",
    "/var/cron/tabs/mailman",
    "/etc/newsyslog.conf",
    "/usr/local/mailman/Mailman/mm_cfg.py",
    "/usr/local/mailman/lists/users/config.pck",
    "/usr/local/mailman/lists/users/request.pck",
]
KINDS = ["fifo", "zero", "urandom", "socket"]
WORDS = {"fifo": "a FIFO", "zero": "a character device", "urandom": "a character device",
         "socket": "a socket"}


def make_special(path: Path, kind: str) -> None:
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(path))
        s.close()
    else:
        if os.geteuid() != 0:
            pytest.skip("mknod of a device node needs root")
        minor = {"zero": 5, "urandom": 9}[kind]
        os.mknod(path, 0o644 | stat.S_IFCHR, os.makedev(1, minor))


@pytest.fixture
def netsight():
    base = Path(tempfile.mkdtemp(prefix="migrate-special-"))
    base.chmod(0o755)
    root = base / "netsight"
    shutil.copytree(SAMPLES / "netsight", root, symlinks=True)
    yield root
    shutil.rmtree(base, ignore_errors=True)


def inspect_child(*args: str) -> tuple[int, dict, str, float]:
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "migrate", "inspect", *args, "--json"],
                          capture_output=True, text=True, timeout=60)
    took = time.monotonic() - start
    data = json.loads(proc.stdout) if proc.stdout.strip() else {}
    return proc.returncode, data, proc.stderr, took


def _refused(data: dict, path: str, words: str) -> list[dict]:
    return [f for f in data.get("findings", [])
            if path in f["message"] and f"not a regular file ({words})" in f["message"]
            and f["severity"] in ("error", "blocker")]


@pytest.mark.slow  # a copy of a sample and a child inspect per case
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("path", PATHS)
def test_special_file_in_place_of_a_file_is_an_error_finding(netsight, path, kind):
    make_special(netsight / path.lstrip("/"), kind)
    code, data, stderr, took = inspect_child("--root", str(netsight))
    assert took < 30
    # an unusable input file is exit 3, with one line on stderr per such file
    assert code == 3, stderr
    assert f"{path}: " in stderr and f"not a regular file ({WORDS[kind]})" in stderr
    if not data:  # rc.conf: without it there is no host to inspect
        assert path == "/etc/rc.conf" and stderr.count("\n") == 1, stderr
        return
    hits = _refused(data, path, WORDS[kind])
    assert hits, [f["message"] for f in data["findings"] if f["severity"] != "info"]
    assert hits[0]["source"]["file"] == path and "never read" in hits[0]["hint"]


@pytest.mark.parametrize("kind", KINDS)
def test_the_local_tree_refuses_before_reading(tmp_path, kind):
    (tmp_path / "etc").mkdir()
    target = tmp_path / "etc/x"
    target.write_text("x")
    make_special(target, kind)
    tree = LocalTree(tmp_path)
    for call in (lambda: tree.read_bytes("/etc/x"), lambda: tree.read_bytes("/etc/x", 10),
                 lambda: tree.open("/etc/x")):
        with pytest.raises(TreeError, match=f"not a regular file \\({WORDS[kind]}\\)"):
            call()


def test_the_size_is_bounded_before_reading(tmp_path):
    """A sparse 1 TB file is refused from its size, not by reading it."""
    (tmp_path / "etc").mkdir()
    with open(tmp_path / "etc/huge", "wb") as fh:
        fh.truncate(1 << 40)
    start = time.monotonic()
    with pytest.raises(TreeError, match="larger than"):
        LocalTree(tmp_path).read_bytes("/etc/huge", limit=1024)
    assert time.monotonic() - start < 0.5


@pytest.mark.parametrize("kind", KINDS)
def test_the_agent_refuses_by_descriptor(tmp_path, kind):
    """The agent opens without blocking and checks what it opened (a FIFO swapped in after
    its lstat is refused, not read)."""
    target = tmp_path / "x"
    target.write_text("x")
    make_special(target, kind)
    with pytest.raises(remote_agent.NotRegular) as info:
        remote_agent.open_regular(bytes(target))
    assert f"not a regular file ({WORDS[kind]})" in str(info.value)
    (tmp_path / "link").symlink_to("x")
    with pytest.raises((OSError, remote_agent.NotRegular)):
        remote_agent.open_regular(bytes(tmp_path / "link"))  # a last link is never followed


@pytest.fixture(scope="module")
def sshd():
    from sshtools import sshd_running
    with sshd_running() as server:
        yield server


@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_over_ssh_the_same_findings(sshd, netsight, kind):
    for path in ("/etc/mail/aliases", "/usr/local/mailman/lists/users/config.pck",
                 "/usr/local/etc/exim/configure"):
        make_special(netsight / path.lstrip("/"), kind)
    code, remote, stderr, took = inspect_child(
        "--host", "root@127.0.0.1", "--port", str(sshd.port), "--identity", str(sshd.key),
        "--known-hosts", str(sshd.known_hosts), "--root", str(netsight))
    assert code == 3, stderr
    lcode, local, lstderr, _ = inspect_child("--root", str(netsight))
    assert lcode == 3, lstderr
    for path in ("/etc/mail/aliases", "/usr/local/mailman/lists/users/config.pck",
                 "/usr/local/etc/exim/configure"):
        assert _refused(remote, path, WORDS[kind]), path
    assert sorted(f["message"] for f in remote["findings"]) == sorted(
        f["message"] for f in local["findings"])


@pytest.mark.slow  # a copy of a sample and a child inspect per case
@pytest.mark.parametrize("kind", KINDS)
def test_special_file_inside_a_list_folder_is_an_error_finding(netsight, kind):
    """A FIFO, device or socket among a list's files (or as one of its held posts) is never
    passed over: rsync would copy it as such or fail, and the manifest could not check it.
    Each is an error naming the path; the list's other files are still inventoried."""
    lists = netsight / "usr/local/mailman/lists/users"
    stray = lists / "stray"
    stray.write_text("x")
    make_special(stray, kind)
    held = netsight / "usr/local/mailman/data/heldmsg-users-17.pck"
    make_special(held, kind)
    code, data, stderr, took = inspect_child("--root", str(netsight))
    assert took < 30 and data, stderr
    assert code in (1, 3), stderr  # error findings stand
    hits = {f["source"]["file"]: f for f in data["findings"] if f["id"] == "mailman.special-file"}
    for path in ("/usr/local/mailman/lists/users/stray",
                 "/usr/local/mailman/data/heldmsg-users-17.pck"):
        f = hits.get(path)
        assert f, [x["message"] for x in data["findings"] if x["severity"] != "info"]
        assert f["severity"] == "error" and path in f["message"] and "\n" not in f["message"]
        assert "not a regular file" in f["message"] and "remove it" in f["hint"].lower()
    users = next(ml for ml in data["lists"] if ml["name"] == "users")
    files = [f["path"] for f in users["files"] + users["held_files"]]
    assert "/usr/local/mailman/lists/users/stray" not in files
    assert "/usr/local/mailman/lists/users/config.pck" in files
