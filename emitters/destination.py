"""The destination: the list manager on the new host, one plugin per kind, chosen by the
target (``Target.destination``, default ``mailman2``).

The old host is always Mailman 2 (its lists, archives and addresses are what moves); the
destination says what takes them on the new host. A plugin owns what only it knows: its
packages, user and group, paths, services, the address table (each old list address -> its
delivery on the new host, as the aliases file writes it), its web locations (what answers the
old host's ``/mailman/``, ``/icons/`` and ``/pipermail/``), the files it emits (with their
installs) and its parts of the runbook (install, instantiate the lists, start, verify, each with
its way back). The other emitters and the runbook ask the target's plugin and name none of it.

Adding a destination is one module: a subclass of ``Destination`` with its ``kind``, passed to
``register`` once. Mailman 2 (the package ``mailman2/``) and Mailman 3 (``mailman3/``) ship.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from migrate.core.mailman2 import ADDRESSES
from migrate.core.model import Inventory, Target
from migrate.core.steps import Step, Wait

from emitters.common import Emitted
from emitters.guard import sh_word
from emitters.release import Release

if TYPE_CHECKING:
    from emitters.new_host import NewHost


@dataclass(frozen=True)
class WebFolders:
    """The folders that answer the old host's web addresses on the new host: the CGI programs
    slowcgi runs, the icons and the public archives, as httpd sees them (chroot ``/``); and
    the URL prefixes the package serves them at (``url_prefixes: package``; by default the
    plan serves them at the old host's)."""

    cgi: str
    icons: str
    archive: str
    cgi_prefix: str
    icons_prefix: str
    archive_prefix: str
    #: the FastCGI socket of an application that answers the CGI prefix itself, given the
    #: whole path (None: slowcgi runs the CGI programs in ``cgi``)
    cgi_socket: str | None = None
    #: more locations of the list manager on every web name, after its own: (URL prefix,
    #: folder, FastCGI socket or None); served with the whole path below the folder (a
    #: web application's URLs, its static files)
    more: tuple[tuple[str, str, str | None], ...] = ()
    #: the application at ``cgi_socket``, for people ("mailman-web"), what it answers each
    #: of Mailman 2's pages with (script -> where it redirects), and the finding that says so
    #: (each such row of web-parity.md is "changed", said by it)
    app: str | None = None
    app_pages: tuple[tuple[str, str], ...] = ()
    app_finding: str | None = None


class Destination:
    """One kind of list manager on the new host. ``inv``, ``target`` and ``release`` are the
    plan's; every method may read them. The class attributes are the plugin's fixed facts."""

    kind: ClassVar[str] = ""
    #: as people read it in titles and findings ("Mailman 2.1")
    name: ClassVar[str] = ""
    #: the packages the install step adds (pkg_add), the list manager's first
    packages: ClassVar[tuple[str, ...]] = ()
    #: who owns the lists and archives once copied
    user: ClassVar[str] = ""
    group: ClassVar[str] = ""
    #: where the old host's var prefix (lists/, archives/, data/) lands on the new host
    var: ClassVar[str] = ""
    #: the packages' rc scripts, enabled and started at the switch (rcctl, pkg_scripts)
    services: ClassVar[tuple[str, ...]] = ()
    web: ClassVar[WebFolders]
    #: one line for the aliases file's head: how its deliveries run
    delivery_note: ClassVar[str] = ""
    #: where smtpd delivers the list manager's addresses over LMTP (``HOST:PORT``), and the
    #: list table of those addresses the list manager keeps (None: the aliases' pipes)
    lmtp: ClassVar[str | None] = None
    lmtp_table: ClassVar[str | None] = None

    def __init__(self, inv: Inventory, target: Target, release: Release | None) -> None:
        self.inv = inv
        self.target = target
        self.release = release

    # --- the address table ---------------------------------------------------------------

    def delivery(self, list_name: str, action: str) -> str:
        """Where the new host delivers a list's address with Mailman 2's command ``action``
        (``post``, ``request``, ... : ``migrate.core.mailman2.ADDRESSES``), as the aliases file
        holds it (unquoted)."""
        raise NotImplementedError

    def alias_value(self, delivery: str) -> str:
        """How the aliases and virtual files write a ``delivery`` (Mailman 2: a pipe, quoted
        for its spaces)."""
        return f'"{delivery}"'

    def addresses(self, list_name: str) -> list[tuple[str, str]]:
        """The list's addresses on the new host: (local part, Mailman 2's command for it),
        each of the ten addresses Mailman 2 gave it (the old host's, which keep working); the
        new host's address table (``new_host.py``) delivers each with ``delivery``."""
        return [(list_name + suffix, action) for suffix, action in ADDRESSES]

    # --- what it writes and how the runbook runs it ----------------------------------------

    def emit(self, host: "NewHost") -> Emitted:
        """Its files of the plan, with their installs and findings (``host``: the new host
        as every writer sees it, its web locations among them)."""
        raise NotImplementedError

    def app_url(self, list_name: str, page: str) -> str | None:
        """Where the application at the CGI prefix (``WebFolders.cgi_socket``) sends a list's
        Mailman 2 ``page`` ("listinfo", "admin", "private"...): a path on the same host, or
        None (no such application, or no such page)."""
        return None

    #: paths httpd's loopback server (``localhost``, 127.0.0.1 port 80) passes to the list
    #: manager's FastCGI socket (``WebFolders.cgi_socket``) for its own programs' calls; every
    #: other path there answers 403 (none: no such server)
    loopback_prefixes: ClassVar[tuple[str, ...]] = ()

    def preflight(self, total: int) -> list[Step]:
        """Checks on the new host before anything changes (``total``: the bytes of the lists
        and archives that the copy brings)."""
        raise NotImplementedError

    def install(self) -> list[Step]:
        """The prepare phase, before the emitted files are installed: packages, users,
        groups."""
        raise NotImplementedError

    #: why its own pages (listinfo, admin, private archives) are not served yet, for people
    #: (None: they are); its CGI folder is then served as plain files
    pages_pending: ClassVar[str | None] = None
    #: why ``old_mailman_stopping`` runs, for people (the freeze step's text)
    stopping_why: ClassVar[str] = ""

    def old_mailman_stopping(self) -> list[str]:
        """Commands on the old host during the freeze, once its Mailman's queues drained and
        before it stops (its qrunners still run, and drain again after them)."""
        return []

    def old_mailman_stopped(self) -> tuple[list[str], list[str]]:
        """Commands on the old host during the freeze once its Mailman stopped, before the
        final sync, and their way back (run before Mailman starts again)."""
        return [], []

    #: folders of the old host's ``data/`` the final sync carries too (and owns to ``user``
    #: on the new host): what ``old_mailman_stopped`` wrote there
    carried_folders: ClassVar[tuple[str, ...]] = ()

    def prepared(self) -> list[Step]:
        """The prepare phase, once the emitted files are installed: checks that it takes what
        smtpd delivers, while the old host still takes every post. It starts nothing."""
        return []

    def start(self) -> list[Step]:
        """The switch, after the final sync: instantiate the copied lists, enable and start
        its services; the way back stops the new host taking mail and lets it finish what it
        took."""
        raise NotImplementedError

    def verify(self) -> list[Step]:
        """Mail through it, on the new host, after the switch."""
        return []


#: every destination by its kind
DESTINATIONS: dict[str, type[Destination]] = {}


def request_answered(request: str, command_queue: str, timeout: int = 120) -> Wait:
    """The verify step's wait for the request it mailed to a list's -request address: until
    smtpd holds no envelope for ``request`` (it handed the mail to the list manager, which
    wrote it into its command queue first) and ``command_queue`` (a folder) holds no file (the
    list manager read it and queued its answer). The other queues are not waited for: a busy
    list keeps them filled. At most ``timeout`` seconds, polling every 2; not a fixed
    sleep."""
    return Wait(command=f"! smtpctl show queue 2>/dev/null | grep -qiF {sh_word(request)} && "
                        f"test -z \"$(find {sh_word(command_queue)} -type f 2>/dev/null)\"",
                timeout=timeout, interval=2)


def register(cls: type[Destination]) -> type[Destination]:
    """Make ``cls`` the destination of its ``kind`` (once)."""
    if not cls.kind or cls.kind in DESTINATIONS:
        raise TypeError(f"destination kind {cls.kind!r} is empty or registered twice")
    DESTINATIONS[cls.kind] = cls
    return cls


def destination(inv: Inventory, target: Target, release: Release | None) -> Destination:
    """The target's destination (``resolve_target`` refused an unknown kind before)."""
    _shipped()
    return DESTINATIONS[target.destination](inv, target, release)


def emit_destination(inv: Inventory, target: Target, release: Release,
                     host: "NewHost") -> Emitted:
    """The files of the new host's list manager: its plugin's (the new host holds it)."""
    return host.destination.emit(host)


def unknown(kind: str) -> str | None:
    """What is wrong with a destination kind, or None."""
    _shipped()
    if kind in DESTINATIONS:
        return None
    return f"unknown destination {kind!r} (known: {', '.join(sorted(DESTINATIONS))})"


def _shipped() -> None:
    """Register the destinations that ship. Imported here, when first asked for, not at the
    top: they build on the other emitters, which ask this module for the destination."""
    from emitters.mailman2 import plugin  # noqa: F401
    from emitters.mailman3 import plugin as _mm3  # noqa: F401
