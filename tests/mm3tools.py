"""The real GNU Mailman 3 core for tests, from PyPI, in ``.cache/mailman3/venv``.

``tools/install-test-deps.sh`` (run by ``make test``) installs it at the versions pinned in
``emitters/mailman3/requirements.txt``; where it is absent the tests skip with the reason, and fail
instead under ``make test`` (``MIGRATE_REQUIRE_TOOLS=1``).

``Mailman3(folder)`` is a throwaway instance: its own ``mailman.cfg`` in ``folder`` (var_dir
below it, SQLite database there, the null MTA so ``mailman create`` writes no Postfix maps, no
runner started), driven through the ``mailman`` command as an admin would: ``create``,
``import21``, ``members`` and ``withlist -r`` with the probe below (``PROBE``), which prints
what no other command prints, one JSON object per list.

``Mailman3(folder, mta="postfix", smtp=(host, port), postmap=COMMAND)`` is one that takes mail:
Mailman's Postfix LMTP class writes ``var/data/postfix_lmtp`` on every ``create`` and runs
``COMMAND PATH`` after it (``postmap_command``); ``with mm.start(prefix):`` runs its master and
runners (``prefix``: ``nsenter`` into the network namespace of the smtpd that delivers to it),
waits until the LMTP runner answers and stops them all afterwards. Its mail goes to ``smtp``
(the smtpd in front of it, or a recording sink); ``smtp.log`` is at debug level, so it names
every LMTP recipient.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from conftest import REPO, need, wait_until

VENV = REPO / ".cache" / "mailman3" / "venv"

#: Run by Mailman 3's own Python in ``withlist -l '^.*' -r mm3probe.show KEYS``: for each list,
#: its settings, rosters and addresses as Mailman 3 holds them, and for every Mailman 2 setting
#: named in the JSON file KEYS, where import21 puts it (``NAME_MAPPINGS``) and what is there.
PROBE = textwrap.dedent('''\
    import datetime, enum, json

    from zope.component import getUtility
    from mailman.interfaces.bans import IBanManager
    from mailman.interfaces.mailinglist import IAcceptableAliasSet
    from mailman.interfaces.member import MemberRole
    from mailman.interfaces.mta import IMailTransportAgentAliases
    from mailman.interfaces.pending import IPendings
    from mailman.interfaces.requests import IListRequests
    from mailman.utilities.importer import NAME_MAPPINGS


    def plain(value):
        if isinstance(value, enum.Enum):
            return value.name
        if isinstance(value, datetime.timedelta):
            return value.total_seconds()
        if isinstance(value, datetime.datetime):
            return value.isoformat()
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        if isinstance(value, (list, tuple, set)):
            return [plain(v) for v in value]
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if hasattr(value, "code"):  # a language
            return value.code
        try:
            return [plain(v) for v in value]
        except TypeError:
            return repr(value)


    def roster(mlist, role):
        out = []
        for m in mlist.get_roster(role).members:
            out.append({
                "email": m.address.original_email,
                "name": m.address.display_name,
                "mode": plain(m.delivery_mode),
                "status": plain(m.delivery_status),
                "action": plain(m.moderation_action),
                # a nonmember who posted has an address but no user
                "password": m.user is not None and m.user.password is not None,
                "own_postings": m.receive_own_postings,
                "acknowledge": m.acknowledge_posts,
            })
        return sorted(out, key=lambda m: m["email"].lower())


    def show(mlist, keys_file):
        with open(keys_file) as f:
            keys = json.load(f)
        settings = {}
        for key in keys:
            new = NAME_MAPPINGS.get(key, key)
            try:
                present = hasattr(mlist, new)
                value = plain(getattr(mlist, new)) if present else None
            except Exception as e:  # a language Mailman 3 does not know, say
                present, value = False, "error: %s" % e
            settings[key] = {"name": new, "present": present, "value": value}
        aliases = getUtility(IMailTransportAgentAliases).aliases(mlist)
        print(json.dumps({
            "list": mlist.fqdn_listname,
            "posting_address": mlist.posting_address,
            "addresses": sorted(aliases),
            "members": roster(mlist, MemberRole.member),
            "owners": roster(mlist, MemberRole.owner),
            "moderators": roster(mlist, MemberRole.moderator),
            "nonmembers": roster(mlist, MemberRole.nonmember),
            "bans": sorted(b.email for b in IBanManager(mlist).bans),
            "acceptable_aliases": sorted(IAcceptableAliasSet(mlist).aliases),
            "member_roster_visibility": plain(mlist.member_roster_visibility),
            "archive_policy": plain(mlist.archive_policy),
            "default_member_action": plain(mlist.default_member_action),
            "default_nonmember_action": plain(mlist.default_nonmember_action),
            "requests": IListRequests(mlist).count,
            "pendings": getUtility(IPendings).count(),
            "settings": settings,
        }))


    def held(mlist):
        from mailman.interfaces.requests import RequestType
        print(json.dumps({"held": IListRequests(mlist).count_of(RequestType.held_message)}))


    def bounces(mlist):
        from mailman.interfaces.bounce import IBounceProcessor
        events = getUtility(IBounceProcessor).events
        print(json.dumps({"bounces": sorted(e.email for e in events
                                            if e.list_id == mlist.list_id)}))
''')

#: Answers once something listens on the address (run by the venv's Python under the prefix).
_CONNECT = ("import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), "
            "timeout=1).close()")


def mailman3_bin() -> Path:
    """The venv's ``mailman`` command, or skip (fail under ``make test``) saying why."""
    path = VENV / "bin" / "mailman"
    need(os.access(path, os.X_OK),
         f"Mailman 3 is not installed in {VENV} (tools/install-test-deps.sh installs it)")
    return path


class Mailman3:
    """A throwaway Mailman 3 instance in ``folder``; every command runs with its config."""

    def __init__(self, folder: Path, site_owner: str = "postmaster@mm3.example", *,
                 mta: str = "null", lmtp: tuple[str, int] = ("127.0.0.1", 8024),
                 smtp: tuple[str, int] = ("127.0.0.1", 25), postmap: str = "true") -> None:
        self.bin = mailman3_bin()
        self.folder = folder
        self.var = folder / "var"
        self.var.mkdir(parents=True, exist_ok=True)
        self.lmtp = lmtp
        self.config = folder / "mailman.cfg"
        incoming = {"null": "mailman.mta.null.NullMTA", "postfix": "mailman.mta.postfix.LMTP"}
        self.config.write_text(textwrap.dedent(f"""\
            [mailman]
            site_owner: {site_owner}
            layout: tests

            [paths.tests]
            var_dir: {self.var}

            [database]
            class: mailman.database.sqlite.SQLiteDatabase
            url: sqlite:///$DATA_DIR/mailman.db

            [mta]
            incoming: {incoming[mta]}
            lmtp_host: {lmtp[0]}
            lmtp_port: {lmtp[1]}
            smtp_host: {smtp[0]}
            smtp_port: {smtp[1]}
            configuration: {folder / "postfix.cfg"}

            [logging.smtp]
            level: debug

            [runner.rest]
            start: no

            [runner.bounces]
            sleep_time: 1s
            """))
        self.set_postmap(postmap)
        (folder / "mm3probe.py").write_text(PROBE)
        #: seconds each ``create`` and ``import21`` took, by list
        self.timings: dict[str, dict[str, float]] = {}

    def set_postmap(self, command: str) -> None:
        """What Mailman runs (``COMMAND PATH``, through the shell) after it rewrote
        ``postfix_lmtp`` or ``postfix_domains``; read by each process as it starts."""
        (self.folder / "postfix.cfg").write_text(
            f"[postfix]\npostmap_command: {command}\ntransport_file_type: hash\n")

    @property
    def lmtp_file(self) -> Path:
        """The Postfix transport map Mailman writes (``key lmtp:[host]:port``)."""
        return self.var / "data" / "postfix_lmtp"

    def log(self, name: str = "mailman") -> str:
        path = self.var / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    @contextmanager
    def start(self, prefix: Sequence[str] = (), timeout: float = 90) -> Iterator["Mailman3"]:
        """Mailman's ``master`` (in the foreground, its own process group) with its runners,
        all but the REST API, under ``prefix``; until the LMTP runner accepts connections.
        Afterwards SIGTERM to the master, which stops its runners; then SIGKILL to whatever is
        left of its process group."""
        env = dict(os.environ, LANG="C.UTF-8")
        with open(self.folder / "master.out", "wb") as out:
            proc = subprocess.Popen([*prefix, str(self.bin.with_name("master")), "-C",
                                     str(self.config), "--force"], stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)
        python = str(self.bin.with_name("python"))

        def listening() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"Mailman's master exited ({proc.returncode}):\n"
                                   + (self.folder / "master.out").read_text(errors="replace")
                                   + self.log())
            return subprocess.run([*prefix, python, "-c", _CONNECT, self.lmtp[0],
                                   str(self.lmtp[1])], capture_output=True).returncode == 0
        try:
            start = time.monotonic()
            wait_until(listening, timeout, "Mailman's LMTP runner to answer", every=0.2,
                       diagnose=self.log)
            #: seconds from starting the master to the LMTP runner answering
            self.started_in = round(time.monotonic() - start, 2)
            yield self
        finally:
            stopped = False
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    stopped = proc.wait(timeout=30) == 0
                except subprocess.TimeoutExpired:
                    pass
            if not stopped:  # runners left behind by a master that died or hung
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=10)

    def held(self, address: str) -> int:
        """How many posts the list holds for its moderators (``IListRequests``)."""
        out = self.run("withlist", "-l", address, "-r", "mm3probe.held").stdout
        return json.loads(out.strip().splitlines()[-1])["held"]

    def bounces(self, address: str) -> list[str]:
        """The addresses the list's bounce runner registered a bounce for (``BounceEvent``)."""
        out = self.run("withlist", "-l", address, "-r", "mm3probe.bounces").stdout
        return json.loads(out.strip().splitlines()[-1])["bounces"]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """``mailman -C CONFIG ARGS`` (``--run-as-root`` when root, as Mailman refuses root
        otherwise); the probe's folder is on PYTHONPATH for ``withlist -r``."""
        root = ["--run-as-root"] if os.geteuid() == 0 else []
        env = dict(os.environ, PYTHONPATH=str(self.folder), LANG="C.UTF-8")
        proc = subprocess.run([str(self.bin), "-C", str(self.config), *root, *args],
                              capture_output=True, text=True, env=env, timeout=300)
        if check and proc.returncode != 0:
            raise AssertionError(f"mailman {' '.join(args)} exited {proc.returncode}:\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def _timed(self, what: str, address: str, *args: str) -> subprocess.CompletedProcess:
        start = time.monotonic()
        proc = self.run(*args)
        self.timings.setdefault(address, {})[what] = round(time.monotonic() - start, 2)
        return proc

    def create(self, address: str) -> subprocess.CompletedProcess:
        """``mailman create ADDRESS`` (its domain too), telling no owner."""
        return self._timed("create", address, "create", "--quiet", address)

    def import21(self, address: str, pickle: Path,
                 charset: str | None = None) -> subprocess.CompletedProcess:
        """``mailman import21 [--charset CHARSET] ADDRESS config.pck``: what it printed is in
        the result (its stderr names what it could not convert). Without a charset it reads
        Python 2 strings as UTF-8 and drops the bytes that are not."""
        options = ["--charset", charset] if charset else []
        return self._timed("import21", address, "import21", *options, address, str(pickle))

    def members(self, address: str, *options: str) -> list[str]:
        """``mailman members -e [OPTIONS] ADDRESS``: the addresses it prints."""
        return self.run("members", "-e", *options, address).stdout.split()

    def probe(self, keys: list[str]) -> dict[str, dict]:
        """``PROBE`` over every list of the instance, by posting address; ``keys`` the
        Mailman 2 settings to follow through the import."""
        keys_file = self.folder / "keys.json"
        keys_file.write_text(json.dumps(sorted(keys)))
        out = self.run("withlist", "-l", "^.*", "-r", "mm3probe.show", str(keys_file)).stdout
        lists = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        return {d["list"]: d for d in lists}
