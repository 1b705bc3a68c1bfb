"""ARCHITECTURE.md's rules, checked: what may import what, and OpenBSD syntax only in emitters/.

Imports are read with ``ast`` from the source (nothing is executed), the lazy ones inside
functions included."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from conftest import REPO

#: the ground floor's base: the standard library and each other only
BASE = {"migrate.core.model", "migrate.core.mailman2", "migrate.core.text", "migrate.core.errors",
        "migrate.core.mta"}
#: what reads a plan (not an inventory): the cutover's side of the top floor
PLAN_READERS = {"migrate.app.hosts", "migrate.app.cutover", "migrate.app.ansible",
                "migrate.app.exporting", "migrate.app.fileio", "migrate.app.remote",
                "migrate.app.remote_agent", "migrate.app.sources"}
PACKAGES = ("migrate", "parsers", "emitters")


def _module(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    return ".".join(p for p in rel.parts if p != "__init__")


def _imports(path: Path) -> set[str]:
    """Every project module ``path`` imports (``from emitters.x import y`` counts as
    ``emitters.x`` and, when ``y`` is a module of the project, ``emitters.x.y``)."""
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    known = _all()
    return {m for m in found if m in known}


def _sources() -> list[Path]:
    return sorted(p for d in PACKAGES for p in (REPO / d).rglob("*.py"))


#: the packages' own ``__init__`` modules every floor may import (a version, a docstring)
PACKAGE_INITS = {"migrate", "migrate.core"}


def _core() -> set[str]:
    return {m for m in _all() if m.startswith("migrate.core.")}


def _allowed(module: str) -> set[str] | None:
    """The project modules ``module`` may import (None: anything)."""
    if module in BASE:
        return BASE | PACKAGE_INITS
    if module.startswith("migrate.core."):
        return _core() | PACKAGE_INITS
    for side in ("parsers", "emitters"):
        if module == side or module.startswith(side + "."):
            return _core() | {m for m in _all() if m.split(".")[0] == side} | PACKAGE_INITS
    if module in PLAN_READERS:
        # the inspection's trees read with the parsers' Tree protocol (parsers/base.py), and
        # the remote one sends the archive scanner (parsers/mboxscan.py) to the old host
        return (_core() | PLAN_READERS | {"parsers", "parsers.base", "parsers.mboxscan"}
                | PACKAGE_INITS | {"migrate.app"})
    return None


def _all() -> set[str]:
    return {_module(p) for p in _sources()}


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(REPO)))
def test_imports_follow_the_architecture(path):
    module = _module(path)
    allowed = _allowed(module)
    if allowed is None:
        return
    wrong = sorted(_imports(path) - allowed - {module})
    # a package's __init__ is importable by its own members
    wrong = [m for m in wrong if not module.startswith(m + ".")]
    assert not wrong, f"{module} imports {wrong}; see ARCHITECTURE.md, 'What may import what'"


#: OpenBSD configuration syntax: httpd.conf(5), smtpd.conf(5), rc.conf.local(8) forms
OPENBSD_SYNTAX = re.compile(
    r"block return|location match|request strip|root strip|fastcgi socket|"
    r"listen on [^\n]*(?:tls|port)|match from |action \"|deliver to mda|tls-require|"
    r"[a-z]+_flags=|rcctl (?:enable|set|start)")


@pytest.mark.parametrize("path", [p for p in _sources() if p.relative_to(REPO).parts[0] != "emitters"],
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
    from emitters import common
    from emitters.mailman2 import paths as mailman2

    paths = [mailman2.MM_PREFIX, mailman2.MM_VAR, mailman2.MM_USER, common.MTA_USER, "/var/www"]
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


# --- ARCHITECTURE.md says what is there ------------------------------------------------------

_DOC = REPO / "ARCHITECTURE.md"
_CODE_DIRS = ("migrate", "parsers", "emitters", "tests", "tools")
#: a recipe's placeholders, not names of the code
_PLACEHOLDERS = re.compile(r"NAME|postfix|PATH|FIELD|KIND")


def _code() -> list[Path]:
    return [p for d in _CODE_DIRS for p in (REPO / d).rglob("*.py")]


def _defines(text: str, name: str) -> bool:
    return re.search(rf"^\s*(?:def|class)\s+{name}\b|^\s*{name}\s*[:=]", text, re.M) is not None


def _doc_names() -> list[str]:
    return sorted({m for m in re.findall(r"`([^`\s]+)`", _DOC.read_text())
                   if not _PLACEHOLDERS.search(m)})


def test_architecture_md_names_what_is_there():
    """Every file, test, module attribute and class ARCHITECTURE.md cites exists: a recipe
    that names a function nobody defines any more sends a newcomer the wrong way."""
    code = {p: p.read_text() for p in _code()}
    stems = {}
    for p in code:
        stems.setdefault(p.stem, []).append(p)
    wrong = []
    for name in _doc_names():
        path, _, test = name.partition("::")
        if path.split("/")[0] in _CODE_DIRS + ("sample_configs",) or \
                re.fullmatch(r"\w+\.py", path):
            found = (any(REPO.glob(path)) if "/" in path else path[:-3] in stems
                     if path.endswith(".py") else (REPO / path).is_dir())
            if not found:
                wrong.append(f"{name}: no such file")
            elif test and not _defines((REPO / path).read_text(), test):
                wrong.append(f"{name}: no such test")
            continue
        dotted = re.fullmatch(r"([A-Za-z_]\w*)\.([A-Za-z_]\w*)", name)
        if dotted:
            owner, attr = dotted.groups()
            homes = stems.get(owner) or [p for p, t in code.items() if _defines(t, owner)]
            if homes and not any(_defines(code[p], attr) or f".{attr}" in code[p]
                                 for p in homes):
                wrong.append(f"{name}: {owner} has no {attr}")
            continue
        if re.fullmatch(r"[A-Z][A-Za-z]+|[A-Z][A-Z_]+", name) and not any(
                _defines(t, name) for t in code.values()):
            wrong.append(f"{name}: defined nowhere")
    assert not wrong, wrong
