"""Self-tests of the harness: they need no stscache binary. If these fail, the issue-2 and
issue-3 tests mean nothing (auth off would let a wrong signature pass; a broken count would let
a cache that never hits pass)."""

from __future__ import annotations

import datetime as dt
import json
import re
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from support.aws import ACCOUNT_ID, AccessKey
from support.homes import TempHome, clean_env, run
from support.moto import MotoServer
from support.peers import VENV_PYTHON, faketime_env

pytestmark = pytest.mark.harness


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return excinfo.value.response["Error"]["Code"]


# --- signature checking and IAM policies are on -----------------------------------------------


def test_wrong_secret_is_rejected_with_signature_does_not_match(moto: MotoServer, base_user: AccessKey):
    wrong = AccessKey("", "", base_user.access_key_id, "not-the-secret-" + "x" * 25)
    with pytest.raises(ClientError) as excinfo:
        moto.client("sts", wrong).get_caller_identity()
    assert error_code(excinfo) == "SignatureDoesNotMatch"
    with pytest.raises(ClientError) as excinfo:
        moto.client("sts", wrong).assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/any", RoleSessionName="ext-session")
    assert error_code(excinfo) == "SignatureDoesNotMatch"
    # The right secret passes the same check, so the failure above is the signature and nothing else.
    assert moto.client("sts", base_user).get_caller_identity()["Arn"] == base_user.user_arn


def test_unknown_access_key_is_rejected_with_invalid_client_token_id(moto: MotoServer):
    stranger = AccessKey("", "", "AKIAUNKNOWNUNKNOWN00", "whatever")
    with pytest.raises(ClientError) as excinfo:
        moto.client("sts", stranger).get_caller_identity()
    assert error_code(excinfo) == "InvalidClientTokenId"


def test_iam_policies_are_enforced(moto: MotoServer, base_user: AccessKey):
    # base users may only call sts:AssumeRole: an IAM write is denied.
    with pytest.raises(ClientError) as excinfo:
        moto.client("iam", base_user).create_user(UserName="not-allowed")
    assert error_code(excinfo) == "AccessDenied"


def test_trust_policies_decide_who_may_assume_a_role(moto: MotoServer, base_user: AccessKey):
    other = moto.create_user("other")
    role_a = moto.create_role("roleA", trusted=[base_user.user_arn], may_assume_roles=True)
    session_a_arn = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role_a.split('/')[-1]}/hop"
    role_b = moto.create_role("roleB", trusted=[session_a_arn])

    with pytest.raises(ClientError) as excinfo:
        moto.client("sts", other).assume_role(RoleArn=role_a, RoleSessionName="hop")
    assert error_code(excinfo) == "AccessDenied"
    with pytest.raises(ClientError) as excinfo:  # roleB trusts roleA's session, not the user
        moto.client("sts", base_user).assume_role(RoleArn=role_b, RoleSessionName="hop")
    assert error_code(excinfo) == "AccessDenied"

    hop = moto.client("sts", base_user).assume_role(RoleArn=role_a, RoleSessionName="hop")["Credentials"]
    assert moto.caller_arn(hop) == session_a_arn
    final = moto.client("sts", AccessKey("", "", hop["AccessKeyId"], hop["SecretAccessKey"]), hop["SessionToken"])
    creds = final.assume_role(RoleArn=role_b, RoleSessionName="end")["Credentials"]
    assert moto.caller_arn(creds) == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role_b.split('/')[-1]}/end"


def test_external_id_condition_is_enforced(moto: MotoServer, base_user: AccessKey):
    role = moto.create_role("ext", trusted=[base_user.user_arn], external_id="ext-1234")
    sts = moto.client("sts", base_user)
    # moto limitation: a request with no ExternalId at all passes the condition, so tests of
    # external_id must send a wrong one to see a denial.
    with pytest.raises(ClientError) as excinfo:
        sts.assume_role(RoleArn=role, RoleSessionName="ext-session", ExternalId="wrong")
    assert error_code(excinfo) == "AccessDenied"
    sts.assume_role(RoleArn=role, RoleSessionName="ext-session", ExternalId="ext-1234")


# --- what moto's STS returns (facts the binary must cope with) ----------------------------------


def test_assume_role_response_shape(moto: MotoServer, base_user: AccessKey):
    role = moto.create_role("shape", trusted=[base_user.user_arn])
    sts = moto.client("sts", base_user)
    raw: list[str] = []
    sts.meta.events.register("after-call.sts.AssumeRole", lambda http_response, **_: raw.append(http_response.text))
    response = sts.assume_role(RoleArn=role, RoleSessionName="shape-session", DurationSeconds=900)
    assert response["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role.split('/')[-1]}/shape-session"
    assert response["Credentials"]["AccessKeyId"].startswith("ASIA")
    # moto writes fractional seconds (real STS does not): 2026-11-29T13:15:36.237983Z
    expiration = re.search(r"<Expiration>([^<]+)</Expiration>", raw[0]).group(1)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", expiration), expiration
    remaining = response["Credentials"]["Expiration"] - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(seconds=880) < remaining <= dt.timedelta(seconds=900)


# --- counting the AssumeRole requests moto received ---------------------------------------------


def test_assume_role_requests_are_counted_per_role(moto: MotoServer, base_user: AccessKey):
    role = moto.create_role("counted", trusted=[base_user.user_arn])
    other_role = moto.create_role("uncounted", trusted=[base_user.user_arn])
    sts = moto.client("sts", base_user)
    assert moto.assume_role_count(role) == 0

    sts.assume_role(RoleArn=role, RoleSessionName="one")
    assert moto.assume_role_count(role) == 1
    sts.get_caller_identity()
    sts.assume_role(RoleArn=other_role, RoleSessionName="one")
    assert moto.assume_role_count(role) == 1, "other actions and other roles are not counted"

    # A request STS rejected was still received: it counts.
    wrong = AccessKey("", "", base_user.access_key_id, "wrong-secret-" + "y" * 27)
    with pytest.raises(ClientError):
        moto.client("sts", wrong).assume_role(RoleArn=role, RoleSessionName="one")
    assert moto.assume_role_count(role) == 2
    recorded = moto.assume_role_requests(role)[-1]
    assert recorded.params["RoleSessionName"] == "one"


def test_concurrent_assume_role_requests_are_all_counted(moto: MotoServer, base_user: AccessKey):
    role = moto.create_role("burst", trusted=[base_user.user_arn])

    def assume(i: int) -> str:
        return moto.client("sts", base_user).assume_role(RoleArn=role, RoleSessionName=f"s{i}")["Credentials"][
            "AccessKeyId"
        ]

    with ThreadPoolExecutor(max_workers=25) as pool:
        keys = list(pool.map(assume, range(50)))
    assert len(set(keys)) == 50
    assert moto.assume_role_count(role) == 50
    assert sorted(r.params["RoleSessionName"] for r in moto.assume_role_requests(role)) == sorted(
        f"s{i}" for i in range(50)
    )


# --- clocks -------------------------------------------------------------------------------------


def test_faketime_shifts_a_dynamically_linked_program():
    real = run(["date", "+%s"], clean_env()).stdout
    shifted = run(["date", "+%s"], clean_env(extra=faketime_env("+50m"))).stdout
    assert 2990 <= int(shifted) - int(real) <= 3010


def test_clocked_moto_issues_expirations_on_its_own_clock(clocked_moto: MotoServer):
    user = clocked_moto.create_user("clock")
    role = clocked_moto.create_role("clock", trusted=[user.user_arn])
    sts = clocked_moto.client("sts", user)
    try:
        clocked_moto.set_clock("+2h")
        creds = sts.assume_role(RoleArn=role, RoleSessionName="later")["Credentials"]
        ahead = creds["Expiration"] - dt.datetime.now(dt.timezone.utc)
        assert dt.timedelta(hours=2, minutes=59) < ahead < dt.timedelta(hours=3, minutes=1)
    finally:
        clocked_moto.set_clock("+0")
    creds = sts.assume_role(RoleArn=role, RoleSessionName="now")["Credentials"]
    ahead = creds["Expiration"] - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(minutes=59) < ahead <= dt.timedelta(hours=1)


# --- the temp HOME drives the real AWS CLI and boto3 through credential_process ------------------

STUB_CREDENTIAL_PROCESS = textwrap.dedent(
    """\
    #!{python}
    # A minimal stand-in for stscache (no cache): resolves role_arn + source_profile with static
    # keys, calls AssumeRole, prints the Version-1 JSON. Proves the harness, not the product.
    import configparser, json, os, sys
    import boto3
    profile = sys.argv[sys.argv.index("--profile") + 1]
    home = os.environ["HOME"]
    config = configparser.ConfigParser(); config.read(os.path.join(home, ".aws", "config"))
    creds = configparser.ConfigParser(); creds.read(os.path.join(home, ".aws", "credentials"))
    role = config["profile " + profile]
    source = creds[role["source_profile"]]
    sts = boto3.client("sts", endpoint_url=role["endpoint_url"], region_name=role["region"],
                       aws_access_key_id=source["aws_access_key_id"],
                       aws_secret_access_key=source["aws_secret_access_key"])
    c = sts.assume_role(RoleArn=role["role_arn"], RoleSessionName=role["role_session_name"])["Credentials"]
    print(json.dumps({{"Version": 1, "AccessKeyId": c["AccessKeyId"], "SecretAccessKey": c["SecretAccessKey"],
                      "SessionToken": c["SessionToken"],
                      "Expiration": c["Expiration"].strftime("%Y-%m-%dT%H:%M:%SZ")}}))
    """
)


@pytest.fixture
def stub_home(tmp_path: Path, moto: MotoServer) -> TempHome:
    stub = tmp_path / "stub-credential-process"
    stub.write_text(STUB_CREDENTIAL_PROCESS.format(python=VENV_PYTHON))
    stub.chmod(0o755)
    return TempHome(tmp_path / "home", moto, stub)


def test_aws_cli_with_static_keys_in_a_temp_home(stub_home: TempHome, base_user: AccessKey):
    stub_home.add_source("base", base_user)
    stub_home.write()
    result = stub_home.aws("sts", "get-caller-identity", "--profile", "base", "--output", "json")
    assert result.ok, result
    assert result.json()["Arn"] == base_user.user_arn


def test_delegating_profile_through_a_stub_credential_process(
    stub_home: TempHome, moto: MotoServer, base_user: AccessKey
):
    role = moto.create_role("stub", trusted=[base_user.user_arn])
    stub_home.delegate(role, base_user, session_name="harness")
    expected = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role.split('/')[-1]}/harness"
    before = moto.assume_role_count(role)

    result = stub_home.aws("sts", "get-caller-identity", "--profile", "prod", "--output", "json")
    assert result.ok, result
    assert result.json()["Arn"] == expected
    via_boto3 = stub_home.boto3_caller_identity("prod")
    assert via_boto3.ok, via_boto3
    assert json.loads(via_boto3.stdout) == expected
    # The stub has no cache: each tool's run is one AssumeRole, and the count sees both.
    assert moto.assume_role_count(role) == before + 2


def test_clean_environment_leaks_nothing_from_the_host(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("AWS_PROFILE", "host-profile")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "host-secret")
    monkeypatch.setenv("STSCACHE_CACHE_DIR", "/host/cache")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    env = clean_env(tmp_path)
    assert env["HOME"] == str(tmp_path)
    assert not {k for k in env if k.startswith(("STSCACHE_", "XDG_")) or "PROXY" in k.upper()}
    assert {k for k in env if k.startswith("AWS_")} == {"AWS_EC2_METADATA_DISABLED"}


def test_moto_bootstrap_left_auth_on(moto: MotoServer):
    # Everything after the three bootstrap calls was authenticated: a request with no usable
    # signature now fails even for an action the bootstrap itself performed.
    stranger = AccessKey("", "", "AKIABOOTSTRAPBOOTSTR", "bootstrap-secret")
    with pytest.raises(ClientError) as excinfo:
        moto.client("iam", stranger).create_user(UserName=f"late-{time.time_ns()}")
    assert error_code(excinfo) == "InvalidClientTokenId"


# --- the fake Sign-In (support/fakesignin.py) fails closed ------------------------------------


def test_fake_signin_refuses_what_the_real_service_would(tmp_path: Path):
    """Every check the login tests lean on refuses when it should: a proof under another key
    (in the header, or only in the signature), a wrong htu, a stale iat, a replayed jti, a spent
    refresh token, a wrong PKCE verifier and a reused code; and the right requests pass."""
    import secrets as _secrets
    import urllib.error
    import urllib.parse
    import urllib.request

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    from support.fakesignin import SAME_DEVICE, FakeSignIn, b64url, s256

    def proof(key, url: str, iat: int | None = None, jti: str | None = None, signer=None) -> str:
        numbers = key.public_key().public_numbers()
        jwk = {"kty": "EC", "x": b64url(numbers.x.to_bytes(32, "big")), "y": b64url(numbers.y.to_bytes(32, "big")),
               "crv": "P-256"}
        head = b64url(json.dumps({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}).encode())
        claims = {"htm": "POST", "htu": url, "iat": int(time.time()) if iat is None else iat,
                  "jti": jti or _secrets.token_hex(16)}
        body = b64url(json.dumps(claims).encode())
        r, s = decode_dss_signature((signer or key).sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256())))
        return f"{head}.{body}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def post(dpop: str, body: dict) -> tuple[int, dict]:
        request = urllib.request.Request(fake.endpoint + "/v1/token", data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json", "DPoP": dpop})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    fake = FakeSignIn()
    try:
        url = fake.endpoint + "/v1/token"
        path = fake.sign_in(tmp_path / "cache", "arn:aws:iam::123456789012:user/alice", 900, ACCOUNT_ID)
        saved = json.loads(path.read_text())
        key = serialization.load_pem_private_key(saved["dpopKey"].encode(), password=None)
        other = ec.generate_private_key(ec.SECP256R1())
        refresh = {"clientId": SAME_DEVICE, "grantType": "refresh_token", "refreshToken": saved["refreshToken"]}

        refusals = [
            (proof(other, url), "the proof's key is not the session's dpopKey"),
            (proof(key, url, signer=other), "does not verify"),
            (proof(key, fake.endpoint + "/v1/other"), "htm/htu"),
            (proof(key, url, iat=int(time.time()) - 120), "iat"),
        ]
        for dpop, why in refusals:
            status, answer = post(dpop, refresh)
            assert status == 400 and why in answer["message"], (why, answer)
        reused = _secrets.token_hex(16)
        status, answer = post(proof(key, url, jti=reused), refresh)
        assert status == 200 and answer["refreshToken"] != saved["refreshToken"], answer
        status, answer = post(proof(key, url, jti=reused), {**refresh, "refreshToken": answer["refreshToken"]})
        assert status == 400 and "jti" in answer["message"], answer
        status, answer = post(proof(key, url), refresh)  # the spent refresh token
        assert (status, answer["error"]) == (400, "TOKEN_EXPIRED"), answer
        assert fake.issued == 1

        # The authorization_code grant: PKCE, and each code once.
        verifier = _secrets.token_urlsafe(32)
        redirect = "http://127.0.0.1:5555/oauth/callback"
        query = urllib.parse.urlencode({"response_type": "code", "client_id": SAME_DEVICE, "redirect_uri": redirect,
                                        "state": "s", "code_challenge": s256(verifier),
                                        "code_challenge_method": "SHA-256", "scope": "openid"})

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args):
                return None

        with pytest.raises(urllib.error.HTTPError) as redirected:
            urllib.request.build_opener(NoRedirect).open(fake.endpoint + "/v1/authorize?" + query, timeout=10)
        code = urllib.parse.parse_qs(urllib.parse.urlsplit(redirected.value.headers["Location"]).query)["code"][0]
        grant = {"clientId": SAME_DEVICE, "grantType": "authorization_code", "code": code, "redirectUri": redirect}
        new_key = ec.generate_private_key(ec.SECP256R1())
        status, answer = post(proof(new_key, url), {**grant, "codeVerifier": _secrets.token_urlsafe(32)})
        assert status == 400 and "codeVerifier" in answer["message"], answer
        # The code was spent by the failed try, as a real one-time code is.
        status, answer = post(proof(new_key, url), {**grant, "codeVerifier": verifier})
        assert (status, answer["error"]) == (400, "AUTHCODE_EXPIRED"), answer
        assert fake.issued == 1 and len(fake.refused) == 8, fake.refused
    finally:
        fake.close()
