"""The community's account directory: usernames and community, Discord or Roblox ids -> UUIDs.

Kept in a JSON cache file (one per community, beside the journal), filled by paging through the
account listing and, for Discord and Roblox ids (which the listing does not carry), by one look-up
per value. The caller paces: every request waits for ``wait_turn()`` first. No printing.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from bulk_ident.cad.client import (
    ACCOUNTS_PAGE_SIZE,
    Account,
    AccountsPage,
    Failure,
    Rejected,
    SonoranClient,
)
from bulk_ident.errors import JournalError
from bulk_ident.shown import shown as quoted

CACHE_VERSION: Final = 1
ALL: Final = "all"
# The listing filters one status at a time; "all" reads the validated accounts first.
ALL_STATUSES: Final = (1, 0, 2, 3, 4)
STATUS_WORDS: Final[Mapping[int, str]] = {
    0: "pending",
    1: "validated",
    2: "expired",
    3: "removed",
    4: "banned",
}
_INACTIVE: Final[Mapping[int, str]] = {
    0: "is pending approval in the CAD",
    2: "has expired in the CAD",
    3: "was removed from the CAD",
    4: "is banned in the CAD",
}
_CLOCK_SLACK: Final = 300.0  # a cache "fetched" this far in the future means the clock moved

StatusFilter = int | Literal["all"]


class LookupKind(enum.StrEnum):
    """What a roster cell names an account by; the value is the word shown to users."""

    USERNAME = "username"
    COMMUNITY_USER_ID = "community user id"
    DISCORD = "discord"
    ROBLOX = "roblox"


# Username and community user id are in the listing; the others need one look-up per value.
LISTED_KINDS: Final = frozenset({LookupKind.USERNAME, LookupKind.COMMUNITY_USER_ID})
LOOKED_UP_KINDS: Final = frozenset({LookupKind.DISCORD, LookupKind.ROBLOX})


class Problem(enum.StrEnum):
    """Why a value did not resolve to one usable account."""

    NO_MATCH = "no match"  # nothing has that value (refresh once; then it's the roster)
    INACTIVE = "inactive"  # the one match is pending, expired, removed or banned
    AMBIGUOUS = "ambiguous"  # several accounts have that value: never guess
    NOT_LOOKED_UP = "not looked up"  # nothing known yet: fetch the listing or look it up


@dataclass(frozen=True)
class Resolution:
    """A value's account UUID, or the problem and a one-line reason naming the value."""

    uuid: str | None
    problem: Problem | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        """True when ``uuid`` is the one validated account."""
        return self.uuid is not None


@dataclass(frozen=True)
class FetchResult:
    """How a ``fetch_all`` ended.

    ``complete``: every page was read and the directory replaced (and saved). Otherwise either
    ``failure`` is the outcome that stopped it or ``stopped`` says ``wait_turn`` asked to stop;
    the pages read so far are kept, and the next ``fetch_all`` with the same status resumes.
    """

    complete: bool
    fetched: int  # accounts read so far in this fetch, resumed pages included (not kept ones)
    total: int | None  # what the listing said it holds (summed over statuses), if it said
    requests: int  # requests sent by this call
    failure: Failure | None = None
    stopped: bool = False


@dataclass(frozen=True)
class Stopped:
    """``wait_turn`` returned False: a stop was requested and nothing was sent."""


@dataclass
class _Progress:
    statuses: tuple[int, ...]
    started: float
    index: int = 0
    offset: int = 0
    accounts: dict[str, Account] = field(default_factory=dict)
    totals: dict[int, int] = field(default_factory=dict)
    kept: int = 0  # accounts already held before this fetch (fetch_inactive)

    @property
    def fetched(self) -> int:
        return len(self.accounts) - self.kept


@dataclass(frozen=True)
class _Looked:
    """One look-up's answer: the account, or None for "no such account", and when."""

    account: Account | None
    at: float


class AccountDirectory:
    """The community's accounts as last fetched, plus the Discord and Roblox look-ups made."""

    def __init__(self, path: Path | None = None, *, clock: Callable[[], float] = time.time) -> None:
        """An empty directory; ``path`` is where ``save()`` writes (None: memory only)."""
        self.path = path
        self.fetched_at: float | None = None
        self.status_filter: StatusFilter | None = None
        self.accounts: tuple[Account, ...] = ()
        self.warning: str | None = None  # set by load() when an unusable cache was ignored
        self._clock = clock
        self._lookups: dict[tuple[LookupKind, str], _Looked] = {}
        self._index: dict[LookupKind, dict[str, list[Account]]] | None = None
        self._progress: _Progress | None = None

    # -- the cache file ------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path, *, clock: Callable[[], float] = time.time) -> AccountDirectory:
        """The directory saved at ``path``; empty if there is none yet.

        A file that can't be understood (damaged, another version) is ignored and ``warning``
        says so: it is only a cache, refilled by the next fetch. A file that can't be read at
        all (permissions) raises JournalError, as saving would fail too.
        """
        directory = cls(path, clock=clock)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return directory
        except (OSError, UnicodeDecodeError) as err:
            reason = getattr(err, "strerror", None) or "not UTF-8 text"
            raise JournalError(
                f"can't read the account cache {str(path)!r}: {reason}; "
                "fix its permissions or delete it (it is fetched again)"
            ) from None
        try:
            directory._read(json.loads(text))
        except (ValueError, TypeError, KeyError, RecursionError) as err:
            directory = cls(path, clock=clock)
            directory.warning = (
                f"the account cache {str(path)!r} could not be used ({_short(err)}); "
                "the accounts will be fetched again"
            )
        return directory

    def _read(self, data: Any) -> None:
        if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
            raise ValueError(f"not a version {CACHE_VERSION} account cache")
        fetched_at = data["fetched_at"]
        if fetched_at is not None and not isinstance(fetched_at, int | float):
            raise TypeError("fetched_at is not a time")
        status_filter = data["status_filter"]
        if not (
            status_filter is None
            or status_filter == ALL
            or (type(status_filter) is int and status_filter in STATUS_WORDS)
        ):
            raise ValueError("status_filter is not 0-4 or 'all'")
        accounts = tuple(_account_from_json(item) for item in data["accounts"])
        lookups: dict[tuple[LookupKind, str], _Looked] = {}
        for item in data["lookups"]:
            kind = LookupKind(item["kind"])
            value, at = item["value"], item["at"]
            if kind not in LOOKED_UP_KINDS or not isinstance(value, str):
                raise ValueError("a look-up of an unknown kind")
            if not isinstance(at, int | float):
                raise TypeError("a look-up without a time")
            found = item["account"]
            account = None if found is None else _account_from_json(found)
            lookups[(kind, _fold(value))] = _Looked(account, float(at))
        self.fetched_at = None if fetched_at is None else float(fetched_at)
        self.status_filter = status_filter
        self.accounts = accounts
        self._lookups = lookups
        self._index = None

    def save(self) -> None:
        """Write the cache atomically (a new file renamed over the old), readable by us only."""
        if self.path is None:
            raise ValueError("this directory has no cache file")
        data = {
            "version": CACHE_VERSION,
            "fetched_at": self.fetched_at,
            "status_filter": self.status_filter,
            "accounts": [_account_to_json(a) for a in self.accounts],
            "lookups": [
                {
                    "kind": str(kind),
                    "value": value,
                    "at": looked.at,
                    "account": None if looked.account is None else _account_to_json(looked.account),
                }
                for (kind, value), looked in sorted(self._lookups.items())
            ],
        }
        text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
        _write_private(self.path, text)

    # -- freshness -----------------------------------------------------------------------------

    def is_stale(self, max_age_seconds: float, now: float) -> bool:
        """True when never fetched, fetched more than ``max_age_seconds`` ago, or "in the
        future" (the clock was moved back), so the caller fetches it again."""
        if self.fetched_at is None:
            return True
        age = now - self.fetched_at
        return age > max_age_seconds or age < -_CLOCK_SLACK

    def expire_lookups(self, max_age_seconds: float, now: float) -> int:
        """Forget look-up answers older than ``max_age_seconds``; returns how many went."""
        old = [
            key
            for key, looked in self._lookups.items()
            if not -_CLOCK_SLACK <= now - looked.at <= max_age_seconds
        ]
        for key in old:
            del self._lookups[key]
        return len(old)

    # -- filling it: the listing -----------------------------------------------------------------

    def fetch_all(
        self,
        client: SonoranClient,
        *,
        status: int | None,
        wait_turn: Callable[[], bool],
        on_page: Callable[[int, int | None], None] | None = None,
    ) -> FetchResult:
        """Read the whole account listing, 100 a page, and replace the directory with it.

        ``status`` 0-4 reads that status only (1 = validated, the API's default); None reads
        every status, as five listings (the API filters one status at a time), so that
        pending, expired, removed and banned accounts can be named as such. ``wait_turn()``
        runs before every request; False stops cleanly. ``on_page(fetched, total)`` reports
        progress, ``total`` summing the totals the listings gave so far. A failure stops the
        fetch and is returned; calling again with the same ``status`` resumes from that page.
        The cache file is saved when the fetch completes.
        """
        statuses = ALL_STATUSES if status is None else (status,)
        if status is not None and status not in STATUS_WORDS:
            raise ValueError("status must be 0-4, or None for all")
        return self._fetch(
            client, statuses, ALL if status is None else status, (), wait_turn, on_page
        )

    def fetch_inactive(
        self,
        client: SonoranClient,
        *,
        wait_turn: Callable[[], bool],
        on_page: Callable[[int, int | None], None] | None = None,
    ) -> FetchResult:
        """Add the pending, expired, removed and banned accounts to a directory holding the
        validated ones (``fetch_all(status=1)``), so that a name matching only an inactive
        account says so. The directory then holds every status, as old as its validated part.
        Requests, progress, failures and resuming are as for ``fetch_all``."""
        if self.status_filter != 1 or self.fetched_at is None:
            raise ValueError("fetch_inactive adds to a directory of validated accounts")
        inactive = tuple(s for s in ALL_STATUSES if s != 1)
        return self._fetch(client, inactive, ALL, self.accounts, wait_turn, on_page)

    def _fetch(
        self,
        client: SonoranClient,
        statuses: tuple[int, ...],
        status_filter: StatusFilter,
        keep: tuple[Account, ...],
        wait_turn: Callable[[], bool],
        on_page: Callable[[int, int | None], None] | None,
    ) -> FetchResult:
        progress = self._progress
        if progress is None or progress.statuses != statuses:
            started = self._clock() if not keep or self.fetched_at is None else self.fetched_at
            progress = self._progress = _Progress(statuses, started=started, kept=len(keep))
            progress.accounts.update((a.uuid, a) for a in keep)
        requests = 0
        while progress.index < len(statuses):
            if not wait_turn():
                return self._partial(progress, requests, stopped=True)
            current = statuses[progress.index]
            outcome = client.list_accounts_page(
                offset=progress.offset, limit=ACCOUNTS_PAGE_SIZE, status=current
            )
            requests += 1
            if not isinstance(outcome, AccountsPage):
                return self._partial(progress, requests, failure=outcome)
            new = [a for a in outcome.accounts if a.uuid not in progress.accounts]
            progress.accounts.update((a.uuid, a) for a in outcome.accounts)
            if outcome.total is not None:
                progress.totals[current] = outcome.total
            progress.offset += len(outcome.accounts)
            if on_page is not None:
                on_page(progress.fetched, _total(progress))
            if _last_page(outcome, progress.offset) or not new:
                # ``not new``: a page of accounts already seen means the server ignores the
                # offset; going on would never end.
                progress.index += 1
                progress.offset = 0
        self._progress = None
        self.accounts = tuple(progress.accounts.values())
        self.fetched_at = progress.started  # the data is as old as its first page
        self.status_filter = status_filter
        self._index = None
        if self.path is not None:
            self.save()
        return FetchResult(True, progress.fetched, _total(progress), requests)

    def _partial(
        self,
        progress: _Progress,
        requests: int,
        *,
        failure: Failure | None = None,
        stopped: bool = False,
    ) -> FetchResult:
        return FetchResult(False, progress.fetched, _total(progress), requests, failure, stopped)

    # -- filling it: one look-up -----------------------------------------------------------------

    def lookup(
        self,
        client: SonoranClient,
        kind: LookupKind | str,
        value: str,
        wait_turn: Callable[[], bool],
    ) -> Resolution | Failure | Stopped:
        """Ask the server for the account with this Discord or Roblox id (one request).

        The answer, "no such account" included, is cached with its time and saved; the
        resolution is returned. Any other failure is returned as the client's outcome and
        nothing is cached. A blank value sends nothing.
        """
        kind = LookupKind(kind)
        if kind not in LOOKED_UP_KINDS:
            raise ValueError(f"{kind} values resolve from the listing: use fetch_all")
        text = value.strip()
        if not text:
            return self.resolve(kind, text)
        if not wait_turn():
            return Stopped()
        if kind is LookupKind.DISCORD:
            outcome = client.find_account(discord=text)
        else:
            outcome = client.find_account(roblox=text)
        if isinstance(outcome, Account):
            self._lookups[(kind, _fold(text))] = _Looked(outcome, self._clock())
        elif isinstance(outcome, Rejected) and outcome.status == 404:
            self._lookups[(kind, _fold(text))] = _Looked(None, self._clock())
        else:
            return outcome
        if self.path is not None:
            self.save()
        return self.resolve(kind, text)

    # -- using it ---------------------------------------------------------------------------------

    def resolve(self, kind: LookupKind | str, value: str) -> Resolution:
        """The one validated account a roster cell names, or why there isn't one.

        Case and surrounding spaces are ignored. Usernames and community user ids are matched
        against the listing; Discord and Roblox ids against earlier look-ups (``lookup``).
        Two accounts with the value are never guessed between.
        """
        kind = LookupKind(kind)
        text = value.strip()
        if not text:
            return Resolution(None, Problem.NO_MATCH, f"the {kind} is blank")
        shown = f"{kind} {quoted(text)}"
        if kind in LISTED_KINDS:
            if self.fetched_at is None:
                return Resolution(
                    None, Problem.NOT_LOOKED_UP, f"{shown}: the account list is not fetched yet"
                )
            matches = self._indexed(kind).get(_fold(text), [])
            scope = "" if self.status_filter in (ALL, None) else _status_word(self.status_filter)
        else:
            looked = self._lookups.get((kind, _fold(text)))
            if looked is None:
                return Resolution(
                    None, Problem.NOT_LOOKED_UP, f"{shown} is not looked up in the CAD yet"
                )
            matches = [] if looked.account is None else [looked.account]
            scope = ""  # the look-up answers whatever the account's status
        if len(matches) == 1 and matches[0].status == 1:
            return Resolution(matches[0].uuid)  # the common case, straight away
        return _judge(shown, matches, scope)

    def _indexed(self, kind: LookupKind) -> dict[str, list[Account]]:
        if self._index is None:
            index: dict[LookupKind, dict[str, list[Account]]] = {k: {} for k in LISTED_KINDS}
            for account in self.accounts:
                for key, value in (
                    (LookupKind.USERNAME, account.username),
                    (LookupKind.COMMUNITY_USER_ID, account.community_user_id),
                ):
                    if value is not None and value.strip():
                        index[key].setdefault(_fold(value.strip()), []).append(account)
            self._index = index
        return self._index[kind]


def _judge(shown: str, matches: list[Account], scope: str) -> Resolution:
    if not matches:
        what = f"no {scope} account" if scope else "no account"
        return Resolution(None, Problem.NO_MATCH, f"{shown} matches {what} in the CAD")
    if len(matches) > 1:
        uuids = ", ".join(a.uuid for a in matches[:3])
        more = f" and {len(matches) - 3} more" if len(matches) > 3 else ""
        return Resolution(
            None,
            Problem.AMBIGUOUS,
            f"{shown} matches {len(matches)} accounts in the CAD ({uuids}{more}): "
            "give the Account UUID instead",
        )
    [account] = matches
    if account.status == 1:
        return Resolution(account.uuid)
    return Resolution(None, Problem.INACTIVE, f"{shown} {_INACTIVE[account.status]}")


def _status_word(status: StatusFilter | None) -> str:
    return STATUS_WORDS.get(status, "") if isinstance(status, int) else ""


def _last_page(page: AccountsPage, offset: int) -> bool:
    if not page.accounts:
        return True
    if page.total is not None:
        return offset >= page.total
    return len(page.accounts) < page.limit


def _total(progress: _Progress) -> int | None:
    return sum(progress.totals.values()) if progress.totals else None


def _fold(text: str) -> str:
    return text.casefold()


def _short(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text[:120] or type(err).__name__


def _account_to_json(account: Account) -> dict[str, Any]:
    return {
        "uuid": account.uuid,
        "username": account.username,
        "communityUserId": account.community_user_id,
        "discord": account.discord,
        "roblox": account.roblox,
        "status": account.status,
        "joined": account.joined,
        "lastLogin": account.last_login,
    }


def _account_from_json(item: Any) -> Account:
    """An account as this module saved it; anything else raises (the cache is then ignored)."""
    if not isinstance(item, dict):
        raise TypeError("an account is not an object")
    texts = {}
    for name in ("uuid", "username", "communityUserId", "discord", "roblox", "joined", "lastLogin"):
        value = item[name]
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} is not text")
        texts[name] = value
    status = item["status"]
    if type(status) is not int or status not in STATUS_WORDS or not texts["uuid"]:
        raise ValueError("an account without a uuid or status")
    return Account(
        uuid=texts["uuid"],
        username=texts["username"],
        community_user_id=texts["communityUserId"],
        discord=texts["discord"],
        roblox=texts["roblox"],
        status=status,
        joined=texts["joined"],
        last_login=texts["lastLogin"],
    )


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` as a new 0600 file renamed over the old one."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as err:
        raise JournalError(f"can't write the account cache {str(path)!r}: {err.strerror}") from None
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), 0o600)  # mkstemp makes it 0600; say so, whatever the umask
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise JournalError(f"can't write the account cache {str(path)!r}: {err.strerror}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
