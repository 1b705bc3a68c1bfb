"""``migrate export ansible``: many reviewed plan directories into one Ansible tree.

Orchestration only: each plan is loaded as ``migrate cutover`` loads it (every file checked
against plan.yaml's hashes, so only a plan as reviewed is exported), the connection settings
come from plan.yaml (the old host as it was inspected, the new host's first address), the
tree comes from ``migrate.app.ansible`` and the plan directories are copied into it.
"""

from __future__ import annotations

from pathlib import Path

from migrate.app.cutover import load_plan
from migrate.app.ansible import emit_ansible, pair_name
from migrate.core.errors import Exit, MigrateError
from migrate.app.fileio import write_tree

MARKER = "site.yaml"


def connections(data: dict) -> tuple[dict, dict]:
    """(old, new) connection settings of a plan: the old host as inspected (over SSH: that
    host, user and port; from a snapshot: its host name), the new host's first address."""
    inventory = data.get("inventory") or {}
    source = inventory.get("source") or {}
    target = data.get("target") or {}
    if source.get("kind") == "ssh" and source.get("host"):
        old = {"host": source["host"], "user": source.get("user") or "root",
               "port": source.get("port")}
    else:
        old = {"host": inventory.get("host") or "", "user": "root"}
    addresses = list(target.get("ipv6") or []) + list(target.get("ipv4") or [])
    new = {"host": addresses[0] if addresses else target.get("hostname", ""), "user": "root"}
    if not old["host"]:
        raise MigrateError("the plan does not name the old host (its inventory had no host "
                           "name)", code=Exit.INPUT, hint="inspect again, or plan from an "
                           "inventory taken over SSH")
    return old, new


def export_ansible(plan_dirs: list[str], out_dir: str, serial: int = 1,
                   pins: list[str] | None = None) -> dict:
    """Write the tree; returns a summary (pairs, files) for the CLI. ``pins``: the plan digest
    each plan must have, in the order of ``plan_dirs`` (``--plan-digest``)."""
    if not plan_dirs:
        raise MigrateError("give at least one plan directory", code=Exit.USAGE)
    if pins is not None and len(pins) != len(plan_dirs):
        raise MigrateError("one plan digest per plan directory", code=Exit.USAGE)
    out = Path(out_dir).absolute()
    pairs, copies, taken = [], {}, set()
    for n, directory in enumerate(plan_dirs):
        root = Path(directory).absolute()
        if root == out or out in root.parents:
            raise MigrateError("the export folder cannot be inside a plan", file=directory,
                               code=Exit.USAGE)
        plan = load_plan(directory, pin=pins[n] if pins else None)
        name = pair_name(root.name if root.name not in ("plan", "") else
                         (plan.data.get("inventory") or {}).get("host") or "pair", taken)
        taken.add(name)
        old, new = connections(plan.data)
        pairs.append({"name": name, "plan": plan.data, "steps": plan.steps, "old": old,
                      "new": new})
        for rel in plan.files():
            copies[f"plans/{name}/{rel}"] = plan.contents[rel]  # as checked at load
    try:
        files: dict[str, str | bytes] = dict(emit_ansible(pairs, serial=serial))
    except ValueError as exc:  # a name Ansible would read as syntax
        raise MigrateError(f"cannot export: {exc}", code=Exit.INPUT,
                           hint="write the plan again with `migrate plan`") from None
    files.update(copies)
    write_tree(out_dir, dict(sorted(files.items())), marker=MARKER,
               what="an Ansible export")
    return {"output": out_dir, "pairs": [{"name": p["name"], "old": p["old"]["host"],
                                          "new": p["new"]["host"]} for p in pairs],
            "files": len(files)}
