"""No value makes Markdown: every .md file of a plan, rendered by a real CommonMark renderer
(markdown-it-py, with GitHub's tables and strikethrough), holds no link, image, HTML, emphasis,
code span, heading, list or table cell that the emitter did not write itself.

Two levels: the writers (``md_text``, ``md_code``, ``md_block``, ``md_prose``) render as
exactly the text ``visible`` shows, in every context the plan uses them (a paragraph, a heading,
a list item in bold, a table cell); and whole plans built from inventories with hostile values
in the fields that reach the .md files render to the same structure as the same plans with
benign values. One exception, by design: the plan's own sentences (findings' messages and
hints, steps' whys) go through ``md_prose``, whose backticks make code spans (a command shown
exactly, never escaped); a value's backticks there may make a span too, which shows its
characters as they are and nothing else.
"""

from __future__ import annotations

import copy
import functools
import dataclasses
import shutil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from conftest import SAMPLES, shared_fixture
from migrate.app.inspection import inspect_tree, open_local_root
from migrate.core.model import (Finding, ListRoute, Origin, OriginKind, Severity, Source, WebAlias,
                                WebAliasKind)
from migrate.app.planning import build_plan, resolve_target
from migrate.core.text import md_block, md_code, md_prose, md_text, prose_parts, visible

#: the renderer GitHub, GitLab and most viewers follow: CommonMark with raw HTML on
MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
#: what Markdown reads as syntax somewhere, and what a viewer would act on
SYNTAX = "\\`*_~[]()<>!&#|-+=.:;/\"' \t1"
VALUES = st.text(alphabet=st.one_of(st.sampled_from(SYNTAX), st.sampled_from("ab\u00e9\x1b\n"),
                                    st.characters()), max_size=40)


def _inline(source: str):
    """The inline children of the last block ``source`` renders to (a table's one cell), and
    the block tokens."""
    tokens = MD.parse(source)
    inline = [t for t in tokens if t.type == "inline"]
    return inline[-1].children, [t.type for t in tokens if t.type != "inline"]


def _text(children) -> str:
    assert {c.type for c in children} <= {"text"}, [c.type for c in children]
    return "".join(c.content for c in children)


# --- the writers ---------------------------------------------------------------------------------


@given(VALUES)
def test_md_text_renders_as_the_value_in_every_context(value):
    shown = visible(value, keep="\t")
    children, blocks = _inline(f"a {md_text(value)} b")
    assert blocks == ["paragraph_open", "paragraph_close"] and _text(children) == f"a {shown} b"
    children, blocks = _inline(md_text(value) + " b")  # at a line's start
    assert blocks == ["paragraph_open", "paragraph_close"]
    assert _text(children) == (f"{shown} b" if shown else "b")
    children, blocks = _inline(f"### x {md_text(value)} y")
    assert blocks == ["heading_open", "heading_close"] and _text(children) == f"x {shown} y"
    children, blocks = _inline(f"| h |\n|---|\n| {md_text(value)} |")
    # a table strips a cell's blanks; a leading one stays (md_text writes it as an entity)
    cell = shown[:1] + shown[1:].rstrip(" \t") if shown[:1] in (" ", "\t") else \
        shown.rstrip(" \t")
    assert blocks.count("td_open") == 1 and _text(children) == cell
    if value.strip():  # report.md's findings: the message in bold, stripped
        children, _ = _inline(f"- **{md_text(value.strip())}** (where)")
        inner = [c for c in children if c.type != "text" or c.content]
        assert [c.type for c in inner] == ["strong_open", "text", "strong_close", "text"]
        assert inner[1].content == visible(value.strip(), keep="\t")


@given(VALUES)
def test_md_code_shows_the_value_in_one_span(value):
    shown = visible(value, keep="\t")
    for source in (f"a {md_code(value)} b", f"| h |\n|---|\n| {md_code(value, in_table=True)} |"):
        children, _ = _inline(source)
        codes = [c for c in children if c.type == "code_inline"]
        if shown:
            assert len(codes) == 1 and codes[0].content == shown, (source, children)
        else:
            assert not codes


@given(st.lists(VALUES, max_size=4))
def test_md_block_holds_every_line(lines):
    tokens = MD.parse("\n".join(["x", "", *md_block(lines, "sh"), "", "after"]))
    fences = [t for t in tokens if t.type == "fence"]
    assert len(fences) == 1 and fences[0].info == "sh"
    assert fences[0].content == "".join(visible(x, keep="\t") + "\n" for x in lines)
    assert tokens[-2].children[0].content == "after"


def _prose_parts(children) -> list[tuple[str, bool]]:
    """The rendered pieces: text (merged) and code spans, in order."""
    out: list[tuple[str, bool]] = []
    for c in children:
        code = c.type == "code_inline"
        if not code and out and not out[-1][1]:
            out[-1] = (out[-1][0] + c.content, False)
        elif c.content or code:
            out.append((c.content, code))
    return out


@given(VALUES)
def test_md_prose_shows_its_code_spans_exactly_and_the_rest_as_text(value):
    """A sentence's backtick spans are code spans whose content is exactly what was between
    the backticks (no backslash, no entity), the rest is text as ``visible`` shows it, and no
    other element appears: in a paragraph, at a line's start, in bold in a list item and in a
    table cell."""
    def expect(value):
        return [(p, c) for p, c in prose_parts(visible(value, keep="\t")) if p]

    def check(children, parts, prefix="", suffix=""):
        assert {c.type for c in children} <= {"text", "code_inline"}, [c.type for c in children]
        got = _prose_parts(children)
        assert [p for p, c in got if c] == [p for p, c in parts if c], (value, got)
        assert "".join(p for p, _ in got) == prefix + "".join(p for p, _ in parts) + suffix

    children, blocks = _inline(f"a {md_prose(value)} b")
    assert blocks == ["paragraph_open", "paragraph_close"]
    check(children, expect(value), "a ", " b")
    if visible(value).strip():
        children, blocks = _inline(md_prose(value) + " b")  # at a line's start
        assert blocks == ["paragraph_open", "paragraph_close"]
        check(children, expect(value), suffix=" b")
    if value.strip():  # report.md's findings: the message in bold, stripped
        children, _ = _inline(f"- **{md_prose(value.strip())}** (where)")
        types = [c.type for c in children]
        check(children[types.index("strong_open") + 1:types.index("strong_close")],
              expect(value.strip()))
    children, blocks = _inline(f"| h |\n|---|\n| x {md_prose(value, in_table=True)} y |")
    assert blocks.count("td_open") == 1
    check(children, expect(value), "x ", " y")


def test_md_prose_never_escapes_inside_a_span():
    """The trap it fixes: a finding's hint with a command in backticks showed the command as
    text with escapes (report.md read \\`bin/cleanarch \\< announce.mbox ...\\`)."""
    source = md_prose("before any rebuild run `bin/cleanarch < announce.mbox > fixed.mbox`")
    assert "`bin/cleanarch < announce.mbox > fixed.mbox`" in source
    children, _ = _inline(source)
    assert [c.content for c in children if c.type == "code_inline"] == [
        "bin/cleanarch < announce.mbox > fixed.mbox"]
    # a backtick nothing closes is text, escaped; the rest as md_text writes it
    assert md_prose("a ` b <x>") == md_text("a ` b <x>")


# --- whole plans ---------------------------------------------------------------------------------


@functools.cache
def _netsight():
    return inspect_tree(open_local_root(str(SAMPLES / "netsight")),
                        Origin(OriginKind.LOCAL, "netsight"))


def _hostile(inv, value: str):
    """A copy of ``inv`` with ``value`` in every field this test knows to reach a .md file:
    the old host's name (report.md and runbook.md titles), a list owner (report.md's lists), an
    inspection finding's message, hint and file (report.md), a list address and its source
    (parity.md, report.md's routing parity), a cron command and schedule (report.md), and a
    virtual host's source file and an Alias of it (web-parity.md, report.md's web parity)."""
    inv = copy.deepcopy(inv)
    inv.host.hostname = value
    inv.lists[0].owners = [value, *inv.lists[0].owners]
    inv.findings.append(Finding("input.x", Severity.WARNING, value, value, Source(value, 3)))
    inv.mta.list_routes.append(ListRoute(
        value, inv.mta.list_routes[0].domain, inv.lists[0].name, "alias", "system_aliases",
        "address_pipe", f"/usr/local/mailman/mail/mailman post {inv.lists[0].name}",
        Source(value, 40), "post"))
    inv.housekeeping.cron_jobs[0] = dataclasses.replace(
        inv.housekeeping.cron_jobs[0], command=value, script=None, schedule=value)
    vhost = inv.web.virtual_hosts[0]
    inv.web.virtual_hosts[0] = dataclasses.replace(vhost, source=Source(value, 9))
    inv.web.virtual_hosts[0].other_aliases.append(WebAlias(
        WebAliasKind.ALIAS, f"/{value}", f"/srv/{value}", source=Source(f"/etc/{value}", 1)))
    return inv


#: report.md's sections of the plan's own sentences (``md_prose``: findings' messages and
#: hints): a value's backticks there may make a code span (test_md_prose_* above)
PROSE_SECTIONS = ("Before you start", "Findings")


def _structure(text: str, path: str = "") -> list[tuple]:
    """Every element the renderer makes, in order (the text itself left out); in report.md's
    sections of sentences (``PROSE_SECTIONS``) and runbook.md's paragraphs (the steps' whys),
    code spans are left out too."""
    out, section, tokens = [], "", MD.parse(text)
    for i, t in enumerate(tokens):
        if t.type == "inline" and i and tokens[i - 1].tag == "h2":
            section = t.content
        prose = (path == "report.md" and section.startswith(PROSE_SECTIONS)) or (
            path == "runbook.md" and i and tokens[i - 1].type == "paragraph_open")
        out.append((t.type, t.tag, t.info))
        out += [(c.type, c.tag) for c in t.children or [] if c.type != "text"
                and not (prose and c.type == "code_inline")]
    return out


def _plan(inv):
    target = resolve_target(inv, {}, {"hostname": "lists.netsight.example",
                                      "ipv6": ["2001:db8:50::25"]})
    return build_plan(inv, target)


#: a value that no name check accepts (the space), as the hostile ones: both plans then leave
#: the same items out, with the same findings
BENIGN = "benign value"
#: printable values only: a control character is the guard's (a blocker of its own, and
#: escaped before any emitter sees it), and the writers' properties above cover it; not blank
#: (an emitter may leave a blank value out, which is fewer elements, not more)
HOSTILE = st.builds(lambda a, b: f"{a} {b}",
                    *[st.text(alphabet=st.one_of(st.sampled_from(SYNTAX),
                                                 st.characters(categories=["L", "N", "P", "S"])),
                              max_size=20)] * 2).filter(str.strip)


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(value=HOSTILE)
def test_no_value_makes_markdown_in_any_md_file(value):
    benign = _plan(_hostile(_netsight(), BENIGN))
    hostile = _plan(_hostile(_netsight(), value))
    md = sorted(p for p in benign.files if p.endswith(".md"))
    assert {"report.md", "parity.md", "web-parity.md", "runbook.md", "dns/records.md"} <= set(md)
    assert sorted(p for p in hostile.files if p.endswith(".md")) == md
    for path in md:
        assert _structure(hostile.files[path], path) == _structure(benign.files[path], path), \
            path
    for path in ("report.md", "parity.md", "web-parity.md", "runbook.md"):  # shown as it is
        shown = "".join(t.content for tok in MD.parse(hostile.files[path])
                        for t in tok.children or [] if t.type in ("text", "code_inline"))
        assert value.strip() in shown, path


@pytest.mark.parametrize("value", [
    "[owner](http://evil.example/)", "![x](http://evil.example/t.png)",
    "<img src=x onerror=alert(1)>", "<script>alert(1)</script>", "**bold** _it_ `code`",
    "a | b", "<http://evil.example/>", "&lt;b&gt;", "~~gone~~", "``` x", "# head", "- item",
])
def test_known_injections_render_as_text(value):
    """The issue's reproductions (a list owner's link and image in report.md, an alias key's
    HTML in parity.md) and their cousins: the same structure as a benign plan, and no raw HTML,
    link or image anywhere."""
    test_no_value_makes_markdown_in_any_md_file.hypothesis.inner_test(value + " x")
    plan = _plan(_hostile(_netsight(), value + " x"))
    for path, text in plan.files.items():
        if path.endswith(".md"):
            kinds = {t.type for tok in MD.parse(text) for t in [tok, *(tok.children or [])]}
            assert not kinds & {"link_open", "image", "html_inline", "html_block"}, path


def test_an_owner_in_a_real_config_pck_stays_text_in_report_md(tmp_path):
    """The issue's reproduction: the owner of a real Mailman 2.1 list (the pickle of GNU
    Mailman's test suite, its owner string swapped in place) holding a link and an image."""
    pck = shared_fixture("mailman", "mm3-testsuite-config.pck").read_bytes()
    owner = b"[click](http://evil.example/) ![x](http://evil.example/t.png) <b>hi</b>"
    assert pck.count(b"U\x10anne@example.com") == 1  # SHORT_BINSTRING: its length, its bytes
    pck = pck.replace(b"U\x10anne@example.com", b"U" + bytes([len(owner)]) + owner)
    root = tmp_path / "root"
    shutil.copytree(SAMPLES / "small", root, symlinks=True)
    (root / "usr/local/mailman/lists/test").mkdir()
    (root / "usr/local/mailman/lists/test/config.pck").write_bytes(pck)
    inv = inspect_tree(open_local_root(str(root)), Origin(OriginKind.LOCAL, "small"))
    assert owner.decode() in next(ml for ml in inv.lists if ml.name == "test").owners
    target = resolve_target(inv, {}, {"hostname": "lists.example.org", "ipv6": ["2001:db8::25"]})
    report = build_plan(inv, target).files["report.md"]
    tokens = [t for tok in MD.parse(report) for t in [tok, *(tok.children or [])]]
    assert not {t.type for t in tokens} & {"link_open", "image", "html_inline", "html_block"}
    assert any(owner.decode() in t.content for t in tokens if t.type == "text")
