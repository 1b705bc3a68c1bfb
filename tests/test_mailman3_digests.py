"""Posts collected for the next digest are not lost in a move to Mailman 3: the freeze sends
them from the old host with the plan's ``old_digests.py``, run by the real Mailman 2.1's
``bin/withlist`` as the runbook runs it. Mailman 2's own ``cron/senddigests`` would not do: it
skips a list whose digests are not periodic, which this test shows too."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO
from test_mailman_real import MailmanVar

SAMPLES = REPO / "sample_configs"
LISTS = SAMPLES / "netsight" / "usr" / "local" / "mailman" / "lists"
SCRIPT = REPO / "emitters" / "mailman3" / "scripts" / "old_digests.py"
POST = (b"From alice@example.com Mon Dec  7 10:00:00 2026\n"
        b"From: alice@example.com\nTo: users@lists.netsight.example\n"
        b"Subject: collected for the digest\nMessage-ID: <digest-1@example.com>\n\n"
        b"A post the digest members have not had yet.\n\n")


@pytest.fixture
def var(tmp_path):
    from mailmantools import mailman_build

    scripts = tmp_path / "scripts"
    scripts.mkdir()
    shutil.copy(SCRIPT, scripts / "old_digests.py")
    (scripts / "nodigest.py").write_text(
        "def periodic_off(mlist):\n    mlist.digest_send_periodic = 0\n    mlist.Save()\n")
    v = MailmanVar(mailman_build("plain"), tmp_path / "var", scripts)
    folder = v.add_list(LISTS / "users")
    (folder / "digest.mbox").write_bytes(POST)
    v.run("withlist", "-q", "-l", "-r", "nodigest.periodic_off", "users")
    return v


#: Mailman 2's own Python reads a queued message: every part's decoded text.
_READ = r"""
import cPickle, sys
msg = cPickle.load(open(sys.argv[1], "rb"))
for part in msg.walk():
    payload = part.get_payload(decode=True)
    if payload:
        sys.stdout.write(payload + "\n")
    if part.get("Subject"):
        sys.stdout.write(str(part.get("Subject")) + "\n")
"""


def _text(var: MailmanVar, path: Path) -> str:
    from mailmantools import python_of

    proc = subprocess.run([str(python_of()), "-c", _READ, str(path)], capture_output=True,
                          env={"PYTHONPATH": str(var.mailman)})
    assert proc.returncode == 0, proc.stderr.decode("latin-1")
    return proc.stdout.decode("latin-1")


def _virgin(var: MailmanVar) -> list[Path]:
    return sorted((var.root / "qfiles" / "virgin").glob("*.pck"))


def test_senddigests_skips_a_list_whose_digests_are_not_periodic(var):
    """The baseline: Mailman 2's cron job leaves the collected post where it is."""
    var.run("../cron/senddigests")
    assert (var.root / "lists" / "users" / "digest.mbox").read_bytes() == POST
    assert not _virgin(var)


def test_the_freeze_sends_every_collected_digest(var):
    """The runbook's command: the digest is queued for the qrunners (virgin), digest.mbox is
    gone, and the digest holds the post."""
    proc = var.run("withlist", "-a", "-l", "-r", "old_digests.send")
    assert b"users: digest sent" in proc.stdout
    assert not (var.root / "lists" / "users" / "digest.mbox").exists()
    queued = _virgin(var)
    # Mailman 2 builds both kinds at once, MIME and plain text (RFC 1153), each carrying the
    # post (a pickled email message: its text is in the file)
    assert len(queued) == 2
    assert all("collected for the digest" in _text(var, p) for p in queued)
    # and a second run sends nothing more
    again = var.run("withlist", "-a", "-l", "-r", "old_digests.send")
    assert b"digest sent" not in again.stdout and len(_virgin(var)) == 2

