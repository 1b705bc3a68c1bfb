"""Mailman 2 on OpenBSD (the mailman package, smtpd flavour), the destination that ships:
its paths (``paths.py``), its files (``mailman_cfg.py``, ``crontab.py``, ``newsyslog.py``) and
the plugin that owns them and its runbook steps (``plugin.py``). Another destination is a
module or a package of its own beside this one (emitters/destination.py)."""
