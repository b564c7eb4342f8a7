"""Issue 14 item 2: ``--timeout`` bounds a whole request, not each socket read.

A real HTTP server on 127.0.0.1 sends a valid chat completion one byte at a time (after its
headers, or with the headers themselves dripped). Each byte comes well within the timeout, so a
per-read timeout never fires; the drip is finite (the server stops by itself), so without a
total deadline the client would get the complete, valid reply and return its text. With the
deadline it must give up with ServerUnavailableError before the reply is complete. The oracle
is the outcome (an error instead of the text), not a wall-clock measurement.
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time

import pytest

from metacot.errors import ServerUnavailableError
from metacot.llm.openai_server import OpenAISampler
from metacot.llm.protocol import chat

REPLY = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": "\\boxed{4}"}}]}).encode()
GAP = 0.25  # seconds between bytes: far below the client timeout of 1 s


class DrippingServer:
    """Answers every request with REPLY, one byte every GAP seconds; ``headers_too`` drips the headers as well."""

    def __init__(self, headers_too: bool, max_bytes: int):
        self.headers_too, self.max_bytes = headers_too, max_bytes
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.stop = threading.Event()
        self.served = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn):
        with conn:
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:  # read the request head, then its body
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length")), 0)
            while len(body) < length:
                body += conn.recv(65536)
            self.served += 1
            headers = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       b"Content-Length: " + str(len(REPLY)).encode() + b"\r\nConnection: close\r\n\r\n")
            try:
                if not self.headers_too:
                    conn.sendall(headers)
                drip = (headers if self.headers_too else b"") + REPLY
                for k, byte in enumerate(drip):
                    if k >= self.max_bytes or self.stop.is_set():
                        conn.sendall(drip[k:])  # the rest at once: the drip is bounded
                        return
                    conn.sendall(bytes([byte]))
                    time.sleep(GAP)
            except OSError:  # the client gave up and closed the connection
                return

    def close(self):
        self.stop.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture
def dripping():
    servers = []

    def make(headers_too=False, max_bytes=24):
        s = DrippingServer(headers_too, max_bytes)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


def test_the_server_really_answers_when_given_time(dripping):
    # The control: with a timeout longer than the whole drip the same server's reply is read.
    srv = dripping(max_bytes=6)
    with OpenAISampler(srv.url, "m", timeout=30, retries=0) as s:
        assert s.complete(chat("", "2+2?")) == "\\boxed{4}"


@pytest.mark.parametrize("headers_too", [False, True], ids=["body-dripped", "headers-dripped"])
def test_a_dripping_server_trips_the_total_deadline(dripping, headers_too):
    srv = dripping(headers_too=headers_too, max_bytes=24)  # 24 bytes x 0.25 s = 6 s > timeout 1 s
    with OpenAISampler(srv.url, "m", timeout=1.0, retries=1, backoff=0.05) as s:
        with pytest.raises(ServerUnavailableError, match=r"after 2 attempt\(s\): no complete reply within 1 s"):
            s.complete(chat("", "2+2?"))
    assert srv.served == 2  # each attempt reached the server and was cut off by the deadline


def test_metacot_synth_timeout_bounds_each_request(dripping, tmp_path):
    from metacot.synth.cli import register

    srv = dripping(max_bytes=24)
    problems = tmp_path / "p.jsonl"
    problems.write_text(json.dumps({"id": 1, "problem": "2+2?", "answer": "4"}) + "\n")
    parser = argparse.ArgumentParser(prog="metacot")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["synth", str(problems), "-o", str(tmp_path / "o.jsonl"), "--base-url", srv.url,
                              "--model", "m", "--timeout", "1", "--concurrency", "1", "--no-verify", "-q"])
    with pytest.raises(ServerUnavailableError, match="no complete reply within 1 s"):
        args.run(args)
    assert (tmp_path / "o.jsonl").read_bytes() == b""  # nothing half-written

