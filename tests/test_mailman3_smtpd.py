"""The Mailman 3 plan's smtpd.conf run by the real OpenSMTPD: an address in the list table the
hook fills is taken at RCPT time and handed over LMTP to Mailman 3's port with its own address
(``rcpt-to``); an address of the list domain that is no list's is refused. (smtpd delivers a
local action only as a system user it finds by the address's local part: without the plan's
virtual table naming Mailman 3's user, it answered "550 Invalid recipient" for every list.)
The cutover end to end with the real Mailman 3 behind it: tests/test_cutover_e2e_mm3.py."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import SAMPLES, wait_until
from migrate.app.inspection import inspect_tree
from migrate.app.planning import build_plan, resolve_target
from migrate.app.sources import LocalTree
from migrate.core.model import Origin
from smtpdtools import smtpd_running

from emitters.mailman3.lists import lists_in_mailman3
from emitters.mailman3.paths import LMTP_HOST, LMTP_PORT, MM3_USER, MM3_VAR, TABLE_SENTINEL

NEW = "2001:db8:50::26"

#: An LMTP server on Mailman 3's address that takes everything and appends, per message, the
#: recipients it was given (RCPT TO) as one JSON line: ``python3 -c LMTP OUT HOST PORT``.
LMTP = r'''
import json, socket, sys
out, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((host, port))
srv.listen(5)
def serve(conn):
    f = conn.makefile("rwb")
    def say(text):
        f.write(text.encode() + b"\r\n")
        f.flush()
    say("220 lmtp test")
    rcpts = []
    while True:
        line = f.readline()
        if not line:
            break
        cmd = line.decode("latin-1").strip()
        verb = cmd[:4].upper()
        if verb == "MAIL":
            rcpts = []
        elif verb == "RCPT":
            rcpts.append(cmd[8:].strip().strip("<>"))
        elif verb == "DATA":
            say("354 go on")
            while f.readline() not in (b".\r\n", b".\n", b""):
                pass
            with open(out, "a") as fh:
                fh.write(json.dumps(rcpts) + "\n")
            for _ in rcpts:
                say("250 2.0.0 ok")
            continue
        elif verb == "QUIT":
            say("221 bye")
            break
        say("250 ok")
while True:
    conn, _ = srv.accept()
    try:
        serve(conn)
    except OSError:
        pass  # the readiness probe hangs up at once: a reset there must not end the server
    finally:
        conn.close()
'''


def test_each_list_address_goes_over_lmtp_to_mailman3(tmp_path):
    tree = SAMPLES / "small"
    inv = inspect_tree(LocalTree(tree), Origin("local", str(tree)))
    target = resolve_target(inv, {}, {"hostname": "new.smallclub.example", "ipv6": [NEW],
                                      "destination": "mailman3"})
    files = build_plan(inv, target).files
    conf = files["files/new/etc/mail/smtpd.conf"]
    mail = {rel.rsplit("/", 1)[1]: text for rel, text in files.items()
            if rel.startswith("files/new/etc/mail/") and not rel.endswith("smtpd.conf")}
    # smtpd's list table as the hook leaves it once Mailman 3 created the lists
    lists = [f"{ml.name}@{host}" for ml, host in lists_in_mailman3(inv, target)]
    request = [a.replace("@", "-request@") for a in lists]
    mail["mailman3-lists"] = "\n".join([TABLE_SENTINEL, *lists, *request]) + "\n"
    # Mailman 3's user, as the plan's useradd makes it (in smtpd's namespace only)
    mail["passwd"] = (Path("/etc/passwd").read_text()
                      + f"{MM3_USER}:*:899:899:Mailman 3:{MM3_VAR}:/sbin/nologin\n")
    binds = {f"/etc/mail/{name}": name for name in mail if name != "passwd"}
    binds["/etc/passwd"] = "passwd"
    with smtpd_running(conf, files=mail, addresses=(f"{NEW}/128",), binds=binds) as smtpd:
        out = smtpd.out / "lmtp.jsonl"
        lmtp = subprocess.Popen(["nsenter", "--target", str(smtpd.proc.pid), "--mount", "--net",
                                 "python3", "-c", LMTP, str(out), LMTP_HOST, str(LMTP_PORT)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            probe = ["python3", "-c", "import socket,sys; socket.create_connection("
                     "(sys.argv[1], int(sys.argv[2])), timeout=1).close()", LMTP_HOST,
                     str(LMTP_PORT)]
            wait_until(lambda: smtpd.run(*probe).returncode == 0, 15, "the LMTP server")
            sent = [lists[0], request[0]]
            reply = smtpd.send(*sent, client="127.0.0.2", body="to the list")
            assert reply.accepted, reply.transcript
            unknown = lists[0].replace("@", "-nosuch@")
            reply = smtpd.send(unknown, client="127.0.0.2")
            assert reply.rcpt_code(unknown) == "550", reply.transcript
            wait_until(lambda: out.exists() and out.read_text().strip(), 30,
                       "the LMTP delivery", diagnose=smtpd.log)
            got = sorted(r for line in out.read_text().splitlines() for r in json.loads(line))
            assert got == sorted(sent), (got, smtpd.log()[-2000:])
        finally:
            lmtp.terminate()
            lmtp.wait(timeout=10)
