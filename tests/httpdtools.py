"""OpenBSD's httpd cannot run here: its configuration is checked against httpd.conf(5) as
documented for each release, and its answers to the post-checks' requests are worked out
from the emitted file the way httpd(8) chooses them (``answer``).

* ``grammar_errors``: every line of an emitted httpd.conf against the statements the plan
  writes, in the form the release's httpd.conf(5) documents them (``root { "/dir", strip N }``
  before 6.4, ``request strip N`` from 6.4; ``location match`` and ``%n`` from 5.8;
  ``$HTTP_HOST`` from 6.2), with quoted strings as parse.y reads them (no quote, backslash or
  line break inside), sections balanced.
* ``answer``: the server block by name or alias, then the first location that matches the
  path (shell glob for ``location``, a Lua pattern for ``location match``), its
  ``block return`` with captures and macros expanded. Lua patterns are read by ``lua_to_re``,
  written from patterns(7) for the part of the language the emitter writes.
"""

from __future__ import annotations

import fnmatch
import re

from migrate.emitters.release import Release

_Q = r'"[^"\\\n]*"'  # a quoted string as parse.y reads it, without escapes
_MACROS_57 = {"DOCUMENT_URI", "QUERY_STRING", "REMOTE_ADDR", "REMOTE_PORT", "REMOTE_USER",
              "REQUEST_URI", "SERVER_ADDR", "SERVER_PORT", "SERVER_NAME"}


def lua_to_re(lua: str) -> str:
    """A Python regex for a Lua pattern of the emitted kind (patterns(7))."""
    classes = {"d": r"\d", "s": r"\s", "w": "[A-Za-z0-9]", "a": "[A-Za-z]"}
    out: list[str] = []
    i, in_class = 0, False
    while i < len(lua):
        c = lua[i]
        if c == "%":
            e = lua[i + 1]
            out.append(classes[e][1:-1] if in_class and e in "wa" else
                       classes.get(e, re.escape(e)))
            i += 2
            continue
        if in_class:
            in_class = c != "]" or out[-1] == "["
            out.append(re.escape(c) if c not in "]^-" else c)
        elif c == "-":
            out.append("*?")
        else:
            in_class = c == "["
            out.append(c)
        i += 1
    return "".join(out)


def grammar_errors(text: str, release: Release) -> list[str]:
    """The lines of ``text`` that are not httpd.conf(5) of ``release`` (empty: all are)."""
    macros = _MACROS_57 | ({"HTTP_HOST"} if release >= Release(6, 2) else set())
    root = [rf"\t\troot {_Q}", r"\t\trequest strip \d+"] if release >= Release(6, 4) else \
        [rf"\t\troot \{{ {_Q}, strip \d+ \}}"]
    top = [r"", r"#.*", rf"chroot {_Q}", rf"logdir {_Q}", rf"server {_Q} \{{"]
    server = [r"\t#.*", rf"\talias {_Q}", r"\tlisten on [0-9a-f:.]+( tls)? port \d+",
              rf"\ttls certificate {_Q}", rf"\ttls key {_Q}", rf"\tlocation {_Q} \{{",
              r"\tlocation \* \{", r"\}"]
    if release >= Release(5, 8):
        server.append(rf"\tlocation match {_Q} \{{")
    location = [rf"\t\tblock return \d{{3}}( {_Q})?", rf"\t\tfastcgi socket {_Q}", *root,
                r"\t\}"]
    errors: list[str] = []
    depth, captures = 0, 0
    for number, line in enumerate(text.split("\n"), 1):
        allowed = (top, server, location)[depth] if depth < 3 else []
        if not any(re.fullmatch(p, line) for p in allowed):
            errors.append(f"{number}: {line!r} is not a statement here")
            continue
        if line.endswith("{"):
            depth += 1
            m = re.match(r'\tlocation match "(.*)" \{$', line)
            captures = lua_to_re(m.group(1)).count("(") if m else 0
        elif line.endswith("}") and not line.endswith("}\"") and "{" not in line:
            depth -= 1
        for name in re.findall(r"\$([A-Z_]+)", line) if "block return" in line else []:
            if name not in macros:
                errors.append(f"{number}: ${name} is no macro of httpd {release}")
        for index in re.findall(r"%(\d)", line) if "block return" in line else []:
            if release < Release(5, 8) or int(index) > captures:
                errors.append(f"{number}: %{index} has no capture to take")
        if line.endswith("\\"):
            errors.append(f"{number}: a line continued by a backslash")
    if depth != 0:
        errors.append(f"sections left open: {depth}")
    return errors


def servers(text: str) -> list[dict]:
    """The server blocks: names, ports, and locations in order (pattern, match, lines)."""
    out: list[dict] = []
    current: dict | None = None
    location: dict | None = None
    for line in text.split("\n"):
        if m := re.fullmatch(r'server "([^"]+)" \{', line):
            current = {"names": [m.group(1)], "ports": set(), "locations": []}
            out.append(current)
        elif m := re.fullmatch(r'\talias "([^"]+)"', line):
            current["names"].append(m.group(1))
        elif m := re.fullmatch(r"\tlisten on \S+( tls)? port (\d+)", line):
            current["ports"].add(int(m.group(2)))
        elif m := re.fullmatch(r'\tlocation (match )?("([^"]*)"|\*) \{', line):
            location = {"match": bool(m.group(1)), "pattern": m.group(3) or "*", "body": []}
            current["locations"].append(location)
        elif line.startswith("\t\t") and location is not None:
            location["body"].append(line.strip())
    return out


def answer(text: str, port: int, host: str, path: str) -> tuple[int, str | None]:
    """What httpd answers ``GET path`` with ``Host: host`` on ``port``: (status, Location);
    (200, None) for a location that serves files or CGI, (404, None) for none."""
    blocks = [s for s in servers(text) if port in s["ports"]]
    server = next((s for s in blocks if host in s["names"]), blocks[0])
    for loc in server["locations"]:
        if loc["match"]:
            m = re.search(lua_to_re(loc["pattern"]), path)
            if m is None:
                continue
            groups = [m.group(0), *m.groups()]
        else:
            if not fnmatch.fnmatchcase(path, loc["pattern"]):
                continue
            groups = [path]
        for line in loc["body"]:
            if r := re.fullmatch(r'block return (\d+)(?: "(.*)")?', line):
                uri = r.group(2)
                if uri is not None:
                    uri = re.sub(r"%(\d)", lambda c: groups[int(c.group(1))] or "", uri)
                    uri = (uri.replace("$HTTP_HOST", host).replace("$REQUEST_URI", path)
                           .replace("$DOCUMENT_URI", path)
                           .replace("$SERVER_NAME", server["names"][0]))
                return int(r.group(1)), uri
        return 200, None
    return 404, None


# --- the real OpenBSD httpd, built from ../shared/tools/openbsd-httpd -----------------------

import fcntl  # noqa: E402
import hashlib  # noqa: E402
import os  # noqa: E402
import pwd  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
from pathlib import Path  # noqa: E402

from conftest import REPO, need  # noqa: E402

SHARED_HTTPD = REPO.parent / "shared" / "tools" / "openbsd-httpd"
HTTPD_CACHE = REPO / ".cache" / "openbsd-httpd"
#: the grammar this httpd reads (OpenBSD 7.5's code): ``request strip``, so 6.4 and later
REAL_GRAMMAR_FROM = Release(6, 4)


def _httpd_digest() -> str:
    h = hashlib.sha256()
    for p in sorted(SHARED_HTTPD.glob("*")):
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:12]


def httpd_binary() -> str:
    """OpenBSD's httpd, built the first time (about a minute) into .cache/openbsd-httpd; the
    test skips with the reason where it cannot be built (fails under ``make test``)."""
    need(SHARED_HTTPD.joinpath("build.sh").exists(),
         f"{SHARED_HTTPD} is absent (../shared/tools/openbsd-httpd is not beside the checkout)")
    for tool in ("cmake", "bison", "gcc", "make", "pkg-config"):
        need(shutil.which(tool) is not None,
             f"{tool} is not installed (tools/install-test-deps.sh installs it)")
    try:
        pwd.getpwnam("www")
    except KeyError:
        need(False, "the user www that httpd runs as is missing (tools/install-test-deps.sh)")
    dest = HTTPD_CACHE / _httpd_digest()
    binary = dest / "httpd"
    HTTPD_CACHE.mkdir(parents=True, exist_ok=True)
    with open(HTTPD_CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.exists():
            return str(binary)
        shutil.rmtree(dest, ignore_errors=True)
        proc = subprocess.run([str(SHARED_HTTPD / "build.sh"), str(dest / "stage")],
                              capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            need(False, "OpenBSD's httpd did not build: "
                        f"{(proc.stderr or proc.stdout).strip()[-500:]}")
        os.replace(dest / "stage" / "httpd", binary)
    return str(binary)


def fcgiwrap_binary() -> str:
    """Debian's fcgiwrap, standing in for OpenBSD's slowcgi (both: FastCGI to CGI)."""
    path = shutil.which("fcgiwrap") or "/usr/sbin/fcgiwrap"
    need(os.access(path, os.X_OK), "fcgiwrap is not installed (tools/install-test-deps.sh)")
    return path


def httpd_check(conf: str, workdir: Path) -> subprocess.CompletedProcess:
    """``httpd -n -f FILE`` on ``conf`` (the real parser of the new host's httpd)."""
    path = workdir / "httpd.conf"
    path.write_text(conf)
    return subprocess.run([httpd_binary(), "-n", "-f", str(path)], capture_output=True,
                          text=True, timeout=60)
