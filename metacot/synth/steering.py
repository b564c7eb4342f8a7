r"""Requests that steer the model beyond chat messages: a forced reply opening and a repetition penalty.

:class:`SteeredRequest` is a :class:`~metacot.llm.protocol.ChatRequest` with two more settings:

* ``prefill`` -- text the model's reply must start with. The model is given the chat, its
  assistant turn opened (the chat template's generation prompt), and ``prefill`` as the first
  words of that turn; it continues from there. The sampler returns the continuation only.
* ``repeat_penalty`` -- llama.cpp's repetition penalty (CTRL, Keskar et al., 2019): the logit of
  every token among the last 64 generated is divided by the penalty if positive and multiplied
  by it if negative; 1 is off.

A sampler that honours these says so with a true ``steerable`` attribute.
:class:`SteeredLlamaSampler` (the embedded llama.cpp model) does: it renders the GGUF's own chat
template with :class:`llama_cpp.llama_chat_format.Jinja2ChatFormatter`, appends the opening and
runs a raw completion. Samplers without the attribute would silently drop both settings, so
:func:`metacot.synth.molesyn.molesyn` refuses to send them such requests.

An OpenAI-compatible server can do the same (vLLM: ``continue_final_message=True``,
``add_generation_prompt=False`` and ``repetition_penalty``), but :class:`~metacot.llm.samplers.OpenAISampler`
does not send those fields yet.

Examples
--------
>>> r = SteeredRequest([{"role": "user", "content": "2+2?"}], prefill="Wait, ", repeat_penalty=1.1)
>>> r.prefill, r.repeat_penalty, r.max_tokens
('Wait, ', 1.1, 256)
>>> from metacot.llm.protocol import ScriptedSampler
>>> supports_steering(ScriptedSampler(["x"])), supports_steering(SteeredLlamaSampler)
(False, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from metacot.errors import InvalidArgumentError, SamplerError
from metacot.llm.llamacpp import LlamaCppSampler
from metacot.llm.protocol import ChatRequest, check_requests

__all__ = ["SteeredLlamaSampler", "SteeredRequest", "supports_steering"]


@dataclass(frozen=True)
class SteeredRequest(ChatRequest):
    """A chat request with a forced reply opening and a repetition penalty.

    Parameters
    ----------
    messages, temperature, max_tokens, stop, seed
        As in :class:`~metacot.llm.protocol.ChatRequest`.
    prefill : str
        Start of the reply, continued by the model (``""``: none).
    repeat_penalty : float
        Repetition penalty, ``> 0``; 1 is off.
    """

    prefill: str = ""
    repeat_penalty: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.prefill, str):
            raise InvalidArgumentError(f"prefill must be a str, got {type(self.prefill).__name__}")
        rp = self.repeat_penalty
        if isinstance(rp, bool) or not isinstance(rp, (int, float)) or not rp > 0:
            raise InvalidArgumentError(f"repeat_penalty must be a number > 0, got {rp!r}")

    @property
    def steered(self) -> bool:
        """Whether the request needs a steerable sampler (an opening or a penalty other than 1)."""
        return bool(self.prefill) or self.repeat_penalty != 1.0


def supports_steering(sampler: Any) -> bool:
    """Whether ``sampler`` (or sampler class) honours :class:`SteeredRequest`'s extra settings."""
    return getattr(sampler, "steerable", False) is True


class SteeredLlamaSampler(LlamaCppSampler):
    """:class:`~metacot.llm.llamacpp.LlamaCppSampler` that honours :class:`SteeredRequest`.

    A plain :class:`~metacot.llm.protocol.ChatRequest`, or a steered one with no opening and no
    penalty, goes through the parent's chat completion unchanged, so this sampler gives the same
    replies as the parent wherever the parent applies. Constructor arguments are the parent's.

    Examples
    --------
    >>> s = SteeredLlamaSampler(n_ctx=1024, n_threads=1)  # doctest: +SKIP
    >>> s.complete(SteeredRequest([{"role": "user", "content": "2+2?"}], prefill="Wait,",
    ...                           max_tokens=8, seed=0))  # doctest: +SKIP
    ' 2+2 is 4.'
    """

    steerable = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._formatter: Any = None

    def _render(self, llm: Any, messages: list[dict[str, str]]) -> tuple[str, str]:
        """The prompt text up to the open assistant turn, and the end-of-turn token."""
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            template = llm.metadata.get("tokenizer.chat_template")
            if not template:
                raise SamplerError(f"{self.model_path.name} has no chat template; a forced opening needs one")
            eos = llm.detokenize([llm.token_eos()], special=True).decode("utf-8", "replace")
            bos = llm.detokenize([llm.token_bos()], special=True).decode("utf-8", "replace") if llm.token_bos() != -1 else ""
            self._formatter = (Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos), eos)
        formatter, eos = self._formatter
        return formatter(messages=messages).prompt, eos

    def complete(self, request: ChatRequest) -> str:
        """Generate one reply; for a :class:`SteeredRequest` with an opening, its continuation."""
        (request,) = check_requests([request])
        if not isinstance(request, SteeredRequest) or not request.steered:
            return super().complete(request)
        with self._lock:
            llm = self._model()
            if not self.reuse_prefix:
                llm.reset()
            prompt, eos = self._render(llm, [dict(m) for m in request.messages])
            tokens = llm.tokenize((prompt + request.prefill).encode("utf-8"), add_bos=False, special=True)
            try:
                out = llm.create_completion(
                    prompt=tokens,
                    temperature=float(request.temperature),
                    max_tokens=request.max_tokens,
                    stop=[*request.stop, eos],
                    seed=request.seed,
                    repeat_penalty=float(request.repeat_penalty),
                )
            except ValueError as e:
                raise SamplerError(
                    f"llama.cpp ({self.model_path.name}, n_ctx={self.n_ctx}) refused the request: {e}; "
                    "shorten the prompt, lower max_tokens or raise n_ctx"
                ) from None
        try:
            return out["choices"][0]["text"]
        except (KeyError, IndexError, TypeError):
            raise SamplerError(f"llama.cpp ({self.model_path.name}) answered without text: {out!r:.200}") from None

    def describe(self) -> dict[str, Any]:
        """The parent's description, with ``steerable: True``."""
        return {**super().describe(), "steerable": True}
