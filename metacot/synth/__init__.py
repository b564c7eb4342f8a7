"""MoLE-Syn: graph-driven synthesis of long chains of thought with real language models.

* :mod:`metacot.llm.samplers` (re-exported here) -- the :class:`Sampler` protocol (chat messages in, text out) and
  its implementations: :class:`LlamaCppSampler` (embedded llama.cpp, SmolLM2-135M-Instruct by
  default), :class:`OpenAISampler` (any OpenAI-compatible server) and :class:`ScriptedSampler`
  (canned replies for tests);
* :mod:`metacot.synth.prompts` -- one prompt per behaviour, after Chen et al. (2026), *The
  Molecular Structure of Thought*, Appendix E (our wording);
* :mod:`metacot.synth.molesyn` -- :func:`molesyn`, the resumable walk-and-generate driver
  (one trace in the making: :mod:`metacot.synth.walk`; answers: :mod:`metacot.synth.answers`);
* :mod:`metacot.synth.conditioning` -- :class:`Conditioning`, how the behaviour is put to the
  model (few-shot teacher examples from :mod:`metacot.synth.fewshot`, forced openings and
  repetition penalties through :mod:`metacot.synth.steering`, stop sequences, context), with
  measured presets;
* :mod:`metacot.synth.guards` -- rejection of empty, prompt-copying and repeated steps.

Importing this package loads neither llama.cpp nor httpcore; they are imported on first use, and a
missing one raises :class:`~metacot.errors.MissingDependencyError` naming the ``llm`` extra.

Examples
--------
>>> from metacot import synth
>>> synth.ChatRequest([{"role": "user", "content": "hi"}]).max_tokens
256
>>> sorted(synth.__all__)[:3]
['ChatRequest', 'Conditioning', 'ExampleBank']
"""

from __future__ import annotations

from metacot._lazy import attach

# Imported eagerly: the function ``molesyn`` shares its name with its module, and importing the
# module binds the *module* to ``metacot.synth.molesyn``; importing it here, then binding the
# function, leaves the function in place for good (the module stays in sys.modules).
from metacot.synth.molesyn import SynthResult, check_answer, extract_boxed, molesyn

# The samplers are re-exported from metacot.llm, which owns the one mapping of their modules.
_SAMPLERS = ("ChatRequest", "LlamaCppSampler", "OpenAISampler", "Sampler", "ScriptedSampler", "chat", "default_gguf")
_NAMES = dict.fromkeys(_SAMPLERS, "metacot.llm")
_NAMES.update({
    "Conditioning": "metacot.synth.conditioning",
    "PRESETS": "metacot.synth.conditioning",
    "ExampleBank": "metacot.synth.fewshot",
    "GuardCounts": "metacot.synth.guards",
    "SteeredLlamaSampler": "metacot.synth.steering",
    "SteeredRequest": "metacot.synth.steering",
})
_MODULES = ["answers", "cli", "conditioning", "fewshot", "guards", "prompts", "steering", "walk"]
__getattr__, __dir__ = attach(__name__, globals(), modules=_MODULES, names=_NAMES)

__all__ = [
    "PRESETS",
    "ChatRequest",
    "Conditioning",
    "ExampleBank",
    "GuardCounts",
    "LlamaCppSampler",
    "OpenAISampler",
    "Sampler",
    "ScriptedSampler",
    "SteeredLlamaSampler",
    "SteeredRequest",
    "SynthResult",
    "chat",
    "check_answer",
    "default_gguf",
    "extract_boxed",
    "molesyn",
]
