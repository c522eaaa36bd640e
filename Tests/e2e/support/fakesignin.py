"""A loopback AWS Sign-In: ``CreateOAuth2Token`` as botocore's ``signin`` model describes it
(``data/signin/2023-01-01``: rest-json, ``POST /v1/token``, body = ``tokenInput``, answer =
``tokenOutput``, errors with an OAuth2 ``error`` member), for the ``aws login`` sessions stscache
refreshes (issue 21). moto has no Sign-In.

It checks what the real service must: the DPoP proof (RFC 9449) in the ``DPoP`` header, a compact
ES256 JWS whose header carries the session's own public key (the file's ``dpopKey``) and whose
signature verifies under it; ``htm`` POST, ``htu`` the URL the request went to, ``iat`` within a
minute of now, a ``jti`` never seen before; the ``tokenInput`` members the model has, with the
session's ``clientId`` and ``grantType`` ``refresh_token``; and a refresh token that is the
session's current one. Each refresh token works once: the answer rotates it, so a second
refresh with the old one gets AccessDenied ``TOKEN_EXPIRED`` (as a real second process would).

Credentials come from ``issue()``: the tests hand in a function that asks moto for a session of
an IAM user (GetSessionToken), so moto (signature checking on) accepts them.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import json
import secrets
import socketserver
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

# tokenInput's members in the model; clientId and grantType are required.
TOKEN_INPUT_MEMBERS = {"clientId", "grantType", "code", "redirectUri", "codeVerifier", "refreshToken"}
CLIENT_ID = "arn:aws:signin:::devtools/same-device"


def b64url_decode(text: str) -> bytes:
    if "=" in text or "+" in text or "/" in text:
        raise ValueError("not unpadded base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def new_dpop_key() -> tuple[ec.EllipticCurvePrivateKey, str]:
    """A P-256 key and its SEC1 PEM, as `aws login` makes and stores one."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption()).decode()
    return key, pem


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body or b"{}")


@dataclass
class FakeSignIn:
    issue: Callable[[], dict]
    # Seconds CreateOAuth2Token takes: widens the window in which racing processes would refresh twice.
    delay: float = 0.0
    # The next answers, instead of checking: (status, error type, OAuth2 error).
    scripted: list[tuple[int, str, str]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    issued: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._jtis: set[str] = set()
        self._refresh_token: str | None = None
        self._public: ec.EllipticCurvePublicKey | None = None
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args) -> None:  # noqa: A002 - quiet
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with fake._lock:
                    fake.seen.append(seen)
                if fake.delay:
                    time.sleep(fake.delay)
                status, document, error_type = fake._create_token(seen)
                payload = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                if error_type:
                    self.send_header("x-amzn-ErrorType", error_type)
                self.end_headers()
                self.wfile.write(payload)

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def env(self) -> dict[str, str]:
        """The standard way to point botocore (and stscache) at Sign-In."""
        return {"AWS_ENDPOINT_URL_SIGNIN": self.endpoint}

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def calls(self) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path == "/v1/token"]

    # -- a session ---------------------------------------------------------------------------

    def sign_in(self, directory: Path, session_name: str, expires_in: float, account_id: str,
                extra: dict | None = None) -> Path:
        """What `aws login` leaves: a session file in the CLI's format (json.dumps of botocore's
        members) for ``session_name``, with a new DPoP key and refresh token, credentials from
        ``issue()`` expiring in ``expires_in`` seconds; ``extra`` members as a newer CLI might
        add. Only this session's key and current refresh token are accepted afterwards."""
        import hashlib

        key, pem = new_dpop_key()
        credentials = self.issue()
        refresh = "rt-" + secrets.token_urlsafe(24)
        with self._lock:
            self._public = key.public_key()
            self._refresh_token = refresh
        expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=expires_in)
        token = {
            "accessToken": {**credentials, "accountId": account_id,
                            "expiresAt": expires.strftime("%Y-%m-%dT%H:%M:%SZ")},
            "tokenType": "aws_sigv4", "clientId": CLIENT_ID, "refreshToken": refresh,
            "idToken": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "dpopKey": pem,
        }
        token.update(extra or {})
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
        path = directory / (hashlib.sha256(session_name.encode()).hexdigest() + ".json")
        path.write_text(json.dumps(token))
        path.chmod(0o600)
        return path

    # -- the service -------------------------------------------------------------------------

    def _refuse(self, status: int, error_type: str, error: str, why: str) -> tuple[int, dict, str]:
        with self._lock:
            self.refused.append(why)
        return status, {"error": error, "message": why}, error_type

    def _create_token(self, seen: Seen) -> tuple[int, dict, str | None]:
        if seen.path != "/v1/token":
            return self._refuse(404, "ResourceNotFoundException", "RESOURCE_NOT_FOUND", f"no operation at {seen.path}")
        with self._lock:
            scripted = self.scripted.pop(0) if self.scripted else None
        if scripted:
            status, error_type, error = scripted
            return status, {"error": error, "message": "scripted"}, error_type
        why = self._check_proof(seen)
        if why:
            return self._refuse(400, "ValidationException", "INVALID_REQUEST", why)
        try:
            token_input = seen.json()
        except ValueError:
            return self._refuse(400, "ValidationException", "INVALID_REQUEST", "the body is not JSON")
        if not set(token_input) <= TOKEN_INPUT_MEMBERS:
            return self._refuse(400, "ValidationException", "INVALID_REQUEST",
                                f"unknown members {sorted(set(token_input) - TOKEN_INPUT_MEMBERS)}")
        if token_input.get("clientId") != CLIENT_ID or token_input.get("grantType") != "refresh_token":
            return self._refuse(400, "ValidationException", "INVALID_REQUEST", "wrong clientId or grantType")
        with self._lock:
            if token_input.get("refreshToken") != self._refresh_token:
                current = False
            else:
                current = True
                self._refresh_token = "rt-" + secrets.token_urlsafe(24)
                rotated = self._refresh_token
                self.issued += 1
        if not current:
            return self._refuse(400, "AccessDeniedException", "TOKEN_EXPIRED", "the refresh token is not the current one")
        return 200, {"accessToken": self.issue(), "tokenType": "aws_sigv4", "expiresIn": 900,
                     "refreshToken": rotated}, None

    def _check_proof(self, seen: Seen) -> str | None:
        proof = seen.headers.get("dpop")
        if not proof:
            return "no DPoP header"
        parts = proof.split(".")
        if len(parts) != 3:
            return "the proof is not a compact JWS"
        try:
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            signature = b64url_decode(parts[2])
        except ValueError:
            return "the proof is not base64url JSON"
        if header.get("typ") != "dpop+jwt" or header.get("alg") != "ES256":
            return "the proof's typ or alg is wrong"
        jwk = header.get("jwk") or {}
        if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
            return "the proof's key is not a P-256 JWK"
        try:
            public = ec.EllipticCurvePublicNumbers(int.from_bytes(b64url_decode(jwk["x"]), "big"),
                                                   int.from_bytes(b64url_decode(jwk["y"]), "big"),
                                                   ec.SECP256R1()).public_key()
        except (KeyError, ValueError):
            return "the proof's key is not a point on P-256"
        with self._lock:
            expected = self._public
        if expected is None or public.public_numbers() != expected.public_numbers():
            return "the proof's key is not the session's dpopKey"
        if len(signature) != 64:
            return "the signature is not r || s"
        der = utils.encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        try:
            public.verify(der, f"{parts[0]}.{parts[1]}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return "the proof's signature does not verify"
        if claims.get("htm") != "POST" or claims.get("htu") != f"{self.endpoint}/v1/token":
            return f"the proof's htm/htu are wrong ({claims.get('htm')} {claims.get('htu')})"
        if not isinstance(claims.get("iat"), int) or abs(claims["iat"] - time.time()) > 60:
            return "the proof's iat is off by more than a minute"
        jti = claims.get("jti")
        with self._lock:
            if not isinstance(jti, str) or jti in self._jtis:
                return "the proof's jti was used before"
            self._jtis.add(jti)
        return None
