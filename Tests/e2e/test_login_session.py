"""Issue 21, item 1: `aws login` sessions (`login_session` profiles) as a source, sharing the
session file with the AWS CLI and botocore.

Peers: moto (signature checking on) for STS and the identity the login stands for (a role whose
sessions, assumed by an IAM user, are the login's credentials, so moto checks every request made
with them: moto's GetSessionToken hands out a fixed key it does not accept back); a loopback fake Sign-In (support/fakesignin.py) built from botocore's `signin` model
that verifies each DPoP proof against the session's key and accepts each refresh token once;
the AWS CLI, boto3 and botocore's own `LoginProvider` (it needs awscrt for the key) in the same
HOME.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.aws import ACCOUNT_ID, REGION, AccessKey, assumed_arn
from support.fakesignin import FakeSignIn
from support.homes import TempHome, assert_clean_failure, run
from support.moto import MotoServer
from support.peers import VENV_PYTHON

pytestmark = pytest.mark.sources


@dataclass
class LoginIdentity:
    """Who `aws login` signed in as: ``user_arn`` is the `login_session` value (the ARN the
    login's credentials show), ``role`` the moto role whose sessions they are."""

    user_arn: str
    role: str


CONSOLE_SESSION = "console"


@pytest.fixture
def login_user(moto: MotoServer, base_user: LoginIdentity) -> LoginIdentity:
    role = moto.create_role("console-identity", trusted=[base_user.user_arn], may_assume_roles=True)
    return LoginIdentity(assumed_arn(role, CONSOLE_SESSION), role)


@pytest.fixture
def signin(moto: MotoServer, base_user: LoginIdentity, login_user: LoginIdentity):
    def issue() -> dict:
        credentials = moto.client("sts", base_user).assume_role(
            RoleArn=login_user.role, RoleSessionName=CONSOLE_SESSION, DurationSeconds=900)["Credentials"]
        return {"accessKeyId": credentials["AccessKeyId"], "secretAccessKey": credentials["SecretAccessKey"],
                "sessionToken": credentials["SessionToken"]}

    fake = FakeSignIn(issue=issue)
    try:
        yield fake
    finally:
        fake.close()


@pytest.fixture
def login_home(make_home, moto: MotoServer, signin: FakeSignIn, login_user: LoginIdentity) -> TempHome:
    """[profile console] (login_session = the user's ARN), [profile app] delegating to it, a role
    trusting the user, [profile admin] with console as its source_profile and [profile prod]
    delegating to admin; the fake Sign-In's endpoint in every process's environment."""
    home = make_home(**signin.env)
    home.config["profile console"] = {"login_session": login_user.user_arn, "region": REGION,
                                      "endpoint_url": moto.endpoint}
    home.add_delegating_profile("app", "console")
    role = moto.create_role("login-admin", trusted=[login_user.user_arn])
    home.add_role_profile("admin", role, "console")
    home.add_delegating_profile("prod", "admin")
    home.role_arn = role  # type: ignore[attr-defined]
    home.write()
    return home


def session_file(home: TempHome, user: LoginIdentity) -> Path:
    return home.root / ".aws" / "login" / "cache" / (hashlib.sha256(user.user_arn.encode()).hexdigest() + ".json")


def sign_in(home: TempHome, signin: FakeSignIn, user: LoginIdentity, expires_in: float, **extra) -> Path:
    return signin.sign_in(home.root / ".aws" / "login" / "cache", user.user_arn, expires_in, ACCOUNT_ID, extra)


def caller_arn(result) -> str:
    assert result.ok, result
    return json.loads(result.stdout)["Arn"]


def botocore_login_credentials(home: TempHome, profile: str) -> dict:
    """What botocore's own LoginProvider (the chain's `login_session` provider) makes of the
    session file, in a fresh interpreter: the frozen credentials and how it got them."""
    script = ("import json, botocore.session\n"
              f"session = botocore.session.Session(profile={profile!r})\n"
              "credentials = session.get_credentials()\n"
              "frozen = credentials.get_frozen_credentials()\n"
              "print(json.dumps({'method': credentials.method, 'access_key': frozen.access_key,\n"
              "                  'token': frozen.token, 'account_id': frozen.account_id}))\n")
    result = run([str(VENV_PYTHON), "-c", script], home.env())
    assert result.ok, result
    return json.loads(result.stdout)


# --------------------------------------------------------------------------------------------
# Interop with the AWS CLI, boto3 and botocore
# --------------------------------------------------------------------------------------------


def test_cli_and_boto3_through_credential_process_use_the_login(login_home: TempHome, signin: FakeSignIn,
                                                              login_user: LoginIdentity):
    path = sign_in(login_home, signin, login_user, expires_in=14 * 60)
    before = path.read_bytes()

    via_cli = login_home.aws("sts", "get-caller-identity", "--profile", "app", "--output", "json")
    via_boto3 = login_home.boto3_caller_identity("app")

    assert caller_arn(via_cli) == login_user.user_arn
    assert via_boto3.ok, via_boto3
    assert json.loads(via_boto3.stdout) == login_user.user_arn
    # Fresh credentials come from the session file: no refresh, the file untouched, and no
    # second copy of them in stscache's cache.
    assert signin.calls() == []
    assert path.read_bytes() == before
    secret = json.loads(before)["accessToken"]["secretAccessKey"].encode()
    for entry in login_home.cache_dir.rglob("*"):
        if entry.is_file():
            assert secret not in entry.read_bytes(), entry


def test_a_role_with_the_login_as_source_profile_is_assumed_with_its_credentials(
        login_home: TempHome, signin: FakeSignIn, login_user: LoginIdentity, moto: MotoServer):
    sign_in(login_home, signin, login_user, expires_in=-60)  # expired: refreshed first

    via_cli = login_home.aws("sts", "get-caller-identity", "--profile", "prod", "--output", "json")
    via_boto3 = login_home.boto3_caller_identity("prod")

    session = login_home.stscache("admin").credentials()
    assert caller_arn(via_cli) == moto.caller_arn(session)
    assert caller_arn(via_cli).startswith(f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{login_home.role_arn.split('/')[-1]}/")
    assert via_boto3.ok, via_boto3
    # One refresh of the login, one AssumeRole (moto checked it was signed by the login's
    # refreshed session), then the role's session from stscache's cache.
    assert len(signin.calls()) == 1 and signin.refused == []
    assert moto.assume_role_count(login_home.role_arn) == 1


def test_botocore_reads_the_file_stscache_refreshed_without_a_call(login_home: TempHome, signin: FakeSignIn,
                                                                  login_user: LoginIdentity):
    path = sign_in(login_home, signin, login_user, expires_in=-120, signInRegion="us-east-1",
                   futureMember={"kept": [1, 2]})
    before = json.loads(path.read_text())

    result = login_home.stscache("console")

    served = result.credentials()
    [call] = signin.calls()
    assert signin.refused == []  # the proof verified under the file's key, htu, iat, jti
    assert call.json() == {"clientId": before["clientId"], "grantType": "refresh_token",
                           "refreshToken": before["refreshToken"]}
    after = json.loads(path.read_text())
    assert (path.stat().st_mode & 0o777) == 0o600
    assert after["refreshToken"] != before["refreshToken"]
    assert after["accessToken"]["accessKeyId"] == served["AccessKeyId"] != before["accessToken"]["accessKeyId"]
    assert after["accessToken"]["accountId"] == ACCOUNT_ID
    assert dt.datetime.strptime(after["accessToken"]["expiresAt"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=dt.timezone.utc).isoformat() == served["Expiration"].replace("Z", "+00:00")
    for kept in ("tokenType", "clientId", "idToken", "dpopKey", "signInRegion", "futureMember"):
        assert after[kept] == before[kept], kept

    # botocore's own provider takes the refreshed credentials as they are: no call of its own ...
    frozen = botocore_login_credentials(login_home, "console")
    assert frozen == {"method": "login", "access_key": served["AccessKeyId"], "token": served["SessionToken"],
                      "account_id": ACCOUNT_ID}
    # ... and the AWS CLI signs with them directly through its login_session support.
    direct = login_home.aws("sts", "get-caller-identity", "--profile", "console", "--output", "json")
    assert caller_arn(direct) == login_user.user_arn
    assert len(signin.calls()) == 1


def test_stscache_uses_the_file_botocore_refreshed(login_home: TempHome, signin: FakeSignIn, login_user: LoginIdentity):
    """The other way round: botocore's LoginCredentialFetcher refreshes (its DPoP proof passes the
    fake's checks too, so the fake is the service stscache is tested against), then stscache
    serves botocore's new credentials without a call."""
    path = sign_in(login_home, signin, login_user, expires_in=-120)
    script = ("import botocore.session\n"
              "session = botocore.session.Session(profile='console')\n"
              "print(session.get_credentials().get_frozen_credentials().access_key)\n")
    refreshed = run([str(VENV_PYTHON), "-c", script], login_home.env())
    assert refreshed.ok, refreshed
    assert len(signin.calls()) == 1 and signin.refused == []
    key = json.loads(path.read_text())["accessToken"]["accessKeyId"]
    assert refreshed.stdout.strip() == key

    assert login_home.stscache("console").credentials()["AccessKeyId"] == key
    assert len(signin.calls()) == 1


def test_twenty_processes_on_one_expired_login_make_one_refresh(login_home: TempHome, signin: FakeSignIn,
                                                               login_user: LoginIdentity, tmp_path: Path):
    """The refresh token rotates: a second CreateOAuth2Token with the old one is refused, and its
    process would fail. Only the cross-process single flight keeps 20 processes to one call."""
    sign_in(login_home, signin, login_user, expires_in=-60)
    signin.delay = 1.0

    results = login_home.stscache_together("console", 20, workdir=tmp_path)

    keys = {result.credentials()["AccessKeyId"] for result in results}
    assert len(keys) == 1
    assert all(result.stderr == "" for result in results), [r.stderr for r in results if r.stderr]
    assert len(signin.calls()) == 1 and signin.issued == 1 and signin.refused == []


def test_exec_and_export_serve_the_login(login_home: TempHome, signin: FakeSignIn, login_user: LoginIdentity):
    sign_in(login_home, signin, login_user, expires_in=14 * 60)
    exported = run([str(login_home.stscache_bin), "export", "--profile", "console", "--format", "json"], login_home.env())
    assert exported.ok, exported
    assert json.loads(exported.stdout)["AccessKeyId"].startswith("ASIA")
    inside = run([str(login_home.stscache_bin), "exec", "--profile", "console", "--",
                  str(VENV_PYTHON), "-c", "import boto3, json; print(json.dumps(boto3.client('sts', "
                  f"endpoint_url={login_home.moto.endpoint!r}, region_name='us-east-1').get_caller_identity()['Arn']))"],
                 login_home.env())
    assert inside.ok, inside
    assert json.loads(inside.stdout) == login_user.user_arn
    assert signin.calls() == []


def test_prompt_shows_the_logins_time_from_the_session_file(login_home: TempHome, signin: FakeSignIn,
                                                            login_user: LoginIdentity):
    """prompt on the login profile (and on one delegating to it) shows the file's
    accessToken.expiresAt, calls nothing, makes no stscache cache; a file others can read shows
    nothing (the refresh's own owner and mode checks)."""
    path = sign_in(login_home, signin, login_user, expires_in=14 * 60 + 30)
    before = path.read_bytes()
    prompt = run([str(login_home.stscache_bin), "prompt", "--profile", "console"], login_home.env())
    assert prompt.ok and prompt.stderr == "" and prompt.stdout in ("console 14m\n", "console 13m\n"), prompt
    state = run([str(login_home.stscache_bin), "prompt", "--format", "{profile} {role_arn} {state}"],
                login_home.env({"AWS_PROFILE": "app"}))
    assert state.ok and state.stdout == f"app {login_user.user_arn} valid\n", state
    assert signin.calls() == [] and path.read_bytes() == before
    assert not login_home.cache_dir.exists()

    path.chmod(0o644)
    shared = run([str(login_home.stscache_bin), "prompt", "--profile", "console", "--verbose"], login_home.env())
    assert shared.ok and shared.stdout == "", shared
    assert shared.stderr.startswith("stscache: prompt: ") and str(path) in shared.stderr, shared
    assert signin.calls() == []


# --------------------------------------------------------------------------------------------
# Failures: one line, nothing printed, the file intact
# --------------------------------------------------------------------------------------------


def test_token_expired_says_to_sign_in_again_and_leaves_the_file(login_home: TempHome, signin: FakeSignIn,
                                                                 login_user: LoginIdentity):
    path = sign_in(login_home, signin, login_user, expires_in=-60)
    before = path.read_bytes()
    signin.scripted = [(400, "AccessDeniedException", "TOKEN_EXPIRED")]

    result = login_home.stscache("console")

    assert_clean_failure(result, 'profile "console"', "aws login --profile console",
                         "stscache login --profile console", "TOKEN_EXPIRED")
    assert path.read_bytes() == before
    assert len(signin.calls()) == 1


def test_insufficient_permissions_has_its_own_message(login_home: TempHome, signin: FakeSignIn, login_user: LoginIdentity):
    sign_in(login_home, signin, login_user, expires_in=-60)
    signin.scripted = [(400, "AccessDeniedException", "INSUFFICIENT_PERMISSIONS")]
    assert_clean_failure(login_home.stscache("admin"), "signin:CreateOAuth2Token",
                         "SignInLocalDevelopmentAccess", 'profile "console"')


def test_no_session_file_says_to_sign_in(login_home: TempHome, signin: FakeSignIn):
    assert_clean_failure(login_home.stscache("console"), "no session file", "aws login --profile console")
    assert signin.calls() == []


def test_a_planted_session_file_is_refused_before_anything_is_sent(login_home: TempHome, signin: FakeSignIn,
                                                                   login_user: LoginIdentity):
    """A session file others could have written (0666) may hold someone else's refresh token and
    key: stscache neither sends it nor serves its credentials."""
    path = sign_in(login_home, signin, login_user, expires_in=-60)
    path.chmod(0o666)
    before = path.read_bytes()
    assert_clean_failure(login_home.stscache("console"), "group or others can write it", str(path))
    assert signin.calls() == []
    assert path.read_bytes() == before
