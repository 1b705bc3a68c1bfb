"""The archive and list sync: what moves, from where to where, in two phases.

Per list, from the old var prefix (``/usr/local/mailman`` on FreeBSD) to the OpenBSD package's
(``/var/spool/mailman``): ``lists/NAME/``, ``archives/private/NAME/`` (the HTML, copied as it is:
a rebuild would renumber articles) and ``archives/private/NAME.mbox/``. Never ``data/`` as a
whole (held messages and pending confirmations are cleared on the old host first) and never
``archives/public/``: its symlinks point into the old prefix and are made again on the new host
for public archives only.

Phase ``presync`` runs while the old host still takes mail (it can be repeated); phase
``final`` runs during the freeze, after the old MTA is stopped and Mailman's queues are empty,
and compares by checksum so that nothing that changed since the pre-sync is missed. The old
host pushes to the new one over SSH (GNU rsync on both ends: ``pkg_add rsync`` on OpenBSD,
whose base openrsync lacks some of these options).

Output: ``rsync/presync.sh`` and ``rsync/final.sh`` (readable, every flag explained),
``rsync/transfers.yaml`` (the same as data for ``migrate cutover``) and
``rsync/manifest.sha256`` (the checksum of every file the inventory read whole, at its path on
the new host, for ``sha256 -c`` after the final sync).
"""

from __future__ import annotations

import shlex

import yaml

from migrate.model import Finding, Inventory, Severity, Target

from migrate.emitters.common import MM_VAR, Emitted, is_list_name, is_path

PRESYNC = "rsync/presync.sh"
FINAL = "rsync/final.sh"
TRANSFERS = "rsync/transfers.yaml"
MANIFEST = "rsync/manifest.sha256"
MANIFEST_OLD = "rsync/manifest-old.sha256"
COMPARE_SCRIPT = "rsync/compare-manifest.py"

#: Every flag, and why (printed into the scripts).
FLAGS_COMMON = (
    ("--recursive", "whole folders"),
    ("--links", "symlinks stay symlinks (never followed out of the tree)"),
    ("--perms", "modes, including the setgid bit Mailman's folders carry"),
    ("--times", "modification times: the next run's quick check depends on them"),
    ("--partial-dir=.rsync-partial", "a large mbox cut off half-way resumes instead of restarting"),
    ("--exclude=config.pck.tmp.*", "stray files Mailman leaves after a crash; never read"),
    ("--itemize-changes", "one line per changed file, for the cutover journal"),
    ("--rsh=ssh -o BatchMode=yes", "over SSH; fails instead of asking for a password"),
)
FLAGS_FINAL = (
    ("--checksum", "compare content, not size and time: a config.pck rewritten in the same "
                   "second with the same size is still copied"),
    ("--delete-after", "files deleted on the old host since the pre-sync go on the new one "
                       "too; only inside each list's own folders, after the transfer"),
    ("--stats", "bytes moved in the delta against the whole, for the cutover's journal"),
)
# Owners are not copied (no --owner/--group): the old host's mailman (uid 91 on FreeBSD) means
# nothing on OpenBSD; everything is chowned to _mailman:_mailman afterwards and check_perms -f
# puts the group bits right.


def transfers(inv: Inventory) -> tuple[list[dict], list[Finding]]:
    """One entry per folder to copy: list, kind, source, destination, bytes known."""
    out: list[dict] = []
    findings: list[Finding] = []
    if inv.mailman is None or not inv.mailman.var_prefix:
        return out, findings
    var = inv.mailman.var_prefix
    if not is_path(var):
        findings.append(Finding("plan.unsafe-value", Severity.BLOCKER,
                                f"Mailman's var prefix {var!r} cannot be written into a script",
                                "Check the inventory.", None))
        return out, findings
    archives = {a.list_name: a for a in inv.archives}
    for ml in sorted(inv.lists, key=lambda m: m.name):
        if not is_list_name(ml.name):
            continue  # reported as a blocker by the aliases emitter
        size = sum(f.size or 0 for f in ml.files)
        out.append({"list": ml.name, "kind": "list", "source": f"{var}/lists/{ml.name}/",
                    "destination": f"{MM_VAR}/lists/{ml.name}/", "bytes": size})
        archive = archives.get(ml.name)
        if archive is None:
            continue
        if archive.html_dir:
            out.append({"list": ml.name, "kind": "archive-html",
                        "source": f"{var}/archives/private/{ml.name}/",
                        "destination": f"{MM_VAR}/archives/private/{ml.name}/", "bytes": None})
        if archive.mbox_path:
            out.append({"list": ml.name, "kind": "archive-mbox",
                        "source": f"{var}/archives/private/{ml.name}.mbox/",
                        "destination": f"{MM_VAR}/archives/private/{ml.name}.mbox/",
                        "bytes": archive.bytes})
    return out, findings


def public_links(inv: Inventory) -> list[tuple[str, str]]:
    """(link, target) on the new host for every list whose archive is public."""
    out = []
    for ml in sorted(inv.lists, key=lambda m: m.name):
        if is_list_name(ml.name) and ml.archive is not False and ml.archive_private is False:
            out.append((f"{MM_VAR}/archives/public/{ml.name}",
                        f"{MM_VAR}/archives/private/{ml.name}"))
    return out


def emit_rsync(inv: Inventory, target: Target, release) -> Emitted:
    out = Emitted()
    items, out.findings = transfers(inv)
    q = shlex.quote
    for phase, path in (("presync", PRESYNC), ("final", FINAL)):
        flags = FLAGS_COMMON + (FLAGS_FINAL if phase == "final" else ())
        lines = [
            "#!/bin/sh",
            f"# Phase {phase}: run as root on the old host "
            f"({inv.host.hostname or 'the old host'}).",
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
        lines += [""]
        lines.append("copy_tree() {")
        lines.append("    rsync " + " ".join(q(f) for f, _ in flags) + ' "$1" "$RNEW:$2"')
        lines.append("}")
        lines.append("")
        for item in items:
            lines.append(f"# {item['list']}: {item['kind']}")
            lines.append(f"copy_tree {q(item['source'])} {q(item['destination'])}")
        if phase == "final":
            lines += ["", "# Owners and public archive links on the new host:",
                      f"ssh -o BatchMode=yes \"$NEW\" {q(_fixups(inv))}"]
        out.files[path] = "\n".join(lines) + "\n"
    data = {"transfers": items,
            "public_links": [{"link": a, "target": b} for a, b in public_links(inv)],
            "flags": {"common": [f for f, _ in FLAGS_COMMON],
                      "final": [f for f, _ in FLAGS_FINAL]}}
    out.files[TRANSFERS] = yaml.safe_dump(data, sort_keys=False, width=100)
    out.files[MANIFEST] = _manifest(inv)
    out.files[MANIFEST_OLD] = _manifest(inv, old_paths=True)
    out.files[COMPARE_SCRIPT] = COMPARE
    return out


def _fixups(inv: Inventory) -> str:
    cmds = [f"chown -R _mailman:_mailman {MM_VAR}/lists {MM_VAR}/archives/private"]
    for link, target in public_links(inv):
        cmds.append(f"ln -sfn {shlex.quote(target)} {shlex.quote(link)}")
    return " && ".join(cmds)


def _manifest(inv: Inventory, old_paths: bool = False) -> str:
    """``sha256 -c``-style lines (OpenBSD's sha256(1) and GNU sha256sum both read them), at
    the new host's paths, or (``old_paths``) at the old host's, as inspected."""
    if inv.mailman is None or not inv.mailman.var_prefix:
        return ""
    var = inv.mailman.var_prefix
    rows = []
    files = [f for ml in inv.lists if is_list_name(ml.name) for f in ml.files]
    files += [f for a in inv.archives if is_list_name(a.list_name) for f in a.files]
    for f in files:
        if f.sha256 and f.path.startswith(var + "/") and is_path(f.path):
            rows.append((f.path if old_paths else MM_VAR + f.path[len(var):], f.sha256))
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
