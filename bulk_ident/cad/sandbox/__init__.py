"""A local stand-in for Sonoran CAD's v2 API, for rehearsals and tests (standard library only)."""

from __future__ import annotations

from bulk_ident.cad.sandbox.config import (
    DEFAULT_ACCOUNTS_LIMIT,
    IDENTIFIER_DEFAULTS,
    SANDBOX_KEY_ENV,
    SandboxConfig,
    fingerprint,
    load_accounts,
    parse_slow,
    sandbox_key,
)
from bulk_ident.cad.sandbox.server import Sandbox

__all__ = [
    "DEFAULT_ACCOUNTS_LIMIT",
    "IDENTIFIER_DEFAULTS",
    "SANDBOX_KEY_ENV",
    "Sandbox",
    "SandboxConfig",
    "fingerprint",
    "load_accounts",
    "parse_slow",
    "sandbox_key",
]
