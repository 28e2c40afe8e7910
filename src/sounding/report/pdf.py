"""`--pdf`: the HTML page printed with WeasyPrint (the `pdf` extra; needs Pango)."""

from __future__ import annotations

import warnings
from pathlib import Path
from types import ModuleType

from ..errors import ConfigError

__all__ = ["pdf_available", "write_pdf"]


def _weasyprint() -> ModuleType:
    # WeasyPrint warns at import about optional system libraries (HarfBuzz-Subset); that is
    # advice to the system's owner, not an error of the report.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import weasyprint
    module: ModuleType = weasyprint
    return module


def pdf_available() -> bool:
    try:
        _weasyprint()
    except (ImportError, OSError):  # OSError: the package is there but Pango is not
        return False
    return True


def write_pdf(page: str, path: Path) -> None:
    try:
        weasyprint = _weasyprint()
    except (ImportError, OSError) as exc:
        raise ConfigError("--pdf needs WeasyPrint: pip install 'sounding[pdf]' "
                          f"(and the Pango library) ({exc})") from exc
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        weasyprint.HTML(string=page).write_pdf(str(path))
