"""The plan for the Mailman 3 destination (``--list-manager mailman3``): every sample host plans
without a blocker, every old list address reaches its Mailman 3 address (``-admin`` is
``-bounces``), the real OpenSMTPD parser reads the smtpd.conf, the hook copies Mailman's table
into smtpd's list table, and the inventory's counts of what Mailman 3 does not carry equal what
the real Python 2 reads from each list's config.pck.

OpenBSD itself does not run here: the rc.d script, doas.conf and the package names are checked
against their documented formats only (rc.subr(8), doas.conf(5))."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, golden_tool
from migrate.app.inspection import inspect_tree
from migrate.app.planning import build_plan, resolve_target, write_plan
from migrate.app.sources import LocalTree
from migrate.core.mailman2 import ADDRESSES
from migrate.core.model import Origin, Severity

from emitters.mailman3.lists import IMPORT_SCRIPT
from emitters.mailman3.mailman_cfg import HOOK, RC_SCRIPT
from emitters.mailman3.paths import MM3_TABLE, SMTPD_LIST_TABLE, TABLE_SENTINEL

SAMPLES = REPO / "sample_configs"
HOSTS = golden_tool().HOSTS


@pytest.fixture(scope="module")
def inventories():
    return {host: inspect_tree(LocalTree(SAMPLES / host), Origin("local", host))
            for host in HOSTS}


def plan_mm3(inv, host: str, **more):
    flags = dict(HOSTS[host], destination="mailman3", **more)
    return build_plan(inv, resolve_target(inv, {}, flags))


@pytest.mark.parametrize("host", list(HOSTS))
def test_every_sample_plans_for_mailman3_and_loses_no_address(inventories, host):
    inv = inventories[host]
    result = plan_mm3(inv, host)
    mm2 = build_plan(inv, resolve_target(inv, {}, HOSTS[host]))
    # no blocker of its own (hillcrest's planted DNS one is the sample's, for both)
    assert {f.id for f in result.blockers()} == {f.id for f in mm2.blockers()}
    rows = result.parity
    lists = [r for r in rows if r.get("list")]
    assert lists and not [r for r in rows if r["status"] == "missing"]
    aliases = result.files["files/new/etc/mail/aliases"]
    table = {line.split(":", 1)[0]: line.split(":", 1)[1].strip()
             for line in aliases.splitlines() if line and not line.startswith("#")}
    for ml in inv.lists:
        if ml.name not in table:
            continue
        host_of = table[ml.name].rpartition("@")[2]
        for suffix, action in ADDRESSES:
            # every one of Mailman 2's ten addresses, -admin as Mailman 3's -bounces
            want = "-bounces" if action == "admin" else suffix
            assert table[ml.name + suffix] == f"{ml.name}{want}@{host_of}"
    conf = result.files["files/new/etc/mail/smtpd.conf"]
    assert f"table listmanager file:{SMTPD_LIST_TABLE}" in conf
    assert 'action "listmanager" lmtp "127.0.0.1:8024" rcpt-to' in conf
    # the list manager's own addresses before any other rule of the moved domains
    matches = [line for line in conf.splitlines() if line.startswith("match ")]
    assert matches[0] == 'match from any for rcpt-to <listmanager> action "listmanager"'
    assert "|/usr/local/lib/mailman" not in aliases  # no Mailman 2 pipe anywhere


def test_the_import_script_creates_and_imports_each_list_with_its_charset(inventories):
    inv = inventories["netsight"]
    result = plan_mm3(inv, "netsight")
    script = result.files[IMPORT_SCRIPT]
    announce = next(ml for ml in inv.lists if ml.name == "announce")
    # announce's names are Latin-1 where its language says us-ascii: read as Latin-1
    assert announce.features.charset == "iso-8859-1"
    assert (f"-C /etc/mailman.cfg import21 --charset iso-8859-1 announce@{announce.host_name} "
            "/var/mailman3/import21/lists/announce/config.pck") in script
    assert script.count("mailman -C /etc/mailman.cfg create --quiet") == len(inv.lists)
    assert subprocess.run(["sh", "-n"], input=script, text=True).returncode == 0
    # what Mailman 3 drops, said before anything moves
    ids = {f.id for f in result.findings}
    assert {"plan.mailman3-passwords", "plan.mailman3-not-carried", "plan.mailman3-web",
            "plan.list-manager"} <= ids
    # and the report shows the import table, with each list's counts
    report = result.files["report.md"]
    assert "## What the import carries" in report
    users = next(ml for ml in inv.lists if ml.name == "users")
    members = users.members.regular_count + users.members.digest_count
    assert (f"| users | {users.host_name} | {members} | {users.features.member_passwords} | "
            f"{users.features.bounce_scores} |") in report


@pytest.mark.parametrize("release, blocker", [("6.9", "plan.mailman3-python"),
                                              ("6.3", "plan.lmtp-grammar")])
def test_a_release_without_what_mailman3_needs_is_a_blocker(inventories, release, blocker):
    result = plan_mm3(inventories["small"], "small", openbsd=release)
    assert blocker in {f.id for f in result.blockers()}


@pytest.mark.parametrize("release, default", [("5.7", "mailman2"), ("6.9", "mailman2"),
                                               ("7.0", "mailman3"), ("7.8", "mailman3")])
def test_the_default_list_manager_follows_what_is_known_of_the_release(inventories, release,
                                                                        default):
    """Mailman 2 where the release is known to have its package (through 6.9,
    Release.mailman2_package_known), else Mailman 3, and the report says why; a Mailman 2 plan
    has no Mailman 3 file."""
    inv = inventories["small"]
    result = build_plan(inv, resolve_target(inv, {}, dict(HOSTS["small"], openbsd=release)))
    assert result.target.destination == default
    mm3_files = [p for p in result.files if "mailman3" in p]
    if default == "mailman2":
        assert not mm3_files and "## What the import carries" not in result.files["report.md"]
    else:
        assert mm3_files
        why = next(f for f in result.findings if f.id == "plan.list-manager")
        assert "not known to have the mailman 2 package" in why.message


def test_the_hook_copies_mailmans_table_into_smtpds_list_table(inventories, tmp_path):
    """The hook as written, its paths moved under tmp_path: the addresses of Mailman's
    postfix_lmtp (comments and blank lines left out) become smtpd's one-per-line table, and a
    failing smtpctl (none here) is logged, not fatal to Mailman."""
    result = plan_mm3(inventories["small"], "small")
    hook = result.files[HOOK]
    src, dst = tmp_path / "postfix_lmtp", tmp_path / "mailman3-lists"
    src.write_text("# AUTOMATICALLY GENERATED BY MAILMAN\n\n"
                   "# Aliases which are visible only in the @lists.example.org domain.\n"
                   "ant@lists.example.org               lmtp:[127.0.0.1]:8024\n"
                   "ant-bounces@lists.example.org       lmtp:[127.0.0.1]:8024\n\n"
                   # what Mailman never writes, and smtpd's table must not take from its user:
                   # a whole domain, a pattern
                   "@example.com lmtp:[127.0.0.1]:8024\n/^.*$/ lmtp:[127.0.0.1]:8024\n")
    text = hook.replace(MM3_TABLE, str(src)).replace(SMTPD_LIST_TABLE, str(dst))
    text = text.replace("logger ", "echo logged ")
    proc = subprocess.run(["sh", "-c", text], capture_output=True, text=True)
    assert proc.returncode == 0
    assert dst.read_text().splitlines() == [TABLE_SENTINEL, "ant@lists.example.org",
                                            "ant-bounces@lists.example.org"]
    assert oct(dst.stat().st_mode & 0o777) == "0o644"
    assert "logged" in proc.stdout + proc.stderr  # no smtpctl to reread it here


def test_the_rc_script_follows_rc_subr(inventories):
    """rc.subr(8)'s shape: daemon and daemon_user, rc.subr sourced before pexp and the
    rc_start/rc_stop overrides, rc_cmd last (checked as text and by ksh's parser where ksh
    exists; OpenBSD's rc.subr itself does not run here)."""
    script = plan_mm3(inventories["small"], "small").files[RC_SCRIPT]
    lines = script.splitlines()
    assert lines[0] == "#!/bin/ksh" and lines[-1] == "rc_cmd $1"
    assert lines.index(". /etc/rc.d/rc.subr") < lines.index("rc_start() {")
    assert 'daemon_user="_mailman3"' in lines
    assert subprocess.run(["sh", "-n"], input=script, text=True).returncode == 0


def test_smtpd_n_reads_the_mailman3_smtpd_conf(inventories, tmp_path):
    """The real OpenSMTPD parser on the Mailman 3 plan of every sample (the list table
    included, as the plan installs it)."""
    from test_plan import smtpd_check

    for host in HOSTS:
        result = plan_mm3(inventories[host], host)
        write_plan(result, str(tmp_path / host))
        proc = smtpd_check(tmp_path / host)
        assert proc.returncode == 0 and "configuration OK" in proc.stderr + proc.stdout, \
            host + proc.stderr


#: Counted by the real Python 2 from a config.pck (the oracle of ``ListFeatures``).
_PY2_COUNT = r'''
import cPickle, json, sys
d = cPickle.load(open(sys.argv[1], "rb"))
opts = d.get("user_options") or {}
print(json.dumps({
    "member_passwords": len([v for v in (d.get("passwords") or {}).values() if v]),
    "moderated_members": len([v for v in opts.values() if v & 128]),
    "bounce_scores": len(d.get("bounce_info") or {}),
    "topics": len(d.get("topics") or []),
    "topics_enabled": bool(d.get("topics_enabled")),
    "umbrella_list": bool(d.get("umbrella_list")),
    "header_filter_rules": len(d.get("header_filter_rules") or []),
}))
'''


def test_the_features_mailman3_may_drop_are_counted_as_python_2_reads_them(inventories):
    from mailmantools import mailman_build, python_of

    python = python_of()
    prefix = mailman_build()  # bounce_info holds Mailman.Bouncer's objects
    for host, inv in inventories.items():
        var = next(Path(p) for p in (SAMPLES / host).glob("**/lists") if p.is_dir()).parent
        for ml in inv.lists:
            pck = var / "lists" / ml.name / "config.pck"
            if not pck.is_file():
                continue
            out = subprocess.run([str(python), "-c", _PY2_COUNT, str(pck)], capture_output=True,
                                 text=True, check=True, env={"PYTHONPATH": str(prefix)}).stdout
            want = json.loads(out)
            got = {k: getattr(ml.features, k) for k in want}
            assert got == want, (host, ml.name)
    # and the samples have some: the test would see a count that is always 0
    assert any(ml.features.member_passwords for inv in inventories.values() for ml in inv.lists)
    assert any(ml.features.bounce_scores for inv in inventories.values() for ml in inv.lists)


def test_no_finding_is_an_error_without_a_reason(inventories):
    result = plan_mm3(inventories["campus"], "campus")
    for f in result.findings:
        if f.id.startswith("plan.mailman3"):
            assert f.severity in (Severity.WARNING, Severity.INFO) and f.hint


def test_the_real_mailman3_reads_the_emitted_config_and_feeds_the_hook(inventories, tmp_path):
    """The emitted /etc/mailman.cfg and mta.cfg, their paths moved under tmp_path, read by the
    real Mailman 3 (the lock file's versions): ``mailman create`` writes its table of list
    addresses and runs the postmap command, here the emitted hook (doas and smtpctl do not
    exist here: the hook is run directly, its smtpctl failure logged), which leaves smtpd's
    list table with the new list's nine addresses."""
    import os

    from mm3tools import mailman3_bin

    from emitters.mailman3.mailman_cfg import CONFIG, MTA_CONFIG
    from emitters.mailman3.paths import MM3_MTA_CONFIG, MM3_SECRETS_NAME, MM3_VAR, TABLE_HOOK

    bin_ = mailman3_bin()
    files = plan_mm3(inventories["small"], "small").files
    var, hook = tmp_path / "var", tmp_path / "hook.sh"
    table = tmp_path / "mailman3-lists"

    def moved(text: str) -> str:
        return (text.replace(MM3_VAR, str(var)).replace(MM3_MTA_CONFIG, str(tmp_path / "mta.cfg"))
                .replace(SMTPD_LIST_TABLE, str(table)).replace("logger ", "echo logged "))

    (tmp_path / "mailman.cfg").write_text(moved(files[CONFIG]))
    (tmp_path / "mta.cfg").write_text(moved(files[MTA_CONFIG]).replace(
        f"/usr/bin/doas -n {TABLE_HOOK}", f"sh {hook}"))
    hook.write_text(moved(files[HOOK]))
    root = ["--run-as-root"] if os.geteuid() == 0 else []

    def mailman(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(bin_), "-C", str(tmp_path / "mailman.cfg"), *root, *args],
                              capture_output=True, text=True, timeout=120)

    # mailman.cfg extends the secrets file the plan makes on the host (a name relative to its
    # folder): without it Mailman does not start, with it the REST password is the host's
    assert mailman("info").returncode != 0
    (tmp_path / MM3_SECRETS_NAME).write_text("[webservice]\nadmin_pass: made-on-the-host\n")
    info = mailman("info")
    assert info.returncode == 0, info.stderr
    assert "GNU Mailman 3" in info.stdout and str(tmp_path / "mailman.cfg") in info.stdout
    assert "restadmin:made-on-the-host" in info.stdout
    made = mailman("create", "--quiet", "ant@lists.example.org")
    assert made.returncode == 0, made.stderr
    lines = table.read_text().splitlines()
    assert lines[0] == TABLE_SENTINEL
    assert sorted(lines[1:]) == sorted(
        f"ant{s}@lists.example.org" for s in ("", "-bounces", "-confirm", "-join", "-leave",
                                              "-owner", "-request", "-subscribe",
                                              "-unsubscribe"))


def test_what_waits_is_exported_at_the_freeze_carried_and_imported(inventories):
    """The freeze exports what waits once Mailman 2 stopped (and removes it on the way back),
    the final sync carries the export, and the switch imports it after import21, as
    Mailman 3's user, then tells the moderators."""
    inv = inventories["netsight"]
    result = plan_mm3(inv, "netsight")
    steps = {s.id: s.to_data() for s in result.steps}
    drain = [a["command"] for a in steps["old-mailman-drain"]["actions"] if "command" in a]
    stop = drain.index("service mailman stop")
    export = next(i for i, c in enumerate(drain) if "export_waiting.py" in c)
    assert export > stop
    assert " announce devtalk mailman users'; rc=$?" in drain[export]  # as Mailman's user
    back = [a.get("command") for a in steps["old-mailman-drain"]["rollback"]]
    assert back.index("rm -rf /usr/local/mailman/data/mailman3-waiting") < \
        back.index("service mailman start")
    # the final sync walks the export's folder (new at the freeze: copied whole) and its
    # deletion run covers it
    data = next(t for t in json.loads(result.files["rsync/sync-spec.json"])["trees"]
                if t["path"] == "data")
    assert data["folders"] == ["mailman3-waiting"]
    assert "+ /data/mailman3-waiting/***\n" in result.files["rsync/sync-filter.rules"]
    switch = [a["command"] for a in steps["new-mailman"]["actions"] if "command" in a]
    imported = next(i for i, c in enumerate(switch) if "import-lists.sh" in c)
    carried = next(i for i, c in enumerate(switch) if "mailman3-import-waiting.py" in c)
    assert imported < carried and switch[carried].startswith("su -s /bin/sh _mailman3 -c ")
    assert any(c.endswith("notify'  # the moderators learn what waits") for c in switch)


def test_an_unsubscription_waiting_for_the_moderator_is_a_blocker(inventories):
    import copy

    inv = copy.deepcopy(inventories["small"])
    ml = inv.lists[0]
    ml.held_count += 1  # one request that is neither a held post nor a subscription
    result = plan_mm3(inv, "small")
    blocker = next(f for f in result.blockers()
                   if f.id == "plan.mailman3-unsubscriptions-waiting")
    assert ml.name in blocker.message and "1 unsubscription" in blocker.message


def test_a_subscription_waiting_for_a_moderator_the_policy_no_longer_asks_is_a_blocker(
        inventories):
    """netsight's users list holds a subscription for the moderator while its policy is
    confirm (1): Mailman 3 would subscribe it at once (the import of what waits refuses it in
    the freeze), so the plan says so first. Under a moderated policy it is carried."""
    blocker = next(f for f in plan_mm3(inventories["netsight"], "netsight").blockers()
                   if f.id == "plan.mailman3-subscriptions-waiting")
    assert "list users has 1 subscription" in blocker.message, blocker.message
    assert blocker.source and blocker.source.file.endswith("/lists/users/config.pck")
    import copy

    inv = copy.deepcopy(inventories["netsight"])
    next(ml for ml in inv.lists if ml.name == "users").subscribe_policy = 2
    assert not [f for f in plan_mm3(inv, "netsight").blockers()
                if f.id == "plan.mailman3-subscriptions-waiting"]


def test_the_ansible_export_carries_the_mailman3_steps(inventories, tmp_path):
    """The export reads the same typed steps: each Mailman 3 step becomes its role's task
    file, its commands in the new host's vars."""
    from migrate.app.exporting import export_ansible

    result = plan_mm3(inventories["small"], "small")
    write_plan(result, str(tmp_path / "plan"))
    export_ansible([str(tmp_path / "plan")], str(tmp_path / "fleet"))
    tasks = {p.name for p in (tmp_path / "fleet" / "roles").glob("*/tasks/*.yaml")}
    for step in ("new-mailman3-user", "new-mailman3-venv", "new-mailman3-check",
                 "new-mailman"):
        assert f"{step}.yaml" in tasks
    # the step's commands travel in the host's vars, as every step's do
    host_vars = next((tmp_path / "fleet" / "host_vars").glob("*-new.yaml")).read_text()
    assert "files/new/mailman3/requirements.txt" in host_vars


def test_the_plan_carries_the_lock_file_and_scripts_as_they_are(inventories):
    """The copies the golden plans leave out (tools/update_golden.py SKIP): byte for byte the
    destination's own files."""
    from emitters.mailman3 import plugin

    files = plan_mm3(inventories["small"], "small").files
    scripts = REPO / "emitters" / "mailman3" / "scripts"
    assert files[plugin.LOCK_FILE] == (REPO / "emitters/mailman3/requirements.txt").read_text()
    for rel, name in ((plugin.DIGESTS_SCRIPT, "old_digests.py"),
                      (plugin.EXPORT_SCRIPT, "export_waiting.py"),
                      (plugin.WAITING_SCRIPT, "import_waiting.py")):
        assert files[rel] == (scripts / name).read_text()
    assert set(golden_tool().SKIP) >= {plugin.LOCK_FILE, plugin.DIGESTS_SCRIPT,
                                       plugin.EXPORT_SCRIPT, plugin.WAITING_SCRIPT}


def test_the_lock_file_pins_every_package_the_tested_mailman3_runs_with():
    """What the tests run (.cache/mailman3/venv, built from the lock file) is exactly what the
    lock file names, so the new host's `pip install -r` installs what was tested: nothing
    pulled in unpinned (greenlet came with SQLAlchemy 2.0)."""
    from mm3tools import mailman3_bin

    python = mailman3_bin().with_name("python")
    frozen = subprocess.run([str(python), "-m", "pip", "freeze"], capture_output=True,
                            text=True, check=True).stdout.split()

    def norm(line: str) -> str:
        name, _, version = line.partition("==")
        return f"{name.lower().replace('_', '-')}=={version}"

    pins = [ln.strip() for ln in (REPO / "emitters/mailman3/requirements.txt").read_text()
            .splitlines() if ln.strip() and not ln.startswith("#")]
    assert sorted(map(norm, frozen)) == sorted(map(norm, pins))


def test_the_archive_tools_are_shipped_as_they_are(inventories):
    """The plan ships the archive's preparation script and, beside it, the inspection's own
    scanner (the orchestration puts parsers/mboxscan.py there: the emitters never read the
    parsers), each installed where the import script runs it; the web UI's files too."""
    from emitters.mailman3.archives import IMPORT_SCRIPT as ARCHIVES, SCANNER_FILE, SCRIPT_FILE
    from emitters.mailman3.paths import ARCHIVE_SCRIPT, ARCHIVE_TOOLS
    from emitters.mailman3.web import URLS_FILE

    plan = plan_mm3(inventories["netsight"], "netsight")
    assert plan.files[SCANNER_FILE] == (REPO / "parsers/mboxscan.py").read_text()
    scripts = REPO / "emitters/mailman3/scripts"
    assert plan.files[SCRIPT_FILE] == (scripts / "hyperkitty_archive.py").read_text()
    assert plan.files[URLS_FILE] == (scripts / "mailman2_urls.py").read_text()
    installed = str({s.id: s for s in plan.steps}["new-files"].to_data())
    assert f"{ARCHIVE_TOOLS}/mboxscan.py" in installed and ARCHIVE_SCRIPT in installed
    # every list with an archive is imported and checked, as the web user
    script = plan.files[ARCHIVES]
    for name in ("announce", "devtalk", "users", "mailman"):
        assert (f"prepare /var/mailman3/import21/archives/private/{name}.mbox/{name}.mbox "
                in script)
        assert f"hyperkitty_archive.py check /var/mailman3-web/import/{name}.json" in script
