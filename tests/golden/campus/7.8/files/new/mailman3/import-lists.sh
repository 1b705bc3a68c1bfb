#!/bin/sh
# Creates every list in Mailman 3 and imports its copied Mailman 2 config.pck, as _mailman3.
# Written by migrate; run by the cutover after the final sync. A list already imported
# (/var/mailman3/import21.done/NAME) is skipped: import21 run twice would undo what changed since; one
# created but not imported (a run cut short) is removed and made again.
set -eu
mkdir -p /var/mailman3/import21.done

run() {
	su -s /bin/sh _mailman3 -c "$*"
}

# faculty: text read as iso-8859-1
if [ ! -e /var/mailman3/import21.done/faculty ]; then
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg remove faculty@lists.cs.campus.example'
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg create --quiet faculty@lists.cs.campus.example'
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg import21 --charset iso-8859-1 faculty@lists.cs.campus.example /var/mailman3/import21/lists/faculty/config.pck'
	touch /var/mailman3/import21.done/faculty
fi
# grad-students: text read as iso-8859-1
if [ ! -e /var/mailman3/import21.done/grad-students ]; then
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg remove grad-students@lists.cs.campus.example'
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg create --quiet grad-students@lists.cs.campus.example'
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg import21 --charset iso-8859-1 grad-students@lists.cs.campus.example /var/mailman3/import21/lists/grad-students/config.pck'
	touch /var/mailman3/import21.done/grad-students
fi
# mailman: text read as us-ascii
if [ ! -e /var/mailman3/import21.done/mailman ]; then
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg remove mailman@lists.cs.campus.example'
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg create --quiet mailman@lists.cs.campus.example'
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg import21 --charset us-ascii mailman@lists.cs.campus.example /var/mailman3/import21/lists/mailman/config.pck'
	touch /var/mailman3/import21.done/mailman
fi
# seminar: text read as iso-8859-1
if [ ! -e /var/mailman3/import21.done/seminar ]; then
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg remove seminar@lists.cs.campus.example'
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg create --quiet seminar@lists.cs.campus.example'
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg import21 --charset iso-8859-1 seminar@lists.cs.campus.example /var/mailman3/import21/lists/seminar/config.pck'
	touch /var/mailman3/import21.done/seminar
fi
