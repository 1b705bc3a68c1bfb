"""rc.conf, rc.conf.local, rc.conf.d and the OS release files."""

from __future__ import annotations

from migrate.core.model import Host
from parsers.rcconf import parse_os_release, parse_rc_conf
from migrate.app.sources import LocalTree

RC = """\
# /etc/rc.conf
hostname="mail.netsight.example"
ifconfig_em0="inet 192.0.2.25 netmask 0xffffff00"   # the main address
ifconfig_em0_alias0="inet 192.0.2.26 netmask 255.255.255.255"
prefix6='2001:db8:40'
ifconfig_em0_ipv6="inet6 ${prefix6}::25 prefixlen 64"
ifconfig_em0_alias1="inet6 $prefix6::26/128"
ifconfig_vtnet1="DHCP"
ifconfig_vtnet1_ipv6="inet6 accept_rtadv"
ipv4_addrs_lo1="127.0.1.1/32 127.0.1.2/32"
defaultrouter="192.0.2.1"
ipv6_defaultrouter="2001:db8:40::1"
exim_enable="YES"
sendmail_enable="NONE"
apache24_enable="yes"; apache24_flags="-DSSL"
ntpd_enable=On
cron_enable='NO'
multi="first \\
second"
spread="one
two"
"""


def _parse(tree_factory, rc=RC, extra=None):
    files = {"/etc/rc.conf": rc}
    files.update(extra or {})
    root = tree_factory(files)
    return parse_rc_conf(LocalTree(root))


def test_addresses_interfaces_and_routers(tree_factory):
    res = _parse(tree_factory)
    host = res.host
    assert host.hostname == "mail.netsight.example"
    assert host.hostname_source.line == 2
    v4 = [(a.address, a.prefixlen, a.interface, a.alias) for a in host.addresses_v4]
    assert v4 == [("192.0.2.25", 24, "em0", False), ("127.0.1.1", 32, "lo1", True),
                  ("127.0.1.2", 32, "lo1", True), ("192.0.2.26", 32, "em0", True)]
    v6 = [(a.address, a.prefixlen, a.alias) for a in host.addresses_v6]
    assert v6 == [("2001:db8:40::25", 64, False), ("2001:db8:40::26", 128, True)]
    ifaces = {i.name: i for i in host.interfaces}
    assert ifaces["vtnet1"].dhcp and ifaces["vtnet1"].autoconf and not ifaces["em0"].dhcp
    assert host.default_router_v4 == "192.0.2.1"
    assert host.default_router_v6 == "2001:db8:40::1"
    assert res.findings == []


def test_services_follow_checkyesno(tree_factory):
    svc = {s.name: s for s in _parse(tree_factory).host.services}
    assert svc["exim"].enabled and svc["apache24"].enabled and svc["ntpd"].enabled
    assert not svc["sendmail"].enabled and svc["sendmail"].value == "NONE"
    assert not svc["cron"].enabled
    assert svc["apache24"].flags == "-DSSL"
    assert svc["exim"].source.line == 13


def test_continued_and_multiline_values(tree_factory):
    env = {v.name: v.value for v in _parse(tree_factory).host.rc_conf}
    assert env["multi"] == "first second"
    assert env["spread"] == "one\ntwo"


def test_rc_conf_local_and_rc_conf_d_override_in_order(tree_factory):
    res = _parse(tree_factory, extra={
        "/etc/rc.conf.local": 'hostname="override.example"\nexim_enable="NO"\n',
        "/etc/rc.conf.d/exim": 'exim_enable="YES"\nexim_flags="-bd -q30m"\n',
    })
    host = res.host
    assert host.hostname == "override.example"
    assert host.hostname_source.file == "/etc/rc.conf.local"
    exim = [s for s in host.services if s.name == "exim"][0]
    assert exim.enabled and exim.flags == "-bd -q30m" and exim.source.file == "/etc/rc.conf.d/exim"
    assert [f.path for f in res.files] == ["/etc/rc.conf", "/etc/rc.conf.local",
                                           "/etc/rc.conf.d/exim"]


def test_malformed_lines_are_findings_with_lines(tree_factory):
    rc = ('hostname="h"\nif [ -x /x ]; then\nfoo=$(uname -n)\nifconfig_em0="inet 300.1.1.1/24"\n'
          'broken="never closed\n')
    res = _parse(tree_factory, rc=rc)
    got = sorted((f.id, f.source.line) for f in res.findings)
    assert got == [("rcconf.address", 4), ("rcconf.statement", 2), ("rcconf.substitution", 3),
                   ("rcconf.syntax", 5)]
    assert res.host.hostname == "h"
    assert all(f.hint for f in res.findings)


def test_missing_rc_conf_is_an_error_finding(tree_factory):
    root = tree_factory({"/etc/motd": "hi\n"})
    res = parse_rc_conf(LocalTree(root))
    assert [f.id for f in res.findings] == ["input.missing"]
    assert res.host.hostname is None


def test_freebsd_version_wins_over_os_release(tree_factory):
    root = tree_factory({
        "/bin/freebsd-version": '#!/bin/sh\nset -e\nUSERLAND_VERSION="11.2-RELEASE-p4"\n',
        "/etc/os-release": 'NAME=FreeBSD\nVERSION="13.2-RELEASE"\n'})
    host = Host()
    assert parse_os_release(LocalTree(root), host) == []
    assert (host.os, host.release, host.os_source.line) == ("FreeBSD", "11.2-RELEASE-p4", 3)


def test_os_release_and_unknown(tree_factory):
    root = tree_factory({"/etc/os-release": 'NAME=FreeBSD\nVERSION_ID="13.2"\n'})
    host = Host()
    parse_os_release(LocalTree(root), host)
    assert (host.os, host.release) == ("FreeBSD", "13.2")
    empty = Host()
    findings = parse_os_release(LocalTree(tree_factory({"/etc/x": ""}, name="bare")), empty)
    assert [f.id for f in findings] == ["host.os-unknown"] and empty.os is None


def test_freebsd_before_10_is_read_from_motd(tree_factory):
    """FreeBSD 9.x has neither /bin/freebsd-version nor /etc/os-release (the campus sample);
    the first line of /etc/motd names the release, with an info finding saying so."""
    host = Host()
    root = tree_factory({"/etc/motd": "FreeBSD 9.3-RELEASE-p13 (GENERIC) #0: Tue Apr  7 2015\n"
                                      "\nWelcome to FreeBSD!\n"})
    findings = parse_os_release(LocalTree(root), host)
    assert (host.os, host.release, str(host.os_source)) == ("FreeBSD", "9.3-RELEASE-p13",
                                                           "/etc/motd:1")
    assert [f.id for f in findings] == ["host.os-from-motd"]
    other = Host()
    root = tree_factory({"/etc/motd": "Welcome to our server\n"})
    assert [f.id for f in parse_os_release(LocalTree(root), other)] == ["host.os-unknown"]
