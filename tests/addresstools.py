"""What the address oracles ask the real Exim about, and the host it asks it on: a sample's
files at their absolute paths with its users and their home folders (tests/eximtools.py runs
Exim in the namespace that shows them), and local parts that no table names.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

from migrate.core.model import DomainRole
from test_exim_oracle import _taint_safe_copy


def unknown_parts(mta, per_domain: int, seed: int, domains: list[str] | None = None,
                  accounts: bool = False) -> list[str]:
    """Local parts no table, user or list names, on every domain the MTA serves (or on
    ``domains``), at least 300 in all; with ``accounts`` (an old host whose users the tree
    holds, so that its Exim does not see this machine's), also the ``ACCOUNTS`` that no row
    of the domain names."""
    rng = random.Random(seed)
    named = {a.name.lower() for a in mta.aliases} | {a.address.lower() for a in mta.accepted}
    named |= {r.address.lower() for r in mta.list_routes}
    out = []
    if domains is None:
        domains = sorted({d.name for d in mta.domains if d.role != DomainRole.RELAY})
    told = {(x.address.lower(), x.domain) for x in (*mta.accepted, *mta.list_routes,
                                                    *mta.refused)}
    for domain in domains:
        for _ in range(max(per_domain, 300 // len(domains))):
            local = "x" + "".join(rng.choice("abcdefghijkmnpqrstuvwxyz23456789")
                                  for _ in range(rng.randint(4, 12)))
            if local not in named:
                out.append(f"{local}@{domain}")
        # the names of accounts a new host has (this machine's, where smtpd runs in the
        # tests): smtpd delivers a name no alias takes to such an account's mailbox
        out += [f"{local}@{domain}" for local in ACCOUNTS * accounts
                if (local, domain) not in told]
    return out


#: Accounts of every Debian and OpenBSD system (the new host's smtpd runs on this machine's).
ACCOUNTS = ("daemon", "bin", "nobody", "operator")


def owned_by_their_users(shown: Path) -> None:
    """Give each home folder of ``shown`` to its user, as on the old host: Exim reads a forward
    file only when its owner is the user (a checkout belongs to whoever made it)."""
    for line in (shown / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        home = shown / fields[5].lstrip("/") if len(fields) > 6 else None
        if home is not None and fields[5].startswith("/home/") and home.is_dir():
            for path in (home, *home.rglob("*")):
                os.chown(path, int(fields[2]), int(fields[3]), follow_symlinks=False)


def shown_host(root: Path, tmp: Path) -> Path:
    """The sample ``root`` as ``exim(host_root=...)`` shows it: a copy of its Exim
    configuration (taint-safe: ``_taint_safe_copy``; the caller may edit it), its passwd and
    its home folders, each owned by its user."""
    shown = _taint_safe_copy(root, tmp)
    if (root / "etc/passwd").is_file():
        (shown / "etc/passwd").symlink_to(root / "etc/passwd")
    if (root / "home").is_dir():
        shutil.copytree(root / "home", shown / "home", symlinks=True)
        owned_by_their_users(shown)
    return shown
