"""The aliases parser against the real Exim: what Exim routes each alias to, the parser says too.

Exim 4 (Debian's exim4) resolves every alias of the sample hosts with ``-bt`` through a
``redirect`` router that reads the same file with ``lsearch``, as the old hosts' ``system_aliases``
router does. The expected outcome of each alias comes from the parser's typed targets (addresses,
pipes, files, :include: members, :fail:, :defer:, :blackhole:); the real outcome from Exim's
address-test output. Exim reads absolute paths, so the aliases files are copied to a temp folder
and their ``:include:`` paths rewritten to the copies (the only change), and the parser reads the
same copies through ``LocalTree("/")``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import SAMPLES, exim_binary
from migrate.core.model import AliasTargetKind as K
from parsers.aliases import parse_aliases
from migrate.app.sources import LocalTree
from test_aliases import ALIASES



@pytest.fixture(autouse=True)
def _exim():
    global EXIM
    EXIM = exim_binary()


EXIM = ""

CONFIG = """\
primary_hostname = test.example
qualify_domain = qualified.invalid
domainlist local_domains = localhost
begin routers
system_aliases:
  driver = redirect
  domains = +local_domains
  data = ${{lookup{{$local_part}}lsearch{{{aliases}}}}}
  allow_fail
  allow_defer
  pipe_transport = address_pipe
  file_transport = address_file
catchall:
  driver = accept
  transport = address_file
begin transports
address_pipe:
  driver = pipe
address_file:
  driver = appendfile
  file = /dev/null
"""


def _copy_with_includes(src_root: Path, aliases_host_path: str, dest: Path) -> Path:
    """Copy an aliases file and the :include: files it names; point the includes at the copies."""
    text = (src_root / aliases_host_path.lstrip("/")).resolve().read_text(encoding="utf-8")
    for inc in sorted(set(re.findall(r":include:\s*(/\S+)", text))):
        copy = dest / "inc" / inc.lstrip("/").replace("/", "_")
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src_root / inc.lstrip("/"), copy)
        text = text.replace(inc, str(copy))
    out = dest / "aliases"
    out.write_text(text, encoding="utf-8")
    return out


def _expected(targets, out=None):
    out = set() if out is None else out
    for t in targets:
        if t.kind == K.INCLUDE:
            _expected(t.members, out)
        elif t.kind == K.ADDRESS:
            value = t.value
            if value.startswith("\\"):
                value = value[1:] + "@localhost"  # Exim keeps the incoming domain for \user
            elif "@" not in value:
                value += "@qualified.invalid"
            out.add(("address", value))
        elif t.kind in (K.PIPE, K.FILE, K.FAIL, K.DEFER):
            out.add((t.kind.value, t.value))
        elif t.kind == K.BLACKHOLE:
            out.add(("blackhole", ""))
    return out


def _exim_outcomes(text: str) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if m := re.match(r"^\S+ -> (.*)$", line):
            value = m.group(1)
            out.add(("pipe", value[1:]) if value.startswith("|") else ("file", value))
        elif m := re.match(r"^.* is undeliverable: (.*)$", line):
            out.add(("fail", m.group(1)))
        elif m := re.match(r"^.* cannot be resolved at this time: (.*)$", line):
            out.add(("defer", m.group(1)))
        elif re.match(r"^mail to .* is discarded$", line):
            out.add(("blackhole", ""))
        elif (not line.startswith(" ") and i + 1 < len(lines)
              and lines[i + 1].strip().startswith("<--")):
            out.add(("address", line.strip()))
    return out


def _exim_route(config: Path, local_part: str) -> str:
    address = (f'"{local_part}"' if " " in local_part else local_part) + "@localhost"
    proc = subprocess.run([EXIM, "-C", str(config), "-bt", address], capture_output=True,
                          text=True, timeout=30)
    return proc.stdout + proc.stderr


EXIM_DIFFERENCES = {"aliases.backslash-continuation", "aliases.missing-comma"}


def _check(aliases_file: Path, tmp_path: Path) -> int:
    config = tmp_path / "exim.conf"
    config.write_text(CONFIG.format(aliases=aliases_file))
    result = parse_aliases(LocalTree("/"), str(aliases_file))
    differs = {f.source.line for f in result.findings if f.id in EXIM_DIFFERENCES}
    checked = 0
    for alias in result.aliases:
        lines = {alias.source.line, *(t.source.line for t in alias.targets if t.source)}
        got = _exim_outcomes(_exim_route(config, alias.name))
        want = _expected(alias.targets)
        if lines & differs:
            # The parser reports that Exim reads this alias differently: prove it does.
            assert got != want, f"{alias.name}: flagged as read differently by Exim, but is not"
        else:
            assert got == want, f"{alias.name} ({alias.source})"
        checked += 1
    return checked


@pytest.mark.parametrize("host, path", [("netsight", "/etc/aliases"), ("small", "/etc/aliases")])
def test_sample_aliases_route_as_exim_routes_them(host, path, tmp_path):
    aliases = _copy_with_includes(SAMPLES / host, path, tmp_path)
    assert _check(aliases, tmp_path) >= 10


def test_hand_written_aliases_route_as_exim_routes_them(tmp_path):
    (tmp_path / "staff.list").write_text("# staff\nalice@example.org, bob\n\ncarol@example.org\n")
    aliases = tmp_path / "aliases"
    aliases.write_text(ALIASES.replace("/etc/mail/staff.list", str(tmp_path / "staff.list"))
                       + "nocomma: a@example.org\n  b@example.org\n")
    assert _check(aliases, tmp_path) >= 15
    # The duplicate "ROOT" on a later line loses, as the parser's finding says.
    config = tmp_path / "exim.conf"
    assert _exim_outcomes(_exim_route(config, "root")) == {("address", "admin@example.org")}
