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

# alumni-news: text read as iso-8859-1
if [ ! -e /var/mailman3/import21.done/alumni-news ]; then
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg remove alumni-news@lists.hillcrest.example'
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg create --quiet alumni-news@lists.hillcrest.example'
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg import21 --charset iso-8859-1 alumni-news@lists.hillcrest.example /var/mailman3/import21/lists/alumni-news/config.pck'
	touch /var/mailman3/import21.done/alumni-news
fi
# mailman: text read as us-ascii
if [ ! -e /var/mailman3/import21.done/mailman ]; then
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg remove mailman@lists.hillcrest.example'
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg create --quiet mailman@lists.hillcrest.example'
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg import21 --charset us-ascii mailman@lists.hillcrest.example /var/mailman3/import21/lists/mailman/config.pck'
	touch /var/mailman3/import21.done/mailman
fi
# staff: text read as iso-8859-1
if [ ! -e /var/mailman3/import21.done/staff ]; then
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg remove staff@lists.hillcrest.example'
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg create --quiet staff@lists.hillcrest.example'
	run '/usr/local/mailman3/bin/mailman -C /etc/mailman.cfg import21 --charset iso-8859-1 staff@lists.hillcrest.example /var/mailman3/import21/lists/staff/config.pck'
	touch /var/mailman3/import21.done/staff
fi
