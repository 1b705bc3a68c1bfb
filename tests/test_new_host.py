"""The new host computed once (emitters/new_host.py) and the emitter contract (``Emitted``,
``Emitter``, ``Phase`` in emitters/common.py), on the sample hosts' real inventories."""

from __future__ import annotations

import dataclasses

import pytest

from conftest import SAMPLES
from migrate.app import planning
from emitters import httpd_redirects, new_host
from emitters.common import ALIASES_FILE, Data, Emitted, Emitter, Phase, TwoWriters
from emitters.mailman2.paths import MM_WRAPPER
from emitters.new_host import Delivery, Served
from emitters.parity import emit_parity
from migrate.app.inspection import inspect_tree
from migrate.core.model import Origin
from migrate.app.planning import build_plan, resolve_target
from migrate.app.sources import LocalTree
from migrate.core.steps import REPORT_MD

FLAGS = {"netsight": {"hostname": "lists.netsight.example", "ipv6": ["2001:db8:50::25"],
                      "smarthost": "smtp.upstream.example"},
         "campus": {"hostname": "lists.cs.campus.example", "ipv6": ["2001:db8:70::25"]}}
for _flags in FLAGS.values():
    _flags["destination"] = "mailman2"  # Mailman 2's pipes and pages


@pytest.fixture(scope="module")
def inventories():
    return {name: inspect_tree(LocalTree(SAMPLES / name), Origin("local", name))
            for name in FLAGS}


def _plan(inventories, sample: str):
    inv = inventories[sample]
    return build_plan(inv, resolve_target(inv, {}, FLAGS[sample]))


# --- Emitted: one writer per file and datum -----------------------------------------------------


def test_two_writers_of_one_file_are_refused_naming_both():
    out = Emitted()
    out.add(Emitted(files={ALIASES_FILE: "a\n"}), "aliases")
    with pytest.raises(TwoWriters, match=f"the emitters aliases and extra both write "
                                         f"{ALIASES_FILE}"):
        out.add(Emitted(files={"files/new/etc/other": "", ALIASES_FILE: "b\n"}), "extra")
    assert out.files == {ALIASES_FILE: "a\n"}  # nothing of the refused one is taken


def test_two_writers_of_one_datum_are_refused_naming_both():
    out = Emitted()
    out.add(Emitted(data=Data(parity=[{"address": "a@b"}])), "parity")
    out.add(Emitted(data=Data(web_parity=[])), "web_parity")  # another datum: taken
    with pytest.raises(TwoWriters, match="the emitters parity and extra both write data parity"):
        out.add(Emitted(data=Data(parity=[])), "extra")
    assert out.data.parity == [{"address": "a@b"}] and out.data.web_parity == []


def test_two_installs_of_one_file_of_the_new_host_are_refused():
    out = Emitted()
    first = Emitted(files={ALIASES_FILE: ""})
    first.install(ALIASES_FILE, "/etc/mail/aliases")
    first.install("files/new/a.cfg", "/etc/pkg.cfg", marker="a")
    out.add(first, "aliases")
    second = Emitted(files={"files/new/b.cfg": ""})
    second.install("files/new/b.cfg", "/etc/pkg.cfg", marker="b")  # another part: taken
    out.add(second, "b")
    other = Emitted(files={"files/new/mine": ""})
    other.install("files/new/mine", "/etc/mail/aliases")
    with pytest.raises(TwoWriters, match="aliases and extra both write the new host's "
                                         "/etc/mail/aliases"):
        out.add(other, "extra")


def test_planning_refuses_an_emitter_that_writes_another_ones_file(inventories, monkeypatch):
    def emit_extra(inv, target, release):
        return Emitted(files={ALIASES_FILE: "# mine\n"})

    monkeypatch.setattr(planning, "EMITTERS", planning.EMITTERS + (Emitter(emit_extra),))
    with pytest.raises(TwoWriters, match="aliases and extra both write"):
        _plan(inventories, "netsight")


# --- the contract: phases, not special cases ------------------------------------------------


def test_the_phases_order_the_emitters_not_their_place_in_the_list(inventories, monkeypatch):
    """The runbook (it installs what the others declared) and the report (it shows the checked
    plan) run last because of their phase: listed first, the plan is the same."""
    plan = _plan(inventories, "netsight")
    later = tuple(e for e in planning.EMITTERS if e.phase > Phase.FILES)
    assert {e.name for e in later} == {"runbook", "report"}
    monkeypatch.setattr(planning, "EMITTERS", later[::-1] + tuple(
        e for e in planning.EMITTERS if e.phase == Phase.FILES))
    assert _plan(inventories, "netsight").files == plan.files


def test_the_report_shows_the_rows_the_emitters_put_into_the_plan(inventories, monkeypatch):
    def emit_marked_parity(inv, target, release, host):
        out = emit_parity(inv, target, release, host)
        out.data.parity = [dict(r, new="MARKED-ROW") for r in out.data.parity]
        return out

    monkeypatch.setattr(planning, "EMITTERS", tuple(
        Emitter(emit_marked_parity, new_host=True) if e.emit is emit_parity else e
        for e in planning.EMITTERS))
    report = _plan(inventories, "netsight").files[REPORT_MD]
    assert "MARKED-ROW" in report.split("## Routing parity")[1].split("## Web parity")[0]


# --- the new host, computed once --------------------------------------------------------------


def test_the_new_host_is_worked_out_once_per_plan(inventories, monkeypatch):
    calls = {"address_table": 0, "old_redirects": 0}

    def counted(name, real):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(new_host, "address_table",
                        counted("address_table", new_host.address_table))
    monkeypatch.setattr(httpd_redirects, "old_redirects",
                        counted("old_redirects", httpd_redirects.old_redirects))
    inv = inventories["netsight"]
    target = resolve_target(inv, {}, FLAGS["netsight"])
    build_plan(inv, target)
    release = planning.Release.parse(target.openbsd)
    names = new_host.web_locations(inv, target, release,
                                   new_host.destination(inv, target, release)).names
    # the redirects of each web name are translated once (and once more just above)
    assert calls == {"address_table": 1, "old_redirects": 2 * len(names)}


def test_every_delivery_comes_from_the_list_managers_one_function(inventories, monkeypatch):
    """Another delivery for the lists' addresses: the aliases and the virtual table write it,
    and parity checks every old address against it (nothing else names the wrapper)."""
    before = _plan(inventories, "campus")
    real = new_host.list_deliveries

    def other(dest, list_name):
        return tuple(Delivery(d.local, d.list_name, d.action,
                              f"|/opt/other/deliver {d.action} {list_name}")
                     for d in real(dest, list_name))

    monkeypatch.setattr(new_host, "list_deliveries", other)
    after = _plan(inventories, "campus")
    aliases = after.files[ALIASES_FILE]
    assert '"|/opt/other/deliver post ' in aliases and MM_WRAPPER not in aliases
    assert [(r["address"], r["status"]) for r in after.parity] == \
        [(r["address"], r["status"]) for r in before.parity]
    assert any("/opt/other/deliver" in r["new"] for r in after.parity)
    assert not any(MM_WRAPPER in r["new"] for r in after.parity)


def test_the_web_locations_come_from_the_list_managers_one_function(inventories, monkeypatch):
    real = new_host.list_locations

    def other(inv, target, dest, release):
        lists, findings = real(inv, target, dest, release)
        return dataclasses.replace(lists, cgi=Served("/lists/", "/opt/lists/cgi",
                                                     lists.cgi.fastcgi)), findings

    monkeypatch.setattr(new_host, "list_locations", other)
    plan = _plan(inventories, "netsight")
    httpd = plan.files["files/new/etc/httpd.conf"]
    assert 'location "/lists/*"' in httpd and '"/opt/lists/cgi"' in httpd
    assert 'location "/mailman/*"' not in httpd
    # web parity reads the same locations: Mailman's old /mailman/ pages are not served now
    missing = [r for r in plan.web_parity if r["status"] == "missing"]
    assert missing and all("/lists/" in r["new"] for r in missing)
