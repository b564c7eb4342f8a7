"""Language-model samplers: chat messages in, text out.

:class:`Sampler` is the protocol; :class:`LlamaCppSampler` runs llama.cpp in process (the packaged
SmolLM2-135M-Instruct by default), :class:`OpenAISampler` talks to any OpenAI-compatible server and
:class:`ScriptedSampler` replays canned replies for tests. Labellers, trace transformations and
MoLE-Syn all draw text through this one protocol. Neither llama.cpp nor httpx loads until used.
"""

from metacot._lazy import attach

_MODULES = {"samplers": "metacot.llm.samplers"}
_NAMES = {
    "ChatRequest": "metacot.llm.samplers",
    "LlamaCppSampler": "metacot.llm.samplers",
    "OpenAISampler": "metacot.llm.samplers",
    "Sampler": "metacot.llm.samplers",
    "ScriptedSampler": "metacot.llm.samplers",
    "chat": "metacot.llm.samplers",
    "default_gguf": "metacot.llm.samplers",
}

__getattr__, __dir__ = attach(__name__, globals(), modules=_MODULES, names=_NAMES)
__all__ = sorted([*_MODULES, *_NAMES])
