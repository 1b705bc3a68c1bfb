"""The aliases parser against hand-written files covering aliases(5) and Exim's redirect data."""

from __future__ import annotations

import pytest

from migrate.core.model import AliasTargetKind as K
from parsers.aliases import classify_target, parse_aliases
from migrate.app.sources import LocalTree

ALIASES = """\
# comment at the top
root: admin@example.org

postmaster:   root
"quoted name": someone@example.org
nocolon  target@example.org
announce: "|/usr/local/mailman/mail/mailman post announce"
announce-admin: |/usr/local/mailman/mail/mailman admin announce
staff: :include:/etc/mail/staff.list
board: /var/log/mail-archive/board
gone: :fail: Gone away, no forwarding address
moving: :defer: mailbox being moved
devnull: :blackhole:
jdoe: \\jdoe, jdoe@elsewhere.example
multi: a@example.org,
\tb@example.org,
# a comment between continuation lines
    c@example.org
backslashed: x@example.org, \\
y@example.org
ROOT: second@example.org
"""


def _parse(tree_factory, aliases=ALIASES, extra=None, links=None, name="host"):
    files = {"/etc/mail/aliases": aliases,
             "/etc/mail/staff.list": "# staff\nalice@example.org, bob\n\ncarol@example.org\n"}
    files.update(extra or {})
    root = tree_factory(files, links or {"/etc/aliases": "mail/aliases"}, name=name)
    return parse_aliases(LocalTree(root), "/etc/aliases")


def test_every_target_kind_and_line(tree_factory):
    res = _parse(tree_factory)
    by = {a.name: a for a in res.aliases}
    assert by["root"].targets[0].kind == K.ADDRESS
    assert by["root"].source.file == "/etc/mail/aliases"  # the symlink is resolved
    assert by["root"].source.line == 2
    assert by["postmaster"].source.line == 4
    assert by["quoted name"].targets[0].value == "someone@example.org"
    assert by["nocolon"].targets[0].value == "target@example.org"
    pipe = by["announce"].targets[0]
    assert (pipe.kind, pipe.value) == (K.PIPE, "/usr/local/mailman/mail/mailman post announce")
    assert by["announce-admin"].targets[0].value == "/usr/local/mailman/mail/mailman admin announce"
    assert by["board"].targets[0].kind == K.FILE
    fail = by["gone"].targets
    assert [(t.kind, t.value) for t in fail] == [(K.FAIL, "Gone away, no forwarding address")]
    assert by["moving"].targets[0].kind == K.DEFER
    assert by["devnull"].targets[0].kind == K.BLACKHOLE
    assert [t.value for t in by["jdoe"].targets] == ["\\jdoe", "jdoe@elsewhere.example"]


def test_continuation_lines_keep_their_own_line_numbers(tree_factory):
    by = {a.name: a for a in _parse(tree_factory).aliases}
    multi = by["multi"]
    # A comment line ends the entry in Exim's lsearch: c@example.org belongs to no alias.
    assert [t.value for t in multi.targets] == ["a@example.org", "b@example.org"]
    assert multi.source.line == 15
    assert [t.source.line if t.source else None for t in multi.targets] == [None, 16]
    assert [t.value for t in by["backslashed"].targets] == ["x@example.org", "y@example.org"]


def test_exim_differences_are_findings(tree_factory):
    res = _parse(tree_factory)
    back = [f for f in res.findings if f.id == "aliases.backslash-continuation"]
    assert [(f.severity.value, f.source.line) for f in back] == [("error", 19)]
    text = "nocomma: a@example.org\n  b@example.org\nnamed: Jane Doe <jane@example.org>\n"
    res = _parse(tree_factory, aliases=text, name="second")
    assert [(f.id, f.source.line) for f in res.findings] == [("aliases.missing-comma", 1)]
    by = {a.name: a for a in res.aliases}
    assert [t.value for t in by["nocomma"].targets] == ["a@example.org", "b@example.org"]
    assert by["named"].targets[0].value == "Jane Doe <jane@example.org>"


def test_include_file_is_read_with_its_own_lines(tree_factory):
    by = {a.name: a for a in _parse(tree_factory).aliases}
    inc = by["staff"].targets[0]
    assert inc.kind == K.INCLUDE and inc.value == "/etc/mail/staff.list"
    assert [(m.value, m.source.file, m.source.line) for m in inc.members] == [
        ("alice@example.org", "/etc/mail/staff.list", 2),
        ("bob", "/etc/mail/staff.list", 2),
        ("carol@example.org", "/etc/mail/staff.list", 4),
    ]


def test_duplicate_names_case_insensitive_first_wins(tree_factory):
    res = _parse(tree_factory)
    roots = [a for a in res.aliases if a.name.lower() == "root"]
    assert len(roots) == 1 and roots[0].targets[0].value == "admin@example.org"
    dup = [f for f in res.findings if f.id == "aliases.duplicate"]
    assert {f.id for f in res.findings} == {"aliases.duplicate", "aliases.backslash-continuation",
                                            "aliases.orphan-continuation"}
    orphan = [f for f in res.findings if f.id == "aliases.orphan-continuation"]
    assert [f.source.line for f in orphan] == [18]
    assert len(dup) == 1 and dup[0].source.line == 21 and "line 2" in dup[0].message


def test_files_are_fingerprinted(tree_factory):
    res = _parse(tree_factory)
    assert [(f.path, f.role) for f in res.files] == [
        ("/etc/mail/aliases", "aliases"), ("/etc/mail/staff.list", "alias-include")]
    assert all(len(f.sha256) == 64 for f in res.files)


def test_malformed_lines_become_findings_not_errors(tree_factory):
    text = 'ok: a@example.org\n"unterminated: b\nlonely\nempty:\nbad: "|/bin/x, c\n'
    res = _parse(tree_factory, aliases=text)
    names = [a.name for a in res.aliases]
    assert names == ["ok", "empty", "bad"]
    ids = sorted((f.id, f.source.line) for f in res.findings)
    assert ids == [("aliases.empty", 4), ("aliases.quote", 5), ("aliases.syntax", 2),
                   ("aliases.syntax", 3)]
    assert all(f.hint for f in res.findings)


def test_include_missing_loop_and_relative(tree_factory):
    text = ("a: :include:/etc/mail/nothere\nb: :include:/etc/mail/loop1\n"
            "c: :include:relative.list\n")
    res = _parse(tree_factory, aliases=text, extra={
        "/etc/mail/loop1": ":include:/etc/mail/loop2\n",
        "/etc/mail/loop2": "x@example.org, :include:/etc/mail/loop1\n"})
    ids = sorted(f.id for f in res.findings)
    assert ids == ["aliases.include-loop", "aliases.include-missing", "aliases.include-relative"]
    loop = [f for f in res.findings if f.id == "aliases.include-loop"][0]
    assert loop.source.file == "/etc/mail/loop2" and loop.source.line == 1
    b = [a for a in res.aliases if a.name == "b"][0]
    assert b.targets[0].members[0].members[0].value == "x@example.org"


@pytest.mark.parametrize("fan_out", [2, 4])
def test_include_fan_out_stops_at_the_budget_with_a_finding(tree_factory, fan_out):
    """An :include: file that names the next one several times, as deep as includes go: Exim
    reads every copy (4**10 reads for four), the parser stops at its budget, says where, and
    reads the rest of the table."""
    from conftest import CountingTree
    from parsers.aliases import MAX_INCLUDE_DEPTH, MAX_INCLUDE_READS

    depth = MAX_INCLUDE_DEPTH
    files = {f"/etc/mail/l{i}": f"m{i}@example.org\n"
             + (f":include:/etc/mail/l{i + 1}\n" * fan_out if i < depth else "")
             for i in range(1, depth + 1)}
    files["/etc/aliases"] = "board: :include:/etc/mail/l1\nafter: x@example.org\n"
    tree = CountingTree(tree_factory(files), stop=2 * MAX_INCLUDE_READS)
    res = parse_aliases(tree, "/etc/aliases")
    expected = sum(fan_out ** i for i in range(depth))  # every copy, when that is few enough
    assert tree.reads == 1 + min(expected, MAX_INCLUDE_READS)
    assert [a.name for a in res.aliases] == ["board", "after"]
    assert len(res.files) == depth + 1  # each file listed once, however often it was read
    budget = [f for f in res.findings if f.id == "aliases.include-budget"]
    if expected <= MAX_INCLUDE_READS:
        assert res.findings == []
        return
    (finding,) = budget
    assert [f.id for f in res.findings] == ["aliases.include-budget"]
    assert finding.severity.value == "error" and finding.hint
    assert finding.source.file.startswith("/etc/mail/l") and finding.source.line > 1


def test_the_include_budget_counts_bytes_too(tree_factory):
    """A budget of bytes as well as files: an :include: file of 550 bytes named by three
    aliases fits twice in 1,000 bytes; the third alias's :include: is skipped."""
    from parsers.base import IncludeBudget

    members = "".join(f"member{i:03d}@example.org\n" for i in range(25))  # 550 bytes
    root = tree_factory({"/etc/mail/big.list": members, "/etc/aliases": "".join(
        f"a{i}: :include:/etc/mail/big.list\n" for i in range(3))})
    res = parse_aliases(LocalTree(root), "/etc/aliases", budget=IncludeBudget(100, size=1_000))
    assert [len(a.targets[0].members) for a in res.aliases] == [25, 25, 0]
    (finding,) = res.findings
    assert (finding.id, finding.source.line) == ("aliases.include-budget", 3)
    assert "1,100 bytes" in finding.message


def test_binary_and_latin1_files(tree_factory):
    res = _parse(tree_factory, aliases="root: a@example.org\nx: y\n\x00\x01garbage\n")
    assert [f.id for f in res.findings] == ["input.binary"]
    assert res.findings[0].source.line == 3 and res.aliases == []
    root = tree_factory({"/etc/aliases": "m\xfcller: mueller@example.org\n".encode("latin-1")})
    res = parse_aliases(LocalTree(root), "/etc/aliases")
    assert res.aliases[0].name == "müller"
    assert [f.id for f in res.findings] == ["input.encoding"]


def test_missing_table(tree_factory):
    root = tree_factory({"/etc/rc.conf": ""})
    res = parse_aliases(LocalTree(root), "/etc/aliases")
    assert [f.id for f in res.findings] == ["input.missing"]
    assert parse_aliases(LocalTree(root), "/etc/aliases", required=False).findings == []


def test_classify_keeps_partial_quotes_and_specials():
    assert classify_target(':unknown:').kind == K.UNKNOWN
    assert classify_target(':FAIL: text').kind == K.FAIL
    assert classify_target(':include: /x').value == "/x"
    assert classify_target('"c d"@example.org').value == '"c d"@example.org'
