#!/bin/sh
# Imports every list's archived posts into HyperKitty: each list's copied mbox is
# prepared by /usr/local/libexec/mailman3-archive/hyperkitty_archive.py (as the inspection counted it: a copy, in
# /var/mailman3-web/import), imported with mailman-web hyperkitty_import, and checked month by
# month. Written by migrate; run by the cutover once Mailman 3 runs. Safe to run again:
# HyperKitty skips a post it holds, and the prepared copy is the same every time.
set -eu
install -d -o _mailmanweb -g _mailmanweb -m 0700 /var/mailman3-web/import

# faculty
if [ -f /var/mailman3/import21/archives/private/faculty.mbox/faculty.mbox ]; then
	/usr/local/mailman3-web/bin/python /usr/local/libexec/mailman3-archive/hyperkitty_archive.py prepare /var/mailman3/import21/archives/private/faculty.mbox/faculty.mbox /var/mailman3-web/import/faculty.mbox /var/mailman3-web/import/faculty.json --list faculty@lists.cs.campus.example
	chown _mailmanweb /var/mailman3-web/import/faculty.mbox /var/mailman3-web/import/faculty.json /var/mailman3-web/import/faculty.json.ids
	n=1
	until su -s /bin/sh _mailmanweb -c 'cd /var/mailman3-web && /usr/local/mailman3-web/bin/mailman-web hyperkitty_import --ignore-mtime --since 1000-01-01T00:00:00+00:00 -l faculty@lists.cs.campus.example /var/mailman3-web/import/faculty.mbox' && su -s /bin/sh _mailmanweb -c 'cd /var/mailman3-web && /usr/local/mailman3-web/bin/python /usr/local/libexec/mailman3-archive/hyperkitty_archive.py check /var/mailman3-web/import/faculty.json --list faculty@lists.cs.campus.example'; do
		[ $n -lt 5 ] || exit 1
		echo 'faculty: run' $n of 5 'left posts out; again in 10 s'
		n=$((n + 1))
		sleep 10
	done
else
	echo 'faculty: no archive mbox at /var/mailman3/import21/archives/private/faculty.mbox/faculty.mbox: nothing to import'
fi

# grad-students
if [ -f /var/mailman3/import21/archives/private/grad-students.mbox/grad-students.mbox ]; then
	/usr/local/mailman3-web/bin/python /usr/local/libexec/mailman3-archive/hyperkitty_archive.py prepare /var/mailman3/import21/archives/private/grad-students.mbox/grad-students.mbox /var/mailman3-web/import/grad-students.mbox /var/mailman3-web/import/grad-students.json --list grad-students@lists.cs.campus.example
	chown _mailmanweb /var/mailman3-web/import/grad-students.mbox /var/mailman3-web/import/grad-students.json /var/mailman3-web/import/grad-students.json.ids
	n=1
	until su -s /bin/sh _mailmanweb -c 'cd /var/mailman3-web && /usr/local/mailman3-web/bin/mailman-web hyperkitty_import --ignore-mtime --since 1000-01-01T00:00:00+00:00 -l grad-students@lists.cs.campus.example /var/mailman3-web/import/grad-students.mbox' && su -s /bin/sh _mailmanweb -c 'cd /var/mailman3-web && /usr/local/mailman3-web/bin/python /usr/local/libexec/mailman3-archive/hyperkitty_archive.py check /var/mailman3-web/import/grad-students.json --list grad-students@lists.cs.campus.example'; do
		[ $n -lt 5 ] || exit 1
		echo 'grad-students: run' $n of 5 'left posts out; again in 10 s'
		n=$((n + 1))
		sleep 10
	done
else
	echo 'grad-students: no archive mbox at /var/mailman3/import21/archives/private/grad-students.mbox/grad-students.mbox: nothing to import'
fi

# mailman
if [ -f /var/mailman3/import21/archives/private/mailman.mbox/mailman.mbox ]; then
	/usr/local/mailman3-web/bin/python /usr/local/libexec/mailman3-archive/hyperkitty_archive.py prepare /var/mailman3/import21/archives/private/mailman.mbox/mailman.mbox /var/mailman3-web/import/mailman.mbox /var/mailman3-web/import/mailman.json --list mailman@lists.cs.campus.example
	chown _mailmanweb /var/mailman3-web/import/mailman.mbox /var/mailman3-web/import/mailman.json /var/mailman3-web/import/mailman.json.ids
	n=1
	until su -s /bin/sh _mailmanweb -c 'cd /var/mailman3-web && /usr/local/mailman3-web/bin/mailman-web hyperkitty_import --ignore-mtime --since 1000-01-01T00:00:00+00:00 -l mailman@lists.cs.campus.example /var/mailman3-web/import/mailman.mbox' && su -s /bin/sh _mailmanweb -c 'cd /var/mailman3-web && /usr/local/mailman3-web/bin/python /usr/local/libexec/mailman3-archive/hyperkitty_archive.py check /var/mailman3-web/import/mailman.json --list mailman@lists.cs.campus.example'; do
		[ $n -lt 5 ] || exit 1
		echo 'mailman: run' $n of 5 'left posts out; again in 10 s'
		n=$((n + 1))
		sleep 10
	done
else
	echo 'mailman: no archive mbox at /var/mailman3/import21/archives/private/mailman.mbox/mailman.mbox: nothing to import'
fi

# seminar
if [ -f /var/mailman3/import21/archives/private/seminar.mbox/seminar.mbox ]; then
	/usr/local/mailman3-web/bin/python /usr/local/libexec/mailman3-archive/hyperkitty_archive.py prepare /var/mailman3/import21/archives/private/seminar.mbox/seminar.mbox /var/mailman3-web/import/seminar.mbox /var/mailman3-web/import/seminar.json --list seminar@lists.cs.campus.example
	chown _mailmanweb /var/mailman3-web/import/seminar.mbox /var/mailman3-web/import/seminar.json /var/mailman3-web/import/seminar.json.ids
	n=1
	until su -s /bin/sh _mailmanweb -c 'cd /var/mailman3-web && /usr/local/mailman3-web/bin/mailman-web hyperkitty_import --ignore-mtime --since 1000-01-01T00:00:00+00:00 -l seminar@lists.cs.campus.example /var/mailman3-web/import/seminar.mbox' && su -s /bin/sh _mailmanweb -c 'cd /var/mailman3-web && /usr/local/mailman3-web/bin/python /usr/local/libexec/mailman3-archive/hyperkitty_archive.py check /var/mailman3-web/import/seminar.json --list seminar@lists.cs.campus.example'; do
		[ $n -lt 5 ] || exit 1
		echo 'seminar: run' $n of 5 'left posts out; again in 10 s'
		n=$((n + 1))
		sleep 10
	done
else
	echo 'seminar: no archive mbox at /var/mailman3/import21/archives/private/seminar.mbox/seminar.mbox: nothing to import'
fi
