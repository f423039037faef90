"""How the page words a plan and a run's end: the command line's words, drawn as tables. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from bulk_ident.jobs import ImportReport
from bulk_ident.sync.plan import Act, change_text
from bulk_ident.words import Result, Stop

# A step's result, as the plan words it before anything is sent (as `import --dry-run` prints).
TO_DO: dict[Result, str] = {
    Result.CREATED: "to create",
    Result.RECREATED: "to create again",
    Result.UPDATED: "to update",
    Result.RESTORED: "to restore",
    Result.DELETED: "to delete",
}


@dataclass(frozen=True)
class PlanLine:
    """One row of a plan table."""

    row: int | None
    account: str
    unit: str
    detail: str  # the field changes, or why


def plan_groups(report: ImportReport) -> dict[str, list[PlanLine]]:
    """The plan's steps grouped by what they do ("to create", "to update", "unchanged"...), in
    plan order, then the rows that are not sent (invalid, duplicate)."""
    groups: dict[str, list[PlanLine]] = {}
    plan = report.plan
    if plan is not None:
        for step in plan.steps:
            word = TO_DO.get(step.result, str(step.result))
            if step.act is Act.SETTLE:
                note = "the account is checked on the server first"
            else:
                note = step.note
            unit = step.unit_num
            if step.checked is not None and step.checked.norm.unit_num is not None:
                unit = step.checked.norm.unit_num
            if step.act in (Act.CREATE, Act.SETTLE, Act.RECREATE):
                detail = note
            else:
                detail = change_text(step.changes) or note
            groups.setdefault(word, []).append(PlanLine(step.row, step.account, unit, detail))
        if plan.unchanged:  # rows the plan found unchanged without making steps of them
            lines = groups.setdefault(str(Result.UNCHANGED), [])
            for c in report.prep.rows:
                if c.key in plan.unchanged and c.valid:
                    unit = c.norm.unit_num or ""
                    lines.append(PlanLine(c.row.number, c.norm.account or "", unit, ""))
    for r in report.reports:
        if r.result in (Result.INVALID, Result.DUPLICATE):
            groups.setdefault(str(r.result), []).append(PlanLine(r.row, r.account, "", r.error))
    return groups


def plan_counts(groups: dict[str, list[PlanLine]]) -> str:
    """``25 to create, 3 invalid, 1 duplicate`` (or "nothing to do")."""
    return ", ".join(f"{len(lines)} {word}" for word, lines in groups.items()) or "nothing to do"


def ending(report: ImportReport) -> str:
    """How a run ended, in one line, with what to do next."""
    stop = report.stop
    outcome = report.outcome
    if stop is Stop.DONE:
        return "planned: nothing was sent" if report.options.dry_run else "finished"
    if stop is Stop.HELD:
        return f"nothing sent: {report.held}"
    if stop is Stop.GUARD and report.plan is not None:
        return f"finished; not deleted: {report.plan.guard}"
    if stop is Stop.INTERRUPTED:
        return "stopped: press Resume to go on where it stopped"
    message = outcome.message if outcome is not None else ""
    return f"stopped early ({stop}): {message}; press Resume to go on"
