"""Model prices (per million prompt / completion tokens) and what a run has cost."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from ..types import Usage

__all__ = ["Price", "Prices"]


@dataclass(frozen=True, slots=True)
class Price:
    """Currency units per 1,000,000 tokens."""

    prompt: float
    completion: float

    def cost(self, usage: Usage) -> float:
        return (usage.prompt_tokens * self.prompt
                + usage.completion_tokens * self.completion) / 1_000_000


@dataclass(frozen=True)
class Prices:
    """Prices by model name; `default` prices models not in the table (None: unknown)."""

    table: Mapping[str, Price] = field(default_factory=dict)
    default: Price | None = None

    def price(self, model: str) -> Price | None:
        return self.table.get(model, self.default)

    def cost(self, model: str, usage: Usage) -> float | None:
        price = self.price(model)
        return price.cost(usage) if price is not None else None

    @classmethod
    def load(cls, path: Path) -> Prices:
        """A TOML or JSON file: `{"model-name": {"prompt": 0.5, "completion": 1.5}, ...}`.

        The key `"*"` sets the default price.
        """
        try:
            text = path.read_text(encoding="utf-8")
            data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read prices file {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"prices file {path}: expected a mapping of model -> prices")
        table: dict[str, Price] = {}
        for model, entry in data.items():
            try:
                table[str(model)] = Price(float(entry["prompt"]), float(entry["completion"]))
            except (TypeError, KeyError, ValueError) as exc:
                raise ConfigError(f"prices file {path}: {model!r} needs numeric `prompt` and "
                                  "`completion` (per 1M tokens)") from exc
        default = table.pop("*", None)
        return cls(table, default)

    def with_price(self, model: str, price: Price) -> Prices:
        return Prices({**self.table, model: price}, self.default)
