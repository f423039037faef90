"""bulk_ident: import a department roster into Sonoran CAD as unit identifiers."""

from __future__ import annotations

__version__ = "0.2.0"  # the one place the version is written (pyproject reads it)
