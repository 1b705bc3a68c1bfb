"""The Mailman parser: installation, mm_cfg.py, list configurations, requests and queues, and
the rule that no password ever reaches an inventory, a report or a log."""

from __future__ import annotations

import json
import re

from typer.testing import CliRunner

import migrate.app.cli as cli
from conftest import SAMPLES, shared_fixture
from parsers.mailman import find_installation, read_mailman, read_mm_cfg
from parsers.pickles import safe_loads
from migrate.app.sources import LocalTree

TRUTH = json.loads((SAMPLES.parent / "tests/sample_truth/netsight.json").read_text())
MM = "/usr/local/mailman"


def test_netsight_lists_match_the_truth():
    tree = LocalTree(SAMPLES / "netsight")
    result = read_mailman(tree, {91: "mailman"}, {91: "mailman"})
    mm = result.mailman
    assert (mm.layout, mm.prefix, mm.var_prefix, mm.version) == (
        "freebsd-port", MM, MM, "2.1.29")
    assert mm.wrapper == f"{MM}/mail/mailman"
    by = {ml.name: ml for ml in result.lists}
    assert sorted(by) == sorted(TRUTH["lists"])
    for name, truth in TRUTH["lists"].items():
        ml = by[name]
        assert ml.host_name == truth["host_name"]
        assert ml.real_name == truth["real_name"]
        assert ml.owners == truth["owners"]
        assert ml.moderators == truth["moderators"]
        assert ml.members.regular_count == truth["members_regular"]
        assert ml.members.digest_count == truth["members_digest"]
        assert ml.members.regular_count + ml.members.digest_count - ml.members.delivery_status[
            "enabled"] == truth["disabled_members"]
        assert ml.archive == truth["archive"]
        assert ml.archive_private == bool(truth["archive_private"])
        assert ml.data_version == truth["data_version"]
        assert ml.created_at.timestamp() == int(truth["created_at"])
        assert ml.next_post_number == int(truth["post_id"])
        assert ml.description == truth["description"]
    # Mixed-case members keep their case, as Mailman shows them.
    assert set(TRUTH["lists"]["announce"]["mixed_case_members"]) <= set(
        by["announce"].members.regular + by["announce"].members.digest)
    assert by["users"].held_count == 3 and by["announce"].pending_count == 1
    assert by["devtalk"].description.startswith("Entwickler-Diskussionen für")  # latin-1 text
    ids = [f.id for f in result.findings]
    assert "mailman.held-message-missing" in ids and "mailman.shunted" in ids
    assert "mailman.old-data-version" in ids
    assert mm.queues == {"shunt": 1}


def test_mm_cfg_is_read_not_run(tree_factory, tmp_path):
    sentinel = tmp_path / "ran"
    text = (
        "from Defaults import *\n"
        "import os\n"
        f"os.system('touch {sentinel}')\n"
        "DEFAULT_URL_HOST = 'lists.example.org'\n"
        "DEFAULT_EMAIL_HOST = DEFAULT_URL_HOST\n"
        "add_virtualhost(DEFAULT_URL_HOST, DEFAULT_EMAIL_HOST)\n"
        "add_virtualhost('www.other.example', 'other.example')\n"
        "add_virtualhost(compute())\n"
        "POSTFIX_STYLE_VIRTUAL_DOMAINS = ['other.example']\n"
        "MTA = 'Postfix'\n"
        "PUBLIC_ARCHIVE_URL = 'http://%(hostname)s/pipermail/%(listname)s'\n"
        "VERP_CONFIRMATIONS = Yes\n"
        "SMTP_PASSWD = 's3cr3t-smtp'\n"
        "if DEFAULT_URL_HOST:\n    MAILMAN_SITE_LIST = 'x'\n"
    )
    root = tree_factory({"/etc/mailman/mm_cfg.py": text})
    settings, findings, config = read_mm_cfg(LocalTree(root), "/etc/mailman/mm_cfg.py")
    assert not sentinel.exists()
    assert settings.default_url_host == settings.default_email_host == "lists.example.org"
    assert [(v.url_host, v.email_host, v.source.line) for v in settings.virtual_hosts] == [
        ("lists.example.org", "lists.example.org", 6), ("www.other.example", "other.example", 7)]
    assert settings.postfix_style_virtual_domains == ["other.example"]
    assert settings.mta == "Postfix" and settings.other["VERP_CONFIRMATIONS"] == "1"
    assert settings.other["SMTP_PASSWD"] == "<hidden>"
    got = sorted((f.id, f.source.line) for f in findings)
    assert got == [("mailman.mm-cfg-computed", 3), ("mailman.mm-cfg-computed", 8),
                   ("mailman.mm-cfg-import", 2), ("mailman.mm-cfg-statement", 14)]
    assert config.sha256 and settings.sources["MTA"].line == 10


def test_virtual_hosts_clear_is_the_idiom_not_a_problem(tree_factory):
    """``VIRTUAL_HOSTS.clear()`` before add_virtualhost lines (the campus sample): the mapping
    starts afresh there; other calls stay findings that say to carry them by hand."""
    text = ("from Defaults import *\n"
            "add_virtualhost('old.example', 'old.example')\n"
            "VIRTUAL_HOSTS.clear()\n"
            "add_virtualhost('lists.example.org', 'example.org')\n"
            "set_up_things('x')\n")
    root = tree_factory({"/etc/mailman/mm_cfg.py": text})
    settings, findings, _ = read_mm_cfg(LocalTree(root), "/etc/mailman/mm_cfg.py")
    assert [(v.url_host, v.email_host) for v in settings.virtual_hosts] == [
        ("lists.example.org", "example.org")]
    assert [(f.id, f.source.line) for f in findings] == [("mailman.mm-cfg-computed", 5)]
    hint = findings[0].hint
    assert "carry it over into the new mm_cfg.py" in hint and "Set " not in hint


def test_mm_cfg_python2_syntax_is_a_finding(tree_factory):
    root = tree_factory({"/etc/mailman/mm_cfg.py": "from Defaults import *\nprint 'hi'\n"})
    _, findings, _ = read_mm_cfg(LocalTree(root), "/etc/mailman/mm_cfg.py")
    assert [(f.id, f.source.line) for f in findings] == [("mailman.mm-cfg-syntax", 2)]


def test_debian_layout(tree_factory):
    root = tree_factory({"/usr/lib/mailman/Mailman/Version.py": 'VERSION = "2.1.23"\n',
                         "/usr/lib/mailman/mail/mailman": "x",
                         "/etc/mailman/mm_cfg.py": "DEFAULT_URL_HOST = 'd.example'\n",
                         "/var/lib/mailman/lists/.keep": ""})
    tree = LocalTree(root)
    assert find_installation(tree) == ("debian", "/usr/lib/mailman", "/var/lib/mailman")
    result = read_mailman(tree)
    assert result.mailman.version == "2.1.23"
    assert result.mailman.settings.default_url_host == "d.example"
    assert result.mailman.config_file == "/etc/mailman/mm_cfg.py"


def _fixture_bytes() -> bytes:
    return shared_fixture("mailman", "mm3-testsuite-config.pck").read_bytes()


def _fixture_secrets() -> list[str]:
    d = safe_loads(_fixture_bytes())
    secrets = [v.decode() for v in d[b"passwords"].values()]
    secrets += [d[b"password"].decode()] + ([d[b"mod_password"].decode()]
                                             if d.get(b"mod_password") else [])
    assert len(secrets) >= 4 and all(len(s) >= 4 for s in secrets)
    return secrets


def test_fallback_to_config_pck_last_and_config_db(tree_factory):
    fixture = _fixture_bytes()
    root = tree_factory({f"{MM}/Mailman/mm_cfg.py": "from Defaults import *\n",
                         f"{MM}/mail/mailman": "x",
                         f"{MM}/lists/test/config.pck": fixture[: len(fixture) // 2],
                         f"{MM}/lists/test/config.pck.last": fixture,
                         f"{MM}/lists/test/config.pck.tmp.host.123": b"",
                         f"{MM}/lists/old/config.db": b"\xfb\x03\x00\x00marshal"})
    result = read_mailman(LocalTree(root))
    assert [ml.name for ml in result.lists] == ["test"]
    test = result.lists[0]
    assert (test.real_name, test.host_name, test.members.regular_count) == (
        "Test", "heresy.example.org", 3)
    ids = sorted(f.id for f in result.findings)
    assert ids == ["mailman.config-db", "mailman.config-fallback", "mailman.no-site-list",
                   "mailman.no-site-password",
                   "mailman.pickle-broken"]


def test_no_secret_reaches_inventory_json_terminal_or_log(tree_factory, tmp_path, monkeypatch):
    secrets = _fixture_secrets() + TRUTH["secrets"]
    root = tree_factory({f"{MM}/Mailman/mm_cfg.py": "from Defaults import *\n",
                         f"{MM}/mail/mailman": "x",
                         f"{MM}/lists/test/config.pck": _fixture_bytes(),
                         f"{MM}/lists/test/pending.pck": _fixture_bytes(),
                         "/etc/rc.conf": 'hostname="h.example"\n'})
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    runner = CliRunner()
    outputs = []
    for host_root in (root, SAMPLES / "netsight"):
        out = tmp_path / "inv.yaml"
        for args in (["-o", str(out)], ["--json"], ["-o", "-"]):
            result = runner.invoke(cli.app, ["inspect", "--root", str(host_root), *args])
            assert result.exit_code in (0, 1), result.stderr
            outputs += [result.stdout, result.stderr]
        outputs.append(out.read_text())
    logs = list((tmp_path / "state").rglob("*")) if (tmp_path / "state").exists() else []
    outputs += [p.read_text() for p in logs if p.is_file()]
    blob = "\n".join(outputs)
    # The fixture's list was read (so the check below is not vacuous), its secrets were not.
    assert "heresy.example.org" in blob and "pw-announce" not in blob
    leaked = [s for s in secrets if s in blob]
    assert leaked == []
    assert not re.search(r"\bpasswords?\b\s*:", blob)


def test_every_queue_that_holds_a_post_or_command_is_a_finding(tree_factory):
    """archive, commands and news hold posts and commands on their way, as in, out, virgin,
    bounces and retry do: each non-empty one is a finding naming its folder; shunt waits for a
    person and is a finding of its own."""
    from migrate.core.mailman2 import DRAIN_QUEUES, QUEUES
    files = {f"{MM}/Mailman/mm_cfg.py": "from Defaults import *\n", f"{MM}/mail/mailman": "x",
             f"{MM}/lists/.keep": ""}
    for n, queue in enumerate(QUEUES):
        for i in range(n + 1):  # a different count per queue
            files[f"{MM}/qfiles/{queue}/17640000{n}{i}.5+{i:040x}.pck"] = b"x"
    files[f"{MM}/qfiles/archive/notes.txt"] = b"not an entry"
    result = read_mailman(LocalTree(tree_factory(files)))
    assert result.mailman.queues == {q: n + 1 for n, q in enumerate(QUEUES)}
    waiting = {f.source.file.rsplit("/", 1)[1]: f for f in result.findings
               if f.id == "mailman.queue-not-empty"}
    assert sorted(waiting) == sorted(DRAIN_QUEUES)
    assert {"archive", "commands", "news"} <= set(waiting)
    for queue, f in waiting.items():
        assert f.source.file == f"{MM}/qfiles/{queue}"
        assert f.message.startswith(f"{QUEUES.index(queue) + 1} message(s)")
        assert f.severity == "warning" and "drain" in f.hint
    assert [f.source.file for f in result.findings if f.id == "mailman.shunted"] == [
        f"{MM}/qfiles/shunt"]


def test_held_posts_and_site_files_are_in_the_inventory_with_checksums(tree_factory):
    """The held posts request.pck points at (data/heldmsg-LIST-N.pck or .txt) belong to their
    list, with owner, mode, size and SHA-256 for the manifest; so do the site's adm.pw and
    creator.pw, whose content never reaches the inventory."""
    import hashlib
    import sys
    sys.path.insert(0, str(SAMPLES.parent / "tools"))
    from py2pickle import dumps
    from migrate.core.codec import dump_yaml
    from migrate.app.inspection import inspect_tree
    from migrate.core.model import Origin
    held = {17: (1, (1.0, b"a@example.org", b"s", b"r", b"heldmsg-dev-17.pck", {})),
            18: (1, (2.0, b"b@example.org", b"s", b"r", b"heldmsg-dev-18.txt", {})),
            19: (1, (3.0, b"c@example.org", b"s", b"r", b"heldmsg-dev-19.pck", {})),
            20: (2, (4.0, b"d@example.org", b"D", b"pw-held-subscription", 0, b"en")),
            b"version": (0, 1)}
    pw_hash = "5e884898da28047151d0e56f8dc6292773603d0d"
    files = {f"{MM}/Mailman/mm_cfg.py": "from Defaults import *\n", f"{MM}/mail/mailman": "x",
             f"{MM}/lists/dev/config.pck": dumps({b"real_name": b"Dev"}, protocol=1),
             f"{MM}/lists/dev/request.pck": dumps(held, protocol=1),
             f"{MM}/lists/dev-team/config.pck": dumps({b"real_name": b"Dev-Team"}, protocol=1),
             f"{MM}/data/heldmsg-dev-17.pck": b"BODY-SEVENTEEN",
             f"{MM}/data/heldmsg-dev-18.txt": b"From: b@example.org\n\nBODY-EIGHTEEN\n",
             # 19 is missing; 21 is on no request (still the list's: it moves with it)
             f"{MM}/data/heldmsg-dev-21.pck": b"BODY-TWENTY-ONE",
             f"{MM}/data/heldmsg-dev-team-3.pck": b"the other list's",
             f"{MM}/data/bounce-info.pck": b"not a list's",
             f"{MM}/data/adm.pw": pw_hash + "\n", f"{MM}/data/creator.pw": pw_hash[::-1] + "\n"}
    root = tree_factory(files)
    (root / MM.lstrip("/") / "data/adm.pw").chmod(0o640)
    result = read_mailman(LocalTree(root))
    by = {ml.name: ml for ml in result.lists}
    assert [f.path for f in by["dev"].held_files] == [
        f"{MM}/data/heldmsg-dev-17.pck", f"{MM}/data/heldmsg-dev-18.txt",
        f"{MM}/data/heldmsg-dev-21.pck"]
    assert [f.path for f in by["dev-team"].held_files] == [f"{MM}/data/heldmsg-dev-team-3.pck"]
    for f in by["dev"].held_files + by["dev-team"].held_files:
        data = (root / f.path.lstrip("/")).read_bytes()
        assert (f.size, f.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert by["dev"].held_count == 4
    missing = [f for f in result.findings if f.id == "mailman.held-message-missing"]
    assert [f.message.rsplit(" refers to ", 1)[1] for f in missing] == [
        f"{MM}/data/heldmsg-dev-19.pck, which is missing"]
    site = {f.path: f for f in result.mailman.site_files}
    assert sorted(site) == [f"{MM}/data/adm.pw", f"{MM}/data/creator.pw"]
    assert site[f"{MM}/data/adm.pw"].mode == "0640" and site[f"{MM}/data/adm.pw"].size == 41
    assert "mailman.no-site-password" not in [f.id for f in result.findings]
    inv = inspect_tree(LocalTree(root), Origin("local", str(root)))
    assert [f.path for f in inv.mailman.site_files] == sorted(site)
    text = dump_yaml(inv)
    assert "heldmsg-dev-18.txt" in text and "adm.pw" in text
    assert pw_hash not in text and pw_hash[::-1] not in text
    assert "pw-held-subscription" not in text and "BODY-" not in text
    pending = next(f for f in result.findings if f.id == "mailman.requests-pending")
    assert pending.severity == "info" and "not carried" not in pending.hint
    assert "heldmsg" in pending.hint and "pending.pck" in pending.hint
