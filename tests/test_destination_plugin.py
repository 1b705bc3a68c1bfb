"""The destination recipe, proved: a second list manager for the new host plugs in from this
one file (a ``Destination`` subclass and ``register``), is chosen by the target's
``destination``, and a plan made with it installs and starts its things and names nothing of
Mailman 2 on the new host: no package, path, user, file or step. No other module changes."""

from __future__ import annotations

import re

import pytest
import yaml

from conftest import SAMPLES
from emitters.common import Emitted
from emitters.destination import DESTINATIONS, Destination, WebFolders, register
from emitters.rc_conf_local import disable_script, enable_script
from migrate.core.errors import MigrateError
from migrate.app.inspection import inspect_tree
from migrate.core.mailman2 import ADDRESSES
from migrate.core.model import Origin
from migrate.app.planning import build_plan, resolve_target
from migrate.app.sources import LocalTree
from migrate.core.steps import REPORT_HTML, REPORT_MD, Step

FLAGS = {"hostname": "lists.example.org", "ipv6": ["2001:db8:60::25"]}
CONF = "files/new/etc/fakelists.conf"


class FakeLists(Destination):
    """A list manager that takes Mailman 2's lists as they are copied and imports them."""

    kind = "fakelists"
    name = "Fake Lists"
    packages = ("fakelists",)
    user = group = "_fakelists"
    var = "/var/fakelists/import"
    services = ("fakelistsd",)
    delivery_note = "fakelists-deliver reads the message on its standard input."
    web = WebFolders(cgi="/usr/local/libexec/fakelists", icons="/usr/local/share/fakelists",
                     archive="/var/fakelists/public", cgi_prefix="/fakelists/",
                     icons_prefix="/fakelists-icons/", archive_prefix="/archives/")

    def delivery(self, list_name: str, action: str) -> str:
        return f"|/usr/local/bin/fakelists-deliver {action} {list_name}"

    def emit(self, host) -> Emitted:
        out = Emitted()
        out.files[CONF] = f"site {self.target.hostname}\n"
        out.install(CONF, "/etc/fakelists.conf", check="fakelists -n")
        return out

    def preflight(self, total: int) -> list[Step]:
        return [Step.make("fake-preflight", "preflight", "new", "The fakelists package is there",
                          f"{total} bytes come.", ["pkg_info -Q fakelists"])]

    def install(self) -> list[Step]:
        return [Step.make("fake-install", "prepare", "new", "Install fakelists", "It takes them.",
                          ["pkg_add fakelists rsync"], ["pkg_info -e 'fakelists-*'"],
                          ["pkg_delete fakelists"])]

    def start(self) -> list[Step]:
        service = self.services[0]
        return [Step.make("fake-start", "switch", "new", "Import the lists, start fakelistsd",
                          "After the final sync.",
                          [f"fakelists import {self.var}", enable_script(service),
                           f"rcctl start {service}"],
                          [f"rcctl check {service}"],
                          [f"rcctl stop {service}", disable_script(service)])]


@pytest.fixture
def fake():
    register(FakeLists)
    yield FakeLists
    DESTINATIONS.pop(FakeLists.kind)


@pytest.fixture(scope="module")
def small():
    return inspect_tree(LocalTree(SAMPLES / "small"), Origin("local", "small"))


def test_an_unknown_destination_is_one_error_naming_the_known_ones(small):
    with pytest.raises(MigrateError) as err:
        resolve_target(small, {"destination": "fakelists"}, FLAGS)
    assert "unknown destination 'fakelists' (known: mailman2, mailman3)" in str(err.value)


def test_a_fake_destination_plugs_in_from_one_file(small, fake):
    target = resolve_target(small, {"destination": "fakelists"}, FLAGS)
    plan = build_plan(small, target)
    assert not plan.blockers()
    by_id = {s.id: s for s in plan.steps}
    # its steps, in their phases: installed, its file checked, started at the switch
    assert [s.id for s in plan.steps if s.id.startswith("fake-")] == [
        "fake-preflight", "fake-install", "fake-start"]
    assert by_id["fake-install"].phase == "prepare"
    files = by_id["new-files"]
    assert {"do": "put", "source": CONF, "path": "/etc/fakelists.conf", "mode": "0644"} in [
        a.to_data() for a in files.actions]
    assert "fakelists -n" in files.check
    start = by_id["fake-start"]
    assert start.phase == "switch" and "rcctl start fakelistsd" in [
        a.describe() for a in start.actions]
    enabled = [a for s in plan.steps for a in s.actions if a.kind == "setting"
               and a.name == "pkg_scripts"]
    assert [(a.word, a.remove) for a in enabled] == [("fakelistsd", None)]
    assert plan.steps.index(start) < plan.steps.index(by_id["new-smtpd"])
    # its address table in the aliases file, its folders in httpd.conf and the sync
    aliases = plan.files["files/new/etc/mail/aliases"]
    for suffix, action in ADDRESSES:
        assert re.search(rf'^members{suffix}: +"\|/usr/local/bin/fakelists-deliver {action} '
                         r'members"$', aliases, re.M), suffix
    httpd = plan.files["files/new/etc/httpd.conf"]
    for folder in (FakeLists.web.cgi, FakeLists.web.icons, FakeLists.web.archive):
        assert folder.removeprefix("/var/www") in httpd
    assert "/var/fakelists/import/lists/members/" in plan.files["rsync/presync.sh"]
    # and nothing of Mailman 2 on the new host, anywhere in the plan (the reports aside: they
    # show the inventory's findings, whose hints the old host's parsers still write)
    everything = "\n".join(text for path, text in plan.files.items()
                           if path not in (REPORT_MD, REPORT_HTML)) + yaml.safe_dump(
        [s.to_data() for s in plan.steps]) + "\n".join(
        f.message + f.hint for f in plan.findings)
    for mailman2 in ("/usr/local/lib/mailman", "/var/spool/mailman", "pkg_add mailman",
                     "_mailman", "mm_cfg", "mailman-after-copy", "mailman-wrapper-check",
                     "rcctl start mailman", "crontab._mailman", "newsyslog.conf.mailman",
                     "Pipes run as _smtpd"):
        assert mailman2 not in everything, mailman2
    assert not {"preflight-new", "new-packages", "new-groups", "new-wrapper-group",
                "new-mailman", "verify"} & set(by_id)


@pytest.mark.parametrize("release,known", [("5.7", True), ("6.9", True), ("7.0", False),
                                           ("7.8", False)])
def test_mailman2_says_what_is_known_of_its_package_per_release(small, release, known):
    """The port was in the tree through 6.9 (emitters/release.py's source); for later
    releases the plan says it does not know, and the preflight's pkg_info decides."""
    plan = build_plan(small, resolve_target(small, {}, {**FLAGS, "openbsd": release,
                                                        "destination": "mailman2"}))
    finding = next(f for f in plan.findings if f.id == "plan.mailman-package")
    assert ("not known" not in finding.message) is known
    assert ("the last release it is known for is 6.9" in finding.message) is not known
    steps = yaml.safe_load(plan.files["plan.yaml"].split("\n", 1)[1])["steps"]
    preflight = next(s for s in steps if s["id"] == "preflight-new")
    assert any("pkg_info -Q mailman" in str(a) for a in preflight["actions"])
