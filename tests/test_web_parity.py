"""The web parity table (web-parity.md, the report's section, plan.yaml's ``web_parity``): every
old URL pattern of the sample hosts, what answers it on the new host, and the findings a
missing or changed row gives."""

from __future__ import annotations

import copy
import json
import re
import shutil

import pytest
import yaml
from markdown_it import MarkdownIt
from typer.testing import CliRunner

import migrate.app.cli as cli
from conftest import SAMPLES
from migrate.core import codec
from migrate.app.cutover import load_plan
from emitters.web_parity import STATUSES, WEB_PARITY
from migrate.app.inspection import inspect_tree
from migrate.core.model import Origin, Source, WebAlias, WebAliasKind, WebVirtualHost
from migrate.app.planning import build_plan, resolve_target, write_plan
from migrate.app.sources import LocalTree

FLAGS = {
    "netsight": {"hostname": "lists.netsight.example", "ipv6": ["2001:db8:50::25"],
                 "smarthost": "smtp.upstream.example"},
    "small": {"hostname": "lists.example.org", "ipv6": ["2001:db8:60::25"]},
    "campus": {"hostname": "lists.cs.campus.example", "ipv6": ["2001:db8:70::25"]},
}
for _flags in FLAGS.values():
    _flags["destination"] = "mailman2"  # Mailman 2's pages
CAMPUS_CONF = "/usr/local/etc/apache22/Includes/mailman.conf"
NETSIGHT_CONF = "usr/local/etc/apache24/Includes/mailman.conf"
RUNNER = CliRunner()


@pytest.fixture(scope="module")
def invs():
    return {host: inspect_tree(LocalTree(SAMPLES / host), Origin("local", f"/samples/{host}"))
            for host in FLAGS}


def _plan(inv, host, **flags):
    return build_plan(inv, resolve_target(inv, {}, dict(FLAGS[host], **flags)))


def _rows(plan) -> dict[str, dict]:
    return {r["url"]: r for r in plan.web_parity}


def _ids(plan, finding_id):
    return [f for f in plan.findings if f.id == finding_id]


@pytest.mark.parametrize("host", list(FLAGS))
@pytest.mark.parametrize("flags", [{"openbsd": "5.7"}, {"openbsd": "6.3"}, {"openbsd": "7.8"},
                                   {"openbsd": "7.8", "tls": "none"}], ids=str)
def test_no_sample_has_a_missing_row(invs, host, flags):
    plan = _plan(invs[host], host, **flags)
    assert plan.web_parity and {r["status"] for r in plan.web_parity} <= set(STATUSES)
    assert [r for r in plan.web_parity if r["status"] == "missing"] == []
    assert not _ids(plan, "plan.web-parity-missing")
    # the file says the same as the data: one table line per row, the counts in the summary
    text = plan.files[WEB_PARITY]
    table = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(table) == len(plan.web_parity) + 1  # and the header
    ok = sum(r["status"] == "ok" for r in plan.web_parity)
    assert f"{ok} ok" in text.splitlines()[2]


@pytest.mark.parametrize("host", list(FLAGS))
def test_every_list_page_and_public_archive_volume_has_its_row(invs, host):
    inv = invs[host]
    plan = _plan(inv, host)
    rows = _rows(plan)
    archives = {a.list_name: a for a in inv.archives}
    tls = plan.target.tls == "acme"
    for ml in inv.lists:
        base = ml.web_page_url.rstrip("/")
        for script in ("listinfo", "admin", "admindb", "options"):
            row = rows[f"{base}/{script}/{ml.name}"]
            assert row["status"] == "ok" and f"cgi-bin/{script} with PATH_INFO /{ml.name}" \
                in row["new"], row
            assert row["source"].endswith(f"lists/{ml.name}/config.pck")
        private = rows[f"{base}/private/{ml.name}/"]
        assert private["status"] == "ok" and "cgi-bin/private" in private["new"]
        assert ("after the members' login" in private["old"]) == bool(ml.archive_private)
        scheme_host = base.rsplit("/", 1)[0]
        top = f"{scheme_host}/pipermail/{ml.name}/"
        if ml.archive_private:
            assert not [u for u in rows if u.startswith(top)]
            continue
        archive = archives[ml.name]
        volumes = [v for v in archive.volumes if v.html]
        assert volumes
        row = rows[f"{top}VOLUME/"]  # one pattern row names and counts the volumes
        assert row["status"] == "ok" and f"archives/public/{ml.name}/VOLUME/" in row["new"]
        assert f"the indexes of {len(volumes)} volume" in row["old"]
        assert volumes[0].name in row["old"] and volumes[-1].name in row["old"]
        assert len([u for u in rows if u.startswith(top)
                    and rows[u]["what"] == "archive volumes"]) == 1
        assert rows[top]["checked"] and rows[top]["status"] == "ok"
        assert rows[f"{top}*/NNNNNN.html"]["status"] == "ok"
        for ext, flag in (("txt.gz", "txt_gz"), ("txt", "txt")):
            assert (f"{top}*.{ext}" in rows) == any(getattr(v, flag) for v in archive.volumes)
        if tls and base.startswith("http://"):  # the old http:// address: 301 to HTTPS first
            assert rows[top]["new"].startswith("301 to https://")
    for host_name in {r["url"].split("/")[2] for r in plan.web_parity
                      if r["what"] == "listinfo page"}:
        scheme = "https" if rows.get(f"https://{host_name}/icons/*") else "http"
        assert rows[f"{scheme}://{host_name}/icons/*"]["status"] in ("ok", "changed")
        acme = rows.get(f"http://{host_name}/.well-known/acme-challenge/*")
        assert (acme is not None) == tls
        if tls:
            assert acme["status"] == "added" and "/var/www/acme" in acme["new"]


def test_netsight_http_to_https_and_its_redirects(invs):
    plan = _plan(invs["netsight"], "netsight")
    rows = _rows(plan)
    assert plan.target.tls == "acme"  # the old host served HTTPS: the plan keeps it
    https = rows["https://lists.netsight.example/*"]
    assert https["status"] == "ok" and "SSLEngine" in https["old"]
    assert https["source"] == f"/{NETSIGHT_CONF}:41"
    http = rows["http://lists.netsight.example/*"]
    assert http["status"] == "ok" and http["new"].startswith(
        "301 to https://lists.netsight.example/*")
    # the old root redirects (one per virtual host): the plan's own location "/"
    roots = [r for r in plan.web_parity if r["url"].endswith(" ~ ^/$")]
    assert {r["source"] for r in roots} == {f"/{NETSIGHT_CONF}:{n}" for n in (30, 38, 48)}
    # ... without the query string, which Apache appended: changed, said by an info
    assert all(r["status"] == "changed" and 'location "/" { block return 302 "/mailman/listinfo" }'
               in r["new"] and "without the request's query string" in r["new"] for r in roots)
    said = [f for f in _ids(plan, "plan.web-redirect-query")]
    assert {f.source.line for f in said} == {30, 38, 48}
    assert all(f.severity == "info" and "?page=2" in f.hint for f in said)
    assert not [f for f in _ids(plan, "plan.web-parity-changed") if " ~ ^/$" in f.message]
    assert not [r for r in plan.web_parity if r["what"] == "site root"]
    assert rows["http://www.lists.netsight.example/*"]["status"] == "ok"
    assert rows["https://lists.riverbend.example/*"]["status"] == "added"
    # no HTTPS on the new host: the old https:// addresses change, and a warning says so
    plain = _plan(invs["netsight"], "netsight", tls="none")
    row = _rows(plain)["https://lists.netsight.example/*"]
    assert row["status"] == "changed" and "no HTTPS" in row["new"]
    [warning] = [f for f in _ids(plain, "plan.web-parity-changed")
                 if "https://lists.netsight.example/*" in f.message]
    assert warning.severity == "warning" and warning.source.line == 41
    assert "http://lists.netsight.example/.well-known/acme-challenge/*" not in _rows(plain)


@pytest.mark.parametrize("release", ["5.7", "7.8"])
def test_campus_redirects_and_apache_own_folders(invs, release):
    plan = _plan(invs["campus"], "campus", openbsd=release)
    rows = _rows(plan)
    redirect = rows["http://lists.cs.campus.example/lists"]
    rewrite = rows["http://lists.cs.campus.example ~ ^/archive/(.*)$"]
    assert (redirect["source"], rewrite["source"]) == (f"{CAMPUS_CONF}:33", f"{CAMPUS_CONF}:37")
    assert redirect["old"].startswith("Redirect permanent /lists")
    if release == "7.8":  # carried, without the query string (an info says it)
        assert redirect["status"] == rewrite["status"] == "changed"
        assert 'location match "^/archive/(.*)$" { block return 301 "/pipermail/%1" }' \
            in rewrite["new"]
        assert 'location match "^/lists$" { block return 301 ' in redirect["new"]
        assert rewrite["checked"]
        said = {f.source.line for f in _ids(plan, "plan.web-redirect-query")}
        assert said == {33, 37}
    else:  # 5.7: no location match; plan.web-redirect-not-carried says it, once
        assert redirect["status"] == rewrite["status"] == "changed"
        assert rewrite["new"].startswith("not carried")
        said = {f.source.line for f in _ids(plan, "plan.web-redirect-not-carried")}
        assert said == {33, 37}
        assert not [f for f in _ids(plan, "plan.web-parity-changed")
                    if f.source and f.source.file == CAMPUS_CONF]
    # the stock httpd.conf's /icons/ and /cgi-bin/ are Apache's own: changed, not missing
    icons = rows["http://lists.cs.campus.example/icons/*"]
    cgi = rows["http://lists.cs.campus.example/cgi-bin/*"]
    assert icons["status"] == cgi["status"] == "changed"
    assert "Apache's own icons" in icons["old"] and "/usr/local/lib/mailman/icons" in icons["new"]
    assert cgi["source"] == "/usr/local/etc/apache22/httpd.conf:96"
    root = rows["http://lists.cs.campus.example/"]
    assert root["status"] == "changed" and "DocumentRoot" in root["old"]
    warned = {f.message.split(" ", 1)[0] for f in _ids(plan, "plan.web-parity-changed")}
    assert {"http://lists.cs.campus.example/icons/*",
            "http://lists.cs.campus.example/cgi-bin/*"} <= warned
    # the site root's change is httpd.conf's own finding, said once
    assert "http://lists.cs.campus.example/" not in warned
    (root_finding,) = _ids(plan, "plan.web-root-changed")
    assert "http://lists.cs.campus.example/" in root_finding.message
    assert rows["https://lists.cs.campus.example/*"]["status"] == "ok"
    assert rows["http://lists.campus.example/*"]["status"] == "ok"  # the ServerAlias


# --- Aliases that are not Mailman's ----------------------------------------------------------

WIKI = WebAlias(WebAliasKind.ALIAS, "/wiki/", "/usr/local/www/wiki/",
                source=Source("/usr/local/etc/apache24/Includes/wiki.conf", 3))


def _with_alias(inv, server_name: str | None, alias: WebAlias):
    inv = copy.deepcopy(inv)
    if server_name is None:
        inv.web.other_aliases.append(copy.deepcopy(alias))
        return inv
    vh = next((v for v in inv.web.virtual_hosts if v.server_name == server_name), None)
    if vh is None:
        vh = WebVirtualHost(server_name=server_name, listen=["*:80"])
        inv.web.virtual_hosts.append(vh)
    vh.other_aliases.append(copy.deepcopy(alias))
    return inv


def test_an_alias_of_the_lists_web_host_that_is_not_mailman_is_a_blocker(invs, tmp_path):
    inv = _with_alias(invs["netsight"], "lists.netsight.example", WIKI)
    plan = _plan(inv, "netsight")
    row = _rows(plan)["http://lists.netsight.example/wiki/*"]
    assert row["status"] == "missing" and row["source"] == str(WIKI.source)
    [blocker] = _ids(plan, "plan.web-parity-missing")
    assert blocker.severity == "blocker" and blocker.source == WIKI.source
    assert "http://lists.netsight.example/wiki/*" in blocker.message
    assert "| missing |" in plan.files[WEB_PARITY]
    assert "missing" in plan.files["report.md"].split("## Web parity")[1]
    # `migrate plan` shows it among its findings as a blocker, and not without it (netsight's
    # inventory has an error of its own: both exit 1)
    for inventory, blocked in ((inv, True), (invs["netsight"], False)):
        path = tmp_path / f"inv{blocked}.yaml"
        path.write_text(codec.dump_yaml(inventory))
        res = RUNNER.invoke(cli.app, ["plan", str(path), "--hostname", "lists.netsight.example",
                                      "--ipv6", "2001:db8:50::25", "--list-manager", "mailman2",
                                      "-o", str(tmp_path / f"p{blocked}"), "--json"])
        found = [f for f in json.loads(res.stdout)["findings"]
                 if f["id"] == "plan.web-parity-missing" and f["severity"] == "blocker"]
        assert bool(found) == blocked and res.exit_code == 1, res.output


def test_a_main_server_alias_is_served_under_every_web_name(invs):
    static = WebAlias(WebAliasKind.ALIAS, "/static", "/usr/local/www/static",
                      source=Source("/usr/local/etc/apache24/httpd.conf", 80))
    plan = _plan(_with_alias(invs["netsight"], None, static), "netsight")
    missing = [r["url"] for r in plan.web_parity if r["status"] == "missing"]
    assert missing == ["http://lists.netsight.example/static/*",
                       "http://lists.riverbend.example/static/*"]
    assert len(_ids(plan, "plan.web-parity-missing")) == 2


def test_an_alias_under_mailmans_paths_is_changed_not_missing(invs):
    icons = WebAlias(WebAliasKind.ALIAS, "/pipermail/old/", "/usr/local/www/old-archive/",
                     source=Source("/usr/local/etc/apache24/Includes/old.conf", 1))
    plan = _plan(_with_alias(invs["netsight"], "lists.riverbend.example", icons), "netsight")
    row = _rows(plan)["http://lists.riverbend.example/pipermail/old/*"]
    assert row["status"] == "changed" and "Mailman's, not the old folder's" in row["new"]
    assert [f.source for f in _ids(plan, "plan.web-parity-changed")
            if "/pipermail/old/" in f.message] == [icons.source]


def test_an_alias_of_another_virtual_host_gives_no_row(invs):
    inv = _with_alias(invs["netsight"], "www.netsight.example", WIKI)
    plan = _plan(inv, "netsight")
    assert not [r for r in plan.web_parity if "wiki" in r["url"] or "www.netsight" in r["url"]]
    assert not _ids(plan, "plan.web-parity-missing")


def test_the_apache_reader_keeps_the_aliases_that_are_not_mailmans(tmp_path):
    root = tmp_path / "netsight"
    shutil.copytree(SAMPLES / "netsight", root, symlinks=True)
    conf = root / NETSIGHT_CONF
    text = conf.read_text()
    first = text.index("<VirtualHost *:80>")
    text = (text[:first] + '<VirtualHost *:80>\n    ServerName www.netsight.example\n'
            '    Alias /intranet/ "/usr/local/www/intranet/"\n</VirtualHost>\n'
            + text[first:].replace("    ServerAlias www.lists.netsight.example\n",
                                   "    ServerAlias www.lists.netsight.example\n"
                                   '    Alias /wiki/ "/usr/local/www/wiki/"\n', 1))
    conf.write_text(text)
    inv = inspect_tree(LocalTree(root), Origin("local", "/samples/netsight"))
    [vh] = [v for v in inv.web.virtual_hosts if v.other_aliases and
            v.server_name == "lists.netsight.example"]
    assert [(a.url_path, a.target) for a in vh.other_aliases] == [
        ("/wiki/", "/usr/local/www/wiki/")]
    assert not inv.web.other_aliases and inv.web.script_alias is not None
    plan = _plan(inv, "netsight")
    missing = [r for r in plan.web_parity if r["status"] == "missing"]
    assert [r["url"] for r in missing] == ["http://lists.netsight.example/wiki/*"]
    assert missing[0]["source"].endswith("mailman.conf:" + str(
        text.splitlines().index('    Alias /wiki/ "/usr/local/www/wiki/"') + 1))
    assert "intranet" not in plan.files[WEB_PARITY]


# --- plan.yaml, and values from a hostile host ------------------------------------------------


def test_plan_yaml_web_parity_loads_back_through_the_cutover(invs, tmp_path):
    plan = _plan(invs["campus"], "campus")
    write_plan(plan, str(tmp_path / "plan"))
    loaded = load_plan(str(tmp_path / "plan"))
    assert loaded.data["web_parity"] == plan.web_parity
    assert WEB_PARITY in loaded.data["files"]
    data = yaml.safe_load((tmp_path / "plan" / "plan.yaml").read_text())
    assert {r["status"] for r in data["web_parity"]} <= set(STATUSES)


def _cells(line: str) -> int:
    """The cell separators of a Markdown table line (an escaped ``\\|`` is text)."""
    return sum(1 for token in re.findall(r"\\.|\|", line) if token == "|")


HOSTILE = "x|y`z`<script>alert(1)</script>*a* [l](http://e.example)\\"


def test_hostile_urls_never_break_the_table_or_the_html(invs):
    inv = copy.deepcopy(invs["netsight"])
    for ml in inv.lists:
        ml.web_page_url = f"http://lists.netsight.example/{HOSTILE}\n| forged | row |/"
    hostile = WebAlias(WebAliasKind.ALIAS, f"/{HOSTILE}\n| forged |", f"/srv/{HOSTILE}",
                       source=Source(f"/etc/{HOSTILE}.conf", 1))
    inv = _with_alias(inv, "lists.netsight.example", hostile)
    plan = _plan(inv, "netsight")
    assert _ids(plan, "plan.unsafe-value")  # the newline: the guard's blocker
    text = plan.files[WEB_PARITY]
    lines = text.splitlines()
    header = lines.index("| old URL | what | old host | new host | status | checked | source |")
    table = lines[header:]
    assert len(table) == len(plan.web_parity) + 2
    assert table[1] == "|---|---|---|---|---|---|---|"
    assert all(line.startswith("| ") and line.endswith(" |") and _cells(line) == 8
               for line in table[:1] + table[2:])
    # no < that Markdown would read as HTML: each one escaped (\\<), shown as text
    assert not re.search(r"(?<!\\)<", text) and "\\<script>" in text and "| forged |" not in text
    assert "\\`z\\`" in text and "\\*a\\*" in text and "\\[l\\]" in text
    # every hostile row is there, as text (a page under a prefix that is not /mailman/ is
    # missing on the new host: a blocker that names it)
    assert sum(r["status"] == "missing" for r in plan.web_parity) >= len(inv.lists) * 5
    report = plan.files["report.md"].split("## Web parity")[1].split("\n## ")[0]
    tokens = [t for tok in MarkdownIt("commonmark").enable("table").parse(report)
              for t in [tok, *(tok.children or [])]]  # the URL in a code span: < is text there
    assert not {t.type for t in tokens} & {"html_inline", "html_block", "link_open"}
    assert all(_cells(line) == 7 for line in report.splitlines() if line.startswith("| "))
    html = plan.files["report.html"]
    assert "<script" not in html and "&lt;script&gt;" in html


def test_the_public_mbox_answers_where_mm_cfg_keeps_public_mbox(invs):
    inv = invs["netsight"]
    linked = [a.list_name for a in inv.archives if a.public_mbox_link_target]
    assert linked == ["announce", "devtalk", "users"]
    rows = _rows(_plan(inv, "netsight"))
    mbox = {u: r for u, r in rows.items() if r["what"] == "archive mbox"}
    assert sorted(u.rsplit("/", 1)[1] for u in mbox) == [f"{n}.mbox" for n in linked]
    assert all(r["status"] == "ok" for r in mbox.values())
    inv = copy.deepcopy(inv)
    del inv.mailman.settings.other["PUBLIC_MBOX"]
    plan = _plan(inv, "netsight")
    changed = [r for r in plan.web_parity if r["what"] == "archive mbox"]
    assert len(changed) == 3 and {r["status"] for r in changed} == {"changed"}
    assert len([f for f in _ids(plan, "plan.web-parity-changed") if ".mbox/" in f.message]) == 3


@pytest.mark.parametrize("url, folder, status", [
    ("/cgi-bin/", "/usr/lib/cgi-bin/", "changed"),  # Debian's stock ScriptAlias
    ("/error/", "/usr/local/www/apache24/error/", "changed"),  # the stock errordoc
    ("/cgi-bin/", "/usr/local/www/cgi/", "missing"),  # the site's own scripts
    ("/manual/", "/usr/local/share/doc/apache24/", "missing"),  # not a stock path
])
def test_only_apaches_own_folders_on_the_main_server_are_not_a_blocker(invs, url, folder,
                                                                        status):
    alias = WebAlias(WebAliasKind.SCRIPT_ALIAS, url, folder,
                     source=Source("/usr/local/etc/apache24/httpd.conf", 7))
    plan = _plan(_with_alias(invs["netsight"], None, alias), "netsight")
    row = _rows(plan)[f"http://lists.netsight.example{url}*"]
    assert row["status"] == status
    assert bool(_ids(plan, "plan.web-parity-missing")) == (status == "missing")
    # the same folder on the list's own virtual host is the site's: missing either way
    plan = _plan(_with_alias(invs["netsight"], "lists.netsight.example", alias), "netsight")
    assert _rows(plan)[f"http://lists.netsight.example{url}*"]["status"] == "missing"
