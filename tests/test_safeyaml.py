"""migrate.core.safeyaml: the lean loader gives exactly what PyYAML's SafeLoader gives, refuses what
it refuses, and bounds what aliases may expand to."""

from __future__ import annotations

import datetime as dt
import math
import string
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrate.core import codec, safeyaml
from migrate.app.inspection import inspect_tree
from migrate.core.model import Origin
from migrate.app.sources import LocalTree
from conftest import SAMPLE_HOSTS, SAMPLES

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "perf"))
import bench_plan  # noqa: E402


def _unique_keys(base):
    """``base``, but a key written twice in one mapping is refused (the one way safeyaml
    differs on purpose: SafeLoader keeps the last value)."""

    def construct_mapping(self, node, deep=False):
        keys = [self.construct_object(k, deep=True) for k, _ in node.value
                if k.tag != "tag:yaml.org,2002:merge"]
        try:
            twice = len(set(keys)) != len(keys)
        except TypeError:
            twice = False
        if twice:
            raise yaml.constructor.ConstructorError(None, None, "duplicate key", node.start_mark)
        return base.construct_mapping(self, node, deep)
    return type(f"Unique{base.__name__}", (base,), {"construct_mapping": construct_mapping})


UniqueSafeLoader = _unique_keys(yaml.SafeLoader)


def reference(text: str):
    return yaml.load(text, Loader=UniqueSafeLoader)  # noqa: S506 - the reference


def same(a, b) -> bool:
    """Equal data of equal types all the way down (True == 1 is not enough; nan is nan)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a) and all(
            type(x) is type(y) for x, y in zip(a, b))
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dt.datetime):
        return a == b and a.tzinfo == b.tzinfo
    return a == b


def outcome(load, text: str):
    try:
        return "data", load(text)
    except yaml.YAMLError as exc:
        return "refused", type(exc)


def check(text: str) -> None:
    """safeyaml.load(text) is SafeLoader's result (data, or a refusal of the same kind). Where
    libyaml's parser and PyYAML's pure Python one disagree (``k: !``, some odd whitespace),
    it is the C safe loader's: the parser is libyaml's, as it was before safeyaml."""
    got = outcome(safeyaml.load, text)
    expected = outcome(reference, text)
    if got[0] == expected[0] and (same(got[1], expected[1]) if got[0] == "data"
                                  else issubclass(got[1], expected[1])):
        return
    c_expected = outcome(lambda t: yaml.load(t, Loader=_unique_keys(yaml.CSafeLoader)),
                         text)  # noqa: S506
    assert got[0] == c_expected[0], text
    assert same(got[1], c_expected[1]) if got[0] == "data" else got[1] is c_expected[1], text


@pytest.mark.parametrize("host", SAMPLE_HOSTS)
def test_sample_inventories_load_as_with_safeloader(host):
    inv = inspect_tree(LocalTree(SAMPLES / host), Origin("local", host))
    text = codec.dump_yaml(inv)
    data = safeyaml.load(text)
    assert same(data, reference(text))
    assert codec.load_yaml(text) == inv


@pytest.mark.slow
def test_bench_inventory_loads_as_with_safeloader():
    text = codec.dump_yaml(bench_plan.generate(lists=6, posts=5000))
    assert same(safeyaml.load(text), reference(text))


# Every kind of scalar YAML 1.1 treats specially, plain and in the styles the dumper picks.
SPECIALS = ["", " ", "~", "null", "Null", "NULL", "yes", "Yes", "YES", "no", "No", "on", "On",
            "off", "OFF", "y", "n", "Y", "N", "true", "True", "false", "FALSE", "0", "00", "007",
            "08", "09", "-0", "+1", "0x1F", "0X1f", "0o17", "0b101", "1_000", "190:20:30",
            "-1:30", "1e3", "1E3", "1.5e3", "1.0e+3", "-.inf", ".inf", ".Inf", ".NaN", ".nan",
            "1.", ".5", "+.5", "1_0.5", "3.14", "2026-11-25", "2026-11-25T10:36:59Z",
            "2026-11-25 10:36:59", "2026-11-25t10:36:59.5+01:00", "2026-1-5", "<<", "=", "!",
            "&a", "*a", "- x", "x: y", "a #b", "#c", "'", '"', "a'b", 'a"b', "\\", "%", "@x",
            "`x", "|", ">", "? x", "[x]", "{x: y}", ",", "x,", "é", "日本", "😀", "\t",
            "a\tb", "line\nbreak", "\r", "\x00", "\x07", "\x1b[0m", "\u0085", "\u2028",
            "\ufeff", " lead", "trail ", "--- x", "...", "0o8", "0b2", "1__2", "0.1.2"]
PIECES = st.sampled_from(SPECIALS) | st.text(max_size=8)
HOSTILE = st.builds(lambda parts: "".join(parts), st.lists(PIECES, max_size=4))
DATA = st.recursive(
    st.none() | st.booleans() | st.integers() | HOSTILE,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(HOSTILE, inner, max_size=4),
    max_leaves=20)


@pytest.mark.parametrize("value", SPECIALS)
def test_each_special_plain_and_dumped(value):
    check(yaml.safe_dump({"k": value}, allow_unicode=True))
    check(yaml.safe_dump([value], allow_unicode=False, default_flow_style=True))
    if "\n" not in value and "\r" not in value:
        check(f"k: {value}\n")  # as a person might type it, unquoted
        check(f"- {value}\n")


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DATA)
def test_dumped_hostile_data_loads_as_with_safeloader(data):
    text = codec.HEADER_START + "1.\n" + yaml.safe_dump(
        data, sort_keys=False, allow_unicode=True, width=100)
    check(text)
    check(yaml.dump(data, Dumper=yaml.CSafeDumper, allow_unicode=False))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(PIECES, max_size=6).map(lambda parts: "\n".join(parts)))
def test_raw_hostile_text_loads_or_fails_as_with_safeloader(text):
    check(text)


@pytest.mark.parametrize("text", [
    "a: !!python/object:os.system ls\n",
    "a: !!python/object/apply:os.system [ls]\n",
    "a: !!python/name:os.system\n",
    "!!python/tuple [1, 2]\n",
    "a: !custom x\n",
    "a: !<tag:example.com,2026:x> {b: 1}\n",
])
def test_tags_safeloader_refuses_are_refused(text):
    with pytest.raises(yaml.constructor.ConstructorError):
        reference(text)
    with pytest.raises(yaml.constructor.ConstructorError):
        safeyaml.load(text)
    with pytest.raises(codec.CodecError, match="not valid YAML"):
        codec.load_yaml(text)


@pytest.mark.parametrize("text", [
    "a: !!binary aGVsbG8=\n", "a: !!str 1\n", "a: !!int '7'\n", "a: !!float '1'\n",
    "a: !!set {x, y}\n", "a: !!omap [b: 1, c: 2]\n", "a: !!pairs [b: 1]\n",
    "a: !!timestamp 2026-11-25\n", "! 1\n", "base: &b {x: 1}\nderived:\n  <<: *b\n  y: 2\n",
    "? [a, b]\n: 1\n", "a: *nowhere\n", "a: &x 1\nb: &x 2\n", "--- 1\n--- 2\n", "a: =\n",
    "a: &x [1, 2]\nb: *x\nc: *x\n", "&r {a: 1}\n",
])
def test_what_safeloader_constructs_or_refuses_is_the_same(text):
    check(text)


@pytest.mark.parametrize("text, path, line", [
    ("a: 1\na: 2\n", "a", 2),
    ("steps:\n- id: x\n  actions:\n  - do: run\n    command: ls\n    command: rm -rf /\n",
     "steps[0].actions[0].command", 6),
    ("a: {b: [1, {c: 1, c: 2}]}\n", "a.b[1].c", 1),
    ("on: 1\ntrue: 2\n", "True", 2),  # both read as True
    ("x: !!str 1\na: 1\na: 2\n", "a", 3),  # a document PyYAML's loader builds
])
def test_a_key_written_twice_is_refused_with_its_path(text, path, line):
    with pytest.raises(yaml.constructor.ConstructorError) as info:
        safeyaml.load(text)
    assert f"the key {path} is written twice" in str(info.value)
    assert info.value.problem_mark.line + 1 == line
    assert yaml.load(text, Loader=yaml.SafeLoader) is not None  # SafeLoader keeps the last


def test_a_key_written_twice_behind_a_tag_is_refused_too():
    """Keys equal only once constructed: PyYAML's loader builds this document."""
    with pytest.raises(yaml.constructor.ConstructorError, match="duplicate key 1"):
        safeyaml.load("a: {!!int '1': x, 1: y}\n")
    with pytest.raises(codec.CodecError, match="not valid YAML.*duplicate key True"):
        codec.load_yaml("a: {!!bool 'yes': 1, on: 2}\n")
    assert safeyaml.load("b: &b {x: 1}\nd:\n  <<: *b\n  x: 2\n")["d"] == {"x": 2}


def test_aliases_share_like_safeloader():
    data = safeyaml.load("a: &x [1, 2]\nb: *x\n")
    assert data == {"a": [1, 2], "b": [1, 2]} and data["a"] is data["b"]


def test_a_recursive_alias_is_refused():
    with pytest.raises(yaml.constructor.ConstructorError, match="recursive"):
        safeyaml.load("a: &x\n  - 1\n  - *x\n")


def bomb(levels: int = 9, width: int = 9) -> str:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        refs = ", ".join(f"*l{i - 1}" for _ in range(width))
        lines.append(f"l{i}: &l{i} [{refs}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_fast_and_small():
    text = bomb()  # 9 ** 9 = 387 million strings once expanded
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(yaml.constructor.ConstructorError, match="alias bomb") as caught:
            safeyaml.load(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 5
    assert peak < 5_000_000
    assert caught.value.problem_mark.line + 1 == 7  # l6: 9 ** 7 values, over the bound
    with pytest.raises(codec.CodecError, match="alias bomb") as refused:
        codec.load_yaml(text)
    assert refused.value.line == 7


def test_a_bomb_behind_a_tag_is_refused_too():
    # a tag sends the document to PyYAML's loader, but only after the walk has bounded it
    with pytest.raises(yaml.constructor.ConstructorError, match="alias bomb"):
        safeyaml.load("t: !!binary aGVsbG8=\n" + bomb())


@pytest.mark.parametrize("head", ["", "t: !!binary aGVsbG8=\n"])
@pytest.mark.parametrize("opening, closing", [("[", "]"), ("{a: ", "}")])
def test_deep_nesting_is_refused_with_its_line(head, opening, closing):
    """Nesting past MAX_DEPTH is refused where it passes the bound, also in a document a tag
    sends to PyYAML's loader (which recurses, and would end in a RecursionError)."""
    depth = 5 * safeyaml.MAX_DEPTH  # under libyaml's own limit (1000), over this one
    text = head + "deep:\n" + "".join(f"{' ' * i}- \n" for i in range(depth)) + "x\n"
    with pytest.raises(yaml.constructor.ConstructorError, match="nest more than") as caught:
        safeyaml.load(text)
    assert caught.value.problem_mark.line == head.count("\n") + safeyaml.MAX_DEPTH
    flow = head + "deep: " + opening * depth + "1" + closing * depth + "\n"
    with pytest.raises(codec.CodecError, match="nest more than") as refused:
        codec.load_yaml(flow)
    assert refused.value.line == head.count("\n") + 1
    shallow = head + "deep: " + opening * 20 + "1" + closing * 20 + "\n"
    assert same(safeyaml.load(shallow), reference(shallow))


def test_a_few_aliases_are_fine():
    text = bomb(levels=4, width=9)  # 9 ** 4 = 6561 values: well under the bound
    assert same(safeyaml.load(text), reference(text))


def test_syntax_errors_keep_their_line():
    with pytest.raises(codec.CodecError, match="not valid YAML") as caught:
        codec.load_yaml("schema_version: 1\nlists: [\n  a,\n  b: c: d\n")
    assert caught.value.line is not None


def test_the_gc_is_restored():
    import gc
    assert gc.isenabled()
    safeyaml.load("a: 1\n")
    with pytest.raises(yaml.YAMLError):
        safeyaml.load("a: [\n")
    assert gc.isenabled()


def test_dump_is_safe_dump():
    data = {"b": [1, "yes", None, "2026-11-25", "é", {"x": "a: b"}], "a": 1.5}
    options = dict(sort_keys=False, allow_unicode=True, width=100)
    assert safeyaml.dump(data, **options) == yaml.safe_dump(data, **options)


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DATA)
def test_dump_of_hostile_data_is_safe_dump(data):
    options = dict(sort_keys=False, allow_unicode=True, width=100)
    assert safeyaml.dump({"web_parity": [data]}, **options) == yaml.safe_dump(
        {"web_parity": [data]}, **options)


# The data libyaml's emitter is trusted with: printable ASCII, keys of 1 to 64 characters, long
# values folded at the width, every YAML special among them.
ASCII_PIECES = (st.sampled_from([s for s in SPECIALS if s.isascii() and s.isprintable()])
                | st.text(alphabet=string.printable[:95], max_size=12)
                | st.text(alphabet=" ab:#-'\"", min_size=50, max_size=140))
ASCII_TEXT = st.builds(lambda parts: "".join(parts), st.lists(ASCII_PIECES, max_size=6))
ASCII_DATA = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ASCII_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        ASCII_TEXT.filter(lambda k: 0 < len(k) <= 64), inner, max_size=4),
    max_leaves=20)


@pytest.mark.slow
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ASCII_DATA)
def test_the_c_emitter_writes_ascii_data_as_the_python_one(data):
    assert safeyaml.c_emitter_agrees(data)
    options = dict(sort_keys=False, allow_unicode=True, width=100)
    assert yaml.dump({"k": [data]}, Dumper=yaml.CSafeDumper, **options) == yaml.safe_dump(
        {"k": [data]}, **options)


@pytest.mark.parametrize("data", [{"": 1}, {"k" * 65: 1}, {"k": "😀"}, {"k": "a\x85b"},
                                  {"k": "é"}, {1: "a"}, {"k": ("a",)}, {"k": b"a"}])
def test_the_python_emitter_writes_the_rest(data):
    assert not safeyaml.c_emitter_agrees(data)


@pytest.mark.parametrize("value", ["2001-02-30", "2001-02-30 10:00:00", "9" * 5_000,
                                   "!!int " + "9" * 5_000, "!!timestamp 2001-02-30"])
def test_values_safeloader_cannot_construct_are_refused(value):
    """SafeLoader raises a bare ValueError on these (a date not in the calendar, an integer
    past Python's 4,300 digits): here they are a YAML error, with the line where known."""
    text = f"a: 1\nb: {value}\n"
    with pytest.raises(yaml.constructor.ConstructorError, match="cannot be read") as caught:
        safeyaml.load(text)
    if not value.startswith("!!"):
        assert caught.value.problem_mark.line + 1 == 2
    with pytest.raises(codec.CodecError, match="not valid YAML: .*cannot be read"):
        codec.load_yaml(text)


def test_a_plan_folder_is_read_with_the_bounded_reader(tmp_path):
    """The plan.yaml of a folder `migrate plan` or `export` would write into is read as every
    plan.yaml is (a key written twice is refused): such a folder is not one migrate wrote, so
    none of its files is taken for the plan's own and replaced."""
    from migrate.app.fileio import PLAN_HEADER, plan_files
    body = "plan_version: 1\nfiles:\n  runbook.md: x\n"
    (tmp_path / "plan.yaml").write_text(PLAN_HEADER + body)
    assert plan_files(tmp_path) == {"runbook.md", "plan.yaml"}
    (tmp_path / "plan.yaml").write_text(PLAN_HEADER + body + "files:\n  notes.txt: x\n")
    assert plan_files(tmp_path) is None


def test_a_yaml_error_reads_the_same_in_every_file(tmp_path):
    """The inventory, target.yaml and plan.yaml report a syntax error in one form: the file,
    the line and ``not valid YAML: PROBLEM`` (``safeyaml.error_line``)."""
    from migrate.app.cutover import load_plan
    from migrate.core.errors import MigrateError
    from migrate.app.planning import read_target_file
    bad = "hostname: a\nipv6: [\n  x,\n  y: z: w\n"
    with pytest.raises(codec.CodecError) as inventory:
        codec.load_yaml(bad)
    (tmp_path / "target.yaml").write_text(bad)
    with pytest.raises(MigrateError) as target:
        read_target_file(str(tmp_path / "target.yaml"))
    (tmp_path / "plan.yaml").write_text(bad)
    with pytest.raises(MigrateError) as plan:
        load_plan(str(tmp_path))
    problem = inventory.value.message
    assert problem.startswith("not valid YAML: ") and "\n" not in problem
    assert (target.value.message, target.value.line) == (problem, inventory.value.line)
    assert (plan.value.message, plan.value.line) == (problem, inventory.value.line)
    assert plan.value.one_line().startswith(f"{tmp_path / 'plan.yaml'}:4: {problem} (")
