#!/bin/sh
# Phase final: run as root on the old host (mail.netsight.example).
# NEW is root@ the new host as ssh takes it, e.g. NEW=root@2001:db8:50::25
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
#   --checksum                       compare content, not size and time: a config.pck rewritten in the same second with the same size is still copied
#   --delete-after                   files deleted on the old host since the pre-sync go on the new one too; only inside the copied folders (in data/, only files the filter names), after the transfer
#   --stats                          bytes moved in the delta against the whole, for the cutover's journal

copy_tree() {  # SOURCE/ DESTINATION/ [--exclude=/LINK...] [--include=PATTERN... --exclude=*]
    src=$1 dst=$2; shift 2
    # a copied folder that is a symlink: rsync would copy what it points to
    [ ! -L "${src%/}" ] || { echo "$src is a symbolic link: not copied" >&2; return 1; }
    rsync --recursive --links --safe-links --perms --times --partial-dir=.rsync-partial '--exclude=config.pck.tmp.*' --itemize-changes '--rsh=ssh -o BatchMode=yes' --checksum --delete-after --stats "$@" "$src" "$RNEW:$dst"
}

# Mailman has stopped: what moves now is final. The freeze manifest holds the
# checksum of every list file, held post, site password file and archive mbox
# that moves (at its path on the new host); the requests are each list's held
# posts (data/heldmsg-NAME-N files), request.pck and pending.pck, by checksum.
py() {  # the host's own Python: Mailman 2 guarantees one
    for p in python3 python2.7 python2 python; do
        if command -v "$p" >/dev/null 2>&1; then "$p" "$@"; return; fi
    done
    echo 'no python on this host' >&2; return 1
}
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
py "$HERE/freeze-manifest.py" manifest /usr/local/mailman /var/spool/mailman announce devtalk mailman users data/adm.pw > "$TMP/manifest-freeze.sha256"
py "$HERE/freeze-manifest.py" requests /usr/local/mailman announce devtalk mailman users > "$TMP/requests-old.txt"

# announce: list
copy_tree /usr/local/mailman/lists/announce/ /var/spool/mailman/lists/announce/
# announce: archive-html
copy_tree /usr/local/mailman/archives/private/announce/ /var/spool/mailman/archives/private/announce/
# announce: archive-mbox
copy_tree /usr/local/mailman/archives/private/announce.mbox/ /var/spool/mailman/archives/private/announce.mbox/
# devtalk: list
copy_tree /usr/local/mailman/lists/devtalk/ /var/spool/mailman/lists/devtalk/
# devtalk: archive-html
copy_tree /usr/local/mailman/archives/private/devtalk/ /var/spool/mailman/archives/private/devtalk/
# devtalk: archive-mbox
copy_tree /usr/local/mailman/archives/private/devtalk.mbox/ /var/spool/mailman/archives/private/devtalk.mbox/
# mailman: list
copy_tree /usr/local/mailman/lists/mailman/ /var/spool/mailman/lists/mailman/
# mailman: archive-html
copy_tree /usr/local/mailman/archives/private/mailman/ /var/spool/mailman/archives/private/mailman/
# mailman: archive-mbox
copy_tree /usr/local/mailman/archives/private/mailman.mbox/ /var/spool/mailman/archives/private/mailman.mbox/
# users: list
copy_tree /usr/local/mailman/lists/users/ /var/spool/mailman/lists/users/
# users: archive-html
copy_tree /usr/local/mailman/archives/private/users/ /var/spool/mailman/archives/private/users/
# users: archive-mbox
copy_tree /usr/local/mailman/archives/private/users.mbox/ /var/spool/mailman/archives/private/users.mbox/
# every list: held-posts-and-site-passwords
[ ! -d /usr/local/mailman/data/ ] || copy_tree /usr/local/mailman/data/ /var/spool/mailman/data/ '--include=/heldmsg-announce-[0-9]*.pck' '--include=/heldmsg-announce-[0-9]*.txt' '--include=/heldmsg-devtalk-[0-9]*.pck' '--include=/heldmsg-devtalk-[0-9]*.txt' '--include=/heldmsg-mailman-[0-9]*.pck' '--include=/heldmsg-mailman-[0-9]*.txt' '--include=/heldmsg-users-[0-9]*.pck' '--include=/heldmsg-users-[0-9]*.txt' --include=/adm.pw '--exclude=*'

# Owners and public archive links on the new host:
ssh -o BatchMode=yes "$NEW" 'chown -R _mailman:_mailman /var/spool/mailman/lists /var/spool/mailman/archives/private && { [ ! -d /var/spool/mailman/data ] || find /var/spool/mailman/data -name '"'"'heldmsg-*'"'"' -exec chown _mailman:_mailman {} +; } && chown root:_mailman /var/spool/mailman/data/adm.pw && chmod 0644 /var/spool/mailman/data/adm.pw && ln -sfn /var/spool/mailman/archives/private/announce /var/spool/mailman/archives/public/announce && ln -sfn /var/spool/mailman/archives/private/announce.mbox /var/spool/mailman/archives/public/announce.mbox && ln -sfn /var/spool/mailman/archives/private/devtalk /var/spool/mailman/archives/public/devtalk && ln -sfn /var/spool/mailman/archives/private/devtalk.mbox /var/spool/mailman/archives/public/devtalk.mbox && ln -sfn /var/spool/mailman/archives/private/users /var/spool/mailman/archives/public/users && ln -sfn /var/spool/mailman/archives/private/users.mbox /var/spool/mailman/archives/public/users.mbox'

# The freeze manifest, checked on the new host (sha256 -c reads it there):
rsync --rsh='ssh -o BatchMode=yes' "$TMP/manifest-freeze.sha256" "$RNEW:/root/migrate-plan/rsync/manifest-freeze.sha256"
ssh -o BatchMode=yes "$NEW" 'cd / && sha256 -c /root/migrate-plan/rsync/manifest-freeze.sha256 >/dev/null'
# Held posts, held subscriptions and pending confirmations: the same on both hosts
ssh -o BatchMode=yes "$NEW" 'for p in python3 python2.7 python2 python; do if command -v "$p" >/dev/null 2>&1; then exec "$p" /root/migrate-plan/rsync/freeze-manifest.py requests /var/spool/mailman announce devtalk mailman users; fi; done; echo '"'"'no python here'"'"' >&2; exit 1' > "$TMP/requests-new.txt"
if ! cmp -s "$TMP/requests-old.txt" "$TMP/requests-new.txt"; then
    diff "$TMP/requests-old.txt" "$TMP/requests-new.txt" >&2 || true
    echo 'held posts or pending confirmations differ between the hosts' >&2
    exit 1
fi
cat "$TMP/requests-old.txt"
