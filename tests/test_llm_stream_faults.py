"""A stream that stalls or breaks after its first tokens ends in one typed line, not an httpx traceback.

A real HTTP server on loopback sends the SSE headers and one token, then stalls (or closes the socket): the
only way to make vLLM do that on demand."""

from __future__ import annotations

import http.server
import json
import threading
import time

import pytest

from generation.llm import LLMClient, LLMUnavailable
from ground.config import LLMConfig

CHUNK = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
         "choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": None}]}


def serve(behaviour: str):
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
            else:  # "drop": close the connection before the last chunk (no finish_reason, no [DONE])
                self.connection.shutdown(2)

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
