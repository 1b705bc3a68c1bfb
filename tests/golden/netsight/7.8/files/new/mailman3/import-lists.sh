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

# announce: text read as iso-8859-1
if [ ! -e /var/mailman3/import21.done/announce ]; then
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg remove announce@lists.netsight.example'
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg create --quiet announce@lists.netsight.example'
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg import21 --charset iso-8859-1 announce@lists.netsight.example /var/mailman3/import21/lists/announce/config.pck'
	touch /var/mailman3/import21.done/announce
fi
# devtalk: text read as iso-8859-1
if [ ! -e /var/mailman3/import21.done/devtalk ]; then
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg remove devtalk@lists.riverbend.example'
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg create --quiet devtalk@lists.riverbend.example'
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg import21 --charset iso-8859-1 devtalk@lists.riverbend.example /var/mailman3/import21/lists/devtalk/config.pck'
	touch /var/mailman3/import21.done/devtalk
fi
# mailman: text read as us-ascii
if [ ! -e /var/mailman3/import21.done/mailman ]; then
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg remove mailman@lists.netsight.example'
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg create --quiet mailman@lists.netsight.example'
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg import21 --charset us-ascii mailman@lists.netsight.example /var/mailman3/import21/lists/mailman/config.pck'
	touch /var/mailman3/import21.done/mailman
fi
# users: text read as iso-8859-1
if [ ! -e /var/mailman3/import21.done/users ]; then
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg remove users@lists.netsight.example'
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg create --quiet users@lists.netsight.example'
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg import21 --charset iso-8859-1 users@lists.netsight.example /var/mailman3/import21/lists/users/config.pck'
	touch /var/mailman3/import21.done/users
fi
