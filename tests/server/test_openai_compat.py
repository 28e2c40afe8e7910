"""The OpenAI-compatible endpoint, with the official `openai` SDK as the client."""

from __future__ import annotations

import pytest

from .conftest import KEY, Served

openai = pytest.importorskip("openai", reason="needs the openai SDK (serve extra)")


@pytest.mark.parametrize("model", ["sounding-react", "sounding-heavy"])
def test_models_and_a_plain_completion(served: Served, model: str) -> None:
    client = openai.OpenAI(base_url=served.url + "/v1", api_key=KEY)
    assert {m.id for m in client.models.list()} == {"sounding-react", "sounding-iter",
                                                     "sounding-heavy"}
    completion = client.chat.completions.create(model=model, messages=[
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "Who won two Nobel prizes?"}])
    text = completion.choices[0].message.content or ""
    assert text.startswith("Marie Curie")
    assert "Sources:\n[1] https://en.wikipedia.org/wiki/Marie_Curie" in text
    assert completion.usage is not None and completion.usage.prompt_tokens > 0


def test_streaming_sends_progress_as_reasoning_then_the_answer(served: Served) -> None:
    client = openai.OpenAI(base_url=served.url + "/v1", api_key=KEY)
    reasoning, content = [], []
    for chunk in client.chat.completions.create(
            model="sounding-iter", stream=True,
            messages=[{"role": "user", "content": "Who won two Nobel prizes?"}]):
        delta = chunk.choices[0].delta
        if extra := (delta.model_extra or {}).get("reasoning_content"):
            reasoning.append(extra)
        if delta.content:
            content.append(delta.content)
    progress = "".join(reasoning)
    assert "Round 1" in progress and "look it up" in progress
    assert '→ search({"query": ["Marie Curie 0"]})' in progress
    assert "".join(content).startswith("Marie Curie")


def test_unknown_model_and_bad_key(served: Served) -> None:
    client = openai.OpenAI(base_url=served.url + "/v1", api_key=KEY, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4", messages=[{"role": "user",
                                                                 "content": "q"}])
    bad = openai.OpenAI(base_url=served.url + "/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
