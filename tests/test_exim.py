"""The Exim parser on hand-written configurations: the reader's rules, bad input, and what the
configuration means for the move (domains, routes to lists, unsupported features)."""

from __future__ import annotations

import datetime as dt

import pytest

from emitters.mta_features import emit_mta_features
from migrate.core.model import DomainRole, Inventory, Origin
from parsers.exim import parse_exim, split_list
from parsers.exim_model import read_exim
from migrate.app.sources import LocalTree

CONF = "/usr/local/etc/exim/configure"
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def _parse(tree_factory, text, extra=None, defines=None, name="host"):
    files = {CONF: text}
    files.update(extra or {})
    root = tree_factory(files, name=name)
    return parse_exim(LocalTree(root), CONF, defines), LocalTree(root)


def _ids(cfg):
    return sorted((f.id, f.source.file.rsplit("/", 1)[-1], f.source.line) for f in cfg.findings)


def test_macros_are_substrings_in_definition_order(tree_factory):
    cfg, _ = _parse(tree_factory, "A_LONG = long\nA = short\nX = A_LONG A\n"
                    "qualify_domain = X\n")
    # A_LONG is replaced first (defined first), so its text is not hit by A.
    assert cfg.main_value("qualify_domain") == "long short"


def test_redefinition_and_its_errors(tree_factory):
    cfg, _ = _parse(tree_factory, "M = 1\nM == M2\nM = 3\nN == 4\nM_X = 5\n"
                    "message_size_limit = M\n")
    assert cfg.main_value("message_size_limit") == "12"  # M == M2 expands M inside its value
    assert _ids(cfg) == [("exim.macro-redefined", "configure", 3),
                         ("exim.macro-substring", "configure", 5),
                         ("exim.macro-undefined", "configure", 4)]


def test_command_line_defines_win(tree_factory):
    cfg, _ = _parse(tree_factory, "M = file\nM == again\nqualify_domain = M\n",
                    defines={"M": "cli"})
    assert cfg.main_value("qualify_domain") == "cli" and cfg.findings == []


def test_conditionals_nest_and_elifdef(tree_factory):
    text = (".ifdef NOPE\na = 1\n.elifdef ALSO_NOPE\na = 2\n.elifdef YES\n"
            ".ifndef YES\na = 3\n.else\nqualify_domain = nested-else\n.endif\n"
            ".else\na = 4\n.endif\n")
    cfg, _ = _parse(tree_factory, "YES = 1\n" + text)
    assert [(o.name, o.value) for o in cfg.main] == [("qualify_domain", "nested-else")]
    assert cfg.findings == []


def test_unterminated_and_stray_conditionals(tree_factory):
    cfg, _ = _parse(tree_factory, ".endif\n.ifdef X\nqualify_domain = a\n")
    assert _ids(cfg) == [("exim.stray-conditional", "configure", 1),
                         ("exim.unterminated-conditional", "configure", 2)]


def test_includes_relative_absolute_optional_missing_and_loops(tree_factory):
    text = (".include sub/a.conf\n.include_if_exists /nonexistent\n"
            ".include_if_exists relative.conf\n.include /usr/local/etc/exim/missing.conf\n"
            ".include /usr/local/etc/exim/loop.conf\n")
    cfg, _ = _parse(tree_factory, text, {
        "/usr/local/etc/exim/sub/a.conf": "# a\nqualify_domain = from-a\n.include b.conf\n",
        "/usr/local/etc/exim/sub/b.conf": "primary_hostname = from-b\n",
        "/usr/local/etc/exim/loop.conf": ".include /usr/local/etc/exim/loop.conf\n",
    })
    assert cfg.main_value("qualify_domain") == "from-a"
    assert cfg.main_option("primary_hostname").source.file == "/usr/local/etc/exim/sub/b.conf"
    assert cfg.main_option("primary_hostname").source.line == 1
    assert _ids(cfg) == [("exim.include-loop", "loop.conf", 1),
                         ("exim.include-missing", "configure", 4),
                         ("exim.include-relative", "configure", 3)]
    assert [f.path.rsplit("/", 1)[-1] for f in cfg.files] == [
        "configure", "a.conf", "b.conf", "loop.conf"]


def test_continuations_comments_and_blank_lines(tree_factory):
    text = ("log_selector = +a \\\n# a comment inside\n     +b \\\n  +c\n"
            "smtp_banner = x \\\n\nqualify_domain = y\n")
    cfg, _ = _parse(tree_factory, text)
    assert cfg.main_value("log_selector") == "+a +b +c"
    assert cfg.main_option("log_selector").source.line == 1
    # A blank line ends a continued line.
    assert cfg.main_value("smtp_banner") == "x" and cfg.main_value("qualify_domain") == "y"


def test_options_booleans_hide_and_quotes(tree_factory):
    text = ('hide mysql_servers = db/user/secret\nno_split_spool_directory\n'
            'begin routers\nr:\n  driver = accept\n  not_verify\n  more = false\n'
            '  headers_add = "X-A: 1\\nX-B: \\x41"\n')
    cfg, tree = _parse(tree_factory, text)
    assert cfg.main_option("mysql_servers").hidden
    assert cfg.main_option("split_spool_directory").negated
    r = cfg.router("r")
    assert r.get("verify").negated and not r.get("more").truthy
    assert r.value("headers_add") == "X-A: 1\nX-B: A"
    mta = read_exim(cfg, tree).mta
    assert mta.detail.options["mysql_servers"] == "<hidden>"  # a secret never reaches the inventory
    assert "secret" not in str(mta)


def test_bad_sections_and_drivers(tree_factory):
    text = ("begin routrs\nx:\n  driver = accept\nbegin routers\n  domains = a\n"
            "nodriver:\n  domains = b\ndup:\n  driver = accept\ndup:\n  driver = accept\n"
            "this is not an option\nbegin transports\nt:\n  driver = pipe\n")
    cfg, _ = _parse(tree_factory, text)
    assert _ids(cfg) == [("exim.duplicate-driver", "configure", 10),
                         ("exim.no-driver", "configure", 6),
                         ("exim.option-outside-driver", "configure", 5),
                         ("exim.syntax", "configure", 12),
                         ("exim.unknown-section", "configure", 1)]
    assert [r.name for r in cfg.routers] == ["nodriver", "dup", "dup"]
    assert [t.name for t in cfg.transports] == ["t"]


def test_binary_garbage_invalid_utf8_and_huge_lines(tree_factory):
    cfg, _ = _parse(tree_factory, "qualify_domain = a\n\x00\x01\n", name="binary")
    assert [f.id for f in cfg.findings] == ["input.binary"]
    root = tree_factory({CONF: "qualify_domain = caf\xe9.example\n".encode("latin-1")},
                        name="latin1")
    cfg = parse_exim(LocalTree(root), CONF)
    assert cfg.main_value("qualify_domain") == "café.example"
    assert [f.id for f in cfg.findings] == ["input.encoding"]
    huge = "smtp_banner = " + "x" * (20 * 1024 * 1024) + "\nqualify_domain = after\n"
    cfg, _ = _parse(tree_factory, huge, name="huge")
    assert len(cfg.main_value("smtp_banner")) == 20 * 1024 * 1024
    assert cfg.main_value("qualify_domain") == "after"


def test_split_list_separators_and_doubling():
    assert split_list("a : b :: c : ") == ["a", "b : c"]
    assert split_list("<; 127.0.0.1 ; ::1") == ["127.0.0.1", "::1"]
    assert split_list("${if eq{a:b}{x}{y}} : z") == ["${if eq{a:b}{x}{y}}", "z"]


MAILMAN = """\
MM = /usr/local/mailman
domainlist local_domains = @ : localhost
domainlist mm_domains = lists.example.org
domainlist virtual_domains = dsearch;/etc/virtual
domainlist relay_to_domains = relay.example.org
primary_hostname = mail.example.org
local_interfaces = <; 192.0.2.1 ; [2001:db8::1]:2525
daemon_smtp_ports = 25 : submission
tls_certificate = /etc/ssl/cert.pem
av_scanner = clamd:/tmp/sock
begin acl
check_rcpt:
  accept hosts = :
  deny    dnslists = zen.example
  require verify = sender/callout
  warn    ratelimit = 100 / 1h / strict
begin routers
smart:
  driver = manualroute
  domains = ! +local_domains
  transport = remote_smtp
  route_list = * relay.example.net
mm:
  driver = accept
  domains = +mm_domains
  require_files = MM/lists/$local_part/config.pck
  local_part_suffix = -admin : -bounces : -bounces+* : -confirm : -join : -leave : -owner : -request : -subscribe
  local_part_suffix_optional
  transport = mm_pipe
virtual:
  driver = redirect
  domains = +virtual_domains
  data = ${lookup{$local_part}lsearch{/etc/virtual/$domain}}
  pipe_transport = address_pipe
aliases:
  driver = redirect
  domains = +local_domains
  data = ${lookup{$local_part}lsearch{/etc/aliases}}
  pipe_transport = address_pipe
  headers_add = X-Old: yes
  condition = ${if eq{1}{1}}
begin transports
remote_smtp:
  driver = smtp
  port = 2525
  dkim_domain = example.org
mm_pipe:
  driver = pipe
  command = MM/mail/mailman '${if def:local_part_suffix {x}{post}}' $local_part
address_pipe:
  driver = pipe
begin rewrite
*@mail.example.org $1@example.org
begin authenticators
PLAIN:
  driver = plaintext
"""

WRAP = "/usr/local/mailman/mail/mailman"


def _mailman_host(tree_factory):
    extra = {
        "/usr/local/mailman/lists/alpha/config.pck": b"x",
        "/usr/local/mailman/lists/beta/config.pck": b"x",
        "/usr/local/mailman/lists/empty-dir/README": "not a list\n",
        "/etc/virtual/lists.other.example": "".join(
            f'gamma{s}: "|{WRAP} {a} gamma"\n' for a, s in [
                ("post", ""), ("admin", "-admin"), ("bounces", "-bounces"),
                ("confirm", "-confirm"), ("join", "-join"), ("leave", "-leave"),
                ("owner", "-owner"), ("request", "-request"), ("subscribe", "-subscribe"),
                ("unsubscribe", "-unsubscribe")]),
        "/etc/aliases": f'postmaster: root\nalpha-news: "|{WRAP} post alpha"\n',
    }
    cfg, tree = _parse(tree_factory, MAILMAN, extra)
    return read_exim(cfg, tree)


def test_domains_by_role_smarthost_tls_listeners(tree_factory):
    mta = _mailman_host(tree_factory).mta
    roles = {(d.name, d.role) for d in mta.domains}
    assert roles == {("mail.example.org", DomainRole.LOCAL), ("localhost", DomainRole.LOCAL),
                     ("relay.example.org", DomainRole.RELAY),
                     ("lists.example.org", DomainRole.LIST),
                     ("lists.other.example", DomainRole.VIRTUAL),
                     ("lists.other.example", DomainRole.LIST)}
    assert (mta.smarthost.host, mta.smarthost.port, mta.smarthost.router) == (
        "relay.example.net", 2525, "smart")
    assert mta.tls.certificate == "/etc/ssl/cert.pem" and mta.tls.private_key is None
    assert [(l.address, l.port) for l in mta.listeners] == [
        ("192.0.2.1", 25), ("192.0.2.1", 587), ("2001:db8::1", 2525)]
    assert mta.list_routes and mta.primary_hostname == "mail.example.org"


def test_list_routes_and_missing_addresses(tree_factory):
    result = _mailman_host(tree_factory)
    routes = result.mta.list_routes
    by_list = {}
    for r in routes:
        by_list.setdefault((r.list_name, r.domain, r.via), set()).add(r.address)
    assert set(by_list) == {("alpha", "lists.example.org", "router"),
                            ("beta", "lists.example.org", "router"),
                            ("gamma", "lists.other.example", "virtual-alias"),
                            ("alpha", "mail.example.org", "alias"),
                            ("alpha", "localhost", "alias")}
    assert len(by_list[("gamma", "lists.other.example", "virtual-alias")]) == 10
    assert "alpha-unsubscribe" not in by_list[("alpha", "lists.example.org", "router")]
    missing = [f for f in result.findings if f.id == "mailman.missing-addresses"]
    # alpha and beta lack -unsubscribe on the router; alpha-news reaches alpha under another
    # name only (on mail.example.org and localhost), which is no list hosted there
    assert len(missing) == 2
    assert all(f.source and f.source.line for f in missing)
    mismatch = [f for f in result.findings if f.id == "mailman.alias-other-name"]
    assert [(f.source.file, f.source.line) for f in mismatch] == [("/etc/aliases", 2)]


@pytest.mark.parametrize("expression", ["${lc::$local_part}", "${lc:$local_part}",
                                        "${local_part}"])
def test_list_folders_through_an_expansion_of_the_local_part(tree_factory, expression):
    """The exim.org mailman21 howto's MM_LISTCHK wraps the local part: ${lc::$local_part}
    (found on the campus sample; real Exim routes every list through it)."""
    text = MAILMAN.replace("MM/lists/$local_part/config.pck",
                           f"MM/lists/{expression}/config.pck")
    cfg, tree = _parse(tree_factory, text, {
        "/usr/local/mailman/lists/alpha/config.pck": b"x",
        "/usr/local/mailman/lists/beta/config.pck": b"x"})
    result = read_exim(cfg, tree)
    lists = {r.list_name for r in result.mta.list_routes if r.via == "router"}
    assert lists == {"alpha", "beta"}
    assert not [f for f in result.findings if f.id == "mailman.no-lists-found"]


def test_features_beyond_routing_are_facts_with_their_line(tree_factory):
    """The parser describes what the old Exim does; what the new host does about it is the
    plan's finding (emitters/mta_features.py), with the same line, severity and hint."""
    result = _mailman_host(tree_factory)
    features = {f.name: f for f in result.mta.features}
    names = ("content-scanning", "dnsbl", "verify-callout", "ratelimit", "dkim-signing",
             "header-rewrite", "address-rewrite", "authenticators", "router-condition")
    for name in names:
        assert name in features and features[name].source.line, name
    assert not [f for f in result.findings if f.id == "exim.content-scanning"]
    inv = Inventory(schema_version=1, tool_version="t", collected_at=NOW,
                    source=Origin("local", "/"), mta=result.mta)
    got = {f.id: f for f in emit_mta_features(inv, None, None).findings}
    for name in names:
        assert got[f"exim.{name}"].hint and got[f"exim.{name}"].source == features[name].source
    assert "filter-rspamd" in got["exim.content-scanning"].hint
    assert "submission" in got["exim.authenticators"].hint
    assert "filter-dkimsign" in got["exim.dkim-signing"].hint


def test_smarthost_from_route_list_rules_and_route_data(tree_factory):
    text = ("begin routers\nr1:\n  driver = manualroute\n"
            "  route_list = special.example other.example ; * relay.example.net::2526 byname\n"
            "  transport = t\nbegin transports\nt:\n  driver = smtp\n")
    cfg, tree = _parse(tree_factory, text)
    sh = read_exim(cfg, tree).mta.smarthost
    assert (sh.host, sh.port, sh.router) == ("relay.example.net", 2526, "r1")
    text = ("begin routers\nr2:\n  driver = manualroute\n  route_data = <; [2001:db8::25]:587\n"
            "  transport = t\nbegin transports\nt:\n  driver = smtp\n")
    cfg, tree = _parse(tree_factory, text, name="data")
    sh = read_exim(cfg, tree).mta.smarthost
    assert (sh.host, sh.port) == ("2001:db8::25", 587)


# --- which router sees which domain (parsers/exim_model._Routing) ----------------------------

ROUTING = """\
primary_hostname = mail.example.org
domainlist local_domains = @ : lists.example.org : old.example.org
domainlist gone_domains = old.example.org
begin routers
dnslookup:
  driver = dnslookup
  domains = ! +local_domains
  transport = remote_smtp
  no_more
retired:
  driver = redirect
  domains = +gone_domains
  data = :fail: gone
  no_more
checker:
  driver = redirect
  verify_only
  data = ${lookup{$local_part}lsearch{/etc/verify-aliases}}
off:
  driver = redirect
  condition = false
  data = ${lookup{$local_part}lsearch{/etc/off-aliases}}
system_aliases:
  driver = redirect
  local_parts = ! root : ! ^owner-
  data = ${lookup{$local_part}lsearch{/etc/aliases}}
  pipe_transport = address_pipe
begin transports
remote_smtp:
  driver = smtp
address_pipe:
  driver = pipe
"""


def _routing_host(tree_factory, text=ROUTING):
    pipe = "|/usr/local/mailman/mail/mailman"
    files = {
        "/etc/aliases": (f'news: "{pipe} post announce"\n'
                         f'news-request: "{pipe} request announce"\n'
                         f'root: "{pipe} post announce"\n'
                         f'owner-x: "{pipe} post announce"\n'
                         "closed: :fail: closed\nsink: :blackhole:\n"),
        "/etc/verify-aliases": f'verified: "{pipe} post announce"\n',
        "/etc/off-aliases": f'off: "{pipe} post announce"\n',
    }
    cfg, tree = _parse(tree_factory, text, files)
    return read_exim(cfg, tree)


def test_a_router_without_domains_serves_every_domain_left_to_it(tree_factory):
    mta = _routing_host(tree_factory).mta
    routes = {(r.address, r.domain, r.list_name, r.action) for r in mta.list_routes}
    # dnslookup (no_more) took every remote domain and retired took old.example.org: what is
    # left of the known domains reaches system_aliases, which has no domains option
    assert routes == {(n, d, "announce", a) for n, a in (("news", "post"),
                                                         ("news-request", "request"))
                      for d in ("mail.example.org", "lists.example.org")}
    refused = {(r.address, r.domain, r.outcome) for r in mta.refused}
    assert refused == {("closed", d, "rejected") for d in ("mail.example.org",
                                                            "lists.example.org")} | {
        ("sink", d, "dropped") for d in ("mail.example.org", "lists.example.org")}


def test_without_no_more_the_next_router_sees_the_domain(tree_factory):
    text = ROUTING.replace("  data = :fail: gone\n  no_more\n", "  data = :fail: gone\n")
    routes = {(r.address, r.domain) for r in _routing_host(tree_factory, text).mta.list_routes}
    assert ("news", "old.example.org") in routes


def test_negated_list_ending_matches_the_rest(tree_factory):
    # "! +local_domains" alone matches every other domain (Exim: a list that ends in a
    # negative item matches what no item matched); so dnslookup ends routing for them
    text = ROUTING.replace("domains = ! +local_domains", "domains = ! +local_domains : "
                           "other.example")
    routes = {r.domain for r in _routing_host(tree_factory, text).mta.list_routes}
    # ending in a positive item: dnslookup takes other.example only, so nothing changes for
    # the local domains
    assert routes == {"mail.example.org", "lists.example.org"}


@pytest.mark.parametrize("fan_out", [2, 4])
def test_include_fan_out_stops_at_the_budget_with_a_finding(tree_factory, fan_out):
    """A file that includes the next one twice (or four times), 14 deep: Exim reads every
    copy (2**15 reads, or 4**14), the parser stops at its budget, says where, and reads the
    rest of the configuration (whose primary_hostname comes after the includes)."""
    from conftest import CountingTree
    from parsers.exim import MAX_INCLUDE_READS

    depth = 14
    files = {f"/usr/local/etc/exim/f{i}.conf":
             f"# level {i}\n" + (f".include f{i + 1}.conf\n" * fan_out if i < depth else "")
             for i in range(1, depth + 1)}
    root = tree_factory({CONF: ".include f1.conf\n" * fan_out
                         + "primary_hostname = after.example.org\n", **files})
    tree = CountingTree(root, stop=4 * MAX_INCLUDE_READS)
    cfg = parse_exim(tree, CONF)
    assert tree.reads == MAX_INCLUDE_READS + 1  # the includes and the configuration itself
    assert cfg.main_value("primary_hostname") == "after.example.org"
    (budget,) = [f for f in cfg.findings if f.id == "exim.include-budget"]
    assert budget.severity.value == "error" and budget.hint
    assert budget.source.file.startswith("/usr/local/etc/exim/f")
    assert budget.source.line > 1  # the .include line that was skipped
    assert [f.id for f in cfg.findings] == ["exim.include-budget"]
    assert len(cfg.files) == depth + 1  # each file listed once, however often it was read


def test_named_lists_that_name_a_list_many_times_resolve_once_each(tree_factory, monkeypatch):
    """Named lists that each name the next one ten times, nine deep, are 10**9 references:
    each list is resolved (and matched) once, so the work stays small."""
    from parsers import exim_model

    lists = "".join(f"domainlist d{i} = " + " : ".join([f"+d{i + 1}"] * 10) + "\n"
                    for i in range(9))
    text = ROUTING.replace("domainlist local_domains = ",
                           lists + "domainlist d9 = fanned.example.org\n"
                           "domainlist local_domains = +d0 : ")
    cfg, tree = _parse(tree_factory, text, {"/etc/aliases": "x: y@example.org\n"})
    calls = 0

    def counting(value):
        nonlocal calls
        calls += 1
        assert calls < 10_000, "a named list is expanded again at every reference"
        return split_list(value)
    monkeypatch.setattr(exim_model, "split_list", counting)
    result = read_exim(cfg, tree)
    assert "fanned.example.org" in {d.name for d in result.mta.domains}


def test_an_alias_reached_through_an_include_file(tree_factory):
    pipe = "|/usr/local/mailman/mail/mailman"
    cfg, tree = _parse(tree_factory, ROUTING, {
        "/etc/aliases": "board: :include:/etc/board.list\n",
        "/etc/board.list": f'chair@example.org\n"{pipe} post announce"\n'})
    routes = read_exim(cfg, tree).mta.list_routes
    assert {(r.address, r.action, r.list_name) for r in routes} == {("board", "post",
                                                                      "announce")}
    assert all(r.source.file == "/etc/aliases" for r in routes)


def test_lsearch_star_catch_all_and_domain_data(tree_factory):
    pipe = "|/usr/local/mailman/mail/mailman"
    text = """\
primary_hostname = mail.example.org
domainlist vdomains = dsearch;/etc/vdomains
domainlist local_domains = @ : +vdomains
begin routers
vdomains:
  driver = redirect
  domains = +vdomains
  data = ${lookup{$local_part}lsearch*{/etc/vdomains/$domain_data}}
  pipe_transport = address_pipe
  no_more
plain:
  driver = redirect
  domains = +vdomains
  data = ${lookup{$local_part}lsearch{/etc/other}}
begin transports
address_pipe:
  driver = pipe
"""
    cfg, tree = _parse(tree_factory, text, {
        "/etc/vdomains/example.org": f'news: "{pipe} post announce"\n*: :fail: no\n',
        "/etc/other": f'late: "{pipe} post announce"\n'})
    mta = read_exim(cfg, tree).mta
    assert {(r.address, r.domain, r.via) for r in mta.list_routes} == {
        ("news", "example.org", "virtual-alias")}  # "plain" never sees example.org (no_more)
    assert {(r.address, r.outcome) for r in mta.refused} == {("*", "rejected")}
    assert [a.name for a in mta.aliases if a.catch_all] == ["*"]
