"""The profile's network settings everywhere it is used (issues 21 and 23): the endpoints a
profile names reach `exec`'s child and `export`'s shell (with the profile marked, so `prompt`
shows it), `doctor --network` asks the profile's STS, and a profile's ca_bundle is used for its
Identity Center calls and doctor's."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import ssl
from pathlib import Path

import pytest

from support.aws import ACCOUNT_ID, REGION, AccessKey, assumed_arn
from support.fakes import FakeSTS
from support.fakesso import FakeIdentityCenter
from support.homes import Result, TempHome, run
from support.moto import MotoServer
from support.peers import AWS_CLI, REPO_ROOT, require_shell
from support.tls import make_ca

pytestmark = pytest.mark.commands

BASH_SNIPPET = REPO_ROOT / "config-examples" / "shell" / "stscache.bash"


def stscache(home: TempHome, *args: str, env: dict | None = None) -> Result:
    assert home.stscache_bin is not None
    return run([str(home.stscache_bin), *args], home.env(env), timeout=60)


def nested(**values: str) -> str:
    """A nested block under a key (`sts =` then indented `endpoint_url = ...`), as render_ini writes it."""
    return "".join(f"\n  {key} = {value}" for key, value in values.items())


@pytest.fixture
def services_home(home: TempHome, moto: MotoServer, base_user: AccessKey) -> tuple[TempHome, str]:
    """[profile prod] delegating to [profile prod-role], both reaching moto through
    `services = local` and `[services local]`'s sts endpoint_url only (no endpoint_url of their
    own), as a LocalStack or VPC-endpoint set-up would say it."""
    role = moto.create_role("prod", trusted=[base_user.user_arn])
    home.delegate(role, base_user, profile="prod", session_name="alice")
    for name in ("profile prod", "profile prod-role", "profile base"):
        del home.config[name]["endpoint_url"]
        home.config[name]["services"] = "local"
    home.config["services local"] = {"sts": nested(endpoint_url=moto.endpoint),
                                     "s3": nested(endpoint_url="http://127.0.0.1:9/s3")}
    home.write()
    return home, role


def test_exec_child_gets_the_profiles_endpoints_and_its_marker(services_home: tuple[TempHome, str]):
    home, role = services_home
    probe = stscache(home, "exec", "--profile", "prod", "--", "env")
    assert probe.ok, probe
    child = dict(line.split("=", 1) for line in probe.stdout.splitlines() if "=" in line)
    assert child["AWS_ENDPOINT_URL_STS"] == home.moto.endpoint
    assert child["AWS_ENDPOINT_URL_S3"] == "http://127.0.0.1:9/s3"
    assert "AWS_ENDPOINT_URL" not in child  # the profile sets no endpoint_url of its own
    assert child["STSCACHE_PROFILE"] == "prod"
    assert "AWS_PROFILE" not in child
    # Nothing secret of stscache's rides along with the marker.
    assert not any(name.startswith("STSCACHE_") and name not in ("STSCACHE_PROFILE", "STSCACHE_KEY_STORE")
                   for name in child), child

    # The real CLI in the child reaches the profile's STS (moto), not the public endpoint.
    result = stscache(home, "exec", "--profile", "prod", "--", "aws", "sts", "get-caller-identity", "--output", "json")
    assert result.ok, result
    assert json.loads(result.stdout)["Arn"] == assumed_arn(role, "alice")


def test_a_variable_already_set_wins_in_the_child_as_it_did_for_the_profile(services_home: tuple[TempHome, str]):
    home, _ = services_home
    probe = stscache(home, "exec", "--profile", "prod", "--", "env",
                     env={"AWS_ENDPOINT_URL_STS": home.moto.endpoint + "/", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:8/"})
    assert probe.ok, probe
    child = dict(line.split("=", 1) for line in probe.stdout.splitlines() if "=" in line)
    assert child["AWS_ENDPOINT_URL_STS"] == home.moto.endpoint + "/"
    assert child["AWS_ENDPOINT_URL_S3"] == "http://127.0.0.1:8/"


def test_export_then_prompt_shows_the_profile_and_the_cli_reaches_its_endpoint(
        services_home: tuple[TempHome, str], tmp_path: Path):
    home, role = services_home
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "stscache").symlink_to(home.stscache_bin)
    (bin_dir / "aws").symlink_to(AWS_CLI)
    env = home.env()
    env["PATH"] = f"{bin_dir}:{env.get('PATH', '/usr/bin:/bin')}"
    # An interactive bash as the README sets it up: the snippet, then the user's eval.
    script = (f'PS1="\\$ "; . {shlex.quote(str(BASH_SNIPPET))}; '
              'eval "$(stscache export --profile prod)" || exit 9; '
              'eval "$PROMPT_COMMAND"; printf "%s|%s|%s\\n" "${PS1@P}" "$STSCACHE_PROFILE" "$AWS_ENDPOINT_URL_STS"; '
              f'aws sts get-caller-identity --output json --region {REGION}')
    result = run([require_shell("bash"), "--norc", "--noprofile", "-c", script], env)
    assert result.ok, result
    first, rest = result.stdout.split("\n", 1)
    rendered, marker, endpoint = first.split("|")
    assert re.fullmatch(r"\[prod \d+m\] \$ ", rendered), result
    assert marker == "prod" and endpoint == home.moto.endpoint
    assert json.loads(rest)["Arn"] == assumed_arn(role, "alice")


def test_export_quotes_what_the_profile_says(home: TempHome, moto: MotoServer, base_user: AccessKey):
    """An endpoint URL and a profile name with shell metacharacters come back exactly, never run."""
    role = moto.create_role("odd", trusted=[base_user.user_arn])
    odd = "odd$(touch${IFS}pwned)"
    home.delegate(role, base_user, profile=odd, session_name="alice")
    home.config[f"profile {odd}"]["endpoint_url"] = moto.endpoint + "/?x='$(touch pwned)'"
    home.write()
    exported = stscache(home, "export", "--profile", odd)
    assert exported.ok, exported
    script = exported.stdout + 'printf "%s\\n%s\\n" "$STSCACHE_PROFILE" "$AWS_ENDPOINT_URL"'
    result = run([require_shell("bash"), "--norc", "--noprofile", "-c", script], home.env(), cwd=home.root)
    assert result.ok, result
    assert result.stdout == f"{odd}\n{moto.endpoint}/?x='$(touch pwned)'\n"
    assert not (home.root / "pwned").exists()


# --- doctor --network --------------------------------------------------------------------------


def test_doctor_network_asks_the_profiles_sts_endpoint(services_home: tuple[TempHome, str]):
    home, _ = services_home
    result = stscache(home, "doctor", "--network", "--profile", "prod")
    assert f"of STS's ({home.moto.endpoint}/)" in result.stdout, result

    without = stscache(home, "doctor", "--profile", "prod")
    line = next(line for line in without.stdout.splitlines() if "not compared" in line)
    assert "stscache doctor --network" in line, without


def test_doctor_network_unreachable_host_says_it_once(home: TempHome):
    home.config["profile gone"] = {"region": REGION, "endpoint_url": "https://sts.stscache-test.invalid"}
    home.write()
    result = stscache(home, "doctor", "--network", "--profile", "gone")
    line = next(line for line in result.stdout.splitlines() if "compare clocks" in line)
    assert "https://sts.stscache-test.invalid/" in line, result
    assert "could not resolve the host sts.stscache-test.invalid" in line, result
    assert "Could not resolve host" not in line, result


def test_doctor_network_uses_the_profiles_ca_bundle(home: TempHome, tmp_path: Path):
    tls = make_ca(tmp_path / "tls")
    fake = FakeSTS(tls=tls)
    try:
        home.config["profile trusted"] = {"region": REGION, "endpoint_url": fake.endpoint, "ca_bundle": str(tls.ca_cert)}
        home.config["profile untrusted"] = {"region": REGION, "endpoint_url": fake.endpoint}
        home.write()
        trusted = stscache(home, "doctor", "--network", "--profile", "trusted")
        assert f"of STS's ({fake.endpoint}/)" in trusted.stdout, trusted
        untrusted = stscache(home, "doctor", "--network", "--profile", "untrusted")
        line = next(line for line in untrusted.stdout.splitlines() if "compare clocks" in line)
        assert "TLS" in line, untrusted
    finally:
        fake.close()


# --- Identity Center over TLS with the profile's ca_bundle ------------------------------------


def test_identity_center_calls_use_the_profiles_ca_bundle(home: TempHome, tmp_path: Path):
    from botocore.utils import JSONFileCache, SSOTokenLoader

    tls = make_ca(tmp_path / "tls")
    fake = FakeIdentityCenter()
    fake.assignments.add((ACCOUNT_ID, "Developer"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls.server_cert, tls.server_key)
    fake._server.socket = context.wrap_socket(fake._server.socket, server_side=True)
    portal = fake.endpoint.replace("http://", "https://")
    try:
        start_url = "https://corp.awsapps.com/start"
        home.config["sso-session corp"] = {"sso_start_url": start_url, "sso_region": REGION}
        profile = {"sso_session": "corp", "sso_account_id": ACCOUNT_ID, "sso_role_name": "Developer",
                   "region": REGION, "services": "corp"}
        # The portal and OIDC only through the [services] section, on TLS with a private CA.
        home.config["profile untrusted"] = dict(profile)
        home.config["profile trusted"] = dict(profile, ca_bundle=str(tls.ca_cert))
        home.config["services corp"] = {"sso": nested(endpoint_url=portal), "sso_oidc": nested(endpoint_url=portal)}
        home.write()
        client_id, secret = fake.register_client()
        access, refresh = fake.issue_token(client_id, 3600)
        expires = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        SSOTokenLoader(cache=JSONFileCache(str(home.root / ".aws" / "sso" / "cache"))).save_token(
            start_url, {"startUrl": start_url, "region": REGION, "accessToken": access, "expiresAt": expires},
            session_name="corp")

        # First without the CA (the two profiles share one cache entry once it exists).
        untrusted = home.stscache("untrusted")
        assert not untrusted.ok and untrusted.stdout == "", untrusted
        assert "TLS" in untrusted.stderr and untrusted.stderr.count("\n") == 1, untrusted
        assert fake.calls("GetRoleCredentials") == []

        trusted = home.stscache("trusted")
        assert trusted.ok, trusted
        assert json.loads(trusted.stdout)["AccessKeyId"].startswith("ASIA")
        assert len(fake.calls("GetRoleCredentials")) == 1
    finally:
        fake.close()
