"""Addresses, proxies and keys: what the API client and the roster download both need.

Standard library only: the sandbox and the state folder use the key fingerprint without
loading an HTTP library.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from bulk_ident.errors import InputError

DEFAULT_BASE_URL: Final = "https://api.sonorancad.com"
API_KEY_ENV: Final = "SONORAN_API_KEY"
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def check_base_url(url: str) -> str:
    """Return the base URL normalised; refuse anything but https, or http to a loopback host."""
    text = url.strip()
    parts = urllib.parse.urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise InputError(
            f"base URL {text!r} is not an http(s) address: "
            f"use e.g. {DEFAULT_BASE_URL} or http://127.0.0.1:8765 for the sandbox"
        )
    if parts.username is not None or parts.password is not None:
        raise InputError("the base URL must not contain a user name or password")
    if parts.query or parts.fragment:
        raise InputError(f"base URL {text!r} must not have a query or fragment")
    if scheme == "http" and not is_loopback(parts.hostname):
        raise InputError(
            f"base URL {text!r} uses plain http, which would send the API key unencrypted: "
            "use https, or http only for a loopback address such as http://127.0.0.1:8765"
        )
    try:
        port = parts.port
    except ValueError as err:
        raise InputError(f"base URL {text!r} has an invalid port") from err
    host = parts.hostname.lower().rstrip(".")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    return urllib.parse.urlunsplit((scheme, netloc, parts.path.rstrip("/"), "", ""))


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: addresses that never leave this machine."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_KEY_CHARS: Final = re.compile(r"^[\x21-\x7e]+$")  # visible ASCII: what a header can carry


def sendable_key(key: str) -> bool:
    """Whether a key can travel in an Authorization header (visible ASCII only)."""
    return bool(_KEY_CHARS.match(key))


def load_api_key(*, env: Mapping[str, str], key_file: Path | None) -> str:
    """The API key from ``key_file`` if given, else from ``SONORAN_API_KEY``; never echoed."""
    if key_file is not None:
        try:
            key = key_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as err:
            reason = getattr(err, "strerror", None) or "not readable as UTF-8 text"
            raise InputError(f"can't read the API key file {str(key_file)!r}: {reason}") from None
        source = f"the API key file {str(key_file)!r}"
    else:
        key = env.get(API_KEY_ENV, "").strip()
        source = API_KEY_ENV
        if not key:
            raise InputError(
                f"no API key: set {API_KEY_ENV} or pass --api-key-file FILE "
                "(a file holding only the key)"
            )
    if not key:
        raise InputError(f"{source} is empty: it should hold only the API key")
    if not _KEY_CHARS.match(key):
        # Never echo the value: a key with a stray space is still mostly the key.
        raise InputError(
            f"{source} holds spaces, line breaks or non-ASCII characters: "
            "it should hold only the API key, on one line"
        )
    return key


def key_fingerprint(api_key: str) -> str:
    """A short stable id for a key (``key-`` + 10 hex of its SHA-256), safe to log and store."""
    return "key-" + hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:10]


@dataclass(frozen=True)
class Proxy:
    """The proxy requests go through: its URL without credentials, and where it came from."""

    url: str  # scheme://host:port, safe to show
    source: str  # "--proxy" or the environment variable's name
    auth: tuple[str, str] | None = field(default=None, repr=False)


# As curl reads them: the lower-case spelling first.
_PROXY_VARIABLES: Final = ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


def choose_proxy(
    url: str, *, proxy: str | None = None, env: Mapping[str, str] | None = None
) -> Proxy | None:
    """The proxy for ``url`` (the API's base URL, or a roster's address), or None to connect
    directly.

    Never for a loopback address, whatever the environment says, and never for plain http: a
    proxy would see the key in clear text. For https, ``proxy`` (the ``--proxy`` option) wins,
    else ``HTTPS_PROXY`` or ``ALL_PROXY`` from ``env`` unless ``NO_PROXY`` names the host.
    ``HTTP_PROXY`` is never used: the API and rosters are only fetched over https.
    """
    parts = urllib.parse.urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if parts.scheme.lower() != "https" or not host or is_loopback(host):
        return None
    if proxy is not None and proxy.strip():
        return _parse_proxy(proxy.strip(), "--proxy")
    env = os.environ if env is None else env
    for name in _PROXY_VARIABLES:
        value = env.get(name, "").strip()
        if value:
            if _no_proxy(host, parts.port or 443, env):
                return None
            return _parse_proxy(value, name)
    return None


def _parse_proxy(text: str, source: str) -> Proxy:
    if "://" not in text:
        text = "http://" + text  # what curl and httpx assume for a bare host:port
    parts = urllib.parse.urlsplit(text)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = -1
    shown = f"{scheme}://{parts.hostname or ''}" + (f":{port}" if port and port > 0 else "")
    if scheme not in ("http", "https") or not parts.hostname or port == -1:
        raise InputError(
            f"proxy {shown!r} from {source} can't be used: give an http proxy such as "
            "http://proxy.example:3128 (SOCKS proxies are not supported)"
        )
    if port is None:
        port = 443 if scheme == "https" else 80
    host = parts.hostname
    netloc = f"[{host}]" if ":" in host else host
    auth = None
    if parts.username is not None:
        auth = (
            urllib.parse.unquote(parts.username),
            urllib.parse.unquote(parts.password or ""),
        )
    return Proxy(f"{scheme}://{netloc}:{port}", source, auth)


def _no_proxy(host: str, port: int, env: Mapping[str, str]) -> bool:
    """Whether NO_PROXY (curl's rules: ``*``, host suffixes, optional ``:port``) names host."""
    text = env.get("NO_PROXY", env.get("no_proxy", ""))
    for entry in (e.strip().lower() for e in text.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        name, _, entry_port = entry.rpartition(":") if _has_port(entry) else (entry, "", "")
        if entry_port and entry_port != str(port):
            continue
        name = name.strip("[]").lstrip(".")
        if name.startswith("*."):
            name = name[2:]
        if host == name or host.endswith("." + name):
            return True
    return False


def _has_port(entry: str) -> bool:
    head, sep, tail = entry.rpartition(":")
    return bool(sep) and tail.isdigit() and (head.endswith("]") or ":" not in head)
