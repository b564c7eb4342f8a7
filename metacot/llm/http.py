"""HTTP with a total deadline per request, for the model-server sampler.

A per-operation timeout (what ``httpx`` and ``httpcore`` give) does not bound a request: a server
that sends its headers and then one byte every second resets the read timeout with each byte and
can hold a request open for ever. :class:`DeadlineClient` gives every request one *total*
deadline, from the moment it is sent to the last byte of the reply, connection and TLS set-up
included.

How: the connection pool (``httpcore.ConnectionPool``, the engine under ``httpx``) is given a
network backend whose every socket operation -- connect, TLS handshake, each write and each
read -- waits at most the time left before the calling thread's deadline. A request runs in one
thread from start to end, so the deadline is thread-local and pooled connections can be shared
between threads. When no time is left the operation raises ``httpcore``'s own timeout exception
at once. Environment proxy settings are not used.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from metacot.errors import MissingDependencyError
from metacot.llm.protocol import LLM_EXTRA

__all__ = ["DeadlineClient", "HttpReply", "import_httpcore"]


def import_httpcore() -> Any:
    """The ``httpcore`` module (installed with ``httpx``), or a MissingDependencyError naming the extra."""
    try:
        import httpcore
    except ImportError as e:
        raise MissingDependencyError(f"OpenAISampler needs httpx and httpcore ({e}): {LLM_EXTRA}") from None
    return httpcore


@dataclass(frozen=True)
class HttpReply:
    """A complete HTTP reply: status code and body bytes."""

    status: int
    body: bytes

    @property
    def text(self) -> str:
        """The body as text (undecodable bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body decoded as JSON; ``ValueError`` (``JSONDecodeError``) if it is not JSON."""
        return json.loads(self.body)


def _backend_classes(httpcore: Any) -> tuple[type, type]:
    class DeadlineStream(httpcore.NetworkStream):
        def __init__(self, inner: Any, clock: Any) -> None:
            self._inner, self._clock = inner, clock

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            return self._inner.read(max_bytes, self._clock.cap(timeout, httpcore.ReadTimeout))

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            self._inner.write(buffer, self._clock.cap(timeout, httpcore.WriteTimeout))

        def close(self) -> None:
            self._inner.close()

        def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> Any:
            inner = self._inner.start_tls(ssl_context, server_hostname, self._clock.cap(timeout, httpcore.ConnectTimeout))
            return DeadlineStream(inner, self._clock)

        def get_extra_info(self, info: str) -> Any:
            return self._inner.get_extra_info(info)

    class DeadlineBackend(httpcore.NetworkBackend):
        def __init__(self, clock: Any) -> None:
            self._inner, self._clock = httpcore.SyncBackend(), clock

        def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                        socket_options: Any = None) -> Any:
            t = self._clock.cap(timeout, httpcore.ConnectTimeout)
            return DeadlineStream(self._inner.connect_tcp(host, port, t, local_address, socket_options), self._clock)

        def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> Any:
            t = self._clock.cap(timeout, httpcore.ConnectTimeout)
            return DeadlineStream(self._inner.connect_unix_socket(path, t, socket_options), self._clock)

        def sleep(self, seconds: float) -> None:
            self._inner.sleep(seconds)

    return DeadlineStream, DeadlineBackend


class _Clock(threading.local):
    """The calling thread's deadline (``time.monotonic()`` value), or ``None``."""

    deadline: float | None = None

    def cap(self, timeout: float | None, expired: type[Exception]) -> float | None:
        if self.deadline is None:
            return timeout
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise expired("the request's total deadline has passed")
        return left if timeout is None else min(timeout, left)


class DeadlineClient:
    """A pool of HTTP/1.1 connections whose every request has a total deadline.

    Parameters
    ----------
    max_connections : int
        Pool size (connections are kept alive and reused).
    headers : dict of str, optional
        Sent with every request.

    Raises (from :meth:`request`)
    ------
    httpcore.TimeoutException
        The deadline passed (or one operation's own timeout did).
    httpcore.NetworkError, httpcore.ProtocolError
        The connection failed or the server broke the protocol.
    """

    def __init__(self, max_connections: int, headers: dict[str, str] | None = None) -> None:
        self._httpcore = import_httpcore()
        self._clock = _Clock()
        _, backend = _backend_classes(self._httpcore)
        self._pool = self._httpcore.ConnectionPool(
            max_connections=max_connections, max_keepalive_connections=max_connections, network_backend=backend(self._clock)
        )
        self._headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]

    @property
    def exceptions(self) -> Any:
        """The ``httpcore`` module, whose exception classes :meth:`request` raises."""
        return self._httpcore

    def request(self, method: str, url: str, payload: Any = None, *, timeout: float) -> HttpReply:
        """Send one request and read the whole reply within ``timeout`` seconds in total."""
        headers = [*self._headers, (b"Accept", b"application/json")]
        content = b""
        if payload is not None:
            content = json.dumps(payload).encode("utf-8")
            headers.append((b"Content-Type", b"application/json"))
        self._clock.deadline = time.monotonic() + timeout
        try:
            per_op = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
            resp = self._pool.request(method, url, headers=headers, content=content, extensions={"timeout": per_op})
            return HttpReply(resp.status, resp.content)
        finally:
            self._clock.deadline = None

    def close(self) -> None:
        """Close every pooled connection."""
        self._pool.close()
