"""The Exim parser against the real Exim: the same routers, transports, order and option values
(``exim -bP``), and the same route for every list address (``exim -bt``).

Runs Debian's exim4 as root (``-C`` with a test config). The sample hosts' absolute paths are
shown to Exim in a private mount namespace (see eximtools). One honest adaptation: Exim 4.94
and later refuse the tainted lookup file name of the netsight sample's per-domain alias router
(``lsearch{VIRTUAL_DIR/$domain}``, which the old host's Exim 4.92 accepts), so for ``-bt`` of
those addresses Exim reads a copy whose router uses the taint-safe ``dsearch,ret=full`` form of
the same lookup; the parser always reads the sample as it is.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from conftest import SAMPLE_HOSTS, SAMPLES
from eximtools import bt_blocks, bt_route, driver_options, ensure_users, exim, world_tmp  # noqa: F401
from parsers.exim import parse_exim
from parsers.exim_model import read_exim
from migrate.app.sources import LocalTree

CONFIGURE = "/usr/local/etc/exim/configure"


def _write_handwritten(tmp: Path) -> Path:
    (tmp / "inc").mkdir()
    (tmp / "inc" / "macros.conf").write_text(textwrap.dedent("""\
        # macros from an absolute include
        LISTS_DOMAIN = lists.example.org
        LIST_SUFFIXES = -admin : -bounces : -bounces+* : -confirm : -join : -leave : \\
                        -owner : -request : -subscribe : -unsubscribe
        """))
    (tmp / "routers.conf").write_text(textwrap.dedent("""\
        smart:
          driver = manualroute
          domains = ! +local_domains
          transport = remote_smtp
          route_list = * relay.example.net::2525
          no_more

        mm:
          driver = accept
          domains = +mm_domains
          require_files = MM_HOME/lists/$local_part/config.pck
          local_part_suffix_optional
          local_part_suffix = LIST_SUFFIXES
          transport = mm_pipe
        .ifdef USE_ALIAS_ROUTER
        aliases:
          driver = redirect
          domains = +local_domains
          data = ${lookup{$local_part}lsearch{ALIASES}}
          pipe_transport = address_pipe
          not_verify
        .endif
        MID_MACRO = defined between routers
        local:
          driver = accept
          domains = +local_domains
          check_local_user
          transport = local_file
          condition = ${if !eq{$local_part}{MID_MACRO}}
        """))
    cfg = tmp / "exim.conf"
    cfg.write_text(textwrap.dedent(f"""\
        MM_HOME = /srv/mailman
        MM_WRAP = MM_HOME/mail/mailman
        ALIASES = {tmp}/aliases
        SIZE = 10M
        SIZE == 20M
        .include {tmp}/inc/macros.conf
        .include_if_exists /nonexistent/optional.conf

        .ifdef FEATURE_X
        message_size_limit = 1M
        .elifdef SIZE
        message_size_limit = SIZE
        .else
        message_size_limit = 5M
        .endif
        .ifndef NOT_DEFINED_ANYWHERE
          .ifdef MM_HOME
        USE_ALIAS_ROUTER = yes
          .endif
        .endif

        domainlist local_domains = @ : localhost : example.org
        domainlist mm_domains = <; LISTS_DOMAIN ; lists2.example.org
        hostlist relay_from_hosts = <; 127.0.0.1 ; ::1
        primary_hostname = mail.example.org
        qualify_domain = example.org
        local_interfaces = <; 127.0.0.1 ; ::1 ; 2001:db8::25
        daemon_smtp_ports = 25 : 587
        smtp_banner = "$smtp_active_hostname \\x41\\102C \\"q\\" \\\\\\\\ ready"
        log_selector = +subject \\
        # a comment line inside a continued line
                       +received_recipients

        begin routers
        .include routers.conf

        begin transports
        remote_smtp:
          driver = smtp
          port = 2525
        mm_pipe:
          driver = pipe
          command = MM_WRAP \\
                    '${{if def:local_part_suffix {{${{sg{{$local_part_suffix}}{{-(\\\\w+)(\\\\+.*)?}}{{\\\\$1}}}}}} {{post}}}}' \\
                    $local_part
          user = nobody
          group = nogroup
        address_pipe:
          driver = pipe
          return_output
        local_file:
          driver = appendfile
          file = /var/mail/$local_part
          no_delivery_date_add
        """))
    (tmp / "aliases").write_text("postmaster: root\n")
    return cfg


def _compare_drivers(cfg_path, parsed, host_root=None, defines=()):
    args = [f"-D{d}" for d in defines]
    for kind, drivers in (("router", parsed.routers), ("transport", parsed.transports)):
        listing = exim(cfg_path, *args, "-bP", f"{kind}_list", host_root=host_root)
        assert listing.returncode == 0, listing.stderr
        assert listing.stdout.split() == [d.name for d in drivers], kind
        for d in drivers:
            shown = exim(cfg_path, *args, "-bP", kind, d.name, host_root=host_root)
            assert shown.returncode == 0, shown.stderr
            options = driver_options(shown.stdout)
            for opt in d.options:
                if opt.name == "verify":  # shorthand Exim shows as its two halves
                    assert options["verify_sender"] == options["verify_recipient"] == opt.truthy
                    continue
                assert opt.name in options, f"{kind} {d.name}: Exim has no option {opt.name}"
                want = options[opt.name]
                if isinstance(want, bool):
                    assert opt.truthy == want, f"{kind} {d.name}: {opt.name}"
                else:
                    assert " ".join((opt.value or "").split()) == " ".join(want.split()), \
                        f"{kind} {d.name}: {opt.name}"


def _compare_main(cfg_path, parsed, names, defines=()):
    args = [f"-D{d}" for d in defines]
    for name in names:
        shown = exim(cfg_path, *args, "-bP", name)
        assert shown.returncode == 0, shown.stderr
        value = driver_options(shown.stdout)[name]
        assert parsed.main_value(name) == value, name


def test_handwritten_config_matches_exim(world_tmp):
    ensure_users()
    cfg_path = _write_handwritten(world_tmp)
    parsed = parse_exim(LocalTree("/"), str(cfg_path))
    assert [f.id for f in parsed.findings] == []
    assert [r.name for r in parsed.routers] == ["smart", "mm", "aliases", "local"]
    _compare_drivers(cfg_path, parsed)
    _compare_main(cfg_path, parsed, ["message_size_limit", "primary_hostname",
                                     "local_interfaces", "log_selector"])
    # -D overrides: a command-line macro wins over the file's definitions.
    parsed_d = parse_exim(LocalTree("/"), str(cfg_path), defines={"FEATURE_X": "1", "MM_HOME": "/opt/mm"})
    _compare_drivers(cfg_path, parsed_d, defines=["FEATURE_X=1", "MM_HOME=/opt/mm"])
    assert parsed_d.main_value("message_size_limit") == "1M"
    assert parsed_d.router("mm").value("require_files") == "/opt/mm/lists/$local_part/config.pck"


def test_quoted_string_escapes_match_exim(world_tmp):
    ensure_users()
    cfg_path = _write_handwritten(world_tmp)
    parsed = parse_exim(LocalTree("/"), str(cfg_path))
    shown = exim(cfg_path, "-bP", "smtp_banner")
    # Hex, octal, quote and backslash escapes, decoded as Exim decodes them.
    assert shown.stdout.split(" = ", 1)[1] == parsed.main_value("smtp_banner")
    assert parsed.main_value("smtp_banner") == '$smtp_active_hostname ABC "q" \\\\ ready'


@pytest.mark.parametrize("host", SAMPLE_HOSTS)
def test_sample_configs_match_exim(host):
    ensure_users()
    root = SAMPLES / host
    parsed = parse_exim(LocalTree(root), CONFIGURE)
    _compare_drivers(CONFIGURE, parsed, host_root=root)


def _taint_safe_copy(root: Path, tmp: Path) -> Path:
    """A copy of the sample whose virtual router uses Exim 4.94+'s taint-safe lookup form."""
    copy = tmp / "host"
    shutil.copytree(root / "usr/local/etc", copy / "usr/local/etc", symlinks=True)
    (copy / "usr/local").joinpath("mailman").symlink_to(root / "usr/local/mailman")
    (copy / "etc").mkdir()
    (copy / "etc/aliases").symlink_to((root / "etc/aliases").resolve())
    conf = copy / "usr/local/etc/exim/configure"
    text = conf.read_text()
    old = "lsearch{VIRTUAL_DIR/$domain}"  # netsight's virtual router (campus has none)
    conf.write_text(text.replace(old, "lsearch{${lookup{$domain}dsearch,ret=full{VIRTUAL_DIR}}}"))
    return copy


@pytest.mark.parametrize("host", SAMPLE_HOSTS)
def test_every_list_address_routes_as_exim_routes_it(host, world_tmp):
    ensure_users()
    root = SAMPLES / host
    tree = LocalTree(root)
    result = read_exim(parse_exim(tree, CONFIGURE), tree)
    routes = result.mta.list_routes
    # each list's ten addresses at least (netsight: on several domains; campus: and 3 old
    # names; small: its system_aliases router has no domains option, so /etc/aliases serves
    # both local domains)
    lists = json.loads((SAMPLES.parent / "tests/sample_truth" / f"{host}.json").read_text())
    assert len(routes) >= 10 * len(lists["lists"])
    shown_root = _taint_safe_copy(root, world_tmp)
    addresses = sorted({f"{r.address}@{r.domain}" for r in routes})
    proc = exim(CONFIGURE, "-bt", *addresses, host_root=shown_root, timeout=120)
    blocks = bt_blocks(proc.stdout)
    checked = 0
    for r in routes:
        router, transport, command = bt_route(blocks, f"{r.address}@{r.domain}")
        if r.via == "router":
            assert (router, transport) == (r.router, r.transport), r
        else:  # an alias or virtual alias: Exim shows the pipe it generated
            assert (transport, command) == (r.transport, r.command), r
        checked += 1
    assert checked == len(routes)
    # The address the sample leaves out has no route, and Exim indeed fails it.
    missing = exim(CONFIGURE, "-bt", "devtalk-unsubscribe@lists.riverbend.example",
                   host_root=shown_root)
    assert missing.returncode != 0
