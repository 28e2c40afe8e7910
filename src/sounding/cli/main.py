"""The `sounding` command line: parse -> settings -> library call -> print."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..agent import Result
from ..errors import ConfigError
from ..trace.trajectory import Trajectory
from ._console import check_endpoint, err, fail, with_hint
from ._options import RunOptions, with_run_options
from ._run import run_question
from .progress import ProgressDisplay

__all__ = ["app", "main"]

app = typer.Typer(
    name="sounding",
    help="Sounding: an open deep-research agent (Tongyi DeepResearch format).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"sounding {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Sounding: an open deep-research agent (Tongyi DeepResearch format)."""


@app.command()
@with_run_options
def ask(
    question: Annotated[str, typer.Argument(help="The question to research.",
                                            metavar="QUESTION")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON "
                                          "object", metavar="")] = False,
    trace: Annotated[Path | None, typer.Option(help="Append the trajectory (JSONL) to this "
                                               "file, also when the run fails",
                                               metavar="FILE")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr",
                                        metavar="")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Print the traceback of a failed "
                                        "run on stderr", metavar="")] = False,
    *,
    run_options: RunOptions,
) -> None:
    """Research a question and print the answer with its sources."""
    if not question.strip():
        raise fail("the question is empty: sounding ask \"YOUR QUESTION\"")
    if trace is not None and trace.is_dir():
        raise fail(f"--trace {trace} is a folder; name a file, e.g. {trace / 'runs.jsonl'}")
    try:
        settings = run_options.settings()
        settings.require_llm()
        check_endpoint(settings)
    except ConfigError as exc:
        raise fail(with_hint(str(exc))) from None
    outcome = run_question(question, settings, None if quiet else ProgressDisplay(err))
    trajectory = outcome.trajectory
    unwritten = _write_trace(trajectory, trace)
    result = Result.from_trajectory(trajectory)
    _print_result(result, as_json)
    if unwritten:
        raise fail(unwritten, code=1)
    if result.termination != "error":
        return
    error = trajectory.error
    if debug and error is not None and error.traceback:
        err.print(error.traceback.rstrip(), markup=False, highlight=False)
    where = f" (trajectory in {trace})" if trace is not None else ""
    if outcome.interrupted:
        raise fail(f"interrupted{where}", code=130)
    text = f"{error.type}: {error.message}" if error is not None else "unknown error"
    code = 2 if isinstance(outcome.exception, ConfigError) else 1
    raise fail(f"the run ended with an error: {with_hint(text)}{where}", code=code)


def _write_trace(trajectory: Trajectory, trace: Path | None) -> str | None:
    """Append the trajectory to `trace`; what went wrong, if writing failed (a full disk)."""
    if trace is None:
        return None
    try:
        trajectory.append_to(trace)
    except OSError as exc:
        return f"cannot write the trajectory to {trace}: {exc}"
    return None


def _print_result(result: Result, as_json: bool) -> None:
    # Plain writes: the answer is the model's text, to be printed as it is (no markup, no
    # emoji codes, no wrapping); `--json` escapes everything anyway.
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
        return
    sys.stdout.write(("(no answer)" if result.answer is None else result.answer) + "\n")
    if result.sources:
        sys.stdout.write("\nSources:\n" + "".join(f"  - {url}\n" for url in result.sources))


def _mount_subcommands() -> None:
    # Imported when the CLI starts rather than with this module, so importing `app` (as the
    # tests do) does not pull in the corpus, eval and tool stacks.
    from . import corpus, eval, report, serve, synth, tool, trace
    from . import train as train_cli

    app.add_typer(corpus.app, name="corpus")
    app.add_typer(eval.app, name="eval")
    app.add_typer(synth.app, name="synth")
    app.add_typer(trace.app, name="trace")
    app.add_typer(train_cli.app, name="train")
    tool.register(app)
    report.register(app)
    serve.register(app)


def main() -> None:
    _mount_subcommands()
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        sys.exit(fail("interrupted", 130).exit_code)
    except Exception as exc:
        # Click's usage errors (typer vendors click, so matched by shape): one plain line,
        # like every other error, instead of a box that wraps the message.
        message, exit_code = getattr(exc, "format_message", None), getattr(exc, "exit_code", None)
        if not callable(message) or not isinstance(exit_code, int):
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()  # type: ignore[attr-defined]
            sys.exit(exit_code)
        ctx = getattr(exc, "ctx", None)
        where = f" (see {ctx.command_path} --help)" if ctx is not None else ""
        text = str(message()).replace("Value error, ", "")  # typer's pydantic wording
        sys.exit(fail(f"{text}{where}", exit_code).exit_code)
    sys.exit(code if isinstance(code, int) else 0)
