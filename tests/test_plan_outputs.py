"""The rest of the plan directory: the rsync phases run by the real rsync, the manifest checked
by sha256sum, the runbook's commands, the DNS records and the report."""

from __future__ import annotations

import html
import html.parser
import ipaddress
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from browsertools import chromium_binary, load_page
from conftest import SAMPLES, golden_tool, need
from emitters.mailman2.paths import MM_VAR
from emitters.rsync_plan import FLAGS_COMMON, FLAGS_FINAL
from migrate.app.inspection import inspect_tree
from migrate.core.model import Origin
from migrate.app.planning import build_plan, resolve_target, write_plan
from migrate.app.sources import LocalTree

V6 = "2001:db8:50::25"
OLD_VAR = "/usr/local/mailman"
update_golden = golden_tool()


@pytest.fixture(scope="module")
def netsight():
    # owned by root as the host has it, whoever cloned (the owner of data/adm.pw is in final.sh)
    inv = inspect_tree(update_golden.SampleTree(SAMPLES / "netsight"),
                       Origin("local", "/samples/netsight"))
    target = resolve_target(inv, {}, {"hostname": "lists.netsight.example", "ipv6": [V6],
                                      "smarthost": "smtp.upstream.example",
                                      "destination": "mailman2"})
    return inv, build_plan(inv, target)


# --- rsync, for real --------------------------------------------------------------------------


def _run_phase(plan, phase: str, old_root: Path, new_root: Path) -> str:
    """Run the phase's transfers with the real rsync, host paths mapped under two roots (the
    same flags as the script; only the SSH hop is left out: both ends are local here)."""
    need(shutil.which("rsync") is not None, "rsync is not installed")
    data = yaml.safe_load(plan.files["rsync/transfers.yaml"])
    assert phase == "presync"  # the final sync's runs follow the record: test_final_sync_e2e
    flags = [f for f in data["flags"]["common"] if not f.startswith("--rsh")]
    log = []
    for t in data["transfers"]:
        # string joins keep the trailing slashes rsync's meaning depends on (copy the
        # folder's content, not the folder into itself)
        assert t["source"].endswith("/") and t["destination"].endswith("/")
        dest = f"{new_root}{t['destination']}"
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        only = [f"--include={p}" for p in t.get("include", [])]
        only += ["--exclude=*"] if only else []
        only = [f"--exclude={p}" for p in t.get("exclude", [])] + only
        proc = subprocess.run(["rsync", *flags, *only, f"{old_root}{t['source']}", dest],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        log.append(proc.stdout)
    return "".join(log)


def _manifest_check(plan, new_root: Path) -> subprocess.CompletedProcess:
    text = plan.files["rsync/manifest.sha256"]
    mapped = re.sub(r"^SHA256 \((/[^)]+)\)",
                    lambda m: f"SHA256 ({new_root}{m.group(1)})", text, flags=re.M)
    return subprocess.run(["sha256sum", "--strict", "-c", "-"], input=mapped,
                          capture_output=True, text=True)


def test_rsync_phases_copy_everything_and_the_manifest_holds(netsight, tmp_path):
    inv, plan = netsight
    old = tmp_path / "old"
    shutil.copytree(SAMPLES / "netsight" / OLD_VAR.lstrip("/"), old / OLD_VAR.lstrip("/"),
                    symlinks=True)
    new = tmp_path / "new"
    first = _run_phase(plan, "presync", old, new)
    assert "announce.mbox" in first
    check = _manifest_check(plan, new)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count(": OK") == len(plan.files["rsync/manifest.sha256"].splitlines())
    target_var = new / MM_VAR.lstrip("/")
    # the held post and the site password file came along; nothing else of data/ does
    assert sorted(p.name for p in (target_var / "data").iterdir()) == [
        "adm.pw", "heldmsg-users-17.pck"]
    assert "/var/spool/mailman/data/heldmsg-users-17.pck" in plan.files["rsync/manifest.sha256"]
    assert "/var/spool/mailman/data/adm.pw" in plan.files["rsync/manifest.sha256"]
    # repeating the pre-sync copies nothing
    assert _run_phase(plan, "presync", old, new).strip() == ""
    # (the final sync, which moves only what changed since, runs for real against every kind
    # of change in tests/test_final_sync_e2e.py)


def test_requests_compare_equal_on_both_hosts_and_catch_a_difference(netsight, tmp_path):
    """freeze-manifest.py's requests: each list's held posts, request.pck and pending.pck by
    checksum, the same on both hosts, with Python 3 and 2.7 alike; a held post missing on one
    side or changed is a difference."""
    inv, plan = netsight
    old_var = tmp_path / "old"
    shutil.copytree(SAMPLES / "netsight" / OLD_VAR.lstrip("/"), old_var, symlinks=True)
    target_var = tmp_path / "new"
    shutil.copytree(old_var, target_var, symlinks=True)
    (old_var / "data/heldmsg-users-19.txt").write_bytes(b"From: x@example.org\n\nlate\n")
    shutil.copy(old_var / "data/heldmsg-users-19.txt", target_var / "data")
    lists = sorted(ml.name for ml in inv.lists)
    script = tmp_path / "freeze-manifest.py"
    script.write_text(plan.files["rsync/freeze-manifest.py"])
    for python in _pythons():
        requests = [subprocess.run([python, str(script), "requests", str(var), *lists],
                                   capture_output=True, text=True, check=True).stdout
                    for var in (old_var, target_var)]
        assert requests[0] == requests[1]
        assert "users: 2 held post file(s), heldmsg-users-17.pck " in requests[0]
        assert "announce: 0 held post file(s), request.pck none, pending.pck " in requests[0]
    (target_var / "data/heldmsg-users-19.txt").unlink()
    after = subprocess.run([sys.executable, str(script), "requests", str(target_var), *lists],
                           capture_output=True, text=True, check=True).stdout
    assert "users: 1 held post file(s)" in after and after != requests[0]


def _pythons() -> list[str]:
    """Python 3 and, where pyenv has it, the 2.7 that Mailman 2 hosts run."""
    from conftest import python27
    return [sys.executable] + [p for p in [python27()] if p]


def test_presync_goes_on_when_a_live_mailmans_files_vanish_the_final_sync_does_not(netsight,
                                                                                 tmp_path):
    """rsync exits 24 when files vanish while it copies (seen with the real Mailman in the
    end-to-end test: pipermail's lock files in archives/private/LIST/database): harmless in
    the pre-sync, which copies a live host; in the final sync, with Mailman stopped, it is an
    error like any other. rsync is a stand-in here that only exits with the code given."""
    _, plan = netsight
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "rsync").write_text("#!/bin/sh\nexit $RSYNC_EXIT\n")
    (fake / "rsync").chmod(0o755)
    (fake / "ssh").write_text("#!/bin/sh\nexit 0\n")  # the final sync asks the new host first
    (fake / "ssh").chmod(0o755)
    for path, code, ok in (("rsync/presync.sh", 24, True), ("rsync/presync.sh", 23, False),
                           ("rsync/final.sh", 24, False), ("rsync/presync.sh", 0, True)):
        text = plan.files[path]
        # the copies only: stop before the final sync's ssh steps
        text = text[:text.index("\n# Owners")] if "\n# Owners" in text else text
        text = text.replace("py \"$HERE/", ": \"$HERE/")
        res = subprocess.run(["sh", "-c", text], capture_output=True, text=True, cwd=tmp_path,
                             env=dict(os.environ, PATH=f"{fake}:{os.environ['PATH']}",
                                      NEW="root@2001:db8::26", RSYNC_EXIT=str(code)))
        assert (res.returncode == 0) == ok, (path, code, res.stderr)


def test_rsync_scripts_explain_every_flag_and_parse(netsight):
    _, plan = netsight
    for path in ("rsync/presync.sh", "rsync/final.sh"):
        text = plan.files[path]
        proc = subprocess.run(["sh", "-n", "-c", text], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        flags = FLAGS_COMMON + (FLAGS_FINAL if "final" in path else ())
        for flag, why in flags:
            assert f"#   {flag:<32} {why}" in text
    final = plan.files["rsync/final.sh"]
    assert "ln -sfn /var/spool/mailman/archives/private/announce " \
           "/var/spool/mailman/archives/public/announce" in final
    assert "archives/public/mailman" not in final  # a private archive gets no public link
    assert "qfiles" not in final
    # from data/ only the moved lists' held posts and the site's password files, by filter
    presync = plan.files["rsync/presync.sh"]
    copies = [line for line in presync.splitlines() if "copy_tree /" in line]
    data = [line for line in copies if "/data/" in line]
    assert len(data) == 1 and data[0].endswith("--include=/adm.pw '--exclude=*'")
    for name in ("announce", "devtalk", "mailman", "users"):
        assert f"'--include=/heldmsg-{name}-[0-9]*.pck'" in data[0]
        assert f"+ /data/heldmsg-{name}-[0-9]*.pck" in plan.files["rsync/sync-filter.rules"]
        assert f"heldmsg-{name}-[0-9]*.pck" in plan.files["rsync/sync-spec.json"]
    assert "creator.pw" not in final  # netsight has none
    # the pre-sync records after its copies; the final sync's delta comes before its copies,
    # the old host's settle and the new host's check after them
    assert presync.index("syncstate.py\" scan") > presync.index(copies[-1])
    text = final.splitlines()
    runs = [i for i, line in enumerate(text) if line.startswith("rsync_run ")]
    assert len(runs) == 3
    at = {word: next(i for i, line in enumerate(text) if word in line)
          for word in ("syncstate.py\" delta", "syncstate.py\" settle", "syncstate.py check")}
    assert at["syncstate.py\" delta"] < runs[0] and runs[-1] < at["syncstate.py\" settle"] \
        < at["syncstate.py check"]
    assert "chown root:_mailman /var/spool/mailman/data/adm.pw" in final
    assert "chmod 0644 /var/spool/mailman/data/adm.pw" in final


# --- runbook ----------------------------------------------------------------------------------


def test_runbook_steps_are_ordered_and_every_command_parses(netsight):
    _, plan = netsight
    steps = yaml.safe_load(plan.files["plan.yaml"].split("\n", 1)[1])["steps"]
    ids = [s["id"] for s in steps]
    assert len(ids) == len(set(ids))
    order = ["new-packages", "presync", "old-freeze", "old-exim-queue", "old-mailman-drain",
             "final-sync", "new-mailman", "old-forward", "dns-switch", "verify"]
    assert [i for i in ids if i in order] == order
    for s in steps:
        commands = [a["command"] for a in s["actions"] + s["rollback"] if a["do"] == "run"]
        for script in (commands, s["check"]):
            proc = subprocess.run(["sh", "-n", "-c", "\n".join(script)], capture_output=True,
                                  text=True)
            assert proc.returncode == 0, (s["id"], proc.stderr)
        assert s["host"] in ("old", "new", "dns", "local")
        for a in s["actions"] + s["rollback"]:
            assert a["do"] in ("run", "put", "append", "insert", "unmark", "wait", "note",
                               "comment", "uncomment", "upload", "smtp", "http", "dns",
                               "setting"), a
    runbook = plan.files["runbook.md"]
    for s in steps:
        assert f"### {s['id']}: " in runbook


@pytest.mark.slow
def test_drain_waits_for_every_queue_that_holds_a_post_or_command(netsight, tmp_path):
    """The drain's loop and check, run by sh against a qfiles tree: a file in any of the
    drained queues (archive, commands and news too) holds them; the shunt queue does not."""
    from migrate.core.mailman2 import DRAIN_QUEUES
    _, plan = netsight
    step = next(s.to_data() for s in plan.steps if s.id == "old-mailman-drain")
    loop = step["actions"][0]["command"]
    check = step["check"][0]
    var = tmp_path / "mm"
    for queue in ("in", "out", "shunt"):
        (var / "qfiles" / queue).mkdir(parents=True)  # commands, news ... do not exist yet
    (var / "qfiles/shunt/1.pck").write_bytes(b"waits for a person")

    def run(command: str, timeout: float = 5) -> int:
        return subprocess.run(["sh", "-c", command.replace(OLD_VAR, str(var))],
                              capture_output=True, timeout=timeout).returncode

    assert run(check) == 0
    for queue in DRAIN_QUEUES:
        entry = var / "qfiles" / queue / "1764000000.5+abc.pck"
        entry.parent.mkdir(parents=True, exist_ok=True)
        entry.write_bytes(b"x")
        assert run(check) != 0, queue
        entry.unlink()
        assert run(check) == 0, queue
    # the loop really waits for a post in qfiles/archive and ends once it is archived
    entry = var / "qfiles/archive/1764000000.5+abc.pck"
    entry.write_bytes(b"x")
    waiting = subprocess.Popen(["sh", "-c", loop.replace(OLD_VAR, str(var))])
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            waiting.wait(timeout=2)
        entry.unlink()
        assert waiting.wait(timeout=15) == 0
    finally:
        if waiting.poll() is None:
            waiting.kill()


@pytest.mark.slow
def test_drain_hands_parked_deliveries_back_to_the_outgoing_queue(netsight, tmp_path):
    """A delivery Mailman parked in qfiles/retry (its SMTP connection refused, as while the
    freeze reloads the MTA: seen with the real Mailman in the end-to-end test) would wait 15
    minutes for RetryRunner: the drain's loop moves it to qfiles/out, whole and under its
    name, where OutgoingRunner takes it; the loop ends once it is sent. (Here the test
    removes it from out, as OutgoingRunner would; tests/test_cutover_e2e.py runs the real
    one.)"""
    _, plan = netsight
    step = next(s.to_data() for s in plan.steps if s.id == "old-mailman-drain")
    loop = step["actions"][0]["command"]
    var = tmp_path / "mm"
    for queue in ("retry", "out"):
        (var / "qfiles" / queue).mkdir(parents=True)
    name = "1764000000.5+abc.pck"
    (var / "qfiles/retry" / name).write_bytes(b"a parked delivery")
    waiting = subprocess.Popen(["sh", "-c", loop.replace(OLD_VAR, str(var))])
    try:
        deadline = time.monotonic() + 15
        while not (var / "qfiles/out" / name).exists():
            assert time.monotonic() < deadline and waiting.poll() is None
            time.sleep(0.05)
        assert not (var / "qfiles/retry" / name).exists()
        assert (var / "qfiles/out" / name).read_bytes() == b"a parked delivery"
        assert waiting.poll() is None  # still waiting: the delivery is not sent yet
        (var / "qfiles/out" / name).unlink()
        assert waiting.wait(timeout=15) == 0
    finally:
        if waiting.poll() is None:
            waiting.kill()


def test_site_passwords_are_checked_where_carried_and_noted_where_absent(netsight):
    _, plan = netsight
    step = next(s.to_data() for s in plan.steps if s.id == "new-mailman")
    assert f"test -s {MM_VAR}/data/adm.pw" in step["check"]
    assert not [c for c in step["check"] if "creator.pw" in c]
    assert not [a for a in step["actions"] if "mmsitepass" in str(a)]
    inv = inspect_tree(LocalTree(SAMPLES / "small"), Origin("local", "/samples/small"))
    small = build_plan(inv, resolve_target(inv, {}, {"hostname": "lists.example.org",
                                                     "ipv6": ["2001:db8:60::25"],
                                                     "destination": "mailman2"}))
    step = next(s.to_data() for s in small.steps if s.id == "new-mailman")
    assert not [c for c in step["check"] if ".pw" in c]
    notes = [a["text"] for a in step["actions"] if a["do"] == "note"]
    assert len(notes) == 1 and "mmsitepass" in notes[0] and "adm.pw" in notes[0]
    assert "--include=/adm.pw" not in small.files["rsync/final.sh"]
    assert "mailman.no-site-password" in [f.id for f in inv.findings]


def test_freeze_check_command_really_detects_the_4xx(netsight):
    """The runbook's freeze check greps exim -bh output for a 451 line: that is the format
    test_plan_old_host sees from the real Exim."""
    _, plan = netsight
    step = next(s.to_data() for s in plan.steps if s.id == "old-freeze")
    assert "exim -bh" in step["check"][0] and "grep -q '^451'" in step["check"][0]


# --- DNS --------------------------------------------------------------------------------------


def test_dns_records(netsight):
    inv, plan = netsight
    text = plan.files["dns/records.md"]
    zone = [line for line in text.splitlines() if re.match(r"\S+\. \d+ IN ", line)]
    assert f"lists.netsight.example. 300 IN AAAA {V6}" in zone
    assert "lists.riverbend.example. 300 IN MX 10 lists.netsight.example." in zone
    assert "lists.riverbend.example. 300 IN MX 20 mail.netsight.example." in zone  # front door
    assert "lists.netsight.example. 300 IN A 192.0.2.25" in zone  # the web front door
    ptr = ipaddress.ip_address(V6).reverse_pointer
    assert f"{ptr}. 300 IN PTR lists.netsight.example." in zone
    assert "48 h before" in text
    proc = subprocess.run(["sh", "-n", "-c", plan.files["dns/checks.sh"]], capture_output=True)
    assert proc.returncode == 0
    assert any(f.id == "plan.spf-smarthost" for f in plan.findings)


# --- the report -------------------------------------------------------------------------------


class _Checker(html.parser.HTMLParser):
    VOID = {"meta", "br", "hr", "img", "line", "rect", "link"}

    def __init__(self):
        super().__init__()
        self.stack, self.tags, self.errors = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
        else:
            self.stack.pop()


def test_report_html_is_self_contained_and_balanced(netsight):
    inv, plan = netsight
    page = plan.files["report.html"]
    checker = _Checker()
    checker.feed(page)
    assert not checker.errors and not checker.stack, checker.errors
    tags = [t for t, _ in checker.tags]
    assert "script" not in tags
    assert not [a for _, a in checker.tags for k in ("src", "href") if k in a]
    rects = [a for t, a in checker.tags if t == "rect"]
    years = {int(m.month[:4]) for a in inv.archives for m in a.months}
    assert len(rects) == max(years) - min(years) + 1
    titles = re.findall(r"<title>(\d{4}): (\d+) posts</title>", page)
    total = sum(int(n) for _, n in titles)
    assert total == sum(a.messages for a in inv.archives) - sum(
        a.undated + a.implausible_dates for a in inv.archives)
    for ml in inv.lists:
        assert f"<td>{ml.name}</td>" in page
    assert page.count('class="sev ') == len(inv.findings) + len(plan.findings)


def test_report_md_has_every_section(netsight):
    _, plan = netsight
    md = plan.files["report.md"]
    for section in ("## Lists", "## Findings", "## Routing parity", "## What will be copied",
                    "## Archived posts per year"):
        assert section in md
    assert "| announce | lists.netsight.example |" in md


def test_written_plan_has_every_part(netsight, tmp_path):
    _, plan = netsight
    write_plan(plan, str(tmp_path / "plan"))
    for rel in ("files/new/etc/mail/smtpd.conf", "files/new/etc/mail/aliases",
                "files/new/etc/httpd.conf",
                "files/new/usr/local/lib/mailman/Mailman/mm_cfg.py.migrate",
                "rsync/presync.sh", "rsync/final.sh", "rsync/transfers.yaml",
                "rsync/manifest.sha256", "files/old/exim-forward-router.conf",
                "files/old/exim-freeze-acl.conf", "files/old/apache-proxy.conf",
                "dns/records.md", "dns/checks.sh", "parity.md", "runbook.md", "report.md",
                "report.html", "plan.yaml"):
        assert (tmp_path / "plan" / rel).is_file(), rel
    assert os.access(tmp_path / "plan/rsync/final.sh", os.X_OK)


#: The sections every report has (a section may be added: these must stay).
REPORT_SECTIONS = ("Lists", "Findings", "Routing parity", "Web parity", "What will be copied",
                   "Archived posts per year")


@pytest.mark.parametrize("destination", ["mailman2", "mailman3"])
def test_report_renders_in_a_real_browser(netsight, destination, tmp_path):
    """Headless Chromium loads netsight's report.html (tests/browsertools.py): the DOM it built
    has the title, every section and every table laid out, the chart is drawn (bars of non-zero
    size), the page raised no error (exception, console or log), and every internal link
    (href="#...") leads to an element. A missing chromium skips, or under
    MIGRATE_REQUIRE_TOOLS=1 fails (tools/install-test-deps.sh installs it)."""
    binary = chromium_binary()
    inv, plan = netsight
    if destination != "mailman2":
        plan = build_plan(inv, resolve_target(inv, {}, {
            "hostname": "lists.netsight.example", "ipv6": [V6],
            "smarthost": "smtp.upstream.example", "destination": destination}))
    write_plan(plan, str(tmp_path / "plan"))
    source = (tmp_path / "plan/report.html").read_text(encoding="utf-8")
    page = load_page(tmp_path / "plan/report.html", binary=binary)
    found = page.found

    assert page.errors == [], "the page raised errors:\n" + "\n".join(page.errors)
    assert found["readyState"] == "complete"
    title = html.unescape(re.search(r"<title>(.*?)</title>", source).group(1))
    assert found["title"] == title and found["h1"] == [title]
    headings = [re.sub(r" \(\d+\)$", "", h) for h in found["h2"]]
    assert [h for h in REPORT_SECTIONS if h not in headings] == [], found["h2"]
    if destination == "mailman3":
        assert "What the import carries" in headings
    assert f"Findings ({len(inv.findings) + len(plan.findings)})" in found["h2"]
    tables = found["tables"]
    assert len(tables) == source.count("<table") >= len(REPORT_SECTIONS) - 1
    assert all(t["height"] > 0 for t in tables) and tables[0]["rows"] == len(inv.lists), tables

    assert [c["label"] for c in found["charts"]] == ["archived posts per year"]
    chart = found["charts"][0]
    assert chart["shown"] and chart["width"] > 100 and chart["height"] > 50, chart
    years = {int(m.month[:4]) for a in inv.archives for m in a.months}
    bars = chart["bars"]
    assert len(bars) == max(years) - min(years) + 1 and chart["elements"] > len(bars)
    assert all(b["shown"] and b["fill"] not in ("", "none") for b in bars), bars
    drawn = [b for b in bars if b["width"] > 0 and b["height"] > 0]
    assert len(drawn) == len({int(y) for y, n in re.findall(
        r"<title>(\d{4}): (\d+) posts</title>", source) if int(n) > 0}) > 0, bars

    assert found["duplicateIds"] == []
    assert found["brokenLinks"] == [], f"internal links to no element: {found['brokenLinks']}"
    assert len(found["internalLinks"]) == len(re.findall(r'href="#', source))


def test_compare_manifest_script_reports_changes(netsight, tmp_path):
    """The preflight's comparison runs with the old host's Python; here with python3, and
    vermin checks it needs no more than Python 2.6."""
    _, plan = netsight
    script = tmp_path / "compare.py"
    script.write_text(plan.files["rsync/compare-manifest.py"])
    same, changed = tmp_path / "same", tmp_path / "changed"
    same.write_bytes(b"kept\n")
    changed.write_bytes(b"new content\n")
    import hashlib
    manifest = tmp_path / "manifest"
    kept = hashlib.sha256(b"kept\n").hexdigest()
    before = hashlib.sha256(b"old content\n").hexdigest()
    manifest.write_text(f"SHA256 ({same}) = {kept}\n"
                        f"SHA256 ({changed}) = {before}\n"
                        f"SHA256 ({tmp_path / 'gone'}) = {'0' * 64}\n")
    out = subprocess.run([sys.executable, str(script), str(manifest)], capture_output=True,
                         text=True, check=True).stdout
    assert out.splitlines()[-1] == "1 unchanged, 1 changed, 1 missing"
    assert f"changed since the inspection: {changed}" in out
    old = plan.files["rsync/manifest-old.sha256"].splitlines()
    assert old and all(line.startswith("SHA256 (/usr/local/mailman/") for line in old)
    vermin = shutil.which("vermin") or str(Path(sys.executable).with_name("vermin"))
    if os.path.exists(vermin):
        res = subprocess.run([vermin, "--no-tips", "-t=2.6", "-t=3.0", "--violations",
                              str(script)], capture_output=True, text=True)
        assert res.returncode == 0 and "not met" not in res.stdout, res.stdout
