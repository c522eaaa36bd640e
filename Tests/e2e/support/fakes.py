"""Loopback servers that stand in for credential endpoints: ``FakeSTS``, which misbehaves on
cue; ``ClosedPort`` and ``BlackHole``, which never answer; ``FakeMetadataServer``, IMDSv2 or the
container credentials endpoint.

``FakeSTS`` answers each request with the next *answer* of its script (the last one repeats),
records every request it received (method, path, headers, body, parsed form) and, when given the
source secret key, checks the request's SigV4 signature and timestamp the way STS does. Its clock
can be skewed (``clock_offset``): the ``Date`` header, the timestamp check and the ``Expiration``
of the credentials it issues all follow it.

Answers (build them with the helpers below): ``success()``, ``sts_error(...)``,
``raw(...)``, ``slow(seconds, then)``, ``hang()``, ``reset()``, ``truncated()``,
``huge_body(bytes)``, ``xml_bomb()``, ``deep_nesting()``.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import socket
import socketserver
import ssl
import struct
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable
from urllib.parse import parse_qs

from .aws import ACCOUNT_ID
from .sigv4 import expected_signature, signature_of

if TYPE_CHECKING:
    from .tls import TLSFiles

# STS refuses a request whose X-Amz-Date is more than this far from its own clock.
SIGNATURE_TOLERANCE = dt.timedelta(minutes=15)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def http_date(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")


def amz_date(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


# --------------------------------------------------------------------------------------------
# Requests as the fake saw them
# --------------------------------------------------------------------------------------------


@dataclass
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        parsed = parse_qs(self.body.decode("utf-8", errors="replace"), keep_blank_values=True)
        return {k: v[-1] for k, v in parsed.items()}

    @property
    def action(self) -> str | None:
        return self.form.get("Action")

    @property
    def amz_date(self) -> dt.datetime | None:
        text = self.headers.get("x-amz-date")
        if not text:
            return None
        try:
            return dt.datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
        except ValueError:
            return None


# --------------------------------------------------------------------------------------------
# Answers
# --------------------------------------------------------------------------------------------

# An answer gets the handler (to write to) and the request; it writes a complete response, or
# misbehaves on the socket (and then sets handler.close_connection).
Answer = Callable[["_Handler", SeenRequest], None]


def xml_response(handler: "_Handler", status: int, body: bytes, extra_headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "text/xml")
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("x-amzn-RequestId", str(uuid.uuid4()))
    for name, value in (extra_headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def success_document(request: SeenRequest, now: dt.datetime, *, omit: str | None = None,
                     expiration: str | None = None) -> bytes:
    """A valid AssumeRoleResponse: a one-hour (or DurationSeconds) session from ``now``."""
    form = request.form
    duration = int(form.get("DurationSeconds") or 3600)
    role_arn = form.get("RoleArn", f"arn:aws:iam::{ACCOUNT_ID}:role/Unknown")
    session = form.get("RoleSessionName", "session")
    role_name = role_arn.rsplit("/", 1)[-1]
    expires = expiration or (now + dt.timedelta(seconds=duration)).strftime("%Y-%m-%dT%H:%M:%SZ")
    suffix = uuid.uuid4().hex[:12].upper()
    fields = {
        "AccessKeyId": f"ASIAFAKE{suffix}",
        "SecretAccessKey": "fake/secret/" + uuid.uuid4().hex,
        "SessionToken": "FakeSessionToken" + uuid.uuid4().hex * 4,
        "Expiration": expires,
    }
    if omit in fields:
        del fields[omit]
    credentials = "".join(f"<{k}>{v}</{k}>" for k, v in fields.items())
    return (
        '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        "<AssumeRoleResult>"
        f"<SourceIdentity></SourceIdentity>"
        "<AssumedRoleUser>"
        f"<AssumedRoleId>AROAFAKE{suffix}:{session}</AssumedRoleId>"
        f"<Arn>arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role_name}/{session}</Arn>"
        "</AssumedRoleUser>"
        f"<Credentials>{credentials}</Credentials>"
        "</AssumeRoleResult>"
        f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
        "</AssumeRoleResponse>"
    ).encode()


def error_document(code: str, message: str, kind: str = "Sender") -> bytes:
    return (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        f"<Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId>"
        "</ErrorResponse>"
    ).encode()


def success(*, omit: str | None = None, expiration_offset: dt.timedelta | None = None,
            expiration_text: str | None = None) -> Answer:
    """A valid AssumeRoleResponse (``omit`` drops one credentials field; ``expiration_offset``
    sets Expiration relative to the server's clock instead of the session length;
    ``expiration_text`` puts any text there)."""

    def answer(handler: "_Handler", request: SeenRequest) -> None:
        now = handler.fake.now()
        expiration = expiration_text
        if expiration_offset is not None:
            expiration = (now + expiration_offset).strftime("%Y-%m-%dT%H:%M:%SZ")
        xml_response(handler, 200, success_document(request, now, omit=omit, expiration=expiration))

    answer.__name__ = "success"
    return answer


def sts_error(status: int, code: str, message: str = "", kind: str = "Sender") -> Answer:
    def answer(handler: "_Handler", request: SeenRequest) -> None:
        xml_response(handler, status, error_document(code, message or code, kind))

    answer.__name__ = f"error {status} {code}"
    return answer


def raw(status: int, body: bytes, content_type: str = "text/html") -> Answer:
    def answer(handler: "_Handler", request: SeenRequest) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    answer.__name__ = f"raw {status}"
    return answer


def slow(seconds: float, then: Answer | None = None) -> Answer:
    """Waits ``seconds`` (or until the fake closes) before answering with ``then``."""
    then = then or success()

    def answer(handler: "_Handler", request: SeenRequest) -> None:
        handler.fake._closing.wait(seconds)
        try:
            then(handler, request)
        except OSError:
            handler.close_connection = True

    answer.__name__ = f"slow {seconds}s"
    return answer


def hang() -> Answer:
    """Reads the request, never answers (until the fake closes)."""
    return slow(3600, then=reset())


def reset() -> Answer:
    """Closes the connection with a TCP RST instead of answering."""

    def answer(handler: "_Handler", request: SeenRequest) -> None:
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.close_connection = True
        handler.connection.close()

    answer.__name__ = "reset"
    return answer


def truncated() -> Answer:
    """Promises a whole AssumeRoleResponse, sends half of it, closes."""

    def answer(handler: "_Handler", request: SeenRequest) -> None:
        body = success_document(request, handler.fake.now())
        handler.send_response(200)
        handler.send_header("Content-Type", "text/xml")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body[: len(body) // 2])
        handler.wfile.flush()
        handler.close_connection = True

    answer.__name__ = "truncated"
    return answer


def huge_body(size: int = 10 * 1024 * 1024, declare_length: bool = True) -> Answer:
    """A 200 whose body is ``size`` bytes of XML-ish filler, streamed (never held in memory)."""

    def answer(handler: "_Handler", request: SeenRequest) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/xml")
        if declare_length:
            handler.send_header("Content-Length", str(size))
        handler.end_headers()
        chunk = b"<AssumeRoleResponse>" + b"A" * (64 * 1024 - 20)
        sent = 0
        try:
            while sent < size:
                piece = chunk[: min(len(chunk), size - sent)]
                handler.wfile.write(piece)
                sent += len(piece)
        except OSError:
            pass  # the client hung up once it had seen enough: that is the point
        handler.close_connection = True

    answer.__name__ = f"huge body {size} bytes"
    return answer


def xml_bomb() -> Answer:
    """The billion-laughs entity expansion, as a 200 answer."""
    lines = ['<?xml version="1.0"?>', "<!DOCTYPE lolz [", ' <!ENTITY lol0 "lol">']
    for i in range(1, 10):
        lines.append(f' <!ENTITY lol{i} "' + f"&lol{i - 1};" * 10 + '">')
    lines += ["]>", "<AssumeRoleResponse><AssumeRoleResult><Credentials>",
              "<AccessKeyId>&lol9;</AccessKeyId>", "</Credentials></AssumeRoleResult></AssumeRoleResponse>"]
    return raw(200, "\n".join(lines).encode(), content_type="text/xml")


def deep_nesting(depth: int = 100_000) -> Answer:
    """A 200 answer nested ``depth`` elements deep (a recursion bomb for naive parsers)."""
    return raw(200, b"<a>" * depth + b"</a>" * depth, content_type="text/xml")


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    @property
    def fake(self) -> "FakeSTS":
        return self.server.fake

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - quiet
        pass

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header follows the fake's (possibly skewed) clock.
        return http_date(self.fake.now())

    def version_string(self) -> str:
        return "FakeSTS"

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, 1 << 20))
        request = SeenRequest(
            self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
        )
        answer = self.fake._record(request)
        answer(self, request)

    def do_GET(self) -> None:  # noqa: N802
        self.do_POST()


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: "FakeSTS"

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001 - resets are the point
        pass


class FakeSTS:
    """A scripted STS on a loopback port (``https`` when given a ``TLSFiles`` server pair).

    ``script``: answers for the first requests, in order; ``then`` answers every later one.
    ``secret_key``: when set, every request must carry a valid SigV4 signature made with it and
    an X-Amz-Date within 15 minutes of the fake's clock (else SignatureDoesNotMatch, with STS's
    "Signature expired" wording for a stale timestamp) — checked before the script runs, and
    such a refusal does not consume a scripted answer.
    ``skew_error``: the code STS uses for a stale timestamp: ``SignatureDoesNotMatch`` (what
    STS says for SigV4 today) or ``RequestExpired``.
    """

    def __init__(self, *, tls: "TLSFiles | None" = None, secret_key: str | None = None,
                 clock_offset: dt.timedelta = dt.timedelta(0), skew_error: str = "SignatureDoesNotMatch",
                 host: str = "127.0.0.1") -> None:
        self.secret_key = secret_key
        self.clock_offset = clock_offset
        self.skew_error = skew_error
        self.requests: list[SeenRequest] = []
        self.refusals: list[str] = []
        self._script: list[Answer] = []
        self._then: Answer = success()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls.server_cert, tls.server_key)
            # The handshake happens in the handler's thread (on first read), so a client that never
            # finishes it cannot stall the accept loop.
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True,
                                                      do_handshake_on_connect=False)
            self.scheme = "https"
        self.host = host
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    # -- set-up ------------------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def script(self, answers: list[Answer], then: Answer | None = None) -> "FakeSTS":
        with self._lock:
            self._script = list(answers)
            if then is not None:
                self._then = then
        return self

    def now(self) -> dt.datetime:
        return utcnow() + self.clock_offset

    # -- what it saw -------------------------------------------------------------------------------

    def count(self, action: str | None = "AssumeRole") -> int:
        with self._lock:
            return sum(1 for r in self.requests if action is None or r.action == action)

    def wait_for_requests(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.requests) >= count:
                return True
            time.sleep(0.02)
        return False

    # -- life cycle --------------------------------------------------------------------------------

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- internals ---------------------------------------------------------------------------------

    def _record(self, request: SeenRequest) -> Answer:
        with self._lock:
            self.requests.append(request)
            refusal = self._check_signature(request)
            if refusal is not None:
                self.refusals.append(refusal.__name__)
                return refusal
            if self._script:
                return self._script.pop(0)
            return self._then

    def _check_signature(self, request: SeenRequest) -> Answer | None:
        if self.secret_key is None:
            return None
        if expected_signature(request, self.secret_key) != signature_of(request):
            return sts_error(403, "SignatureDoesNotMatch",
                             "The request signature we calculated does not match the signature you provided.")
        stamp = request.amz_date
        now = self.now()
        if stamp is None:
            return sts_error(400, "IncompleteSignature", "Authorization header requires existence of X-Amz-Date.")
        if stamp < now - SIGNATURE_TOLERANCE:
            if self.skew_error == "RequestExpired":
                return sts_error(400, "RequestExpired", "Request has expired.")
            return sts_error(
                403, "SignatureDoesNotMatch",
                f"Signature expired: {amz_date(stamp)} is now earlier than {amz_date(now - SIGNATURE_TOLERANCE)} "
                f"({amz_date(now)} - 15 min.)")
        if stamp > now + SIGNATURE_TOLERANCE:
            if self.skew_error == "RequestExpired":
                return sts_error(400, "RequestExpired", "Request has expired.")
            return sts_error(
                403, "SignatureDoesNotMatch",
                f"Signature not yet current: {amz_date(stamp)} is still later than "
                f"{amz_date(now + SIGNATURE_TOLERANCE)} ({amz_date(now)} + 15 min.)")
        return None



# --------------------------------------------------------------------------------------------
# Endpoints that do not answer
# --------------------------------------------------------------------------------------------


class ClosedPort:
    """A loopback port that refuses connections: bound, never listening, held until closed."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._sock.close()


def loopback_listener(backlog: int, timeout: float) -> socket.socket:
    """A listening TCP socket on a free 127.0.0.1 port, its accept() bounded by ``timeout``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(backlog)
    sock.settimeout(timeout)
    return sock


class BlackHole:
    """A loopback server that accepts connections and never answers; counts connections."""

    def __init__(self) -> None:
        self._sock = loopback_listener(backlog=64, timeout=0.2)
        self.port = self._sock.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.connections: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (socket.timeout, OSError):
                continue
            self.connections.append(conn)

    def wait_for_connection(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.connections:
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self.connections:
            conn.close()
        self._sock.close()


# --------------------------------------------------------------------------------------------
# Credential endpoints other than STS
# --------------------------------------------------------------------------------------------


class FakeMetadataServer:
    """A loopback HTTP server standing in for IMDSv2 or the container credentials endpoint.
    ``credentials`` is what it serves; every request is recorded (method, path, headers)."""

    IMDS_TOKEN = "fake-imds-session-token"

    def __init__(self, kind: str, credentials: dict, role_name: str = "instance-role", auth_token: str | None = None):
        self.kind = kind
        self.credentials = credentials
        self.role_name = role_name
        self.auth_token = auth_token
        self.requests: list[tuple[str, str, dict]] = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _answer(self, status: int, body: str, content_type: str = "text/plain") -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self) -> None:
                fake.requests.append(("PUT", self.path, dict(self.headers)))
                if fake.kind == "imds" and self.path == "/latest/api/token":
                    if self.headers.get("X-aws-ec2-metadata-token-ttl-seconds") is None:
                        return self._answer(400, "missing TTL")
                    return self._answer(200, FakeMetadataServer.IMDS_TOKEN)
                self._answer(404, "")

            def do_GET(self) -> None:
                fake.requests.append(("GET", self.path, dict(self.headers)))
                if fake.kind == "imds":
                    if self.headers.get("X-aws-ec2-metadata-token") != FakeMetadataServer.IMDS_TOKEN:
                        return self._answer(401, "")
                    base = "/latest/meta-data/iam/security-credentials/"
                    if self.path == base:
                        return self._answer(200, fake.role_name)
                    if self.path == base + fake.role_name:
                        document = {"Code": "Success", "Type": "AWS-HMAC", **fake.credentials}
                        return self._answer(200, json.dumps(document), "application/json")
                    return self._answer(404, "")
                if fake.kind == "ecs" and self.path == "/v1/credentials":
                    if fake.auth_token is not None and self.headers.get("Authorization") != fake.auth_token:
                        return self._answer(401, '{"message":"bad token"}', "application/json")
                    return self._answer(200, json.dumps(fake.credentials), "application/json")
                self._answer(404, "")

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
