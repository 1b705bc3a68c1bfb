"""`migrate inspect --host` against OpenSSH's real sshd on loopback (tests/sshtools.py): the same
inventory as `--root` on the same tree, host keys verified (unknown and changed keys refused, a
pinned fingerprint accepted), authentication and connection errors with their exit codes, files
the SSH user cannot read as findings (and readable with --sudo), hostile file names read as
names, and the number of commands the inspection needs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

import migrate.app.cli as cli
from conftest import SAMPLE_HOSTS, SAMPLES, need
from sshtools import Sshd, ensure_test_user, keygen, sshd_running

RUNNER = CliRunner()


@pytest.fixture(scope="module")
def sshd():
    with sshd_running() as server:
        yield server


@pytest.fixture
def host_tree():
    """A copy of a sample host under a prefix every user can traverse (the SSH user may not
    be root)."""
    base = Path(tempfile.mkdtemp(prefix="migrate-remote-"))
    base.chmod(0o755)

    def make(sample: str) -> Path:
        root = base / sample
        shutil.copytree(SAMPLES / sample, root, symlinks=True)
        return root

    yield make
    shutil.rmtree(base, ignore_errors=True)


def remote(sshd: Sshd, root: Path, *extra: str, user: str = "root",
           known_hosts: bool = True) -> object:
    args = ["inspect", "--host", f"{user}@127.0.0.1", "--port", str(sshd.port), "--identity",
            str(sshd.key), "--root", str(root), "--json"]
    if known_hosts:
        args += ["--known-hosts", str(sshd.known_hosts)]
    return RUNNER.invoke(cli.app, args + list(extra))


def local(root: Path) -> dict:
    res = RUNNER.invoke(cli.app, ["inspect", "--root", str(root), "--json"])
    return json.loads(res.stdout)


def _same(a: dict, b: dict) -> None:
    for key in ("source", "collected_at"):
        a.pop(key), b.pop(key)
    assert a == b


@pytest.mark.parametrize("sample", SAMPLE_HOSTS)
def test_remote_inventory_equals_local(sshd, host_tree, sample):
    root = host_tree(sample)
    res = remote(sshd, root)
    expected = local(root)
    assert res.exit_code == {"netsight": 1, "small": 0}.get(sample, res.exit_code), res.output
    data = json.loads(res.stdout)
    assert data["source"] == {"kind": "ssh", "root": str(root), "host": "127.0.0.1",
                              "user": "root", "port": sshd.port}
    _same(data, expected)


def test_unknown_host_key_is_refused_with_its_fingerprint(sshd, host_tree, tmp_path):
    root = host_tree("small")
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    res = RUNNER.invoke(cli.app, ["inspect", "--host", "root@127.0.0.1", "--port",
                                  str(sshd.port), "--identity", str(sshd.key), "--known-hosts",
                                  str(empty), "--root", str(root), "--json"])
    assert res.exit_code == 6
    assert sshd.fingerprint in res.stderr and f"--accept-host-key {sshd.fingerprint}" in \
        res.stderr
    assert "Traceback" not in res.output
    assert empty.read_text() == ""  # never added


def test_pinned_fingerprint_is_accepted_and_another_refused(sshd, host_tree):
    root = host_tree("small")
    res = remote(sshd, root, "--accept-host-key", sshd.fingerprint, known_hosts=False)
    assert res.exit_code == 0, res.output
    wrong = "SHA256:" + "A" * 43
    res = remote(sshd, root, "--accept-host-key", wrong, known_hosts=False)
    assert res.exit_code == 6 and wrong in res.stderr and sshd.fingerprint in res.stderr


def test_changed_host_key_is_refused(sshd, host_tree, tmp_path):
    root = host_tree("small")
    other = tmp_path / "other_key"
    keygen(other)
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} " + Path(f"{other}.pub").read_text())
    res = RUNNER.invoke(cli.app, ["inspect", "--host", "root@127.0.0.1", "--port",
                                  str(sshd.port), "--identity", str(sshd.key), "--known-hosts",
                                  str(known), "--root", str(root)])
    assert res.exit_code == 6
    assert "CHANGED" in res.stderr and sshd.fingerprint in res.stderr


def test_wrong_key_file_is_an_authentication_error(sshd, host_tree, tmp_path):
    root = host_tree("small")
    stranger = tmp_path / "stranger"
    keygen(stranger)
    res = RUNNER.invoke(cli.app, ["inspect", "--host", "root@127.0.0.1", "--port",
                                  str(sshd.port), "--identity", str(stranger), "--known-hosts",
                                  str(sshd.known_hosts), "--root", str(root)])
    assert res.exit_code == 5 and "authentication" in res.stderr
    missing = RUNNER.invoke(cli.app, ["inspect", "--host", "root@127.0.0.1", "--identity",
                                      str(tmp_path / "nope"), "--root", str(root)])
    assert missing.exit_code == 2 and "key file" in missing.stderr


def test_connection_refused_and_not_a_host(sshd, host_tree, tmp_path):
    import socket
    with socket.socket() as s:
        # bound and never listening: a connection is refused, and no other process (another
        # test's sshd) can take the port while it is asked
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
        res = RUNNER.invoke(cli.app, ["inspect", "--host", "root@127.0.0.1", "--port",
                                      str(closed), "--identity", str(sshd.key), "--root", "/"])
    assert res.exit_code == 4 and "refused" in res.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    empty.chmod(0o755)
    res = remote(sshd, empty)
    assert res.exit_code == 3 and "does not look like a host" in res.stderr


def test_unreadable_file_is_a_finding_and_sudo_reads_it(sshd, host_tree):
    user = ensure_test_user()
    root = host_tree("netsight")
    locked = root / "usr/local/mailman/lists/users/config.pck"
    locked.chmod(0o600)  # root's, as on a host where mailman's files are group-only
    res = remote(sshd, root, user=user)
    data = json.loads(res.stdout)
    hits = [f for f in data["findings"] if f["id"] == "input.unreadable"
            and "lists/users/config.pck" in (f["source"] or {}).get("file", "")]
    assert hits and "needs root" in hits[0]["message"] + hits[0]["hint"], data["findings"][:3]
    assert {ml["name"] for ml in data["lists"]} >= {"announce", "devtalk", "mailman"}
    need(shutil.which("sudo") is not None, "sudo is not installed (tools/install-test-deps.sh)")
    sshd.allow_sudo(user)
    res = remote(sshd, root, "--sudo", user=user)
    data = json.loads(res.stdout)
    assert not [f for f in data["findings"] if f["id"] == "input.unreadable"], res.stderr
    assert "users" in {ml["name"] for ml in data["lists"]}


def test_sudo_refused_is_one_clear_line(sshd, host_tree):
    user = ensure_test_user()
    need(shutil.which("sudo") is not None, "sudo is not installed (tools/install-test-deps.sh)")
    rule = sshd.tmp / "sudoers.d" / "migrate-test"
    if rule.exists():
        rule.unlink()
    res = remote(sshd, host_tree("small"), "--sudo", user=user)
    assert res.exit_code == 5 and "sudo" in res.stderr and "Traceback" not in res.output


def test_hostile_file_names_are_read_as_names(sshd, host_tree, tmp_path):
    root = host_tree("netsight")
    # run as shell code, these would create pwned-migrate in the SSH user's home (/root)
    sentinel = Path("/root/pwned-migrate")
    exim = root / "usr/local/etc/exim"
    hostile = ["$(touch pwned-migrate)", "`touch pwned-migrate`", "a b'c\"d", "new\nline",
               "semi;colon", "-rf"]
    for name in hostile:
        (exim / name).write_text("# not included\n")
    (exim / "caf\xe9.conf").write_bytes(b"# latin-1 name\n")
    lists = root / "usr/local/mailman/lists"
    shutil.copytree(lists / "mailman", lists / "x$(id)")
    res = remote(sshd, root)
    assert not sentinel.exists()
    data = json.loads(res.stdout)
    expected = local(root)
    _same(data, expected)
    assert "x$(id)" in {ml["name"] for ml in data["lists"]}


def test_round_trips_are_few(sshd, host_tree):
    from migrate.app import remote as remote_mod
    from migrate.app.inspection import inspect_tree, remote_mbox_dirs, remote_spec
    from migrate.core.model import Origin
    root = host_tree("netsight")
    client = remote_mod.connect("root@127.0.0.1", port=sshd.port, identity=str(sshd.key),
                                known_hosts=str(sshd.known_hosts))
    tree = remote_mod.RemoteTree(client, root=str(root))
    try:
        tree.snapshot(remote_spec(), mbox_dirs=remote_mbox_dirs())
        inv = inspect_tree(tree, Origin("ssh", str(root)))
    finally:
        tree.close()
    assert len(inv.archives) == 4
    # one command: the snapshot, then every mbox streamed; the sample's includes all lie
    # inside the snapshot
    assert tree.stats.commands == 1, tree.stats


def test_ssh_config_host_entry_is_honoured(sshd, host_tree, tmp_path):
    """Host/HostName/Port/User/IdentityFile from ~/.ssh/config, and ~/.ssh/known_hosts."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh/config").write_text(
        f"Host oldlists\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User root\n"
        f"  IdentityFile {sshd.key}\n")
    shutil.copy(sshd.known_hosts, home / ".ssh/known_hosts")
    root = host_tree("small")
    res = RUNNER.invoke(cli.app, ["inspect", "--host", "oldlists", "--root", str(root),
                                  "--json"], env={"HOME": str(home), "SSH_AUTH_SOCK": ""})
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["source"]["port"] == sshd.port and data["source"]["user"] == "root"


@pytest.mark.parametrize("spec, port, want", [
    ("root@[2001:db8::25]:2222", None, ("root", "2001:db8::25", 2222)),
    ("root@[2001:db8::25]", None, ("root", "2001:db8::25", 22)),
    ("root@2001:db8::25", None, ("root", "2001:db8::25", 22)),  # unbracketed: no port in it
    ("admin@lists.example.org:2200", None, ("admin", "lists.example.org", 2200)),
    ("admin@lists.example.org", 2201, ("admin", "lists.example.org", 2201)),
    ("192.0.2.7:2202", None, ("", "192.0.2.7", 2202)),
])
def test_host_specs_as_ssh_and_scp_spell_them(tmp_path, spec, port, want):
    from migrate.app.remote import ssh_target
    t = ssh_target(spec, port, None, str(tmp_path / "no-config"))
    assert (t.user or "", t.host, t.port) == want


def test_a_port_in_the_spec_and_another_in_the_flag_is_a_usage_error(tmp_path):
    from migrate.core.errors import MigrateError
    from migrate.app.remote import ssh_target
    with pytest.raises(MigrateError) as err:
        ssh_target("root@h:2222", 22, None, str(tmp_path / "no-config"))
    assert "2222" in str(err.value) and "--port" in str(err.value)


def test_a_port_that_never_greets_times_out(tmp_path):
    import socket
    import threading
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    # (the accepted socket stays open and silent until the test ends)
    try:
        res = RUNNER.invoke(cli.app, ["inspect", "--host", "root@127.0.0.1", "--port",
                                      str(server.getsockname()[1]), "--timeout", "1",
                                      "--root", "/"])
    finally:
        server.close()
    assert res.exit_code == 4 and "no SSH greeting" in res.stderr
    assert "Traceback" not in res.output


def test_a_file_outside_the_snapshot_is_fetched_on_demand(sshd, host_tree):
    """An include far from the usual places costs one more command, and reads the same."""
    from migrate.app import remote as remote_mod
    from migrate.app.inspection import inspect_tree, remote_mbox_dirs, remote_spec
    from migrate.core.model import Origin
    root = host_tree("netsight")
    conf = root / "usr/local/etc/exim/configure"
    (root / "opt/exim").mkdir(parents=True)
    shutil.move(root / "usr/local/etc/exim/acl.conf", root / "opt/exim/acl.conf")
    conf.write_text(conf.read_text().replace(".include acl.conf",
                                             ".include /opt/exim/acl.conf"))
    expected = local(root)
    client = remote_mod.connect("root@127.0.0.1", port=sshd.port, identity=str(sshd.key),
                                known_hosts=str(sshd.known_hosts))
    tree = remote_mod.RemoteTree(client, root=str(root))
    try:
        tree.snapshot(remote_spec(), mbox_dirs=remote_mbox_dirs())
        inv = inspect_tree(tree, Origin("ssh", str(root)))
    finally:
        tree.close()
    from migrate.core import codec
    got = json.loads(codec.dump_json(inv))
    _same(got, expected)
    assert any(f["path"] == "/opt/exim/acl.conf" for f in got["mta"]["config_files"])
    assert tree.stats.commands == 2, tree.stats  # the snapshot, and /opt/exim/acl.conf


def test_the_agent_runs_under_python_2_6_and_3():
    """The old host's Python is Mailman 2's Python 2 (none runs here): vermin checks every
    construct and module of the agent against 2.6 and 3.0, and finds 2.5 too old."""
    vermin = shutil.which("vermin") or str(Path(sys.executable).with_name("vermin"))
    need(os.path.exists(vermin), "vermin is not installed (pip install -e '.[test]')")
    agent = Path(cli.__file__).with_name("remote_agent.py")
    ok = subprocess.run([vermin, "--no-tips", "-t=2.6", "-t=3.0", "--violations", str(agent)],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "not met" not in ok.stdout, ok.stdout
    old = subprocess.run([vermin, "--no-tips", "-t=2.5", "-t=3.0", "--violations",
                          str(agent)], capture_output=True, text=True)
    assert "not met" in old.stdout
