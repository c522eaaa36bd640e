"""stscache keys: long-term keys in stscache's encrypted store instead of ~/.aws/credentials,
end to end against moto with signature checking (STS and IAM), through the real AWS CLI."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from support.aws import REGION, AccessKey, assumed_arn
from support.homes import TempHome, assert_clean_failure, files_under, run
from support.moto import ALLOW_ALL_POLICY, MotoServer
from support.stall_proxy import StallProxy

pytestmark = pytest.mark.keys

ROTATING_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": ["iam:CreateAccessKey", "iam:DeleteAccessKey", "iam:ListAccessKeys"],
                "Resource": "*",
            },
        ],
    }
)


def stored_layout(home: TempHome, role_arn: str, endpoint: str | None = None) -> None:
    """prod -> prod-role -> base, where base has no keys in any file (they are stored)."""
    endpoint = endpoint or home.moto.endpoint
    home.config["profile base"] = {"region": REGION, "endpoint_url": endpoint}
    home.config["profile prod-role"] = {
        "role_arn": role_arn,
        "source_profile": "base",
        "role_session_name": "alice",
        "region": REGION,
        "endpoint_url": endpoint,
    }
    home.add_delegating_profile("prod", "prod-role")
    home.write()


def keys(home: TempHome, *args: str, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    assert home.stscache_bin is not None
    return subprocess.run(
        [str(home.stscache_bin), "keys", *args],
        env=home.env(env),
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=120,
    )


def add_from_stdin(home: TempHome, profile: str, key: AccessKey, env: dict | None = None) -> None:
    result = keys(home, "add", profile, "--stdin", stdin=f"{key.access_key_id}\n{key.secret_access_key}\n", env=env)
    assert result.returncode == 0, result
    assert key.secret_access_key not in result.stdout + result.stderr


def assert_secret_nowhere(root: Path, *secrets: str) -> None:
    for path in files_under(root):
        if path.is_file():
            data = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in data, f"plaintext secret found in {path}"


def stored_rows(home: TempHome) -> list[list[str]]:
    result = keys(home, "list")
    assert result.returncode == 0, result
    return [line.split("\t") for line in result.stdout.splitlines()]


def user_keys(moto: MotoServer, user: AccessKey) -> list[str]:
    return [k["AccessKeyId"] for k in moto.client("iam").list_access_keys(UserName=user.user_name)["AccessKeyMetadata"]]


def key_works(moto: MotoServer, key_id: str, secret: str) -> bool:
    try:
        moto.client("sts", AccessKey("", "", key_id, secret)).get_caller_identity()
        return True
    except Exception:
        return False


# ---------------------------------------------------------------------------------------------


def test_add_from_a_terminal_then_the_cli_through_a_role_whose_source_is_stored(moto, home, base_user):
    role_arn = moto.create_role("keys-tty", [base_user.user_arn])
    stored_layout(home, role_arn)
    # Control: with no keys anywhere, the role fails with a message naming `keys add`.
    before = home.aws("sts", "get-caller-identity", "--profile", "prod")
    assert before.returncode != 0 and "stscache keys add base" in before.stderr, before

    pid, fd = pty.fork()
    if pid == 0:
        os.execve(str(home.stscache_bin), [str(home.stscache_bin), "keys", "add", "base"], home.env())
    transcript = b""

    def expect(needle: bytes, timeout: float = 30) -> None:
        nonlocal transcript
        deadline = time.monotonic() + timeout
        while needle not in transcript:
            assert time.monotonic() < deadline, f"waited for {needle!r}; terminal showed {transcript!r}"
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    transcript += os.read(fd, 4096)
                except OSError:
                    break

    expect(b"Access key ID for profile base: ")
    os.write(fd, base_user.access_key_id.encode() + b"\n")
    expect(b"Secret access key (not shown): ")
    os.write(fd, base_user.secret_access_key.encode() + b"\n")
    expect(b"stored " + base_user.access_key_id.encode())
    _, status = os.waitpid(pid, 0)
    try:
        while True:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            transcript += chunk
    except OSError:
        pass
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, transcript
    # The id was echoed as typed; the secret was not.
    assert base_user.access_key_id.encode() in transcript
    assert base_user.secret_access_key.encode() not in transcript

    store = home.key_store_dir / "access-keys"
    assert oct(store.stat().st_mode & 0o777) == "0o600"
    assert oct(store.parent.stat().st_mode & 0o777) == "0o700"
    rows = stored_rows(home)
    assert [r[:2] for r in rows] == [["base", base_user.access_key_id]]

    identity = home.aws("sts", "get-caller-identity", "--profile", "prod")
    assert identity.ok, identity
    assert json.loads(identity.stdout)["Arn"] == assumed_arn(role_arn, "alice")
    exported = run([str(home.stscache_bin), "export", "--profile", "prod"], home.env())
    assert exported.ok and "AWS_SESSION_TOKEN" in exported.stdout, exported
    assert_secret_nowhere(home.root, base_user.secret_access_key)


def test_add_from_stdin_checks_the_keys_first_and_never_stores_refused_ones(moto, home, base_user):
    role_arn = moto.create_role("keys-stdin", [base_user.user_arn])
    stored_layout(home, role_arn)
    wrong = keys(home, "add", "base", "--stdin", stdin=f"{base_user.access_key_id}\nnot-the-secret\n")
    line = assert_clean_failure(
        run_result(wrong), "refused the keys"
    )
    assert "not-the-secret" not in line
    assert not (home.key_store_dir / "access-keys").exists()
    one_line = keys(home, "add", "base", "--stdin", stdin=f"{base_user.access_key_id}\n")
    assert_clean_failure(run_result(one_line), "two lines")

    add_from_stdin(home, "base", base_user)
    again = keys(home, "add", "base", "--stdin", stdin=f"{base_user.access_key_id}\n{base_user.secret_access_key}\n")
    assert_clean_failure(run_result(again), "--replace")
    assert home.stscache("prod-role").credentials()["AccessKeyId"].startswith("ASIA")
    # exec: the child gets the role's session (its AWS CLI reaches moto through the environment).
    child = run([str(home.stscache_bin), "exec", "--profile", "prod", "--", "aws", "sts", "get-caller-identity"],
                home.env({"AWS_ENDPOINT_URL": moto.endpoint}))
    assert child.ok and json.loads(child.stdout)["Arn"] == assumed_arn(role_arn, "alice"), child
    # The store's own key gone: a clear error naming it, not "no keys".
    store_key = home.key_store_dir / "access-keys-key"
    saved = store_key.read_bytes()
    store_key.unlink()
    assert run([str(home.stscache_bin), "purge", "--profile", "prod"], home.env()).ok
    assert_clean_failure(home.stscache("prod-role"), "the key that opens it is gone")
    store_key.write_bytes(saved)
    os.chmod(store_key, 0o600)
    assert keys(home, "remove", "base", "--yes").returncode == 0  # the only copy: --yes (issue 23)
    assert stored_rows(home) == []


def run_result(completed: subprocess.CompletedProcess):
    from support.homes import Result

    return Result(list(map(str, completed.args)), completed.returncode, completed.stdout, completed.stderr, 0.0)


def test_import_moves_keys_out_of_a_commented_credentials_file(moto, home, base_user):
    role_arn = moto.create_role("keys-import", [base_user.user_arn])
    stored_layout(home, role_arn)
    other = "other/secret+stays+here"
    credentials = (
        "# written by hand\n"
        "[other]\n"
        "aws_access_key_id = AKIAOTHER0000000000\n"
        f"aws_secret_access_key = {other}\n"
        "\n"
        "; the base account, rotated in May\n"
        "[base]\n"
        f"aws_access_key_id = {base_user.access_key_id}\n"
        f"aws_secret_access_key = {base_user.secret_access_key}\n"
        "\n"
        "# trailing comment\n"
    )
    path = home.root / ".aws" / "credentials"
    path.write_text(credentials)
    os.chmod(path, 0o600)
    # Before the import the plaintext keys work as always (control for what follows).
    assert home.stscache("prod-role").ok

    result = keys(home, "import", "base")
    assert result.returncode == 0, result
    expected = credentials.replace(f"aws_access_key_id = {base_user.access_key_id}\n", "").replace(
        f"aws_secret_access_key = {base_user.secret_access_key}\n", ""
    ).replace("[base]\n", "")
    assert path.read_text() == expected
    [backup] = path.parent.glob("credentials.stscache-backup-*")
    assert f"backup: {backup}" in result.stdout
    assert oct(backup.stat().st_mode & 0o777) == "0o600"
    assert "# written by hand" in backup.read_text() and other in backup.read_text()
    assert [r[:2] for r in stored_rows(home)] == [["base", base_user.access_key_id]]

    identity = home.aws("sts", "get-caller-identity", "--profile", "prod")
    assert identity.ok and json.loads(identity.stdout)["Arn"] == assumed_arn(role_arn, "alice"), identity
    refreshed = home.stscache("prod-role", "--force-refresh")
    assert refreshed.ok, refreshed
    assert_secret_nowhere(home.root, base_user.secret_access_key)


def test_keys_in_the_store_and_in_the_credentials_file_are_refused_at_the_next_refresh(moto, home, base_user):
    role_arn = moto.create_role("keys-both", [base_user.user_arn])
    stored_layout(home, role_arn)
    add_from_stdin(home, "base", base_user)
    home.credentials["base"] = {
        "aws_access_key_id": base_user.access_key_id,
        "aws_secret_access_key": base_user.secret_access_key,
    }
    home.write()
    assert_clean_failure(home.stscache("prod-role"), "stscache keys import base")
    # `keys import` settles it: one copy, in the store.
    assert keys(home, "import", "base").returncode == 0
    assert home.stscache("prod-role").ok


def test_a_cache_hit_never_opens_the_key_store(moto, home, base_user):
    if shutil.which("strace") is None:
        pytest.fail("strace not installed; run scripts/bootstrap")
    role_arn = moto.create_role("keys-hit", [base_user.user_arn])
    stored_layout(home, role_arn)
    add_from_stdin(home, "base", base_user)
    assert home.stscache("prod-role").ok  # the miss that fills the cache

    def opened(*extra: str) -> str:
        trace = run(
            ["strace", "-f", "-e", "trace=openat", str(home.stscache_bin), "credential-process", "--profile", "prod-role",
             *extra],
            home.env(),
        )
        assert trace.returncode == 0, trace
        return trace.stderr

    assert "access-keys" not in opened()
    # Control: a refresh (a miss) does open it, so the trace would show it.
    assert "access-keys" in opened("--force-refresh")


def test_rotate_replaces_the_key_in_iam_and_in_the_store(moto, home):
    user = moto.create_user("rot", policy=ROTATING_POLICY)
    role_arn = moto.create_role("keys-rotate", [user.user_arn])
    stored_layout(home, role_arn)
    add_from_stdin(home, "base", user)
    result = keys(home, "rotate", "base", env={"AWS_ENDPOINT_URL_IAM": moto.endpoint})
    assert result.returncode == 0, result
    (row,) = stored_rows(home)
    new_id = row[1]
    assert new_id != user.access_key_id and row[3] != "never"
    assert user_keys(moto, user) == [new_id]
    assert not key_works(moto, user.access_key_id, user.secret_access_key)
    assert home.stscache("prod-role", "--force-refresh").ok
    assert_secret_nowhere(home.root, user.secret_access_key)


STALLS = [
    pytest.param("ListAccessKeys", 1, False, id="before-anything"),
    pytest.param("CreateAccessKey", 1, False, id="create-not-sent"),
    pytest.param("CreateAccessKey", 1, True, id="key-created-answer-lost"),
    pytest.param("GetCallerIdentity", 2, False, id="new-key-recorded-not-verified"),
    pytest.param("DeleteAccessKey", 1, False, id="new-key-stored-old-not-deleted"),
    pytest.param("DeleteAccessKey", 1, True, id="old-key-deleted-answer-lost"),
]


@pytest.mark.parametrize("action,occurrence,forward_first", STALLS)
def test_kill_during_a_rotation_then_a_rerun_leaves_exactly_one_working_key_stored(
    moto, home, action, occurrence, forward_first
):
    """The fault-injecting proxy holds the answer to one call (after moto acted on it, or before
    it reached moto); the rotation is then killed with SIGKILL there, and run again."""
    user = moto.create_user("rot", policy=ROTATING_POLICY)
    role_arn = moto.create_role("keys-kill", [user.user_arn])
    proxy = StallProxy(moto.port).start()
    try:
        stored_layout(home, role_arn, endpoint=proxy.endpoint)
        add_from_stdin(home, "base", user)
        env = home.env({"AWS_ENDPOINT_URL_IAM": proxy.endpoint})
        proxy.stall(action, occurrence, forward_first)
        process = subprocess.Popen(
            [str(home.stscache_bin), "keys", "rotate", "base"], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert proxy.stalled.wait(60), f"the rotation never reached {action}: {process.communicate(timeout=5)}"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        # Control: the run really stopped mid-rotation (the record says so, except when it died
        # before its first step), and its first key is still in IAM.
        (killed_row,) = stored_rows(home)
        interrupted = action != "ListAccessKeys"
        assert killed_row[4].startswith("rotation unfinished") == interrupted, killed_row
        assert user.access_key_id in user_keys(moto, user) or (action, forward_first) == ("DeleteAccessKey", True)
        proxy.stall(None)
        rerun = subprocess.run([str(home.stscache_bin), "keys", "rotate", "base"], env=env, capture_output=True,
                               text=True, timeout=120)
        if (action, forward_first) == ("CreateAccessKey", True):
            # The lost answer's key is in IAM with no record of it: the rerun cannot tell it from
            # a key a person made meanwhile, so it names it, leaves it and stops. Its owner
            # deletes it, as the message says, and the next rerun finishes.
            (unrecorded,) = [k for k in user_keys(moto, user) if k != user.access_key_id]
            assert_clean_failure(run_result(rerun), unrecorded, "left alone")
            assert sorted(user_keys(moto, user)) == sorted([user.access_key_id, unrecorded])
            (waiting_row,) = stored_rows(home)
            assert waiting_row[1] == user.access_key_id and waiting_row[4].startswith("rotation unfinished"), waiting_row
            moto.client("iam").delete_access_key(UserName=user.user_name, AccessKeyId=unrecorded)
            rerun = subprocess.run([str(home.stscache_bin), "keys", "rotate", "base"], env=env, capture_output=True,
                                   text=True, timeout=120)
        assert rerun.returncode == 0, rerun
        assert ("interrupted rotation was finished" in rerun.stdout) == interrupted, rerun
        (row,) = stored_rows(home)
        stored_id = row[1]
        assert row[4] == "ok", row
        assert stored_id != user.access_key_id
        assert user_keys(moto, user) == [stored_id], "exactly one key, the stored one"
        assert not key_works(moto, user.access_key_id, user.secret_access_key)
        # The stored key signs: a fresh AssumeRole through it works.
        assert home.stscache("prod-role", "--force-refresh").ok
        assert_secret_nowhere(home.root, user.secret_access_key)
    finally:
        proxy.stop()


# -- attacks (docs/SECURITY.md) ---------------------------------------------------------------


def test_a_record_moved_to_another_profile_is_refused(moto, home, base_user):
    role_arn = moto.create_role("keys-swap", [base_user.user_arn])
    stored_layout(home, role_arn)
    other = moto.create_user("other")
    home.config["profile evil"] = {"region": REGION, "endpoint_url": moto.endpoint}
    home.write()
    add_from_stdin(home, "base", base_user)
    add_from_stdin(home, "evil", other)
    store = home.key_store_dir / "access-keys"
    data = store.read_bytes()
    # Same-length names: swap them, leaving each sealed record in place.
    swapped = data.replace(b"base", b"\0tmp").replace(b"evil", b"base").replace(b"\0tmp", b"evil")
    assert swapped != data
    store.write_bytes(swapped)
    line = assert_clean_failure(home.stscache("prod-role"), "failed authentication", "base")
    assert base_user.secret_access_key not in line and other.secret_access_key not in line


def test_a_tampered_store_is_refused_not_crashed_on(moto, home, base_user):
    role_arn = moto.create_role("keys-tamper", [base_user.user_arn])
    stored_layout(home, role_arn)
    add_from_stdin(home, "base", base_user)
    store = home.key_store_dir / "access-keys"
    genuine = store.read_bytes()
    for position in (0, 12, len(genuine) // 2, len(genuine) - 1):
        altered = bytearray(genuine)
        altered[position] ^= 0x40
        store.write_bytes(bytes(altered))
        result = home.stscache("prod-role")
        assert_clean_failure(result)
        assert result.returncode == 1, result  # an error, not a signal
    store.write_bytes(genuine[: len(genuine) // 3])
    assert_clean_failure(home.stscache("prod-role"), "damaged")
    store.write_bytes(genuine)
    assert home.stscache("prod-role").ok  # control: the genuine store works


def test_the_secret_is_never_in_argv_or_stderr(moto, home, base_user):
    role_arn = moto.create_role("keys-argv", [base_user.user_arn])
    stored_layout(home, role_arn)
    process = subprocess.Popen(
        [str(home.stscache_bin), "keys", "add", "base", "--stdin"], env=home.env(), stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert process.stdin is not None
    process.stdin.write(f"{base_user.access_key_id}\n{base_user.secret_access_key}\n".encode())
    process.stdin.flush()
    # It holds the secret now and waits for the end of stdin: look at its argv meanwhile.
    cmdlines = []
    for _ in range(20):
        cmdlines.append(Path(f"/proc/{process.pid}/cmdline").read_bytes())
        time.sleep(0.01)
    process.stdin.close()
    while process.poll() is None:
        try:
            cmdlines.append(Path(f"/proc/{process.pid}/cmdline").read_bytes())
        except OSError:
            break
        time.sleep(0.005)
    process.wait(timeout=60)
    assert process.stdout is not None and process.stderr is not None
    stdout, stderr = process.stdout.read(), process.stderr.read()
    assert process.returncode == 0, stderr
    assert cmdlines, "the process was never seen running"
    for cmdline in cmdlines:
        assert base_user.secret_access_key.encode() not in cmdline
    assert base_user.secret_access_key.encode() not in stdout + stderr
    for command in (["keys", "list"], ["list"], ["credential-process", "--profile", "prod-role", "--verbose"]):
        result = run([str(home.stscache_bin), *command], home.env())
        assert base_user.secret_access_key not in result.stdout + result.stderr
    assert_secret_nowhere(home.root, base_user.secret_access_key)


# ---------------------------------------------------------------------------------------------
# Issue 23: the way back (export), a guarded remove, stored keys used directly, sessions kept
# across import and export.
# ---------------------------------------------------------------------------------------------


def plaintext_base(home: TempHome, key: AccessKey) -> Path:
    path = home.root / ".aws" / "credentials"
    path.write_text(f"# mine\n[base]\naws_access_key_id = {key.access_key_id}\n"
                    f"aws_secret_access_key = {key.secret_access_key}\n")
    os.chmod(path, 0o600)
    return path


def test_import_keeps_the_sessions_and_export_gives_the_cli_its_keys_back(moto, home, base_user):
    role_arn = moto.create_role("keys-roundtrip", [base_user.user_arn])
    stored_layout(home, role_arn)
    path = plaintext_base(home, base_user)
    first = home.aws("sts", "get-caller-identity", "--profile", "prod")
    assert first.ok, first
    assert moto.assume_role_count(role_arn) == 1

    assert keys(home, "import", "base").returncode == 0
    # The same keys, kept in the store now: the session made with them is still theirs. (Before
    # issue 23 the role was assumed again and the old entry stayed "valid" with no profile.)
    after_import = home.aws("sts", "get-caller-identity", "--profile", "prod")
    assert after_import.ok, after_import
    assert moto.assume_role_count(role_arn) == 1
    listed = run([str(home.stscache_bin), "list"], home.env())
    assert listed.ok and len(listed.stdout.splitlines()) == 1, listed
    assert listed.stdout.split("\t")[2] == "prod", listed

    # The CLI cannot use base by itself while its keys are stored ...
    direct = home.aws("sts", "get-caller-identity", "--profile", "base")
    assert not direct.ok, direct
    # ... until they are exported back.
    exported = keys(home, "export", "base")
    assert exported.returncode == 0, exported
    assert exported.stderr == ""
    assert f"wrote {base_user.access_key_id} for profile base to {path}" in exported.stdout
    assert base_user.secret_access_key not in exported.stdout
    text = path.read_text()
    assert text.startswith("# mine\n")
    assert f"[base]\naws_access_key_id = {base_user.access_key_id}\naws_secret_access_key = {base_user.secret_access_key}\n" in text
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert stored_rows(home) == []
    direct = home.aws("sts", "get-caller-identity", "--profile", "base")
    assert direct.ok and json.loads(direct.stdout)["Arn"] == base_user.user_arn, direct
    again = home.aws("sts", "get-caller-identity", "--profile", "prod")
    assert again.ok, again
    assert moto.assume_role_count(role_arn) == 1


def base_profile(home: TempHome) -> None:
    home.config["profile base"] = {"region": REGION, "endpoint_url": home.moto.endpoint}
    home.write()


def test_export_to_stdout_is_for_pipes_and_keeps_the_stored_copy(moto, home, base_user):
    base_profile(home)
    add_from_stdin(home, "base", base_user)
    piped = keys(home, "export", "base", "--stdout")
    assert piped.returncode == 0, piped
    assert piped.stdout == (f"[base]\naws_access_key_id = {base_user.access_key_id}\n"
                            f"aws_secret_access_key = {base_user.secret_access_key}\n")
    assert piped.stderr == ""
    assert [r[0] for r in stored_rows(home)] == ["base"]

    # A terminal: refused (the secret would stay in its scrollback), nothing printed.
    primary, secondary = pty.openpty()
    try:
        completed = subprocess.run([str(home.stscache_bin), "keys", "export", "base", "--stdout"], env=home.env(),
                                   stdin=subprocess.DEVNULL, stdout=secondary, stderr=subprocess.PIPE, timeout=60)
        os.close(secondary)
        shown = b""
        while select.select([primary], [], [], 0.2)[0]:
            try:
                chunk = os.read(primary, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(primary)
    assert completed.returncode == 1
    assert shown == b""
    stderr = completed.stderr.decode()
    assert stderr.startswith("stscache: ") and stderr.count("\n") == 1 and "--force" in stderr, stderr
    assert base_user.secret_access_key not in stderr


def test_remove_of_the_only_copy_is_refused_without_a_terminal_or_yes(moto, home, base_user):
    base_profile(home)
    add_from_stdin(home, "base", base_user)

    refused = keys(home, "remove", "base")

    message = assert_clean_failure(refused, "--yes", "stscache keys export base")
    assert base_user.access_key_id in message
    assert [r[0] for r in stored_rows(home)] == ["base"]
    removed = keys(home, "remove", "base", "--yes")
    assert removed.returncode == 0, removed
    assert stored_rows(home) == []


def test_remove_asks_on_a_terminal(moto, home, base_user):
    base_profile(home)
    add_from_stdin(home, "base", base_user)
    for answer, kept in ((b"n\n", True), (b"y\n", False)):
        pid, fd = pty.fork()
        if pid == 0:
            os.execve(str(home.stscache_bin), [str(home.stscache_bin), "keys", "remove", "base"], home.env())
        transcript = b""
        deadline = time.monotonic() + 30
        while b"[y/N]" not in transcript:
            assert time.monotonic() < deadline, transcript
            if select.select([fd], [], [], 0.5)[0]:
                transcript += os.read(fd, 4096)
        os.write(fd, answer)
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        assert os.waitstatus_to_exitcode(status) == 0, transcript
        assert ([r[0] for r in stored_rows(home)] == ["base"]) == kept


def test_a_stored_keys_profile_is_usable_by_exec_and_export(moto, home, base_user):
    base_profile(home)
    add_from_stdin(home, "base", base_user)

    # (Before issue 23: "profile base has no role_arn".)
    child = run([str(home.stscache_bin), "exec", "--profile", "base", "--", "aws", "sts", "get-caller-identity",
                 "--endpoint-url", moto.endpoint, "--output", "json"], home.env())
    assert child.ok, child
    assert json.loads(child.stdout)["Arn"] == base_user.user_arn
    exported = run([str(home.stscache_bin), "export", "--profile", "base"], home.env())
    assert exported.ok, exported
    assert f"export AWS_ACCESS_KEY_ID='{base_user.access_key_id}'\n" in exported.stdout
    assert "AWS_SESSION_TOKEN" not in exported.stdout and "AWS_CREDENTIAL_EXPIRATION" not in exported.stdout
    served = run([str(home.stscache_bin), "exec", "--server", "--profile", "base", "--", "true"], home.env())
    assert_clean_failure(served, "without --server")
    # A profile with neither a role nor stored keys still says what is missing.
    assert_clean_failure(run([str(home.stscache_bin), "exec", "--profile", "nokeys", "--", "true"], home.env()),
                         "nokeys")
