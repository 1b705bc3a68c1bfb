#!/bin/sh
# Run as root on lists.cs.campus.example after the lists and archives are copied.
set -eu
MM=/usr/local/lib/mailman

# The mail wrapper must expect the group OpenSMTPD runs pipes as (_smtpd): the
# smtpd flavour of the mailman package is built that way; the postfix and sendmail
# flavours are not, and every post would bounce with 'Group mismatch'.
if ! "$MM/mail/mailman" 2>&1 | grep -q _smtpd; then
    ls -l /usr/local/lib/mailman/mail/mailman
    echo 'mailman package is not the smtpd flavour (wrapper group is not _smtpd)' >&2
    exit 1
fi

# Upgrade and validate every copied list once (config.pck's data_version).
su -s /bin/sh _mailman -c "$MM/bin/list_lists -a" >/dev/null

# host_name and web_page_url are stored in each list's config.pck.
"$MM/bin/withlist" -l -r fix_url faculty -u lists.cs.campus.example
"$MM/bin/withlist" -l -r fix_url grad-students -u lists.cs.campus.example
"$MM/bin/withlist" -l -r fix_url mailman -u lists.cs.campus.example
"$MM/bin/withlist" -l -r fix_url seminar -u lists.cs.campus.example

chown -R _mailman:_mailman /var/spool/mailman/lists /var/spool/mailman/archives
"$MM/bin/check_perms" -f
"$MM/bin/check_perms"
