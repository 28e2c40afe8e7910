"""`PythonInterpreter`: run the model's code in a fresh sandbox and show what it printed."""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..errors import ToolArgumentError
from ..llm.base import ToolSchema
from ..providers.sandbox import CodeRunner, RunResult
from ..types import JSON
from .base import ToolContext, ToolOutput

__all__ = ["PYTHON_NATIVE_SCHEMA", "PYTHON_SCHEMA", "PythonTool", "format_run"]

_DESCRIPTION = (
    "Executes Python code in a sandboxed environment. To use this tool, you must follow this "
    "format:\n1. The 'arguments' JSON object must be empty: {}.\n2. The Python code to be "
    "executed must be placed immediately after the JSON block, enclosed within <code> and "
    "</code> tags.\n\nIMPORTANT: Any output you want to see MUST be printed to the terminal "
    "using the print() function. Each call starts from a clean state; nothing carries over "
    "between calls. The sandbox has no network access."
)

PYTHON_SCHEMA = ToolSchema(
    name="PythonInterpreter",
    description=_DESCRIPTION,
    parameters={"type": "object", "properties": {}, "required": []},
)
"""The trained schema (tags protocol): empty arguments, code in <code>...</code>."""

PYTHON_NATIVE_SCHEMA = ToolSchema(
    name="PythonInterpreter",
    description="Executes Python code in a sandbox without network access and returns what "
    "it printed. Any output you want to see MUST be printed with print(). Each call starts "
    "from a clean state.",
    parameters={
        "type": "object",
        "properties": {"code": {"type": "string", "description": "The Python code to run."}},
        "required": ["code"],
    },
)
"""For OpenAI-style function calling, where the code must travel inside the arguments."""

_FENCE = re.compile(r"^\s*```[a-zA-Z0-9_+-]*\s*\n(.*?)\n?\s*```\s*$", re.S)


def format_run(result: RunResult, timeout: float) -> str:
    """The observation text: stdout/stderr sections, a timeout marker, or a finished line."""
    parts = []
    if result.stdout:
        parts.append(f"stdout:\n{result.stdout}")
    if result.stderr:
        parts.append(f"stderr:\n{result.stderr}")
    if result.truncated:
        parts.append("[PythonInterpreter] Output truncated: print less.")
    if result.timed_out:
        parts.append(f"[PythonInterpreter Error] TimeoutError: Execution timed out "
                     f"after {timeout:g} seconds.")
    if not parts:
        return "Finished execution."
    return "\n".join(parts)


class PythonTool:
    """Stateless per call: every call gets a new sandbox."""

    def __init__(self, runner: CodeRunner, *, timeout: float = 50.0, native: bool = False
                 ) -> None:
        self.runner = runner
        self.timeout = timeout
        self._schema = PYTHON_NATIVE_SCHEMA if native else PYTHON_SCHEMA

    @property
    def schema(self) -> ToolSchema:
        return self._schema

    async def __call__(
        self, arguments: Mapping[str, JSON], context: ToolContext, *, code: str | None = None
    ) -> ToolOutput:
        source = code if code is not None else arguments.get("code")
        if not isinstance(source, str) or not source.strip():
            raise ToolArgumentError(
                "PythonInterpreter needs code: put it after the JSON arguments between "
                "<code> and </code>")
        fenced = _FENCE.match(source)
        if fenced:
            source = fenced.group(1)
        stats = context.stats
        stats.requests += 1
        stats.used(self.runner.name)
        result = await self.runner.run(source)
        return ToolOutput(
            text=format_run(result, self.timeout),
            meta={"exit_code": result.exit_code, "timed_out": result.timed_out,
                  "truncated": result.truncated, "seconds": round(result.seconds, 4)},
        )
