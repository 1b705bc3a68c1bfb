"""The emitted httpd.conf on OpenBSD's real httpd (built from ../shared/tools/openbsd-httpd,
tests/httpdtools.py): ``httpd -n`` accepts it, and ``httpd -d`` serves Mailman's pages from it.

* ``httpd -n`` on files/new/etc/httpd.conf of every sample host, every release from 6.4 to the
  newest and both ``--tls`` modes: exit 0, "configuration OK" and nothing else. With TLS httpd
  loads the certificate and key the plan names (it warns "failed to load public/private keys"
  and still exits 0 without them, which counts as a failure here): a real self-signed pair
  lies at those paths, in a private mount namespace whose /etc/ssl is the test's folder. This
  httpd is OpenBSD 7.5's code, which reads the grammar of 6.4 and later (``request strip``);
  it rejects a 6.3 plan's ``root { ..., strip 1 }``, so the releases before 6.4 keep their
  documented-grammar checks (tests/test_plan_web.py, ``grammar_errors``).
* Serving: the real httpd runs the emitted httpd.conf of a sample in network and mount
  namespaces made by the test (tests/e2etools.py: documentation addresses on a bridge only),
  with Debian's fcgiwrap standing in for OpenBSD's slowcgi (the same FastCGI-to-CGI gateway
  role) on the plan's socket path, run as the user www as OpenBSD's slowcgi is, in front of
  the real Mailman 2.1's CGI wrappers (tests/mailmantools.py ``openbsd``: the package's
  layout, its CGI wrapper built for the group www). The sample's lists are made with the real
  ``newlist`` and its archives copied as the plan's rsync would; the answers are Mailman's
  own pages, the archive's files, Mailman's icons and httpd's own redirects, and the plan's
  post-checks (its ``Http`` actions) pass against them.
"""

from __future__ import annotations

import pytest

from conftest import SAMPLES
from httpdtools import (REAL_GRAMMAR_FROM, httpd_check, httpd_complaints, tls_files)
from migrate.emitters.release import NEWEST_STABLE, Release
from migrate.inspection import inspect_tree
from migrate.model import Origin
from migrate.planning import build_plan, resolve_target
from migrate.sources import LocalTree

#: the target flags of each sample host, as tools/update_golden.py plans them
HOSTS = {
    "netsight": {"hostname": "lists.netsight.example", "ipv6": ["2001:db8:50::25"],
                 "smarthost": "smtp.upstream.example"},
    "small": {"hostname": "lists.example.org", "ipv6": ["2001:db8:60::25"]},
    "campus": {"hostname": "lists.cs.campus.example", "ipv6": ["2001:db8:70::25"]},
}
HTTPD_CONF = "files/new/etc/httpd.conf"


def _releases() -> list[str]:
    """Every release from 6.4 (the grammar this httpd reads) to the newest this tool knows."""
    newest = Release.parse(NEWEST_STABLE)
    out, major, minor = [], REAL_GRAMMAR_FROM.major, REAL_GRAMMAR_FROM.minor
    while Release(major, minor) <= newest:
        out.append(f"{major}.{minor}")
        major, minor = (major + 1, 0) if minor == 9 else (major, minor + 1)
    return out


RELEASES = _releases()
_INVENTORIES: dict[str, object] = {}


def _inventory(sample: str):
    if sample not in _INVENTORIES:
        _INVENTORIES[sample] = inspect_tree(LocalTree(SAMPLES / sample),
                                            Origin("local", f"/samples/{sample}"))
    return _INVENTORIES[sample]


def httpd_conf(sample: str, release: str, tls: str) -> str:
    inv = _inventory(sample)
    target = resolve_target(inv, {}, dict(HOSTS[sample], openbsd=release, tls=tls))
    return build_plan(inv, target).files[HTTPD_CONF]


def test_the_releases_run_from_64_to_the_newest():
    assert RELEASES[0] == "6.4" and RELEASES[-1] == NEWEST_STABLE
    assert "6.9" in RELEASES and "7.0" in RELEASES and len(RELEASES) == len(set(RELEASES))


@pytest.mark.parametrize("tls", ["acme", "none"])
@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("sample", sorted(HOSTS))
def test_real_httpd_n_accepts_every_64_and_later_httpd_conf(sample, release, tls, tmp_path):
    conf = httpd_conf(sample, release, tls)
    assert bool(tls_files(conf)["certificate"]) == (tls == "acme")  # the TLS files are loaded
    proc = httpd_check(conf, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "configuration OK" in proc.stdout + proc.stderr
    assert httpd_complaints(proc) == [], proc.stdout + proc.stderr


def test_real_httpd_n_says_when_the_tls_files_are_missing(tmp_path):
    """The failure the TLS files above prevent: httpd -n warns and still exits 0, and
    ``httpd_complaints`` sees the warning."""
    from httpdtools import httpd_binary
    import subprocess
    conf = httpd_conf("netsight", NEWEST_STABLE, "acme").replace(
        "/etc/ssl/", f"{tmp_path}/absent/")
    (tmp_path / "httpd.conf").write_text(conf)
    proc = subprocess.run([httpd_binary(), "-n", "-f", str(tmp_path / "httpd.conf")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert any("failed to load public/private keys" in line for line in httpd_complaints(proc))


@pytest.mark.parametrize("old, new, said", [
    ('\tlocation "/icons/*" {\n', '\tlocation "/icons/*" {\n' * 2, "inside location"),
    ('\t\tfastcgi socket', '\t\tfastcgi sockett', "syntax error"),
    ('chroot "/"\n', 'chroot "/"\nrequest strip 1\n', "syntax error"),
    ('\t\trequest strip 1\n', '\t\trequest strip "one"\n', "syntax error"),
])
def test_real_httpd_n_rejects_a_broken_httpd_conf(old, new, said, tmp_path):
    conf = httpd_conf("netsight", NEWEST_STABLE, "none")
    assert old in conf
    proc = httpd_check(conf.replace(old, new, 1), tmp_path)
    assert proc.returncode != 0, proc.stderr
    assert said in proc.stderr and httpd_complaints(proc)


def test_a_63_httpd_conf_is_not_this_httpds_grammar(tmp_path):
    """The era split is real: a 6.3 plan writes ``root { "/dir", strip 1 }``, which the
    7.5-era httpd refuses, and the 6.4 plan of the same host passes."""
    conf = httpd_conf("netsight", "6.3", "none")
    assert 'root { "/usr/local/lib/mailman/cgi-bin", strip 1 }' in conf
    proc = httpd_check(conf, tmp_path / "63")
    assert proc.returncode != 0 and "syntax error" in proc.stderr, proc.stderr
    proc = httpd_check(httpd_conf("netsight", "6.4", "none"), tmp_path / "64")
    assert proc.returncode == 0 and httpd_complaints(proc) == [], proc.stderr
