#!/bin/sh
# Phase presync: run as root on the old host (mail.oakfield.example).
# NEW is root@ the new host as ssh takes it, e.g. NEW=root@2001:db8:a0::25
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

# the host's own Python
py() { for p in python3 python2.7 python2 python; do if command -v "$p" >/dev/null 2>&1; then "$p" "$@"; return; fi; done; echo 'no python here' >&2; return 1; }
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT

copy_tree() {  # SOURCE/ DESTINATION/ [--exclude=/LINK...] [--include=PATTERN... --exclude=*]
    src=$1 dst=$2; shift 2
    # a copied folder that is a symlink: rsync would copy what it points to
    [ ! -L "${src%/}" ] || { echo "$src is a symbolic link: not copied" >&2; return 1; }
    # exit 24: files vanished during the copy (a live Mailman's temporary files);
    # the final sync, with Mailman stopped, puts that right
    rsync --recursive --links --safe-links --perms --times --partial-dir=.rsync-partial '--exclude=config.pck.tmp.*' --itemize-changes '--rsh=ssh -o BatchMode=yes' "$@" "$src" "$RNEW:$dst" || [ $? -eq 24 ]
}

# committee: list
copy_tree /usr/local/mailman/lists/committee/ /var/mailman3/import21/lists/committee/
# committee: archive-html
copy_tree /usr/local/mailman/archives/private/committee/ /var/mailman3/import21/archives/private/committee/
# committee: archive-mbox
copy_tree /usr/local/mailman/archives/private/committee.mbox/ /var/mailman3/import21/archives/private/committee.mbox/
# mailman: list
copy_tree /usr/local/mailman/lists/mailman/ /var/mailman3/import21/lists/mailman/
# mailman: archive-html
copy_tree /usr/local/mailman/archives/private/mailman/ /var/mailman3/import21/archives/private/mailman/
# mailman: archive-mbox
copy_tree /usr/local/mailman/archives/private/mailman.mbox/ /var/mailman3/import21/archives/private/mailman.mbox/
# residents: list
copy_tree /usr/local/mailman/lists/residents/ /var/mailman3/import21/lists/residents/
# residents: archive-html
copy_tree /usr/local/mailman/archives/private/residents/ /var/mailman3/import21/archives/private/residents/
# residents: archive-mbox
copy_tree /usr/local/mailman/archives/private/residents.mbox/ /var/mailman3/import21/archives/private/residents.mbox/
# every list: held-posts-and-site-passwords
[ ! -d /usr/local/mailman/data/ ] || copy_tree /usr/local/mailman/data/ /var/mailman3/import21/data/ '--include=/heldmsg-committee-[0-9]*.pck' '--include=/heldmsg-committee-[0-9]*.txt' '--include=/heldmsg-mailman-[0-9]*.pck' '--include=/heldmsg-mailman-[0-9]*.txt' '--include=/heldmsg-residents-[0-9]*.pck' '--include=/heldmsg-residents-[0-9]*.txt' --include=/adm.pw '--include=/mailman3-waiting/***' '--exclude=*'

# Owners on the new host (only files not owned yet: a file left alone keeps its
# ctime, which the record below holds):
ssh -o BatchMode=yes "$NEW" 'py() { for p in python3 python2.7 python2 python; do if command -v "$p" >/dev/null 2>&1; then "$p" "$@"; return; fi; done; echo '"'"'no python here'"'"' >&2; return 1; }; find /var/mailman3/import21/lists /var/mailman3/import21/archives/private \( ! -user _mailman3 -o ! -group _mailman3 \) -exec chown -h _mailman3:_mailman3 {} + && { [ ! -d /var/mailman3/import21/data ] || find /var/mailman3/import21/data -name '"'"'heldmsg-*'"'"' \( ! -user _mailman3 -o ! -group _mailman3 \) -exec chown -h _mailman3:_mailman3 {} +; } && { [ ! -e /var/mailman3/import21/data/mailman3-waiting ] || find /var/mailman3/import21/data/mailman3-waiting \( ! -user _mailman3 -o ! -group _mailman3 \) -exec chown -h _mailman3:_mailman3 {} +; }'

# The record of what this pre-sync copied (rsync/syncstate.py), kept on the old host
# in $HERE/state: per file on both hosts its size, mtime, ctime, inode and SHA-256, and
# for an archive mbox that grew since it was copied the checksum of the part the new
# host holds. The final sync reads it to move and check only what changed since; a
# repeated pre-sync reads only the files that changed.
STATE="$HERE/state"; mkdir -p "$STATE"
ssh -o BatchMode=yes "$NEW" 'py() { for p in python3 python2.7 python2 python; do if command -v "$p" >/dev/null 2>&1; then "$p" "$@"; return; fi; done; echo '"'"'no python here'"'"' >&2; return 1; }; mkdir -p /root/migrate-plan/rsync/state && py /root/migrate-plan/rsync/syncstate.py scan /var/mailman3/import21 /root/migrate-plan/rsync/sync-spec.json --prev /root/migrate-plan/rsync/state/new.rec > /root/migrate-plan/rsync/state/new.rec.tmp && mv -f /root/migrate-plan/rsync/state/new.rec.tmp /root/migrate-plan/rsync/state/new.rec && cat /root/migrate-plan/rsync/state/new.rec' > "$STATE/new.rec.tmp"
py "$HERE/syncstate.py" scan /usr/local/mailman "$HERE/sync-spec.json" --prev "$STATE/old.rec" --cut "$STATE/new.rec.tmp" > "$STATE/old.rec.tmp"
py "$HERE/syncstate.py" agree "$STATE/old.rec.tmp" "$STATE/new.rec.tmp" > "$STATE/synced.rec.tmp"
mv -f "$STATE/old.rec.tmp" "$STATE/old.rec"
mv -f "$STATE/new.rec.tmp" "$STATE/new.rec"
mv -f "$STATE/synced.rec.tmp" "$STATE/synced.rec"
