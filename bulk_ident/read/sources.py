"""Where a roster comes from: a local file, or an https URL (Google Sheets links included)
downloaded into memory, size- and time-limited, and named for the user.

A Google Sheets link is read through Google's CSV export of the tab the link names (``gid``):
it holds each cell exactly as Google displays it and only that tab. ``whole_workbook=True`` asks
for the XLSX export instead (every tab, typed cells), for when the user picks a tab with --sheet.
"""

from __future__ import annotations

import contextlib
import email.message
import os
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx

from bulk_ident import __version__
from bulk_ident.errors import InputError
from bulk_ident.net import choose_proxy, is_loopback

__all__ = [
    "CONNECT_TIMEOUT",
    "MAX_BYTES",
    "MAX_REDIRECTS",
    "READ_TIMEOUT",
    "TIMEOUT",
    "Source",
    "display_url",
    "google_export_url",
    "is_url",
    "local_source",
    "open_source",
]

MAX_BYTES: Final = 50 * 1024 * 1024
TIMEOUT: Final = 60.0
"""The whole download, redirects included, must finish within this many seconds."""
CONNECT_TIMEOUT: Final = 10.0
READ_TIMEOUT: Final = 30.0
"""The longest silence between two pieces of the answer (Google may think a while first)."""
MAX_REDIRECTS: Final = 5

NOT_SHARED: Final = (
    "the sheet is not shared publicly: share it as 'Anyone with the link can view' or download it"
)
_SHOWN_BODY: Final = 80  # the longest server text a message may quote
_USER_AGENT: Final = f"bulk-ident/{__version__}"
_ACCEPT: Final = (
    "text/csv, application/vnd.openxmlformats-officedocument.spreadsheetml.sheet, */*;q=0.1"
)
_ZIP_MAGIC: Final = b"PK\x03\x04"
_CFB_MAGIC: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE compound file: .xls or encrypted
_HTML_START: Final = re.compile(rb"^(?:\xef\xbb\xbf)?\s*<(?:!doctype\s+html|html[\s>])", re.I)
_URL_SCHEME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")  # 2+ letters: C:// is a path
_BARE_HOST: Final = re.compile(r"^(?:www\.|docs\.google\.com/|drive\.google\.com/)", re.I)
_SECRET_PARAM: Final = re.compile(r"token|key|sig|secret|pass|pwd|auth|credential|session", re.I)
_GOOGLE_ID: Final = r"[A-Za-z0-9_-]{10,}"
_SHEET_PATH: Final = re.compile(
    rf"^/(?:a/[^/]+/)?spreadsheets/(?:u/\d+/)?d/(?P<published>e/)?(?P<id>{_GOOGLE_ID})"
    r"(?P<rest>/.*)?$"
)
_DRIVE_FILE_PATH: Final = re.compile(rf"^/(?:u/\d+/)?file/d/(?P<id>{_GOOGLE_ID})(?:/.*)?$")
_GID: Final = re.compile(r"(?:^|[&#?])gid=(\d+)")
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_EXPORT_FORMATS: Final = frozenset({"csv", "tsv", "xlsx"})
_TEXT_SUFFIXES: Final = frozenset({".csv", ".tsv", ".txt"})
# Workbook kinds, passed on under their own suffix: the reader refuses the ones it can't read
# with advice of its own (save as .xlsx or .csv).
_WORKBOOKS: Final = frozenset({".xlsx", ".xlsm", ".xls", ".xlsb", ".ods", ".numbers"})
_CONTENT_TYPES: Final = {
    "text/csv": ".csv",
    "application/csv": ".csv",
    "text/comma-separated-values": ".csv",
    "text/tab-separated-values": ".csv",
    "text/plain": ".csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.ms-excel.sheet.macroenabled.12": ".xlsm",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.oasis.opendocument.spreadsheet": ".ods",
}
_NOT_A_TABLE: Final = re.compile(
    r"^(?:image|audio|video|font)/|^application/(?:json|.*\+json|xml|.*\+xml|pdf|javascript)$"
    r"|^text/(?:xml|javascript|css)$"
)


@dataclass(frozen=True)
class Source:
    """A roster's bytes and how to name it to the user.

    ``name`` is what messages show (the path as given, or the URL); ``suffix`` decides how the
    bytes are read (``.xlsx``, ``.csv``...); ``path`` is the local file, when there is one, so
    that outputs can default to sitting beside it; ``stem`` names those outputs. ``gid`` is the
    Google Sheets tab a link named, if any (the CSV export already holds only that tab).
    """

    name: str
    suffix: str
    data: bytes
    path: Path | None
    stem: str
    gid: str | None = None


def local_source(path: Path) -> Source:
    """Read a local roster file; InputError says what is wrong in one line."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: file not found.") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a folder, not a roster file.") from None
    except PermissionError:
        raise InputError(
            f"{path} can't be read (permission denied): check its permissions, or close it "
            "in any program that locks it."
        ) from None
    except OSError as err:
        raise InputError(f"{path} can't be read: {err.strerror or err}.") from None
    return Source(str(path), path.suffix.lower(), data, path, path.stem)


def is_url(text: str) -> bool:
    """True when ``text`` is a URL (``scheme://...`` or ``file:...``) rather than a local path.

    ``open_source`` downloads https URLs (and http ones to this computer) and refuses the rest.
    """
    stripped = text.strip()
    return bool(_URL_SCHEME.match(stripped)) or stripped.lower().startswith("file:")


def open_source(
    text: str,
    *,
    max_bytes: int = MAX_BYTES,
    timeout: float = TIMEOUT,
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], float] = time.monotonic,
    proxy: str | None = None,
    env: Mapping[str, str] | None = None,
    whole_workbook: bool = False,
) -> Source:
    """The roster named by ``text``: a local file, or a download of an https URL.

    Google Sheets and Drive links are turned into their export (see ``google_export_url``).
    A download stops with an InputError past ``max_bytes`` or ``timeout`` seconds (all redirects
    included). ``transport`` replaces the network (tests); ``proxy`` (else HTTPS_PROXY/ALL_PROXY
    from ``env``, by default the process environment) is used for https hosts, never for loopback.
    """
    if not is_url(text):
        if _BARE_HOST.match(text) and not Path(text).exists():
            raise InputError(
                f"{text}: file not found; if it is a web address, write it with https:// in front."
            )
        return local_source(Path(text))
    given = text.strip()
    name = display_url(given)
    url = _check_start(given, name)
    google = _google_link(given, whole_workbook=whole_workbook)  # the gid may be in the #fragment
    fetch = google.export_url if google else url
    download = _Download(
        name=name,
        google=google is not None or _is_google_host(_host(url)),
        max_bytes=max_bytes,
        timeout=timeout,
        transport=transport,
        clock=clock,
        proxy=proxy,
        env=os.environ if env is None else env,
    )
    data, content_type, filename = download.run(fetch)
    suffix = _detect_suffix(name, data, content_type, filename, urllib.parse.urlsplit(fetch).path)
    stem = google.stem if google else _url_stem(url)
    return Source(name, suffix, data, None, stem, google.gid if google else None)


# -- Google links -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _GoogleLink:
    export_url: str
    stem: str
    gid: str | None


def google_export_url(url: str, *, whole_workbook: bool = False) -> str | None:
    """The URL that downloads a Google Sheets (or Drive file) link, or None for other links.

    An editor, viewer or published link becomes the CSV export of the tab its ``gid`` names (the
    first tab when it names none); ``whole_workbook`` asks for the XLSX export of every tab. A
    link that is already an export with a csv, tsv or xlsx format is kept as given.
    """
    link = _google_link(url, whole_workbook=whole_workbook)
    return link.export_url if link else None


def _google_link(url: str, *, whole_workbook: bool) -> _GoogleLink | None:
    parts = urllib.parse.urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    query = urllib.parse.parse_qs(parts.query)
    resource_key = _first(query, "resourcekey")
    if host == "drive.google.com":
        match = _DRIVE_FILE_PATH.match(parts.path)
        file_id = match["id"] if match else _first(query, "id")
        if parts.path not in ("/open", "/uc") and not match:
            return None
        if not file_id or not re.fullmatch(_GOOGLE_ID, file_id):
            return None
        params = {"export": "download", "id": file_id}
        if resource_key:
            params["resourcekey"] = resource_key
        export = "https://drive.google.com/uc?" + urllib.parse.urlencode(params)
        return _GoogleLink(export, _safe_stem(f"drive-{file_id[:8]}"), None)
    if host != "docs.google.com":
        return None
    match = _SHEET_PATH.match(parts.path)
    if not match:
        return None
    doc_id, rest = match["id"], match["rest"] or ""
    gid_match = _GID.search(parts.query) or _GID.search("#" + parts.fragment)
    gid = gid_match.group(1) if gid_match else None
    given = urllib.parse.urlunsplit(("https", "docs.google.com", parts.path, parts.query, ""))
    if match["published"]:
        stem = _safe_stem("sheet-" + re.sub(r"^2PACX-(?:1v)?", "", doc_id)[:8])
        base = f"https://docs.google.com/spreadsheets/d/e/{doc_id}/pub?"
        if rest.startswith("/pub") and _first(query, "output") in _EXPORT_FORMATS:
            return _GoogleLink(given, stem, gid)
        if whole_workbook:
            return _GoogleLink(base + "output=xlsx", stem, gid)
        tab = {"gid": gid, "single": "true"} if gid else {}
        return _GoogleLink(base + urllib.parse.urlencode({**tab, "output": "csv"}), stem, gid)
    stem = _safe_stem(f"sheet-{doc_id[:8]}")
    if rest.startswith("/gviz/") or (
        rest.startswith("/export") and _first(query, "format") in _EXPORT_FORMATS
    ):
        return _GoogleLink(given, stem, gid)
    params = {"format": "xlsx"} if whole_workbook else {"format": "csv"}
    if gid and not whole_workbook:
        params["gid"] = gid
    if resource_key:
        params["resourcekey"] = resource_key
    export = f"https://docs.google.com/spreadsheets/d/{doc_id}/export?"
    return _GoogleLink(export + urllib.parse.urlencode(params), stem, gid)


def _first(query: Mapping[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[0] if values else None


def _is_google_host(host: str) -> bool:
    return host == "google.com" or host.endswith(".google.com")


# -- addresses: what may be fetched, and how it is shown ---------------------------------------


def display_url(url: str) -> str:
    """The URL as given, minus ``user:password@`` and with secret-looking query values hidden."""
    parts = urllib.parse.urlsplit(url)

    def hide(match: re.Match[str]) -> str:
        key = match.group(2)
        plain = urllib.parse.unquote_plus(key)
        return match.group(0) if not _SECRET_PARAM.search(plain) else f"{match[1]}{key}=REDACTED"

    query = re.sub(r"(^|&)([^&=]+)=([^&]*)", hide, parts.query)
    if "@" not in parts.netloc and query == parts.query:
        return url  # exactly as the user wrote it
    netloc = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _host(url: str) -> str:
    return (urllib.parse.urlsplit(url).hostname or "").lower()


def _request_url(url: str) -> str:
    """``url`` without credentials or fragment: what is actually asked for."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme.lower(), netloc, parts.path, parts.query, ""))


def _check_start(url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InputError(
            f"{name}: {scheme or 'this kind of'} addresses can't be read: "
            "use an https:// link, or the path of a file on this computer."
        )
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise InputError(f"{name}: the port is not a number: check the address.") from None
    if not parts.hostname:
        raise InputError(f"{name}: the address has no host name: check the link.")
    if scheme == "http" and not is_loopback(parts.hostname.lower()):
        raise InputError(
            f"{name}: plain http would fetch the roster unencrypted: use its https:// address."
        )
    return _request_url(url)


# -- the download -----------------------------------------------------------------------------


class _Download:
    """One download with its limits: hops through redirects, then reads the answer's bytes."""

    def __init__(
        self,
        *,
        name: str,
        google: bool,
        max_bytes: int,
        timeout: float,
        transport: httpx.BaseTransport | None,
        clock: Callable[[], float],
        proxy: str | None,
        env: Mapping[str, str],
    ) -> None:
        self.name = name
        self.google = google
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.transport = transport
        self.clock = clock
        self.proxy = proxy
        self.env = env
        self.deadline = clock() + timeout

    def run(self, url: str) -> tuple[bytes, str, str | None]:
        """(bytes, content type, Content-Disposition file name) of the final answer."""
        from_loopback = is_loopback(_host(url))
        for hop in range(MAX_REDIRECTS + 1):
            with self._get(url) as response:
                if response.status_code in _REDIRECTS:
                    location = response.headers.get("location", "")
                    if hop == MAX_REDIRECTS:
                        raise InputError(
                            f"{self.name} redirected more than {MAX_REDIRECTS} times: open it in "
                            "a browser and use the address it ends at, or download the file."
                        )
                    url = self._next_hop(url, location, from_loopback)
                    continue
                if _is_google_host(_host(url)):
                    self.google = True
                self._check_status(response)
                return self._read(response)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _next_hop(self, url: str, location: str, from_loopback: bool) -> str:
        if not location:
            raise InputError(f"{self.name}: the server redirected without saying where to.")
        target = urllib.parse.urljoin(url, location.strip())
        parts = urllib.parse.urlsplit(target)
        scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
        allowed = scheme == "https" or (scheme == "http" and from_loopback and is_loopback(host))
        if not allowed or not host:
            shown = _trim(display_url(target))
            raise InputError(
                f"{self.name} redirected to {shown}, which is not https: "
                "ask for an https link, or download the file."
            )
        try:
            return _request_url(target)
        except ValueError:
            raise InputError(f"{self.name} redirected to an invalid address.") from None

    @contextlib.contextmanager
    def _get(self, url: str) -> Iterator[httpx.Response]:
        """One request, streamed; each hop gets a fresh client so no cookie crosses a redirect
        and the proxy is chosen per host."""
        remaining = self._remaining()
        limits = httpx.Timeout(
            connect=min(CONNECT_TIMEOUT, remaining),
            read=min(READ_TIMEOUT, remaining),
            write=min(CONNECT_TIMEOUT, remaining),
            pool=min(CONNECT_TIMEOUT, remaining),
        )
        chosen = None if self.transport else choose_proxy(url, env=self.env, proxy=self.proxy)
        proxy = None if chosen is None else httpx.Proxy(chosen.url, auth=chosen.auth)
        host = _host(url)
        try:
            with (
                httpx.Client(
                    transport=self.transport,
                    proxy=proxy,
                    trust_env=False,  # proxies come from choose_proxy; no .netrc credentials
                    follow_redirects=False,  # each hop is checked before it is made
                    timeout=limits,
                    headers={"User-Agent": _USER_AGENT, "Accept": _ACCEPT},
                ) as client,
                client.stream("GET", url) as response,
            ):
                yield response
        except httpx.TimeoutException as err:
            # A wait cut short by the overall deadline is the deadline's fault, not the host's.
            limit = READ_TIMEOUT if isinstance(err, httpx.ReadTimeout) else CONNECT_TIMEOUT
            if remaining <= limit or self.clock() >= self.deadline:
                raise self._too_slow() from None
            raise InputError(_timeout_message(self.name, host, err)) from None
        except httpx.ProxyError as err:
            shown = chosen.url if chosen else "proxy"
            raise InputError(
                f"{self.name}: the proxy {shown} refused the connection ({_trim(str(err))}): "
                "check HTTPS_PROXY / ALL_PROXY or the proxy setting."
            ) from None
        except httpx.ConnectError as err:
            raise InputError(
                f"{self.name}: can't connect to {host} ({_trim(str(err))}): "
                "check the address and this computer's connection."
            ) from None
        except httpx.HTTPError as err:
            raise InputError(
                f"{self.name}: the download from {host} broke off ({_trim(str(err))}): try again."
            ) from None

    def _remaining(self) -> float:
        remaining = self.deadline - self.clock()
        if remaining <= 0:
            raise self._too_slow()
        return remaining

    def _too_slow(self) -> InputError:
        return InputError(
            f"{self.name}: the download did not finish within {self.timeout:g} s: "
            "try again, or download the file and give its path."
        )

    def _check_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        said = f"HTTP {status}" + (f" {response.reason_phrase}" if response.reason_phrase else "")
        body = self._short_body(response)
        if status in (401, 403) and self.google:
            raise InputError(f"{self.name}: {NOT_SHARED} ({said}).")
        if status in (401, 403):
            advice = "the link needs a sign-in: use a public link, or download the file"
            raise InputError(f"{self.name}: access refused ({said}{body}): {advice}.")
        if status in (404, 410):
            raise InputError(f"{self.name}: not found ({said}{body}): check the link.")
        if status == 429 or status >= 500:
            raise InputError(
                f"{self.name}: the server could not answer ({said}{body}): "
                "try again later, or download the file."
            )
        raise InputError(f"{self.name}: the server answered {said}{body}: check the link.")

    def _short_body(self, response: httpx.Response) -> str:
        """': <text>' for a short plain-text error answer; nothing for pages or long texts."""
        kind = _content_type(response)
        if kind not in ("text/plain", "application/json", "application/problem+json"):
            return ""
        try:
            chunk = next(response.iter_bytes(), b"")[: _SHOWN_BODY * 4]
        except httpx.HTTPError:
            return ""
        text = " ".join(chunk.decode("utf-8", "replace").split())
        return f": {text}" if text and len(text) <= _SHOWN_BODY else ""

    def _read(self, response: httpx.Response) -> tuple[bytes, str, str | None]:
        content_type = _content_type(response)
        if content_type in ("text/html", "application/xhtml+xml"):
            raise self._web_page()
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise InputError(
                f"{self.name} is {_size(int(declared))}, more than the "
                f"{_size(self.max_bytes)} limit: download it and give the file's path."
            )
        chunks: list[bytes] = []
        total = 0
        for chunk in response.iter_bytes():
            total += len(chunk)
            if total > self.max_bytes:
                raise InputError(
                    f"{self.name} is larger than the {_size(self.max_bytes)} limit: "
                    "download it and give the file's path."
                )
            chunks.append(chunk)
            if self.clock() > self.deadline:
                raise self._too_slow()
        data = b"".join(chunks)
        if _HTML_START.match(data[:512]):
            raise self._web_page()
        return data, content_type, _disposition_filename(response)

    def _web_page(self) -> InputError:
        if self.google:
            return InputError(f"{self.name}: {NOT_SHARED}.")
        return InputError(
            f"{self.name}: the URL answered a web page, not a csv or xlsx file: "
            "use the link that downloads the file."
        )


def _timeout_message(name: str, host: str, err: httpx.TimeoutException) -> str:
    if isinstance(err, httpx.ConnectTimeout | httpx.PoolTimeout):
        return (
            f"{name}: no connection to {host} within {CONNECT_TIMEOUT:g} s: "
            "check the address and this computer's connection."
        )
    return (
        f"{name}: {host} stopped answering for {READ_TIMEOUT:g} s: "
        "try again later, or download the file and give its path."
    )


def _content_type(response: httpx.Response) -> str:
    value: str = response.headers.get("content-type", "")
    return value.partition(";")[0].strip().lower()


def _disposition_filename(response: httpx.Response) -> str | None:
    value = response.headers.get("content-disposition")
    if not value:
        return None
    message = email.message.Message()
    message["content-disposition"] = value
    filename = message.get_filename()
    return filename if isinstance(filename, str) else None


# -- what the bytes are -----------------------------------------------------------------------


def _detect_suffix(
    name: str, data: bytes, content_type: str, filename: str | None, url_path: str
) -> str:
    """The reader's suffix for the downloaded bytes. The bytes decide between a workbook and
    text; the server's file name, then its Content-Type, then the URL's suffix fill in the rest."""
    declared = [
        suffix
        for suffix in (
            Path(filename).suffix.lower() if filename else None,
            _CONTENT_TYPES.get(content_type),
            Path(urllib.parse.unquote(url_path)).suffix.lower(),
        )
        if suffix
    ]
    if data.startswith(_ZIP_MAGIC):
        if b"mimetypeapplication/vnd.oasis.opendocument" in data[:120]:
            return ".ods"
        return next((s for s in declared if s in (".xlsx", ".xlsm", ".xlsb", ".numbers")), ".xlsx")
    if data.startswith(_CFB_MAGIC):  # old .xls, or an xlsx saved with a password
        return next((s for s in declared if s in (".xls", ".xlsx", ".xlsm")), ".xls")
    if b"\x00" in data[:4096] or (content_type and _NOT_A_TABLE.search(content_type)):
        shown = content_type or "a file that is not text"
        raise InputError(
            f"{name} answered {shown}, not a csv or xlsx file: "
            "use the link that downloads the roster itself."
        )
    if declared and declared[0] not in _TEXT_SUFFIXES and declared[0] in _WORKBOOKS:
        raise InputError(
            f"{name} should be a {declared[0]} file but is not one: "
            "check that the link downloads the file itself."
        )
    return ".csv"


# -- names for outputs ------------------------------------------------------------------------


def _url_stem(url: str) -> str:
    segment = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rstrip("/").rpartition("/")[2])
    return _safe_stem(Path(segment).stem if Path(segment).suffix else segment)


def _safe_stem(text: str) -> str:
    """A file name stem: [A-Za-z0-9._-] only, never empty, never hidden (a leading dot)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_").lstrip(".")[:100]
    return cleaned or "roster"


def _size(count: int) -> str:
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if count >= scale:
            return f"{count / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{count} bytes"


def _trim(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _SHOWN_BODY else flat[: _SHOWN_BODY - 3] + "..."
