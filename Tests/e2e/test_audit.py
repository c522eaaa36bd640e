"""The audit log (issue 22): every hand-out is one JSON line in the cache directory's audit.log,
naming the local process that got the credentials, and `stscache log --key-id` answers the
question CloudTrail leaves open: which program on this machine used that key? Real peers: the
AWS CLI through credential_process and a Python client of `exec --server`'s endpoint, against
moto with signature checking."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from support.aws import AccessKey
from support.homes import Result, TempHome, run
from support.moto import MotoServer
from support.peers import AWS_CLI, VENV_PYTHON

pytestmark = pytest.mark.security


def stscache(home: TempHome, *args: str, env: dict | None = None) -> Result:
    assert home.stscache_bin is not None
    return run([str(home.stscache_bin), *args], home.env(env), timeout=120)


@pytest.fixture
def prod(home: TempHome, moto: MotoServer, base_user: AccessKey) -> str:
    role = moto.create_role("audited", trusted=[base_user.user_arn])
    home.delegate(role, base_user, profile="prod", session_name="alice")
    return role


def audit_bytes(home: TempHome) -> bytes:
    return b"".join(p.read_bytes() for p in (home.cache_dir / "audit.log.1", home.cache_dir / "audit.log") if p.exists())


def records(home: TempHome, *filters: str) -> list[dict]:
    result = stscache(home, "log", "--json", *filters)
    assert result.ok and result.stderr == "", result
    return json.loads(result.stdout)


def signing_key_id(debug_output: str) -> str:
    """The access key id that signed the CLI's request, as CloudTrail records it (botocore's
    --debug prints the Authorization header)."""
    found = re.findall(r"Credential=(ASIA[A-Z0-9]+)/", debug_output)
    assert found, "no signed request in the CLI's debug output"
    return found[-1]


def test_the_aws_cli_behind_a_cloudtrail_key_id(home: TempHome, moto: MotoServer, prod: str, tmp_path: Path):
    workdir = tmp_path / "project"
    workdir.mkdir()
    arguments = ["sts", "get-caller-identity", "--profile", "prod", "--output", "json", "--debug"]
    cli = run([str(AWS_CLI), *arguments], home.env(), timeout=120, cwd=workdir)
    assert cli.ok, cli
    key_id = signing_key_id(cli.stderr)

    table = stscache(home, "log", "--key-id", key_id)
    assert table.ok and table.stderr == "", table
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["TIME", "COMMAND", "PROFILE"] and len(lines) == 2, table.stdout
    print("\n$ stscache log --key-id", key_id, "\n" + table.stdout)

    (record,) = records(home, "--key-id", key_id)
    assert record["command"] == "credential-process" and record["profile"] == "prod-role"
    assert record["roleArn"] == prod and record["sessionName"] == "alice" and record["origin"] == "sts"
    caller = record["caller"]
    assert caller["pid"] > 1
    assert os.path.basename(caller["exe"]).startswith("python"), caller
    assert any(arg.endswith("/aws") for arg in caller["args"]) and "get-caller-identity" in caller["args"], caller
    # The CLI is a script: the kernel runs its interpreter with the script's path, then the arguments.
    assert caller["argc"] == 2 + len(arguments) and caller["cwd"] == str(workdir), caller
    assert key_id in table.stdout and "get-caller-identity" in table.stdout

    # The next call is a cache hit, recorded as such; the filters narrow to it.
    again = home.aws("sts", "get-caller-identity", "--profile", "prod")
    assert again.ok, again
    assert [r["origin"] for r in records(home, "--key-id", key_id)] == ["sts", "cache"]
    assert records(home, "--caller", "no-such-program") == []
    assert len(records(home, "--profile", "prod-role", "--since", "10m")) == 2
    assert records(home, "--profile", "elsewhere") == []


def test_the_log_never_holds_a_secret(home: TempHome, moto: MotoServer, prod: str, base_user: AccessKey):
    issued = [home.stscache("prod-role").credentials(), home.stscache("prod-role", "--force-refresh").credentials()]
    exported = stscache(home, "export", "--profile", "prod")
    assert exported.ok, exported
    ran = stscache(home, "exec", "--profile", "prod", "--", "true")
    assert ran.ok, ran
    assert [r["command"] for r in records(home)] == ["credential-process", "credential-process", "export", "exec"]
    data = audit_bytes(home)
    secrets = [base_user.secret_access_key]
    for creds in issued:
        secrets += [creds["SecretAccessKey"], creds["SessionToken"]]
        assert creds["AccessKeyId"].encode() in data, "control: the key ids are there"
    for secret in secrets:
        assert secret.encode() not in data, "a secret in the audit log"
        # Nor a recognisable piece of one.
        assert secret[:16].encode() not in data
    path = home.cache_dir / "audit.log"
    assert path.stat().st_mode & 0o777 == 0o600


def test_the_endpoint_records_the_connecting_process(home: TempHome, moto: MotoServer, prod: str):
    client = (
        "import json, os, urllib.request\n"
        "request = urllib.request.Request(os.environ['AWS_CONTAINER_CREDENTIALS_FULL_URI'],\n"
        "    headers={'Authorization': os.environ['AWS_CONTAINER_AUTHORIZATION_TOKEN']})\n"
        "served = json.load(urllib.request.urlopen(request, timeout=10))\n"
        "print(json.dumps({'pid': os.getpid(), 'key': served['AccessKeyId']}))\n"
    )
    result = stscache(home, "exec", "--server", "--profile", "prod", "--", str(VENV_PYTHON), "-c", client, "endpoint-probe")
    assert result.ok and result.stderr == "", result
    probe = json.loads(result.stdout)
    (record,) = records(home, "--key-id", probe["key"], "--caller", "endpoint-probe")
    assert record["command"] == "endpoint" and record["origin"] == "cache"
    assert record["caller"]["pid"] == probe["pid"], record
    assert os.path.basename(record["caller"]["exe"]).startswith("python")
    assert record["caller"]["args"][-1] == "endpoint-probe"
    # With --server the child gets no keys: the endpoint's answers are the only hand-outs.
    assert [r["command"] for r in records(home)] == ["endpoint"]


def test_audit_off_writes_nothing(home: TempHome, moto: MotoServer, prod: str):
    off = {"STSCACHE_AUDIT": "off"}
    assert home.stscache("prod-role", env=off).ok
    assert stscache(home, "export", "--profile", "prod", env=off).ok
    assert home.aws("sts", "get-caller-identity", "--profile", "prod", env=off).ok
    assert not (home.cache_dir / "audit.log").exists()
    assert stscache(home, "log").stdout == ""
    # Control: on by default.
    assert home.stscache("prod-role").ok
    assert (home.cache_dir / "audit.log").exists()
    # A typo is an error that names the setting, and nothing is handed out.
    typo = home.stscache("prod-role", env={"STSCACHE_AUDIT": "of"})
    assert typo.returncode != 0 and typo.stdout == "" and "STSCACHE_AUDIT" in typo.stderr
    assert typo.stderr.count("\n") == 1 and typo.stderr.startswith("stscache: ")


def test_a_hostile_log_is_refused_and_the_hand_out_goes_on(home: TempHome, moto: MotoServer, prod: str, tmp_path: Path):
    assert home.stscache("prod-role").ok  # makes the cache directory
    log = home.cache_dir / "audit.log"
    log.unlink()
    elsewhere = tmp_path / "their-file"
    elsewhere.write_text("theirs\n")
    log.symlink_to(elsewhere)
    served = home.stscache("prod-role")
    assert served.ok and served.credentials()["AccessKeyId"].startswith("ASIA"), served
    assert served.stderr.count("\n") == 1 and "symbolic link" in served.stderr and "audit log" in served.stderr, served
    assert elsewhere.read_text() == "theirs\n" and log.is_symlink()

    log.unlink()
    log.write_text("")
    log.chmod(0o644)
    served = home.stscache("prod-role")
    assert served.ok and "0644" in served.stderr, served
    assert log.read_bytes() == b"" and log.stat().st_mode & 0o777 == 0o644, "left as found"

    # A hostile writer's lines: `log` skips what is not a record and escapes what it shows.
    log.chmod(0o600)
    forged = {"v": 1, "time": "2030-01-01T00:00:00Z", "command": "credential-process", "profile": "p\u001b]0;owned\u0007",
              "roleArn": "arn", "accessKeyId": "ASIAFORGED\u202e0001", "caller": {"pid": 1, "exe": "/x\u001b[2J"}}
    log.write_text("garbage\n" + json.dumps(forged) + "\n{\"v\":1}\n" + "x" * 100000 + "\n")
    shown = stscache(home, "log")
    assert shown.ok and shown.stderr == "", shown
    assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout and "\u202e" not in shown.stdout
    assert "ASIAFORGED" in shown.stdout and len(shown.stdout.splitlines()) == 2
    as_json = stscache(home, "log", "--json")
    assert "\x1b" not in as_json.stdout and json.loads(as_json.stdout)[0]["profile"] == forged["profile"]
