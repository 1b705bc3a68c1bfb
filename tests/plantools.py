"""Synthetic plans for the tests: plan.yaml written from data, with the runbook.md that the
cutover renders again at load from its steps (and its digest in ``files``), as `migrate plan`
seals a plan (migrate/app/planning.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from migrate.core.codec import CodecError
from migrate.core.steps import RUNBOOK_FILE, plan_digest, runbook_markdown, steps_from_data


def write_plan(plan_dir: Path, data: dict) -> str:
    """Write ``data`` as plan_dir/plan.yaml with its runbook.md (keys as given: plan.yaml
    needs no order); returns the plan digest."""
    data = dict(data, files=dict(data.get("files") or {}))
    data["files"].pop(RUNBOOK_FILE, None)
    digest = plan_digest(data)
    try:
        text = runbook_markdown(steps_from_data(data.get("steps")),
                                (data.get("inventory") or {}).get("host"),
                                (data.get("target") or {}).get("hostname"), digest)
    except CodecError:  # a tampered step: the cutover refuses it before the runbook
        text = ""
    plan_dir.mkdir(parents=True, exist_ok=True)
    (plan_dir / RUNBOOK_FILE).write_text(text)
    data["files"][RUNBOOK_FILE] = hashlib.sha256(text.encode()).hexdigest()
    (plan_dir / "plan.yaml").write_text(yaml.safe_dump(data))
    return digest
