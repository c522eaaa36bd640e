"""Issue 4: `prompt`, `list`, `purge`, `export`, `exec` and the shell snippets, end to end: the
real AWS CLI fills the cache through credential_process (moto with signature checking on), then
the commands read, purge or use it. Time moves with libfaketime on the binary's clock."""

from __future__ import annotations

import datetime as dt
import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import time
import tomllib
from pathlib import Path

import pytest

from support.aws import REGION, AccessKey, assumed_arn
from support.homes import Result, TempHome, assert_clean_failure, files_under, run
from support.moto import MotoServer
from support.peers import REPO_ROOT, VENV_PYTHON, require_shell

pytestmark = pytest.mark.commands

SHELL_EXAMPLES = REPO_ROOT / "config-examples" / "shell"




def stscache(home: TempHome, *args: str, env: dict | None = None, faketime: str | None = None) -> Result:
    assert home.stscache_bin is not None
    return run([str(home.stscache_bin), *args], home.env(env, faketime), timeout=60)


def caller_identity(home: TempHome, *args: str, env: dict | None = None) -> Result:
    return home.aws("sts", "get-caller-identity", "--output", "json", *args, env=env)


def list_json(home: TempHome, faketime: str | None = None) -> list[dict]:
    result = stscache(home, "list", "--json", faketime=faketime)
    assert result.ok and result.stderr == "", result
    return json.loads(result.stdout)


def parse_time(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def role_count(moto: MotoServer, role: str) -> int:
    return moto.assume_role_count(role)


@pytest.fixture
def prod(home: TempHome, moto: MotoServer, base_user: AccessKey) -> str:
    """[profile prod] -> [profile prod-role] (role, session alice) -> [base]; returns the role ARN."""
    role = moto.create_role("prod", trusted=[base_user.user_arn])
    home.delegate(role, base_user, profile="prod", session_name="alice")
    return role


@pytest.fixture
def cached_prod(home: TempHome, prod: str) -> str:
    """prod, after one `aws` call filled the cache."""
    result = caller_identity(home, "--profile", "prod")
    assert result.ok, result
    assert result.json()["Arn"] == assumed_arn(prod, "alice")
    return prod


# --- prompt ------------------------------------------------------------------------------------


def test_prompt_shows_the_session_with_the_minutes_left(home: TempHome, cached_prod: str):
    (entry,) = list_json(home)
    expiration = parse_time(entry["expiration"])

    started = time.time()
    now_result = stscache(home, "prompt", env={"AWS_PROFILE": "prod"})
    later = stscache(home, "prompt", "--format", "{profile} {remaining} {seconds}", env={"AWS_PROFILE": "prod"},
                     faketime="+20m")
    finished = time.time()

    assert now_result.ok and now_result.stderr == "", now_result
    assert re.fullmatch(r"prod (59|60)m\n", now_result.stdout), now_result
    assert later.ok, later
    assert len(later.stdout.split()) == 3, later
    profile, remaining, seconds = later.stdout.split()
    assert profile == "prod"
    # 20 minutes on: what is left, give or take the time the calls took.
    earliest, latest = expiration - (finished + 1200) - 2, expiration - (started + 1200) + 1
    assert earliest <= int(seconds) <= latest, later
    assert remaining == f"{int(seconds) // 60}m", later
    assert 38 * 60 <= int(seconds) <= 40 * 60


def test_prompt_follows_delegation_and_exec_marker(home: TempHome, cached_prod: str):
    assert re.fullmatch(r"prod-role \d+m\n", stscache(home, "prompt", "--profile", "prod-role").stdout)
    assert re.fullmatch(r"prod \d+m\n", stscache(home, "prompt", env={"STSCACHE_PROFILE": "prod"}).stdout)
    expired = stscache(home, "prompt", "--profile", "prod", faketime="+2h")
    assert expired.ok and expired.stdout == "prod expired\n", expired


@pytest.mark.parametrize("breakage", ["missing config", "garbled cache file", "unknown profile", "empty cache"])
def test_prompt_prints_nothing_and_succeeds_when_broken(home: TempHome, cached_prod: str, breakage: str):
    profile = "prod"
    if breakage == "missing config":
        (home.root / ".aws" / "config").unlink()
    elif breakage == "garbled cache file":
        (entry,) = [p for p in files_under(home.cache_dir) if p.name.endswith(".entry")]
        entry.write_bytes(os.urandom(200))
    elif breakage == "unknown profile":
        profile = "no-such-profile"
    elif breakage == "empty cache":
        shutil.rmtree(home.cache_dir)

    result = stscache(home, "prompt", env={"AWS_PROFILE": profile})
    assert result.returncode == 0 and result.stdout == "" and result.stderr == "", result

    verbose = stscache(home, "prompt", "--verbose", env={"AWS_PROFILE": profile})
    assert verbose.returncode == 0 and verbose.stdout == "", verbose
    assert verbose.stderr.startswith("stscache: prompt: ") and verbose.stderr.count("\n") == 1, verbose


def test_prompt_never_calls_sts(home: TempHome, moto: MotoServer, prod: str):
    before = role_count(moto, prod)
    result = stscache(home, "prompt", "--profile", "prod")
    assert result.ok and result.stdout == "", result
    assert role_count(moto, prod) == before
    assert not home.cache_dir.exists(), "prompt must not create the cache directory"


# --- list --------------------------------------------------------------------------------------


def test_list_json_shows_one_valid_entry_and_its_profiles(home: TempHome, cached_prod: str):
    entries = list_json(home)

    assert len(entries) == 1, entries
    entry = entries[0]
    assert entry["roleArn"] == cached_prod
    assert entry["sessionName"] == "alice"
    assert entry["profiles"] == ["prod", "prod-role"]
    assert entry["state"] == "valid"
    assert 3500 <= entry["remainingSeconds"] <= 3600
    assert abs(parse_time(entry["expiration"]) - (time.time() + entry["remainingSeconds"])) < 10


def test_list_plain_text_in_a_pipe(home: TempHome, cached_prod: str):
    result = stscache(home, "list")
    assert result.ok, result
    (line,) = result.stdout.splitlines()
    fields = line.split("\t")
    # The profile a user selects, not the role half it delegates to (issue 23: "prod,prod-role").
    assert fields[:3] == [cached_prod, "alice", "prod"]
    assert fields[5] == "valid"


# --- purge -------------------------------------------------------------------------------------


def test_purge_profile_removes_exactly_that_entry_and_the_next_call_assumes_once(
    home: TempHome, moto: MotoServer, base_user: AccessKey, cached_prod: str
):
    dev = moto.create_role("dev", trusted=[base_user.user_arn])
    home.delegate(dev, base_user, profile="dev", session_name="alice")
    assert caller_identity(home, "--profile", "dev").ok
    assert {e["roleArn"] for e in list_json(home)} == {cached_prod, dev}
    prod_calls, dev_calls = role_count(moto, cached_prod), role_count(moto, dev)

    purged = stscache(home, "purge", "--profile", "prod")

    assert purged.ok and purged.stderr == "", purged
    assert purged.stdout.startswith(f"removed session alice of {cached_prod} (profiles prod, prod-role)"), purged
    assert [e["roleArn"] for e in list_json(home)] == [dev]

    assert caller_identity(home, "--profile", "prod").ok
    assert caller_identity(home, "--profile", "dev").ok
    assert role_count(moto, cached_prod) == prod_calls + 1
    assert role_count(moto, dev) == dev_calls, "the other role's session was kept"

    nothing = stscache(home, "purge", "--role-arn", "arn:aws:iam::123456789012:role/none")
    assert nothing.ok and nothing.stdout.startswith("nothing to purge"), nothing


def test_purge_expired_keeps_valid_entries(home: TempHome, moto: MotoServer, base_user: AccessKey, cached_prod: str):
    short = moto.create_role("short", trusted=[base_user.user_arn])
    home.delegate(short, base_user, profile="short", session_name="alice", duration_seconds="900")
    assert caller_identity(home, "--profile", "short").ok

    later = {e["roleArn"]: e["state"] for e in list_json(home, faketime="+20m")}
    assert later == {cached_prod: "valid", short: "expired"}

    dry = stscache(home, "purge", "--expired", "--dry-run", faketime="+20m")
    assert dry.ok and dry.stdout.startswith(f"would remove session alice of {short}"), dry
    assert len(list_json(home)) == 2

    purged = stscache(home, "purge", "--expired", faketime="+20m")
    assert purged.ok, purged
    assert purged.stdout.count("\n") == 1 and short in purged.stdout, purged
    assert [e["roleArn"] for e in list_json(home)] == [cached_prod]


def test_purge_all_leaves_no_entry_and_no_key(home: TempHome, moto: MotoServer, cached_prod: str):
    key_file = home.key_store_dir / "cache-key"
    assert key_file.exists()
    assert any(p.name.endswith(".entry") for p in files_under(home.cache_dir))

    purged = stscache(home, "purge", "--all")

    assert purged.ok and purged.stderr == "", purged
    assert purged.stdout.splitlines() == [
        f"removed 1 cached session from {home.cache_dir}",
        f"removed the audit log (audit.log in {home.cache_dir})",
        f"removed the key from the file key store (key file {key_file})",
    ]
    assert files_under(home.cache_dir) == []
    assert not key_file.exists()
    before = role_count(moto, cached_prod)
    assert caller_identity(home, "--profile", "prod").ok, "a purged cache starts again"
    assert role_count(moto, cached_prod) == before + 1


# --- export ------------------------------------------------------------------------------------


def no_profile_env(moto: MotoServer) -> dict:
    """What a shell that evaluated export has: no profile selected, only the variables."""
    return {"AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": moto.endpoint}


def test_export_env_evaluated_in_bash_gives_working_credentials(home: TempHome, moto: MotoServer, cached_prod: str):
    script = (
        f'eval "$({home.stscache_bin} export --profile prod)" || exit 9\n'
        'test -n "$AWS_CREDENTIAL_EXPIRATION" || exit 8\n'
        'aws sts get-caller-identity --output json\n'
    )
    result = run(["bash", "-c", script], home.env(no_profile_env(moto)))

    assert result.ok, result
    assert json.loads(result.stdout)["Arn"] == assumed_arn(cached_prod, "alice")


def test_export_sets_the_region_exec_gives_its_child(home: TempHome, moto: MotoServer, cached_prod: str):
    """A shell with no region and no profile after `eval "$(stscache export ...)"`: boto3 and the
    AWS CLI take the profile's region from AWS_REGION/AWS_DEFAULT_REGION, as exec's child does; a
    region the shell already names stands."""
    home.config["profile prod"]["region"] = "eu-west-2"
    home.write()
    probe = (f'eval "$({home.stscache_bin} export --profile prod)" || exit 9\n'
             'echo "$AWS_REGION $AWS_DEFAULT_REGION"\n'
             f"{VENV_PYTHON} -c 'import boto3; print(boto3.session.Session().region_name)' || exit 8\n"
             "aws configure list | awk '$1 == \"region\" {print $2, $3}'\n")
    result = run(["bash", "-c", probe], home.env({"AWS_ENDPOINT_URL": moto.endpoint}))
    assert result.ok, result
    assert result.stdout.splitlines() == ["eu-west-2 eu-west-2", "eu-west-2", "eu-west-2 env"], result
    child = stscache(home, "exec", "--profile", "prod", "--", "sh", "-c", 'echo "$AWS_REGION $AWS_DEFAULT_REGION"')
    assert child.ok and child.stdout == "eu-west-2 eu-west-2\n", child

    kept = run(["bash", "-c", f'eval "$({home.stscache_bin} export --profile prod)"; echo "${{AWS_REGION-unset}} '
                '$AWS_DEFAULT_REGION"'], home.env({"AWS_DEFAULT_REGION": "ap-south-1"}))
    assert kept.ok and kept.stdout == "unset ap-south-1\n", kept


def test_export_fish_sourced_in_fish_gives_working_credentials(home: TempHome, moto: MotoServer, cached_prod: str):
    fish = require_shell("fish")
    script = f"{home.stscache_bin} export --profile prod --format fish | source; and aws sts get-caller-identity --output json"
    result = run([fish, "--no-config", "-c", script], home.env(no_profile_env(moto)))

    assert result.ok, result
    assert json.loads(result.stdout)["Arn"] == assumed_arn(cached_prod, "alice")


def test_export_refuses_a_terminal(home: TempHome, cached_prod: str):
    """Run on a pseudo-terminal: one `stscache:` line saying why, no secret."""
    output, status = run_on_pty([str(home.stscache_bin), "export", "--profile", "prod"], home.env())
    assert os.waitstatus_to_exitcode(status) == 1, output
    text = output.decode()
    assert text.startswith("stscache: ") and "scrollback" in text and "--force" in text, text
    assert "AWS_SECRET_ACCESS_KEY=" not in text


# --- exec --------------------------------------------------------------------------------------


def test_exec_passes_through_the_exit_code(home: TempHome, cached_prod: str):
    result = stscache(home, "exec", "--profile", "prod", "--", "sh", "-c", "exit 3")
    assert result.returncode == 3, result
    assert result.stdout == "" and result.stderr == "", result


def test_exec_gives_the_child_the_role_without_the_profile(home: TempHome, moto: MotoServer, cached_prod: str):
    env = {"AWS_PROFILE": "prod", "AWS_ENDPOINT_URL": moto.endpoint}
    probe = stscache(home, "exec", "--profile", "prod", "--", "sh", "-c",
                     'echo "${AWS_PROFILE-unset} $STSCACHE_PROFILE $AWS_REGION"', env=env)
    assert probe.ok and probe.stdout == f"unset prod {REGION}\n", probe

    result = stscache(home, "exec", "--profile", "prod", "--", "aws", "sts", "get-caller-identity", "--output", "json",
                      env=env)
    assert result.ok, result
    assert json.loads(result.stdout)["Arn"] == assumed_arn(cached_prod, "alice")


def test_exec_unknown_command_is_127(home: TempHome, cached_prod: str):
    result = stscache(home, "exec", "--profile", "prod", "--", "no-such-command-anywhere")
    assert result.returncode == 127 and result.stdout == "", result
    assert result.stderr.startswith("stscache: ") and "no-such-command-anywhere" in result.stderr, result


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT], ids=lambda s: s.name)
def test_exec_passes_signals_on_and_exits_with_the_childs_status(home: TempHome, cached_prod: str, tmp_path: Path,
                                                                 sig: signal.Signals):
    ready = tmp_path / "ready"
    child = f'trap "exit 42" {sig.name[3:]}; touch {ready}; while :; do sleep 0.1; done'
    process = subprocess.Popen([str(home.stscache_bin), "exec", "--profile", "prod", "--", "sh", "-c", child],
                               env=home.env(), stdin=subprocess.DEVNULL)
    try:
        wait_for(ready.exists, "the child to start")
        process.send_signal(sig)
        assert process.wait(timeout=10) == 42
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("server", [False, True], ids=["keys", "server"])
def test_exec_loses_no_signal_sent_at_any_moment_around_the_spawn(home: TempHome, cached_prod: str, server: bool):
    """Each of the four signals, 50 times each way (200 a run), sent at a random moment from
    stscache's start to well after the child's (twice the spawn time measured in the same run): either stscache had not yet taken the signal over
    (it dies of it, and no child was started) or the child dies of it. A signal taken by another
    thread (the endpoint's, with --server) before the child's pid was known used to be dropped,
    and the child then slept on. The child is `sleep`, so a lost signal shows as exit 0."""
    import random
    import resource

    def no_core_files() -> None:  # SIGQUIT's default action would write one per round
        resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))

    rng = random.Random(20261207)
    sleep = shutil.which("sleep", path=home.env().get("PATH")) or "/bin/sleep"
    options = ["--server"] if server else []
    argv = [str(home.stscache_bin), "exec", *options, "--profile", "prod", "--", sleep, "30"]

    # The window is this machine's, measured in this run: how long exec takes here to start a
    # child (median of 5). Signals go at a random moment in 0 to 2x that, so about half land
    # before the spawn and half after, however loaded the machine is.
    def spawn_latency() -> float:
        marker = home.root / "spawned"
        marker.unlink(missing_ok=True)
        started = time.monotonic()
        probe = subprocess.Popen([str(home.stscache_bin), "exec", *options, "--profile", "prod", "--", "sh", "-c",
                                  f'touch "{marker}"; exec "{sleep}" 30'],
                                 env=home.env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        try:
            while not marker.exists():
                assert probe.poll() is None, "the probe's exec ended before its child started"
                time.sleep(0.0005)
            return time.monotonic() - started
        finally:
            probe.kill()
            probe.wait()

    window = 2 * sorted(spawn_latency() for _ in range(5))[2]
    outcomes: dict[str, int] = {"stscache": 0, "child": 0}
    for round_ in range(50):
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            process = subprocess.Popen(argv, env=home.env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, preexec_fn=no_core_files)
            try:
                time.sleep(rng.uniform(0, window))
                process.send_signal(sig)
                status = process.wait(timeout=10)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
            assert status in (-sig, 128 + sig), f"round {round_}: {sig.name} lost (exit status {status})"
            outcomes["stscache" if status == -sig else "child"] += 1
    # Both sides of the race were exercised, or the test says nothing about the spawn.
    assert outcomes["child"] >= 20 and outcomes["stscache"] >= 20, (outcomes, window)


def test_exec_ctrl_c_in_a_terminal_reaches_the_child(home: TempHome, cached_prod: str, tmp_path: Path):
    ready = tmp_path / "ready"
    child = f'trap "exit 5" INT; touch {ready}; while :; do sleep 0.1; done'
    argv = [str(home.stscache_bin), "exec", "--profile", "prod", "--", "sh", "-c", child]
    output, status = run_on_pty(argv, home.env(), send=b"\x03", when=ready.exists)
    assert os.waitstatus_to_exitcode(status) == 5, output


def test_exec_does_not_add_its_own_sigint_to_a_terminals_ctrl_c(home: TempHome, cached_prod: str, tmp_path: Path):
    """The terminal already signals the whole foreground group, child included; a second SIGINT
    from stscache would make tools like terraform abort without cleaning up. The child here
    leaves the terminal's process group (setsid), so any SIGINT it gets came from stscache."""
    ready, log = tmp_path / "ready", tmp_path / "forwarded"
    child = (
        f'trap "echo INT >> {log}" INT; touch {ready}; '
        'i=0; while [ $i -lt 15 ]; do sleep 0.1; i=$((i+1)); done'
    )
    argv = [str(home.stscache_bin), "exec", "--profile", "prod", "--", "setsid", "sh", "-c", child]
    output, status = run_on_pty(argv, home.env(), send=b"\x03", when=ready.exists)

    assert os.waitstatus_to_exitcode(status) == 0, output
    assert not log.exists(), "stscache passed the terminal's SIGINT on a second time"


# --- shell integration -------------------------------------------------------------------------


@pytest.mark.parametrize("shell,snippet", [("bash", "stscache.bash"), ("zsh", "stscache.zsh"), ("fish", "stscache.fish")])
def test_shell_snippets_parse(shell: str, snippet: str):
    path = require_shell(shell)
    result = run([path, "-n", str(SHELL_EXAMPLES / snippet)], {"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    assert result.ok and result.stderr == "", result


def test_starship_module_is_valid_toml_with_when_command_and_shell():
    module = tomllib.loads((SHELL_EXAMPLES / "starship.toml").read_text())["custom"]["stscache"]
    assert module["command"] == "stscache prompt"
    assert module["when"] is True
    assert module["shell"] == ["sh"]
    assert "$output" in module["format"]


@pytest.fixture
def prompt_env(home: TempHome, cached_prod: str, tmp_path: Path) -> dict:
    """The environment of an interactive shell with `stscache` on PATH and AWS_PROFILE=prod."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "stscache").symlink_to(home.stscache_bin)
    env = home.env({"AWS_PROFILE": "prod", "TERM": "dumb"})
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    return env


def test_bash_snippet_puts_the_session_in_ps1(prompt_env: dict):
    script = f'PS1="\\$ "; . {SHELL_EXAMPLES / "stscache.bash"}; . {SHELL_EXAMPLES / "stscache.bash"}; ' \
             'eval "$PROMPT_COMMAND"; printf "%s|%s" "${PS1@P}" "$PROMPT_COMMAND"'
    result = run([require_shell("bash"), "--norc", "--noprofile", "-c", script], prompt_env)
    assert result.ok, result
    rendered, prompt_command = result.stdout.split("|")
    assert re.fullmatch(r"\[prod \d+m\] \$ ", rendered), result
    assert prompt_command == "__stscache_prompt_command", "sourcing twice must not add it twice"


def test_zsh_snippet_puts_the_session_in_rprompt(prompt_env: dict):
    script = f'source {SHELL_EXAMPLES / "stscache.zsh"}; source {SHELL_EXAMPLES / "stscache.zsh"}; ' \
             '_stscache_precmd; print -rP -- "$RPROMPT"'
    result = run([require_shell("zsh"), "-f", "-c", script], prompt_env)
    assert result.ok, result
    assert re.fullmatch(r"prod \d+m\n", result.stdout), result


def test_fish_snippet_puts_the_session_in_the_right_prompt(prompt_env: dict):
    script = f'source {SHELL_EXAMPLES / "stscache.fish"}; fish_right_prompt'
    result = run([require_shell("fish"), "--no-config", "-c", script], prompt_env)
    assert result.ok, result
    assert re.search(r"prod \d+m", result.stdout), result


def test_starship_command_runs_in_its_shell(prompt_env: dict):
    """starship hands `command` to `shell` on stdin."""
    module = tomllib.loads((SHELL_EXAMPLES / "starship.toml").read_text())["custom"]["stscache"]
    completed = subprocess.run(module["shell"], input=module["command"], env=prompt_env, capture_output=True,
                               text=True, timeout=30)
    assert completed.returncode == 0 and re.fullmatch(r"prod \d+m\n", completed.stdout), completed


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_are_generated_and_parse(home: TempHome, shell: str, tmp_path: Path):
    generated = stscache(home, "--generate-completion-script", shell)
    assert generated.ok and "stscache" in generated.stdout, generated
    script = tmp_path / f"completion.{shell}"
    script.write_text(generated.stdout)
    result = run([require_shell(shell), "-n", str(script)], {"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    assert result.ok, result


# --- the first hour (issue 23): the profile a user selects, typos, completion ------------------


def test_credential_process_takes_the_profile_the_user_selects(home: TempHome, moto: MotoServer, prod: str):
    """`stscache credential-process --profile prod`, typed by hand after `setup`, or named by
    another profile's credential_process: prod's role, as `export` and `exec` give it."""
    by_selected = stscache(home, "credential-process", "--profile", "prod")
    assert by_selected.ok and by_selected.stderr == "", by_selected
    by_role = stscache(home, "credential-process", "--profile", "prod-role")
    assert by_role.ok, by_role
    assert json.loads(by_selected.stdout)["AccessKeyId"] == json.loads(by_role.stdout)["AccessKeyId"]
    assert role_count(moto, prod) == 1
    # A profile handing stscache the delegating profile: the AWS CLI through two delegations.
    home.config["profile tools"] = {"credential_process": home.credential_process("prod"), "region": REGION,
                                    "endpoint_url": moto.endpoint}
    home.write()
    through_cli = caller_identity(home, "--profile", "tools")
    assert through_cli.ok, through_cli
    assert through_cli.json()["Arn"] == assumed_arn(prod, "alice")
    assert role_count(moto, prod) == 1


def test_a_delegation_that_comes_back_fails_at_once(home: TempHome, moto: MotoServer, prod: str):
    """A profile whose credential_process runs stscache for itself, and a source whose helper
    runs stscache for the profile being resolved: one clear failure each, never a loop of
    processes."""
    home.config["profile loop"] = {"credential_process": home.credential_process("loop"), "region": REGION,
                                   "endpoint_url": moto.endpoint}
    home.config["profile round-role"] = {"role_arn": prod, "source_profile": "helper", "region": REGION,
                                         "endpoint_url": moto.endpoint}
    home.config["profile helper"] = {"credential_process": home.credential_process("round")}
    home.config["profile round"] = {"credential_process": home.credential_process("round-role"), "region": REGION,
                                    "endpoint_url": moto.endpoint}
    home.write()
    assert_clean_failure(stscache(home, "credential-process", "--profile", "loop"),
                         'runs stscache for profile "loop" itself', "loop-role")
    assert_clean_failure(stscache(home, "credential-process", "--profile", "round"),
                         "round -> round-role -> helper -> round")
    for profile in ("loop", "round"):
        through_cli = caller_identity(home, "--profile", profile)
        assert not through_cli.ok and through_cli.elapsed < 20, through_cli
        assert "stscache:" in through_cli.stderr, through_cli
    assert role_count(moto, prod) == 0


def test_a_typo_gets_did_you_mean_not_the_list(home: TempHome, prod: str):
    for argv in (["credential-process", "--profile", "prdo"], ["export", "--profile", "prdo"],
                 ["exec", "--profile", "prdo", "--", "true"], ["prompt", "--profile", "prdo", "--verbose"]):
        result = stscache(home, *argv)
        if argv[0] == "prompt":  # prompt stays quiet in a prompt; --verbose says why
            assert result.stdout == "" and 'did you mean "prod"?' in result.stderr, result
            continue
        line = assert_clean_failure(result, 'did you mean "prod"?')
        assert "[profile prdo]" not in line and "use one of" not in line, line
    # Control: a name near nothing keeps the pointer and the list.
    assert_clean_failure(stscache(home, "export", "--profile", "staging"), "add a [profile staging] section",
                         "use one of: ")


def tmux_complete(shell: str, typed: str, setup: list[str], env: dict, workdir: Path) -> str:
    """Starts ``shell`` in a detached tmux (its own socket), runs the ``setup`` lines, types
    ``typed`` and a Tab, and returns the screen once the completion has landed (or at the
    deadline)."""
    tmux = shutil.which("tmux")
    if tmux is None:
        pytest.fail("tmux is not installed (Debian package tmux); run scripts/bootstrap")
    env = {**env, "TMUX_TMPDIR": str(workdir), "TERM": "xterm-256color"}
    base = [tmux, "-L", "completion", "-f", "/dev/null"]

    def tmux_run(*args: str) -> Result:
        return run([*base, *args], env, timeout=30)

    started = tmux_run("new-session", "-d", "-x", "200", "-y", "40", "-s", "t", *shell_command(shell))
    assert started.ok, started
    try:
        def screen() -> str:
            return tmux_run("capture-pane", "-p", "-t", "t").stdout

        for line in setup:
            assert tmux_run("send-keys", "-t", "t", "-l", line).ok
            assert tmux_run("send-keys", "-t", "t", "Enter").ok
        # The typed line shows "READY-%s"; only the command's output shows "READY-42".
        assert tmux_run("send-keys", "-t", "t", "-l", "printf 'READY-%s\\n' 42").ok
        assert tmux_run("send-keys", "-t", "t", "Enter").ok
        wait_for(lambda: "READY-42" in screen(), f"{shell} to run its set-up")
        assert tmux_run("send-keys", "-t", "t", "-l", typed).ok
        assert tmux_run("send-keys", "-t", "t", "Tab").ok
        deadline = time.monotonic() + 15
        shown = screen()
        while time.monotonic() < deadline and typed + "ev" not in shown:
            time.sleep(0.1)
            shown = screen()
        return shown
    finally:
        tmux_run("kill-server")


def shell_command(shell: str) -> list[str]:
    path = require_shell(shell)
    return {"bash": [path, "--norc", "--noprofile"], "zsh": [path, "-f"], "fish": [path, "--no-config"]}[shell]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_tab_completes_profile_names(home: TempHome, shell: str, tmp_path: Path):
    """`stscache prompt --profile d<Tab>` in a real interactive shell (under tmux), with the
    generated completion script: `dev`, from the credentials file. Names a shell would expand
    are not offered, and none of them runs."""
    pwned = tmp_path / "pwned"
    home.config["profile prod"] = {"region": REGION}
    home.credentials["dev"] = {"aws_access_key_id": "AKIAEXAMPLECOMPLETE1", "aws_secret_access_key": "SECRETMARK"}
    home.credentials[f"d$(touch {pwned})"] = {"region": REGION}
    home.credentials[f"d`touch {pwned}`"] = {"region": REGION}
    home.write()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "stscache").symlink_to(home.stscache_bin)
    env = home.env({"PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}"})
    generated = stscache(home, "--generate-completion-script", shell)
    assert generated.ok, generated
    script = tmp_path / ("_stscache" if shell == "zsh" else f"stscache.{shell}")
    script.write_text(generated.stdout)
    setup = {
        "bash": [f"source {script}"],
        "zsh": [f"fpath=({tmp_path} $fpath)", "autoload -Uz compinit", "compinit -u -D"],
        "fish": [f"source {script}"],
    }[shell]

    shown = tmux_complete(shell, "stscache prompt --profile d", setup, env, tmp_path)

    assert "stscache prompt --profile dev" in shown, shown
    assert "SECRETMARK" not in shown and "AKIA" not in shown, shown
    assert "touch" not in shown.split("--profile d", 1)[1], shown
    assert not pwned.exists(), "a profile name ran as a command"


def test_bash_would_run_a_name_offered_raw(tmp_path: Path):
    """Control for the filter above: bash's generated script hands the candidates to
    `compgen -W`, which expands each one, so a raw `$(...)` name would run at <Tab>."""
    pwned = tmp_path / "pwned"
    result = run([require_shell("bash"), "--norc", "--noprofile", "-c", f"compgen -W '$(touch {pwned})' -- ''"],
                 {"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    assert result.returncode in (0, 1), result
    assert pwned.exists()


def test_completion_reads_names_only(home: TempHome, prod: str, tmp_path: Path):
    """The completion a shell asks for opens the two config files and nothing else of
    stscache's: not the cache, not the key store (strace, with a control)."""
    if shutil.which("strace") is None:
        pytest.fail("strace not installed; run scripts/bootstrap")
    assert stscache(home, "credential-process", "--profile", "prod").ok  # a cache and a key exist now

    def opened(*argv: str) -> list[str]:
        trace = run(["strace", "-f", "-e", "trace=openat,open", str(home.stscache_bin), *argv], home.env())
        assert trace.returncode == 0, trace
        return [line for line in trace.stderr.splitlines() if "openat(" in line or "open(" in line]

    completion = opened("---completion", "prompt", "--", "--profile", "2", "1", "stscache", "prompt", "--profile", "p")
    assert any(str(home.root / ".aws" / "config") in line for line in completion), completion
    assert not any(str(home.cache_dir) in line or str(home.key_store_dir) in line for line in completion), completion
    # Control: a cache hit opens both, so the trace would show them.
    hit = opened("credential-process", "--profile", "prod")
    assert any(str(home.cache_dir) in line for line in hit) and any(str(home.key_store_dir) in line for line in hit)
    offered = run([str(home.stscache_bin), "---completion", "prompt", "--", "--profile", "2", "1", "stscache", "prompt",
                   "--profile", "p"], home.env())
    assert offered.ok and offered.stdout.split() == ["base", "prod-role", "prod"], offered


# --- helpers -----------------------------------------------------------------------------------


def wait_for(condition, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def run_on_pty(argv: list[str], env: dict, send: bytes | None = None, when=None, timeout: float = 30):
    """Runs argv as the foreground job of a new pseudo-terminal (so stdout is a terminal and the
    terminal's Ctrl-C goes to its process group); optionally types `send` once `when()` holds.
    Returns everything written to the terminal and the wait status."""
    pid, master = pty.fork()
    if pid == 0:  # the child: session leader, the pty is its controlling terminal
        try:
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    output = b""
    sent = send is None
    reaped = False
    deadline = time.monotonic() + timeout
    try:
        while True:
            if not sent and (when is None or when()):
                os.write(master, send)
                sent = True
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the child side closed
                    chunk = b""
                if not chunk:
                    break
                output += chunk
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                reaped = True
                return output, status
            if time.monotonic() > deadline:
                pytest.fail(f"timed out on the pty: {argv}\n{output!r}")
        _, status = os.waitpid(pid, 0)
        reaped = True
        return output, status
    finally:
        os.close(master)
        if not reaped:  # only our own child, and only while it has not been waited for
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
