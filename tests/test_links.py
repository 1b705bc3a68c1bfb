"""Symlinks inside Mailman's folders that move (parsers/links.py, issue 23 part 1): inspect
reads each one with its target and whether it stays in its folder, the same from a local tree
and over SSH (the real sshd, the agent under Python 3 and 2.7); the plan's sync, run by the
real rsync, never carries one that leads out, and a copied folder that is itself a link is
refused. The e2e with the real OpenBSD httpd is tests/test_httpd_real.py
(``test_a_link_out_of_the_archive_answers_404_on_the_new_host``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import migrate.app.cli as cli
from conftest import SAMPLES, need
from migrate.app.inspection import inspect_tree
from migrate.core.model import Origin, Severity
from parsers.links import stays_inside
from migrate.app.planning import build_plan, resolve_target
from migrate.app.sources import LocalTree

VAR = "usr/local/mailman"
OLD = f"/{VAR}"
#: the issue's link, and the ways around a lexical check; each leads out of its folder
LEAVING = {
    "archives/private/users/etc": "../../../../../../../../etc",  # the reproduction
    "archives/private/users/abs": "/etc",
    "archives/private/users/sub": ".",  # stays inside itself...
    "archives/private/users/trick": "sub/sub/sub/../../../../../../../etc",  # ...not this
    "archives/private/users/2025-March/up": "../../../../../../../etc",
    "archives/private/users.mbox/users.mbox.old": "/etc/passwd",
    "lists/users/request.pck.bak": "../../../../../../../etc/passwd",  # Mailman writes here
    "data/heldmsg-users-99.pck": "/etc/shadow",  # a held post the sync would carry
}
#: links that stay inside their folder: carried as links
INSIDE = {
    "archives/private/users/latest": "2025-March",
    "archives/private/users/2025-March/home": "../index.html",
}


def plant(root: Path, links: dict[str, str]) -> None:
    for rel, target in links.items():
        path = root / VAR / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, path)


@pytest.fixture
def old_host():
    """The netsight sample with the links planted, under a prefix every user can traverse."""
    base = Path(tempfile.mkdtemp(prefix="migrate-links-"))
    base.chmod(0o755)
    root = base / "netsight"
    shutil.copytree(SAMPLES / "netsight", root, symlinks=True)
    plant(root, {**LEAVING, **INSIDE})
    yield root
    shutil.rmtree(base, ignore_errors=True)


def _plan(root: Path):
    inv = inspect_tree(LocalTree(root), Origin("local", str(root)))
    target = resolve_target(inv, {}, {"hostname": "lists.netsight.example",
                                      "ipv6": ["2001:db8:50::25"], "destination": "mailman2"})
    return inv, build_plan(inv, target)


# --- the rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize("links, path, inside", [
    ({"/f/a": "b"}, "/f/a", True),
    ({"/f/a": "d/../b"}, "/f/a", True),
    ({"/f/d/a": "../b"}, "/f/d/a", True),
    ({"/f/a": "../f/b"}, "/f/a", False),  # out and back in: out is out
    ({"/f/a": "/f/b"}, "/f/a", False),  # absolute: the new host's own /f/b
    ({"/f/d/a": "../../x"}, "/f/d/a", False),
    ({"/f/s": ".", "/f/a": "s/.."}, "/f/a", False),  # reads as /f, is /f/..
    ({"/f/s": ".", "/f/a": "s/s/s/../.."}, "/f/a", False),
    ({"/f/d/s": "..", "/f/d/a": "s/x"}, "/f/d/a", True),
    ({"/f/d/s": "..", "/f/d/a": "s/.."}, "/f/d/a", False),
    ({"/f/a": "b", "/f/b": "/etc"}, "/f/a", False),  # through a link that leaves
    ({"/f/a": "b", "/f/b": "a"}, "/f/a", False),  # a loop
    ({"/f/a": ""}, "/f/a", True),
])
def test_what_stays_inside_its_folder(links, path, inside):
    assert stays_inside("/f", path, links) is inside


# --- inspect ----------------------------------------------------------------------------------


def test_inspect_reports_every_link_with_its_target_and_whether_it_stays(old_host):
    inv = inspect_tree(LocalTree(old_host), Origin("local", str(old_host)))
    got = {link.path: link for link in inv.mailman.links}
    assert set(got) == {f"{OLD}/{rel}" for rel in {**LEAVING, **INSIDE}}
    for rel, target in {**LEAVING, **INSIDE}.items():
        link = got[f"{OLD}/{rel}"]
        assert link.target == target
        assert link.inside is (rel in INSIDE or rel.endswith("/sub")), rel
        top = "/".join(rel.split("/")[:3 if rel.startswith("archives") else 2])
        assert link.folder == f"{OLD}/{'data' if top.startswith('data') else top}", rel
    by_file = {f.source.file: f for f in inv.findings if "link" in f.id}
    for rel in LEAVING:
        f = by_file[f"{OLD}/{rel}"]
        if rel.endswith("/sub"):
            assert (f.id, f.severity) == ("mailman.link-inside", Severity.INFO)
        else:
            assert (f.id, f.severity) == ("mailman.link-leaves-folder", Severity.BLOCKER), f
            assert LEAVING[rel] in f.message and "inspect again" in f.hint
    assert "the web server would serve" in by_file[f"{OLD}/archives/private/users/etc"].message
    assert "Mailman would read and write" in by_file[f"{OLD}/lists/users/request.pck.bak"].message
    for rel in INSIDE:
        assert by_file[f"{OLD}/{rel}"].severity == Severity.INFO
    # pipermail's public links are the expected case: no finding, not in the list
    assert not any("/archives/public/" in p for p in got)
    assert not any("/archives/public/" in (f.source.file if f.source else "")
                   for f in inv.findings if f.id.startswith("mailman.link"))


def test_links_that_do_not_move_are_warnings_and_a_copied_folder_that_is_a_link_a_blocker(
        tmp_path):
    root = tmp_path / "host"
    shutil.copytree(SAMPLES / "small", root, symlinks=True)
    plant(root, {"qfiles/in/x": "/etc", "data/bounce-events-01234.pck": "/etc/passwd",
                 "archives/private/stolen": "/etc", "lists/alias": "members"})
    inv = inspect_tree(LocalTree(root), Origin("local", str(root)))
    found = {f.source.file: f for f in inv.findings if f.id.startswith("mailman.")
             and "link" in f.id}
    assert found[f"{OLD}/qfiles/in/x"].severity == Severity.WARNING
    assert found[f"{OLD}/data/bounce-events-01234.pck"].severity == Severity.WARNING
    for rel in ("archives/private/stolen", "lists/alias"):  # rsync would copy the target
        f = found[f"{OLD}/{rel}"]
        assert (f.id, f.severity) == ("mailman.folder-is-link", Severity.BLOCKER)


def test_a_folder_it_cannot_list_is_a_finding(old_host):
    """Over SSH as a user who cannot list a folder of the archive (root lists any folder
    here, so the local tree cannot show it): the links below it are unknown, and said so."""
    from sshtools import ensure_test_user, sshd_running
    user = ensure_test_user()
    locked = old_host / VAR / "archives/private/users/locked"
    locked.mkdir()
    locked.chmod(0)
    res = None
    with sshd_running() as sshd:
        res = CliRunner().invoke(cli.app, [
            "inspect", "--host", f"{user}@127.0.0.1", "--port", str(sshd.port), "--identity",
            str(sshd.key), "--root", str(old_host), "--known-hosts", str(sshd.known_hosts),
            "--json"])
    data = json.loads(res.stdout)
    assert [f["hint"] for f in data["findings"] if f["id"] == "input.unreadable"
            and "look for symlinks" in f["message"]
            and f["source"]["file"] == f"{OLD}/archives/private/users/locked"], res.stdout[:3000]


def test_links_below_a_relocated_folder_are_found_and_named_as_the_sync_names_them(tmp_path):
    """archives/ on another disk (a link the admin made): the links below it are found in the
    folder it points to and named under archives/, where the sync reads them."""
    root = tmp_path / "host"
    shutil.copytree(SAMPLES / "small", root, symlinks=True)
    archives = root / VAR / "archives"
    shutil.move(archives, root / "bigdisk")
    os.symlink("/bigdisk", archives)
    os.symlink("../../../../../etc", root / "bigdisk/private/members/etc")
    inv = inspect_tree(LocalTree(root), Origin("local", str(root)))
    assert [(link.path, link.inside) for link in inv.mailman.links] == [
        (f"{OLD}/archives/private/members/etc", False)]


def test_a_folder_that_leads_to_the_hosts_root_is_not_walked(tmp_path):
    root = tmp_path / "host"
    shutil.copytree(SAMPLES / "small", root, symlinks=True)
    shutil.rmtree(root / VAR / "qfiles", ignore_errors=True)
    os.symlink("/", root / VAR / "qfiles")
    os.symlink("/etc", root / "escape")  # found only by walking the whole host
    inv = inspect_tree(LocalTree(root), Origin("local", str(root)))
    assert inv.mailman.links == []
    assert [f.message for f in inv.findings if f.source and f.source.file == f"{OLD}/qfiles"
            and f.id == "input.unreadable"] == [
        f"cannot look for symlinks in {OLD}/qfiles: it leads to the host's /"]


# --- over SSH: the same --------------------------------------------------------------------


def _remote_inventory(sshd, root: Path, *extra: str) -> dict:
    res = CliRunner().invoke(cli.app, [
        "inspect", "--host", "root@127.0.0.1", "--port", str(sshd.port), "--identity",
        str(sshd.key), "--root", str(root), "--known-hosts", str(sshd.known_hosts), "--json",
        *extra])
    assert res.exit_code in (0, 1), res.output
    return json.loads(res.stdout)


def _local_inventory(root: Path) -> dict:
    return json.loads(CliRunner().invoke(cli.app, ["inspect", "--root", str(root),
                                                   "--json"]).stdout)


@pytest.mark.parametrize("python", ["3", "2.7"])
def test_over_ssh_the_links_are_the_same_as_from_the_tree(old_host, python):
    from sshtools import sshd_running
    with sshd_running(no_python3=python == "2.7") as sshd:
        over_ssh = _remote_inventory(sshd, old_host)
    here = _local_inventory(old_host)
    assert over_ssh["mailman"]["links"] == here["mailman"]["links"]
    assert len(here["mailman"]["links"]) == len(LEAVING) + len(INSIDE)

    def link_findings(inv: dict) -> list:
        return sorted((f["id"], f["message"]) for f in inv["findings"] if "link" in f["id"])
    assert link_findings(over_ssh) == link_findings(here) != []


def test_over_ssh_the_walk_costs_no_command_and_a_relocated_folder_is_walked_where_it_is():
    """The links walk rides in the snapshot command; a folder that is a link elsewhere is
    walked where it leads (on demand)."""
    from migrate.app import remote as remote_mod
    from migrate.app.inspection import remote_mbox_dirs, remote_spec
    from sshtools import sshd_running
    base = Path(tempfile.mkdtemp(prefix="migrate-links-"))
    base.chmod(0o755)
    try:
        root = base / "host"
        shutil.copytree(SAMPLES / "small", root, symlinks=True)
        plant(root, {"lists/members/etc": "/etc"})
        with sshd_running() as sshd:
            counts = []
            for relocate in (False, True):
                if relocate:
                    private = root / VAR / "archives/private"
                    shutil.move(private, root / "bigdisk")
                    os.symlink("../../../../bigdisk", private)
                    os.symlink("/etc", root / "bigdisk/members/etc")
                client = remote_mod.connect("root@127.0.0.1", port=sshd.port,
                                            identity=str(sshd.key),
                                            known_hosts=str(sshd.known_hosts))
                tree = remote_mod.RemoteTree(client, root=str(root))
                try:
                    tree.snapshot(remote_spec(), mbox_dirs=remote_mbox_dirs())
                    inv = inspect_tree(tree, Origin("ssh", str(root)))
                finally:
                    tree.close()
                counts.append(tree.stats.commands)
                assert [link.path for link in inv.mailman.links] == [
                    f"{OLD}/lists/members/etc"] + (
                    [f"{OLD}/archives/private/members/etc"] if relocate else [])
        assert counts[0] == 1
    finally:
        shutil.rmtree(base, ignore_errors=True)


# --- the sync, with the real rsync ------------------------------------------------------------


def _copy_script(plan, old_root: Path, new_root: Path, phase: str) -> str:
    """The plan's own copy lines and ``copy_tree``, run locally: the SSH hop taken out and
    the hosts' paths put under two roots."""
    text = plan.files[f"rsync/{phase}.sh"]
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("copy_tree() {"))
    end = lines.index("}", start)
    function = "\n".join(lines[start:end + 1])
    function = function.replace("'--rsh=ssh -o BatchMode=yes' ", "").replace(
        '"$RNEW:$dst"', '"$dst"')
    copies = [line.replace(f" {OLD}/", f" {old_root}{OLD}/").replace(
        " /var/spool/mailman/", f" {new_root}/var/spool/mailman/")
        for line in lines[end + 1:] if "copy_tree " in line and not line.startswith("#")]
    mkdirs = "mkdir -p " + " ".join(f"{new_root}/var/spool/mailman/{d}"
                                    for d in ("lists", "archives/private", "data"))
    return "set -eu\n" + mkdirs + "\n" + function + "\n" + "\n".join(copies) + "\n"


def test_the_sync_never_carries_a_link_that_leads_out(old_host, tmp_path):
    """The pre-sync's copies (the final sync's, which take the links the pre-sync's record
    does not vouch for: tests/test_final_sync_e2e.py)."""
    need(shutil.which("rsync") is not None, "rsync is not installed")
    _inv, plan = _plan(old_host)
    new = tmp_path / "new"
    res = subprocess.run(["sh", "-c", _copy_script(plan, old_host, new, "presync")],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    var = new / "var/spool/mailman"
    for rel in LEAVING:
        carried = os.path.lexists(var / rel)
        assert carried is rel.endswith("/sub"), rel  # sub -> . stays inside: carried
    for rel, target in INSIDE.items():
        assert os.readlink(var / rel) == target  # a link inside stays a link
    # everything else came along
    assert (var / "archives/private/users/index.html").read_bytes() == (
        old_host / VAR / "archives/private/users/index.html").read_bytes()
    assert (var / "lists/users/config.pck").is_file()
    # the plan names each link that leads out (rsync's --safe-links is lexical: the trick
    # through sub -> . reads as staying inside to an older rsync)
    transfers = yaml.safe_load(plan.files["rsync/transfers.yaml"])["transfers"]
    html = next(t for t in transfers if t["kind"] == "archive-html" and t["list"] == "users")
    assert html["exclude"] == ["/2025-March/up", "/abs", "/etc", "/trick"]
    assert "--safe-links" in yaml.safe_load(plan.files["rsync/transfers.yaml"])["flags"][
        "common"]


def test_a_copied_folder_that_is_a_link_is_not_copied(tmp_path):
    """rsync copies what ``SOURCE/`` points to when it is a link: the old host's /etc into
    the new host's archive. The plan's copy refuses it (the inspection's blocker says why)."""
    need(shutil.which("rsync") is not None, "rsync is not installed")
    root = tmp_path / "host"
    shutil.copytree(SAMPLES / "small", root, symlinks=True)
    secret = root / "etc-secret"  # the old host's /etc
    secret.mkdir()
    (secret / "master.passwd").write_text("root:$2b$hash\n")
    members = root / VAR / "archives/private/members"
    shutil.rmtree(members)
    os.symlink("../../../../../etc-secret", members)
    _inv, plan = _plan(root)
    assert "mailman.folder-is-link" in {f.id for f in plan.blockers()}
    new = tmp_path / "new"
    res = subprocess.run(["sh", "-c", _copy_script(plan, root, new, "presync")],
                         capture_output=True, text=True)
    assert res.returncode != 0 and "is a symbolic link: not copied" in res.stderr
    assert not list(new.rglob("master.passwd"))


def test_an_excluded_name_is_matched_literally(tmp_path):
    """A link named like an rsync pattern (``*``, ``?``, ``[``) is left out by its own name
    only: the file beside it that the pattern would also match still moves."""
    need(shutil.which("rsync") is not None, "rsync is not installed")
    root = tmp_path / "host"
    shutil.copytree(SAMPLES / "small", root, symlinks=True)
    html = root / VAR / "archives/private/members"
    (html / "a1b").write_text("kept\n")  # what /a[1]* would match, were it not escaped
    (html / "ax").write_text("kept\n")
    plant(root, {"archives/private/members/a[1]*": "/etc"})
    _inv, plan = _plan(root)
    new = tmp_path / "new"
    res = subprocess.run(["sh", "-c", _copy_script(plan, root, new, "presync")],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    out = new / "var/spool/mailman/archives/private/members"
    assert (out / "a1b").read_text() == "kept\n" and (out / "ax").read_text() == "kept\n"
    assert not os.path.lexists(out / "a[1]*")


def test_the_agents_walk_passes_over_what_vanishes_while_it_walks(tmp_path, monkeypatch):
    """A live Mailman removes its lock and temporary files while the agent walks: a name that
    is gone when it is looked at is no finding (a folder that cannot be listed is one)."""
    import io
    import struct
    import migrate.app.remote_agent as agent
    root = tmp_path / "host"
    plant(root, {"archives/private/users/etc": "/etc"})
    (root / VAR / "archives/private/users/locked").mkdir()
    listdir = os.listdir

    def racy(path):
        if path.endswith(b"/locked"):
            raise PermissionError(13, "Permission denied")
        return listdir(path) + ([b"users.lock.gone"] if path.endswith(b"/private") else [])
    monkeypatch.setattr(agent.os, "listdir", racy)
    monkeypatch.setattr(agent, "_out", io.BytesIO())
    agent.walk_links(str(root).encode(), f"{OLD}/archives/private".encode())
    data, frames = agent._out.getvalue(), []
    while data:
        kind, size = data[:1], struct.unpack(">I", data[1:5])[0]
        frames.append((kind, json.loads(data[5:5 + size])))
        data = data[5 + size:]
    assert [(k, f["p"], f.get("l"), f.get("e"), f["w"]) for k, f in frames] == [
        (b"M", f"{OLD}/archives/private/users/etc", "/etc", None, 1),
        (b"M", f"{OLD}/archives/private/users/locked", None, "permission denied", 1)]
