"""Tests for the sample host trees (sample_configs/) and their generator.

Stdlib + pytest only.  The real Mailman pickle used for shape comparison lives
outside the repo in ../shared/fixtures; tests that need it skip when absent.
"""

from __future__ import annotations

import json
import os
import pickle
import pickletools
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
from make_samples import HOSTS as GENERATED, SCHEMA_110, SCHEMA_110_DEFAULTS  # noqa: E402
from conftest import SAMPLE_HOSTS  # noqa: E402
SAMPLES = REPO / "sample_configs"
TRUTH_DIR = REPO / "tests" / "sample_truth"
FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
FIXTURE_PCK = FIXTURES / "mailman" / "mm3-testsuite-config.pck"
MM = "usr/local/mailman"

# Python 2's UnixMailbox._fromlinepattern: what counts as a real separator.
FROM_RE = re.compile(rb"From \s*[^\s]+\s+\w\w\w\s+\w\w\w\s+\d?\d\s+\d?\d:\d\d(:\d\d)?"
                     rb"(\s+[^\s]+)?\s+\d\d\d\d\s*[^\s]*\s*$")

# Opcodes the real fixture uses, plus GLOBAL/OBJ/BUILD for _BounceInfo.
FIXTURE_OPS = {"EMPTY_DICT", "BINPUT", "MARK", "SHORT_BINSTRING", "INT", "EMPTY_LIST",
               "APPENDS", "BININT1", "BININT", "SETITEMS", "BINFLOAT", "BININT2",
               "BINGET", "APPEND", "NONE", "STOP"}
INSTANCE_OPS = {"GLOBAL", "OBJ", "BUILD"}
# Protocol 1 strings longer than 255 bytes need BINSTRING; single-item dicts SETITEM;
# tuples (delivery_status, _BounceInfo dates) MARK...TUPLE; lists with more
# members than the fixture need memo slots past 255 (LONG_BINPUT/LONG_BINGET).
CONFIG_ALLOWED_OPS = FIXTURE_OPS | INSTANCE_OPS | {"BINSTRING", "SETITEM", "TUPLE",
                                                   "LONG_BINPUT", "LONG_BINGET"}


def truth(host: str) -> dict[str, Any]:
    return json.loads((TRUTH_DIR / f"{host}.json").read_text(encoding="utf-8"))


def need_fixture() -> bytes:
    if not FIXTURE_PCK.is_file():
        pytest.skip(f"real Mailman pickle fixture not found at {FIXTURE_PCK} "
                    "(../shared/fixtures is outside the repo and optional)")
    return FIXTURE_PCK.read_bytes()


def config_files() -> list[Path]:
    found = SAMPLES.glob(f"*/{MM}/lists/*/config.pck*")
    return sorted(p for p in found if p.name in ("config.pck", "config.pck.last"))


class _Inert:
    """Stand-in for Python 2 old-style classes; BUILD fills __dict__."""

    def __setstate__(self, state: dict[Any, Any]) -> None:
        self.state = state


class BounceInfo(_Inert):
    pass


class UserDesc(_Inert):
    pass


class RestrictedUnpickler(pickle.Unpickler):
    ALLOWED = {("Mailman.Bouncer", "_BounceInfo"): BounceInfo,
               ("Mailman.UserDesc", "UserDesc"): UserDesc}

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused class {module}.{name}") from None


def load(path: Path) -> Any:
    with path.open("rb") as fp:
        return RestrictedUnpickler(fp, encoding="bytes").load()


def opnames(data: bytes) -> list[str]:
    return [op.name for op, _arg, _pos in pickletools.genops(data)]


# ---------------------------------------------------------------- generator

def test_generator_reproduces_committed_tree(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    subprocess.run([sys.executable, str(REPO / "tools" / "make_samples.py"), "--out", str(out)],
                   check=True, capture_output=True)
    gen_files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file() or p.is_symlink())
    assert len(gen_files) > 500
    for rel in gen_files:
        a, b = out / rel, REPO / rel
        if a.is_symlink():
            assert b.is_symlink() and os.readlink(a) == os.readlink(b), rel
        else:
            assert b.is_file() and a.read_bytes() == b.read_bytes(), rel
    check = subprocess.run([sys.executable, str(REPO / "tools" / "make_samples.py"), "--check"],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout


def test_generator_makes_every_sample_and_its_truth() -> None:
    """Each folder of sample_configs/ is a host the generator makes (lists, archives, truth),
    and nothing else is: SAMPLE_HOSTS and make_samples.HOSTS name the same hosts."""
    assert tuple(sorted(GENERATED)) == SAMPLE_HOSTS
    assert sorted(p.stem for p in TRUTH_DIR.glob("*.json")) == list(SAMPLE_HOSTS)


def test_check_mode_detects_a_change(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    script = str(REPO / "tools" / "make_samples.py")
    subprocess.run([sys.executable, script, "--out", str(out)], check=True, capture_output=True)
    victim = out / "sample_configs/small" / MM / "lists/members/config.pck"
    victim.write_bytes(victim.read_bytes() + b"x")
    res = subprocess.run([sys.executable, script, "--out", str(out), "--check"],
                         capture_output=True, text=True)
    assert res.returncode == 1 and "differs" in res.stdout


# ---------------------------------------------------------------- pickle shape

def test_fixture_opcode_inventory_is_what_we_assume() -> None:
    data = need_fixture()
    assert set(opnames(data)) == FIXTURE_OPS


@pytest.mark.parametrize("path", config_files(), ids=lambda p: str(p.relative_to(SAMPLES)))
def test_config_pck_shape_matches_real_pickle(path: Path) -> None:
    fixture = need_fixture()
    data = path.read_bytes()
    ops = list(pickletools.genops(data))
    names = [op.name for op, _a, _p in ops]
    # protocol 1, as cPickle.dump(dict, fp, 1) wrote it
    assert max(op.proto for op, _a, _p in ops) == 1
    assert names[:3] == ["EMPTY_DICT", "BINPUT", "MARK"] and names[-2:] == ["SETITEMS", "STOP"]
    assert ops[1][1] == 1  # cPickle numbers its memo from 1
    assert set(names) <= CONFIG_ALLOWED_OPS, set(names) - CONFIG_ALLOWED_OPS
    # no protocol-2 or unicode opcodes: Python 2 byte strings only
    assert not set(names) & {"BINUNICODE", "NEWTRUE", "NEWFALSE", "PROTO", "SHORT_BINBYTES"}
    for op, arg, _pos in ops:
        if op.name in ("SHORT_BINSTRING", "BINSTRING"):
            assert isinstance(arg, str)  # pickletools decodes py2 str as latin-1 text
    ours = pickle.loads(data, encoding="bytes") if "GLOBAL" not in names else load(path)
    real = pickle.loads(fixture, encoding="bytes")
    if ours[b"data_version"] >= SCHEMA_110:
        # what 2.1.26's newlist writes (tests/test_mailman_real.py checks it with the real one)
        assert set(ours) == set(real) | set(SCHEMA_110_DEFAULTS)
    else:
        assert set(ours) == set(real)  # same Mailman schema (data_version 96/97 attribute set)
    assert type(ours[b"data_version"]) is type(real[b"data_version"]) is int
    for key in (b"post_id", b"created_at"):
        assert type(ours[key]) is type(real[key]) is float
    assert type(ours[b"members"]) is dict and type(ours[b"owner"]) is list


def test_bounce_info_uses_global_obj_build() -> None:
    data = (SAMPLES / "netsight" / MM / "lists/devtalk/config.pck").read_bytes()
    ops = [(op.name, arg) for op, arg, _p in pickletools.genops(data)]
    globals_ = [arg for name, arg in ops if name == "GLOBAL"]
    assert globals_ == ["Mailman.Bouncer _BounceInfo"]  # once, then BINGET from the memo
    assert sum(1 for name, _ in ops if name == "OBJ") >= 2


def test_pending_pck_is_protocol_0_with_inst() -> None:
    data = (SAMPLES / "netsight" / MM / "lists/announce/pending.pck").read_bytes()
    ops = list(pickletools.genops(data))
    assert max(op.proto for op, _a, _p in ops) == 0
    insts = [arg for op, arg, _p in ops if op.name == "INST"]
    assert insts == ["Mailman.UserDesc UserDesc"]


def test_restricted_unpickler_refuses_other_classes() -> None:
    held = SAMPLES / "netsight" / MM / "data/heldmsg-users-17.pck"
    with pytest.raises(pickle.UnpicklingError, match="Mailman.Message"):
        load(held)


# ---------------------------------------------------------------- values vs truth

@pytest.mark.parametrize("host", SAMPLE_HOSTS)
def test_config_values_equal_truth(host: str) -> None:
    t = truth(host)
    assert t["lists"], "truth lists no lists"
    for name, rec in t["lists"].items():
        cfg = load(SAMPLES / host / MM / "lists" / name / "config.pck")
        assert cfg[b"host_name"].decode() == rec["host_name"]
        assert cfg[b"real_name"].decode("latin-1") == rec["real_name"]
        assert cfg[b"description"].decode("latin-1") == rec["description"]
        assert cfg[b"preferred_language"].decode() == rec["preferred_language"]
        assert [o.decode() for o in cfg[b"owner"]] == rec["owners"]
        assert [m.decode() for m in cfg[b"moderator"]] == rec["moderators"]
        assert len(cfg[b"members"]) == rec["members_regular"]
        assert len(cfg[b"digest_members"]) == rec["members_digest"]
        assert bool(cfg[b"archive"]) is rec["archive"]
        assert cfg[b"archive_private"] == rec["archive_private"]
        assert cfg[b"created_at"] == rec["created_at"]
        assert cfg[b"post_id"] == rec["post_id"] == rec["archive_mbox"]["messages_generated"] + 1
        assert cfg[b"data_version"] == rec["data_version"]
        assert len(cfg[b"bounce_info"]) == rec["bounce_info_entries"]
        for info in cfg[b"bounce_info"].values():
            assert isinstance(info, BounceInfo) and b"score" in info.state
        # mixed-case members: lowercased key -> original address
        for addr in rec["mixed_case_members"]:
            pool = {**cfg[b"members"], **cfg[b"digest_members"]}
            assert pool[addr.lower().encode()] == addr.encode()
        # every member password is a declared secret
        secrets = set(rec["secrets"])
        assert {p.decode() for p in cfg[b"passwords"].values()} <= secrets
        assert cfg[b"password"].decode() in secrets


def test_pending_and_request_values() -> None:
    base = SAMPLES / "netsight" / MM / "lists"
    pending = load(base / "announce/pending.pck")
    assert pending[b"version"] == 2
    (cookie,) = [k for k in pending if k not in (b"version", b"evictions")]
    op, desc = pending[cookie]
    assert op == b"S" and isinstance(desc, UserDesc)
    assert desc.state[b"password"].decode() in truth("netsight")["secrets"]
    request = load(base / "users/request.pck")
    held = sorted(k for k, (op, _d) in request.items() if op == 1)
    assert held == [17, 18] and request[b"version"] == (0, 1)
    assert (SAMPLES / "netsight" / MM / "data/heldmsg-users-17.pck").is_file()
    assert not (SAMPLES / "netsight" / MM / "data/heldmsg-users-18.pck").exists()


# ---------------------------------------------------------------- mbox and HTML

@pytest.mark.parametrize("host", SAMPLE_HOSTS)
def test_mbox_counts_match_truth(host: str) -> None:
    for name, rec in truth(host)["lists"].items():
        a = rec["archive_mbox"]
        data = (SAMPLES / host / a["path"].lstrip("/")).read_bytes()
        lines = data.split(b"\n")
        separators = sum(1 for ln in lines if FROM_RE.match(ln))
        assert separators == a["messages_mailman_rule"]
        assert sum(1 for ln in lines if ln.startswith(b"From ")) == a["lines_starting_From_space"]
        assert len(data) == a["bytes"]
        # a body line of the full pattern exists exactly where planted
        assert a["messages_mailman_rule"] - a["messages_generated"] == a["body_full_separator_lines"]


def test_planted_mbox_oddities() -> None:
    a = truth("netsight")["lists"]["announce"]["archive_mbox"]
    assert a["body_full_separator_lines"] == 1
    assert a["lines_starting_From_space"] > a["messages_mailman_rule"]  # "From what I heard"
    assert a["bad_dates"] >= 3 and a["missing_date_headers"] >= 1
    data = (SAMPLES / "netsight" / a["path"].lstrip("/")).read_bytes()
    assert b"Date: Mon, 32 Foo 2009 25:61:00 +0000" in data and b"\n>From " in data
    assert b"=?iso-8859-1?q?" in data and b"=?utf-8?" in data


@pytest.mark.parametrize("host", SAMPLE_HOSTS)
def test_html_months_match_truth(host: str) -> None:
    for name, rec in truth(host)["lists"].items():
        a = rec["archive_mbox"]
        root = SAMPLES / host / MM / "archives/private" / name
        months = {p.name for p in root.iterdir() if p.is_dir() and p.name != "attachments"}
        assert months == set(a["html_months"])
        for month, n in a["html_months"].items():
            assert len(list((root / month).glob("[0-9]" * 6 + ".html"))) == n
        assert set(a["per_month_generated"]) - months == set(a["months_in_mbox_missing_in_html"])


def test_users_has_exactly_one_missing_html_month() -> None:
    a = truth("netsight")["lists"]["users"]["archive_mbox"]
    assert a["months_in_mbox_missing_in_html"] == ["2016-August"]
    assert "2016-August" in a["per_month_generated"]


# ---------------------------------------------------------------- symlinks

def test_etc_aliases_is_relative_symlink() -> None:
    link = SAMPLES / "netsight/etc/aliases"
    assert link.is_symlink() and os.readlink(link) == "mail/aliases"
    assert (SAMPLES / "small/etc/aliases").is_file() and not (SAMPLES / "small/etc/aliases").is_symlink()


@pytest.mark.parametrize("host", SAMPLE_HOSTS)
def test_public_archive_links_are_absolute(host: str) -> None:
    pub = SAMPLES / host / MM / "archives/public"
    links = sorted(pub.iterdir())
    assert links
    for link in links:
        target = os.readlink(link)
        assert link.is_symlink() and target == f"/usr/local/mailman/archives/private/{link.name}"
    expected = {n for n, r in truth(host)["lists"].items() if r["public_archive_link"]}
    assert {p.name for p in links if not p.name.endswith(".mbox")} == expected


# ---------------------------------------------------------------- leaks and planted config findings

def test_no_file_contains_fixture_bytes() -> None:
    fixture = need_fixture()
    probe = fixture[:64]
    for p in SAMPLES.rglob("*"):
        if p.is_file() and not p.is_symlink():
            data = p.read_bytes()
            assert data != fixture and probe not in data, p


def test_virtual_alias_file_omits_devtalk_unsubscribe() -> None:
    text = (SAMPLES / "netsight/usr/local/etc/exim/virtual/lists.riverbend.example").read_text()
    names = {ln.split(":")[0] for ln in text.splitlines() if ln and not ln.startswith("#")}
    assert "devtalk" in names and "devtalk-unsubscribe" not in names
    assert truth("netsight")["findings_planted"]["omitted_virtual_alias"]["address"] == "devtalk-unsubscribe"
