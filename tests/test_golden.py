"""Golden plans: each sample host planned for one release of each grammar era (5.7, 6.3, 7.8)
must give exactly the files under tests/golden/. A change to an emitter that changes output
shows here as a diff to review; `python tools/update_golden.py` rewrites them after review."""

from __future__ import annotations

import difflib
import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("update_golden", REPO / "tools/update_golden.py")
update_golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(update_golden)


def test_plans_equal_the_golden_files():
    files = update_golden.golden_files()
    committed = {p for p in update_golden.GOLDEN.rglob("*") if p.is_file()}
    assert committed == set(files), "run tools/update_golden.py and review the diff"
    for path, text in sorted(files.items()):
        old = path.read_text()
        if old != text:
            diff = "".join(difflib.unified_diff(old.splitlines(True), text.splitlines(True),
                                                str(path), "emitted", n=2))
            raise AssertionError(f"{path.relative_to(REPO)} differs:\n{diff[:3000]}")


def test_each_era_has_its_own_grammar():
    g = update_golden.GOLDEN / "netsight"
    smtpd = {r: (g / r / "files/new/etc/mail/smtpd.conf").read_text() for r in ("5.7", "6.3",
                                                                            "7.8")}
    assert "accept from any for domain <listdomains>" in smtpd["5.7"]
    assert "db:/etc/mail/aliases.db" in smtpd["5.7"]
    assert "accept from any" in smtpd["6.3"] and "file:/etc/mail/aliases" in smtpd["6.3"]
    assert 'match from any for domain <listdomains> action "lists"' in smtpd["7.8"]
    httpd = {r: (g / r / "files/new/etc/httpd.conf").read_text() for r in ("6.3", "7.8")}
    assert "strip 1 }" in httpd["6.3"] and "request strip 1" in httpd["7.8"]
