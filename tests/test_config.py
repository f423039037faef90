"""The sync file: every mistake is one line naming the file, line and key; a good file gives the
same option objects the command line builds for the same settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulk_ident.cli.options import import_options
from bulk_ident.config import EXAMPLE, load_config, parse_config, write_example
from bulk_ident.errors import InputError
from bulk_ident.rates import Rate

KEY = "config-test-key-1f2e3d"

GOOD = """\
[community]
base_url = "https://api.sonorancad.com"
api_key_env = "MY_SONORAN_KEY"
rate = "10/min"

[[roster]]
name = "lspd"
source = "https://docs.google.com/spreadsheets/d/abcdefghijklmnop/edit#gid=0"
map = { "Badge" = "unitNum", "name" = "{First} {Last}" }
defaults = { department = "LSPD", page = "police", isDispatch = false, status = 2 }
delete_missing = false

[[roster]]
name = "fire"
source = "rosters/fire.csv"
sheet = 2
"""


def parse(text: str, env: dict[str, str] | None = None, folder: Path = Path("/cfg")) -> object:
    """Parse ``text`` as ``sync.toml`` in ``folder``."""
    return parse_config(text, name="sync.toml", folder=folder, env=env or {})


def error(text: str, env: dict[str, str] | None = None) -> str:
    """The one-line message ``text`` is refused with."""
    with pytest.raises(InputError) as exc:
        parse(text, env)
    message = str(exc.value)
    assert "\n" not in message
    return message


ROSTER = '[[roster]]\nname = "lspd"\nsource = "r.csv"\n'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            ROSTER + "delete_misssing = false\n",
            "sync.toml, line 4: [[roster]] 'lspd': unknown key 'delete_misssing' "
            "(did you mean 'delete_missing'?)",
        ),
        (
            '[community]\nrat = "2/s"\n' + ROSTER,
            "sync.toml, line 2: [community]: unknown key 'rat' (did you mean 'rate'?)",
        ),
        (
            ROSTER + 'delete_missing = "no"\n',
            "sync.toml, line 4: [[roster]] 'lspd': delete_missing must be true or false "
            '(no quotes), not "no"',
        ),
        (
            ROSTER + 'max_delete = "5"\n',
            "sync.toml, line 4: [[roster]] 'lspd': max_delete must be a whole number of 0 or "
            'more, not "5"',
        ),
        (
            ROSTER + "encoding = 1252\n",
            "sync.toml, line 4: [[roster]] 'lspd': encoding must be text in quotes, not 1252",
        ),
        (
            ROSTER + 'map = "Badge=unitNum"\n',
            "sync.toml, line 4: [[roster]] 'lspd': map must be a table such as "
            '{ "Badge" = "unitNum" }, not "Badge=unitNum"',
        ),
        (
            '[[roster]]\nsource = "r.csv"\n',
            "sync.toml, line 1: [[roster]] number 1: 'name' is missing: give each roster a name "
            "(its scope in the journal, and its results file's name)",
        ),
        (
            ROSTER + '\n[[roster]]\nname = "LSPD"\nsource = "b.csv"\n',
            "sync.toml, line 6: [[roster]] 'LSPD': the name 'LSPD' is already used by the roster "
            "on line 2: give each roster its own name",
        ),
        (
            '[[roster]]\nname = "lspd"\n',
            "sync.toml, line 1: [[roster]] 'lspd': 'source' is missing: give the roster's file "
            "(a path) or its https:// address",
        ),
        (
            '[community]\nbase_url = "${SANDBOX_URL}"\n' + ROSTER,
            "sync.toml, line 2: [community]: base_url uses ${SANDBOX_URL}, which is not set: "
            "set it in the environment (or write the value itself)",
        ),
        (
            '[community]\nbase_url = "http://example.com"\n' + ROSTER,
            "sync.toml, line 2: [community]: base URL 'http://example.com' uses plain http, which "
            "would send the API key unencrypted",
        ),
        (
            '[community]\nrate = "ten"\n' + ROSTER,
            "sync.toml, line 2: [community]: rate 'ten' is not understood",
        ),
        (
            ROSTER + 'rate = "10/min"\n',
            "sync.toml, line 4: [[roster]] 'lspd': 'rate' does not belong here: set it in "
            "[community]: the rosters share one key, one pace, one journal and one log",
        ),
        (
            ROSTER + 'scope = "police"\n',
            "sync.toml, line 4: [[roster]] 'lspd': 'scope' does not belong here: the roster's "
            "name is its scope in the journal: set name",
        ),
        (
            '[community]\napi_key = "abc"\n' + ROSTER,
            "sync.toml, line 2: [community]: 'api_key' does not belong here: never write the key "
            "in this file",
        ),
        (
            '[community]\napi_key_env = "K"\napi_key_file = "k.txt"\n' + ROSTER,
            "sync.toml, line 3: [community]: give api_key_env or api_key_file, not both",
        ),
        (
            '[community]\napi_key_file = "no-such-key.txt"\n' + ROSTER,
            "sync.toml, line 2: [community]: api_key_file /cfg/no-such-key.txt not found",
        ),
        (
            '[comunity]\nrate = "1/s"\n' + ROSTER,
            "sync.toml, line 1: unknown table [comunity] (did you mean [community]?)",
        ),
        ('rate = "1/s"\n' + ROSTER, "sync.toml, line 1: 'rate' is outside any table"),
        ('[community]\nrate = "1/s"\n', "sync.toml: no [[roster]] tables"),
        (
            ROSTER + "[roster.defaults]\ndepartment = 'LSPD'\nstatus = 'Patrol'\n",
            "sync.toml, line 6: [[roster]] 'lspd': defaults: status=Patrol: 'Patrol' is not a "
            "status",
        ),
        (
            ROSTER + 'map = { "Badge" = 3 }\n',
            "sync.toml, line 4: [[roster]] 'lspd': map: the value for 'Badge' must be text",
        ),
        (
            ROSTER + "sheet = 0\n",
            "sync.toml, line 4: [[roster]] 'lspd': sheet numbers count from 1",
        ),
        (
            '[[roster]]\nname = "police/fire"\nsource = "r.csv"\n',
            "sync.toml, line 2: [[roster]] number 1: the name 'police/fire' can't be used",
        ),
        (ROSTER + "verify = tru\n", "sync.toml, line 4: not valid TOML (invalid value)"),
    ],
)
def test_mistakes_name_the_file_line_and_key(text: str, expected: str) -> None:
    """Unknown keys, wrong types, missing names or files, repeated names, unset variables and
    broken TOML are each one line naming the file, the line and the key."""
    assert error(text).startswith(expected)


def test_key_lines_follow_tables_dotted_keys_and_skip_multiline_strings() -> None:
    """Lines are found for keys in sub-tables and dotted keys, and text inside a multi-line
    string that looks like a key is not taken for one."""
    text = (
        '[community]\nproxy = """\nmax_delete = 1\n"""\n'  # lines 1-4: a multi-line string
        + ROSTER  # lines 5-7
        + 'map.Badge = "unitNum"\n'  # line 8
        + "max_delete = 1\n"  # line 9
        + "mapp = 1\n"  # line 10
    )
    assert error(text).startswith("sync.toml, line 10: [[roster]] 'lspd': unknown key 'mapp'")


def test_a_good_file_gives_the_options_the_command_line_builds() -> None:
    """Each roster's ImportOptions equal what `import` builds from the same settings on the
    command line; maps and defaults become the command line's NAME=VALUE strings."""
    config = parse_config(GOOD, name="sync.toml", folder=Path("/cfg"), env={})
    lspd, fire = config.rosters
    cli = import_options(
        {
            "sheet": None,
            "encoding": None,
            "maps": ("Badge=unitNum", "name={First} {Last}"),
            "defaults": ("department=LSPD", "page=police", "isDispatch=false", "status=2"),
            "base_url": "https://api.sonorancad.com",
            "rate": "10/min",
            "state": None,
            "results_path": Path("/cfg/lspd.results.xlsx"),
            "scope": "lspd",
            "skip_invalid": False,
            "match_existing": True,
            "update": True,
            "delete_missing": False,
            "max_delete": None,
            "retry_failed": False,
            "verify": False,
            "dry_run": False,
            "proxy": None,
        }
    )
    assert lspd.options == cli
    assert lspd.is_url
    assert lspd.source.startswith("https://docs.google.com/")
    assert fire.source == str(Path("/cfg/rosters/fire.csv"))
    assert not fire.is_url
    assert fire.options.read.sheet == "2"
    assert fire.options.scope == "fire"
    assert config.community.api_key_env == "MY_SONORAN_KEY"


def test_variables_relative_paths_and_dry_run(tmp_path: Path) -> None:
    """${VAR} is expanded in every text (sources, maps, defaults, paths); relative paths are
    read from the config's folder; --dry-run makes every roster a dry run writing NAME.plan."""
    text = """\
[community]
base_url = "${SANDBOX_URL}"
state = "state/journal.sqlite"
log_file = "${LOGS}/sync.log"
proxy = "http://proxy.example:3128"

[[roster]]
name = "fire"
source = "${SANDBOX_URL}/_files/fire.csv"
map = { "${BADGE}" = "unitNum" }
defaults = { department = "${DEPT}" }
"""
    env = {
        "SANDBOX_URL": "http://127.0.0.1:8765",
        "LOGS": "/var/log",
        "BADGE": "Badge",
        "DEPT": "LSFD",
    }
    config = parse_config(text, name="s.toml", folder=tmp_path, env=env, dry_run=True)
    (fire,) = config.rosters
    assert config.community.base_url == "http://127.0.0.1:8765"
    assert config.community.state == tmp_path / "state" / "journal.sqlite"
    assert config.community.log_file == Path("/var/log/sync.log")
    assert fire.source == "http://127.0.0.1:8765/_files/fire.csv"
    # A map's keys are column names, written as they are: only values are expanded.
    assert fire.options.read.maps == ("${BADGE}=unitNum",)
    assert fire.options.read.defaults == ("department=LSFD",)
    assert fire.options.dry_run
    assert fire.options.results == tmp_path / "fire.plan.xlsx"
    assert fire.options.proxy == "http://proxy.example:3128"
    assert fire.options.state == tmp_path / "state" / "journal.sqlite"


def test_only_selects_rosters_by_name_and_refuses_unknown_names() -> None:
    """--only keeps the file's order, ignores case, and an unknown name lists the real ones."""
    config = parse_config(GOOD, name="sync.toml", folder=Path("/cfg"), env={})
    assert [r.name for r in config.select(["FIRE"])] == ["fire"]
    assert [r.name for r in config.select(["fire", "lspd"])] == ["lspd", "fire"]
    with pytest.raises(InputError, match=r"has no roster named 'ems' \(--only\): its rosters are"):
        config.select(["ems"])


def test_the_key_comes_from_the_named_variable_or_the_file_and_is_never_echoed(
    tmp_path: Path,
) -> None:
    """api_key_env names the variable; api_key_file a file; a bad key is refused by its source,
    naming the config line, never showing the key."""
    config = parse_config(GOOD, name="sync.toml", folder=tmp_path, env={})
    assert config.api_key({"MY_SONORAN_KEY": KEY}) == KEY
    with pytest.raises(InputError) as exc:
        config.api_key({"SONORAN_API_KEY": KEY})
    assert str(exc.value) == (
        "sync.toml, line 3: [community]: no API key: the variable MY_SONORAN_KEY is not set "
        "(set it, or name a file holding the key with api_key_file)"
    )
    with pytest.raises(InputError) as exc:
        config.api_key({"MY_SONORAN_KEY": KEY + " extra"})
    assert "MY_SONORAN_KEY holds spaces" in str(exc.value)
    assert KEY not in str(exc.value)
    key_file = tmp_path / "key.txt"
    key_file.write_text(KEY + "\n", encoding="utf-8")
    text = '[community]\napi_key_file = "key.txt"\n' + ROSTER
    from_file = parse_config(text, name="sync.toml", folder=tmp_path, env={})
    assert from_file.community.api_key_file == key_file
    assert from_file.api_key({}) == KEY


def test_a_missing_local_roster_is_reported_with_its_line_when_it_is_run(tmp_path: Path) -> None:
    """A roster file that is not there fails that roster (naming the line of 'source'), not the
    whole file: the others can still run."""
    (tmp_path / "here.csv").write_text("x", encoding="utf-8")
    text = ROSTER.replace("r.csv", "gone.csv") + '[[roster]]\nname = "b"\nsource = "here.csv"\n'
    config = parse_config(text, name="sync.toml", folder=tmp_path, env={})
    gone, here = config.rosters
    here.check_source()
    with pytest.raises(InputError) as exc:
        gone.check_source()
    assert str(exc.value) == (
        f"sync.toml, line 3: [[roster]] 'lspd': source {tmp_path / 'gone.csv'} not found: check "
        "the path (a relative path is read from the config file's folder)"
    )


def test_load_config_reads_the_file_and_names_it(tmp_path: Path) -> None:
    """A missing config suggests --init; a file that is not UTF-8 is refused; a BOM is fine."""
    path = tmp_path / "sync.toml"
    with pytest.raises(InputError, match=r"config file not found .*sync --init"):
        load_config(path, env={})
    path.write_bytes(b"\xff\xfe[x")
    with pytest.raises(InputError, match="is not UTF-8 text"):
        load_config(path, env={})
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    config = load_config(path, env={})
    assert config.path == path
    assert config.rosters[1].source == str(tmp_path / "rosters" / "fire.csv")
    path.write_text(GOOD + "\n[[roster]]\nnme = 'x'\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        load_config(path, env={})
    assert str(exc.value).startswith(f"{path}, line 18: [[roster]] number 3: 'name' is missing")


def test_the_example_is_a_valid_config_and_is_never_written_over_a_file(tmp_path: Path) -> None:
    """--init's example parses into two rosters; writing it over an existing file is refused."""
    config = parse_config(EXAMPLE, name="example.toml", folder=tmp_path, env={})
    assert [r.name for r in config.rosters] == ["lspd", "fire"]
    assert config.community.rate == Rate(10, 60.0)
    assert config.rosters[0].options.read.maps == ("Badge=unitNum",)
    path = tmp_path / "sync.toml"
    write_example(path)
    assert path.read_text(encoding="utf-8") == EXAMPLE
    path.write_text("mine", encoding="utf-8")
    with pytest.raises(InputError, match="already exists"):
        write_example(path)
    assert path.read_text(encoding="utf-8") == "mine"
