#!/bin/sh
# Imports every list's archived posts into HyperKitty: each list's copied mbox is
# prepared by /usr/local/libexec/mailman3-archive/hyperkitty_archive.py (as the inspection counted it: a copy, in
# /var/mailman3-web/import), imported with mailman-web hyperkitty_import, and checked month by
# month. Written by migrate; run by the cutover once Mailman 3 runs. Safe to run again:
# HyperKitty skips a post it holds, and the prepared copy is the same every time.
set -eu
install -d -o _mailmanweb -g _mailmanweb -m 0700 /var/mailman3-web/import

# committee
if [ -f /var/mailman3/import21/archives/private/committee.mbox/committee.mbox ]; then
	/usr/local/mailman3-web/bin/python /usr/local/libexec/mailman3-archive/hyperkitty_archive.py prepare /var/mailman3/import21/archives/private/committee.mbox/committee.mbox /var/mailman3-web/import/committee.mbox /var/mailman3-web/import/committee.json --list committee@lists.oakfield.example
	chown _mailmanweb /var/mailman3-web/import/committee.mbox /var/mailman3-web/import/committee.json /var/mailman3-web/import/committee.json.ids
	n=1
	until su -s /bin/sh _mailmanweb -c 'cd /var/mailman3-web && /usr/local/mailman3-web/bin/mailman-web hyperkitty_import --ignore-mtime --since 1000-01-01T00:00:00+00:00 -l committee@lists.oakfield.example /var/mailman3-web/import/committee.mbox' && su -s /bin/sh _mailmanweb -c 'cd /var/mailman3-web && /usr/local/mailman3-web/bin/python /usr/local/libexec/mailman3-archive/hyperkitty_archive.py check /var/mailman3-web/import/committee.json --list committee@lists.oakfield.example'; do
		[ $n -lt 5 ] || exit 1
		echo 'committee: run' $n of 5 'left posts out; again in 10 s'
		n=$((n + 1))
		sleep 10
	done
else
	echo 'committee: no archive mbox at /var/mailman3/import21/archives/private/committee.mbox/committee.mbox: nothing to import'
fi

# mailman
if [ -f /var/mailman3/import21/archives/private/mailman.mbox/mailman.mbox ]; then
	/usr/local/mailman3-web/bin/python /usr/local/libexec/mailman3-archive/hyperkitty_archive.py prepare /var/mailman3/import21/archives/private/mailman.mbox/mailman.mbox /var/mailman3-web/import/mailman.mbox /var/mailman3-web/import/mailman.json --list mailman@lists.oakfield.example
	chown _mailmanweb /var/mailman3-web/import/mailman.mbox /var/mailman3-web/import/mailman.json /var/mailman3-web/import/mailman.json.ids
	n=1
	until su -s /bin/sh _mailmanweb -c 'cd /var/mailman3-web && /usr/local/mailman3-web/bin/mailman-web hyperkitty_import --ignore-mtime --since 1000-01-01T00:00:00+00:00 -l mailman@lists.oakfield.example /var/mailman3-web/import/mailman.mbox' && su -s /bin/sh _mailmanweb -c 'cd /var/mailman3-web && /usr/local/mailman3-web/bin/python /usr/local/libexec/mailman3-archive/hyperkitty_archive.py check /var/mailman3-web/import/mailman.json --list mailman@lists.oakfield.example'; do
		[ $n -lt 5 ] || exit 1
		echo 'mailman: run' $n of 5 'left posts out; again in 10 s'
		n=$((n + 1))
		sleep 10
	done
else
	echo 'mailman: no archive mbox at /var/mailman3/import21/archives/private/mailman.mbox/mailman.mbox: nothing to import'
fi

# residents
if [ -f /var/mailman3/import21/archives/private/residents.mbox/residents.mbox ]; then
	/usr/local/mailman3-web/bin/python /usr/local/libexec/mailman3-archive/hyperkitty_archive.py prepare /var/mailman3/import21/archives/private/residents.mbox/residents.mbox /var/mailman3-web/import/residents.mbox /var/mailman3-web/import/residents.json --list residents@lists.oakfield.example
	chown _mailmanweb /var/mailman3-web/import/residents.mbox /var/mailman3-web/import/residents.json /var/mailman3-web/import/residents.json.ids
	n=1
	until su -s /bin/sh _mailmanweb -c 'cd /var/mailman3-web && /usr/local/mailman3-web/bin/mailman-web hyperkitty_import --ignore-mtime --since 1000-01-01T00:00:00+00:00 -l residents@lists.oakfield.example /var/mailman3-web/import/residents.mbox' && su -s /bin/sh _mailmanweb -c 'cd /var/mailman3-web && /usr/local/mailman3-web/bin/python /usr/local/libexec/mailman3-archive/hyperkitty_archive.py check /var/mailman3-web/import/residents.json --list residents@lists.oakfield.example'; do
		[ $n -lt 5 ] || exit 1
		echo 'residents: run' $n of 5 'left posts out; again in 10 s'
		n=$((n + 1))
		sleep 10
	done
else
	echo 'residents: no archive mbox at /var/mailman3/import21/archives/private/residents.mbox/residents.mbox: nothing to import'
fi
