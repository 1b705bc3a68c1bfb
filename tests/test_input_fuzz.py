"""The operator's own input files, fuzzed: ``migrate plan`` over mutations of a real inventory
(the netsight sample's, as YAML and as JSON) and of ``target.yaml`` exits 0, 1, 2 or 3, never
70 (a traceback), and leaves no plan folder or a whole one, never part of one.

The mutations are the ways an edited or damaged file goes wrong: a value of the wrong type, a
count below zero or past any integer, a month or a date out of the calendar (``abcd``, year 1),
control characters, a key gone or unknown, and lists nested thousands deep. Each example runs
the real CLI in-process on files in a fresh folder.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import migrate.app.cli as cli
from conftest import SAMPLES
from migrate.core import codec, safeyaml
from migrate.core.model import Target

RUNNER = CliRunner()
DEEP = "DEEPNESTING"  # a plain scalar the text form replaces with lists nested that deep
RAW = "RAWVALUE"  # a plain scalar the text form replaces with RAW_VALUES[n], as written
#: Values no dumper writes: integers no one can print, dates not in the calendar.
RAW_VALUES = ("-0x" + "f" * 5_000, "9" * 5_000, "2001-02-30", "2001-02-30 10:00:00",
              "!!int 0x" + "f" * 5_000, "!!timestamp 2001-02-30")
TARGET = {"hostname": "lists.example.org", "ipv6": ["2001:db8::25"]}

#: Values that broke something once: out of the calendar, below zero, past any integer,
#: control characters, paths and options.
SPECIAL = st.sampled_from([
    "abcd", "2007-13", "1969-12", "0001-01", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
    "2026-11-25T10:00:00", -1, 2**63, 10**40, float("nan"), float("inf"), "\x1b[8m", "a\nb", "",
    "../../etc/passwd", "-oProxyCommand=x", "7.8", "none", "acme"])
SCALARS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70), st.floats(), st.booleans(), st.none(),
    st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=20))
VALUES = st.one_of(
    SPECIAL, SCALARS, st.lists(SCALARS, max_size=3),
    st.dictionaries(st.text(max_size=5), SCALARS, max_size=3),
    # past MAX_DEPTH, past libyaml's limit (1,000), past the interpreter's recursion
    st.sampled_from([safeyaml.MAX_DEPTH + 1, 1_001, 3_000]).map(lambda n: f"{DEEP}{n}"),
    st.integers(0, len(RAW_VALUES) - 1).map(lambda n: f"{RAW}{n}"))


def _paths(data: Any, here: tuple = ()) -> list[tuple]:
    """Every place in ``data`` (mapping keys and list indexes), parents before children."""
    out = [here] if here else []
    if isinstance(data, dict):
        for key, value in data.items():
            out += _paths(value, here + (key,))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            out += _paths(value, here + (i,))
    return out


@pytest.fixture(scope="module")
def base() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "inventory.yaml"
        res = RUNNER.invoke(cli.app, ["inspect", "--root", str(SAMPLES / "netsight"),
                                      "-o", str(out)])
        assert res.exit_code in (0, 1), res.stderr
        return codec.inventory_to_data(codec.load_yaml(out.read_text()))


def _mutated(data: Any, edits: list[tuple[tuple, str, Any]]) -> Any:
    """``data`` with each edit applied: (path, "set" | "drop" | "add", value)."""
    import copy

    data = copy.deepcopy(data)
    for path, how, value in edits:
        owner = data
        try:
            for step in path[:-1]:
                owner = owner[step]
            last = path[-1]
            if how == "set":
                owner[last] = value
            elif how == "drop":
                del owner[last]
            elif isinstance(owner[last], dict):
                owner[last]["surprise"] = value
            elif isinstance(owner[last], list):
                owner[last].append(value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit changed what was there
    return data


def _expand(text: str) -> str:
    """Replace each placeholder (a plain YAML scalar, a JSON string): DEEPn with lists nested
    n deep, RAWn with RAW_VALUES[n]."""
    for word in (DEEP, RAW):
        while word in text:
            start = text.index(word)
            end = start + len(word)
            while end < len(text) and text[end].isdigit():
                end += 1
            n = int(text[start + len(word):end])
            if text[start - 1] == '"' and text[end:end + 1] == '"':  # JSON: the quotes go too
                start, end = start - 1, end + 1
            value = "[" * n + "]" * n if word == DEEP else RAW_VALUES[n]
            text = text[:start] + value + text[end:]
    return text


def _yaml(data: Any) -> str:
    return (f"{codec.HEADER_START}1.\n" + safeyaml.dump(data, sort_keys=False,
                                                       allow_unicode=True) + codec.TRAILER)


def _json(data: Any) -> str:
    import json

    return json.dumps(data, ensure_ascii=False)


def _plan(inventory_text: str, suffix: str, target_text: str | None):
    """``migrate plan`` on the files; the exit is 0-3 and the plan folder whole or absent.
    Returns the CLI's result."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        inventory = folder / f"inventory{suffix}"
        inventory.write_text(_expand(inventory_text), encoding="utf-8")
        args = ["plan", str(inventory), "-o", str(folder / "plan")]
        if target_text is not None:
            target = folder / "target.yaml"
            target.write_text(_expand(target_text), encoding="utf-8")
            args += ["--target", str(target)]
        else:
            args += ["--hostname", TARGET["hostname"], "--ipv6", TARGET["ipv6"][0]]
        with mock.patch.dict(os.environ, {"XDG_STATE_HOME": str(folder / "state")}):
            res = RUNNER.invoke(cli.app, args)
        crash = "".join(p.read_text() for p in (folder / "state").rglob("crash-*.log"))
        assert res.exit_code in (0, 1, 2, 3), (res.exit_code, res.stderr, crash[-3000:])
        left = sorted(p.name for p in folder.iterdir()
                      if p.name not in (inventory.name, "target.yaml", "state"))
        if res.exit_code in (0, 1):
            assert left == ["plan"] and (folder / "plan" / "plan.yaml").is_file()
        else:
            assert left == [], (res.exit_code, res.stderr, left)
            assert res.stderr.count("\n") == 1, res.stderr
    return res


#: Fields with a range besides their type (counts, months, dates): edited more often.
RANGED = {"month", "messages", "bytes", "first_date", "last_date", "undated",
          "implausible_dates", "html_articles", "regular_count", "digest_count",
          "delivery_status", "pending_count", "held_count", "created_at", "last_post_at",
          "collected_at", "months", "volumes", "archives"}
EDITS = st.tuples(st.sampled_from(["set", "set", "set", "drop", "add"]), VALUES)


@pytest.mark.slow
@settings(max_examples=80, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data(), as_json=st.booleans())
def test_a_mutated_inventory_never_crashes_the_plan(base, data, as_json):
    paths = _paths(base)
    counted = [p for p in paths if p[-1] in RANGED]
    edits = data.draw(st.lists(st.tuples(
        st.one_of(st.sampled_from(paths), st.sampled_from(counted)), EDITS),
        min_size=1, max_size=2))
    mutated = _mutated(base, [(path, how, value) for path, (how, value) in edits])
    _plan(_json(mutated) if as_json else _yaml(mutated), ".json" if as_json else ".yaml", None)


@pytest.mark.parametrize("as_json", [False, True])
@pytest.mark.parametrize("edit, where", [
    ((("archives", 0, "months", 0, "month"), "set", "abcd"), "archives[0].months[0].month"),
    ((("archives", 0, "months", 0, "messages"), "set", -1), "archives[0].months[0].messages"),
    ((("archives", 0, "first_date"), "set", "0001-01-01T00:00:00Z"), "archives[0].first_date"),
    ((("lists", 0, "members", "delivery_status"), "set", {"enabled": -4}),
     "lists[0].members.delivery_status.enabled"),
    ((("mta", "aliases"), "set", f"{DEEP}3000"), "nest"),
], ids=["month", "count", "year-1", "status", "deep"])
def test_the_reported_inputs_are_refused_with_their_place(base, edit, where, as_json):
    """The issue's cases, each refused at load: one line naming the field (exit 3), no plan."""
    mutated = _mutated(base, [edit])
    res = _plan(_json(mutated) if as_json else _yaml(mutated), ".json" if as_json else ".yaml",
                None)
    assert res.exit_code == 3 and where in res.stderr, res.stderr


TARGET_KEYS = st.sampled_from(sorted(f.name for f in __import__("dataclasses").fields(Target))
                              + ["surprise"])


@pytest.mark.slow
@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(settings_=st.dictionaries(TARGET_KEYS, VALUES, max_size=3),
       whole=st.one_of(st.none(), VALUES))
def test_a_mutated_target_yaml_never_crashes_the_plan(base, settings_, whole):
    target = whole if whole is not None else {**TARGET, **settings_}
    _plan(_yaml(base), ".yaml", safeyaml.dump(target, sort_keys=False, allow_unicode=True))
