"""A loopback AWS Sign-In for `aws login` sessions (moto has no Sign-In): the browser's part
(``GET /v1/authorize`` and the cross-device confirmation page, not in the service model) and
``CreateOAuth2Token`` as botocore's ``signin`` model describes it (``data/signin/2023-01-01``:
rest-json, ``POST /v1/token``, body = ``tokenInput``, answer = ``tokenOutput``, errors with an
OAuth2 ``error`` member), with both grants: ``authorization_code`` (the end of `stscache
login`) and ``refresh_token`` (what stscache and botocore do with a session).

What it checks, as the real service must:

- authorize: ``response_type=code``, one of the two CLI client ids, ``scope=openid``,
  ``code_challenge_method=SHA-256`` (the CLI's name for S256), a 43-character base64url
  challenge, a state, and a ``redirect_uri`` that is the loopback ``/oauth/callback`` on some
  port (same device) or this service's ``/v1/sessions/confirmation`` (cross device). It answers
  302 to that redirect with a one-time code and the state (``state_override`` replaces the
  state, for the forged-redirect tests). The confirmation page shows what the user pastes:
  base64 of ``state=...&code=...``.
- every token call: a ``DPoP`` header (RFC 9449): a compact ES256 JWS whose header is exactly
  ``{"typ":"dpop+jwt","alg":"ES256","jwk":{EC P-256}}``, whose signature (r || s) verifies under
  that key, with ``htm`` POST, ``htu`` the URL the request went to, ``iat`` within a minute of
  now and a ``jti`` never seen before; a body of the model's ``tokenInput`` members only.
- authorization_code: the code once, for the client and ``redirectUri`` it was issued for, with
  a ``codeVerifier`` whose S256 is the challenge (PKCE, RFC 7636 §4.6).
- refresh_token: a refresh token this fake issued (by a grant or by ``sign_in``), for the same
  client, proved with the key the session is bound to (the proof's JWK thumbprint, RFC 7638:
  the session file's ``dpopKey``). Each refresh token works once: the answer rotates it, so a
  second refresh with the old one gets AccessDenied ``TOKEN_EXPIRED`` (as a real second process
  would).

Every refusal's reason is appended to ``refused``; ``scripted`` answers replace the checks for
the next token calls. Credentials come from ``issue()``: by default made-up values shaped like
AWS's; the e2e tests hand in a function that returns a moto session, so the AWS CLI can use
them against moto with signature checking on. The id token's ``sub`` is ``identity_arn``.
"""

from __future__ import annotations

import base64
import datetime as dt
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
from pathlib import Path
from typing import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

SAME_DEVICE = "arn:aws:signin:::devtools/same-device"
CROSS_DEVICE = "arn:aws:signin:::devtools/cross-device"
# tokenInput's members in the model; clientId and grantType are required.
TOKEN_INPUT_MEMBERS = {"clientId", "grantType", "code", "redirectUri", "codeVerifier", "refreshToken"}
PATHS = {"Authorize": "/v1/authorize", "CreateOAuth2Token": "/v1/token", "Confirmation": "/v1/sessions/confirmation"}
# How far a proof's iat may be from now.
IAT_WINDOW = 60


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """Unpadded base64url only (what a JWS is made of)."""
    if "=" in text or "+" in text or "/" in text:
        raise ValueError("not unpadded base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def s256(verifier: str) -> str:
    return b64url(hashlib.sha256(verifier.encode()).digest())


def thumbprint(x: str, y: str) -> str:
    """The RFC 7638 thumbprint of a P-256 JWK."""
    canonical = json.dumps({"crv": "P-256", "kty": "EC", "x": x, "y": y}, separators=(",", ":"))
    return b64url(hashlib.sha256(canonical.encode()).digest())


def new_dpop_key() -> tuple[ec.EllipticCurvePrivateKey, str]:
    """A P-256 key and its SEC1 PEM, as `aws login` makes and stores one."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption()).decode()
    return key, pem


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


class Refusal(Exception):
    def __init__(self, status: int, kind: str, oauth_error: str | None, why: str) -> None:
        super().__init__(why)
        self.status, self.kind, self.oauth_error, self.why = status, kind, oauth_error, why


@dataclass
class FakeSignIn:
    issue: Callable[[], dict] = made_up_credentials
    identity_arn: str = "arn:aws:iam::123456789012:user/alice"
    expires_in: int = 900
    # Replaces the state in the redirect (a forged or stale redirect).
    state_override: str | None = None
    # Seconds CreateOAuth2Token takes: widens the window in which racing processes would refresh twice.
    delay: float = 0.0
    # The next token answers, instead of checking: (status, error type, OAuth2 error).
    scripted: list[tuple[int, str, str]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    # Why each refused request was refused, in order.
    refused: list[str] = field(default_factory=list)
    # Tokens issued (either grant).
    issued: int = 0
    # code -> {"client", "challenge", "redirect_uri"}; each used once.
    codes: dict[str, dict] = field(default_factory=dict)
    # refresh token -> {"client", "thumbprint"}; each used once.
    refresh_tokens: dict[str, dict] = field(default_factory=dict)
    jtis: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                fake._handle(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
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
        """The standard way to point botocore (and stscache) at Sign-In."""
        return {"AWS_ENDPOINT_URL_SIGNIN": self.endpoint}

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def calls(self, name: str = "CreateOAuth2Token") -> list[Seen]:
        with self._lock:
            return [seen for seen in self.seen if seen.path == PATHS[name]]

    def verification_code(self, page: str) -> str:
        return page.split('<pre id="code">', 1)[1].split("</pre>", 1)[0]

    # -- a session ---------------------------------------------------------------------------

    def sign_in(self, directory: Path, session_name: str, expires_in: float, account_id: str,
                extra: dict | None = None) -> Path:
        """What `aws login` leaves: a session file in the CLI's format (json.dumps of botocore's
        members) for ``session_name``, with a new DPoP key and a refresh token bound to it,
        credentials from ``issue()`` expiring in ``expires_in`` seconds; ``extra`` members as a
        newer CLI might add."""
        key, pem = new_dpop_key()
        numbers = key.public_key().public_numbers()
        refresh = "rt-" + secrets.token_urlsafe(24)
        with self._lock:
            self.refresh_tokens[refresh] = {"client": SAME_DEVICE, "thumbprint": thumbprint(
                b64url(numbers.x.to_bytes(32, "big")), b64url(numbers.y.to_bytes(32, "big")))}
        expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=expires_in)
        token = {
            "accessToken": {**self.issue(), "accountId": account_id,
                            "expiresAt": expires.strftime("%Y-%m-%dT%H:%M:%SZ")},
            "tokenType": "aws_sigv4", "clientId": SAME_DEVICE, "refreshToken": refresh,
            "idToken": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "dpopKey": pem,
        }
        token.update(extra or {})
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
        path = directory / (hashlib.sha256(session_name.encode()).hexdigest() + ".json")
        path.write_text(json.dumps(token))
        path.chmod(0o600)
        return path

    # -- HTTP ----------------------------------------------------------------------------------

    def _handle(self, request: http.server.BaseHTTPRequestHandler, method: str) -> None:
        parts = urllib.parse.urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        seen = Seen(method, parts.path, urllib.parse.parse_qs(parts.query, keep_blank_values=True),
                    {k.lower(): v for k, v in request.headers.items()}, body)
        with self._lock:
            self.seen.append(seen)
        if method == "POST" and parts.path == PATHS["CreateOAuth2Token"] and self.delay:
            time.sleep(self.delay)  # outside the lock: racing callers all wait, then are checked in turn
        with self._lock:
            try:
                if method == "GET" and parts.path == PATHS["Authorize"]:
                    status, headers, payload = self._authorize(seen)
                elif method == "GET" and parts.path == PATHS["Confirmation"]:
                    status, headers, payload = self._confirmation(seen)
                elif method == "POST" and parts.path == PATHS["CreateOAuth2Token"]:
                    status, headers, payload = self._token(seen, f"{self.endpoint}{parts.path}")
                else:
                    raise Refusal(404, "ResourceNotFoundException", "RESOURCE_NOT_FOUND",
                                  f"no operation at {method} {parts.path}")
            except Refusal as refusal:
                self.refused.append(refusal.why)
                document = {"message": refusal.why}
                if refusal.oauth_error:
                    document["error"] = refusal.oauth_error
                status, payload = refusal.status, json.dumps(document).encode()
                headers = {"Content-Type": "application/json", "x-amzn-ErrorType": refusal.kind}
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    # -- the browser's part --------------------------------------------------------------------

    def _authorize(self, seen: Seen):
        def one(name: str) -> str | None:
            values = seen.query.get(name, [])
            return values[0] if len(values) == 1 else None

        client, redirect, challenge, state = one("client_id"), one("redirect_uri"), one("code_challenge"), one("state")
        confirmation = f"{self.endpoint}{PATHS['Confirmation']}"
        if one("response_type") != "code" or one("scope") != "openid" or one("code_challenge_method") != "SHA-256" \
                or client not in (SAME_DEVICE, CROSS_DEVICE) or not state \
                or not challenge or len(challenge) != 43 or not all(c.isalnum() or c in "-_" for c in challenge):
            raise Refusal(400, "ValidationException", None, "bad authorize request")
        if client == SAME_DEVICE:
            target = urllib.parse.urlsplit(redirect or "")
            if target.scheme != "http" or target.hostname != "127.0.0.1" or not target.port \
                    or target.path != "/oauth/callback" or target.query:
                raise Refusal(400, "ValidationException", None, "bad same-device redirect_uri")
        elif redirect != confirmation:
            raise Refusal(400, "ValidationException", None, "bad cross-device redirect_uri")
        code = "code-" + secrets.token_urlsafe(24)
        self.codes[code] = {"client": client, "challenge": challenge, "redirect_uri": redirect}
        query = urllib.parse.urlencode({"code": code, "state": self.state_override or state})
        return 302, {"Location": f"{redirect}?{query}"}, b""

    def _confirmation(self, seen: Seen):
        code, state = seen.query.get("code", [""])[0], seen.query.get("state", [""])[0]
        pasted = base64.b64encode(urllib.parse.urlencode({"state": state, "code": code}).encode()).decode()
        page = f"<html><body><p>Your verification code:</p><pre id=\"code\">{pasted}</pre></body></html>"
        return 200, {"Content-Type": "text/html"}, page.encode()

    # -- CreateOAuth2Token ---------------------------------------------------------------------

    def _token(self, seen: Seen, url: str):
        if self.scripted:
            status, error_type, error = self.scripted.pop(0)
            document = json.dumps({"error": error, "message": "scripted"}).encode()
            return status, {"Content-Type": "application/json", "x-amzn-ErrorType": error_type}, document
        key = self._check_proof(seen.headers.get("dpop"), url)
        try:
            body = seen.json()
        except ValueError:
            raise Refusal(400, "ValidationException", "INVALID_REQUEST", "the body is not JSON")
        if not isinstance(body, dict) or not set(body) <= TOKEN_INPUT_MEMBERS or "clientId" not in body \
                or "grantType" not in body:
            raise Refusal(400, "ValidationException", "INVALID_REQUEST", f"not a tokenInput: {sorted(body)}")
        if body["grantType"] == "authorization_code":
            grant = self.codes.pop(body.get("code", ""), None)
            if grant is None:
                raise Refusal(400, "AccessDeniedException", "AUTHCODE_EXPIRED", "unknown or used code")
            if grant["client"] != body["clientId"] or grant["redirect_uri"] != body.get("redirectUri"):
                raise Refusal(400, "AccessDeniedException", "INVALID_REQUEST", "another client or redirectUri")
            if s256(body.get("codeVerifier", "")) != grant["challenge"]:
                raise Refusal(400, "AccessDeniedException", "INVALID_REQUEST", "the codeVerifier is not the challenge's")
        elif body["grantType"] == "refresh_token":
            session = self.refresh_tokens.get(body.get("refreshToken", ""))
            if session is None:
                raise Refusal(400, "AccessDeniedException", "TOKEN_EXPIRED", "the refresh token is not a current one")
            if session["client"] != body["clientId"]:
                raise Refusal(400, "ValidationException", "INVALID_REQUEST", "the refresh token is another client's")
            if session["thumbprint"] != key:
                raise Refusal(400, "ValidationException", "INVALID_REQUEST",
                              "the proof's key is not the session's dpopKey")
            del self.refresh_tokens[body["refreshToken"]]
        else:
            raise Refusal(400, "ValidationException", "UNSUPPORTED_GRANT_TYPE", "unsupported grant")
        refresh = "rt-" + secrets.token_urlsafe(32)
        self.refresh_tokens[refresh] = {"client": body["clientId"], "thumbprint": key}
        self.issued += 1
        output = {"accessToken": self.issue(), "tokenType": "aws_sigv4", "expiresIn": self.expires_in,
                  "refreshToken": refresh}
        if body["grantType"] == "authorization_code":
            claims = {"sub": self.identity_arn, "aud": body["clientId"], "iat": int(time.time()),
                      "exp": int(time.time()) + 900}
            output["idToken"] = ".".join([b64url(b'{"alg":"ES256","typ":"JWT"}'), b64url(json.dumps(claims).encode()),
                                          b64url(secrets.token_bytes(64))])
        return 200, {"Content-Type": "application/json"}, json.dumps(output).encode()

    def _check_proof(self, proof: str | None, url: str) -> str:
        """The proof's key thumbprint, or a Refusal saying what is wrong with the proof."""
        def refuse(why: str) -> Refusal:
            return Refusal(400, "ValidationException", "INVALID_DPOP_PROOF", f"DPoP proof: {why}")

        if not proof:
            raise refuse("no DPoP header")
        parts = proof.split(".")
        if len(parts) != 3:
            raise refuse("not a compact JWS")
        try:
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            signature = b64url_decode(parts[2])
        except ValueError:
            raise refuse("not base64url JSON")
        jwk = header.get("jwk") if isinstance(header, dict) else None
        if not isinstance(jwk, dict) or header.get("typ") != "dpop+jwt" or header.get("alg") != "ES256" \
                or set(header) != {"typ", "alg", "jwk"}:
            raise refuse(f"bad header {header}")
        if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
            raise refuse("the key is not a P-256 JWK")
        try:
            x, y = b64url_decode(jwk["x"]), b64url_decode(jwk["y"])
            if len(x) != 32 or len(y) != 32:
                raise ValueError("coordinate length")
            public = ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"),
                                                   ec.SECP256R1()).public_key()
        except (KeyError, TypeError, ValueError):
            raise refuse("the key is not a point on P-256")
        if len(signature) != 64:
            raise refuse("the signature is not r || s")
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        try:
            public.verify(der, f"{parts[0]}.{parts[1]}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise refuse("the signature does not verify under its key")
        if not isinstance(claims, dict) or claims.get("htm") != "POST" or claims.get("htu") != url:
            raise refuse(f"htm/htu {claims.get('htm')} {claims.get('htu')} are not POST {url}")
        if not isinstance(claims.get("iat"), int) or abs(claims["iat"] - time.time()) > IAT_WINDOW:
            raise refuse("iat is off by more than a minute")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or jti in self.jtis:
            raise refuse("jti missing or used before")
        self.jtis.add(jti)
        return thumbprint(jwk["x"], jwk["y"])
