#!/bin/sh
# Imports every list's archived posts into HyperKitty: each list's copied mbox is
# prepared by /usr/local/libexec/mailman3-archive/hyperkitty_archive.py (as the inspection counted it: a copy, in
# /var/mailman3-web/import), imported with mailman-web hyperkitty_import, and checked month by
# month. Written by migrate; run by the cutover once Mailman 3 runs. Safe to run again:
# HyperKitty skips a post it holds, and the prepared copy is the same every time.
set -eu
install -d -o _mailmanweb -g _mailmanweb -m 0700 /var/mailman3-web/import

# alumni-news
if [ -f /var/mailman3/import21/archives/private/alumni-news.mbox/alumni-news.mbox ]; then
	/usr/local/mailman3-web/bin/python /usr/local/libexec/mailman3-archive/hyperkitty_archive.py prepare /var/mailman3/import21/archives/private/alumni-news.mbox/alumni-news.mbox /var/mailman3-web/import/alumni-news.mbox /var/mailman3-web/import/alumni-news.json --list alumni-news@lists.hillcrest.example
	chown _mailmanweb /var/mailman3-web/import/alumni-news.mbox /var/mailman3-web/import/alumni-news.json /var/mailman3-web/import/alumni-news.json.ids
	n=1
	until su -s /bin/sh _mailmanweb -c 'cd /var/mailman3-web && /usr/local/mailman3-web/bin/mailman-web hyperkitty_import --ignore-mtime --since 1000-01-01T00:00:00+00:00 -l alumni-news@lists.hillcrest.example /var/mailman3-web/import/alumni-news.mbox' && su -s /bin/sh _mailmanweb -c 'cd /var/mailman3-web && /usr/local/mailman3-web/bin/python /usr/local/libexec/mailman3-archive/hyperkitty_archive.py check /var/mailman3-web/import/alumni-news.json --list alumni-news@lists.hillcrest.example'; do
		[ $n -lt 5 ] || exit 1
		echo 'alumni-news: run' $n of 5 'left posts out; again in 10 s'
		n=$((n + 1))
		sleep 10
	done
else
	echo 'alumni-news: no archive mbox at /var/mailman3/import21/archives/private/alumni-news.mbox/alumni-news.mbox: nothing to import'
fi

# mailman
if [ -f /var/mailman3/import21/archives/private/mailman.mbox/mailman.mbox ]; then
	/usr/local/mailman3-web/bin/python /usr/local/libexec/mailman3-archive/hyperkitty_archive.py prepare /var/mailman3/import21/archives/private/mailman.mbox/mailman.mbox /var/mailman3-web/import/mailman.mbox /var/mailman3-web/import/mailman.json --list mailman@lists.hillcrest.example
	chown _mailmanweb /var/mailman3-web/import/mailman.mbox /var/mailman3-web/import/mailman.json /var/mailman3-web/import/mailman.json.ids
	n=1
	until su -s /bin/sh _mailmanweb -c 'cd /var/mailman3-web && /usr/local/mailman3-web/bin/mailman-web hyperkitty_import --ignore-mtime --since 1000-01-01T00:00:00+00:00 -l mailman@lists.hillcrest.example /var/mailman3-web/import/mailman.mbox' && su -s /bin/sh _mailmanweb -c 'cd /var/mailman3-web && /usr/local/mailman3-web/bin/python /usr/local/libexec/mailman3-archive/hyperkitty_archive.py check /var/mailman3-web/import/mailman.json --list mailman@lists.hillcrest.example'; do
		[ $n -lt 5 ] || exit 1
		echo 'mailman: run' $n of 5 'left posts out; again in 10 s'
		n=$((n + 1))
		sleep 10
	done
else
	echo 'mailman: no archive mbox at /var/mailman3/import21/archives/private/mailman.mbox/mailman.mbox: nothing to import'
fi

# staff
if [ -f /var/mailman3/import21/archives/private/staff.mbox/staff.mbox ]; then
	/usr/local/mailman3-web/bin/python /usr/local/libexec/mailman3-archive/hyperkitty_archive.py prepare /var/mailman3/import21/archives/private/staff.mbox/staff.mbox /var/mailman3-web/import/staff.mbox /var/mailman3-web/import/staff.json --list staff@lists.hillcrest.example
	chown _mailmanweb /var/mailman3-web/import/staff.mbox /var/mailman3-web/import/staff.json /var/mailman3-web/import/staff.json.ids
	n=1
	until su -s /bin/sh _mailmanweb -c 'cd /var/mailman3-web && /usr/local/mailman3-web/bin/mailman-web hyperkitty_import --ignore-mtime --since 1000-01-01T00:00:00+00:00 -l staff@lists.hillcrest.example /var/mailman3-web/import/staff.mbox' && su -s /bin/sh _mailmanweb -c 'cd /var/mailman3-web && /usr/local/mailman3-web/bin/python /usr/local/libexec/mailman3-archive/hyperkitty_archive.py check /var/mailman3-web/import/staff.json --list staff@lists.hillcrest.example'; do
		[ $n -lt 5 ] || exit 1
		echo 'staff: run' $n of 5 'left posts out; again in 10 s'
		n=$((n + 1))
		sleep 10
	done
else
	echo 'staff: no archive mbox at /var/mailman3/import21/archives/private/staff.mbox/staff.mbox: nothing to import'
fi
