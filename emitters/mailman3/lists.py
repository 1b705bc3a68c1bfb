"""The lists in Mailman 3: where each one lives, the script that creates and imports them, and
what Mailman 3 does not carry, per list, before anything moves.

Each list is created at its Mailman 2 host name (``mailman create NAME@HOST``) and filled by
``mailman import21`` from its copied ``config.pck``, with ``--charset`` set to the charset its
text was read in (the inventory's ``ListFeatures.charset``): import21 decodes every Python 2
string with that charset and silently DROPS the bytes it cannot decode (its default is UTF-8, so
a Latin-1 name ``Zoë`` would arrive as ``Zo``).

What import21 does with each Mailman 2 setting was observed with the real Mailman 3.3.10 on
every sample list and the shared fixture (tests/test_mailman3_import.py asserts each row of
``IMPORT_TABLE``); the findings below come from those observations, not from memory.
"""

from __future__ import annotations

from collections import defaultdict

from migrate.core.model import Finding, Inventory, MailingList, Severity, Target
from migrate.core.text import md_text

from emitters.common import Emitted, is_domain, list_names
from emitters.guard import comment, sh_word
from emitters.mailman3.paths import MAILMAN, MM3_IMPORT, MM3_USER, MM3_VAR

IMPORT_SCRIPT = "files/new/mailman3/import-lists.sh"
IMPORT_TABLE_MD = "mailman3/import.md"
#: Where the script records each list it imported (a second run skips it: import21 run twice
#: would add what a member removed since).
DONE = f"{MM3_VAR}/import21.done"
q = sh_word

#: What Mailman 3.3.10's import21 does with each Mailman 2 setting: (setting, what happens,
#: carried: True kept or mapped, False dropped or changed). Observed with the real import.
IMPORT_TABLE: tuple[tuple[str, str, bool], ...] = (
    ("regular and digest members", "kept (digest members get MIME digests)", True),
    ("delivery status", "kept, renamed (by_bounce -> by_bounces, by_admin -> by_moderator)",
     True),
    ("owners, moderators", "kept (lower-cased unless also a member's spelling)", True),
    ("members' list passwords", "DROPPED: Mailman 3 has none", False),
    ("admin, moderator and poster passwords", "dropped (moderator password mapped)", False),
    ("subject prefix", "kept, stripped and followed by one space", True),
    ("reply_goes_to_list, reply_to_address", "mapped", True),
    ("archive, archive_private", "mapped to archive_policy", True),
    ("generic_nonmember_action, default member moderation", "mapped", True),
    ("per-member moderation", "mapped to each member's moderation action", True),
    ("accept/hold/reject/discard_these_nonmembers", "mapped (patterns stay patterns)", True),
    ("ban_list", "mapped to the list's bans", True),
    ("acceptable_aliases", "mapped, plus ^LIST@ at any domain (Mailman 2 did so too)", True),
    ("subscribe_policy, private_roster", "mapped", True),
    ("display name, description, language", "kept (decoded with --charset)", True),
    ("bounce settings", "kept (score threshold, warnings, notices)", True),
    ("members' bounce scores", "DROPPED: every member starts at zero", False),
    ("topics", "kept as settings; members' topic choices DROPPED", False),
    ("umbrella_list", "DROPPED: no such setting", False),
    ("digest volume, number, last sent", "kept", True),
    ("digest switches (digestable, nondigestable, MIME default, size threshold)",
     "DROPPED: Mailman 3's defaults apply", False),
    ("members' names", "kept on the address, site-wide: one name per address", False),
    ("members' address spelling", "site-wide: the first imported list's spelling", False),
    ("held posts, subscription requests, pending confirmations",
     "not read by import21: carried by the plan's export and import of what waits", True),
    ("posts collected for the next digest", "not read: sent on the old host at the freeze",
     True),
)


def list_host(ml: MailingList, target: Target) -> str | None:
    """The domain a list lives at in Mailman 3 (one per list): its Mailman 2 host name where
    that domain moves, else the first moved domain (Mailman 2 answered every list on every list
    domain; the address table maps the others)."""
    moved = [d for d in target.email_domains if is_domain(d)]
    host = (ml.host_name or "").lower()
    if host in moved:
        return host
    return moved[0] if moved else None


def lists_in_mailman3(inv: Inventory, target: Target) -> list[tuple[MailingList, str]]:
    """Every list that moves with its name writable, and its domain in Mailman 3."""
    names, _ = list_names(inv)
    out = []
    for ml in inv.lists:
        host = list_host(ml, target)
        if ml.name in names and host:
            out.append((ml, host))
    return sorted(out, key=lambda pair: pair[0].name)


def emit_lists(lists: list[tuple[MailingList, str]]) -> Emitted:
    """The import script, the import table and the findings of ``lists``
    (``lists_in_mailman3``)."""
    out = Emitted()
    out.findings += findings(lists)
    lines = [
        "#!/bin/sh",
        f"# Creates every list in Mailman 3 and imports its copied Mailman 2 config.pck, as "
        f"{MM3_USER}.",
        "# Written by migrate; run by the cutover after the final sync. A list already imported",
        f"# ({DONE}/NAME) is skipped: import21 run twice would undo what changed since; one",
        "# created but not imported (a run cut short) is removed and made again.",
        "set -eu",
        f"mkdir -p {q(DONE)}",
        "",
        "run() {",
        f"\tsu -s /bin/sh {MM3_USER} -c \"$*\"",
        "}",
        "",
    ]
    for ml, host in lists:
        address = f"{ml.name}@{host}"
        pickle = f"{MM3_IMPORT}/lists/{ml.name}/config.pck"
        charset = ml.features.charset or "utf-8"
        stamp = f"{DONE}/{ml.name}"
        lines += [
            f"# {comment(ml.name)}: text read as {comment(charset)}",
            f"if [ ! -e {q(stamp)} ]; then",
            # a run cut short may have created it, not imported it (no mail reached it: smtpd
            # routes here only after every list is stamped): made again from scratch. Not
            # --quiet: 3.3.10's remove then fails on a list that does not exist
            f"\trun {q(f'{MAILMAN} remove {q(address)}')}",
            f"\trun {q(f'{MAILMAN} create --quiet {q(address)}')}",
            f"\trun {q(f'{MAILMAN} import21 --charset {q(charset)} {q(address)} {q(pickle)}')}",
            f"\ttouch {q(stamp)}",
            "fi",
        ]
    lines.append("")
    out.files[IMPORT_SCRIPT] = "\n".join(lines)
    out.data.import_settings = [{"what": what, "how": how, "carried": carried}
                                for what, how, carried in IMPORT_TABLE]
    out.data.import_lists = [import_row(ml, host) for ml, host in lists]
    out.files[IMPORT_TABLE_MD] = import_table(out.data.import_settings, out.data.import_lists)
    return out


def import_row(ml: MailingList, host: str) -> dict:
    f = ml.features
    """A list's row of the import table: its counts of what the import drops, and of what
    waits (carried apart)."""
    return {"list": ml.name, "at": host,
            "members": ml.members.regular_count + ml.members.digest_count,
            "passwords dropped": f.member_passwords, "bounce scores dropped": f.bounce_scores,
            "topics": f.topics, "umbrella list": "yes" if f.umbrella_list else "no",
            "held posts": ml.held_posts, "subscriptions for the moderator":
            ml.held_subscriptions, "pending confirmations": ml.pending_count}


def import_table(settings: list[dict], lists: list[dict]) -> str:
    """What Mailman 3's import carries and what it changes, for people, with each list's
    counts of what it drops."""
    rows = ["# What Mailman 3 carries of each list", "",
            "Observed with the real Mailman 3.3.10 `import21` on real Mailman 2 lists "
            "(tests/test_mailman3_import.py asserts these observations).", "",
            "| Mailman 2 | In Mailman 3 |", "|---|---|"]
    rows += [f"| {md_text(r['what'])} | {md_text(r['how'])} |" for r in settings]
    keys = list(lists[0]) if lists else []
    rows += ["", "## Per list", "", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    rows += ["| " + " | ".join(md_text(str(r[k])) for k in keys) + " |" for r in lists]
    return "\n".join(rows) + "\n"


def findings(lists: list[tuple[MailingList, str]]) -> list[Finding]:
    out: list[Finding] = []
    passwords = 0
    for ml, host in lists:
        f = ml.features
        src = ml.source
        passwords += f.member_passwords
        if (ml.host_name or "").lower() != host:
            out.append(Finding(
                "plan.mailman3-list-domain", Severity.WARNING,
                f"list {ml.name}'s host name {ml.host_name!r} does not move: in Mailman 3 it "
                f"lives at {host} (one domain per list)",
                "Its old addresses on the moved domains still reach it (parity.md); move its "
                "domain too if it should keep its own.", src))
        dropped = []
        if f.bounce_scores:
            dropped.append(f"{f.bounce_scores} members' bounce scores (they start at zero)")
        by_bounce = ml.members.delivery_status.get("by_bounce", 0)
        if by_bounce:
            dropped.append(f"the warnings already sent to its {by_bounce} members disabled by "
                           "bounces: Mailman 3 sends each a first warning when it starts, and "
                           "removes them after its own count of warnings")
        if f.topics:
            dropped.append(f"its {f.topics} topics' filtering and the members' topic choices "
                           "(the topics stay as settings)")
        if f.umbrella_list:
            dropped.append("its umbrella list setting (Mailman 3 has none: the member lists' "
                           "owners get the confirmations)")
        if f.header_filter_rules:
            dropped.append(f"its {f.header_filter_rules} header filter rules as written (they "
                           "become header matches: check them in Postorius)")
        if dropped:
            out.append(Finding(
                "plan.mailman3-not-carried", Severity.WARNING,
                f"Mailman 3 does not carry, for list {ml.name}: " + "; ".join(dropped),
                "Tell the list's owners before the move; mailman3/import.md has the whole "
                "table.", src))
        if f.charset and f.charset not in ("us-ascii", "utf-8"):
            out.append(Finding(
                "plan.mailman3-charset", Severity.INFO,
                f"list {ml.name}'s text is imported as {f.charset} (import21 --charset), or "
                "its names would lose every byte that is not UTF-8",
                "Nothing to do; check its display name and description after the import.",
                src))
    if passwords:
        out.append(Finding(
            "plan.mailman3-passwords", Severity.WARNING,
            f"{passwords} members' list passwords are not carried: Mailman 3 has no list "
            "passwords",
            "Members keep their subscriptions and options. To change them on the web they sign "
            "up in Postorius with the same address (its 'forgot password' mails a link); by "
            "mail, the -request address works without a password. Announce it to the lists "
            "with the move.", None))
    out += _spellings(lists)
    return out


def _spellings(lists: list[tuple[MailingList, str]]) -> list[Finding]:
    """Addresses that two lists spell differently: Mailman 3 keeps one spelling site-wide (the
    first imported list's: the lists are imported by name)."""
    seen: dict[str, dict[str, str]] = defaultdict(dict)  # lower -> spelling -> first list
    for ml, _ in lists:
        for address in [*ml.members.regular, *ml.members.digest]:
            seen[address.lower()].setdefault(address, ml.name)
    out = []
    for spellings in seen.values():
        if len(spellings) > 1:
            first, *others = spellings.items()
            out.append(Finding(
                "plan.mailman3-address-spelling", Severity.INFO,
                f"{first[0]} (list {first[1]}) is also spelled "
                + ", ".join(f"{a} (list {n})" for a, n in others)
                + f": Mailman 3 keeps one spelling for every list, {first[0]}",
                "Nothing to do: mail reaches the member the same way.", None))
    return out

