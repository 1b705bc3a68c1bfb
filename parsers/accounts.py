"""``/etc/passwd`` and ``/etc/group``: names and ids, to map file owners between the hosts.

The password field is skipped on purpose (FreeBSD keeps hashes in master.passwd, which is never
read, but a Linux-style passwd may still carry one).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from migrate.core.model import Account, AccountKind, ConfigFile, Finding, Severity, Source
from parsers.base import Tree, read_text


@dataclass
class AccountsResult:
    accounts: list[Account] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    files: list[ConfigFile] = field(default_factory=list)


def _read(tree: Tree, path: str, kind: str, fields_needed: int, result: AccountsResult) -> None:
    tf = read_text(tree, path, kind, required=False)
    result.findings.extend(tf.findings)
    if tf.config:
        result.files.append(tf.config)
    for number, line in enumerate(tf.lines(), start=1):
        if not line.strip() or line.lstrip().startswith("#") or line.startswith(("+", "-")):
            continue  # comments and NIS compat entries
        parts = line.split(":")
        if len(parts) < fields_needed or not parts[2].strip().isdigit():
            result.findings.append(Finding(
                "accounts.syntax", Severity.WARNING,
                f"malformed {kind} entry (expected {fields_needed} colon-separated fields)",
                f"Check line {number} of {tf.path}; the entry is left out.",
                Source(tf.path, number)))
            continue
        source = Source(tf.path, number)
        if kind == "passwd":
            gid = int(parts[3]) if parts[3].strip().isdigit() else None
            home = parts[5].strip() if len(parts) > 5 and parts[5].startswith("/") else None
            result.accounts.append(Account(parts[0], int(parts[2]), AccountKind.USER, gid,
                                           home=home, source=source))
        else:
            members = [m for m in parts[3].strip().split(",") if m] if len(parts) > 3 else []
            result.accounts.append(Account(parts[0], int(parts[2]), AccountKind.GROUP, None,
                                           members, source))


def parse_accounts(tree: Tree) -> AccountsResult:
    result = AccountsResult()
    _read(tree, "/etc/passwd", "passwd", 7, result)
    _read(tree, "/etc/group", "group", 4, result)
    return result
