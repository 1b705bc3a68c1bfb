"""Pickle bombs are bounded: a list file of a few bytes to a few MB that describes a huge graph
(shared references nested in each other, lists nested a million deep, a flood of containers,
huge integers, huge or lying string lengths), in any field of ``config.pck``, in
``pending.pck`` and ``request.pck``, and in the held posts and queue entries that are only
checksummed, ends in a finding in under 2 s and under 200 MB, measured in a child process
(its peak resident size, VmHWM, includes the interpreter and every import)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import make_tree
from parsers.pickles import Limits, check_result, safe_loads, scan

MAX_SECONDS = 2.0
MAX_MB = 200


def _u(text: str) -> bytes:
    """SHORT_BINUNICODE / BINUNICODE: a string on the stack."""
    raw = text.encode()
    return b"X" + len(raw).to_bytes(4, "little") + raw


def shared(levels: int = 60) -> bytes:
    """A list whose two entries are the same list, whose two entries are ... : 2**levels
    addresses once walked, a few hundred bytes."""
    out = b"]r\x00\x00\x00\x00" + _u("a@example.org") + b"a0"
    for i in range(1, levels):
        ref = b"j" + (i - 1).to_bytes(4, "little")
        out += b"]r" + i.to_bytes(4, "little") + ref + b"a" + ref + b"a"
        out += b"0" if i < levels - 1 else b""
    return out


def deep(levels: int = 1_000_000) -> bytes:
    return b"]" * levels + b"a" * (levels - 1)


def deep_marks(levels: int = 1_000_000) -> bytes:
    return b"](" * levels + b"e" * levels


def flood(count: int = 4_000_000) -> bytes:
    """Millions of empty lists, one byte each (60 bytes each in memory)."""
    return b"]" + b"]a" * count


def shared_string(refs: int = 300_000, size: int = 10 * 1024 * 1024) -> bytes:
    """One 10 MB string referenced 300,000 times: 3 TB once joined."""
    return (b"]X" + size.to_bytes(4, "little") + b"x" * size + b"r\x00\x00\x00\x00a"
            + (b"j\x00\x00\x00\x00a" * refs))


def huge_long(size: int = 10_000_000) -> bytes:
    return b"\x8b" + size.to_bytes(4, "little") + b"\x01" * size


def huge_text_long(digits: int = 1_000_000) -> bytes:
    return b"L" + b"9" * digits + b"L\n"


def huge_string(size: int = 10 * 1024 * 1024) -> bytes:
    """A real 10 MB string (a config.pck may be that large; no field of it may)."""
    return b"X" + size.to_bytes(4, "little") + b"x" * size


def lying_string() -> bytes:
    """A string that claims 2**60 bytes (BINUNICODE8) in a file of a hundred."""
    return b"\x8d" + (2 ** 60).to_bytes(8, "little") + b"x" * 64


BOMBS = {
    "shared-references": shared,
    "depth-1m": deep,
    "depth-1m-marks": deep_marks,
    "container-flood": flood,
    "shared-10mb-string": shared_string,
    "huge-int-long4": huge_long,
    "huge-int-text": huge_text_long,
    "huge-string": huge_string,
    "lying-string-length": lying_string,
}


def config_pck(**fields: bytes) -> bytes:
    """A protocol 2 list configuration dict whose values are opcode fragments."""
    body = b"".join(_u(k) + v for k, v in fields.items())
    return b"\x80\x02}(" + body + b"u."


def plain_config(bomb_field: str, bomb: bytes) -> bytes:
    fields = {"real_name": _u("Evil"), "owner": b"]" + _u("a@example.org") + b"a",
              "preferred_language": _u("en")}
    fields[bomb_field] = bomb
    return config_pck(**fields)


MM = "/usr/local/mailman"
BASE = {f"{MM}/Mailman/mm_cfg.py": "from Defaults import *\n", f"{MM}/mail/mailman": "x\n",
        f"{MM}/lists/mailman/config.pck": config_pck(real_name=_u("Mailman"))}

CHILD = textwrap.dedent("""
    import json, resource, sys, time
    from parsers.mailman import read_mailman
    from migrate.app.sources import LocalTree
    start = time.monotonic()
    result = read_mailman(LocalTree(sys.argv[1]))
    seconds = time.monotonic() - start
    # the peak resident size of this process since exec (ru_maxrss would include the
    # parent's at fork time)
    with open("/proc/self/status") as fh:
        hwm = [int(l.split()[1]) for l in fh if l.startswith("VmHWM:")]
    print(json.dumps({
        "seconds": seconds,
        "mb": (hwm[0] if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024,
        "lists": sorted(ml.name for ml in result.lists),
        "findings": [[f.id, f.message, f.source.file if f.source else None]
                     for f in result.findings],
    }))
""")


def run_child(root: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(root)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def _bounded(out: dict) -> None:
    assert out["seconds"] < MAX_SECONDS, out["seconds"]
    assert out["mb"] < MAX_MB, out["mb"]


@pytest.mark.parametrize("kind", sorted(BOMBS))
@pytest.mark.parametrize("field", ["owner", "real_name"])
def test_bomb_in_config_pck_is_bounded_and_a_finding(kind, field, tmp_path):
    root = make_tree(tmp_path / "host", {**BASE,
                                         f"{MM}/lists/evil/config.pck":
                                         plain_config(field, BOMBS[kind]())})
    out = run_child(root)
    _bounded(out)
    broken = [f for f in out["findings"] if f[0] == "mailman.pickle-broken"]
    assert broken and all(f[2] == f"{MM}/lists/evil/config.pck" for f in broken), out
    print(f"{kind} as {field}: {out['seconds']:.3f} s, {out['mb']:.0f} MB")


@pytest.mark.parametrize("name", ["pending.pck", "request.pck"])
@pytest.mark.parametrize("kind", ["shared-references", "depth-1m", "container-flood",
                                  "huge-int-long4", "lying-string-length"])
def test_bomb_in_requests_is_bounded_and_a_finding(name, kind, tmp_path):
    bomb = b"\x80\x02" + BOMBS[kind]() + b"."
    root = make_tree(tmp_path / "host", {**BASE,
                                         f"{MM}/lists/evil/config.pck":
                                         plain_config("description", _u("fine")),
                                         f"{MM}/lists/evil/{name}": bomb})
    out = run_child(root)
    _bounded(out)
    assert out["lists"] == ["evil", "mailman"]
    assert [f[2] for f in out["findings"] if f[0] == "mailman.pickle-broken"] == [
        f"{MM}/lists/evil/{name}"], out


@pytest.mark.parametrize("fname, expect", [
    (shared(), "expands"),  # a bomb: refused when loaded
    (b"]" + _u("heldmsg-evil-1.pck") + b"a", "not a file name"),  # a list: refused by type
    (_u("x" * 300), "not a file name"),
])
def test_a_held_request_that_names_no_file(fname, expect, tmp_path):
    """request.pck's held post entry, (1, (when, sender, subject, reason, FILE, msgdata)),
    names something else than a file."""
    request = (b"\x80\x02}(" + b"K\x01" + b"(K\x01(K\x00" + _u("a@example.org") + _u("s")
               + _u("r") + fname + b"}tt" + b"u.")
    root = make_tree(tmp_path / "host", {**BASE,
                                         f"{MM}/lists/evil/config.pck":
                                         plain_config("description", _u("fine")),
                                         f"{MM}/lists/evil/request.pck": request})
    out = run_child(root)
    _bounded(out)
    broken = [f for f in out["findings"] if f[0] == "mailman.pickle-broken"]
    assert len(broken) == 1 and expect in broken[0][1], out
    assert broken[0][2] == f"{MM}/lists/evil/request.pck"


def test_bombs_in_held_posts_and_queues_are_never_loaded(tmp_path):
    """Held posts (data/heldmsg-*.pck) and queue entries (qfiles/*/*.pck) are checksummed and
    counted, never unpickled: a bomb there costs its bytes, nothing more."""
    files = dict(BASE)
    files[f"{MM}/lists/evil/config.pck"] = plain_config("description", _u("fine"))
    for i, kind in enumerate(["shared-references", "depth-1m", "container-flood"]):
        bomb = b"\x80\x02" + BOMBS[kind]() + b"."
        files[f"{MM}/data/heldmsg-evil-{i + 1}.pck"] = bomb
        files[f"{MM}/qfiles/in/1000{i}.pck"] = bomb + bomb  # a qfiles entry holds two
    root = make_tree(tmp_path / "host", files)
    out = run_child(root)
    _bounded(out)
    assert out["lists"] == ["evil", "mailman"]


FIELDS = ["real_name", "host_name", "web_page_url", "description", "preferred_language",
          "owner", "moderator", "members", "digest_members", "delivery_status", "archive",
          "archive_private", "archive_volume_frequency", "subscribe_policy", "advertised",
          "data_version", "created_at", "last_post_time", "post_id"]


_NAN = b"G\x7f\xf8" + b"\x00" * 6  # BINFLOAT, big-endian
_A_LIST = b"]" + _u("x") + b"a"
WRONG = {
    **{f: _A_LIST for f in ("real_name", "host_name", "web_page_url", "preferred_language")},
    "description": _u("x" * 5000),  # overlong
    "owner": b"](]" + _u("a") + b"ae",  # a list holding a list
    "moderator": _u("a@example.org"),  # a string, not a list
    "members": b"}" + _u("a@x") + b"]s",  # an address mapped to a list
    "digest_members": _A_LIST,  # a list, not a mapping
    "delivery_status": b"}" + _u("a@x") + _u("enabled") + b"s",
    **{f: _NAN for f in ("archive", "archive_private", "archive_volume_frequency",
                         "subscribe_policy", "advertised", "data_version", "created_at")},
    "last_post_time": _u("yesterday"),
    "post_id": huge_long(9),  # 72 bits: within the unpickler's bound, not a counter
}


@pytest.mark.parametrize("field", sorted(WRONG))
def test_every_field_is_type_checked(field, tmp_path):
    """Each field the move reads holds what Mailman stores there, or it is dropped with a
    finding naming it; the list's other fields still count."""
    root = make_tree(tmp_path / "host", {**BASE, f"{MM}/lists/evil/config.pck":
                                         plain_config(field, WRONG[field])})
    out = run_child(root)
    broken = [f for f in out["findings"] if f[0] == "mailman.pickle-broken"]
    assert len(broken) == 1 and f" {field} in " in broken[0][1], out
    assert "evil" in out["lists"]


def test_limits_are_what_they_say():
    small = Limits(max_depth=3, max_expanded=100)
    check_result([[["x"]]], small)
    with pytest.raises(ValueError, match="nested"):
        check_result([[[["x"]]]], small)
    a = ["x" * 10]
    with pytest.raises(ValueError, match="expands"):
        check_result([a] * 20, small)
    cyclic: list = []
    cyclic.append(cyclic)
    check_result(cyclic)  # a cycle is counted once, not forever
    assert scan(b"\x80\x02]q\x00.") == 6
    with pytest.raises(ValueError, match="truncated"):
        safe_loads(b"\x80\x02]q\x00")
    with pytest.raises(ValueError, match="truncated"):
        safe_loads(b"\x80\x02X\xff\x00\x00\x00ab.")
