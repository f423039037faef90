"""Where a roster comes from: a local file or (later) a URL, turned into bytes with a name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bulk_ident.errors import InputError


@dataclass(frozen=True)
class Source:
    """A roster's bytes and how to name it to the user.

    ``name`` is what messages show (the path as given, or the URL); ``suffix`` decides how the
    bytes are read (``.xlsx``, ``.csv``...); ``path`` is the local file, when there is one, so
    that outputs can default to sitting beside it; ``stem`` names those outputs.
    """

    name: str
    suffix: str
    data: bytes
    path: Path | None
    stem: str


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
