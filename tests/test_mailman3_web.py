"""The plan's mailman2_urls.py in the real mailman-web (Django, Postorius, HyperKitty): every
Mailman 2 page redirects where the plan says it does (``emitters/mailman3/web.py``
``page_path``, which web-parity.md and the post-checks use), a private archive's article to its
message in HyperKitty, and nothing outside the copied archive is ever read. Through the real
httpd, the Mailman 3 cutover's e2e asks the same of every sample (tests/test_cutover_e2e_mm3.py).
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from conftest import REPO
from hktools import WebSite, web_bin

from emitters.mailman3.web import page_path

pytestmark = pytest.mark.realtool

SCRIPTS = REPO / "emitters/mailman3/scripts"
ARTICLE = ('<LINK REL="made" HREF="mailto:{list}%40lists.example.org?Subject=Hello&'
           'In-Reply-To=%3C{mid}%3E">\n<H1>Hello</H1>\n')


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> WebSite:
    web_bin()
    base = tmp_path_factory.mktemp("web")
    tools = base / "tools"
    tools.mkdir()
    shutil.copyfile(SCRIPTS / "hyperkitty_archive.py", tools / "hyperkitty_archive.py")
    shutil.copyfile(REPO / "parsers/mboxscan.py", tools / "mboxscan.py")
    site = WebSite(base / "site")
    archive = base / "archives"
    lists = {}
    for name in ("staff", "dotted.name"):
        folder = archive / name / "2019-March"
        folder.mkdir(parents=True)
        (folder / "000000.html").write_text(ARTICLE.format(list=name, mid=f"one.{name}@x.org"))
        (folder / "000001.html").write_text(ARTICLE.format(list=name, mid="not-imported@x.org"))
        lists[name] = {"address": f"{name}@lists.example.org",
                       "list_id": f"{name}.lists.example.org", "archive": str(archive / name)}
    (base / "secret.html").write_text(ARTICLE.format(list="x", mid="secret@x.org"))
    (site.folder / "mailman2-lists.json").write_text(json.dumps(
        {"cgi_prefixes": ["/mailman/", "/cgi-bin/mailman/"], "tools": str(tools),
         "lists": lists}))
    shutil.copyfile(SCRIPTS / "mailman2_urls.py", site.folder / "mailman2_urls.py")
    with (site.folder / "settings.py").open("a") as fh:
        fh.write("ROOT_URLCONF = 'mailman2_urls'\n")
    # the message of staff's first article, as the archive's import would leave it
    mbox = base / "staff.mbox"
    mbox.write_text("From a@x.org Mon Mar  4 10:00:00 2019\nFrom: a@x.org\n"
                    "Date: Mon, 4 Mar 2019 10:00:00 +0000\nMessage-ID: <one.staff@x.org>\n"
                    "Subject: Hello\n\nbody\n")
    res = site.run(["hyperkitty_import", "--no-sync-mailman", "-l", "staff@lists.example.org",
                    str(mbox)])
    assert res.returncode == 0, res.stdout + res.stderr
    site.tools = tools
    return site


def answers(site: WebSite, paths: list[str]) -> list[tuple[int, str]]:
    code = textwrap.dedent(f'''\
        import json
        from mailman_web.manage import setup
        setup()
        import django
        django.setup()
        from django.test import Client
        client = Client()
        out = []
        for path in {paths!r}:
            res = client.get(path, HTTP_HOST="lists.example.org")
            out.append([res.status_code, res.get("Location", "")])
        print(json.dumps(out))
    ''')
    res = site.python(["-c", code])
    assert res.returncode == 0, res.stderr
    return [tuple(x) for x in json.loads(res.stdout.strip().splitlines()[-1])]


@pytest.mark.parametrize("prefix", ["/mailman/", "/cgi-bin/mailman/"])
def test_every_mailman2_page_redirects_where_the_plan_says(site, prefix):
    pages = ["listinfo", "subscribe", "confirm", "admin", "admindb", "roster", "options",
             "private"]
    for name in ("staff", "dotted.name"):
        got = answers(site, [f"{prefix}{page}/{name}" for page in pages])
        want = [(301, page_path(page, f"{name}.lists.example.org",
                                f"{name}@lists.example.org")) for page in pages]
        assert got == want
    assert answers(site, [f"{prefix}listinfo", f"{prefix}listinfo/nosuch",
                          f"{prefix}private/nosuch/2019-March/000000.html"]) == [
        (301, "/mailman3/lists/"), (404, ""), (404, "")]


def test_a_private_article_leads_to_its_message_else_its_month(site):
    import sys
    sys.path.insert(0, str(site.tools))
    from hyperkitty_archive import id_hash
    got = answers(site, ["/mailman/private/staff/2019-March/000000.html",
                         "/mailman/private/staff/2019-March/000001.html",
                         "/mailman/private/staff/2019-March/",
                         "/mailman/private/staff/2019-March/date.html",
                         "/mailman/private/staff.mbox/staff.mbox",
                         "/mailman/private/dotted.name/2019-March/000000.html",
                         "/mailman/private/staff/"])
    assert got == [
        (301, f"/archives/list/staff@lists.example.org/message/{id_hash('one.staff@x.org')}/"),
        (301, "/archives/list/staff@lists.example.org/2019/3/"),  # not in HyperKitty: month
        (301, "/archives/list/staff@lists.example.org/2019/3/"),
        (301, "/archives/list/staff@lists.example.org/2019/3/"),
        (301, "/archives/list/staff@lists.example.org/"),
        (301, "/archives/list/dotted.name@lists.example.org/2019/3/"),
        (301, "/archives/list/staff@lists.example.org/"),
    ]


def test_no_path_reads_outside_the_copied_archive(site):
    """An article path that climbs out of the list's archive (the secret file beside it) is
    never read: the answer is the list's page, not the secret's message."""
    got = answers(site, ["/mailman/private/staff/..%2f..%2fsecret.html/000000.html",
                         "/mailman/private/staff/../../secret.html",
                         "/mailman/private/staff/%2e%2e/000000.html"])
    for status, location in got:
        assert status in (301, 404) and "message" not in location, got
