"""Any OpenAI-compatible chat server: :class:`OpenAISampler` (vLLM, SGLang, the llama.cpp server).

Bounded concurrency, retries with exponential backoff on transient failures, a total deadline on
every attempt (:mod:`metacot.llm.http`), and a clear error when the server is down or answers
something that is not a chat completion.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from metacot.errors import BadResponseError, InvalidArgumentError, SamplerError, ServerUnavailableError
from metacot.llm.http import DeadlineClient
from metacot.llm.protocol import ChatRequest, check_requests, reply_content, snippet

__all__ = ["TRANSIENT_STATUS", "OpenAISampler"]

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
        Total deadline of one attempt, in seconds: connecting, sending, waiting and reading the
        whole reply must all fit in it, however the server paces its bytes. A call therefore
        returns or raises within about ``(retries + 1) * timeout`` plus the backoff sleeps.
    retries : int
        Extra attempts after a transient failure.
    backoff : float
        First retry delay in seconds; doubles on each retry.

    Examples
    --------
    >>> from metacot.llm.protocol import chat
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
    def _http(self) -> DeadlineClient:
        with self._client_lock:
            if self._client is None:
                headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
                # One pool sized to the concurrency: connections are reused across requests.
                self._client = DeadlineClient(self.concurrency, headers)
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
        url = f"{self.base_url}{path}"
        client = self._http()
        errors = client.exceptions
        last = ""
        attempts = self.retries + 1
        for attempt in range(attempts):
            if attempt:
                # Full jitter keeps many clients that failed together from retrying together.
                time.sleep(self.backoff * 2 ** (attempt - 1) * (0.5 + random.random() / 2))
            try:
                with self._slots:  # waiting for a slot is not part of the request's deadline
                    resp = client.request(method, url, payload, timeout=self.timeout)
            except errors.TimeoutException:
                last = f"no complete reply within {self.timeout:g} s"
                continue
            except (errors.NetworkError, errors.ProtocolError) as e:
                last = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
                continue
            if resp.status in TRANSIENT_STATUS:
                last = f"HTTP {resp.status}: {snippet(resp.text)}"
                continue
            if resp.status >= 400:
                raise SamplerError(f"{method} {url} was refused with HTTP {resp.status}: {snippet(resp.text)}")
            try:
                return resp.json()
            except ValueError:
                raise BadResponseError(
                    f"{method} {url} answered HTTP {resp.status} with a body that is not JSON: {snippet(resp.text)}"
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
        (request,) = check_requests([request])
        reply = self._request("POST", "/chat/completions", self._payload(request))
        return reply_content(reply, f"the model server at {self.base_url}/chat/completions")

    def complete_batch(self, requests: Sequence[ChatRequest]) -> list[str]:
        """Replies in order, with up to ``concurrency`` requests in flight.

        Examples
        --------
        >>> OpenAISampler("http://127.0.0.1:8000", "m").complete_batch([])
        []
        """
        reqs = check_requests(requests)
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
                f"{self.base_url}/models answered without a 'data' list of models: {snippet(reply)}"
            ) from None

    def describe(self) -> dict[str, Any]:
        """``kind``, ``model``, ``base_url`` and ``concurrency`` (never the API key)."""
        return {"kind": "openai", "model": self.model, "base_url": self.base_url, "concurrency": self.concurrency}

    def __repr__(self) -> str:
        return f"OpenAISampler({self.base_url!r}, {self.model!r}, concurrency={self.concurrency})"
