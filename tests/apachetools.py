"""Running the real Apache (Debian's apache2) against an old host's configuration, as an oracle.

``debianize`` copies a host tree's Apache folder into a temp folder ``T`` and adapts it so that
Debian's ``apache2 -t -f T/usr/local/etc/apache24/httpd.conf`` can read it:

* every absolute file system path (``/usr/...``, ``/var/...``, ``/etc/...``, ...) becomes
  ``T/usr/...``, so ``ServerRoot`` and every ``Include`` resolve inside ``T`` (URL paths such as
  ``/mailman/`` are left alone: they do not start with one of those folders);
* ``LoadModule`` lines name Debian's ``/usr/lib/apache2/modules/mod_*.so`` instead of the
  FreeBSD port's ``libexec/apache24/mod_*.so``, or are dropped for modules built into Debian's
  binary (``apache2 -l``); ``mod_access_compat`` is added for 2.2 ``Order``/``Allow`` lines,
  and ``mod_mpm_prefork`` to a main file that loads no MPM (2.2 had it compiled in);
* a main file without ``ServerRoot`` gets the port's compiled-in one (``/usr/local``, in ``T``),
  not Debian's ``/etc/apache2``; one without ``PidFile`` gets ``T/run/httpd.pid``, not Debian's
  ``/run/apache2.pid`` that every run would share;
* ``User``/``Group`` become ``nobody``/``nogroup`` (Apache refuses unknown users);
* the folders that Directory, Alias, ScriptAlias and DocumentRoot name, the folders of log
  and pid files and ``ServerRoot/logs`` (the default ``ErrorLog``) are created; certificate, key and chain files get a throwaway self-signed
  certificate made with ``openssl``.

The parser reads the same adapted files: ``T`` also holds a symlink from ``T``'s own path to
``/``, so ``LocalTree(T)`` finds ``T/usr/local/...`` (as the adapted files name it) at
``/usr/local/...``. The parser reports the host paths; Apache reports ``T/...``; ``strip_root``
makes them comparable.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from conftest import need

MODULES = Path("/usr/lib/apache2/modules")
_ABSOLUTE = re.compile(r"(?<![\w./~-])(/(?:usr|var|etc|srv|opt|home)(?:/[^\s\"'()<>]*)?)")
_LOAD_MODULE = re.compile(r"^(\s*)LoadModule\s+(\S+)\s+(\S+)\s*$", re.IGNORECASE)
_DIRECTIVE = re.compile(r"^\s*<?(\w+)", re.IGNORECASE)
_FOLDER_DIRECTIVES = {"directory", "alias", "scriptalias", "documentroot"}
_FILE_DIRECTIVES = {"errorlog", "customlog", "pidfile", "sslsessioncache", "scriptlog",
                    "transferlog"}
_TLS_DIRECTIVES = {"sslcertificatefile", "sslcertificatekeyfile", "sslcertificatechainfile",
                   "sslcacertificatefile"}


def apache_binary() -> str:
    path = shutil.which("apache2") or shutil.which("httpd")
    need(path is not None,
         "Apache is not installed (apt-get install apache2; tools/install-test-deps.sh does "
         "not install it yet)")
    return path  # type: ignore[return-value]


@functools.cache
def builtin_modules(binary: str) -> frozenset[str]:
    """Modules compiled into the binary (``apache2 -l``: ``mod_log_config.c`` ...)."""
    out = subprocess.run([binary, "-l"], capture_output=True, text=True, timeout=30).stdout
    return frozenset(line.strip()[:-2] for line in out.splitlines() if line.strip().endswith(".c"))


def _load_module(indent: str, name: str, path: str, builtin: frozenset[str]) -> str:
    base = os.path.basename(path)
    stem = base[:-3] if base.endswith(".so") else base
    if stem in builtin:
        return f"{indent}# built into Debian's apache2: {name}"
    debian = MODULES / f"{stem}.so"
    if not debian.exists():
        return f"{indent}# not in Debian's apache2: {name} {path}"
    return f"{indent}LoadModule {name} {debian}"


@dataclass
class Adapted:
    """A host tree's Apache config as Debian's Apache reads it from ``root``."""

    root: Path
    config: Path  # the main file, inside root
    files: list[Path] = field(default_factory=list)


def _certificate(root: Path) -> tuple[Path, Path]:
    """One throwaway self-signed certificate and key for every TLS file the config names."""
    cert, key = root / ".oracle-cert.pem", root / ".oracle-key.pem"
    if not cert.exists():
        need(shutil.which("openssl") is not None, "openssl is not installed")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=oracle.example", "-keyout", str(key), "-out", str(cert)],
                       check=True, capture_output=True, timeout=60)
    return cert, key


def _adapt_text(text: str, root: Path, builtin: frozenset[str], main: bool) -> str:
    uses_order = re.search(r"^\s*(Order|Allow\s+from|Deny\s+from)\b", text, re.I | re.M)
    has_compat = re.search(r"access_compat_module", text)
    out: list[str] = []
    for line in text.split("\n"):
        m = _LOAD_MODULE.match(line)
        if m:
            out.append(_load_module(m.group(1), m.group(2), m.group(3), builtin))
            continue
        m = _DIRECTIVE.match(line)
        name = m.group(1).lower() if m else ""
        if name in ("user", "group") and not line.lstrip().startswith("#"):
            out.append(f"{name.capitalize()} {'nobody' if name == 'user' else 'nogroup'}")
            continue
        paths = _ABSOLUTE.findall(line)
        line = _ABSOLUTE.sub(lambda p: f"{root}{p.group(1)}", line)
        for path in paths:
            local = Path(f"{root}{path}")
            if name in _FOLDER_DIRECTIVES:
                local.mkdir(parents=True, exist_ok=True)
            elif name == "serverroot":
                (local / "logs").mkdir(parents=True, exist_ok=True)  # the default ErrorLog
            elif name in _FILE_DIRECTIVES:
                local.parent.mkdir(parents=True, exist_ok=True)
            elif name in _TLS_DIRECTIVES:
                cert, key = _certificate(root)
                local.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(key if "key" in name else cert, local)
        out.append(line)
    if uses_order and not has_compat:
        out.insert(0, f"LoadModule access_compat_module {MODULES / 'mod_access_compat.so'}")
    if main and not re.search(r"^\s*ServerRoot\b", text, re.I | re.M):
        # The FreeBSD port's compiled-in ServerRoot, not Debian's /etc/apache2.
        (root / "usr/local/logs").mkdir(parents=True, exist_ok=True)
        out.insert(0, f'ServerRoot "{root}/usr/local"')
    if main and not re.search(r"^\s*PidFile\b", text, re.I | re.M):
        # Debian's compiled-in PidFile is /run/apache2.pid, shared by every run: a killed
        # daemon's file there, naming a pid some other process has since taken, makes the
        # next Apache refuse to start ("httpd (pid N) already running"). At the end: no line
        # of the host's file moves.
        (root / "run").mkdir(parents=True, exist_ok=True)
        out.append(f'PidFile "{root}/run/httpd.pid"')
    if main and not re.search(r"^\s*LoadModule\s+mpm_", text, re.I | re.M):
        out.insert(0, f"LoadModule mpm_prefork_module {MODULES / 'mod_mpm_prefork.so'}")
    return "\n".join(out)


def debianize(host: Path, config: str, root: Path, binary: str) -> Adapted:
    """Copy the folder of ``config`` (a host path) from the host tree into ``root``, adapted."""
    builtin = builtin_modules(binary)
    folder = Path(config).parent
    src = host / folder.relative_to("/")
    dst = root / folder.relative_to("/")
    adapted = Adapted(root, root / Path(config).relative_to("/"))
    for path in sorted(src.rglob("*")):
        target = dst / path.relative_to(src)
        if path.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.readlink(path), target)
        elif path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            data = path.read_bytes()
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = data.decode("latin-1")
            main = target == adapted.config
            target.write_text(_adapt_text(text, root, builtin, main), encoding="utf-8")
            adapted.files.append(target)
    # LocalTree(root) sees root's own path as the host's /: the adapted absolute paths resolve.
    loop = root / str(root).lstrip("/")
    loop.parent.mkdir(parents=True, exist_ok=True)
    if not loop.is_symlink():
        os.symlink("/", loop)
    return adapted


def run(binary: str, config: Path, *defines: str) -> subprocess.CompletedProcess:
    args = [binary, "-t", "-f", str(config)]
    for name in defines:
        args += ["-D", name]
    env = {**os.environ, "APACHE_RUN_DIR": str(config.parent), "APACHE_LOG_DIR": str(config.parent),
           "APACHE_PID_FILE": str(config.parent / "httpd.pid"), "APACHE_LOCK_DIR": str(config.parent)}
    return subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)


def strip_root(path: str, root: Path) -> str:
    prefix = str(root)
    return path[len(prefix):] if path.startswith(prefix + "/") else path


@dataclass
class DumpedVhost:
    address: str  # "*:80", "[2001:db8::1]:443"
    name: str
    aliases: list[str] | None  # None: Apache does not list them (an address with one vhost)
    file: str
    line: int


_SINGLE = re.compile(r"^(\S+)\s+(\S+) \((.+):(\d+)\)$")
_NAMED_ADDR = re.compile(r"^(\S+)\s+is a NameVirtualHost$")
_NAMED = re.compile(r"^\s+port (\S+) namevhost (\S+) \((.+):(\d+)\)$")
_ALIAS = re.compile(r"^\s+(?:wild )?alias (\S+)$")


def dump_vhosts(output: str, root: Path) -> list[DumpedVhost]:
    """The virtual hosts of ``apache2 -t -D DUMP_VHOSTS`` (the "default server" lines skipped,
    they repeat a namevhost line)."""
    vhosts: list[DumpedVhost] = []
    address: str | None = None
    current: DumpedVhost | None = None
    for line in output.splitlines():
        if m := _NAMED_ADDR.match(line):
            address, current = m.group(1), None
        elif m := _NAMED.match(line):
            current = DumpedVhost(address or "?", m.group(2), [],
                                  strip_root(m.group(3), root), int(m.group(4)))
            vhosts.append(current)
        elif (m := _ALIAS.match(line)) and current is not None and current.aliases is not None:
            current.aliases.append(m.group(1))
        elif (m := _SINGLE.match(line)) and not line.startswith(" "):
            address, current = None, None
            vhosts.append(DumpedVhost(m.group(1), m.group(2), None,
                                      strip_root(m.group(3), root), int(m.group(4))))
    return vhosts


def dump_includes(output: str, root: Path) -> list[str]:
    """The files of ``apache2 -t -D DUMP_INCLUDES``, in reading order, host paths."""
    out: list[str] = []
    for line in output.splitlines():
        m = re.match(r"^\s+\((?:\*|\d+)\) (.+)$", line)
        if m:
            out.append(strip_root(m.group(1), root))
    return out
