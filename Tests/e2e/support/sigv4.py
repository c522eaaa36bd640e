"""SigV4, recomputed the way STS does it: what FakeSTS checks every request's signature with."""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, urlsplit

if TYPE_CHECKING:
    from .fakes import SeenRequest


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def expected_signature(request: SeenRequest, secret_key: str) -> str | None:
    """Recomputes the request's SigV4 signature from the headers it says it signed."""
    auth = request.headers.get("authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return None
    parts = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(",") if "=" in p)
    try:
        _key_id, date, region, service, _terminator = parts["Credential"].split("/")
        signed = parts["SignedHeaders"].split(";")
    except (KeyError, ValueError):
        return None
    stamp = request.headers.get("x-amz-date", "")
    url = urlsplit(request.path)
    canonical_query = "&".join(
        sorted(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, vs in parse_qs(url.query, keep_blank_values=True).items() for v in vs)
    )
    canonical_headers = "".join(f"{name}:{' '.join(request.headers.get(name, '').split())}\n" for name in signed)
    canonical = "\n".join(
        [request.method, url.path or "/", canonical_query, canonical_headers, ";".join(signed),
         hashlib.sha256(request.body).hexdigest()]
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + secret_key).encode(), date), region), service), "aws4_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def signature_of(request: SeenRequest) -> str:
    auth = request.headers.get("authorization", "")
    return auth.rsplit("Signature=", 1)[-1] if "Signature=" in auth else ""

