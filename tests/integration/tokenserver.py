"""A small token server for registry auth tests: Docker's token protocol on loopback.

It answers ``GET /token?service=…&scope=repository:NAME:ACTIONS`` for one user (Basic auth) with
an RS256 JWT that distribution's ``auth.token`` verifies: signed by a throwaway key whose
self-signed certificate is the registry's ``rootcertbundle``, the key named by its libtrust key id.
Signing uses the ``openssl`` command, so the tests need no crypto package.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

ISSUER = "bake-test-issuer"
SERVICE = "bake-test-registry"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_key(directory: Path) -> tuple[Path, Path, str]:
    """(private key, self-signed certificate, libtrust key id) in ``directory``."""
    key, cert = directory / "token.key", directory / "token.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=bake-test-token"], check=True, capture_output=True)
    der = subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    # libtrust's key id: base32 of the first 240 bits of sha256(SubjectPublicKeyInfo), in groups of 4
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return key, cert, ":".join(b32[i:i + 4] for i in range(0, len(b32), 4))


class TokenServer:
    def __init__(self, key: Path, kid: str, user: str, password: str) -> None:
        self.key, self.kid = key, kid
        self.credentials = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.requests: list[tuple[str, bool]] = []  # (scope, authenticated)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlparse(self.path).query)
                scope = query.get("scope", [""])[0]
                ok = self.headers.get("Authorization") == server.credentials
                server.requests.append((scope, ok))
                if not ok or query.get("service", [""])[0] != SERVICE:
                    self.send_response(401)
                    self.end_headers()
                    return
                body = json.dumps({"token": server.token(scope)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                """Quiet: the tests check answers, not access logs."""

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self.httpd.server_address[1]}/token"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def token(self, scope: str) -> str:
        access = []
        if scope:
            kind, name, actions = scope.split(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid}
        claims = {"iss": ISSUER, "sub": "tester", "aud": SERVICE, "exp": now + 300, "nbf": now - 10, "iat": now,
                  "jti": uuid.uuid4().hex, "access": access}
        signing_input = _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)], input=signing_input.encode(),
                                   check=True, capture_output=True).stdout
        return signing_input + "." + _b64url(signature)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
