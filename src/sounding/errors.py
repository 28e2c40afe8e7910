"""The one exception tree of Sounding.

Two families matter to the agent loop: errors that are *our* problem or the
caller's (they stop a run) and mistakes of the *model* (they become an
observation and the loop goes on). Tools raise; the loop turns errors into
observation text in exactly one place.

    SoundingError
    ├── ConfigError              settings missing or invalid (caller's fault; CLI exit 2)
    ├── LLMError                 the model endpoint failed after retries
    │   ├── LLMConnectionError   the endpoint cannot be reached
    │   ├── LLMResponseError     the endpoint answered with an unusable reply or a 4xx
    │   │   └── ContextLengthError   the server refused the prompt as longer than its window
    │   └── MalformedReplyError  the reply is not a chat completion (no text, wrong shape, too big)
    ├── ModelFormatError         the model broke the protocol (becomes an observation)
    │   ├── ToolCallParseError   a tool call whose JSON cannot be read
    │   ├── UnknownToolError     a tool name the environment does not provide
    │   └── ToolArgumentError    arguments missing or of the wrong type
    ├── ToolError                a tool could not produce its observation
    │   ├── ProviderError        a backend (search API, fetcher, sandbox...) failed
    │   │   ├── ProviderAuthError    a key is missing or refused
    │   │   ├── RateLimitError       HTTP 429, with the wait the provider asked for
    │   │   ├── ReplayMissError      --replay found no recorded exchange
    │   │   └── BlockedURLError      a URL refused by the SSRF policy
    │   └── SandboxError         the code sandbox is unavailable or misconfigured
    ├── CorpusError              the offline corpus is missing, corrupt or unbuildable
    ├── DatasetError             an evaluation dataset cannot be read
    ├── StoreWriteError          an eval run directory cannot be written (disk full)
    └── ExecutorError            the rollout executor failed (Ray missing, cluster unreachable)
        └── WorkerLostError      a rollout outlived its retries on workers that died
"""

from __future__ import annotations

__all__ = [
    "BlockedURLError",
    "ConfigError",
    "ContextLengthError",
    "CorpusError",
    "DatasetError",
    "ExecutorError",
    "LLMConnectionError",
    "LLMError",
    "LLMResponseError",
    "MalformedReplyError",
    "ModelFormatError",
    "ProviderAuthError",
    "ProviderError",
    "RateLimitError",
    "ReplayMissError",
    "SandboxError",
    "SoundingError",
    "StoreWriteError",
    "ToolArgumentError",
    "ToolCallParseError",
    "ToolError",
    "UnknownToolError",
    "WorkerLostError",
]


class SoundingError(Exception):
    """Base class of every error Sounding raises on purpose."""


class ConfigError(SoundingError):
    """Settings are missing or invalid; the message says what to set."""


class LLMError(SoundingError):
    """The model endpoint failed (after retries, where retrying made sense)."""

    def __init__(self, message: str, *, status: int | None = None, retries: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.retries = retries


class LLMConnectionError(LLMError):
    """The model endpoint cannot be reached (refused, DNS, timeout)."""


class LLMResponseError(LLMError):
    """The endpoint answered, but not with a usable completion."""


class ContextLengthError(LLMResponseError):
    """The server refused the prompt as longer than the model's context window (vLLM,
    SGLang and OpenAI each word it differently); the loop answers with a shorter prompt."""


class MalformedReplyError(LLMError):
    """The endpoint's reply is not a usable chat completion: no choices, `content` of the
    wrong type, a body over the size cap, JSON nested too deep."""


class ModelFormatError(SoundingError):
    """The model's turn does not follow the protocol; shown back to it as feedback."""


class ToolCallParseError(ModelFormatError):
    """A tool call whose body is not readable JSON even after repair."""


class UnknownToolError(ModelFormatError):
    """The model named a tool that the environment does not provide."""


class ToolArgumentError(ModelFormatError):
    """Tool arguments are missing, unexpected or of the wrong type."""


class ToolError(SoundingError):
    """A tool could not produce its observation."""


class ProviderError(ToolError):
    """A provider behind a tool failed: HTTP error, bad payload, timeout."""

    def __init__(self, message: str, *, provider: str = "", status: int | None = None,
                 retryable: bool = False) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status
        self.retryable = retryable


class ProviderAuthError(ProviderError):
    """A provider's key is missing or was refused; the message names the variable."""


class RateLimitError(ProviderError):
    """HTTP 429: retryable, after `retry_after` seconds when the provider said so."""

    def __init__(self, message: str, *, provider: str = "", status: int | None = None,
                 retryable: bool = True, retry_after: float | None = None) -> None:
        super().__init__(message, provider=provider, status=status, retryable=retryable)
        self.retry_after = retry_after


class ReplayMissError(ProviderError):
    """Replay mode found no recorded exchange for a request."""


class BlockedURLError(ProviderError):
    """A URL refused by the fetch policy (scheme, private address, size, redirects)."""


class SandboxError(ToolError):
    """The Python sandbox cannot run (bubblewrap missing, bad limits)."""


class CorpusError(SoundingError):
    """The offline corpus is missing, unreadable or cannot be built."""


class DatasetError(SoundingError):
    """An evaluation dataset cannot be read or decrypted."""


class StoreWriteError(SoundingError):
    """The run directory cannot be written (disk full): the run stops, resumable."""


class ExecutorError(SoundingError):
    """The rollout executor failed: Ray missing or unreachable, or no worker left."""


class WorkerLostError(ExecutorError):
    """A rollout was lost with its worker more times than the retries allow."""
