"""Untrusted pickles run no code: a suite of malicious list files, each of which would create a
sentinel file if anything executed it. None may exist afterwards, and each file is reported."""

from __future__ import annotations

import copyreg
import os
import pickle
import pickletools
from pathlib import Path

import pytest

from parsers.mailman import read_mailman
from parsers.pickles import PickleRefused, safe_loads
from migrate.app.sources import LocalTree


def _cmd(sentinel: Path) -> str:
    return f"touch {sentinel}"


class _Reduce:
    """Pickles as a call of ``func(*args)`` (what an attacker writes)."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _p0_global_reduce(mod: str, name: str, arg: str) -> bytes:
    return f"c{mod}\n{name}\n(S'{arg}'\ntR.".encode()


def malicious(sentinel: Path) -> dict[str, bytes]:
    cmd = _cmd(sentinel)
    py = f"open({str(sentinel)!r}, 'w').close()"
    import builtins
    import subprocess
    out = {
        "p0-reduce-os-system": _p0_global_reduce("os", "system", cmd),
        "p0-reduce-posix-system": _p0_global_reduce("posix", "system", cmd),
        "p0-inst-os-system": f"(S'{cmd}'\nios\nsystem\n.".encode(),
        "p1-obj-os-system": f"(cos\nsystem\nS'{cmd}'\no.".encode(),
        "p0-builtins-eval": _p0_global_reduce("builtins", "eval", py),
        "p0-builtin-eval-py2-name": _p0_global_reduce("__builtin__", "eval", py),
        "p0-builtins-exec": _p0_global_reduce("builtins", "exec", py),
        "p0-subprocess-call-shell": f"csubprocess\ncall\n(S'{cmd}'\ntR.".encode(),
        "p0-importlib": (b"cimportlib\nimport_module\n(S'os'\ntR."),
        "p0-mailman-module-other-name": _p0_global_reduce("Mailman.Bouncer", "os", cmd),
        "p0-case-trick": _p0_global_reduce("mailman.bouncer", "_BounceInfo", cmd),
        "p0-persistent-id": b"P" + cmd.encode() + b"\n.",
        "p0-dict-nested": ("(dp0\nS'members'\np1\n(lp2\ncos\nsystem\n(S'" + cmd
                           + "'\ntRp3\nasS'real_name'\nS'x'\ns.").encode(),
        "p0-build-setstate": ("cMailman.Bouncer\n_BounceInfo\n)Rp0\n(dp1\nS'__class__'\n"
                              "cos\nsystem\nsb(S'" + cmd + "'\ntR.").encode(),
    }
    for proto in (1, 2, 3, 4, 5):
        out[f"p{proto}-reduce-os-system"] = pickle.dumps(_Reduce(os.system, cmd), protocol=proto)
    out["p2-reduce-subprocess"] = pickle.dumps(
        _Reduce(subprocess.check_call, ["touch", str(sentinel)]), protocol=2)
    out["p4-stack-global-eval"] = pickle.dumps(_Reduce(builtins.eval, py), protocol=4)
    out["p2-pickle-loads-nested"] = pickle.dumps(
        _Reduce(pickle.loads, _p0_global_reduce("os", "system", cmd)), protocol=2)
    out["p2-newobj"] = b"\x80\x02cos\nsystem\n)\x81."
    out["p4-newobj-ex"] = (b"\x80\x04\x8c\x02os\x8c\x06system\x93)}\x92.")
    out["p3-nested-in-dict"] = pickle.dumps(
        {b"owner": [b"a@example.org"], b"x": {b"y": _Reduce(os.system, cmd)}}, protocol=2)
    out["p2-copyreg-reconstructor"] = (
        b"\x80\x02ccopyreg\n_reconstructor\nq\x00cos\n_wrap_close\nq\x01c__builtin__\n"
        b"object\nq\x02N\x87q\x03Rq\x04.")
    copyreg.add_extension("os", "system", 0x7E)
    try:
        out["p2-ext1-registered-os-system"] = b"\x80\x02\x82\x7e(X" + len(cmd).to_bytes(
            4, "little") + cmd.encode() + b"tR."
    finally:
        copyreg.remove_extension("os", "system", 0x7E)
    out["p2-allowed-class-as-callable"] = (
        b"\x80\x02cMailman.Bouncer\n_BounceInfo\nX" + len(cmd).to_bytes(4, "little")
        + cmd.encode() + b"\x85R.")
    return out


def test_the_suite_is_real_and_large_enough(tmp_path):
    suite = malicious(tmp_path / "sentinel")
    assert len(suite) >= 20
    for name, data in suite.items():
        list(pickletools.genops(data))  # each is a well-formed pickle, not garbage
    # The plain unpickler would run them: prove it once, on a harmless copy of the first.
    proof = tmp_path / "proof"
    pickle.loads(_p0_global_reduce("os", "system", f"touch {proof}"))  # noqa: S301
    assert proof.exists()


def test_safe_loads_runs_nothing(tmp_path):
    sentinel = tmp_path / "sentinel"
    for name, data in malicious(sentinel).items():
        copyreg.add_extension("os", "system", 0x7E)
        try:
            with pytest.raises((PickleRefused, ValueError)):
                result = safe_loads(data)
                if name == "p2-allowed-class-as-callable":
                    raise ValueError(f"stand-in, inert: {type(result).__name__}")
        finally:
            copyreg.remove_extension("os", "system", 0x7E)
        assert not sentinel.exists(), name


@pytest.mark.parametrize("name", sorted(malicious(Path("/x")).keys()))
def test_malicious_config_pck_is_reported_never_run(name, tree_factory, tmp_path):
    sentinel = tmp_path / "sentinel"
    data = malicious(sentinel)[name]
    root = tree_factory({"/usr/local/mailman/Mailman/mm_cfg.py": "from Defaults import *\n",
                         "/usr/local/mailman/mail/mailman": "placeholder\n",
                         "/usr/local/mailman/lists/evil/config.pck": data,
                         "/usr/local/mailman/lists/evil/pending.pck": data})
    result = read_mailman(LocalTree(root))
    assert not sentinel.exists()
    if name == "p2-allowed-class-as-callable":
        # The allowed stand-in is called with the attacker's argument and stays inert; the
        # file is not a list configuration.
        assert [f.id for f in result.findings][:1] == ["mailman.config-shape"]
        return
    ids = {f.id for f in result.findings}
    assert ids & {"mailman.pickle-refused", "mailman.pickle-broken"}, ids
    assert all(f.source and f.source.file.startswith("/usr/local/mailman/lists/evil/")
               for f in result.findings if f.id.startswith("mailman.pickle"))
    assert result.lists == []


@pytest.mark.parametrize("content, fid", [
    (b"", "mailman.pickle-broken"),
    (b"(dp0\nS'real_name'\np1\nS'trunc", "mailman.pickle-broken"),
    (b"# this is a text file named config.pck\nreal_name = 'x'\n", "mailman.pickle-broken"),
    (b"\x80\x02]q\x00(" + b"]" * 5000, "mailman.pickle-broken"),
    (os.urandom(0) + bytes(range(256)) * 4, "mailman.pickle-broken"),
])
def test_broken_pickles_are_findings(content, fid, tree_factory):
    root = tree_factory({"/usr/local/mailman/Mailman/mm_cfg.py": "from Defaults import *\n",
                         "/usr/local/mailman/mail/mailman": "x\n",
                         "/usr/local/mailman/lists/broken/config.pck": content})
    result = read_mailman(LocalTree(root))
    assert [f.id for f in result.findings if f.id.startswith("mailman.pickle")] == [fid]
    assert result.lists == []
