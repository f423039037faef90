"""The sync plan: roster ⋈ journal [⋈ server listing] -> one step per row. Pure: no I/O.

Each valid roster row is joined with the journal's entry for its (account, unit number) and, when
its account was listed this run, with the server's identifiers on that account. The step says
what to send (nothing, POST, PATCH of the changed fields, DELETE) and the result it earns.
Journal entries of the roster's scope that the roster no longer lists are departures.

The join is a dictionary look-up per row, not a pandas merge: measured on 100k rows, building
the data frames and importing pandas cost more than the whole plain plan (see README, "Speed").
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
import operator
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bulk_ident.cad.client import RemoteIdentifier
from bulk_ident.identifier import PAYLOAD_FIELDS, Payload
from bulk_ident.prepare import Checked
from bulk_ident.sync.journal import (
    Entries,
    Entry,
    Key,
    State,
    Values,
    payload_json,
    values_of,
)
from bulk_ident.words import Result, plural


class Act(enum.StrEnum):
    """What the run does for one step."""

    NOTHING = "nothing"  # no request: unchanged, held back, or reported only
    CREATE = "create"  # POST (after listing the account when the journal can't vouch for it)
    ADOPT = "adopt"  # found on the server: recorded, then PATCHed if ``changes``
    UPDATE = "update"  # PATCH the changed fields
    RECREATE = "recreate"  # gone from the server: POST again
    DELETE = "delete"  # DELETE (a departure, with --delete-missing)
    SETTLE = "settle"  # list the account first, then adopt or create (only when not listed)


@dataclass(frozen=True)
class PlanOptions:
    """The sync's choices, from the command line or a config file."""

    scope: str
    update: bool = True
    delete_missing: bool = False
    max_delete: int | None = None  # None: 10% of the scope's identifiers, at least 5
    retry_failed: bool = False
    match_existing: bool = True
    verify: bool = False


Change = tuple[str, Any, Any]  # (property, old value, new value)


@dataclass(slots=True)  # not frozen: a frozen init costs 4x, and a re-run plans 100k rows
class Step:
    """One row (or departure, or stray identifier) and what the run does for it. Read-only by
    use: `_with` makes a changed copy."""

    key: Key
    act: Act
    result: Result  # the result if the requests succeed
    checked: Checked | None = None  # the roster row; None for departures and strays
    entry: Entry | None = None
    ident_id: int | None = None
    unit_num: str = ""
    changes: tuple[Change, ...] = ()
    server_values: Values | None = None  # what the server holds (adopt, verify)
    note: str = ""

    @property
    def row(self) -> int | None:
        """The roster row number, if the step is for a roster row."""
        return self.checked.row.number if self.checked is not None else None

    @property
    def account(self) -> str:
        """The account UUID."""
        return self.key[0]

    @property
    def payload(self) -> Payload:
        """The full payload of the roster row (roster rows only)."""
        assert self.checked is not None
        assert self.checked.norm.payload is not None
        return self.checked.norm.payload

    @property
    def patch(self) -> dict[str, Any]:
        """The PATCH body: only the changed properties, with the roster's values."""
        return {name: new for name, _, new in self.changes}

    @property
    def sends(self) -> int:
        """How many requests the step costs when all goes well."""
        if self.act in (Act.CREATE, Act.RECREATE, Act.UPDATE, Act.DELETE):
            return 1
        if self.act is Act.ADOPT:
            return 1 if self.changes and self.result is not Result.WOULD_UPDATE else 0
        if self.act is Act.SETTLE:
            return 1  # the POST; the account's listing is counted once, in Plan.lists
        return 0


@dataclass
class Plan:
    """Every step, in the order they run: roster rows first, then departures, then strays.

    Roster rows found unchanged from the journal's light index alone (the bulk of a re-run) are
    not steps: ``unchanged`` maps their keys to their identIds.
    """

    steps: list[Step]
    guard: str = ""  # why no departure was deleted, when the guard held them back
    lists: list[str] = field(default_factory=list)  # accounts the run lists before sending
    unchanged: dict[Key, int | None] = field(default_factory=dict)

    @functools.cached_property
    def requests(self) -> int:
        """Requests the plan costs when all goes well (listings included)."""
        return len(self.lists) + sum(s.sends for s in self.steps if s.act is not Act.NOTHING)

    @functools.cached_property
    def tally(self) -> Counter[Result]:
        """How many rows (and departures, and strays) earn each result."""
        tally = Counter(s.result for s in self.steps)
        if self.unchanged:
            tally[Result.UNCHANGED] += len(self.unchanged)
        return tally

    def count(self, result: Result) -> int:
        """How many steps earn this result."""
        return self.tally[result]


def change_text(changes: Iterable[Change]) -> str:
    """``rank: Officer → Sergeant; status: 0 → 2``."""
    return "; ".join(f"{name}: {_shown(old)} → {_shown(new)}" for name, old, new in changes)


def _shown(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if str(value) else "(blank)"


def diff(old: Values | None, new: Values) -> tuple[Change, ...]:
    """The properties whose values differ (all of them when ``old`` is unknown)."""
    if old is None:
        return tuple((n, None, v) for n, v in zip(PAYLOAD_FIELDS, new, strict=True))
    if old == new:
        return ()
    return tuple((n, o, v) for n, o, v in zip(PAYLOAD_FIELDS, old, new, strict=True) if o != v)


def server_values(remote: RemoteIdentifier) -> Values:
    """A listed identifier's values in payload order (None for what the listing lacks)."""
    return tuple(remote.data.get(name) for name in PAYLOAD_FIELDS)


def by_unit(listing: Sequence[RemoteIdentifier], unit_key: str) -> RemoteIdentifier | None:
    """The identifier with this unit number (trimmed, case ignored); the newest if several."""
    found = [i for i in listing if i.unit_num.strip().casefold() == unit_key.strip()]
    return max(found, key=lambda i: i.ident_id) if found else None


def _by_id(listing: Sequence[RemoteIdentifier], ident_id: int | None) -> RemoteIdentifier | None:
    return next((i for i in listing if i.ident_id == ident_id), None)


_NOT_ON_SERVER = (State.PENDING, State.FAILED, State.DELETED)
_EVER_ON_SERVER = (
    State.CREATED,
    State.UPDATING,
    State.DELETING,
    State.DELETED,
    State.UNKNOWN,
    State.SENDING,
)


_ON_SERVER = frozenset({State.CREATED, State.UPDATING, State.DELETING})
_PICK = operator.itemgetter(*PAYLOAD_FIELDS)


def vouched_accounts(entries: Entries, listed: Iterable[str]) -> set[str]:
    """Accounts the journal can vouch for: listed by it, or created on by it."""
    known = set(listed)
    known.update(key[0] for key, light in entries.lights.items() if light[0] in _EVER_ON_SERVER)
    return known


def plan_sync(
    rows: Sequence[Checked],
    entries: Entries,
    options: PlanOptions,
    *,
    vouched: set[str],
    present: set[Key],
    unkeyed: int = 0,
    listings: Mapping[str, Sequence[RemoteIdentifier]] | None = None,
) -> Plan:
    """The plan for the valid ``rows``.

    ``present`` holds the key of every roster row that has one (valid or not), so that a row
    with a typo is never taken for a departure; ``unkeyed`` counts rows whose account or unit
    number can't be read, which holds every deletion back. ``vouched`` are the accounts the
    journal has listed or created on; ``listings`` the accounts listed this run.
    """
    listings = listings or {}
    lights = entries.lights
    scope = options.scope
    steps = []
    unchanged: dict[Key, int | None] = {}
    for c in rows:
        key = _key(c)
        light = lights.get(key)
        # The common case of a re-run, decided from the light index alone: created by this
        # roster's scope, values unchanged, account not listed this run.
        if (
            light is not None
            and light[0] == State.CREATED
            and light[1] == scope
            and light[3] is not None
            and key[0] not in listings
        ):
            payload = c.norm.payload
            assert payload is not None
            # repr of the values in payload order: values_key of a roster payload, inlined.
            if light[3] == repr(_PICK(payload)):
                unchanged[key] = light[2]
                continue
        steps.append(replan_row(c, entries.get(key), options, vouched, listings))
    departures, guard = _departures(entries, options, present, unkeyed)
    steps += departures
    if options.verify:
        steps += _strays(rows, entries, listings)
    lists = sorted({s.account for s in steps if s.act is Act.SETTLE})
    if options.verify:
        lists = sorted({_key(c)[0] for c in rows} - set(listings))
    return Plan(steps, guard, lists, unchanged)


def _key(c: Checked) -> Key:
    key = c.key if c.key is not None else c.norm.key
    assert key is not None  # valid rows have both
    return key


def replan_row(
    c: Checked,
    entry: Entry | None,
    options: PlanOptions,
    vouched: set[str],
    listings: Mapping[str, Sequence[RemoteIdentifier]],
) -> Step:
    key = _key(c)
    payload = c.norm.payload
    assert payload is not None
    values = values_of(payload)
    listing = listings.get(key[0])
    base = Step(key, Act.NOTHING, Result.UNCHANGED, c, entry, unit_num=payload["unitNum"])

    def changed(old: Values | None, result: Result, act: Act, ident_id: int | None) -> Step:
        changes = diff(old, values)
        if not changes:
            return _with(base, act=act, ident_id=ident_id, server_values=old)
        if not options.update:
            result = Result.WOULD_UPDATE
        elif act is Act.NOTHING:
            act = Act.UPDATE
        return _with(
            base, act=act, result=result, ident_id=ident_id, changes=changes, server_values=old
        )

    state = entry.settled_state if entry is not None else None
    if entry is None or state in _NOT_ON_SERVER:
        if (
            entry is not None
            and state is State.FAILED
            and not options.retry_failed
            and entry.rejected == payload_json(payload)
        ):
            note = (entry.error or "refused by the server") + (
                " (not sent again: change the row, or pass --retry-failed)"
            )
            return _with(base, result=Result.FAILED, note=note)
        if listing is not None:
            found = by_unit(listing, key[1])
            if found is not None:
                step = changed(server_values(found), Result.UPDATED, Act.ADOPT, found.ident_id)
                return step if step.changes else _with(step, result=Result.ADOPTED)
            return _with(base, act=Act.CREATE, result=Result.CREATED)
        if options.match_existing and key[0] not in vouched:
            return _with(base, act=Act.SETTLE, result=Result.CREATED)
        return _with(base, act=Act.CREATE, result=Result.CREATED)
    if state is State.UNKNOWN or state is State.DELETING:
        # The last write's outcome is in doubt: only the server can say what it holds.
        if listing is None:
            return _with(base, act=Act.SETTLE, result=Result.CREATED)
        remote = (
            _by_id(listing, entry.ident_id) if state is State.DELETING else by_unit(listing, key[1])
        )
        if remote is None:
            return _with(base, act=Act.CREATE, result=Result.CREATED)
        step = changed(server_values(remote), Result.UPDATED, Act.ADOPT, remote.ident_id)
        return step if step.changes else _with(step, result=Result.ADOPTED)
    # Created or adopted (an update may be in flight).
    if listing is not None:
        remote = _by_id(listing, entry.ident_id)
        if remote is None:
            return _with(base, act=Act.RECREATE, result=Result.RECREATED, ident_id=None)
        roster_changed = entry.values != values
        result = Result.UPDATED if roster_changed else Result.RESTORED
        return changed(server_values(remote), result, Act.NOTHING, entry.ident_id)
    old = entry.values
    if state is State.UPDATING:
        # The PATCH may or may not have landed: send every field it touched, with the roster's
        # values, so the server ends as the roster says either way.
        want = entry.wanted()
        if want is not None and old is not None:
            touched = {
                n for n, o, w in zip(PAYLOAD_FIELDS, old, values_of(want), strict=True) if o != w
            }
            old = tuple(
                None if n in touched else o for n, o in zip(PAYLOAD_FIELDS, old, strict=True)
            )
    return changed(old, Result.UPDATED, Act.NOTHING, entry.ident_id)


def _with(step: Step, **changes: Any) -> Step:
    return dataclasses.replace(step, **changes)


def default_max_delete(scope_size: int) -> int:
    """10% of the scope's identifiers, at least 5."""
    return max(5, math.ceil(scope_size * 0.10))


def _departures(
    entries: Entries, options: PlanOptions, present: set[Key], unkeyed: int
) -> tuple[list[Step], str]:
    scope = [
        key
        for key, light in entries.lights.items()
        if light[1] == options.scope and light[0] in _ON_SERVER
    ]
    gone = [entries[key] for key in scope if key not in present]
    gone.sort(key=lambda e: (e.source_row or 0, e.key))
    in_flight = [e for e in gone if e.state is State.DELETING]
    wanted = [e for e in gone if e.state is not State.DELETING] if options.delete_missing else []
    limit = options.max_delete
    if limit is None:
        limit = default_max_delete(len(scope))
    guard = ""
    if wanted and unkeyed:
        guard = (
            f"{plural(unkeyed, 'roster row')} without a readable account or unit number: no "
            "departure is deleted until they are fixed"
        )
    elif len(wanted) > limit:
        guard = (
            f"this run would delete {plural(len(wanted), 'identifier')}, more than --max-delete "
            f"{limit}: none were deleted. If the roster is right, run again with "
            f"--max-delete {len(wanted)}"
        )
    deleting = {e.key for e in in_flight} | ({e.key for e in wanted} if not guard else set())
    steps = []
    for e in gone:
        act, result = (
            (Act.DELETE, Result.DELETED)
            if e.key in deleting
            else (Act.NOTHING, Result.NOT_IN_ROSTER)
        )
        note = (
            "" if act is Act.DELETE else (guard or "not in the roster; --delete-missing deletes it")
        )
        steps.append(
            Step(e.key, act, result, None, e, ident_id=e.ident_id, unit_num=e.unit_num, note=note)
        )
    return steps, guard


def _strays(
    rows: Sequence[Checked],
    entries: Entries,
    listings: Mapping[str, Sequence[RemoteIdentifier]],
) -> list[Step]:
    """Identifiers on the roster's accounts that match no row and no journal entry."""
    known_ids = {
        light[2]
        for light in entries.lights.values()
        if light[2] is not None and light[0] in _ON_SERVER
    }
    units = {_key(c) for c in rows}
    out = []
    for account in sorted({_key(c)[0] for c in rows}):
        for remote in listings.get(account, ()):
            unit_key = remote.unit_num.strip().casefold()
            if remote.ident_id in known_ids or (account, unit_key) in units:
                continue
            out.append(
                Step(
                    (account, unit_key),
                    Act.NOTHING,
                    Result.ON_SERVER_ONLY,
                    ident_id=remote.ident_id,
                    unit_num=remote.unit_num,
                    server_values=server_values(remote),
                    note="on the server but in no roster row; left as it is",
                )
            )
    return out
