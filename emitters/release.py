"""OpenBSD releases and the configuration grammar each one takes.

Sources for the cut-over points (see also ../shared/notes/migration-pitfalls.md, "Release
facts"):

* smtpd.conf: the ``accept``/``reject ... deliver to`` rules were replaced by ``table``/
  ``action``/``match`` in OpenSMTPD 6.4.0, shipped with OpenBSD 6.4 (October 2018); the old
  grammar is a syntax error from then on (OpenSMTPD issues #920, #1139).
* httpd.conf: ``root strip N`` (from 5.7, CVS 2015-01-04) was renamed ``request strip N`` by
  reyk on 2018-06-13 ("Rename httpd.conf 'root strip' option to 'request strip' ... this is
  a grammar change"), first released in OpenBSD 6.4; httpd.conf(5) rev 1.101.
* httpd.conf ``location match`` (Lua patterns, patterns(7)) and the captures ``%n`` in a
  ``block return`` URI came on 2015-06-20 (reyk, "rewrites using Lua's lean pattern matching"),
  first released in OpenBSD 5.8: httpd.conf(5) rev 1.68 (OPENBSD_5_8_BASE) has them, rev 1.53
  (OPENBSD_5_7_BASE) has neither.
* httpd.conf's runtime macro ``$HTTP_HOST`` is in httpd.conf(5) rev 1.84 (2017-08-11) and not
  in rev 1.73 (2016-05-09, OpenBSD 6.0); taken as OpenBSD 6.2, the first release sure to have
  it (6.1 may, unverified).
* httpd.conf ``fastcgi { strip N }`` came on 2020-02-09 (OpenBSD 6.7); not needed here, as the
  plan runs httpd with ``chroot "/"``.
* smtpd's aliases: OpenBSD 5.x's smtpd.conf reads ``table aliases db:/etc/mail/aliases.db``,
  which ``newaliases`` (makemap) builds; from OpenBSD 6.0 (September 2016) the default
  smtpd.conf reads the text file, ``table aliases file:/etc/mail/aliases`` (newaliases(8) rev
  1.11, 2015-12-22: needed "if using database (db) files"; aliases(5) rev 1.13, 2016-06-30;
  the exact commit of the default smtpd.conf was not read).
* acme-client(1): in base since OpenBSD 6.1, speaking ACME v1 only; the ACME v2 rewrite with
  ``authority`` blocks (``api url``, ``account key``) in acme-client.conf(5) shipped with
  OpenBSD 6.6 (October 2019). Let's Encrypt turned ACME v1 off in June 2021, so 6.6 is the
  first release whose acme-client still gets a certificate.
* the mailman 2 package (ports mail/mailman, FLAVORS smtpd/postfix/sendmail, PLIST rev 1.32,
  2020-04-27) was still in the ports tree in April 2021: Quirks.pm rev 1.1258 lists
  ``mail/mailman => mailman-<2.1.30`` as a CVE floor and has no obsolete entry for it, so it
  was built for OpenBSD 6.9 at least. For 7.0 and later no source read says whether it is
  still packaged (Python 2 left the ports tree; ../shared/notes/migration-pitfalls.md,
  "Release facts").
* python3 for Mailman 3 core (3.3.10 needs Python 3.9 or later: its PyPI metadata,
  Requires-Python >=3.9): the ports' default python3 was 3.8 in python.port.mk rev 1.121
  (2020-07-03, so OpenBSD 6.8) and 3.9 in rev 1.142 (2022-02-25, so OpenBSD 7.1); when it
  moved between those two was not read, so 7.0 is not counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: The newest stable release this version of the tool knows (OpenBSD 7.8, October 2025).
NEWEST_STABLE = "7.8"
#: The oldest release the emitters write for: the first with httpd(8) (OpenBSD 5.6 had httpd,
#: but ``root strip`` and the Mailman setup here start with 5.7).
OLDEST = "5.7"


@dataclass(frozen=True, order=True)
class Release:
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    @property
    def smtpd_match_grammar(self) -> bool:
        """``table``/``action``/``match`` (6.4 and later) rather than ``accept ... deliver``."""
        return self >= Release(6, 4)

    @property
    def mailman3_python(self) -> bool:
        """The python3 package is 3.9 or later, as Mailman 3 core needs (7.1 and later)."""
        return self >= Release(7, 1)

    @property
    def smtpd_filters(self) -> bool:
        """Built-in filters (``filter NAME phase rcpt-to match ... reject "CODE TEXT"``, 6.6
        and later): a refusal with the old host's own text and code, 4xx as well as 5xx."""
        return self >= Release(6, 6)

    @property
    def httpd_request_strip(self) -> bool:
        """``request strip N`` (6.4 and later) rather than ``root strip N``."""
        return self >= Release(6, 4)

    @property
    def aliases_db(self) -> bool:
        """smtpd reads ``db:/etc/mail/aliases.db``, rebuilt by ``newaliases`` after each
        change (before 6.0), rather than the text file ``file:/etc/mail/aliases``."""
        return self < Release(6, 0)

    @property
    def httpd_location_match(self) -> bool:
        """``location match "LUA"`` and ``%n`` captures in ``block return`` (5.8 and later)."""
        return self >= Release(5, 8)

    @property
    def httpd_host_macro(self) -> bool:
        """``$HTTP_HOST`` in a ``block return`` URI (taken as 6.2 and later)."""
        return self >= Release(6, 2)

    @property
    def has_acme_client(self) -> bool:
        """acme-client(1) speaks ACME v2 (6.6 and later), the only ACME Let's Encrypt still
        answers: earlier releases get the certificate from elsewhere."""
        return self >= Release(6, 6)

    @property
    def mailman2_package_known(self) -> bool:
        """The mailman 2 package is known to exist for this release (through 6.9; for later
        releases nothing read says either way, and the preflight's ``pkg_info -Q`` decides)."""
        return self <= Release(6, 9)

    @property
    def known(self) -> bool:
        return _release(OLDEST) <= self <= _release(NEWEST_STABLE)

    @staticmethod
    def parse(text: str) -> "Release":
        """``"7.8"`` -> Release(7, 8); raises ValueError naming the expected form."""
        m = re.fullmatch(r"\s*(\d{1,2})\.(\d)\s*", text or "")
        if not m:
            raise ValueError(f"{text!r} is not an OpenBSD release (expected a form like "
                             f"{NEWEST_STABLE})")
        release = Release(int(m.group(1)), int(m.group(2)))
        if release < _release(OLDEST):
            raise ValueError(f"OpenBSD {release} is older than {OLDEST}, the oldest release "
                             "with the httpd(8) this plan needs")
        return release


def _release(text: str) -> Release:
    """One of the constants above as a Release (``parse`` refuses releases before OLDEST)."""
    major, minor = text.split(".")
    return Release(int(major), int(minor))
