"""Issue 10, items 3, 4, 6, 7, 8 and 9: the cache against a hostile neighbour, end to end.

- A cached session is bound to the principal that fetched it: other keys reaching the same
  profile name (another credentials file, another environment, a wrong secret) go to STS
  themselves (moto, signature checking on) and never get the first keys' session.
- A session from one STS endpoint is never served for another (moto and a loopback fake STS
  that checks the same keys' signatures).
- Forged entry headers (plaintext, writable by any process of the user) cannot crash ``prompt``
  or ``list``, cannot put control codes on the terminal, and are never called ``valid``.
- Plain http to an STS off this machine is refused before a byte is sent, unless opted in.
- The key directory opened to others after the key was made is refused at the next load.

Each test has a control that shows the attack reaches the code (the proxy that sees the opt-in's
request, the other endpoint's own session, the genuine entry shown valid).
"""

from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

import pytest

from support.aws import AccessKey, assumed_arn
from support.fakes import BlackHole, FakeSTS
from support.homes import EXPIRY_OFFSET, TempHome, assert_clean_failure, entry_files, files_under, forged_entry, run
from support.moto import MotoServer

pytestmark = pytest.mark.security

ESCAPES = ("\x1b", "\x07", "\x9b", "\u202e")


def delegated(home: TempHome, moto: MotoServer, base: AccessKey, prefix: str = "bound") -> str:
    role = moto.create_role(prefix, [base.user_arn])
    home.delegate(role, base)
    return role


def other_credentials_file(home: TempHome, key_id: str, secret: str) -> Path:
    """Another AWS_SHARED_CREDENTIALS_FILE with a [base] profile of the same name."""
    path = home.root / f"credentials-{key_id[-6:]}"
    path.write_text(f"[base]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n")
    path.chmod(0o600)
    return path


# --------------------------------------------------------------------------------------------
# Item 3: sessions bound to who fetched them
# --------------------------------------------------------------------------------------------


def test_other_keys_for_the_same_profile_name_go_to_sts_and_never_get_the_session(home, moto, base_user):
    role = delegated(home, moto, base_user)
    first = home.stscache("prod-role")
    assert first.ok, first
    assert moto.assume_role_count(role) == 1

    # Keys B: a real user's key id with a wrong secret, under the same profile name.
    other = moto.create_user("other")
    for key_id in (other.access_key_id, base_user.access_key_id):
        wrong = other_credentials_file(home, key_id, "not-the-secret/" + "x" * 30)
        before = moto.assume_role_count(role)
        refused = home.stscache("prod-role", env={"AWS_SHARED_CREDENTIALS_FILE": str(wrong)})
        assert_clean_failure(refused)
        assert first.credentials()["AccessKeyId"] not in refused.stderr
        # STS saw it (and refused it): the first principal's session was not handed out.
        assert moto.assume_role_count(role) == before + 1

    # The first keys' entry is intact: served again without STS.
    again = home.stscache("prod-role")
    assert again.ok and again.credentials() == first.credentials()
    assert moto.assume_role_count(role) == 3

    # Control: the other user's real keys get a session of their own from STS.
    trusting_both = moto.create_role("both", [base_user.user_arn, other.user_arn])
    home.add_role_profile("both-role", trusting_both, "base", role_session_name="alice")
    home.write()
    mine = home.stscache("both-role")
    theirs = home.stscache("both-role", env={"AWS_SHARED_CREDENTIALS_FILE": str(
        other_credentials_file(home, other.access_key_id, other.secret_access_key))})
    assert mine.ok and theirs.ok, (mine, theirs)
    assert mine.credentials()["AccessKeyId"] != theirs.credentials()["AccessKeyId"]
    assert moto.caller_arn(theirs.credentials()) == assumed_arn(trusting_both, "alice")
    assert moto.assume_role_count(trusting_both) == 2


def test_environment_source_is_bound_to_the_environment_keys_and_prompt_needs_none(home, moto, base_user):
    role = moto.create_role("envsrc", [base_user.user_arn])
    home.config["profile ci-role"] = {
        "role_arn": role, "credential_source": "Environment", "role_session_name": "ci",
        "region": "us-east-1", "endpoint_url": moto.endpoint,
    }
    home.write()
    keys_a = {"AWS_ACCESS_KEY_ID": base_user.access_key_id, "AWS_SECRET_ACCESS_KEY": base_user.secret_access_key}
    keys_b = {"AWS_ACCESS_KEY_ID": base_user.access_key_id, "AWS_SECRET_ACCESS_KEY": "wrong/" + "y" * 34}
    first = home.stscache("ci-role", env=keys_a)
    assert first.ok, first
    assert_clean_failure(home.stscache("ci-role", env=keys_b))
    assert moto.assume_role_count(role) == 2
    assert home.stscache("ci-role", env=keys_a).credentials() == first.credentials()
    assert moto.assume_role_count(role) == 2

    # prompt and list find the entry from a shell that holds no keys at all.
    prompt = run([str(home.stscache_bin), "prompt", "--profile", "ci-role"], home.env())
    assert prompt.returncode == 0 and prompt.stdout.startswith("ci-role ") and prompt.stdout.strip() != "ci-role", prompt
    listed = run([str(home.stscache_bin), "list"], home.env())
    assert listed.returncode == 0 and role in listed.stdout and "\tci-role\t" in listed.stdout, listed
    # The entry's file name and header say nothing about the keys.
    for path in files_under(home.cache_dir):
        assert base_user.access_key_id.encode() not in path.read_bytes()
        assert base_user.access_key_id not in path.name


# --------------------------------------------------------------------------------------------
# Item 4: sessions apart per endpoint
# --------------------------------------------------------------------------------------------


def test_same_role_and_session_at_two_endpoints_one_sts_call_at_each(home, moto, base_user):
    role = delegated(home, moto, base_user, "twin")
    fake = FakeSTS(secret_key=base_user.secret_access_key)
    try:
        # The same role ARN, session name and source profile, at a local STS.
        home.add_role_profile("local-role", role, "base", role_session_name="alice", endpoint_url=fake.endpoint)
        home.write()
        real = home.stscache("prod-role")
        local = home.stscache("local-role")
        assert real.ok and local.ok, (real, local)
        assert moto.assume_role_count(role) == 1 and fake.count() == 1
        assert real.credentials()["AccessKeyId"] != local.credentials()["AccessKeyId"]
        assert local.credentials()["AccessKeyId"].startswith("ASIAFAKE")
        # Each is served its own from the cache afterwards, in either order.
        for _ in range(2):
            assert home.stscache("local-role").credentials() == local.credentials()
            assert home.stscache("prod-role").credentials() == real.credentials()
        assert moto.assume_role_count(role) == 1 and fake.count() == 1
        # AWS_ENDPOINT_URL_STS moves prod-role to the local STS: it gets the local STS's session
        # (the same role, session, source and endpoint as local-role), never moto's.
        moved = home.stscache("prod-role", env={"AWS_ENDPOINT_URL_STS": fake.endpoint})
        assert moved.ok and moved.credentials() == local.credentials(), moved
        assert moto.assume_role_count(role) == 1 and fake.count() == 1
        assert moto.caller_arn(real.credentials()) == assumed_arn(role, "alice")
    finally:
        fake.close()


# --------------------------------------------------------------------------------------------
# Items 6 and 7: forged headers
# --------------------------------------------------------------------------------------------

def prompt_and_list(home: TempHome, cwd: Path) -> tuple:
    """prompt and list run from ``cwd`` under ``ulimit -c unlimited``, as a shell prompt would."""
    env = home.env()
    out = []
    for argv in (["prompt", "--profile", "prod"], ["list"], ["list", "--json"]):
        shell = 'ulimit -c unlimited; exec "$@"'
        completed = subprocess.run(["/bin/sh", "-c", shell, "sh", str(home.stscache_bin), *argv], cwd=cwd, env=env,
                                   capture_output=True, text=True, timeout=30)
        out.append(completed)
    return tuple(out)


@pytest.mark.parametrize("expiration", [2**63 - 1, -(2**63), -1, 253_402_300_800])
def test_out_of_range_header_times_neither_crash_prompt_and_list_nor_leave_a_core(home, moto, base_user, tmp_path,
                                                                                   expiration):
    role = delegated(home, moto, base_user, "forged")
    assert home.stscache("prod-role").ok
    [entry] = entry_files(home.cache_dir, role)
    data = bytearray(entry.read_bytes())
    data[EXPIRY_OFFSET:EXPIRY_OFFSET + 8] = struct.pack(">q", expiration)
    entry.write_bytes(bytes(data))
    cwd = tmp_path / "shell-cwd"
    cwd.mkdir()

    prompt, listed, as_json = prompt_and_list(home, cwd)

    assert prompt.returncode == 0 and prompt.stdout == "" and prompt.stderr == "", prompt
    assert listed.returncode == 0 and "unreadable (entry malformed)" in listed.stdout, listed
    assert as_json.returncode == 0 and '"state":"unreadable"' in as_json.stdout, as_json
    assert list(cwd.iterdir()) == []
    # The role's next use replaces the forged entry with a fresh session.
    fresh = home.stscache("prod-role")
    assert fresh.ok and moto.assume_role_count(role) == 2


def test_forged_header_text_is_escaped_and_never_valid(home, moto, base_user, tmp_path):
    role = delegated(home, moto, base_user, "genuine")
    assert home.stscache("prod-role").ok
    [entry] = entry_files(home.cache_dir, role)
    hostile_role = "arn:aws:iam::123456789012:role/Admin\x1b]0;owned\x07\x1b[2J\u202enimda"
    forged = home.cache_dir / (("ab" * 32) + ".entry")
    forged.write_bytes(forged_entry(entry.read_bytes(), "ab" * 32, hostile_role, "alice\x9b31m", 4_000_000_000))
    forged.chmod(0o600)

    # With the key at hand: the forgery fails authentication; the genuine entry is valid.
    _, listed, as_json = prompt_and_list(home, tmp_path)
    assert listed.returncode == 0, listed
    assert not any(c in listed.stdout + as_json.stdout for c in ESCAPES), repr(listed.stdout)
    rows = dict(line.split("\t")[0:1] + [line] for line in listed.stdout.splitlines())
    assert rows[role].endswith("\tvalid")
    forged_row = rows[str(forged)]
    assert "unreadable (entry failed authentication (altered))" in forged_row and "owned" not in forged_row
    assert '"verified":true' in as_json.stdout and '"verified":false' in as_json.stdout

    # Without the key (the key file gone): every entry is unverified, the text shown escaped.
    key_file = home.key_store_dir / "cache-key"
    key_file.rename(home.root / "key-elsewhere")
    _, listed, as_json = prompt_and_list(home, tmp_path)
    assert not any(c in listed.stdout + as_json.stdout for c in ESCAPES), repr(listed.stdout)
    assert "\\u{1b}]0;owned\\u{7}\\u{1b}[2J\\u{202e}nimda" in listed.stdout, listed.stdout
    states = [line.rsplit("\t", 1)[1] for line in listed.stdout.splitlines()]
    assert states == ["unverified", "unverified"], listed.stdout
    assert len(listed.stdout.splitlines()) == 2
    assert '"state":"valid"' not in as_json.stdout


# --------------------------------------------------------------------------------------------
# Item 8: plain http off this machine
# --------------------------------------------------------------------------------------------


def test_plain_http_to_a_remote_sts_is_refused_before_anything_is_sent(home, moto, base_user):
    role = delegated(home, moto, base_user, "plain")
    proxy = BlackHole()  # every plain-http request would go through it (http_proxy)
    try:
        via_proxy = {"http_proxy": f"http://127.0.0.1:{proxy.port}", "STSCACHE_STS_TIMEOUT": "2"}
        for variable, url, host in (("AWS_ENDPOINT_URL_STS", "http://sts.example.test", "sts.example.test"),
                                    ("AWS_ENDPOINT_URL", "http://10.11.12.13:4566/", "10.11.12.13")):
            refused = home.stscache("prod-role", env={**via_proxy, variable: url})
            assert_clean_failure(refused, "plain http", "STSCACHE_ALLOW_INSECURE_HTTP=1", host)
            # No wait on the (black-hole) network: that nothing was sent is the proxy's check below.
            assert refused.elapsed < 15
        assert not proxy.wait_for_connection(0.5)
        assert moto.assume_role_count(role) == 0
        assert not entry_files(home.cache_dir, role) if home.cache_dir.exists() else True

        # Control: opted in, the same request does leave (to the proxy, which never answers).
        opted = home.stscache("prod-role", env={**via_proxy, "AWS_ENDPOINT_URL_STS": "http://sts.example.test",
                                                "STSCACHE_ALLOW_INSECURE_HTTP": "1"})
        assert opted.returncode != 0
        assert proxy.wait_for_connection(5)
    finally:
        proxy.close()
    # Loopback http (moto here) needs no opt-in.
    assert home.stscache("prod-role").ok


# --------------------------------------------------------------------------------------------
# Item 9: the key directory, checked at every load
# --------------------------------------------------------------------------------------------


def test_key_directory_opened_to_others_later_is_refused_and_the_cache_kept(home, moto, base_user):
    role = delegated(home, moto, base_user, "keydir")
    first = home.stscache("prod-role")
    assert first.ok
    entry = entry_files(home.cache_dir, role)[0]
    before = entry.read_bytes()
    key_dir = home.key_store_dir
    assert (key_dir / "cache-key").is_file()

    key_dir.chmod(0o777)
    refused = home.stscache("prod-role")
    assert_clean_failure(refused, str(key_dir), "chmod 700")
    assert entry.read_bytes() == before
    assert moto.assume_role_count(role) == 1

    key_dir.chmod(0o700)
    assert home.stscache("prod-role").credentials() == first.credentials()
    assert moto.assume_role_count(role) == 1
