"""All terminal output: results on stdout, diagnostics on stderr, one place for both.

Every value from a host or a plan passes ``shown`` (``migrate.core.text.visible`` into a ``Text``)
before it reaches a terminal cell, a line or a title: a control character (ESC, CSI, a bidi
override) shows as its escape (``\x1b``) instead of acting on the terminal, and rich's markup is
never interpreted in it (a list description or an alias can hold ``[bold]`` or ``[link=...]``).
Every table cell passes ``cell``, which applies the same to a value handed over raw.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                           TransferSpeedColumn)
from rich.table import Table as _RichTable
from rich.text import Text

from migrate.core.mailman2 import ADDRESSES
from migrate.core.model import AliasTarget, AliasTargetKind, Finding, Inventory, Severity
from migrate.core.mta import lookup
from migrate.core.text import visible

# On a terminal rich uses its width; into a file or pipe, 120 columns (or $COLUMNS) rather than
# rich's 80, so that tables of paths stay readable in a saved report.
#: the most characters one cell of a terminal table shows (a value may be megabytes long)
MAX_CELL = 300


def shown(value: object, style: str = "") -> Text:
    """A value as the terminal shows it: ``visible`` (escapes for what is not printable), as
    plain text (rich markup in it stays text)."""
    return Text(visible(value), style=style)


def cell(value: object) -> object:
    """A table cell as shown: text on one line (``visible``: a newline shows as ``\\n``, an
    ESC as ``\\x1b``), cut to ``MAX_CELL`` characters with an ellipsis; other renderables pass
    as they are."""
    if isinstance(value, str):
        value = shown(value)
    if not isinstance(value, Text):
        return value
    plain = value.plain
    if not plain.isprintable():  # built raw: escaped, its styles kept only where they line up
        escaped = visible(plain)
        out = Text(escaped, style=value.style)
        for span in value.spans:
            if plain[:span.end].isprintable():
                out.stylize(span.style, span.start, span.end)
        value, plain = out, escaped
    if len(plain) <= MAX_CELL:
        return value
    cut = plain[:MAX_CELL - 1] + "\u2026"
    out = Text(cut, style=value.style)
    for span in value.spans:  # keep the styles of what is still shown
        if span.start < len(cut):
            out.stylize(span.style, span.start, min(span.end, len(cut)))
    return out


class Table(_RichTable):
    """rich's Table whose every cell is bounded (``cell``): one huge value (a 10 MB alias
    target) is one cut line, not 130,000 lines of table."""

    def add_row(self, *renderables, **kwargs) -> None:  # type: ignore[override]
        super().add_row(*(cell(r) if r is not None else r for r in renderables), **kwargs)


_WIDTH = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS") or 120)
out = Console(highlight=False, soft_wrap=False, width=_WIDTH)
err = Console(stderr=True, highlight=False, soft_wrap=True)

#: Mailman 2's ten addresses per list, as suffixes of the list name.
MAILMAN_SUFFIXES = tuple(suffix for suffix, _ in ADDRESSES)

_SEVERITY_STYLE = {
    Severity.INFO: "cyan",
    Severity.WARNING: "yellow",
    Severity.ERROR: "red",
    Severity.BLOCKER: "bold white on red",
}


@contextlib.contextmanager
def archive_progress(total: int) -> Iterator[Callable[[str, int], None]]:
    """A progress bar over ``total`` archive bytes, on a terminal only; ``advance(list, done)``."""
    if not out.is_terminal or total <= 0:
        yield lambda label, done: None
        return
    columns = (TextColumn("scanning archive of {task.fields[list]:<16}", markup=False),
               BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=out, transient=True) as bar:
        task = bar.add_task("archives", total=total, list="")
        yield lambda label, done: bar.update(task, completed=done, list=visible(label))


def error_line(message: str) -> None:
    """One diagnostic line on stderr, never wrapped into several."""
    from migrate.core.errors import one_line
    err.print(Text("migrate: error: ") + Text(one_line(message)), soft_wrap=True)


def say(line: str) -> None:
    """One line of output (the cutover's, the export's), never wrapped (commands are copied
    from it)."""
    out.print(shown(line), soft_wrap=True)


def note(line: str) -> None:
    """One line for the operator on stderr (beside machine output on stdout), never wrapped."""
    err.print(shown(line), soft_wrap=True)


def plain_stdout(text: str) -> None:
    """Machine output (JSON, YAML) straight to stdout, untouched by rich."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def _sev(severity: Severity) -> Text:
    return Text(severity.value, style=_SEVERITY_STYLE[severity])


def finding_line(f: Finding) -> str:
    where = f"{f.source}: " if f.source else ""
    return f"{where}{f.message}. {f.hint}"


def _target_text(t: AliasTarget) -> str:
    if t.kind == AliasTargetKind.PIPE:
        return f"|{t.value}"
    if t.kind in (AliasTargetKind.ADDRESS, AliasTargetKind.FILE):
        return t.value
    return f":{t.kind.value}: {t.value}".rstrip()


def inventory_summary(inv: Inventory) -> None:
    """The human summary of ``migrate inspect`` (its closing line is ``inventory_line``)."""
    host = inv.host
    facts = Table(title="Host", show_header=False, title_justify="left", box=None, pad_edge=False)
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("source", shown(f"{inv.source.kind}: {inv.source.root}"
                                  + (f" on {inv.source.host}" if inv.source.host else "")))
    facts.add_row("hostname", shown(host.hostname or "unknown"))
    facts.add_row("system", shown(" ".join(x for x in (host.os, host.release) if x)
                                  or "unknown"))
    for label, addrs in (("IPv4", host.addresses_v4), ("IPv6", host.addresses_v6)):
        text = ", ".join(
            f"{a.address}/{a.prefixlen}" if a.prefixlen is not None else a.address
            for a in addrs) or "none"
        facts.add_row(label, shown(text))
    enabled = ", ".join(s.name for s in host.enabled_services()) or "none"
    facts.add_row("services", shown(enabled))
    facts.add_row("MTA", shown(inv.mta.kind or "unknown"))
    out.print(facts)

    _mta_summary(inv)

    if inv.mta.aliases:
        table = Table(title=f"Aliases ({len(inv.mta.aliases)})", title_justify="left")
        table.add_column("name", no_wrap=True)
        table.add_column("targets", overflow="fold", ratio=1)
        table.add_column("source", no_wrap=True)
        for alias in inv.mta.aliases:
            listed = ", ".join(_target_text(t) for t in alias.targets[:2])
            if len(alias.targets) > 2:
                listed += f" (+{len(alias.targets) - 2} more)"
            table.add_row(shown(alias.name), shown(listed),
                          shown(str(alias.source) if alias.source else ""))
        out.print(table)

    _lists_summary(inv)
    _web_summary(inv)
    _housekeeping_summary(inv)
    findings_table(inv.findings)


def tally(findings: list[Finding]) -> str:
    """The findings counted by severity, worst first: ``1 blocker, 2 warning``."""
    counts = {s: 0 for s in sorted(Severity, key=lambda s: -s.rank)}
    for f in findings:
        counts[f.severity] += 1
    return ", ".join(f"{n} {s.value}" for s, n in counts.items() if n) or "no findings"


def inventory_line(inv: Inventory, written_to: str | None) -> str:
    """``migrate inspect``'s closing line: where the inventory went, what it holds, the
    findings by severity."""
    where = f"inventory written to {written_to}" if written_to else "inventory not written"
    return (f"{where}: {inv.host.hostname or 'unknown host'}, {len(inv.lists)} lists, "
            f"{len(inv.mta.aliases)} aliases; {tally(inv.findings)}")


def plan_summary(plan, out_dir: str) -> None:
    """The human summary of ``migrate plan``: what was written, and the findings."""
    t = plan.target
    facts = Table(title="Plan", show_header=False, title_justify="left", box=None,
                  pad_edge=False)
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("new host", shown(f"{t.hostname}, OpenBSD {plan.release}"))
    facts.add_row("addresses", shown(", ".join(t.ipv6 + t.ipv4)))
    facts.add_row("mail domains", shown(", ".join(t.email_domains) or "none"))
    facts.add_row("web host", shown(t.web_host or ""))
    facts.add_row("smarthost", shown(t.smarthost or "none (direct delivery by MX)"))
    for section, name in (("lists", "list addresses"), ("other", "other addresses")):
        counts: dict[str, int] = {}
        for row in plan.parity:
            if row.get("section", "lists") == section:
                counts[row["status"]] = counts.get(row["status"], 0) + 1
        facts.add_row(name, shown(", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
                                  or "none"))
    web: dict[str, int] = {}
    for row in plan.web_parity:
        web[row["status"]] = web.get(row["status"], 0) + 1
    facts.add_row("web addresses", shown(", ".join(f"{n} {s}" for s, n in sorted(web.items()))
                                         or "none"))
    if plan.digest:
        facts.add_row("plan digest", shown(f"{plan.digest} (cutover --plan-digest pins it)"))
    out.print(facts)
    table = Table(title=shown(f"Files in {out_dir}"), title_justify="left")
    table.add_column("file", overflow="fold")
    table.add_column("lines", justify="right")
    for path, text in plan.files.items():
        table.add_row(shown(path), shown(str(text.count("\n"))))
    out.print(table)
    findings_table(plan.standing())


def plan_line(plan, out_dir: str) -> str:
    """``migrate plan``'s closing line: where the plan went, the findings that stand (the
    inventory's and the plan's) by severity, what to do next."""
    return (f"plan written to {out_dir}; {tally(plan.standing())}. Review "
            f"{out_dir}/report.html, then follow {out_dir}/runbook.md or run `migrate cutover "
            f"{out_dir}`.")


def _mta_summary(inv: Inventory) -> None:
    mta = inv.mta
    if mta.domains:
        table = Table(title="Mail domains", title_justify="left")
        table.add_column("domain", no_wrap=True)
        table.add_column("roles")
        table.add_column("from", overflow="fold")
        roles: dict[str, list[str]] = {}
        via: dict[str, list[str]] = {}
        for d in mta.domains:
            roles.setdefault(d.name, []).append(d.role.value)
            if d.via and d.via not in via.setdefault(d.name, []):
                via[d.name].append(d.via)
        for name, rs in roles.items():
            table.add_row(shown(name), shown(", ".join(rs)),
                          shown(", ".join(via.get(name, []))))
        out.print(table)
    plugin = lookup(mta.kind)
    for part in plugin.reader.summary(mta) if plugin else []:
        table = Table(title=shown(part.title), title_justify="left")
        for col in part.columns:
            if col in part.fold:
                table.add_column(col, overflow="fold", ratio=1)
            else:
                table.add_column(col, no_wrap=True)
        for row in part.rows:
            table.add_row(*map(shown, row))
        out.print(table)
    if mta.list_routes:
        table = Table(title="How mail reaches each list today", title_justify="left")
        for col in ("list", "domain", "router"):
            table.add_column(col, no_wrap=True)
        table.add_column("addresses", overflow="fold", ratio=1)
        groups: dict[tuple[str, str, str], set[str]] = {}
        for route in mta.list_routes:
            how = route.router or route.via
            suffix = route.address[len(route.list_name):]
            groups.setdefault((route.list_name, route.domain, how), set()).add(suffix)
        for (name, domain, how), suffixes in sorted(groups.items()):
            missing = [name + s for s in MAILMAN_SUFFIXES if s not in suffixes]
            text = shown(f"{len(MAILMAN_SUFFIXES) - len(missing)} of {len(MAILMAN_SUFFIXES)}")
            if missing:
                text.append(visible(", missing " + ", ".join(missing)), style="red")
            table.add_row(shown(name), shown(domain), shown(how), text)
        out.print(table)
    extras = []
    if mta.smarthost:
        extras.append(f"smarthost {mta.smarthost.host}"
                      + (f":{mta.smarthost.port}" if mta.smarthost.port else ""))
    if mta.tls and mta.tls.certificate:
        extras.append(f"TLS certificate {mta.tls.certificate}")
    if mta.listeners:
        ports = sorted({listener.port for listener in mta.listeners})
        extras.append(f"listening on {len({l.address for l in mta.listeners})} address(es), "
                      f"port(s) {', '.join(map(str, ports))}")
    if extras:
        out.print(shown("; ".join(extras)))


def _lists_summary(inv: Inventory) -> None:
    if inv.mailman:
        mm = inv.mailman
        out.print(shown(f"Mailman {mm.version or '(version unknown)'} ({mm.layout}) at "
                        f"{mm.prefix}, data in {mm.var_prefix}"))
        out.print(shown(f"its pages at {mm.urls.cgi} (CGI), {mm.urls.icons} (logos), "
                        f"{mm.urls.archive} (public archives)"))
    if not inv.lists:
        return
    archives = {a.list_name: a for a in inv.archives}
    table = Table(title=f"Lists ({len(inv.lists)})", title_justify="left")
    for col in ("list", "host", "owners", "members", "archive", "posts", "months", "held",
                "since"):
        table.add_column(col, no_wrap=True, overflow="ellipsis",
                         max_width=22 if col == "owners" else None,
                         min_width=None if col in ("owners", "host") else len(col),
                         justify="right" if col in ("members", "posts", "months", "held")
                         else "left")
    for ml in inv.lists:
        archive = archives.get(ml.name)
        kind = "off" if ml.archive is False else ("private" if ml.archive_private else "public")
        members = f"{ml.members.regular_count}+{ml.members.digest_count}"
        table.add_row(
            shown(ml.name), shown(ml.host_name or ""),
            shown((f"+{len(ml.owners) - 1} " if len(ml.owners) > 1 else "") + ml.owners[0]
                  if ml.owners else "(none)"),
            shown(members), shown(kind),
            shown(str(archive.messages) if archive else "-"),
            shown(str(len(archive.months)) if archive else "-"),
            shown(str(ml.held_count + ml.pending_count)),
            shown(ml.created_at.strftime("%Y-%m-%d") if ml.created_at else ""))
    out.print(table)
    out.print(shown("owners: +N more than the one shown; members: regular+digest; posts: in the archive mbox; months: months with "
                    "posts; held: held posts and requests plus pending confirmations", style="dim"))


def _web_summary(inv: Inventory) -> None:
    web = inv.web
    if web is None:
        return
    root = next((c.path for c in web.config_files), "")
    out.print(shown(f"Web: {web.kind} {web.version or ''} ({root}); listens on "
                    f"{', '.join(web.listen) or 'nothing'}"))
    rows = []
    for label, alias in (("Mailman CGI", web.script_alias), ("archives", web.pipermail_alias),
                         ("icons", web.icons_alias)):
        if alias is not None:
            rows.append((label, f"{alias.url_path} -> {alias.target}", alias.source))
    for d in web.directories:
        rows.append(("directory", f"{d.path}: Options {' '.join(d.options) or '(none)'}",
                     d.source))
    for vh in web.virtual_hosts:
        names = " ".join(n for n in [vh.server_name, *vh.server_aliases] if n) or "(no name)"
        tls = f" TLS cert {vh.certificate}" if vh.tls else ""
        rows.append(("virtual host", f"{' '.join(vh.listen)} {names}{tls}", vh.source))
        rows += [("  " + a.kind.replace("_", " "), a.line or f"{a.url_path} -> {a.target}",
                  a.source) for a in vh.aliases if a.kind not in ("script_alias", "alias")]
    rows += [(a.kind.replace("_", " "), a.line or f"{a.url_path} -> {a.target}", a.source)
             for a in web.redirects]
    if rows:
        table = Table(title="Web", title_justify="left")
        table.add_column("what", no_wrap=True)
        table.add_column("value", overflow="fold", ratio=1)
        table.add_column("source", no_wrap=True)
        for what, value, source in rows:
            table.add_row(shown(what), shown(value), shown(str(source) if source else ""))
        out.print(table)


def _housekeeping_summary(inv: Inventory) -> None:
    hk = inv.housekeeping
    if not hk.cron_jobs and not hk.log_rotation:
        return
    table = Table(title="Cron jobs and log rotation", title_justify="left")
    table.add_column("what", no_wrap=True)
    table.add_column("when", overflow="fold", max_width=16)
    table.add_column("command or entry", overflow="fold", ratio=1, min_width=30)
    table.add_column("source", no_wrap=True)
    for job in hk.cron_jobs:
        table.add_row(shown(f"cron {job.script or '(custom)'} as {job.user}"),
                      shown(job.schedule), shown(job.command),
                      shown(str(job.source) if job.source else ""))
    for entry in hk.log_rotation:
        table.add_row(shown("newsyslog"), shown(entry.when or ""), shown(entry.line),
                      shown(str(entry.source) if entry.source else ""))
    out.print(table)


def findings_table(findings: list[Finding]) -> None:
    if not findings:
        return
    table = Table(title=f"Findings ({len(findings)})", title_justify="left")
    table.add_column("severity", no_wrap=True)
    table.add_column("where", overflow="fold")
    table.add_column("what", overflow="fold")
    table.add_column("what to do", overflow="fold")
    order = sorted(findings, key=lambda f: -f.severity.rank)
    for f in order:
        table.add_row(_sev(f.severity), shown(str(f.source) if f.source else ""),
                      shown(f.message), shown(f.hint))
    out.print(table)


# --- the cutover's live view -----------------------------------------------------------------


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


class CutoverView:
    """A live table of the cutover's steps, fed the journal's records as they are written:
    each step's state (waiting, running with the action under way, done with its time,
    skipped because an earlier run finished it, failed with the reason), and above it the
    freeze window timer while the old host defers list mail.

    ``steps`` are (id, host, title); ``records`` the journal so far (a resumed run shows the
    finished steps as such); ``frozen`` gives the seconds since the freeze began, or None.
    Rendered by ``rich.live.Live``, which calls ``__rich__`` several times a second, so the
    clocks move while a step runs quietly for minutes.
    """

    ICONS = {"waiting": ("·", "dim"), "running": ("▶", "bold cyan"), "done": ("✓", "green"),
             "skipped": ("✓", "dim green"), "failed": ("✗", "bold red")}

    def __init__(self, steps: list[tuple[str, str, str]], records: list[dict],
                 frozen: Callable[[], float | None],
                 now: Callable[[], float] | None = None) -> None:
        import time
        self.now = now or time.monotonic
        self.frozen = frozen
        self.order = [sid for sid, _, _ in steps]
        self.rows = {sid: {"host": host, "title": title, "state": "waiting", "seconds": None,
                           "began": None, "detail": ""} for sid, host, title in steps}
        self.began = self.now()
        for record in records:
            if record.get("event") == "done" and record.get("step") in self.rows:
                self.rows[record["step"]]["state"] = "skipped"

    def event(self, record: dict) -> None:
        """One journal record (a ``Journal.listeners`` entry)."""
        row = self.rows.get(record.get("step", ""))
        kind = record.get("event")
        if row is None:
            return
        if kind == "start":
            row.update(state="running", began=self.now(), detail="")
        elif kind == "action":
            row["detail"] = record.get("action", "")
        elif kind == "done":
            row.update(state="done", detail="",
                       seconds=self.now() - row["began"] if row["began"] else None)
        elif kind == "failed":
            row.update(state="failed", detail=record.get("message", ""))

    def __rich__(self) -> Table:
        frozen = self.frozen()
        done = sum(1 for r in self.rows.values() if r["state"] in ("done", "skipped"))
        title = Text(f"cutover: {done}/{len(self.order)} steps, "
                     f"{_clock(self.now() - self.began)} elapsed")
        if frozen is not None:
            title.append(f"   freeze window {_clock(frozen)}", style="bold yellow")
        table = Table(title=title, title_justify="left", box=None, pad_edge=False,
                      show_header=False)
        table.add_column(width=1)
        table.add_column(no_wrap=True)
        table.add_column(no_wrap=True, style="dim")
        table.add_column(overflow="ellipsis", no_wrap=True, ratio=1)
        table.add_column(justify="right", no_wrap=True)
        for sid in self.order:
            row = self.rows[sid]
            icon, style = self.ICONS[row["state"]]
            text = shown(row["title"])
            if row["detail"]:
                text.append(f"  {visible(row['detail'])}",
                            style="red" if row["state"] == "failed" else "dim")
            if row["state"] == "running" and row["began"] is not None:
                took = _clock(self.now() - row["began"])
            elif row["seconds"] is not None:
                took = f"{row['seconds']:.1f} s"
            else:
                took = "earlier run" if row["state"] == "skipped" else ""
            table.add_row(Text(icon, style=style), shown(sid, style=style), shown(row["host"]),
                          text, took)
        return table
