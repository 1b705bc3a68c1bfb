"""ARCHITECTURE.md's rules, checked: what may import what, and OpenBSD syntax only in emitters/.

Imports are read with ``ast`` from the source (nothing is executed), the lazy ones inside
functions included."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from conftest import REPO

#: the contracts: the standard library and each other only
BASE = {"migrate.model", "migrate.mailman2", "migrate.text", "migrate.errors", "migrate.mta"}
CONTRACTS = BASE | {"migrate.codec", "migrate.safeyaml", "migrate.steps", "migrate.probes"}
#: what reads a plan (not an inventory)
PLAN_READERS = CONTRACTS | {"migrate.hosts", "migrate.cutover",
                            "migrate.ansible", "migrate.exporting", "migrate.fileio",
                            "migrate.remote", "migrate.remote_agent", "migrate.sources"}


def _module(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[0] in ("parsers", "emitters"):
        parts = ["migrate"] + parts
    return ".".join(p for p in parts if p != "__init__")


def _imports(path: Path) -> set[str]:
    """Every migrate module ``path`` imports (``from migrate.x import y`` counts as
    ``migrate.x`` and, when ``y`` is a module of the package, ``migrate.x.y``)."""
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    known = {_module(p) for p in _sources()}
    return {m for m in found if m in known or m in ("migrate.parsers", "migrate.emitters")}


def _sources() -> list[Path]:
    return sorted(p for d in ("migrate", "parsers", "emitters") for p in (REPO / d).glob("*.py"))


def _allowed(module: str) -> set[str] | None:
    """The migrate modules ``module`` may import (None: anything)."""
    if module in BASE:
        return BASE
    if module in ("migrate.codec", "migrate.safeyaml", "migrate.steps", "migrate.probes"):
        return CONTRACTS
    if module.startswith("migrate.parsers"):
        return CONTRACTS | {m for m in _all() if m.startswith("migrate.parsers")}
    if module.startswith("migrate.emitters"):
        return CONTRACTS | {m for m in _all() if m.startswith("migrate.emitters")}
    if module in PLAN_READERS:
        # the inspection's trees read with the parsers' Tree protocol (parsers/base.py), and
        # the remote one sends the archive scanner (parsers/mboxscan.py) to the old host
        return PLAN_READERS | {"migrate.parsers.base", "migrate.parsers.mboxscan"}
    return None


def _all() -> set[str]:
    return {_module(p) for p in _sources()}


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(REPO)))
def test_imports_follow_the_architecture(path):
    module = _module(path)
    allowed = _allowed(module)
    if allowed is None:
        return
    wrong = sorted(m for m in _imports(path) - allowed - {module}
                   if m not in ("migrate", "migrate.parsers", "migrate.emitters")
                   or m in ("migrate.parsers", "migrate.emitters"))
    # a package's __init__ is importable by its own members
    wrong = [m for m in wrong if not module.startswith(m + ".")]
    assert not wrong, f"{module} imports {wrong}; see ARCHITECTURE.md, 'What may import what'"


#: OpenBSD configuration syntax: httpd.conf(5), smtpd.conf(5), rc.conf.local(8) forms
OPENBSD_SYNTAX = re.compile(
    r"block return|location match|request strip|root strip|fastcgi socket|"
    r"listen on [^\n]*(?:tls|port)|match from |action \"|deliver to mda|tls-require|"
    r"[a-z]+_flags=|rcctl (?:enable|set|start)")


@pytest.mark.parametrize("path", [p for p in _sources() if not p.parent.name == "emitters"],
                         ids=lambda p: str(p.relative_to(REPO)))
def test_no_openbsd_syntax_outside_the_emitters(path):
    """The parsers and the orchestration never write the new host's configuration: each string
    literal is searched (comments and docstrings may name things, not write them)."""
    tree = ast.parse(path.read_text(), str(path))
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef,
                                    ast.AsyncFunctionDef))
                  and n.body and isinstance(n.body[0], ast.Expr)
                  and isinstance(n.body[0].value, ast.Constant)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in docstrings:
            m = OPENBSD_SYNTAX.search(node.value)
            if m:
                found.append(f"line {node.lineno}: {m.group(0)!r}")
    assert not found, f"{path.relative_to(REPO)} writes OpenBSD syntax: {found}"


def _new_host_names() -> re.Pattern:
    """The new host's names: OpenBSD and its mail and web daemons, and the paths and users of
    its packages (emitters/common.py's, so the two never drift). OpenBSD's httpd is named by
    the word alone; Apache's own (``httpd.conf``, ``/etc/httpd/``, ``Apache httpd``, rc.conf's
    ``httpd``... as a path or file) are the old host's and pass."""
    from migrate.emitters import common

    paths = [common.MM_PREFIX, common.MM_VAR, common.MM_USER, common.MTA_USER, "/var/www"]
    return re.compile("|".join([r"OpenBSD", r"OpenSMTPD", r"\bsmtpd\b", r"slowcgi",
                                r"\bspamd\b", r"(?<![/\w.-])(?<!Apache )httpd(?![\w./-])"]
                               + [re.escape(p) for p in paths]), re.IGNORECASE)


@pytest.mark.parametrize("path", sorted((REPO / "parsers").glob("*.py")),
                         ids=lambda p: str(p.relative_to(REPO)))
def test_the_parsers_describe_the_old_host_only(path):
    """A parser reads the old host and says what it found there; what the new host does about
    it (OpenBSD, OpenSMTPD, its httpd, slowcgi, spamd, the package's paths) is an emitter's to
    say. Every string literal is searched, docstrings included."""
    names = _new_host_names()
    found = [f"line {node.lineno}: {m.group(0)!r}"
             for node in ast.walk(ast.parse(path.read_text(), str(path)))
             if isinstance(node, ast.Constant) and isinstance(node.value, str)
             for m in [names.search(node.value)] if m]
    assert not found, f"{path.relative_to(REPO)} names the new host: {found}"
