"""FreeBSD's ``/etc/rc.conf`` family and the OS release files.

rc.conf is a /bin/sh fragment that FreeBSD's rc scripts source: ``/etc/rc.conf``, then
``/etc/rc.conf.local``, then ``/etc/rc.conf.d/*`` (later assignments win). It is read here as
the plain variable assignments it is meant to hold, never executed: single quotes are literal,
double quotes and bare words expand ``$VAR``/``${VAR}`` from earlier assignments, a ``#`` at
the start of a word begins a comment, backslash-newline and open quotes continue a value on the
next line. Command substitutions and shell statements are findings, not evaluated.

From the variables come the host name, interfaces and addresses (``ifconfig_IF``,
``ifconfig_IF_ipv6``, ``ifconfig_IF_aliasN``, ``ipv4_addrs_IF``, the old ``ipv6_ifconfig_IF``),
the default routers and the services (``NAME_enable`` with ``NAME_flags``; YES, TRUE, ON and 1
are yes, in any case, as rc.subr's checkyesno has it).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from migrate.core.model import (AddressFamily, ConfigFile, Finding, Host, HostName, Interface,
                                IPAddress, NameUse, RcVar, Service, Severity, Source)
from parsers.base import Tree, read_text

RC_FILES = ("/etc/rc.conf", "/etc/rc.conf.local")
RC_DIR = "/etc/rc.conf.d"

#: ifconfig's address family words (``inet 192.0.2.1``, ``inet6 2001:db8::1``)
_FAMILIES = tuple(AddressFamily)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IFCONFIG = re.compile(
    r"^ifconfig_(?P<iface>[A-Za-z0-9_]+?)(?:_(?P<kind>ipv6|alias\d*|name|descr))?$")
_IPV6_IFCONFIG = re.compile(r"^ipv6_ifconfig_(?P<iface>[A-Za-z0-9_]+?)(?:_(?P<kind>alias\d+))?$")
_IPV4_ADDRS = re.compile(r"^ipv4_addrs_(?P<iface>[A-Za-z0-9_]+)$")
_YES = {"yes", "true", "on", "1"}


@dataclass
class RcResult:
    host: Host = field(default_factory=Host)
    findings: list[Finding] = field(default_factory=list)
    files: list[ConfigFile] = field(default_factory=list)


class _ShellError(Exception):
    pass


def _expand(text: str, env: dict[str, str], on_subst: list[str]) -> str:
    """Expand $VAR and ${VAR} (and ${VAR:-default}) from env; unknown variables are empty."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if ch == "`" or text.startswith("$(", i):
            on_subst.append(text[i:])
            out.append(text[i:])
            break
        if ch == "$":
            if text.startswith("${", i):
                end = text.find("}", i)
                if end < 0:
                    raise _ShellError("unterminated ${")
                inner = text[i + 2:end]
                name, _, default = inner.partition(":-")
                out.append(env.get(name) or default)
                i = end + 1
                continue
            m = _NAME.match(text, i + 1)
            if m:
                out.append(env.get(m.group(0), ""))
                i = m.end()
                continue
        out.append(ch)
        i += 1
    return "".join(out)


def _skip_substitution(text: str, j: int) -> int:
    """The index after a ``$(...)`` or backtick substitution starting at ``j``."""
    if text[j] == "`":
        end = text.find("`", j + 1)
        if end < 0:
            raise _ShellError("open")
        return end + 1
    depth = 0
    for k in range(j + 1, len(text)):
        if text[k] == "(":
            depth += 1
        elif text[k] == ")":
            depth -= 1
            if depth == 0:
                return k + 1
    raise _ShellError("open")


def _parse_value(text: str, env: dict[str, str], on_subst: list[str]) -> tuple[str, str]:
    """Read one shell word (the value after ``NAME=``). Returns (value, rest of the line).

    Raises ``_ShellError`` with "open" when a quote is still open at the end of ``text``.
    """
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in " \t;":
            break
        if ch == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise _ShellError("open")
            out.append(text[i + 1:end])
            i = end + 1
        elif ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            if j >= n:
                raise _ShellError("open")
            out.append(_expand(text[i + 1:j], env, on_subst))
            i = j + 1
        else:
            j = i
            while j < n and text[j] not in " \t;'\"":
                if text.startswith("$(", j) or text[j] == "`":
                    j = _skip_substitution(text, j)
                    continue
                j += 2 if text[j] == "\\" else 1
            out.append(_expand(text[i:j], env, on_subst))
            i = j
    return "".join(out), text[i:]


def parse_rc_text(lines: list[str], file: str, env: dict[str, str],
                  sources: dict[str, Source], findings: list[Finding]) -> None:
    """Apply the assignments of one rc.conf-style file to ``env`` (name -> value)."""
    i = 0
    while i < len(lines):
        start = i + 1
        line = lines[i]
        i += 1
        # Backslash-newline joins lines (outside quotes the backslash and newline vanish).
        while line.endswith("\\") and i < len(lines):
            line = line[:-1] + lines[i]
            i += 1
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        while stripped:
            m = re.match(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=", stripped)
            if not m:
                findings.append(Finding(
                    "rcconf.statement", Severity.WARNING,
                    f"not a variable assignment, ignored: {stripped[:60]!r}",
                    "rc.conf should hold only NAME=\"value\" lines; check by hand what this "
                    "line did on the old host.", Source(file, start)))
                break
            name = m.group(1)
            rest = stripped[m.end():]
            subst: list[str] = []
            while True:
                try:
                    value, rest = _parse_value(rest, env, subst)
                    break
                except _ShellError as exc:
                    if str(exc) == "open" and i < len(lines):
                        rest += "\n" + lines[i]  # a quoted value spanning lines
                        i += 1
                        continue
                    findings.append(Finding(
                        "rcconf.syntax", Severity.ERROR,
                        f"{name}: unterminated quote or expansion",
                        "Close the quote; /bin/sh stops reading rc.conf here on the old host.",
                        Source(file, start)))
                    return
            if subst:
                findings.append(Finding(
                    "rcconf.substitution", Severity.WARNING,
                    f"{name} runs a command ({subst[0][:40]!r}); kept verbatim, not run",
                    "Replace it with the value it produced on the old host.",
                    Source(file, start)))
            env[name] = value
            sources[name] = Source(file, start)
            rest = rest.strip()
            if rest.startswith(";"):
                rest = rest[1:].strip()
            if rest.startswith("#") or not rest:
                break
            stripped = rest


def _prefix_from_netmask(mask: str) -> int | None:
    try:
        value = int(mask, 16) if mask.lower().startswith("0x") else int(
            ipaddress.IPv4Address(mask))
    except ValueError:
        return None
    bits = bin(value)[2:].zfill(32)
    if "01" in bits or len(bits) != 32:
        return None
    return bits.count("1")


def _addresses_from_words(words: list[str], iface: str, alias: bool, source: Source,
                          host: Host, findings: list[Finding]) -> None:
    """Read ``inet ADDR netmask M`` / ``inet6 ADDR prefixlen N`` / CIDR forms from ifconfig args."""
    i = 0
    while i < len(words):
        word = words[i]
        lower = word.lower()
        if lower in ("dhcp", "syncdhcp"):
            _interface(host, iface, source).dhcp = True
        elif lower in ("accept_rtadv", "autoconf"):
            _interface(host, iface, source).autoconf = True
        elif lower in _FAMILIES and i + 1 < len(words):
            family = AddressFamily(lower)
            raw = words[i + 1]
            i += 2
            if family == AddressFamily.INET6 and raw.lower() in ("accept_rtadv", "-accept_rtadv",
                                                                 "autoconf"):
                if not raw.startswith("-"):
                    _interface(host, iface, source).autoconf = True
                continue
            addr, _, plen = raw.partition("/")
            prefix: int | None = int(plen) if plen.isdigit() else None
            if i + 1 < len(words) and words[i].lower() in ("netmask", "prefixlen"):
                key, val = words[i].lower(), words[i + 1]
                prefix = _prefix_from_netmask(val) if key == "netmask" else (
                    int(val) if val.isdigit() else None)
                i += 2
            try:
                ip = ipaddress.ip_address(addr.split("%")[0])
            except ValueError:
                findings.append(Finding(
                    "rcconf.address", Severity.WARNING,
                    f"{addr!r} on {iface} is not an IP address",
                    "Check the ifconfig line; the address is left out of the inventory.",
                    source))
                continue
            if (family == AddressFamily.INET) != (ip.version == 4):
                findings.append(Finding(
                    "rcconf.address", Severity.WARNING,
                    f"{addr} on {iface} is given as {family} but is IPv{ip.version}",
                    "Fix the address family in the ifconfig line.", source))
                continue
            _interface(host, iface, source)
            host.addresses.append(IPAddress(str(ip), family, prefix, iface, alias, source))
            continue
        i += 1


def _interface(host: Host, name: str, source: Source) -> Interface:
    for iface in host.interfaces:
        if iface.name == name:
            return iface
    iface = Interface(name, source=source)
    host.interfaces.append(iface)
    return iface


def host_from_rc(env: dict[str, str], sources: dict[str, Source], host: Host,
                 findings: list[Finding]) -> None:
    """Fill host name, interfaces, addresses, routers and services from effective variables."""
    host.rc_conf = [RcVar(k, v, sources.get(k)) for k, v in env.items()]
    if "hostname" in env:
        host.hostname = env["hostname"] or None
        host.hostname_source = sources.get("hostname")
        if host.hostname:
            host.names.append(HostName(host.hostname.lower().rstrip("."), NameUse.HOSTNAME,
                                       "rc.conf hostname", host.hostname_source))
    host.default_router_v4 = env.get("defaultrouter") or None
    host.default_router_v6 = env.get("ipv6_defaultrouter") or None
    # Primary addresses before aliases, otherwise in the order the files give them.
    def is_alias(name: str) -> bool:
        m = _IFCONFIG.match(name)
        return bool(m and (m.group("kind") or "").startswith("alias"))

    for name in sorted(env, key=is_alias):
        value = env[name]
        source = sources.get(name, Source(RC_FILES[0]))
        m = _IFCONFIG.match(name)
        if m and m.group("iface") != "DEFAULT" and m.group("kind") not in ("name", "descr"):
            kind = m.group("kind") or ""
            _addresses_from_words(value.split(), m.group("iface"), kind.startswith("alias"),
                                  source, host, findings)
            continue
        m = _IPV6_IFCONFIG.match(name)
        if m and not name.startswith("ipv6_ifconfig_DEFAULT"):
            words = value.split()
            if words and words[0] != AddressFamily.INET6:
                words = [AddressFamily.INET6, *words]
            _addresses_from_words(words, m.group("iface"), bool(m.group("kind")), source,
                                  host, findings)
            continue
        m = _IPV4_ADDRS.match(name)
        if m:
            for item in value.split():
                _addresses_from_words([AddressFamily.INET, item], m.group("iface"), True, source,
                                      host, findings)
    for name, value in env.items():
        if name.endswith("_enable") and len(name) > len("_enable"):
            svc = name[: -len("_enable")]
            host.services.append(Service(
                svc, value.strip().lower() in _YES, value, env.get(f"{svc}_flags"),
                sources.get(name)))


def parse_rc_conf(tree: Tree) -> RcResult:
    """Read rc.conf, rc.conf.local and rc.conf.d/* in FreeBSD's order into a ``Host``."""
    result = RcResult()
    env: dict[str, str] = {}
    sources: dict[str, Source] = {}
    paths = list(RC_FILES)
    if tree.is_dir(RC_DIR):
        try:
            paths += [f"{RC_DIR}/{name}" for name in tree.list_dir(RC_DIR)
                      if not name.startswith(".")]
        except OSError:
            pass
    found_any = False
    for path in paths:
        tf = read_text(tree, path, "rc.conf", required=(path == RC_FILES[0]))
        result.findings.extend(tf.findings)
        if tf.config:
            result.files.append(tf.config)
        if tf.text is None:
            continue
        found_any = True
        parse_rc_text(tf.lines(), tf.path, env, sources, result.findings)
    if found_any:
        host_from_rc(env, sources, result.host, result.findings)
    return result


# --- OS release ---------------------------------------------------------------------------------

_KV = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def _shell_kv(lines: list[str]) -> dict[str, tuple[str, int]]:
    out: dict[str, tuple[str, int]] = {}
    for number, line in enumerate(lines, start=1):
        m = _KV.match(line)
        if not m:
            continue
        raw = m.group(2).strip()
        try:
            value, _ = _parse_value(raw, {}, [])
        except _ShellError:
            value = raw.strip("\"'")
        out.setdefault(m.group(1), (value, number))
    return out


def parse_os_release(tree: Tree, host: Host) -> list[Finding]:
    """OS and release from ``/bin/freebsd-version`` (authoritative), ``/etc/os-release``, or
    for FreeBSD before 10.0 the first line of ``/etc/motd``."""
    findings: list[Finding] = []
    if tree.exists("/bin/freebsd-version"):
        tf = read_text(tree, "/bin/freebsd-version", "freebsd-version")
        findings += tf.findings
        kv = _shell_kv(tf.lines())
        if "USERLAND_VERSION" in kv:
            value, line = kv["USERLAND_VERSION"]
            host.os, host.release = "FreeBSD", value
            host.os_source = Source(tf.path, line)
            return findings
    for path in ("/etc/os-release", "/usr/lib/os-release", "/var/run/os-release"):
        if not tree.exists(path):
            continue
        tf = read_text(tree, path, "os-release")
        findings += tf.findings
        kv = _shell_kv(tf.lines())
        if "NAME" in kv:
            host.os = kv["NAME"][0]
            version = kv.get("VERSION") or kv.get("VERSION_ID")
            host.release = version[0] if version else None
            host.os_source = Source(tf.path, kv["NAME"][1])
            return findings
    # FreeBSD before 10.0 had neither file: the first line of /etc/motd (rewritten at boot
    # by /etc/rc.d/motd) names the running kernel's release
    if tree.exists("/etc/motd"):
        tf = read_text(tree, "/etc/motd", "motd")
        first = next(iter(tf.lines()), "")
        m = re.match(r"FreeBSD (\d+\.\d+-[A-Z]+[-\w]*)", first)
        if m:
            host.os, host.release = "FreeBSD", m.group(1)
            host.os_source = Source(tf.path, 1)
            findings.append(Finding(
                "host.os-from-motd", Severity.INFO,
                f"FreeBSD {m.group(1)} read from /etc/motd (no /bin/freebsd-version: a release "
                "before 10.0)", "Nothing to do: /etc/motd names the kernel that last booted; "
                "check `uname -r` on the host if in doubt.", Source(tf.path, 1)))
            return findings
    findings.append(Finding(
        "host.os-unknown", Severity.WARNING,
        "cannot tell the operating system: no /bin/freebsd-version or /etc/os-release",
        "Check that the inspected root is the old host's /; paths in the plan assume a "
        "FreeBSD ports layout.", Source("/bin/freebsd-version")))
    return findings
