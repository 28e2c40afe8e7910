"""Each source type, the build report (corrupt inputs listed), incremental rebuilds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sounding.corpus import Corpus, CorpusBuilder
from sounding.corpus.builder import REPORT_NAME
from sounding.corpus.sources import resolve_source


def build(out: Path, *specs: str, base_url: str | None = None) -> dict[str, object]:
    report = CorpusBuilder(out).build([resolve_source(s, base_url=base_url) for s in specs])
    assert report is not None
    on_disk = json.loads((out / REPORT_NAME).read_text())
    assert on_disk["documents"] == report.documents
    return on_disk


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF showing `text` (Helvetica), with a correct xref table."""
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "library").mkdir(parents=True)
    (root / "index.html").write_text(
        "<html><head><title>Docs home</title><style>.x{}</style></head><body>"
        "<h1>Welcome</h1><p>See the <a href='library/os.html'>os module</a> and "
        "<a href='guide.md'>the guide</a>.</p><script>var x = 'hidden';</script></body></html>")
    (root / "library" / "os.html").write_text(
        "<html><head><title>os — Miscellaneous operating system interfaces</title></head>"
        "<body><p>This module provides a portable way of using operating system dependent "
        "functionality such as <code>os.getcwd</code>.</p>"
        "<a href='../index.html#top'>Home</a></body></html>")
    (root / "guide.md").write_text("# Tutorial guide\n\nSee [os](library/os.html). "
                                   "Markdown text about virtual environments.\n")
    (root / "notes.txt").write_text("Plain notes on the garbage collector.\n")
    (root / "paper.pdf").write_bytes(minimal_pdf("Quantum entanglement in PDF files"))
    (root / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (root / "latin1.md").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (root / "logo.png").write_bytes(b"\x89PNG\r\n")
    return root


def test_directory_of_html_markdown_pdf_text(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "c"
    report = build(out, str(site), base_url="https://docs.example.org/3/")
    skipped = {Path(s["path"]).name: s["reason"] for s in report["skipped"]}  # type: ignore
    assert set(skipped) == {"broken.pdf", "latin1.md", "logo.png"}
    assert "unsupported" in skipped["logo.png"]
    with Corpus.open(out) as corpus:
        assert corpus.stats().documents == 5
        doc = corpus.get("https://docs.example.org/3/library/os.html")
        assert doc is not None and doc.title.startswith("os")
        assert "portable way" in doc.text
        home = corpus.get("http://docs.example.org/3/index.html")
        assert home is not None and "hidden" not in home.text
        assert corpus.search("quantum entanglement")[0].url.endswith("/paper.pdf")
        assert corpus.search("virtual environments")[0].title == "Tutorial guide"
        links = corpus.links("https://docs.example.org/3/index.html")
        targets = {u for u, kind, _ in links if kind == "href"}
        assert "https://docs.example.org/3/library/os.html" in targets
        assert "https://docs.example.org/3/guide.md" in targets


def test_default_file_urls(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a b.txt").write_text("Alpha text here.")
    build(tmp_path / "c", str(tmp_path / "d"))
    with Corpus.open(tmp_path / "c") as corpus:
        url = (tmp_path / "d" / "a b.txt").resolve().as_uri()
        doc = corpus.get(url)
        assert doc is not None and doc.url == url


def test_jsonl_with_corrupt_lines(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    rows = [
        json.dumps({"url": "https://x.org/1", "title": "One", "text": "First document text.",
                    "metadata": {"year": 2020}}),
        "{not json",
        json.dumps({"title": "No url", "text": "x"}),
        json.dumps({"url": "https://x.org/2", "title": "Two", "text": "Second document."}),
        json.dumps([1, 2]),
    ]
    path.write_text("\n".join(rows) + "\n")
    report = build(tmp_path / "c", str(path))
    assert report["added"] == 2
    reasons = [s["reason"] for s in report["skipped"]]  # type: ignore[union-attr]
    assert len(reasons) == 3
    assert any("invalid JSON" in r for r in reasons) and any("url" in r for r in reasons)
    with Corpus.open(tmp_path / "c") as corpus:
        doc = corpus.get("https://x.org/1")
        assert doc is not None and doc.metadata == {"year": 2020}


def test_wikiextractor_output(tmp_path: Path) -> None:
    folder = tmp_path / "extracted" / "AA"
    folder.mkdir(parents=True)
    lines = [
        {"id": "12", "revid": "1", "url": "https://fr.wikipedia.org/wiki?curid=12",
         "title": "Anarchisme", "text": "Anarchisme\n\nL'anarchisme est une "
         '<a href="philosophie%20politique">philosophie politique</a> ancienne.'},
        {"id": "25", "revid": "2", "url": "https://fr.wikipedia.org/wiki?curid=25",
         "title": "Philosophie politique", "text": "La philosophie politique étudie l'État."},
    ]
    (folder / "wiki_00").write_text("\n".join(json.dumps(x, ensure_ascii=False)
                                              for x in lines))
    build(tmp_path / "c", str(tmp_path / "extracted"))
    with Corpus.open(tmp_path / "c") as corpus:
        doc = corpus.get("https://fr.wikipedia.org/wiki/Anarchisme")
        assert doc is not None and doc.lang == "fr"
        assert "<a" not in doc.text and "philosophie politique ancienne" in doc.text
        links = corpus.links(doc.url)
        assert ("https://fr.wikipedia.org/wiki/Philosophie_politique", "href",
                "philosophie politique") in links
        assert corpus.search("État")[0].title == "Philosophie politique"


def test_zim_file(tmp_path: Path) -> None:
    writer = pytest.importorskip("libzim.writer")

    class Article(writer.Item):  # type: ignore[misc,name-defined]
        def __init__(self, path: str, title: str, html: str) -> None:
            super().__init__()
            self.path, self.title, self.html = path, title, html

        def get_path(self) -> str:
            return self.path

        def get_title(self) -> str:
            return self.title

        def get_mimetype(self) -> str:
            return "text/html"

        def get_contentprovider(self) -> object:
            return writer.StringProvider(self.html)

        def get_hints(self) -> dict[object, int]:
            return {writer.Hint.FRONT_ARTICLE: True}

    path = tmp_path / "tiny.zim"
    with writer.Creator(str(path)).config_indexing(False, "eng") as creator:
        creator.set_mainpath("Sirius")
        creator.add_metadata("Source", "en.wikipedia.org")
        creator.add_metadata("Language", "eng")
        creator.add_metadata("Creator", "Wikipedia")
        creator.add_item(Article("Sirius", "Sirius", "<html><body><p>Sirius is the brightest "
                                 "star in the night sky, in <a href='./Canis_Major'>Canis "
                                 "Major</a>.</p></body></html>"))
        creator.add_item(Article("Canis_Major", "Canis Major", "<html><body><p>Canis Major "
                                 "is a constellation in the southern hemisphere.</p>"
                                 "</body></html>"))
        creator.add_redirection("Dog_Star", "Dog Star", "Sirius", {})
    (tmp_path / "bad.zim").write_bytes(b"not a zim")
    report = build(tmp_path / "c", str(path), str(tmp_path / "bad.zim"))
    assert report["added"] == 2
    assert [Path(s["path"]).name for s in report["skipped"]] == ["bad.zim"]  # type: ignore
    with Corpus.open(tmp_path / "c") as corpus:
        doc = corpus.get("https://en.wikipedia.org/wiki/Sirius")
        assert doc is not None and doc.source == "Wikipedia" and "brightest" in doc.text
        assert ("https://en.wikipedia.org/wiki/Canis_Major", "href", "Canis Major") in \
            corpus.links(doc.url)
        assert corpus.search("constellation southern")[0].title == "Canis Major"


def test_vital_spanish_and_french_sources(tmp_path: Path) -> None:
    source = resolve_source("wiki:es")
    docs = list(source[1])
    assert len(docs) > 6000
    assert all(d.url.startswith("https://es.wikipedia.org/wiki/") for d in docs[:50])
    with pytest.raises(Exception, match="wiki:en"):
        resolve_source("wiki:de")


def test_missing_source_is_an_error(tmp_path: Path) -> None:
    from sounding.errors import CorpusError

    with pytest.raises(CorpusError, match="does not exist"):
        resolve_source(str(tmp_path / "nope"))
