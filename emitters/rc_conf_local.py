"""Services at boot on the new host: ``/etc/rc.conf.local`` as ``rcctl`` writes it, one
service at a time, each at the step where it must start.

The plan never installs a whole rc.conf.local: the host's own lines stay, and a service is
enabled only where it starts (httpd and slowcgi in the prepare phase; smtpd with the list
manager at the switch), so a reboot before the switch starts nothing that takes list mail.
Each change is a ``setting`` action (migrate/core/steps.py): the cutover edits the file through its
journal, runbook.md and the Ansible export show and run the rcctl command. A base system daemon
is on when its ``NAME_flags`` line is not ``NO``; a package's rc script when ``pkg_scripts``
names it.
"""

from __future__ import annotations

from migrate.core.steps import Setting

PATH = "/etc/rc.conf.local"


def enable(service: str, flags: str = "") -> Setting:
    """A base system daemon on at boot, with ``flags``."""
    then = f" && rcctl set {service} flags {flags}" if flags else ""
    return Setting(command=f"rcctl enable {service}{then}", path=PATH, name=f"{service}_flags",
                   value=flags)


def disable(service: str) -> Setting:
    return Setting(command=f"rcctl disable {service}", path=PATH, name=f"{service}_flags",
                   value="NO")


def enable_script(script: str) -> Setting:
    """A package's rc script on at boot (after the scripts the host already starts)."""
    return Setting(command=f"rcctl enable {script}", path=PATH, name="pkg_scripts",
                   word=script)


def disable_script(script: str) -> Setting:
    return Setting(command=f"rcctl disable {script}", path=PATH, name="pkg_scripts",
                   word=script, remove=True)
