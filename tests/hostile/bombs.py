"""Generated hostile files: office zip bombs, deep JSON, random bytes, malformed XML."""

from __future__ import annotations

import io
import zipfile

from ..providers.documents import make_docx


def office_bomb(real: bytes, member: str, inflated_mb: int) -> bytes:
    """`real` (a docx, pptx or xlsx) with `member` replaced by `inflated_mb` MB of XML that
    compresses several hundred to one, written in chunks so the test never holds it whole."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(real)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        for info in source.infolist():
            if info.filename != member:
                bomb.writestr(info, source.read(info))
                continue
            with bomb.open(member, "w", force_zip64=True) as handle:
                handle.write(b'<?xml version="1.0"?><w:document xmlns:w="http://schemas.'
                             b'openxmlformats.org/wordprocessingml/2006/main"><w:body>')
                chunk = b"<w:p><w:r><w:t>bomb</w:t></w:r></w:p>" * 28_000  # ~1 MB
                for _ in range(inflated_mb):
                    handle.write(chunk)
                handle.write(b"</w:body></w:document>")
    return out.getvalue()


def docx_bomb(inflated_mb: int = 64) -> bytes:
    return office_bomb(make_docx(["real text"]), "word/document.xml", inflated_mb)


def docx_with_broken_xml() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(make_docx(["x"]))) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as broken:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "word/document.xml":
                data = data[: len(data) // 2] + b"<w:p><unclosed"
            broken.writestr(info, data)
    return out.getvalue()


def deep_json(depth: int = 200_000) -> bytes:
    return b"[" * depth + b"]" * depth
