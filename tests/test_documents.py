"""The two documents a person reads during the switch, report.md (and report.html) and
runbook.md, hold no traps, for every sample host's plan with each list manager the golden plans
cover: nothing inside a code span or block is escaped (Markdown shows ``&lt;`` there as
written), every ``$PLAN`` of a command is in double quotes, the runbook says where it edits in
words (no pattern syntax in its prose or comments) and names the one file each edit changes,
the copy-plan step is a command, a step's size is the number its check compares, and the report
opens with what to settle before the cutover.

Each check is a function that returns what it finds wrong, and each is shown to find the trap
it is about on a document that has it (the ``test_the_checks_*`` tests)."""

from __future__ import annotations

import functools
import html
import re

import pytest
from markdown_it import MarkdownIt

from conftest import SAMPLE_HOSTS, SAMPLES, golden_tool
from migrate.app.inspection import inspect_tree
from migrate.app.planning import build_plan, resolve_target
from migrate.core.model import Origin, OriginKind, Severity
from migrate.core.text import prose_parts, visible
from migrate.core.steps import (COPY_PLAN, HOST_PLAN_DIR, PREFLIGHT_DNS, PREFLIGHT_NEW, Append,
                                Comment, Dns, Insert, Run, Uncomment, Unmark, Upload)

update_golden = golden_tool()
#: the renderer the plan's Markdown is checked with elsewhere (tests/test_markdown.py)
MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
#: a character reference: what Markdown decodes in text and shows as written in code
ENTITY = re.compile(r"&(?:[A-Za-z][A-Za-z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});")
#: pattern syntax a person should never have to read in the runbook's words: an anchored
#: /pattern/, \s, \A, \Z, \d, \w, \b, a negated class, a group's (?...), a /...$/ ending
JARGON = re.compile(r"/\^|\\[sAZdwb]|\$/|\[\^|\(\?")
#: the actions that edit a file of a host (a marked block, or marked lines)
EDITS = (Insert, Append, Comment, Unmark, Uncomment)
#: an absolute path in an action's words
ABSOLUTE = re.compile(r"(?<![\w\"$./-])/(?:[\w.+-]+/)*[\w.+-]+")


@functools.cache
def _plans() -> dict[tuple[str, str], object]:
    """(host, release) -> the plan, as tools/update_golden.py makes the golden plans."""
    out = {}
    for host, flags in update_golden.HOSTS.items():
        inv = inspect_tree(update_golden.SampleTree(SAMPLES / host),
                           Origin(OriginKind.LOCAL, f"/samples/{host}"), now=update_golden.NOW)
        for release in update_golden.RELEASES:
            target = resolve_target(inv, {}, dict(flags, openbsd=release))
            out[host, release] = (inv, target, build_plan(inv, target))
    return out


PLANS = [(h, r) for h in sorted(update_golden.HOSTS) for r in update_golden.RELEASES]


@pytest.fixture(params=PLANS, ids=[f"{h}-{r}" for h, r in PLANS])
def plan(request):
    return _plans()[request.param]


def test_every_sample_and_both_list_managers_are_covered():
    assert tuple(sorted(update_golden.HOSTS)) == SAMPLE_HOSTS
    assert {t.destination for _, t, _ in _plans().values()} == {"mailman2", "mailman3"}


# --- the checks ----------------------------------------------------------------------------------


def _codes(text: str) -> list[str]:
    """The content of every code span and code block of a Markdown document."""
    out = []
    for token in MD.parse(text):
        if token.type in ("fence", "code_block"):
            out.append(token.content)
        out += [c.content for c in token.children or [] if c.type == "code_inline"]
    return out


def entities_in_code(text: str) -> list[str]:
    """Every character reference inside a code span or block (shown there as written)."""
    return [m.group() for code in _codes(text) for m in ENTITY.finditer(code)]


def _fences(text: str) -> list[str]:
    return [t.content for t in MD.parse(text) if t.type == "fence"]


def _double_quoted(line: str, at: int) -> bool:
    """Whether the character at ``at`` of a shell line is inside double quotes (sh's rules:
    single quotes keep everything, a backslash escapes outside them)."""
    state, i = "", 0
    while i < at:
        ch = line[i]
        if state == "'":
            state = "" if ch == "'" else state
        elif ch == "\\":
            i += 1
        elif state == '"':
            state = "" if ch == '"' else state
        elif ch in "'\"":
            state = ch
        i += 1
    return state == '"'


def bare_plan(text: str) -> list[str]:
    """Every line of the runbook's code blocks with a ``$PLAN`` outside double quotes (in a
    comment too: a person copies the path from there)."""
    bad = []
    for block in _fences(text):
        for line in block.splitlines():
            for m in re.finditer(r"\$\{?PLAN\b", line):
                comment = line.lstrip().startswith("#")
                inside = line[:m.start()].endswith('"') if comment else \
                    _double_quoted(line, m.start())
                if not inside:
                    bad.append(line)
    return bad


def _comments(block: str) -> list[str]:
    """The comment text of a shell block: whole comment lines, and what follows ``  # `` on a
    command's line."""
    out = []
    for line in block.splitlines():
        if line.lstrip().startswith("#"):
            out.append(line)
        elif "  # " in line:
            out.append(line.rsplit("  # ", 1)[1])
    return out


def _prose(text: str) -> list[str]:
    """The runbook's words outside code: headings and paragraphs as rendered text."""
    return ["".join(c.content for c in t.children or [] if c.type == "text")
            for t in MD.parse(text) if t.type == "inline"]


def jargon(text: str) -> list[str]:
    """Every sentence of the runbook's prose and every comment of its code blocks that holds
    pattern syntax."""
    said = _prose(text) + [c for block in _fences(text) for c in _comments(block)]
    return [s for s in said if JARGON.search(s)]


def _edit_paths(action) -> list[str]:
    return [action.path] if isinstance(action, Append) else list(action.paths)


def edit_problems(steps, runbook: str) -> list[str]:
    """Every edit of a host's file that names other than one file (in its fields and in its
    words), or whose words runbook.md does not show."""
    bad = []
    for step in steps:
        for action in step.actions + step.rollback:
            if not isinstance(action, EDITS):
                continue
            said = action.describe()
            named = set(ABSOLUTE.findall(re.sub(r'"\$PLAN[^"]*"', "", said)))
            if len(_edit_paths(action)) != 1 or named != set(_edit_paths(action)):
                bad.append(f"{step.id}: {said}")
            elif said not in runbook:
                bad.append(f"{step.id}: not in runbook.md: {said}")
    return bad


def _said(sentence: str) -> str:
    """A finding's message as the report shows it: its backtick spans as code, without the
    backticks."""
    return "".join(p for p, _ in prose_parts(visible(sentence.strip(), keep="\t")))


def _sections(text: str) -> list[tuple[str, str]]:
    """report.md's level-2 sections in order: (heading, the text under it)."""
    parts = re.split(r"(?m)^## (.+)$", text)
    return list(zip(parts[1::2], parts[2::2]))


def before_problems(report: str, standing, preflight_new, preflight_dns) -> list[str]:
    """What report.md's opening lacks: the title, the digest and the intro, then "Before you
    start" as the first section (before Lists), holding every blocker and error that stands
    (or one line that nothing blocks), the preflight's check of the new host (its commands)
    and the DNS TTLs (the names the preflight checks)."""
    bad = []
    head = report.split("\n## ", 1)[0].strip().split("\n\n")
    if len(head) != 3 or not head[0].startswith("# ") or not head[1].startswith("Plan digest:"):
        bad.append(f"the report does not open with its title, digest and intro: {head[:3]}")
    sections = _sections(report)
    names = [name for name, _ in sections]
    if names[:2] != ["Before you start", "Lists"]:
        return bad + [f"the first sections are {names[:2]}"]
    box = MD.parse(sections[0][1])
    shown = "".join(c.content for t in box for c in t.children or [])
    codes = _codes(sections[0][1])
    for f in standing:
        if _said(f.message) not in shown:
            bad.append(f"the box lacks the {f.severity.value} {f.message!r}")
    if not standing and "Nothing blocks" not in shown:
        bad.append("the box does not say that nothing blocks")
    for sev in {f.severity for f in standing}:
        n = sum(f.severity == sev for f in standing)
        if f"{n} {sev.value}" not in shown:
            bad.append(f"the box does not count the {sev.value}s ({n})")
    if preflight_new is not None:
        for action in preflight_new.actions:
            if isinstance(action, Run) and action.command not in codes:
                bad.append(f"the box lacks the preflight's command {action.command!r}")
    if preflight_dns is not None:
        for action in preflight_dns.actions:
            if isinstance(action, Dns) and action.name not in shown:
                bad.append(f"the box lacks the TTL check of {action.name}")
        if "dns/records.md" not in shown:
            bad.append("the box does not point to dns/records.md")
    return bad


# --- the checks find what they are about ---------------------------------------------------------


def test_the_checks_find_each_trap():
    """Each check on a document (or step) that has its trap: the report's old escaping of a
    hint, a bare $PLAN, the old insert's words, an edit of three files."""
    assert entities_in_code("run `bin/cleanarch &lt; announce.mbox`\n") == ["&lt;"]
    assert entities_in_code("```sh\necho a &amp;&amp; b\n```\n") == ["&amp;", "&amp;"]
    assert entities_in_code("run \\`bin/cleanarch \\< announce.mbox\\`, &lt;\n") == []
    runbook = ("```sh\ninstall -m 0644 $PLAN/files/new/etc/mail/aliases /etc/mail/aliases\n"
               "cat \"$PLAN/a\" >> /etc/x\n# insert $PLAN/files/old/x after\n```\n")
    assert len(bare_plan(runbook)) == 2
    assert bare_plan("```sh\nsh '$PLAN/x'\nsh \"$PLAN/x\"\n```\n") == ["sh '$PLAN/x'"]
    old = ("# insert $PLAN/files/old/exim-freeze-acl.conf after the first line matching "
           "/^\\s*acl_check_rcpt:\\s*$/ in /usr/local/etc/exim/configure, between "
           "'# migrate:freeze' lines")
    assert jargon(f"```sh\n{old}\n```\n") and jargon("before the first line matching /\\A/\n")
    assert not jargon("```sh\ngrep -q '^x\\s' /etc/y  # at most 5 s\n```\n")

    class Step:
        id, actions, rollback = "old-freeze", [Insert(
            source="files/old/exim-freeze-acl.conf", paths=["/a/configure", "/a/acl.conf"],
            after=r"^\s*acl_check_rcpt:\s*$", marker="freeze")], []
    assert edit_problems([Step], Step.actions[0].describe())
    Step.actions = [Unmark(paths=["/a/acl.conf"], marker="freeze")]
    assert edit_problems([Step], "") and not edit_problems([Step], Step.actions[0].describe())
    report = "# T\n\nPlan digest: 0\n\nintro\n\n## Lists\n\n## Findings (0)\n"
    assert before_problems(report, [], None, None)


# --- every sample's documents --------------------------------------------------------------------


def test_no_entity_inside_code_in_the_report_and_the_runbook(plan):
    _, _, built = plan
    for path in ("report.md", "runbook.md"):
        assert entities_in_code(built.files[path]) == [], path


def test_a_findings_command_is_a_code_span_shown_exactly():
    """netsight's planted mbox oddity: its hint's command, as the person types it."""
    _, _, built = _plans()["netsight", "6.9"]
    assert "bin/cleanarch < announce.mbox > fixed.mbox" in _codes(built.files["report.md"])
    assert "<code>bin/cleanarch &lt; announce.mbox &gt; fixed.mbox</code>" in \
        built.files["report.html"]


def test_every_plan_path_in_the_runbook_is_double_quoted(plan):
    _, _, built = plan
    assert bare_plan(built.files["runbook.md"]) == []
    assert all('"$PLAN' in a.describe() for s in built.steps for a in s.actions + s.rollback
               if getattr(a, "source", None))


def test_the_runbook_says_where_it_edits_in_words(plan):
    _, _, built = plan
    assert jargon(built.files["runbook.md"]) == []


def test_every_edit_names_one_file(plan):
    inv, _, built = plan
    assert edit_problems(built.steps, built.files["runbook.md"]) == []
    freeze = next(a for s in built.steps for a in s.actions if isinstance(a, Insert)
                  and a.marker == "freeze")
    start = inv.mta.detail.acls["acl_check_rcpt"]  # where the inspection found the RCPT ACL
    assert freeze.paths == [start.file] and freeze.line == start.line
    assert f"(line {start.line} of {start.file} when inspected)" in freeze.describe()


def test_copy_plan_is_the_command_to_run(plan):
    """From the machine holding the plan, to each host as the plan knows it: the new host by
    its address (the target), the old one by the inventory (its name here: a local tree)."""
    inv, target, built = plan
    step = next(s for s in built.steps if s.id == COPY_PLAN)
    uploads = {a.hosts[0]: a for a in step.actions if isinstance(a, Upload)}
    assert set(uploads) == {"old", "new"}
    new = (target.ipv6 or target.ipv4)[0]
    assert uploads["new"].to == f"root@{new}" and uploads["old"].to == f"root@{inv.host.hostname}"
    for host, upload in uploads.items():
        said = upload.describe()
        assert not said.startswith("#") and f"{HOST_PLAN_DIR}/" in said and '"$PLAN"/*' in said
        assert said in built.files["runbook.md"]
    assert f"'root@[{new}]:{HOST_PLAN_DIR}/'" in uploads["new"].describe()


def test_a_steps_size_is_the_number_its_check_compares(plan):
    """preflight-new's words and its df check: one unit (KiB, what `df -k` shows), one number."""
    _, _, built = plan
    step = next(s for s in built.steps if s.id == PREFLIGHT_NEW)
    said = re.findall(r"(\d+) KiB", step.why)
    checked = [m for a in step.actions if isinstance(a, Run)
               for m in re.findall(r"df -k .* -ge (\d+)$", a.command)]
    assert said and said == checked, (step.why, checked)
    assert not re.search(r"\b(MB|GB|kB|KB)\b", step.why)


def test_the_report_opens_with_what_to_settle_before_you_start(plan):
    inv, _, built = plan
    by_id = {s.id: s for s in built.steps}
    every = inv.findings + built.findings
    standing = [f for f in every if f.severity in (Severity.BLOCKER, Severity.ERROR)
                and f.id != "plan.unsafe-output"]  # the report's own output check follows it
    assert before_problems(built.files["report.md"], standing, by_id.get(PREFLIGHT_NEW),
                           by_id.get(PREFLIGHT_DNS)) == []


def test_report_html_opens_with_the_same_box(plan):
    inv, _, built = plan
    page = built.files["report.html"]
    box = re.search(r'<section class="before"[^>]*>(.*?)</section>', page, re.S)
    assert box and page.index("</h1>") < box.start() < page.index("<h2>Lists</h2>")
    text = html.unescape(re.sub(r"<[^>]+>", "", box.group(1)))
    md = _sections(built.files["report.md"])[0][1]
    for f in inv.findings + built.findings:
        if f.severity in (Severity.BLOCKER, Severity.ERROR):
            assert _said(f.message) in text
    for command in _codes(md):
        assert command in text
    assert "Findings below" in text  # pointed to, not linked: the page has no links
