"""The project's exceptions. Their messages are shown to users as they are: one line, no secrets.

BulkIdentError
 +-- InputError          the roster or an option can't be used (exit 2, nothing sent)
 +-- JournalError        the journal can't be opened or is in use by another run (exit 2)
 +-- ApiError            talking to the server went wrong in a way that stops the run (exit 3)
"""

from __future__ import annotations


class BulkIdentError(Exception):
    """Base of every error the library raises on purpose; ``str(err)`` is the user message."""


class InputError(BulkIdentError):
    """The roster file or an option can't be used. Nothing was sent."""


class JournalError(BulkIdentError):
    """The journal can't be used (locked by another run, unreadable, or from another tool)."""


class ApiError(BulkIdentError):
    """The server refused the run as a whole (bad key, repeated rate limiting, repeated faults)."""
