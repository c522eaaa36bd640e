"""Issue 22, item 3: scoped sessions for automation, end to end against moto with signature
checking, through the real AWS CLI and boto3.

- `exec --policy-arn/--policy-file` (and with `--server`) sends the session policies to
  AssumeRole, and the scoped session has its own cache entry: never served to the unscoped
  profile, nor the unscoped one to it.
- A bad ARN, a bad or writable-by-others policy file, and a profile with its own policy_arns are
  refused locally: one line naming the flag, no STS call.
- A profile's caller scope (`stscache_scoped_callers` + `stscache_caller_policy_arns`): a named
  program as the parent of credential-process gets the scoped session, `aws` the full one."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from support.aws import AccessKey, assumed_arn
from support.homes import Result, TempHome, assert_clean_failure, run
from support.moto import MotoServer
from support.peers import VENV_PYTHON

pytestmark = pytest.mark.credential_process

READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
VIEW_ONLY = "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"
POLICY = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}'
KEY_ID = 'echo "$AWS_ACCESS_KEY_ID"'


def stscache(home: TempHome, *args: str, env: dict | None = None) -> Result:
    assert home.stscache_bin is not None
    return run([str(home.stscache_bin), *args], home.env(env), timeout=60)


@pytest.fixture
def prod(home: TempHome, moto: MotoServer, base_user: AccessKey) -> str:
    role = moto.create_role("scoped", trusted=[base_user.user_arn])
    home.delegate(role, base_user)
    return role


def key_id(result: Result) -> str:
    assert result.ok, result
    return result.stdout.strip()


def test_exec_policy_arns_reach_sts_and_the_scoped_session_is_its_own(home: TempHome, moto: MotoServer, prod: str):
    scoped = stscache(home, "exec", "--profile", "prod", "--policy-arn", READ_ONLY, "--policy-arn", VIEW_ONLY,
                      "--", "aws", "sts", "get-caller-identity", "--output", "json")
    assert scoped.ok and scoped.stderr == "", scoped
    assert json.loads(scoped.stdout)["Arn"] == assumed_arn(prod, "alice")
    [request] = moto.assume_role_requests(prod)
    assert request.params["PolicyArns.member.1.arn"] == READ_ONLY
    assert request.params["PolicyArns.member.2.arn"] == VIEW_ONLY
    assert "PolicyArns.member.3.arn" not in request.params and "Policy" not in request.params

    # The unscoped profile (the AWS CLI through credential_process) is not served the scoped session.
    plain = home.aws("sts", "get-caller-identity", "--profile", "prod", "--output", "json")
    assert plain.ok, plain
    requests = moto.assume_role_requests(prod)
    assert len(requests) == 2 and not any(name.startswith("Policy") for name in requests[1].params), requests

    # Each from its own entry afterwards, in either order; the scoped keys are not the plain ones.
    scoped_key = key_id(stscache(home, "exec", "--profile", "prod", "--policy-arn", READ_ONLY,
                                 "--policy-arn", VIEW_ONLY, "--", "sh", "-c", KEY_ID))
    plain_key = home.stscache("prod-role").credentials()["AccessKeyId"]
    assert scoped_key != plain_key
    assert key_id(stscache(home, "exec", "--profile", "prod", "--", "sh", "-c", KEY_ID)) == plain_key
    assert moto.assume_role_count(prod) == 2

    # Another scope is another session again (the policies are part of the key).
    other = key_id(stscache(home, "exec", "--profile", "prod", "--policy-arn", READ_ONLY, "--", "sh", "-c", KEY_ID))
    assert other not in (scoped_key, plain_key)
    assert moto.assume_role_count(prod) == 3


def test_exec_policy_file_reaches_sts(home: TempHome, moto: MotoServer, prod: str, tmp_path: Path):
    """And the audit log records the ARN and a digest of the document, never the document."""
    policy = tmp_path / "read-s3.json"
    # Compact: moto checks the signature over the form body re-encoded with + for a space (as
    # botocore sends it); stscache sends %20, which STS itself accepts but moto cannot verify.
    policy.write_text(POLICY + "\n")
    policy.chmod(0o644)

    result = stscache(home, "exec", "--profile", "prod", "--policy-file", str(policy), "--policy-arn", READ_ONLY,
                      "--", "aws", "sts", "get-caller-identity", "--output", "json")

    assert result.ok and result.stderr == "", result
    [request] = moto.assume_role_requests(prod)
    assert json.loads(request.params["Policy"]) == json.loads(POLICY)
    assert request.params["PolicyArns.member.1.arn"] == READ_ONLY

    log = stscache(home, "log", "--json")
    assert log.ok, log
    [record] = json.loads(log.stdout)
    assert record["command"] == "exec"
    digest = hashlib.sha256(policy.read_text().strip().encode()).hexdigest()[:16]
    assert record["scope"] == f"{READ_ONLY},policy:sha256:{digest}", record
    assert "s3:GetObject" not in log.stdout


def test_exec_server_serves_the_scoped_session(home: TempHome, moto: MotoServer, prod: str):
    result = stscache(home, "exec", "--server", "--profile", "prod", "--policy-arn", READ_ONLY,
                      "--", "aws", "sts", "get-caller-identity", "--output", "json")

    assert result.ok and result.stderr == "", result
    assert json.loads(result.stdout)["Arn"] == assumed_arn(prod, "alice")
    [request] = moto.assume_role_requests(prod)
    assert request.params["PolicyArns.member.1.arn"] == READ_ONLY
    # The unscoped profile still gets a session of its own.
    assert home.stscache("prod-role").ok
    assert moto.assume_role_count(prod) == 2


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--policy-arn", "ReadOnlyAccess"], ["--policy-arn", "ReadOnlyAccess", "arn:aws:iam::aws:policy/NAME"]),
        (["--policy-arn", "arn:aws:iam::aws:role/ReadOnlyAccess"], ["--policy-arn", "policy/NAME"]),
        (["--policy-arn", "arn:aws:iam::12345:policy/x"], ["--policy-arn", "12 digits"]),
        (["--policy-arn", READ_ONLY] * 11, ["--policy-arn", "11 times", "at most 10"]),
        (["--policy-file", "/nonexistent/policy.json"], ["--policy-file", "cannot be opened"]),
    ],
)
def test_a_bad_scope_fails_locally_with_no_sts_call(home: TempHome, moto: MotoServer, prod: str,
                                                    args: list[str], needles: list[str]):
    result = stscache(home, "exec", "--profile", "prod", *args, "--", "sh", "-c", "echo ran")
    assert_clean_failure(result, *needles)
    assert moto.assume_role_count(prod) == 0


@pytest.mark.parametrize(
    ("content", "mode", "needle"),
    [
        (POLICY, 0o666, "writable by others"),
        (POLICY, 0o620, "writable by others"),
        (POLICY + " ; narrow", 0o644, "not valid JSON"),
        ('["not", "an", "object"]', 0o644, "not a JSON object"),
        ('{"Statement": "' + "x" * 5000 + '"}', 0o644, "larger than STS's limit"),
        ('{"Statement": "' + "x" * 2040 + '"}', 0o644, "2057 characters"),
    ],
)
def test_a_bad_policy_file_fails_locally_with_no_sts_call(home: TempHome, moto: MotoServer, prod: str, tmp_path: Path,
                                                          content: str, mode: int, needle: str):
    policy = tmp_path / "policy.json"
    policy.write_text(content)
    policy.chmod(mode)

    result = stscache(home, "exec", "--profile", "prod", "--policy-file", str(policy), "--", "sh", "-c", "echo ran")

    line = assert_clean_failure(result, "--policy-file", needle)
    assert "GetObject" not in line and "xxxx" not in line  # the document is not quoted back
    assert moto.assume_role_count(prod) == 0


def test_a_profile_with_its_own_session_policies_is_not_scoped_further(home: TempHome, moto: MotoServer,
                                                                      base_user: AccessKey):
    role = moto.create_role("own", trusted=[base_user.user_arn])
    home.delegate(role, base_user, policy_arns=VIEW_ONLY)

    result = stscache(home, "exec", "--profile", "prod", "--policy-arn", READ_ONLY, "--", "sh", "-c", "echo ran")

    assert_clean_failure(result, "policy_arns", "--policy-arn", "widen")
    assert moto.assume_role_count(role) == 0


# --- caller scope ---------------------------------------------------------------------------------


AGENT_SCRIPT = """#!{python}
import boto3, sys
credentials = boto3.Session(profile_name=sys.argv[1]).get_credentials().get_frozen_credentials()
print(credentials.access_key)
"""


@pytest.fixture
def caller_scoped(home: TempHome, moto: MotoServer, base_user: AccessKey, tmp_path: Path) -> tuple[str, Path]:
    """`prod` whose role scopes the programs `agent.py` and `agent-bin`; a bin directory holding
    both (a boto3 script, and a copy of sh) on PATH."""
    role = moto.create_role("callers", trusted=[base_user.user_arn])
    home.delegate(role, base_user, stscache_scoped_callers="codex, agent.py ,agent-bin",
                  stscache_caller_policy_arns=READ_ONLY)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "agent.py"
    script.write_text(AGENT_SCRIPT.format(python=VENV_PYTHON))
    script.chmod(0o755)
    shell = bin_dir / "agent-bin"
    shutil.copy("/bin/sh", shell)
    shell.chmod(0o755)
    return role, bin_dir


def aws_key_id(home: TempHome) -> str:
    """The access key id the AWS CLI signed a call with (from its --debug log of the request)."""
    result = home.aws("sts", "get-caller-identity", "--profile", "prod", "--debug")
    assert result.ok, result
    keys = set(re.findall(r"Credential=([A-Z0-9]{16,128})/", result.stderr))
    assert len(keys) == 1, keys
    return keys.pop()


def test_a_named_caller_gets_the_scoped_session_and_aws_the_full_one(home: TempHome, moto: MotoServer,
                                                                     caller_scoped: tuple[str, Path]):
    role, bin_dir = caller_scoped
    env = {"PATH": f"{bin_dir}:{home.env()['PATH']}"}

    # The person's aws: the role's plain session.
    person_key = aws_key_id(home)
    [plain] = moto.assume_role_requests(role)
    assert not any(name.startswith("Policy") for name in plain.params), plain

    # A boto3 script named agent.py (the kernel starts it as `python agent.py`): scoped.
    agent = run(["agent.py", "prod"], home.env(env), timeout=120)
    agent_key = key_id(agent)
    assert agent_key != person_key
    requests = moto.assume_role_requests(role)
    assert len(requests) == 2 and requests[1].params["PolicyArns.member.1.arn"] == READ_ONLY, requests

    # A native program named agent-bin running credential-process: the same scoped session.
    line = f"{home.credential_process('prod-role')}; true"  # `; true`: sh stays the parent
    native = run(["agent-bin", "-c", line], home.env(env), timeout=60)
    assert native.ok, native
    assert json.loads(native.stdout.strip())["AccessKeyId"] == agent_key

    # And aws again: still its own full session, from the cache.
    assert aws_key_id(home) == person_key
    assert moto.assume_role_count(role) == 2

    # The audit log says which hand-outs were scoped, and by what.
    log = stscache(home, "log", "--json")
    assert log.ok, log
    records = json.loads(log.stdout)
    by_key = {}
    for record in records:
        by_key.setdefault(record["accessKeyId"], set()).add(record.get("scope"))
    assert by_key == {person_key: {None}, agent_key: {READ_ONLY}}, records


def test_a_caller_scope_with_a_bad_arn_or_with_policy_arns_is_refused_locally(home: TempHome, moto: MotoServer,
                                                                              base_user: AccessKey):
    role = moto.create_role("bad-callers", trusted=[base_user.user_arn])
    for extra, needles in (
        ({"stscache_scoped_callers": "codex", "stscache_caller_policy_arns": "ReadOnlyAccess"},
         ["stscache_caller_policy_arns", "arn:aws:iam::aws:policy/NAME"]),
        ({"stscache_scoped_callers": "codex"}, ["stscache_scoped_callers", "needs stscache_caller_policy_arns"]),
        ({"stscache_scoped_callers": "/usr/bin/codex", "stscache_caller_policy_arns": READ_ONLY},
         ["stscache_scoped_callers", "not its path"]),
        ({"stscache_scoped_callers": "codex", "stscache_caller_policy_arns": READ_ONLY, "policy_arns": VIEW_ONLY},
         ["stscache_scoped_callers", "policy_arns", "widen"]),
    ):
        home.config.pop("profile prod-role", None)
        role_profile = home.delegate(role, base_user, **extra)
        assert_clean_failure(home.stscache(role_profile), *needles)
        cli = home.aws("sts", "get-caller-identity", "--profile", "prod")
        assert not cli.ok and needles[0] in cli.stderr, cli
    assert moto.assume_role_count(role) == 0
