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
#   --perms                          modes, including the setgid bit Mailman's folders carry
#   --times                          modification times: the next run's quick check depends on them
#   --partial-dir=.rsync-partial     a large mbox cut off half-way resumes instead of restarting
#   --exclude=config.pck.tmp.*       stray files Mailman leaves after a crash; never read
#   --itemize-changes                one line per changed file, for the cutover journal
#   --rsh=ssh -o BatchMode=yes       over SSH; fails instead of asking for a password
#   --checksum                       compare content, not size and time: a config.pck rewritten in the same second with the same size is still copied
#   --delete-after                   files deleted on the old host since the pre-sync go on the new one too; only inside each list's own folders, after the transfer
#   --stats                          bytes moved in the delta against the whole, for the cutover's journal

copy_tree() {
    rsync --recursive --links --perms --times --partial-dir=.rsync-partial '--exclude=config.pck.tmp.*' --itemize-changes '--rsh=ssh -o BatchMode=yes' --checksum --delete-after --stats "$1" "$RNEW:$2"
}

# faculty: list
copy_tree /usr/local/mailman/lists/faculty/ /var/spool/mailman/lists/faculty/
# faculty: archive-html
copy_tree /usr/local/mailman/archives/private/faculty/ /var/spool/mailman/archives/private/faculty/
# faculty: archive-mbox
copy_tree /usr/local/mailman/archives/private/faculty.mbox/ /var/spool/mailman/archives/private/faculty.mbox/
# grad-students: list
copy_tree /usr/local/mailman/lists/grad-students/ /var/spool/mailman/lists/grad-students/
# grad-students: archive-html
copy_tree /usr/local/mailman/archives/private/grad-students/ /var/spool/mailman/archives/private/grad-students/
# grad-students: archive-mbox
copy_tree /usr/local/mailman/archives/private/grad-students.mbox/ /var/spool/mailman/archives/private/grad-students.mbox/
# mailman: list
copy_tree /usr/local/mailman/lists/mailman/ /var/spool/mailman/lists/mailman/
# mailman: archive-html
copy_tree /usr/local/mailman/archives/private/mailman/ /var/spool/mailman/archives/private/mailman/
# mailman: archive-mbox
copy_tree /usr/local/mailman/archives/private/mailman.mbox/ /var/spool/mailman/archives/private/mailman.mbox/
# seminar: list
copy_tree /usr/local/mailman/lists/seminar/ /var/spool/mailman/lists/seminar/
# seminar: archive-html
copy_tree /usr/local/mailman/archives/private/seminar/ /var/spool/mailman/archives/private/seminar/
# seminar: archive-mbox
copy_tree /usr/local/mailman/archives/private/seminar.mbox/ /var/spool/mailman/archives/private/seminar.mbox/

# Owners and public archive links on the new host:
ssh -o BatchMode=yes "$NEW" 'chown -R _mailman:_mailman /var/spool/mailman/lists /var/spool/mailman/archives/private && ln -sfn /var/spool/mailman/archives/private/grad-students /var/spool/mailman/archives/public/grad-students && ln -sfn /var/spool/mailman/archives/private/seminar /var/spool/mailman/archives/public/seminar'
