"""A loopback IAM Identity Center: the portal's GetRoleCredentials and OIDC's CreateToken, as
botocore's service models describe them (``data/sso/2019-06-10``, ``data/sso-oidc/2019-06-10``).

moto has neither service. The fake checks what it is sent the way the real services do: the
bearer token in ``x-amz-sso_bearer_token``, both query parameters, the JSON members CreateToken
accepts, the grant type, the client's secret and the refresh token (rotated on every refresh,
so a second refresh with the old one is refused as the real service refuses it).

The authorization code flow (``GET /authorize``, not in the service model: the browser's part)
checks the client was registered for the code grant with a loopback redirect, that the
``redirect_uri`` is that redirect on some port, and that the challenge is S256; it answers 302
to the redirect with a one-time code and the state. CreateToken with that code then needs the
same ``redirectUri`` and a ``codeVerifier`` whose S256 is the challenge (RFC 7636 §4.6). Errors are
restJson1: an ``x-amzn-ErrorType`` header and a JSON body, which botocore and stscache parse.

Role credentials come from ``issue(account_id, role_name)``: by default made-up values shaped
like AWS's; the tests that call AWS APIs with them hand in a function that assumes a moto role,
so moto (signature checking on) accepts them.
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

# CreateToken's members in the sso-oidc model; clientId, clientSecret and grantType are required.
CREATE_TOKEN_MEMBERS = {"clientId", "clientSecret", "grantType", "deviceCode", "code", "refreshToken", "scope",
                        "redirectUri", "codeVerifier"}


def made_up_credentials(account_id: str, role_name: str) -> dict:
    upper = string.ascii_uppercase + string.digits
    return {
        "accessKeyId": "ASIA" + "".join(secrets.choice(upper) for _ in range(16)),
        "secretAccessKey": secrets.token_urlsafe(30)[:40],
        "sessionToken": secrets.token_urlsafe(120),
        "expiration": int((time.time() + 3600) * 1000),
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


@dataclass
class FakeIdentityCenter:
    issue: Callable[[str, str], dict] = made_up_credentials
    # Seconds CreateToken takes: widens the window in which racing processes would refresh twice.
    create_token_delay: float = 0.0
    assignments: set[tuple[str, str]] = field(default_factory=set)
    access_tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (epoch s)
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # refresh token -> clientId
    clients: dict[str, str] = field(default_factory=dict)  # clientId -> clientSecret
    seen: list[Seen] = field(default_factory=list)
    # Device authorizations: device code -> {"client": clientId, "user_code": ..., "approved": bool}
    devices: dict[str, dict] = field(default_factory=dict)
    # RegisterClient's request per clientId (grant types, redirect URIs).
    registrations: dict[str, dict] = field(default_factory=dict)
    # Authorization codes: code -> {"client", "challenge", "redirect_uri"}; each used once.
    codes: dict[str, dict] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args) -> None:  # noqa: A002 - quiet
                pass

            def _record(self) -> Seen:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                url = urllib.parse.urlsplit(self.path)
                seen = Seen(self.command, url.path, urllib.parse.parse_qs(url.query, keep_blank_values=True),
                            {k.lower(): v for k, v in self.headers.items()}, body)
                with fake._lock:
                    fake.seen.append(seen)
                return seen

            def _answer(self, status: int, document: dict, error_type: str | None = None) -> None:
                body = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if error_type:
                    self.send_header("x-amzn-ErrorType", error_type)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                seen = self._record()
                if seen.path == "/authorize":
                    status, location, problem = fake._authorize(seen)
                    if location is None:
                        self._answer(status, {"error": problem})
                        return
                    self.send_response(302)
                    self.send_header("Location", location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status, document, error = fake._get_role_credentials(seen)
                self._answer(status, document, error)

            def do_POST(self) -> None:  # noqa: N802
                seen = self._record()
                if seen.path == "/client/register":
                    status, document, error = fake._register_client(seen)
                elif seen.path == "/device_authorization":
                    status, document, error = fake._start_device_authorization(seen)
                else:
                    status, document, error = fake._create_token(seen)
                self._answer(status, document, error)

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    # -- what tests use -------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def env(self) -> dict[str, str]:
        """Both services on this fake, the standard way (botocore honours these too)."""
        return {"AWS_ENDPOINT_URL_SSO": self.endpoint, "AWS_ENDPOINT_URL_SSO_OIDC": self.endpoint}

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def register_client(self) -> tuple[str, str]:
        client_id, secret = "client-" + secrets.token_hex(8), "secret-" + secrets.token_hex(16)
        with self._lock:
            self.clients[client_id] = secret
        return client_id, secret

    def issue_token(self, client_id: str, expires_in: float) -> tuple[str, str]:
        """An access token valid for ``expires_in`` seconds (negative: already expired) and a
        refresh token for the client: what a login leaves."""
        access, refresh = "aoa-" + secrets.token_urlsafe(48), "aor-" + secrets.token_urlsafe(48)
        with self._lock:
            self.access_tokens[access] = time.time() + expires_in
            self.refresh_tokens[refresh] = client_id
        return access, refresh

    def revoke_all(self) -> None:
        """The user signed out everywhere: every access and refresh token stops working."""
        with self._lock:
            self.access_tokens.clear()
            self.refresh_tokens.clear()

    def approve(self, user_code: str) -> None:
        """The user confirms the code in the browser."""
        with self._lock:
            [device] = [d for d in self.devices.values() if d["user_code"] == user_code]
            device["approved"] = True

    def calls(self, kind: str) -> list[Seen]:
        with self._lock:
            if kind == "RegisterClient":
                return [s for s in self.seen if s.method == "POST" and s.path == "/client/register"]
            if kind == "StartDeviceAuthorization":
                return [s for s in self.seen if s.method == "POST" and s.path == "/device_authorization"]
            if kind == "CreateToken":
                return [s for s in self.seen if s.method == "POST" and s.path == "/token"]
            if kind == "GetRoleCredentials":
                return [s for s in self.seen if s.method == "GET" and s.path == "/federation/credentials"]
            if kind == "Authorize":
                return [s for s in self.seen if s.method == "GET" and s.path == "/authorize"]
            return list(self.seen)

    @property
    def newest_access_token(self) -> str:
        with self._lock:
            return max(self.access_tokens, key=self.access_tokens.__getitem__)

    # -- the services ---------------------------------------------------------------------------

    def _get_role_credentials(self, seen: Seen) -> tuple[int, dict, str | None]:
        if seen.path != "/federation/credentials":
            return 404, {"message": "no such operation"}, "ResourceNotFoundException"
        token = seen.headers.get("x-amz-sso_bearer_token")
        role = seen.query.get("role_name", [None])[0]
        account = seen.query.get("account_id", [None])[0]
        if not role or not account or not token:
            return 400, {"message": "roleName, accountId and accessToken are required"}, "InvalidRequestException"
        with self._lock:
            expiry = self.access_tokens.get(token)
            if expiry is None or expiry <= time.time():
                return 401, {"message": "Session token not found or invalid"}, "UnauthorizedException"
            if (account, role) not in self.assignments:
                return 403, {"message": "No access"}, "ForbiddenException"
        return 200, {"roleCredentials": self.issue(account, role)}, None

    def _create_token(self, seen: Seen) -> tuple[int, dict, str | None]:
        if seen.path != "/token":
            return 404, {"error": "not_found"}, "ResourceNotFoundException"
        if not seen.headers.get("content-type", "").startswith("application/json"):
            return 400, {"error": "invalid_request", "error_description": "JSON body expected"}, "InvalidRequestException"
        try:
            body = seen.json()
        except ValueError:
            return 400, {"error": "invalid_request"}, "InvalidRequestException"
        unknown = set(body) - CREATE_TOKEN_MEMBERS
        missing = {"clientId", "clientSecret", "grantType"} - set(body)
        if unknown or missing or not all(isinstance(v, str) for v in body.values()):
            return 400, {"error": "invalid_request", "error_description": f"unknown {sorted(unknown)} missing {sorted(missing)}"}, \
                "InvalidRequestException"
        if body["grantType"] == "urn:ietf:params:oauth:grant-type:device_code":
            return self._device_code_token(body)
        if body["grantType"] == "authorization_code":
            return self._authorization_code_token(body)
        if body["grantType"] != "refresh_token":
            return 400, {"error": "unsupported_grant_type"}, "UnsupportedGrantTypeException"
        if self.create_token_delay:
            time.sleep(self.create_token_delay)
        with self._lock:
            if self.clients.get(body["clientId"]) != body["clientSecret"]:
                return 401, {"error": "invalid_client"}, "InvalidClientException"
            refresh = body.get("refreshToken")
            if refresh is None or self.refresh_tokens.pop(refresh, None) != body["clientId"]:
                return 400, {"error": "invalid_grant", "error_description": "Invalid grant provided"}, "InvalidGrantException"
        access, new_refresh = self.issue_token(body["clientId"], 8 * 3600)
        return 200, {"accessToken": access, "tokenType": "Bearer", "expiresIn": 8 * 3600, "refreshToken": new_refresh}, None

    def _json_body(self, seen: Seen, members: set[str], required: set[str]) -> dict | tuple[int, dict, str]:
        if not seen.headers.get("content-type", "").startswith("application/json"):
            return 400, {"error": "invalid_request", "error_description": "JSON body expected"}, "InvalidRequestException"
        try:
            body = seen.json()
        except ValueError:
            return 400, {"error": "invalid_request"}, "InvalidRequestException"
        if set(body) - members or required - set(body):
            return 400, {"error": "invalid_request", "error_description": f"members {sorted(body)}"}, "InvalidRequestException"
        return body

    def _register_client(self, seen: Seen) -> tuple[int, dict, str | None]:
        body = self._json_body(seen, {"clientName", "clientType", "scopes", "redirectUris", "grantTypes", "issuerUrl",
                                      "entitledApplicationArn"}, {"clientName", "clientType"})
        if isinstance(body, tuple):
            return body
        if body["clientType"] != "public" or not isinstance(body.get("scopes", []), list):
            return 400, {"error": "invalid_client_metadata"}, "InvalidClientMetadataException"
        client_id, secret = self.register_client()
        with self._lock:
            self.registrations[client_id] = body
        now = int(time.time())
        return 200, {"clientId": client_id, "clientSecret": secret, "clientIdIssuedAt": now,
                     "clientSecretExpiresAt": now + 90 * 86400}, None

    def _start_device_authorization(self, seen: Seen) -> tuple[int, dict, str | None]:
        body = self._json_body(seen, {"clientId", "clientSecret", "startUrl"}, {"clientId", "clientSecret", "startUrl"})
        if isinstance(body, tuple):
            return body
        with self._lock:
            if self.clients.get(body["clientId"]) != body["clientSecret"]:
                return 401, {"error": "invalid_client"}, "InvalidClientException"
            device_code = "dc-" + secrets.token_urlsafe(32)
            user_code = "".join(secrets.choice(string.ascii_uppercase) for _ in range(4)) + "-" + \
                "".join(secrets.choice(string.ascii_uppercase) for _ in range(4))
            self.devices[device_code] = {"client": body["clientId"], "user_code": user_code, "approved": False}
        uri = "https://device.sso.us-east-1.amazonaws.com/"
        return 200, {"deviceCode": device_code, "userCode": user_code, "verificationUri": uri,
                     "verificationUriComplete": f"{uri}?user_code={user_code}", "expiresIn": 600, "interval": 1}, None

    def _device_code_token(self, body: dict) -> tuple[int, dict, str | None]:
        with self._lock:
            if self.clients.get(body["clientId"]) != body["clientSecret"]:
                return 401, {"error": "invalid_client"}, "InvalidClientException"
            device = self.devices.get(body.get("deviceCode", ""))
            if device is None or device["client"] != body["clientId"]:
                return 400, {"error": "invalid_grant"}, "InvalidGrantException"
            if not device["approved"]:
                return 400, {"error": "authorization_pending"}, "AuthorizationPendingException"
            del self.devices[body["deviceCode"]]
        access, refresh = self.issue_token(body["clientId"], 8 * 3600)
        return 200, {"accessToken": access, "tokenType": "Bearer", "expiresIn": 8 * 3600, "refreshToken": refresh}, None

    def _authorize(self, seen: Seen) -> tuple[int, str | None, str]:
        """The browser's visit to /authorize: a 302 to the loopback redirect, or an error page."""
        query = {name: values[0] for name, values in seen.query.items() if len(values) == 1}
        client_id = query.get("client_id", "")
        with self._lock:
            registration = self.registrations.get(client_id)
        if registration is None or "authorization_code" not in registration.get("grantTypes", []):
            return 400, None, "unauthorized_client"
        redirect = urllib.parse.urlsplit(query.get("redirect_uri", ""))
        # RFC 8252 §7.3: a loopback redirect matches the registered one on any port.
        registered = [urllib.parse.urlsplit(uri) for uri in registration.get("redirectUris", [])]
        if not any(r.scheme == redirect.scheme and r.hostname == redirect.hostname == "127.0.0.1" and r.path == redirect.path
                   and redirect.port for r in registered):
            return 400, None, "invalid_redirect_uri"
        if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256" \
                or len(query.get("code_challenge", "")) != 43 or not query.get("state") or not query.get("scopes"):
            return 400, None, "invalid_request"
        code = "code-" + secrets.token_urlsafe(24)
        with self._lock:
            self.codes[code] = {"client": client_id, "challenge": query["code_challenge"],
                                "redirect_uri": query["redirect_uri"]}
        location = query["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": query["state"]})
        return 302, location, ""

    def _authorization_code_token(self, body: dict) -> tuple[int, dict, str | None]:
        with self._lock:
            if self.clients.get(body["clientId"]) != body["clientSecret"]:
                return 401, {"error": "invalid_client"}, "InvalidClientException"
            grant = self.codes.pop(body.get("code", ""), None)
        if grant is None or grant["client"] != body["clientId"] or grant["redirect_uri"] != body.get("redirectUri"):
            return 400, {"error": "invalid_grant"}, "InvalidGrantException"
        verifier = body.get("codeVerifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        if not 43 <= len(verifier) <= 128 or challenge != grant["challenge"]:
            return 400, {"error": "invalid_grant", "error_description": "code_verifier"}, "InvalidGrantException"
        access, refresh = self.issue_token(body["clientId"], 8 * 3600)
        return 200, {"accessToken": access, "tokenType": "Bearer", "expiresIn": 8 * 3600, "refreshToken": refresh}, None
