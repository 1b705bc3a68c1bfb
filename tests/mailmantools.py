"""The real GNU Mailman 2.1 for tests, built from ``../shared/tools/mailman2`` into ``.cache/``.

``mailman_build(flavour)`` builds once and reuses the build while the shared tarball, its
``build.sh`` and the flavour's arguments stay the same (a digest of the three names the cached
folder). A flavour is one of:

- ``plain``: runnable where it lies (``.cache/mailman2/plain-*/mailman``), mail and CGI group
  ``mailman``: for loading list files (``bin/list_members``, ``bin/config_list``, ``withlist``);
- ``openbsd``: OpenBSD's package layout (prefix ``/usr/local/lib/mailman``, var prefix
  ``/var/spool/mailman``), staged under ``root/``, the mail wrapper checking the group
  ``opensmtpd`` (standing in for OpenBSD's ``_smtpd``: the gid smtpd delivers with) and the CGI
  wrapper ``www``, as OpenBSD's package is: the group slowcgi runs the CGI as (and fcgiwrap, its
  stand-in in the tests, which run it as the user ``www`` that OpenBSD's httpd needs too; a
  system group of gid 100 or more, so the wrapper's group check really runs);
- ``freebsd``: the FreeBSD port's layout (``/usr/local/mailman`` for both), staged under
  ``root/``, the mail wrapper checking ``mailman``: the group Exim really runs the wrapper as
  in the end-to-end test, where the `small` sample's ``address_pipe`` transport says
  ``user = mailman`` and no group, so Exim takes that user's primary group (on the FreeBSD
  port the wrapper is usually built for ``mailnull``, Exim's own group, for a transport that
  names no user). The user and group ``mailman`` are made by ``tools/install-test-deps.sh``
  (and by ``eximtools.ensure_users``, which the end-to-end test runs before the build);
- ``openbsd-wrong-gid``: the OpenBSD layout built for the wrong mail group (``mailman``): a
  delivery by ``opensmtpd`` gets Mailman's own "Group mismatch error".

A staged flavour is meant to be bound at its absolute paths in a private mount namespace.

Where it cannot be built (no Python 2.7, no compiler, no shared folder) the test is skipped with
the reason, and fails instead under ``make test`` (``MIGRATE_REQUIRE_TOOLS=1``).

One Debian change in the shared source matters: its wrappers skip the group check for a caller
whose real gid is below 100 or is 65534. ``opensmtpd`` and ``mailman`` are system groups made
by ``tools/install-test-deps.sh`` with gids of 100 or more, so the check runs.
"""

from __future__ import annotations

import fcntl
import grp
import hashlib
import os
import pwd
import shutil
import subprocess
from pathlib import Path

from conftest import REPO, need
from conftest import python27 as python2
from emitters.mailman2.paths import MM_PREFIX, MM_VAR

SHARED_MAILMAN = REPO.parent / "shared" / "tools" / "mailman2"
#: Resolved: a build names its own absolute paths, and a worktree whose .cache is a link to
#: another's must not leave builds that name the worktree (gone with it) in the shared cache.
CACHE = (REPO / ".cache").resolve() / "mailman2"

#: The OpenBSD package's layout, as the plan writes for it (emitters/common.py).
_OPENBSD = {"MM_PREFIX": MM_PREFIX, "MM_VAR_PREFIX": MM_VAR}
#: flavour -> (environment for build.sh, mail group, CGI group)
FLAVOURS: dict[str, tuple[dict[str, str], str, str]] = {
    "plain": ({}, "mailman", "mailman"),
    "openbsd": (_OPENBSD, "opensmtpd", "www"),
    "freebsd": ({"MM_PREFIX": "/usr/local/mailman"}, "mailman", "www-data"),
    "openbsd-wrong-gid": (_OPENBSD, "mailman", "www-data"),
}



def _digest(flavour: str) -> str:
    h = hashlib.sha256(flavour.encode())
    env, mail_gid, cgi_gid = FLAVOURS[flavour]
    h.update(repr((sorted(env.items()), mail_gid, cgi_gid)).encode())
    for name in ("build.sh", "mailman-2.1.26.tar.gz"):
        st = (SHARED_MAILMAN / name).stat()
        h.update(f"{name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:12]


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def mailman_build(flavour: str = "plain") -> Path:
    """The folder of a built Mailman: ``.../mailman`` for ``plain``, the staged root (holding
    ``usr/local/...``) for the others. Builds it the first time (about 15 s)."""
    need(SHARED_MAILMAN.joinpath("build.sh").exists(),
         f"{SHARED_MAILMAN} is absent (../shared/tools/mailman2 is not beside the checkout)")
    need(python2() is not None, "no Python 2.7 (pyenv 2.7.18) to build Mailman 2.1 with")
    need(os.geteuid() == 0, "building and running Mailman's wrappers for tests needs root")
    for tool in ("gcc", "make", "patchelf"):
        need(shutil.which(tool) is not None,
             f"{tool} is not installed (tools/install-test-deps.sh installs it)")
    env_extra, mail_gid, cgi_gid = FLAVOURS[flavour]
    try:
        pwd.getpwnam("mailman")
    except KeyError:
        need(False, "the user mailman is missing (tools/install-test-deps.sh makes it)")
    for group in (mail_gid, cgi_gid):
        need(_group_exists(group), f"the group {group} is missing (tools/install-test-deps.sh)")
    dest = CACHE / f"{flavour}-{_digest(flavour)}"
    result = dest / ("mailman" if flavour == "plain" else "root")
    done = dest / ".built"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return result
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        env = dict(os.environ, **env_extra)
        py = python2()
        if py:
            env["PYTHON2"] = py
        proc = subprocess.run([str(SHARED_MAILMAN / "build.sh"), str(dest), mail_gid, cgi_gid],
                              capture_output=True, text=True, env=env, timeout=900)
        if proc.returncode != 0:
            need(False, f"Mailman 2.1 did not build ({flavour}): "
                        f"{(proc.stderr or proc.stdout).strip()[-500:]}")
        done.write_text(proc.stdout)
    return result


def python_of(flavour: str = "plain") -> Path:
    """The Python 2.7 copy a build's scripts run with."""
    return mailman_build(flavour).parent / "python" / "bin" / "python"

