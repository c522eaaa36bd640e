"""Issue 2: `stscache credential-process` end to end against moto with signature checking on,
through the real AWS CLI and boto3 (delegating-profile pattern) and run directly."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from support.aws import ACCOUNT_ID, CREDENTIAL_KEYS, AccessKey, assumed_arn
from support.fakes import ClosedPort
from support.homes import TempHome, assert_clean_failure
from support.moto import MotoServer

pytestmark = pytest.mark.credential_process






def parse_expiration(text: str) -> dt.datetime:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", text), text
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- the tools people use ----------------------------------------------------------------------


def test_aws_cli_gets_the_assumed_role_identity(home: TempHome, moto: MotoServer, base_user: AccessKey):
    role = moto.create_role("prod", trusted=[base_user.user_arn])
    home.delegate(role, base_user, session_name="alice")

    result = home.aws("sts", "get-caller-identity", "--profile", "prod", "--output", "json")

    assert result.ok, result
    assert result.json()["Arn"] == assumed_arn(role, "alice")
    assert result.json()["Account"] == ACCOUNT_ID


def test_boto3_session_gets_the_assumed_role_identity(home: TempHome, moto: MotoServer, base_user: AccessKey):
    role = moto.create_role("prod", trusted=[base_user.user_arn])
    home.delegate(role, base_user, session_name="bob")

    result = home.boto3_caller_identity("prod")

    assert result.ok, result
    assert json.loads(result.stdout) == assumed_arn(role, "bob")


def test_role_chaining_returns_the_last_roles_identity(home: TempHome, moto: MotoServer, base_user: AccessKey):
    role_a = moto.create_role("roleA", trusted=[base_user.user_arn], may_assume_roles=True)
    # roleB trusts only roleA's session: moto denies it to the base user directly.
    role_b = moto.create_role("roleB", trusted=[assumed_arn(role_a, "hop")])
    home.add_source("base", base_user)
    home.add_role_profile("role-a", role_a, "base", role_session_name="hop")
    home.add_role_profile("prod-role", role_b, "role-a", role_session_name="alice")
    home.add_delegating_profile("prod", "prod-role")
    home.write()

    result = home.aws("sts", "get-caller-identity", "--profile", "prod", "--output", "json")

    assert result.ok, result
    assert result.json()["Arn"] == assumed_arn(role_b, "alice")
    assert moto.assume_role_count(role_a) == 1
    assert moto.assume_role_count(role_b) == 1


# --- the output contract, run directly -----------------------------------------------------------


def test_direct_run_prints_one_version_1_json_line(home: TempHome, moto: MotoServer, base_user: AccessKey):
    role = moto.create_role("direct", trusted=[base_user.user_arn])
    role_profile = home.delegate(role, base_user, session_name="direct-session")

    result = home.stscache(role_profile)

    creds = result.credentials()  # exactly one line, the five keys in the contract's order
    assert list(creds) == CREDENTIAL_KEYS
    assert creds["Version"] == 1
    assert creds["AccessKeyId"].startswith("ASIA")
    assert creds["SecretAccessKey"] and creds["SessionToken"]
    assert creds["Expiration"].endswith("Z")
    remaining = parse_expiration(creds["Expiration"]) - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(minutes=55) < remaining <= dt.timedelta(hours=1, seconds=5)
    assert result.stderr == "", "a successful run without --verbose is silent on stderr"
    # The credentials are a live session of the right role.
    assert moto.caller_arn(creds) == assumed_arn(role, "direct-session")


def test_duration_seconds_is_sent_and_honoured(home: TempHome, moto: MotoServer, base_user: AccessKey):
    role = moto.create_role("short", trusted=[base_user.user_arn])
    role_profile = home.delegate(role, base_user, duration_seconds="900")

    creds = home.stscache(role_profile).credentials()

    remaining = parse_expiration(creds["Expiration"]) - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(minutes=13) < remaining <= dt.timedelta(minutes=15, seconds=5)
    assert moto.assume_role_requests(role)[-1].params["DurationSeconds"] == "900"


def test_external_id_is_sent(make_home, moto: MotoServer, base_user: AccessKey):
    role = moto.create_role("ext", trusted=[base_user.user_arn], external_id="team-42")
    home = make_home()
    role_profile = home.delegate(role, base_user, session_name="ext", external_id="team-42")

    creds = home.stscache(role_profile).credentials()

    assert moto.caller_arn(creds) == assumed_arn(role, "ext")
    assert moto.assume_role_requests(role)[-1].params["ExternalId"] == "team-42"

    # A wrong one is refused by the trust policy (moto lets a missing one through, so this is
    # the check that the profile's value really travels).
    wrong = make_home()
    role_profile = wrong.delegate(role, base_user, session_name="ext", external_id="team-13")
    assert_clean_failure(wrong.stscache(role_profile), "AccessDenied")


def test_default_session_name_is_valid_and_stable(make_home, moto: MotoServer, base_user: AccessKey):
    role = moto.create_role("nosession", trusted=[base_user.user_arn])
    arns = []
    for _ in range(2):  # two HOMEs, two caches: the name must not depend on either
        home = make_home()
        role_profile = home.delegate(role, base_user, session_name=None)
        arns.append(moto.caller_arn(home.stscache(role_profile).credentials()))
    assert arns[0] == arns[1]
    session = arns[0].rsplit("/", 1)[1]
    assert re.fullmatch(r"[\w+=,.@-]{2,64}", session), session


def test_temporary_source_credentials_send_their_session_token(
    home: TempHome, moto: MotoServer, base_user: AccessKey
):
    role_a = moto.create_role("tmp-src", trusted=[base_user.user_arn], may_assume_roles=True)
    role_b = moto.create_role("tmp-dst", trusted=[assumed_arn(role_a, "source")])
    source = moto.client("sts", base_user).assume_role(RoleArn=role_a, RoleSessionName="source")["Credentials"]
    home.add_source("base", AccessKey("", "", source["AccessKeyId"], source["SecretAccessKey"]))
    home.credentials["base"]["aws_session_token"] = source["SessionToken"]
    home.add_role_profile("prod-role", role_b, "base", role_session_name="alice")
    home.write()

    creds = home.stscache("prod-role").credentials()

    assert moto.caller_arn(creds) == assumed_arn(role_b, "alice")


def test_credential_source_environment(home: TempHome, moto: MotoServer, base_user: AccessKey):
    role = moto.create_role("envsrc", trusted=[base_user.user_arn])
    home.config["profile env-role"] = {
        "role_arn": role,
        "credential_source": "Environment",
        "role_session_name": "from-env",
        "region": "us-east-1",
        "endpoint_url": moto.endpoint,
    }
    home.write()
    env = {"AWS_ACCESS_KEY_ID": base_user.access_key_id, "AWS_SECRET_ACCESS_KEY": base_user.secret_access_key}

    creds = home.stscache("env-role", env=env).credentials()

    assert moto.caller_arn(creds) == assumed_arn(role, "from-env")


def test_endpoint_from_environment_and_services_section(home: TempHome, moto: MotoServer, base_user: AccessKey):
    role = moto.create_role("endpoints", trusted=[base_user.user_arn])
    closed = ClosedPort()
    try:
        role_profile = home.delegate(role, base_user, session_name="ep")
        # The profile points at a dead port; AWS_ENDPOINT_URL_STS wins over it.
        home.config[f"profile {role_profile}"]["endpoint_url"] = closed.endpoint
        home.write()
        creds = home.stscache(role_profile, env={"AWS_ENDPOINT_URL_STS": moto.endpoint}).credentials()
        assert moto.caller_arn(creds) == assumed_arn(role, "ep")

        # A services section's sts endpoint_url wins over the profile's endpoint_url.
        other = make_services_home(home, role, base_user, moto.endpoint, closed.endpoint)
        creds = other.stscache("svc-role").credentials()
        assert moto.caller_arn(creds) == assumed_arn(role, "svc")
    finally:
        closed.close()


def make_services_home(home: TempHome, role: str, base_user: AccessKey, good: str, dead: str) -> TempHome:
    other = TempHome(home.root.parent / (home.root.name + "-services"), home.moto, home.stscache_bin)
    other.add_source("base", base_user)
    other.add_role_profile("svc-role", role, "base", role_session_name="svc", endpoint_url=dead, services="local-sts")
    other.config["services local-sts"] = {"sts": f"\n  endpoint_url = {good}"}
    other.write()
    return other


# --- failures ------------------------------------------------------------------------------------


def test_wrong_secret_key_fails_with_stscache_message_in_the_cli(
    home: TempHome, moto: MotoServer, base_user: AccessKey
):
    role = moto.create_role("wrongsecret", trusted=[base_user.user_arn])
    wrong_secret = "WRONG" + base_user.secret_access_key[5:]
    role_profile = home.delegate(role, AccessKey("", "", base_user.access_key_id, wrong_secret))

    cli = home.aws("sts", "get-caller-identity", "--profile", "prod")
    assert cli.returncode != 0, cli
    assert "stscache:" in cli.stderr and "SignatureDoesNotMatch" in cli.stderr, cli

    direct = home.stscache(role_profile)
    line = assert_clean_failure(direct, "SignatureDoesNotMatch")
    assert wrong_secret not in line and wrong_secret not in cli.stderr, "a secret leaked into an error"


def test_unknown_access_key_reports_invalid_client_token_id(
    home: TempHome, moto: MotoServer, base_user: AccessKey
):
    role = moto.create_role("unknownkey", trusted=[base_user.user_arn])
    role_profile = home.delegate(role, AccessKey("", "", "AKIANOSUCHKEY0000000", "some-secret-value"))

    assert_clean_failure(home.stscache(role_profile), "InvalidClientTokenId")


def test_untrusted_role_reports_access_denied(home: TempHome, moto: MotoServer, base_user: AccessKey):
    someone_else = moto.create_user("someone")
    role = moto.create_role("nottrusted", trusted=[someone_else.user_arn])
    role_profile = home.delegate(role, base_user)

    assert_clean_failure(home.stscache(role_profile), "AccessDenied")


def test_unknown_profile_fails_clearly(home: TempHome, moto: MotoServer, base_user: AccessKey):
    role = moto.create_role("unknownprofile", trusted=[base_user.user_arn])
    home.delegate(role, base_user)

    assert_clean_failure(home.stscache("no-such-profile"), "no-such-profile")

    home.add_delegating_profile("broken", "missing-role")
    home.write()
    cli = home.aws("sts", "get-caller-identity", "--profile", "broken")
    assert cli.returncode != 0, cli
    assert "stscache:" in cli.stderr and "missing-role" in cli.stderr, cli
    assert moto.assume_role_count(role) == 0


@pytest.mark.parametrize("length", [2, 3])
def test_source_profile_cycle_fails_naming_the_cycle(home: TempHome, moto: MotoServer, length: int):
    names = [f"ring-{chr(ord('a') + i)}" for i in range(length)]
    roles = [f"arn:aws:iam::{ACCOUNT_ID}:role/cycle-{name}" for name in names]
    for i, name in enumerate(names):
        home.add_role_profile(name, roles[i], names[(i + 1) % length], role_session_name="cycle")
    home.write()

    assert_clean_failure(home.stscache(names[0]), *names)
    assert all(moto.assume_role_count(role) == 0 for role in roles)
