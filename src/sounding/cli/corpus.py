"""`sounding corpus`: build, serve, inspect and search offline corpora."""

from __future__ import annotations

import json
import os
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ..config import load_settings
from ..corpus import BuildReport, Corpus, CorpusBuilder, open_default_corpus
from ..errors import SoundingError
from ._console import err, fail
from ._corpus_dense import (
    embed_after_build,
    print_embed_report,
    run_embed,
    search_by_mode,
)

if TYPE_CHECKING:
    from ..corpus.server import SearchOptions

__all__ = ["app"]

app = typer.Typer(name="corpus", help="Build, serve and search offline corpora.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
out = Console(highlight=False)


@app.command()
def build(
    sources: Annotated[list[str], typer.Argument(
        help="wiki:en|es|fr, FILE.jsonl, FILE.zim, wikiextractor:DIR, or a directory/file "
             "of HTML, Markdown, PDF or text.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Corpus directory.")],
    base_url: Annotated[str | None, typer.Option(
        help="URL prefix for files of a directory source (e.g. https://docs.python.org/3.11/) "
             "or for ZIM articles; default file:// URLs / the ZIM's Source.")] = None,
    mentions: Annotated[bool, typer.Option(help="Store title mentions in the link graph.")
                        ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    engine: Annotated[str, typer.Option(
        help="BM25 engine: fts5, tantivy (faster; extra `corpus`), or auto (keep the "
             "corpus's engine; a new one of 100,000+ passages gets tantivy).")] = "auto",
    dense: Annotated[bool | None, typer.Option(
        "--dense/--no-dense", help="Also embed passages for dense/hybrid search (needs the "
        "`dense` extra); default: refresh embeddings the corpus already has.")] = None,
) -> None:
    """Build or update a corpus (atomic; re-running adds only new or changed documents)."""
    from ..corpus.sources import resolve_source

    try:
        resolved = [resolve_source(s, base_url=base_url) for s in sources]
        with Progress(SpinnerColumn(), TextColumn("{task.description}"),
                      TextColumn("{task.completed} documents"), TimeElapsedColumn(),
                      console=err, transient=True) as progress:
            task = progress.add_task("reading", total=None)

            def tick(name: str, n: int) -> None:
                progress.update(task, description=f"reading {name}", completed=n)

            report = CorpusBuilder(out_dir, mentions=mentions, progress=tick,
                                   engine=engine).build(resolved)
        assert report is not None
        changed = bool(report.added or report.updated)
        embedded = embed_after_build(out_dir, dense, changed=changed, console=err)
    except SoundingError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        typer.echo(json.dumps({**report.as_dict(), **(
            {"embeddings": embedded.as_dict()} if embedded else {})}, indent=2,
            ensure_ascii=False))
    else:
        _print_report(report)
        if embedded is not None:
            print_embed_report(embedded, out)


def _print_report(report: BuildReport) -> None:
    out.print(f"[bold]{report.corpus}[/]: {report.documents} documents, {report.passages} "
              f"passages, {report.links} links, {report.size_bytes / 1e6:.1f} MB "
              f"in {report.seconds:.1f} s")
    out.print(f"  added {report.added}, updated {report.updated}, unchanged "
              f"{report.unchanged}, duplicates {report.duplicates}, "
              f"skipped {len(report.skipped)}")
    if report.skipped:
        reasons = Counter(s.reason.split(":")[0] for s in report.skipped)
        for reason, n in reasons.most_common():
            out.print(f"  skipped ({reason}): {n}")
        for item in report.skipped[:10]:
            out.print(f"    {item.path}: {item.reason}")
        out.print("  full list in build-report.json")


def _open(corpus: Path | None) -> Corpus:
    if corpus is not None:
        return Corpus.open(corpus)
    settings = load_settings()
    if settings.corpus is not None:
        return Corpus.open(settings.corpus)
    return open_default_corpus(settings.cache_dir)


@app.command()
def stats(
    corpus_dir: Annotated[Path | None, typer.Argument(
        help="Corpus directory (default: --corpus setting, else the vital articles).")] = None,
) -> None:
    """Print a corpus's size and composition as JSON."""
    try:
        with _open(corpus_dir) as corpus:
            typer.echo(json.dumps(corpus.stats().as_dict(), indent=2, ensure_ascii=False))
    except SoundingError as exc:
        raise fail(str(exc)) from exc


class SearchMode(StrEnum):
    """The corpus search mode, named as in `ask --corpus-search` (the corpus_search setting)."""

    bm25 = "bm25"
    dense = "dense"
    hybrid = "hybrid"


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="Search text.")],
    corpus_dir: Annotated[Path | None, typer.Option(
        "--corpus", help="Corpus directory (default: the embedded vital articles).")] = None,
    num: Annotated[int, typer.Option("--num", "-n", help="Results.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON.")] = False,
    mode: Annotated[SearchMode, typer.Option(
        "--corpus-search", help="How to rank, as `ask --corpus-search` (dense and hybrid "
        "need `sounding corpus embed`).")] = SearchMode.bm25,
) -> None:
    """Search a corpus and print the hits."""
    try:
        with _open(corpus_dir) as corpus:
            hits = search_by_mode(corpus, query, num, mode.value)
    except SoundingError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        typer.echo(json.dumps([{"title": h.title, "url": h.url, "snippet": h.snippet}
                               for h in hits], indent=2, ensure_ascii=False))
        return
    for i, h in enumerate(hits, 1):
        out.print(f"[bold]{i}. {h.title}[/]\n   {h.url}\n   {h.snippet}")
    if not hits:
        out.print(f"no results for {query!r}")


@app.command()
def embed(
    corpus_dir: Annotated[Path | None, typer.Argument(
        help="Corpus directory (default: --corpus setting, else the vital articles).")] = None,
    batch_size: Annotated[int, typer.Option(help="Passages per forward pass.")] = 64,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Embed passages for dense/hybrid search (incremental, resumable; needs `dense`)."""
    try:
        with _open(corpus_dir) as corpus:
            directory = corpus.db_path.parent
        report = run_embed(directory, batch_size=batch_size, console=err)
    except SoundingError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        print_embed_report(report, out)


@app.command()
def serve(
    corpus_dir: Annotated[Path | None, typer.Argument(
        help="Corpus directory (default: the embedded vital articles).")] = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 picks a free one).")] = 8890,
    workers: Annotated[int | None, typer.Option(
        help="Server processes sharing the port (default: one per CPU; 1 on Windows).")
                       ] = None,
    search: Annotated[str, typer.Option(help="Default search mode: bm25, dense or hybrid "
                      "(needs `corpus embed`); a request may pass mode=.")] = "bm25",
    threads: Annotated[int | None, typer.Option(
        help="torch threads per worker for query embeddings (default: CPUs / workers).")
                       ] = None,
    batch: Annotated[int, typer.Option(
        help="Most queries embedded in one pass (dense and hybrid micro-batches).")] = 32,
    batch_wait_ms: Annotated[float, typer.Option(
        help="Milliseconds a lone query waits for others to share its pass.")] = 2.0,
) -> None:
    """Serve search (SearXNG/Serper JSON) and pages (by URL, Jina-style) over HTTP."""
    from ..corpus.server import CorpusServer, SearchOptions, open_searcher

    count = workers if workers is not None else (os.cpu_count() or 1)
    if batch < 1 or batch_wait_ms < 0:
        raise fail("--batch must be at least 1 and --batch-wait-ms at least 0")
    options = SearchOptions(default=search, threads=threads, max_batch=batch,
                            max_wait=batch_wait_ms / 1000)
    if count > 1 and hasattr(os, "fork"):
        _serve_workers(corpus_dir, host, port, count, options)
        return
    try:
        corpus = _open(corpus_dir)
        server = CorpusServer(corpus, host, port, searcher=open_searcher(corpus, options))
    except (SoundingError, OSError) as exc:
        raise fail(str(exc)) from exc
    err.print(f"serving {corpus.name} on {server.url}  (GET /search?q=...&format=json, "
              "POST /search, GET /page?url=...; Ctrl-C to stop)", soft_wrap=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        server.searcher.close()
        corpus.close()


def _serve_workers(corpus_dir: Path | None, host: str, port: int, workers: int,
                   options: SearchOptions) -> None:
    from ..corpus.server import serve_workers

    search = options.default

    try:
        with _open(corpus_dir) as corpus:  # resolve and check it; workers open their own
            name, path = corpus.name, corpus.path
            if search != "bm25":  # fail here, not in every forked worker
                from ..corpus.server_search import ModeSearch

                ModeSearch(corpus, search)

        def ready(url: str) -> None:
            err.print(f"serving {name} on {url} with {workers} workers  (GET "
                      "/search?q=...&format=json, POST /search, GET /page?url=...; "
                      "Ctrl-C to stop)", soft_wrap=True)

        serve_workers(path, host, port, workers, ready, options)
    except (SoundingError, OSError) as exc:
        raise fail(str(exc)) from exc
