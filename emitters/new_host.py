"""The new host, computed once: after the guard, before the emitters (``migrate.app.planning``).

What several writers of the plan must agree on is worked out here, once, from the screened
inventory and target, into one value (``NewHost``):

* the address table: every old address on a moved domain that reached a list, with its
  delivery on the new host (a pipe into the list manager), and the entries the aliases and the
  virtual table hold for the moved domains (``aliases.py`` and ``virtual_table.py`` write them;
  ``parity.py`` checks every old address against them);
* the web locations: the web names that move, HTTPS, the list manager's locations (CGI, icons,
  archives) and what httpd.conf does with each old redirect (``httpd_redirects.py``).

smtpd.conf, the aliases, the virtual table, httpd.conf, parity.md, web-parity.md and the report
read this value; none works the routing out again. What belongs to the list manager (Mailman 2
today: a list's ten addresses and its wrapper pipe; its CGI, icons and archive folders) is the
target's destination's (``destination.py``), asked in one function each, ``list_deliveries``
and ``list_locations``; the value holds the destination for the writers that need more of it.

Mail for every moved domain that is not a virtual one is matched against one aliases table by
local part, so a name means the same on each of them: Mailman 2 list names are unique on a
host, and Exim's Mailman router accepted every list on every list domain too. A moved domain
that was a virtual domain on the old host (per-domain alias files) keeps exactly its own
addresses in the virtual table, each list address mapped to ``NAME@localhost`` (expanded
through the aliases into the pipe).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from migrate.core.model import (AcceptedAddress, AcceptedKind,
                                DomainRole, Finding, Inventory, RecipientKind,
                                ListRoute, MailingList, Severity, Source, Target, TlsMode,
                                UrlPrefixes, UrlPrefixMode, plain_url_prefix)
from migrate.core.text import visible

from emitters.common import (ALIASES_FILE, DISCARD, SLOWCGI_SOCKET, VIRTUAL_FILE, is_address,
                             is_domain, is_local_part, is_path, list_names, other_targets,
                             overlay_hint, route_action, route_alias)
from emitters.destination import Destination, destination
from emitters.guard import refuse
from emitters.httpd_redirects import Carried, Location, plan_redirects
from emitters.release import Release



# --- the address table ----------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One address of a list on the new host: the list manager's own local part for the list
    and command, and what the aliases file delivers it to (``pipe``: Mailman 2's wrapper pipe,
    written unquoted, or Mailman 3's address of the list, which smtpd delivers over LMTP)."""

    local: str  # "announce-request"
    list_name: str
    action: str  # the list manager's command: "request"
    pipe: str


def list_deliveries(dest: Destination, list_name: str) -> tuple[Delivery, ...]:
    """The addresses a list has on the new host and the delivery of each, as the destination
    gives them (Mailman 2: its ten, each a pipe into the package's mail wrapper). The one place
    the address table asks the list manager."""
    return tuple(Delivery(local, list_name, action, dest.delivery(list_name, action))
                 for local, action in dest.addresses(list_name))


@dataclass(frozen=True)
class OldAddress:
    """An old address on a moved domain that reached a list (under the list manager's own
    name for it or another), and its delivery on the new host."""

    route: ListRoute
    delivery: Delivery
    extras: tuple[str, ...] = ()  # its other targets that the new host takes (addresses)
    problems: tuple[str, ...] = ()  # and what of them cannot be carried

    @property
    def own(self) -> bool:
        """The list manager's own name for its list and command."""
        return self.delivery.local.lower() == self.route.address.lower()


@dataclass
class AddressTable:
    """Old addresses -> deliveries on the new host."""

    #: every list whose name can be written, sorted: its own addresses
    lists: dict[str, tuple[Delivery, ...]] = field(default_factory=dict)
    #: every old address on a moved domain that reached such a list with a known command
    old: list[OldAddress] = field(default_factory=list)
    #: the moved domains that were virtual domains on the old host (the virtual table)
    virtual_domains: list[str] = field(default_factory=list)
    #: blockers for the lists whose names cannot be written (left out)
    refused: list[Finding] = field(default_factory=list)

    def delivery(self, list_name: str, action: str) -> Delivery | None:
        """How the new host delivers a command of a list (None: the list is left out)."""
        return next((d for d in self.lists.get(list_name, ()) if d.action == action), None)

    def hosted(self, inv: Inventory, domain: str) -> list[str]:
        """The lists a domain hosts: those reached there under their own names, and those
        whose host_name it is. A list reached on the domain only under other names
        (``talks:`` piping into ``seminar``) is not hosted there: its own addresses stay
        refused."""
        found = {o.route.list_name for o in self.old if o.route.domain == domain and o.own}
        found |= {ml.name for ml in inv.lists if ml.host_name == domain}
        return sorted(found & set(self.lists))


def virtual_domains(inv: Inventory, target: Target) -> list[str]:
    """Moved domains that were served from per-domain alias files on the old host."""
    old = set(inv.mta.domains_by_role(DomainRole.VIRTUAL))
    return [d for d in target.email_domains if d in old and is_domain(d)]


def address_table(inv: Inventory, target: Target, dest: Destination) -> AddressTable:
    """The lists that move with their own addresses, and every old address on a moved domain
    that reached one of them, each with its delivery on the new host."""
    names, refused = list_names(inv)
    out = AddressTable(lists={name: list_deliveries(dest, name) for name in names},
                       virtual_domains=virtual_domains(inv, target), refused=refused)
    moved = set(target.email_domains)
    for route in inv.mta.list_routes:
        action = route_action(route)
        delivery = out.delivery(route.list_name, action) if action else None
        if route.domain not in moved or delivery is None:
            continue  # an unknown command or an unsafe list: the inventory reports both
        old = OldAddress(route, delivery)
        if not old.own:
            extras, problems = other_targets(route_alias(inv, route))
            old = OldAddress(route, delivery, tuple(extras), tuple(problems))
        out.old.append(old)
    return out


# --- the other addresses of the moved domains ------------------------------------------------


class Handling(StrEnum):
    """What the new host does with an address of a moved domain that the old host accepted
    and that is not a list's."""

    HAND_BACK = "handed back"  # relayed to the old host, which delivers it as it always did
    CARRIED = "carried"  # delivered by the new host to the same recipients
    REFUSED = "refused"  # the old host delivered it nowhere (each recipient failed): neither
    DROPPED = "dropped"  # refused by the new host, as the target settings say (drop_addresses)
    LOST = "lost"  # refused by the new host although the old host delivered it: a blocker


@dataclass(frozen=True)
class Other:
    """An accepted non-list address of a moved domain and its handling on the new host."""

    accepted: AcceptedAddress
    handling: Handling
    value: str = ""  # carried: what its aliases or virtual entry holds
    problem: str = ""  # lost: why it can be neither handed back nor carried

    @property
    def address(self) -> str:
        return f"{self.accepted.address}@{self.accepted.domain}"


@dataclass
class HandBack:
    """The moved domains' other addresses that the new host relays to the old host (while the
    old host stays the site's mail server, ``Target.old_host_stays``)."""

    host: str | None  # the old host's address they are relayed to (None: none known)
    addresses: list[str] = field(default_factory=list)  # "security@lists.example.org", sorted
    #: moved domains where the old host took every local part it names nowhere else (a
    #: catch-all): all but their list addresses (``lists``) go back
    domains: list[str] = field(default_factory=list)
    #: the addresses of those domains the new host answers itself: their lists' and refusals
    lists: list[str] = field(default_factory=list)

    @property
    def relay(self) -> str | None:
        """smtpd.conf's relay URL for the old host (an address, so no MX is asked: the
        moved domains' MX is the new host itself)."""
        if self.host is None:
            return None
        return f"smtp://[{self.host}]" if ":" in self.host else f"smtp://{self.host}"

    def __bool__(self) -> bool:
        return bool(self.addresses or self.domains)


def handback_host(inv: Inventory, target: Target) -> str | None:
    """Where the new host hands mail back to the old host: the target's ``old_host_address``,
    else the old host's first global IPv6 address when the new host has IPv6, else the IPv4
    front door's address when the new host has IPv4."""
    if target.old_host_address:
        return target.old_host_address
    if target.ipv6:
        for a in inv.host.addresses_v6:
            try:
                ip = ipaddress.IPv6Address(a.address)
            except ValueError:
                continue
            if not (ip.is_link_local or ip.is_loopback or ip.is_multicast or ip.is_unspecified):
                return a.address
    if target.ipv4 and target.old_ipv4:
        return target.old_ipv4[0]
    return None


def _carried_value(accepted: AcceptedAddress) -> tuple[str, str]:
    """(what the new host's table writes for an accepted address, why it cannot be carried):
    only addresses of other hosts can be written; a mailbox, pipe or file stays on the old
    host."""
    values, problems = [], []
    for r in accepted.recipients:
        if r.kind == RecipientKind.ADDRESS and is_address(r.value):
            values.append(r.value)
        elif r.kind in (RecipientKind.DISCARD, RecipientKind.FAIL):
            continue  # nothing reached: the same on the new host
        else:
            where = {RecipientKind.MAILBOX: "the mailbox of", RecipientKind.PIPE: "the command",
                     RecipientKind.FILE: "the file"}.get(r.kind, str(r.kind))
            problems.append(f"{where} {r.value} on the old host")
    if problems:
        return "", "it delivered to " + ", ".join(problems)
    if not values:
        return "", "it delivered to nothing the new host can write"
    return ", ".join(dict.fromkeys(values)), ""


def other_addresses(inv: Inventory, target: Target) -> tuple[list[Other], HandBack,
                                                              list[Finding]]:
    """Every accepted non-list address of a moved domain with its handling: handed back while
    the old host stays, else carried where the new host can deliver it to the same recipients,
    else dropped as the target says, else lost (a blocker naming it)."""
    moved = set(target.email_domains)
    drop = {a.lower() for a in target.drop_addresses}
    host = handback_host(inv, target) if target.old_host_stays else None
    back = HandBack(host)
    out: list[Other] = []
    findings: list[Finding] = []
    for acc in sorted(inv.mta.accepted, key=lambda a: (a.domain, a.address != "*", a.address)):
        if acc.domain not in moved:
            continue
        full = f"{acc.address}@{acc.domain}"
        catch_all = acc.address == "*" or acc.kind == AcceptedKind.CATCH_ALL
        writable = catch_all or (is_local_part(acc.address) and is_domain(acc.domain))
        if not writable:
            findings.append(refuse("accepted address", full, "smtpd.conf", acc.source))
            continue
        if acc.recipients and all(r.kind == RecipientKind.FAIL for r in acc.recipients):
            other = Other(acc, Handling.REFUSED)  # refused at RCPT (verify = recipient)
        elif target.old_host_stays and host is not None:
            other = Other(acc, Handling.HAND_BACK)
            if catch_all:
                back.domains.append(acc.domain)
            else:
                back.addresses.append(full.lower())
        else:
            value, problem = _carried_value(acc)
            if target.old_host_stays:
                problem = ("the old host has no address the new host can reach (give "
                           "old_host_address in target.yaml)")
            if not problem:
                other = Other(acc, Handling.CARRIED, value)
            elif full.lower() in drop:
                other = Other(acc, Handling.DROPPED, problem=problem)
            else:
                other = Other(acc, Handling.LOST, problem=problem)
        out.append(other)
    back.addresses = sorted(set(back.addresses))
    return out, back, findings


@dataclass(frozen=True)
class Refusal:
    """A named address of a moved domain that the old host refused (:fail:) or deferred
    (:defer:) on purpose, and the reply the new host's filter gives it at RCPT time."""

    address: str  # "newsletter@lists.example.org", lower case
    outcome: str  # "rejected" or "deferred"
    reply: str  # "550 5.1.1 TEXT" or "451 4.3.0 TEXT"
    text_kept: bool  # the old host's own text (not a stand-in for one it lacked or unsafe)


#: The reply text of a refusal the old host gave no text (or one no filter can carry).
_REPLIES = {"rejected": ("550 5.1.1", "Recipient refused"),
            "deferred": ("451 4.3.0", "Please try again later")}
_REPLY_TEXT = re.compile(r"[ -!#%-\[\]-~]{1,200}\Z")  # printable ASCII but " $ \


def refusals(inv: Inventory, target: Target, release: Release) -> list[Refusal]:
    """The refusals smtpd's filters answer with the old host's code class and text (6.6 and
    later; before, a refused address has no entry, so smtpd refuses it with its own 550, and
    a deferred one is refused for good: parity.md says so)."""
    if not release.smtpd_filters:
        return []
    moved = set(target.email_domains)
    out: dict[str, Refusal] = {}
    for r in inv.mta.refused:
        if r.domain not in moved or r.outcome not in _REPLIES or r.address == "*" \
                or not is_local_part(r.address) or not is_domain(r.domain):
            continue
        code, default = _REPLIES[r.outcome]
        text = " ".join((r.message or "").split())
        kept = bool(_REPLY_TEXT.match(text))
        address = f"{r.address}@{r.domain}".lower()
        out.setdefault(address, Refusal(address, r.outcome, f"{code} {text if kept else default}",
                                        kept))
    return sorted(out.values(), key=lambda r: r.address)


# --- the aliases table (for the moved domains that are not virtual ones) ---------------------


@dataclass
class AliasTable:
    """The new host's aliases: name -> value in the order written, the sections, findings."""

    entries: dict[str, str] = field(default_factory=dict)
    sections: list[tuple[str, list[str]]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    system: list[str] = field(default_factory=list)  # the new host's own system aliases


def admin_address(inv: Inventory) -> str | None:
    """Where root's mail goes on the new host: the site list's first owner."""
    site = inv.mailman.site_list if inv.mailman else None
    for ml in inv.lists:
        if ml.name == site and ml.owners and is_address(ml.owners[0]):
            return ml.owners[0]
    return None


def alias_line(name: str, value: str) -> str:
    return f"{name + ':':<28}{value}"


def alias_table(inv: Inventory, target: Target, addresses: AddressTable,
                vtable: VirtualTable, others: list[Other], dest: Destination) -> AliasTable:
    """What the new host's aliases file holds: the system aliases, each list's own addresses,
    the old names of lists, the addresses the old host dropped, the moved domains' other
    aliases. A non-list alias of a moved domain whose name is already taken by a different
    definition is left out with a finding."""
    out = AliasTable(findings=list(addresses.refused))
    entries = out.entries
    sections = out.sections

    admin = admin_address(inv)
    system = [("MAILER-DAEMON", "postmaster"), ("postmaster", "root"), ("abuse", "root"),
              ("hostmaster", "root"), ("webmaster", "root")]
    if admin:
        system.append(("root", admin))
    else:
        out.findings.append(Finding(
            "plan.no-admin-address", Severity.WARNING,
            "no address for root's mail on the new host (the site list has no owner with a "
            "full address)",
            f"Add `root: you@example.org` {overlay_hint(ALIASES_FILE)} before the move; bounces "
            "and cron mail go there.", None))
    moved = set(target.email_domains) - set(addresses.virtual_domains)
    # the old host's other addresses of the moved domains that share this table, carried where
    # the old host does not stay (handed back otherwise: smtpd.conf relays them to it); a
    # system alias the new host would have is the old host's where both name it
    carried = [o for o in others if o.handling == Handling.CARRIED
               and o.accepted.domain in moved and o.accepted.address != "*"]
    kept = {o.accepted.address for o in carried}
    system = [(n, v) for n, v in system if n not in kept]
    sections.append(("System aliases (root's mail goes to the site list's owner)",
                     [alias_line(n, v) for n, v in system]))
    entries.update(system)
    out.system = [n for n, _ in system]

    for name, deliveries in addresses.lists.items():
        lines = []
        for d in deliveries:
            if d.local in entries:
                out.findings.append(Finding(
                    "plan.alias-collision", Severity.ERROR,
                    f"the list address {d.local} is also a system alias on the new host",
                    "Rename the list or drop the system alias from the emitted file.", None))
                continue
            entries[d.local] = dest.alias_value(d.pipe)
            lines.append(alias_line(d.local, entries[d.local]))
        sections.append((f"Mailman list {name}", lines))

    sections.append(("Old addresses of the lists under other names (as the old host had them)",
                     _other_names(addresses, moved, out, dest)))
    dropped = _dropped(inv, moved, out)
    if any(value == f"{DISCARD}@localhost" for rows in vtable.domains.values()
           for _, value, _ in rows) and _claim(out, DISCARD, "/dev/null", DISCARD, None):
        dropped.append(alias_line(DISCARD, "/dev/null"))
    sections.append(("Addresses the old host dropped on purpose (:blackhole:)", dropped))

    lines = [alias_line(o.accepted.address, o.value) for o in carried
             if _claim(out, o.accepted.address, o.value, o.address, o.accepted.source)]
    if lines:
        sections.append(("Carried over from the old host's other addresses of the moved domains",
                         lines))
    return out


def _claim(out: AliasTable, name: str, value: str, what: str, source) -> bool:
    """Take ``name`` for ``value``; a name already meaning something else is a finding."""
    have = out.entries.get(name)
    if have is None:
        out.entries[name] = value
        return True
    if have != value:
        out.findings.append(Finding(
            "plan.alias-collision", Severity.WARNING,
            f"{what} ({value}) is left out: {name} already means {have} on the new host, "
            "where one aliases table serves every moved domain",
            "Check that the existing meaning is right for this domain too, or give the "
            "domain its own address.", source))
    return False


def _other_names(addresses: AddressTable, moved: set[str], out: AliasTable,
                 dest: Destination) -> list[str]:
    """Aliases that reached a list under a name Mailman does not give it (``club:`` piping
    into ``members``), on the moved domains that share the aliases table: a pipe into the new
    wrapper with the same command and list, plus its other address targets."""
    values: dict[str, list[str]] = {}
    sources: dict[str, Source | None] = {}
    delivers = {dest.alias_value(d.pipe) for ds in addresses.lists.values() for d in ds}
    for old in addresses.old:
        route = old.route
        if route.domain not in moved or old.own:
            continue
        name = route.address
        if name in sources and sources[name] != route.source:
            continue  # the same name from another table: the first one is carried
        if not is_local_part(name):
            out.findings.append(refuse("alias name", name, "the aliases file", route.source))
            continue
        if _carry(values, name, old, dest.alias_value(old.delivery.pipe), delivers.__contains__,
                  ("plan.alias-target", f"alias {name}", ALIASES_FILE), out.findings):
            sources[name] = route.source
    lines = []
    for name, items in values.items():
        value = ", ".join(items)
        if _claim(out, name, value, f"{name} (an old list address)", sources[name]):
            lines.append(alias_line(name, value))
    return lines


def _carry(values: dict[str, list[str]], key: str, old: OldAddress, value: str,
           delivers: Callable[[str], bool], said: tuple[str, str, str],
           findings: list[Finding]) -> bool:
    """Add ``value``, what takes ``old`` to its list in a table's own words, to the entry
    ``key`` of an old name of a list (before the entry's other targets, after the values
    ``delivers`` says take it to a list). A new entry starts with the old address's other
    targets, and ``said`` (finding id, what, the file) names each one not carried. Whether the
    entry is new."""
    new = key not in values
    if new:
        finding, what, path = said
        findings += [Finding(finding, Severity.WARNING,
                             f"{what} (list {old.route.list_name}): {problem}",
                             "The list part is carried; forward the rest to an address "
                             f"{overlay_hint(path)}.", old.route.source)
                     for problem in old.problems]
        values[key] = list(old.extras)
    if value not in values[key]:
        values[key].insert(sum(delivers(v) for v in values[key]), value)
    return new


def _dropped(inv: Inventory, moved: set[str], out: AliasTable) -> list[str]:
    lines = []
    for refusal in inv.mta.refused:
        if refusal.domain not in moved or refusal.outcome != "dropped" \
                or refusal.address == "*":
            continue
        if not is_local_part(refusal.address):
            out.findings.append(refuse("alias name", refusal.address, "the aliases file",
                                       refusal.source))
            continue
        if refusal.address not in out.entries \
                and _claim(out, refusal.address, "/dev/null", refusal.address, refusal.source):
            lines.append(alias_line(refusal.address, "/dev/null"))
    return lines


# --- the virtual table (for the moved domains that were virtual ones) -----------------------


@dataclass
class VirtualTable:
    """The new host's virtual table: per domain, (key, values, why) in the order written."""

    domains: dict[str, list[tuple[str, str, str | None]]] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)  # comment lines per domain
    findings: list[Finding] = field(default_factory=list)

    def lookup(self, address: str) -> str | None:
        """What the table maps ``local@domain`` to (the domain's catch-all included)."""
        local, _, domain = address.rpartition("@")
        entries = {key.lower(): value for key, value, _ in self.domains.get(domain, [])}
        return entries.get(address.lower()) or entries.get(f"@{domain}".lower())


def virtual_table(inv: Inventory, addresses: AddressTable, others: list[Other]) -> VirtualTable:
    """What the new host's virtual table holds: every list hosted on a virtual domain with all
    its addresses (including any the old alias file left out), the old names of lists mapped to
    the list's own address for that command (``seminar@localhost``), the dropped addresses to
    ``DISCARD@localhost``, the domain's other addresses where they are carried (a catch-all
    becomes ``@domain``)."""
    out = VirtualTable()
    for domain in addresses.virtual_domains:
        rows: list[tuple[str, str, str | None]] = []
        notes: list[str] = []
        taken: set[str] = set()

        def add(key: str, value: str, why: str | None = None) -> None:
            taken.add(key.lower())
            rows.append((key, value, why))

        for name in addresses.hosted(inv, domain):
            for d in addresses.lists[name]:
                add(f"{d.local}@{domain}", f"{d.local}@localhost")
        # old addresses that reached a list under another name, as the old file had them
        other: dict[str, list[str]] = {}
        for old in addresses.old:
            route = old.route
            if route.domain != domain or old.own:
                continue
            local = route.address
            if not (is_local_part(local) or local == "*"):
                out.findings.append(refuse("virtual address", f"{local}@{domain}",
                                           "the virtual table", route.source))
                continue
            key = f"@{domain}" if local == "*" else f"{local}@{domain}"
            if key.lower() in taken and key not in other:
                continue
            if _carry(other, key, old, f"{old.delivery.local}@localhost",
                      lambda v: v.endswith("@localhost"),
                      ("plan.virtual-alias-target", key, VIRTUAL_FILE), out.findings):
                taken.add(key.lower())
        for key, values in other.items():
            rows.append((key, ", ".join(values), "an old name of a list"))
        for refusal in inv.mta.refused:
            if refusal.domain != domain:
                continue
            key = f"@{domain}" if refusal.address == "*" else f"{refusal.address}@{domain}"
            if key.lower() in taken:
                continue
            where = f" ({refusal.source})" if refusal.source else ""
            if refusal.outcome == "dropped" and (refusal.address == "*"
                                                 or is_local_part(refusal.address)):
                # mapped to a local name whose alias is /dev/null (the aliases table)
                add(key, f"{DISCARD}@localhost", f"dropped on the old host{where}")
            elif refusal.address == "*":
                notes.append(f"# every other address: refused, as on the old host{where}")
            elif is_local_part(refusal.address):
                notes.append(f"# {key}: refused, as on the old host{where}")
        # its other addresses, carried where the old host does not stay (handed back
        # otherwise: smtpd.conf relays them to it); a catch-all becomes "@domain"
        for other in others:
            acc = other.accepted
            key = f"@{domain}" if acc.address == "*" else f"{acc.address}@{domain}"
            if other.handling == Handling.CARRIED and acc.domain == domain \
                    and key.lower() not in taken:
                add(key, other.value)
        out.domains[domain] = rows
        out.notes[domain] = notes
    return out


# --- the web locations ----------------------------------------------------------------------


@dataclass(frozen=True)
class Served:
    """A location httpd serves for the list manager: the URL prefix it answers (a folder:
    ``/mailman/``), and the folder it serves (through FastCGI, at ``fastcgi``)."""

    prefix: str
    root: str
    fastcgi: str | None = None
    #: httpd keeps the whole path (a web application's URLs: its FastCGI server sees them as
    #: they were asked for; static files below ``root`` at their whole path)
    whole_path: bool = False

    @property
    def location(self) -> str:
        """Its httpd.conf location (a glob): ``/mailman/*``."""
        return f"{self.prefix}*"

    @property
    def strip(self) -> int:
        """How many path components httpd strips before it looks in ``root``: the prefix's
        (none for ``whole_path``)."""
        return 0 if self.whole_path else self.prefix.strip("/").count("/") + 1


@dataclass(frozen=True)
class Moved:
    """An old URL prefix of the list manager's pages that the new host serves elsewhere: it
    answers every path below it with a permanent redirect to the same path below ``new``
    (``url_prefixes: package``, or a prefix mm_cfg.py or a list's web_page_url gave out that
    is not the one served)."""

    old: str  # "/cgi-bin/mailman/"
    new: Served
    kind: str  # "cgi", "icons" or "archive" (``KINDS``)
    why: str  # where the old host used it, for people: "the old host's"
    source: Source | None = None
    #: False where the release cannot redirect with the rest of the path (no location match
    #: before OpenBSD 5.8): httpd then serves the same pages at the old prefix too
    redirect: bool = True

    @property
    def served(self) -> Served:
        """The location of the old prefix where it is served rather than redirected."""
        return Served(self.old, self.new.root, self.new.fastcgi, self.new.whole_path)

    @property
    def what(self) -> str:
        """What is below it, for people: "Mailman's CGI"."""
        return f"Mailman's {KIND_WORDS[self.kind]}"

    def path(self, old_path: str) -> str:
        """Where a path below ``old`` lives now."""
        return self.new.prefix + old_path[len(self.old):]


#: The kinds of the list manager's locations, as ``UrlPrefixes`` and ``WebFolders`` name them.
KINDS = ("cgi", "icons", "archive")
KIND_WORDS = {"cgi": "CGI", "icons": "logos", "archive": "public archives"}
def is_prefix(value: str) -> bool:
    """A URL prefix the plan serves the list manager's pages at: a plain folder path
    (``plain_url_prefix``: no glob or Lua magic, no quote, ``%`` or ``$``), not the site root
    (which the plan's own root redirect and acme-client's challenges need)."""
    return value != "/" and plain_url_prefix(value)


@dataclass(frozen=True)
class ListLocations:
    """The list manager's locations on every web name: its CGI, icons and public archives,
    and the old prefixes that now redirect to them."""

    cgi: Served
    icons: Served
    archive: Served
    moved: tuple[Moved, ...] = ()
    #: where the old host served them (``Mailman.urls``)
    old: UrlPrefixes = field(default_factory=UrlPrefixes)
    #: why the list manager's own pages (the CGI prefix) are not served yet, or None
    #: (``Destination.pages_pending``): that prefix then serves an empty folder (404s)
    pending: str | None = None
    #: the list manager's other locations (``WebFolders.more``), after these
    more: tuple[Served, ...] = ()
    #: the application that answers the CGI prefix (``WebFolders.app``...), or None
    app: str | None = None
    app_pages: tuple[tuple[str, str], ...] = ()
    app_finding: str | None = None
    #: where the application sends a list's Mailman 2 page (``Destination.app_url``)
    app_url: Callable[[str, str], str | None] | None = field(default=None, compare=False)

    @property
    def served(self) -> tuple[Served, ...]:
        """Every location, one below another's prefix before it (httpd takes the first that
        matches)."""
        return tuple(sorted((self.cgi, self.icons, self.archive),
                            key=lambda s: -s.prefix.count("/"))) + self.more

    @property
    def root(self) -> Location:
        """The plan's own answer for the site root ``/``: the list overview."""
        return Location("/", False, 302, f"{self.cgi.prefix}listinfo")

    def moved_path(self, path: str) -> str | None:
        """Where an old path below a redirected prefix lives now (None: not below one)."""
        for m in self.moved:
            if m.redirect and path.startswith(m.old):
                return m.path(path)
        return None

    def serving(self, path: str) -> Served | None:
        """The location that serves ``path`` (None: none; a moved prefix redirects)."""
        both = [m.served for m in self.moved if not m.redirect]
        return next((s for s in (*self.served, *both) if path.startswith(s.prefix)), None)


def list_page_prefix(ml: MailingList | None) -> str | None:
    """The URL prefix of a list's CGI pages as the old host gave it out (its ``web_page_url``:
    ``https://lists.example.org/cgi-bin/mailman/`` gives ``/cgi-bin/mailman/``)."""
    m = re.match(r"https?://[^/]+(/.*?)/?$", (ml.web_page_url if ml else None) or "")
    return m.group(1).rstrip("/") + "/" if m else None


def list_locations(inv: Inventory, target: Target, dest: Destination, release: Release
                   ) -> tuple[ListLocations, list[Finding]]:
    """Where httpd serves the list manager's pages: the destination's CGI programs through
    slowcgi, its icons, and the public archives (Mailman 2: the package's CGI wrappers and
    icons, and pipermail's symlinks into archives/private), at the old host's URL prefixes
    (``Mailman.urls``) or, with ``url_prefixes: package``, at the destination's own, the old
    ones then redirected. The one place the web locations ask the list manager."""
    folders = dest.web
    old = inv.mailman.urls if inv.mailman else UrlPrefixes()
    keep = target.url_prefixes == UrlPrefixMode.KEEP
    findings: list[Finding] = []
    served: dict[str, Served] = {}
    for kind in KINDS:
        package = getattr(folders, f"{kind}_prefix")
        prefix = getattr(old, kind) if keep else package
        if keep and not is_prefix(prefix):
            findings.append(Finding(
                "plan.web-prefix-unsafe", Severity.BLOCKER,
                f"the old host's URL prefix of Mailman's {KIND_WORDS[kind]}, {visible(prefix)}"
                ", is not a plain folder path the plan can serve",
                f"Plan with url_prefixes: package in target.yaml (the {dest.name} package's "
                f"{package}), or correct the inventory.", old.sources.get(kind)))
            prefix = package
        app = kind == "cgi" and folders.cgi_socket is not None
        served[kind] = Served(prefix, getattr(folders, kind),
                              (folders.cgi_socket or SLOWCGI_SOCKET)
                              if kind == "cgi" and not dest.pages_pending else None,
                              whole_path=app)
    taken: dict[str, str] = {}
    for kind, s in served.items():
        if s.prefix in taken:
            findings.append(Finding(
                "plan.web-prefix-clash", Severity.BLOCKER,
                f"Mailman's {KIND_WORDS[taken[s.prefix]]} and its {KIND_WORDS[kind]} would "
                f"both be served at {s.prefix}", "Plan with url_prefixes: package in "
                "target.yaml, or give them different prefixes on the old host and inspect "
                "again.", old.sources.get(kind)))
        taken.setdefault(s.prefix, kind)
    candidates: list[tuple[str, str, str, Source | None]] = []  # (kind, prefix, why, source)
    for kind in KINDS:
        candidates.append((kind, getattr(old, kind), "the old host's", old.sources.get(kind)))
        candidates += [(kind, p, "mm_cfg.py's", inv.mailman.settings.sources.get(
            _SETTING[kind]) if inv.mailman and inv.mailman.settings else None)
            for p in old.also.get(kind, [])]
    for ml in inv.lists:
        prefix = list_page_prefix(ml)
        if prefix is not None:
            candidates.append(("cgi", prefix, f"list {ml.name}'s web_page_url", ml.source))
    moved: list[Moved] = []
    for kind, prefix, why, source in candidates:
        if prefix in taken or any(m.old == prefix for m in moved):
            continue
        if not is_prefix(prefix):
            findings.append(Finding(
                "plan.web-prefix-unsafe", Severity.WARNING,
                f"{why} URL prefix of Mailman's {KIND_WORDS[kind]}, {visible(prefix)}, is "
                "not a plain folder path: the new host does not redirect it",
                "Old links to it will not answer; tell the lists' users the new address.",
                source))
            continue
        moved.append(Moved(prefix, served[kind], kind, why, source,
                           redirect=release.httpd_location_match))
    # a prefix below another is matched before it
    moved.sort(key=lambda m: -m.old.count("/"))
    more = tuple(Served(prefix, folder, socket, whole_path=True)
                 for prefix, folder, socket in folders.more)
    olds = {prefix: (kind, source) for kind, prefix, _why, source in reversed(candidates)}
    for s in more:
        clash = [(k, None) for p, k in taken.items() if p == s.prefix]
        if s.prefix in olds:
            clash.append(olds[s.prefix])
        for kind, source in clash[:1]:
            findings.append(Finding(
                "plan.web-prefix-clash", Severity.BLOCKER,
                f"{dest.name}'s pages at {s.prefix} and Mailman 2's {KIND_WORDS[kind]} there "
                "cannot both be served", "Give Mailman 2's pages another prefix on the old "
                "host (or plan with url_prefixes: package) and inspect again.", source))
    return ListLocations(served["cgi"], served["icons"], served["archive"],
                         tuple(moved), old, dest.pages_pending, more, folders.app,
                         folders.app_pages, folders.app_finding,
                         dest.app_url if folders.cgi_socket else None), findings


#: The mm_cfg.py setting that gave out each kind's prefix.
_SETTING = {"cgi": "DEFAULT_URL_PATTERN", "icons": "IMAGE_LOGOS",
            "archive": "PUBLIC_ARCHIVE_URL"}


def web_hosts(inv: Inventory, target: Target) -> list[str]:
    """The host names Mailman's pages are served as: the target's, then the old virtual hosts'
    URL hosts whose email host moves."""
    hosts = [target.web_host] if target.web_host else []
    settings = inv.mailman.settings if inv.mailman else None
    for vh in settings.virtual_hosts if settings else []:
        if vh.email_host in target.email_domains and vh.url_host not in hosts:
            hosts.append(vh.url_host)
    return hosts


def web_aliases(inv: Inventory, hosts: list[str]) -> list[str]:
    """The other names the old web server answered Mailman's hosts as: the ServerName and
    ServerAlias names of every old virtual host that serves one of ``hosts``."""
    out: list[str] = []
    for vh in inv.web.virtual_hosts if inv.web else []:
        names = [n.lower() for n in [vh.server_name, *vh.server_aliases] if n]
        if set(names) & set(hosts):
            out += [n for n in names if n not in hosts and n not in out]
    return out


def web_tls(target: Target) -> bool:
    """HTTPS on the new host: acme-client's certificate, HTTP redirected to it."""
    return target.tls == TlsMode.ACME and is_path(target.tls_certificate or "") \
        and is_path(target.tls_key or "")


@dataclass
class WebLocations:
    """What the new host's httpd serves, and as which names."""

    wanted: list[str]  # the web names of the lists (``web_hosts``), written safely or not
    hosts: list[str]  # those that can be written, the main one first ([]: none)
    served: list[str]  # the server blocks' own names: ``hosts``, or the new host's name
    aliases: list[str]  # the other names the old server answered them as (wildcards too)
    tls: bool
    lists: ListLocations
    #: per web name that moves (``names``), what httpd.conf does with its old redirects
    redirects: dict[str, list[Carried]]
    findings: list[Finding] = field(default_factory=list)  #: about ``lists``

    @property
    def names(self) -> list[str]:
        """Every name httpd.conf serves: the server names, then the aliases it can write."""
        return self.served + [a for a in self.aliases if is_domain(a)]


def web_locations(inv: Inventory, target: Target, release: Release,
                  dest: Destination) -> WebLocations:
    wanted = web_hosts(inv, target)
    hosts = [h for h in wanted if is_domain(h)]
    served = hosts or [target.hostname]
    lists, findings = list_locations(inv, target, dest, release)
    tls = web_tls(target)
    web = WebLocations(wanted, hosts, served, web_aliases(inv, served), tls, lists, {}, findings)
    web.redirects = plan_redirects(inv, web.names, release, lists.root, lists.moved_path, tls)
    return web


# --- the value ------------------------------------------------------------------------------


@dataclass
class NewHost:
    """The new host as every writer of the plan sees it."""

    addresses: AddressTable
    aliases: AliasTable
    virtual: VirtualTable
    web: WebLocations
    destination: Destination  #: the list manager (the target's plugin): its files and steps
    #: the moved domains' accepted non-list addresses, each with its handling
    others: list[Other] = field(default_factory=list)
    handback: HandBack = field(default_factory=lambda: HandBack(None))
    findings: list[Finding] = field(default_factory=list)  #: about ``others``
    refusals: list[Refusal] = field(default_factory=list)  #: answered by smtpd's filters


def new_host(inv: Inventory, target: Target, release: Release) -> NewHost:
    """The new host of a screened inventory and target (``guard.screen``)."""
    dest = destination(inv, target, release)
    addresses = address_table(inv, target, dest)
    others, back, findings = other_addresses(inv, target)
    for domain in back.domains:  # all but its list addresses and refusals go back
        back.lists += [f"{d.local}@{domain}".lower() for name in addresses.hosted(inv, domain)
                       for d in addresses.lists[name]]
        back.lists += [f"{o.route.address}@{domain}".lower() for o in addresses.old
                       if o.route.domain == domain and is_local_part(o.route.address)]
        back.lists += [f"{r.address}@{domain}".lower() for r in inv.mta.refused
                       if r.domain == domain and is_local_part(r.address)]
        back.lists += [o.address.lower() for o in others
                       if o.handling == Handling.REFUSED and o.accepted.domain == domain]
    back.lists = sorted(set(back.lists))
    vtable = virtual_table(inv, addresses, others)
    return NewHost(addresses, alias_table(inv, target, addresses, vtable, others, dest), vtable,
                   web_locations(inv, target, release, dest), dest, others, back, findings,
                   refusals(inv, target, release))
