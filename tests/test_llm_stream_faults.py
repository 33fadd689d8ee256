"""A stream that stalls or breaks after its first tokens ends in one typed line, not an httpx traceback.

A real HTTP server on loopback sends the SSE headers and one token, then stalls (or closes the socket): the
only way to make vLLM do that on demand."""

from __future__ import annotations

import gc
import http.server
import json
import threading
import time

import pytest

from generation.llm import LLMClient, LLMUnavailable
from ground.config import LLMConfig

CHUNK = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
         "choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": None}]}


def serve(behaviour: str, abandoned: threading.Event | None = None):
    """A server whose answer streams one token, then stalls, drops the connection, or ("endless") goes on
    sending tokens until the client has closed the connection (then ``abandoned`` is set)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # /v1/models
            body = json.dumps({"data": [{"id": "m", "max_model_len": 2048}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(f"data: {json.dumps(CHUNK)}\n\n".encode())
            self.wfile.flush()
            if behaviour == "stall":
                time.sleep(3)
            elif behaviour == "endless":
                self._until_abandoned()
            else:  # "drop": close the connection before the last chunk (no finish_reason, no [DONE])
                self.connection.shutdown(2)

        def _until_abandoned(self):
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                time.sleep(0.05)
                try:
                    self.wfile.write(f"data: {json.dumps(CHUNK)}\n\n".encode())
                    self.wfile.flush()
                except OSError:  # the client closed the connection: a real server would stop generating here
                    abandoned.set()
                    return

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.parametrize("behaviour, message", [("stall", "stopped sending"), ("drop", "closed the answer stream")])
def test_a_stream_that_stalls_or_breaks_is_one_line(behaviour, message):
    server = serve(behaviour)
    try:
        client = LLMClient(LLMConfig(base_url=f"http://127.0.0.1:{server.server_port}/v1", timeout_s=1, max_retries=0))
        received = []
        with pytest.raises(LLMUnavailable, match=message):
            for piece in client.stream([{"role": "user", "content": "hi"}]):
                received.append(piece)
        assert received == ["Hello"]  # what arrived before the fault was delivered
    finally:
        server.shutdown()


def test_a_stream_its_reader_stops_reading_is_closed_at_once():
    """The chat's Stop closes the answer's generator; the HTTP response must close with it, not only at the
    next full garbage collection (the SDK's Stream sits in a reference cycle), or the server goes on generating
    for nobody and keeps a slot the next question needs."""
    abandoned = threading.Event()
    server = serve("endless", abandoned)
    gc.disable()  # what closes the connection must be the generator's close, not the collector
    try:
        client = LLMClient(LLMConfig(base_url=f"http://127.0.0.1:{server.server_port}/v1", max_retries=0))
        pieces = client.stream([{"role": "user", "content": "hi"}])
        assert next(pieces) == "Hello"
        pieces.close()
        assert abandoned.wait(10), "the server kept streaming to a reader that had stopped"
    finally:
        gc.enable()
        server.shutdown()
