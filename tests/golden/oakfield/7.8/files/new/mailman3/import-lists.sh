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

# committee: text read as iso-8859-1
if [ ! -e /var/mailman3/import21.done/committee ]; then
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg remove committee@lists.oakfield.example'
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg create --quiet committee@lists.oakfield.example'
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg import21 --charset iso-8859-1 committee@lists.oakfield.example /var/mailman3/import21/lists/committee/config.pck'
	touch /var/mailman3/import21.done/committee
fi
# mailman: text read as us-ascii
if [ ! -e /var/mailman3/import21.done/mailman ]; then
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg remove mailman@lists.oakfield.example'
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg create --quiet mailman@lists.oakfield.example'
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg import21 --charset us-ascii mailman@lists.oakfield.example /var/mailman3/import21/lists/mailman/config.pck'
	touch /var/mailman3/import21.done/mailman
fi
# residents: text read as iso-8859-1
if [ ! -e /var/mailman3/import21.done/residents ]; then
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg remove residents@lists.oakfield.example'
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg create --quiet residents@lists.oakfield.example'
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg import21 --charset iso-8859-1 residents@lists.oakfield.example /var/mailman3/import21/lists/residents/config.pck'
	touch /var/mailman3/import21.done/residents
fi
