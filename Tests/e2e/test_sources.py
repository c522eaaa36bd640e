"""Issue 7: credential sources beyond static keys, end to end.

Against moto with signature checking on: MFA codes on AssumeRole, the instance-metadata
(IMDSv2) and container-credentials sources (loopback fakes serving a real moto role session),
credential_process sources and the loop refusal, the role-chaining duration cap.

Against a second moto with signature checking off (``open_moto``), the two hops moto's auth
cannot check (see issue 7's notes on the test peers): AssumeRole signed with moto's own
GetSessionToken credentials (the MFA session) and the unsigned AssumeRoleWithWebIdentity.
"""

from __future__ import annotations

import json
import os
import pty
import select
import shlex
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from support.aws import ACCOUNT_ID, REGION, AccessKey, assumed_arn
from support.fakes import FakeMetadataServer
from support.homes import Result, TempHome, assert_clean_failure
from support.moto import MotoServer

pytestmark = pytest.mark.sources

MFA_SERIAL = f"arn:aws:iam::{ACCOUNT_ID}:mfa/alice"
PROMPT = b"MFA code for"


# --------------------------------------------------------------------------------------------
# Peers: moto without signature checking; FakeMetadataServer (support.fakes) for IMDSv2 and ECS
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def open_moto(tmp_path_factory: pytest.TempPathFactory):
    server = MotoServer(tmp_path_factory.mktemp("moto-open"), signature_checking=False).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def open_home(tmp_path: Path, open_moto: MotoServer, stscache_bin: Path) -> TempHome:
    return TempHome(tmp_path / "open-home", open_moto, stscache_bin)


def role_session(moto: MotoServer, user: AccessKey, prefix: str) -> tuple[str, dict]:
    """A moto role the user assumes now, as an instance or task role would be: returns the
    role ARN and its session in the metadata services' JSON shape."""
    role_arn = moto.create_role(prefix, trusted=[user.user_arn], may_assume_roles=True)
    session = f"{prefix}-session"
    answer = moto.client("sts", user).assume_role(RoleArn=role_arn, RoleSessionName=session)["Credentials"]
    credentials = {
        "AccessKeyId": answer["AccessKeyId"],
        "SecretAccessKey": answer["SecretAccessKey"],
        "Token": answer["SessionToken"],
        "Expiration": answer["Expiration"].strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return role_arn, credentials




def open_caller_arn(moto: MotoServer, credentials: dict) -> str:
    """GetCallerIdentity on the moto without signature checking (its sessions are not checkable)."""
    key = AccessKey("", "", credentials["AccessKeyId"], credentials["SecretAccessKey"])
    return moto.client("sts", key, session_token=credentials["SessionToken"]).get_caller_identity()["Arn"]


def one_error_line(result: Result, *needles: str) -> str:
    assert result.returncode != 0, result
    assert result.stdout == "", result
    line = result.stderr.rstrip("\n").split("\n")[-1]
    assert line.startswith("stscache: "), result
    for needle in needles:
        assert needle in line, f"{needle!r} missing\n{result}"
    return line


def write_script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def mfa_role_home(home: TempHome, role_arn: str, source: AccessKey, profile: str = "prod-role", **extra: str) -> None:
    if "base" not in home.credentials:
        home.add_source("base", source)
    home.add_role_profile(profile, role_arn, "base", role_session_name="alice", mfa_serial=MFA_SERIAL, **extra)
    home.write()


# --------------------------------------------------------------------------------------------
# MFA
# --------------------------------------------------------------------------------------------


def test_mfa_process_code_opens_a_session_then_the_role(open_home: TempHome, open_moto: MotoServer, tmp_path: Path):
    user = open_moto.create_user("mfa-user")
    role = open_moto.create_role("mfa-target", trusted=[user.user_arn])
    calls = tmp_path / "mfa-process-calls"
    # Shell syntax in a helper line needs an explicit shell: stscache, like botocore, runs none.
    mfa_process = "sh -c " + shlex.quote(f"echo run >> {shlex.quote(str(calls))}; echo '  314159'")
    mfa_role_home(open_home, role, user, mfa_process=mfa_process)

    credentials = open_home.stscache("prod-role").credentials()

    assert open_caller_arn(open_moto, credentials) == assumed_arn(role, "alice")
    sessions = open_moto.actions("GetSessionToken")
    assert len(sessions) == 1
    assert sessions[0].params["SerialNumber"] == MFA_SERIAL
    assert sessions[0].params["TokenCode"] == "314159"
    assumes = open_moto.assume_role_requests(role)
    assert len(assumes) == 1
    assert "TokenCode" not in assumes[0].params and "SerialNumber" not in assumes[0].params
    assert calls.read_text() == "run\n"


def test_two_mfa_roles_from_one_source_ask_once(open_home: TempHome, open_moto: MotoServer, tmp_path: Path):
    user = open_moto.create_user("mfa-two")
    dev = open_moto.create_role("mfa-dev", trusted=[user.user_arn])
    ops = open_moto.create_role("mfa-ops", trusted=[user.user_arn])
    calls = tmp_path / "codes-asked"
    mfa_process = "sh -c " + shlex.quote(f"echo asked >> {shlex.quote(str(calls))}; echo 271828")
    open_home.add_source("base", user)
    open_home.config["profile base"].update({"mfa_serial": MFA_SERIAL, "mfa_process": mfa_process})
    open_home.add_role_profile("dev", dev, "base", role_session_name="alice")
    open_home.add_role_profile("ops", ops, "base", role_session_name="alice")
    open_home.write()
    sessions_before = len(open_moto.actions("GetSessionToken"))

    dev_credentials = open_home.stscache("dev").credentials()
    ops_credentials = open_home.stscache("ops").credentials()

    assert open_caller_arn(open_moto, dev_credentials) == assumed_arn(dev, "alice")
    assert open_caller_arn(open_moto, ops_credentials) == assumed_arn(ops, "alice")
    assert calls.read_text() == "asked\n"
    assert len(open_moto.actions("GetSessionToken")) == sessions_before + 1
    assert open_moto.assume_role_count(dev) == 1 and open_moto.assume_role_count(ops) == 1


def test_mfa_code_from_the_environment(open_home: TempHome, open_moto: MotoServer):
    user = open_moto.create_user("mfa-env")
    role = open_moto.create_role("mfa-env", trusted=[user.user_arn])
    mfa_role_home(open_home, role, user)

    open_home.stscache("prod-role", env={"STSCACHE_MFA_TOKEN": "161803"}).credentials()

    session = [r for r in open_moto.actions("GetSessionToken") if r.params.get("TokenCode") == "161803"]
    assert len(session) == 1


def test_mfa_prompt_on_a_terminal_once_for_ten_waiting_processes(
    open_home: TempHome, open_moto: MotoServer, tmp_path: Path
):
    user = open_moto.create_user("mfa-tty")
    role = open_moto.create_role("mfa-tty", trusted=[user.user_arn])
    mfa_role_home(open_home, role, user)
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    binary = shlex.quote(str(open_home.stscache_bin))
    # Ten processes in one session whose controlling terminal is the pty: one of them prompts.
    script = (
        f"for i in 1 2 3 4 5 6 7 8 9 10; do {binary} credential-process --profile prod-role "
        f'> {outputs}/out.$i 2> {outputs}/err.$i & done; wait'
    )
    env = open_home.env()

    pid, master = pty.fork()
    if pid == 0:  # the child: session leader on the pty
        try:
            os.execve("/bin/sh", ["/bin/sh", "-c", script], env)
        finally:
            os._exit(127)

    transcript = b""
    answered = False
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: every process holding the pty has exited
                    break
                if not chunk:
                    break
                transcript += chunk
            if not answered and PROMPT in transcript:
                time.sleep(0.5)  # let every other process reach the lock
                os.write(master, b"141421\n")
                answered = True
            finished, _ = os.waitpid(pid, os.WNOHANG)
            if finished == pid:
                pid = 0
                break
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(master)

    assert answered, f"no prompt appeared on the terminal: {transcript!r}"
    assert transcript.count(PROMPT) == 1, transcript
    assert MFA_SERIAL.encode() in transcript
    documents = []
    for i in range(1, 11):
        out = (outputs / f"out.{i}").read_text()
        assert out.count("\n") == 1, f"process {i}: {out!r} / {(outputs / f'err.{i}').read_text()!r}"
        documents.append(json.loads(out))
    assert len({d["AccessKeyId"] for d in documents}) == 1
    tokens = [r for r in open_moto.actions("GetSessionToken") if r.params.get("TokenCode") == "141421"]
    assert len(tokens) == 1
    assert open_moto.assume_role_count(role) == 1


def test_mfa_without_a_terminal_fails_at_once(open_home: TempHome, open_moto: MotoServer):
    user = open_moto.create_user("mfa-notty")
    role = open_moto.create_role("mfa-notty", trusted=[user.user_arn])
    mfa_role_home(open_home, role, user)
    argv = [str(open_home.stscache_bin), "credential-process", "--profile", "prod-role"]
    requests_before = len(open_moto.requests())

    started = time.monotonic()
    completed = subprocess.run(
        argv, env=open_home.env(), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
        start_new_session=True,  # setsid: no controlling terminal
    )
    elapsed = time.monotonic() - started

    result = Result(argv, completed.returncode, completed.stdout, completed.stderr, elapsed)
    one_error_line(result, "no terminal", "mfa_process", "STSCACHE_MFA_TOKEN", MFA_SERIAL)
    assert elapsed < 5, result
    assert len(open_moto.requests()) == requests_before


def test_mfa_code_on_assume_role_for_a_chained_role(home: TempHome, moto: MotoServer, base_user: AccessKey):
    jump = moto.create_role("jump", trusted=[base_user.user_arn], may_assume_roles=True)
    target = moto.create_role("mfa-chained", trusted=[assumed_arn(jump, "hop")])
    home.add_source("base", base_user)
    home.add_role_profile("jump", jump, "base", role_session_name="hop")
    home.add_role_profile("target", target, "jump", role_session_name="alice", mfa_serial=MFA_SERIAL,
                          mfa_process="echo 112358")
    home.write()

    credentials = home.stscache("target").credentials()

    assert moto.caller_arn(credentials) == assumed_arn(target, "alice")
    [request] = moto.assume_role_requests(target)
    assert request.params["SerialNumber"] == MFA_SERIAL
    assert request.params["TokenCode"] == "112358"
    assert "TokenCode" not in moto.assume_role_requests(jump)[0].params


# --------------------------------------------------------------------------------------------
# Web identity
# --------------------------------------------------------------------------------------------


def test_web_identity_token_file_reread_on_refresh(open_home: TempHome, open_moto: MotoServer, tmp_path: Path):
    token_file = tmp_path / "web-token"
    token_file.write_text("first-web-identity-token")
    role = f"arn:aws:iam::{ACCOUNT_ID}:role/web-{uuid.uuid4().hex[:8]}"
    open_home.config["profile pod"] = {
        "role_arn": role, "web_identity_token_file": str(token_file), "role_session_name": "pod",
        "region": REGION, "endpoint_url": open_moto.endpoint,
    }
    open_home.write()

    first = open_home.stscache("pod").credentials()
    again = open_home.stscache("pod").credentials()
    token_file.write_text("second-web-identity-token")
    refreshed = open_home.stscache("pod", "--force-refresh").credentials()

    assert again == first
    assert refreshed["AccessKeyId"] != first["AccessKeyId"]
    calls = [r for r in open_moto.actions("AssumeRoleWithWebIdentity") if r.params.get("RoleArn") == role]
    assert [c.params["WebIdentityToken"] for c in calls] == ["first-web-identity-token", "second-web-identity-token"]
    assert all(c.params["RoleSessionName"] == "pod" for c in calls)


def test_web_identity_from_the_environment(open_home: TempHome, open_moto: MotoServer, tmp_path: Path):
    token_file = tmp_path / "env-token"
    token_file.write_text("environment-web-identity-token")
    role = f"arn:aws:iam::{ACCOUNT_ID}:role/env-web-{uuid.uuid4().hex[:8]}"
    open_home.config["profile irsa"] = {"region": REGION, "endpoint_url": open_moto.endpoint}
    open_home.write()

    open_home.stscache("irsa", env={
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file), "AWS_ROLE_ARN": role, "AWS_ROLE_SESSION_NAME": "irsa-pod",
    }).credentials()

    [call] = [r for r in open_moto.actions("AssumeRoleWithWebIdentity") if r.params.get("RoleArn") == role]
    assert call.params["RoleSessionName"] == "irsa-pod"
    assert call.params["WebIdentityToken"] == "environment-web-identity-token"


def test_web_identity_sends_session_policies_and_refuses_tags(open_home: TempHome, open_moto: MotoServer, tmp_path: Path):
    """AssumeRoleWithWebIdentity takes PolicyArns and Policy (issue 21), not tags or a source
    identity: the first reach moto, the second are refused before any call."""
    token_file = tmp_path / "scoped-token"
    token_file.write_text("scoped-web-identity-token")
    role = f"arn:aws:iam::{ACCOUNT_ID}:role/scoped-web-{uuid.uuid4().hex[:8]}"
    profile = {
        "role_arn": role, "web_identity_token_file": str(token_file), "role_session_name": "pod",
        "region": REGION, "endpoint_url": open_moto.endpoint,
        "policy_arns": "arn:aws:iam::aws:policy/ReadOnlyAccess", "policy": '{"Version":"2012-10-17","Statement":[]}',
    }
    open_home.config["profile scoped-pod"] = profile
    open_home.config["profile tagged-pod"] = dict(profile, session_tags="team=ops")
    open_home.write()

    open_home.stscache("scoped-pod").credentials()
    refused = open_home.stscache("tagged-pod")

    [call] = [r for r in open_moto.actions("AssumeRoleWithWebIdentity") if r.params.get("RoleArn") == role]
    assert call.params["PolicyArns.member.1.arn"] == "arn:aws:iam::aws:policy/ReadOnlyAccess"
    assert call.params["Policy"] == '{"Version":"2012-10-17","Statement":[]}'
    assert_clean_failure(refused, "session_tags", "web identity")


# --------------------------------------------------------------------------------------------
# Instance metadata and container credentials
# --------------------------------------------------------------------------------------------


def test_ec2_instance_metadata_source(home: TempHome, moto: MotoServer, base_user: AccessKey, tmp_path: Path):
    instance_role, instance_credentials = role_session(moto, base_user, "instance")
    target = moto.create_role("from-instance", trusted=[assumed_arn(instance_role, "instance-session")])
    imds = FakeMetadataServer("imds", instance_credentials)
    try:
        home.add_role_profile("prod-role", target, "base", role_session_name="alice", duration_seconds="7200")
        home.config["profile prod-role"].pop("source_profile")
        home.config["profile prod-role"]["credential_source"] = "Ec2InstanceMetadata"
        home.write()
        env = {"AWS_EC2_METADATA_DISABLED": "false", "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.endpoint}

        result = home.stscache("prod-role", env=env)

        assert moto.caller_arn(result.credentials()) == assumed_arn(target, "alice")
        assert [(method, path) for method, path, _ in imds.requests] == [
            ("PUT", "/latest/api/token"),
            ("GET", "/latest/meta-data/iam/security-credentials/"),
            ("GET", "/latest/meta-data/iam/security-credentials/instance-role"),
        ]
        assert imds.requests[0][2].get("X-aws-ec2-metadata-token-ttl-seconds") == "21600"
        # An instance role's session is a role session: the chained role is capped at an hour.
        [request] = moto.assume_role_requests(target)
        assert request.params["DurationSeconds"] == "3600"
        assert result.stderr.count("role chaining") == 1

        # A fresh cache: with the cached session still valid, a failed refresh would serve it.
        disabled = home.stscache("prod-role", env={
            **env, "AWS_EC2_METADATA_DISABLED": "true", "STSCACHE_CACHE_DIR": str(tmp_path / "empty-cache")})
        one_error_line(disabled, "AWS_EC2_METADATA_DISABLED")
        assert len(imds.requests) == 3
    finally:
        imds.close()


def test_ecs_container_source_with_authorization_token_file(
    home: TempHome, moto: MotoServer, base_user: AccessKey, tmp_path: Path
):
    task_role, task_credentials = role_session(moto, base_user, "task")
    target = moto.create_role("from-task", trusted=[assumed_arn(task_role, "task-session")])
    token_file = tmp_path / "pod-identity-token"
    token_file.write_text("container-auth-token")
    ecs = FakeMetadataServer("ecs", {**task_credentials, "RoleArn": task_role}, auth_token="container-auth-token")
    try:
        home.add_role_profile("prod-role", target, "base", role_session_name="alice")
        home.config["profile prod-role"].pop("source_profile")
        home.config["profile prod-role"]["credential_source"] = "EcsContainer"
        home.write()
        env = {
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{ecs.endpoint}/v1/credentials",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(token_file),
        }

        credentials = home.stscache("prod-role", env=env).credentials()

        assert moto.caller_arn(credentials) == assumed_arn(target, "alice")
        assert [(m, p) for m, p, _ in ecs.requests] == [("GET", "/v1/credentials")]
        assert ecs.requests[0][2].get("Authorization") == "container-auth-token"

        refused = home.stscache("prod-role", env={
            **env, "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://credentials.example.invalid/v1/credentials",
            "STSCACHE_CACHE_DIR": str(tmp_path / "empty-cache")})
        one_error_line(refused, "credentials.example.invalid", "loopback")
        assert len(ecs.requests) == 1
    finally:
        ecs.close()


# --------------------------------------------------------------------------------------------
# credential_process as a source
# --------------------------------------------------------------------------------------------


def test_credential_process_source(home: TempHome, moto: MotoServer, base_user: AccessKey, tmp_path: Path):
    role = moto.create_role("from-helper", trusted=[base_user.user_arn])
    seen_chain = tmp_path / "seen-chain"
    helper = write_script(tmp_path / "sso-helper", "#!/bin/sh\n"
                          f'printf "%s" "$STSCACHE_CHAIN" > {shlex.quote(str(seen_chain))}\n'
                          'echo "helper: signing in" >&2\n'
                          f'printf \'{{"Version": 1, "AccessKeyId": "%s", "SecretAccessKey": "%s"}}\' '
                          f'{shlex.quote(base_user.access_key_id)} {shlex.quote(base_user.secret_access_key)}\n')
    home.config["profile sso"] = {"credential_process": str(helper)}
    home.add_role_profile("prod-role", role, "sso", role_session_name="alice")
    home.write()

    result = home.stscache("prod-role")

    assert moto.caller_arn(result.credentials()) == assumed_arn(role, "alice")
    assert "helper: signing in" in result.stderr  # the helper's stderr passes through
    assert seen_chain.read_text() == "prod-role,sso"


def test_credential_process_failure_reports_the_status(home: TempHome, moto: MotoServer, tmp_path: Path):
    role = moto.create_role("helper-fails", trusted=[f"arn:aws:iam::{ACCOUNT_ID}:user/nobody"])
    home.config["profile sso"] = {"credential_process": "sh -c 'echo \"helper: token expired\" >&2; exit 4'"}
    home.add_role_profile("prod-role", role, "sso")
    home.write()

    result = home.stscache("prod-role")

    assert "helper: token expired" in result.stderr
    one_error_line(result, "exit status 4", '"sso"')
    assert moto.assume_role_count(role) == 0


def test_a_helper_that_calls_stscache_back_is_refused(home: TempHome, moto: MotoServer, tmp_path: Path):
    role = moto.create_role("loop", trusted=[f"arn:aws:iam::{ACCOUNT_ID}:user/nobody"])
    runs = tmp_path / "helper-runs"
    # A wrapper: nothing in the config shows that it runs stscache.
    wrapper = write_script(tmp_path / "wrapper", "#!/bin/sh\n"
                           f"echo run >> {shlex.quote(str(runs))}\n"
                           f'exec {shlex.quote(str(home.stscache_bin))} credential-process --profile prod-role\n')
    home.config["profile looped"] = {"credential_process": str(wrapper)}
    home.add_role_profile("prod-role", role, "looped")
    home.write()

    result = home.stscache("prod-role", timeout=30)

    assert result.returncode != 0 and result.stdout == "", result
    assert "already being resolved" in result.stderr and "prod-role -> looped -> prod-role" in result.stderr, result
    one_error_line(result, "exit status", '"looped"')
    assert runs.read_text() == "run\n"  # the helper ran once: no fork loop
    assert moto.assume_role_count(role) == 0


def test_a_direct_loop_is_refused_before_running_anything(home: TempHome, moto: MotoServer, tmp_path: Path):
    role = moto.create_role("direct-loop", trusted=[f"arn:aws:iam::{ACCOUNT_ID}:user/nobody"])
    home.config["profile prod"] = {"credential_process": home.credential_process("prod-role")}
    home.add_role_profile("prod-role", role, "prod")
    home.write()

    result = home.stscache("prod-role")

    one_error_line(result, "prod-role -> prod -> prod-role")
    assert moto.assume_role_count(role) == 0


# --------------------------------------------------------------------------------------------
# Role chaining duration
# --------------------------------------------------------------------------------------------


def test_chained_role_duration_capped_at_an_hour_with_one_note(home: TempHome, moto: MotoServer, base_user: AccessKey):
    jump = moto.create_role("jump-cap", trusted=[base_user.user_arn], may_assume_roles=True,
                            max_session_duration=7200)
    target = moto.create_role("target-cap", trusted=[assumed_arn(jump, "hop")], max_session_duration=7200)
    home.add_source("base", base_user)
    home.add_role_profile("jump", jump, "base", role_session_name="hop", duration_seconds="7200")
    home.add_role_profile("target", target, "jump", role_session_name="alice", duration_seconds="7200")
    home.write()

    first = home.stscache("target")
    second = home.stscache("target")

    assert moto.caller_arn(first.credentials()) == assumed_arn(target, "alice")
    assert second.credentials() == first.credentials()
    assert moto.assume_role_requests(jump)[0].params["DurationSeconds"] == "7200"
    [request] = moto.assume_role_requests(target)
    assert request.params["DurationSeconds"] == "3600"
    assert first.stderr.count("role chaining") == 1, first
    assert "role chaining" not in second.stderr
