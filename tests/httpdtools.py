"""OpenBSD's httpd for the tests: the real one where its grammar is the plan's, and a
documented-grammar checker and a simulator for the eras it does not read.

The real httpd (the end of this file): OpenBSD 7.5's httpd, built from
../shared/tools/openbsd-httpd into .cache/openbsd-httpd (``httpd_binary``), reads the grammar
of OpenBSD 6.4 and later (``request strip``; ``REAL_GRAMMAR_FROM``).

* ``httpd_check``: ``httpd -n -f FILE``; where the file names TLS certificates and keys,
  inside a private mount namespace whose /etc/ssl holds real self-signed pairs at those paths
  (``ssl_tree``, ``self_signed``), since httpd -n only warns, and exits 0, when they are
  missing; ``httpd_complaints`` is whatever it said besides "configuration OK".
* ``fcgiwrap_binary``, ``slowcgi_sh``, ``httpd_sh``: the shell that starts Debian's fcgiwrap
  in the place of OpenBSD's slowcgi (the same FastCGI-to-CGI gateway, on the plan's socket,
  running the CGI as www as slowcgi does) and the real httpd (``httpd -d -f``), in a test
  host's namespaces (tests/e2etools.py); tests/test_httpd_real.py and the cutover's e2e use
  them in front of the real Mailman's CGI wrappers.

For the releases before 6.4 (``root { "/dir", strip N }``), which this httpd refuses, the
emitted httpd.conf is checked against httpd.conf(5) as documented for each release, and its
answers are worked out the way httpd(8) chooses them:

* ``grammar_errors``: every line of an emitted httpd.conf against the statements the plan
  writes, in the form the release's httpd.conf(5) documents them (``root { "/dir", strip N }``
  before 6.4, ``request strip N`` from 6.4; ``location match`` and ``%n`` from 5.8;
  ``$HTTP_HOST`` from 6.2; ``chroot`` and ``logdir`` at the top), with quoted strings as
  parse.y reads them (no quote, backslash or line break inside), sections balanced.
* ``answer``: the server block by name or alias, then the first location that matches the
  path (shell glob for ``location``, in any case as httpd's FNM_CASEFOLD, a Lua pattern for
  ``location match``), its
  ``block return`` with captures and macros expanded. Lua patterns are read by ``lua_to_re``,
  written from patterns(7) for the part of the language the emitter writes.
"""

from __future__ import annotations

import fnmatch
import re

from emitters.release import Release

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
            # httpd's location: fnmatch(3) with FNM_CASEFOLD (server_getlocation)
            if not fnmatch.fnmatchcase(path.lower(), loc["pattern"].lower()):
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

from conftest import REPO, WAIT_UNTIL_SH, need  # noqa: E402

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


#: the certificate and key statements of an httpd.conf: the files httpd loads at start
_TLS_FILES = re.compile(r'^\ttls (certificate|key) "([^"]+)"$', re.M)


def self_signed(names: list[str], cert: Path, key: Path) -> None:
    """A real self-signed certificate for ``names`` (the first is its subject, all are its
    subjectAltNames) and its private key, made by openssl."""
    need(shutil.which("openssl") is not None, "openssl is not installed")
    cert.parent.mkdir(parents=True, exist_ok=True)
    key.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={names[0]}", "-addext",
                    "subjectAltName=" + ",".join(f"DNS:{n}" for n in names),
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    key.chmod(0o600)


def tls_files(conf: str) -> dict[str, list[str]]:
    """The ``tls certificate`` and ``tls key`` paths ``conf`` names: {"certificate": [...],
    "key": [...]}."""
    out: dict[str, list[str]] = {"certificate": [], "key": []}
    for kind, path in _TLS_FILES.findall(conf):
        if path not in out[kind]:
            out[kind].append(path)
    return out


def ssl_tree(conf: str, etc_ssl: Path) -> Path:
    """A folder to mount over /etc/ssl that holds, at every certificate and key path of
    ``conf`` (all under /etc/ssl), one real self-signed pair for every name ``conf`` serves
    (this machine's /etc/ssl is never touched)."""
    files = tls_files(conf)
    names = [n for s in servers(conf) for n in s["names"]]
    names = list(dict.fromkeys(names)) or ["localhost"]
    pair = etc_ssl.parent / f".{etc_ssl.name}-pair"
    self_signed(names, pair / "cert.pem", pair / "key.pem")
    etc_ssl.mkdir(parents=True, exist_ok=True)
    for kind, source in (("certificate", "cert.pem"), ("key", "key.pem")):
        for path in files[kind]:
            assert path.startswith("/etc/ssl/"), f"{path} is not under /etc/ssl"
            dest = etc_ssl / path[len("/etc/ssl/"):]
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(pair / source, dest)
            dest.chmod(0o600 if kind == "key" else 0o644)
    return etc_ssl


def httpd_check(conf: str, workdir: Path) -> subprocess.CompletedProcess:
    """``httpd -n -f FILE`` on ``conf`` (the real parser of the new host's httpd). Where the
    file names certificates and keys, httpd loads them: it runs in a private mount namespace
    with a folder of real self-signed pairs (``ssl_tree``) bound over /etc/ssl."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "httpd.conf"
    path.write_text(conf)
    argv = [httpd_binary(), "-n", "-f", str(path)]
    if any(tls_files(conf).values()):
        need(shutil.which("unshare") is not None, "unshare (util-linux) is not installed")
        need(os.geteuid() == 0, "a private mount over /etc/ssl needs root")
        ssl = ssl_tree(conf, workdir / "etc-ssl")
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                'mount --bind "$1" /etc/ssl && shift && exec "$@"', "sh", str(ssl), *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def httpd_complaints(proc: subprocess.CompletedProcess) -> list[str]:
    """What ``httpd -n`` said besides "configuration OK": every other line is a complaint
    (with TLS it warns "failed to load public/private keys" and still exits 0)."""
    return [line for line in (proc.stdout + proc.stderr).splitlines()
            if line.strip() and line.strip() != "configuration OK"]


# --- serving: the real httpd and fcgiwrap in slowcgi's place, in a host's namespace ----------

#: The user OpenBSD's slowcgi runs the CGI programs as (slowcgi(8): ``-U user``, default www),
#: the group the mailman package's CGI wrapper is built for (tests/mailmantools.py
#: ``openbsd``); fcgiwrap, slowcgi's stand-in, runs as the same user.
SLOWCGI_USER = "www"


def slowcgi_sh(fcgiwrap: str, socket: str, log: str = "/run/slowcgi.log",
               pidfile: str = "/run/slowcgi.pid") -> str:
    """Shell that starts Debian's fcgiwrap in the place of OpenBSD's slowcgi: listening on
    ``socket`` (the plan's ``fastcgi socket``), running the CGI programs as the user www, as
    slowcgi does; returns once the socket is there. fcgiwrap forks its workers (four): they
    run in a session of their own, whose id is in ``pidfile`` (``kill -TERM -PID`` stops all).
    For a host's mount namespace: it writes the socket's folder and /run."""
    folder = socket.rsplit("/", 1)[0]
    return (f"mkdir -p {folder} && chown {SLOWCGI_USER} {folder} && rm -f {socket}\n"
            f"setsid sh -c 'echo $$ > {pidfile}; exec setpriv --reuid={SLOWCGI_USER} "
            f"--regid={SLOWCGI_USER} --init-groups {fcgiwrap} -c 4 -s unix:{socket}' "
            f"</dev/null >>{log} 2>&1 &\n"
            + WAIT_UNTIL_SH +
            f"wait_until 30 'fcgiwrap to make its socket {socket}' test -S {socket}\n")


def httpd_sh(httpd: str, conf: str = "/etc/httpd.conf", log: str = "/run/httpd.log",
             pidfile: str = "/run/httpd.pid") -> str:
    """Shell that starts the real httpd on ``conf`` in the foreground (``-d``: messages to
    ``log``, no daemon to lose track of), its pid in ``pidfile``; returns once httpd listens
    (a TCP socket of a process named httpd in this network namespace), and fails at once if
    httpd exits first (a file it refused, a log it could not open)."""
    return (f"mkdir -p /var/www/logs\n"
            f"{httpd} -d -f {conf} </dev/null >>{log} 2>&1 &\n"
            f"echo $! > {pidfile}\n"
            + WAIT_UNTIL_SH +
            "httpd_up() {\n"
            f"\tkill -0 \"$(cat {pidfile})\" 2>/dev/null || return 2\n"
            "\tss -Hltnp | grep -q '((\"httpd\",'\n"
            "}\n"
            "wait_until 30 'httpd to listen' httpd_up\n")
