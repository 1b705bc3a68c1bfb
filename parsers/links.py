"""Symlinks inside Mailman's folders that move: where each one leads, and whether it stays in
its folder.

The sync copies ``lists/NAME/``, ``archives/private/NAME/``, ``archives/private/NAME.mbox/``
and the held posts and site password files of ``data/`` (``emitters/rsync_plan.py``), links
as links. On the new host the web server serves the archives and follows their links,
and Mailman reads and writes its lists and ``data/`` through theirs: a link that leads out of
its folder there (``archives/private/LIST/etc -> ../../../../../../etc``) would publish or
overwrite whatever it reaches on the new host. So every link below ``lists/``,
``archives/private/``, ``data/`` and ``qfiles/`` (``mailman2.MOVED_FOLDERS``) is read into the
model (``Mailman.links``), and one that leaves its folder is never carried (the plan leaves it
out by name) and, where the sync would carry it, is a blocker until it is resolved on the old
host. ``archives/public/`` is not searched: it is never copied (the plan makes its links to
``private/NAME`` anew, and ``pipermail.py`` reads the old ones).

What "stays inside its folder" means (``stays_inside``): the folder is the one the sync copies
as a whole (``lists/NAME``, ``archives/private/NAME``, ``NAME.mbox``, ``data``, ``qfiles``).
The link's target is followed as the kernel would on the new host, from the link's own folder,
component by component: an absolute target leaves (it names the new host's own files); ``..``
at the folder's top leaves, even if a later component would come back in; every link met on
the way is followed the same way, through its own stored target (``sub -> .`` makes
``sub/sub/../..`` climb two levels although it reads as zero: the reason rsync's lexical
``--safe-links`` alone is not enough); more than 40 links on the way (a loop) leaves. The
target need not exist. A folder the sync copies that is itself a link (``lists/NAME -> /x``):
rsync would copy what it points to in its place, so it is a blocker whatever it points to.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from migrate.core.mailman2 import HELD_MESSAGE, MOVED_FOLDERS, SITE_PASSWORD_FILES
from migrate.core.model import Finding, Link, Severity, Source
from parsers.base import Tree, TreeError, unreadable_hint

_MAX_HOPS = 40  # links followed in one resolution, as Linux's MAXSYMLINKS


@dataclass
class LinksResult:
    links: list[Link] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def stays_inside(folder: str, path: str, links: dict[str, str]) -> bool:
    """Whether following the link at ``path`` (a path below ``folder``) never leaves
    ``folder``; ``links`` maps every link below ``folder`` to its stored target (see the
    module's docstring for the rule)."""
    done = path[len(folder) + 1:].split("/")[:-1]  # the link's own folder, below ``folder``
    pending = [(links[path], True)]  # (path, a link's target?) to walk, the next one last
    hops = 0
    while pending:
        text, is_target = pending.pop()
        if is_target:
            hops += 1
            if text.startswith("/") or hops > _MAX_HOPS:
                return False
        parts = [p for p in text.split("/") if p not in ("", ".")]
        for i, part in enumerate(parts):
            if part == "..":
                if not done:
                    return False
                done.pop()
                continue
            here = "/".join([folder, *done, part])
            if here in links:  # followed from the folder it is in; then the rest after it
                pending += [("/".join(parts[i + 1:]), False), (links[here], True)]
                break
            done.append(part)
    return True


def _carried(kind: str, rel: str) -> bool:
    """Whether the sync copies the link at ``rel`` (below a folder of ``kind``)."""
    if kind == "entries":
        return True
    if kind == "files":
        return "/" not in rel and (rel in SITE_PASSWORD_FILES or bool(HELD_MESSAGE.match(rel)))
    return False


def read_links(tree: Tree, var: str) -> LinksResult:
    """Every symlink below Mailman's folders that move, with findings: a blocker for each one
    the sync would carry that leaves its folder or stands for a copied folder, a warning for
    one that leaves but is not copied, an info for one that stays inside."""
    result = LinksResult()
    for top, kind in MOVED_FOLDERS:
        named = f"{var}/{top}"
        try:
            real = tree.resolve(named)
        except TreeError as exc:
            result.findings.append(_unlisted(named, exc.reason))
            continue
        if real == "/":  # a link to the host's root: its folders are not Mailman's to search
            result.findings.append(_unlisted(named, "it leads to the host's /"))
            continue
        found, unlisted = tree.symlinks(named)
        for path, reason in unlisted:
            result.findings.append(_unlisted(named + path[len(real):], reason))
        targets = {named + p[len(real):]: t for p, t in found}
        for path, target in targets.items():
            rel = path[len(named) + 1:]
            unit = kind == "entries" and "/" not in rel
            folder = named if unit or kind != "entries" else f"{named}/{rel.split('/')[0]}"
            inside = stays_inside(folder, path, targets)
            result.links.append(Link(path, target, folder, inside))
            result.findings.append(_finding(path, target, folder, inside, unit,
                                            _carried(kind, rel), top))
    data = f"{var}/data"
    target = tree.readlink(data)
    if target is not None:  # the sync copies data/ itself (what it points to, in its place)
        inside = stays_inside(var, data, {data: target})
        result.links.append(Link(data, target, var, inside))
        result.findings.append(_finding(data, target, var, inside, True, True, "data"))
    return result


def _finding(path: str, target: str, folder: str, inside: bool, unit: bool, carried: bool,
             top: str) -> Finding:
    where = Source(path)
    if unit:
        return Finding(
            "mailman.folder-is-link", Severity.BLOCKER,
            f"{path} is a symlink to {target}, not a folder: the sync would copy what it "
            "points to in its place", f"On the old host, move the folder it points to into "
            f"place at {path} (or remove the link if it is stray), then inspect again.", where)
    if inside:
        return Finding(
            "mailman.link-inside", Severity.INFO,
            f"the symlink {path} -> {target} stays inside {folder}"
            + ("; the sync carries it as a link" if carried else ""),
            "Nothing to do if it is meant to be there (Mailman makes no links in this folder).",
            where)
    follows = ("the web server would serve whatever it reaches there" if top == "archives/private"
               else "Mailman would read and write through it")
    if not carried:
        return Finding(
            "mailman.link-leaves-folder", Severity.WARNING,
            f"the symlink {path} -> {target} leads out of {folder}; it does not move, but "
            "Mailman follows it on the old host until the move",
            "Check why it is there; replace it with the files it stands for, or remove it.",
            where)
    return Finding(
        "mailman.link-leaves-folder", Severity.BLOCKER,
        f"the symlink {path} -> {target} leads out of {folder}: on the new host {follows}; "
        "the sync leaves it out",
        f"On the old host, replace {path} with the files it stands for (or remove it if it "
        "is stray), then inspect again.", where)


def _unlisted(path: str, reason: str) -> Finding:
    return Finding(
        "input.unreadable", Severity.ERROR,
        f"cannot look for symlinks in {path}: {reason}", unreadable_hint(reason, path),
        Source(path))
