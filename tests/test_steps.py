"""The typed cutover plan (migrate/core/steps.py): every action kind has its description, its runner
and its Ansible task; plan.yaml round-trips through the types; a tampered plan is refused at
load with the path of the bad field; each action's undo takes it back."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

import plantools
from conftest import SAMPLES
from migrate.core import codec, steps
from migrate.app import ansible
from migrate.app.cutover import Journal, Runner, load_plan
from migrate.core.errors import MigrateError
from migrate.app.hosts import LocalHost
from migrate.app.inspection import inspect_tree
from migrate.core.model import Origin
from migrate.app.planning import build_plan, resolve_target, write_plan
from migrate.app.sources import LocalTree

FLAGS = {"netsight": {"hostname": "lists.netsight.example", "ipv6": ["2001:db8:50::25"],
                      "smarthost": "smtp.upstream.example"},
         "small": {"hostname": "lists.example.org", "ipv6": ["2001:db8:60::25"]},
         "campus": {"hostname": "lists.cs.campus.example", "ipv6": ["2001:db8:70::25"]}}
for _flags in FLAGS.values():
    _flags["destination"] = "mailman2"  # Mailman 2's steps


def _plan(sample: str, **flags):
    inv = inspect_tree(LocalTree(SAMPLES / sample), Origin("local", sample))
    return build_plan(inv, resolve_target(inv, {}, {**FLAGS[sample], **flags}))


def test_every_action_kind_has_its_description_runner_and_ansible_task():
    missing = []
    for kind, cls in sorted(steps.REGISTRY.items()):
        for method in ("describe", "apply"):
            if getattr(cls, method) is getattr(steps.Action, method):
                missing.append(f"{kind}: {method}")
        if kind not in ansible.ACTION_TASKS:
            missing.append(f"{kind}: Ansible task (migrate/app/ansible.py ACTION_TASKS)")
    assert not missing, "action kinds lack: " + "; ".join(missing)
    assert not set(ansible.ACTION_TASKS) - set(steps.REGISTRY), "a task for no kind"
    # the kinds the plans use today, at least
    assert {"run", "wait", "put", "append", "insert", "unmark", "comment", "uncomment",
            "upload", "note", "smtp", "http", "dns"} <= set(steps.REGISTRY)


def test_a_kind_without_a_runner_cannot_be_defined():
    with pytest.raises(TypeError, match="'half' lacks apply"):
        @dataclasses.dataclass(kw_only=True)
        class Half(steps.Action):  # noqa: F841
            kind: ClassVar[str] = "half"

            def describe(self, plan_dir: str = "$PLAN") -> str:
                return "half"
    assert "half" not in steps.REGISTRY


def test_a_kind_without_an_ansible_task_is_refused_by_the_export(monkeypatch):
    monkeypatch.setitem(steps.REGISTRY, "extra", steps.Note)
    with pytest.raises(ValueError, match="extra have no Ansible task"):
        ansible.emit_ansible([])


@pytest.mark.parametrize("sample", sorted(FLAGS))
def test_every_step_round_trips_through_plan_yaml(sample):
    plan = _plan(sample)
    data = yaml.safe_load(plan.files["plan.yaml"].split("\n", 1)[1])
    loaded = steps.steps_from_data(data["steps"])
    assert loaded == plan.steps
    assert [s.to_data() for s in loaded] == data["steps"]
    kinds = {a.kind for s in loaded for a in s.actions + s.rollback}
    assert {"run", "put", "append", "upload", "dns", "http", "smtp", "note"} <= kinds


def _tampered(tmp_path: Path, change) -> str:
    plan = _plan("small")
    write_plan(plan, str(tmp_path / "plan"))
    path = tmp_path / "plan" / "plan.yaml"
    data = yaml.safe_load(path.read_text())
    change(data["steps"])
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(MigrateError) as err:
        load_plan(str(tmp_path / "plan"))
    return str(err.value)


def _index(steps_data, sid):
    return next(i for i, s in enumerate(steps_data) if s["id"] == sid)


@pytest.mark.parametrize("change, where, what", [
    (lambda s: s[_index(s, "new-files")]["actions"][0].update(mode="rwxrwxrwx"),
     "steps[{new-files}].actions[0]", "not an octal file mode"),
    (lambda s: s[_index(s, "new-files")]["actions"][0].update(do="chmod"),
     "steps[{new-files}].actions[0].do", "unknown action 'chmod'"),
    (lambda s: s[_index(s, "new-files")]["actions"][0].update(owner="root"),
     "steps[{new-files}].actions[0]", "unknown field 'owner'"),
    (lambda s: s[_index(s, "post-checks")]["actions"][0].update(timeout="soon"),
     "steps[{post-checks}].actions[0].timeout", "expected a number"),
    (lambda s: s[_index(s, "old-freeze")]["actions"][0].update(before="^x"),
     "steps[{old-freeze}].actions[0]", "exactly one of before and after"),
    (lambda s: s[_index(s, "verify")].update(host="router"),
     "steps[{verify}].host", "unknown host 'router'"),
    (lambda s: s[_index(s, "verify")]["actions"].append("rm -rf /"),
     "steps[{verify}].actions[2]", "must be a mapping"),
    (lambda s: s.append(dict(s[0])), "steps[{end}].id", "used twice"),
])
def test_a_tampered_plan_is_refused_at_load_with_the_path(tmp_path, change, where, what):
    plan = _plan("small")
    ids = [s.id for s in plan.steps]
    message = _tampered(tmp_path, change)
    where = where.replace("{end}", str(len(ids)))
    for sid in ids:
        where = where.replace("{" + sid + "}", str(ids.index(sid)))
    assert f"plan.yaml: {where}" in message and what in message, message
    assert "\n" not in message


def test_the_dry_run_refuses_a_tampered_plan_before_anything(tmp_path):
    from typer.testing import CliRunner

    from migrate.app import cli
    _tampered(tmp_path, lambda s: s[0]["actions"][0].update(do="chmod"))
    res = CliRunner().invoke(cli.app, ["cutover", str(tmp_path / "plan")])
    assert res.exit_code == 3, res.output
    assert "unknown action 'chmod'" in res.output and "Traceback" not in res.output


def _context_runner(tmp_path: Path, sources: dict[str, str]) -> tuple[Runner, LocalHost]:
    plan_dir = tmp_path / "plan"
    for rel, text in sources.items():
        (plan_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (plan_dir / rel).write_text(text)
    plantools.write_plan(plan_dir, {"plan_version": 1, "steps": [], "files": {
        rel: hashlib.sha256(text.encode()).hexdigest() for rel, text in sources.items()}})
    plan = load_plan(str(plan_dir))
    host = LocalHost("new")
    runner = Runner(plan, {"new": host, "old": host, "local": host},
                    Journal(tmp_path / "j.jsonl"), say=lambda line: None)
    return runner, host


@pytest.mark.parametrize("action, original", [
    (steps.Append(source="frag", path="{f}", marker="m"), "a\nb\n"),
    (steps.Insert(source="frag", paths=["{missing}", "{f}"], after=r"^b$", marker="m"),
     "a\nb\nc\n"),
    (steps.Insert(source="frag", paths=["{f}"], before=r"\A", marker="m"), "a\n"),
    (steps.Comment(paths=["{f}"], match="^b", marker="cron"), "a\nb\n# b\nbb\n"),
])
def test_each_undo_takes_its_action_back(tmp_path, action, original):
    from migrate.app.cutover import _StepContext
    target = tmp_path / "etc" / "file"
    target.parent.mkdir()
    target.write_text(original)
    for f in ("paths", "path"):
        if hasattr(action, f):
            value = getattr(action, f)
            fill = (lambda p: p.replace("{f}", str(target))
                    .replace("{missing}", str(tmp_path / "none")))
            setattr(action, f, [fill(p) for p in value] if isinstance(value, list)
                    else fill(value))
    runner, _ = _context_runner(tmp_path, {"frag": "# added\n"})
    step = steps.Step(id="s", phase="prepare", host="new", title="", why="", actions=[action])
    ctx = _StepContext(runner, step)
    action.apply(ctx)
    changed = target.read_text()
    assert changed != original
    action.apply(ctx)  # idempotent: run again, nothing more changes
    assert target.read_text() == changed
    undo = action.undo()
    assert undo is not None and undo.kind in steps.REGISTRY
    undo.apply(ctx)
    assert target.read_text() == original
    # the way back is described and serialised like any action
    assert steps.action_from_data(undo.to_data()) == undo and undo.describe()


def test_an_insert_into_a_file_the_host_does_not_have_says_so(tmp_path):
    """The file an insert edits is gone (every path it names): the message says the file is
    missing, not that no line matched; a file that is there without the line says that."""
    from migrate.app.cutover import _StepContext
    runner, _ = _context_runner(tmp_path, {"frag": "# added\n"})
    there = tmp_path / "there"
    there.write_text("nothing to match\n")
    for paths, said in (([str(tmp_path / "gone")], "no such file on the host"),
                        ([str(tmp_path / "gone"), str(there)], "no line matching")):
        action = steps.Insert(source="frag", paths=paths, before=r"^match", marker="m")
        step = steps.Step(id="s", phase="prepare", host="new", title="", why="",
                          actions=[action])
        with pytest.raises(steps.ActionFailed) as failed:
            action.apply(_StepContext(runner, step))
        assert said in str(failed.value), failed.value
    assert there.read_text() == "nothing to match\n"


@pytest.mark.parametrize("original, enabled", [
    (None, "slowcgi_flags=-p /\npkg_scripts=mailman\nsmtpd_flags=\n"),
    ("# the host's own\nntpd_flags=-s\npkg_scripts=postgresql\n",
     "# the host's own\nntpd_flags=-s\npkg_scripts=postgresql mailman\nslowcgi_flags=-p /\n"
     "smtpd_flags=\n"),
])
def test_settings_keep_the_hosts_lines_and_the_journal_restores_them(tmp_path, original,
                                                                      enabled):
    """rc.conf.local edited as rcctl would, one variable at a time: the host's own lines stay,
    doing it again changes nothing, and the rollback puts the file back byte for byte (or
    removes it, where the host had none)."""
    from migrate.app.cutover import _StepContext
    from emitters.rc_conf_local import disable_script, enable, enable_script
    rc = tmp_path / "rc.conf.local"
    if original is not None:
        rc.write_text(original)
    runner, _ = _context_runner(tmp_path, {})
    actions = [enable("slowcgi", "-p /"), enable_script("mailman"), enable("smtpd")]
    for a in actions:
        a.path = str(rc)
        assert steps.action_from_data(a.to_data()) == a
    ctx = _StepContext(runner, steps.Step(id="s", phase="switch", host="new", title="",
                                          why="", actions=actions))
    for _ in range(2):  # the second time (a resumed step) changes nothing more
        for a in actions:
            a.apply(ctx)
        assert rc.read_text() == enabled
    off = disable_script("mailman")
    off.path = str(rc)
    off.apply(ctx)
    assert "mailman" not in rc.read_text() and "slowcgi_flags=-p /\n" in rc.read_text()
    runner.rollback()
    assert (rc.read_text() if rc.exists() else None) == original


def test_the_install_step_loops_over_what_the_emitters_declare():
    from emitters.common import Install, Stage
    from emitters.runbook import steps as runbook_steps
    from emitters.new_host import new_host
    plan = _plan("netsight")
    inv = inspect_tree(LocalTree(SAMPLES / "netsight"), Origin("local", "netsight"))
    target = plan.target
    extra = Install("files/new/etc/extra.conf", "/etc/extra.conf", mode="0600",
                    check="extra -n", then="extra-reload")
    built = {s.id: s for s in runbook_steps(inv, target, plan.release, [extra],
                                            new_host(inv, target, plan.release))}
    install = built["new-files"]
    assert [a.to_data() for a in install.actions] == [
        {"do": "put", "source": "files/new/etc/extra.conf", "path": "/etc/extra.conf",
         "mode": "0600"}, {"do": "run", "command": "extra-reload"}]
    assert install.check == ["extra -n"]
    # and the real plan installs exactly the files its emitters declared
    real = next(s for s in plan.steps if s.id == "new-files")
    sources = {a.source for a in real.actions if a.kind in ("put", "append")}
    assert sources <= set(plan.files)
    assert {"files/new/etc/httpd.conf", "files/new/etc/mail/aliases"} <= sources
    assert real.check[:2] == ["smtpd -n", "httpd -n"]
    assert Stage.CONFIG < Stage.FRAGMENT < Stage.LATER


def test_an_old_mta_without_an_adapter_is_a_blocker():
    inv = inspect_tree(LocalTree(SAMPLES / "small"), Origin("local", "small"))
    inv.mta.kind = "postfix"
    plan = build_plan(inv, resolve_target(inv, {}, FLAGS["small"]))
    found = [f for f in plan.findings if f.id == "plan.mta-no-adapter"]
    assert found and found[0].severity == "blocker" and "postfix" in found[0].message


def test_codec_errors_name_the_action_field():
    with pytest.raises(codec.CodecError) as err:
        steps.action_from_data({"do": "smtp", "address": 25}, "steps[3].actions[1]")
    assert str(err.value).startswith("steps[3].actions[1].address: expected a string")


def test_rolling_back_the_new_mailman_lets_it_finish_what_it_took():
    """The new host stops taking mail first (senders retry, and reach the old host once DNS
    names it again), then its Mailman empties every queue a post waits in before it is
    archived, then the operator learns what was archived there, and only then it stops."""
    from migrate.core.mailman2 import INBOUND_QUEUES
    step = next(s for s in _plan("small").steps if s.id == "new-mailman")
    back = [a.to_data() for a in step.rollback]
    assert back[0] == {"do": "run", "command": "rcctl stop smtpd  # no more posts arrive here; "
                                                "senders retry"}
    wait = back[1]
    assert wait["do"] == "wait" and wait["timeout"] >= 600
    for queue in INBOUND_QUEUES:
        assert f"/var/spool/mailman/qfiles/{queue} " in wait["command"] + " "
    assert "qfiles/out" not in wait["command"]  # deliveries need the MTA, stopped above
    assert back[2]["do"] == "run" and back[2]["report"] and "-newer" in back[2]["command"]
    assert back[-2] == {"do": "run", "command": "rcctl stop mailman"}
    assert back[-1]["command"] == "rcctl disable mailman"


@pytest.mark.parametrize("kind,field,value", [
    ("wait", "interval", 0), ("smtp", "interval", 0), ("http", "interval", -1),
    ("dns", "interval", 0), ("wait", "timeout", -5), ("run", "timeout", -1)])
def test_a_plan_with_no_time_between_tries_is_refused_at_load(kind, field, value):
    """An interval of 0 would spin the cutover and divide by zero in the Ansible export (the
    default applies only to a field left out); a negative timeout is no time at all."""
    base = {"wait": {"command": "true"}, "smtp": {"address": "192.0.2.1"},
            "http": {"url": "https://lists.example.org/"},
            "dns": {"name": "example.org", "type": "MX"}, "run": {"command": "true"}}[kind]
    with pytest.raises(codec.CodecError) as err:
        steps.action_from_data({"do": kind, **base, field: value}, "steps[0].actions[0]")
    assert str(err.value).startswith(f"steps[0].actions[0]: {field} ")
    assert steps.action_from_data({"do": kind, **base})  # the defaults load
