#!/bin/sh
# Phase final: run as root on the old host (mlist.cs.campus.example).
# NEW is root@ the new host as ssh takes it, e.g. NEW=root@2001:db8:70::25
# Only during the freeze: the old MTA stopped and Mailman's queues drained (the cutover checks both first).
set -eu
: "${NEW:?set NEW=root@new-host}"
# rsync wants an IPv6 address in brackets (root@[2001:db8::25]:/path); ssh does not
case "${NEW#*@}" in *:*) RNEW="${NEW%"${NEW#*@}"}[${NEW#*@}]" ;; *) RNEW=$NEW ;; esac

# Flags:
#   --recursive                      whole folders
#   --links                          symlinks stay symlinks (never followed out of the tree)
#   --safe-links                     but none that is absolute or climbs out of the copied folder (those the inspection found leading out are left out by name too)
#   --perms                          modes, including the setgid bit Mailman's folders carry
#   --times                          modification times: the next run's quick check depends on them
#   --partial-dir=.rsync-partial     a large mbox cut off half-way resumes instead of restarting
#   --exclude=config.pck.tmp.*       stray files Mailman leaves after a crash; never read
#   --itemize-changes                one line per changed file, for the cutover journal
#   --rsh=ssh -o BatchMode=yes       over SSH; fails instead of asking for a password
#   --append                         an archive mbox that only grew since the pre-sync: its new tail only, written in place (no --partial-dir); the part copied before was proved unchanged by the record, the tail is hashed on both hosts
#   --ignore-times                   every other file that changed since the pre-sync (by size, mtime, ctime or inode: a config.pck rewritten in the same second with the same size too) is copied whole, never skipped by the quick check
#   --existing                       with --ignore-existing: this run copies nothing, it only deletes (and so
#   --ignore-existing                without --perms and --times: no folder of the new host changes)
#   --delete-after                   files deleted on the old host since the pre-sync go on the new one too; only inside the copied folders (in data/, only files the filter names)
#   --stats                          bytes moved in the delta against the whole, for the cutover's journal

# the host's own Python
py() { for p in python3 python2.7 python2 python; do if command -v "$p" >/dev/null 2>&1; then "$p" "$@"; return; fi; done; echo 'no python here' >&2; return 1; }
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT

rsync_run() {  # rsync's output to the journal, its --stats kept for the bytes moved
    if rsync "$@" > "$TMP/rsync.out" 2>&1; then st=0; else st=$?; fi
    cat "$TMP/rsync.out"; cat "$TMP/rsync.out" >> "$TMP/rsync.log"; return $st
}
seconds() { echo $(( $(date +%s) - $1 )); }

# Mailman has stopped: what moves now is final. Each list's held posts
# (data/heldmsg-NAME-N files), request.pck and pending.pck, by checksum:
py "$HERE/freeze-manifest.py" requests /usr/local/mailman faculty grad-students mailman seminar > "$TMP/requests-old.txt"

# 1. What changed since the pre-sync (rsync/syncstate.py delta): the new host's files by
#    stat only; on the old host a file whose size, mtime, ctime and inode are as the
#    record holds is not read; an archive mbox that only grew (same inode, its copied
#    part's head, tail and samples as recorded) has its tail hashed; every other
#    changed or new file is hashed whole. The freeze manifest comes out of it.
START=$(date +%s)
STATE="$HERE/state"; mkdir -p "$STATE"
[ -f "$STATE/synced.rec" ] || { echo "no pre-sync record in $STATE: every file is copied and read whole" >&2; : > "$STATE/synced.rec"; }
ssh -o BatchMode=yes "$NEW" 'py() { for p in python3 python2.7 python2 python; do if command -v "$p" >/dev/null 2>&1; then "$p" "$@"; return; fi; done; echo '"'"'no python here'"'"' >&2; return 1; }; py /root/migrate-plan/rsync/syncstate.py stat /var/spool/mailman /root/migrate-plan/rsync/sync-spec.json' > "$TMP/new.stat"
py "$HERE/syncstate.py" delta /usr/local/mailman "$HERE/sync-spec.json" "$STATE/synced.rec" "$TMP/new.stat" "$TMP/append.list" "$TMP/whole.list" > "$TMP/manifest.jsonl"
DELTA=$(seconds $START); START=$(date +%s)

# 2. The copies: the grown mboxes' tails, the changed files whole, then the deletions
rsync_run --links --safe-links --perms --times '--exclude=config.pck.tmp.*' --itemize-changes '--rsh=ssh -o BatchMode=yes' --append --stats --from0 --files-from="$TMP/append.list" /usr/local/mailman/ "$RNEW:/var/spool/mailman/"
rsync_run --links --safe-links --perms --times --partial-dir=.rsync-partial '--exclude=config.pck.tmp.*' --itemize-changes '--rsh=ssh -o BatchMode=yes' --ignore-times --stats --from0 --files-from="$TMP/whole.list" /usr/local/mailman/ "$RNEW:/var/spool/mailman/"
rsync_run --recursive --links --safe-links '--exclude=config.pck.tmp.*' --itemize-changes '--rsh=ssh -o BatchMode=yes' --existing --ignore-existing --delete-after --stats --filter="merge $HERE/sync-filter.rules" /usr/local/mailman/ "$RNEW:/var/spool/mailman/"
COPY=$(seconds $START); START=$(date +%s)

# 3. Nothing changed on the old host meanwhile (stat only), and the freeze manifest
#    holds on the new host: unchanged files by stat, grown ones by their tail,
#    the rest read whole; a file there that is not here fails it too.
py "$HERE/syncstate.py" settle /usr/local/mailman "$HERE/sync-spec.json" "$TMP/manifest.jsonl"
# (kept here too: after the window, the old host reads each appended mbox's copied
#  part whole against the pre-sync's checksum, the verify phase's old-archive-prefixes)
cp "$TMP/manifest.jsonl" "$STATE/manifest-freeze.jsonl"
ssh -o BatchMode=yes "$NEW" 'cat > /root/migrate-plan/rsync/manifest-freeze.jsonl.tmp && mv -f /root/migrate-plan/rsync/manifest-freeze.jsonl.tmp /root/migrate-plan/rsync/manifest-freeze.jsonl && py() { for p in python3 python2.7 python2 python; do if command -v "$p" >/dev/null 2>&1; then "$p" "$@"; return; fi; done; echo '"'"'no python here'"'"' >&2; return 1; }; py /root/migrate-plan/rsync/syncstate.py check /var/spool/mailman /root/migrate-plan/rsync/sync-spec.json /root/migrate-plan/rsync/manifest-freeze.jsonl' < "$TMP/manifest.jsonl"

# Owners and public archive links on the new host:
ssh -o BatchMode=yes "$NEW" 'py() { for p in python3 python2.7 python2 python; do if command -v "$p" >/dev/null 2>&1; then "$p" "$@"; return; fi; done; echo '"'"'no python here'"'"' >&2; return 1; }; find /var/spool/mailman/lists /var/spool/mailman/archives/private \( ! -user _mailman -o ! -group _mailman \) -exec chown -h _mailman:_mailman {} + && { [ ! -d /var/spool/mailman/data ] || find /var/spool/mailman/data -name '"'"'heldmsg-*'"'"' \( ! -user _mailman -o ! -group _mailman \) -exec chown -h _mailman:_mailman {} +; } && chown root:_mailman /var/spool/mailman/data/adm.pw && chmod 0644 /var/spool/mailman/data/adm.pw && chown root:_mailman /var/spool/mailman/data/creator.pw && chmod 0644 /var/spool/mailman/data/creator.pw && ln -sfn /var/spool/mailman/archives/private/grad-students /var/spool/mailman/archives/public/grad-students && ln -sfn /var/spool/mailman/archives/private/seminar /var/spool/mailman/archives/public/seminar'
# Held posts, held subscriptions and pending confirmations: the same on both hosts
ssh -o BatchMode=yes "$NEW" 'py() { for p in python3 python2.7 python2 python; do if command -v "$p" >/dev/null 2>&1; then "$p" "$@"; return; fi; done; echo '"'"'no python here'"'"' >&2; return 1; }; py /root/migrate-plan/rsync/freeze-manifest.py requests /var/spool/mailman faculty grad-students mailman seminar' > "$TMP/requests-new.txt"
if ! cmp -s "$TMP/requests-old.txt" "$TMP/requests-new.txt"; then
    diff "$TMP/requests-old.txt" "$TMP/requests-new.txt" >&2 || true
    echo 'held posts or pending confirmations differ between the hosts' >&2
    exit 1
fi
cat "$TMP/requests-old.txt"
VERIFY=$(seconds $START)
SENT=$(awk '/^Total bytes sent:/ { gsub(",", "", $4); s += $4 } END { print s + 0 }' "$TMP/rsync.log")
echo "final sync: delta ${DELTA} s, copy ${COPY} s (${SENT} bytes sent), verify ${VERIFY} s"
