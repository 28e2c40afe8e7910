"""The dense parts of `sounding corpus`: embedding with a progress bar, searching by mode."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..corpus import Corpus
from ..corpus.dense import EmbedReport, embed_corpus, has_embeddings, require_dense
from ..corpus.hybrid import HybridSearcher, SearchMode
from ..errors import CorpusError
from ..providers.base import SearchHit

__all__ = ["embed_after_build", "print_embed_report", "run_embed", "search_by_mode"]


def run_embed(corpus_dir: Path, *, batch_size: int, console: Console) -> EmbedReport:
    """Embed what is new in the corpus, showing passages done / to do."""
    require_dense()
    with Progress(TextColumn("embedding passages"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task("embed", total=None)

        def tick(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        console.print("loading the embedding model (all-MiniLM-L6-v2, offline)…")
        return embed_corpus(corpus_dir, batch_size=batch_size, progress=tick)


def print_embed_report(report: EmbedReport, console: Console) -> None:
    rate = report.embedded / report.seconds if report.seconds else 0.0
    console.print(f"embeddings: {report.passages} passages, {report.embedded} embedded "
                  f"({rate:.0f}/s), {report.reused} reused, "
                  f"{report.size_bytes / 1e6:.1f} MB in {report.seconds:.1f} s")


def embed_after_build(corpus_dir: Path, dense: bool | None, *, changed: bool,
                      console: Console) -> EmbedReport | None:
    """`build --dense` embeds; a plain build refreshes embeddings the corpus already has."""
    if dense is False:
        return None
    if dense is None:
        with Corpus.open(corpus_dir) as corpus:
            if not (changed and has_embeddings(corpus)):
                return None
        try:
            require_dense()
        except CorpusError as exc:
            console.print(f"[yellow]warning:[/] the corpus's embeddings are now out of date "
                          f"and cannot be refreshed: {exc}")
            return None
    return run_embed(corpus_dir, batch_size=64, console=console)


def search_by_mode(corpus: Corpus, query: str, num: int, mode: SearchMode) -> list[SearchHit]:
    if mode == "bm25":
        return corpus.search(query, k=num)
    return HybridSearcher(corpus, mode).search_sync(query, num)
