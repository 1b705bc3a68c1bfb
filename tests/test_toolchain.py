"""The real tools later tests check output against are installed and are the real thing.

These guard the CI install (tools/install-test-deps.sh): a validator that accepts everything
would make every later config test pass for nothing.
"""

from __future__ import annotations

import subprocess

from conftest import exim_binary, smtpd_binary

SMTPD_NEW = 'listen on lo\naction "local" mbox\nmatch from local for local action "local"\n'
SMTPD_OLD = "listen on lo\naccept for local deliver to mbox\n"  # the grammar before OpenBSD 6.4

EXIM_SCANNING = """\
primary_hostname = test.example
av_scanner = clamd:/var/run/clamav/clamd.ctl
spamd_address = 127.0.0.1 783
acl_smtp_data = check_data
begin acl
check_data:
  deny malware = *
  warn spam = nobody:true
  accept
"""


def test_smtpd_validator_accepts_new_grammar_and_rejects_old(tmp_path):
    smtpd = smtpd_binary()
    good, old = tmp_path / "good.conf", tmp_path / "old.conf"
    good.write_text(SMTPD_NEW)
    old.write_text(SMTPD_OLD)
    ok = subprocess.run([smtpd, "-n", "-f", str(good)], capture_output=True, text=True)
    assert ok.returncode == 0 and "configuration OK" in ok.stdout + ok.stderr
    bad = subprocess.run([smtpd, "-n", "-f", str(old)], capture_output=True, text=True)
    assert bad.returncode != 0 and "old.conf:2: syntax error" in bad.stdout + bad.stderr


def test_exim_is_the_heavy_daemon_with_content_scanning(tmp_path):
    exim = exim_binary()
    conf = tmp_path / "exim.conf"
    conf.write_text(EXIM_SCANNING)
    proc = subprocess.run([exim, "-C", str(conf), "-bV"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "Content_Scanning" in proc.stdout
