"""What the model sees: tool schemas, argument checks and observation text."""

from .base import Tool, ToolContext, ToolOutput, check_arguments
from .search import SCHOLAR_SCHEMA, SEARCH_SCHEMA, SearchTool, format_search_results
from .visit import VISIT_SCHEMA, VisitTool, format_visit

__all__ = [
    "SCHOLAR_SCHEMA",
    "SEARCH_SCHEMA",
    "VISIT_SCHEMA",
    "SearchTool",
    "Tool",
    "ToolContext",
    "ToolOutput",
    "VisitTool",
    "check_arguments",
    "format_search_results",
    "format_visit",
]
