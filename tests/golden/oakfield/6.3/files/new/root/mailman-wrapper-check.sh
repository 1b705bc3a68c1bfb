#!/bin/sh
# Run as root on lists.oakfield.example: does Mailman's mail wrapper take what smtpd
# delivers? smtpd runs the aliases' pipes as its unprivileged user (_smtpd, aliases(5));
# the wrapper refuses a caller of any group but the one it was built for (the smtpd
# flavour of the mailman package: _smtpd) with "Group mismatch error", and every
# post would bounce. So the wrapper runs here as that user, as smtpd runs it, with the
# command post and no list: past the group check, Mailman's post script loads
# mm_cfg.py and stops with "post script got no listname." (exit 1). Nothing is queued
# (the message is never read; Mailman notes the call in logs/error).
# Anything else fails this check and prints what Mailman said.
# MIGRATE_MTA_USER names another delivery user (default _smtpd).
set -u
MM=/usr/local/lib/mailman
user=${MIGRATE_MTA_USER:-_smtpd}
if out=$(su -s /bin/sh "$user" -c "$MM/mail/mailman post" </dev/null 2>&1); then rc=0; else rc=$?; fi
if [ "$rc" -eq 1 ] && printf '%s\n' "$out" | grep -q 'post script got no listname'; then
    echo "mail wrapper: a delivery by $user passes the group check"
    exit 0
fi
# Mailman's whole answer, then its first line again last (where a shortened
# report still shows it)
printf '%s\n' "$out" >&2
echo "mail wrapper: a delivery by $user does not reach Mailman (exit $rc): $(printf '%s\n' "$out" | head -n 1)" >&2
exit 1
