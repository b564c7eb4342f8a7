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
* :mod:`metacot.synth.guards` -- rejection of empty, prompt-copying and repeated steps;
* :mod:`metacot.synth.closed_loop` -- the closed structure check: label the written steps, refit
  the graph, compare it with the driving graph and with a teacher's split-half noise;
* :mod:`metacot.synth.curate` -- answer checks, de-duplication and benchmark decontamination, with counts;
* :mod:`metacot.synth.export` -- chat-format SFT JSONL (schema, reader) and the dataset card.

Importing this package loads neither llama.cpp nor httpcore; they are imported on first use, and a
missing one raises :class:`~metacot.errors.MissingDependencyError` naming the ``llm`` extra.

Examples
--------
>>> from metacot import synth
>>> synth.ChatRequest([{"role": "user", "content": "hi"}]).max_tokens
256
>>> sorted(synth.__all__)[:3]
['ChatRequest', 'ClosedLoopReport', 'Conditioning']
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
# The functions closed_loop and curate share their modules' names, so only the modules are attributes here.
_NAMES.update({
    "ClosedLoopReport": "metacot.synth.closed_loop",
    "CurationReport": "metacot.synth.curate",
    "SFT_SCHEMA": "metacot.synth.export",
    "dataset_card": "metacot.synth.export",
    "export_run": "metacot.synth.export",
    "read_sft": "metacot.synth.export",
    "Conditioning": "metacot.synth.conditioning",
    "PRESETS": "metacot.synth.conditioning",
    "ExampleBank": "metacot.synth.fewshot",
    "GuardCounts": "metacot.synth.guards",
    "SteeredLlamaSampler": "metacot.synth.steering",
    "SteeredRequest": "metacot.synth.steering",
})
_MODULES = ["answers", "cli", "closed_loop", "conditioning", "curate", "export", "fewshot", "guards", "prompts",
            "steering", "walk"]
__getattr__, __dir__ = attach(__name__, globals(), modules=_MODULES, names=_NAMES)

__all__ = [
    "PRESETS",
    "SFT_SCHEMA",
    "ChatRequest",
    "ClosedLoopReport",
    "Conditioning",
    "CurationReport",
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
    "dataset_card",
    "default_gguf",
    "export_run",
    "extract_boxed",
    "molesyn",
    "read_sft",
]
