"""What Exim's configuration means for the move: domains, routes to Mailman, and what the old
Exim does beyond routing (content scanning, signing, blocklists, ...).

``read_exim`` takes a parsed ``EximConfig`` (``parsers.exim``) plus the files it points at on
the old host (alias tables, per-domain virtual alias files, Mailman's list folders) and fills
the model's ``Mta``: routers and transports in order, domains by role, smarthost, TLS files,
listeners, aliases, and one ``ListRoute`` per address that reaches a list today. Every
finding names the file and line it is about and says what to do.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass, field

from migrate.core.mailman2 import ACTION_SUFFIX, SUFFIX_ACTION, address_of
from migrate.core.mta import Read, Reader, Table
from migrate.core.model import (AcceptedAddress, AcceptedKind, Account, AccountKind, Alias,
                                AliasTarget, AliasTargetKind, ConfigFile, Domain, DomainRole,
                                EximPart, Finding, HostName, ListRoute, Listener, Mta, MtaFeature,
                                NamedList, NameUse, Recipient, RecipientKind, RefusedAddress,
                                RouteVia, Router, Severity, Smarthost, Source, TlsFiles, Transport,
                                flat_targets)
from parsers.accounts import parse_accounts
from parsers.aliases import MAX_INCLUDE_READS, parse_aliases, parse_forward
from parsers.base import IncludeBudget, Tree, TreeError, read_text
from parsers.exim import Driver, EximConfig, Option, config_lookups, parse_exim, split_list

#: Where Exim's configuration lives, by layout, first match wins.
CONFIGS = (
    "/usr/local/etc/exim/configure",  # FreeBSD port mail/exim
    "/etc/exim4/exim4.conf",  # Debian, single-file
    "/etc/exim4/exim4.conf.template",  # Debian, split/template
    "/etc/exim/exim.conf",  # RPM
    "/etc/exim/configure",
)

_LOCAL_PART_VARS = ("$local_part", "${local_part}")
#: The variables that name the domain in a per-domain file's path: $domain_data is the
#: domain as a ``domains = dsearch;FOLDER`` precondition found it (taint-free in Exim 4.94+).
_DOMAIN_VARS = ("${domain_data}", "$domain_data", "${domain}", "$domain")
#: What an alias entry that fails on purpose does, by its (only) target's kind.
_REFUSALS = {AliasTargetKind.FAIL: "rejected", AliasTargetKind.DEFER: "deferred",
             AliasTargetKind.BLACKHOLE: "dropped"}
#: Router options that are preconditions besides ``domains`` (Exim spec, "Router
#: preconditions"): a router with any of them does not take every address of its domains.
_OTHER_PRECONDITIONS = ("local_parts", "check_local_user", "condition", "require_files",
                        "senders")
#: A host name or address as route_list gives one (expansions kept: they are resolved later).
_HOSTISH = re.compile(r"[\w.:$%{}\-]+\Z")
_HIDDEN = "<hidden>"


@dataclass
class EximResult:
    mta: Mta = field(default_factory=Mta)
    findings: list[Finding] = field(default_factory=list)
    lists_dir: str | None = None  # where the router pattern finds lists (lists/NAME/config.pck)


def _finding(result: EximResult, fid: str, severity: Severity, message: str, hint: str,
             source: Source | None) -> None:
    result.findings.append(Finding(fid, severity, message, hint, source))


def is_mailman_wrapper(command: str) -> bool:
    """A command that runs Mailman 2's mail wrapper (``.../mail/mailman``)."""
    first = command.split()[0] if command.split() else ""
    return first.endswith("/mail/mailman") or first.endswith("/mailman/mail/wrapper")


def wrapper_call(command: str) -> tuple[str, str, str] | None:
    """(wrapper, action, list) of ``/usr/local/mailman/mail/mailman post LIST``, else None."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    if len(words) < 3 or not is_mailman_wrapper(words[0]):
        return None
    return words[0], words[1], words[2]


# --- domain lists ------------------------------------------------------------------------------


class _Domains:
    """Resolves domain lists (named lists, ``@``, dsearch/lsearch) to plain domain names."""

    def __init__(self, cfg: EximConfig, tree: Tree, primary: str | None,
                 result: EximResult) -> None:
        self.cfg = cfg
        self.tree = tree
        self.primary = primary
        self.result = result
        self.patterns_reported: set[str] = set()
        self.named: dict[str, list[str]] = {}  # "+name" -> its domains, once resolved
        self._lookups: dict[str, list[str] | None] = {}  # a lookup item -> its keys
        #: the :include: files of every aliases table this MTA reads, together
        self.includes = IncludeBudget(MAX_INCLUDE_READS)

    def resolve(self, value: str | None, source: Source | None, depth: int = 0) -> list[str]:
        if not value or depth > 10:
            return []
        out: list[str] = []
        for item in split_list(value):
            if item.startswith("!"):
                continue  # exclusions narrow a list; they add no domain
            if item.startswith("+"):
                named = self.cfg.named_lists.get(item[1:])
                if named is None:
                    _finding(self.result, "exim.unknown-list", Severity.ERROR,
                             f"named list {item} is used but never defined",
                             "Define it in the main section; Exim refuses the router.", source)
                    continue
                if item not in self.named:  # once each: lists naming a list twice, nested,
                    self.named[item] = []  # would grow exponentially (and a loop ends here)
                    self.named[item] = self.resolve(named[1], named[2], depth + 1)
                out += self.named[item]
            elif item == "@":
                if self.primary:
                    out.append(self.primary)
            elif item in ("@[]", "@mx_any", "@mx_primary", "@mx_secondary"):
                continue
            elif ";" in item:
                out += self._lookup_domains(item, source)
            elif any(ch in item for ch in "*^$") or item.startswith("\\"):
                if item not in self.patterns_reported:
                    self.patterns_reported.add(item)
                    _finding(self.result, "exim.domain-pattern", Severity.WARNING,
                             f"domain pattern {item!r} cannot be listed as domain names",
                             "List the domains it matches in the plan's target settings.",
                             source)
            else:
                out.append(item.lower())
        return list(dict.fromkeys(out))

    def _lookup_domains(self, item: str, source: Source | None) -> list[str]:
        found = self.lookup_domains(item)
        if found is None:
            if item not in self.patterns_reported:
                self.patterns_reported.add(item)
                _finding(self.result, "exim.lookup-unread", Severity.WARNING,
                         f"cannot list the domains of {item!r}",
                         "Copy the lookup's file into the inspected tree, or list the domains "
                         "in the plan's target settings.", source)
            return []
        return found

    def lookup_domains(self, item: str) -> list[str] | None:
        """The keys of a dsearch/lsearch domain lookup, or None when it cannot be read; each
        lookup is read once (it is asked for by several routers, and its ``:include:`` files
        spend the MTA's include budget)."""
        if item not in self._lookups:
            self._lookups[item] = self._read_lookup(item)
        return self._lookups[item]

    def _read_lookup(self, item: str) -> list[str] | None:
        kind, _, path = item.partition(";")
        kind = kind.strip().split("-")[-1].rstrip("*@").split(",")[0]
        path = path.strip()
        try:
            if kind == "dsearch" and self.tree.is_dir(path):
                return [n.lower() for n in self.tree.list_dir(path) if not n.startswith(".")]
            if kind in ("lsearch", "wildlsearch", "nwildlsearch"):
                table = parse_aliases(self.tree, path, required=False, budget=self.includes)
                return [a.name.lower() for a in table.aliases]
        except Exception:  # noqa: BLE001 - an unreadable lookup is reported by the caller
            pass
        return None


# --- which router sees which domain ----------------------------------------------------------


class _Routing:
    """Exim's router preconditions on domains and local parts, decided for the names the
    configuration knows, the way Exim decides them (spec chapters "Domain, host, address, and
    local part lists" and "Router preconditions"):

    * a list is scanned left to right and the first item that matches decides (``!item``:
      not in the list); when nothing matches, the subject is in the list only if the last item
      was negative (``! +local_domains`` alone matches every other domain);
    * a router without a ``domains`` option applies to every domain that reaches it;
    * a router with ``no_more`` whose only precondition is ``domains`` ends routing for every
      domain it matches (Exim's default ``dnslookup`` router with ``domains = ! +local_domains``:
      no later router ever sees a remote domain); so does an ``accept`` router without other
      preconditions, which always accepts;
    * ``verify_only`` routers never route a delivery;
    * a ``condition`` is decided when it is a constant (``true``, ``yes``, ``1``, ``false``,
      ``no``, ``0``, or empty); any other is assumed true (``exim.router-condition`` says so).

    ``domains(router)`` is the set of known domains for which the router runs at all: the
    names of every domain list, ``@`` (primary_hostname), the domains of dsearch/lsearch
    lookups, and the domains a router's per-domain files give (``applies``).
    """

    def __init__(self, cfg: EximConfig, tree: Tree, primary: str | None,
                 domains: _Domains) -> None:
        self.cfg = cfg
        self.tree = tree
        self.primary = primary.lower() if primary else None
        self.resolver = domains
        self._lookup_cache: dict[str, set[str]] = {}
        self._lists: dict[str, list[str]] = {}  # a list's text -> its items
        self._named: dict[tuple[str, str, str], bool] = {}  # (+name, subject, kind) -> in it
        known: set[str] = set()
        for _name, (kind, value, source) in cfg.named_lists.items():
            if kind == "domainlist":
                known |= set(domains.resolve(value, source))
        for d in cfg.routers:
            opt = d.get("domains")
            if opt is not None:
                known |= set(domains.resolve(opt.value, opt.source))
        if self.primary:
            known.add(self.primary)
        self.known = sorted(known)
        self._order = {}
        for i, d in enumerate(cfg.routers):
            self._order.setdefault(d.name, i)
        self._ender = [self.runs(d) and self._takes_all(d) for d in cfg.routers]
        self._stops: dict[str, int] = {}

    # lists ---------------------------------------------------------------------------------

    def in_list(self, value: str | None, subject: str, kind: str, depth: int = 0) -> bool:
        """Whether ``subject`` is in an Exim domain or local-part list (caseless)."""
        if value is None:
            return True
        items = self._lists.get(value)
        if items is None:  # the walk of every address asks again and again
            items = self._lists[value] = split_list(value)
        if not items or depth > 10:
            return False
        subject = subject.lower()
        for item in items:
            negated = item.startswith("!")
            body = item[1:].strip() if negated else item
            if self._item(body, subject, kind, depth):
                return not negated
        return items[-1].startswith("!")

    def _item(self, item: str, subject: str, kind: str, depth: int) -> bool:
        if item.startswith("+"):
            named = self.cfg.named_lists.get(item[1:])
            key = (item, subject, kind)
            if named is not None and key not in self._named:  # once each, as in resolve()
                self._named[key] = False
                self._named[key] = self.in_list(named[1], subject, kind, depth + 1)
            return named is not None and self._named[key]
        if item.startswith("^"):
            try:
                return re.search(item, subject, re.IGNORECASE) is not None
            except (re.error, RecursionError):  # nested too deep for re (and Exim's PCRE)
                return False
        if ";" in item and re.match(r"[\w*@,=-]+;", item):
            return subject in self._lookup_keys(item, kind)
        if "$" in item:
            return False  # an expansion: undecidable here
        item = item.lower()
        if kind == "domain":
            if item == "@":
                return subject == self.primary
            if item.startswith("@"):
                return False  # @[], @mx_any, ...: depend on DNS
            if item.startswith("*"):
                return subject.endswith(item[1:])
        elif item.startswith("*"):
            return subject.endswith(item[1:])
        return item == subject

    def _lookup_keys(self, item: str, kind: str) -> set[str]:
        if item not in self._lookup_cache:
            keys: set[str] = set()
            if kind == "domain":
                keys = set(self.resolver.lookup_domains(item) or ())
            else:
                ltype, _, path = item.partition(";")
                if ltype.split("-")[-1].rstrip("*@").split(",")[0] in (
                        "lsearch", "wildlsearch", "nwildlsearch"):
                    try:
                        table = parse_aliases(self.tree, path.strip(), required=False,
                                              budget=self.resolver.includes)
                        keys = {a.name.lower() for a in table.aliases}
                    except Exception:  # noqa: BLE001 - an unreadable lookup matches nothing
                        keys = set()
            self._lookup_cache[item] = keys
        return self._lookup_cache[item]

    # routers -------------------------------------------------------------------------------

    @staticmethod
    def _condition_false(d: Driver) -> bool:
        return any((c.value or "").strip().lower() in ("false", "no", "0", "")
                   for c in d.all("condition"))

    def _takes_all(self, d: Driver) -> bool:
        """The router ends routing for every domain its ``domains`` matches."""
        if any(d.get(name) is not None for name in _OTHER_PRECONDITIONS):
            return False
        for name in ("local_part_prefix", "local_part_suffix"):
            if d.get(name) is not None:
                opt = d.get(f"{name}_optional")
                if not (opt and opt.truthy):
                    return False
        more = d.get("more")
        no_more = more is not None and not more.truthy
        return no_more or d.driver == "accept"

    def runs(self, d: Driver) -> bool:
        opt = d.get("verify_only")
        return not (opt and opt.truthy) and not self._condition_false(d)

    def _stop(self, domain: str) -> int:
        """The position of the first router that ends routing for every address of
        ``domain`` (after the last router when none does); computed once per domain."""
        stop = self._stops.get(domain)
        if stop is None:
            stop = len(self.cfg.routers)
            for i, d in enumerate(self.cfg.routers):
                if self._ender[i] and self.in_list(d.value("domains"), domain, "domain"):
                    stop = i
                    break
            self._stops[domain] = stop
        return stop

    def applies(self, d: Driver, domain: str) -> bool:
        """Whether mail for ``domain`` reaches router ``d`` and passes its domains test."""
        domain = domain.lower()
        return self.index(d.name) <= self._stop(domain) and self.runs(d) \
            and self.in_list(d.value("domains"), domain, "domain")

    def domains(self, d: Driver) -> list[str]:
        return [name for name in self.known if self.applies(d, name)]

    def local_part_ok(self, d: Driver, local_part: str) -> bool:
        return self.in_list(d.value("local_parts"), local_part, "local_part")

    def index(self, name: str | None) -> int:
        return self._order.get(name, len(self.cfg.routers)) if name else len(self.cfg.routers)


# --- the mapping ---------------------------------------------------------------------------------


def read_exim(cfg: EximConfig, tree: Tree, hostname: str | None = None) -> EximResult:
    """Turn a parsed Exim configuration into the model's MTA section."""
    result = EximResult()
    result.findings += cfg.findings
    mta = result.mta
    mta.kind = "exim"
    mta.config_files = list(cfg.files)
    primary = cfg.main_value("primary_hostname") or hostname
    mta.primary_hostname = primary
    mta.qualify_domain = cfg.main_value("qualify_domain") or primary
    mta.detail = part = EximPart()
    for opt in cfg.main:
        part.options[opt.name] = _HIDDEN if opt.hidden else (
            opt.value if opt.value is not None else ("false" if opt.negated else "true"))
    part.named_lists = [NamedList(kind, name, split_list(value), source)
                        for name, (kind, value, source) in cfg.named_lists.items()]
    part.lookups = config_lookups(cfg)
    part.acls = dict(cfg.acl_starts)
    domains = _Domains(cfg, tree, primary, result)

    for d in cfg.routers:
        part.routers.append(_router(d))
    for d in cfg.transports:
        part.transports.append(_transport(d))

    _roles(cfg, mta, domains)
    _smarthost(cfg, mta, domains)
    _tls_and_listeners(cfg, mta)
    _aliases_and_routes(cfg, tree, mta, domains, result)
    _lookup_files(tree, mta)
    _features(cfg, mta)
    for name, source in cfg.builtins_tested.items():
        _finding(result, "exim.builtin-macro", Severity.INFO,
                 f"the configuration tests Exim's builtin macro {name}; it was assumed defined",
                 f"If the old host's Exim was built without it, inspect again with -D {name}= "
                 "removed (see `exim -bP macros` on the old host).", source)
    return result


def _router(d: Driver) -> Router:
    known = {"driver", "transport", "domains", "local_parts", "local_part_suffix",
             "local_part_suffix_optional", "local_part_prefix", "local_part_prefix_optional",
             "require_files", "condition", "data"}
    r = Router(d.name, d.driver or "", d.value("transport"), source=d.source)
    r.domains = split_list(d.value("domains") or "")
    r.local_parts = split_list(d.value("local_parts") or "")
    r.local_part_suffixes = split_list(d.value("local_part_suffix") or "")
    r.local_part_prefixes = split_list(d.value("local_part_prefix") or "")
    opt = d.get("local_part_suffix_optional")
    r.local_part_suffix_optional = bool(opt and opt.truthy)
    opt = d.get("local_part_prefix_optional")
    r.local_part_prefix_optional = bool(opt and opt.truthy)
    r.require_files = split_list(d.value("require_files") or "")
    r.conditions = [o.value for o in d.all("condition") if o.value]
    r.data = d.value("data")
    for o in d.options:
        if o.name not in known:
            r.options[o.name] = _HIDDEN if o.hidden else (
                o.value if o.value is not None else ("false" if o.negated else "true"))
    return r


def _transport(d: Driver) -> Transport:
    known = {"driver", "command", "file", "user", "group"}
    t = Transport(d.name, d.driver or "", d.value("command"), d.value("file"), d.value("user"),
                  d.value("group"), source=d.source)
    for o in d.options:
        if o.name not in known:
            t.options[o.name] = _HIDDEN if o.hidden else (
                o.value if o.value is not None else ("false" if o.negated else "true"))
    return t


def _add_domains(mta: Mta, names: list[str], role: DomainRole, via: str,
                 source: Source | None) -> None:
    have = {(d.name, d.role) for d in mta.domains}
    for name in names:
        if (name, role) not in have:
            mta.domains.append(Domain(name, role, via, source))
            have.add((name, role))


def _roles(cfg: EximConfig, mta: Mta, domains: _Domains) -> None:
    for list_name, role in (("local_domains", DomainRole.LOCAL),
                            ("relay_to_domains", DomainRole.RELAY)):
        named = cfg.named_lists.get(list_name)
        if named:
            _add_domains(mta, domains.resolve(named[1], named[2]), role, f"+{list_name}",
                         named[2])
    if not cfg.named_lists.get("local_domains") and mta.primary_hostname:
        _add_domains(mta, [mta.primary_hostname], DomainRole.LOCAL, "primary_hostname", None)


def _smarthost(cfg: EximConfig, mta: Mta, domains: _Domains) -> None:
    """The relay for outgoing mail: the first manualroute router with a catch-all rule."""
    for d in cfg.routers:
        if d.driver != "manualroute":
            continue
        hosts = None
        for rule in (d.value("route_list") or "").split(";"):  # rules are ;-separated
            words = rule.split()
            if len(words) >= 2 and words[0] == "*":
                hosts = words[1]
                break
        route_data = (d.value("route_data") or "").split()
        if route_data and len(route_data[0]) == 2 and route_data[0].startswith("<"):
            route_data = [" ".join(route_data[:2])] + route_data[2:]  # "<; host ; host"
        if hosts is None and route_data and "$" not in route_data[0]:
            hosts = route_data[0]
        items = split_list(hosts) if hosts else []  # hosts are :-separated, :: a literal colon
        if not items:
            continue
        host, port = _host_port(items[0])
        if not _HOSTISH.match(host):
            continue  # "<" from "* <;" (the ; ends the rule): Exim cannot look it up either
        transport = cfg.transport(d.value("transport") or "")
        tport = transport.value("port") if transport else None
        if port is None and tport and _is_port(tport):
            port = int(tport)
        mta.smarthost = Smarthost(host, port, d.name, d.source)
        return


def _host_port(item: str) -> tuple[str, int | None]:
    """``name:port``, ``[address]:port`` or a bare host (an IPv6 address stays whole)."""
    m = re.match(r"\[([^\]]+)\](?::(\d+))?\Z", item)
    if m:
        return m.group(1), int(m.group(2)) if m.group(2) else None
    head, sep, tail = item.rpartition(":")
    if sep and _is_port(tail) and ":" not in head:
        return head, int(tail)
    return item, None


def _tls_and_listeners(cfg: EximConfig, mta: Mta) -> None:
    cert = cfg.main_option("tls_certificate")
    key = cfg.main_option("tls_privatekey")
    if cert or key:
        mta.tls = TlsFiles(cert.value if cert else None, key.value if key else None,
                           (cert or key).source)  # type: ignore[union-attr]
    ports_opt = cfg.main_option("daemon_smtp_ports") or cfg.main_option("daemon_smtp_port")
    ports = _ports(ports_opt.value if ports_opt and ports_opt.value else "") or [25]
    tls_ports = _ports(cfg.main_value("tls_on_connect_ports") or "")
    iface_opt = cfg.main_option("local_interfaces")
    source = (iface_opt or ports_opt).source if (iface_opt or ports_opt) else None
    interfaces = split_list(iface_opt.value or "") if iface_opt else ["*"]
    for item in interfaces or ["*"]:
        address, port = _interface(item)
        for p in [port] if port else ports + [p for p in tls_ports if p not in ports]:
            mta.listeners.append(Listener(address, p, source))


def _is_port(text: str) -> bool:
    """ASCII digits only (``str.isdigit`` admits superscripts that ``int`` refuses), 1-65535."""
    return text.isascii() and text.isdigit() and 0 < int(text) < 65536


def _ports(value: str) -> list[int]:
    names = {"smtp": 25, "submission": 587, "smtps": 465, "ssmtp": 465}
    out = []
    for item in split_list(value):
        if _is_port(item):
            out.append(int(item))
        elif item in names:
            out.append(names[item])
    return out


def _interface(item: str) -> tuple[str, int | None]:
    """``[::1]:25``, ``192.0.2.1.25`` (Exim's address.port) or a bare address."""
    m = re.match(r"\[([^\]]+)\]:(\d+)\Z", item)
    if m:
        return m.group(1), int(m.group(2))
    m = re.match(r"(\d+\.\d+\.\d+\.\d+)\.(\d+)\Z", item)
    if m:
        return m.group(1), int(m.group(2))
    if item in ("0.0.0.0", "::", "*", ""):
        return "*", None
    return item, None


# --- aliases and list routes --------------------------------------------------------------------


def _matching(text: str, open_index: int) -> int:
    """The index just past the brace that closes the one at ``open_index``, or -1."""
    depth = 0
    for i in range(open_index, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return -1


def _lsearch_path(data: str | None) -> tuple[str, bool] | None:
    """The file a redirect router's ``data`` looks the local part up in, and whether the
    lookup is ``lsearch*`` (a ``*`` entry then answers for every other local part).

    Understands ``${lookup{$local_part}lsearch{FILE}}``, ``lsearch*``/``lsearch*@``, and the
    Exim 4.94+ taint-safe form ``lsearch{${lookup{$domain}dsearch,ret=full{FOLDER}}}``, which
    reads ``FOLDER/$domain``.
    """
    if not data:
        return None
    m = re.search(r"\blsearch(\*?)(@?)\s*\{", data)
    if not m:
        return None
    end = _matching(data, m.end() - 1)
    if end < 0:
        return None
    path = data[m.end():end - 1].strip()
    inner = re.fullmatch(r"\$\{lookup\s*\{\$\{?domain\}?\}\s*dsearch[^{]*\{([^{}]+)\}\s*\}", path)
    if inner:
        path = inner.group(1).strip().rstrip("/") + "/$domain"
    return path, bool(m.group(1))


def _aliases_and_routes(cfg: EximConfig, tree: Tree, mta: Mta, domains: _Domains,
                        result: EximResult) -> None:
    routing = _Routing(cfg, tree, mta.primary_hostname, domains)
    seen_tables: dict[tuple[str, str | None], list[Alias]] = {}
    tables: dict[tuple[str, str | None], tuple[list[Alias], bool]] = {}
    for d in cfg.routers:
        if not routing.runs(d):
            continue
        driver = d.driver
        transport = cfg.transport(d.value("transport") or "")
        if driver == "accept" and transport is not None and transport.driver == "pipe" \
                and is_mailman_wrapper(transport.value("command") or ""):
            _router_pattern(d, transport, routing.domains(d), tree, mta, result)
            continue
        if driver != "redirect":
            continue
        found = _lsearch_path(d.value("data"))
        if found is None:
            continue
        path, star = found
        pipe_transport = d.value("pipe_transport")
        if not path.startswith(("/", "$")):
            _finding(result, "exim.lookup-relative-path", Severity.ERROR,
                     f"router {d.name} looks up {path!r} with lsearch, a relative file name: Exim "
                     "opens it relative to its working directory, which differs between the "
                     "daemon and a queue runner, so which file it reads is unknown",
                     "Give the alias file's absolute path in the router's data option and "
                     "inspect again; until then its aliases are not in the inventory.", d.source)
            continue
        if any(v in path for v in _DOMAIN_VARS):
            _virtual_tables(d, path, star, pipe_transport, routing, tree, mta, domains,
                            result, seen_tables, tables)
            continue
        if "$" in path:
            continue
        aliases = _alias_table(tree, path, None, star, mta, result, seen_tables,
                               domains.includes)
        tables[(d.name, None)] = (aliases, star)
        _alias_routes(aliases, routing.domains(d), d, routing, pipe_transport, RouteVia.ALIAS,
                      star, mta, result)
    _first_router_wins(mta, routing)
    _check_routes(mta, result)
    _Walk(cfg, tree, mta, routing, tables, domains.includes, result).accepted()


def _alias_table(tree: Tree, path: str, domain: str | None, star: bool, mta: Mta,
                 result: EximResult, seen: dict[tuple[str, str | None], list[Alias]],
                 budget: IncludeBudget) -> list[Alias]:
    """The aliases of one table (the system table when ``domain`` is None), read into the
    inventory once: a later router that reads the same table gets the same entries."""
    key = (path, domain)
    if key not in seen:
        table = parse_aliases(tree, path, domain=domain, required=True, budget=budget)
        result.findings += table.findings
        _add_files(mta, table.files)
        if star:
            for alias in table.aliases:
                alias.catch_all = alias.name == "*"
        mta.aliases += table.aliases
        seen[key] = table.aliases
    return seen[key]


def _add_files(mta: Mta, files: list[ConfigFile]) -> None:
    have = {f.path for f in mta.config_files}
    for f in files:
        if f.path not in have:
            mta.config_files.append(f)
            have.add(f.path)


def _virtual_tables(d: Driver, template: str, star: bool, pipe_transport: str | None,
                    routing: _Routing, tree: Tree, mta: Mta, domains: _Domains,
                    result: EximResult, seen: dict, tables: dict) -> None:
    var = next(v for v in _DOMAIN_VARS if v in template)
    folder, _, _rest = template.partition("$")
    folder = folder.rstrip("/") or "/"
    suffix = template.split(var, 1)[1]
    try:
        names = [n for n in tree.list_dir(folder) if not n.startswith(".")]
    except Exception:  # noqa: BLE001 - reported as a finding
        _finding(result, "exim.virtual-dir", Severity.ERROR,
                 f"router {d.name} reads per-domain alias files from {folder}, which cannot "
                 "be listed", "Copy that folder into the inspected tree.", d.source)
        return
    for name in sorted(names):
        if suffix and not name.endswith(suffix.lstrip("/")):
            continue
        domain = (name[:-len(suffix.lstrip("/"))] if suffix.lstrip("/") else name).lower()
        if not routing.applies(d, domain):
            continue
        path = posixpath.join(folder, name)
        if not tree.is_file(path):
            continue
        aliases = _alias_table(tree, path, domain, star, mta, result, seen, domains.includes)
        tables[(d.name, domain)] = (aliases, star)
        _add_domains(mta, [domain], DomainRole.VIRTUAL, f"router {d.name}", d.source)
        _alias_routes(aliases, [domain], d, routing, pipe_transport, RouteVia.VIRTUAL_ALIAS,
                      star, mta, result)


def _special(targets: list[AliasTarget]) -> AliasTarget | None:
    """The ``:fail:``, ``:defer:`` or ``:blackhole:`` item that decides for a whole alias: Exim
    stops at the first one, wherever it stands (spec, "Special items in redirection lists")."""
    return next((t for t in flat_targets(targets) if t.kind in _REFUSALS), None)


def _wrapper_targets(targets: list[AliasTarget]) -> list[AliasTarget]:
    """The pipes into Mailman's wrapper among an alias's targets, also inside its
    ``:include:`` files (Exim reads an included file's items as if they were written there)."""
    return [t for t in flat_targets(targets)
            if t.kind == AliasTargetKind.PIPE and wrapper_call(t.value)]


def _alias_routes(aliases: list[Alias], route_domains: list[str], d: Driver, routing: _Routing,
                  pipe_transport: str | None, via: RouteVia, star: bool, mta: Mta,
                  result: EximResult) -> None:
    router = d.name
    for alias in aliases:
        if alias.name == "*" and not star:
            continue  # a plain lsearch never looks up "*" for another local part
        if alias.name != "*" and not routing.local_part_ok(d, alias.name):
            continue  # the router's local_parts keep this name away from the table
        target = _special(alias.targets)
        if target is not None:
            for domain in route_domains:
                mta.refused.append(RefusedAddress(
                    alias.name, domain, _REFUSALS[target.kind], target.value or None, router,
                    alias.source))
            continue
        for target in _wrapper_targets(alias.targets):
            _wrapper, action, list_name = wrapper_call(target.value)  # type: ignore[misc]
            if action not in ACTION_SUFFIX:
                _finding(result, "mailman.unknown-action", Severity.ERROR,
                         f"alias {alias.name} calls the mail wrapper with unknown action "
                         f"{action!r}", "Use one of: " + ", ".join(ACTION_SUFFIX) + ".",
                         target.source or alias.source)
                continue
            expected = address_of(list_name, action)
            if alias.name.lower() != expected.lower():
                _finding(result, "mailman.alias-other-name", Severity.INFO,
                         f"alias {alias.name} reaches list {list_name} as {action!r}: members "
                         f"know the list under this name as well as {expected}",
                         "Nothing to do: the new host carries this address as it is (see "
                         "parity.md).", alias.source)
            for domain in route_domains:
                mta.list_routes.append(ListRoute(
                    alias.name, domain, list_name, via, router, pipe_transport, target.value,
                    alias.source, action))
            if via == RouteVia.VIRTUAL_ALIAS:
                _add_domains(mta, route_domains, DomainRole.LIST, f"router {router}",
                             alias.source)


def _router_pattern(d: Driver, transport: Driver, router_domains: list[str], tree: Tree,
                    mta: Mta, result: EximResult) -> None:
    names: list[str] = []
    for item in split_list(d.value("require_files") or ""):
        item = item.lstrip("!+")
        for var in _LOCAL_PART_VARS:
            if var in item:
                # the path component that holds the local part is the list's folder name,
                # also when an expansion wraps it (the howto's ${lc::$local_part})
                at = item.find(var)
                start = item.rfind("/", 0, at)
                end = item.find("/", at)
                folder = item[:start].rstrip("/") or "/" if start >= 0 else "/"
                tail = item[end:] if end >= 0 else ""
                result.lists_dir = result.lists_dir or folder
                try:
                    entries = tree.list_dir(folder)
                except Exception:  # noqa: BLE001
                    entries = []
                names += [e for e in entries
                          if not e.startswith(".") and tree.exists(f"{folder}/{e}{tail}")]
                break
    if not names:
        _finding(result, "mailman.no-lists-found", Severity.WARNING,
                 f"router {d.name} sends mail to Mailman, but no list folders were found "
                 "through its require_files", "Check that Mailman's lists/ folder is in the "
                 "inspected tree.", d.source)
        return
    suffixes = split_list(d.value("local_part_suffix") or "")
    optional = d.get("local_part_suffix_optional")
    served = [s for s in suffixes if s in SUFFIX_ACTION]
    if optional and optional.truthy:
        served.insert(0, "")
    command = transport.value("command")
    _add_domains(mta, router_domains, DomainRole.LIST, f"router {d.name}", d.source)
    for name in sorted(set(names)):
        for domain in router_domains:
            for suffix in served:
                mta.list_routes.append(ListRoute(
                    name + suffix, domain, name, RouteVia.ROUTER, d.name, transport.name, command,
                    d.source, SUFFIX_ACTION[suffix]))


def _first_router_wins(mta: Mta, routing: _Routing) -> None:
    """An address is routed by the first router that takes it: a later router's alias for
    the same address and domain never sees mail (nor does a second entry of a table)."""
    kept: dict[tuple[str, str], str | None] = {}  # (address, domain) -> the router that has it
    done: set[tuple] = set()
    routes: list[ListRoute] = []
    for route in sorted(mta.list_routes, key=lambda r: routing.index(r.router)):
        key = (route.address.lower(), route.domain)
        if kept.setdefault(key, route.router) != route.router:
            continue  # an earlier router took this address
        full = (*key, route.list_name, route.action)
        if full not in done:  # one alias may pipe into several lists
            done.add(full)
            routes.append(route)
    refused = []
    for refusal in sorted(mta.refused, key=lambda r: routing.index(r.router)):
        key = (refusal.address.lower(), refusal.domain)
        if key not in kept:
            kept[key] = refusal.router
            refused.append(refusal)
    order = {id(r): i for i, r in enumerate(mta.list_routes)}
    mta.list_routes = sorted(routes, key=lambda r: order[id(r)])
    order = {id(r): i for i, r in enumerate(mta.refused)}
    mta.refused = sorted(refused, key=lambda r: order[id(r)])


def _check_routes(mta: Mta, result: EximResult) -> None:
    """Every list must keep Mailman's ten addresses on each domain it is reached on."""
    groups: dict[tuple[str, str], set[str]] = {}
    sources: dict[tuple[str, str], Source | None] = {}
    for route in mta.list_routes:
        key = (route.list_name, route.domain)
        groups.setdefault(key, set())
        if route.action in ACTION_SUFFIX \
                and route.address.lower() == address_of(route.list_name, route.action).lower():
            groups[key].add(route.action)
        sources.setdefault(key, route.source)
    for (list_name, domain), have in sorted(groups.items()):
        missing = [address_of(list_name, a) for a in ACTION_SUFFIX if a not in have]
        if not missing or not have:
            continue  # complete, or reached on this domain only under other names
        _finding(result, "mailman.missing-addresses", Severity.ERROR,
                 f"list {list_name} on {domain} has no route for "
                 + ", ".join(f"{m}@{domain}" for m in missing)
                 + ": mail to them is rejected or lands elsewhere today",
                 "The new host's aliases give every list all ten of Mailman's addresses; "
                 "check that nobody relies on these addresses failing.",
                 sources[(list_name, domain)])


# --- every other address of the domains ----------------------------------------------------------


#: How many generations an address may pass through (an alias of an alias, a forward file)
#: before the walk gives up on it with a finding; Exim's own loop check ends every real loop.
_MAX_GENERATIONS = 100
#: How many router runs and recipients the walk of one configuration may spend in all: an
#: alias's recipients are gathered again for each address that names it, so a huge :include:
#: list named by many aliases could otherwise grow the inventory without bound.
_MAX_STEPS = 1_000_000
#: The variables of a router's file options that the walk fills in (anything else is an
#: expansion it cannot decide).
_VARS = re.compile(r"\$\{lc::\$\{?local_part\}?\}|\$\{(local_part_data|local_part|domain_data|"
                   r"domain|home)\}|\$(local_part_data|local_part|domain_data|domain|home)\b")
_UNROUTEABLE = "Unrouteable address"
_SPACE = re.compile(r"\s")


@dataclass
class _Routed:
    """What routing one address came to: the router that took it (None: none did) and how
    ("alias", "forward", "user", "list", "refused", "other"), the alias entry or forward file
    it used, the local user, and the final recipients. ``seen``: every address routed on the
    way, which decides whether the result holds under other ancestors."""

    router: str | None
    how: str
    recipients: list[Recipient]
    entry: Alias | None = None
    account: Account | None = None
    seen: frozenset[str] = frozenset()
    cut: bool = False  # a bound stopped the walk below it (then it is not remembered)


#: A router whose preconditions do not hold: skipped, so its ``no_more`` does not apply.
_SKIP = _Routed(None, "skip", [])


def _merged(recipients: list[Recipient]) -> list[Recipient]:
    """Each recipient once (Exim delivers one copy to each), in the order first met."""
    out: dict[tuple[str, str], Recipient] = {}
    for r in recipients:
        out.setdefault((r.kind, r.value), r)
    return list(out.values())


def _affix(local: str, item: str, prefix: bool) -> str | None:
    """``local`` without the prefix or suffix ``item`` (``*`` wildcard: a prefix's first
    character, a suffix's last, matching the longest part), or None when it does not match
    (the rest must not be empty)."""
    item = item.lower()
    if prefix:
        if item.startswith("*"):
            at = local.rfind(item[1:])
            rest = local[at + len(item) - 1:] if at >= 0 else ""
        else:
            rest = local[len(item):] if local.startswith(item) else ""
    elif item.endswith("*"):
        at = local.find(item[:-1])
        rest = local[:at] if at > 0 else ""
    else:
        rest = local[:-len(item)] if item and local.endswith(item) else ""
    return rest or None


class _Walk:
    """Exim's routing of every address of its domains, as far as the tree decides it (spec
    chapters "Routing an address", "Router preconditions" and "The redirect router"), for
    ``Mta.accepted``: every local part the alias tables a router reads for a domain name and
    every local user (when a router checks local users), and one unknown local part ("*"),
    each routed from the first router:

    * a router runs when its preconditions hold, in Exim's order: affixes (removed before the
      rest), ``domains``, ``local_parts``, ``check_local_user`` (/etc/passwd of the tree; it
      gives ``$home``), ``senders`` (not decided: taken as met), ``require_files`` (decided
      where the paths hold only ``$local_part``, ``$domain`` and ``$home``), ``condition``
      (constants decided, others taken as true); ``verify_only`` routers never route mail; a
      router that declines ends routing when it has ``no_more``; ``unseen`` delivers a copy
      and goes on;
    * a redirect router's lookup (an lsearch table; ``lsearch*``: the ``*`` entry for a name
      the table lacks) or forward file (``file = $home/.forward``: missing, the router
      declines) gives items read as Exim reads them: ``:include:`` files in place, the first
      ``:blackhole:`` or ``:defer:`` decides for the whole address, ``:fail:`` fails it after
      the items before it, ``:unknown:`` and an empty list decline;
    * a generated address is qualified (``\\user`` and ``qualify_preserve_domain``: with the
      incoming domain; else with ``qualify_recipient``) and routed again from the first
      router, skipping each router that already handled the same address among its ancestors
      (Exim's loop rule); ``check_ancestor`` turns an ancestor back into the current address;
    * an address no router takes fails with the ``cannot_route_message`` of the last router
      considered.

    What cannot be decided (another lookup, a queryprogram, an expansion) becomes a finding
    naming the router; the walk never guesses a route for it.
    """

    def __init__(self, cfg: EximConfig, tree: Tree, mta: Mta, routing: _Routing,
                 tables: dict[tuple[str, str | None], tuple[list[Alias], bool]],
                 budget: IncludeBudget, result: EximResult) -> None:
        self.cfg = cfg
        self.tree = tree
        self.mta = mta
        self.routing = routing
        self.result = result
        self.budget = budget
        self.tables: dict[tuple[str, str | None], tuple[dict[str, Alias], bool]] = {}
        for key, (aliases, star) in tables.items():
            index: dict[str, Alias] = {}
            for alias in aliases:
                index.setdefault(alias.name.lower(), alias)  # the first entry wins
            self.tables[key] = (index, star)
        accounts = parse_accounts(tree)
        self.users: dict[str, Account] | None = None  # None: no /etc/passwd in the tree
        if any(f.role == "passwd" for f in accounts.files):
            self.users = {}
            for account in accounts.accounts:
                if account.kind == AccountKind.USER:
                    self.users.setdefault(account.name, account)
        self.qualify = (cfg.main_value("qualify_recipient") or mta.qualify_domain or "").lower()
        self.memo: dict[str, tuple[_Routed, int]] = {}  # address -> result, its depth
        self.forwards: dict[str, tuple[Alias | None, str]] = {}  # path -> entry, state
        self.told: set[tuple[str, str]] = set()
        self.steps = 0
        self.homeless: list[Account] = []  # users whose home folder the tree lacks
        self.lists: dict[tuple[str, str], list[str]] = {}
        # each router's options by name (the first setting of each), and those whose condition
        # is decided only when mail comes
        self.options = {d.name: {o.name: o for o in reversed(d.options)} for d in cfg.routers}
        # in order: each router, whether it routes mail at all, its cannot_route_message
        self.routers = [(d, routing.runs(d), self._value(d, "cannot_route_message")
                         or _UNROUTEABLE) for d in cfg.routers]
        self.served: dict[tuple[str, str], bool] = {}  # (router, domain) -> its domains has it
        self.conditional = {d.name for d in cfg.routers if any(
            (c.value or "").strip().lower() not in ("true", "yes", "1")
            for c in d.all("condition"))}
        self.config = Source(cfg.files[0].path) if cfg.files else None

    def _tell(self, fid: str, severity: Severity, message: str, hint: str,
              source: Source | None, key: str) -> None:
        """A finding, once for each ``key``."""
        if (fid, key) not in self.told:
            self.told.add((fid, key))
            _finding(self.result, fid, severity, message, hint, source)

    def _spent(self) -> None:
        self._tell("exim.routing-budget", Severity.ERROR,
                   f"the routes of the aliases and users went past {_MAX_STEPS:,} steps and "
                   "were not followed further: the table of accepted addresses is incomplete",
                   "Check for aliases that name huge :include: lists many times; inspect "
                   "again after merging them.", self.config, "budget")

    def _undecided(self, d: Driver, why: str) -> None:
        self._tell("exim.router-undecided", Severity.WARNING,
                   f"router {d.name} ({d.driver}) {why}: which addresses it takes, and where "
                   "it sends them, is not in the inventory's table of accepted addresses",
                   f"Check on the old host what router {d.name} does with mail to each "
                   "domain (`exim -bt ADDRESS`), and carry those addresses by hand.", d.source,
                   d.name)

    # the table -------------------------------------------------------------------------------

    def accepted(self) -> None:
        """Fill ``Mta.accepted``: every candidate of every domain the MTA serves that a
        router takes and that is neither a list's address nor refused on purpose."""
        mta = self.mta
        elsewhere = {(r.address.lower(), r.domain) for r in mta.list_routes}
        elsewhere |= {(r.address.lower(), r.domain) for r in mta.refused}
        served = dict.fromkeys(d.name for d in mta.domains if d.role != DomainRole.RELAY)
        # and every domain a list address or an alias table answers on (a list domain that
        # only the system aliases serve has no role of its own)
        relay = {d.name for d in mta.domains if d.role == DomainRole.RELAY}
        served.update(dict.fromkeys(r.domain for r in (*mta.list_routes, *mta.refused)))
        for d, runs, _text in self.routers:
            if runs and (d.name, None) in self.tables:
                served.update(dict.fromkeys(n for n in self.routing.domains(d)
                                            if n not in relay))
        for domain in served:
            for name in self._candidates(domain):
                if self.steps > _MAX_STEPS:
                    self._spent()
                    return
                if (name.lower(), domain) in elsewhere:
                    continue
                unknown = name == "*"
                routed = self.route(name.lower(), domain, (), 0, unknown)
                kind = self._kind(routed, unknown)
                if kind is None:
                    continue
                source = routed.account.source if routed.account and kind == AcceptedKind.USER \
                    else routed.entry.source if routed.entry else None
                if kind == AcceptedKind.FORWARD and routed.entry:
                    source = Source(routed.entry.table)
                if source is None:
                    d = self.cfg.router(routed.router) if routed.router else None
                    source = d.source if d else None
                mta.accepted.append(AcceptedAddress(name, domain, kind, list(routed.recipients),
                                                    routed.router, source))
        self._affixes()
        if self.homeless:
            names = ", ".join(a.name for a in self.homeless[:8]) \
                + (", ..." if len(self.homeless) > 8 else "")
            _finding(self.result, "exim.home-missing", Severity.WARNING,
                     f"{len(self.homeless)} local user(s) whose forward file Exim looks for "
                     f"have no home folder in the inspected tree ({names}): Exim defers their "
                     "mail, as it cannot tell whether a forward file exists, and so does the "
                     "table of accepted addresses",
                     "If the old host has these folders, copy them (their forward files at "
                     "least) into the inspected tree and inspect again; if it does not, their "
                     "mail waits in the old host's queue today.", self.homeless[0].source)

    def _affixes(self) -> None:
        """A router that takes local parts with a prefix or suffix (``alice+news``) accepts a
        family of addresses the table names by its stem only: say so (Mailman's router's
        suffixes are its lists' addresses, told by ListRoute)."""
        for d, runs, _text in self.routers:
            affixes = self._list(d, "local_part_prefix") + self._list(d, "local_part_suffix")
            transport = self.cfg.transport(self._value(d, "transport") or "")
            if not runs or not affixes or (transport is not None and transport.driver == "pipe"
                                           and is_mailman_wrapper(transport.value("command")
                                                                  or "")):
                continue
            self._tell("exim.local-part-affix", Severity.WARNING,
                       f"router {d.name} takes local parts with a prefix or suffix ("
                       + ", ".join(affixes) + "): each address it takes is also reached with "
                       "one, and the table of accepted addresses names the address without",
                       "Check that the new host takes these forms of the addresses too, or "
                       "tell the people who use them.", d.source, d.name)

    def _is_dir(self, path: str) -> bool:
        try:
            return self.tree.is_dir(path)
        except (TreeError, OSError, ValueError):
            return False

    def _candidates(self, domain: str) -> list[str]:
        """The local parts of ``domain`` that some router may take by name, in the routers'
        order, and "*" last (every other local part)."""
        names: dict[str, str] = {}
        for d, runs, _text in self.routers:
            if not runs or not self._serves(d, domain):
                continue
            table = self.tables.get((d.name, domain)) or self.tables.get((d.name, None))
            if table is not None:
                for key, alias in table[0].items():
                    if key != "*" and "@" not in key and not any(c.isspace() for c in key):
                        names.setdefault(key, alias.name)
            if self._checks_user(d) and self.users:
                for name in self.users:
                    if name == name.lower():
                        names.setdefault(name, name)
        names["*"] = "*"
        return list(names.values())

    @staticmethod
    def _kind(routed: _Routed, unknown: bool) -> AcceptedKind | None:
        if routed.router is None or routed.how in ("list", "refused"):
            return None  # refused at RCPT time, or told by ListRoute / RefusedAddress
        if unknown:
            return AcceptedKind.CATCH_ALL
        # a name another router takes as it takes any other: the catch-all row tells it
        return {"alias": AcceptedKind.ALIAS, "forward": AcceptedKind.FORWARD,
                "user": AcceptedKind.USER}.get(routed.how)

    # routing ---------------------------------------------------------------------------------

    def route(self, local: str, domain: str, chain: tuple[tuple[str, str], ...], depth: int,
              unknown: bool = False) -> _Routed:
        """Route ``local@domain`` from the first router; ``chain``: its ancestors, each with
        the router that handled it."""
        address = f"{local}@{domain}"
        hit, at = self.memo.get(address, (None, 0)) if not unknown else (None, 0)
        if hit is not None and (not hit.cut or depth >= at) \
                and not any(a in hit.seen for a, _r in chain):
            return hit  # no ancestor of this address is met below it: the same result
        if self.steps > _MAX_STEPS:
            self._spent()
            return _Routed(None, "cut", [], seen=frozenset({address}), cut=True)
        seen = {address}
        copies: list[Recipient] = []  # what ``unseen`` routers delivered
        first: _Routed | None = None
        message = _UNROUTEABLE
        for d, runs, text in self.routers:
            self.steps += 1
            message = text
            if not runs or (address, d.name) in chain:
                continue  # Exim's loop rule: this router handled the address above
            taken = self._try(d, local, domain, address, chain, depth, unknown)
            if taken is _SKIP:
                continue
            if taken is None:
                more = self._get(d, "more")
                if more is not None and not more.truthy:
                    break
                continue
            seen |= taken.seen
            unseen = self._get(d, "unseen")
            if unseen is not None and unseen.truthy:
                first = first or taken
                copies += taken.recipients
                continue
            if first is not None:
                taken = _Routed(first.router, first.how, copies + taken.recipients,
                                first.entry, first.account)
            break
        else:
            taken = None
        if taken is None:
            fail = [Recipient(RecipientKind.FAIL, message)]
            taken = _Routed(first.router, first.how, copies + fail, first.entry,
                            first.account) if first else _Routed(None, "none", fail)
        taken.recipients = _merged(taken.recipients)
        self.steps += len(taken.recipients)
        taken.seen = frozenset(seen)
        taken.cut = taken.cut or (first is not None and first.cut)
        # a result cut short by the bound of generations holds where no more generations are
        # left: a chain longer than the bound is then walked once more per link at most
        if not unknown and not any(a in seen for a, _r in chain):
            self.memo[address] = (taken, depth)
        return taken

    def _try(self, d: Driver, local: str, domain: str, address: str,
             chain: tuple[tuple[str, str], ...], depth: int, unknown: bool) -> _Routed | None:
        """Router ``d``'s preconditions (``_SKIP`` when one fails), then the router itself (None
        when it declines)."""
        lp = local
        for name, prefix in (("local_part_prefix", True), ("local_part_suffix", False)):
            items = self._list(d, name)
            if not items:
                continue
            rest = next((r for r in (_affix(lp, i, prefix) for i in items) if r), None)
            if rest is None:
                optional = self._get(d, f"{name}_optional")
                if not (optional and optional.truthy):
                    return _SKIP
            else:
                lp = rest
        if not self._serves(d, domain) \
                or not self.routing.in_list(self._value(d, "local_parts"), lp, "local_part"):
            return _SKIP
        account = None
        if self._checks_user(d):
            if self.users is None:
                self._tell("exim.users-unknown", Severity.WARNING,
                           f"router {d.name} checks local users (check_local_user), but the "
                           "inspected tree has no /etc/passwd: the local users' addresses "
                           "and forward files are not in the inventory",
                           "Copy /etc/passwd into the inspected tree (it holds no passwords "
                           "on FreeBSD) and inspect again.", d.source, d.name)
                return _SKIP
            account = None if unknown else self.users.get(lp)
            if account is None:
                return _SKIP
        if self._get(d, "senders") is not None:
            self._undecided(d, "depends on the sender (senders; taken as met)")
        if not self._files(d, lp, domain, account, unknown):
            return _SKIP
        if d.name in self.conditional:
            self._undecided(d, "has a condition that is decided when mail comes (taken as "
                               "true)")
        if d.driver == "redirect":
            return self._redirect(d, lp, domain, address, account, chain, depth, unknown)
        transport = self.cfg.transport(self._value(d, "transport") or "")
        rule = f"router {d.name}" + (f", transport {transport.name}" if transport else "")
        seen = frozenset({address})
        if d.driver == "accept":
            command = transport.value("command") or "" if transport else ""
            if transport is not None and transport.driver == "pipe" \
                    and is_mailman_wrapper(command):
                return _Routed(d.name, "list", [Recipient(RecipientKind.ADDRESS, address, rule)],
                               seen=seen)
            if account is not None:
                return _Routed(d.name, "user", [Recipient(RecipientKind.MAILBOX, account.name,
                                                          rule)], account=account, seen=seen)
            if transport is not None and transport.driver == "pipe":
                recipient = Recipient(RecipientKind.PIPE, command, rule)
            elif transport is not None and transport.driver == "appendfile":
                recipient = Recipient(RecipientKind.FILE, transport.value("file")
                                      or transport.value("directory") or "", rule)
            else:
                recipient = Recipient(RecipientKind.ADDRESS, address, rule)
            return _Routed(d.name, "other", [recipient], seen=seen)
        if d.driver == "manualroute":
            rules = [r.split() for r in (self._value(d, "route_list") or "").split(";")]
            if self._value(d, "route_data") is None and not any(
                    r and self.routing.in_list(r[0], domain, "domain") for r in rules):
                return None
        elif d.driver == "ipliteral":
            if not domain.startswith("["):
                return None
        elif d.driver != "dnslookup":
            self._undecided(d, "is a router this inspection cannot run")
            return None
        return _Routed(d.name, "other", [Recipient(RecipientKind.ADDRESS, address, rule)],
                       seen=seen)

    def _serves(self, d: Driver, domain: str) -> bool:
        key = (d.name, domain)
        if key not in self.served:
            self.served[key] = self.routing.in_list(self._value(d, "domains"), domain, "domain")
        return self.served[key]

    def _get(self, d: Driver, option: str) -> Option | None:
        return self.options[d.name].get(option)

    def _value(self, d: Driver, option: str) -> str | None:
        opt = self.options[d.name].get(option)
        return opt.value if opt else None

    def _list(self, d: Driver, option: str) -> list[str]:
        """The items of a router's list option, split once."""
        key = (d.name, option)
        if key not in self.lists:
            self.lists[key] = split_list(self._value(d, option) or "")
        return self.lists[key]

    def _checks_user(self, d: Driver) -> bool:
        opt = self._get(d, "check_local_user")
        return bool(opt and opt.truthy)

    def _fill(self, text: str, lp: str, domain: str, account: Account | None) -> str | None:
        """``text`` with the walk's variables filled in, or None when it holds others."""
        def value(m: re.Match) -> str:
            name = m.group(1) or m.group(2) or "local_part"
            if name == "home":
                return account.home if account and account.home else "$home"
            return lp if name.startswith("local_part") else domain
        out = _VARS.sub(value, text)
        return None if "$" in out else out

    def _files(self, d: Driver, lp: str, domain: str, account: Account | None,
               unknown: bool) -> bool:
        """``require_files``: whether every item holds (an item the walk cannot decide is
        taken as met, with a finding)."""
        for item in self._list(d, "require_files"):
            negated = item.startswith("!")
            path = self._fill(item.lstrip("!+"), lp, domain, account)
            if path is None or not path.startswith("/"):
                self._undecided(d, f"requires {item!r}, which cannot be decided here "
                                   "(taken as met)")
                continue
            if unknown and lp in path:
                exists = False  # no file is named after an unknown local part
            else:
                try:
                    exists = self.tree.exists(path)
                except (TreeError, OSError, ValueError):
                    exists = False
            if exists == negated:
                return False
        return True

    def _redirect(self, d: Driver, lp: str, domain: str, address: str,
                  account: Account | None, chain: tuple[tuple[str, str], ...], depth: int,
                  unknown: bool) -> _Routed | None:
        table = self.tables.get((d.name, domain)) or self.tables.get((d.name, None))
        how = "alias"
        rule = f"router {d.name}"
        if table is not None:
            index, star = table
            entry = None if unknown else index.get(lp)
            if entry is None and star:
                entry = index.get("*")
            if entry is None:
                return None  # the lookup finds nothing: the router declines
        elif _lsearch_path(self._value(d, "data")) is not None:
            return None  # a per-domain table this domain has none of
        elif self._value(d, "file") and self._value(d, "data") is None:
            path = self._fill(self._value(d, "file") or "", lp, domain, account)
            if path is None:
                self._undecided(d, f"reads {self._value(d, 'file')!r}, which cannot be "
                                   "decided here")
                return None
            entry, state = self._forward(path, lp, account)
            if state == "none":
                return None  # no forward file in a folder that exists: the router declines
            if state != "read":  # a filter, unreadable, or no folder to look in
                held = [] if state == "unclear" else [Recipient(RecipientKind.DEFER, state, rule)]
                return _Routed(d.name, "forward", held, Alias(lp, [], path, None, Source(path)),
                               account, frozenset({address}))
            how = "forward"
        else:
            self._undecided(d, "redirects through data other than an lsearch table or a "
                               "forward file")
            return None
        generated: list[AliasTarget] = []
        fail = None
        # an alias entry that fails, defers or drops is a RefusedAddress; a forward file's
        # special items are the user's own
        refused = "refused" if how == "alias" else how
        for target in flat_targets(entry.targets):
            if target.kind == AliasTargetKind.UNKNOWN:
                continue
            if target.kind == AliasTargetKind.BLACKHOLE:
                return _Routed(d.name, refused, [Recipient(RecipientKind.DISCARD, "", rule)],
                               entry, account, frozenset({address}))
            if target.kind == AliasTargetKind.DEFER:
                return _Routed(d.name, refused, [Recipient(RecipientKind.DEFER, target.value,
                                                           rule)],
                               entry, account, frozenset({address}))
            if target.kind == AliasTargetKind.FAIL:
                fail = target
                break
            generated.append(target)
        if not generated and fail is None:
            return None  # an empty list: the router declines
        if fail is not None:
            how = refused
        elif how == "alias" and any(t.kind == AliasTargetKind.PIPE and wrapper_call(t.value)
                                    for t in generated):
            how = "list"  # a ListRoute (the pipes into the wrapper; emitters/common.py's
            # other_targets carries what else the entry names)
        out: list[Recipient] = []
        seen = {address}
        cut = False
        if depth >= _MAX_GENERATIONS:
            self._tell("exim.routing-deep", Severity.WARNING,
                       f"{address} is reached through more than {_MAX_GENERATIONS} aliases or "
                       "forward files: the recipients past that are not in the inventory's "
                       "table of accepted addresses", "Shorten the chain of aliases (each "
                       "naming the next).", entry.source, "deep")
            generated, cut = [], True
        preserve = self._get(d, "qualify_preserve_domain")
        ancestor = self._get(d, "check_ancestor")
        ancestors = {a for a, _r in chain} if ancestor and ancestor.truthy else set()
        below = chain + ((address, d.name),)
        for target in generated:
            if target.kind == AliasTargetKind.PIPE:
                out.append(Recipient(RecipientKind.PIPE, target.value,
                                     f"{rule}, transport {self._value(d, 'pipe_transport')}"))
                continue
            if target.kind == AliasTargetKind.FILE:
                option = "directory_transport" if target.value.endswith("/") else \
                    "file_transport"
                out.append(Recipient(RecipientKind.FILE, target.value,
                                     f"{rule}, transport {self._value(d, option)}"))
                continue
            child = self._address(target.value, domain, bool(preserve and preserve.truthy))
            if child is None:
                out.append(Recipient(RecipientKind.FAIL, f"malformed address: {target.value}",
                                     rule))
                continue
            if f"{child[0]}@{child[1]}" in ancestors:
                seen.add(f"{child[0]}@{child[1]}")
                child = (address.rpartition("@")[0], domain)
            sub = self.route(child[0], child[1], below, depth + 1)
            seen |= sub.seen
            cut = cut or sub.cut
            out += sub.recipients
        if fail is not None:
            out.append(Recipient(RecipientKind.FAIL, fail.value, rule))
        return _Routed(d.name, how, out, entry, account, frozenset(seen), cut)

    def _address(self, item: str, incoming: str, preserve: bool) -> tuple[str, str] | None:
        """(local part, domain) of a generated address, qualified as Exim qualifies it."""
        text = item.strip()
        m = re.search(r"<([^<>]*)>\s*\Z", text)
        if m:
            text = m.group(1).strip()
        backslash = text.startswith("\\")
        text = text.lstrip("\\")
        local, at, domain = text.rpartition("@")
        if not at:
            local, domain = text, incoming if backslash or preserve or not self.qualify \
                else self.qualify
        if not local or not domain or _SPACE.search(domain):
            return None
        return local.lower(), domain.lower()

    def _forward(self, path: str, user: str, account: Account | None
                 ) -> tuple[Alias | None, str]:
        """A forward file's entry, and how it was found (each file is read once): "read";
        "none" (missing from a folder that exists: the router declines); "unclear" (a filter,
        or unreadable: the findings say so); or, when its folder is missing too, the text with
        which Exim defers the address (it cannot tell whether the file exists)."""
        if path not in self.forwards:
            read = parse_forward(self.tree, path, user, budget=self.budget)
            self.result.findings += read.findings
            entry = read.aliases[0] if read.aliases else None
            state = "read" if entry else "unclear" if read.files or read.findings else "none"
            folder = posixpath.dirname(path) or "/"
            if state == "none" and not self._is_dir(folder):
                state = f"failed to stat {folder}/. (No such file or directory)"
                if account is not None:
                    self.homeless.append(account)
            self.forwards[path] = (entry, state)
        return self.forwards[path]


def _lookup_files(tree: Tree, mta: Mta) -> None:
    """Fingerprint the fixed files that lookups read, so the plan sees later changes."""
    for lookup in EximPart.of(mta).lookups:
        if "$" in lookup.path or lookup.kind == "dsearch":
            continue
        if any(f.path == lookup.path for f in mta.config_files):
            continue
        if tree.is_file(lookup.path):
            tf = read_text(tree, lookup.path, f"exim-{lookup.kind}", required=False)
            if tf.config:
                _add_files(mta, [tf.config])


# --- what Exim does beyond routing ----------------------------------------------------------------


#: Each feature's name (model.FEATURES) and what it is in Exim's terms.
_FEATURES = {
    "av": ("content-scanning", "virus scanning (ClamAV through av_scanner / `malware =`)"),
    "spam": ("spam-scanning", "SpamAssassin scoring (spamd_address / `spam =`)"),
    "callout": ("verify-callout", "sender or callout verification (`verify = sender` / "
                "`callout`)"),
    "ratelimit": ("ratelimit", "rate limits (`ratelimit =`)"),
    "dnslists": ("dnsbl", "DNS blocklists (`dnslists =`)"),
    "dkim": ("dkim-signing", "DKIM signing (dkim_* transport options)"),
    "headers": ("header-rewrite", "header changes (headers_add / headers_remove)"),
    "rewrite": ("address-rewrite", "address rewriting (begin rewrite)"),
    "filter": ("user-filters", "Exim filter or Sieve files (allow_filter / sieve)"),
    "auth": ("authenticators", "SMTP authentication (authenticators)"),
    "queryprogram": ("queryprogram", "a queryprogram router"),
    "condition": ("router-condition", "a custom router condition"),
}


def _features(cfg: EximConfig, mta: Mta) -> None:
    """What the configuration does to mail beyond routing it, each where it is set."""
    def report(key: str, source: Source | None, detail: str = "") -> None:
        name, what = _FEATURES[key]
        mta.features.append(MtaFeature(name, what, detail, source))

    av = cfg.main_option("av_scanner")
    if av and av.value:
        report("av", av.source, av.value)
    spamd = cfg.main_option("spamd_address")
    if spamd and spamd.value:
        report("spam", spamd.source, spamd.value)
    for stmt in cfg.acl:
        for cond in stmt.conditions:
            value = cond.value or ""
            if cond.name == "malware":
                report("av", cond.source, f"acl {stmt.acl}: malware = {value}")
            elif cond.name == "spam":
                report("spam", cond.source, f"acl {stmt.acl}: spam = {value}")
            elif cond.name == "verify" and re.search(r"\b(sender|callout)", value):
                report("callout", cond.source, f"acl {stmt.acl}: verify = {value}")
            elif cond.name == "ratelimit":
                report("ratelimit", cond.source, f"acl {stmt.acl}")
            elif cond.name == "dnslists":
                report("dnslists", cond.source, f"acl {stmt.acl}: {value[:60]}")
    for d in cfg.transports:
        dkim = [o for o in d.options if o.name.startswith("dkim_")]
        if dkim:
            report("dkim", dkim[0].source, f"transport {d.name}")
    for d in cfg.routers + cfg.transports:
        for o in d.options:
            if o.name in ("headers_add", "headers_remove") and o.value:
                report("headers", o.source, f"{d.kind} {d.name}: {o.name}")
    for d in cfg.routers:
        if d.driver == "queryprogram":
            report("queryprogram", d.source, f"router {d.name}")
        if d.driver == "redirect":
            for name in ("allow_filter", "sieve_subaddress", "forbid_filter_reply"):
                opt = d.get(name)
                if opt and opt.truthy and name == "allow_filter":
                    report("filter", opt.source, f"router {d.name}")
        for cond in d.all("condition"):
            if cond.value:
                report("condition", cond.source, f"router {d.name}: {cond.value[:60]}")
    rewrites = [r for r in cfg.rules if r.section == "rewrite"]
    if rewrites:
        report("rewrite", rewrites[0].source, f"{len(rewrites)} rule(s)")
    if cfg.authenticators:
        report("auth", cfg.authenticators[0].source,
               ", ".join(f"{a.name} ({a.driver})" for a in cfg.authenticators))



# --- the reading half of the Exim plugin (migrate/core/mta.py) ---------------------------------------


def read_host(tree: Tree, config: str, hostname: str | None,
              defines: dict[str, str]) -> Read:
    """Parse ``config`` and map it: a redirect router reads aliases of its own, so the system
    aliases file is then not read on the side. Exim's own name is primary_hostname, or the
    host's name when it is not set (as Exim itself takes it)."""
    cfg = parse_exim(tree, config, defines)
    result = read_exim(cfg, tree, hostname)
    own = bool(result.mta.aliases) or any(r.driver == "redirect"
                                          for r in EximPart.of(result.mta).routers)
    names = []
    if result.mta.primary_hostname:
        option = cfg.main_option("primary_hostname")
        name = result.mta.primary_hostname.lower().rstrip(".")
        names.append(HostName(name, NameUse.MTA, "Exim primary_hostname", option.source)
                     if option and option.value else
                     HostName(name, NameUse.MTA, "Exim primary_hostname (not set: the host's "
                              "name)", Source(cfg.path)))
    return Read(result.mta, result.findings, own, names)


def summary(mta: Mta) -> list[Table]:
    """The routers in order: the first that accepts an address decides where it goes."""
    routers = EximPart.of(mta).routers
    if not routers:
        return []
    rows = [(r.name, r.driver, r.transport or "", " : ".join(r.domains),
             f"{r.source.file.rsplit('/', 1)[-1]}:{r.source.line}" if r.source else "")
            for r in routers]
    return [Table("Routers, in order (exim)", ("router", "driver", "transport", "domains",
                                                "line"), rows, fold=("domains",))]


def define_problem(name: str) -> str | None:
    """A ``-D`` name as ``exim -D`` takes it: a macro's, or a builtin's (``_HAVE_TLS``)."""
    if name and (name[0].isupper() or name[0] == "_") and name.replace("_", "").isalnum():
        return None
    return ("a macro name starts with an upper-case letter (or _ for a builtin) and holds "
            "letters, digits and _")


READER = Reader(name="Exim", service="exim", config_paths=CONFIGS, read=read_host,
                summary=summary, model=EximPart, define_problem=define_problem)
