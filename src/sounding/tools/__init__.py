"""What the model sees: tool schemas, argument checks and observation text."""

from .base import Tool, ToolContext, ToolOutput, check_arguments, join_observations, string_list
from .parse_file import PARSE_FILE_SCHEMA, ParseFileTool
from .python import PYTHON_NATIVE_SCHEMA, PYTHON_SCHEMA, PythonTool, format_run
from .search import SCHOLAR_SCHEMA, SEARCH_SCHEMA, SearchTool, format_search_results
from .visit import VISIT_SCHEMA, Extraction, VisitTool, format_visit

__all__ = [
    "PARSE_FILE_SCHEMA",
    "PYTHON_NATIVE_SCHEMA",
    "PYTHON_SCHEMA",
    "SCHOLAR_SCHEMA",
    "SEARCH_SCHEMA",
    "VISIT_SCHEMA",
    "Extraction",
    "ParseFileTool",
    "PythonTool",
    "SearchTool",
    "Tool",
    "ToolContext",
    "ToolOutput",
    "VisitTool",
    "check_arguments",
    "format_run",
    "format_search_results",
    "format_visit",
    "join_observations",
    "string_list",
]
