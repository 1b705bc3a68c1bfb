"""The inventory: the one contract between parsers (which fill it) and emitters (which read it).

Plain typed dataclasses, no behaviour beyond small derived views. ``migrate.core.codec`` turns an
``Inventory`` into YAML/JSON-ready data and back, driven by the type hints below, so a field
added here is serialized, validated and round-trip-tested without further code.

Rules every parser keeps:

* every parsed item carries ``source``: the file as it is named on the inspected host (an
  absolute path such as ``/etc/mail/aliases``) and the 1-based line where the item starts;
* secrets (list admin, moderator and poster passwords, member passwords) are never read into
  the model, so they cannot reach an inventory, a report or a log;
* problems become ``Finding`` objects with a severity and a hint saying what to do; a parser
  raises only for programming errors.

This module imports neither parsers nor emitters.
"""

from __future__ import annotations

import datetime as _dt
import re as _re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

#: Bumped whenever a field changes meaning or is removed; adding optional fields keeps it.
SCHEMA_VERSION = 1


# --- value ranges -------------------------------------------------------------------------------

#: The earliest year a date or month of the inventory may name: nothing on a Mailman host
#: predates the Unix epoch its timestamps count from.
FIRST_YEAR = 1970
_MONTH = _re.compile(r"(\d{4})-(\d{2})\Z")


@dataclass(frozen=True)
class Range:
    """What a field may hold besides its type, declared as ``Annotated[type, Range(...)]``:
    a number from ``low``, a date whose year is from ``low``, or with ``month`` a "YYYY-MM"
    text whose year is from ``low``. The codec checks it when it reads a document; the archive
    scan's summaries are checked against the same ranges."""

    low: int
    month: bool = False

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is out of this range (a phrase), or None."""
        if self.month:
            m = _MONTH.match(value)
            if not m or not 1 <= int(m.group(2)) <= 12:
                return f"{value!r} is not a month (YYYY-MM)"
            return self._number(int(m.group(1)), f"the year of {value!r}")
        if isinstance(value, _dt.datetime):
            return self._number(value.year, f"the year of {value.isoformat()}")
        return self._number(value, str(value))

    def _number(self, number: int, what: str) -> str | None:
        return f"{what} is below {self.low}" if number < self.low else None


COUNTS = Range(0)
MONTHS = Range(FIRST_YEAR, month=True)
MOMENTS = Range(FIRST_YEAR)
#: How many of something: never negative.
Count = Annotated[int, COUNTS]
#: A calendar month, "YYYY-MM".
Month = Annotated[str, MONTHS]
#: A point in time (UTC) within the years a Mailman host can have seen.
Moment = Annotated[_dt.datetime, MOMENTS]


class Severity(StrEnum):
    """How much a finding matters for the move, in increasing order."""

    INFO = "info"  # worth knowing, nothing to do
    WARNING = "warning"  # works, but review it before the move
    ERROR = "error"  # something will break after the move unless fixed
    BLOCKER = "blocker"  # the move must not go ahead until this is resolved

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    @property
    def serious(self) -> bool:
        """Error or blocker: a finding that, while it stands, makes inspect, plan and the
        dry run exit 1 (``Exit.FINDINGS``)."""
        return self.rank >= _SEVERITY_RANK[Severity.ERROR]


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2, Severity.BLOCKER: 3}


@dataclass
class Source:
    """Where an item was read: a file on the inspected host and the 1-based line, if any."""

    file: str
    line: int | None = None

    def __str__(self) -> str:
        return self.file if self.line is None else f"{self.file}:{self.line}"


@dataclass
class Finding:
    """Something a person must know or do. ``id`` is stable and dotted (``aliases.duplicate``)."""

    id: str
    severity: Severity
    message: str
    hint: str
    source: Source | None = None


class OriginKind(StrEnum):
    """How the inspected host was read."""

    LOCAL = "local"  # a local directory tree (a snapshot or a mounted disk)
    SSH = "ssh"  # the host itself, over SSH


@dataclass
class Origin:
    """What was inspected: a local directory tree, or a host over SSH (with an optional prefix)."""

    kind: OriginKind
    root: str  # the local directory, or the prefix on the remote host ("/" for the host itself)
    host: str | None = None
    user: str | None = None
    port: int | None = None


# --- host -----------------------------------------------------------------------------------


@dataclass
class Interface:
    name: str
    dhcp: bool = False  # IPv4 by DHCP
    autoconf: bool = False  # IPv6 by SLAAC (accept_rtadv)
    source: Source | None = None


class AddressFamily(StrEnum):
    """An address family as ifconfig(8) names it."""

    INET = "inet"  # IPv4
    INET6 = "inet6"  # IPv6


@dataclass
class IPAddress:
    address: str  # without prefix length
    family: AddressFamily
    prefixlen: int | None = None
    interface: str | None = None
    alias: bool = False  # configured as an alias (ifconfig_IF_aliasN)
    source: Source | None = None


@dataclass
class Service:
    """An rc.conf ``NAME_enable`` knob and its ``NAME_flags``."""

    name: str
    enabled: bool
    value: str  # verbatim: YES, NO, NONE, ...
    flags: str | None = None
    source: Source | None = None


@dataclass
class RcVar:
    """One effective rc.conf variable (after rc.conf.local and rc.conf.d overrides)."""

    name: str
    value: str
    source: Source | None = None


class AccountKind(StrEnum):
    USER = "user"  # a line of /etc/passwd
    GROUP = "group"  # a line of /etc/group


@dataclass
class Account:
    """A user or group of the old host (never a password field)."""

    name: str
    id: int
    kind: AccountKind
    primary_gid: int | None = None  # users only
    members: list[str] = field(default_factory=list)  # groups only
    source: Source | None = None
    home: str | None = None  # users only: the home folder (where a forward file is read)


class NameUse(StrEnum):
    """Why the old host answers to a name (``HostName``)."""

    HOSTNAME = "hostname"  # the system's host name (rc.conf)
    MTA = "mta"  # the MTA's own name (Exim: primary_hostname): its HELO, its bounces
    MAIL_DOMAIN = "mail-domain"  # a mail domain of the MTA that is also a host name it has
    TLS = "tls"  # a name its TLS certificates are served for (a web server's TLS host)
    IMAP = "imap"  # the name its IMAP server says it is (Cyrus: servername)
    WEB = "web"  # a web server's virtual host name


@dataclass
class HostName:
    """A name the old host answers to, and for what: the DNS plan never moves such a name's
    address records without saying what else depends on them."""

    name: str
    use: NameUse
    detail: str = ""  # "Exim primary_hostname", "Cyrus servername", ...
    source: Source | None = None


@dataclass
class Host:
    hostname: str | None = None
    hostname_source: Source | None = None
    os: str | None = None  # "FreeBSD"
    release: str | None = None  # "11.2-RELEASE-p4"
    os_source: Source | None = None
    interfaces: list[Interface] = field(default_factory=list)
    addresses: list[IPAddress] = field(default_factory=list)
    default_router_v4: str | None = None
    default_router_v6: str | None = None
    services: list[Service] = field(default_factory=list)
    rc_conf: list[RcVar] = field(default_factory=list)
    accounts: list[Account] = field(default_factory=list)
    #: the names it answers to (rc.conf's hostname, the MTA's name, IMAP, TLS and web names)
    names: list[HostName] = field(default_factory=list)

    @property
    def addresses_v4(self) -> list[IPAddress]:
        return [a for a in self.addresses if a.family == AddressFamily.INET]

    @property
    def addresses_v6(self) -> list[IPAddress]:
        return [a for a in self.addresses if a.family == AddressFamily.INET6]

    def enabled_services(self) -> list[Service]:
        return [s for s in self.services if s.enabled]


# --- MTA --------------------------------------------------------------------------------------


@dataclass
class ConfigFile:
    """A configuration file read during inspection, fingerprinted so later steps see changes."""

    path: str
    sha256: str
    bytes: int
    role: str  # "exim", "exim-include", "aliases", "alias-include", "rc.conf", "apache", ...


#: The roles of Exim's own configuration: the main file and the files it ``.include``s. Files
#: that Exim only reads through lookups (alias tables, per-domain files, address lists) are
#: data, never configuration: nothing edits them as if they were.
EXIM_CONFIG_ROLES = ("exim", "exim-include")


class DomainRole(StrEnum):
    LOCAL = "local"  # delivered to local users
    LIST = "list"  # served by Mailman
    VIRTUAL = "virtual"  # per-domain alias tables
    RELAY = "relay"  # accepted and passed on


@dataclass
class Domain:
    name: str
    role: DomainRole
    via: str | None = None  # the named list or lookup it came from, e.g. "+mm_domains"
    source: Source | None = None


@dataclass
class Router:
    """An Exim router, options kept verbatim (expansions are not evaluated)."""

    name: str
    driver: str
    transport: str | None = None
    domains: list[str] = field(default_factory=list)
    local_parts: list[str] = field(default_factory=list)
    local_part_suffixes: list[str] = field(default_factory=list)
    local_part_suffix_optional: bool = False
    local_part_prefixes: list[str] = field(default_factory=list)
    local_part_prefix_optional: bool = False
    require_files: list[str] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)
    data: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    source: Source | None = None


@dataclass
class Transport:
    name: str
    driver: str
    command: str | None = None
    file: str | None = None
    user: str | None = None
    group: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    source: Source | None = None


class AliasTargetKind(StrEnum):
    ADDRESS = "address"  # user, user@domain, or \user (local, no further aliasing)
    PIPE = "pipe"  # |command
    FILE = "file"  # /path (append to a file)
    INCLUDE = "include"  # :include:/path
    FAIL = "fail"  # :fail: message
    DEFER = "defer"  # :defer: message
    BLACKHOLE = "blackhole"  # :blackhole:
    UNKNOWN = "unknown"  # :unknown: (Exim: pass to the next router)


@dataclass
class AliasTarget:
    kind: AliasTargetKind
    value: str  # address, command, path, or the :fail:/:defer: message ("" for :blackhole:)
    source: Source | None = None  # set where it differs from the alias (lines of an include)
    members: list[AliasTarget] = field(default_factory=list)  # what an :include: file holds


#: How deep ``:include:`` files may nest in an alias (an include inside an included file is one
#: deeper): parsers/aliases.py reads no deeper, and ``flat_targets`` follows no deeper.
MAX_INCLUDE_DEPTH = 10


def flat_targets(targets: list[AliasTarget], depth: int = 0) -> list[AliasTarget]:
    """An alias's targets with every ``:include:`` file replaced by what it holds (Exim reads
    an included file's items as if they were written in the alias)."""
    out: list[AliasTarget] = []
    for t in targets:
        if t.kind != AliasTargetKind.INCLUDE:
            out.append(t)
        elif depth < MAX_INCLUDE_DEPTH:
            out += flat_targets(t.members, depth + 1)
    return out


@dataclass
class Alias:
    name: str  # the local part (or a full address in a virtual table)
    targets: list[AliasTarget]
    table: str  # the file the alias is in, as named on the host
    domain: str | None = None  # None: the system aliases (local domains); else a virtual domain
    source: Source | None = None
    # a ``*`` entry of a table read with ``lsearch*``: every local part the table lacks
    catch_all: bool = False


@dataclass
class Smarthost:
    host: str
    port: int | None = None
    router: str | None = None
    source: Source | None = None


@dataclass
class TlsFiles:
    certificate: str | None = None
    private_key: str | None = None
    source: Source | None = None


@dataclass
class Listener:
    address: str  # "*" for all, or an IPv4/IPv6 address
    port: int
    source: Source | None = None


class RouteVia(StrEnum):
    """What carries a list address to Mailman on the old host."""

    ROUTER = "router"  # a rule of the MTA's own that takes list addresses (Exim: a router)
    ALIAS = "alias"  # a pipe in the system alias table
    VIRTUAL_ALIAS = "virtual-alias"  # a pipe in a per-domain (virtual) alias table


@dataclass
class ListRoute:
    """How mail for one list address reaches Mailman on the old host."""

    address: str  # local part with suffix, e.g. "announce-request"
    domain: str
    list_name: str
    via: RouteVia
    router: str | None = None
    transport: str | None = None
    command: str | None = None
    source: Source | None = None
    # the mail wrapper's command ("post", "request", ...; migrate.core.mailman2.ADDRESSES): an
    # alias may reach a list under another name (``news: "|.../mailman post announce"``)
    action: str | None = None


@dataclass
class RefusedAddress:
    """An address the old host refused or dropped on purpose: an alias entry of ``:fail:``,
    ``:defer:`` or ``:blackhole:``, or a catch-all ``*`` entry of one (``lsearch*``), on a
    domain whose alias table answered for it. The new host must behave the same."""

    address: str  # the local part, or "*" for a catch-all
    domain: str
    outcome: str  # "rejected" (:fail:), "deferred" (:defer:) or "dropped" (:blackhole:)
    message: str | None = None  # the :fail:/:defer: text
    router: str | None = None
    source: Source | None = None


class RecipientKind(StrEnum):
    """Where the old MTA finally delivered mail for an address, after every alias."""

    ADDRESS = "address"  # sent on to an address of a domain the old host does not serve
    MAILBOX = "mailbox"  # a local user's mailbox on the old host (value: the user)
    PIPE = "pipe"  # a command on the old host (value: the command)
    FILE = "file"  # appended to a file on the old host (value: the path)
    DISCARD = "discard"  # thrown away (:blackhole:; value "")
    FAIL = "fail"  # refused when expanded (value: the text): a bounce for this part only
    DEFER = "defer"  # held and retried when expanded (:defer:; value: the text)


@dataclass
class Recipient:
    """One final recipient of an accepted address on the old host."""

    kind: RecipientKind
    value: str
    #: what delivered it, in the MTA's terms: "router localuser, transport cyrus_lmtp"
    rule: str | None = None


class AcceptedKind(StrEnum):
    """How the old MTA came to accept an address that is not a list's."""

    ALIAS = "alias"  # an entry of an alias table (system or per domain)
    USER = "user"  # a local user's mailbox (a line of /etc/passwd)
    FORWARD = "forward"  # a local user's forward file (~/.forward)
    CATCH_ALL = "catch-all"  # every local part the domain names nowhere else ("*")


@dataclass
class AcceptedAddress:
    """An address on one of the old MTA's domains that it accepted and delivered and that is
    not a list's: list addresses are ``ListRoute``s, the addresses refused or dropped on
    purpose ``RefusedAddress``es. With those three, every local part of every domain of the
    MTA is told: a local part none of them names was refused at RCPT time on the old host."""

    address: str  # the local part; "*" for a catch-all
    domain: str
    kind: AcceptedKind
    recipients: list[Recipient] = field(default_factory=list)  # the final ones
    router: str | None = None  # the MTA's rule that took it (Exim: the router)
    source: Source | None = None  # the alias entry, the passwd line, the forward file


@dataclass
class NamedList:
    """An Exim named list (``domainlist local_domains = ...``), items verbatim after macros."""

    kind: str  # "domainlist", "hostlist", "addresslist", "localpartlist"
    name: str
    items: list[str] = field(default_factory=list)
    source: Source | None = None


@dataclass
class Lookup:
    """A file the MTA reads through a lookup (``lsearch``, ``dsearch``, ``cdb``, ...)."""

    kind: str  # "lsearch", "dsearch", "cdb", "dbm", "readfile", ...
    path: str  # verbatim; may hold expansion variables such as $domain
    used_by: str  # "router virtual_aliases", "domainlist virtual_domains", "main av_scanner"
    source: Source | None = None


@dataclass
class MtaFeature:
    """Something the old MTA does to mail beyond routing it (scanning, signing, blocklists,
    authentication, ...), as its configuration says: a fact of the old host. What the new host
    does about it is the plan's to say (emitters/mta_features.py)."""

    name: str  # one of FEATURES
    what: str  # for people, in the MTA's own terms: "DNS blocklists (`dnslists =`)"
    detail: str = ""  # where and how: "acl acl_check_rcpt: zen.spamhaus.org"
    source: Source | None = None


#: The features an old MTA's parser may report (``MtaFeature.name``).
FEATURES = ("content-scanning", "spam-scanning", "verify-callout", "ratelimit", "dnsbl",
            "dkim-signing", "header-rewrite", "address-rewrite", "user-filters",
            "authenticators", "queryprogram", "router-condition")


@dataclass
class EximPart:
    """Exim's own part of the ``Mta`` (``Mta.detail`` when ``kind`` is "exim"): what only its
    plugin's two halves read (parsers/exim_model.py, emitters/old_mta.py)."""

    routers: list[Router] = field(default_factory=list)
    transports: list[Transport] = field(default_factory=list)
    named_lists: list[NamedList] = field(default_factory=list)
    lookups: list[Lookup] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)  # main options; hidden ones masked
    #: each ACL by its name, where it begins: the file and line of its ``name:`` line (the
    #: freeze goes right after the RCPT ACL's, in that one file)
    acls: dict[str, Source] = field(default_factory=dict)

    @classmethod
    def of(cls, mta: Mta) -> EximPart:
        """``mta``'s Exim part (an empty one for an MTA that has none)."""
        return mta.detail if isinstance(mta.detail, cls) else cls()


@dataclass
class Mta:
    """The old host's MTA. Every MTA's plugin (migrate/core/mta.py) fills these fields; what only
    one MTA has is its ``detail``, a dataclass its plugin registers (Exim: ``EximPart``). The
    codec writes the detail's fields inline, after the common ones, and reads them back by
    ``kind``."""

    kind: str | None = None  # its plugin's kind (migrate/core/mta.py): "exim"
    version: str | None = None
    config_files: list[ConfigFile] = field(default_factory=list)
    domains: list[Domain] = field(default_factory=list)
    aliases: list[Alias] = field(default_factory=list)
    smarthost: Smarthost | None = None
    tls: TlsFiles | None = None
    listeners: list[Listener] = field(default_factory=list)
    list_routes: list[ListRoute] = field(default_factory=list)
    refused: list[RefusedAddress] = field(default_factory=list)
    #: every other address of its domains that it accepted (aliases, users, catch-alls)
    accepted: list[AcceptedAddress] = field(default_factory=list)
    primary_hostname: str | None = None
    qualify_domain: str | None = None
    features: list[MtaFeature] = field(default_factory=list)
    detail: Any = None

    def domains_by_role(self, role: DomainRole) -> list[str]:
        return [d.name for d in self.domains if d.role == role]


# --- Mailman ----------------------------------------------------------------------------------


@dataclass
class VirtualHost:
    url_host: str
    email_host: str
    source: Source | None = None


@dataclass
class MailmanSettings:
    """Site settings from ``mm_cfg.py`` (read as literals, never executed)."""

    default_url_host: str | None = None
    default_email_host: str | None = None
    virtual_hosts: list[VirtualHost] = field(default_factory=list)
    mta: str | None = None
    postfix_style_virtual_domains: list[str] = field(default_factory=list)
    public_archive_url: str | None = None
    default_url_pattern: str | None = None
    image_logos: str | None = None
    site_list: str | None = None
    server_language: str | None = None
    other: dict[str, str] = field(default_factory=dict)  # other literal settings, repr'd
    sources: dict[str, Source] = field(default_factory=dict)  # setting name -> where it is set


#: Mailman 2's own URL prefixes of its pages (Defaults.py: DEFAULT_URL_PATTERN
#: ``http://%s/mailman/``, IMAGE_LOGOS ``/icons/``, PUBLIC_ARCHIVE_URL
#: ``http://%(hostname)s/pipermail/%(listname)s``), where nothing on the host says otherwise.
MAILMAN_CGI_PREFIX = "/mailman/"
MAILMAN_ICONS_PREFIX = "/icons/"
MAILMAN_ARCHIVE_PREFIX = "/pipermail/"


#: The longest URL prefix taken: longer than any a person types (web servers' locations have
#: limits too).
MAX_URL_PREFIX = 200
#: A plain absolute URL path of folders: segments of letters, digits and ``._~+-``, each ending
#: in ``/``. Not every character a URL path may hold: ``%`` would be an escape or an unfilled
#: placeholder, and ``*``, ``$``, quotes or parentheses mean something to web servers' and
#: shells' syntax that a folder of Mailman's pages never needs.
_PLAIN_PREFIX = _re.compile(r"/(?:[A-Za-z0-9._~+-]+/)*")


def plain_url_prefix(path: str) -> bool:
    """Whether ``path`` is a URL prefix the inventory holds and a plan may write: a plain
    absolute folder path (``/cgi-bin/mailman/``), without ``.`` or ``..`` segments."""
    return len(path) <= MAX_URL_PREFIX and _PLAIN_PREFIX.fullmatch(path) is not None and \
        not any(part in (".", "..") for part in path.split("/"))


@dataclass
class UrlPrefixes:
    """Where the old host served Mailman's pages: the URL path prefix (from ``/`` to its last
    ``/``) of its CGI (``listinfo``, ``admin``, ``private``...), its logos and its public
    archives. Read from what answered (Apache's ScriptAlias and Alias), else from what Mailman
    wrote into its pages (mm_cfg.py's DEFAULT_URL_PATTERN, IMAGE_LOGOS, PUBLIC_ARCHIVE_URL),
    else Mailman's defaults."""

    cgi: str = MAILMAN_CGI_PREFIX
    icons: str = MAILMAN_ICONS_PREFIX
    archive: str = MAILMAN_ARCHIVE_PREFIX
    #: "cgi", "icons", "archive" -> the line it was read from (absent: Mailman's default)
    sources: dict[str, Source] = field(default_factory=dict)
    #: other prefixes the old host gave out for the same pages, by kind ("cgi": mm_cfg.py's
    #: DEFAULT_URL_PATTERN where Apache served the CGI at another one): old links to them must
    #: keep answering too
    also: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Mailman:
    version: str | None = None
    layout: str | None = None  # "freebsd-port", "debian", "rpm", "source"
    prefix: str | None = None  # code: /usr/local/mailman on FreeBSD
    var_prefix: str | None = None  # data: lists/, archives/, data/, qfiles/
    config_file: str | None = None  # mm_cfg.py
    settings: MailmanSettings | None = None
    wrapper: str | None = None  # the mail wrapper the MTA pipes into
    user: str | None = None
    group: str | None = None
    queues: dict[str, int] = field(default_factory=dict)  # qfiles/NAME -> entries
    # data/adm.pw and data/creator.pw where present: owner, mode, size and the checksum of the
    # hash they hold (never the content)
    site_files: list[FileMode] = field(default_factory=list)
    #: the URL prefixes of its pages on the old host
    urls: UrlPrefixes = field(default_factory=UrlPrefixes)
    #: every symlink inside the folders that move (lists/, archives/private/, data/, qfiles/)
    links: list[Link] = field(default_factory=list)
    source: Source | None = None

    @property
    def site_list(self) -> str:
        """The site list's name: mm_cfg.py's MAILMAN_SITE_LIST, else Defaults.py's ``mailman``."""
        return (self.settings.site_list if self.settings else None) or "mailman"


@dataclass
class Link:
    """A symlink inside one of Mailman's folders that move (``parsers/links.py``).

    ``folder`` is the folder whose bounds it must keep: the one the sync copies as a whole
    (``lists/NAME``, ``archives/private/NAME``, ``archives/private/NAME.mbox``; ``data``,
    ``qfiles``), or, for a link that is such a folder itself, the folder holding it
    (``lists``). ``inside``: following it on the new host, through any other link of the
    folder on the way, never leaves the folder; a link that is not inside is never carried.
    """

    path: str  # the link, as the sync names it (under the var prefix as named)
    target: str  # as stored
    folder: str
    inside: bool


@dataclass
class FileMode:
    path: str
    owner: str
    group: str
    mode: str  # octal, e.g. "0664"
    size: int | None = None  # regular files
    sha256: str | None = None  # regular files the inspection read whole


@dataclass
class Members:
    regular_count: Count = 0
    digest_count: Count = 0
    regular: list[str] = field(default_factory=list)
    digest: list[str] = field(default_factory=list)
    delivery_status: dict[str, Count] = field(default_factory=dict)  # "enabled", "by_bounce", ...


@dataclass
class ListFeatures:
    """What a list uses of Mailman 2's features that another list manager may not carry,
    counted from its config.pck (the values themselves stay out: passwords never enter the
    model)."""

    member_passwords: Count = 0  # members who have a list password
    moderated_members: Count = 0  # members whose posts are moderated (user_options bit 128)
    bounce_scores: Count = 0  # members with a bounce score (bounce_info)
    topics: int = 0  # topics defined
    topics_enabled: bool = False
    umbrella_list: bool = False
    header_filter_rules: int = 0
    #: the charset its text and members' names are really in: its language's where all of
    #: it decodes so, else UTF-8 where all of it does, else Latin-1
    charset: str | None = None


@dataclass
class MailingList:
    name: str
    real_name: str | None = None
    host_name: str | None = None
    web_page_url: str | None = None
    description: str | None = None
    preferred_language: str | None = None
    owners: list[str] = field(default_factory=list)
    moderators: list[str] = field(default_factory=list)
    members: Members = field(default_factory=Members)
    archive: bool | None = None
    archive_private: bool | None = None
    archive_volume_frequency: int | None = None
    subscribe_policy: int | None = None
    advertised: bool | None = None
    data_version: int | None = None
    created_at: Moment | None = None
    last_post_at: Moment | None = None
    next_post_number: int | None = None
    pending_count: Count = 0
    held_count: Count = 0
    #: of ``held_count``: posts held for a moderator, and subscriptions waiting for one
    held_posts: Count = 0
    held_subscriptions: Count = 0
    features: ListFeatures = field(default_factory=ListFeatures)
    files: list[FileMode] = field(default_factory=list)  # lists/NAME/ and its files
    held_files: list[FileMode] = field(default_factory=list)  # data/heldmsg-NAME-N.pck|txt
    source: Source | None = None


# --- archives ---------------------------------------------------------------------------------


@dataclass
class ArchiveMonth:
    """Posts in the mbox filed under one calendar month."""

    month: Month
    messages: Count = 0


@dataclass
class ArchiveVolume:
    """One pipermail volume (a folder of the HTML archive) and the mbox posts that belong in it.

    Volume names follow the list's ``archive_volume_frequency``: ``2007`` (yearly),
    ``2007-March`` (monthly, the default), ``2007q1`` (quarterly), ``Week-of-Mon-20070305``
    (weekly), ``20070305`` (daily).
    """

    name: str
    messages: Count = 0  # mbox posts that pipermail files under this volume
    html: bool = False  # the volume folder exists
    html_articles: Count = 0  # NNNNNN.html files in it
    txt: bool = False  # NAME.txt beside it
    txt_gz: bool = False  # NAME.txt.gz beside it


@dataclass
class Archive:
    """A list's pipermail archive: the mbox (the source of truth) and the HTML built from it."""

    list_name: str
    public: bool | None = None  # from the list's archive_private
    volume_frequency: int | None = None  # 0 yearly, 1 monthly, 2 quarterly, 3 weekly, 4 daily
    mbox_path: str | None = None
    bytes: Count = 0
    sha256: str | None = None
    messages: Count = 0  # posts: full Unix-from lines at a post boundary (see parsers/pipermail)
    first_date: Moment | None = None
    last_date: Moment | None = None
    undated: Count = 0
    implausible_dates: Count = 0
    missing_date_header: Count = 0
    bad_date_header: Count = 0  # a Date: header no parser understood (another date was used)
    embedded_separators: Count = 0  # body lines Mailman's archiver would have split on
    loose_from_lines: Count = 0  # other unescaped body lines starting "From "
    months: list[ArchiveMonth] = field(default_factory=list)
    html_dir: str | None = None
    volumes: list[ArchiveVolume] = field(default_factory=list)  # mbox and HTML, by volume
    html_articles: Count = 0
    public_link: str | None = None
    public_link_target: str | None = None  # as stored: usually absolute into the old prefix
    public_mbox_link_target: str | None = None  # archives/public/NAME.mbox (PUBLIC_MBOX)
    files: list[FileMode] = field(default_factory=list)
    source: Source | None = None


# --- web --------------------------------------------------------------------------------------


class WebAliasKind(StrEnum):
    """The old web server's directive behind a ``WebAlias`` (Apache's names)."""

    SCRIPT_ALIAS = "script_alias"  # ScriptAlias URL-path folder
    ALIAS = "alias"  # Alias URL-path folder
    REDIRECT = "redirect"  # Redirect, RedirectPermanent, RedirectTemp: a path and all below it
    REDIRECT_MATCH = "redirect_match"  # RedirectMatch: a regular expression on the path
    REWRITE_RULE = "rewrite_rule"  # mod_rewrite's RewriteRule

    @property
    def redirects(self) -> bool:
        """A redirect or rewrite (rather than a mapping of a URL path to a folder)."""
        return self in (WebAliasKind.REDIRECT, WebAliasKind.REDIRECT_MATCH,
                        WebAliasKind.REWRITE_RULE)


@dataclass
class WebAlias:
    """A URL mapping of the web server that concerns Mailman's pages or archives.

    Its virtual host (and so the scheme and names it answered on) is the ``WebVirtualHost``
    whose ``aliases`` hold it; the main server's redirects are ``Web.redirects``.
    """

    kind: WebAliasKind
    url_path: str  # the URL path or, for redirect_match and rewrite_rule, the pattern
    target: str  # the folder, URL or substitution ("" for a Redirect gone; "-" for none)
    status: str | None = None  # a redirect's status ("permanent", "301") or a rule's flags
    line: str | None = None  # the directive as written (redirects and rewrites are kept so)
    source: Source | None = None
    #: the HTTP status it answers with (a Redirect's 302 by default, "permanent" 301, a rule's
    #: R=301, F 403, G 410); None: a folder mapping, an internal rewrite, or a status that is
    #: not an HTTP code
    code: int | None = None
    flags: list[str] = field(default_factory=list)  # a RewriteRule's flags, lower case: "r=301"
    conditions: list[str] = field(default_factory=list)  # RewriteCond lines before a rule
    #: the section it is in below its server or virtual host, as written ("<Directory /x>");
    #: None: at server level (a Redirect inside ``<Location /p>`` is read as ``Redirect /p``)
    section: str | None = None
    enabled: bool = True  # False: a RewriteRule where RewriteEngine is not on (Apache ignores it)


@dataclass
class WebDirectory:
    """A ``<Directory>`` block over Mailman's folders: the options that matter after a move
    (FollowSymLinks: the public archive is a tree of symlinks; ExecCGI for the wrappers)."""

    path: str
    options: list[str] = field(default_factory=list)  # as written: "FollowSymLinks", "+ExecCGI"
    source: Source | None = None


@dataclass
class WebVirtualHost:
    server_name: str | None = None
    server_aliases: list[str] = field(default_factory=list)
    listen: list[str] = field(default_factory=list)  # "*:80", "[2001:db8::1]:443"
    tls: bool = False
    certificate: str | None = None
    private_key: str | None = None
    certificate_chain: str | None = None
    aliases: list[WebAlias] = field(default_factory=list)
    source: Source | None = None
    #: its Alias and ScriptAlias lines that are not Mailman's: other content the old web server
    #: served under this virtual host's names (a page the new host may not answer)
    other_aliases: list[WebAlias] = field(default_factory=list)


@dataclass
class Web:
    kind: str | None = None  # "apache"
    version: str | None = None  # "2.4", "2.2"
    config_files: list[ConfigFile] = field(default_factory=list)
    server_root: str | None = None
    server_name: str | None = None  # the main server's ServerName, without a port
    listen: list[str] = field(default_factory=list)  # the Listen directives, as written
    script_alias: WebAlias | None = None  # /mailman/
    pipermail_alias: WebAlias | None = None  # /pipermail/
    icons_alias: WebAlias | None = None  # /icons/
    directories: list[WebDirectory] = field(default_factory=list)
    redirects: list[WebAlias] = field(default_factory=list)  # main server's, on Mailman URLs
    virtual_hosts: list[WebVirtualHost] = field(default_factory=list)
    #: the main server's Alias and ScriptAlias lines that are not Mailman's (every virtual host
    #: inherits them: Apache's own /icons/ and /cgi-bin/, or other content)
    other_aliases: list[WebAlias] = field(default_factory=list)


# --- housekeeping -----------------------------------------------------------------------------


@dataclass
class CronJob:
    schedule: str  # the five fields or an @keyword, verbatim
    user: str
    command: str
    script: str | None = None  # the Mailman cron script it runs ("senddigests"), if one
    source: Source | None = None


@dataclass
class LogRotation:
    path: str  # the log file name or glob
    line: str  # the newsyslog.conf entry, verbatim
    owner: str | None = None  # "mailman:mailman"
    mode: str | None = None  # "664"
    count: int | None = None
    size: str | None = None  # kilobytes or "*"
    when: str | None = None  # "*", "@T00", "$W0D23", hours
    flags: str | None = None  # "GJC"
    pid_file: str | None = None  # the process told to reopen the log (with R: a command)
    source: Source | None = None


@dataclass
class Housekeeping:
    config_files: list[ConfigFile] = field(default_factory=list)  # crontabs, newsyslog.conf
    cron_jobs: list[CronJob] = field(default_factory=list)  # Mailman's, from every crontab
    log_rotation: list[LogRotation] = field(default_factory=list)  # entries for Mailman's logs


# --- the inventory ----------------------------------------------------------------------------


@dataclass
class Inventory:
    schema_version: int
    tool_version: str
    collected_at: Moment
    source: Origin
    host: Host = field(default_factory=Host)
    mta: Mta = field(default_factory=Mta)
    mailman: Mailman | None = None
    lists: list[MailingList] = field(default_factory=list)
    archives: list[Archive] = field(default_factory=list)
    web: Web | None = None
    housekeeping: Housekeeping = field(default_factory=Housekeeping)
    findings: list[Finding] = field(default_factory=list)

    def worst_severity(self) -> Severity | None:
        return max((f.severity for f in self.findings), key=lambda s: s.rank, default=None)


# --- target settings (the input of `migrate plan`, beside the inventory) ----------------------


class UrlPrefixMode(StrEnum):
    """Where the new host serves Mailman's pages."""

    KEEP = "keep"  # at the old host's prefixes (``Mailman.urls``): every old link stays the same
    PACKAGE = "package"  # at the OpenBSD package's; the old prefixes answer 301 to the new ones


class TlsMode(StrEnum):
    """HTTPS for the new host's web pages."""

    ACME = "acme"  # acme-client gets the certificate, httpd serves HTTPS, HTTP redirects to it
    NONE = "none"  # HTTP only


@dataclass
class Target:
    """The new host, as the operator describes it (``--target target.yaml`` and flags).

    ``migrate plan`` fills the defaults from the inventory before any emitter runs, so an
    emitter sees every field set (or deliberately empty) and never guesses.
    """

    hostname: str  # the new host's name, e.g. "lists.example.org"
    openbsd: str  # release, e.g. "7.8"
    ipv6: list[str] = field(default_factory=list)  # the new host's addresses
    ipv4: list[str] = field(default_factory=list)  # optional: the new host is often IPv6-only
    smarthost: str | None = None  # relay for outbound mail ("host" or "host:port")
    email_domains: list[str] = field(default_factory=list)  # mail domains that move
    web_host: str | None = None  # the host name Mailman's web pages and archives are served as
    front_door: bool = True  # the old host's IPv4 keeps forwarding mail and web to the new host
    old_ipv4: list[str] = field(default_factory=list)  # the front door's addresses (from rc.conf)
    dns_ttl: int = 300  # seconds, while moving
    normal_ttl: int = 86400  # seconds, restored after the move
    tls_certificate: str | None = None  # on the new host; default /etc/ssl/HOST.fullchain.pem
    tls_key: str | None = None  # on the new host; default /etc/ssl/private/HOST.key
    # Default: acme when the old web server served HTTPS for the lists; None only until
    # ``migrate.app.planning.resolve_target`` has filled it in.
    tls: TlsMode | None = None
    # the list manager on the new host, by its kind (emitters/destination.py registers them)
    destination: str = "mailman2"
    # The moved domains' addresses that are not lists' (aliases, people's mailboxes, forwards):
    # True, the old host keeps running as the site's mail server and the new host hands them
    # back to it; False, the old host goes away and the new host carries those it can (aliases
    # to other hosts' addresses), every other one a blocker unless named in drop_addresses.
    old_host_stays: bool = True
    # where the new host hands them back: an address of the old host (default: its first
    # IPv6 address when the new host has IPv6, else the front door's IPv4 address)
    old_host_address: str | None = None
    # addresses of the moved domains ("webmaster@lists.example.org") that may stop working
    # after the move: refused on the new host, said in the report, no blocker
    drop_addresses: list[str] = field(default_factory=list)
    # where the new host serves Mailman's CGI, logos and public archives: at the old host's
    # URL prefixes (keep), or at the OpenBSD package's with the old ones redirected (package)
    url_prefixes: UrlPrefixMode = UrlPrefixMode.KEEP
    # a second pre-sync right after the first, before the freeze: what changed while the first
    # one copied a big host then moves outside the freeze window. Default: on when the
    # archives hold SECOND_PRESYNC_FROM bytes or more; None only until ``resolve_target``.
    second_presync: bool | None = None
