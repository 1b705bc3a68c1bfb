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
  repeats, repeated groups, back references, look-arounds, a class range from or
  to an escaped character) or beyond httpd's matcher (more than 31 captures, deeper than its
  MAXCCALLS: it then matches nothing), nested deeper than Apache's PCRE allows, or any
  pattern on OpenBSD 5.7 other than a fixed path;
* a path or pattern longer than httpd's location takes (254 characters), a target longer than
  6,144 characters (httpd passes a location and its target in one 16 KiB message): httpd
  would not start, and no page would be served;
* a target that uses an Apache variable httpd lacks (``%{HTTP_HOST}``: ``$HTTP_HOST`` is in
  httpd.conf(5) from rev 1.84, taken as OpenBSD 6.2; rev 1.73 of 6.0 lacks it; ``%{SERVER_NAME}``
  is the name asked for in Apache, the server block's in httpd) or holds
  characters httpd.conf cannot quote (a quote, a backslash, ``$``) or would read as a
  capture (``%`` before a digit);
* what httpd's expansion (server_expand_http) would read otherwise: a digit right after a
  capture (``$1`` then ``0``: httpd takes ``%10`` for capture 10 and closes the connection
  without an answer), a variable followed by a letter, digit or ``_`` (``%{QUERY_STRING}_ENC``
  is httpd's ``$QUERY_STRING_ENC``), an ``&`` of RedirectMatch where the Apache version is
  unknown (2.2's ``ap_pregsub`` read it as the whole match, ``%0``; 2.4's as the character), a
  capture in the target's query string (httpd encodes the capture's ``&``, Apache did not);
* a status httpd answers without a Location (300, 304, 305, 306: it sends one with 301, 302,
  303, 307 and 308 only, where Apache sent one with every 3xx) or does not know;
* on OpenBSD 5.7, a path with a letter: httpd's ``location "PATH"`` matches with
  ``FNM_CASEFOLD`` (``/LISTS`` as ``/lists``) where Apache did not, and 5.7 has no
  ``location match``. From 5.8 such a path is written as the anchored Lua pattern
  ``location match "^/lists$"``, which is case-sensitive like Apache.

A redirect to a path (``/mailman/listinfo``) is answered with that path as the Location (the
browser resolves it against the address it asked for, as it did Apache's absolute one).
Apache appended the request's query string to a target without one; httpd cannot append it
only when there is one: such a redirect is carried without it (``Carried.query``; an info,
``plan.web-redirect-query``, names a URL with a query string whose Location changes). Exact:
a target with its own query string (Apache then dropped the request's), a RewriteRule's target
ending in ``?`` or with the flag QSD (Apache dropped it), and a redirect to the same path at
another address (``Redirect /lists https://new.example/lists``, ``^/(.*)$`` to
``https://new.example/$1``), written ``https://new.example$REQUEST_URI``: httpd's
$REQUEST_URI is the path with the query string.

What "exact" means is proved, not assumed: tests/test_redirect_parity.py asks the real Apache
2.4 and the real OpenBSD httpd the URLs it generates from each pattern (captures, classes,
case, ``_``, digits, ``&``, query strings) and compares status and Location. Limits it does not
cover (crafted addresses, not links that exist): a path holding a decoded line break (Lua's
``.`` and ``$`` take one, PCRE's do not), or a ``%`` in a capture the target puts before
``$2`` (httpd writes that ``%`` as ``%25``, then replaces every ``%2`` it has written).

Order: httpd takes the first location that matches; Apache ran mod_rewrite's rules before
mod_alias, and mod_alias's redirects before its aliases (the virtual host's before the main
server's). The carried locations therefore come first in the server block, in that order,
before Mailman's ``/mailman/``, ``/pipermail/`` and ``/icons/`` locations: a redirect shadows
them exactly where Apache's shadowed its ScriptAlias and Alias.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from migrate.core.model import Finding, Inventory, Severity, WebAlias, WebAliasKind, WebVirtualHost

from emitters.common import HTTPD_CONF, overlay_hint
from emitters.guard import UnsafeValue, conf_str
from emitters.release import Release

#: Apache variables of a RewriteRule's substitution, with the httpd macro that gives the same
#: text: Apache's %{REQUEST_URI} is the path (httpd's $REQUEST_URI adds the query string: its
#: $DOCUMENT_URI is the path). %{SERVER_NAME} is not one: Apache's is the name asked for
#: (UseCanonicalName Off), httpd's the server block's first name.
_MACROS = {"REQUEST_URI": "DOCUMENT_URI", "QUERY_STRING": "QUERY_STRING",
           "REMOTE_ADDR": "REMOTE_ADDR", "SERVER_ADDR": "SERVER_ADDR",
           "SERVER_PORT": "SERVER_PORT", "HTTP_HOST": "HTTP_HOST"}
#: RewriteRule flags whose effect a ``block return`` has too (or that change nothing there).
_FLAGS_OK = {"l", "last", "end", "r", "redirect", "ne", "noescape", "f", "forbidden", "g", "gone",
             "qsd", "qsdiscard"}
#: The statuses httpd sends a Location with (server_abort_http); Apache sends one with any 3xx.
_LOCATION_CODES = {301, 302, 303, 307, 308}
#: The statuses httpd.conf's ``block return`` takes (httpd's http.h; parse.y refuses others).
_HTTPD_CODES = {*range(300, 309), *range(400, 419), 420, *range(422, 427), 428, 429, 431, 451,
                *range(500, 509), 510, 511}
_GLOB = set("*?[")
#: The size of httpd's buffer for a location's path or pattern (httpd.h): parse.y refuses a
#: longer one ("server location truncated"), and httpd does not start.
_LOCATION_MAX = 255
#: The longest redirect target the plan writes. httpd's parent sends each location to its
#: servers in one message of MAX_IMSGSIZE (16 KiB): its settings (about 9 KiB) and its target.
#: A longer target and httpd stops at start ("failed to compose IMSG_CFG_SERVER"), though
#: httpd -n accepts it: 7,175 characters pass with OpenBSD 7.5's code here, 7,176 do not; the
#: rest is a margin for other releases' settings.
_TARGET_MAX = 6144


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
    query: bool = False  # carried without the request's query string, which Apache appended
    #: the plan's own answer already gives it (in part, where ``lost`` says): "root", its
    #: ``location "/"`` (``ListLocations.root``); "https", the HTTP server's redirect of
    #: every request to HTTPS
    builtin: str | None = None

    @property
    def ignored(self) -> bool:
        """Apache ignored it (RewriteEngine not on): so does the new host, without a word."""
        return not self.alias.enabled

    @property
    def scheme(self) -> str:
        return "https" if self.vhost is not None and self.vhost.tls else "http"


# --- Lua patterns ---------------------------------------------------------------------------

_LUA_MAGIC = set("^$()%.[]*+-?")


def lua_literal(text: str) -> str:
    """``text`` as a Lua pattern that matches exactly it."""
    return "".join("%" + c if c in _LUA_MAGIC else c for c in text)


#: Lua's character classes (patterns(7)) as Python's, ASCII as httpd's C locale has them.
_LUA_CLASSES = {"a": "A-Za-z", "d": "0-9", "l": "a-z", "u": "A-Z", "s": " \\t\\n\\v\\f\\r",
                "w": "A-Za-z0-9", "x": "0-9A-Fa-f", "c": "\\x00-\\x1f\\x7f",
                "p": re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")}


def _lua_item(pattern: str, i: int, in_set: bool) -> tuple[str, int]:
    """One character or ``%x`` of a Lua pattern at ``i``, as regex text (inside a set: the
    set's text), and the index after it."""
    c = pattern[i]
    if c == "%" and i + 1 < len(pattern):
        e = pattern[i + 1]
        if e.lower() in _LUA_CLASSES:
            body = _LUA_CLASSES[e.lower()]
            if in_set:
                return (body if e.islower() else ""), i + 2  # a negated class in a set: rare
            return (f"[{body}]" if e.islower() else f"[^{body}]"), i + 2
        return re.escape(e), i + 2
    return (re.escape(c) if c not in "^-]" or not in_set else "\\" + c), i + 1


def lua_regex(pattern: str) -> re.Pattern[str]:
    """A Python regex that matches what the Lua pattern ``pattern`` matches (the part of
    patterns(7) the plan writes: classes, sets, ``. * + - ?``, anchors, captures)."""
    out, i, n = [], 0, len(pattern)
    if pattern.startswith("^"):
        out.append("^")
        i = 1
    while i < n:
        c = pattern[i]
        if c == "$" and i == n - 1:
            out.append("\\Z")
            i += 1
        elif c == "[":
            j, body = i + 1, "["
            if j < n and pattern[j] == "^":
                body, j = "[^", j + 1
            while j < n and (pattern[j] != "]" or j == i + 1):
                if j + 2 < n and pattern[j + 1] == "-" and pattern[j + 2] != "]" \
                        and pattern[j] != "%":
                    body += f"{re.escape(pattern[j])}-{re.escape(pattern[j + 2])}"
                    j += 3
                    continue
                text, j = _lua_item(pattern, j, True)
                body += text
            out.append(body + "]")
            i = j + 1
        elif c == ".":
            out.append(".")
            i += 1
        elif c in "*+?()":
            out.append(c)
            i += 1
        elif c == "-":
            out.append("*?")
            i += 1
        else:
            text, i = _lua_item(pattern, i, False)
            out.append(text)
    return re.compile("".join(out), re.DOTALL)


def lua_search(pattern: str, path: str) -> bool:
    """Whether httpd's ``location match "PATTERN"`` takes ``path`` (string.match: anywhere
    in it unless anchored)."""
    try:
        return lua_regex(pattern).search(path) is not None
    except re.error:
        return False


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
        if c == "-" and not first and regex.startswith("\\", i + 1):
            return None  # a range to an escaped character: Lua reads no range there either
        if c == "\\" and i + 1 < len(regex):
            e = regex[i + 1]
            if e in "ds":
                out.append("%" + e)
            elif e == "w":  # Lua's %w is a letter or digit; PCRE's \w has _ too
                out.append("%w_")
            elif e.isalnum():
                return None
            else:
                out.append("%" + e)
            i += 2
        else:
            out.append("%" + c if c in "%]" else c)
            i += 1
        if out[-1].startswith("%") and regex.startswith("-", i) and \
                not regex.startswith("-]", i):
            return None  # a range from an escaped character: Lua reads no range there
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
                item = lua_literal(e)
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
            item = "." if c == "." else lua_literal(c)
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
    except (re.error, RecursionError):
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


def _join(pieces: list[tuple[str, bool]]) -> str:
    """The target from its pieces (text, True for httpd's own ``%N`` or ``$MACRO``), refusing
    what httpd's expansion would read otherwise: a digit after a capture (``%1`` then ``0`` is
    ``%10``, capture 10: httpd closes the connection without an answer), a letter, digit or
    ``_`` after a macro (``$QUERY_STRING`` then ``_ENC`` is the macro ``$QUERY_STRING_ENC``)."""
    out = ""
    for index, (text, own) in enumerate(pieces):
        after = next((t for t, _ in pieces[index + 1:] if t), "")
        if own and text.startswith("%") and "?" in out:
            raise _Refused("its target puts a capture into the query string, where httpd "
                           "writes an & of the path as %26 and Apache wrote it as &")
        if own and text.startswith("%") and after[:1].isdigit():
            raise _Refused(f"its target has the digit {after[0]} right after a capture, which "
                           f"httpd would read as capture {text[1:]}{after[0]}")
        if own and text.startswith("$") and (after[:1].isalnum() or after[:1] == "_"):
            raise _Refused(f"its target has {after[0]!r} right after a variable, which httpd "
                           f"would read as part of the macro's name ({text}{after[0]}...)")
        out += text
    return out


def _redirect_match_target(target: str, groups: int, apache: str | None) -> str:
    """RedirectMatch's target (``ap_pregsub``: ``$N`` the captures; 2.4 reads ``\\`` as
    escaping any character and ``&`` as itself, 2.2 ``&`` as the whole match and ``\\`` as
    escaping ``$`` and ``&`` only) with httpd's captures ``%N``."""
    pieces: list[tuple[str, bool]] = []
    piece: list[str] = []
    i = 0
    while i < len(target):
        c = target[i]
        if c == "\\" and i + 1 < len(target) and (target[i + 1] in "$&" or apache == "2.4"):
            piece.append(target[i + 1])
            i += 2
            continue
        no = None
        if c == "&" and apache != "2.4":
            if apache != "2.2":
                raise _Refused("its target has &, which Apache 2.2 read as the whole match "
                               "and 2.4 as the character, and the Apache version is unknown")
            no, i = 0, i + 1
        elif c == "$" and i + 1 < len(target) and target[i + 1].isdigit():
            no, i = int(target[i + 1]), i + 2
        if no is None:
            piece.append(c)
            i += 1
            continue
        if no > groups:
            raise _Refused(f"its target uses ${no}, which its pattern does not capture")
        pieces += [(_literal("".join(piece)), False), (f"%{no}", True)]
        piece = []
    return _join(pieces + [(_literal("".join(piece)), False)])


def _rewrite_target(target: str, groups: int, release: Release) -> str:
    """A RewriteRule's substitution (``$N`` the rule's captures, ``%{VAR}`` a variable,
    ``\\`` escaping the next character) with httpd's captures and macros."""
    pieces: list[tuple[str, bool]] = []
    piece: list[str] = []

    def flush() -> None:
        pieces.append((_literal("".join(piece)), False))
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
            pieces.append((f"%{no}", True))
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
            pieces.append(("$" + _MACROS[name], True))
            i += m.end()
            continue
        piece.append(c)
        i += 1
    flush()
    return _join(pieces)


def _pattern(regex: str) -> str:
    lua = regex_to_lua(regex)
    if lua is None:
        raise _Refused("its regular expression has no Lua pattern equivalent (httpd's "
                       "location match takes Lua patterns, patterns(7))")
    try:
        conf_str(lua.replace("$", ""))  # ``$`` is the pattern's anchor: httpd.conf keeps it
    except UnsafeValue:
        raise _Refused("its pattern holds characters httpd.conf cannot quote") from None
    captures, calls = _lua_cost(lua)
    if captures > _LUA_CAPTURES:
        raise _Refused(f"its pattern has {captures} captures; httpd's matcher takes "
                       f"{_LUA_CAPTURES} (patterns.h MAXCAPTURES) and matches nothing beyond")
    if calls > _LUA_CALLS:
        raise _Refused("its pattern is beyond the depth of httpd's matcher (patterns.h "
                       "MAXCCALLS), which then matches nothing")
    return lua


#: httpd's Lua matcher (patterns.c): the captures it keeps besides the whole match, and how
#: deep its match() may recurse (MAXCCALLS, 200: each capture's start and end and each
#: repeated item may nest one level; a margin kept)
_LUA_CAPTURES = 31
_LUA_CALLS = 190


def _lua_cost(lua: str) -> tuple[int, int]:
    """(captures, the deepest nesting of httpd's match() the pattern can reach)."""
    captures = calls = 0
    i, in_class = 0, False
    while i < len(lua):
        c = lua[i]
        if c == "%":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            if lua.startswith("]", i + 1) or lua.startswith("^]", i + 1):
                i += 2  # a first ] is a character of the class
        elif c == "(":
            captures += 1
            calls += 2
        elif c in "*+-?":
            calls += 1
        i += 1
    return captures, calls


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


#: How deep Apache's PCRE nests parentheses (PCRE2's PARENS_NEST_LIMIT): Apache refuses a
#: deeper pattern, and Python's own parser would run out of stack on one a little deeper.
_NEST_LIMIT = 250


def _too_deep(regex: str) -> bool:
    depth = deepest = 0
    escaped = False
    for c in regex:
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif c == ")":
            depth = max(depth - 1, 0)
    return deepest > _NEST_LIMIT


def _groups(regex: str) -> int:
    try:
        return re.compile(regex).groups
    except (re.error, RecursionError):
        return 0


def _expected(regex: str, sample: str | None, target: str | None) -> str | None:
    """The Location httpd answers ``sample`` with, or None (no sample, or runtime macros)."""
    if sample is None or target is None or "$" in target:
        return None
    m = re.search(regex, sample)
    return re.sub(r"%([0-9])", lambda c: m.group(int(c.group(1))) or "", target) if m else None


# --- one directive --------------------------------------------------------------------------


def answers_root(alias: WebAlias) -> bool:
    """Whether an old Redirect, RedirectMatch or RewriteRule pattern matches the site root
    ``/`` (a negated RewriteRule pattern, ``!...``, is taken as not)."""
    if alias.kind == WebAliasKind.REDIRECT:
        return alias.url_path.rstrip("/") == ""
    if alias.url_path.startswith("!"):
        return False
    try:
        return re.search(alias.url_path, "/") is not None
    except (re.error, RecursionError):  # nested too deep
        return False


def translate(alias: WebAlias, vhost: WebVirtualHost | None, release: Release,
              apache: str | None = None) -> Carried:
    """What the new httpd.conf does with one old redirect or rewrite (``apache``: the old
    Apache's version, "2.2" or "2.4", None where unknown)."""
    out = Carried(alias, vhost)
    try:
        if alias.section is not None:
            raise _Refused(f"it is inside {alias.section}")
        if alias.kind != WebAliasKind.REDIRECT and _too_deep(alias.url_path):
            raise _Refused(f"its pattern nests parentheses deeper than {_NEST_LIMIT}, which "
                           "Apache's PCRE refuses")
        if alias.kind == WebAliasKind.REDIRECT:
            _redirect(out, alias, release)
        elif alias.kind == WebAliasKind.REDIRECT_MATCH:
            _redirect_match(out, alias, release, apache)
        elif alias.kind == WebAliasKind.REWRITE_RULE:
            _rewrite(out, alias, release)
        else:
            raise _Refused("it is not a redirect")
        for loc in out.locations:
            if len(loc.pattern) >= _LOCATION_MAX:
                raise _Refused(f"its location would be {len(loc.pattern)} characters long; "
                               f"httpd takes {_LOCATION_MAX - 1} (HTTPD_LOCATION_MAX) and "
                               "would not load httpd.conf")
            if len(loc.target or "") > _TARGET_MAX:
                raise _Refused(f"its target would be {len(loc.target)} characters long; "
                               f"httpd passes a location with its target in one message of "
                               f"16 KiB, and would not start (the plan writes {_TARGET_MAX} "
                               "at most)")
    except _Refused as why:
        out.locations, out.lost, out.sample, out.expect = [], str(why), None, None
        out.query = False
        if out.lost_path is None:
            fixed = alias.url_path if alias.kind == WebAliasKind.REDIRECT else \
                _fixed_path(alias.url_path) or _sample(alias.url_path)
            out.lost_path = fixed if fixed and fixed.startswith("/") else None
    return out


def _moved(code: int | None) -> bool:
    """Whether ``code`` is a redirect (with a Location); refused where httpd cannot answer it
    as Apache did."""
    if code is None:
        raise _Refused("its status is not an HTTP status code")
    if code not in _HTTPD_CODES:
        raise _Refused(f"httpd has no status {code} (httpd.conf would not load)")
    if 300 <= code < 400 and code not in _LOCATION_CODES:
        raise _Refused(f"httpd answers {code} without a Location (it sends one with 301, 302, "
                       "303, 307 and 308 only)")
    return 300 <= code < 400


def _fixed(path: str, code: int, target: str | None, release: Release) -> Location:
    """A location for one fixed path, matched with its case as Apache did: ``location`` (a
    glob, matched with FNM_CASEFOLD) only for a path without letters."""
    _path(path)
    if not re.search("[A-Za-z]", path):
        return Location(path, False, code, target)
    if not release.httpd_location_match:
        raise _Refused(f"its path {path} has letters: httpd's location matches them in any "
                       "case (/LISTS as /lists), and location match, which does not, came in "
                       f"OpenBSD 5.8 (not on {release})")
    return Location(f"^{lua_literal(path)}$", True, code, target)


def _below(path: str, code: int, release: Release) -> Location:
    """A location for every path below the folder ``path`` (ending in /), without a target."""
    if not re.search("[A-Za-z]", path):
        return Location(_path(path) + "*", False, code)
    _fixed(path, code, None, release)  # refused on 5.7
    return Location(f"^{lua_literal(path)}", True, code)


def _query(out: Carried, target: str | None, kept: bool) -> None:
    """Apache appended the request's query string to a target without one (``kept``: a
    RewriteRule dropped it); httpd's ``block return`` cannot add it only when there is one."""
    out.query = target is not None and "?" not in target and kept


def _whole_request(target: str, path: str) -> str | None:
    """``BASE$REQUEST_URI`` for a target that is ``path`` at another address (``BASE``: a
    scheme and a host): httpd's $REQUEST_URI is the request's path with its query string,
    so that redirect keeps the query string as Apache did. None for any other target."""
    m = re.fullmatch(r"([A-Za-z][A-Za-z0-9+.-]*://[^/?#%]+)(/[^?#]*)", target)
    if m is None or m.group(2) != path:
        return None
    return _join([(m.group(1), False), ("$REQUEST_URI", True)])


def _keep_query(regex: str, target: str | None, kept: bool) -> str | None:
    """``^/(.*)$`` to ``BASE/$1`` (where Apache kept the query string): every path to the same
    path at ``BASE``, ``BASE$REQUEST_URI``."""
    if regex != "^/(.*)$" or target is None or not target.endswith("/%1") or not kept:
        return None
    return _whole_request(target[:-2], "/")


def _redirect(out: Carried, alias: WebAlias, release: Release) -> None:
    """``Redirect [status] /path target``: the path and every path below it (``/path/...``),
    the rest of the path appended to the target."""
    url, code = alias.url_path, alias.code
    moved = _moved(code)
    if not url.startswith("/"):
        raise _Refused("its URL path does not start with /")
    if moved and not alias.target:
        raise _Refused("it has no target URL")
    target = _literal(alias.target) if moved else None
    out.sample, out.expect = url, target
    folder = url.rstrip("/") + "/"
    if not moved:  # gone, forbidden...: no remainder to carry
        below = _below(folder, code, release)
        out.locations = [below] if url.endswith("/") else \
            [_fixed(url, code, None, release), below]
        return
    # the same path at another address: the whole request, its query string with it
    whole = _whole_request(target, url)
    _query(out, target, whole is None)
    if not release.httpd_location_match:  # the path itself (a glob), not the paths below
        out.locations = [_fixed(url, code, whole or target, release)]
        out.lost = (f"the paths below {folder} need httpd's location match, which came in "
                    f"OpenBSD 5.8 (not on {release})")
        out.lost_path = folder + "x"
        return
    lua = lua_literal(url.rstrip("/"))
    out.locations = [] if url.endswith("/") else [_fixed(url, code, whole or target, release)]
    below = "/(.*)" if url.endswith("/") else "(/.*)"
    out.locations.append(Location(f"^{lua}{below}$", True, code,
                                  whole or _join([(target, False), ("%1", True)])))
    if whole is not None:
        out.expect = None  # a runtime macro: the post-check asks for the status only


def _redirect_match(out: Carried, alias: WebAlias, release: Release,
                    apache: str | None) -> None:
    regex, code = alias.url_path, alias.code
    moved = _moved(code)
    if moved and not alias.target:
        raise _Refused("it has no target URL")
    fixed = _fixed_path(regex)
    groups = _groups(regex)
    target = _redirect_match_target(alias.target, groups, apache) if moved else None
    whole = _keep_query(regex, target, True)
    _place(out, regex, fixed, code, whole or target, release)
    _query(out, target, whole is None)


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
    moved = _moved(code)
    if moved and alias.target == "-":
        raise _Refused("it redirects without a substitution")
    fixed = _fixed_path(regex)
    # a substitution ending in ? (not \?) drops the query string, as QSD does
    dropped = alias.target.endswith("?") and not alias.target.endswith("\\?")
    substitution = alias.target[:-1] if dropped else alias.target
    target = _rewrite_target(substitution, _groups(regex), release) if moved else None
    kept = not dropped and not {"qsd", "qsdiscard"} & set(alias.flags)
    whole = _keep_query(regex, target, kept)
    _place(out, regex, fixed, code, whole or target, release)
    _query(out, target, kept and whole is None)


def _place(out: Carried, regex: str, fixed: str | None, code: int, target: str | None,
           release: Release) -> None:
    """A location for a regex: a fixed path as ``_fixed`` writes it, anything else
    ``location match``."""
    if fixed is not None:
        if target is not None and re.search(r"%[0-9]", target):
            raise _Refused("its target uses a capture of a pattern without one")
        out.locations = [_fixed(fixed, code, target, release)]
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


def plan_redirects(inv: Inventory, names: list[str], release: Release, root: Location,
                   moved: Callable[[str], str | None], tls: bool
                   ) -> dict[str, list[Carried]]:
    """For each web name, what the new httpd.conf does with the old redirects of that name.
    ``root`` is the plan's own ``location "/"``; ``moved`` gives the new path of an old one
    below a prefix the new host serves elsewhere (a redirect there is carried to the new path
    at once, not through a second redirect); ``tls``: the new host serves HTTPS, and its HTTP
    server redirects every request there."""
    apache = inv.web.version if inv.web is not None else None
    out: dict[str, list[Carried]] = {}
    for name in names:
        out[name] = []
        for alias, vh in old_redirects(inv, name):
            c = translate(alias, vh, release, apache)
            https = _to_https(c, name)
            if https and tls:
                c.locations, c.builtin, c.sample, c.expect = [], "https", "/", None
                c.lost, c.lost_path, c.query = None, None, False
            elif https:  # a plan without HTTPS: every page would be lost
                c.locations, c.sample, c.expect, c.query = [], None, None, False
                c.lost = ("it sends every request to HTTPS, which the new host does not serve "
                          "(the plan has no HTTPS: --tls none); its pages answer over HTTP")
                c.lost_path = "/"
            else:
                _retarget(c, moved)
                c.builtin = "root" if c.locations == [root] else None
            out[name].append(c)
    return out


def _to_https(c: Carried, name: str) -> bool:
    """An old HTTP virtual host's redirect of every path to the same path over HTTPS on one
    of its names (``Redirect permanent / https://NAME/``): the new host's HTTP server does
    that for every request when it serves HTTPS."""
    vh = c.vhost
    if vh is None or vh.tls:
        return False
    names = {n.lower() for n in [vh.server_name, *vh.server_aliases, name] if n}
    a = c.alias
    m = re.fullmatch(r"https://([^/:]+)(?::443)?/?", a.target, re.IGNORECASE)
    return (a.kind == WebAliasKind.REDIRECT and a.url_path == "/" and m is not None
            and m.group(1).lower() in names and a.code in (301, 302, 303, 307, 308))


def _retarget(c: Carried, moved: Callable[[str], str | None]) -> None:
    """A carried redirect to a path below a prefix that now redirects itself goes straight to
    the new path."""
    for i, loc in enumerate(c.locations):
        new = moved(loc.target) if loc.target and loc.target.startswith("/") else None
        if new is not None:
            c.locations[i] = Location(loc.pattern, loc.match, loc.code, new)
    if c.expect and c.expect.startswith("/"):
        c.expect = moved(c.expect) or c.expect


def server_locations(carried: list[Carried]) -> list[tuple[Location, WebAlias]]:
    """The locations a server block gets, in order, each with the old directive it carries;
    without repeats and without what the plan answers itself (``Carried.builtin``)."""
    out: list[tuple[Location, WebAlias]] = []
    for c in carried:
        if c.builtin:
            continue
        for loc in c.locations:
            if all(loc != have for have, _ in out):
                out.append((loc, c.alias))
    return out


def not_carried(plan: dict[str, list[Carried]]) -> list[Finding]:
    """One warning per old redirect httpd cannot answer (or answers only in part), and one
    info per redirect carried without the request's query string."""
    findings: list[Finding] = []
    seen: set[tuple] = set()
    for name, carried in plan.items():
        for c in carried:
            if (c.lost is None and not c.query) or c.ignored:
                continue
            key = (c.alias.line, str(c.alias.source))
            if key in seen:
                continue
            seen.add(key)
            directive = (c.alias.line or c.alias.kind.value).split(None, 1)[0]
            # the scheme too: the same line in the HTTP and the HTTPS virtual host of a name
            # is two findings, each with its own source
            where = f"<VirtualHost> {c.vhost.server_name} ({c.scheme})" if c.vhost is not None \
                and c.vhost.server_name else "the main server"
            line = c.alias.line or c.alias.url_path
            if c.lost is None:
                findings.append(_query_finding(c, name, directive, where, line))
                continue
            url = f"{c.scheme}://{name}{c.lost_path}" if c.lost_path else \
                f"{c.scheme}://{name}/ addresses matching {c.alias.url_path}"
            part = "in part " if c.locations else ""
            findings.append(Finding(
                "plan.web-redirect-not-carried", Severity.WARNING,
                f"{directive} of {where} is {part}not carried into httpd.conf: {c.lost}: "
                f"{line}",
                f"{url} will no longer redirect as it did on the old host: the new host "
                "answers it like any other path (most likely 404). If the old address is still "
                "linked, redirect it where the release can express it, "
                f"{overlay_hint(HTTPD_CONF)}, or tell its users the new address.",
                c.alias.source))
    return findings


def _query_finding(c: Carried, name: str, directive: str, where: str, line: str) -> Finding:
    url = f"{c.scheme}://{name}{c.sample}?page=2" if c.sample else \
        f"{c.scheme}://{name}/ addresses matching {c.alias.url_path}, with a query string,"
    to = f"to {c.expect}" if c.expect else "as before"
    return Finding(
        "plan.web-redirect-query", Severity.INFO,
        f"{directive} of {where} is carried into httpd.conf without the request's query "
        "string: Apache appended it to the target, httpd's block return cannot append it only "
        f"when there is one: {line}",
        f"{url} redirects {to}, without ?page=2, where the old host kept it. Nothing to do "
        "unless links to this address carry query strings that matter.", c.alias.source)
