"""Two hosts for the plan's rsync phases run for real: the old host and the new one, each a
network namespace with a private mount namespace (tests/e2etools.py), the new one running
OpenSSH's sshd. The plan's ``rsync/`` folder sits at /root/migrate-plan on both, as the
cutover's copy-plan step leaves it; the old host's Mailman tree at its var prefix, the new
host's at the destination's. ``presync()`` and ``final()`` run the plan's own scripts on the
old host as root, so the real rsync goes over the real ssh to the real sshd.

Nothing runs Mailman here: a test changes the old host's files between the phases as Mailman,
a moderator or an operator would, and reads both trees from outside (``old_var``,
``new_var``: the folders the hosts mount)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from conftest import need
from e2etools import Host, Network
from sshtools import keygen

from migrate.core.steps import HOST_PLAN_DIR

#: A user _mailman on the new host (the plan's owner of the lists): nobody's uid and gid.
MAILMAN_USER = "_mailman:x:65534:65534:Mailman:/nonexistent:/usr/sbin/nologin\n"
MAILMAN_GROUP = "_mailman:x:65534:\n"
#: The folders the new host's var prefix has before the first copy.
NEW_FOLDERS = ("lists", "archives/private", "archives/public", "data")


class SyncPair:
    """``old`` and ``new`` hosts with the plan's files (``files``: the plan's relative path
    to text), the old var tree copied from ``tree`` (a sample's var prefix folder; or the
    folder ``old_folder`` as it is) and an empty new var, at ``old_prefix`` and
    ``new_prefix``."""

    def __init__(self, files: dict[str, str], tree: Path | None, old_prefix: str,
                 new_prefix: str, base: Path | None = None,
                 old_folder: Path | None = None) -> None:
        need(os.geteuid() == 0, "network namespaces and sshd need root")
        for tool in ("ip", "nsenter", "unshare", "rsync", "ssh"):
            need(shutil.which(tool) is not None, f"{tool} is not installed")
        need(os.path.exists("/usr/sbin/sshd"), "sshd is not installed (openssh-server)")
        self.base = base or Path(tempfile.mkdtemp(prefix="migrate-e2e-sync-"))
        self.base.chmod(0o755)
        self.old_prefix, self.new_prefix = old_prefix, new_prefix
        # the old host's tree: a copy of ``tree``, or ``old_folder`` itself (a benchmark's)
        self.old_var, self.new_var = old_folder or self.base / "old-var", self.base / "new-var"
        if tree is not None:
            shutil.copytree(tree, self.old_var, symlinks=True)
        elif old_folder is None:
            self.old_var.mkdir()
        for sub in NEW_FOLDERS:  # as the list manager's package makes them
            (self.new_var / sub).mkdir(parents=True)
        self.old_plan, self.new_plan = self.base / "old-plan", self.base / "new-plan"
        for plan in (self.old_plan, self.new_plan):
            for rel, text in files.items():
                if rel.startswith("rsync/"):
                    path = plan / rel
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(text)
        self.net: Network | None = None
        self.hosts: list[Host] = []
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        keys = self.base / "keys"
        keys.mkdir()
        keygen(keys / "client")
        keygen(keys / "host")
        self.net = Network()
        new_address = self.net.ADDRESSES["new"]
        ssh = self.base / "old-ssh"
        ssh.mkdir()
        shutil.copy(keys / "client", ssh / "id_ed25519")
        (ssh / "id_ed25519").chmod(0o600)
        (ssh / "known_hosts").write_text(f"{new_address} " + (keys / "host.pub").read_text())
        auth = keys / "authorized_keys"
        auth.write_text((keys / "client.pub").read_text())
        etc = self.base / "new-etc"
        etc.mkdir()
        (etc / "passwd").write_text(Path("/etc/passwd").read_text() + MAILMAN_USER)
        (etc / "group").write_text(Path("/etc/group").read_text() + MAILMAN_GROUP)
        cfg = self.base / "sshd_config"
        cfg.write_text(f"Port 22\nListenAddress {new_address}\nHostKey {keys / 'host'}\n"
                       f"PidFile /run/sshd-sync.pid\nAuthorizedKeysFile {auth}\n"
                       "StrictModes no\nPermitRootLogin prohibit-password\n"
                       "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                       "UsePAM no\n")
        old = Host(self.net, "old", [
            *_prefix_mounts(self.old_prefix, self.old_var),
            ("tmpfs", "700", "/root"),
            ("copy", str(ssh), "/root/.ssh"),
            ("bind", str(self.old_plan), HOST_PLAN_DIR),
        ])
        self.hosts.append(old)
        new = Host(self.net, "new", [
            *_prefix_mounts(self.new_prefix, self.new_var),
            ("shadow", "-", "/etc"),
            ("copy", str(etc / "passwd"), "/etc/passwd"),
            ("copy", str(etc / "group"), "/etc/group"),
            ("tmpfs", "700", "/root"),
            ("bind", str(self.new_plan), HOST_PLAN_DIR),
            ("tmpfs", "755", "/run"),
            ("mkdir", "755", "/run/sshd"),
        ])
        self.hosts.append(new)
        new.spawn(["/usr/sbin/sshd", "-D", "-e", "-f", str(cfg)], "sshd.log")
        new.wait_listening(new_address, 22)
        self.old, self.new = old, new
        self.new_ssh = f"root@{new_address}"

    def presync(self, timeout: float = 600) -> subprocess.CompletedProcess:
        return self.run_phase("presync", timeout)

    def final(self, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        return self.run_phase("final", timeout, check)

    def run_phase(self, phase: str, timeout: float = 600,
                  check: bool = True) -> subprocess.CompletedProcess:
        return self.old.run(f"NEW={self.new_ssh} sh {HOST_PLAN_DIR}/rsync/{phase}.sh",
                            timeout=timeout, check=check)

    def close(self) -> None:
        for host in self.hosts:
            host.close()
        self.hosts = []
        if self.net is not None:
            self.net.close()
            self.net = None
        shutil.rmtree(self.base, ignore_errors=True)


def _prefix_mounts(prefix: str, folder: Path) -> list[tuple[str, str, str]]:
    """``folder`` shown at ``prefix`` (/usr/local/mailman, /var/spool/mailman): under
    /usr/local an empty tmpfs there, as a FreeBSD host's own /usr/local; elsewhere each parent
    shadowed (tests/e2etools.py), so that nothing of this machine's tree is touched."""
    parts = prefix.strip("/").split("/")
    mounts: list[tuple[str, str, str]] = []
    for n in range(1, len(parts)):
        parent = "/" + "/".join(parts[:n])
        if parent == "/usr":
            continue
        mounts.append(("tmpfs", "755", parent) if parent == "/usr/local"
                      else ("mkdir", "755", parent) if mounts and mounts[-1][0] == "tmpfs"
                      else ("shadow", "-", parent))
    return mounts + [("bind", str(folder), prefix)]
