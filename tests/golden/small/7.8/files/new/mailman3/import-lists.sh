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

# mailman: text read as us-ascii
if [ ! -e /var/mailman3/import21.done/mailman ]; then
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg remove mailman@lists.smallclub.example'
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg create --quiet mailman@lists.smallclub.example'
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg import21 --charset us-ascii mailman@lists.smallclub.example /var/mailman3/import21/lists/mailman/config.pck'
	touch /var/mailman3/import21.done/mailman
fi
# members: text read as iso-8859-1
if [ ! -e /var/mailman3/import21.done/members ]; then
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg remove members@lists.smallclub.example'
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg create --quiet members@lists.smallclub.example'
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg import21 --charset iso-8859-1 members@lists.smallclub.example /var/mailman3/import21/lists/members/config.pck'
	touch /var/mailman3/import21.done/members
fi
