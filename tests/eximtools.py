"""Running the real Exim (Debian's exim4) against a config, for oracle tests.

Exim resolves the absolute paths a configuration names (``.include``, ``require_files``, alias
files). A sample host's tree is therefore shown to Exim at those paths in a private mount
namespace: a tmpfs over ``/usr/local`` (so nothing of this machine's /usr/local is seen or
changed) with the sample's ``usr/local/etc`` and ``usr/local/mailman`` bound onto it, and the
sample's aliases file bound over ``/etc/aliases``; where the sample has them, its
``/etc/passwd`` (the local users ``check_local_user`` finds; with the account this machine's
Exim binary runs as, which it looks up before reading a configuration) and ``/home`` (their
forward files). Nothing outside the namespace changes.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import ensure_user, exim_binary, machine_lock, need

NS_SCRIPT = r'''
T=$0
mount -t tmpfs -o mode=755 tmpfs /usr/local || exit 90
mkdir -p /usr/local/etc /usr/local/mailman
mount --bind "$T/usr/local/etc" /usr/local/etc || exit 91
if [ -d "$T/usr/local/mailman" ]; then mount --bind "$T/usr/local/mailman" /usr/local/mailman || exit 92; fi
if [ -e "$T/etc/aliases" ]; then mount --bind "$(readlink -f "$T/etc/aliases")" /etc/aliases || exit 93; fi
if [ -f "$T/etc/passwd" ]; then
  own=$(stat -c %U /var/spool/exim4 2>/dev/null)
  { cat "$T/etc/passwd"; grep "^$own:" /etc/passwd; } > /usr/local/.passwd || exit 94
  mount --bind /usr/local/.passwd /etc/passwd || exit 94
fi
if [ -d "$T/home" ]; then
  mount --bind "$(readlink -f "$T/home")" /home || exit 95
fi
exec "$@"
'''

USERS = ("mailman", "mailnull", "cyrus")


@pytest.fixture
def world_tmp():
    """A temp folder Exim can read after it drops root (pytest's own tmp_path is mode 0700)."""
    path = Path(tempfile.mkdtemp(prefix="migrate-exim-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def people(root: Path) -> dict[str, str]:
    """The users of a sample's ``etc/passwd`` whose home is under /home (name -> home): the
    people whose mailboxes and forward files Exim finds through ``check_local_user``."""
    passwd = root / "etc/passwd"
    found: dict[str, str] = {}
    for line in passwd.read_text(encoding="utf-8").splitlines() if passwd.is_file() else ():
        fields = line.split(":")
        if len(fields) >= 7 and not line.startswith("#") and fields[5].startswith("/home/"):
            found[fields[0]] = fields[5]
    return found


def ensure_users(root: Path | None = None) -> None:
    """The sample configs name these users; Exim refuses a config whose users do not exist.
    With a sample's ``root``, its people too (``people``), each with the home its passwd
    gives: Exim reads ``$home/.forward`` there, and the namespace shows the sample's home/."""
    need(os.geteuid() == 0, "creating the users the sample configs name needs root")
    for name in USERS:
        ensure_user(name, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin")
    for name, home in (people(root) if root is not None else {}).items():
        with machine_lock("users"):  # as ensure_user: another test process may make it too
            entry = subprocess.run(["getent", "passwd", name], capture_output=True, text=True)
            if entry.returncode != 0:
                subprocess.run(["useradd", "--no-create-home", "--home-dir", home, "--shell",
                                "/usr/sbin/nologin", name], check=True, capture_output=True)
                continue
        have = entry.stdout.split(":")[5]
        need(have == home, f"user {name} exists here with home {have}; the sample's passwd "
                           f"says {home}, where its forward file is")


def with_homes(root: Path, tmp: Path) -> Path:
    """A view of the sample ``root`` for ``exim(host_root=...)`` whose home/ is as on the host:
    a folder for each of its people (``people``), owned by that user, with the sample's files
    for them (their forward files). Exim defers a user whose home it cannot stat and refuses
    a forward file its user does not own ("bad owner"); a checkout has neither right. The
    rest of the view links to the sample. A new view under ``tmp`` each time."""
    view = Path(tempfile.mkdtemp(prefix="host-", dir=tmp))
    view.chmod(0o755)
    (view / "usr/local").mkdir(parents=True)
    (view / "etc").mkdir()
    for part in ("usr/local/etc", "usr/local/mailman", "etc/aliases"):
        if (root / part).exists():
            (view / part).symlink_to((root / part).resolve())
    (view / "home").mkdir()
    for name, home in people(root).items():
        shown, given = view / home.lstrip("/"), root / home.lstrip("/")
        if given.is_dir():
            shutil.copytree(given, shown)
        else:
            shown.mkdir(parents=True)
        user = pwd.getpwnam(name)
        for path in (shown, *shown.rglob("*")):
            os.chown(path, user.pw_uid, user.pw_gid)
    return view


def exim(config: str | Path, *args: str, host_root: Path | None = None,
         timeout: int = 60) -> subprocess.CompletedProcess:
    """Run ``exim4 -C config args`` (inside a namespace showing ``host_root`` if given)."""
    binary = exim_binary()
    cmd = [binary, "-C", str(config), *args]
    if host_root is not None:
        need(shutil.which("unshare") is not None, "unshare (util-linux) is not installed")
        need(os.path.exists("/etc/aliases"), "/etc/aliases must exist to bind the sample's over it")
        cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c", NS_SCRIPT,
               str(host_root), *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    proc.stdout = "\n".join(line for line in proc.stdout.splitlines()
                            if "purging the environment" not in line
                            and "keep_environment" not in line)
    return proc


def driver_options(text: str) -> dict[str, str | bool]:
    """Parse ``exim -bP router NAME`` output: ``name = value`` or ``name`` / ``no_name``."""
    out: dict[str, str | bool] = {}
    for line in text.splitlines():
        if " = " in line or line.endswith(" ="):
            name, _, value = line.partition(" =")
            out[name.strip()] = value.strip()
        elif line.strip():
            word = line.strip()
            if word.startswith("no_"):
                out[word[3:]] = False
            else:
                out[word] = True
    return out


def bt_blocks(text: str) -> dict[str, list[str]]:
    """Split ``exim -bt`` output into blocks keyed by the address line that starts each."""
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if not line.strip() or line.startswith("LOG:"):
            continue
        if not line.startswith(" "):
            current = blocks.setdefault(line.strip(), [])
        elif current is not None:
            current.append(line.strip())
    return blocks


def bt_route(blocks: dict[str, list[str]], address: str) -> tuple[str | None, str | None, str | None]:
    """(router, transport, pipe command) that ``-bt`` shows for an address."""
    for header, lines in blocks.items():
        if header == address or header.startswith(address + " "):
            command = None
            m = re.match(re.escape(address) + r" -> \|(.*)\Z", header)
            if m:
                command = m.group(1)
            router = transport = None
            for line in lines:
                m = re.search(r"router = ([^,\s]+)", line)
                router = m.group(1) if m else router
                m = re.search(r"transport = (\S+)", line)
                transport = m.group(1) if m else transport
            return router, transport, command
    return None, None, None


def bt_leaves(text: str) -> list[tuple[str, str, str, str, str | None, str | None]]:
    """Each final outcome ``exim -bt`` shows: (the address it was asked about, the final
    address, outcome, detail, router, transport). Outcomes: "routed" (detail ""), "pipe" or
    "file" (the command or path; the address is the one that generated it), "discarded",
    "failed" and "deferred" (Exim's text)."""
    blocks: list[tuple[str, list[str]]] = []  # in order, a header met twice kept twice
    for line in text.splitlines():
        if not line.strip() or line.startswith("LOG:"):
            continue
        if not line.startswith(" "):
            blocks.append((line.strip(), []))
        elif blocks:
            blocks[-1][1].append(line.strip())
    leaves = []
    shown: dict[str, tuple[str | None, str | None]] = {}  # header -> (router, transport)
    for header, lines in blocks:
        parents = [line[4:].strip() for line in lines if line.startswith("<-- ")]
        m = re.search(r"router = ([^,\s]+)", " ".join(lines))
        router = m.group(1) if m else None
        m = re.search(r"transport = (\S+)", " ".join(lines))
        transport = m.group(1) if m else None
        # the addresses asked about are one message's recipients: a final address met again
        # is routed as before, and only marked
        header = re.sub(r"\s+\[duplicate, would not be delivered\]\Z", "", header)
        router, transport = shown.setdefault(header, (router, transport)) \
            if router is None and transport is None else (router, transport)
        shown.setdefault(header, (router, transport))
        for pattern, outcome in ((r"mail to (\S+) is discarded\Z", "discarded"),
                                 (r"(\S+) is undeliverable: (.*)\Z", "failed"),
                                 (r"(\S+) cannot be resolved at this time: (.*)\Z", "deferred"),
                                 (r"(\S+) -> (\|.*|/.*)\Z", "file"),
                                 (r"(\S+)\Z", "routed")):
            m = re.match(pattern, header)
            if m:
                address = m.group(1)
                detail = m.group(2) if m.lastindex and m.lastindex > 1 else ""
                if outcome == "file" and detail.startswith("|"):
                    outcome, detail = "pipe", detail[1:]
                top = parents[-1] if parents else address
                leaves.append((top, address, outcome, detail, router, transport))
                break
    return leaves
