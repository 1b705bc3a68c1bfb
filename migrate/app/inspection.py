"""``migrate inspect``: run the parsers over a host tree and assemble the inventory.

This is orchestration: it decides which files the parsers read and in what order, merges
their results into one ``Inventory`` and knows nothing about any file format itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
from collections.abc import Callable, Iterator
from typing import ContextManager

from migrate import __version__

from migrate.core import model
from migrate.core.errors import Exit, MigrateError
from migrate.core.mailman2 import MOVED_FOLDERS
from migrate.core.model import (AccountKind, DomainRole, Finding, HostName, Inventory, NameUse,
                                Origin, Severity, Source)
from migrate.core.mta import Plugin, plugins
from migrate.app.mtas import register_all
from parsers.accounts import parse_accounts
from parsers.aliases import parse_aliases
from parsers.apache import CONFIG_CANDIDATES as APACHE_CONFIGS
from parsers.apache import parse_apache
from parsers.base import Tree, TreeError, present, read_text
from parsers.cron import SYSTEM_DIRS as CRON_DIRS
from parsers.cron import SYSTEM_TABS as CRON_TABS
from parsers.cron import USER_TABS as CRON_SPOOLS
from parsers.cron import parse_cron
from parsers.cyrus import CONFIGS as CYRUS_CONFIGS
from parsers.cyrus import SERVICES as CYRUS_SERVICES
from parsers.cyrus import config_from_flags, parse_cyrus
from parsers.mailman import LAYOUTS as mailman_layouts_table
from parsers.mailman import read_mailman
from parsers.pipermail import archive_paths, inspect_archive, mbox_size
from parsers.newsyslog import DEFAULT_INCLUDES as NEWSYSLOG_INCLUDES
from parsers.newsyslog import MAIN as NEWSYSLOG_CONF
from parsers.newsyslog import parse_newsyslog
from parsers.rcconf import parse_os_release, parse_rc_conf
from parsers.urls import url_prefixes
from migrate.app.sources import LocalTree

register_all()  # the old MTA is read by the plugin of the MTA the host runs
SYSTEM_ALIASES = ("/etc/aliases", "/etc/mail/aliases")


def mailman_layouts() -> list[tuple[str, str, str]]:
    return list(dict.fromkeys(mailman_layouts_table))


def remote_spec() -> list[tuple[str, str, int]]:
    """What ``inspect --host`` fetches in its one snapshot command: every file the parsers read
    on a usual host, as ``(path, how, depth)`` (see migrate/app/remote_agent.py). Anything else a
    configuration names (an include elsewhere) is fetched on demand."""
    spec: list[tuple[str, str, int]] = [
        ("/etc/rc.conf", "content", 0), ("/etc/rc.conf.local", "content", 0),
        ("/etc/rc.conf.d", "content", 1), ("/bin/freebsd-version", "content", 0),
        ("/etc/os-release", "content", 0), ("/etc/redhat-release", "content", 0),
        ("/etc/motd", "content", 0),
        ("/etc/passwd", "content", 0), ("/etc/group", "content", 0),
        ("/etc/passwd", "forwards", 0),  # the users' forward files (parsers/exim_model.py)
        ("/etc/aliases", "content", 0), ("/etc/mail", "content", 2),
        ("/etc/mailman", "content", 1),
        (NEWSYSLOG_CONF, "content", 0),
    ]
    spec += [(path, "content", 0) for path in CYRUS_CONFIGS]
    spec += [(path, "content", 0) for path in CRON_TABS]
    spec += [(path, "content", 1) for path in CRON_SPOOLS + CRON_DIRS]
    spec += [(os.path.dirname(p), "content", 1) for p in NEWSYSLOG_INCLUDES]
    for config in (*APACHE_CONFIGS, *(c for p in plugins() for c in p.reader.config_paths)):
        folder = os.path.dirname(config)
        if (folder, "content", 3) not in spec:
            spec.append((folder, "content", 3))
    for _layout, prefix, var in mailman_layouts():
        spec += [(prefix, "stat", 1), (f"{prefix}/Mailman", "stat", 1),
                 (f"{prefix}/Mailman/mm_cfg.py", "content", 0),
                 (f"{prefix}/Mailman/Version.py", "content", 0), (f"{prefix}/mail", "stat", 1),
                 (var, "stat", 1), (f"{var}/lists", "content", 2), (f"{var}/data", "content", 1),
                 (f"{var}/qfiles", "stat", 2), (f"{var}/archives/private", "names", 2),
                 (f"{var}/archives/public", "stat", 1)]
        spec += [(f"{var}/{folder}", "links", 0) for folder, _ in MOVED_FOLDERS]
    out: list[tuple[str, str, int]] = []
    for item in spec:  # ancestors first, each once: resolving a path never needs a trip
        parts = item[0].strip("/").split("/")
        for i in range(len(parts)):
            ancestor = ("/" + "/".join(parts[:i]), "stat", 0)
            if ancestor not in out and not any(a[0] == ancestor[0] for a in spec):
                out.append(ancestor)
        if item not in out:
            out.append(item)
    return out


def remote_mbox_dirs() -> list[str]:
    """Archive folders whose mboxes the snapshot command streams right after the files."""
    return list(dict.fromkeys(f"{var}/archives/private" for _l, _p, var in mailman_layouts()))


#: Finding ids that mean the input itself could not be used (exit code 3).
INPUT_FINDINGS = ("input.unreadable", "input.binary")


def open_local_root(root: str) -> LocalTree:
    """Check a ``--root`` directory and open it, or raise a one-line error (exit 3)."""
    if not os.path.exists(root):
        raise MigrateError("no such directory", file=root, code=Exit.INPUT,
                           hint="--root takes the old host's / or a copy of it")
    if not os.path.isdir(root):
        raise MigrateError("not a directory", file=root, code=Exit.INPUT,
                           hint="--root takes the old host's / or a copy of it")
    if not os.access(root, os.R_OK | os.X_OK):
        raise MigrateError("permission denied", file=root, code=Exit.INPUT,
                           hint="run as a user who can read the tree")
    if not any(os.path.isdir(os.path.join(root, d)) for d in ("etc", "usr", "var")):
        raise MigrateError(
            "does not look like a host's root: no etc/, usr/ or var/ in it", file=root,
            code=Exit.INPUT, hint="point --root at the folder that holds the host's etc/")
    return LocalTree(root)


#: ``progress(total_bytes)`` gives a context whose value is called as ``advance(label, done)``.
ProgressFactory = Callable[[int], ContextManager[Callable[[str, int], None]]]


@contextlib.contextmanager
def no_progress(total: int) -> Iterator[Callable[[str, int], None]]:
    yield lambda label, done: None


def inspect_tree(tree: Tree, origin: Origin, now: dt.datetime | None = None,
                 defines: dict[str, str] | None = None,
                 progress: ProgressFactory = no_progress) -> Inventory:
    """Read everything the parsers know from ``tree`` into a new inventory.

    ``defines`` are the old MTA's ``-D NAME=VALUE`` overrides (Exim's macros); ``progress``
    shows the archive scans (the only long work) as they go.
    """
    inv = Inventory(
        schema_version=model.SCHEMA_VERSION,
        tool_version=__version__,
        collected_at=(now or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0),
        source=origin,
    )
    findings = inv.findings

    rc = parse_rc_conf(tree)
    inv.host = rc.host
    findings += rc.findings
    findings += parse_os_release(tree, inv.host)
    accounts = parse_accounts(tree)
    inv.host.accounts = accounts.accounts
    findings += accounts.findings

    _inspect_mta(tree, inv, defines or {})
    # an id's first name wins, as ls(1) shows it (root, not FreeBSD's toor, for uid 0)
    users: dict[int, str] = {}
    groups: dict[int, str] = {}
    for a in inv.host.accounts:
        (users if a.kind == AccountKind.USER else groups).setdefault(a.id, a.name)
    mailman = read_mailman(tree, users, groups)
    inv.mailman = mailman.mailman
    inv.lists = mailman.lists
    findings += mailman.findings
    if inv.mailman is not None:
        _inspect_archives(tree, inv, users, groups, inv.collected_at, progress)
    _inspect_web(tree, inv)
    _inspect_cyrus(tree, inv)
    _host_names(inv)
    _inspect_housekeeping(tree, inv)
    _escape_undecodable(inv)
    return inv


def _escaped(value: str) -> str:
    """A str holding bytes that are not UTF-8 (a file name in Latin-1: ``caf\\udce9`` as
    Python decodes it) as printable text: each such byte as ``\\xNN``."""
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def _escape_undecodable(inv: Inventory) -> None:
    """Names that are not UTF-8 (a list folder ``caf\\xe9``, a cron.d file ``x\\xff``) cannot be
    written to YAML or JSON as they are: every string of the inventory that holds one (the
    class, not the two cases) is carried escaped (``\\xNN`` per byte), and each such name is
    one error finding naming the path where it is, so no plan is made from a name the new
    host would not have without someone deciding it."""
    found: dict[str, tuple[str, Source | None]] = {}  # escaped name -> (shortest path, source)

    def note(value: str, escaped: str, source: Source | None) -> None:
        for part, shown in zip(value.split("/"), escaped.split("/")):
            try:
                part.encode("utf-8")
                continue
            except UnicodeEncodeError:
                pass
            where = escaped if escaped.startswith("/") else ""
            if where:
                cut = escaped.split("/")
                where = "/".join(cut[:cut.index(shown) + 1])
            best = found.get(shown)
            if best is None or (where and (not best[0] or len(where) < len(best[0]))):
                found[shown] = (where, source)

    def fix(value, source: Source | None, record: bool = True):
        if isinstance(value, str):
            if value.isascii():
                return value
            try:
                value.encode("utf-8")
                return value
            except UnicodeEncodeError:
                escaped = _escaped(value)
                if record:
                    note(value, escaped, source)
                return escaped
        if isinstance(value, list):
            value[:] = [fix(v, source, record) for v in value]
            return value
        if isinstance(value, tuple):
            return tuple(fix(v, source, record) for v in value)
        if isinstance(value, dict):
            items = [(fix(k, source, record), fix(v, source, record)) for k, v in value.items()]
            value.clear()
            value.update(items)
            return value
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            own = getattr(value, "source", None)
            here = own if isinstance(own, Source) else source
            for f in dataclasses.fields(value):
                setattr(value, f.name, fix(getattr(value, f.name), here, record))
            return value
        return value

    findings = inv.findings
    inv.findings = []
    fix(inv, None)
    inv.findings = [fix(f, f.source, record=False) for f in findings]  # they quote the names
    for shown, (where, source) in sorted(found.items()):
        inv.findings.append(Finding(
            "input.not-utf8", Severity.ERROR,
            f"the name {shown} ({where or 'in ' + (source.file if source else 'the host')}) is "
            "not valid UTF-8; it is carried escaped (\\xNN per byte), not as the old host has it",
            "Rename it on the old host to a UTF-8 (best: ASCII) name, or remove it if it is "
            "stray, then inspect again.",
            Source(where) if where else source or Source("/")))


def _inspect_web(tree: Tree, inv: Inventory) -> None:
    apache = parse_apache(tree, inv.mailman.prefix if inv.mailman else None)
    inv.web = apache.web  # with its config_files
    inv.findings += apache.findings
    if inv.mailman is not None:  # where Apache served Mailman's pages, and where mm_cfg.py said
        inv.mailman.urls, found = url_prefixes(inv.web, inv.mailman.settings)
        inv.findings += found


def _inspect_cyrus(tree: Tree, inv: Inventory) -> None:
    """Cyrus IMAP's name, unless rc.conf keeps Cyrus from starting (its configuration is then
    a leftover that no client depends on)."""
    services = [s for s in inv.host.services if s.name in CYRUS_SERVICES]
    if services and not any(s.enabled for s in services):
        return
    flags = next((v.value for v in inv.host.rc_conf
                  if v.name in (f"{name}_flags" for name in CYRUS_SERVICES)), None)
    cyrus = parse_cyrus(tree, inv.host.hostname, config_from_flags(flags))
    inv.host.names += cyrus.names
    inv.mta.config_files += cyrus.files
    inv.findings += cyrus.findings


#: The mail domains a host delivers itself: one named as the host is that name's mail.
_DELIVERED = (DomainRole.LOCAL, DomainRole.LIST, DomainRole.VIRTUAL)


def _host_names(inv: Inventory) -> None:
    """The names the old host answers to, joined from the parts (rc.conf's and the MTA's are
    in already): the web server's virtual hosts (TLS ones as ``TLS``) and the mail domains
    named as one of the host's names; each (name, use) once, its first source kept."""
    names = inv.host.names
    for vh in inv.web.virtual_hosts if inv.web else []:
        use = NameUse.TLS if vh.tls else NameUse.WEB
        for name in [vh.server_name, *vh.server_aliases]:
            if name and "*" not in name and "?" not in name:
                names.append(HostName(name.lower().rstrip("."), use,
                                      f"Apache {'TLS ' if vh.tls else ''}virtual host",
                                      vh.source))
    known = {n.name for n in names}
    for domain in inv.mta.domains:
        if domain.role in _DELIVERED and domain.name.lower() in known:
            names.append(HostName(domain.name.lower(), NameUse.MAIL_DOMAIN,
                                  f"a {domain.role.value} mail domain of the MTA "
                                  f"({domain.via or 'its own name'})", domain.source))
    unique: dict[tuple[str, NameUse], HostName] = {}
    for n in names:
        unique.setdefault((n.name, n.use), n)
    inv.host.names = list(unique.values())


def _inspect_housekeeping(tree: Tree, inv: Inventory) -> None:
    """Mailman's cron jobs and the rotation of its logs (only on a host with Mailman)."""
    if inv.mailman is None:
        return
    cron = parse_cron(tree, inv.mailman.user or "mailman")
    inv.housekeeping.cron_jobs = cron.jobs
    inv.findings += cron.findings
    rotation = parse_newsyslog(tree, inv.mailman.var_prefix)
    inv.housekeeping.log_rotation = rotation.entries
    inv.housekeeping.config_files = cron.files + rotation.files
    inv.findings += rotation.findings


def _inspect_archives(tree: Tree, inv: Inventory, users: dict[int, str],
                      groups: dict[int, str], now: dt.datetime,
                      progress: ProgressFactory) -> None:
    """Each list's archive, then archive folders that belong to no list."""
    assert inv.mailman is not None
    var = inv.mailman.var_prefix
    sizes = {ml.name: mbox_size(tree, var, ml.name) for ml in inv.lists}
    plan_streams = getattr(tree, "plan_streams", None)
    if plan_streams is not None:  # a remote tree streams every mbox in one command
        mboxes = []
        for ml in inv.lists:
            if sizes[ml.name]:
                try:
                    mboxes.append(tree.resolve(archive_paths(var, ml.name)[0]))
                except TreeError:
                    pass
        plan_streams(mboxes)
    with progress(sum(sizes.values())) as advance:
        done = 0
        for ml in inv.lists:
            base = done
            result = inspect_archive(
                tree, var, ml.name, archive_enabled=ml.archive, public=(
                    None if ml.archive_private is None else not ml.archive_private),
                volume_frequency=ml.archive_volume_frequency, now=now, users=users,
                groups=groups, progress=lambda n, name=ml.name, base=base: advance(name, base + n))
            done += sizes[ml.name]
            advance(ml.name, done)
            if result.scan is not None or result.archive.html_dir is not None \
                    or result.archive.public_link is not None:
                inv.archives.append(result.archive)
            inv.findings.extend(result.findings)
    _orphan_archives(tree, inv, var)


def _orphan_archives(tree: Tree, inv: Inventory, var: str) -> None:
    private = f"{var}/archives/private"
    try:
        entries = tree.list_dir(private)
    except Exception:  # noqa: BLE001 - no archives folder: nothing to report
        return
    names = {ml.name for ml in inv.lists}
    orphans = sorted({e[:-5] if e.endswith(".mbox") else e for e in entries
                      if not e.startswith(".")} - names)
    if orphans:
        inv.findings.append(Finding(
            "archive.orphan", Severity.INFO,
            f"archives without a list: {', '.join(orphans)} (in {private})",
            "Archives of deleted lists stay on disk; the archive sync copies them too. Delete "
            "them on the old host first if they should not move.", Source(private)))


def _found_mta(tree: Tree, inv: Inventory) -> tuple[Plugin, str | None] | None:
    """The old MTA's plugin and the configuration it reads: the first plugin whose
    configuration the tree holds, rc.conf's enabled MTA first; else the enabled one, with no
    configuration (None: no MTA that a plugin knows)."""
    enabled = {s.name for s in inv.host.services if s.enabled}
    ordered = sorted(plugins(), key=lambda p: p.reader.service not in enabled)
    for plugin in ordered:
        config = next((p for p in plugin.reader.config_paths if present(tree, p)), None)
        if config is not None:
            return plugin, config
    return next(((p, None) for p in ordered if p.reader.service in enabled), None)


def _inspect_mta(tree: Tree, inv: Inventory, defines: dict[str, str]) -> None:
    found = _found_mta(tree, inv)
    plugin, config = found if found else (None, None)
    if plugin is not None:
        reader = plugin.reader
        paths = reader.config_paths
        service = next((s for s in inv.host.services if s.name == reader.service and s.enabled),
                       None)
        if config is not None and not tree.is_file(config):
            # a FIFO, a device, a dangling or looping link: what read_text says of it, plus
            # what it means for the move
            tf = read_text(tree, config, plugin.kind)
            inv.findings += tf.findings
            inv.findings.append(Finding(
                "mta.config-unreadable", Severity.ERROR,
                f"{reader.name}'s configuration {config} cannot be read"
                + (f" ({tf.findings[0].message})" if tf.findings else "")
                + (f"; rc.conf enables {reader.name}" if service else "") + ": the MTA is unknown",
                f"Put the old host's real {reader.name} configuration at {config} in the inspected "
                "tree (or inspect the live host over SSH), then inspect again: without it no "
                "address that reaches a list can be checked.", Source(config)))
            config = None
        elif config is None and service is not None:
            inv.findings.append(Finding(
                "mta.config-missing", Severity.ERROR,
                f"rc.conf enables {reader.name} ({service.name}_enable={service.value}) but its "
                f"configuration {paths[0]} is missing (nor is any of {', '.join(paths[1:])} "
                "there): the MTA is unknown",
                f"Copy the old host's {reader.name} configuration ({paths[0]} on FreeBSD) into "
                "the inspected tree, then inspect again: without it no address that reaches a "
                "list can be checked.", service.source or Source(paths[0])))
    if plugin is not None and config is not None:
        result = plugin.reader.read(tree, config, inv.host.hostname, defines)
        inv.mta = result.mta
        inv.findings += result.findings
        inv.host.names += result.names
        if result.has_aliases:
            return
    aliases_path = next((p for p in SYSTEM_ALIASES if tree.exists(p)), None)
    if aliases_path is None:
        inv.findings.append(Finding(
            "aliases.missing", Severity.WARNING,
            "no system aliases file (/etc/aliases or /etc/mail/aliases)",
            "If the old host had aliases elsewhere, copy them into the inspected tree; "
            "otherwise postmaster and root have no alias on the new host.",
            Source(SYSTEM_ALIASES[0])))
        return
    result_aliases = parse_aliases(tree, aliases_path)
    inv.mta.aliases += result_aliases.aliases
    inv.mta.config_files += result_aliases.files
    inv.findings += result_aliases.findings


def exit_code_for(inv: Inventory) -> Exit:
    """3 when input could not be read, 1 when error/blocker findings stand, else 0."""
    if any(f.id in INPUT_FINDINGS for f in inv.findings):
        return Exit.INPUT
    worst = inv.worst_severity()
    if worst is not None and worst.serious:
        return Exit.FINDINGS
    return Exit.OK
