"""The new host's Mailman as the plan sets it up, with the real GNU Mailman 2.1.

OpenBSD cannot run here. The "openbsd" build of ``tests/mailmantools.py`` stands in for the
OpenBSD mailman package: the same prefix (``/usr/local/lib/mailman``) and var prefix
(``/var/spool/mailman``), built from Mailman 2.1.26 as the package is, but with the user and
group ``mailman`` where the package has ``_mailman``, and its mail wrapper checking the group
``opensmtpd`` (the Debian user smtpd runs pipes as here) where the package's checks ``_smtpd``.
Each test copies the cached build (never changing it) and binds the copy at those paths in a
private mount namespace, with overlays over ``/usr/local`` and ``/var/spool`` so that nothing
outside the namespace changes; the old host's Mailman tree (the sample's) is bound at its own
path, ``/usr/local/mailman``.

The plan's scripts run as emitted: they read the delivery user and Mailman's owner from
``MIGRATE_MTA_USER`` and ``MIGRATE_MAILMAN_USER``/``_GROUP`` (default ``_smtpd`` and
``_mailman``), which the tests set to ``opensmtpd`` and ``mailman``. Where the OpenBSD package
sets owners and modes as its packing list says, the tests run ``check_perms -f`` once on the
fresh copy (the staged build was installed by root with DESTDIR, so its groups are root's).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from conftest import SAMPLE_HOSTS, SAMPLES, need
from mailmantools import mailman_build, python_of
from migrate.app.cutover import Journal, Runner, StepFailed, load_plan
from migrate.app.hosts import LocalHost, Result
from emitters.mailman2.paths import MM_PREFIX, MM_VAR

NEW_HOST = "lists.newhost.example"
MTA_USER = "opensmtpd"  # OpenBSD: _smtpd
MAILMAN_USER = "mailman"  # OpenBSD: _mailman
TEST_ENV = {"MIGRATE_MTA_USER": MTA_USER, "MIGRATE_MAILMAN_USER": MAILMAN_USER,
            "MIGRATE_MAILMAN_GROUP": MAILMAN_USER}

NS_SCRIPT = r'''
set -eu
T=$1; shift
mount --make-rprivate /
for d in /usr/local /var/spool; do
    n=$(printf '%s' "$d" | tr / _)
    mkdir -p "$T/ovl/up$n" "$T/ovl/wk$n"
    mount -t overlay overlay -o "lowerdir=$d,upperdir=$T/ovl/up$n,workdir=$T/ovl/wk$n" "$d"
done
mkdir -p /usr/local/lib/mailman /var/spool/mailman
mount --bind "$T/root/usr/local/lib/mailman" /usr/local/lib/mailman
mount --bind "$T/root/var/spool/mailman" /var/spool/mailman
if [ -d "$T/old" ]; then
    mkdir -p /usr/local/mailman
    mount --bind "$T/old" /usr/local/mailman
fi
exec "$@"
'''

#: Each list as the real Mailman loads it: name, host_name, web_page_url, archive_private.
DUMP = f'''
import sys
sys.path[:0] = ["{MM_PREFIX}", "{MM_PREFIX}/pythonlib"]
from Mailman import MailList, Utils
for name in sorted(Utils.list_names()):
    m = MailList.MailList(name, lock=0)
    print("%s %s %s %d" % (name, m.host_name, m.web_page_url, m.archive_private))
'''


class NewHost:
    """A copy of a staged Mailman build, run in a private mount namespace at OpenBSD's paths."""

    def __init__(self, base: Path, flavour: str, old_tree: Path | None = None) -> None:
        need(shutil.which("unshare") is not None, "unshare (util-linux) is not installed")
        need(shutil.which("su") is not None, "su (util-linux) is not installed")
        built = mailman_build(flavour)
        self.flavour = flavour
        self.base = base
        base.mkdir(parents=True, exist_ok=True)
        # cp -a keeps the setgid wrapper's mode and the build's owners
        subprocess.run(["cp", "-a", str(built), str(base / "root")], check=True)
        if old_tree is not None:
            subprocess.run(["cp", "-a", str(old_tree), str(base / "old")], check=True)
        # as the package installs it: Mailman's group and setgid folders everywhere
        res = self.run(f"{MM_PREFIX}/bin/check_perms -f")
        assert res.returncode == 0, res.stderr

    def run(self, script: str, env: dict[str, str] | None = None, input: str | None = None,
            timeout: int = 600) -> subprocess.CompletedProcess:
        return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                               NS_SCRIPT, "ns", str(self.base), "sh", "-c", script],
                              capture_output=True, text=True, input=input, timeout=timeout,
                              env={**os.environ, **(env or {})})

    def queued(self) -> list[str]:
        """Every file in Mailman's queues (qfiles/*), as paths under the var prefix."""
        qfiles = self.base / "root" / MM_VAR.lstrip("/") / "qfiles"
        return sorted(str(p.relative_to(qfiles)) for p in qfiles.rglob("*") if p.is_file())

    def lists(self) -> dict[str, tuple[str, str, int]]:
        res = self.run(f"{python_of(self.flavour)} -c {shlex.quote(DUMP)}")
        assert res.returncode == 0, res.stderr
        out = {}
        for line in res.stdout.splitlines():
            name, host, url, private = line.split()
            out[name] = (host, url, int(private))
        return out


class NamespaceHost(LocalHost):
    """The cutover's "new" host: its commands run in the test's namespace (PLAN set as the
    cutover's SSH host sets it)."""

    def __init__(self, host: NewHost, plan_dir: Path) -> None:
        super().__init__("new")
        self.host = host
        self.plan_dir = plan_dir

    def run(self, command: str, timeout: float = 600) -> Result:
        res = self.host.run(command, env={**TEST_ENV, "PLAN": str(self.plan_dir)},
                            timeout=int(timeout))
        return Result(res.returncode, res.stdout, res.stderr)


def make_plan(tmp: Path, sample: str) -> Path:
    """``migrate inspect --root`` and ``migrate plan`` (another host name than the old one),
    by the installed CLI, as an operator runs them."""
    inv, plan_dir = tmp / "inventory.yaml", tmp / "plan"
    res = subprocess.run([sys.executable, "-m", "migrate", "inspect", "--root",
                          str(SAMPLES / sample), "-o", str(inv)], capture_output=True, text=True)
    assert res.returncode in (0, 1), res.stderr  # 1: findings to review
    res = subprocess.run([sys.executable, "-m", "migrate", "plan", str(inv),
                          "--hostname", NEW_HOST, "--ipv6", "2001:db8:50::25",
                          "--list-manager", "mailman2", "-o",
                          str(plan_dir)], capture_output=True, text=True)
    # 1: an error stands (netsight's inventory has one); a blocker would stop the cutover
    assert res.returncode in (0, 1) and " blocker" not in res.stdout.splitlines()[-1], \
        res.stderr + res.stdout
    old = yaml.safe_load(inv.read_text())["host"]["hostname"]
    assert old and old != NEW_HOST
    return plan_dir


def steps(plan_dir: Path) -> dict:
    return {s.id: s for s in load_plan(str(plan_dir)).steps}


def append_mm_cfg(host: NewHost, plan_dir: Path) -> None:
    """The plan's new-files step appends mm_cfg.py.migrate to the package's mm_cfg.py."""
    add = plan_dir / f"files/new{MM_PREFIX}/Mailman/mm_cfg.py.migrate"
    res = host.run(f"cat {shlex.quote(str(add))} >> {MM_PREFIX}/Mailman/mm_cfg.py")
    assert res.returncode == 0, res.stderr


# --- the wrapper's group ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def netsight_plan(tmp_path_factory) -> Path:
    return make_plan(tmp_path_factory.mktemp("netsight"), "netsight")


def test_one_wrapper_check_before_mail_is_routed_here_and_in_the_verification(netsight_plan):
    """One command, in the prepare phase (before the freeze), again before the old host
    forwards mail here and before DNS, and in the verification."""
    by_id = steps(netsight_plan)
    order = list(by_id)
    check = by_id["new-wrapper-group"].check
    assert len(check) == 1 and "mailman-wrapper-check.sh" in check[0]
    users = [sid for sid, s in by_id.items() if check[0] in s.check]
    assert users == ["new-wrapper-group", "new-mailman", "verify"]
    assert by_id["new-wrapper-group"].phase == "prepare"
    # the package and the plan's mm_cfg.py are in place; the old host still takes mail
    assert order.index("new-packages") < order.index("new-files") \
        < order.index("new-wrapper-group") < order.index("presync") < order.index("old-freeze")
    assert order.index("new-mailman") < order.index("old-forward") < order.index("dns-switch")


@pytest.mark.parametrize("flavour, passes", [("openbsd", True), ("openbsd-wrong-gid", False)])
def test_the_plans_wrapper_check_runs_the_real_wrapper_as_the_delivery_user(
        netsight_plan, tmp_path, flavour, passes):
    """A Mailman built for another mail group (the wrong MAIL_GID: ``mailman``) fails the
    plan's check, run by the cutover's own runner, with Mailman's "Group mismatch error";
    the right one passes. Either way no post is queued."""
    host = NewHost(tmp_path / "new", flavour)
    append_mm_cfg(host, netsight_plan)
    step = steps(netsight_plan)["new-wrapper-group"]
    runner = Runner(load_plan(str(netsight_plan)), {"new": NamespaceHost(host, netsight_plan)},
                    Journal(tmp_path / "journal.jsonl"), say=lambda _line: None)
    if passes:
        runner.run_step(step)
        res = host.run(step.check[0], env={**TEST_ENV, "PLAN": str(netsight_plan)})
        assert res.returncode == 0
        assert f"a delivery by {MTA_USER} passes the group check" in res.stdout
    else:
        with pytest.raises(StepFailed) as failed:
            runner.run_step(step)
        # the cutover's report keeps Mailman's own first line
        assert "Group mismatch error" in failed.value.message
        res = host.run(step.check[0], env={**TEST_ENV, "PLAN": str(netsight_plan)})
        assert res.returncode == 1
        assert "Group mismatch error.  Mailman expected the mail" in res.stderr
        assert f'executed the mail script as\ngroup "{MTA_USER}"' in res.stderr
    assert host.queued() == []  # the check queues nothing


def test_the_wrapper_without_arguments_never_reaches_its_group_check(tmp_path):
    """Why the check runs ``post`` and not the bare wrapper (as it did): Mailman 2.1's
    mail-wrapper.c answers a call without arguments with its usage (exit 5) before it looks
    at the caller's group, so a wrong group does not show; and root (gid 0) is let through
    by Debian's build without any check, so the check must run as the delivery user."""
    host = NewHost(tmp_path / "new", "openbsd-wrong-gid")
    bare = host.run(f"su -s /bin/sh {MTA_USER} -c {MM_PREFIX}/mail/mailman </dev/null")
    assert bare.returncode == 5 and "Usage:" in bare.stderr
    assert "Group mismatch" not in bare.stderr and "opensmtpd" not in bare.stderr
    as_root = host.run(f"{MM_PREFIX}/mail/mailman post </dev/null")
    assert as_root.returncode == 1 and "post script got no listname" in as_root.stderr
    assert host.queued() == []


# --- the move, end to end --------------------------------------------------------------------


def copy_script(plan_dir: Path, phase: str) -> str:
    """The plan's rsync phase, run locally: its own ``copy_tree`` function and copy lines,
    with the function's SSH transport (``--rsh=ssh ...`` and the ``$RNEW:`` host prefix)
    taken out. Everything else (flags, filters, paths on both hosts) is the plan's."""
    text = (plan_dir / "rsync" / f"{phase}.sh").read_text()
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("copy_tree() {"))
    end = lines.index("}", start)
    function = "\n".join(lines[start:end + 1])
    for remote, local in (("'--rsh=ssh -o BatchMode=yes' ", ""), ('"$RNEW:$dst"', '"$dst"')):
        assert function.count(remote) == 1, function
        function = function.replace(remote, local)
    copies = [line for line in lines[end + 1:]
              if line.startswith("copy_tree ") or re.match(r"\[ ! -d \S+ \] \|\| copy_tree ", line)]
    assert copies
    return "set -eu\n" + function + "\n" + "\n".join(copies) + "\n"


@pytest.mark.parametrize("sample_name", SAMPLE_HOSTS)
def test_the_new_hosts_mailman_as_the_plan_sets_it_up(tmp_path, sample_name):
    sample = SAMPLES / sample_name
    plan_dir = make_plan(tmp_path, sample_name)
    inv = yaml.safe_load((tmp_path / "inventory.yaml").read_text())
    moved = sorted(ml["name"] for ml in inv["lists"])
    host = NewHost(tmp_path / "new", "openbsd",
                   old_tree=sample / inv["mailman"]["var_prefix"].lstrip("/"))
    append_mm_cfg(host, plan_dir)

    # the plan's pre-sync copies, from the old host's tree at its own path (the final sync
    # moves only what changed since, which nothing here does: tests/test_final_sync_e2e.py)
    res = host.run(copy_script(plan_dir, "presync"))
    assert res.returncode == 0, res.stderr
    before = host.lists()
    assert sorted(before) == moved

    # the prepare phase's wrapper check, then mailman-after-copy.sh, for real, as the plan's
    # new-mailman step runs them
    by_id = steps(plan_dir)
    env = {**TEST_ENV, "PLAN": str(plan_dir)}
    res = host.run(by_id["new-wrapper-group"].check[0], env=env)
    assert res.returncode == 0, res.stderr
    after_copy = by_id["new-mailman"].actions[0].command
    assert "mailman-after-copy.sh" in after_copy
    res = host.run(after_copy, env=env)
    assert res.returncode == 0, res.stdout + res.stderr

    # every moved list, as the real Mailman lists them
    res = host.run(f"{MM_PREFIX}/bin/list_lists -b")
    assert res.returncode == 0, res.stderr
    assert sorted(res.stdout.split()) == moved

    # host names: the names the new host serves (httpd.conf's servers of Mailman's pages,
    # smtpd.conf's list domains), over HTTPS where it serves them so
    httpd = (plan_dir / "files/new/etc/httpd.conf").read_text()
    # where httpd.conf runs Mailman's CGI (/mailman/, or the old host's /cgi-bin/mailman/)
    cgi = re.search(r'^\tlocation "(/[^"]*)\*" \{\n\t\tfastcgi', httpd, re.M).group(1)
    servers = [(head, block) for head, block in re.findall(
        r'^server "([^"]+)" \{\n(.*?)^\}', httpd, re.M | re.S) if f'"{cgi}*"' in block]
    web_names = {n for head, block in servers
                 for n in [head, *re.findall(r'^\talias "([^"]+)"', block, re.M)]}
    scheme = "https" if any("tls port 443" in block for _h, block in servers) else "http"
    smtpd = (plan_dir / "files/new/etc/mail/smtpd.conf").read_text()
    mail_domains = set(re.findall(r'"([a-z0-9.-]+)"', " ".join(
        line for line in smtpd.splitlines() if line.startswith("table ") and "domains" in line)))
    assert web_names and mail_domains
    after = host.lists()
    old = {ml["name"]: ml for ml in inv["lists"]}
    for name, (host_name, url, private) in after.items():
        # a list keeps its own names (they move with it), served by the new host
        old_web = urlsplit(old[name]["web_page_url"]).hostname
        assert url == f"{scheme}://{old_web}{cgi}", (name, url)
        assert old_web in web_names, (name, web_names)
        assert host_name == old[name]["host_name"] and host_name in mail_domains, name
        assert before[name][1] == old[name]["web_page_url"]  # as copied
        assert private == int(bool(old[name]["archive_private"]))
    if sample_name == "netsight":  # its old host served http:// URLs; the new one HTTPS
        assert scheme == "https" and all(before[n][1] != after[n][1] for n in after)

    # check_perms (no -f) finds nothing
    res = host.run(f"{MM_PREFIX}/bin/check_perms")
    assert res.returncode == 0 and "No problems found" in res.stdout, res.stdout

    # public archives are linked from archives/public, private ones are not
    public = host.base / "root" / MM_VAR.lstrip("/") / "archives" / "public"
    for name, (_h, _u, private) in after.items():
        link = public / name
        if private:
            assert not os.path.lexists(link), name
        else:
            assert link.is_symlink(), name
            assert os.readlink(link) == f"{MM_VAR}/archives/private/{name}"
    assert any(p for *_x, p in after.values()) and not all(p for *_x, p in after.values())

    # a post as smtpd delivers it (the alias's own pipe, as the delivery user) is queued
    assert host.queued() == []
    name = next(n for n in moved if not after[n][2])
    aliases = (plan_dir / "files/new/etc/mail/aliases").read_text()
    pipe = re.search(rf'^{re.escape(name)}:\s+"\|([^"]+)"$', aliases, re.M).group(1)
    assert pipe == f"{MM_PREFIX}/mail/mailman post {name}"
    message = (f"From: someone@example.org\nTo: {name}@{after[name][0]}\n"
               f"Subject: after the move\nMessage-ID: <moved-1@example.org>\n\nhello\n")
    res = host.run(f"su -s /bin/sh {MTA_USER} -c {shlex.quote(pipe)}", input=message)
    assert res.returncode == 0, res.stderr
    queued = host.queued()
    assert len(queued) == 1 and queued[0].startswith("in/") and queued[0].endswith(".pck")
    qfile = host.base / "root" / MM_VAR.lstrip("/") / "qfiles" / queued[0]
    assert b"<moved-1@example.org>" in qfile.read_bytes()
