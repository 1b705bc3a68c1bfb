#!/bin/sh
# Imports every list's archived posts into HyperKitty: each list's copied mbox is
# prepared by /usr/local/libexec/mailman3-archive/hyperkitty_archive.py (as the inspection counted it: a copy, in
# /var/mailman3-web/import), imported with mailman-web hyperkitty_import, and checked month by
# month. Written by migrate; run by the cutover once Mailman 3 runs. Safe to run again:
# HyperKitty skips a post it holds, and the prepared copy is the same every time.
set -eu
install -d -o _mailmanweb -g _mailmanweb -m 0700 /var/mailman3-web/import

# announce
if [ -f /var/mailman3/import21/archives/private/announce.mbox/announce.mbox ]; then
	/usr/local/mailman3-web/bin/python /usr/local/libexec/mailman3-archive/hyperkitty_archive.py prepare /var/mailman3/import21/archives/private/announce.mbox/announce.mbox /var/mailman3-web/import/announce.mbox /var/mailman3-web/import/announce.json --list announce@lists.netsight.example
	chown _mailmanweb /var/mailman3-web/import/announce.mbox /var/mailman3-web/import/announce.json /var/mailman3-web/import/announce.json.ids
	n=1
	until su -s /bin/sh _mailmanweb -c 'cd /var/mailman3-web && /usr/local/mailman3-web/bin/mailman-web hyperkitty_import --ignore-mtime --since 1000-01-01T00:00:00+00:00 -l announce@lists.netsight.example /var/mailman3-web/import/announce.mbox' && su -s /bin/sh _mailmanweb -c 'cd /var/mailman3-web && /usr/local/mailman3-web/bin/python /usr/local/libexec/mailman3-archive/hyperkitty_archive.py check /var/mailman3-web/import/announce.json --list announce@lists.netsight.example'; do
		[ $n -lt 5 ] || exit 1
		echo 'announce: run' $n of 5 'left posts out; again in 10 s'
		n=$((n + 1))
		sleep 10
	done
else
	echo 'announce: no archive mbox at /var/mailman3/import21/archives/private/announce.mbox/announce.mbox: nothing to import'
fi

# devtalk
if [ -f /var/mailman3/import21/archives/private/devtalk.mbox/devtalk.mbox ]; then
	/usr/local/mailman3-web/bin/python /usr/local/libexec/mailman3-archive/hyperkitty_archive.py prepare /var/mailman3/import21/archives/private/devtalk.mbox/devtalk.mbox /var/mailman3-web/import/devtalk.mbox /var/mailman3-web/import/devtalk.json --list devtalk@lists.riverbend.example
	chown _mailmanweb /var/mailman3-web/import/devtalk.mbox /var/mailman3-web/import/devtalk.json /var/mailman3-web/import/devtalk.json.ids
	n=1
	until su -s /bin/sh _mailmanweb -c 'cd /var/mailman3-web && /usr/local/mailman3-web/bin/mailman-web hyperkitty_import --ignore-mtime --since 1000-01-01T00:00:00+00:00 -l devtalk@lists.riverbend.example /var/mailman3-web/import/devtalk.mbox' && su -s /bin/sh _mailmanweb -c 'cd /var/mailman3-web && /usr/local/mailman3-web/bin/python /usr/local/libexec/mailman3-archive/hyperkitty_archive.py check /var/mailman3-web/import/devtalk.json --list devtalk@lists.riverbend.example'; do
		[ $n -lt 5 ] || exit 1
		echo 'devtalk: run' $n of 5 'left posts out; again in 10 s'
		n=$((n + 1))
		sleep 10
	done
else
	echo 'devtalk: no archive mbox at /var/mailman3/import21/archives/private/devtalk.mbox/devtalk.mbox: nothing to import'
fi

# mailman
if [ -f /var/mailman3/import21/archives/private/mailman.mbox/mailman.mbox ]; then
	/usr/local/mailman3-web/bin/python /usr/local/libexec/mailman3-archive/hyperkitty_archive.py prepare /var/mailman3/import21/archives/private/mailman.mbox/mailman.mbox /var/mailman3-web/import/mailman.mbox /var/mailman3-web/import/mailman.json --list mailman@lists.netsight.example
	chown _mailmanweb /var/mailman3-web/import/mailman.mbox /var/mailman3-web/import/mailman.json /var/mailman3-web/import/mailman.json.ids
	n=1
	until su -s /bin/sh _mailmanweb -c 'cd /var/mailman3-web && /usr/local/mailman3-web/bin/mailman-web hyperkitty_import --ignore-mtime --since 1000-01-01T00:00:00+00:00 -l mailman@lists.netsight.example /var/mailman3-web/import/mailman.mbox' && su -s /bin/sh _mailmanweb -c 'cd /var/mailman3-web && /usr/local/mailman3-web/bin/python /usr/local/libexec/mailman3-archive/hyperkitty_archive.py check /var/mailman3-web/import/mailman.json --list mailman@lists.netsight.example'; do
		[ $n -lt 5 ] || exit 1
		echo 'mailman: run' $n of 5 'left posts out; again in 10 s'
		n=$((n + 1))
		sleep 10
	done
else
	echo 'mailman: no archive mbox at /var/mailman3/import21/archives/private/mailman.mbox/mailman.mbox: nothing to import'
fi

# users
if [ -f /var/mailman3/import21/archives/private/users.mbox/users.mbox ]; then
	/usr/local/mailman3-web/bin/python /usr/local/libexec/mailman3-archive/hyperkitty_archive.py prepare /var/mailman3/import21/archives/private/users.mbox/users.mbox /var/mailman3-web/import/users.mbox /var/mailman3-web/import/users.json --list users@lists.netsight.example
	chown _mailmanweb /var/mailman3-web/import/users.mbox /var/mailman3-web/import/users.json /var/mailman3-web/import/users.json.ids
	n=1
	until su -s /bin/sh _mailmanweb -c 'cd /var/mailman3-web && /usr/local/mailman3-web/bin/mailman-web hyperkitty_import --ignore-mtime --since 1000-01-01T00:00:00+00:00 -l users@lists.netsight.example /var/mailman3-web/import/users.mbox' && su -s /bin/sh _mailmanweb -c 'cd /var/mailman3-web && /usr/local/mailman3-web/bin/python /usr/local/libexec/mailman3-archive/hyperkitty_archive.py check /var/mailman3-web/import/users.json --list users@lists.netsight.example'; do
		[ $n -lt 5 ] || exit 1
		echo 'users: run' $n of 5 'left posts out; again in 10 s'
		n=$((n + 1))
		sleep 10
	done
else
	echo 'users: no archive mbox at /var/mailman3/import21/archives/private/users.mbox/users.mbox: nothing to import'
fi
