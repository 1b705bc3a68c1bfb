"""The real HyperKitty (and Postorius) for tests: mailman-web from PyPI in ``.cache/mailman-web``.

``tools/install-test-deps.sh`` (run by ``make test``) installs it at the versions pinned in
``emitters/mailman3/web-requirements.txt``; where it is absent the tests skip with the reason,
and fail instead under ``make test`` (``MIGRATE_REQUIRE_TOOLS=1``).

``WebSite(folder)`` is a throwaway mailman-web site: a ``settings.py`` in ``folder`` (SQLite
database, logs and search index below it), its database made by ``mailman-web migrate`` once
per pinned set and copied from ``.cache/mailman-web/template.db`` after that (migrating takes
about half a minute). ``site.run(args)`` runs ``mailman-web`` with it; ``site.python(code)`` runs
Python with Django set up on it.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

from conftest import REPO, need

CACHE = REPO / ".cache" / "mailman-web"
VENV = CACHE / "venv"
TEMPLATE = CACHE / "template.db"

SETTINGS = textwrap.dedent('''\
    from mailman_web.settings.base import *  # noqa: F401,F403
    from mailman_web.settings.mailman import *  # noqa: F401,F403

    BASE_DIR = {base!r}
    SECRET_KEY = "only-for-the-tests"
    DEBUG = False
    ALLOWED_HOSTS = ["*"]
    TIME_ZONE = "UTC"
    DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3",
                             "NAME": BASE_DIR + "/mailman-web.db"}}}}
    LOGGING["handlers"]["file"]["filename"] = BASE_DIR + "/mailmanweb.log"
    HAYSTACK_CONNECTIONS["default"]["PATH"] = BASE_DIR + "/fulltext_index"
    STATIC_ROOT = BASE_DIR + "/static"
''')


def web_bin() -> Path:
    path = VENV / "bin" / "mailman-web"
    need(path.exists(), f"mailman-web is not installed in {VENV} (tools/install-test-deps.sh "
                        "installs it)")
    return path


class WebSite:
    """A throwaway mailman-web site in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "settings.py").write_text(SETTINGS.format(base=str(folder)))
        self.env = {**os.environ, "MAILMAN_WEB_CONFIG": str(folder / "settings.py"),
                    "PYTHONDONTWRITEBYTECODE": "1"}
        self.env.pop("DJANGO_SETTINGS_MODULE", None)
        self._database()

    def _database(self) -> None:
        binary = web_bin()
        with open(CACHE / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            pins = (REPO / "emitters/mailman3/web-requirements.txt").read_bytes()
            stamp = CACHE / "template.pins"
            if not TEMPLATE.exists() or not stamp.exists() or stamp.read_bytes() != pins:
                res = subprocess.run([str(binary), "migrate", "--no-input"], env=self.env,
                                     capture_output=True, text=True, timeout=600)
                assert res.returncode == 0, res.stdout + res.stderr
                shutil.copyfile(self.folder / "mailman-web.db", TEMPLATE)
                stamp.write_bytes(pins)
            else:
                shutil.copyfile(TEMPLATE, self.folder / "mailman-web.db")

    def run(self, args: list[str], timeout: float = 3600) -> subprocess.CompletedProcess:
        return subprocess.run([str(web_bin()), *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def python(self, args: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
        """The web environment's Python (HyperKitty, Django) with this site's settings."""
        return subprocess.run([str(VENV / "bin" / "python"), *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def months(self, list_address: str) -> dict[str, int]:
        """HyperKitty's posts of the list by month (UTC)."""
        code = textwrap.dedent(f'''\
            import json
            from mailman_web.manage import setup
            setup()
            import django
            django.setup()
            from hyperkitty.models import Email
            months = {{}}
            for d in Email.objects.filter(mailinglist__name={list_address!r}).values_list(
                    "date", flat=True):
                key = d.strftime("%Y-%m")
                months[key] = months.get(key, 0) + 1
            print(json.dumps(months))
        ''')
        res = self.python(["-c", code])
        assert res.returncode == 0, res.stderr
        return dict(sorted(json.loads(res.stdout.strip().splitlines()[-1]).items()))

    def message_ids(self, list_address: str) -> dict[str, str]:
        """HyperKitty's messages of the list: Message-ID -> its hash (the URL's name)."""
        code = textwrap.dedent(f'''\
            import json
            from mailman_web.manage import setup
            setup()
            import django
            django.setup()
            from hyperkitty.models import Email
            print(json.dumps(dict(Email.objects.filter(mailinglist__name={list_address!r})
                                  .values_list("message_id", "message_id_hash"))))
        ''')
        res = self.python(["-c", code])
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout.strip().splitlines()[-1])
