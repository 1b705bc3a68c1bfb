"""``/etc/rc.conf.local`` for the new host, and the ``rcctl`` commands that write the same.

httpd and slowcgi are off by default on OpenBSD; smtpd is on. slowcgi gets ``-p /`` so that it
can run the mailman package's CGI wrappers outside ``/var/www`` (its default chroot), and the
package's rc script ``mailman`` starts the qrunners.
"""

from __future__ import annotations

from migrate.model import Inventory, Target

from migrate.emitters.common import Emitted
from migrate.emitters.release import Release

PATH = "files/new/etc/rc.conf.local"

SETTINGS = (
    ("httpd_flags", ""),
    ("slowcgi_flags", "-p /"),
    ("smtpd_flags", ""),
    ("pkg_scripts", "mailman"),
)

RCCTL = (
    "rcctl enable httpd",
    "rcctl enable slowcgi",
    "rcctl set slowcgi flags -p /",
    "rcctl enable smtpd",
    "rcctl enable mailman",
)


def emit_rc_conf_local(inv: Inventory, target: Target, release: Release) -> Emitted:
    """Every emitter takes (inventory, target, release); this one needs only the last two."""
    out = Emitted()
    lines = [
        f"# /etc/rc.conf.local for {target.hostname} (OpenBSD {release}), written by migrate.",
        "# The same with rcctl(8):",
    ] + [f"#   {c}" for c in RCCTL] + [""]
    lines += [f'{name}="{value}"' if value else f"{name}=" for name, value in SETTINGS]
    out.files[PATH] = "\n".join(lines) + "\n"
    out.install(PATH, "/etc/rc.conf.local")
    return out
