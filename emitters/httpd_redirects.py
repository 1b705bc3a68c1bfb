"""The old web server's redirects and rewrites of Mailman's URLs, as httpd.conf(5) locations.

The Apache reader records each ``Redirect``, ``RedirectMatch`` and ``RewriteRule`` that
touches Mailman's URLs (``WebAlias``: pattern, target, status code, flags, conditions, the
section and virtual host it is in, its file and line). This module decides, for the release of
the new host, which of them httpd can answer the same way, and writes those as

* ``location "PATH" { block return CODE "URI" }`` (shell glob; every release from 5.7), or
* ``location match "LUA" { block return CODE "URI%1" }`` (a Lua pattern, patterns(7), whose
  captures ``%1``... the URI may use: OpenBSD 5.8 and later, httpd.conf(5) rev 1.68,
  2015-07-19; 5.7's httpd.conf(5) rev 1.53 has neither ``location match`` nor ``%n``).

What httpd cannot express is a finding (``plan.web-redirect-not-carried``, a warning with the
Apache line's file and line, naming an old URL that will answer differently):

* a rule with ``RewriteCond`` lines, inside ``<Directory>``/``<Location>``, with a negated
  pattern or a flag httpd has no counterpart for (``NC``, ``QSA``, ``PT``...);
* an internal rewrite (a RewriteRule without a redirect): the plan carries redirects only;
* a regular expression beyond what Lua patterns share with PCRE (alternation, counted
  repeats, repeated groups, back references, look-arounds) or any pattern on OpenBSD 5.7
  other than a fixed path;
* a target that uses an Apache variable httpd lacks (``%{HTTP_HOST}``: ``$HTTP_HOST`` is in
  httpd.conf(5) from rev 1.84, taken as OpenBSD 6.2; rev 1.73 of 6.0 lacks it) or holds
  characters httpd.conf cannot quote (a quote, a backslash, ``$``) or would read as a
  capture (``%`` before a digit).

A redirect to a path (``/mailman/listinfo``) is answered with that path as the Location (the
browser resolves it against the address it asked for, as it did Apache's absolute one). The
query string of the request is not appended, where Apache appended it.

Order: httpd takes the first location that matches; Apache ran mod_rewrite's rules before
mod_alias, and mod_alias's redirects before its aliases (the virtual host's before the main
server's). The carried locations therefore come first in the server block, in that order,
before Mailman's ``/mailman/``, ``/pipermail/`` and ``/icons/`` locations: a redirect shadows
them exactly where Apache's shadowed its ScriptAlias and Alias.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from migrate.model import Finding, Inventory, Severity, WebAlias, WebAliasKind, WebVirtualHost

from migrate.emitters.common import HTTPD_CONF, overlay_hint
from migrate.emitters.guard import UnsafeValue, conf_str
from migrate.emitters.release import Release

#: Apache variables of a RewriteRule's substitution that httpd has as runtime macros.
_MACROS = {"REQUEST_URI", "QUERY_STRING", "SERVER_NAME", "DOCUMENT_URI", "REMOTE_ADDR",
           "SERVER_ADDR", "SERVER_PORT", "HTTP_HOST"}
#: RewriteRule flags whose effect a ``block return`` has too (or that change nothing there).
_FLAGS_OK = {"l", "last", "end", "r", "redirect", "ne", "noescape", "f", "forbidden", "g", "gone"}
_GLOB = set("*?[")


@dataclass(frozen=True)
class Location:
    """One location section of httpd.conf that answers with a status (and a redirect URI).

    ``pattern`` and ``target`` are as they go between the quotes: ``translate`` builds them
    from pieces checked by ``guard.conf_str`` (no quote, backslash, ``$`` or control
    character from the old host), adding only its own ``%n`` captures and ``$MACRO`` names."""

    pattern: str
    match: bool  # location match (a Lua pattern) rather than location (a shell glob)
    code: int
    target: str | None = None

    def lines(self) -> list[str]:
        head = "location match" if self.match else "location"
        ret = f"block return {self.code}" + (f' "{self.target}"' if self.target is not None
                                             else "")
        return [f'\t{head} "{self.pattern}" {{', f"\t\t{ret}", "\t}"]


#: The plan's own answer for ``/``: Mailman's list overview (built into every server block).
ROOT = Location("/", False, 302, "/mailman/listinfo")


@dataclass
class Carried:
    """An old redirect or rewrite and what the new httpd.conf does with it."""

    alias: WebAlias
    vhost: WebVirtualHost | None  # None: the main server's
    locations: list[Location] = field(default_factory=list)
    lost: str | None = None  # why it, or part of it, is not carried
    lost_path: str | None = None  # an old path that answers differently (None: unknown)
    sample: str | None = None  # a path a carried location answers (for the post-checks)
    expect: str | None = None  # the Location it answers ``sample`` with (None: no check)

    @property
    def builtin(self) -> bool:
        """The plan's own ``location "/"`` already answers it."""
        return self.locations == [ROOT] and self.lost is None

    @property
    def ignored(self) -> bool:
        """Apache ignored it (RewriteEngine not on): so does the new host, without a word."""
        return not self.alias.enabled

    @property
    def scheme(self) -> str:
        return "https" if self.vhost is not None and self.vhost.tls else "http"


# --- Lua patterns ---------------------------------------------------------------------------

_LUA_MAGIC = set("^$()%.[]*+-?")


def _lua_literal(text: str) -> str:
    return "".join("%" + c if c in _LUA_MAGIC else c for c in text)


def _lua_class(regex: str, start: int) -> tuple[str, int] | None:
    """Translate the bracket expression at ``start``; (Lua class, index after it) or None."""
    out = ["["]
    i = start + 1
    if i < len(regex) and regex[i] == "^":
        out.append("^")
        i += 1
    first = True
    while i < len(regex):
        c = regex[i]
        if c == "]" and not first:
            out.append("]")
            return "".join(out), i + 1
        if c == "[" and regex.startswith("[:", i):
            return None
        if c == "\\" and i + 1 < len(regex):
            e = regex[i + 1]
            if e in "dsw":
                out.append("%" + e)
            elif e.isalnum():
                return None
            else:
                out.append("%" + e)
            i += 2
        else:
            out.append("%" + c if c in "%]" else c)
            i += 1
        first = False
    return None


def regex_to_lua(regex: str) -> str | None:
    """The Lua pattern (patterns(7), which ``location match`` uses) for a PCRE regex, when the
    regex keeps to what both share: literals, ``.``, classes, ``\\d \\s \\w``, ``* + ?`` and
    ``*?`` on one item, captures, anchors. None for anything else (alternation, counted or
    grouped repeats, back references, look-arounds, inline flags)."""
    out: list[str] = []
    depth = 0
    repeatable = False  # the last item is a single character or class
    i = 0
    n = len(regex)
    while i < n:
        c = regex[i]
        item: str | None = None
        if c == "^" and i == 0:
            out.append("^")
        elif c == "$" and i == n - 1:
            out.append("$")
        elif c == "\\":
            if i + 1 >= n:
                return None
            e = regex[i + 1]
            if e in "ds":
                item = "%" + e
            elif e == "w":
                item = "[%w_]"
            elif e.isalnum():
                return None
            else:
                item = _lua_literal(e)
            i += 1
        elif c == "(":
            if regex.startswith("(?", i):
                return None
            depth += 1
            out.append("(")
        elif c == ")":
            if depth == 0:
                return None
            depth -= 1
            out.append(")")
        elif c == "[":
            translated = _lua_class(regex, i)
            if translated is None:
                return None
            out.append(translated[0])
            i = translated[1]
            repeatable = True
            continue
        elif c in "*+?":
            if not repeatable:
                return None
            if i + 1 < n and regex[i + 1] in "?+":
                if c != "*" or regex[i + 1] != "?":
                    return None
                out.append("-")
                i += 1
            else:
                out.append(c)
        elif c in "{|^$":
            return None
        else:
            item = "." if c == "." else _lua_literal(c)
        if item is not None:
            out.append(item)
        repeatable = item is not None
        i += 1
    return "".join(out) if depth == 0 else None


def _fixed_path(regex: str) -> str | None:
    """The one path an anchored regex without any pattern matches (``^/lists/?$`` is not one;
    ``^/$`` and ``^/?$`` both mean ``/``: a request path is never empty)."""
    if regex in ("^/$", "^/?$"):
        return "/"
    if not (regex.startswith("^/") and regex.endswith("$")):
        return None
    body, out, i = regex[1:-1], [], 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body) and not body[i + 1].isalnum():
            out.append(body[i + 1])
            i += 2
            continue
        if c in ".[]()*+?{}|^$\\":
            return None
        out.append(c)
        i += 1
    return "".join(out)


def _sample(regex: str) -> str | None:
    """A short request path the regex matches (each repeat taken the fewest times, a class
    by a character it holds), for a post-check; None when none is found simply."""
    out: list[str] = []
    i = 0
    n = len(regex)
    while i < n:
        c = regex[i]
        if (c == "^" and i == 0) or (c == "$" and i == n - 1) or c in "()":
            i += 1
            continue
        if c == "\\" and i + 1 < n:
            e = regex[i + 1]
            item = {"d": "1", "w": "a"}.get(e, None if e.isalnum() else e)
            i += 2
        elif c == "[":
            end = regex.find("]", i + 2)
            if end < 0:
                return None
            body = regex[i + 1:end]
            if body.startswith("^"):
                item = next((ch for ch in "ax1_" if ch not in body[1:]), None)
            else:
                item = next((ch for ch in body if ch.isalnum() or ch in "-_."), None)
            i = end + 1
        elif c == ".":
            item, i = "x", i + 1
        else:
            item, i = c, i + 1
        if item is None:
            return None
        if i < n and regex[i] in "*?":
            i += 2 if i + 1 < n and regex[i + 1] == "?" else 1
            continue  # taken zero times
        if i < n and regex[i] == "+":
            i += 1
        out.append(item)
    sample = "".join(out)
    try:
        if not re.fullmatch(r"/[A-Za-z0-9._~/-]*", sample) or re.search(regex, sample) is None:
            return None
    except re.error:
        return None
    return sample


# --- targets --------------------------------------------------------------------------------


class _Refused(Exception):
    """A target or pattern httpd cannot take, with the reason in words."""


def _literal(text: str) -> str:
    """A piece of a URI taken from the old host, checked for httpd.conf's quotes."""
    try:
        conf_str(text)  # refuses a quote, a backslash, ``$`` and control characters
    except UnsafeValue:
        raise _Refused("its target holds characters httpd.conf cannot quote (a quote, a "
                       "backslash, $ or a control character)") from None
    if re.search(r"%[0-9]", text):
        raise _Refused("its target holds a % before a digit, which httpd reads as a capture")
    return text


def _redirect_match_target(target: str, groups: int) -> str:
    """RedirectMatch's target (``ap_pregsub``: ``$N`` and ``&`` for the match, ``\\$`` and
    ``\\&`` for the characters) with httpd's captures ``%N``."""
    out: list[str] = []
    piece: list[str] = []
    i = 0
    while i < len(target):
        c = target[i]
        if c == "\\" and i + 1 < len(target) and target[i + 1] in "$&":
            piece.append(target[i + 1])
            i += 2
            continue
        no = None
        if c == "&":
            no, i = 0, i + 1
        elif c == "$" and i + 1 < len(target) and target[i + 1].isdigit():
            no, i = int(target[i + 1]), i + 2
        if no is None:
            piece.append(c)
            i += 1
            continue
        if no > groups:
            raise _Refused(f"its target uses ${no}, which its pattern does not capture")
        out += [_literal("".join(piece)), f"%{no}"]
        piece = []
    return "".join(out) + _literal("".join(piece))


def _rewrite_target(target: str, groups: int, release: Release) -> str:
    """A RewriteRule's substitution (``$N`` the rule's captures, ``%{VAR}`` a variable,
    ``\\`` escaping the next character) with httpd's captures and macros."""
    out: list[str] = []
    piece: list[str] = []

    def flush() -> None:
        out.append(_literal("".join(piece)))
        piece.clear()

    i = 0
    while i < len(target):
        c = target[i]
        if c == "\\" and i + 1 < len(target):
            piece.append(target[i + 1])
            i += 2
            continue
        if c == "$" and i + 1 < len(target) and target[i + 1].isdigit():
            no = int(target[i + 1])
            if no > groups:
                raise _Refused(f"its substitution uses ${no}, which its pattern does not "
                               "capture")
            flush()
            out.append(f"%{no}")
            i += 2
            continue
        if c == "%":
            m = re.match(r"%\{([A-Za-z0-9_:]+)\}", target[i:])
            if not m:
                raise _Refused("its substitution uses a RewriteCond back reference (%N)")
            name = m.group(1).upper()
            if name not in _MACROS:
                raise _Refused(f"its substitution uses the Apache variable %{{{m.group(1)}}}, "
                               "which httpd does not have")
            if name == "HTTP_HOST" and not release.httpd_host_macro:
                raise _Refused(f"its substitution uses %{{HTTP_HOST}}; httpd has $HTTP_HOST "
                               f"from OpenBSD 6.2, not on {release}")
            flush()
            out.append("$" + name)
            i += m.end()
            continue
        piece.append(c)
        i += 1
    flush()
    return "".join(out)


def _pattern(regex: str) -> str:
    lua = regex_to_lua(regex)
    if lua is None:
        raise _Refused("its regular expression has no Lua pattern equivalent (httpd's "
                       "location match takes Lua patterns, patterns(7))")
    try:
        conf_str(lua.replace("$", ""))  # ``$`` is the pattern's anchor: httpd.conf keeps it
    except UnsafeValue:
        raise _Refused("its pattern holds characters httpd.conf cannot quote") from None
    return lua


def _path(path: str) -> str:
    """A fixed path for ``location "PATH"`` (a shell glob: no glob characters in it)."""
    if _GLOB & set(path):
        raise _Refused("its path holds shell glob characters (* ? [), which httpd's location "
                       "would read as a pattern")
    try:
        conf_str(path)
    except UnsafeValue:
        raise _Refused("its path holds characters httpd.conf cannot quote") from None
    return path


def _groups(regex: str) -> int:
    try:
        return re.compile(regex).groups
    except re.error:
        return 0


def _expected(regex: str, sample: str | None, target: str | None) -> str | None:
    """The Location httpd answers ``sample`` with, or None (no sample, or runtime macros)."""
    if sample is None or target is None or "$" in target:
        return None
    m = re.search(regex, sample)
    return re.sub(r"%([0-9])", lambda c: m.group(int(c.group(1))) or "", target) if m else None


# --- one directive --------------------------------------------------------------------------


def translate(alias: WebAlias, vhost: WebVirtualHost | None, release: Release) -> Carried:
    """What the new httpd.conf does with one old redirect or rewrite."""
    out = Carried(alias, vhost)
    try:
        if alias.section is not None:
            raise _Refused(f"it is inside {alias.section}")
        if alias.kind == WebAliasKind.REDIRECT:
            _redirect(out, alias, release)
        elif alias.kind == WebAliasKind.REDIRECT_MATCH:
            _redirect_match(out, alias, release)
        elif alias.kind == WebAliasKind.REWRITE_RULE:
            _rewrite(out, alias, release)
        else:
            raise _Refused("it is not a redirect")
    except _Refused as why:
        out.locations, out.lost, out.sample, out.expect = [], str(why), None, None
        if out.lost_path is None:
            fixed = alias.url_path if alias.kind == WebAliasKind.REDIRECT else \
                _fixed_path(alias.url_path) or _sample(alias.url_path)
            out.lost_path = fixed if fixed and fixed.startswith("/") else None
    return out


def _redirect(out: Carried, alias: WebAlias, release: Release) -> None:
    """``Redirect [status] /path target``: the path and every path below it (``/path/...``),
    the rest of the path appended to the target."""
    url, code = alias.url_path, alias.code
    if code is None:
        raise _Refused("its status is not an HTTP status code")
    if not url.startswith("/"):
        raise _Refused("its URL path does not start with /")
    moved = 300 <= code < 400
    if moved and not alias.target:
        raise _Refused("it has no target URL")
    target = _literal(alias.target) if moved else None
    exact = Location(_path(url), False, code, target)
    out.sample, out.expect = url, target
    if not moved:  # gone, forbidden...: no remainder to carry; a glob does it in any release
        below = Location(_path(url.rstrip("/") + "/") + "*", False, code)
        out.locations = [below] if url.endswith("/") else [exact, below]
        return
    lua = _lua_literal(url.rstrip("/"))
    if url.endswith("/"):
        if not release.httpd_location_match:
            out.locations = [exact]
            out.lost = (f"the paths below {url} need httpd's location match, which came "
                        f"in OpenBSD 5.8 (not on {release})")
            out.lost_path = url + "x"
            return
        out.locations = [Location(f"^{lua}/(.*)$", True, code, f"{target}%1")]
        return
    out.locations = [exact]
    if not release.httpd_location_match:
        out.lost = (f"the paths below {url}/ need httpd's location match, which came in "
                    f"OpenBSD 5.8 (not on {release})")
        out.lost_path = url + "/x"
        return
    out.locations.append(Location(f"^{lua}(/.*)$", True, code, f"{target}%1"))


def _redirect_match(out: Carried, alias: WebAlias, release: Release) -> None:
    regex, code = alias.url_path, alias.code
    if code is None:
        raise _Refused("its status is not an HTTP status code")
    moved = 300 <= code < 400
    if moved and not alias.target:
        raise _Refused("it has no target URL")
    fixed = _fixed_path(regex)
    groups = _groups(regex)
    target = _redirect_match_target(alias.target, groups) if moved else None
    _place(out, regex, fixed, code, target, release)


def _rewrite(out: Carried, alias: WebAlias, release: Release) -> None:
    regex, code = alias.url_path, alias.code
    if not alias.enabled:
        return  # Apache ignores it: nothing to carry, nothing lost
    if alias.conditions:
        raise _Refused(f"it has {len(alias.conditions)} RewriteCond line(s) "
                       f"({alias.conditions[0]})")
    for word in alias.flags:
        if word.partition("=")[0] not in _FLAGS_OK:
            raise _Refused(f"its flag {word.upper()} has no httpd counterpart")
    if regex.startswith("!"):
        raise _Refused("its pattern is negated")
    if code is None and any(w.partition("=")[0] in ("r", "redirect") for w in alias.flags):
        raise _Refused("its redirect status is not an HTTP status code")
    external = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", alias.target) is not None
    if code is None and not external:
        if alias.target == "-":
            raise _Refused("it only sets flags")
        raise _Refused("it rewrites the request inside the server (no redirect), which the "
                       "plan does not carry")
    code = code or 302
    moved = 300 <= code < 400
    if moved and alias.target == "-":
        raise _Refused("it redirects without a substitution")
    fixed = _fixed_path(regex)
    target = _rewrite_target(alias.target, _groups(regex), release) if moved else None
    _place(out, regex, fixed, code, target, release)


def _place(out: Carried, regex: str, fixed: str | None, code: int, target: str | None,
           release: Release) -> None:
    """A location for a regex: a fixed path as ``location``, anything else ``location match``."""
    if fixed is not None:
        if target is not None and re.search(r"%[0-9]", target):
            raise _Refused("its target uses a capture of a pattern without one")
        out.locations = [Location(_path(fixed), False, code, target)]
        out.sample, out.expect = fixed, None if target is None or "$" in target else target
        return
    if not release.httpd_location_match:
        raise _Refused(f"its pattern needs httpd's location match, which came in OpenBSD 5.8 "
                       f"(not on {release})")
    out.locations = [Location(_pattern(regex), True, code, target)]
    out.sample = _sample(regex)
    out.expect = _expected(regex, out.sample, target)


# --- per web name ---------------------------------------------------------------------------


def old_redirects(inv: Inventory, name: str) -> list[tuple[WebAlias, WebVirtualHost | None]]:
    """The old web server's redirects and rewrites that answered for the web name ``name``,
    in the order Apache tried them: for each virtual host of that name, its RewriteRules, then
    its Redirect lines, then the main server's Redirect lines (which every virtual host
    inherits). The main server's RewriteRules only count when the old host had no virtual
    hosts (mod_rewrite does not pass them on)."""
    web = inv.web
    if web is None:
        return []
    main = [a for a in web.redirects if a.kind != WebAliasKind.REWRITE_RULE]
    if not web.virtual_hosts:
        rules = [a for a in web.redirects if a.kind == WebAliasKind.REWRITE_RULE]
        return [(a, None) for a in rules + main]
    out: list[tuple[WebAlias, WebVirtualHost | None]] = []
    for vh in web.virtual_hosts:
        names = {n.lower() for n in [vh.server_name, *vh.server_aliases] if n}
        if name.lower() not in names:
            continue
        mine = [a for a in vh.aliases if a.kind.redirects]
        out += [(a, vh) for a in mine if a.kind == WebAliasKind.REWRITE_RULE]
        out += [(a, vh) for a in mine if a.kind != WebAliasKind.REWRITE_RULE]
    return out + [(a, None) for a in main]


def plan_redirects(inv: Inventory, names: list[str], release: Release
                   ) -> dict[str, list[Carried]]:
    """For each web name, what the new httpd.conf does with the old redirects of that name."""
    return {name: [translate(a, vh, release) for a, vh in old_redirects(inv, name)]
            for name in names}


def server_locations(carried: list[Carried]) -> list[tuple[Location, WebAlias]]:
    """The locations a server block gets, in order, each with the old directive it carries;
    without repeats and without the plan's own ``location "/"`` (every server block ends
    with it)."""
    out: list[tuple[Location, WebAlias]] = []
    for c in carried:
        if c.builtin:
            continue
        for loc in c.locations:
            if all(loc != have for have, _ in out):
                out.append((loc, c.alias))
    return out


def not_carried(plan: dict[str, list[Carried]]) -> list[Finding]:
    """One warning per old redirect httpd cannot answer (or answers only in part)."""
    findings: list[Finding] = []
    seen: set[tuple] = set()
    for name, carried in plan.items():
        for c in carried:
            if c.lost is None or c.ignored:
                continue
            key = (c.alias.line, str(c.alias.source))
            if key in seen:
                continue
            seen.add(key)
            directive = (c.alias.line or c.alias.kind.value).split(None, 1)[0]
            where = f"<VirtualHost> {c.vhost.server_name}" if c.vhost is not None and \
                c.vhost.server_name else "the main server"
            url = f"{c.scheme}://{name}{c.lost_path}" if c.lost_path else \
                f"{c.scheme}://{name}/ addresses matching {c.alias.url_path}"
            part = "in part " if c.locations else ""
            findings.append(Finding(
                "plan.web-redirect-not-carried", Severity.WARNING,
                f"{directive} of {where} is {part}not carried into httpd.conf: {c.lost}: "
                f"{c.alias.line or c.alias.url_path}",
                f"{url} will no longer redirect as it did on the old host: the new host "
                "answers it like any other path (most likely 404). If the old address is still "
                "linked, redirect it where the release can express it, "
                f"{overlay_hint(HTTPD_CONF)}, or tell its users the new address.",
                c.alias.source))
    return findings
