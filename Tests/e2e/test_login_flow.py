"""Issue 21, item 2: `stscache login` for `aws login` profiles (`login_session`).

Peers: a loopback AWS Sign-In (support/fakesignin.py: the authorize endpoint and
CreateOAuth2Token, checking PKCE and every DPoP proof), moto (signature checking on) whose role
sessions the fake hands out as the signed-in console identity, the AWS CLI and botocore's own
`LoginProvider` in the same HOME.
"""

from __future__ import annotations

import base64
import hashlib
import json
import signal
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from support.aws import REGION, AccessKey, assumed_arn
from support.fakesignin import CROSS_DEVICE, SAME_DEVICE, FakeSignIn, b64url_decode, s256
from support.homes import Result, TempHome, run
from support.moto import MotoServer
from support.peers import VENV_PYTHON

pytestmark = pytest.mark.sso

CONSOLE_SESSION = "alice"


@pytest.fixture
def console_role(moto: MotoServer, base_user: AccessKey) -> str:
    """The moto role whose sessions the fake Sign-In hands out as the console identity."""
    return moto.create_role("console", trusted=[base_user.user_arn], may_assume_roles=True)


@pytest.fixture
def signin(moto: MotoServer, base_user: AccessKey, console_role: str):
    def issue() -> dict:
        credentials = moto.client("sts", base_user).assume_role(
            RoleArn=console_role, RoleSessionName=CONSOLE_SESSION)["Credentials"]
        return {"accessKeyId": credentials["AccessKeyId"], "secretAccessKey": credentials["SecretAccessKey"],
                "sessionToken": credentials["SessionToken"]}

    fake = FakeSignIn(identity_arn=assumed_arn(console_role, CONSOLE_SESSION), issue=issue)
    try:
        yield fake
    finally:
        fake.close()


@pytest.fixture
def login_home(make_home, moto: MotoServer, signin: FakeSignIn) -> TempHome:
    """[profile console] with only a region and moto's endpoint (the CLI's `aws login` adds
    login_session to it); [profile via] reaches it through stscache's credential_process."""
    home = make_home(**signin.env)
    home.config["profile console"] = {"region": REGION, "endpoint_url": moto.endpoint}
    home.config["profile via"] = {"credential_process": home.credential_process("console"), "region": REGION,
                                  "endpoint_url": moto.endpoint}
    home.write()
    return home


def start_login(home: TempHome, *args: str, stdin=subprocess.DEVNULL) -> subprocess.Popen:
    return subprocess.Popen([str(home.stscache_bin), "login", *args], env=home.env(), stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def finish(process: subprocess.Popen, first: str, stdin: str | None = None) -> Result:
    stdout, rest = process.communicate(stdin, timeout=60)
    return Result(process.args, process.returncode, stdout, first + rest, 0.0)


def url_in(line: str) -> str:
    assert line.startswith("stscache: to sign in to profile console with your AWS console credentials"), line
    return line.rsplit(": ", 1)[1].strip()


def browse(url: str) -> tuple[int, str]:
    """A browser: GET the URL, follow redirects (to stscache's loopback server, or to the fake's
    confirmation page), return the last answer."""
    try:
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=20) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def session_file(home: TempHome, arn: str) -> Path:
    return home.root / ".aws" / "login" / "cache" / (hashlib.sha256(arn.encode()).hexdigest() + ".json")


def login_dir_files(home: TempHome) -> list[Path]:
    directory = home.root / ".aws" / "login" / "cache"
    return sorted(directory.iterdir()) if directory.exists() else []


def caller_arn(result: Result) -> str:
    assert result.ok, result
    return json.loads(result.stdout)["Arn"]


def dpop_public_key(proof: str) -> dict:
    return json.loads(b64url_decode(proof.split(".")[0]))["jwk"]


def pem_public_key(pem: str) -> dict:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    numbers = load_pem_private_key(pem.encode(), password=None).public_key().public_numbers()
    encode = lambda n: base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()  # noqa: E731
    return {"kty": "EC", "x": encode(numbers.x), "y": encode(numbers.y), "crv": "P-256"}


def botocore_login_credentials(home: TempHome, profile: str, may_refresh: bool = False) -> dict:
    """botocore's own LoginProvider, in a process of its own in this HOME, loading the profile
    (and refreshing it through Sign-In when its credentials are stale, if `may_refresh`)."""
    guard = "contextlib.nullcontext()" if may_refresh else \
        'mock.patch.object(session, "create_client", side_effect=AssertionError("botocore called Sign-In"))'
    script = f"""
import contextlib, json, os
from unittest import mock
import botocore.session
from botocore.credentials import LoginProvider
session = botocore.session.Session(profile={profile!r})
provider = LoginProvider(load_config=lambda: session.full_config, client_creator=session.create_client,
                         profile_name={profile!r})
with {guard}:
    credentials = provider.load()
    frozen = credentials.get_frozen_credentials()
print(json.dumps({{"access_key": frozen.access_key, "token": frozen.token, "account_id": credentials.account_id,
                   "method": credentials.method, "refresh_needed": credentials.refresh_needed()}}))
"""
    result = run([str(VENV_PYTHON), "-c", script], home.env())
    assert result.ok, result
    return json.loads(result.stdout)


def test_login_on_this_machine_writes_the_clis_session_file(login_home: TempHome, signin: FakeSignIn, moto: MotoServer):
    process = start_login(login_home, "--profile", "console", "--no-browser")
    first = process.stderr.readline()
    url = url_in(first)
    assert url.startswith(signin.endpoint + "/v1/authorize?response_type=code&client_id="
                          + urllib.parse.quote(SAME_DEVICE, safe="") + "&state=")
    status, page = browse(url)
    result = finish(process, first)

    assert result.ok, result
    assert status == 200 and "Signed in" in page
    assert result.stdout == ""
    arn = signin.identity_arn
    assert result.stderr.splitlines()[-1] == f"stscache: signed in as {arn}; profile console uses this login_session"
    [authorize] = signin.calls("Authorize")
    [token] = signin.calls("CreateOAuth2Token")  # the fake checked the verifier, the code and the proof
    body = token.json()
    assert body["grantType"] == "authorization_code" and body["clientId"] == SAME_DEVICE
    assert s256(body["codeVerifier"]) == authorize.query["code_challenge"][0]
    assert body["redirectUri"] == authorize.query["redirect_uri"][0]
    assert urllib.parse.urlsplit(body["redirectUri"]).hostname == "127.0.0.1"
    assert signin.refused == []
    # Neither the verifier, nor the code, nor the refresh token reaches the terminal.
    for secret in (body["codeVerifier"], body["code"]):
        assert secret not in result.stderr

    # The CLI's file, under the CLI's name, 0600, in its directory (0700).
    path = session_file(login_home, arn)
    assert login_dir_files(login_home) == [path]
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    saved = json.loads(path.read_text())
    assert set(saved) >= {"accessToken", "tokenType", "clientId", "refreshToken", "idToken", "dpopKey"}
    assert set(saved["accessToken"]) == {"accessKeyId", "secretAccessKey", "sessionToken", "accountId", "expiresAt"}
    assert saved["accessToken"]["accountId"] == arn.split(":")[4]
    assert saved["clientId"] == SAME_DEVICE and saved["tokenType"] == "aws_sigv4"
    assert saved["refreshToken"] in signin.refresh_tokens
    assert saved["refreshToken"] not in result.stderr
    assert saved["dpopKey"].startswith("-----BEGIN EC PRIVATE KEY-----\n")
    # The key in the file is the one whose proof Sign-In bound the session to.
    assert pem_public_key(saved["dpopKey"]) == dpop_public_key(token.headers["dpop"])
    # The profile now says which session, as the CLI leaves it; nothing else in it changed.
    config = (login_home.root / ".aws" / "config").read_text()
    assert f"[profile console]\nregion = {REGION}\nendpoint_url = {moto.endpoint}\nlogin_session = {arn}\n" in config

    # botocore's own provider reads the file as is: fresh (over botocore's 5 minutes), so no
    # Sign-In call (the script fails if botocore so much as makes a client).
    loaded = botocore_login_credentials(login_home, "console")
    assert loaded["access_key"] == saved["accessToken"]["accessKeyId"] and loaded["method"] == "login"
    assert loaded["account_id"] == saved["accessToken"]["accountId"]

    # The AWS CLI on its own (botocore's login provider) with the same file, against moto with
    # signatures checked.
    assert caller_arn(login_home.aws("sts", "get-caller-identity", "--profile", "console", "--output", "json")) == arn
    assert len(signin.calls("CreateOAuth2Token")) == 1

    # botocore refreshes the session with the key stscache saved: the fake takes its proof only
    # from the key the login's proof showed (the session is bound to it), and rotates the token.
    saved["accessToken"]["expiresAt"] = "2020-01-01T00:00:00Z"
    path.write_text(json.dumps(saved))
    refreshed = botocore_login_credentials(login_home, "console", may_refresh=True)
    [_, refresh] = signin.calls("CreateOAuth2Token")
    assert refresh.json()["grantType"] == "refresh_token" and refresh.json()["refreshToken"] == saved["refreshToken"]
    assert dpop_public_key(refresh.headers["dpop"]) == dpop_public_key(token.headers["dpop"])
    assert signin.refused == []
    assert refreshed["access_key"] != saved["accessToken"]["accessKeyId"]
    assert json.loads(path.read_text())["refreshToken"] != saved["refreshToken"]


def test_credential_process_serves_the_session_login_wrote(login_home: TempHome, signin: FakeSignIn):
    """The AWS CLI through `credential_process = stscache credential-process --profile console`
    (the login_session source of issue 21 item 1), against moto with signatures checked."""
    process = start_login(login_home, "--profile", "console", "--no-browser")
    first = process.stderr.readline()
    browse(url_in(first))
    assert finish(process, first).ok
    assert caller_arn(login_home.aws("sts", "get-caller-identity", "--profile", "via", "--output", "json")) \
        == signin.identity_arn
    assert len(signin.calls("CreateOAuth2Token")) == 1  # fresh: served from the file, no refresh


def test_remote_login_takes_the_pasted_code_on_stdin(login_home: TempHome, signin: FakeSignIn):
    process = start_login(login_home, "--profile", "console", "--remote", stdin=subprocess.PIPE)
    first = process.stderr.readline()
    assert "on any device, then paste the code it shows here" in first, first
    url = url_in(first)
    assert "client_id=" + urllib.parse.quote(CROSS_DEVICE, safe="") in url
    status, page = browse(url)  # on "another device": Sign-In's page shows the code
    assert status == 200
    code = signin.verification_code(page)
    result = finish(process, first, stdin=code + "\n")

    assert result.ok, result
    assert code not in result.stderr
    [token] = signin.calls("CreateOAuth2Token")
    assert token.json()["clientId"] == CROSS_DEVICE
    assert token.json()["redirectUri"] == signin.endpoint + "/v1/sessions/confirmation"
    saved = json.loads(session_file(login_home, signin.identity_arn).read_text())
    assert saved["clientId"] == CROSS_DEVICE


def assert_failed_after_the_url(result: Result, first: str, *needles: str) -> str:
    """The URL line came first (the sign-in had started); then exactly one line saying what
    happened, and nothing on stdout."""
    assert result.returncode == 1 and result.stdout == "", result
    [shown, failure] = result.stderr.rstrip("\n").split("\n")
    assert shown == first.rstrip("\n")
    assert failure.startswith("stscache: "), result
    for needle in needles:
        assert needle in failure, result
    return failure


def test_a_pasted_code_of_another_sign_in_leaves_no_file(login_home: TempHome, signin: FakeSignIn):
    config_before = (login_home.root / ".aws" / "config").read_bytes()
    process = start_login(login_home, "--profile", "console", "--remote", stdin=subprocess.PIPE)
    first = process.stderr.readline()
    signin.state_override = "5a0c6f0e-0000-4000-8000-000000000000"  # a code made for another sign-in
    code = signin.verification_code(browse(url_in(first))[1])
    result = finish(process, first, stdin=code + "\n")

    failure = assert_failed_after_the_url(result, first, "another sign-in", "nothing was saved")
    assert code not in failure
    assert signin.calls("CreateOAuth2Token") == []
    assert login_dir_files(login_home) == []
    assert (login_home.root / ".aws" / "config").read_bytes() == config_before


def test_a_redirect_with_another_state_is_refused_and_leaves_no_file(login_home: TempHome, signin: FakeSignIn):
    config_before = (login_home.root / ".aws" / "config").read_bytes()
    process = start_login(login_home, "--profile", "console", "--no-browser")
    first = process.stderr.readline()
    url = url_in(first)
    port = urllib.parse.urlsplit(urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["redirect_uri"][0]).port
    state = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["state"][0]
    # Another path, even with the right state, is not the redirect.
    assert browse(f"http://127.0.0.1:{port}/callback?code=forged&state={state}")[0] == 404
    signin.state_override = "guessed"
    status, page = browse(url)
    assert status == 400 and "code-" not in page
    assert process.poll() is None  # a forged redirect does not end the login; it waits for the real one
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=30)
    assert signin.calls("CreateOAuth2Token") == []
    assert login_dir_files(login_home) == []
    assert (login_home.root / ".aws" / "config").read_bytes() == config_before


def test_an_id_token_whose_subject_is_not_an_identity_arn_leaves_no_file(login_home: TempHome, signin: FakeSignIn):
    config_before = (login_home.root / ".aws" / "config").read_bytes()
    signin.identity_arn = "arn:aws:iam::123456789012:user/alice\n[profile evil]\ncredential_process = /tmp/x"
    process = start_login(login_home, "--profile", "console", "--no-browser")
    first = process.stderr.readline()
    browse(url_in(first))
    result = finish(process, first)

    failure = assert_failed_after_the_url(result, first, "not the ARN of an IAM identity", "nothing was saved")
    assert "evil" not in failure
    assert len(signin.calls("CreateOAuth2Token")) == 1
    assert login_dir_files(login_home) == []
    assert (login_home.root / ".aws" / "config").read_bytes() == config_before


def test_a_profile_with_other_credentials_is_refused_before_any_sign_in(login_home: TempHome, signin: FakeSignIn):
    login_home.config["profile role"] = {"role_arn": "arn:aws:iam::123456789012:role/R", "source_profile": "console"}
    login_home.write()
    result = run([str(login_home.stscache_bin), "login", "--profile", "role"], login_home.env())
    assert result.returncode == 1 and result.stdout == "", result
    [line] = result.stderr.splitlines()
    assert line.startswith("stscache: ") and "Assume Role credentials" in line and "--profile NEW" in line
    # --sso-session stays Identity Center's; the two flows' options do not mix.
    for args in (["--sso-session", "corp", "--remote"], ["--profile", "console", "--remote", "--device-code"]):
        mixed = run([str(login_home.stscache_bin), "login", *args], login_home.env())
        assert mixed.returncode == 64 and mixed.stdout == "", mixed
        assert len(mixed.stderr.strip().splitlines()) == 1 and mixed.stderr.startswith("stscache: "), mixed
    assert signin.seen == []


def test_login_through_the_browser_it_opens(login_home: TempHome, signin: FakeSignIn, tmp_path: Path):
    """BROWSER is a headless browser: it reads the private page stscache hands it, follows its
    redirect to Sign-In and from there Sign-In's redirect back to stscache."""
    browser = tmp_path / "headless-browser"
    log = tmp_path / "browser.log"
    browser.write_text(f"""#!{VENV_PYTHON}
import html, re, sys, urllib.request
page = open(sys.argv[1].removeprefix("file://")).read()
url = html.unescape(re.search(r'url=([^"]+)"', page).group(1))
with open({str(log)!r}, "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
with urllib.request.build_opener(urllib.request.ProxyHandler({{}})).open(url, timeout=20) as answer:
    assert answer.status == 200
""")
    browser.chmod(0o755)
    result = run([str(login_home.stscache_bin), "login", "--profile", "console"], login_home.env({"BROWSER": str(browser)}))
    assert result.ok, result
    [opened] = log.read_text().splitlines()
    assert opened.startswith("file://") and "authorize" not in opened  # the URL never in the browser's argv
    assert session_file(login_home, signin.identity_arn).exists()


def test_a_new_profile_gets_login_session_and_the_region_given(login_home: TempHome, signin: FakeSignIn):
    """`aws login --profile NEW` makes the profile; the region it had to ask for is saved with it."""
    process = start_login(login_home, "--profile", "fresh", "--region", "eu-west-1", "--no-browser")
    first = process.stderr.readline()
    assert first.startswith("stscache: to sign in to profile fresh "), first
    browse(first.rsplit(": ", 1)[1].strip())
    result = finish(process, first)
    assert result.ok, result
    config = (login_home.root / ".aws" / "config").read_text()
    assert config.endswith(f"\n[profile fresh]\nlogin_session = {signin.identity_arn}\nregion = eu-west-1\n"), config
    assert session_file(login_home, signin.identity_arn).exists()
