"""Tests for bulk_ident.read.sources: local paths, URL downloads on loopback, Google links."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from http_fixtures import (
    LocalServer,
    RecordingProxy,
    body,
    dripping,
    free_port,
    large,
    redirect,
)
from openpyxl import Workbook

from bulk_ident.errors import InputError
from bulk_ident.net import choose_proxy
from bulk_ident.read.sources import (
    NOT_SHARED,
    Source,
    display_url,
    google_export_url,
    is_url,
    open_source,
)

CSV = b"Account UUID,Unit Number\r\n3fa85f64-5717-4562-b3fc-2c963f66afa6,007\r\n"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOC = "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde"
SHEET = f"https://docs.google.com/spreadsheets/d/{DOC}"
PUB = "2PACX-1vRzYxWvUtSrQpOnMlKjIhGfEdCbA0987654321"
PUBLISHED = f"https://docs.google.com/spreadsheets/d/e/{PUB}"
MB = 1024 * 1024
LONG_BODY = "The server exploded while exporting your file; " * 10

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def xlsx_bytes(tmp_path: Path) -> bytes:
    """A small roster workbook built with openpyxl, as bytes."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["Account UUID", "Unit Number"])
    ws.append(["3fa85f64-5717-4562-b3fc-2c963f66afa6", "007"])
    path = tmp_path / "roster.xlsx"
    wb.save(path)
    return path.read_bytes()


@pytest.fixture
def server(xlsx_bytes: bytes) -> Iterator[LocalServer]:
    """A loopback server with every answer the download tests need."""
    routes = {
        "/roster.csv": body(CSV, "text/csv; charset=utf-8"),
        "/roster.xlsx": body(xlsx_bytes, XLSX_TYPE),
        "/download": body(
            xlsx_bytes,
            "application/octet-stream",
            Content_Disposition='attachment; filename="Spring Roster.xlsx"',
        ),
        "/list.txt": body(CSV, "text/plain"),
        "/files/Roster (May) 2025.csv": body(CSV, "text/csv"),
        "/.hidden.csv": body(CSV, "text/csv"),
        "/": body(CSV, "text/csv"),
        "/signin": body(b"<!DOCTYPE html><html><body>Sign in</body></html>", "text/html"),
        "/untyped-page": body(b"\n  <html lang='en'><body>hi</body></html>", None),
        "/big": large(60 * MB, declare_length=True),
        "/big-stream": large(60 * MB, declare_length=False),
        "/exact": body(b"a" * 1000, "text/csv"),
        "/slow": dripping(200, 0.2),
        "/chain/3": redirect("/chain/2"),
        "/chain/2": redirect("/chain/1", status=301),
        "/chain/1": redirect("/roster.csv", status=307),
        "/to-public": redirect("http://192.0.2.10/roster.csv"),
        "/to-ftp": redirect("ftp://127.0.0.1/roster.csv"),
        "/no-location": body(b"", None, status=302),
        "/cookie-start": redirect("/cookie-next", Set_Cookie="session=s3cret; Path=/"),
        "/cookie-next": body(CSV, "text/csv"),
        "/missing": body(b"no such file", "text/plain", status=404),
        "/forbidden": body(b"<html>Forbidden</html>", "text/html", status=403),
        "/login-needed": body(b"", None, status=401),
        "/broken": body(LONG_BODY.encode(), "text/plain", status=500),
        "/teapot": body(b"", None, status=418),
        "/data.json": body(b'{"rows": []}', "application/json"),
        "/binary.bin": body(b"\x00\x01\x02garbage", "application/octet-stream"),
        "/fake.xlsx": body(b"Account UUID,Unit\r\n", "application/octet-stream"),
    }
    for hops in range(1, 8):
        routes[f"/loop/{hops}"] = redirect(f"/loop/{hops - 1}" if hops > 1 else "/roster.csv")
    with LocalServer(routes) as running:
        yield running


def fetch(url: str, **kwargs: object) -> Source:
    """open_source with an empty proxy environment unless the test gives one."""
    kwargs.setdefault("env", {})
    return open_source(url, **kwargs)  # type: ignore[arg-type]


def refused(url: str, **kwargs: object) -> str:
    """The one-line InputError message open_source raises for ``url``."""
    with pytest.raises(InputError) as caught:
        fetch(url, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    return message


class Recording(httpx.BaseTransport):
    """A transport that records every URL it is asked for, then sends it on the real network."""

    def __init__(self, inner: httpx.BaseTransport | None = None) -> None:
        self.inner = inner or httpx.HTTPTransport()
        self.urls: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        return self.inner.handle_request(request)


# -- Google links: a pure table ---------------------------------------------------------------

GOOGLE_LINKS = [
    (f"{SHEET}/edit#gid=123", f"{SHEET}/export?format=csv&gid=123"),
    (f"{SHEET}/edit?usp=sharing", f"{SHEET}/export?format=csv"),
    (f"{SHEET}/edit?usp=sharing#gid=0", f"{SHEET}/export?format=csv&gid=0"),
    (f"{SHEET}/edit?gid=456#gid=456", f"{SHEET}/export?format=csv&gid=456"),
    (f"{SHEET}/edit?gid=456#gid=9", f"{SHEET}/export?format=csv&gid=456"),
    (f"{SHEET}/edit#gid=77&range=A1:C9", f"{SHEET}/export?format=csv&gid=77"),
    (f"{SHEET}/view", f"{SHEET}/export?format=csv"),
    (f"{SHEET}/view?gid=5", f"{SHEET}/export?format=csv&gid=5"),
    (f"{SHEET}/htmlview", f"{SHEET}/export?format=csv"),
    (f"{SHEET}/htmlview#gid=8", f"{SHEET}/export?format=csv&gid=8"),
    (f"{SHEET}/preview", f"{SHEET}/export?format=csv"),
    (SHEET, f"{SHEET}/export?format=csv"),
    (f"{SHEET}/", f"{SHEET}/export?format=csv"),
    (
        f"https://docs.google.com/spreadsheets/u/0/d/{DOC}/edit#gid=3",
        f"{SHEET}/export?format=csv&gid=3",
    ),
    (
        f"https://docs.google.com/spreadsheets/u/1/d/{DOC}/htmlview",
        f"{SHEET}/export?format=csv",
    ),
    (
        f"https://docs.google.com/a/example.org/spreadsheets/d/{DOC}/edit#gid=4",
        f"{SHEET}/export?format=csv&gid=4",
    ),
    (
        f"{SHEET}/edit?usp=sharing&resourcekey=0-AbC#gid=2",
        f"{SHEET}/export?format=csv&gid=2&resourcekey=0-AbC",
    ),
    (f"http://docs.google.com/spreadsheets/d/{DOC}/edit", f"{SHEET}/export?format=csv"),
    (f"{SHEET}/export?format=csv&gid=12", f"{SHEET}/export?format=csv&gid=12"),
    (f"{SHEET}/export?format=xlsx&gid=12", f"{SHEET}/export?format=xlsx&gid=12"),
    (f"{SHEET}/export?gid=12&format=tsv", f"{SHEET}/export?gid=12&format=tsv"),
    (f"{SHEET}/export?format=pdf&gid=12", f"{SHEET}/export?format=csv&gid=12"),
    (f"{SHEET}/export", f"{SHEET}/export?format=csv"),
    (
        f"{SHEET}/gviz/tq?tqx=out:csv&sheet=Roster",
        f"{SHEET}/gviz/tq?tqx=out:csv&sheet=Roster",
    ),
    (
        f"{PUBLISHED}/pub?gid=9&single=true&output=csv",
        f"{PUBLISHED}/pub?gid=9&single=true&output=csv",
    ),
    (f"{PUBLISHED}/pub?output=xlsx", f"{PUBLISHED}/pub?output=xlsx"),
    (f"{PUBLISHED}/pubhtml", f"{PUBLISHED}/pub?output=csv"),
    (
        f"{PUBLISHED}/pubhtml?gid=9&single=true",
        f"{PUBLISHED}/pub?gid=9&single=true&output=csv",
    ),
    (f"{PUBLISHED}/pub?gid=9&single=true", f"{PUBLISHED}/pub?gid=9&single=true&output=csv"),
    (
        "https://drive.google.com/file/d/1ZyXwVuTsRqPoNmLk/view?usp=sharing",
        "https://drive.google.com/uc?export=download&id=1ZyXwVuTsRqPoNmLk",
    ),
    (
        "https://drive.google.com/open?id=1ZyXwVuTsRqPoNmLk",
        "https://drive.google.com/uc?export=download&id=1ZyXwVuTsRqPoNmLk",
    ),
    (
        "https://drive.google.com/uc?id=1ZyXwVuTsRqPoNmLk&export=download",
        "https://drive.google.com/uc?export=download&id=1ZyXwVuTsRqPoNmLk",
    ),
]


@pytest.mark.parametrize(("link", "export"), GOOGLE_LINKS)
def test_google_links_become_the_csv_export_of_their_tab(link: str, export: str) -> None:
    """Every Google Sheets link form maps to the CSV export of the tab its gid names."""
    assert google_export_url(link) == export


@pytest.mark.parametrize(
    ("link", "export"),
    [
        (f"{SHEET}/edit#gid=123", f"{SHEET}/export?format=xlsx"),
        (f"{SHEET}/edit?usp=sharing", f"{SHEET}/export?format=xlsx"),
        (f"{SHEET}/edit?resourcekey=0-AbC", f"{SHEET}/export?format=xlsx&resourcekey=0-AbC"),
        (f"{PUBLISHED}/pubhtml?gid=9&single=true", f"{PUBLISHED}/pub?output=xlsx"),
        (f"{SHEET}/export?format=csv&gid=12", f"{SHEET}/export?format=csv&gid=12"),
    ],
)
def test_whole_workbook_asks_for_the_xlsx_export(link: str, export: str) -> None:
    """With whole_workbook every tab is asked for as XLSX, except where the link names a format."""
    assert google_export_url(link, whole_workbook=True) == export


@pytest.mark.parametrize(
    "link",
    [
        "https://example.com/roster.csv",
        f"https://docs.google.com/document/d/{DOC}/edit",
        "https://docs.google.com/spreadsheets/",
        "https://drive.google.com/drive/folders/1ZyXwVuTsRqPoNmLk",
        f"https://docs.google.com.evil.example/spreadsheets/d/{DOC}/edit",
        f"https://sheets.example.com/spreadsheets/d/{DOC}/edit",
    ],
)
def test_other_links_are_not_rewritten(link: str) -> None:
    """Links that are not Google Sheets or Drive files are fetched as given."""
    assert google_export_url(link) is None


# -- names and addresses ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://example.com/r.csv", True),
        ("http://127.0.0.1:8000/r.csv", True),
        ("  HTTPS://EXAMPLE.COM/r.csv ", True),
        ("ftp://example.com/r.csv", True),
        ("file:///tmp/r.csv", True),
        ("file:r.csv", True),
        ("roster.xlsx", False),
        ("/home/me/https-roster.csv", False),
        (r"C:\rosters\r.csv", False),
        ("C://rosters/r.csv", False),
        ("docs.google.com/spreadsheets/d/x", False),
    ],
)
def test_is_url_tells_addresses_from_paths(text: str, expected: bool) -> None:
    """A scheme:// prefix (two letters or more) or file: makes an address; anything else a path."""
    assert is_url(text) is expected


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://example.com/a b/r.csv?x=1#frag", "https://example.com/a b/r.csv?x=1#frag"),
        ("https://me:pa55@example.com/r.csv", "https://example.com/r.csv"),
        ("https://me@example.com/r.csv", "https://example.com/r.csv"),
        (
            "https://s3.example.com/r.csv?X-Amz-Signature=abc&X-Amz-Credential=k&v=2",
            "https://s3.example.com/r.csv?X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED&v=2",
        ),
        (
            "https://example.com/r.csv?token=abc&gid=1",
            "https://example.com/r.csv?token=REDACTED&gid=1",
        ),
        ("https://example.com/r.csv?api_key=abc", "https://example.com/r.csv?api_key=REDACTED"),
    ],
)
def test_display_url_hides_credentials_and_secret_parameters(url: str, shown: str) -> None:
    """Messages show the URL as given, without user:password or secret-looking query values."""
    assert display_url(url) == shown


@pytest.mark.parametrize(
    ("url", "env", "proxy", "expected"),
    [
        (
            "http://127.0.0.1:9/r.csv",
            {"HTTP_PROXY": "http://p:1", "ALL_PROXY": "http://p:1"},
            None,
            None,
        ),
        ("https://127.0.0.1:9/r.csv", {"HTTPS_PROXY": "http://p:1"}, "http://q:2", None),
        ("https://localhost/r.csv", {"ALL_PROXY": "http://p:1"}, None, None),
        ("https://[::1]/r.csv", {"HTTPS_PROXY": "http://p:1"}, None, None),
        ("https://example.com/r.csv", {}, None, None),
        ("https://example.com/r.csv", {"HTTP_PROXY": "http://p:1"}, None, None),
        ("https://example.com/r.csv", {"HTTPS_PROXY": "http://p:1"}, None, "http://p:1"),
        ("https://example.com/r.csv", {"ALL_PROXY": "http://p:1"}, None, "http://p:1"),
        (
            "https://example.com/r.csv",
            {"https_proxy": "http://low:1", "HTTPS_PROXY": "http://up:1"},
            None,
            "http://low:1",
        ),
        (
            "https://example.com/r.csv",
            {"HTTPS_PROXY": "http://p:1", "ALL_PROXY": "http://a:1"},
            None,
            "http://p:1",
        ),
        ("https://example.com/r.csv", {"HTTPS_PROXY": "p.corp:3128"}, None, "http://p.corp:3128"),
        ("https://example.com/r.csv", {}, "http://given:8", "http://given:8"),
        (
            "https://example.com/r.csv",
            {"HTTPS_PROXY": "http://p:1"},
            "http://given:8",
            "http://given:8",
        ),
        (
            "https://a.example.com/r.csv",
            {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "example.com"},
            None,
            None,
        ),
        (
            "https://example.com/r.csv",
            {"HTTPS_PROXY": "http://p:1", "no_proxy": ".example.com:443"},
            None,
            None,
        ),
        ("https://example.com/r.csv", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*"}, None, None),
        (
            "https://notexample.com/r.csv",
            {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "example.com"},
            None,
            "http://p:1",
        ),
    ],
)
def test_choose_proxy(
    url: str, env: dict[str, str], proxy: str | None, expected: str | None
) -> None:
    """Loopback never goes through a proxy; https honours the argument, then HTTPS/ALL_PROXY."""
    chosen = choose_proxy(url, env=env, proxy=proxy)
    assert (chosen.url if chosen is not None else None) == expected


def test_socks_proxies_are_refused_with_advice() -> None:
    """A SOCKS proxy can't be used without an extra package, so it is refused in one line."""
    with pytest.raises(InputError, match="SOCKS proxies are not supported"):
        choose_proxy("https://example.com/r.csv", env={"ALL_PROXY": "socks5://u:pw@p:1080"})


# -- local paths and refused addresses --------------------------------------------------------


def test_a_path_reads_the_local_file(tmp_path: Path) -> None:
    """Text that is not a URL is a local path, read by local_source."""
    path = tmp_path / "roster.csv"
    path.write_bytes(CSV)
    assert open_source(str(path)) == Source(str(path), ".csv", CSV, path, "roster")


def test_a_web_address_without_https_gets_a_hint() -> None:
    """A Google link pasted without https:// is not taken for a missing file silently."""
    with pytest.raises(InputError, match=r"write it with https:// in front"):
        open_source(f"docs.google.com/spreadsheets/d/{DOC}/edit")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "http://example.com/roster.csv",
            "http://example.com/roster.csv: plain http would fetch the roster unencrypted: "
            "use its https:// address.",
        ),
        (
            "ftp://127.0.0.1/roster.csv",
            "ftp://127.0.0.1/roster.csv: ftp addresses can't be read: use an https:// link, "
            "or the path of a file on this computer.",
        ),
        (
            "file:///tmp/roster.csv",
            "file:///tmp/roster.csv: file addresses can't be read: use an https:// link, "
            "or the path of a file on this computer.",
        ),
        (
            "https:///roster.csv",
            "https:///roster.csv: the address has no host name: check the link.",
        ),
        (
            "https://example.com:port/r.csv",
            "https://example.com:port/r.csv: the port is not a number: check the address.",
        ),
    ],
)
def test_only_https_or_loopback_http_is_fetched(url: str, expected: str) -> None:
    """Plain http to a public host, ftp and file: are refused before any connection."""
    transport = Recording(httpx.MockTransport(lambda request: httpx.Response(200)))
    assert refused(url, transport=transport) == expected
    assert transport.urls == []


# -- downloads from a loopback server ---------------------------------------------------------


def test_csv_download(server: LocalServer) -> None:
    """A csv URL gives its bytes, named by the URL, with no local path."""
    url = server.url("/roster.csv")
    assert fetch(url) == Source(url, ".csv", CSV, None, "roster", None)


def test_xlsx_download_is_byte_exact(server: LocalServer, xlsx_bytes: bytes) -> None:
    """An xlsx URL gives the workbook's exact bytes, read as .xlsx."""
    source = fetch(server.url("/roster.xlsx"))
    assert (source.suffix, source.data, source.stem) == (".xlsx", xlsx_bytes, "roster")


def test_an_untyped_download_is_known_by_its_bytes(server: LocalServer) -> None:
    """A zip answered as octet-stream from a path without suffix is an xlsx."""
    source = fetch(server.url("/download?id=3"))
    assert (source.suffix, source.stem) == (".xlsx", "download")


def test_text_plain_is_read_as_csv(server: LocalServer) -> None:
    """A text/plain answer is a text roster (the reader detects its delimiter)."""
    assert fetch(server.url("/list.txt")).suffix == ".csv"


@pytest.mark.parametrize(
    ("path", "stem"),
    [
        ("/files/Roster%20(May)%202025.csv", "Roster_May_2025"),
        ("/.hidden.csv", "hidden"),
        ("/", "roster"),
    ],
)
def test_stems_are_safe_file_names(server: LocalServer, path: str, stem: str) -> None:
    """The stem is the last path segment without its suffix, in [A-Za-z0-9._-], never hidden."""
    assert fetch(server.url(path)).stem == stem


def test_a_web_page_is_refused(server: LocalServer) -> None:
    """An HTML answer from a site other than Google says it is a web page."""
    url = server.url("/signin")
    assert refused(url) == (
        f"{url}: the URL answered a web page, not a csv or xlsx file: "
        "use the link that downloads the file."
    )


def test_a_web_page_without_content_type_is_recognised(server: LocalServer) -> None:
    """HTML is recognised by its first bytes when the server does not say what it sends."""
    assert "answered a web page" in refused(server.url("/untyped-page"))


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/data.json", "answered application/json, not a csv or xlsx file"),
        ("/binary.bin", "answered application/octet-stream, not a csv or xlsx file"),
        ("/fake.xlsx", "should be a .xlsx file but is not one"),
    ],
)
def test_answers_that_are_not_rosters_are_refused(
    server: LocalServer, path: str, expected: str
) -> None:
    """JSON, binary junk, and text posing as an xlsx are refused in one line."""
    assert expected in refused(server.url(path))


def test_a_declared_size_over_the_limit_is_refused_before_reading(server: LocalServer) -> None:
    """A Content-Length of 60 MB is refused at once against the 50 MB default."""
    url = server.url("/big")
    assert refused(url) == (
        f"{url} is 60 MB, more than the 50 MB limit: download it and give the file's path."
    )


def test_an_undeclared_size_is_counted_while_streaming(server: LocalServer) -> None:
    """60 MB sent without a Content-Length is stopped once 50 MB have arrived."""
    url = server.url("/big-stream")
    assert refused(url) == (
        f"{url} is larger than the 50 MB limit: download it and give the file's path."
    )


def test_the_size_limit_is_inclusive(server: LocalServer) -> None:
    """A body of exactly max_bytes is accepted; one byte less of limit refuses it."""
    url = server.url("/exact")
    assert len(fetch(url, max_bytes=1000).data) == 1000
    assert "more than the 999 bytes limit" in refused(url, max_bytes=999)


def test_a_dripping_server_cannot_outlast_the_deadline(server: LocalServer) -> None:
    """One byte every 0.2 s keeps each read alive, but the overall deadline still stops it."""
    url = server.url("/slow")
    assert refused(url, timeout=1.0) == (
        f"{url}: the download did not finish within 1 s: "
        "try again, or download the file and give its path."
    )


def test_redirects_are_followed_under_the_original_name(server: LocalServer) -> None:
    """A chain of 301/302/307 redirects on loopback ends at the file; the name stays as given."""
    url = server.url("/chain/3")
    source = fetch(url)
    assert (source.name, source.data, source.stem) == (url, CSV, "3")
    assert server.paths() == ["/chain/3", "/chain/2", "/chain/1", "/roster.csv"]


def test_five_redirects_are_followed(server: LocalServer) -> None:
    """Five redirects in a row are followed."""
    assert fetch(server.url("/loop/5")).data == CSV


def test_a_sixth_redirect_is_refused(server: LocalServer) -> None:
    """More than five redirects stop with advice, and the sixth is never followed."""
    url = server.url("/loop/6")
    assert refused(url) == (
        f"{url} redirected more than 5 times: open it in a browser and use the address it "
        "ends at, or download the file."
    )
    assert server.paths() == [f"/loop/{n}" for n in range(6, 0, -1)]


def test_a_redirect_to_public_http_is_refused_without_connecting(server: LocalServer) -> None:
    """A loopback answer redirecting to plain http on another host is refused before connecting."""
    transport = Recording()
    url = server.url("/to-public")
    assert refused(url, transport=transport) == (
        f"{url} redirected to http://192.0.2.10/roster.csv, which is not https: "
        "ask for an https link, or download the file."
    )
    assert transport.urls == [url]


def test_a_redirect_to_ftp_is_refused(server: LocalServer) -> None:
    """Only https (or loopback http from loopback) is followed."""
    assert "redirected to ftp://127.0.0.1/roster.csv, which is not https" in refused(
        server.url("/to-ftp")
    )


def test_a_redirect_from_https_to_loopback_http_is_refused() -> None:
    """A public https answer may not send the download to plain http, even on loopback."""
    port = free_port()

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": f"http://127.0.0.1:{port}/r.csv"})

    transport = Recording(httpx.MockTransport(handle))
    message = refused("https://files.example.test/r.csv", transport=transport)
    assert f"redirected to http://127.0.0.1:{port}/r.csv, which is not https" in message
    assert transport.urls == ["https://files.example.test/r.csv"]


def test_a_redirect_may_move_from_loopback_to_https() -> None:
    """https is always a permitted redirect target."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host == "127.0.0.1":
            return httpx.Response(302, headers={"Location": "https://files.example.test/r.csv"})
        return httpx.Response(200, content=CSV, headers={"Content-Type": "text/csv"})

    assert fetch("http://127.0.0.1:9/start", transport=httpx.MockTransport(handle)).data == CSV


def test_a_redirect_without_location_is_an_error(server: LocalServer) -> None:
    """A 302 without a Location is reported as such."""
    url = server.url("/no-location")
    assert refused(url) == f"{url}: the server redirected without saying where to."


def test_no_cookies_or_credentials_are_sent(server: LocalServer) -> None:
    """user:password in a URL is never sent, nor a cookie set by one hop to the next."""
    url = server.url("/cookie-start").replace("http://", "http://alice:s3cret@")
    source = fetch(url)
    assert source.name == server.url("/cookie-start")
    assert server.paths() == ["/cookie-start", "/cookie-next"]
    for seen in server.seen:
        assert "authorization" not in seen.headers
        assert "cookie" not in seen.headers


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/missing", "not found (HTTP 404 Not Found: no such file): check the link."),
        (
            "/forbidden",
            "access refused (HTTP 403 Forbidden): the link needs a sign-in: "
            "use a public link, or download the file.",
        ),
        (
            "/login-needed",
            "access refused (HTTP 401 Unauthorized): the link needs a sign-in: "
            "use a public link, or download the file.",
        ),
        (
            "/broken",
            "the server could not answer (HTTP 500 Internal Server Error): "
            "try again later, or download the file.",
        ),
        ("/teapot", "the server answered HTTP 418 I'm a Teapot: check the link."),
    ],
)
def test_error_statuses_are_one_line_each(server: LocalServer, path: str, expected: str) -> None:
    """401/403/404/5xx name the status; a server text is quoted only when short."""
    url = server.url(path)
    assert refused(url) == f"{url}: {expected}"


def test_a_closed_port_says_it_cannot_connect() -> None:
    """Nothing listening on the port is reported as a connection failure."""
    url = f"http://127.0.0.1:{free_port()}/roster.csv"
    assert refused(url).startswith(f"{url}: can't connect to 127.0.0.1 (")


def test_proxy_variables_are_ignored_for_loopback(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every proxy variable set in the process, a loopback download goes direct."""
    # The process environment itself, not the env seam: this checks httpx does not read it.
    with RecordingProxy() as proxy:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
            monkeypatch.setenv(name, proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        source = open_source(server.url("/roster.csv"), proxy=proxy.url)
        assert source.data == CSV
        assert proxy.seen == []


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy", "ALL_PROXY"])
def test_https_goes_through_the_environment_proxy(variable: str) -> None:
    """For https, HTTPS_PROXY or ALL_PROXY carries the connection (here refused by the proxy)."""
    with RecordingProxy() as proxy:
        url = "https://roster.example.invalid/roster.csv"
        message = refused(url, env={variable: proxy.url})
    assert message.startswith(f"{url}: the proxy {proxy.url} refused the connection (")
    assert len(proxy.seen) == 1
    assert proxy.seen[0].startswith("CONNECT roster.example.invalid:443 HTTP/1.1\r\n")


def test_https_goes_through_the_proxy_argument() -> None:
    """The proxy argument is used for https even when no variable is set."""
    with RecordingProxy() as proxy:
        refused("https://roster.example.invalid/r.csv", proxy=proxy.url)
    assert [head.split("\r\n")[0] for head in proxy.seen] == [
        "CONNECT roster.example.invalid:443 HTTP/1.1"
    ]


# -- time limits with a fake clock ------------------------------------------------------------


class FakeClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Drip(httpx.SyncByteStream):
    """A response body of one byte per chunk, each costing a second of the fake clock."""

    def __init__(self, clock: FakeClock, size: int) -> None:
        self.clock = clock
        self.size = size
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for _ in range(self.size):
            self.clock.now += 1.0
            self.sent += 1
            yield b"x"


def test_the_deadline_counts_the_whole_download() -> None:
    """A body trickling one byte a second is cut off once the 60 s deadline has passed."""
    clock = FakeClock()
    drip = Drip(clock, 1000)

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Type": "text/csv"}, stream=drip)

    message = refused(
        "https://files.example.test/r.csv", transport=httpx.MockTransport(handle), clock=clock
    )
    assert "did not finish within 60 s" in message
    assert drip.sent == 61


def test_the_deadline_counts_redirect_hops() -> None:
    """Time spent on earlier hops leaves less for later ones; an exhausted deadline stops there."""
    clock = FakeClock()
    asked: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        clock.now += 25.0
        return httpx.Response(302, headers={"Location": f"{request.url.path}x"})

    message = refused(
        "https://files.example.test/r", transport=httpx.MockTransport(handle), clock=clock
    )
    assert "did not finish within 60 s" in message
    assert asked == ["/r", "/rx", "/rxx"]


@pytest.mark.parametrize(
    ("error", "timeout", "expected"),
    [
        (httpx.ReadTimeout, 60.0, "files.example.test stopped answering for 30 s: try again later"),
        (httpx.ConnectTimeout, 60.0, "no connection to files.example.test within 10 s"),
        (httpx.ReadTimeout, 20.0, "the download did not finish within 20 s"),
        (httpx.ConnectTimeout, 5.0, "the download did not finish within 5 s"),
        (httpx.RemoteProtocolError, 60.0, "the download from files.example.test broke off (boom)"),
    ],
)
def test_transport_failures_are_one_line(
    error: type[httpx.TransportError], timeout: float, expected: str
) -> None:
    """A timeout cut short by the overall deadline is reported as the deadline; others by kind."""

    def handle(request: httpx.Request) -> httpx.Response:
        raise error("boom", request=request)

    message = refused(
        "https://files.example.test/r.csv",
        transport=httpx.MockTransport(handle),
        timeout=timeout,
        clock=FakeClock(),
    )
    assert expected in message


# -- workbook kinds the reader refuses are passed on under their own suffix -------------------


def ods_bytes() -> bytes:
    """A minimal OpenDocument zip: its first entry is the uncompressed mimetype."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet"
        )
        archive.writestr("content.xml", "<x/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "content_type", "path", "suffix"),
    [
        (ods_bytes(), "application/octet-stream", "/r", ".ods"),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100,
            "application/vnd.ms-excel",
            "/r",
            ".xls",
        ),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, None, "/locked.xlsx", ".xlsx"),
        (b"PK\x03\x04rest", "application/vnd.ms-excel.sheet.macroEnabled.12", "/r", ".xlsm"),
        (b"PK\x03\x04rest", "application/zip", "/book.xlsb", ".xlsb"),
        (b"a;b\n1;2\n", "text/csv", "/r.xlsx", ".csv"),
        (b"", "text/csv", "/r", ".csv"),
    ],
)
def test_the_bytes_decide_the_kind(
    data: bytes, content_type: str | None, path: str, suffix: str
) -> None:
    """Zip and OLE bytes are workbooks (named by the server where it says which); text is csv."""
    headers = {"Content-Type": content_type} if content_type else {}
    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, content=data, headers=headers)
    )
    assert fetch(f"https://files.example.test{path}", transport=transport).suffix == suffix


# -- Google Sheets through a mock of Google ---------------------------------------------------


def google(xlsx: bytes, *, shared: bool = True) -> tuple[list[str], httpx.MockTransport]:
    """A stand-in for Google: export links answer after a hop to googleusercontent, unless the
    sheet is not shared, when they bounce to a sign-in page."""
    asked: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        asked.append(url)
        assert "cookie" not in request.headers
        host = request.url.host
        if host == "docs.google.com":
            if not shared:
                return httpx.Response(
                    302,
                    headers={"Location": "https://accounts.google.com/ServiceLogin?continue=x"},
                )
            target = "https://doc-0s-8c-sheets.googleusercontent.com/export/abc?" + (
                request.url.query.decode()
            )
            return httpx.Response(307, headers={"Location": target, "Set-Cookie": "NID=1"})
        if host == "accounts.google.com":
            return httpx.Response(
                200,
                text="<!doctype html><title>Sign in</title>",
                headers={"Content-Type": "text/html"},
            )
        if "format=xlsx" in url or "output=xlsx" in url:
            return httpx.Response(200, content=xlsx, headers={"Content-Type": XLSX_TYPE})
        return httpx.Response(
            200,
            content=CSV,
            headers={
                "Content-Type": "text/csv",
                "Content-Disposition": 'attachment; filename="Roster - Tab.csv"',
            },
        )

    return asked, httpx.MockTransport(handle)


def test_a_shared_sheet_downloads_its_tab_as_csv(xlsx_bytes: bytes) -> None:
    """An editor link downloads the CSV export of its gid, named by the link as given."""
    asked, transport = google(xlsx_bytes)
    link = f"{SHEET}/edit?usp=sharing#gid=123"
    source = fetch(link, transport=transport)
    assert source == Source(link, ".csv", CSV, None, "sheet-1AbCdEfG", "123")
    assert asked == [
        f"{SHEET}/export?format=csv&gid=123",
        "https://doc-0s-8c-sheets.googleusercontent.com/export/abc?format=csv&gid=123",
    ]


def test_whole_workbook_downloads_the_xlsx(xlsx_bytes: bytes) -> None:
    """With whole_workbook the XLSX export arrives as an .xlsx, and the gid is still noted."""
    asked, transport = google(xlsx_bytes)
    source = fetch(f"{SHEET}/edit#gid=5", transport=transport, whole_workbook=True)
    assert (source.suffix, source.data, source.gid) == (".xlsx", xlsx_bytes, "5")
    assert asked[0] == f"{SHEET}/export?format=xlsx"


def test_a_published_sheet_uses_the_published_export(xlsx_bytes: bytes) -> None:
    """A published (2PACX) link downloads through /pub, and its stem skips the shared prefix."""
    asked, transport = google(xlsx_bytes)
    source = fetch(f"{PUBLISHED}/pubhtml?gid=9&single=true", transport=transport)
    assert (source.suffix, source.stem, source.gid) == (".csv", "sheet-RzYxWvUt", "9")
    assert asked[0] == f"{PUBLISHED}/pub?gid=9&single=true&output=csv"


def test_an_unshared_sheet_says_how_to_share_it(xlsx_bytes: bytes) -> None:
    """The sign-in page Google answers for a private sheet becomes the sharing advice."""
    asked, transport = google(xlsx_bytes, shared=False)
    link = f"{SHEET}/edit#gid=0"
    assert refused(link, transport=transport) == f"{link}: {NOT_SHARED}."
    assert NOT_SHARED == (
        "the sheet is not shared publicly: share it as 'Anyone with the link can view' "
        "or download it"
    )
    assert [httpx.URL(u).host for u in asked] == ["docs.google.com", "accounts.google.com"]


def test_a_google_refusal_status_says_how_to_share_it() -> None:
    """A 401/403 from Google means the sheet is not shared; the status is named too."""
    transport = httpx.MockTransport(lambda request: httpx.Response(403))
    link = f"{SHEET}/edit"
    assert refused(link, transport=transport) == f"{link}: {NOT_SHARED} (HTTP 403 Forbidden)."


def test_a_google_link_with_a_user_name_is_shown_without_it(xlsx_bytes: bytes) -> None:
    """Credentials pasted into a link are dropped from the name and never sent."""
    asked, transport = google(xlsx_bytes)
    source = fetch(f"https://me:pw@docs.google.com/spreadsheets/d/{DOC}/edit", transport=transport)
    assert source.name == f"{SHEET}/edit"
    assert asked[0] == f"{SHEET}/export?format=csv"


def test_a_drive_file_downloads_through_its_download_link(xlsx_bytes: bytes) -> None:
    """A Drive file link downloads the file itself; its stem is drive- and the ID's start."""
    asked: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        return httpx.Response(200, content=xlsx_bytes, headers={"Content-Type": XLSX_TYPE})

    link = "https://drive.google.com/file/d/1ZyXwVuTsRqPoNmLk/view?usp=sharing"
    source = fetch(link, transport=httpx.MockTransport(handle))
    assert (source.name, source.suffix, source.stem) == (link, ".xlsx", "drive-1ZyXwVuT")
    assert asked == ["https://drive.google.com/uc?export=download&id=1ZyXwVuTsRqPoNmLk"]
