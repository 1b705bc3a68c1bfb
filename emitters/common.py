"""What every emitter shares: the result type, the new host's fixed paths, and the rules that
keep values from the old host (list names, domains, addresses) out of configs and scripts unless
they are plainly safe.

Values come from an inventory, which comes from an old host nobody fully trusts: a list name
with a quote, ``;``, ``$(...)``, ``../`` or a newline must never reach ``smtpd.conf``, an
aliases file or a shell script. Emitters call ``check_*`` and leave out what fails, with a
blocker finding naming the value; what passes contains no character any of those files treats
specially, so it is written as it is (quoted where the grammar wants quotes anyway).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from enum import IntEnum

from emitters.guard import refuse
from migrate.core.mailman2 import ACTION_SUFFIX, SUFFIX_ACTION, address_of
from migrate.core.model import (Alias, AliasTarget, AliasTargetKind, Finding, Inventory, ListRoute,
                                RouteVia, flat_targets)
from migrate.core.steps import Step

#: The user OpenSMTPD runs an aliases file's ``|command`` as ("the daemon's unprivileged
#: account", aliases(5)): every post reaches Mailman's mail wrapper as this user.
MTA_USER = "_smtpd"
#: The new host's alias for addresses that the old host dropped on purpose (:blackhole:) in a
#: virtual domain: the virtual table maps them to DISCARD@localhost, the aliases to /dev/null.
DISCARD = "migrate-discard"
SLOWCGI_SOCKET = "/var/www/run/slowcgi.sock"  # as seen with httpd's chroot "/"

# Mailman 2.1's ACCEPTABLE_LISTNAME_CHARACTERS is [-+_.=a-z0-9]; a leading dot or dash would
# read as a hidden file or an option.
_LIST_NAME = re.compile(r"[a-z0-9][-+_.=a-z0-9]{0,63}\Z")
_DOMAIN = re.compile(r"(?=.{1,253}\Z)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
                     r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
_LOCAL_PART = re.compile(r"[A-Za-z0-9][-+_.=A-Za-z0-9]{0,63}\Z")
_ADDRESS = re.compile(r"[A-Za-z0-9][-+_.=A-Za-z0-9]{0,63}@" + _DOMAIN.pattern[:-2] + r"\Z",
                      re.IGNORECASE)
_PATH = re.compile(r"/[-+_.=/A-Za-z0-9]*\Z")


class Stage(IntEnum):
    """When the runbook installs a file: in its install step, the configuration files first
    (and the commands they need right after, such as ``newaliases``), then the fragments
    appended to files of the packages, then the configuration of services that run later
    (acme-client); or at the switch (``SWITCH``), a file that would make a service take list
    mail at boot (smtpd.conf), only checked (``precheck``) in the install step."""

    CONFIG = 0
    FRAGMENT = 1
    LATER = 2
    SWITCH = 3


#: The plan's tree that ``migrate plan --overlay DIR`` merges DIR into: DIR/new/etc/httpd.conf
#: replaces files/new/etc/httpd.conf (migrate/app/planning.py reads the overlay).
OVERLAY_TREE = "files/"
#: the new httpd.conf in the plan (emitters/httpd_conf.py writes it; its redirects' hints name it)
HTTPD_CONF = "files/new/etc/httpd.conf"
#: the new aliases and virtual table in the plan (emitters/aliases.py and virtual_table.py write
#: them from the new host's address table; its hints and parity's name them)
ALIASES_FILE = "files/new/etc/mail/aliases"
#: smtpd.conf's name of a list manager's own table of addresses and of its LMTP action (a
#: destination with ``lmtp``); the list manager's hook rereads the table by this name.
LMTP_TABLE = "listmanager"
VIRTUAL_FILE = "files/new/etc/mail/virtual"


def overlay_hint(path: str) -> str:
    """Where a hint sends the operator to change the emitted file ``path``: an overlay copy,
    which `migrate plan` merges, checks and seals (an edit inside the plan folder is refused by
    the cutover and dropped by the next `migrate plan -o`)."""
    return (f"in an overlay copy of {path} (plan again with `--overlay DIR` and the changed "
            f"file at DIR/{path.removeprefix(OVERLAY_TREE)}: it is checked and sealed with "
            "the plan)")


@dataclass(frozen=True)
class Install:
    """How an emitted file is installed on the new host: ``source`` (plan-relative) becomes
    ``path`` with ``mode``, or, with a ``marker``, is appended to ``path`` between marker lines.
    ``check`` is the command that proves it on the host (``smtpd -n``); ``then`` a command to
    run once it is there; ``precheck`` the command that proves the plan's copy before it is
    installed (``Stage.SWITCH``)."""

    source: str
    path: str
    mode: str = "0644"
    marker: str | None = None
    check: str | None = None
    then: str | None = None
    stage: Stage = Stage.CONFIG
    precheck: str | None = None


class Phase(IntEnum):
    """When planning runs an emitter, and what it reads besides the inventory, the target, the
    release and the new host (``emitters.new_host``): each phase reads what the earlier ones
    emitted, so the order is the contract's, not planning's."""

    FILES = 0  #: the files and tables of the plan: nothing more
    STEPS = 1  #: the runbook: what FILES emitted (the installs it declared)
    REPORT = 2  #: what shows the whole plan: the plan as checked (files, findings, data)


@dataclass(frozen=True)
class Emitter:
    """One writer of the plan, as planning runs it: ``emit(inv, target, release)``, then the
    new host (``new_host``) where it reads it, then what the earlier phases emitted (an
    ``Emitted``) for every phase after FILES."""

    emit: Callable[..., "Emitted"]
    phase: Phase = Phase.FILES
    new_host: bool = False

    @property
    def name(self) -> str:
        return self.emit.__name__.removeprefix("emit_")

    def run(self, inv: Inventory, target, release, host, earlier: "Emitted") -> "Emitted":
        more = ((host,) if self.new_host else ()) + (
            (earlier,) if self.phase > Phase.FILES else ())
        return self.emit(inv, target, release, *more)


class TwoWriters(RuntimeError):
    """Two emitters wrote one file of the plan or one datum: a bug of the emitters (the
    second would silently replace the first)."""


@dataclass
class Data:
    """The machine-readable parts of the plan, a field per datum, each written by one
    emitter (None: not written)."""

    steps: list[Step] | None = None  #: the runbook's typed steps (plan.yaml)
    parity: list[dict] | None = None  #: routing parity: old route -> new route, per address
    web_parity: list[dict] | None = None  #: web parity: old URL -> new answer, per pattern
    transfers: list[dict] | None = None  #: what the syncs copy, per list and folder
    #: a list manager that imports the lists: what its import does with each Mailman 2
    #: setting ({"what", "how", "carried"}) and, per list, the counts of what it drops
    import_settings: list[dict] | None = None
    import_lists: list[dict] | None = None
    #: the plan's path where a script of the plan needs the inspection's archive scanner
    #: beside it (its rules, not a copy of them): the orchestration puts
    #: ``parsers/mboxscan.py`` there, as emitters never read the parsers
    scanner: str | None = None


@dataclass
class Emitted:
    """One emitter's output: files (plan-relative path -> text), how the new host's files are
    installed, its findings and its data; or, added up (``add``), every emitter's so far."""

    files: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    data: Data = field(default_factory=Data)
    installs: list[Install] = field(default_factory=list)
    #: who wrote each file and datum (by ``add``), to name both writers of one
    writers: dict[str, str] = field(default_factory=dict, repr=False)

    def add(self, other: "Emitted", by: str) -> None:
        """Take the emitter ``by``'s output; a file, a datum or a file of the new host (or a
        marked part of one) already written is refused (``TwoWriters``, naming both emitters)."""
        data = {f.name: getattr(other.data, f.name) for f in fields(Data)
                if getattr(other.data, f.name) is not None}
        keys = [*other.files, *(f"data {name}" for name in data),
                *(f"the new host's {i.path}" + (f" between the markers {i.marker}" if i.marker
                                                else "") for i in other.installs)]
        for key in keys:
            if key in self.writers:
                raise TwoWriters(f"internal error: the emitters {self.writers[key]} and {by} "
                                 f"both write {key}")
        self.writers.update(dict.fromkeys(keys, by))
        self.files.update(other.files)
        for name, value in data.items():
            setattr(self.data, name, value)
        self.findings.extend(other.findings)
        self.installs.extend(other.installs)

    def install(self, source: str, path: str, **how) -> None:
        """Emit nothing more: declare how ``source`` (already in ``files``) is installed."""
        self.installs.append(Install(source, path, **how))


@dataclass(frozen=True)
class Room:
    """Free space a step needs in a folder, in KiB: the unit ``df -k`` shows and the check
    compares, so the step's text and its check say the same number (``room_for``)."""

    kib: int
    folder: str = "/var"

    def __str__(self) -> str:
        """``3071 KiB (3.0 MiB)``: the number the check compares, and its size for people."""
        for unit, size in (("GiB", 1024 * 1024), ("MiB", 1024)):
            if self.kib >= size:
                return f"{self.kib} KiB ({self.kib / size:.1f} {unit})"
        return f"{self.kib} KiB"

    @property
    def check(self) -> str:
        """The check: the folder's file system has at least this many KiB free."""
        return f"test \"$(df -k {self.folder} | awk 'NR==2 {{print $4}}')\" -ge {self.kib}"


def room_for(nbytes: float, margin: float = 0.2, folder: str = "/var") -> Room:
    """The room ``nbytes`` need in ``folder``, with a ``margin`` (20%) on top, in whole KiB."""
    return Room(int(nbytes * (1 + margin) / 1024) + 1, folder)


def is_list_name(name: str) -> bool:
    return bool(_LIST_NAME.match(name or ""))


def is_domain(name: str) -> bool:
    return bool(_DOMAIN.match(name or ""))


def is_local_part(name: str) -> bool:
    return bool(_LOCAL_PART.match(name or ""))


def is_address(text: str) -> bool:
    return bool(_ADDRESS.match(text or ""))


def is_path(text: str) -> bool:
    return bool(_PATH.match(text or "")) and "/../" not in text + "/" and "//" not in text


#: Where the FreeBSD port puts Mailman 2 (code and data alike), and its user: the old host's
#: where the inventory does not say.
OLD_MAILMAN_PREFIX = "/usr/local/mailman"
OLD_MAILMAN_USER = "mailman"


def old_var(inv: Inventory) -> str:
    """Mailman's data on the old host (lists/, archives/, data/): as inspected, else the
    FreeBSD port's."""
    return (inv.mailman.var_prefix if inv.mailman else None) or OLD_MAILMAN_PREFIX


def old_mailman(inv: Inventory) -> tuple[str, str]:
    """Mailman's code prefix (bin/, cron/) and user on the old host: as inspected, else the
    FreeBSD port's."""
    mm = inv.mailman
    return ((mm.prefix if mm else None) or OLD_MAILMAN_PREFIX,
            (mm.user if mm else None) or OLD_MAILMAN_USER)


def list_names(inv: Inventory) -> tuple[list[str], list[Finding]]:
    """The inventory's list names that can be written safely, and blockers for the others."""
    names, findings = [], []
    for ml in inv.lists:
        if is_list_name(ml.name):
            names.append(ml.name)
        else:
            findings.append(refuse("list name", ml.name, "the aliases file and smtpd.conf",
                                   ml.source))
    return sorted(names), findings


def route_action(route: ListRoute) -> str | None:
    """The wrapper command an old address reached its list with (inventories written before
    ``ListRoute.action`` existed: read off Mailman's suffix)."""
    if route.action in ACTION_SUFFIX:
        return route.action
    if route.action is not None:
        return None
    name = route.list_name.lower()
    address = route.address.lower()
    return SUFFIX_ACTION.get(address[len(name):]) if address.startswith(name) else None


def canonical_address(route: ListRoute) -> str | None:
    """The local part Mailman itself gives the route's list and command (``news`` reaching
    ``announce`` as ``post`` -> ``announce``), or None for an unknown command."""
    action = route_action(route)
    return address_of(route.list_name, action) if action else None


def is_canonical(route: ListRoute) -> bool:
    """The old address is Mailman's own name for its list and command."""
    canonical = canonical_address(route)
    return canonical is not None and canonical.lower() == route.address.lower()


def route_alias(inv: Inventory, route: ListRoute) -> Alias | None:
    """The alias entry an old list address came from (None for a router's address)."""
    if route.via == RouteVia.ROUTER or route.source is None:
        return None
    return next((a for a in inv.mta.aliases if a.source == route.source
                 and a.name.lower() == route.address.lower()), None)


def is_wrapper_pipe(target: AliasTarget) -> bool:
    """A pipe into the old host's Mailman mail wrapper (``.../mail/mailman CMD LIST``)."""
    if target.kind != AliasTargetKind.PIPE:
        return False
    words = target.value.lstrip("|").split()
    return len(words) >= 3 and (words[0].endswith("/mail/mailman")
                                or words[0].endswith("/mailman/mail/wrapper"))


def other_targets(alias: Alias | None) -> tuple[list[str], list[str]]:
    """The targets of a list alias besides its pipes into Mailman, as the new host can take
    them (addresses; /dev/null for :blackhole:), and what cannot be carried."""
    values: list[str] = []
    problems: list[str] = []
    if alias is None:
        return values, problems
    for t in flat_targets(alias.targets):
        if is_wrapper_pipe(t):
            continue
        if t.kind == AliasTargetKind.ADDRESS and is_address(t.value.lstrip("\\")):
            values.append(t.value.lstrip("\\"))
        elif t.kind == AliasTargetKind.BLACKHOLE:
            continue  # beside other targets, :blackhole: adds nothing
        else:
            problems.append(f"target {t.kind.value} {t.value!r} is not carried over")
    return values, problems
