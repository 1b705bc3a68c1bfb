"""Sample request URLs for an old redirect, generated from its pattern: paths it matches and
near misses, built to hit what a translation to httpd can get wrong.

``sample_urls(kind, pattern)`` walks the regular expression (Python's own parser of it, the
same syntax as PCRE for what Apache configurations use) and fills each class, wildcard and
repeat with characters chosen in turn from ``PROBES``: a letter of each case, ``_`` (which
``\\w`` holds and Lua's ``%w`` does not), digits, ``-``, ``.``, ``&`` (a character in 2.4's
RedirectMatch target, the whole match in 2.2's), ``~``; each repeat taken its fewest times,
once more and three times more. To each match it adds near misses and variants: the path in
upper and in lower case, with a digit after it (right after a capture's value, where ``$1``
then ``0`` is the trap), with a letter after it, without its last character, and with query
strings (``?page=2&x=_``, and an empty one). A ``Redirect`` (a path and all below it) gets the
path, the path with ``/``, a page below it (``my_list``, ``Dev2``, ``a&b``) and the same
variants.

Only characters a request path may hold raw are produced (letters, digits, ``-._~/&``), so the
same bytes reach both servers, and no dot segments (``/.``, ``/..``) or empty ones (``//``),
which a browser resolves before it asks and the two servers normalize each their own way.
"""

from __future__ import annotations

import re

try:  # Python 3.11: the parser of re, which sre_parse re-exports with a warning
    import re._parser as sre_parse
    import re._constants as sre_c
except ImportError:  # pragma: no cover - older Pythons
    import sre_parse  # type: ignore[no-redef]
    import sre_constants as sre_c  # type: ignore[no-redef]

PROBES = "aZ_09-.&~"
SAFE = re.compile(r"/[A-Za-z0-9._~/&-]*")
QUERIES = ("?page=2&x=_", "?")
BELOW = ("my_list", "Dev2", "a&b")


def _accepts(items: list, ch: str) -> bool:
    """Whether the class ``items`` (sre_parse's IN) holds ``ch``."""
    negate = False
    found = False
    for op, av in items:
        if op is sre_c.NEGATE:
            negate = True
        elif op is sre_c.LITERAL:
            found |= ord(ch) == av
        elif op is sre_c.RANGE:
            found |= av[0] <= ord(ch) <= av[1]
        elif op is sre_c.CATEGORY:
            name = str(av)
            test = {"CATEGORY_DIGIT": ch.isdigit(), "CATEGORY_NOT_DIGIT": not ch.isdigit(),
                    "CATEGORY_WORD": ch.isalnum() or ch == "_",
                    "CATEGORY_NOT_WORD": not (ch.isalnum() or ch == "_"),
                    "CATEGORY_SPACE": ch.isspace(), "CATEGORY_NOT_SPACE": not ch.isspace()}
            found |= test.get(name, False)
    return found != negate


def _one(item: tuple, turn: list[int]) -> str | None:
    """A character for one class-like item, the next probe it holds (``turn`` counts)."""
    op, av = item
    for step in range(len(PROBES)):
        ch = PROBES[(turn[0] + step) % len(PROBES)]
        if op is sre_c.ANY or (op is sre_c.IN and _accepts(av, ch)) or \
                (op is sre_c.NOT_LITERAL and ord(ch) != av):
            turn[0] += step + 1
            return ch
    return None


def _fill(parsed, turn: list[int], extra: int) -> str | None:
    out = []
    for op, av in parsed:
        if op is sre_c.LITERAL:
            out.append(chr(av))
        elif op in (sre_c.ANY, sre_c.IN, sre_c.NOT_LITERAL):
            ch = _one((op, av), turn)
            if ch is None:
                return None
            out.append(ch)
        elif op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT):
            low, high, sub = av
            times = min(low + extra, high) if high != sre_c.MAXREPEAT else low + extra
            for _ in range(times):
                part = _fill(sub, turn, extra)
                if part is None:
                    return None
                out.append(part)
        elif op is sre_c.SUBPATTERN:
            part = _fill(av[-1], turn, extra)
            if part is None:
                return None
            out.append(part)
        elif op is sre_c.BRANCH:
            part = _fill(av[1][turn[0] % len(av[1])], turn, extra)
            if part is None:
                return None
            out.append(part)
        elif op is sre_c.AT:
            continue
        else:
            return None  # look-arounds, back references: not generated
    return "".join(out)


def _variants(path: str) -> list[str]:
    out = [path, path.upper(), path.lower(), path.swapcase(), path + "0", path + "7",
           path + "x", path[:-1]]
    return out + [path + q for q in QUERIES]


def sample_urls(kind: str, pattern: str) -> list[str]:
    """Request paths (with query strings) for an old redirect: ``kind`` "redirect" (a path
    prefix) or "redirect_match"/"rewrite_rule" (a regular expression on the path)."""
    paths: list[str] = []
    if kind == "redirect":
        folder = pattern.rstrip("/") + "/"
        for p in [pattern, folder, *(folder + b for b in BELOW)]:
            paths += _variants(p)
    else:
        parsed = sre_parse.parse(pattern)
        for start in range(len(PROBES)):
            for extra in (0, 1, 3):
                path = _fill(parsed, [start], extra)
                if path is not None:
                    paths += _variants(path if path.startswith("/") else "/" + path)
    seen: dict[str, None] = {}
    for p in paths:
        path = p.split("?", 1)[0]
        # no dot segments or empty ones: a browser resolves them before it asks
        if SAFE.fullmatch(path) and not {".", ".."} & set(path.split("/")) and "//" not in p:
            seen.setdefault(p, None)
    return list(seen)
