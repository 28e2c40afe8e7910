"""Fixtures for agent tests: an environment of fake tools."""

from __future__ import annotations

import pytest

from sounding.env import Environment
from sounding.tools.search import SEARCH_SCHEMA
from sounding.tools.visit import VISIT_SCHEMA

from .fakes import PYTHON_SCHEMA, FakeTool


@pytest.fixture
def tools() -> dict[str, FakeTool]:
    return {"search": FakeTool(SEARCH_SCHEMA), "visit": FakeTool(VISIT_SCHEMA),
            "PythonInterpreter": FakeTool(PYTHON_SCHEMA, reply="stdout:\n2\n")}


@pytest.fixture
def environment(tools: dict[str, FakeTool]) -> Environment:
    return Environment("fake", dict(tools))

