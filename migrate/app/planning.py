"""``migrate plan``: target settings, the emitters in order, and the plan directory.

Orchestration only: it resolves the target (flags over ``target.yaml`` over defaults taken
from the inventory), runs every emitter on the same inventory and target, and writes the
result as a whole: the new plan directory appears complete or not at all, and re-running with
the same input gives byte-identical files.

The operator changes an emitted file through an overlay folder (``--overlay DIR``): its files
replace or add files of the plan's ``files/`` tree, pass the same output checks as the
emitted ones (and, installed, the same check on the new host: ``httpd -n``, ``smtpd -n``),
and are sealed in plan.yaml like them. An edit made inside a plan folder is refused by the
cutover (the digests) and would be dropped by the next ``plan -o`` into that folder, so
``prepare_overlay`` refuses to plan over one unless told to keep it (copied into the overlay)
or to discard it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from migrate.core import codec, safeyaml
from emitters.acme_client import emit_acme_client
from emitters.aliases import emit_aliases
from emitters.common import OVERLAY_TREE, Emitted, Emitter, Phase, is_address, is_domain
from emitters import guard
from emitters.dns_plan import emit_dns
from emitters.handback_table import emit_handback
from emitters.httpd_conf import emit_httpd_conf
from emitters.destination import emit_destination, unknown as unknown_destination
from emitters.new_host import NewHost, new_host
from emitters.mta_features import emit_mta_features
from emitters.old_host import emit_old_host
from emitters.parity import emit_parity
from emitters.recipients_table import emit_recipients
from emitters.rsync_plan import emit_rsync
from emitters.runbook import emit_runbook
from emitters.release import NEWEST_STABLE, Release
from emitters.report import emit_report, show_digest
from emitters.smtpd_conf import emit_smtpd_conf
from emitters.virtual_table import emit_virtual
from emitters.web_parity import emit_web_parity
from emitters.web_urls import emit_web_urls
from migrate.core.errors import Exit, MigrateError
from migrate.app.fileio import PLAN_HEADER, plan_files, read_inside, write_atomic, write_tree
from migrate.core.model import DomainRole, Finding, Inventory, Severity, Source, Target, TlsMode
from migrate.app.mtas import register_all
from migrate.app.remote import SCANNER
from migrate.core.steps import (PLAN_FILE, PLAN_VERSION, REPORT_HTML, REPORT_MD, RUNBOOK_FILE, Step,
                                plain_problem, plan_digest, plan_path, runbook_markdown,
                                shown_digest)

register_all()  # the old MTA's emitters find its plugin by kind
#: Every writer of the plan, run phase by phase (``Phase``: the runbook installs the files the
#: others declared, the report shows the plan as checked), in this order within a phase.
EMITTERS = (
    Emitter(emit_smtpd_conf, new_host=True), Emitter(emit_aliases, new_host=True),
    Emitter(emit_virtual, new_host=True), Emitter(emit_handback, new_host=True),
    Emitter(emit_recipients, new_host=True),
    Emitter(emit_httpd_conf, new_host=True),
    Emitter(emit_acme_client), Emitter(emit_destination, new_host=True),
    Emitter(emit_rsync, new_host=True), Emitter(emit_old_host, new_host=True),
    Emitter(emit_mta_features), Emitter(emit_dns), Emitter(emit_parity, new_host=True),
    Emitter(emit_web_urls, new_host=True), Emitter(emit_web_parity, new_host=True),
    Emitter(emit_runbook, Phase.STEPS, new_host=True),
    Emitter(emit_report, Phase.REPORT),
)
_TARGET_FIELDS = {f.name for f in dataclasses.fields(Target)}


@dataclass
class BuiltPlan:
    target: Target
    release: Release
    files: dict[str, str] = field(default_factory=dict)  # plan-relative path -> text
    findings: list[Finding] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)  # the runbook, typed
    parity: list[dict] = field(default_factory=list)  # old route -> new route, per address
    web_parity: list[dict] = field(default_factory=list)  # old URL -> new answer, per pattern
    inventory_findings: list[Finding] = field(default_factory=list)
    digest: str = ""  # the plan digest (migrate.core.steps.plan_digest)
    overlay: list[str] = field(default_factory=list)  # the files that came from an overlay

    def standing(self) -> list[Finding]:
        """Every finding that stands: the inventory's (as ``inspect`` found them) and then the
        plan's own, each once. The plan's table, its ``--json``, its exit code, report.md and
        plan.yaml (which the cutover and its dry run read) all show these."""
        return _dedupe(self.inventory_findings + self.findings, by_source=True)

    def blockers(self) -> list[Finding]:
        """Blockers of the plan and of the inventory it was made from: either stops the move."""
        return [f for f in self.standing() if f.severity == Severity.BLOCKER]


def read_target_file(path: str) -> dict[str, Any]:
    """``target.yaml``: a mapping of Target fields; anything else is refused by name. Read as
    the inventory is (``safeyaml``: aliases and nesting bounded)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise MigrateError(f"cannot read the target settings: {exc.strerror}", file=path,
                           code=Exit.INPUT) from None
    except UnicodeDecodeError:
        raise MigrateError("the target settings are not UTF-8 text", file=path,
                           code=Exit.INPUT) from None
    try:
        data = safeyaml.load(text)
    except yaml.YAMLError as exc:
        message, line = safeyaml.error_line(exc)
        raise MigrateError(message, file=path, line=line, code=Exit.INPUT) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise MigrateError("the target settings must be a mapping (key: value lines)",
                           file=path, code=Exit.INPUT)
    unknown = sorted(str(k) for k in data if k not in _TARGET_FIELDS)
    if unknown:
        raise MigrateError(f"unknown setting(s) {', '.join(unknown)}", file=path,
                           code=Exit.INPUT,
                           hint=f"known: {', '.join(sorted(_TARGET_FIELDS))}")
    return data


def default_email_domains(inv: Inventory) -> list[str]:
    """The domains that host lists: each list's host_name and the MTA's list domains."""
    found = {ml.host_name.lower() for ml in inv.lists if ml.host_name}
    found |= {d.lower() for d in inv.mta.domains_by_role(DomainRole.LIST)}
    return sorted(found)


def old_web_tls(inv: Inventory, web_host: str | None) -> bool:
    """Whether the old web server answered HTTPS for Mailman's pages: a TLS virtual host
    named as the web host (or as one of Mailman's virtual URL hosts)."""
    if inv.web is None:
        return False
    names = {web_host} if web_host else set()
    settings = inv.mailman.settings if inv.mailman else None
    names |= {vh.url_host for vh in settings.virtual_hosts} if settings else set()
    return any(vh.tls and ({vh.server_name, *vh.server_aliases} & names)
               for vh in inv.web.virtual_hosts)


def resolve_target(inv: Inventory, settings: dict[str, Any], flags: dict[str, Any],
                   source: str = "target settings") -> Target:
    """Flags over ``settings`` over defaults from the inventory; one clear error when a
    required setting is missing or malformed."""
    merged = dict(settings)
    merged.update({k: v for k, v in flags.items() if v not in (None, [], ())})
    merged.setdefault("openbsd", NEWEST_STABLE)
    merged["openbsd"] = str(merged["openbsd"])
    if not merged.get("destination"):
        merged["destination"] = default_destination(merged["openbsd"])
    if not merged.get("hostname"):
        raise MigrateError("the new host's name is missing", code=Exit.USAGE,
                           hint="give --hostname NAME or hostname: in target.yaml")
    if not merged.get("ipv6") and not merged.get("ipv4"):
        raise MigrateError("the new host's address is missing", code=Exit.USAGE,
                           hint="give --ipv6 ADDRESS (or --ipv4) or ipv6: in target.yaml")
    for key in ("ipv6", "ipv4", "email_domains", "old_ipv4"):
        if isinstance(merged.get(key), str):
            merged[key] = [merged[key]]
    if not merged.get("email_domains"):
        merged["email_domains"] = default_email_domains(inv)
    settings_mm = inv.mailman.settings if inv.mailman else None
    if not merged.get("web_host"):
        url_host = settings_mm.default_url_host if settings_mm else None
        merged["web_host"] = url_host or merged["hostname"]
    if "old_ipv4" not in merged:
        merged["old_ipv4"] = [a.address for a in inv.host.addresses_v4]
    if not merged.get("tls"):
        merged["tls"] = TlsMode.ACME if old_web_tls(inv, merged["web_host"]) else TlsMode.NONE
    if merged.get("second_presync") is None:
        merged["second_presync"] = archive_bytes(inv) >= SECOND_PRESYNC_FROM
    if (inv.mta.tls or merged["tls"] == TlsMode.ACME) and "tls_certificate" not in merged:
        host = merged["hostname"]
        merged["tls_certificate"] = f"/etc/ssl/{host}.fullchain.pem"  # acme-client's layout
        merged.setdefault("tls_key", f"/etc/ssl/private/{host}.key")
    try:
        target = codec.from_data(Target, merged)
    except codec.CodecError as exc:
        raise MigrateError(f"{source}: setting {exc}", code=Exit.USAGE) from None
    _check_target(target)
    return target


#: From this many bytes of archives on, the plan runs the pre-sync twice by default (a first
#: copy of a gigabyte takes long enough for a live list to change much meanwhile).
SECOND_PRESYNC_FROM = 1 << 30


def archive_bytes(inv: Inventory) -> int:
    """The archive mboxes' bytes, as inspected."""
    return sum(a.bytes or 0 for a in inv.archives)


def default_destination(openbsd: str) -> str:
    """The list manager a release gets unless told: Mailman 2 where the release is known to
    have its package (``Release.mailman2_package_known``), else Mailman 3."""
    try:
        release = Release.parse(openbsd)
    except ValueError:
        return "mailman2"  # _check_target refuses the release
    return "mailman2" if release.mailman2_package_known else "mailman3"


def _check_target(target: Target) -> None:
    problem = unknown_destination(target.destination)
    if problem:
        raise MigrateError(problem, code=Exit.USAGE,
                           hint="give destination: as one of them in target.yaml")
    try:
        Release.parse(target.openbsd)
    except ValueError as exc:
        raise MigrateError(str(exc), code=Exit.USAGE, hint="give --openbsd like 7.8") from None
    if not is_domain(target.hostname.lower()):
        raise MigrateError(f"{target.hostname!r} is not a host name", code=Exit.USAGE,
                           hint="give the new host's fully qualified name")
    for family, version in (("ipv6", 6), ("ipv4", 4)):
        for addr in getattr(target, family):
            try:
                ok = ipaddress.ip_address(addr).version == version
            except ValueError:
                ok = False
            if not ok:
                raise MigrateError(f"{addr!r} is not an IPv{version} address", code=Exit.USAGE,
                                   hint=f"check --{family}")
    if target.smarthost is not None:  # HOST, HOST:PORT, [ADDRESS] or [ADDRESS]:PORT
        import re

        m = re.fullmatch(r"(?:([^:\[\]\s]+)|\[([0-9A-Fa-f:.]+)\])(?::([0-9]{1,5}))?",
                         target.smarthost)
        ok = m is not None and (is_domain(m.group(1).lower()) if m.group(1) else True)
        if ok and m.group(2):
            try:
                ipaddress.ip_address(m.group(2))
            except ValueError:
                ok = False
        if ok and m.group(3) and not 0 < int(m.group(3)) < 65536:
            ok = False
        if not ok:
            raise MigrateError(f"{target.smarthost!r} is not a smarthost", code=Exit.USAGE,
                               hint="give --smarthost as HOST, HOST:PORT or [ADDRESS]:PORT")
    if target.old_host_address is not None:
        try:
            ipaddress.ip_address(target.old_host_address)
        except ValueError:
            raise MigrateError(f"old_host_address {target.old_host_address!r} is not an IP "
                               "address", code=Exit.USAGE,
                               hint="give the old host's address the new host hands mail "
                                    "back to, e.g. old_host_address: 2001:db8::25") from None
    for address in target.drop_addresses:
        if not is_address(address.lower()):
            raise MigrateError(f"drop_addresses: {address!r} is not a mail address",
                               code=Exit.USAGE, hint="list addresses as local@domain")
    for value in (target.dns_ttl, target.normal_ttl):
        if not 30 <= value <= 7 * 86400:
            raise MigrateError(f"TTL {value} is outside 30 s .. 7 days", code=Exit.USAGE)


def build_plan(inv: Inventory, target: Target, overlay: dict[str, str] | None = None,
               overlay_dir: str = "the overlay") -> BuiltPlan:
    """Every emitter on the same inventory and target, behind the guard
    (``emitters.guard``): the emitters see only values that cannot break a line
    (each one that could is a blocker naming its field), an emitter that refuses a value
    writes nothing, and every emitted file is checked before it joins the plan.
    ``overlay`` (``read_overlay``) replaces or adds files, each named in a finding."""
    inv, taints = guard.screen(inv)
    target, target_taints = guard.screen(target, "target")
    taints += target_taints
    release = Release.parse(target.openbsd)
    plan = BuiltPlan(target, release, inventory_findings=list(inv.findings))
    if not release.known:
        plan.findings.append(Finding(
            "plan.release-unknown", Severity.WARNING,
            f"OpenBSD {release} is newer than the newest release this tool knows "
            f"({NEWEST_STABLE}); the files use the grammar of {NEWEST_STABLE}",
            "Check the emitted files with `smtpd -n` and `httpd -n` on the new host.", None))
    old = {a.address for a in inv.host.addresses}
    for addr in target.ipv6 + target.ipv4:
        if addr in old:
            plan.findings.append(Finding(
                "plan.address-of-old-host", Severity.BLOCKER,
                f"the new host's address {addr} is one of the old host's addresses (rc.conf)",
                "Give the new host its own address; the old host keeps its addresses as the "
                "front door, and mail forwarded to itself would loop.", None))
    host = new_host(inv, target, release)
    ordered = sorted(EMITTERS, key=lambda e: e.phase)
    combined = Emitted()  # the files' emitters, then the runbook's, which reads what they declared
    _emit([e for e in ordered if e.phase < Phase.REPORT], inv, target, release, host,
          combined, combined)
    if combined.data.scanner:
        combined.files[combined.data.scanner] = SCANNER.read_text(encoding="ascii")
    for path, text in (overlay or {}).items():
        combined.findings.append(_overlaid(path, overlay_dir, combined))
        combined.files[path] = text
        plan.overlay.append(path)
    files, unsafe_output = guard.check_output(combined.files)
    plan.findings += guard.taint_findings(taints, files)
    plan.findings += _dedupe(combined.findings) + unsafe_output
    plan.steps = combined.data.steps or []
    plan.parity = combined.data.parity or []
    plan.web_parity = combined.data.web_parity or []
    # what shows the plan sees it checked (the findings its own output check adds follow)
    checked = Emitted(files=files, findings=list(plan.findings), data=combined.data,
                      installs=combined.installs)
    shown = Emitted(writers=dict(combined.writers))  # a file of the plan has one writer
    _emit([e for e in ordered if e.phase == Phase.REPORT], inv, target, release, host, checked,
          shown)
    report, unsafe_report = guard.check_output(shown.files)
    plan.findings += shown.findings + unsafe_report
    plan.files = dict(sorted({**files, **report}.items()))
    _seal(inv, plan)
    return plan


def _emit(emitters: list[Emitter], inv: Inventory, target: Target, release: Release,
          host: NewHost, earlier: Emitted, into: Emitted) -> None:
    """Add what ``emitters`` write to ``into`` (``Emitted.add``: one writer per file and
    datum); one of a phase after the first reads ``earlier``, what the phases before wrote."""
    for emitter in emitters:
        try:
            into.add(emitter.run(inv, target, release, host, earlier), emitter.name)
        except guard.UnsafeValue as exc:
            # fail closed: an emitter handed a value it cannot write writes nothing at all
            into.findings.append(guard.unsafe_value(
                f"{emitter.name}: the value", exc.value,
                f"cannot be written as {exc.context}; its files are left out of the plan",
                "Fix the value on the old host (or in the inventory or target settings) and "
                "plan again.", None))


def _seal(inv: Inventory, plan: BuiltPlan) -> None:
    """plan.yaml, and the plan digest in the documents that show it (``steps.plan_digest``):
    the digest leaves their own digests out, so they are written once it is known. They
    passed the output check above without it; the digest line adds hex digits only."""
    data = _plan_data(inv, plan)
    plan.digest = plan_digest(data)
    shown = {RUNBOOK_FILE: runbook_markdown(plan.steps, inv.host.hostname,
                                            plan.target.hostname, plan.digest)}
    shown.update(show_digest({p: plan.files[p] for p in (REPORT_MD, REPORT_HTML)
                              if p in plan.files}, plan.digest))
    for path, text in shown.items():
        if path in plan.files:  # one left out as unsafe stays out
            plan.files[path] = text
            data["files"][path] = hashlib.sha256(text.encode()).hexdigest()
    data["files"] = dict(sorted(data["files"].items()))
    plan.files[PLAN_FILE] = PLAN_HEADER + safeyaml.dump(data, sort_keys=False,
                                                        allow_unicode=True, width=100)


def _overlaid(path: str, overlay_dir: str, combined: Emitted) -> Finding:
    """The finding that says where a file of the plan came from, and how it is checked."""
    install = next((i for i in combined.installs if i.source == path), None)
    if install is None:
        how = "no step installs it: it goes with the plan to both hosts"
    else:
        how = (f"the cutover installs it at {install.path}"
               + (f" and checks it with `{install.check}` there" if install.check else ""))
    verb = "replaces the emitted file" if path in combined.files else "is added"
    return Finding(
        "plan.overlay", Severity.INFO, f"{path} {verb}: it comes from the overlay; {how}",
        "Review it: migrate checked it as it checks its own files, but did not write it.",
        Source(guard.comment(os.path.join(overlay_dir, path.removeprefix(OVERLAY_TREE)))))


def _dedupe(findings: list[Finding], by_source: bool = False) -> list[Finding]:
    seen, out = set(), []
    for f in findings:
        key = (f.id, f.message, str(f.source or "") if by_source else "")
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def _plan_data(inv: Inventory, plan: BuiltPlan) -> dict[str, Any]:
    data = {
        "plan_version": PLAN_VERSION,
        "release": str(plan.release),
        "inventory": {"host": inv.host.hostname, "collected_at": codec.to_data(inv.collected_at),
                      "tool_version": inv.tool_version,
                      # how the old host was reached (`migrate export` connects the same way)
                      "source": {k: v for k, v in (("kind", str(inv.source.kind)),
                                                   ("host", inv.source.host),
                                                   ("user", inv.source.user),
                                                   ("port", inv.source.port)) if v}},
        "target": codec.to_data(plan.target),
        "files": {path: hashlib.sha256(text.encode()).hexdigest()
                  for path, text in sorted(plan.files.items()) if path != PLAN_FILE},
        "findings": [codec.to_data(f) for f in plan.standing()],
        "steps": [s.to_data() for s in plan.steps],
        "web_parity": plan.web_parity,
    }
    if plan.overlay:  # the next `plan -o` into this folder keeps them or is told to drop them
        data["overlay"] = plan.overlay
    return data


def write_plan(plan: BuiltPlan, out_dir: str) -> None:
    """Write the plan directory whole: into a temp folder beside it, then swapped in.

    An existing ``out_dir`` is replaced only if it is an earlier plan (it holds plan.yaml)
    or empty; anything else is refused.
    """
    write_tree(out_dir, plan.files, marker=PLAN_FILE, what="a plan directory")


# --- the operator's changes: an overlay, and edits in an earlier plan -------------------------


#: an overlay file larger than this is refused (the plan's files are configuration)
MAX_OVERLAY_BYTES = 16 * 1024 * 1024


def _refuse(message: str, file: str, code: Exit = Exit.INPUT, hint: str | None = None):
    return MigrateError(message, file=guard.comment(file), code=code, hint=hint)


def read_overlay(directory: str) -> dict[str, str]:
    """The files of an overlay folder by the plan path each replaces or adds:
    DIR/new/etc/httpd.conf is files/new/etc/httpd.conf (``OVERLAY_TREE``).

    Each entry must be a regular file (a link, to a file or a folder, is refused: what is
    sealed is what the folder holds) of UTF-8 text at a plain path, and pass the output checks
    of the emitted files (``guard.output_problem``: control characters, Python that does not
    parse); else one line naming it, exit 3, before anything is written."""
    root = Path(directory)
    if not root.is_dir():
        raise _refuse("the overlay is not a folder", directory, Exit.USAGE)
    out: dict[str, str] = {}

    def unreadable(exc: OSError) -> None:  # a folder skipped would be an overlay half merged
        raise _refuse(f"cannot read the overlay: {exc.strerror}", exc.filename or directory)

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable):  # links: not entered
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            problem = plan_path(OVERLAY_TREE + rel)
            if problem is None and os.path.islink(full):
                problem = "is a link (put the file itself into the overlay)"
            if problem is None and name in filenames:
                problem, out[OVERLAY_TREE + rel] = _overlay_file(root, rel)
            if problem is not None:
                raise _refuse(f"overlay file {rel} {problem}", full,
                              hint="an overlay holds the plan files it replaces or adds, at "
                              "their path under files/ (new/etc/httpd.conf)")
    return dict(sorted(out.items()))


def _overlay_file(root: Path, rel: str) -> tuple[str | None, str]:
    """(what is wrong with it or None, its text) for one file of an overlay."""
    try:
        if os.lstat(root / rel).st_size > MAX_OVERLAY_BYTES:
            return f"is larger than {MAX_OVERLAY_BYTES >> 20} MiB", ""
        text = read_inside(str(root), rel).decode("utf-8")
    except UnicodeDecodeError:
        return "is not UTF-8 text", ""
    except OSError as exc:
        return f"cannot be read as a regular file: {exc.strerror or exc}", ""
    problem = guard.output_problem(OVERLAY_TREE + rel, text)
    return (None if problem is None else f"is refused by the plan's checks: {problem}"), text


def local_edits(out_dir: str, overlay: dict[str, str]) -> list[str]:
    """The files of the plan already in ``out_dir`` whose digest is not the one its plan.yaml
    recorded (edited by hand, or replaced by a link), unless ``overlay`` holds them as they
    are now; plan.yaml itself when runbook.md shows another plan digest than plan.yaml's data
    gives (an earlier version's runbook shows none: its plan.yaml is not checked); and the
    files that plan took from an overlay that ``overlay`` no longer has (a forgotten
    ``--overlay``). [] when ``out_dir`` holds no plan migrate wrote."""
    root = Path(out_dir)
    if not root.is_dir() or plan_files(root) is None:
        return []
    try:  # plan_files read it with PyYAML; a key written twice, say, is still an edit
        data = safeyaml.load(read_inside(out_dir, PLAN_FILE).decode("utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return [PLAN_FILE]
    if plain_problem(data) is not None:
        return [PLAN_FILE]
    edited = []
    for rel, digest in data["files"].items():
        if plan_path(rel) is not None:
            continue  # not a file of this folder (the cutover refuses such a plan)
        try:
            now = read_inside(out_dir, rel)
        except FileNotFoundError:
            continue  # removed: planning again writes it back
        except OSError:
            edited.append(rel)  # a link or no longer a file
            continue
        if hashlib.sha256(now).hexdigest() != digest and (
                rel not in overlay or overlay[rel].encode() != now):
            edited.append(rel)
    try:
        shown = shown_digest(read_inside(out_dir, RUNBOOK_FILE).decode("utf-8", "replace"))
    except OSError:
        shown = None
    if shown is not None and shown != plan_digest(data):
        edited.append(PLAN_FILE)
    overlaid = data.get("overlay") if isinstance(data.get("overlay"), list) else []
    edited += [rel for rel in overlaid if isinstance(rel, str) and plan_path(rel) is None
               and rel not in overlay and rel not in edited and os.path.lexists(root / rel)]
    return edited


def prepare_overlay(out_dir: str, overlay_dir: str | None, keep: bool = False,
                    discard: bool = False) -> dict[str, str]:
    """The overlay to plan with, once the edits in the plan already at ``out_dir`` are dealt
    with: refused (exit 2, naming them) unless ``keep`` (each is copied into the overlay
    folder first, so this plan and every later one keeps it) or ``discard``."""
    if keep and discard:
        raise MigrateError("give one of --keep-edits and --discard-edits", code=Exit.USAGE)
    if keep and overlay_dir is None:
        raise MigrateError("--keep-edits copies the edits into the overlay folder: give "
                           "--overlay DIR too", code=Exit.USAGE)
    if overlay_dir is not None:
        out, over = Path(out_dir).absolute(), Path(overlay_dir).absolute()
        if over == out or out in over.parents or over in out.parents:
            raise _refuse("the overlay folder and the plan folder cannot hold one another "
                          "(the plan folder is replaced whole)", overlay_dir, Exit.USAGE)
    overlay = read_overlay(overlay_dir) if overlay_dir is not None else {}
    edits = local_edits(out_dir, overlay)
    if not edits or discard:
        return overlay
    names = ", ".join(edits[:3]) + (f" and {len(edits) - 3} more" if len(edits) > 3 else "")
    if not keep:
        raise _refuse(f"holds files edited since `migrate plan` wrote them, or taken from an "
                      f"overlay not given now ({names}); planning into it again would drop "
                      "them", out_dir, Exit.USAGE,
                      hint="keep them with --overlay DIR --keep-edits (they are copied into "
                      "DIR, then checked and sealed with the plan), or drop them with "
                      "--discard-edits")
    for rel in edits:
        if not rel.startswith(OVERLAY_TREE):
            raise _refuse(f"{rel} was edited, and only files under {OVERLAY_TREE} can be kept "
                          "in an overlay", os.path.join(out_dir, rel), Exit.USAGE,
                          hint="change the plan through the target settings, and give "
                          "--discard-edits")
        try:
            text = read_inside(out_dir, rel).decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise _refuse(f"{rel} was edited and cannot be kept: it is not a file of UTF-8 "
                          f"text ({exc})", os.path.join(out_dir, rel), Exit.USAGE,
                          hint="put the file you mean into the overlay, and give "
                          "--discard-edits") from None
        dest = Path(overlay_dir, rel.removeprefix(OVERLAY_TREE))
        if os.path.lexists(dest):  # the overlay holds another version (else not an edit)
            raise _refuse(f"the overlay already holds {rel.removeprefix(OVERLAY_TREE)}, and "
                          f"the plan folder another edit of it", str(dest), Exit.USAGE,
                          hint="merge the two into the overlay's copy, and give "
                          "--discard-edits")
        try:  # a read-only overlay, a file where a folder must go
            dest.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(str(dest), text)
        except OSError as exc:
            raise _refuse(f"cannot copy {rel} into the overlay: {exc.strerror or exc}",
                          str(dest), Exit.USAGE) from None
    return read_overlay(overlay_dir)
