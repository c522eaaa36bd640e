"""Issue 21 (items 3-5) and issue 23 (STS errors, role_arn): AssumeRole's parameters end to end
against moto with signature checking, through the real AWS CLI with credential_process.

- source_identity, session_tags, transitive_session_tags, policy_arns and policy reach STS, and
  a session made with them is cached on its own: never served for the profile without them.
- A value STS would refuse is refused locally, naming the key and its line, with no STS call.
- AccountId / AWS_ACCOUNT_ID are printed; STS's refusals name the profile and the role."""

from __future__ import annotations

import json

import pytest

from support.aws import ACCOUNT_ID, AccessKey, assumed_arn
from support.homes import TempHome, assert_clean_failure, run
from support.moto import MotoServer

pytestmark = pytest.mark.credential_process

POLICY = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}'
SCOPED = {
    "source_identity": "alice@example.com",
    "session_tags": "team = ops , Project=stscache",
    "transitive_session_tags": "team",
    "policy_arns": "arn:aws:iam::aws:policy/ReadOnlyAccess",
    "policy": POLICY,
}


def scoped_and_plain(home: TempHome, moto: MotoServer, base_user: AccessKey) -> str:
    """`prod` (plain) and `scoped` (the same role and session name, with every parameter)."""
    role = moto.create_role("params", trusted=[base_user.user_arn])
    home.delegate(role, base_user, profile="prod", session_name="alice")
    home.add_role_profile("scoped-role", role, "base", role_session_name="alice", **SCOPED)
    home.add_delegating_profile("scoped", "scoped-role")
    home.write()
    return role


def test_session_parameters_reach_sts_through_the_aws_cli(home: TempHome, moto: MotoServer, base_user: AccessKey):
    role = scoped_and_plain(home, moto, base_user)

    result = home.aws("sts", "get-caller-identity", "--profile", "scoped", "--output", "json")

    assert result.ok, result
    assert result.json()["Arn"] == assumed_arn(role, "alice")
    [request] = moto.assume_role_requests(role)
    params = request.params
    assert params["SourceIdentity"] == "alice@example.com"
    assert (params["Tags.member.1.Key"], params["Tags.member.1.Value"]) == ("team", "ops")
    assert (params["Tags.member.2.Key"], params["Tags.member.2.Value"]) == ("Project", "stscache")
    assert params["TransitiveTagKeys.member.1"] == "team"
    assert params["PolicyArns.member.1.arn"] == "arn:aws:iam::aws:policy/ReadOnlyAccess"
    assert json.loads(params["Policy"]) == json.loads(POLICY)


def test_a_scoped_session_is_never_served_for_the_plain_profile(home: TempHome, moto: MotoServer, base_user: AccessKey):
    role = scoped_and_plain(home, moto, base_user)

    scoped = home.stscache("scoped-role")
    plain = home.stscache("prod-role")
    assert scoped.ok and plain.ok, (scoped, plain)
    assert scoped.credentials()["AccessKeyId"] != plain.credentials()["AccessKeyId"]
    requests = moto.assume_role_requests(role)
    assert len(requests) == 2
    assert "Policy" not in requests[1].params and "Tags.member.1.Key" not in requests[1].params

    # Each is served from its own entry afterwards, in either order.
    for profile, first in (("prod-role", plain), ("scoped-role", scoped), ("prod-role", plain)):
        again = home.stscache(profile)
        assert again.credentials()["AccessKeyId"] == first.credentials()["AccessKeyId"]
    assert moto.assume_role_count(role) == 2

    # list finds each entry under the profile that made it.
    listed = run([str(home.stscache_bin), "list", "--json"], home.env())
    assert listed.ok, listed
    profiles = sorted(tuple(row["profiles"]) for row in json.loads(listed.stdout) if row.get("roleArn") == role)
    assert ("prod", "prod-role") in profiles or ("prod-role",) in profiles, profiles
    assert any("scoped-role" in row and "prod-role" not in row for row in profiles), profiles


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("role_session_name", "carol ; laptop", "[\\w+=,.@-]{2,64}"),
        ("role_session_name", "x", "[\\w+=,.@-]{2,64}"),
        ("external_id", "has space", "[\\w+=,.@:/-]{2,1224}"),
        ("mfa_serial", "short", "[\\w+=/:,.@-]{9,256}"),
        ("source_identity", "aws:alice", "aws:"),
        ("session_tags", "team=ops,team=dev", "twice"),
        ("session_tags", "k=" + "v" * 257, "257 characters"),
        ("transitive_session_tags", "cost", "not among its session_tags"),
        ("policy_arns", "ReadOnlyAccess", "arn:aws:iam::aws:policy/NAME"),
        ("policy", POLICY + " ; narrow", "not valid JSON"),
    ],
)
def test_a_value_sts_would_refuse_is_refused_here_with_no_sts_call(
    home: TempHome, moto: MotoServer, base_user: AccessKey, key: str, value: str, needle: str
):
    role = moto.create_role("refused", trusted=[base_user.user_arn])
    role_profile = home.delegate(role, base_user, session_name=None, **{key: value})

    result = home.stscache(role_profile)

    line = assert_clean_failure(result, key, needle, str(home.root / ".aws" / "config") + ":")
    if key in ("policy", "session_tags"):
        assert value not in line  # a policy or a tag's value is never quoted
    assert moto.assume_role_count(role) == 0
    # The AWS CLI gets the same one line, and STS still sees nothing.
    cli = home.aws("sts", "get-caller-identity", "--profile", "prod")
    assert not cli.ok and key in cli.stderr, cli
    assert moto.assume_role_count(role) == 0


def test_a_malformed_role_arn_is_refused_before_sts(home: TempHome, moto: MotoServer, base_user: AccessKey):
    role_profile = home.delegate(f"arn:aws:iam:{ACCOUNT_ID}:role/prod", base_user)
    before = len(moto.actions("AssumeRole"))

    result = home.stscache(role_profile)

    assert_clean_failure(result, "role_arn", "not an IAM role ARN", "arn:aws:iam::123456789012:role/NAME")
    assert len(moto.actions("AssumeRole")) == before


def test_account_id_is_printed_by_credential_process_and_export(home: TempHome, moto: MotoServer, base_user: AccessKey):
    role = moto.create_role("account", trusted=[base_user.user_arn])
    role_profile = home.delegate(role, base_user)

    creds = home.stscache(role_profile).credentials()
    hit = home.stscache(role_profile).credentials()
    exported = run([str(home.stscache_bin), "export", "--profile", role_profile], home.env())

    assert creds["AccountId"] == ACCOUNT_ID and hit["AccountId"] == ACCOUNT_ID
    assert exported.ok, exported
    assert f"export AWS_ACCOUNT_ID='{ACCOUNT_ID}'\n" in exported.stdout
    # The AWS CLI still takes the document with the extra key.
    assert home.aws("sts", "get-caller-identity", "--profile", "prod").ok
    assert moto.assume_role_count(role) == 1


def test_access_denied_names_the_profile_and_the_role(home: TempHome, moto: MotoServer, base_user: AccessKey):
    stranger = moto.create_user("stranger")
    role = moto.create_role("denied", trusted=[stranger.user_arn])
    role_profile = home.delegate(role, base_user)

    result = home.stscache(role_profile)

    assert_clean_failure(result, f'profile "{role_profile}"', role, "AccessDenied")
