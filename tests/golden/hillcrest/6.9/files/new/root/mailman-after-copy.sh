#!/bin/sh
# Run as root on lists.hillcrest.example after the lists and archives are copied.
# MIGRATE_MAILMAN_USER and MIGRATE_MAILMAN_GROUP name another owner of the lists (default _mailman:_mailman).
set -eu
MM=/usr/local/lib/mailman
user=${MIGRATE_MAILMAN_USER:-_mailman}
group=${MIGRATE_MAILMAN_GROUP:-_mailman}
# Mailman's tools in English, whatever the locale (their output is checked below)
LC_ALL=C LANGUAGE=C
export LC_ALL LANGUAGE

# host_name and web_page_url are stored in each list's config.pck. Loading a list
# upgrades it (data_version); saving it makes its public archive link
# (archives/public/NAME) or removes it, as the list's archive_private says.
"$MM/bin/withlist" -l -r fix_url alumni-news -u lists.hillcrest.example
"$MM/bin/withlist" -l -r fix_url mailman -u lists.hillcrest.example
"$MM/bin/withlist" -l -r fix_url staff -u lists.hillcrest.example

chown -R "$user:$group" /var/spool/mailman/lists /var/spool/mailman/archives
"$MM/bin/check_perms" -f >/dev/null
# Every list loads as Mailman's user; check_perms (which exits 0 either way) must
# find nothing left to fix.
su -s /bin/sh "$user" -c "$MM/bin/list_lists" >/dev/null
perms=$("$MM/bin/check_perms")
case $perms in
*'No problems found'*) ;;
*) printf '%s\n' "$perms" >&2; echo 'check_perms still finds problems' >&2; exit 1 ;;
esac
