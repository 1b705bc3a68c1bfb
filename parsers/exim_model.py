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
from migrate.core.model import (Alias, AliasTarget, AliasTargetKind, ConfigFile, Domain, DomainRole,
                                EximPart, Finding, HostName, ListRoute, Listener, Mta, MtaFeature,
                                NameUse, NamedList, RefusedAddress, RouteVia, Router, Severity,
                                Smarthost, Source, TlsFiles, Transport)
from parsers.aliases import MAX_INCLUDE_DEPTH, MAX_INCLUDE_READS, parse_aliases
from parsers.base import IncludeBudget, Tree, read_text
from parsers.exim import Driver, EximConfig, config_lookups, parse_exim, split_list

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
        items = split_list(value)
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
                            result, seen_tables)
            continue
        if "$" in path:
            continue
        aliases = _alias_table(tree, path, None, star, mta, result, seen_tables,
                               domains.includes)
        _alias_routes(aliases, routing.domains(d), d, routing, pipe_transport, RouteVia.ALIAS,
                      star, mta, result)
    _first_router_wins(mta, routing)
    _check_routes(mta, result)


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
                    result: EximResult, seen: dict) -> None:
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
        _add_domains(mta, [domain], DomainRole.VIRTUAL, f"router {d.name}", d.source)
        _alias_routes(aliases, [domain], d, routing, pipe_transport, RouteVia.VIRTUAL_ALIAS,
                      star, mta, result)


def _wrapper_targets(targets: list[AliasTarget], depth: int = 0) -> list[AliasTarget]:
    """The pipes into Mailman's wrapper among an alias's targets, also inside its
    ``:include:`` files (Exim reads an included file's items as if they were written there)."""
    out: list[AliasTarget] = []
    for target in targets:
        if target.kind == AliasTargetKind.PIPE and wrapper_call(target.value):
            out.append(target)
        elif target.kind == AliasTargetKind.INCLUDE and depth < MAX_INCLUDE_DEPTH:
            out += _wrapper_targets(target.members, depth + 1)
    return out


def _alias_routes(aliases: list[Alias], route_domains: list[str], d: Driver, routing: _Routing,
                  pipe_transport: str | None, via: RouteVia, star: bool, mta: Mta,
                  result: EximResult) -> None:
    router = d.name
    for alias in aliases:
        if alias.name == "*" and not star:
            continue  # a plain lsearch never looks up "*" for another local part
        if alias.name != "*" and not routing.local_part_ok(d, alias.name):
            continue  # the router's local_parts keep this name away from the table
        if len(alias.targets) == 1 and alias.targets[0].kind in _REFUSALS:
            target = alias.targets[0]
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
