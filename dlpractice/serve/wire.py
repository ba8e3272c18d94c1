"""uvicorn's HTTP/1.1 protocol with the one answer it gives itself in JSON: a request it cannot parse (a
`Content-Length: abc`, a broken request line) gets `400 {"error": ...}` like every other refusal, instead
of uvicorn's plain-text "Invalid HTTP request received."."""
from __future__ import annotations

import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class JsonErrorH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        body = json.dumps({"error": f"malformed HTTP request ({msg.rstrip('.')}); check its request line "
                                    "and headers (e.g. Content-Length must be a number)"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=body),
                      h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()
