"""The sampler protocol: a chat request in, the model's text out, and canned replies for tests.

* :class:`ChatRequest` and :func:`chat` -- one request (messages plus decoding settings);
* :class:`Sampler` -- the protocol every backend implements (labellers, trace transformations
  and MoLE-Syn draw text through it);
* :class:`ScriptedSampler` -- canned replies from a list or a function, for testing the logic
  around a model; it never runs one;
* :func:`reply_content` -- the text of an OpenAI-style chat completion, or a clear error (the
  llama.cpp and server backends both answer in that shape).

Examples
--------
>>> s = ScriptedSampler(["Let x = 2.", "x = 4"])
>>> s.complete_batch([chat("be brief", "2+2?"), chat("be brief", "2*2?")])
['Let x = 2.', 'x = 4']
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from metacot.errors import BadResponseError, InvalidArgumentError, SamplerError

__all__ = ["LLM_EXTRA", "ChatRequest", "Sampler", "ScriptedSampler", "chat", "check_requests", "reply_content",
           "snippet"]

_ROLES = frozenset({"system", "user", "assistant"})
#: How to install the optional language-model dependencies (quoted in MissingDependencyError).
LLM_EXTRA = "pip install 'metacot[llm]'"


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion to make: messages plus decoding settings.

    Parameters
    ----------
    messages : tuple of mappings
        ``{"role": "system" | "user" | "assistant", "content": str}``, in order; a list is
        accepted and stored as a tuple of plain dicts.
    temperature : float
        Sampling temperature, ``>= 0`` (0 is greedy where the backend supports it).
    max_tokens : int
        Most tokens to generate, ``>= 1``.
    stop : tuple of str
        Generation stops before any of these strings.
    seed : int or None
        Sampling seed for this request; ``None`` leaves it to the backend.

    Examples
    --------
    >>> r = ChatRequest([{"role": "user", "content": "hi"}], max_tokens=8, stop=["\\n"])
    >>> r.messages, r.stop
    (({'role': 'user', 'content': 'hi'},), ('\\n',))
    """

    messages: tuple[Mapping[str, str], ...]
    temperature: float = 0.7
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.messages, Mapping) or isinstance(self.messages, str):
            raise InvalidArgumentError("ChatRequest.messages must be a sequence of {'role', 'content'} mappings")
        msgs = []
        for i, m in enumerate(self.messages):
            if not isinstance(m, Mapping) or not isinstance(m.get("role"), str) or not isinstance(
                m.get("content"), str
            ):
                raise InvalidArgumentError(f"message {i} must map 'role' and 'content' to strings, got {m!r}")
            if m["role"] not in _ROLES:
                raise InvalidArgumentError(f"message {i} has role {m['role']!r}; expected one of {sorted(_ROLES)}")
            msgs.append({"role": m["role"], "content": m["content"]})
        if not msgs:
            raise InvalidArgumentError("ChatRequest.messages is empty")
        object.__setattr__(self, "messages", tuple(msgs))
        if isinstance(self.temperature, bool) or not isinstance(self.temperature, (int, float)) or not (
            self.temperature >= 0
        ):
            raise InvalidArgumentError(f"temperature must be a number >= 0, got {self.temperature!r}")
        if isinstance(self.max_tokens, bool) or not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise InvalidArgumentError(f"max_tokens must be an int >= 1, got {self.max_tokens!r}")
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)
        if not all(isinstance(s, str) and s for s in stop):
            raise InvalidArgumentError(f"stop must hold non-empty strings, got {self.stop!r}")
        object.__setattr__(self, "stop", stop)
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise InvalidArgumentError(f"seed must be an int or None, got {self.seed!r}")


def chat(system: str, user: str, **settings: Any) -> ChatRequest:
    """A two-message request: a system prompt and one user turn.

    Parameters
    ----------
    system, user : str
    **settings
        ``temperature``, ``max_tokens``, ``stop``, ``seed`` (see :class:`ChatRequest`).

    Returns
    -------
    ChatRequest

    Examples
    --------
    >>> r = chat("You add numbers.", "2+2?", max_tokens=4, seed=1)
    >>> [m["role"] for m in r.messages], r.max_tokens, r.seed
    (['system', 'user'], 4, 1)
    """
    return ChatRequest(({"role": "system", "content": system}, {"role": "user", "content": user}), **settings)


@runtime_checkable
class Sampler(Protocol):
    """What MoLE-Syn and the LLM judge need from a language model.

    ``complete`` answers one request; ``complete_batch`` answers several, in the same order, and
    concurrently where the backend allows it; ``describe`` returns JSON-ready provenance (at
    least ``kind`` and ``model``) that goes into every record the model helped write.
    """

    def complete(self, request: ChatRequest) -> str: ...

    def complete_batch(self, requests: Sequence[ChatRequest]) -> list[str]: ...

    def describe(self) -> dict[str, Any]: ...


def check_requests(requests: Iterable[ChatRequest]) -> list[ChatRequest]:
    """``requests`` as a list, each checked to be a :class:`ChatRequest`."""
    out = list(requests)
    for i, r in enumerate(out):
        if not isinstance(r, ChatRequest):
            raise InvalidArgumentError(f"request {i} is a {type(r).__name__}, not a ChatRequest")
    return out


# --------------------------------------------------------------------------------------------
# scripted (tests of the surrounding logic only)
# --------------------------------------------------------------------------------------------


class ScriptedSampler:
    """Canned replies, for testing code that drives a sampler; no model is involved.

    Parameters
    ----------
    replies : callable or sequence of str
        A function ``ChatRequest -> str`` (deterministic if the function is), or a list of
        replies handed out in order; running out of the list raises
        :class:`~metacot.errors.SamplerError`.
    name : str
        Shown by :meth:`describe`.

    Attributes
    ----------
    requests : list of ChatRequest
        Every request received, in the order answered.

    Examples
    --------
    >>> s = ScriptedSampler(lambda r: r.messages[-1]["content"].upper())
    >>> s.complete(chat("", "echo"))
    'ECHO'
    >>> len(s.requests)
    1
    """

    def __init__(self, replies: Callable[[ChatRequest], str] | Sequence[str], name: str = "scripted") -> None:
        if callable(replies):
            self._fn: Callable[[ChatRequest], str] | None = replies
            self._queue: list[str] = []
        elif isinstance(replies, str):
            raise InvalidArgumentError("replies must be a callable or a sequence of str, not one str")
        else:
            self._fn = None
            self._queue = list(replies)
            if not all(isinstance(x, str) for x in self._queue):
                raise InvalidArgumentError("every scripted reply must be a str")
        self.name = name
        self.requests: list[ChatRequest] = []
        self._lock = threading.Lock()

    def complete(self, request: ChatRequest) -> str:
        """The next scripted reply to ``request``."""
        (request,) = check_requests([request])
        with self._lock:
            self.requests.append(request)
            if self._fn is not None:
                out = self._fn(request)
                if not isinstance(out, str):
                    raise SamplerError(f"scripted reply function returned a {type(out).__name__}, not a str")
                return out
            if not self._queue:
                raise SamplerError(f"ScriptedSampler {self.name!r} ran out of replies")
            return self._queue.pop(0)

    def complete_batch(self, requests: Sequence[ChatRequest]) -> list[str]:
        """Replies to ``requests`` in order (sequentially)."""
        return [self.complete(r) for r in check_requests(requests)]

    def describe(self) -> dict[str, Any]:
        """``{"kind": "scripted", "model": name}``."""
        return {"kind": "scripted", "model": self.name}


def reply_content(reply: Any, where: str) -> str:
    """The text of the first choice of an OpenAI-style chat completion, or a clear error."""
    try:
        choice = reply["choices"][0]
    except (KeyError, IndexError, TypeError):
        raise BadResponseError(f"{where} answered without any choices: {snippet(reply)}") from None
    msg = choice.get("message") if isinstance(choice, Mapping) else None
    content = msg.get("content") if isinstance(msg, Mapping) else None
    if content is None and isinstance(msg, Mapping) and "content" in msg:
        return ""  # some servers send null content for an empty generation
    if not isinstance(content, str):
        raise BadResponseError(f"{where} answered a choice without message.content: {snippet(choice)}")
    return content


def snippet(x: Any, n: int = 200) -> str:
    """A short repr of a reply for an error message."""
    s = x if isinstance(x, str) else json.dumps(x, default=str)[: n + 1]
    return repr(s[:n] + ("..." if len(s) > n else ""))
