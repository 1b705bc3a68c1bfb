"""What OpenSMTPD 6.8 (Debian's package, the daemon the emitted smtpd.conf is checked against)
really does with Mailman-style pipe deliveries, proved with real deliveries.

Each test starts the real smtpd in a private mount and network namespace (tests/smtpdtools.py),
sends mail with swaks over loopback and reads what the pipe command wrote. The pipe is a
recording script, not Mailman, on purpose: these tests pin smtpd's own behaviour (the uid and
gid a pipe runs as, what it does with a pipe's exit code), which a script reports exactly; the
real Mailman behind the emitted tables is in test_plan_delivery.py. A client bound to
127.0.0.2 is "remote" for smtpd (not in its <localhost> table): 127.0.0.1 is "from local".

Findings pinned here:
- a pipe reached through a ``virtual`` or ``alias`` table runs as the daemon's unprivileged
  user (opensmtpd here, _smtpd on OpenBSD), never as the recipient: the ``user`` option is
  refused for these dispatchers; an ``mda`` action with ``userbase`` picks the uid/gid;
- an address missing from a virtual table is refused at RCPT with 524 5.2.4, an unknown local
  part with an alias table with 550;
- a virtual result ``user@localhost`` re-enters the ruleset as a local envelope ("from local"
  matches even for a remote client) and is alias-expanded; a bare ``user`` is a system user;
- an alias action also accepts every system user name (root@, daemon@ ...) at the list domain.
"""

from __future__ import annotations

import pwd
import re

import pytest

from smtpdtools import check_config, smtpd_running

LIST = "devtalk@lists.example.org"
REMOTE = "127.0.0.2"

# The pipe command: records its uid/gid and arguments, keeps the message.
WRAPPER = """#!/bin/sh
tag=$(echo "$*" | tr ' ' _)
# written under a temp name, then renamed: wait_file never sees half a file
cat > @OUT@/m.$$ && mv @OUT@/m.$$ @OUT@/msg.$tag
{ echo "uid=$(id -u) gid=$(id -g) groups=$(id -G) user=$(id -un)"; echo "args=$*"; } > @OUT@/i.$$
mv @OUT@/i.$$ @OUT@/id.$tag
"""


def smtpd_ids() -> str:
    pw = pwd.getpwnam("opensmtpd")
    return f"uid={pw.pw_uid} gid={pw.pw_gid} groups={pw.pw_gid} user=opensmtpd"


def delivered(daemon, rcpt: str) -> str:
    """Wait for the mda delivery line of ``rcpt`` and return it."""
    pattern = r"^.* mda delivery .* rcpt=<" + re.escape(rcpt) + r">.*result=.*$"
    assert daemon.wait(pattern), daemon.log()
    return re.search(pattern, daemon.log(), re.M | re.I).group(0)


def pipe_ran(daemon, args: str) -> tuple[str, str]:
    """(id line, message) the wrapper wrote for ``args``."""
    tag = args.replace(" ", "_")
    assert daemon.wait_file(daemon.out / f"id.{tag}"), daemon.log()
    assert daemon.wait_file(daemon.out / f"msg.{tag}"), daemon.log()
    ids, argline = (daemon.out / f"id.{tag}").read_text().splitlines()
    assert argline == f"args={args}"
    return ids, (daemon.out / f"msg.{tag}").read_text()


# --- 1. a pipe in a virtual table ------------------------------------------------------------

VIRTUAL_PIPE = """
table vt file:@TMP@/virtual
listen on 127.0.0.1
action "x" mbox virtual <vt>
match from any for domain "lists.example.org" action "x"
"""


def test_virtual_table_pipe_runs_as_the_smtpd_user():
    files = {"virtual": f"{LIST} |@TMP@/wrapper post devtalk\n"}
    with smtpd_running(VIRTUAL_PIPE, files, {"wrapper": WRAPPER}) as d:
        reply = d.send(LIST, client=REMOTE, body="hello list")
        assert reply.rcpt_code(LIST) == "250" and reply.accepted, reply.transcript
        ids, message = pipe_ran(d, "post devtalk")
        assert ids == smtpd_ids()
        assert "hello list" in message and f"Delivered-To: {LIST}" in message
        line = delivered(d, LIST)
        assert "user=opensmtpd" in line and "result=Ok" in line
        assert "commands executed from aliases run with opensmtpd privileges" in d.log()


def test_virtual_table_refuses_an_address_it_lacks_with_524():
    files = {"virtual": f"{LIST} |@TMP@/wrapper post devtalk\n"}
    with smtpd_running(VIRTUAL_PIPE, files, {"wrapper": WRAPPER}) as d:
        reply = d.send("nosuch@lists.example.org", client=REMOTE)
        assert reply.rcpt_code("nosuch@lists.example.org") == "524", reply.transcript
        assert "524 5.2.4 Mailing list expansion problem" in reply.transcript
        assert not reply.accepted


def test_user_option_is_refused_for_virtual_and_alias_dispatchers():
    for table in ("virtual", "alias"):
        proc = check_config(f'table t file:@TMP@/t\nlisten on 127.0.0.1\n'
                            f'action "x" mbox {table} <t> user "daemon"\n'
                            f'match from any for domain "lists.example.org" action "x"\n',
                            {"t": "a b\n"})
        assert proc.returncode != 0
        assert "user may not be specified for this dispatcher" in proc.stderr


def test_mda_action_with_userbase_runs_the_command_as_the_mapped_uid():
    """The way to run a list's command as a chosen uid/gid (Mailman checks its gid)."""
    daemon_pw = pwd.getpwnam("daemon")
    conf = f"""
table lists {{ "{LIST}" }}
table ub {{ "devtalk" = "{daemon_pw.pw_uid}:{daemon_pw.pw_gid}:/" }}
listen on 127.0.0.1
action "mm" mda "@TMP@/wrapper post %{{rcpt.user}}" userbase <ub>
match from any for domain "lists.example.org" rcpt-to <lists> action "mm"
"""
    with smtpd_running(conf, {}, {"wrapper": WRAPPER}) as d:
        reply = d.send(LIST, client=REMOTE)
        assert reply.rcpt_code(LIST) == "250", reply.transcript
        ids, _ = pipe_ran(d, "post devtalk")
        assert ids.startswith(f"uid={daemon_pw.pw_uid} gid={daemon_pw.pw_gid} ")
        # an address the rcpt-to table lacks matches no rule
        assert d.send("other@lists.example.org", client=REMOTE).rcpt_code(
            "other@lists.example.org") == "550"


# --- 2. a virtual result re-entering the ruleset ---------------------------------------------

REENTRY = """
table vt file:@TMP@/virtual
table aliases file:@TMP@/aliases
listen on 127.0.0.1
action "virt" mbox virtual <vt>
action "local" mbox alias <aliases>
match from any for domain "lists.example.org" action "virt"
match from local for local action "local"
"""
ALIASES = 'devtalk: "|@TMP@/wrapper post devtalk"\n'


@pytest.mark.parametrize("client", [REMOTE, "127.0.0.1"])
def test_virtual_to_user_at_localhost_is_alias_expanded_into_the_pipe(client):
    files = {"virtual": f"{LIST} devtalk@localhost\n", "aliases": ALIASES}
    with smtpd_running(REENTRY, files, {"wrapper": WRAPPER}) as d:
        if client == REMOTE:  # the client really is not "from local"...
            direct = d.send("devtalk@localhost", client=REMOTE)
            assert direct.rcpt_code("devtalk@localhost") == "550", direct.transcript
        reply = d.send(LIST, client=client)  # ...yet its expanded address matches "from local"
        assert reply.rcpt_code(LIST) == "250" and reply.accepted, reply.transcript
        ids, _ = pipe_ran(d, "post devtalk")
        assert ids == smtpd_ids()
        line = delivered(d, LIST)
        assert "to=<devtalk@localhost>" in line and "result=Ok" in line


def test_virtual_to_user_at_hostname_is_alias_expanded_too():
    import socket

    host = socket.gethostname()
    files = {"virtual": f"{LIST} devtalk@{host}\n", "aliases": ALIASES}
    with smtpd_running(REENTRY, files, {"wrapper": WRAPPER}) as d:
        reply = d.send(LIST, client=REMOTE)
        assert reply.rcpt_code(LIST) == "250", reply.transcript
        assert pipe_ran(d, "post devtalk")[0] == smtpd_ids()


def test_virtual_to_a_bare_name_is_a_system_user_not_an_alias():
    files = {"virtual": f"{LIST} devtalk\n", "aliases": ALIASES}
    with smtpd_running(REENTRY, files, {"wrapper": WRAPPER}) as d:
        reply = d.send(LIST, client=REMOTE)  # no system user "devtalk": refused at RCPT
        assert reply.rcpt_code(LIST) == "550", reply.transcript
        assert not list(d.out.iterdir())


def test_virtual_to_a_bare_system_user_is_delivered_to_its_mailbox():
    files = {"virtual": f"{LIST} daemon\n", "aliases": ALIASES}
    with smtpd_running(REENTRY, files, {"wrapper": WRAPPER}) as d:
        reply = d.send(LIST, client=REMOTE, body="to the daemon mailbox")
        assert reply.rcpt_code(LIST) == "250", reply.transcript
        assert "user=daemon" in delivered(d, LIST)
        assert "to the daemon mailbox" in d.run("cat", "/var/mail/daemon").stdout
        assert not list(d.out.iterdir())


def test_virtual_result_without_a_rule_for_it_is_refused_at_rcpt():
    conf = "\n".join(line for line in REENTRY.splitlines() if "local" not in line)
    files = {"virtual": f"{LIST} devtalk@localhost\n", "aliases": ALIASES}
    with smtpd_running(conf, files, {"wrapper": WRAPPER}) as d:
        assert d.send(LIST, client=REMOTE).rcpt_code(LIST) == "550"


# --- 3. an alias action for the list domains -------------------------------------------------

LISTS = """
table aliases file:@TMP@/aliases
table listdomains { "lists.example.org", "lists.other.example" }
listen on 127.0.0.1
action "lists" mbox alias <aliases>
match from any for domain <listdomains> action "lists"
"""
LIST_ALIASES = """postmaster: root
devtalk: "|@TMP@/wrapper post devtalk"
devtalk-owner: "|@TMP@/wrapper owner devtalk"
"""


def test_alias_action_pipes_for_every_list_domain_as_the_smtpd_user():
    with smtpd_running(LISTS, {"aliases": LIST_ALIASES}, {"wrapper": WRAPPER}) as d:
        for rcpt, args in ((LIST, "post devtalk"),
                           ("devtalk-owner@lists.other.example", "owner devtalk")):
            reply = d.send(rcpt, client=REMOTE)
            assert reply.rcpt_code(rcpt) == "250" and reply.accepted, reply.transcript
            assert pipe_ran(d, args)[0] == smtpd_ids()
            assert "user=opensmtpd" in delivered(d, rcpt)


def test_alias_action_refuses_an_unknown_local_part_with_550():
    with smtpd_running(LISTS, {"aliases": LIST_ALIASES}, {"wrapper": WRAPPER}) as d:
        reply = d.send("nosuchlist@lists.example.org", client=REMOTE)
        assert reply.rcpt_code("nosuchlist@lists.example.org") == "550", reply.transcript
        assert "550 Invalid recipient: <nosuchlist@lists.example.org>" in reply.transcript
        assert not reply.accepted


def test_postmaster_alias_to_root_lands_in_roots_mbox():
    with smtpd_running(LISTS, {"aliases": LIST_ALIASES}, {"wrapper": WRAPPER}) as d:
        reply = d.send("postmaster@lists.example.org", client=REMOTE, body="for the postmaster")
        assert reply.rcpt_code("postmaster@lists.example.org") == "250", reply.transcript
        line = delivered(d, "postmaster@lists.example.org")
        assert "user=root" in line and "result=Ok" in line
        mbox = d.run("cat", "/var/mail/root").stdout
        assert "for the postmaster" in mbox and "Delivered-To: postmaster@lists.example.org" in mbox


def test_alias_action_also_accepts_system_users_at_the_list_domain():
    """Caveat: with an alias table, any system account (root, daemon ...) is a valid local
    part of every list domain, even with no alias for it."""
    with smtpd_running(LISTS, {"aliases": LIST_ALIASES}, {"wrapper": WRAPPER}) as d:
        reply = d.send("daemon@lists.example.org", client=REMOTE, body="not a list")
        assert reply.rcpt_code("daemon@lists.example.org") == "250", reply.transcript
        assert "user=daemon" in delivered(d, "daemon@lists.example.org")
        assert "not a list" in d.run("cat", "/var/mail/daemon").stdout


def test_edited_aliases_file_needs_smtpctl_update_table():
    with smtpd_running(LISTS, {"aliases": LIST_ALIASES}, {"wrapper": WRAPPER}) as d:
        (d.tmp / "aliases").write_text(
            LIST_ALIASES.replace("@TMP@", str(d.tmp)) + f'newlist: "|{d.tmp}/wrapper post newlist"\n')
        assert d.send("newlist@lists.example.org", client=REMOTE).rcpt_code(
            "newlist@lists.example.org") == "550"
        assert d.ctl("update", "table", "aliases").returncode == 0
        assert d.wait(r'Table "aliases" successfully updated')
        reply = d.send("newlist@lists.example.org", client=REMOTE)
        assert reply.rcpt_code("newlist@lists.example.org") == "250", reply.transcript
        assert pipe_ran(d, "post newlist")[0] == smtpd_ids()


def test_delivery_over_ipv6_loopback():
    conf = LISTS.replace("listen on 127.0.0.1", "listen on ::1")
    with smtpd_running(conf, {"aliases": LIST_ALIASES}, {"wrapper": WRAPPER}) as d:
        reply = d.send(LIST, server="::1")
        assert reply.rcpt_code(LIST) == "250" and reply.accepted, reply.transcript
        assert pipe_ran(d, "post devtalk")[0] == smtpd_ids()


# --- 4. what `smtpd -n` accepts (parse-only, no daemon) --------------------------------------

ACTION = 'action "l" mbox\nmatch for local action "l"\n'


@pytest.mark.parametrize("conf, ok, message", [
    ('listen on lo\n' + ACTION, True, "configuration OK"),
    ('listen on lo0\n' + ACTION, False, "invalid virtual ip or interface: lo0"),
    ('listen on egress\n' + ACTION, False, "invalid virtual ip or interface: egress"),
    ('listen on all\n' + ACTION, False, "invalid virtual ip or interface: all"),
    ('listen on ::1\n' + ACTION, True, "configuration OK"),
    ('listen on 2001:db8::25\n' + ACTION, True, "configuration OK"),  # not bound by -n
    ('listen on 127.0.0.1\naction "r" relay host smtp://smtp.upstream.example:587\n'
     'match from local for any action "r"\n', True, "configuration OK"),
    ('pki "mx" cert "/missing.crt"\npki "mx" key "/missing.key"\nlisten on 127.0.0.1\n' + ACTION,
     False, "load_pki_tree: failed to load certificate file"),
    ('pki mx cert "/missing.crt"\nlisten on 127.0.0.1\n' + ACTION, False, ":1: syntax error"),
    ('table senders file:@TMP@/aliases\nlisten on 127.0.0.1\n' + ACTION, False, ":1: syntax error"),
    ('table aliases file:@TMP@/aliases\nlisten on 127.0.0.1\naction "l" mbox alias <aliases>\n'
     'match for local action "l"\n', True, "configuration OK"),  # plain text, no makemap
    ('table aliases file:/nonexistent/aliases\nlisten on 127.0.0.1\n' + ACTION, False,
     "/nonexistent/aliases: fopen: No such file or directory"),
    ('listen on 127.0.0.1\naction "r" relay host smtp+tls://h.example protocols "tlsv1.2"\n'
     'match from local for any action "r"\n', False, ":2: syntax error"),
], ids=["lo", "lo0", "egress", "all", "::1", "2001:db8::25", "relay-587", "pki-missing",
        "pki-name-mx-unquoted", "table-name-senders", "aliases-plain-file", "aliases-missing",
        "relay-protocols"])
def test_smtpd_n(conf, ok, message):
    proc = check_config(conf, {"aliases": "devtalk: root\n"})
    assert (proc.returncode == 0) == ok, proc.stderr
    assert message in proc.stderr + proc.stdout
