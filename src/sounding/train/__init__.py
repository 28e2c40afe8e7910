"""Training on Sounding's own trajectories: samples with exact loss masks, SFT and agentic RL.

The only package that imports torch, transformers, TRL, PEFT or verl (the `train` extra);
`samples` and `tokenizers` need none of them, so masks can be checked without torch.
"""

from __future__ import annotations

__all__: list[str] = []
