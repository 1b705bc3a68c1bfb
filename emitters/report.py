"""The report a person reviews before the move: ``report.md`` and ``report.html`` (one
self-contained file: no scripts, no external resources, an inline SVG chart).

Both show the same: first a "Before you start" box (the blockers and errors that stand, what
the runbook's preflight checks on the new host, and the DNS TTLs to lower, both from the plan's
own steps), then the lists, the findings by severity with what to do, routing parity, web
parity (every old URL pattern and what answers it on the new host), what will be copied with
sizes, and archived posts per year. The report comes last (``Phase.REPORT``): it shows the plan
as checked, its findings, its steps and the rows the other emitters put into its data, as they
are.

Every value from the old host is escaped for the format it goes into: ``html.escape`` for
report.html, ``md_text`` and ``md_code`` for report.md. A finding's message and hint, and a
step's why, are sentences whose backticks mark commands: ``md_prose`` and ``html_prose`` show
those as code, exactly (nothing inside a code span is escaped: Markdown would show an entity or
a backslash there as written), and escape the rest.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from migrate.core.model import Finding, Inventory, Severity, Target
from migrate.core.steps import (PREFLIGHT_DNS, PREFLIGHT_NEW, REPORT_HTML, REPORT_MD, Run, Step,
                                digest_line)

from emitters.common import Data, Emitted
from emitters.guard import html_prose, md_code, md_prose, md_text as _md
from emitters.parity import KEPT, LOST, choice

_ORDER = (Severity.BLOCKER, Severity.ERROR, Severity.WARNING, Severity.INFO)
_STATUS_CSS = {"ok": "ok", "added": "ok", "missing": "missing"}  # changed: a warning says it


def posts_per_year(inv: Inventory) -> dict[int, int]:
    years: dict[int, int] = {}
    for archive in inv.archives:
        for month in archive.months:
            year = int(month.month[:4])
            years[year] = years.get(year, 0) + month.messages
    return dict(sorted(years.items()))


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _lists(inv: Inventory) -> list[dict]:
    archives = {a.list_name: a for a in inv.archives}
    rows = []
    for ml in sorted(inv.lists, key=lambda m: m.name):
        a = archives.get(ml.name)
        years = ""
        if a and a.first_date and a.last_date:
            years = f"{a.first_date.year}-{a.last_date.year}"
        rows.append({
            "name": ml.name, "host": ml.host_name or "", "owners": ", ".join(ml.owners),
            "members": f"{ml.members.regular_count}+{ml.members.digest_count}",
            "archive": "off" if ml.archive is False else
            ("private" if ml.archive_private else "public"),
            "posts": str(a.messages) if a else "-", "years": years,
            "mbox": _size(a.bytes) if a else "-"})
    return rows


def _housekeeping(inv: Inventory) -> list[dict]:
    rows = [{"what": f"cron: {j.script or j.command}", "when": j.schedule,
             "where": str(j.source or "")} for j in inv.housekeeping.cron_jobs]
    rows += [{"what": f"log rotation: {r.path}", "when": r.when or "",
              "where": str(r.source or "")} for r in inv.housekeeping.log_rotation]
    return rows


#: What stops a move until it is settled: shown first, in the "Before you start" box.
_STANDING = (Severity.BLOCKER, Severity.ERROR)
#: The box's heading (report.md's section; report.html's boxed section).
BEFORE = "Before you start"


@dataclass
class _Preflight:
    """A step of the runbook's preflight as the box shows it: what it is about, its why, and
    what it runs (commands) or checks (the rest, in words)."""

    label: str
    step: Step
    commands: list[str]
    checks: list[str]


def _preflights(steps: list[Step] | None) -> list[_Preflight]:
    """The preflight's checks of the new host and of the DNS TTLs, from the plan's steps (a
    list manager without a check of the new host has none)."""
    by_id = {s.id: s for s in steps or []}
    out = []
    for sid, label in ((PREFLIGHT_NEW, "The new host"), (PREFLIGHT_DNS, "DNS TTLs")):
        step = by_id.get(sid)
        if step is None:
            continue
        said = [a.describe() for a in step.actions]
        out.append(_Preflight(
            label, step,
            [d for a, d in zip(step.actions, said) if isinstance(a, Run)] + list(step.check),
            [d.lstrip("# ").removeprefix("check: ") for a, d in zip(step.actions, said)
             if not isinstance(a, Run)]))
    return out


def _standing(every: list[Finding]) -> list[Finding]:
    return [f for sev in _STANDING for f in every if f.severity == sev]


def _count(findings: list[Finding]) -> str:
    """What stands, counted: "2 blockers and 1 error"."""
    parts = []
    for sev in _STANDING:
        n = sum(f.severity == sev for f in findings)
        if n:
            parts.append(f"{n} {sev.value}{'s' if n != 1 else ''}")
    return " and ".join(parts)


#: What a standing finding of each severity means for the cutover.
_STANDS_FOR = {Severity.BLOCKER: "the cutover does not run while a blocker stands",
               Severity.ERROR: "settle each error first, or accept it knowingly"}


def _why_standing(standing: list[Finding]) -> str:
    kinds = {f.severity for f in standing}
    return "; ".join(why for sev, why in _STANDS_FOR.items() if sev in kinds)


_BEFORE_INTRO = ("Settle these before the cutover. The runbook's preflight checks the new host "
                 "and the DNS TTLs again, and stops where they do not hold.")
_NOTHING_BLOCKS = ("Nothing blocks the move: no blocker or error stands (the warnings are "
                   "under Findings below).")


def emit_report(inv: Inventory, target: Target, release, plan: Emitted) -> Emitted:
    """Both reports of the checked ``plan`` (the plan digest is added by ``show_digest`` once
    plan.yaml's data is known)."""
    every = inv.findings + plan.findings
    preflights = _preflights(plan.data.steps)
    lists = _lists(inv)
    parity = plan.data.parity or []
    copy = plan.data.transfers or []
    years = posts_per_year(inv)
    title = f"Moving {inv.host.hostname or 'the old host'} to {target.hostname}"
    urls, house = plan.data.web_parity or [], _housekeeping(inv)
    imports = plan.data if plan.data.import_settings is not None else None
    md = _markdown(inv, target, release, title, every, lists, parity, copy, years, urls, house,
                   imports, preflights)
    page = _html(inv, target, release, title, every, lists, parity, copy, years, urls, house,
                 imports, preflights)
    return Emitted(files={REPORT_MD: md, REPORT_HTML: page})


def show_digest(reports: dict[str, str], digest: str) -> dict[str, str]:
    """The reports ``emit_report`` wrote (those of them given) with the plan digest's line
    after the title: only hex digits are added, so their output check still holds."""
    out = dict(reports)
    if REPORT_MD in out:
        out[REPORT_MD] = out[REPORT_MD].replace("\n\n", f"\n\n{digest_line(digest)}\n\n", 1)
    if REPORT_HTML in out:
        out[REPORT_HTML] = out[REPORT_HTML].replace(
            "</h1>\n", f"</h1>\n<p>{_e(digest_line(digest))}</p>\n", 1)
    return out


# --- Markdown -------------------------------------------------------------------------------


def _before_md(every: list[Finding], preflights: list[_Preflight]) -> list[str]:
    """The "Before you start" section: what stands, then the preflight's checks."""
    standing = _standing(every)
    lines = [f"## {BEFORE}", "", _md(_BEFORE_INTRO), ""]
    if not standing:
        lines.append(f"- **{_md(_NOTHING_BLOCKS)}**")
    else:
        lines.append(f"- **{_count(standing)} stand{'s' if len(standing) == 1 else ''}**: "
                     f"{_md(_why_standing(standing))} (each is under Findings below, with what "
                     "to do):")
        for f in standing:
            where = f" ({md_code(f.source)})" if f.source else ""
            lines.append(f"  - {f.severity.value}: {md_prose(f.message.strip()) or f.id}"
                         f"{where}")
    for p in preflights:
        said = [f"- **{_md(p.label)}** (the runbook's step {_md(p.step.id)}: "
                f"{_md(p.step.title)}): {md_prose(p.step.why)}"]
        if p.commands:
            said.append("It runs " + " and ".join(md_code(c) for c in p.commands) + ".")
        if p.checks:
            said.append("It checks: " + "; ".join(_md(c) for c in p.checks) + ".")
        lines.append(" ".join(said))
    return lines + [""]


def _markdown(inv, target, release, title, every, lists, parity, copy, years, urls,
              house, imports: Data | None = None,
              preflights: list[_Preflight] | None = None) -> str:
    total = sum(int(r["posts"]) for r in lists if r["posts"].isdigit())
    lines = [f"# {_md(title)}", "",
             f"OpenBSD {release}; inventory collected {inv.collected_at:%Y-%m-%d %H:%M} UTC; "
             f"{len(lists)} lists, {total} archived posts; mail domains "
             f"{_md(', '.join(target.email_domains))}.", ""]
    lines += _before_md(every, preflights or [])
    lines += ["## Lists", "",
             "| list | host | owners | members | archive | posts | years | mbox |",
             "|---|---|---|---:|---|---:|---|---:|"]
    lines += ["| " + " | ".join(_md(r[k]) for k in ("name", "host", "owners", "members",
                                                    "archive", "posts", "years", "mbox")) + " |"
              for r in lists]
    lines += ["", f"## Findings ({len(every)})", ""]
    for sev in _ORDER:
        group = [f for f in every if f.severity == sev]
        if not group:
            continue
        lines += [f"### {sev.value} ({len(group)})", ""]
        for f in group:
            where = f" ({md_code(f.source)})" if f.source else ""
            # stripped: ** next to a space would not be emphasis, nor **** around nothing
            lines += [f"- **{md_prose(f.message.strip()) or f.id}**{where}  ",
                      f"  {md_prose(f.hint)}"]
        lines.append("")
    lost = sum(r["status"] in LOST for r in parity)
    lines += ["## Routing parity", "", f"{lost} address{'es' if lost != 1 else ''} lost. "
              + _md(choice(target)), "", "| address | old host | new host | status |",
              "|---|---|---|---|"]
    lines += [f"| {_md(r['address'])} | {_md(r['old'])} | {md_code(r['new'], in_table=True)} | "
              f"{_md(r['status'])} |" for r in parity]
    lines += ["", "## Web parity", "",
              "Every old web address (or URL pattern) that must keep working, what answers it "
              "on the new host (web-parity.md has the sources); checked: the cutover's "
              "post-checks ask for it.", "",
              "| old address | what | old host | new host | status | checked |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {md_code(u['url'], in_table=True)} | {_md(u['what'])} | {_md(u['old'])} | "
              f"{_md(u['new'])} | {_md(u['status'])} | {'post-checks' if u['checked'] else ''} |"
              for u in urls]
    if imports is not None:
        lines += [""] + _import_md(imports).splitlines()
    lines += ["", "## Cron jobs and log rotation carried over", "",
              "| what | when | where |", "|---|---|---|"]
    lines += [f"| {_md(h['what'])} | {md_code(h['when'], in_table=True)} | "
              f"{md_code(h['where'], in_table=True)} |" for h in house]
    lines += ["", "## What will be copied", "", "| list | what | from | to | size |",
              "|---|---|---|---|---:|"]
    lines += [f"| {_md(c['list'] or 'every list')} | {_md(c['kind'])} | "
              f"{md_code(c['source'], in_table=True)} | "
              f"{md_code(c['destination'], in_table=True)} | {_size(c['bytes'])} |" for c in copy]
    lines += ["", "## Archived posts per year", "", "| year | posts |", "|---|---:|"]
    lines += [f"| {y} | {n} |" for y, n in years.items()]
    return "\n".join(lines) + "\n"


_IMPORT_INTRO = ("The list manager on the new host imports each list from its config.pck: "
                 "what the import does with each Mailman 2 setting (as observed with the real "
                 "import), and per list what it drops.")


def _import_md(data: Data) -> str:
    keys = list(data.import_lists[0]) if data.import_lists else []
    lines = ["## What the import carries", "", _md(_IMPORT_INTRO), "",
             "| Mailman 2 | on the new host | carried |", "|---|---|---|"]
    lines += [f"| {_md(r['what'])} | {_md(r['how'])} | {'yes' if r['carried'] else 'no'} |"
              for r in data.import_settings]
    if keys:
        lines += ["", "| " + " | ".join(_md(k) for k in keys) + " |",
                  "|" + "---|" * len(keys)]
        lines += ["| " + " | ".join(_md(str(r[k])) for k in keys) + " |"
                  for r in data.import_lists]
    return "\n".join(lines) + "\n"


def _import_html(data: Data) -> str:
    keys = list(data.import_lists[0]) if data.import_lists else []
    out = ["<h2>What the import carries</h2>", f"<p>{_e(_IMPORT_INTRO)}</p>",
           _table(["Mailman 2", "on the new host", "carried"],
                  [[_e(r["what"]), _e(r["how"]), "yes" if r["carried"] else "no"]
                   for r in data.import_settings])]
    if keys:
        out.append(_table([_e(k) for k in keys],
                          [[_e(r[k]) for k in keys] for r in data.import_lists]))
    return "\n".join(out)


# --- HTML -----------------------------------------------------------------------------------

_CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;
color:#1b1b1b}
h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;margin:.6rem 0}
th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.findings td:nth-child(2),table.findings td:nth-child(3){width:38%}
table.findings td:nth-child(4){word-break:break-all}
.sev{font-weight:600;border-radius:3px;padding:0 .35rem}
.blocker{background:#b00020;color:#fff}.error{background:#e8a0a0}.warning{background:#f6d58e}
.info{background:#cfe3f6}.ok{color:#186a3b}.missing{color:#b00020;font-weight:600}
code{font-size:.9em}
section.before{border:2px solid #3b6ea5;border-radius:6px;background:#f5f8fc;margin:1.2rem 0;
padding:.2rem 1.2rem .6rem}section.before h2{margin-top:.8rem}
.tag{font-weight:600;border-radius:3px;padding:0 .35rem}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _table(head: list[str], rows: list[list[str]], numeric: set[int] = frozenset(),
           css: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    out = [f"<table{cls}><thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head)
           + "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(
            f'<td class="n">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
            for i, cell in enumerate(row)) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _chart(years: dict[int, int]) -> str:
    if not years:
        return "<p>No archived posts.</p>"
    width, height, pad = 760, 220, 34
    span = list(range(min(years), max(years) + 1))
    top = max(years.values()) or 1
    bar = (width - 2 * pad) / len(span)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="archived posts per year">',
             f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
             'stroke="#888"/>']
    for i, year in enumerate(span):
        n = years.get(year, 0)
        h = (height - 2 * pad) * n / top
        x = pad + i * bar
        parts.append(f'<rect x="{x + 1:.1f}" y="{height - pad - h:.1f}" width="{bar - 2:.1f}" '
                     f'height="{h:.1f}" fill="#3b6ea5"><title>{year}: {n} posts</title></rect>')
        if len(span) <= 30 or i % 2 == 0:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{height - pad + 14}" font-size="10" '
                         f'text-anchor="middle">{year}</text>')
    parts.append(f'<text x="{pad}" y="{pad - 10}" font-size="11">max {top} posts a year</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _before_html(every: list[Finding], preflights: list[_Preflight]) -> str:
    """The "Before you start" box, as report.md's section."""
    standing = _standing(every)
    items = []
    if not standing:
        items.append(f"<li><strong>{_e(_NOTHING_BLOCKS)}</strong></li>")
    else:
        inner = "".join(
            f'<li><span class="tag {f.severity.value}">{f.severity.value}</span> '
            f"{html_prose(f.message.strip()) or _e(f.id)}"
            + (f" (<code>{_e(f.source)}</code>)" if f.source else "") + "</li>"
            for f in standing)
        items.append(f"<li><strong>{_e(_count(standing))} stand"
                     f"{'s' if len(standing) == 1 else ''}</strong>: "
                     f"{_e(_why_standing(standing))} (each is under Findings below, with "
                     "what to do):"
                     f"<ul>{inner}</ul></li>")
    for p in preflights:
        said = (f"<li><strong>{_e(p.label)}</strong> (the runbook's step {_e(p.step.id)}: "
                f"{_e(p.step.title)}): {html_prose(p.step.why)}")
        if p.commands:
            said += " It runs " + " and ".join(f"<code>{_e(c)}</code>" for c in p.commands) + "."
        if p.checks:
            said += " It checks: " + "; ".join(_e(c) for c in p.checks) + "."
        items.append(said + "</li>")
    return (f'<section class="before" id="before-you-start"><h2>{_e(BEFORE)}</h2>'
            f"<p>{_e(_BEFORE_INTRO)}</p><ul>{''.join(items)}</ul></section>")


def _html(inv, target, release, title, every, lists, parity, copy, years, urls, house,
          imports: Data | None = None, preflights: list[_Preflight] | None = None) -> str:
    total = sum(int(r["posts"]) for r in lists if r["posts"].isdigit())
    body = [f"<h1>{_e(title)}</h1>",
            f"<p>OpenBSD {_e(release)}; inventory collected "
            f"{inv.collected_at:%Y-%m-%d %H:%M} UTC; {len(lists)} lists, {total} archived "
            f"posts; mail domains {_e(', '.join(target.email_domains))}.</p>",
            _before_html(every, preflights or []),
            "<h2>Lists</h2>",
            _table(["list", "host", "owners", "members", "archive", "posts", "years", "mbox"],
                   [[_e(r[k]) for k in ("name", "host", "owners", "members", "archive",
                                        "posts", "years", "mbox")] for r in lists],
                   numeric={3, 5, 7}),
            f"<h2>Findings ({len(every)})</h2>"]
    for sev in _ORDER:
        group = [f for f in every if f.severity == sev]
        if not group:
            continue
        body.append(f"<h3>{sev.value} ({len(group)})</h3>")
        body.append(_table(["", "what", "what to do", "where"], [
            [f'<span class="sev {sev.value}">{sev.value}</span>', html_prose(f.message),
             html_prose(f.hint),
             f"<code>{_e(f.source)}</code>" if f.source else ""] for f in group],
            css="findings"))
    body.append("<h2>Routing parity</h2>")
    lost = sum(r["status"] in LOST for r in parity)
    body.append(f"<p>{lost} address{'es' if lost != 1 else ''} lost. "
                f"{_e(choice(target))}</p>")
    body.append(_table(["address", "old host", "new host", "status"], [
        [_e(r["address"]), _e(r["old"]), f"<code>{_e(r['new'])}</code>",
         f'<span class="{"ok" if r["status"] in KEPT else "missing"}">'
         f'{_e(r["status"])}</span>'] for r in parity]))
    body.append("<h2>Web parity</h2>")
    body.append("<p>Every old web address (or URL pattern) that must keep working, what answers "
                "it on the new host (web-parity.md has the sources); checked: the cutover's "
                "post-checks ask for it.</p>")
    body.append(_table(["old address", "what", "old host", "new host", "status", "checked"], [
        [f"<code>{_e(u['url'])}</code>", _e(u["what"]), _e(u["old"]), _e(u["new"]),
         f'<span class="{_STATUS_CSS.get(u["status"], "")}">'
         f'{_e(u["status"])}</span>', "post-checks" if u["checked"] else ""] for u in urls]))
    if imports is not None:
        body.append(_import_html(imports))
    body.append("<h2>Cron jobs and log rotation carried over</h2>")
    body.append(_table(["what", "when", "where"], [
        [_e(h["what"]), f"<code>{_e(h['when'])}</code>", f"<code>{_e(h['where'])}</code>"]
        for h in house]))
    body.append("<h2>What will be copied</h2>")
    body.append(_table(["list", "what", "from", "to", "size"], [
        [_e(c["list"] or "every list"), _e(c["kind"]), f"<code>{_e(c['source'])}</code>",
         f"<code>{_e(c['destination'])}</code>", _e(_size(c["bytes"]))] for c in copy],
        numeric={4}))
    body.append("<h2>Archived posts per year</h2>")
    body.append(_chart(years))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")
