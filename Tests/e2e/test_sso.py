"""Issue 13: IAM Identity Center (SSO) profiles as a source, one login shared with the AWS CLI.

Peers: the AWS CLI, boto3 and botocore's own Identity Center code in the same HOME; moto (signature
checking on) for STS; a loopback fake portal + OIDC (support/fakesso.py) for what moto lacks. The
fake portal hands out real moto role sessions, so every credential it issues is checked by moto
when the CLI, boto3 or stscache's chained AssumeRole use it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shlex
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from support.aws import ACCOUNT_ID, REGION, AccessKey, assumed_arn
from support.fakesso import FakeIdentityCenter
from support.homes import Result, TempHome, assert_clean_failure, run
from support.moto import MotoServer
from support.peers import VENV_PYTHON

pytestmark = pytest.mark.sso

START_URL = "https://corp.awsapps.com/start"
SESSION = "corp"
ROLE_NAME = "Developer"
PORTAL_SESSION = "portal-session"


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


@pytest.fixture
def portal_role(moto: MotoServer, base_user: AccessKey) -> str:
    """The moto role whose sessions the fake portal hands out as 'Developer' in the account."""
    return moto.create_role("portal", trusted=[base_user.user_arn], may_assume_roles=True)


@pytest.fixture
def sso(moto: MotoServer, base_user: AccessKey, portal_role: str):
    def issue(account_id: str, role_name: str) -> dict:
        answer = moto.client("sts", base_user).assume_role(RoleArn=portal_role, RoleSessionName=PORTAL_SESSION)
        credentials = answer["Credentials"]
        return {
            "accessKeyId": credentials["AccessKeyId"],
            "secretAccessKey": credentials["SecretAccessKey"],
            "sessionToken": credentials["SessionToken"],
            "expiration": int(credentials["Expiration"].timestamp() * 1000),
        }

    fake = FakeIdentityCenter(issue=issue)
    fake.assignments.add((ACCOUNT_ID, ROLE_NAME))
    try:
        yield fake
    finally:
        fake.close()


@pytest.fixture
def sso_home(make_home, moto: MotoServer, sso: FakeIdentityCenter) -> TempHome:
    """[sso-session corp], [profile dev-sso] (Identity Center), [profile dev] delegating to it,
    and a legacy inline profile; the fake's endpoints in the environment of every process."""
    home = make_home(**sso.env)
    home.config[f"sso-session {SESSION}"] = {"sso_start_url": START_URL, "sso_region": REGION,
                                              "sso_registration_scopes": "sso:account:access"}
    home.config["profile dev-sso"] = {"sso_session": SESSION, "sso_account_id": ACCOUNT_ID, "sso_role_name": ROLE_NAME,
                                      "region": REGION, "endpoint_url": moto.endpoint}
    home.config["profile legacy-sso"] = {"sso_start_url": START_URL, "sso_region": REGION, "sso_account_id": ACCOUNT_ID,
                                         "sso_role_name": ROLE_NAME, "region": REGION, "endpoint_url": moto.endpoint}
    home.add_delegating_profile("dev", "dev-sso")
    home.write()
    return home


def token_dir(home: TempHome) -> Path:
    return home.root / ".aws" / "sso" / "cache"


def botocore_login(home: TempHome, fake: FakeIdentityCenter, expires_in: float, *, refreshable: bool = True,
                   session_name: str | None = SESSION) -> dict:
    """What `aws sso login` leaves: a token (and the client registration) saved by botocore's
    own SSOTokenLoader into the HOME's token cache."""
    from botocore.utils import JSONFileCache, SSOTokenLoader

    client_id, client_secret = fake.register_client()
    access, refresh = fake.issue_token(client_id, expires_in)
    now = utcnow()
    token = {"startUrl": START_URL, "region": REGION, "accessToken": access,
             "expiresAt": iso(now + dt.timedelta(seconds=expires_in))}
    if refreshable:
        token.update(clientId=client_id, clientSecret=client_secret, refreshToken=refresh,
                     registrationExpiresAt=iso(now + dt.timedelta(days=90)))
    SSOTokenLoader(cache=JSONFileCache(str(token_dir(home)))).save_token(START_URL, token, session_name=session_name)
    return token


def botocore_token(home: TempHome, session_name: str | None = SESSION) -> dict:
    from botocore.utils import JSONFileCache, SSOTokenLoader

    return SSOTokenLoader(cache=JSONFileCache(str(token_dir(home))))(START_URL, session_name=session_name)


def caller_arn(result: Result) -> str:
    assert result.ok, result
    return json.loads(result.stdout)["Arn"]


# --------------------------------------------------------------------------------------------
# Interop with the AWS CLI, boto3 and botocore
# --------------------------------------------------------------------------------------------


def test_cli_and_boto3_through_the_delegating_profile_use_the_clis_login(
        sso_home: TempHome, sso: FakeIdentityCenter, portal_role: str):
    token = botocore_login(sso_home, sso, expires_in=3600)

    via_cli = sso_home.aws("sts", "get-caller-identity", "--profile", "dev", "--output", "json")
    via_boto3 = sso_home.boto3_caller_identity("dev")

    assert caller_arn(via_cli) == assumed_arn(portal_role, PORTAL_SESSION)
    assert via_boto3.ok, via_boto3
    assert json.loads(via_boto3.stdout) == assumed_arn(portal_role, PORTAL_SESSION)
    # One portal call: the second client was answered from stscache's encrypted cache.
    [call] = sso.calls("GetRoleCredentials")
    assert call.headers["x-amz-sso_bearer_token"] == token["accessToken"]
    assert call.query == {"account_id": [ACCOUNT_ID], "role_name": [ROLE_NAME]}
    assert sso.calls("CreateToken") == []
    # The cache holds no token or credential in the clear.
    for path in sso_home.cache_dir.rglob("*"):
        if path.is_file():
            assert token["accessToken"].encode() not in path.read_bytes()


def test_stscache_refresh_is_read_by_botocore_and_the_aws_cli(sso_home: TempHome, sso: FakeIdentityCenter,
                                                             portal_role: str):
    before = botocore_login(sso_home, sso, expires_in=5 * 60)  # inside botocore's 15-minute window
    path = token_dir(sso_home) / (__import__("hashlib").sha1(SESSION.encode()).hexdigest() + ".json")

    result = sso_home.stscache("dev-sso")

    assert result.ok, result
    [refresh] = sso.calls("CreateToken")
    assert refresh.json() == {"grantType": "refresh_token", "clientId": before["clientId"],
                              "clientSecret": before["clientSecret"], "refreshToken": before["refreshToken"]}
    after = botocore_token(sso_home)
    assert after["accessToken"] == sso.newest_access_token != before["accessToken"]
    assert after["refreshToken"] != before["refreshToken"]
    for kept in ("startUrl", "region", "clientId", "clientSecret", "registrationExpiresAt"):
        assert after[kept] == before[kept]
    assert dt.datetime.strptime(after["expiresAt"], "%Y-%m-%dT%H:%M:%SZ") > dt.datetime.utcnow() + dt.timedelta(hours=7)
    assert (path.stat().st_mode & 0o777) == 0o600
    [call] = sso.calls("GetRoleCredentials")
    assert call.headers["x-amz-sso_bearer_token"] == after["accessToken"]

    # botocore's own token provider takes the refreshed token as it is (no refresh of its own) ...
    script = ("import json, sys, botocore.session\n"
              "from botocore.tokens import SSOTokenProvider\n"
              "session = botocore.session.Session(profile='dev-sso')\n"
              "print(SSOTokenProvider(session, profile_name='dev-sso').load_token().get_frozen_token().token)\n")
    provider = run([str(VENV_PYTHON), "-c", script], sso_home.env())
    assert provider.ok, provider
    assert provider.stdout.strip() == after["accessToken"]
    # ... and the AWS CLI's own Identity Center support signs in with it.
    direct = sso_home.aws("sts", "get-caller-identity", "--profile", "dev-sso", "--output", "json")
    assert caller_arn(direct) == assumed_arn(portal_role, PORTAL_SESSION)
    assert len(sso.calls("CreateToken")) == 1
    assert sso.calls("GetRoleCredentials")[-1].headers["x-amz-sso_bearer_token"] == after["accessToken"]


def test_ten_processes_with_an_expired_token_refresh_once(sso_home: TempHome, sso: FakeIdentityCenter, moto: MotoServer):
    """Five roles behind one login, two processes each: the role entries are five different
    locks, so only the token's own lock keeps it to one CreateToken (the refresh token rotates:
    a second refresh with the old one would be refused and its process would fail)."""
    botocore_login(sso_home, sso, expires_in=-60)
    roles = [f"Role{i}" for i in range(5)]
    for role in roles:
        sso.assignments.add((ACCOUNT_ID, role))
        sso_home.config[f"profile sso-{role}"] = {"sso_session": SESSION, "sso_account_id": ACCOUNT_ID,
                                                  "sso_role_name": role, "region": REGION}
    sso_home.write()
    sso.create_token_delay = 1.0

    processes = [sso_home.stscache_popen(f"sso-{role}") for role in roles for _ in range(2)]
    outputs = [process.communicate(timeout=120) for process in processes]

    for process, (stdout, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr
        assert json.loads(stdout)["AccessKeyId"].startswith("ASIA")
    assert len(sso.calls("CreateToken")) == 1
    assert len(sso.calls("GetRoleCredentials")) == 5
    assert botocore_token(sso_home)["accessToken"] == sso.newest_access_token


# --------------------------------------------------------------------------------------------
# Never a browser storm
# --------------------------------------------------------------------------------------------


def browser_traps(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """Every way a program might open a browser, each leaving a mark if run."""
    bin_dir = tmp_path / "browser-bin"
    bin_dir.mkdir()
    marker = tmp_path / "browser-opened"
    for name in ("xdg-open", "sensible-browser", "x-www-browser", "www-browser", "firefox", "open", "gio"):
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\necho \"$0 $*\" >> {shlex.quote(str(marker))}\n")
        script.chmod(0o755)
    return {"BROWSER": str(bin_dir / "xdg-open"), "DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, bin_dir


def detached(home: TempHome, argv: list[str], env: dict[str, str]) -> Result:
    """A run with no controlling terminal (a new session) and stdin closed: as cron, CI, an IDE
    or the agent call credential_process."""
    started = time.monotonic()
    completed = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                               start_new_session=True)
    return Result(argv, completed.returncode, completed.stdout, completed.stderr, time.monotonic() - started)


@pytest.mark.parametrize("noninteractive", [False, True], ids=["plain", "agent"])
def test_no_token_and_no_terminal_fails_at_once_naming_the_login(
        sso_home: TempHome, sso: FakeIdentityCenter, tmp_path: Path, noninteractive: bool):
    traps, bin_dir = browser_traps(tmp_path)
    env = sso_home.env({**traps, "PATH": f"{bin_dir}:{sso_home.env()['PATH']}"})
    if noninteractive:
        env["STSCACHE_NONINTERACTIVE"] = "1"
    argv = [str(sso_home.stscache_bin), "credential-process", "--profile"]

    session = detached(sso_home, argv + ["dev-sso"], env)
    legacy = detached(sso_home, argv + ["legacy-sso"], env)

    assert_clean_failure(session, "aws sso login --sso-session corp")
    assert_clean_failure(legacy, "aws sso login --profile legacy-sso")
    # At once: a run that started a sign-in would wait for it, minutes, up to the 60 s safety net;
    # a loaded machine stays well inside 15 s.
    assert session.elapsed < 15 and legacy.elapsed < 15
    assert sso.calls("all") == []
    assert not (tmp_path / "browser-opened").exists()
    # Control: the same run succeeds once the login exists, so the failure was the missing token.
    botocore_login(sso_home, sso, expires_in=3600)
    assert detached(sso_home, argv + ["dev-sso"], env).ok


def test_the_cli_through_the_delegating_profile_fails_fast_without_a_login(sso_home: TempHome, sso: FakeIdentityCenter):
    result = sso_home.aws("sts", "get-caller-identity", "--profile", "dev", timeout=60)
    assert result.returncode != 0
    assert result.elapsed < 30
    assert sso.calls("all") == []


# --------------------------------------------------------------------------------------------
# Errors that say what to do
# --------------------------------------------------------------------------------------------


def test_revoked_login_names_the_login_command_and_keeps_the_token_file(sso_home: TempHome, sso: FakeIdentityCenter):
    botocore_login(sso_home, sso, expires_in=3600)
    sso.revoke_all()
    path = next(token_dir(sso_home).glob("*.json"))
    before = path.read_bytes()

    portal_refused = sso_home.stscache("dev-sso")
    line = assert_clean_failure(portal_refused, "UnauthorizedException", "aws sso login --sso-session corp")
    assert path.read_bytes() == before

    # An ended session: the refresh is refused with InvalidGrantException.
    botocore_login(sso_home, sso, expires_in=-5)
    sso.revoke_all()
    before = path.read_bytes()
    grant_refused = sso_home.stscache("dev-sso")
    assert_clean_failure(grant_refused, "InvalidGrantException", "aws sso login --sso-session corp")
    assert path.read_bytes() == before
    for text in (line, grant_refused.stderr):
        assert "aoa-" not in text and "aor-" not in text and "secret-" not in text


def test_no_access_to_the_account_or_role_names_both(sso_home: TempHome, sso: FakeIdentityCenter):
    botocore_login(sso_home, sso, expires_in=3600)
    sso_home.config["profile other-role"] = {"sso_session": SESSION, "sso_account_id": "999988887777",
                                             "sso_role_name": "Auditor", "region": REGION}
    sso_home.write()
    result = sso_home.stscache("other-role")
    assert_clean_failure(result, "999988887777", "Auditor", "ForbiddenException")


def test_hostile_token_file_and_endpoints_are_refused_before_anything_is_sent(
        sso_home: TempHome, sso: FakeIdentityCenter):
    token = botocore_login(sso_home, sso, expires_in=3600)
    path = next(token_dir(sso_home).glob("*.json"))
    path.write_text(json.dumps({**token, "accessToken": token["accessToken"] + "\r\nX-Injected: 1"}))
    injected = sso_home.stscache("dev-sso")
    line = assert_clean_failure(injected, "accessToken", "aws sso login --sso-session corp")
    assert "X-Injected" not in line and token["accessToken"] not in line

    path.write_text(json.dumps(token))
    insecure = sso_home.stscache("dev-sso", env={"AWS_ENDPOINT_URL_SSO": "http://portal.example.com"})
    assert_clean_failure(insecure, "AWS_ENDPOINT_URL_SSO")
    assert sso.calls("all") == []


@pytest.mark.security
def test_a_token_file_others_can_write_is_refused_before_anything_is_sent(sso_home: TempHome, sso: FakeIdentityCenter):
    """A 0666 token file may hold someone else's token (their session, served as the user's): it
    is refused with one line naming the file and the fix, and the portal sees nothing."""
    botocore_login(sso_home, sso, expires_in=3600)
    path = next(token_dir(sso_home).glob("*.json"))
    assert path.stat().st_mode & 0o777 == 0o600  # as botocore writes it
    path.chmod(0o666)
    refused = sso_home.stscache("dev-sso")
    assert_clean_failure(refused, f"the Identity Center token file {path} has mode 0666", f"chmod 600 {path}",
                         "aws sso login --sso-session corp")
    assert sso.calls("all") == []

    path.chmod(0o600)
    assert sso_home.stscache("dev-sso").ok
    assert len(sso.calls("GetRoleCredentials")) == 1


def test_conflicting_sso_session_is_a_config_error(sso_home: TempHome, sso: FakeIdentityCenter):
    sso_home.config["profile dev-sso"]["sso_start_url"] = "https://other.awsapps.com/start"
    sso_home.write()
    result = sso_home.stscache("dev-sso")
    assert_clean_failure(result, "sso_start_url", "https://other.awsapps.com/start", START_URL)
    assert sso.calls("all") == []


# --------------------------------------------------------------------------------------------
# Chaining
# --------------------------------------------------------------------------------------------


def test_identity_center_profile_as_a_roles_source(sso_home: TempHome, sso: FakeIdentityCenter, moto: MotoServer,
                                                   portal_role: str):
    target = moto.create_role("from-sso", trusted=[assumed_arn(portal_role, PORTAL_SESSION)])
    sso_home.add_role_profile("admin-role", target, "dev-sso", role_session_name="alice", duration_seconds="7200")
    sso_home.write()
    botocore_login(sso_home, sso, expires_in=3600)

    first = sso_home.stscache("admin-role")
    second = sso_home.stscache("admin-role")

    assert moto.caller_arn(first.credentials()) == assumed_arn(target, "alice")
    assert second.credentials()["AccessKeyId"] == first.credentials()["AccessKeyId"]
    [request] = moto.assume_role_requests(target)
    # The portal's credentials are a role session: STS's chaining limit applies.
    assert request.params["DurationSeconds"] == "3600"
    assert len(sso.calls("GetRoleCredentials")) == 1


# --------------------------------------------------------------------------------------------
# stscache login --device-code
# --------------------------------------------------------------------------------------------


def login(home: TempHome, fake: FakeIdentityCenter, *args: str, env: dict[str, str] | None = None) -> Result:
    """Runs `stscache login ARGS`, approves the code it prints (as the user would in a browser)."""
    argv = [str(home.stscache_bin), "login", *args]
    started = time.monotonic()
    process = subprocess.Popen(argv, env=home.env(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    first = process.stderr.readline()
    if "confirm the code " in first:
        fake.approve(first.rsplit("confirm the code ", 1)[1].strip())
    stdout, rest = process.communicate(timeout=60)
    return Result(argv, process.returncode, stdout, first + rest, time.monotonic() - started)


def test_login_with_the_device_code_is_shared_with_the_cli(sso_home: TempHome, sso: FakeIdentityCenter, portal_role: str):

    result = login(sso_home, sso, "--sso-session", SESSION, "--device-code", "--no-browser")

    assert result.ok, result
    assert result.stdout == ""
    assert "https://device.sso.us-east-1.amazonaws.com/?user_code=" in result.stderr
    [register] = sso.calls("RegisterClient")
    assert register.json() == {"clientName": "botocore-client-corp", "clientType": "public",
                               "scopes": ["sso:account:access"]}
    [start] = sso.calls("StartDeviceAuthorization")
    assert start.json()["startUrl"] == START_URL
    polls = sso.calls("CreateToken")
    assert polls and all(p.json()["grantType"] == "urn:ietf:params:oauth:grant-type:device_code" for p in polls)
    token = botocore_token(sso_home)  # botocore's loader finds it under its own name
    assert token["accessToken"] == sso.newest_access_token
    assert token["refreshToken"].startswith("aor-") and token["clientId"] == start.json()["clientId"]
    for path in token_dir(sso_home).iterdir():
        assert (path.stat().st_mode & 0o777) == 0o600
    # The registration is cached under botocore's name for it.
    key = json.dumps({"tool": "botocore", "startUrl": START_URL, "region": REGION, "session_name": SESSION,
                      "scopes": ["sso:account:access"]}, sort_keys=True)
    registration = json.loads((token_dir(sso_home) / (hashlib.sha1(key.encode()).hexdigest() + ".json")).read_text())
    assert registration["clientId"] == token["clientId"]

    # The AWS CLI signs in with that login, through stscache and on its own.
    assert caller_arn(sso_home.aws("sts", "get-caller-identity", "--profile", "dev", "--output", "json")) \
        == assumed_arn(portal_role, PORTAL_SESSION)
    assert caller_arn(sso_home.aws("sts", "get-caller-identity", "--profile", "dev-sso", "--output", "json")) \
        == assumed_arn(portal_role, PORTAL_SESSION)

    # A second login reuses the registration.
    again = login(sso_home, sso, "--profile", "dev-sso", "--use-device-code", "--no-browser")
    assert again.ok, again
    assert len(sso.calls("RegisterClient")) == 1


def test_login_opens_a_browser_unless_told_not_to(sso_home: TempHome, sso: FakeIdentityCenter, tmp_path: Path):
    traps, bin_dir = browser_traps(tmp_path)
    env = {**traps, "PATH": f"{bin_dir}:{sso_home.env()['PATH']}"}
    result = login(sso_home, sso, "--sso-session", SESSION, "--device-code", env=env)
    assert result.ok, result
    opened = (tmp_path / "browser-opened").read_text()
    assert opened.count("file://") == 1

    (tmp_path / "browser-opened").unlink()
    quiet = login(sso_home, sso, "--sso-session", SESSION, "--device-code", "--no-browser", env=env)
    assert quiet.ok, quiet
    assert not (tmp_path / "browser-opened").exists()


def test_login_refuses_to_run_for_the_agent(sso_home: TempHome, sso: FakeIdentityCenter):
    result = login(sso_home, sso, "--sso-session", SESSION, "--no-browser", env={"STSCACHE_NONINTERACTIVE": "1"})
    assert_clean_failure(result, "STSCACHE_NONINTERACTIVE")
    assert sso.calls("all") == []


def test_a_legacy_profile_logs_in_with_the_device_code(sso_home: TempHome, sso: FakeIdentityCenter):
    """The CLI's rule: the redirect flow needs an sso-session; a legacy profile gets the device code."""
    result = login(sso_home, sso, "--profile", "legacy-sso", "--no-browser")
    assert result.ok, result
    assert len(sso.calls("StartDeviceAuthorization")) == 1 and sso.calls("Authorize") == []
    assert botocore_token(sso_home, session_name=None)["accessToken"] == sso.newest_access_token


# --------------------------------------------------------------------------------------------
# stscache login: the authorization code flow with PKCE (the default for an sso-session)
# --------------------------------------------------------------------------------------------


def no_proxy_opener() -> urllib.request.OpenerDirector:
    """A browser for the tests: follows redirects, ignores any proxy settings."""
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def follow(url: str) -> tuple[int, str]:
    """What the browser does with the sign-in URL: GET it from the fake OIDC, which redirects to
    stscache's loopback server with the code and the state; returns that server's answer."""
    try:
        with no_proxy_opener().open(url, timeout=20) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def sign_in_url(line: str) -> str:
    assert "open this URL in a browser on this machine" in line, line
    return line.rsplit(": ", 1)[1].strip()


def redirect_port(url: str) -> int:
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    return urllib.parse.urlsplit(query["redirect_uri"][0]).port


def start_login(home: TempHome, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([str(home.stscache_bin), "login", *args], env=home.env(env), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def finish(process: subprocess.Popen, first: str) -> Result:
    stdout, rest = process.communicate(timeout=60)
    return Result(process.args, process.returncode, stdout, first + rest, 0.0)


def listening_addresses(port: int) -> list[str]:
    """Local addresses of the sockets listening on `port` (hex, as /proc/net/tcp and tcp6 show them)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                found.append(address)
    return found


def test_login_with_pkce_is_shared_with_the_cli(sso_home: TempHome, sso: FakeIdentityCenter, portal_role: str):
    process = start_login(sso_home, "--sso-session", SESSION, "--no-browser")
    first = process.stderr.readline()
    url = sign_in_url(first)
    assert url.startswith(sso.endpoint + "/authorize?response_type=code&")
    status, page = follow(url)
    result = finish(process, first)

    assert result.ok, result
    assert result.stdout == ""
    assert status == 200 and "Signed in" in page
    [register] = sso.calls("RegisterClient")
    assert register.json() == {"clientName": "botocore-client-corp", "clientType": "public",
                               "grantTypes": ["authorization_code", "refresh_token"],
                               "redirectUris": ["http://127.0.0.1/oauth/callback"], "issuerUrl": START_URL,
                               "scopes": ["sso:account:access"]}
    [authorize] = sso.calls("Authorize")
    assert authorize.query["code_challenge_method"] == ["S256"] and authorize.query["scopes"] == ["sso:account:access"]
    [create] = sso.calls("CreateToken")  # the fake checked the verifier against the challenge
    body = create.json()
    assert body["grantType"] == "authorization_code"
    assert body["redirectUri"] == f"http://127.0.0.1:{redirect_port(url)}/oauth/callback"
    # Neither the verifier nor the code reaches the terminal.
    assert body["codeVerifier"] not in result.stderr and body["code"] not in result.stderr
    token = botocore_token(sso_home)  # botocore's loader finds it under its own name
    assert token["accessToken"] == sso.newest_access_token and token["clientId"] == register_client_id(sso)
    assert token["refreshToken"].startswith("aor-")
    for path in token_dir(sso_home).iterdir():
        assert (path.stat().st_mode & 0o777) == 0o600
    # The registration is cached under the CLI's name, marked for the code grant as the CLI marks it.
    key = json.dumps({"tool": "botocore", "startUrl": START_URL, "region": REGION, "session_name": SESSION,
                      "scopes": ["sso:account:access"]}, sort_keys=True)
    registration = json.loads((token_dir(sso_home) / (hashlib.sha1(key.encode()).hexdigest() + ".json")).read_text())
    assert registration["grantTypes"] == ["authorization_code", "refresh_token"]
    assert registration["scopes"] == ["sso:account:access"]

    # The AWS CLI signs in with that login, through stscache and on its own.
    assert caller_arn(sso_home.aws("sts", "get-caller-identity", "--profile", "dev", "--output", "json")) \
        == assumed_arn(portal_role, PORTAL_SESSION)
    assert caller_arn(sso_home.aws("sts", "get-caller-identity", "--profile", "dev-sso", "--output", "json")) \
        == assumed_arn(portal_role, PORTAL_SESSION)

    # A second login reuses the registration.
    again = start_login(sso_home, "--profile", "dev-sso", "--no-browser")
    line = again.stderr.readline()
    assert follow(sign_in_url(line))[0] == 200
    assert finish(again, line).ok
    assert len(sso.calls("RegisterClient")) == 1 and len(sso.calls("CreateToken")) == 2


def register_client_id(fake: FakeIdentityCenter) -> str:
    [client_id] = fake.registrations
    return client_id


def test_the_redirect_listens_on_loopback_only_and_ignores_forged_callbacks(sso_home: TempHome, sso: FakeIdentityCenter):
    process = start_login(sso_home, "--sso-session", SESSION, "--no-browser")
    first = process.stderr.readline()
    url = sign_in_url(first)
    port = redirect_port(url)
    assert listening_addresses(port) == ["0100007F"]  # 127.0.0.1, nothing on any other address

    # A local process that found the port: no state, or a guessed one. Refused, and the login waits on.
    for query in ("code=forged", "code=forged&state=guessed", "error=access_denied&state=guessed"):
        status, page = follow(f"http://127.0.0.1:{port}/oauth/callback?{query}")
        assert status == 400 and "forged" not in page
    assert process.poll() is None

    status, _ = follow(url)
    result = finish(process, first)
    assert result.ok and status == 200, result
    [create] = sso.calls("CreateToken")
    assert create.json()["code"] != "forged"
    assert listening_addresses(port) == []  # closed once the login ended


def test_a_refused_sign_in_fails_cleanly(sso_home: TempHome, sso: FakeIdentityCenter):
    process = start_login(sso_home, "--sso-session", SESSION, "--no-browser")
    first = process.stderr.readline()
    url = sign_in_url(first)
    state = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["state"][0]
    status, _ = follow(f"http://127.0.0.1:{redirect_port(url)}/oauth/callback?error=access_denied&state={state}")
    result = finish(process, first)
    assert status == 200
    # The URL line came first (the sign-in had started); then one line saying what happened.
    assert result.returncode == 1 and result.stdout == "", result
    [shown, failure] = result.stderr.rstrip("\n").split("\n")
    assert shown == first.rstrip("\n")
    assert failure.startswith("stscache: ") and "access_denied" in failure and "stscache login" in failure, result
    assert sso.calls("CreateToken") == []
    assert not (token_dir(sso_home) / hashlib.sha1(SESSION.encode()).hexdigest()).with_suffix(".json").exists()


def test_two_logins_at_once_make_one_sign_in(sso_home: TempHome, sso: FakeIdentityCenter):
    first_process = start_login(sso_home, "--sso-session", SESSION, "--no-browser")
    first_line = first_process.stderr.readline()
    url = sign_in_url(first_line)
    second_process = start_login(sso_home, "--profile", "dev-sso", "--no-browser")
    second_line = second_process.stderr.readline()
    assert "another stscache login" in second_line and "waiting" in second_line, second_line

    assert follow(url)[0] == 200
    first, second = finish(first_process, first_line), finish(second_process, second_line)
    assert first.ok, first
    assert second.ok, second
    assert "by the other login" in second.stderr
    assert len(sso.calls("Authorize")) == 1 and len(sso.calls("CreateToken")) == 1
    assert botocore_token(sso_home)["accessToken"] == sso.newest_access_token


def test_login_through_the_browser_it_opens(sso_home: TempHome, sso: FakeIdentityCenter, tmp_path: Path):
    """BROWSER is a headless browser: it reads the page stscache hands it, follows the page's
    redirect to the sign-in URL and from there the fake's redirect back to stscache."""
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
    result = login(sso_home, sso, "--sso-session", SESSION, env={"BROWSER": str(browser)})
    assert result.ok, result
    # The browser was handed a file:// page, never the sign-in URL in its argv.
    [opened] = log.read_text().splitlines()
    assert opened.startswith("file://") and "authorize" not in opened
    assert len(sso.calls("CreateToken")) == 1
    assert botocore_token(sso_home)["accessToken"] == sso.newest_access_token


def test_setup_turns_an_identity_center_profile_into_the_delegating_pair(
        sso_home: TempHome, sso: FakeIdentityCenter, portal_role: str):
    botocore_login(sso_home, sso, expires_in=3600)
    config = sso_home.root / ".aws" / "config"
    # Control: before setup the CLI calls the portal itself (stscache has no entry).
    assert caller_arn(sso_home.aws("sts", "get-caller-identity", "--profile", "dev-sso", "--output", "json")) \
        == assumed_arn(portal_role, PORTAL_SESSION)
    assert not (sso_home.cache_dir.exists() and any(p.suffix == ".entry" for p in sso_home.cache_dir.iterdir()))

    result = run([str(sso_home.stscache_bin), "setup", "--profile", "dev-sso"], sso_home.env())
    assert result.ok and result.stderr == "", result

    text = config.read_text()
    assert f"[profile dev-sso]\ncredential_process = {sso_home.stscache_bin.resolve()} credential-process " \
           "--profile dev-sso-role\n" in text
    assert f"[profile dev-sso-role]\nsso_session = {SESSION}\n" in text
    # The CLI now goes through stscache: two calls, one portal call, the session from stscache's cache.
    portal_calls = len(sso.calls("GetRoleCredentials"))
    for _ in range(2):
        assert caller_arn(sso_home.aws("sts", "get-caller-identity", "--profile", "dev-sso", "--output", "json")) \
            == assumed_arn(portal_role, PORTAL_SESSION)
    assert len(sso.calls("GetRoleCredentials")) == portal_calls + 1
    assert any(p.suffix == ".entry" for p in sso_home.cache_dir.iterdir())
    doctor = run([str(sso_home.stscache_bin), "doctor", "--profile", "dev-sso"], sso_home.env())
    assert doctor.ok, doctor
