"""The names the old host answers to (``Host.names``) and the DNS plan's care for them: a name
that more than the lists depend on (another domain's MX, the MTA's own name, the IMAP server,
other web content) never moves from under them. The clean way keeps its A/AAAA records on the
old host, which proxies Mailman's pages; when that cannot be, the plan carries a blocker.

DNS itself cannot run here as the operator's zone does (no dig(1), no authoritative server):
the records are checked in their documented formats (records.md's table and zone lines,
checks.sh's lines, run by the real sh against a stand-in for dig that answers from the
zone the records describe), and the runbook's DNS step is run by the cutover's own DNS
check against a small DNS server of the test."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

import migrate.app.cli as cli
from conftest import SAMPLES
from emitters.dns_plan import emit_dns, records, shared_names
from migrate.app.inspection import inspect_tree, remote_spec
from migrate.app.sources import LocalTree
from migrate.core.model import (AddressFamily, Domain, DomainRole, HostName, Inventory, IPAddress,
                                Mailman, MailmanSettings, Mta, NameUse, Origin, Severity, Source,
                                Target, VirtualHost, Web, WebAlias, WebAliasKind, WebVirtualHost)
from parsers.cyrus import parse_cyrus

RUNNER = CliRunner()
NEW_V6 = "2001:db8:99::25"
OLD_V4, OLD_V6 = "192.0.2.10", "2001:db8:10::10"
NAME = "lists.example.edu"  # the issue's host: list domain, own name, MX of example.edu


# --- inspection: the names and where each was read ----------------------------------------------


def _tree(root: Path, files: dict[str, str]) -> LocalTree:
    for path, text in files.items():
        (root / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (root / path.lstrip("/")).write_text(text)
    return LocalTree(str(root))


EXIM = """primary_hostname = Lists.Example.EDU
domainlist local_domains = @ : example.edu
begin routers
system_aliases:
  driver = redirect
  data = ${lookup{$local_part}lsearch{/etc/aliases}}
"""
APACHE = """Listen 80
<VirtualHost *:80>
    ServerName lists.example.edu
    ServerAlias *.lists.example.edu
</VirtualHost>
<VirtualHost *:443>
    ServerName lists.example.edu
    SSLEngine on
</VirtualHost>
<VirtualHost *:80>
    ServerName lists.example.edu
</VirtualHost>
"""


def _inspected(tmp_path, **files: str) -> Inventory:
    base = {"/etc/rc.conf": 'hostname="lists.example.edu"\nifconfig_em0="inet 192.0.2.10/24"\n'
                            'exim_enable="YES"\n',
            "/etc/aliases": "root: admin@example.net\n",
            "/usr/local/etc/exim/configure": EXIM}
    base.update({f"/{k.replace('__', '/')}": v for k, v in files.items()})
    return inspect_tree(_tree(tmp_path, base), Origin("local", str(tmp_path)))


def _names(inv: Inventory) -> dict[tuple[str, str], str]:
    return {(n.name, n.use.value): str(n.source) for n in inv.host.names}


def test_rc_conf_exim_cyrus_apache_and_mail_domains_give_names_with_their_lines(tmp_path):
    inv = _inspected(tmp_path, **{
        "usr__local__etc__imapd.conf": "# Cyrus\nconfigdirectory: /var/imap\n"
                                       "servername: imap.example.edu\n",
        "usr__local__etc__apache24__httpd.conf": APACHE})
    names = _names(inv)
    assert names[NAME, "hostname"] == "/etc/rc.conf:1"
    assert names[NAME, "mta"] == "/usr/local/etc/exim/configure:1"  # lower case, as DNS
    assert names["imap.example.edu", "imap"] == "/usr/local/etc/imapd.conf:3"
    assert names[NAME, "web"] == "/usr/local/etc/apache24/httpd.conf:2"  # the first vhost
    assert names[NAME, "tls"] == "/usr/local/etc/apache24/httpd.conf:6"
    assert names[NAME, "mail-domain"].startswith("/usr/local/etc/exim/configure")  # via "@"
    assert not any("*" in name for name, _ in names)  # a wildcard alias is no name
    assert len(inv.host.names) == len(names)  # each (name, use) once
    assert "example.edu" not in {name for name, _ in names}  # a domain, not a name of the host
    assert "/usr/local/etc/imapd.conf" in {c.path for c in inv.mta.config_files
                                           if c.role == "imapd.conf"}


def test_cyrus_without_servername_answers_as_the_host(tmp_path):
    inv = _inspected(tmp_path, **{"etc__imapd.conf": "configdirectory: /var/imap\n"})
    assert _names(inv)[NAME, "imap"] == "/etc/imapd.conf"
    assert "servername not set" in next(n.detail for n in inv.host.names if n.use == NameUse.IMAP)


def test_cyrus_config_from_its_rc_flags_and_not_when_disabled(tmp_path):
    rc = ('hostname="lists.example.edu"\nexim_enable="YES"\ncyrus_imapd_enable="YES"\n'
          'cyrus_imapd_flags="-C /data/imap/imapd.conf -d"\n')
    inv = _inspected(tmp_path / "a", **{"etc__rc.conf": rc,
                                        "data__imap__imapd.conf": "servername: mx.example.edu\n",
                                        "usr__local__etc__imapd.conf": "servername: no.example\n"})
    assert ("mx.example.edu", "imap") in _names(inv)
    assert ("no.example", "imap") not in _names(inv)
    off = rc.replace('cyrus_imapd_enable="YES"', 'cyrus_imapd_enable="NO"')
    inv = _inspected(tmp_path / "b", **{"etc__rc.conf": off,
                                        "data__imap__imapd.conf": "servername: mx.example.edu\n"})
    assert not [n for n in inv.host.names if n.use == NameUse.IMAP]


def test_a_bad_imapd_line_and_a_bad_servername_are_findings_with_their_lines(tmp_path):
    tree = _tree(tmp_path, {"/usr/local/etc/imapd.conf":
                            "servername: bad name;x\nthis line has no colon\n"})
    res = parse_cyrus(tree, "host.example")
    found = {f.id: (f.severity, str(f.source), f.hint) for f in res.findings}
    assert found["cyrus.servername"][:2] == (Severity.WARNING, "/usr/local/etc/imapd.conf:1")
    assert found["cyrus.syntax"][:2] == (Severity.WARNING, "/usr/local/etc/imapd.conf:2")
    assert all(hint for _, _, hint in found.values())
    assert res.names == []  # a name that is none is not guessed at


def test_the_ssh_snapshot_brings_imapd_conf():
    spec = {(path, how) for path, how, _ in remote_spec()}
    assert {("/usr/local/etc/imapd.conf", "content"), ("/etc/imapd.conf", "content")} <= spec


def test_samples_names(tmp_path):
    """small is the issue's host: its name is the list domain, Exim's primary_hostname and a
    local domain; netsight's Cyrus has no servername (it answers as mail.netsight.example)."""
    small = inspect_tree(LocalTree(str(SAMPLES / "small")), Origin("local", "/s"))
    assert {("lists.smallclub.example", u) for u in ("hostname", "mta", "mail-domain")} \
        <= set(_names(small))
    netsight = inspect_tree(LocalTree(str(SAMPLES / "netsight")), Origin("local", "/n"))
    names = _names(netsight)
    assert names["mail.netsight.example", "imap"] == "/usr/local/etc/imapd.conf"
    assert names["lists.netsight.example", "tls"] \
        == "/usr/local/etc/apache24/Includes/mailman.conf:41"


@pytest.mark.parametrize("host", ["netsight", "small", "campus"])
def test_the_mta_name_is_what_the_real_exim_says(host):
    from eximtools import driver_options, ensure_users, exim
    ensure_users()
    inv = inspect_tree(LocalTree(str(SAMPLES / host)), Origin("local", "/s"))
    shown = exim("/usr/local/etc/exim/configure", "-bP", "primary_hostname",
                 host_root=SAMPLES / host)
    assert shown.returncode == 0, shown.stderr
    exim_says = driver_options(shown.stdout)["primary_hostname"]
    assert [n.name for n in inv.host.names if n.use == NameUse.MTA] == [exim_says.lower()]


# --- the plan: a built inventory -----------------------------------------------------------------


def _inventory(*, names=(), staying=("example.edu",), web_content=(), v6=True) -> Inventory:
    src = Source("/etc/rc.conf", 1)
    inv = Inventory(schema_version=1, tool_version="t", source=Origin("local", "/x"),
                    collected_at=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    inv.host.hostname, inv.host.hostname_source = NAME, src
    inv.host.addresses = [IPAddress(OLD_V4, AddressFamily.INET),
                          IPAddress("192.0.2.11", AddressFamily.INET, alias=True)]
    if v6:
        inv.host.addresses.append(IPAddress(OLD_V6, AddressFamily.INET6))
    inv.host.names = [HostName(NAME, NameUse.HOSTNAME, "rc.conf hostname", src),
                      HostName(NAME, NameUse.MTA, "Exim primary_hostname",
                               Source("/usr/local/etc/exim/configure", 3)),
                      *names]
    inv.mta = Mta(kind="exim", primary_hostname=NAME, domains=[
        Domain(NAME, DomainRole.LOCAL), *(Domain(d, DomainRole.LOCAL) for d in staying),
        Domain("localhost", DomainRole.LOCAL)])
    inv.mailman = Mailman(settings=MailmanSettings(
        default_url_host=NAME, default_email_host=NAME,
        virtual_hosts=[VirtualHost(NAME, NAME)]))
    inv.web = Web(kind="apache", listen=["80"], virtual_hosts=[WebVirtualHost(
        NAME, listen=["*:80"], source=Source("/usr/local/etc/apache24/httpd.conf", 9),
        other_aliases=[WebAlias(WebAliasKind.ALIAS, p, "/usr/local/www/x") for p in web_content])])
    return inv


def _target(**kw) -> Target:
    settings = dict(hostname="lists-new.example.edu", openbsd="7.8", ipv6=[NEW_V6],
                    email_domains=[NAME], web_host=NAME, old_ipv4=[OLD_V4, "192.0.2.11"])
    settings.update(kw)
    return Target(**settings)


def _zone(text: str) -> list[str]:
    return [line for line in text.splitlines() if " 300 IN " in line]


def _by_id(out, fid):
    return [f for f in out.findings if f.id == fid]


def test_a_name_others_depend_on_stays_on_the_old_host():
    """The issue's host: the list domain is the old host's name, Exim's primary_hostname, the
    MX of example.edu and Cyrus's servername. Its A/AAAA stay; its mail moves by MX."""
    inv = _inventory(names=[HostName(NAME, NameUse.IMAP, "Cyrus servername",
                                     Source("/usr/local/etc/imapd.conf", 4))])
    out = emit_dns(inv, _target(), None)
    zone = _zone(out.files["dns/records.md"])
    assert not [z for z in zone if z.startswith(f"{NAME}. 300 IN AAAA")
                or z.startswith(f"{NAME}. 300 IN A ")]
    assert f"{NAME}. 300 IN MX 10 lists-new.example.edu." in zone  # an MX on the name itself
    assert f"lists-new.example.edu. 300 IN AAAA {NEW_V6}" in zone
    (warning,) = _by_id(out, "plan.dns-name-stays")
    assert warning.severity == Severity.WARNING and str(warning.source) == "/etc/rc.conf:1"
    for what in ("example.edu", "primary_hostname", "IMAP", "Cyrus servername"):
        assert what in warning.message
    assert "lists-new.example.edu" in warning.hint and "apache-proxy.conf" in warning.hint
    assert "IPv6" in warning.hint
    assert not _by_id(out, "plan.dns-shared-name")
    text = out.files["dns/records.md"]
    section = text[text.index("## Names that stay on the old host"):]
    assert f"| {NAME} | A | {OLD_V4} |" in section and f"| {NAME} | AAAA | {OLD_V6} |" in section
    assert "192.0.2.11" not in section  # the old host's alias address is not its name's
    checks = out.files["dns/checks.sh"].splitlines()
    assert f"check {NAME} A {OLD_V4}" in checks and f"check {NAME} AAAA {OLD_V6}" in checks
    assert f"absent {NAME} AAAA {NEW_V6}" in checks
    assert f"check {NAME} MX '10 lists-new.example.edu'" in checks


def test_the_backup_mx_names_only_a_name_that_stays():
    """The old host's name stays: the backup MX may name it. A name that moves never."""
    inv = _inventory()
    zone = _zone(emit_dns(inv, _target(), None).files["dns/records.md"])
    assert f"{NAME}. 300 IN MX 20 {NAME}." in zone  # the name stays on the old host
    # nothing else depends on the name once the old host goes away: its AAAA moves, and the
    # list domain's backup MX would point at itself, half moved
    inv = _inventory(staying=())
    out = emit_dns(inv, _target(old_host_stays=False), None)
    zone = _zone(out.files["dns/records.md"])
    assert f"{NAME}. 300 IN AAAA {NEW_V6}" in zone
    assert not [z for z in zone if " MX 20 " in z]
    (warning,) = _by_id(out, "plan.dns-no-backup-mx")
    assert NAME in warning.message and warning.hint
    assert not _by_id(out, "plan.dns-shared-name")
    # another name of the old host's own that stays is taken instead
    inv.host.names.append(HostName("mx.example.edu", NameUse.MTA, "Exim primary_hostname"))
    zone = _zone(emit_dns(inv, _target(old_host_stays=False), None).files["dns/records.md"])
    assert f"{NAME}. 300 IN MX 20 mx.example.edu." in zone


def test_the_new_hosts_own_name_taken_from_others_is_a_blocker():
    out = emit_dns(_inventory(), _target(hostname=NAME), None)
    (blocker,) = _by_id(out, "plan.dns-shared-name")
    assert blocker.severity == Severity.BLOCKER
    assert "new host's own name" in blocker.message and "example.edu" in blocker.message
    assert "hostname" in blocker.hint and blocker.source is not None


def test_the_old_host_going_away_from_a_name_others_depend_on_is_a_blocker():
    out = emit_dns(_inventory(), _target(old_host_stays=False), None)
    (blocker,) = _by_id(out, "plan.dns-shared-name")
    assert "old_host_stays" in blocker.message and "example.edu" in blocker.message
    assert not _by_id(out, "plan.dns-name-stays")


def test_no_proxy_on_the_old_host_is_a_blocker():
    out = emit_dns(_inventory(), _target(front_door=False), None)
    (blocker,) = _by_id(out, "plan.dns-shared-name")
    assert "front_door" in blocker.message


def test_what_depends_on_a_name():
    target = _target()
    # the MTA's own name matters while the old host runs; not once it goes away
    alone = _inventory(staying=())
    assert [s.name for s in shared_names(alone, target)] == [NAME]
    assert shared_names(alone, _target(old_host_stays=False)) == []
    # other web content under the name, and the name as a mail domain that stays
    web = _inventory(staying=(), names=[HostName(NAME, NameUse.WEB)], web_content=["/wiki/"])
    (shared,) = shared_names(web, _target(old_host_stays=False))
    assert "other web content (/wiki/)" in shared.reasons
    mail = _inventory(staying=(), names=[HostName(NAME, NameUse.MAIL_DOMAIN)])
    (shared,) = shared_names(mail, _target(old_host_stays=False, email_domains=["other.edu"]))
    assert any("mail for lists.example.edu itself" in r for r in shared.reasons)
    # localhost is no domain whose MX names the host
    assert not any("localhost" in r for s in shared_names(_inventory(), target)
                   for r in s.reasons)


def test_a_deaf_old_apache_on_ipv6_is_said():
    inv = _inventory()
    inv.web.listen = ["192.0.2.10:80"]
    (warning,) = _by_id(emit_dns(inv, _target(), None), "plan.dns-name-stays")
    assert "Listen [::]:80" in warning.hint
    inv.web.listen = ["[::]:80", "192.0.2.10:80"]
    (warning,) = _by_id(emit_dns(inv, _target(), None), "plan.dns-name-stays")
    assert "Listen [::]:80" not in warning.hint


# --- the samples, through the command line -------------------------------------------------------


@pytest.fixture(scope="module")
def small_plan(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("small")
    res = RUNNER.invoke(cli.app, ["inspect", "--root", str(SAMPLES / "small"),
                                  "-o", str(base / "inv.yaml")])
    assert res.exit_code in (0, 1), res.stderr
    res = RUNNER.invoke(cli.app, ["plan", str(base / "inv.yaml"), "--hostname",
                                  "lists.example.org", "--ipv6", "2001:db8:60::25",
                                  "-o", str(base / "plan")])
    assert res.exit_code in (0, 1), res.stderr
    return base / "plan"


def test_small_keeps_its_name_and_the_proxy_answers_it(small_plan):
    """small's list domain is its own name and the MX of smallclub.example: it stays, the
    Apache proxy on the old host answers it on every address (``*:80``, IPv6 too)."""
    text = (small_plan / "dns/records.md").read_text()
    zone = _zone(text)
    assert "lists.smallclub.example. 300 IN AAAA 2001:db8:60::25" not in zone
    assert "lists.smallclub.example. 300 IN MX 10 lists.example.org." in zone
    assert "| lists.smallclub.example | A | 198.51.100.7 |" in text
    assert "absent lists.smallclub.example AAAA 2001:db8:60::25" \
        in (small_plan / "dns/checks.sh").read_text()
    report = (small_plan / "report.md").read_text()
    assert "lists.smallclub.example stays on the old host" in report
    proxy = (small_plan / "files/old/apache-proxy.conf").read_text().splitlines()
    assert "<VirtualHost *:80>" in proxy  # every address of the old host, IPv4 and IPv6
    assert "    ServerName lists.smallclub.example" in proxy


def test_the_runbooks_dns_step_proves_the_name_stays(small_plan):
    """The dns-switch step checks the names that stay too; the cutover's DNS check (the real
    one, dnspython) passes against the zone as the plan wants it, and fails when the name's
    AAAA was moved to the new host after all."""
    import yaml
    from migrate.core.probes import dns_check
    plan = yaml.safe_load((small_plan / "plan.yaml").read_text())
    step = next(s for s in plan["steps"] if s["id"] == "dns-switch")
    checks = [(a["name"], a["type"], a["value"]) for a in step["actions"]
              if isinstance(a, dict) and a.get("do") == "dns"]
    assert ("lists.smallclub.example", "A", "198.51.100.7") in checks
    good = {("lists.smallclub.example.", "A"): ["198.51.100.7"],
            ("lists.smallclub.example.", "MX"): ["10 lists.example.org.",
                                                  "20 lists.smallclub.example."],
            ("lists.example.org.", "AAAA"): ["2001:db8:60::25"]}
    with _dns_server(good) as port:
        for name, kind, value in checks:
            assert dns_check(name, kind, value, None, "127.0.0.1", port) is None, (name, kind)
    moved = dict(good)
    moved["lists.smallclub.example.", "A"] = ["192.0.2.99"]
    with _dns_server(moved) as port:
        assert dns_check("lists.smallclub.example", "A", "198.51.100.7", None, "127.0.0.1",
                         port) is not None


def test_checks_sh_fails_when_the_name_moved(small_plan, tmp_path):
    """checks.sh run by the real sh; dig is a stand-in answering from a zone (dig itself is not
    installed here): every check passes on the zone the plan wants, and the staying name's
    check fails once its AAAA names the new host."""
    script = (small_plan / "dns/checks.sh").read_text()
    good = {("lists.smallclub.example", "A"): ["198.51.100.7"],
            ("lists.smallclub.example", "MX"): ["10 lists.example.org.",
                                                 "20 lists.smallclub.example."],
            ("lists.example.org", "AAAA"): ["2001:db8:60::25"]}
    assert _run_checks(script, good, tmp_path / "a").returncode == 0
    moved = dict(good)
    moved["lists.smallclub.example", "AAAA"] = ["2001:db8:60::25"]
    res = _run_checks(script, moved, tmp_path / "b")
    assert res.returncode == 1
    assert "FAIL lists.smallclub.example AAAA: must not be 2001:db8:60::25" in res.stdout


def _run_checks(script: str, zone: dict, folder: Path) -> subprocess.CompletedProcess:
    folder.mkdir()
    lines = [f"{n} {t} {v}" for (n, t), vs in zone.items() for v in vs]
    (folder / "zone").write_text("\n".join(lines) + "\n")
    dig = folder / "dig"  # dig +short TYPE NAME: the zone's values, one a line
    dig.write_text(f"#!/bin/sh\nawk -v t=\"$2\" -v n=\"$3\" '$1 == n && $2 == t "
                   f"{{ $1 = \"\"; $2 = \"\"; sub(/^  /, \"\"); print }}' {folder}/zone\n")
    dig.chmod(0o755)
    env = dict(os.environ, PATH=f"{folder}:{os.environ['PATH']}")
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env)


class _dns_server:
    """A DNS server of the test on 127.0.0.1 answering from ``zone`` ((name, type): values)."""

    def __init__(self, zone: dict):
        self.zone = zone

    def __enter__(self) -> int:
        import dns.message
        import dns.rcode
        import dns.rdatatype
        import dns.rrset
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.stop = threading.Event()

        def serve():
            while not self.stop.is_set():
                try:
                    data, peer = self.sock.recvfrom(4096)
                except socket.timeout:
                    continue
                except OSError:
                    return
                query = dns.message.from_wire(data)
                reply = dns.message.make_response(query)
                q = query.question[0]
                key = (q.name.to_text(), dns.rdatatype.to_text(q.rdtype))
                if key in self.zone:
                    reply.answer.append(dns.rrset.from_text_list(q.name, 300, "IN", key[1],
                                                                 self.zone[key]))
                else:
                    reply.set_rcode(dns.rcode.NXDOMAIN)
                self.sock.sendto(reply.to_wire(), peer)
        threading.Thread(target=serve, daemon=True).start()
        return self.sock.getsockname()[1]

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.sock.close()


def test_a_name_whose_addresses_are_unknown_stays_as_it_is():
    inv = _inventory()
    inv.host.addresses = []
    out = emit_dns(inv, _target(), None)
    text = out.files["dns/records.md"]
    assert f"| {NAME} | A/AAAA | as they are today |" in text
    assert not [c for c in out.files["dns/checks.sh"].splitlines()
                if c.startswith(f"check {NAME} A")]
    assert f"absent {NAME} AAAA {NEW_V6}" in out.files["dns/checks.sh"]


def test_records_marks_the_rows_that_stay():
    rows = records(_inventory(), _target())
    stays = [(r["name"], r["type"], r["value"]) for r in rows if r.get("stays")]
    assert stays == [(NAME, "A", OLD_V4), (NAME, "AAAA", OLD_V6)]


# --- the old host's Apache proxy answers a name that stays, over IPv6 and IPv4 (real Apache) ---

PROXY_CONF = """\
ServerRoot "{base}"
LoadModule mpm_prefork_module {modules}/mod_mpm_prefork.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule proxy_module {modules}/mod_proxy.so
LoadModule proxy_http_module {modules}/mod_proxy_http.so
User nobody
Group nogroup
PidFile "{base}/httpd.pid"
ErrorLog "{base}/error.log"
# the old host's addresses (the new host's, on the same loopback here, is the backend's)
Listen [::1]:80
Listen 127.0.0.1:80
ServerName default.test
Include "{base}/apache-proxy.conf"
"""

#: The new host: an HTTP server on its address that writes down each request it gets.
BACKEND = r'''
import http.server, socket, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(sys.argv[2], "a") as seen:
            seen.write("%s %s\n" % (self.headers.get("Host"), self.path))
        self.send_response(200); self.end_headers(); self.wfile.write(b"new host\n")
    def log_message(self, *args):
        pass
class Server(http.server.HTTPServer):
    address_family = socket.AF_INET6
Server((sys.argv[1], 80), Handler).serve_forever()
'''

PROXY_SERVE = r'''
set -eu
B=$1
ip link set lo up
ip -6 addr add {new}/128 dev lo nodad
setsid python3 "$B/backend.py" {new} "$B/seen" >"$B/backend.out" 2>&1 &
N=$!
setsid {apache} -f "$B/httpd.conf" -DFOREGROUND >"$B/apache.out" 2>&1 &
A=$!
echo "$A $N" >"$B/pids"
trap 'kill $A $N 2>/dev/null || true' EXIT
python3 - "$B" <<'PY'
import http.client, socket, sys, time
for address in ("::1", "{new}"):
    end = time.monotonic() + 30
    while True:
        try:
            socket.create_connection((address, 80), 1).close(); break
        except OSError:
            if time.monotonic() > end: raise
            time.sleep(0.05)
with open(sys.argv[1] + "/answers", "w") as out:
    for address in ("::1", "127.0.0.1"):
        conn = http.client.HTTPConnection(address, 80, timeout=20)
        conn.request("GET", "/mailman/listinfo/members", headers={{"Host": "{name}"}})
        resp = conn.getresponse()
        out.write("%s %d %s\n" % (address, resp.status, resp.read().decode().strip()))
PY
'''


def test_the_old_apache_proxies_a_name_that_stays_over_ipv6_and_ipv4(small_plan):
    """Every name that records.md says stays on the old host (small's own name) is answered by
    the emitted files/old/apache-proxy.conf, as it is, in the real Apache (in a network
    namespace of the test's own, with the new host's address on its loopback): a request for
    the name's Mailman pages goes to the new host whether it came over IPv6 or IPv4."""
    import shutil
    import tempfile
    from apachetools import MODULES, apache_binary
    from conftest import need
    need(os.geteuid() == 0, "a network namespace needs root")
    need(shutil.which("unshare") is not None, "unshare (util-linux) is not installed")
    apache = apache_binary()
    for module in ("mod_proxy", "mod_proxy_http", "mod_mpm_prefork", "mod_authz_core"):
        need((MODULES / f"{module}.so").exists(), f"apache2's {module} is missing")
    text = (small_plan / "dns/records.md").read_text()
    section = text.partition("## Names that stay on the old host")[2].split("\n\n")
    stays = {line.split(" | ")[0].lstrip("| ") for part in section for line in part.splitlines()
             if line.startswith("| ") and not line.startswith("| name ")}
    assert stays == {"lists.smallclub.example"}
    new, (name,) = "2001:db8:60::25", stays
    base = Path(tempfile.mkdtemp(prefix="migrate-dns-proxy-"))
    base.chmod(0o755)
    try:
        (base / "httpd.conf").write_text(PROXY_CONF.format(base=base, modules=MODULES))
        shutil.copy(small_plan / "files/old/apache-proxy.conf", base / "apache-proxy.conf")
        (base / "backend.py").write_text(BACKEND)
        script = PROXY_SERVE.format(apache=apache, new=new, name=name)
        proc = subprocess.run(["unshare", "--net", "sh", "-c", script, "serve", str(base)],
                              capture_output=True, text=True, timeout=120,
                              start_new_session=True)
        logs = "".join(p.read_text(errors="replace")[-2000:] for p in
                       (base / "apache.out", base / "error.log", base / "backend.out")
                       if p.exists())
        assert proc.returncode == 0, proc.stderr + logs
        assert (base / "answers").read_text().splitlines() == [
            "::1 200 new host", "127.0.0.1 200 new host"], logs
        assert (base / "seen").read_text().splitlines() == [
            f"{name} /mailman/listinfo/members"] * 2  # ProxyPreserveHost: the name itself
    finally:
        for pid in (base / "pids").read_text().split() if (base / "pids").exists() else []:
            try:
                os.kill(int(pid), 9)
            except (ProcessLookupError, ValueError):
                pass
        shutil.rmtree(base, ignore_errors=True)
