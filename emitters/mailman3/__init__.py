"""Mailman 3 on OpenBSD (core from PyPI in a virtual environment, LMTP from smtpd), the second
destination: its paths (``paths.py``), its files (``mailman_cfg.py``: mailman.cfg, the smtpd
table hook, the rc.d script; ``housekeeping.py``: crontab and newsyslog; ``lists.py``: the
import of every list and what Mailman 3 does not carry), its pinned versions
(``requirements.txt``, the lock file the plan installs and the tests run) and the plugin that
owns them and its runbook steps (``plugin.py``)."""
