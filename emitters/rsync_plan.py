"""The archive and list sync: what moves, from where to where, in two phases.

Per list, from the old var prefix (``/usr/local/mailman`` on FreeBSD) to the OpenBSD package's
(``/var/spool/mailman``): ``lists/NAME/`` (with ``request.pck``, the held posts and
subscriptions waiting for a moderator, and ``pending.pck``, the confirmations waiting for the
member), ``archives/private/NAME/`` (the HTML, copied as it is: a rebuild would renumber
articles) and ``archives/private/NAME.mbox/``. From ``data/``, only what belongs to a moved
list or to the site: every list's held posts (``heldmsg-NAME-N.pck``, ``.txt``, the files
``request.pck`` points at) and the site's password hashes (``adm.pw``, ``creator.pw``, where
the old host has them); never ``data/`` as a whole (its logs of bounces and lock files belong
to the old host) and never ``archives/public/``: its symlinks point into the old prefix and are
made again on the new host for public archives only.

Symlinks travel as symlinks, but never one that leads out of the folder it is copied with
(on the new host httpd would serve, and Mailman write, whatever it reaches): ``--safe-links``
drops every absolute link and every one whose ``..`` climb out as rsync reads them, and each
link the inspection found leading out (``parsers/links.py``: followed through the other links
of its folder, which rsync does not do) is excluded by name. A copied folder that is itself a
link is refused by ``copy_tree`` (rsync would copy what it points to in its place).

Phase ``presync`` runs while the old host still takes mail (it can be repeated, and the
runbook repeats it once just before the freeze where ``Target.second_presync``); phase
``final`` runs during the freeze, after the old MTA is stopped and Mailman's queues are empty
and Mailman stopped. The old host pushes to the new one over SSH (GNU rsync on both ends:
``pkg_add rsync`` on OpenBSD, whose base openrsync lacks some of these options).

The freeze window must not grow with the archives, so the final phase moves and reads only
what changed since the pre-sync (``rsync/syncstate.py``, run by both hosts' own Python, 2.6+
or 3; the copied folders reach it as data, ``rsync/sync-spec.json``, made from the same
transfers as rsync's filters). After its copies the pre-sync records both hosts: per file its
size, mtime, ctime, inode and SHA-256, for an archive mbox that grew while it was copied also
the checksum of the part the new host holds, and keeps on the old host what both hold alike
(``rsync/state/synced.rec``). The final phase then takes the new host's files by stat, and on
the old host (``delta``) leaves unread every file whose four are as recorded, hashes only the
new tail of an mbox that only grew (same inode, the copied part's head, tail and samples as
recorded) and every other changed file whole; three rsync runs follow (the tails with
``--append``, the rest whole with ``--ignore-times``, the deletions), the old host proves
nothing changed meanwhile (``settle``) and the new host checks the *freeze manifest* that came
out of the delta (``check``: every carried file as the old host held it at the freeze). Then
it compares each list's held posts, ``request.pck`` and ``pending.pck`` on both hosts
(``rsync/freeze-manifest.py requests``). The pickles are never loaded for this: byte-identical
files hold the same requests, and the held posts are counted as files.

Output: ``rsync/presync.sh`` and ``rsync/final.sh`` (readable, every flag explained),
``rsync/transfers.yaml`` (the same as data for ``migrate cutover``), ``rsync/syncstate.py``,
``rsync/sync-spec.json``, ``rsync/sync-filter.rules`` (the deletion run's filter),
``rsync/freeze-manifest.py`` and ``rsync/manifest.sha256`` (the checksum of every file the
inventory read whole, at its path on the new host: what the inspection saw, for ``sha256 -c``
when nothing changed since, and for the preflight's report of what did).
"""

from __future__ import annotations

import json
import re
from importlib import resources

import yaml

from migrate.core.mailman2 import SITE_PASSWORD_FILES
from migrate.core.model import FileMode, Finding, Inventory, Target
from migrate.core.steps import FINAL_SYNC_SUMMARY, HOST_PLAN_DIR

from emitters.common import Emitted, is_list_name, is_path
from emitters.destination import Destination
from emitters.guard import comment, refuse, sh_word
from emitters.new_host import NewHost

PRESYNC = "rsync/presync.sh"
FINAL = "rsync/final.sh"
TRANSFERS = "rsync/transfers.yaml"
MANIFEST = "rsync/manifest.sha256"
MANIFEST_OLD = "rsync/manifest-old.sha256"
COMPARE_SCRIPT = "rsync/compare-manifest.py"
FREEZE_SCRIPT = "rsync/freeze-manifest.py"
SYNC_SCRIPT = "rsync/syncstate.py"
SYNC_SPEC = "rsync/sync-spec.json"
SYNC_FILTER = "rsync/sync-filter.rules"
#: Where each host keeps the pre-sync's record (beside the plan's copy there, which a new
#: upload of the plan leaves alone).
SYNC_STATE = f"{HOST_PLAN_DIR}/rsync/state"
#: Where the final phase leaves the freeze manifest on the new host (the plan's copy there):
#: every carried file as the old host held it at the freeze, checked there by syncstate.py.
FREEZE_MANIFEST = f"{HOST_PLAN_DIR}/rsync/manifest-freeze.jsonl"

#: Files Mailman leaves after a crash; never read, never copied.
SKIP = "config.pck.tmp.*"

#: Every flag, and why (printed into the scripts).
FLAGS_COMMON = (
    ("--recursive", "whole folders"),
    ("--links", "symlinks stay symlinks (never followed out of the tree)"),
    ("--safe-links", "but none that is absolute or climbs out of the copied folder (those the "
                     "inspection found leading out are left out by name too)"),
    ("--perms", "modes, including the setgid bit Mailman's folders carry"),
    ("--times", "modification times: the next run's quick check depends on them"),
    ("--partial-dir=.rsync-partial", "a large mbox cut off half-way resumes instead of restarting"),
    (f"--exclude={SKIP}", "stray files Mailman leaves after a crash; never read"),
    ("--itemize-changes", "one line per changed file, for the cutover journal"),
    ("--rsh=ssh -o BatchMode=yes", "over SSH; fails instead of asking for a password"),
)
#: The final phase's three runs, each over the lists the old host's record gives it
#: (``rsync/syncstate.py delta``): the common flags without --recursive, plus these.
FLAGS_APPEND = (
    ("--append", "an archive mbox that only grew since the pre-sync: its new tail only, "
                 "written in place (no --partial-dir); the part copied before was proved "
                 "unchanged by the record, the tail is hashed on both hosts"),
)
FLAGS_WHOLE = (
    ("--ignore-times", "every other file that changed since the pre-sync (by size, mtime, "
                       "ctime or inode: a config.pck rewritten in the same second with the same "
                       "size too) is copied whole, never skipped by the quick check"),
)
FLAGS_DELETE = (
    ("--existing", "with --ignore-existing: this run copies nothing, it only deletes (and so"),
    ("--ignore-existing", "without --perms and --times: no folder of the new host changes)"),
    ("--delete-after", "files deleted on the old host since the pre-sync go on the new one too; "
                       "only inside the copied folders (in data/, only files the filter names)"),
)
FLAGS_FINAL = FLAGS_APPEND + FLAGS_WHOLE + FLAGS_DELETE + (
    ("--stats", "bytes moved in the delta against the whole, for the cutover's journal"),
)
# Owners are not copied (no --owner/--group): the old host's mailman (uid 91 on FreeBSD) means
# nothing on OpenBSD; everything is chowned to _mailman:_mailman afterwards and check_perms -f
# puts the group bits right.


def transfers(inv: Inventory, dest: Destination) -> tuple[list[dict], list[Finding]]:
    """One entry per folder to copy: list, kind, source, destination (under ``dest.var``),
    bytes known."""
    out: list[dict] = []
    findings: list[Finding] = []
    if inv.mailman is None or not inv.mailman.var_prefix:
        return out, findings
    var = inv.mailman.var_prefix
    if not is_path(var):
        findings.append(refuse("mailman.var_prefix", var, f"{PRESYNC} and {FINAL}",
                               inv.mailman.source))
        return out, findings
    archives = {a.list_name: a for a in inv.archives}
    leaving = _leaving_links(inv)
    moved = [ml for ml in sorted(inv.lists, key=lambda m: m.name) if is_list_name(ml.name)]
    for ml in moved:
        size = sum(f.size or 0 for f in ml.files)
        out.append({"list": ml.name, "kind": "list", "source": f"{var}/lists/{ml.name}/",
                    "destination": f"{dest.var}/lists/{ml.name}/", "bytes": size})
        archive = archives.get(ml.name)
        if archive is None:
            continue
        if archive.html_dir:
            out.append({"list": ml.name, "kind": "archive-html",
                        "source": f"{var}/archives/private/{ml.name}/",
                        "destination": f"{dest.var}/archives/private/{ml.name}/", "bytes": None})
        if archive.mbox_path:
            out.append({"list": ml.name, "kind": "archive-mbox",
                        "source": f"{var}/archives/private/{ml.name}.mbox/",
                        "destination": f"{dest.var}/archives/private/{ml.name}.mbox/",
                        "bytes": archive.bytes})
    if moved:
        # data/: each moved list's held posts (also those held after the inspection) and the
        # site's password files; nothing else of data/ matches, so nothing else moves or is
        # deleted (--delete-after spares what the filter excludes)
        include = [f"/heldmsg-{ml.name}-[0-9]*.{ext}" for ml in moved for ext in ("pck", "txt")]
        include += [f"/{f.path.rsplit('/', 1)[1]}" for f in _site_files(inv)]
        include += [f"/{folder}/***" for folder in dest.carried_folders]
        out.append({"list": None, "kind": "held-posts-and-site-passwords",
                    "source": f"{var}/data/", "destination": f"{dest.var}/data/",
                    "bytes": sum(f.size or 0 for ml in moved for f in ml.held_files)
                    + sum(f.size or 0 for f in _site_files(inv)),
                    "include": include})
    for item in out:
        exclude = leaving.get(item["source"].rstrip("/"))
        if exclude:
            item["exclude"] = exclude
    return out, findings


def _leaving_links(inv: Inventory, escaped: bool = True) -> dict[str, list[str]]:
    """Per copied folder (as the inventory names it), an rsync pattern for each link in it
    that leads out of it (``parsers/links.py``): the sync never carries one, even where
    ``--safe-links`` would (a link through another link, ``sub -> .``, can climb further
    than its target reads). The pattern is anchored at the folder's top and matches the
    name literally, whatever it holds (the scripts quote it; a line break never gets here:
    the guard refuses it in the inventory). ``escaped=False``: the names as they are."""
    out: dict[str, list[str]] = {}
    for link in inv.mailman.links if inv.mailman else []:
        if not link.inside and link.path.startswith(link.folder + "/"):
            rel = link.path[len(link.folder) + 1:]
            if escaped and any(c in rel for c in "*?["):  # rsync reads \ as an escape only then
                rel = re.sub(r"([*?\[\\])", r"\\\1", rel)
            out.setdefault(link.folder, []).append(f"/{rel}")
    return {folder: sorted(rules) for folder, rules in out.items()}


def _site_files(inv: Inventory) -> list[FileMode]:
    """data/adm.pw and data/creator.pw as inspected (the only files of data/ by these names)."""
    if inv.mailman is None:
        return []
    return [f for f in inv.mailman.site_files
            if f.path.rsplit("/", 1)[-1] in SITE_PASSWORD_FILES and is_path(f.path)]


def public_links(inv: Inventory, dest: Destination) -> list[tuple[str, str]]:
    """(link, target) on the new host for every list whose archive is public."""
    out = []
    mboxes = {a.list_name for a in inv.archives if a.public_mbox_link_target}
    for ml in sorted(inv.lists, key=lambda m: m.name):
        if is_list_name(ml.name) and ml.archive is not False and ml.archive_private is False:
            out.append((f"{dest.var}/archives/public/{ml.name}",
                        f"{dest.var}/archives/private/{ml.name}"))
            if ml.name in mboxes:  # PUBLIC_MBOX: the mbox's link too (a list manager that
                # never saves the list, as Mailman 3, would not make it again)
                out.append((f"{dest.var}/archives/public/{ml.name}.mbox",
                            f"{dest.var}/archives/private/{ml.name}.mbox"))
    return out


def emit_rsync(inv: Inventory, target: Target, release, host: NewHost) -> Emitted:
    out = Emitted()
    dest = host.destination
    items, out.findings = transfers(inv, dest)
    out.data.transfers = items
    for phase, path in (("presync", PRESYNC), ("final", FINAL)):
        out.files[path] = _script(inv, target, dest, items, phase)
    data = {"transfers": items,
            "public_links": [{"link": a, "target": b} for a, b in public_links(inv, dest)],
            "flags": {"common": [f for f, _ in FLAGS_COMMON],
                      "append": [f for f, _ in FLAGS_APPEND],
                      "whole": [f for f, _ in FLAGS_WHOLE],
                      "delete": [f for f, _ in FLAGS_DELETE]}}
    out.files[TRANSFERS] = yaml.safe_dump(data, sort_keys=False, width=100)
    out.files[MANIFEST] = _manifest(inv, dest)
    out.files[MANIFEST_OLD] = _manifest(inv, dest, old_paths=True)
    out.files[COMPARE_SCRIPT] = COMPARE
    out.files[FREEZE_SCRIPT] = FREEZE
    if items:
        out.files[SYNC_SCRIPT] = SYNCSTATE
        out.files[SYNC_SPEC] = sync_spec(inv, items)
        out.files[SYNC_FILTER] = sync_filter(inv, items)
    return out


def _script(inv: Inventory, target: Target, dest: Destination, items: list[dict],
            phase: str) -> str:
    flags = FLAGS_COMMON + (FLAGS_FINAL if phase == "final" else ())
    lines = [
        "#!/bin/sh",
        f"# Phase {phase}: run as root on the old host "
        f"({comment(inv.host.hostname or 'the old host')}).",
        "# NEW is root@ the new host as ssh takes it, e.g. NEW=root@" + (
            target.ipv6[0] if target.ipv6 else target.hostname),
    ]
    if phase == "final":
        lines.append("# Only during the freeze: the old MTA stopped and Mailman's queues "
                     "drained (the cutover checks both first).")
    lines += ["set -eu", ': "${NEW:?set NEW=root@new-host}"',
              "# rsync wants an IPv6 address in brackets (root@[2001:db8::25]:/path); ssh "
              "does not",
              'case "${NEW#*@}" in *:*) RNEW="${NEW%"${NEW#*@}"}[${NEW#*@}]" ;; '
              '*) RNEW=$NEW ;; esac', "", "# Flags:"]
    lines += [f"#   {flag:<32} {why}" for flag, why in flags]
    lines += ["", "# the host's own Python", PY_FUNCTION, 'HERE=$(cd "$(dirname "$0")" && pwd)',
              'TMP=$(mktemp -d); trap \'rm -rf "$TMP"\' EXIT', ""]
    if phase == "presync":
        lines += _copy_function()
        for item in items:
            lines += _copy_line(item)
        if items:
            lines += _record(inv, dest)
    elif items:
        lines += _final(inv, dest, items)
    else:
        lines += ["# nothing to copy: the old host has no Mailman lists"]
    return "\n".join(lines) + "\n"


#: A shell function ``py`` that runs the host's own Python (Mailman 2 guarantees one on the
#: old host; the new host's list manager brings one): one line, as the scripts define it and
#: as each command run on the new host over ssh begins.
PY_FUNCTION = ("py() { for p in python3 python2.7 python2 python; do if command -v \"$p\" "
               ">/dev/null 2>&1; then \"$p\" \"$@\"; return; fi; done; echo 'no python here' "
               ">&2; return 1; }")
_REMOTE_PY = PY_FUNCTION + "; "


def _copy_function() -> list[str]:
    q = sh_word
    lines = ["copy_tree() {  # SOURCE/ DESTINATION/ [--exclude=/LINK...] "
             "[--include=PATTERN... --exclude=*]",
             '    src=$1 dst=$2; shift 2',
             "    # a copied folder that is a symlink: rsync would copy what it points to",
             '    [ ! -L "${src%/}" ] || { echo "$src is a symbolic link: not copied" >&2; '
             "return 1; }"]
    rsync = "    rsync " + " ".join(q(f) for f, _ in FLAGS_COMMON) + ' "$@" "$src" "$RNEW:$dst"'
    # a live Mailman renames its temporary files (pipermail's lock files, request.pck and
    # pending.pck written beside) while rsync reads the folder: rsync reports them as vanished
    # (exit 24), harmless before the freeze; the final sync, with Mailman stopped, takes what
    # changed and deletes what went
    lines += ["    # exit 24: files vanished during the copy (a live Mailman's temporary files);",
              "    # the final sync, with Mailman stopped, puts that right",
              rsync + " || [ $? -eq 24 ]", "}", ""]
    return lines


def _copy_line(item: dict) -> list[str]:
    q = sh_word
    only = [f"--include={p}" for p in item.get("include", [])]
    only += ["--exclude=*"] if only else []
    only = [f"--exclude={p}" for p in item.get("exclude", [])] + only
    copy = " ".join(["copy_tree", q(item["source"]), q(item["destination"])]
                    + [q(o) for o in only])
    # data/ is Mailman's own; a host that never held a post may lack it
    return [f"# {comment(item['list'] or 'every list')}: {item['kind']}",
            f"[ ! -d {q(item['source'])} ] || {copy}" if item.get("include") else copy]


def prefix_check(inv: Inventory) -> str | None:
    """The command, run on the old host after the freeze window, that reads each mbox the final
    sync appended to whole, against the pre-sync's checksum of the part copied before (the
    window trusted its head, tail and samples); None when nothing is synced."""
    if inv.mailman is None or not inv.mailman.var_prefix or not is_path(inv.mailman.var_prefix):
        return None
    return (f"{_REMOTE_PY}py {HOST_PLAN_DIR}/{SYNC_SCRIPT} prefixes "
            f"{sh_word(inv.mailman.var_prefix)} {HOST_PLAN_DIR}/{SYNC_SPEC} "
            f"{HOST_PLAN_DIR}/rsync/state/manifest-freeze.jsonl")


def manifest_check(dest: Destination) -> str:
    """The command, run on the new host, that checks the freeze manifest there: every carried
    file as the old host held it at the freeze (by stat where the record vouches for it)."""
    return (f"{_REMOTE_PY}py {HOST_PLAN_DIR}/{SYNC_SCRIPT} check {sh_word(dest.var)} "
            f"{HOST_PLAN_DIR}/{SYNC_SPEC} {FREEZE_MANIFEST}")


def _remote(command: str) -> str:
    """``ssh "$NEW" COMMAND`` with the host's Python as ``py``."""
    return f"ssh -o BatchMode=yes \"$NEW\" {sh_word(_REMOTE_PY + command)}"


def _record(inv: Inventory, dest: Destination) -> list[str]:
    """Presync, after the copies: owners set on the new host, then the record of both hosts
    (``syncstate.py scan``; the old host's after the new host's, so that it can hash the part
    of each grown mbox the new host holds) and what they hold alike (``agree``)."""
    q = sh_word
    var = inv.mailman.var_prefix
    script, spec = f"{HOST_PLAN_DIR}/{SYNC_SCRIPT}", f"{HOST_PLAN_DIR}/{SYNC_SPEC}"
    scan = (f"mkdir -p {SYNC_STATE} && py {script} scan {q(dest.var)} {spec} --prev "
            f"{SYNC_STATE}/new.rec > {SYNC_STATE}/new.rec.tmp && mv -f {SYNC_STATE}/new.rec.tmp "
            f"{SYNC_STATE}/new.rec && cat {SYNC_STATE}/new.rec")
    return [
        "",
        "# Owners on the new host (only files not owned yet: a file left alone keeps its",
        "# ctime, which the record below holds):",
        _remote(_owners(inv, dest)),
        "",
        "# The record of what this pre-sync copied (rsync/syncstate.py), kept on the old host",
        "# in $HERE/state: per file on both hosts its size, mtime, ctime, inode and SHA-256, and",
        "# for an archive mbox that grew since it was copied the checksum of the part the new",
        "# host holds. The final sync reads it to move and check only what changed since; a",
        "# repeated pre-sync reads only the files that changed.",
        'STATE="$HERE/state"; mkdir -p "$STATE"',
        f'{_remote(scan)} > "$STATE/new.rec.tmp"',
        f'py "$HERE/syncstate.py" scan {q(var)} "$HERE/sync-spec.json" --prev "$STATE/old.rec" '
        '--cut "$STATE/new.rec.tmp" > "$STATE/old.rec.tmp"',
        'py "$HERE/syncstate.py" agree "$STATE/old.rec.tmp" "$STATE/new.rec.tmp" '
        '> "$STATE/synced.rec.tmp"',
        'mv -f "$STATE/old.rec.tmp" "$STATE/old.rec"',
        'mv -f "$STATE/new.rec.tmp" "$STATE/new.rec"',
        'mv -f "$STATE/synced.rec.tmp" "$STATE/synced.rec"',
    ]


def _final(inv: Inventory, dest: Destination, items: list[dict]) -> list[str]:
    """Final phase: the held posts snapshot, the delta against the record, three rsync runs
    fed by it, the old host unchanged meanwhile, the freeze manifest checked on the new host,
    owners and links, the held posts compared, the window's parts."""
    q = sh_word
    var = inv.mailman.var_prefix
    names = _moved(items)
    script, spec = f"{HOST_PLAN_DIR}/{SYNC_SCRIPT}", f"{HOST_PLAN_DIR}/{SYNC_SPEC}"
    base = " ".join(q(f) for f, _ in FLAGS_COMMON if f != "--recursive")
    # --append writes in place (a cut-off run resumes where it stopped): rsync refuses it a
    # partial folder
    append = " ".join(q(f) for f, _ in FLAGS_COMMON
                      if f != "--recursive" and not f.startswith("--partial-dir"))
    # deleting needs the names only (links among them: one left out would be deleted); no
    # --perms or --times, which would give the new host's own folders the old host's modes
    delete = " ".join(q(f) for f, _ in FLAGS_COMMON
                      if f not in ("--perms", "--times") and not f.startswith("--partial-dir"))
    src, dst = q(f"{var}/"), f"\"$RNEW:{dest.var}/\""
    requests = " ".join(q(a) for a in ["requests", var, *names])
    remote_requests = " ".join(q(a) for a in [f"{HOST_PLAN_DIR}/{FREEZE_SCRIPT}", "requests",
                                              dest.var, *names])
    check = (f"cat > {FREEZE_MANIFEST}.tmp && mv -f {FREEZE_MANIFEST}.tmp {FREEZE_MANIFEST} && "
             + manifest_check(dest))
    return [
        "rsync_run() {  # rsync's output to the journal, its --stats kept for the bytes moved",
        '    if rsync "$@" > "$TMP/rsync.out" 2>&1; then st=0; else st=$?; fi',
        '    cat "$TMP/rsync.out"; cat "$TMP/rsync.out" >> "$TMP/rsync.log"; return $st',
        "}",
        "seconds() { echo $(( $(date +%s) - $1 )); }",
        "",
        "# Mailman has stopped: what moves now is final. Each list's held posts",
        "# (data/heldmsg-NAME-N files), request.pck and pending.pck, by checksum:",
        f'py "$HERE/freeze-manifest.py" {requests} > "$TMP/requests-old.txt"',
        "",
        "# 1. What changed since the pre-sync (rsync/syncstate.py delta): the new host's files by",
        "#    stat only; on the old host a file whose size, mtime, ctime and inode are as the",
        "#    record holds is not read; an archive mbox that only grew (same inode, its copied",
        "#    part's head, tail and samples as recorded) has its tail hashed; every other",
        "#    changed or new file is hashed whole. The freeze manifest comes out of it.",
        "START=$(date +%s)",
        'STATE="$HERE/state"; mkdir -p "$STATE"',
        '[ -f "$STATE/synced.rec" ] || { echo "no pre-sync record in $STATE: every file is '
        'copied and read whole" >&2; : > "$STATE/synced.rec"; }',
        f'{_remote(f"py {script} stat {q(dest.var)} {spec}")} > "$TMP/new.stat"',
        f'py "$HERE/syncstate.py" delta {q(var)} "$HERE/sync-spec.json" "$STATE/synced.rec" '
        '"$TMP/new.stat" "$TMP/append.list" "$TMP/whole.list" > "$TMP/manifest.jsonl"',
        "DELTA=$(seconds $START); START=$(date +%s)",
        "",
        "# 2. The copies: the grown mboxes' tails, the changed files whole, then the deletions",
        f"rsync_run {append} --append --stats --from0 --files-from=\"$TMP/append.list\" "
        f"{src} {dst}",
        f"rsync_run {base} --ignore-times --stats --from0 --files-from=\"$TMP/whole.list\" "
        f"{src} {dst}",
        f"rsync_run {delete} --existing --ignore-existing --delete-after --stats "
        f"--filter=\"merge $HERE/sync-filter.rules\" {src} {dst}",
        "COPY=$(seconds $START); START=$(date +%s)",
        "",
        "# 3. Nothing changed on the old host meanwhile (stat only), and the freeze manifest",
        "#    holds on the new host: unchanged files by stat, grown ones by their tail,",
        "#    the rest read whole; a file there that is not here fails it too.",
        f'py "$HERE/syncstate.py" settle {q(var)} "$HERE/sync-spec.json" "$TMP/manifest.jsonl"',
        '# (kept here too: after the window, the old host reads each appended mbox\'s copied',
        "#  part whole against the pre-sync's checksum, the verify phase's old-archive-prefixes)",
        'cp "$TMP/manifest.jsonl" "$STATE/manifest-freeze.jsonl"',
        f'ssh -o BatchMode=yes "$NEW" {q(check)} < "$TMP/manifest.jsonl"',
        "",
        "# Owners and public archive links on the new host:",
        _remote(_fixups(inv, dest)),
        "# Held posts, held subscriptions and pending confirmations: the same on both hosts",
        f'{_remote(f"py {remote_requests}")} > "$TMP/requests-new.txt"',
        'if ! cmp -s "$TMP/requests-old.txt" "$TMP/requests-new.txt"; then',
        '    diff "$TMP/requests-old.txt" "$TMP/requests-new.txt" >&2 || true',
        "    echo 'held posts or pending confirmations differ between the hosts' >&2",
        "    exit 1",
        "fi",
        'cat "$TMP/requests-old.txt"',
        "VERIFY=$(seconds $START)",
        "SENT=$(awk '/^Total bytes sent:/ { gsub(\",\", \"\", $4); s += $4 } END { print s + 0 }' "
        '"$TMP/rsync.log")',
        'echo "' + FINAL_SYNC_SUMMARY.format(delta="${DELTA}", copy="${COPY}", sent="${SENT}",
                                             verify="${VERIFY}") + '"',
    ]


def sync_spec(inv: Inventory, items: list[dict]) -> str:
    """The copied folders with rsync's filters as data, relative to the var prefix (the same
    on both hosts): what ``syncstate.py`` walks. Names as bytes read as Latin-1, as the script
    keeps them."""
    var = inv.mailman.var_prefix
    leaving = _leaving_links(inv, escaped=False)
    trees = []
    for item in items:
        tree: dict = {"path": _latin1(item["source"][len(var) + 1:].rstrip("/"))}
        if item["kind"] == "archive-mbox":
            tree["mbox"] = True
        if "include" in item:
            tree["include"] = [_latin1(p.lstrip("/")) for p in item["include"]
                               if not p.endswith("/***")]
            tree["folders"] = [_latin1(p.strip("/").removesuffix("/***"))
                               for p in item["include"] if p.endswith("/***")]
        exclude = leaving.get(item["source"].rstrip("/"))
        if exclude:
            tree["exclude"] = [_latin1(p.lstrip("/")) for p in exclude]
        trees.append(tree)
    return json.dumps({"trees": trees, "skip": [SKIP]}, indent=1, sort_keys=True) + "\n"


def sync_filter(inv: Inventory, items: list[dict]) -> str:
    """rsync's filter rules for the one run over the whole var prefix that deletes (first match
    wins): Mailman's stray files and the links that lead out never; each copied folder whole,
    in data/ only what its filter names; nothing else (and nothing else is deleted)."""
    var = inv.mailman.var_prefix
    rules = [f"- {SKIP}"]
    parents: list[str] = []
    includes: list[str] = []
    for item in items:
        rel = item["source"][len(var):].rstrip("/")  # /lists/NAME
        rules += [f"- {rel}{p}" for p in item.get("exclude", [])]
        parts = rel.strip("/").split("/")
        for n in range(1, len(parts)):
            parent = "/" + "/".join(parts[:n]) + "/"
            if parent not in parents:
                parents.append(parent)
        if "include" in item:
            includes += [f"+ {rel}/"] + [f"+ {rel}{p}" for p in item["include"]]
        else:
            includes.append(f"+ {rel}/***")
    return ("# Written by migrate: the folders the final sync's deletion run covers "
            "(rsync --filter=merge)\n"
            + "".join(f"{r}\n" for r in rules + [f"+ {p}" for p in parents] + includes
                      + ["- *"]))


def _latin1(text: str) -> str:
    """A name as syncstate.py keeps it: its bytes (surrogate-escaped ones as they were) read as
    Latin-1."""
    return text.encode("utf-8", "surrogateescape").decode("latin-1")


def _moved(items: list[dict]) -> list[str]:
    return sorted({t["list"] for t in items if t["list"]})


def _owner(fm: FileMode, dest: Destination) -> str:
    """The new host's owner of a carried file: root stays root; Mailman's user (or any
    other) becomes the destination's."""
    return "root" if fm.owner in ("root", "0") else dest.user


def _owners(inv: Inventory, dest: Destination) -> str:
    """The copied lists, archives, held posts and carried folders to the destination's user, on
    the new host: only what is not owned by it yet (a chown moves a file's ctime, which the
    pre-sync's record holds for every file it left alone)."""
    user = f"{dest.user}:{dest.group}"
    fix = f"\\( ! -user {dest.user} -o ! -group {dest.group} \\) -exec chown -h {user} {{}} +"
    cmds = [f"find {dest.var}/lists {dest.var}/archives/private {fix}"]
    if inv.lists:
        cmds.append(f"{{ [ ! -d {dest.var}/data ] || find {dest.var}/data -name 'heldmsg-*' "
                    f"{fix}; }}")
    for folder in dest.carried_folders:
        cmds.append(f"{{ [ ! -e {dest.var}/data/{folder} ] || "
                    f"find {dest.var}/data/{folder} {fix}; }}")
    return " && ".join(cmds)


def _fixups(inv: Inventory, dest: Destination) -> str:
    q = sh_word
    cmds = [_owners(inv, dest)]
    for fm in _site_files(inv):
        path = f"{dest.var}/data/{fm.path.rsplit('/', 1)[1]}"
        cmds.append(f"chown {_owner(fm, dest)}:{dest.group} {q(path)}")
        if re.fullmatch(r"0?[0-7]{3}", fm.mode):
            cmds.append(f"chmod {fm.mode} {q(path)}")
    for link, target in public_links(inv, dest):
        cmds.append(f"ln -sfn {q(target)} {q(link)}")
    return " && ".join(cmds)


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _manifest(inv: Inventory, dest: Destination, old_paths: bool = False) -> str:
    """``sha256 -c``-style lines (OpenBSD's sha256(1) and GNU sha256sum both read them), at
    the new host's paths, or (``old_paths``) at the old host's, as inspected."""
    if inv.mailman is None or not inv.mailman.var_prefix:
        return ""
    var = inv.mailman.var_prefix
    rows = []
    files = [f for ml in inv.lists if is_list_name(ml.name) for f in ml.files + ml.held_files]
    files += [f for a in inv.archives if is_list_name(a.list_name) for f in a.files]
    files += _site_files(inv)
    for f in files:
        if f.sha256 and _SHA256.fullmatch(f.sha256) and f.path.startswith(var + "/") \
                and is_path(f.path):
            rows.append((f.path if old_paths else dest.var + f.path[len(var):], f.sha256))
    return "".join(f"SHA256 ({path}) = {digest}\n" for path, digest in sorted(rows))


#: Run on the old host by the cutover's preflight with its Python (2.6+ or 3): which files of
#: the manifest changed since the inspection. Reports; never fails (the lists are live).
COMPARE = """import hashlib, re, sys
changed = missing = same = 0
for line in open(sys.argv[1]):
    m = re.match(r"SHA256 \\((.*)\\) = ([0-9a-f]{64})$", line.rstrip("\\n"))
    if not m:
        continue
    try:
        h = hashlib.sha256()
        f = open(m.group(1), "rb")
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
        f.close()
    except (IOError, OSError):
        missing += 1
        continue
    if h.hexdigest() == m.group(2):
        same += 1
    else:
        changed += 1
        sys.stdout.write("changed since the inspection: %s\\n" % m.group(1))
sys.stdout.write("%d unchanged, %d changed, %d missing\\n" % (same, changed, missing))
"""


#: Run by the final phase with the host's Python (2.6+ or 3), never loading a pickle.
FREEZE = """# Written by migrate (rsync/freeze-manifest.py); runs with Python 2.6+ or 3 and only
# reads files (no pickle is loaded).
#   requests VAR LIST...
#       per list: the held posts (as files), request.pck and pending.pck, by checksum; the
#       same output on both hosts means the same held posts, held subscriptions and pending
#       confirmations
import hashlib, os, re, sys


def digest(path):
    h = hashlib.sha256()
    f = open(path, "rb")
    try:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    finally:
        f.close()
    return h.hexdigest()


def held(var, name):
    pattern = re.compile("heldmsg-" + re.escape(name) + r"-(\\d+)\\.(pck|txt)$")
    try:
        entries = os.listdir(os.path.join(var, "data"))
    except OSError:
        return []
    found = [(int(m.group(1)), m.group(2), e) for e, m in
             [(e, pattern.match(e)) for e in entries] if m]
    # held posts as the sync carries them: files, never a link (one to /etc/shadow is
    # neither copied nor read)
    paths = [os.path.join(var, "data", e) for _, _, e in sorted(found)]
    return [p for p in paths if os.path.isfile(p) and not os.path.islink(p)]


def main(argv):
    if len(argv) > 2 and argv[1] == "requests":
        var = argv[2]
        for name in argv[3:]:
            posts = held(var, name)
            parts = ["%d held post file(s)" % len(posts)]
            for path in posts:
                parts.append("%s %s" % (os.path.basename(path), digest(path)[:16]))
            for pck in ("request.pck", "pending.pck"):
                path = os.path.join(var, "lists", name, pck)
                parts.append("%s %s" % (pck, digest(path)[:16] if os.path.isfile(path)
                                        and not os.path.islink(path) else "none"))
            sys.stdout.write("%s: %s\\n" % (name, ", ".join(parts)))
        return 0
    sys.stderr.write("usage: freeze-manifest.py requests VAR LIST...\\n")
    return 2


sys.exit(main(sys.argv))
"""


#: Run on both hosts with their own Python (2.6+ or 3): the pre-sync's record, the final sync's
#: delta and the freeze manifest's check (emitters/scripts/syncstate.py).
SYNCSTATE = (resources.files("emitters") / "scripts" / "syncstate.py").read_text(encoding="ascii")
