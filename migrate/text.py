"""Text that is safe on one line: shared by the emitters (comments in the files they write) and
by the cutover plan (the commands a person reads in the runbook and the dry run)."""

from __future__ import annotations


def comment(text: object) -> str:
    """Text for a comment (or a Markdown line): every non-printable character but TAB shown
    escaped, and a trailing backslash written as ``\\x5c`` (smtpd.conf, httpd.conf, Exim and
    Apache continue a line that ends in one, comments included)."""
    out = str(text)
    if not out.isprintable():  # the common case, all printable, needs no walk over each character
        out = "".join(ch if ch.isprintable() or ch == "\t" else repr(ch)[1:-1] for ch in out)
    return out[:-1] + "\\x5c" if out.endswith("\\") else out
