"""Data synthesis: knowledge graph, formal questions with an executor, walks, trajectories."""

from __future__ import annotations

from .executor import Check, Executor, KnowledgeBase, check
from .spec import Const, OneOf, Range, Spec, Triple, Var

__all__ = ["Check", "Const", "Executor", "KnowledgeBase", "OneOf", "Range", "Spec", "Triple",
           "Var", "check"]
