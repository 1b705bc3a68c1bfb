"""The oakfield sample: Mailman 2 set up as many guides do it, its CGI under /cgi-bin/mailman/
and its logos under /images/mailman/, HTTPS only (sample_configs/README.md, "oakfield").

The sample is consistent with itself: what Mailman wrote (each list's web_page_url, the
``List-*`` headers of the archived posts, the links of the pipermail pages) names the prefix
Apache serves and mm_cfg.py gives. The real Exim routes the lists to Mailman and the host's
own addresses to its person; the real Apache's view of the sample is tests/test_apache.py's.
"""

from __future__ import annotations

import json
import re

from conftest import SAMPLES
from eximtools import bt_blocks, bt_route, ensure_users, exim
from migrate.app.inspection import inspect_tree
from migrate.app.sources import LocalTree
from migrate.core.model import Origin

ROOT = SAMPLES / "oakfield"
CONFIGURE = "/usr/local/etc/exim/configure"
HOST = "lists.oakfield.example"
CGI = f"https://{HOST}/cgi-bin/mailman/"
LIST_SUFFIXES = ("", "-admin", "-bounces", "-confirm", "-join", "-leave", "-owner", "-request",
                 "-subscribe", "-unsubscribe")


def _truth() -> dict:
    return json.loads((SAMPLES.parent / "tests/sample_truth/oakfield.json").read_text())


def test_what_mailman_wrote_names_the_cgi_prefix_apache_serves():
    inv = inspect_tree(LocalTree(ROOT), Origin("local", "/samples/oakfield"))
    assert sorted(ml.name for ml in inv.lists) == ["committee", "mailman", "residents"]
    assert {ml.web_page_url for ml in inv.lists} == {CGI}
    assert inv.mailman.settings.default_url_pattern == "https://%s/cgi-bin/mailman/"
    assert inv.web.script_alias.url_path == "/cgi-bin/mailman/"
    archives = ROOT / "usr/local/mailman/archives/private"
    links = set()
    for page in archives.rglob("*.html"):
        links |= set(re.findall(r'href="([^"]*listinfo[^"]*)"', page.read_text("latin-1"), re.I))
    assert links == {f"{CGI}listinfo/{name}" for name in ("committee", "mailman", "residents")}
    headers = set()
    for mbox in archives.glob("*.mbox/*.mbox"):
        headers |= set(re.findall(r"^List-Unsubscribe: <([^>]*)>", mbox.read_text("latin-1"),
                                  re.M))
    assert headers == {f"{CGI}options/{name}" for name in ("committee", "mailman", "residents")}
    posts = sum(rec["archive_mbox"]["messages_generated"] for rec in _truth()["lists"].values())
    assert posts <= 40  # the web parity e2e asks every URL of it


def test_exim_routes_the_lists_to_mailman_and_the_board_to_its_people():
    ensure_users()
    proc = exim(CONFIGURE, "-bV", host_root=ROOT)
    assert proc.returncode == 0, proc.stderr
    lists = sorted(_truth()["lists"])
    addresses = [f"{name}{suffix}@{HOST}" for name in lists for suffix in LIST_SUFFIXES]
    proc = exim(CONFIGURE, "-bt", *addresses, f"Residents@{HOST}", host_root=ROOT)
    blocks = bt_blocks(proc.stdout)
    for address in [*addresses, f"Residents@{HOST}"]:
        assert bt_route(blocks, address)[:2] == ("mailman_router", "mailman_transport"), address
    proc = exim(CONFIGURE, "-bt", "board@mail.oakfield.example", host_root=ROOT)
    assert "kim@mail.oakfield.example" in proc.stdout
    assert "chair@oakfield.example" in proc.stdout
    proc = exim(CONFIGURE, "-bt", f"board@{HOST}", host_root=ROOT)  # not a list, not local
    assert proc.returncode != 0 and "is undeliverable" in proc.stdout
