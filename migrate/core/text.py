"""Text that is safe where a person reads it: shared by the terminal output (migrate/app/ui.py, the
cutover's dry run), the error lines, the comments of the files the emitters write, and the
Markdown files of the plan (report.md, parity.md, web-parity.md, runbook.md, dns/records.md).

Every value from a host or a plan reaches a person through ``visible`` (a terminal, a comment,
an error line) or, in a Markdown file, through ``md_text``, ``md_code``, ``md_block`` or
``md_prose``, which build on it. Nothing of the value becomes an escape sequence, a line break,
a Markdown link, image, emphasis, entity or HTML; only ``md_prose`` (a finding's or a step's own
sentence, whose backticks mark commands) makes code spans, and each of them shows its text
exactly: nothing inside a code span is ever escaped, as Markdown shows it as written.
"""

from __future__ import annotations

import re
from html import escape


def visible(text: object, keep: str = "") -> str:
    """``text`` with every character that is not printable written as its Python escape:
    C0 controls and DEL (ESC shows as ``\\x1b``, a newline as ``\\n``), C1 controls (CSI,
    ``\\x9b``, too), the bidirectional embeddings, overrides and isolates (``\\u202e``), the
    other format characters (a zero-width space), U+2028/U+2029, lone surrogates and
    unassigned code points: whatever Python's ``str.isprintable`` rejects, so no character of
    the value can move the cursor, recolour, retitle or clear a terminal, or make a line read
    differently from what it holds. Characters in ``keep`` (a comment keeps TAB) pass as they
    are. A backslash is not doubled: the text is for reading, not for parsing back."""
    out = str(text)
    if out.isprintable():  # the common case needs no walk over each character
        return out
    return "".join(ch if ch.isprintable() or ch in keep else repr(ch)[1:-1] for ch in out)


def comment(text: object) -> str:
    """Text for a comment line: ``visible`` (TAB kept), and a trailing backslash written as
    ``\\x5c`` (smtpd.conf, httpd.conf, Exim and Apache continue a line that ends in one,
    comments included)."""
    out = visible(text, keep="\t")
    return out[:-1] + "\\x5c" if out.endswith("\\") else out


# --- Markdown (CommonMark and GitHub's tables) --------------------------------------------------

#: What Markdown reads as syntax anywhere in a line: the escape itself, code spans, emphasis
#: and strikethrough, links and images (the brackets), autolinks and HTML, entities, a table
#: cell's end, and the closing ``#`` of a heading. ``_`` is handled apart (``_NOT_INTRAWORD``).
_MD_SPECIAL = re.compile(r"[\\`*~\[\]<&|#]")
#: ``_`` between two letters or digits can neither open nor close emphasis: left as it is, so
#: that ``mailman_list`` stays readable in the file.
_MD_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")
#: What Markdown reads as a block only at the start of a line (a list item, a heading's
#: underline, a quote, an ordered item).
_MD_LINE_START = re.compile(r"[-+=>]|\d{1,9}[.)](?=\s|$)")


def md_text(value: object, *, line_start: bool = True) -> str:
    """``value`` as inline Markdown text (a paragraph, a heading, a list item, a table cell)
    that renders as exactly the characters ``visible`` shows: every character Markdown could
    read as syntax is backslash-escaped (CommonMark escapes any ASCII punctuation), so no link,
    image, HTML, entity, emphasis, code span or cell boundary comes from the value, wherever in
    a line it stands. ``line_start=False``: the text follows something else on its line (a
    code span of ``md_prose``), so what only the start of a line reads as a block needs no
    escape there."""
    text = visible(value, keep="\t")
    text = _MD_SPECIAL.sub(lambda m: "\\" + m.group(), text)
    text = _MD_UNDERSCORE.sub(r"\\_", text)
    if not line_start:
        return text
    start = _MD_LINE_START.match(text)
    if start:  # harmless inside a line, a block marker at the start of one
        text = f"{text[:start.end() - 1]}\\{text[start.end() - 1:]}"
    elif text[:1] in (" ", "\t"):  # four of them at a line's start would begin a code block
        text = f"&#{ord(text[0])};{text[1:]}"
    return text


def md_code(value: object, *, in_table: bool = False) -> str:
    """``value`` as a code span that shows it exactly. Backslashes do not escape inside a code
    span, so the fence is one backtick longer than the longest run of backticks in the value,
    and a space pads a value that starts or ends with a backtick or a space (CommonMark strips
    one from each side, unless the span is all spaces). ``in_table``: a ``|`` is written
    ``\\|``, which a table reads as part of the cell even inside a code span. Empty for an
    empty value (no span of nothing)."""
    text = visible(value, keep="\t")
    if not text:
        return ""
    if in_table:
        text = text.replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.strip(" ") and (text[0] in "` " or text[-1] in "` ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_block(lines: list[str], info: str = "") -> list[str]:
    """A fenced code block showing ``lines`` exactly (each through ``visible``, TAB kept): the
    fence is longer than any run of backticks in them, so no line can close it."""
    shown = [visible(line, keep="\t") for line in lines]
    longest = max((len(run) for line in shown for run in re.findall("`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + info, *shown, fence]


#: A run of backticks: what opens and closes a code span.
_TICKS = re.compile("`+")


def prose_parts(text: str) -> list[tuple[str, bool]]:
    """``text`` (a sentence written with backticks around commands, as findings and steps
    are) cut into (piece, is_code) as CommonMark pairs its backticks: a run of n backticks
    opens a code span that the next run of exactly n closes; a run that nothing closes is
    text. The backticks that pair are not in the pieces."""
    runs = list(_TICKS.finditer(text))
    out: list[tuple[str, bool]] = []
    done, k = 0, 0
    while k < len(runs):
        opening = runs[k]
        close = next((j for j in range(k + 1, len(runs))
                      if len(runs[j].group()) == len(opening.group())), None)
        if close is None:  # it opens nothing: text, and the next run may open
            k += 1
            continue
        if opening.start() > done:
            out.append((text[done:opening.start()], False))
        out.append((text[opening.end():runs[close].start()], True))
        done, k = runs[close].end(), close + 1
    if done < len(text):
        out.append((text[done:], False))
    return out


def md_prose(value: object, *, in_table: bool = False) -> str:
    """A sentence of the plan (a finding's message or hint, a step's why) as inline Markdown:
    its backtick spans (``prose_parts``) as code spans written by ``md_code``, which shows
    their text exactly (no backslash, no entity: Markdown decodes neither inside a span), and
    the rest as ``md_text``. What a value from the old host holds can at most make part of
    the sentence a code span or text, each showing its characters as they are: never a link,
    image, HTML, entity, emphasis, a block or (``in_table``) a cell boundary."""
    out = []
    for i, (piece, code) in enumerate(prose_parts(visible(value, keep="\t"))):
        out.append(md_code(piece, in_table=in_table) if code
                   else md_text(piece, line_start=i == 0))
    return "".join(out)


def html_prose(value: object) -> str:
    """The same sentence for HTML (report.html): its backtick spans as ``<code>``, every
    character escaped (``html.escape``)."""
    return "".join(f"<code>{escape(piece, quote=True)}</code>" if code
                   else escape(piece, quote=True)
                   for piece, code in prose_parts(visible(value, keep="\t")))
