"""`--pdf`: the HTML page printed with WeasyPrint (the `pdf` extra)."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError

__all__ = ["pdf_available", "write_pdf"]


def pdf_available() -> bool:
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError):  # OSError: the package is there but Pango is not
        return False
    return True


def write_pdf(page: str, path: Path) -> None:
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:
        raise ConfigError("--pdf needs WeasyPrint: pip install 'sounding[pdf]' "
                          f"(and the Pango library) ({exc})") from exc
    HTML(string=page).write_pdf(str(path))
