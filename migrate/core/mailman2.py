"""Facts about GNU Mailman 2.1 that both sides need: the parsers (reading the old host) and the
emitters (writing the new one). One definition each, imported by both; this module imports
nothing of the project.

Sources: Mailman 2.1's ``Mailman/MTA/Utils.py`` (the ten addresses of a list and the mail
wrapper's commands), ``Mailman/Defaults.py`` (the queue folders under ``qfiles/``, the site
password files), ``Mailman/ListAdmin.py`` (held messages) and ``Mailman/Pending.py``.
"""

from __future__ import annotations

import re

#: A list's ten addresses: (suffix of the list name, the mail wrapper's command).
ADDRESSES = (
    ("", "post"), ("-admin", "admin"), ("-bounces", "bounces"), ("-confirm", "confirm"),
    ("-join", "join"), ("-leave", "leave"), ("-owner", "owner"), ("-request", "request"),
    ("-subscribe", "subscribe"), ("-unsubscribe", "unsubscribe"),
)
#: Mailman 2.1's cron scripts (cron/crontab.in): script -> its default time fields. The old
#: host's crontab runs them; the new host's crontab runs them at the old host's times.
CRON_SCRIPTS = {
    "checkdbs": "0 8 * * *",
    "disabled": "0 9 * * *",
    "senddigests": "0 12 * * *",
    "mailpasswds": "0 5 1 * *",
    "gate_news": "0,5,10,15,20,25,30,35,40,45,50,55 * * * *",
    "nightly_gzip": "27 3 * * *",
    "cull_bad_shunt": "30 4 * * *",
}
#: The wrapper's command -> the suffix of the address Mailman gives it.
ACTION_SUFFIX = {action: suffix for suffix, action in ADDRESSES}
#: The suffix -> the wrapper's command.
SUFFIX_ACTION = {suffix: action for suffix, action in ADDRESSES}

#: The queues that hold only deliveries, which need the MTA: ``out``, and ``retry`` for those
#: the MTA refused for now (moved back to ``out`` to be sent again).
OUT_QUEUE, RETRY_QUEUE = DELIVERY_QUEUES = ("out", "retry")
#: Where a message Mailman failed on waits for a person (``bin/unshunt``).
SHUNT_QUEUE = "shunt"
#: The subscribe_policy values under which a subscription waits for the moderator (2:
#: approval, 3: confirmation and approval; Defaults.py's DEFAULT_SUBSCRIBE_POLICY).
MODERATED_SUBSCRIPTIONS = (2, 3)
#: Where a mail to a list's -request address waits until Mailman has answered it.
COMMAND_QUEUE = "commands"
#: Every queue folder under ``qfiles/`` (Defaults.py's *QUEUE_DIR settings).
QUEUES = ("in", OUT_QUEUE, "virgin", "bounces", RETRY_QUEUE, SHUNT_QUEUE, "archive",
          COMMAND_QUEUE, "news")
#: The queues that hold a post or a command on its way: each must be empty before the final
#: sync, or that post or command is lost (``archive``: a post not yet in the archive;
#: ``commands``: a -request mail not yet answered; ``news``: a post for the news gateway).
#: ``shunt`` is not drained: a shunted message waits for a person.
DRAIN_QUEUES = tuple(q for q in QUEUES if q != SHUNT_QUEUE)
#: Of those, the queues a message waits in before Mailman has taken it whole (archived it and
#: queued its deliveries).
INBOUND_QUEUES = tuple(q for q in DRAIN_QUEUES if q not in DELIVERY_QUEUES)

#: The site's own password hashes in ``data/``: the site administrator's (``mmsitepass``) and
#: the list creator's (``mmsitepass -c``). Without them the site admin is locked out after a move.
SITE_PASSWORD_FILES = ("adm.pw", "creator.pw")

#: The folders of the var prefix that hold what moves, searched for symlinks, and whether the
#: sync copies each of their entries as a folder of its own (``lists/NAME``,
#: ``archives/private/NAME`` and ``NAME.mbox``) or only files at their top (``data/``: the
#: held posts and the site password files); ``qfiles/`` is drained, not copied.
MOVED_FOLDERS = (("lists", "entries"), ("archives/private", "entries"), ("data", "files"),
                 ("qfiles", "none"))

#: A held message ``data/heldmsg-LIST-ID.pck`` (or ``.txt``, METADATA_FORMAT text).
HELD_MESSAGE = re.compile(r"heldmsg-(?P<list>.+)-(?P<id>\d+)\.(?P<ext>pck|txt)\Z")


def address_of(list_name: str, action: str) -> str:
    """The local part Mailman gives a list's command (``announce``, ``request`` ->
    ``announce-request``)."""
    return list_name + ACTION_SUFFIX[action]
