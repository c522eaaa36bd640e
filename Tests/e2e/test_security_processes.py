"""Issue 10, items 2, 5 and 10: what stscache's own process leaves behind, and what the
processes it starts (``exec`` commands, ``credential_process`` sources, ``mfa_process``) get.

- Item 2: no core file from a stscache killed mid-refresh under ``ulimit -c unlimited``, while
  a control process in the same conditions does dump core; children get the core limit back
  and are dumpable again.
- Item 5: no child sees ``STSCACHE_CACHE_KEY`` or ``STSCACHE_MFA_TOKEN``; helpers keep
  ``STSCACHE_CHAIN``.
- Item 10: helper lines are split as botocore splits them and run without a shell; botocore
  (boto3's ProcessProvider) and stscache hand the same helper the same argv.

Peers: moto with signature checking on; a loopback black hole for "STS never answers".
"""

from __future__ import annotations

import base64
import json
import os
import pty
import resource
import select
import secrets
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.aws import ACCOUNT_ID, AccessKey, assumed_arn
from support.fakes import BlackHole
from support.homes import TempHome, assert_clean_failure, run
from support.moto import MotoServer
from support.peers import VENV_PYTHON, require_peer

pytestmark = pytest.mark.security

CORE_PATTERN = Path("/proc/sys/kernel/core_pattern")
MFA_SERIAL = f"arn:aws:iam::{ACCOUNT_ID}:mfa/alice"
#: A soft core limit nobody has by default, so "restored" cannot be confused with "inherited".
CHILD_CORE_LIMIT = 7 * 1024 * 1024


def write_script(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def core_limit_of(limits_text: str) -> tuple[str, str]:
    """(soft, hard) of "Max core file size" in a /proc/PID/limits text."""
    for line in limits_text.splitlines():
        if line.startswith("Max core file size"):
            soft, hard = line[len("Max core file size"):].split()[:2]
            return soft, hard
    raise AssertionError(f"no core limit line in:\n{limits_text}")


def unlimited_cores() -> None:
    """preexec_fn: what `ulimit -c unlimited` does in a shell."""
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def child_core_limit() -> None:
    """preexec_fn: a distinctive soft core limit, the hard limit as it is."""
    resource.setrlimit(resource.RLIMIT_CORE, (CHILD_CORE_LIMIT, resource.getrlimit(resource.RLIMIT_CORE)[1]))


def expected_child_limit() -> tuple[str, str]:
    """What /proc/PID/limits shows for a process started with `child_core_limit`."""
    hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
    return str(CHILD_CORE_LIMIT), "unlimited" if hard == resource.RLIM_INFINITY else str(hard)


def require_core_files_in_cwd() -> None:
    """The core tests need the kernel to write cores as plain files in the crashing process's
    current directory. A pipe (systemd-coredump, apport) or a path elsewhere would make "no
    core here" meaningless, so that is a failure that says what to change, never a skip.
    The test does not set core_pattern itself: it is one setting for the whole machine (and
    every container on it), needs root, and would change what other people's crashes do."""
    pattern = CORE_PATTERN.read_text().strip()
    if pattern.startswith("|") or "/" in pattern or not pattern:
        pytest.fail(
            f"kernel.core_pattern is {pattern!r}; these tests need cores written as plain files in the "
            f"crashing process's directory (e.g. sysctl -w kernel.core_pattern=core on a test machine)"
        )


def env_key() -> str:
    """A key for the env key store: base64 of 32 random bytes."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def new_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# --------------------------------------------------------------------------------------------
# Item 2: core dumps
# --------------------------------------------------------------------------------------------


def test_sigquit_mid_refresh_leaves_no_core_file(home: TempHome, tmp_path: Path):
    require_core_files_in_cwd()

    # Control: a process in the same conditions (unlimited cores, SIGQUIT) does leave a core,
    # so an empty directory below means stscache refused to dump, not that cores never land.
    control_dir = tmp_path / "control"
    control_dir.mkdir()
    control = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=control_dir,
                               preexec_fn=unlimited_cores)
    time.sleep(0.5)
    control.send_signal(signal.SIGQUIT)
    assert control.wait(timeout=30) == -signal.SIGQUIT
    assert any(name.startswith("core") for name in new_files(control_dir)), (
        f"the control process left no core file in {control_dir}: {new_files(control_dir)}"
    )

    # stscache with the env key store's key and the source's secret in memory, waiting on an
    # STS that accepted the connection and never answers.
    black_hole = BlackHole()
    try:
        source = AccessKey("u", f"arn:aws:iam::{ACCOUNT_ID}:user/u", "AKIAEXAMPLECOREDUMP1",
                           "core-dump-secret-" + secrets.token_hex(8))
        home.add_source("base", source)
        home.add_role_profile("prod-role", f"arn:aws:iam::{ACCOUNT_ID}:role/core", "base",
                              endpoint_url=black_hole.endpoint)
        home.write()
        workdir = tmp_path / "stscache-cwd"
        workdir.mkdir()
        env = home.env({"STSCACHE_KEY_STORE": "env", "STSCACHE_CACHE_KEY": env_key(),
                        "STSCACHE_STS_TIMEOUT": "60", "STSCACHE_ATTEMPT_TIMEOUT": "60"})
        process = subprocess.Popen(
            [str(home.stscache_bin), "credential-process", "--profile", "prod-role"],
            cwd=workdir, env=env, preexec_fn=unlimited_cores,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        try:
            assert black_hole.wait_for_connection(timeout=30), "stscache never reached the fake STS"
            # Started with an unlimited core limit; running with 0 (hard limit kept).
            assert core_limit_of(Path(f"/proc/{process.pid}/limits").read_text()) == ("0", "unlimited")
            process.send_signal(signal.SIGQUIT)
            process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode == -signal.SIGQUIT, "SIGQUIT's default action (dump core) should have run"
        assert new_files(workdir) == [], f"stscache left {new_files(workdir)} in {workdir}"
    finally:
        black_hole.close()


def run_on_a_terminal_and_press(argv: list[str], env: dict[str, str], cwd: Path, prompt: bytes,
                                keys: bytes) -> tuple[int, bytes]:
    """Runs argv as the session leader of a new pty with unlimited core files, waits for
    `prompt` on the terminal, then types `keys` (the terminal driver turns Ctrl-\\ into a
    SIGQUIT for the foreground process group, as it would for a user). Returns the raw wait
    status and the transcript."""
    pid, master = pty.fork()
    if pid == 0:
        try:
            unlimited_cores()
            os.chdir(cwd)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    transcript = b""
    pressed = False
    status = None
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and status is None:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    transcript += os.read(master, 4096)
                except OSError:  # EIO: the process holding the pty is gone
                    pass
            if not pressed and prompt in transcript:
                os.write(master, keys)
                pressed = True
            finished, wait_status = os.waitpid(pid, os.WNOHANG)
            if finished == pid:
                status = wait_status
    finally:
        if status is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(master)
    assert pressed, f"the prompt never appeared: {transcript!r}"
    assert status is not None, f"still running 60 s after the keys: {transcript!r}"
    return status, transcript


def test_ctrl_backslash_at_the_mfa_prompt_leaves_no_core_file(home: TempHome, tmp_path: Path):
    """The issue's case: Ctrl-\\ typed at the MFA prompt, the source's secret and the cache key
    in memory. The control is `python` reading from the same kind of terminal."""
    require_core_files_in_cwd()
    control_dir = tmp_path / "control"
    control_dir.mkdir()
    status, _ = run_on_a_terminal_and_press(
        [sys.executable, "-c", "print('code: ', end='', flush=True); input()"], {"PATH": "/usr/bin:/bin"},
        control_dir, b"code: ", b"\x1c")
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGQUIT
    assert os.WCOREDUMP(status), "the control should have dumped core"
    assert any(name.startswith("core") for name in new_files(control_dir)), new_files(control_dir)

    source = AccessKey("u", f"arn:aws:iam::{ACCOUNT_ID}:user/u", "AKIAEXAMPLEMFAPROMPT",
                       "mfa-prompt-secret-" + secrets.token_hex(8))
    home.add_source("base", source)
    home.add_role_profile("prod-role", f"arn:aws:iam::{ACCOUNT_ID}:role/prompt", "base", mfa_serial=MFA_SERIAL)
    home.write()
    workdir = tmp_path / "stscache-cwd"
    workdir.mkdir()
    env = home.env({"STSCACHE_KEY_STORE": "env", "STSCACHE_CACHE_KEY": env_key()})
    status, transcript = run_on_a_terminal_and_press(
        [str(home.stscache_bin), "credential-process", "--profile", "prod-role"], env, workdir,
        b"MFA code for", b"\x1c")
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGQUIT, transcript
    assert not os.WCOREDUMP(status), "the kernel reports that stscache dumped core"
    assert new_files(workdir) == [], f"stscache left {new_files(workdir)} in {workdir}"


def test_exec_child_gets_the_core_limit_back_and_is_dumpable(home: TempHome, moto: MotoServer,
                                                              base_user: AccessKey, tmp_path: Path):
    role = moto.create_role("core-limit", trusted=[base_user.user_arn])
    role_profile = home.delegate(role, base_user)
    report = tmp_path / "child-report.json"
    # The child reports its own core limit and dumpable flag, and its parent's (stscache's)
    # core limit, which proves the parent really ran with 0 and the child's value was restored.
    child = (
        "import ctypes, json, os, sys\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "PR_GET_DUMPABLE = 3\n"
        "json.dump({'dumpable': libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0),\n"
        "           'own': open('/proc/self/limits').read(),\n"
        "           'parent': open(f'/proc/{os.getppid()}/limits').read()}, open(sys.argv[1], 'w'))\n"
    )
    argv = [str(home.stscache_bin), "exec", "--profile", role_profile, "--", sys.executable, "-c", child, str(report)]
    completed = subprocess.run(argv, env=home.env(), preexec_fn=child_core_limit, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr

    seen = json.loads(report.read_text())
    assert core_limit_of(seen["parent"]) == ("0", expected_child_limit()[1]), "stscache must run with a core limit of 0"
    assert core_limit_of(seen["own"]) == expected_child_limit()
    assert seen["dumpable"] == 1


# --------------------------------------------------------------------------------------------
# Item 5: what children inherit
# --------------------------------------------------------------------------------------------

DUMP_ENV = '#!/bin/sh\nenv > "$DUMP_DIR/$1.env"\ncat /proc/self/limits > "$DUMP_DIR/$1.limits"\n'


def test_children_never_see_the_cache_key_or_the_mfa_code(home: TempHome, moto: MotoServer,
                                                          base_user: AccessKey, tmp_path: Path):
    role = moto.create_role("no-leak", trusted=[base_user.user_arn])
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    bin_dir = tmp_path / "bin"
    dump = write_script(bin_dir / "dump-env", DUMP_ENV)
    credentials_json = json.dumps({"Version": 1, "AccessKeyId": base_user.access_key_id,
                                   "SecretAccessKey": base_user.secret_access_key})
    helper = write_script(bin_dir / "sso-helper",
                          f"#!/bin/sh\n{shlex.quote(str(dump))} helper\nprintf '%s' {shlex.quote(credentials_json)}\n")
    mfa_helper = write_script(bin_dir / "mfa-helper", f"#!/bin/sh\n{shlex.quote(str(dump))} mfa\necho 246802\n")
    home.config["profile sso"] = {"credential_process": shlex.quote(str(helper))}
    home.add_role_profile("prod-role", role, "sso", role_session_name="alice", mfa_serial=MFA_SERIAL,
                          mfa_process=shlex.quote(str(mfa_helper)))
    home.write()
    cache_key = env_key()
    mfa_token = "135791"
    env = {"STSCACHE_KEY_STORE": "env", "STSCACHE_CACHE_KEY": cache_key, "STSCACHE_MFA_TOKEN": mfa_token,
           "DUMP_DIR": str(dumps)}

    # Control: the dump script, run directly with that environment, does record both, so
    # their absence below is stscache's doing.
    control = run([dump, "control"], home.env(env))
    assert control.ok, control
    control_dump = (dumps / "control.env").read_text()
    assert f"STSCACHE_CACHE_KEY={cache_key}" in control_dump and f"STSCACHE_MFA_TOKEN={mfa_token}" in control_dump

    # One exec on an empty cache runs all three kinds of child: the source's credential_process,
    # the mfa_process (its code goes on AssumeRole), then the command.
    # Started with a distinctive core limit, which every child must get back.
    result = subprocess.run(
        [str(home.stscache_bin), "exec", "--profile", "prod-role", "--", "dump-env", "exec"],
        env=home.env({**env, "PATH": f"{bin_dir}:{home.env()['PATH']}"}), preexec_fn=child_core_limit,
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    [assume] = moto.assume_role_requests(role)
    assert assume.params["TokenCode"] == "246802"

    for kind in ("helper", "mfa", "exec"):
        dumped = (dumps / f"{kind}.env").read_text()
        variables = dict(line.split("=", 1) for line in dumped.splitlines() if "=" in line)
        assert "STSCACHE_CACHE_KEY" not in variables, kind
        assert "STSCACHE_MFA_TOKEN" not in variables, kind
        assert cache_key not in dumped and mfa_token not in dumped, kind
        # Not a secret, and a nested stscache must not fall back to another key store.
        assert variables.get("STSCACHE_KEY_STORE") == "env", kind
        assert variables.get("DUMP_DIR") == str(dumps), kind  # the rest of the environment stays
        # Every child gets the core limit stscache started with (not stscache's own 0).
        assert core_limit_of((dumps / f"{kind}.limits").read_text()) == expected_child_limit(), kind
    helper_variables = dict(line.split("=", 1) for line in (dumps / "helper.env").read_text().splitlines() if "=" in line)
    assert helper_variables["STSCACHE_CHAIN"] == "prod-role,sso"  # loop detection needs it
    exec_variables = dict(line.split("=", 1) for line in (dumps / "exec.env").read_text().splitlines() if "=" in line)
    assert exec_variables["STSCACHE_PROFILE"] == "prod-role"
    assert exec_variables["AWS_ACCESS_KEY_ID"].startswith("ASIA")


# --------------------------------------------------------------------------------------------
# Item 10: helper lines mean what they mean to botocore
# --------------------------------------------------------------------------------------------

RECORD_ARGV = """#!/usr/bin/env python3
import json, os, sys
with open(os.environ["ARGV_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
print(json.dumps({"Version": 1, "AccessKeyId": os.environ["HELPER_KEY_ID"],
                  "SecretAccessKey": os.environ["HELPER_SECRET"]}))
"""


def test_credential_process_line_is_not_run_by_a_shell_and_botocore_agrees(
    home: TempHome, moto: MotoServer, base_user: AccessKey, tmp_path: Path
):
    require_peer(VENV_PYTHON, "virtualenv python")
    role = moto.create_role("no-shell", trusted=[base_user.user_arn])
    helper = write_script(tmp_path / "helper dir" / "record argv", RECORD_ARGV)  # a path with spaces
    marker = tmp_path / "touched"
    argv_log = tmp_path / "argv.log"
    line = f"{shlex.quote(str(helper))} 'a;b' $(touch {marker}) \"c d\" x|y `id` $HOME && e\\ f"
    home.config["profile sso"] = {"credential_process": line}
    home.add_role_profile("prod-role", role, "sso", role_session_name="alice")
    home.write()
    env = {"ARGV_LOG": str(argv_log), "HELPER_KEY_ID": base_user.access_key_id,
           "HELPER_SECRET": base_user.secret_access_key}

    ours = home.stscache("prod-role", env=env)
    assert moto.caller_arn(ours.credentials()) == assumed_arn(role, "alice")

    # botocore's ProcessProvider runs the same profile line.
    script = (
        "import sys, boto3\n"
        "credentials = boto3.Session(profile_name='sso').get_credentials().get_frozen_credentials()\n"
        "print(credentials.access_key)\n"
    )
    botocore = run([VENV_PYTHON, "-c", script], home.env(env))
    assert botocore.ok and botocore.stdout.strip() == base_user.access_key_id, botocore

    recorded = [json.loads(entry) for entry in argv_log.read_text().splitlines()]
    expected = ["a;b", "$(touch", f"{marker})", "c d", "x|y", "`id`", "$HOME", "&&", "e f"]
    assert recorded == [expected, expected], "stscache and botocore must give the helper the same argv"
    assert not marker.exists(), "a shell ran the command substitution"

    # Control: the same line through a shell does run touch, so the check above can fail.
    subprocess.run(["/bin/sh", "-c", line], env=home.env(env), capture_output=True, timeout=30)
    assert marker.exists()


def test_mfa_process_line_is_not_run_by_a_shell(home: TempHome, moto: MotoServer, base_user: AccessKey,
                                                tmp_path: Path):
    jump = moto.create_role("mfa-no-shell-jump", trusted=[base_user.user_arn], may_assume_roles=True)
    target = moto.create_role("mfa-no-shell", trusted=[assumed_arn(jump, "hop")])
    marker = tmp_path / "touched-by-mfa"
    argv_log = tmp_path / "mfa-argv.log"
    code_helper = write_script(tmp_path / "mfa dir" / "code", (
        "#!/bin/sh\n"
        f"for word in \"$@\"; do printf '%s\\n' \"$word\"; done > {shlex.quote(str(argv_log))}\n"
        "echo 112358\n"
    ))
    home.add_source("base", base_user)
    home.add_role_profile("jump", jump, "base", role_session_name="hop")
    home.add_role_profile("target", target, "jump", role_session_name="alice", mfa_serial=MFA_SERIAL,
                          mfa_process=f"{shlex.quote(str(code_helper))} ';' touch {marker} '|' $(id)")
    home.write()

    credentials = home.stscache("target").credentials()

    assert moto.caller_arn(credentials) == assumed_arn(target, "alice")
    assert argv_log.read_text().splitlines() == [";", "touch", str(marker), "|", "$(id)"]
    assert not marker.exists()


def test_unterminated_quote_in_a_helper_line_is_one_clear_error(home: TempHome, moto: MotoServer, tmp_path: Path):
    role = moto.create_role("bad-quote", trusted=[f"arn:aws:iam::{ACCOUNT_ID}:user/nobody"])
    home.config["profile sso"] = {"credential_process": "aws-sso-util credential-process --token hidden-value 'oops"}
    home.add_role_profile("prod-role", role, "sso")
    home.write()

    result = home.stscache("prod-role")

    line = assert_clean_failure(result, 'credential_process of profile "sso"', "unterminated quote", "sh -c")
    assert "hidden-value" not in line
    assert moto.assume_role_count(role) == 0


def test_a_missing_helper_program_is_named(home: TempHome, moto: MotoServer):
    role = moto.create_role("no-program", trusted=[f"arn:aws:iam::{ACCOUNT_ID}:user/nobody"])
    home.config["profile sso"] = {"credential_process": "no-such-sso-helper --profile corp"}
    home.add_role_profile("prod-role", role, "sso")
    home.write()

    result = home.stscache("prod-role")

    assert_clean_failure(result, 'credential_process of profile "sso"', "no-such-sso-helper", "no program of that name is in PATH")
    assert moto.assume_role_count(role) == 0


def test_an_exec_child_dumps_core_again(home: TempHome, moto: MotoServer, base_user: AccessKey, tmp_path: Path):
    """The defence is stscache's alone: a program run by `exec` that crashes still leaves its
    core file, as it would without stscache."""
    require_core_files_in_cwd()
    role = moto.create_role("child-core", trusted=[base_user.user_arn])
    role_profile = home.delegate(role, base_user)
    workdir = tmp_path / "child-cwd"
    workdir.mkdir()
    argv = [str(home.stscache_bin), "exec", "--profile", role_profile, "--",
            sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGQUIT)"]
    completed = subprocess.run(argv, cwd=workdir, env=home.env(), preexec_fn=unlimited_cores,
                               stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 128 + signal.SIGQUIT, completed.stderr
    assert any(name.startswith("core") for name in new_files(workdir)), new_files(workdir)
