"""Mailman 3's web UI on the new host: Postorius and HyperKitty (mailman-web, Django) behind
OpenBSD's httpd, reached over FastCGI; the old Mailman 2 pages redirected to them.

Why FastCGI, not relayd(8) in front: FastCGI is httpd's own gateway, so httpd stays the one
server on ports 80 and 443, with the certificate acme-client renews, as for Mailman 2; relayd
would take those ports and the TLS from httpd and add a second daemon to every request. Why
flup, not uWSGI: flup is pure Python (nothing to compile on the host) and in OpenBSD's ports
(www/py-flup); uWSGI has no port, and its own bug tracker has open segfaults on OpenBSD 6.4 and
later when it changes user (unbit/uwsgi #1901, #2011). Measured here with the real httpd: both
serve every page the same (/work/notes, tests/test_mailman3_web.py).

The pieces, each proved with the real programs (tests/test_mailman3_web.py):

* ``settings.py`` in /etc/mailman3 (where mailman-web looks): mailman-web's own settings, every
  path moved to the new host's folders (its base settings name /opt/mailman/web), the web names,
  the REST API of core on loopback; the secrets read from ``secrets.ini`` beside it, made on the
  host by ``SECRETS_SCRIPT`` (never in the plan);
* ``mailman2_urls.py`` and ``mailman2-lists.json`` beside it: mailman-web's URLs, and before them
  a permanent redirect for every Mailman 2 page to its Postorius or HyperKitty equivalent, and
  for every private archive article to the same message in HyperKitty (scripts/mailman2_urls.py);
* the FastCGI server (flup, ``WEB_SERVER``) and django-q's cluster, each an rc.d service run as
  the web user; httpd serves collectstatic's files itself (``STATIC_URL``) and passes every
  other path of Django's prefixes, and of Mailman 2's CGI prefix, whole (``WEB_NONE``);
* core's archiver hands each new post to HyperKitty through httpd's loopback server
  (``localhost``, 127.0.0.1 port 80: HyperKitty accepts the archiver only from loopback).
"""

from __future__ import annotations

import json
from importlib import resources

from migrate.core.model import Inventory, MailingList, Target

from emitters.common import Emitted
from emitters.guard import py_str, sh_word
from emitters.mailman3.paths import (ARCHIVE_TOOLS, HK_ARCHIVER_CONFIG, MM3_IMPORT, MM3_SECRETS,
                                     MM3_USER, STATIC_URL, WEB_BIN, WEB_CONFIG, WEB_CONFIG_DIR,
                                     WEB_DATA, WEB_GROUP, WEB_PYTHON, WEB_SECRETS, WEB_SERVER,
                                     WEB_SERVICE, WEB_SOCKET, WEB_SOCKET_DIR, WEB_STATIC,
                                     WEB_TASKS_SERVICE, WEB_USER, WEB_VENV)

q = sh_word
SETTINGS_FILE = "files/new/mailman3/web/settings.py"
URLS_FILE = "files/new/mailman3/web/mailman2_urls.py"
LISTS_FILE = "files/new/mailman3/web/mailman2-lists.json"
SERVER_FILE = "files/new/mailman3/web/mailman3-web-fcgi.py"
SETUP_FILE = "files/new/mailman3/web/web_setup.py"
SECRETS_SCRIPT = "files/new/mailman3/web/make-secrets.sh"
RC_WEB = "files/new/mailman3/web/rc.d-mailman3web"
RC_TASKS = "files/new/mailman3/web/rc.d-mailman3webq"
CRONTAB = "files/new/mailman3/web/crontab-mailmanweb"
#: Postorius's and HyperKitty's prefixes as their pages link them (mailman_web/urls.py includes
#: each twice; Django names a page by its last include: /mailman3/ and /archives/).
POSTORIUS = "/mailman3/"
HYPERKITTY = "/archives/"


def page_path(page: str, list_id: str, address: str) -> str | None:
    """Where mailman2_urls.py sends a list's Mailman 2 ``page`` (what Django's reverse() gives
    for the view it names there; the Mailman 3 e2e compares them)."""
    lists = f"{POSTORIUS}lists/{list_id}/"
    return {"listinfo": lists, "subscribe": lists, "confirm": lists,
            "admin": f"{lists}settings/", "admindb": f"{lists}held_messages",
            "roster": f"{lists}members/subscriber/",
            "options": f"{POSTORIUS}accounts/subscriptions/",
            "private": f"{HYPERKITTY}list/{address}/"}.get(page)


#: Where mailman2_urls.py sends each of Mailman 2's pages (scripts/mailman2_urls.py), for
#: web-parity.md.
PAGES = (
    ("listinfo", "the list's page in Postorius"),
    ("admin", "the list's settings in Postorius"),
    ("admindb", "the list's held messages in Postorius"),
    ("options", "the member's subscriptions in Postorius"),
    ("roster", "the list's members in Postorius"),
    ("private", "the list's archive in HyperKitty, where its privacy applies"),
    ("private-volume", f"the same month in HyperKitty ({HYPERKITTY}list/LIST@DOMAIN/YYYY/M/)"),
    ("private-article", f"the same message in HyperKitty ({HYPERKITTY}list/LIST@DOMAIN/"
                        "message/HASH/: HASH from the Message-ID the article names), else its "
                        "month"),
)
#: The files make-secrets.sh writes (its check: each one there, not empty).
SECRET_FILES = (MM3_SECRETS, HK_ARCHIVER_CONFIG, WEB_SECRETS)
#: Where the plan installs the web setup script (run with the web environment's Python).
WEB_SETUP = "/usr/local/libexec/mailman3-web-setup.py"
#: HyperKitty as core's archiver reaches it: httpd's loopback server block.
ARCHIVER_URL = "http://localhost/hyperkitty/"
#: The paths of that block: HyperKitty's archiver API and Postorius's templates (core fetches
#: its list templates there); every other path of it answers 403.
LOOPBACK_PREFIXES = ("/hyperkitty/api/mailman/", "/postorius/api/templates/")


def settings(target: Target, names: list[str], tls: bool) -> str:
    """mailman-web's settings.py for the web ``names`` (the first is the site's)."""
    main = names[0]
    scheme = "https" if tls else "http"
    hosts = [*names, "localhost", "127.0.0.1"]
    return "\n".join([
        f"# {WEB_CONFIG}: Mailman 3's web UI (mailman-web: Django, Postorius, HyperKitty),",
        "# written by migrate. mailman-web reads this file (MAILMAN_WEB_CONFIG, by default this",
        "# path) and imports it as the settings module. No secret is in it: they are read from",
        f"# {WEB_SECRETS}, which the plan's make-secrets.sh wrote on this host.",
        "import configparser",
        "",
        "from mailman_web.settings.base import *  # noqa: F401,F403",
        "from mailman_web.settings.mailman import *  # noqa: F401,F403",
        "",
        "_secrets = configparser.ConfigParser(interpolation=None)",
        f"with open({py_str(WEB_SECRETS)}) as _fh:",
        "    _secrets.read_file(_fh)",
        "SECRET_KEY = _secrets['web']['secret_key']",
        "MAILMAN_REST_API_PASS = _secrets['web']['rest_pass']  # core's [webservice] admin_pass",
        "MAILMAN_ARCHIVER_KEY = _secrets['web']['archiver_key']  # core's archiver's api_key",
        "",
        "DEBUG = False",
        f"ALLOWED_HOSTS = {hosts!r}",
        f"CSRF_TRUSTED_ORIGINS = {[f'{scheme}://{n}' for n in names]!r}",
        "SITE_ID = 1",
        "TIME_ZONE = 'UTC'  # HyperKitty's months are UTC months, as the inspection counts them",
        "# the URLs: Mailman 2's pages redirected, then mailman-web's own",
        "ROOT_URLCONF = 'mailman2_urls'",
        "",
        "# every path of mailman-web's base settings names /opt/mailman/web: here, its own folder",
        f"DATA = {py_str(WEB_DATA)}",
        "DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3',",
        "                         'NAME': DATA + '/mailman-web.db',",
        "                         # the FastCGI server's threads and qcluster write at once",
        "                         'OPTIONS': {'timeout': 30}}}",
        "HAYSTACK_CONNECTIONS = {'default': {",
        "    'ENGINE': 'haystack.backends.whoosh_backend.WhooshEngine',",
        "    'PATH': DATA + '/fulltext_index'}}",
        "LOGGING['handlers']['file']['filename'] = DATA + '/logs/mailmanweb.log'  # noqa: F405",
        "# collectstatic and compress write here; httpd serves it at STATIC_URL",
        f"STATIC_ROOT = {py_str(WEB_STATIC)}",
        f"STATIC_URL = {py_str(STATIC_URL)}",
        "",
        "MAILMAN_REST_API_URL = 'http://127.0.0.1:8001'",
        "MAILMAN_REST_API_USER = 'restadmin'",
        "MAILMAN_ARCHIVER_FROM = ('127.0.0.1', '::1')  # core's posts, through httpd's loopback",
        "POSTORIUS_TEMPLATE_BASE_URL = 'http://localhost/'",
        "",
        f"SESSION_COOKIE_SECURE = {tls!r}",
        f"CSRF_COOKIE_SECURE = {tls!r}",
        f"ACCOUNT_DEFAULT_HTTP_PROTOCOL = {py_str(scheme)}",
        f"DEFAULT_FROM_EMAIL = {py_str(f'postorius@{main}')}",
        f"SERVER_EMAIL = {py_str(f'root@{target.hostname}')}",
        "EMAIL_HOST = '127.0.0.1'  # the local smtpd",
        "EMAIL_PORT = 25",
        "",
    ])


def lists_map(inv: Inventory, lists: list[tuple[MailingList, str]],
              cgi_prefixes: list[str]) -> str:
    """mailman2-lists.json: per old list name, its address and list id in Mailman 3 and the
    folder its pipermail HTML was copied to; the old CGI prefixes; the archive tools."""
    return json.dumps({
        "cgi_prefixes": cgi_prefixes,
        "tools": ARCHIVE_TOOLS,
        "lists": {ml.name.lower(): {"address": f"{ml.name}@{host}",
                                    "list_id": f"{ml.name}.{host}",
                                    "archive": f"{MM3_IMPORT}/archives/private/{ml.name}"}
                  for ml, host in lists},
    }, indent=1, sort_keys=True) + "\n"


def _rc(service: str, daemon: str, flags: str, pexp: str) -> str:
    return "\n".join([
        "#!/bin/ksh",
        "#",
        f"# {service}: Mailman 3's web UI ({WEB_VENV}), written by migrate.",
        "",
        f"daemon=\"{daemon}\"",
        f"daemon_flags=\"{flags}\"",
        f"daemon_user=\"{WEB_USER}\"",
        "",
        ". /etc/rc.d/rc.subr",
        "",
        f"pexp=\"{pexp}\"",
        "rc_bg=YES",
        "rc_reload=NO",
        "",
        "rc_cmd $1",
        "",
    ])


def server_script() -> str:
    return "\n".join([
        f"#!{WEB_PYTHON}",
        f"# {WEB_SERVER}, written by migrate: mailman-web (Django) as a FastCGI server on",
        f"# {WEB_SOCKET}, for httpd. flup's threaded server; the socket is group www (its",
        "# folder's), mode 0660: httpd's children have that group only.",
        "import os",
        "",
        f"os.environ.setdefault('MAILMAN_WEB_CONFIG', {py_str(WEB_CONFIG)})",
        "from flup.server.fcgi import WSGIServer  # noqa: E402",
        "from mailman_web.wsgi import application  # noqa: E402",
        "",
        f"SOCKET = {py_str(WEB_SOCKET)}",
        "if os.path.exists(SOCKET):  # a stale socket of a server that was killed",
        "    os.unlink(SOCKET)",
        "WSGIServer(application, bindAddress=SOCKET, umask=0o007).run()",
        "",
    ])


def secrets_script() -> str:
    """make-secrets.sh: the web UI's secrets, made once on the new host: Django's SECRET_KEY,
    core's REST password (both sides), HyperKitty's archiver key (both sides). A second run
    keeps them."""
    return "\n".join([
        "#!/bin/sh",
        "# Makes the secrets of Mailman 3 and its web UI on this host, once (written by",
        "# migrate; the plan holds none): core's REST password, which mailman.cfg reads from",
        f"# {MM3_SECRETS}, and HyperKitty's archiver key, which core reads from",
        f"# {HK_ARCHIVER_CONFIG}; both, and Django's SECRET_KEY, for the web UI in",
        f"# {WEB_SECRETS}. Files that exist are kept: a second run changes nothing.",
        "set -eu",
        "umask 077",
        f"install -d -m 0755 {WEB_CONFIG_DIR}",
        f"if [ -s {MM3_SECRETS} ] && [ -s {WEB_SECRETS} ] && [ -s {HK_ARCHIVER_CONFIG} ]; then",
        "\texit 0",
        "fi",
        "key=$(openssl rand -hex 50)",
        "rest=$(openssl rand -hex 24)",
        "archiver=$(openssl rand -hex 32)",
        f"printf '[webservice]\\nadmin_pass: %s\\n' \"$rest\" >{MM3_SECRETS}.tmp",
        f"printf '[general]\\nbase_url: {ARCHIVER_URL}\\napi_key: %s\\n' \"$archiver\" "
        f">{HK_ARCHIVER_CONFIG}.tmp",
        "printf '[web]\\nsecret_key: %s\\nrest_pass: %s\\narchiver_key: %s\\n' \"$key\" "
        f"\"$rest\" \"$archiver\" >{WEB_SECRETS}.tmp",
        f"chown root:{MM3_USER} {MM3_SECRETS}.tmp {HK_ARCHIVER_CONFIG}.tmp",
        f"chown root:{WEB_GROUP} {WEB_SECRETS}.tmp",
        f"chmod 0640 {MM3_SECRETS}.tmp {HK_ARCHIVER_CONFIG}.tmp {WEB_SECRETS}.tmp",
        f"mv -f {MM3_SECRETS}.tmp {MM3_SECRETS}",
        f"mv -f {HK_ARCHIVER_CONFIG}.tmp {HK_ARCHIVER_CONFIG}",
        f"mv -f {WEB_SECRETS}.tmp {WEB_SECRETS}",
        "",
    ])


def setup_script() -> str:
    return (resources.files("emitters.mailman3") / "scripts" / "web_setup.py").read_text(
        encoding="utf-8")


def crontab() -> str:
    return "\n".join([
        f"# {WEB_USER}'s crontab, written by migrate: mailman-web's periodic jobs (HyperKitty's",
        "# new lists, thread order, cache; Postorius's) as mailman-web's documentation sets them.",
        f"@hourly {WEB_BIN} runjobs hourly >/dev/null 2>&1",
        f"@daily {WEB_BIN} runjobs daily >/dev/null 2>&1",
        f"@monthly {WEB_BIN} runjobs monthly >/dev/null 2>&1",
        f"@yearly {WEB_BIN} runjobs yearly >/dev/null 2>&1",
        "",
    ])


def emit_web(inv: Inventory, target: Target, lists: list[tuple[MailingList, str]],
             names: list[str], tls: bool, cgi_prefixes: list[str]) -> Emitted:
    out = Emitted()
    scripts = resources.files("emitters.mailman3") / "scripts"
    out.files[SETTINGS_FILE] = settings(target, names, tls)
    out.install(SETTINGS_FILE, WEB_CONFIG)
    out.files[URLS_FILE] = (scripts / "mailman2_urls.py").read_text(encoding="utf-8")
    out.install(URLS_FILE, f"{WEB_CONFIG_DIR}/mailman2_urls.py")
    out.files[LISTS_FILE] = lists_map(inv, lists, cgi_prefixes)
    out.install(LISTS_FILE, f"{WEB_CONFIG_DIR}/mailman2-lists.json")
    out.files[SERVER_FILE] = server_script()
    out.install(SERVER_FILE, WEB_SERVER, mode="0555")
    out.files[SETUP_FILE] = setup_script()
    out.install(SETUP_FILE, WEB_SETUP, mode="0444")
    out.files[SECRETS_SCRIPT] = secrets_script()
    out.files[RC_WEB] = _rc(WEB_SERVICE, WEB_PYTHON, WEB_SERVER,
                            f"{WEB_VENV}/bin/python[0-9.]* {WEB_SERVER}")
    out.install(RC_WEB, f"/etc/rc.d/{WEB_SERVICE}", mode="0555")
    out.files[RC_TASKS] = _rc(WEB_TASKS_SERVICE, WEB_BIN, "qcluster",
                              f"{WEB_VENV}/bin/python[0-9.]* {WEB_BIN} qcluster")
    out.install(RC_TASKS, f"/etc/rc.d/{WEB_TASKS_SERVICE}", mode="0555")
    out.files[CRONTAB] = crontab()
    return out


def web_folders_command() -> str:
    """The web user's folders: its own (database, logs, search index, the archives' prepared
    copies), the socket's (group www, setgid: the socket takes the group on Linux too), the
    static files'."""
    return (f"install -d -o {WEB_USER} -g {WEB_GROUP} -m 0750 {WEB_DATA} {WEB_DATA}/logs && "
            f"install -d -o {WEB_USER} -g www -m 2750 {WEB_SOCKET_DIR} && "
            f"install -d -o {WEB_USER} -g {WEB_GROUP} -m 0755 {WEB_STATIC}")


#: The web UI's database in SQLite's write-ahead-log mode (kept in the file): readers do not
#: wait for a writer, and fewer writes find the database locked.
_DB = f"{WEB_DATA}/mailman-web.db"
WAL_COMMAND = (f"{WEB_PYTHON} -c \"import sqlite3; "
               f"sqlite3.connect('{_DB}').execute('PRAGMA journal_mode=WAL')\"")
WAL_CHECK = (f"{WEB_PYTHON} -c \"import sqlite3, sys; sys.exit(sqlite3.connect('{_DB}')"
             ".execute('PRAGMA journal_mode').fetchone()[0] != 'wal')\"")


def as_web(command: str) -> str:
    """``command`` as the web user, in its folder."""
    return f"su -s /bin/sh {WEB_USER} -c {q(f'cd {WEB_DATA} && {command}')}"
