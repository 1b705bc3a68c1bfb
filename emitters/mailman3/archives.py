"""Every list's archived posts into HyperKitty, each once, in the month the inspection counted it.

A plain ``mailman-web hyperkitty_import`` of a pipermail mbox splits it at every line that
starts with ``From `` and so invents posts (measured: a 480-post archive with 16 such body lines
gave 496), skips a second post with an earlier one's Message-ID, and files a post without a
readable Date: at the time of the import. The plan's ``hyperkitty_archive.py`` (``scripts/``)
prepares a copy of each list's copied mbox instead, by the inspection's own rules (the scanner
``parsers/mboxscan.py``, which the plan ships beside it), and checks HyperKitty afterwards,
month by month, against what it prepared. The import script runs it for every list with an
archive; running it again adds nothing (HyperKitty skips a Message-ID it holds, and the copy is
the same on every run: a made Message-ID is the list's and the post's number).
"""

from __future__ import annotations

from migrate.core.model import Inventory, MailingList

from emitters.common import Emitted
from emitters.guard import sh_word
from emitters.mailman3.paths import (ARCHIVE_SCRIPT, ARCHIVE_TOOLS, HK_IMPORT, MM3_IMPORT,
                                     WEB_BIN, WEB_GROUP, WEB_PYTHON, WEB_USER)
from emitters.mailman3.web import as_web

q = sh_word
#: The plan's files: the script, the scanner beside it (the orchestration writes it: emitters
#: do not read the parsers), and the shell script the runbook runs.
SCRIPT_FILE = "files/new/mailman3/archive/hyperkitty_archive.py"
SCANNER_FILE = "files/new/mailman3/archive/mboxscan.py"
IMPORT_SCRIPT = "files/new/mailman3/import-archives.sh"
#: hyperkitty_import takes only what is newer than the newest post it holds unless told a
#: date: a run cut short would lose the older rest. Every post is newer than this.
SINCE = "1000-01-01T00:00:00+00:00"
#: How often a list's import runs before the step fails (each run adds only what is missing).
ATTEMPTS = 5


def mbox_on_new_host(name: str) -> str:
    """Where the sync puts a list's archive mbox on the new host."""
    return f"{MM3_IMPORT}/archives/private/{name}.mbox/{name}.mbox"


def check_command(name: str, address: str) -> str:
    """HyperKitty holds the list's prepared posts, month by month (exit 1 where not)."""
    return as_web(f"{WEB_PYTHON} {ARCHIVE_SCRIPT} check {q(f'{HK_IMPORT}/{name}.json')} "
                   f"--list {q(address)}")


def archived_lists(inv: Inventory, lists: list[tuple[MailingList, str]]
                   ) -> list[tuple[str, str]]:
    """(name, address in Mailman 3) of every moving list whose archive mbox the inspection
    found."""
    found = {a.list_name for a in inv.archives if a.mbox_path}
    return [(ml.name, f"{ml.name}@{host}") for ml, host in lists if ml.name in found]


def emit_archives(inv: Inventory, lists: list[tuple[MailingList, str]], script: str) -> Emitted:
    """The import script and the tools it runs (``script``: hyperkitty_archive.py's text)."""
    out = Emitted()
    out.files[SCRIPT_FILE] = script
    out.data.scanner = SCANNER_FILE
    out.install(SCRIPT_FILE, ARCHIVE_SCRIPT, mode="0555")
    out.install(SCANNER_FILE, f"{ARCHIVE_TOOLS}/mboxscan.py", mode="0444")
    lines = [
        "#!/bin/sh",
        "# Imports every list's archived posts into HyperKitty: each list's copied mbox is",
        f"# prepared by {ARCHIVE_SCRIPT} (as the inspection counted it: a copy, in",
        f"# {HK_IMPORT}), imported with mailman-web hyperkitty_import, and checked month by",
        "# month. Written by migrate; run by the cutover once Mailman 3 runs. Safe to run again:",
        "# HyperKitty skips a post it holds, and the prepared copy is the same every time.",
        "set -eu",
        f"install -d -o {WEB_USER} -g {WEB_GROUP} -m 0700 {HK_IMPORT}",
        "",
    ]
    for name, address in archived_lists(inv, lists):
        mbox, copy, summary = mbox_on_new_host(name), f"{HK_IMPORT}/{name}.mbox", \
            f"{HK_IMPORT}/{name}.json"
        lines += [
            f"# {name}",
            f"if [ -f {q(mbox)} ]; then",
            # root reads the archive (Mailman's, not the web user's); the web user imports
            f"\t{WEB_PYTHON} {ARCHIVE_SCRIPT} prepare {q(mbox)} {q(copy)} {q(summary)} "
            f"--list {q(address)}",
            f"\tchown {WEB_USER} {q(copy)} {q(summary)} {q(summary + '.ids')}",
            # the lists take posts meanwhile: a write HyperKitty's database refused (SQLite
            # allows one writer) fails a post or the run; another run adds what is missing
            "\tn=1",
            "\tuntil " + as_web(f"{WEB_BIN} hyperkitty_import --ignore-mtime --since {SINCE} "
                                 f"-l {q(address)} {q(copy)}") + " && " +
            check_command(name, address) + "; do",
            f"\t\t[ $n -lt {ATTEMPTS} ] || exit 1",
            f"\t\techo {q(name + ': run')} $n of {ATTEMPTS} {q('left posts out; again in 10 s')}",
            "\t\tn=$((n + 1))",
            "\t\tsleep 10",
            "\tdone",
            "else",
            f"\techo {q(f'{name}: no archive mbox at {mbox}: nothing to import')}",
            "fi",
            "",
        ]
    out.files[IMPORT_SCRIPT] = "\n".join(lines)
    return out
