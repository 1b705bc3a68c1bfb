"""Mailman 3's configuration on the new host, and what lets smtpd follow its lists:

* ``/etc/mailman.cfg``: the site owner, the var folder, SQLite (the default database; nothing
  else to run), the LMTP server on loopback where smtpd delivers, outgoing mail to the local
  smtpd, the REST API on loopback only;
* ``/etc/mailman-mta.cfg``: Mailman's postfix LMTP class, which writes every list address it
  answers into ``data/postfix_lmtp`` whenever a list is created or removed, and then runs its
  ``postmap_command``: here the hook below, through doas(1);
* the hook ``/usr/local/libexec/mailman3-smtpd-table``, root's, which copies the addresses of
  that file into smtpd's list table ``/etc/mail/mailman3-lists`` and makes smtpd reread it
  (``smtpctl update table listmanager``): a list created later on the new host receives mail
  without anyone editing smtpd's tables; unknown addresses stay refused at RCPT time;
* the doas.conf rule that lets Mailman's user run the hook, and nothing else, as root;
* the rc.d script, so rcctl starts and stops Mailman's master and its runners.
"""

from __future__ import annotations

from migrate.core.model import Inventory, Target

from emitters.common import LMTP_TABLE, Emitted, Stage
from emitters.guard import comment
from emitters.new_host import admin_address
from emitters.mailman3.paths import (HK_ARCHIVER_CONFIG, LMTP_HOST, LMTP_PORT, MM3_BIN,
                                     MM3_CONFIG, MM3_DATA, MM3_MTA_CONFIG, MM3_PID, MM3_SECRETS,
                                     MM3_SECRETS_NAME, MM3_SERVICE, MM3_TABLE, MM3_USER,
                                     MM3_VAR, MM3_VENV, SMTPD_LIST_TABLE, TABLE_HOOK,
                                     TABLE_SENTINEL)
from emitters.release import Release

CONFIG = "files/new/etc/mailman.cfg"
MTA_CONFIG = "files/new/etc/mailman-mta.cfg"
HOOK = "files/new/usr/local/libexec/mailman3-smtpd-table"
DOAS = "files/new/etc/doas.conf.mailman3"
RC_SCRIPT = "files/new/etc/rc.d/mailman3"
LIST_TABLE = "files/new/etc/mail/mailman3-lists"
#: doas(1)'s path on OpenBSD (base system).
DOAS_BIN = "/usr/bin/doas"


def site_owner(inv: Inventory, target: Target) -> str:
    """Who Mailman 3 names as the site's owner (``[mailman] site_owner``, required): root's
    address on the new host (the site list's first owner), else the new host's postmaster."""
    return admin_address(inv) or f"postmaster@{target.hostname}"


def emit_config(inv: Inventory, target: Target, release: Release) -> Emitted:
    out = Emitted()
    owner = site_owner(inv, target)
    out.files[CONFIG] = "\n".join([
        f"# {MM3_CONFIG} for {comment(target.hostname)}, written by migrate: Mailman 3 core",
        f"# in {MM3_VENV}, run by {MM3_USER} (rcctl start {MM3_SERVICE}).",
        "",
        "[meta]",
        f"# the secrets (the REST API's password), made on this host: {MM3_SECRETS}, a name",
        "# relative to this file's folder (lazr.config's extends)",
        f"extends: {MM3_SECRETS_NAME}",
        "",
        "[mailman]",
        f"site_owner: {owner}",
        "layout: openbsd",
        "",
        "[paths.openbsd]",
        f"var_dir: {MM3_VAR}",
        f"pid_file: {MM3_PID}",
        "",
        "[database]",
        "# SQLite, Mailman's default: one file, nothing else to run or back up apart",
        "class: mailman.database.sqlite.SQLiteDatabase",
        f"url: sqlite:///{MM3_DATA}/mailman.db",
        "",
        "[mta]",
        "# smtpd delivers list mail to Mailman's LMTP server; Mailman writes the table of",
        f"# its list addresses ({MM3_DATA}/postfix_lmtp) that smtpd.conf matches",
        "incoming: mailman.mta.postfix.LMTP",
        "outgoing: mailman.mta.deliver.deliver",
        f"lmtp_host: {LMTP_HOST}",
        f"lmtp_port: {LMTP_PORT}",
        "smtp_host: 127.0.0.1",
        "smtp_port: 25",
        f"configuration: {MM3_MTA_CONFIG}",
        "",
        "[archiver.prototype]",
        "# every archived post also lands in a maildir per list (archives/prototype/LIST): the",
        "# way back names the posts that reached the lists here after the switch",
        "enable: yes",
        "",
        "[archiver.hyperkitty]",
        "# every archived post goes to HyperKitty too, through httpd's loopback server",
        "class: mailman_hyperkitty.Archiver",
        "enable: yes",
        f"configuration: {HK_ARCHIVER_CONFIG}",
        "",
        "[webservice]",
        "# the REST API, for the web UI and the admin's tools: loopback only; its password",
        f"# (admin_pass) is in {MM3_SECRETS}",
        "hostname: 127.0.0.1",
        "port: 8001",
        "admin_user: restadmin",
        "",
    ])
    out.install(CONFIG, MM3_CONFIG)
    out.files[MTA_CONFIG] = "\n".join([
        f"# {MM3_MTA_CONFIG}, written by migrate: after writing its table of list addresses,",
        "# Mailman runs postmap_command with the file's path; the hook makes smtpd reread the",
        f"# table (doas.conf lets {MM3_USER} run it, and nothing else, as root).",
        "[postfix]",
        f"postmap_command: {DOAS_BIN} -n {TABLE_HOOK}",
        "transport_file_type: hash",
        "",
    ])
    out.install(MTA_CONFIG, MM3_MTA_CONFIG)
    out.files[HOOK] = "\n".join([
        "#!/bin/sh",
        f"# {TABLE_HOOK}, written by migrate: run by Mailman 3 (through doas) after it rewrote",
        f"# {MM3_TABLE}. Copies its addresses (the first word of each line) into",
        f"# {SMTPD_LIST_TABLE}, which smtpd rereads as table {LMTP_TABLE}. Its arguments (the",
        "# file Mailman wrote) are ignored. Before the plan's smtpd.conf is installed smtpd has",
        "# no such table: the failure is logged and Mailman goes on (smtpd reads the table when",
        "# it starts).",
        "umask 022",
        f"tmp=$(mktemp {SMTPD_LIST_TABLE}.XXXXXXXXXX) || exit 0",
        "# only list addresses (no pattern, no @domain) reach smtpd's table",
        f"if {{ echo {TABLE_SENTINEL}; awk '$1 ~ /^[A-Za-z0-9._+=-]+@[A-Za-z0-9.-]+$/ "
        f"{{ print $1 }}' {MM3_TABLE}; }} >\"$tmp\" &&",
        f"    chmod 0644 \"$tmp\" && mv -f \"$tmp\" {SMTPD_LIST_TABLE}; then",
        f"\t/usr/sbin/smtpctl update table {LMTP_TABLE} >/dev/null 2>&1 ||",
        f"\t    logger -p mail.warning -t mailman3 \"smtpd did not reread table {LMTP_TABLE}\"",
        "else",
        "\trm -f \"$tmp\"",
        f"\tlogger -p mail.err -t mailman3 \"could not copy {MM3_TABLE} to {SMTPD_LIST_TABLE}\"",
        "fi",
        "exit 0",
        "",
    ])
    out.install(HOOK, TABLE_HOOK, mode="0555")
    # empty until Mailman writes its table (the hook fills it): smtpd -n needs the file
    out.files[LIST_TABLE] = (f"# {SMTPD_LIST_TABLE}: the addresses Mailman 3 answers, copied "
                             f"from {MM3_TABLE}\n# by {TABLE_HOOK}; do not edit. The first "
                             "entry is never a list's: smtpd\n# needs one to read the file as a "
                             f"list.\n{TABLE_SENTINEL}\n")
    out.install(LIST_TABLE, SMTPD_LIST_TABLE)
    out.files[DOAS] = "\n".join([
        f"# Mailman 3 ({MM3_USER}) makes smtpd reread its table of list addresses",
        f"permit nopass {MM3_USER} as root cmd {TABLE_HOOK}",
        "",
    ])
    out.install(DOAS, "/etc/doas.conf", marker="mailman3", stage=Stage.FRAGMENT,
                check="doas -C /etc/doas.conf")
    out.files[RC_SCRIPT] = rc_script()
    out.install(RC_SCRIPT, f"/etc/rc.d/{MM3_SERVICE}", mode="0555")
    return out


def rc_script() -> str:
    """The rc.d script (rc.subr(8)): ``mailman start`` forks its master, which starts the
    runners and writes the pid file; the master is what rcctl checks (``pexp``) and what
    ``mailman stop`` ends, runners with it."""
    return "\n".join([
        "#!/bin/ksh",
        "#",
        f"# Mailman 3 core ({MM3_VENV}), written by migrate.",
        "",
        f"daemon=\"{MM3_BIN}\"",
        f"daemon_user=\"{MM3_USER}\"",
        "",
        ". /etc/rc.d/rc.subr",
        "",
        f"pexp=\"{MM3_VENV}/bin/python[0-9.]* {MM3_VENV}/bin/master.*\"",
        "rc_reload=NO",
        "",
        "rc_start() {",
        f"\trc_exec \"${{daemon}} -C {MM3_CONFIG} start --force\"",
        "}",
        "",
        "rc_stop() {",
        f"\trc_exec \"${{daemon}} -C {MM3_CONFIG} stop\"",
        "}",
        "",
        "rc_cmd $1",
        "",
    ])

