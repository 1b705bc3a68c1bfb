"""The inventory codec: load(dump(x)) == x for any inventory, and malformed documents refused."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import types
import typing

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrate.core import codec, model, safeyaml
from migrate.app.mtas import register_all

register_all()  # the codec reads an MTA's own part by its plugin

# Text as parsers produce it: any Unicode scalar value but surrogates (files are decoded).
TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=12)
TIMES = st.datetimes(min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(2200, 1, 1),
                     timezones=st.just(dt.timezone.utc))


def strategy_for(tp, depth=0):
    """A hypothesis strategy for any type used in the model, built from the type hints (and
    within the ranges they declare: ``model.Range``)."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        base, allowed = typing.get_args(tp)
        if allowed.month:
            return st.builds("{:04d}-{:02d}".format, st.integers(allowed.low, 9999),
                             st.integers(1, 12))
        if base is int:
            return st.integers(min_value=allowed.low, max_value=2**63 - 1)
        return strategy_for(base, depth).filter(lambda v: allowed.problem(v) is None)
    if origin in (types.UnionType, typing.Union):
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return st.none() | strategy_for(inner, depth)
    if origin is list:
        if depth > 6:  # recursive types (an :include: holds targets): stop nesting here
            return st.just([])
        (item,) = typing.get_args(tp)
        return st.lists(strategy_for(item, depth + 1), max_size=2)
    if origin is dict:
        _, val = typing.get_args(tp)
        return st.dictionaries(TEXT, strategy_for(val, depth + 1), max_size=2)
    if tp is model.Mta:  # its own part comes with the kind whose plugin reads it
        hints = typing.get_type_hints(tp, vars(model), include_extras=True)
        common = {f.name: strategy_for(hints[f.name], depth + 1)
                  for f in dataclasses.fields(tp) if f.name not in ("kind", "detail")}
        return (st.builds(tp, kind=st.none() | TEXT.filter(lambda k: k != "exim"),
                          detail=st.none(), **common)
                | st.builds(tp, kind=st.just("exim"),
                            detail=strategy_for(model.EximPart, depth + 1), **common))
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp, vars(model), include_extras=True)
        return st.builds(tp, **{f.name: strategy_for(hints[f.name], depth + 1)
                                for f in dataclasses.fields(tp)})
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return st.sampled_from(list(tp))
    return {
        str: TEXT,
        int: st.integers(min_value=-(2**63), max_value=2**63 - 1),
        bool: st.booleans(),
        float: st.floats(allow_nan=False),
        dt.datetime: TIMES,
    }[tp]


INVENTORIES = strategy_for(model.Inventory).map(
    lambda inv: dataclasses.replace(inv, schema_version=model.SCHEMA_VERSION))


@pytest.mark.slow
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(INVENTORIES)
def test_yaml_round_trip(inv):
    assert codec.load_yaml(codec.dump_yaml(inv)) == inv


@pytest.mark.slow
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(INVENTORIES)
def test_json_round_trip_and_same_data(inv):
    text = codec.dump_json(inv)
    assert codec.load_json(text) == inv
    assert json.loads(text) == codec.to_data(codec.load_yaml(codec.dump_yaml(inv)))


def _minimal():
    return model.Inventory(model.SCHEMA_VERSION, "0.1.0",
                           dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.timezone.utc),
                           model.Origin(model.OriginKind.LOCAL, "/srv/old"))


def test_an_mtas_own_part_is_written_inline_and_read_by_its_plugin():
    """Exim's part (routers, transports, ...) stays where inventories have always had it, in
    ``mta``; it is read back only for a kind whose plugin registers it."""
    inv = _minimal()
    inv.mta = model.Mta(kind="exim", detail=model.EximPart(
        routers=[model.Router("r", "accept")], options={"acl_smtp_rcpt": "acl_check_rcpt"}))
    data = codec.to_data(inv)
    assert data["mta"]["routers"][0]["name"] == "r" and "detail" not in data["mta"]
    assert codec.inventory_from_data(data).mta.detail == inv.mta.detail
    data["mta"]["kind"] = "postfix"
    with pytest.raises(codec.CodecError,
                       match=r"mta: unknown field 'routers' in Mta \(no plugin reads the MTA "
                             r"kind 'postfix'\)"):
        codec.inventory_from_data(data)


def test_unknown_schema_version_is_refused():
    data = codec.to_data(_minimal())
    data["schema_version"] = 99
    with pytest.raises(codec.CodecError, match="unknown schema_version 99"):
        codec.inventory_from_data(data)
    del data["schema_version"]
    with pytest.raises(codec.CodecError, match="not a migrate inventory"):
        codec.inventory_from_data(data)


@pytest.mark.parametrize("mutate, where, message", [
    (lambda d: d["host"].__setitem__("addresses", "192.0.2.1"), "host.addresses", "expected a list"),
    (lambda d: d["source"].__setitem__("port", "22"), "source.port", "expected an integer"),
    (lambda d: d["source"].__setitem__("port", True), "source.port", "expected an integer"),
    (lambda d: d.__setitem__("collected_at", "yesterday"), "collected_at", "ISO 8601"),
    (lambda d: d.__setitem__("collected_at", "2026-11-25T10:00:00"), "collected_at", "no time zone"),
    (lambda d: d.__setitem__("surprise", 1), "top level", "unknown field 'surprise'"),
    (lambda d: d["source"].pop("kind"), "source", "missing field 'kind'"),
    (lambda d: d.__setitem__("findings", [{"id": "x", "severity": "fatal", "message": "m",
                                           "hint": "h"}]), "findings[0].severity", "not one of"),
    (lambda d: d.__setitem__("web", {"redirects": [{"kind": "redirectmatch", "url_path": "/",
                                                    "target": "/mailman/"}]}),
     "web.redirects[0].kind", "'redirectmatch' is not one of: script_alias, alias, redirect"),
    (lambda d: d["mta"]["aliases"].append({"name": "a", "targets": [{"kind": "pipe", "value": 3}],
                                           "table": "/etc/aliases"}),
     "mta.aliases[0].targets[0].value", "expected a string"),
])
def test_malformed_structures_name_the_place(mutate, where, message):
    data = codec.to_data(_minimal())
    mutate(data)
    with pytest.raises(codec.CodecError) as info:
        codec.inventory_from_data(data)
    assert str(info.value).startswith(where + ":")
    assert message in str(info.value)


def _archive(**fields):
    return lambda d: d["archives"].append({"list_name": "announce", **fields})


@pytest.mark.parametrize("mutate, where, message", [
    (_archive(months=[{"month": "abcd", "messages": 1}]), "archives[0].months[0].month",
     "'abcd' is not a month"),
    (_archive(months=[{"month": "2007-13"}]), "archives[0].months[0].month", "not a month"),
    (_archive(months=[{"month": "0001-01"}]), "archives[0].months[0].month", "below 1970"),
    (_archive(months=[{"month": "2007-03", "messages": -1}]),
     "archives[0].months[0].messages", "-1 is below 0"),
    (_archive(messages=-5), "archives[0].messages", "below 0"),
    (_archive(volumes=[{"name": "2007-March", "html_articles": -1}]),
     "archives[0].volumes[0].html_articles", "below 0"),
    (_archive(first_date="0001-01-01T00:00:00Z"), "archives[0].first_date",
     "the year of 0001-01-01T00:00:00+00:00 is below 1970"),
    (lambda d: d.__setitem__("collected_at", "1900-01-01T00:00:00Z"), "collected_at", "below"),
    (lambda d: d["lists"].append({"name": "announce", "held_count": -2}),
     "lists[0].held_count", "below 0"),
    (lambda d: d["lists"].append({"name": "a", "members": {"delivery_status": {"enabled": -1}}}),
     "lists[0].members.delivery_status.enabled", "below 0"),
])
def test_values_out_of_range_are_refused_with_their_place(mutate, where, message):
    data = codec.to_data(_minimal())
    mutate(data)
    for load in (codec.load_json, lambda text: codec.load_yaml(text)):
        with pytest.raises(codec.CodecError) as info:
            load(json.dumps(data))  # JSON is YAML too
        assert str(info.value).startswith(where + ": out of range")
        assert message in str(info.value)


def test_a_deeply_nested_json_inventory_is_refused():
    """Past the interpreter's recursion (3,000 deep anywhere), or only past MAX_DEPTH (in an
    alias's :include: members, which the codec and the emitters recurse over)."""
    top = json.dumps(codec.to_data(_minimal()))
    with pytest.raises(codec.CodecError, match=f"nest more than {safeyaml.MAX_DEPTH} deep"):
        codec.load_json(top[:-1] + ', "x": ' + "[" * 3_000 + "]" * 3_000 + "}")
    target = '{"kind": "include", "value": "/etc/l", "members": [%s]}'
    nested = "%s"
    for _ in range(safeyaml.MAX_DEPTH):
        nested = nested % target
    data = codec.to_data(_minimal())
    data["mta"]["aliases"] = [{"name": "a", "targets": ["HERE"], "table": "/etc/aliases"}]
    text = json.dumps(data).replace('"HERE"', nested.replace("[%s]", "[]"))
    with pytest.raises(codec.CodecError) as info:
        codec.load_json(text)
    assert str(info.value).startswith("mta.aliases[0].targets: lists and objects nest more")


def test_an_integer_past_64_bits_is_refused():
    """A hexadecimal of 5,000 digits loads as YAML (and 5,000 decimal digits fail as JSON);
    either is refused with its place or as invalid, before anything tries to print it."""
    data = codec.to_data(_minimal())
    data["archives"] = [{"list_name": "a", "messages": "HUGE"}]
    text = json.dumps(data)
    with pytest.raises(codec.CodecError, match="archives.0..messages: out of range: .*64 bits"):
        codec.load_yaml(text.replace('"HUGE"', "-0x" + "f" * 5_000))
    with pytest.raises(codec.CodecError, match="not valid JSON: Exceeds the limit"):
        codec.load_json(text.replace('"HUGE"', "9" * 5_000))


_ADDRESS = {"address": "192.0.2.1", "family": "inet"}
_ACCOUNT = {"name": "mailman", "id": 91, "kind": "user"}
_ROUTE = {"address": "announce", "domain": "lists.example.org", "list_name": "announce",
          "via": "router"}


@pytest.mark.parametrize("mutate, where, allowed", [
    (lambda d: d["source"].__setitem__("kind", "snapshot"), "source.kind", "local, ssh"),
    (lambda d: d["host"]["addresses"].append(dict(_ADDRESS, family="inet4")),
     "host.addresses[0].family", "inet, inet6"),
    (lambda d: d["host"]["accounts"].append(dict(_ACCOUNT, kind="USER")),
     "host.accounts[0].kind", "user, group"),
    (lambda d: d["mta"]["list_routes"].extend([_ROUTE, dict(_ROUTE, via="virtual_alias")]),
     "mta.list_routes[1].via", "router, alias, virtual-alias"),
    (lambda d: d["host"]["addresses"].append(dict(_ADDRESS, family=4)),
     "host.addresses[0].family", "inet, inet6"),
])
def test_a_bad_kind_is_refused_with_its_place(mutate, where, allowed):
    data = codec.to_data(_minimal())
    mutate(data)
    with pytest.raises(codec.CodecError) as info:
        codec.inventory_from_data(data)
    assert str(info.value).startswith(where + ": ")
    assert str(info.value).endswith(f"is not one of: {allowed}")


def test_kinds_load_as_their_enums_and_dump_as_the_same_strings():
    data = codec.to_data(_minimal())
    data["host"]["addresses"] = [_ADDRESS, dict(_ADDRESS, address="2001:db8::1", family="inet6")]
    data["host"]["accounts"] = [_ACCOUNT, dict(_ACCOUNT, kind="group")]
    data["mta"]["list_routes"] = [dict(_ROUTE, via=v) for v in ("router", "alias",
                                                                 "virtual-alias")]
    inv = codec.inventory_from_data(data)
    assert inv.source.kind is model.OriginKind.LOCAL
    assert [a.family for a in inv.host.addresses] == [model.AddressFamily.INET,
                                                      model.AddressFamily.INET6]
    assert inv.host.addresses_v6 == inv.host.addresses[1:]
    assert [a.kind for a in inv.host.accounts] == [model.AccountKind.USER,
                                                   model.AccountKind.GROUP]
    assert [r.via for r in inv.mta.list_routes] == list(model.RouteVia)
    out = codec.to_data(inv)
    written = [out["source"]["kind"], *(a["family"] for a in out["host"]["addresses"]),
               *(a["kind"] for a in out["host"]["accounts"]),
               *(r["via"] for r in out["mta"]["list_routes"])]
    assert written == ["local", "inet", "inet6", "user", "group", "router", "alias",
                       "virtual-alias"]
    assert all(type(value) is str for value in written)  # plain strings for YAML and JSON
    assert "family: inet6\n" in codec.dump_yaml(inv)


def test_target_tls_is_acme_none_or_unset():
    base = {"hostname": "lists.example.org", "openbsd": "7.8"}
    assert codec.from_data(model.Target, base).tls is None
    assert codec.from_data(model.Target, dict(base, tls="acme")).tls is model.TlsMode.ACME
    assert codec.from_data(model.Target, dict(base, tls="none")).tls is model.TlsMode.NONE
    with pytest.raises(codec.CodecError) as info:
        codec.from_data(model.Target, dict(base, tls="letsencrypt"))
    assert str(info.value) == "tls: 'letsencrypt' is not one of: acme, none"


def test_web_alias_kinds_keep_their_names():
    """``WebAlias.kind`` is an enum in the model and the same string in the document as before
    it was one (an older inventory, without the later optional fields, still loads)."""
    data = codec.to_data(_minimal())
    data["web"] = {"redirects": [{"kind": "rewrite_rule", "url_path": "^/a/(.*)$",
                                  "target": "/pipermail/$1", "status": "[R=301,L]"}]}
    inv = codec.inventory_from_data(data)
    (rule,) = inv.web.redirects
    assert rule.kind is model.WebAliasKind.REWRITE_RULE and rule.enabled and rule.code is None
    assert [k.value for k in model.WebAliasKind] == [
        "script_alias", "alias", "redirect", "redirect_match", "rewrite_rule"]
    assert codec.to_data(inv)["web"]["redirects"][0]["kind"] == "rewrite_rule"


def test_yaml_syntax_error_has_a_line_and_unsafe_tags_are_refused():
    with pytest.raises(codec.CodecError) as info:
        codec.load_yaml("schema_version: 1\nhost: [unclosed\n")
    assert info.value.line is not None and "not valid YAML" in str(info.value)
    with pytest.raises(codec.CodecError, match="not valid YAML"):
        codec.load_yaml("!!python/object/apply:os.system ['touch /tmp/pwned']\n")
    with pytest.raises(codec.CodecError, match="is a list"):
        codec.load_yaml("- 1\n- 2\n")


def test_naive_datetimes_never_reach_a_file():
    inv = _minimal()
    inv.collected_at = dt.datetime(2026, 1, 1)
    with pytest.raises(ValueError, match="naive datetime"):
        codec.dump_yaml(inv)
