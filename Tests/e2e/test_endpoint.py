"""`stscache exec --server`: the child gets a local container-credentials endpoint (URI and
token, no keys), and real clients (the AWS CLI, boto3) fetch the role's credentials from it
through their container provider. moto with signature checking on is the STS behind it."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from support.aws import AccessKey, assumed_arn
from support.homes import Result, TempHome, run
from support.moto import MotoServer
from support.peers import AWS_CLI, VENV_PYTHON

pytestmark = pytest.mark.endpoint


def stscache(home: TempHome, *args: str, env: dict | None = None) -> Result:
    assert home.stscache_bin is not None
    return run([str(home.stscache_bin), *args], home.env(env), timeout=120)


@pytest.fixture
def prod(home: TempHome, moto: MotoServer, base_user: AccessKey) -> str:
    role = moto.create_role("prod", trusted=[base_user.user_arn])
    home.delegate(role, base_user, profile="prod", session_name="alice")
    return role


PROBE = r"""
import json, os, sys, urllib.request, urllib.error
uri, token = os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"], os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
def fetch(headers):
    request = urllib.request.Request(uri, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers.get("Content-Type"), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type"), error.read().decode()
answers = {
    "right": fetch({"Authorization": token}),
    "wrong": fetch({"Authorization": token[:-1] + ("0" if token[-1] != "0" else "1")}),
    "missing": fetch({}),
    "bearer": fetch({"Authorization": "Bearer " + token}),
}
keys = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")}
print(json.dumps({"uri": uri, "token": token, "answers": answers, "keys": keys}))
"""


def test_exec_server_child_has_an_endpoint_and_no_keys(home: TempHome, moto: MotoServer, prod: str):
    result = stscache(home, "exec", "--server", "--profile", "prod", "--", str(VENV_PYTHON), "-c", PROBE,
                      env={"AWS_PROFILE": "prod", "AWS_ACCESS_KEY_ID": "AKIASTALEFROMSHELL01"})
    assert result.ok and result.stderr == "", result
    probe = json.loads(result.stdout)
    assert probe["uri"].startswith("http://127.0.0.1:") and probe["uri"].endswith("/")
    assert len(probe["token"]) == 64
    assert probe["keys"] == {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_SESSION_TOKEN": None,
                             "AWS_PROFILE": None}
    status, content_type, body = probe["answers"]["right"]
    assert status == 200 and content_type == "application/json", probe
    served = json.loads(body)
    assert served["AccessKeyId"].startswith("ASIA") and served["Token"] and served["Expiration"].endswith("Z")
    assert served["AccountId"] == prod.split(":")[4]
    for name in ("wrong", "missing", "bearer"):
        status, _, body = probe["answers"][name]
        assert status == 403, (name, probe)
        assert served["AccessKeyId"] not in body and served["SecretAccessKey"] not in body and probe["token"] not in body
        assert json.loads(body)["Code"] == "AccessDenied"
    assert moto.assume_role_count(prod) == 1


def test_the_aws_cli_inside_exec_server_uses_the_endpoint(home: TempHome, moto: MotoServer, prod: str):
    result = stscache(home, "exec", "--server", "--profile", "prod", "--",
                      str(AWS_CLI), "sts", "get-caller-identity", "--output", "json", "--debug",
                      env={"AWS_ENDPOINT_URL": moto.endpoint})
    assert result.ok, result
    identity = json.loads(result.stdout)
    assert identity["Arn"] == assumed_arn(prod, "alice")
    # botocore logs each provider it tries and stops at the first that gives credentials: the
    # container provider must be that one.
    tried = re.findall(r"Looking for credentials via: ([\w-]+)", result.stderr)
    assert tried and tried[-1] == "container-role", tried
    assert moto.assume_role_count(prod) == 1


def test_boto3_inside_exec_server_refreshes_through_the_endpoint(home: TempHome, moto: MotoServer, prod: str):
    script = (
        "import json, boto3\n"
        "session = boto3.Session()\n"
        "credentials = session.get_credentials()\n"
        "print(json.dumps({'method': credentials.method,\n"
        "                  'arn': session.client('sts').get_caller_identity()['Arn'],\n"
        "                  'refreshable': hasattr(credentials, 'refresh_needed')}))\n"
    )
    result = stscache(home, "exec", "--server", "--profile", "prod", "--", str(VENV_PYTHON), "-c", script,
                      env={"AWS_ENDPOINT_URL": moto.endpoint})
    assert result.ok, result
    answer = json.loads(result.stdout)
    assert answer == {"method": "container-role", "arn": assumed_arn(prod, "alice"), "refreshable": True}, answer


def test_exec_server_endpoint_is_gone_when_the_child_exits(home: TempHome, moto: MotoServer, prod: str, tmp_path: Path):
    uri_file = tmp_path / "uri"
    result = stscache(home, "exec", "--server", "--profile", "prod", "--", "sh", "-c",
                      f'printf %s "$AWS_CONTAINER_CREDENTIALS_FULL_URI" > {uri_file}; exit 7')
    assert result.returncode == 7, result
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(uri_file.read_text(), timeout=2)


def test_exec_server_with_an_unknown_profile_fails_before_starting_anything(home: TempHome, prod: str, tmp_path: Path):
    marker = tmp_path / "ran"
    result = stscache(home, "exec", "--server", "--profile", "nope", "--", "touch", str(marker))
    assert result.returncode != 0 and result.stdout == "" and result.stderr.startswith("stscache: "), result
    assert "nope" in result.stderr and not marker.exists()


# The starvation attack on the endpoint (docs/SECURITY.md): its port is in /proc/net/tcp for every
# local user, and a server that reads one connection at a time is held by anyone who connects and
# sends one byte. The child plays both parts: it keeps 20 such connections open (a dropped one is
# replaced at once, as an attacker would), and meanwhile fetches the role's credentials five times
# through botocore's container provider (boto3's own, 2 s timeout, 3 attempts), then calls STS
# through boto3. Then it stops replacing them and sees each of the last 20 answered 408 at its
# deadline.
STARVED = r"""
import json, os, select, socket, sys, time, urllib.parse
import boto3
from botocore.credentials import ContainerProvider
port = urllib.parse.urlsplit(os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"]).port
slow, dropped = [], 0
def hold():
    global dropped
    if slow:
        readable, _, _ = select.select(slow, [], [], 0)
        for sock in readable:
            slow.remove(sock)
            sock.close()
            dropped += 1
    for _ in range(20 - len(slow)):
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=1)
            sock.sendall(b"G")
            slow.append(sock)
        except OSError:
            pass  # a server whose queue is full leaves the connect hanging: that one is not held
hold()
fetches = []
provider = ContainerProvider()
for attempt in range(5):
    hold()
    started = time.monotonic()
    try:
        provider.load().get_frozen_credentials()
        fetches.append({"seconds": time.monotonic() - started, "error": None})
    except Exception as error:
        fetches.append({"seconds": time.monotonic() - started, "error": str(error)})
hold()
try:
    session = boto3.Session()
    arn = session.client("sts").get_caller_identity()["Arn"]
    method = session.get_credentials().method
except Exception as error:
    arn, method = str(error), None
last, opened = list(slow), time.monotonic()
answers = []
for sock in last:
    sock.settimeout(max(0.1, opened + 30 - time.monotonic()))
    try:
        answers.append(sock.recv(4096).decode(errors="replace").split("\r\n")[0])
    except OSError as error:
        answers.append(type(error).__name__)
waited = time.monotonic() - opened
print(json.dumps({"fetches": fetches, "arn": arn, "method": method, "dropped": dropped, "answers": answers,
                  "waited": waited}))
"""


def test_twenty_slow_connections_do_not_starve_the_child(home: TempHome, moto: MotoServer, prod: str):
    result = stscache(home, "exec", "--server", "--profile", "prod", "--", str(VENV_PYTHON), "-c", STARVED,
                      env={"AWS_ENDPOINT_URL": moto.endpoint})
    assert result.ok, result
    report = json.loads(result.stdout)
    seconds = [round(fetch["seconds"], 3) for fetch in report["fetches"]]
    print(f"\ncredential fetches under 20 slow connections (s): {seconds}")
    assert all(fetch["error"] is None for fetch in report["fetches"]), report["fetches"]
    # A server that served only after a slow connection's two-second deadline freed it would take
    # 2 s at least for a fetch (a one-at-a-time one 20 times that, and botocore would give up); the
    # fix answers at once, and a loaded machine stays well inside it.
    assert all(fetch["seconds"] < 2 for fetch in report["fetches"]), seconds
    assert report["method"] == "container-role" and report["arn"] == assumed_arn(prod, "alice"), report
    # The slow connections were real: left alone, each got 408 at its two-second deadline.
    assert report["answers"] == ["HTTP/1.1 408 Request Timeout"] * 20, report
    # At their deadline, not never: a server without one would leave them to the 30 s safety net.
    assert report["waited"] < 15, report
    assert moto.assume_role_count(prod) == 1
