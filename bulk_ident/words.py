"""The words users see, defined once: what became of a row, what a run did, why it stopped.

Every module that names a result, an event or a stop reason uses these enums, so a word changes
in one place and a misspelt word is a type error, not a silent mismatch.
"""

from __future__ import annotations

import enum


class Result(enum.StrEnum):
    """What became of one row, as the results sheet, the plan and the summary say it."""

    CREATED = "created"
    UPDATED = "updated"
    RECREATED = "recreated"  # was gone from the server (deleted by hand): created again
    RESTORED = "restored"  # edited by hand in the CAD: the roster's values put back (--verify)
    ADOPTED = "already on server"  # found on the server by unit number: not created again
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    NOT_IN_ROSTER = "not in roster"  # created by this tool, gone from the roster; not deleted
    ON_SERVER_ONLY = "on server only"  # on a roster's account, matches no row (--verify); untouched
    FAILED = "failed"
    UNKNOWN = "unknown"  # the answer was lost; the next run checks the server first
    NOT_ATTEMPTED = "not attempted"
    INVALID = "invalid"
    DUPLICATE = "duplicate"
    VALID = "valid"  # check: the row would be sent
    NOT_CHECKED = "not checked"  # check: its account (by username...) could not be resolved yet
    WOULD_CREATE = "would create"
    WOULD_UPDATE = "would update"
    WOULD_DELETE = "would delete"
    WOULD_RETRY = "would retry"  # dry run: a row whose last answer was lost or refused


# The summary line's order: what was done first, then what was not.
SUMMARY_ORDER: tuple[Result, ...] = (
    Result.CREATED,
    Result.UPDATED,
    Result.RECREATED,
    Result.RESTORED,
    Result.ADOPTED,
    Result.UNCHANGED,
    Result.DELETED,
    Result.WOULD_CREATE,
    Result.WOULD_UPDATE,
    Result.WOULD_RETRY,
    Result.WOULD_DELETE,
    Result.NOT_IN_ROSTER,
    Result.ON_SERVER_ONLY,
    Result.FAILED,
    Result.UNKNOWN,
    Result.NOT_ATTEMPTED,
    Result.VALID,
    Result.NOT_CHECKED,
    Result.INVALID,
    Result.DUPLICATE,
)

# Results that make an import exit 1 (finished, but not everything is as the roster says).
PROBLEM_RESULTS = frozenset(
    {
        Result.FAILED,
        Result.UNKNOWN,
        Result.NOT_ATTEMPTED,
        Result.INVALID,
        Result.DUPLICATE,
        Result.NOT_CHECKED,
    }
)
# Always shown in the summary, even when zero, so a scheduled run's log line has a fixed shape.
ALWAYS_SHOWN = frozenset({Result.CREATED, Result.UPDATED, Result.UNCHANGED, Result.FAILED})


class EventKind(enum.StrEnum):
    """Something the run reports as it goes (progress bar, log file, a web page)."""

    LISTING = "listing"  # a GET of an account's identifiers is about to be sent
    SENDING = "sending"  # a POST, PATCH or DELETE is about to be sent
    DONE = "done"  # a row reached its result for this run (``detail`` is the Result)
    UNKNOWN = "unknown"  # an answer was lost: the row will be settled
    ABSENT = "absent"  # settled: not on the server, so it is posted again
    RATE_LIMITED = "rate limited"  # a 429: ``seconds`` is the wait
    UNREACHABLE = "unreachable"  # not sent: ``seconds`` is the back-off, ``detail`` "3/6"
    LIST_FAILED = "list failed"  # listing an account failed; it is tried again later
    CLOCK_BACK = "clock back"  # stored slots lay in the future: the clock was set back
    ACCOUNTS = "accounts"  # a page of the account list or one account look-up is about to be sent


class Stop(enum.StrEnum):
    """Why a run ended."""

    DONE = "done"
    INTERRUPTED = "interrupted"
    UNAUTHORISED = "unauthorised"
    RATE_LIMITED = "rate limited"
    UNREACHABLE = "unreachable"
    HOST_NOT_FOUND = "host not found"
    FAULTS = "faults"
    JOURNAL = "journal"  # the journal could not be written (disk full, read-only)
    HELD = "held back"  # nothing sent: invalid rows and no --skip-invalid
    GUARD = "delete guard"  # more deletions than --max-delete: none were made


def plural(n: int, noun: str, many: str | None = None) -> str:
    """``1 row``, ``3 rows``, ``2 identifiers``; ``many`` for irregular plurals."""
    return f"{n} {noun}" if n == 1 else f"{n} {many or noun + 's'}"
