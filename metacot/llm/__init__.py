"""Language-model samplers: chat messages in, text out.

:class:`Sampler` is the protocol; :class:`LlamaCppSampler` runs llama.cpp in process (the packaged
SmolLM2-135M-Instruct by default), :class:`OpenAISampler` talks to any OpenAI-compatible server and
:class:`ScriptedSampler` replays canned replies for tests. Labellers, trace transformations and
MoLE-Syn all draw text through this one protocol. Neither llama.cpp nor httpcore loads until used.
Modules: ``protocol`` (request, protocol, scripted sampler), ``llamacpp``, ``openai_server``,
``http`` (a total deadline per request) and ``samplers`` (all the names, one path).
"""

from metacot._lazy import attach

_MODULES = {m: f"metacot.llm.{m}" for m in ("http", "llamacpp", "openai_server", "protocol", "samplers")}
_NAMES = {
    "ChatRequest": "metacot.llm.protocol",
    "LlamaCppSampler": "metacot.llm.llamacpp",
    "OpenAISampler": "metacot.llm.openai_server",
    "Sampler": "metacot.llm.protocol",
    "ScriptedSampler": "metacot.llm.protocol",
    "chat": "metacot.llm.protocol",
    "default_gguf": "metacot.llm.llamacpp",
}

__getattr__, __dir__ = attach(__name__, globals(), modules=_MODULES, names=_NAMES)
__all__ = sorted([*_MODULES, *_NAMES])
