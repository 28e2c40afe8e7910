"""Real document fixtures generated in the tests: PDF, DOCX, PPTX, XLSX, ZIP, HTML."""

from __future__ import annotations

import io
import zipfile


def make_pdf(lines: list[str]) -> bytes:
    """A valid one-page PDF with Helvetica text, written by hand (xref offsets computed)."""
    text = " ".join(
        f"BT /F1 12 Tf 72 {720 - 16 * i} Td ({line}) Tj ET" for i, line in enumerate(lines))
    stream = text.encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream
        + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n"
              "%%EOF\n".encode())
    return out.getvalue()


def make_docx(paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    import docx

    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_pptx(slides: list[str]) -> bytes:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    for text in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[5])
        box = slide.shapes.add_textbox(Inches(1), Inches(2), Inches(6), Inches(1))
        box.text_frame.text = text
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def make_xlsx(rows: list[list[object]], title: str = "Data") -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def make_zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


ARTICLE_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Basalt columns of Fingal's Cave</title></head>
<body>
<nav><a href="/">Home</a> | <a href="/about">About</a> | Menu item | Another menu item</nav>
<article>
<h1>Basalt columns of Fingal's Cave</h1>
<p>Fingal's Cave is a sea cave on the uninhabited island of Staffa, in the Inner Hebrides of
Scotland. It is formed entirely from hexagonally jointed basalt columns within a Paleocene
lava flow, similar in structure to the Giant's Causeway in Northern Ireland.</p>
<p>The cave was brought to the attention of the English-speaking world by the naturalist
<a href="https://en.wikipedia.org/wiki/Joseph_Banks">Joseph Banks</a> in 1772. Its size and
naturally arched roof, and the eerie sounds produced by the echoes of waves, give it the
atmosphere of a natural cathedral.</p>
<table>
<tr><th>Measure</th><th>Value</th></tr>
<tr><td>Depth</td><td>72 metres</td></tr>
<tr><td>Height of entrance</td><td>22 metres</td></tr>
</table>
<p>Felix Mendelssohn visited in 1829 and wrote the Hebrides overture, inspired by the
sound of the waves in the cave. Many other artists followed him to the island.</p>
</article>
<footer>Copyright 2024 Example Travel Pages. All rights reserved. Cookie settings.</footer>
</body></html>
"""
