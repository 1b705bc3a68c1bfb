"""Where Mailman 3 lives on the new host. There is no OpenBSD package of Mailman 3 (none found
in the ports index; ../shared/notes/migration-pitfalls.md), so the plan installs Mailman 3 core
from PyPI into a virtual environment of the python3 package, at a fixed path, run by its own
system user; these are the plan's own choices, written once here."""

from pathlib import Path

#: The virtual environment (``python3 -m venv``) and the ``mailman`` command in it.
MM3_VENV = "/usr/local/mailman3"
MM3_BIN = f"{MM3_VENV}/bin/mailman"
#: Mailman 3 reads /etc/mailman.cfg when no -C is given (mailman/core/initialize.py,
#: search_for_configuration_file), so every ``mailman`` command finds it.
MM3_CONFIG = "/etc/mailman.cfg"
#: The ``mailman`` command as every step, script and job runs it: with the configuration
#: named, as Mailman would first take a mailman.cfg in the folder it runs in, or in $HOME.
MAILMAN = f"{MM3_BIN} -C {MM3_CONFIG}"
#: Its MTA settings (``[mta] configuration``): the postfix LMTP class's, with the command it
#: runs after writing its table (``postmap_command``).
MM3_MTA_CONFIG = "/etc/mailman-mta.cfg"
#: Its var_dir: database, queues, logs, the table of list addresses (data/postfix_lmtp).
MM3_VAR = "/var/mailman3"
MM3_DATA = f"{MM3_VAR}/data"
#: The table Mailman 3 writes of every list address it answers (mailman/mta/postfix.py,
#: ``_generate_lmtp_file``), rewritten whenever a list is created or removed.
MM3_TABLE = f"{MM3_DATA}/postfix_lmtp"
MM3_PID = f"{MM3_VAR}/master.pid"
#: Where the old host's Mailman 2 var folder (lists/, archives/, data/) is copied: what
#: ``mailman import21`` and the carry of held posts read. Mailman 3 itself never reads it.
MM3_IMPORT = f"{MM3_VAR}/import21"
#: The export of what waited in the old host's Mailman 2 (held posts, subscriptions waiting for
#: the moderator or a confirmation): a folder of its ``data/``, where the freeze writes it and
#: whence the final sync copies it to ``MM3_IMPORT/data/``.
WAITING_FOLDER = "mailman3-waiting"
MM3_WAITING = f"{MM3_IMPORT}/data/{WAITING_FOLDER}"
#: Where the plan installs the script that carries it into Mailman 3 (Mailman's user cannot
#: read the plan's folder under /root).
WAITING_IMPORTER = "/usr/local/libexec/mailman3-import-waiting.py"
MM3_USER = "_mailman3"
MM3_GROUP = "_mailman3"
#: Mailman 3's LMTP server (its lmtp runner), where smtpd delivers list mail.
LMTP_HOST = "127.0.0.1"
LMTP_PORT = 8024
#: The hook Mailman runs (through doas) after writing its table: it writes the addresses into
#: smtpd's list table below, and smtpd rereads it.
TABLE_HOOK = "/usr/local/libexec/mailman3-smtpd-table"
#: smtpd's table of every address Mailman 3 answers, one per line. Mailman's own file maps
#: each address to ``lmtp:[HOST]:PORT``, and smtpd refuses a mapping where ``for rcpt-to``
#: needs a list ("table may not be used for rcpt-to lookups", OpenSMTPD 6.8's smtpd -n).
SMTPD_LIST_TABLE = "/etc/mail/mailman3-lists"
#: Its first entry, always: smtpd reads a file table with no entry as no list at all ("table
#: may not be used for rcpt-to lookups"), before the first list or after the last is removed.
#: An address of the reserved TLD .invalid (RFC 6761): no mail ever names it.
TABLE_SENTINEL = "no-list@mailman3.invalid"
#: The rc.d script (rcctl's service name is its file name).
MM3_SERVICE = "mailman3"
#: The pinned versions the plan installs and the tests run (``requirements.txt`` beside this
#: module): the lock file.
REQUIREMENTS = Path(__file__).with_name("requirements.txt")

# --- the web UI (mailman-web: Postorius and HyperKitty) ----------------------------------------

#: Its own virtual environment (a second one: Django and its apps never share core's pins).
WEB_VENV = "/usr/local/mailman3-web"
WEB_PYTHON = f"{WEB_VENV}/bin/python"
WEB_BIN = f"{WEB_VENV}/bin/mailman-web"
#: mailman-web reads this file by default (mailman_web/manage.py, MAILMAN_WEB_CONFIG), and
#: imports it as the settings module "settings"; the secrets it reads are made on the host.
WEB_CONFIG_DIR = "/etc/mailman3"
WEB_CONFIG = f"{WEB_CONFIG_DIR}/settings.py"
WEB_SECRETS = f"{WEB_CONFIG_DIR}/secrets.ini"
#: Its user, and its own folder (database, search index, logs), outside httpd's chroot.
WEB_USER = "_mailmanweb"
WEB_GROUP = "_mailmanweb"
WEB_DATA = "/var/mailman3-web"
#: Where each list's mbox is prepared for HyperKitty (``scripts/hyperkitty_archive.py``).
HK_IMPORT = f"{WEB_DATA}/import"
#: The preparation script and the inspection's scanner beside it (the plan ships both).
ARCHIVE_TOOLS = "/usr/local/libexec/mailman3-archive"
ARCHIVE_SCRIPT = f"{ARCHIVE_TOOLS}/hyperkitty_archive.py"
#: The requirements of the web side (``web-requirements.txt`` beside this module).
WEB_REQUIREMENTS = Path(__file__).with_name("web-requirements.txt")
#: The FastCGI server (flup) httpd reaches Django through: its socket in a folder of group www
#: (httpd's children keep only that group), the script that runs it, and its rc.d service.
WEB_SOCKET_DIR = "/var/www/run/mailman3-web"
WEB_SOCKET = f"{WEB_SOCKET_DIR}/fcgi.sock"
WEB_SERVER = "/usr/local/libexec/mailman3-web-fcgi.py"
WEB_SERVICE = "mailman3web"
#: django-q's cluster (``mailman-web qcluster``): HyperKitty's background tasks, among them the
#: one that reads a new list's archive policy from core (without it a private list's first
#: posts would be public).
WEB_TASKS_SERVICE = "mailman3webq"
#: collectstatic's folder (STATIC_ROOT), which httpd serves at STATIC_URL, and a folder that
#: does not exist, the ``root`` of Django's locations: httpd then gives Django the whole path
#: as PATH_INFO (it cuts SCRIPT_NAME at the longest part of root + path that exists).
WEB_STATIC_PARENT = "/var/www/mailman3-web"
WEB_STATIC = f"{WEB_STATIC_PARENT}/static"
STATIC_URL = "/static/"
WEB_NONE = f"{WEB_STATIC_PARENT}/none"
#: The URL prefixes mailman-web answers (mailman_web/urls.py: Postorius and HyperKitty each
#: twice, the later one in their links; django_mailman3's profile; allauth; Django's admin).
WEB_PREFIXES = ("/postorius/", "/hyperkitty/", "/mailman3/", "/archives/", "/accounts/",
                "/admin/", "/user-profile/")
#: The secrets, made on the new host (never in the plan): core's REST password (mailman.cfg
#: extends this file, a path relative to /etc), and HyperKitty's archiver key, in the file
#: core's archiver reads.
MM3_SECRETS = "/etc/mailman-secrets.cfg"
MM3_SECRETS_NAME = "mailman-secrets.cfg"
HK_ARCHIVER_CONFIG = "/etc/mailman-hyperkitty.cfg"
