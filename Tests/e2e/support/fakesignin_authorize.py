"""A loopback AWS Sign-In for `stscache login` of an `aws login` profile: the browser's part
(``GET /v1/authorize``, not in the service model) and ``CreateOAuth2Token`` (``POST /v1/token``,
botocore ``data/signin/2023-01-01``, rest-json) for the authorization_code grant, plus the
refresh_token grant so the session it issues can be refreshed.

What it checks, as the real service would:

- authorize: ``response_type=code``, one of the two CLI client ids, ``scope=openid``,
  ``code_challenge_method=SHA-256`` (the CLI's name for S256), a 43-character base64url
  challenge, a state, and a ``redirect_uri`` that is the loopback ``/oauth/callback`` on some
  port (same device) or this service's ``/v1/sessions/confirmation`` (cross device). It answers
  302 to that redirect with a one-time code and the state (``state_override`` replaces the
  state, for the forged-redirect test). The confirmation page shows what the user pastes:
  base64 of ``state=...&code=...``.
- token (authorization_code): the code once, for the client and ``redirectUri`` it was issued
  for, with a ``codeVerifier`` whose S256 is the challenge (RFC 7636 §4.6).
- every token call: a ``DPoP`` header (RFC 9449): an ES256 JWT whose header is
  ``{"typ":"dpop+jwt","alg":"ES256","jwk":{EC P-256}}``, signed by that key (r||s), with
  ``htm`` POST, ``htu`` this request's URL, ``iat`` within five minutes and a ``jti`` never seen
  before. The session is bound to the key's thumbprint: a refresh must prove the same key, and
  each refresh token works once.

Credentials come from ``issue()``: by default made-up values shaped like AWS's; e2e tests hand in
a function that returns a moto session of an IAM user, so the AWS CLI can use them against moto
with signature checking on. The id token's ``sub`` is ``identity_arn``.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import secrets
import socketserver
import string
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

SAME_DEVICE = "arn:aws:signin:::devtools/same-device"
CROSS_DEVICE = "arn:aws:signin:::devtools/cross-device"
TOKEN_INPUT_MEMBERS = {"clientId", "grantType", "code", "redirectUri", "codeVerifier", "refreshToken"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def s256(verifier: str) -> str:
    return b64url(hashlib.sha256(verifier.encode()).digest())


def made_up_credentials() -> dict:
    upper = string.ascii_uppercase + string.digits
    return {
        "accessKeyId": "ASIA" + "".join(secrets.choice(upper) for _ in range(16)),
        "secretAccessKey": secrets.token_urlsafe(30)[:40],
        "sessionToken": secrets.token_urlsafe(120),
    }


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body or b"{}")


class ProofError(Exception):
    pass


@dataclass
class FakeSignIn:
    identity_arn: str = "arn:aws:iam::123456789012:user/alice"
    issue: Callable[[], dict] = made_up_credentials
    expires_in: int = 900
    # Replaces the state in the redirect (a forged or stale redirect).
    state_override: str | None = None
    seen: list[Seen] = field(default_factory=list)
    # code -> {"client", "challenge", "redirect_uri", "state"}; each used once.
    codes: dict[str, dict] = field(default_factory=dict)
    # refresh token -> {"client", "thumbprint"}; each used once.
    refresh_tokens: dict[str, dict] = field(default_factory=dict)
    jtis: set[str] = field(default_factory=set)
    # What each refused proof was refused for, in order.
    proof_refusals: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL_SIGNIN": self.endpoint}

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def calls(self, name: str) -> list[Seen]:
        paths = {"Authorize": "/v1/authorize", "CreateOAuth2Token": "/v1/token", "Confirmation": "/v1/sessions/confirmation"}
        return [seen for seen in self.seen if seen.path == paths[name]]

    # -- HTTP ----------------------------------------------------------------------------------

    def _handle(self, request: http.server.BaseHTTPRequestHandler, method: str) -> None:
        parts = urllib.parse.urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        seen = Seen(method, parts.path, urllib.parse.parse_qs(parts.query, keep_blank_values=True),
                    {k.lower(): v for k, v in request.headers.items()}, body)
        with self._lock:
            self.seen.append(seen)
            if method == "GET" and parts.path == "/v1/authorize":
                status, headers, payload = self._authorize(seen)
            elif method == "GET" and parts.path == "/v1/sessions/confirmation":
                status, headers, payload = self._confirmation(seen)
            elif method == "POST" and parts.path == "/v1/token":
                status, headers, payload = self._token(seen, f"{self.endpoint}{parts.path}")
            else:
                status, headers, payload = 404, {}, b"not found"
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    @staticmethod
    def _error(status: int, kind: str, message: str, oauth_error: str | None = None):
        body = {"message": message}
        if oauth_error:
            body["error"] = oauth_error
        return status, {"Content-Type": "application/json", "x-amzn-ErrorType": kind}, json.dumps(body).encode()

    def _authorize(self, seen: Seen):
        def one(name: str) -> str | None:
            values = seen.query.get(name, [])
            return values[0] if len(values) == 1 else None

        client, redirect, challenge, state = one("client_id"), one("redirect_uri"), one("code_challenge"), one("state")
        confirmation = f"{self.endpoint}/v1/sessions/confirmation"
        if one("response_type") != "code" or one("scope") != "openid" or one("code_challenge_method") != "SHA-256" \
                or client not in (SAME_DEVICE, CROSS_DEVICE) or not state \
                or not challenge or len(challenge) != 43 or not all(c.isalnum() or c in "-_" for c in challenge):
            return 400, {"Content-Type": "text/plain"}, b"bad authorize request"
        if client == SAME_DEVICE:
            target = urllib.parse.urlsplit(redirect or "")
            if target.scheme != "http" or target.hostname != "127.0.0.1" or not target.port \
                    or target.path != "/oauth/callback" or target.query:
                return 400, {"Content-Type": "text/plain"}, b"bad redirect_uri"
        elif redirect != confirmation:
            return 400, {"Content-Type": "text/plain"}, b"bad redirect_uri"
        code = "code-" + secrets.token_urlsafe(24)
        self.codes[code] = {"client": client, "challenge": challenge, "redirect_uri": redirect, "state": state}
        query = urllib.parse.urlencode({"code": code, "state": self.state_override or state})
        return 302, {"Location": f"{redirect}?{query}"}, b""

    def _confirmation(self, seen: Seen):
        code, state = seen.query.get("code", [""])[0], seen.query.get("state", [""])[0]
        pasted = base64.b64encode(urllib.parse.urlencode({"state": state, "code": code}).encode()).decode()
        page = f"<html><body><p>Your verification code:</p><pre id=\"code\">{pasted}</pre></body></html>"
        return 200, {"Content-Type": "text/html"}, page.encode()

    def verification_code(self, page: str) -> str:
        return page.split('<pre id="code">', 1)[1].split("</pre>", 1)[0]

    def _check_proof(self, proof: str | None, url: str) -> str:
        """The proof's key thumbprint (RFC 7638), or ProofError."""
        if not proof:
            raise ProofError("no DPoP header")
        try:
            header_b64, payload_b64, signature_b64 = proof.split(".")
            header = json.loads(b64url_decode(header_b64))
            payload = json.loads(b64url_decode(payload_b64))
            signature = b64url_decode(signature_b64)
        except ValueError as error:
            raise ProofError(f"not a JWT: {error}")
        jwk = header.get("jwk") or {}
        if header.get("typ") != "dpop+jwt" or header.get("alg") != "ES256" or jwk.get("kty") != "EC" \
                or jwk.get("crv") != "P-256" or set(header) != {"typ", "alg", "jwk"}:
            raise ProofError(f"bad header {header}")
        x, y = b64url_decode(jwk["x"]), b64url_decode(jwk["y"])
        if len(x) != 32 or len(y) != 32 or len(signature) != 64:
            raise ProofError("bad key or signature length")
        key = ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()).public_key()
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        try:
            key.verify(der, f"{header_b64}.{payload_b64}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise ProofError("bad signature")
        if payload.get("htm") != "POST" or payload.get("htu") != url:
            raise ProofError(f"htm/htu {payload.get('htm')} {payload.get('htu')} != POST {url}")
        if not isinstance(payload.get("iat"), int) or abs(payload["iat"] - time.time()) > 300:
            raise ProofError("iat out of range")
        jti = payload.get("jti")
        if not isinstance(jti, str) or not jti or jti in self.jtis:
            raise ProofError("jti missing or reused")
        self.jtis.add(jti)
        thumb_input = json.dumps({"crv": "P-256", "kty": "EC", "x": jwk["x"], "y": jwk["y"]}, separators=(",", ":"))
        return b64url(hashlib.sha256(thumb_input.encode()).digest())

    def _token(self, seen: Seen, url: str):
        try:
            body = seen.json()
        except ValueError:
            return self._error(400, "ValidationException", "body is not JSON")
        if not isinstance(body, dict) or not set(body) <= TOKEN_INPUT_MEMBERS or "clientId" not in body \
                or "grantType" not in body:
            return self._error(400, "ValidationException", f"bad tokenInput {sorted(body)}")
        try:
            thumbprint = self._check_proof(seen.headers.get("dpop"), url)
        except ProofError as error:
            self.proof_refusals.append(str(error))
            return self._error(400, "ValidationException", f"invalid DPoP proof: {error}")
        if body["grantType"] == "authorization_code":
            grant = self.codes.pop(body.get("code", ""), None)
            if grant is None:
                return self._error(400, "AccessDeniedException", "unknown or used code", "AUTHCODE_EXPIRED")
            if grant["client"] != body["clientId"] or grant["redirect_uri"] != body.get("redirectUri") \
                    or s256(body.get("codeVerifier", "")) != grant["challenge"]:
                return self._error(400, "AccessDeniedException", "code, client, redirect or verifier mismatch",
                                   "INVALID_REQUEST")
            client = body["clientId"]
        elif body["grantType"] == "refresh_token":
            session = self.refresh_tokens.pop(body.get("refreshToken", ""), None)
            if session is None or session["client"] != body["clientId"] or session["thumbprint"] != thumbprint:
                return self._error(400, "AccessDeniedException", "refresh token unknown, used or not this key's",
                                   "TOKEN_EXPIRED")
            client = body["clientId"]
        else:
            return self._error(400, "ValidationException", "unsupported grant")
        refresh = "rt-" + secrets.token_urlsafe(32)
        self.refresh_tokens[refresh] = {"client": client, "thumbprint": thumbprint}
        output = {"accessToken": self.issue(), "tokenType": "aws_sigv4", "expiresIn": self.expires_in,
                  "refreshToken": refresh}
        if body["grantType"] == "authorization_code":
            claims = {"sub": self.identity_arn, "aud": client, "iat": int(time.time()), "exp": int(time.time()) + 900}
            output["idToken"] = ".".join([b64url(b'{"alg":"ES256","typ":"JWT"}'), b64url(json.dumps(claims).encode()),
                                          b64url(secrets.token_bytes(64))])
        return 200, {"Content-Type": "application/json"}, json.dumps(output).encode()
