"""Issue 14 items 2-4: `stscache setup` on a real-looking config (then the AWS CLI through the
pair it made, against moto), `stscache console` against a loopback fake of the federation
endpoint, and `stscache doctor` on the broken layouts in config-examples/broken/."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import stat
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from support.aws import REGION, AccessKey, assumed_arn
from support.homes import Result, TempHome, assert_clean_failure, files_under, run
from support.moto import MotoServer
from support.peers import missing_peer

pytestmark = pytest.mark.adoption

REPO = Path(__file__).resolve().parents[2]


def stscache(home: TempHome, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Result:
    return run([str(home.stscache_bin), *args], home.env(env), timeout=timeout)


def backups(home: TempHome) -> list[Path]:
    return sorted((home.root / ".aws").glob("config.stscache-backup-*"))


# --- setup -------------------------------------------------------------------------------------

# Written by hand, as people do: comments of both kinds, odd spacing and tabs, a nested block,
# an unrelated section, a profile after the one set up, no newline at the very end.
REAL_LOOKING = """\
# ~/.aws/config -- maintained by hand
[default]
region = {region}
output = json

; production, via the base user's keys
[profile prod]
  region={region}
endpoint_url = {endpoint}
role_arn\t =   {role_arn}
  # who we are in CloudTrail
source_profile = base
role_session_name = alice
s3 =
    max_concurrent_requests = 4
cli_pager =

[profile base]
region = {region}
endpoint_url = {endpoint}

[sso-session corp]
sso_region = {region}
[profile  other ]
region = eu-west-1"""

AFTER_SETUP = """\
# ~/.aws/config -- maintained by hand
[default]
region = {region}
output = json

; production, via the base user's keys
[profile prod]
  region={region}
endpoint_url = {endpoint}
credential_process = {binary} credential-process --profile prod-role
  # who we are in CloudTrail
s3 =
    max_concurrent_requests = 4
cli_pager =

[profile prod-role]
region={region}
endpoint_url = {endpoint}
role_arn\t =   {role_arn}
source_profile = base
role_session_name = alice

[profile base]
region = {region}
endpoint_url = {endpoint}

[sso-session corp]
sso_region = {region}
[profile  other ]
region = eu-west-1"""


def real_looking_home(home: TempHome, moto: MotoServer, base_user: AccessKey) -> tuple[str, str]:
    role = moto.create_role("adopt", trusted=[base_user.user_arn])
    home.credentials["base"] = {
        "aws_access_key_id": base_user.access_key_id,
        "aws_secret_access_key": base_user.secret_access_key,
    }
    home.write()
    text = REAL_LOOKING.format(region=REGION, endpoint=moto.endpoint, role_arn=role)
    (home.root / ".aws" / "config").write_text(text)
    return role, text


def test_setup_makes_the_pair_and_the_cli_goes_through_stscache(home: TempHome, moto: MotoServer, base_user: AccessKey):
    role, original = real_looking_home(home, moto, base_user)
    config = home.root / ".aws" / "config"
    # Control: before setup the CLI assumes the role itself (and stscache has no entry).
    before = home.aws("sts", "get-caller-identity", "--profile", "prod", "--output", "json")
    assert before.ok, before
    assert before.json()["Arn"] == assumed_arn(role, "alice")
    assert not (home.cache_dir.exists() and any(home.cache_dir.iterdir()))

    result = stscache(home, "setup", "--profile", "prod")

    assert result.returncode == 0, result
    expected = AFTER_SETUP.format(region=REGION, endpoint=moto.endpoint, role_arn=role, binary=home.stscache_bin.resolve())
    assert config.read_text() == expected
    [backup] = [p for p in backups(home) if not p.name.endswith(".written")]
    assert backup.read_text() == original
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert result.stderr == ""

    # The CLI now runs stscache: two calls, one AssumeRole, the session from stscache's cache.
    calls_before = moto.assume_role_count(role)
    for _ in range(2):
        after = home.aws("sts", "get-caller-identity", "--profile", "prod", "--output", "json")
        assert after.ok, after
        assert after.json()["Arn"] == assumed_arn(role, "alice")
    assert moto.assume_role_count(role) == calls_before + 1
    assert any(home.cache_dir.iterdir())

    # The other profiles still work as before.
    assert home.aws("configure", "get", "region", "--profile", "other").stdout.strip() == "eu-west-1"

    undo = stscache(home, "setup", "--undo")
    assert undo.returncode == 0, undo
    assert config.read_bytes() == original.encode()
    assert backups(home) == []


def test_dry_run_prints_the_diff_and_writes_nothing(home: TempHome, moto: MotoServer, base_user: AccessKey):
    _, original = real_looking_home(home, moto, base_user)
    config = home.root / ".aws" / "config"
    before = config.stat()

    result = stscache(home, "setup", "--profile", "prod", "--dry-run")

    assert result.returncode == 0, result
    assert "+[profile prod-role]" in result.stdout
    assert "-role_arn\t =   " in result.stdout
    assert f"+credential_process = {home.stscache_bin.resolve()} credential-process --profile prod-role" in result.stdout
    assert config.read_text() == original
    assert (config.stat().st_ino, config.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert backups(home) == []
    # The diff applies: patch(1) turns a copy of the original into exactly what setup writes.
    if shutil.which("patch") is None:
        missing_peer("patch(1) is not installed")
    copy = home.root / "copy"
    copy.write_text(original)
    applied = subprocess.run(["patch", "-s", str(copy)], input=result.stdout, text=True, capture_output=True)
    assert applied.returncode == 0, applied
    setup = stscache(home, "setup", "--profile", "prod")
    assert setup.returncode == 0, setup
    assert copy.read_text() == config.read_text()


def test_undo_refuses_a_file_changed_since_setup(home: TempHome, moto: MotoServer, base_user: AccessKey):
    real_looking_home(home, moto, base_user)
    config = home.root / ".aws" / "config"
    assert stscache(home, "setup", "--profile", "prod").returncode == 0
    edited = config.read_text() + "\n[profile added-later]\nregion = eu-west-2\n"
    config.write_text(edited)

    result = stscache(home, "setup", "--undo")

    assert_clean_failure(result, "changed since setup")
    assert config.read_text() == edited
    assert len(backups(home)) == 2


@pytest.fixture(scope="module")
def stop_in_write(tmp_path_factory: pytest.TempPathFactory) -> Path:
    compiler = shutil.which("cc") or shutil.which("clang") or shutil.which("gcc")
    if compiler is None:
        missing_peer("no C compiler for the stop_in_write shim")
    out = tmp_path_factory.mktemp("native") / "stop_in_write.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-o", str(out), str(REPO / "Tests/e2e/stop_in_write.c"), "-ldl"],
                   check=True)
    return out


def process_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return ""


def test_setup_refuses_a_file_changed_while_it_ran(home: TempHome, moto: MotoServer, base_user: AccessKey,
                                                   stop_in_write: Path):
    _, original = real_looking_home(home, moto, base_user)
    config = home.root / ".aws" / "config"
    # The shim stops the binary half-way through its first temp-file write (the backup): after
    # it read the config, before it replaces it. Someone edits the file meanwhile.
    process = subprocess.Popen([str(home.stscache_bin), "setup", "--profile", "prod"],
                               env=home.env({"LD_PRELOAD": str(stop_in_write)}),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while process_state(process.pid) != "T":
        assert time.monotonic() < deadline, "setup never reached its first write"
        assert process.poll() is None, process.communicate()
        time.sleep(0.01)
    edited = original.replace("cli_pager =", "cli_pager = less")
    config.write_text(edited)
    process.send_signal(signal.SIGCONT)
    stdout, stderr = process.communicate(timeout=30)

    assert_clean_failure(Result([], process.returncode, stdout, stderr, 0), "changed while")
    assert config.read_text() == edited
    assert [p for p in (home.root / ".aws").iterdir() if p.name.startswith((".config", "config."))] == []


@pytest.mark.parametrize("layout, needle", [
    ("[profile prod]\nregion = x\n", "no role_arn"),
    ("[profile prod]\ncredential_process = stscache credential-process --profile prod-role\n", "already delegates"),
    ("[profile prod]\nrole_arn = arn:aws:iam::123456789012:role/x\nsource_profile = base\n[profile prod-role]\n", "already exists"),
    ("[profile other]\nregion = x\n", "not in"),
])
def test_setup_refusals_leave_the_file_alone(home: TempHome, layout: str, needle: str):
    config = home.root / ".aws" / "config"
    config.write_text(layout)

    result = stscache(home, "setup", "--profile", "prod")

    assert_clean_failure(result, needle)
    assert config.read_text() == layout
    assert backups(home) == []


# --- console -----------------------------------------------------------------------------------

TOKEN = "FAKE-signin-token_0123456789abcdefXYZ"


class FakeFederation:
    """A loopback stand-in for https://signin.aws.amazon.com/federation: records each request's
    query and answers with ``answer`` (status, body)."""

    def __init__(self) -> None:
        self.queries: list[dict[str, list[str]]] = []
        self.answer: tuple[int, bytes] = (200, json.dumps({"SigninToken": TOKEN}).encode())
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802
                parsed = urllib.parse.urlparse(self.path)
                fake.queries.append(urllib.parse.parse_qs(parsed.query, keep_blank_values=True))
                status, body = fake.answer
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/federation"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def federation():
    fake = FakeFederation()
    try:
        yield fake
    finally:
        fake.close()


def assert_token_nowhere_under(home: TempHome) -> None:
    for path in files_under(home.root):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_console_print_signs_in_with_the_cached_session(home: TempHome, moto: MotoServer, base_user: AccessKey,
                                                        federation: FakeFederation):
    role = moto.create_role("console", trusted=[base_user.user_arn])
    home.delegate(role, base_user)
    cached = home.stscache("prod-role").credentials()

    result = stscache(home, "console", "--profile", "prod", "--print",
                      env={"STSCACHE_FEDERATION_ENDPOINT": federation.endpoint})

    assert result.returncode == 0, result
    [query] = federation.queries
    assert query["Action"] == ["getSigninToken"]
    session = json.loads(query["Session"][0])
    assert set(session) == {"sessionId", "sessionKey", "sessionToken"}
    # The very session credential-process serves: same pipeline, same cache, no new AssumeRole.
    assert session == {"sessionId": cached["AccessKeyId"], "sessionKey": cached["SecretAccessKey"],
                       "sessionToken": cached["SessionToken"]}
    assert moto.assume_role_count(role) == 1
    assert 900 <= int(query["SessionDuration"][0]) <= 43200
    url = urllib.parse.urlparse(result.stdout.strip())
    login = urllib.parse.parse_qs(url.query)
    assert result.stdout.strip().startswith(federation.endpoint + "?")
    assert login == {"Action": ["login"], "Issuer": ["stscache"], "SigninToken": [TOKEN],
                     "Destination": [f"https://console.aws.amazon.com/console/home?region={REGION}"]}
    assert TOKEN not in result.stderr
    assert_token_nowhere_under(home)


def test_console_opens_a_private_page_not_the_url_in_argv(home: TempHome, moto: MotoServer, base_user: AccessKey,
                                                          federation: FakeFederation, tmp_path: Path):
    role = moto.create_role("console-browser", trusted=[base_user.user_arn])
    home.delegate(role, base_user)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    record = tmp_path / "browser-record"
    browser = tmp_path / "fake-browser"
    # A browser that records its argv, the page's mode and what the page says.
    browser.write_text(f"""#!{shutil.which('python3') or '/usr/bin/python3'}
import json, os, stat, sys
page = sys.argv[1].removeprefix("file://")
json.dump({{"argv": sys.argv, "mode": stat.S_IMODE(os.stat(page).st_mode),
           "dir_mode": stat.S_IMODE(os.stat(os.path.dirname(page)).st_mode),
           "html": open(page).read()}}, open({str(record)!r}, "w"))
""")
    browser.chmod(0o700)

    result = stscache(home, "console", "--profile", "prod", "--destination", "https://console.aws.amazon.com/s3/home",
                      env={"STSCACHE_FEDERATION_ENDPOINT": federation.endpoint, "BROWSER": str(browser),
                           "XDG_RUNTIME_DIR": str(runtime)})

    assert result.returncode == 0, result
    assert result.stdout == ""
    seen = json.loads(record.read_text())
    assert all(TOKEN not in word for word in seen["argv"])
    assert seen["argv"][1].startswith(f"file://{runtime}/stscache-console.")
    assert (seen["mode"], seen["dir_mode"]) == (0o600, 0o700)
    assert f"SigninToken={TOKEN}" in seen["html"]
    assert "Destination=https%3A%2F%2Fconsole.aws.amazon.com%2Fs3%2Fhome" in seen["html"]
    assert list(runtime.iterdir()) == []  # the page is gone
    assert TOKEN not in result.stderr
    assert_token_nowhere_under(home)


@pytest.mark.parametrize("status, body", [
    (200, b"x" * (256 * 1024)),
    (200, b"<html>Service unavailable</html>"),
    (200, json.dumps({"SigninToken": TOKEN + "&Destination=https://evil.example"}).encode()),
    (200, json.dumps({"SigninToken": TOKEN + "\u001b]8;;https://evil\u0007"}).encode()),
    (200, json.dumps({"NotAToken": TOKEN}).encode()),
    (403, json.dumps({"SigninToken": TOKEN}).encode()),
], ids=["huge", "not-json", "query-injection", "terminal-escape", "no-token", "forbidden"])
def test_console_refuses_a_hostile_answer(home: TempHome, moto: MotoServer, base_user: AccessKey,
                                          federation: FakeFederation, status: int, body: bytes):
    role = moto.create_role("console-hostile", trusted=[base_user.user_arn])
    home.delegate(role, base_user)
    federation.answer = (status, body)

    result = stscache(home, "console", "--profile", "prod", "--print",
                      env={"STSCACHE_FEDERATION_ENDPOINT": federation.endpoint})

    line = assert_clean_failure(result, "federation endpoint")
    assert TOKEN not in line
    assert_token_nowhere_under(home)


def test_console_refuses_plain_http_to_another_host(home: TempHome, moto: MotoServer, base_user: AccessKey):
    role = moto.create_role("console-http", trusted=[base_user.user_arn])
    home.delegate(role, base_user)

    result = stscache(home, "console", "--profile", "prod", "--print",
                      env={"STSCACHE_FEDERATION_ENDPOINT": "http://signin.example.com/federation"})

    assert_clean_failure(result, "STSCACHE_FEDERATION_ENDPOINT")


# --- doctor ------------------------------------------------------------------------------------

EXAMPLES = REPO / "config-examples"
BROKEN = sorted((EXAMPLES / "broken").glob("*.ini"))


def doctor_home(home: TempHome, example: Path) -> dict[str, str]:
    """Puts ``example`` in place (a ``.credentials.ini`` as the credentials file) and returns an
    environment whose PATH finds the binary under test as ``stscache``, as an installed one is."""
    aws = home.root / ".aws"
    (aws / "config").unlink(missing_ok=True)
    (aws / "credentials").unlink(missing_ok=True)
    shutil.copy(example, aws / ("credentials" if ".credentials." in example.name else "config"))
    bin_dir = home.root / "bin"
    bin_dir.mkdir(exist_ok=True)
    if not (bin_dir / "stscache").exists():
        (bin_dir / "stscache").symlink_to(home.stscache_bin)
    return {"PATH": f"{bin_dir}:{home.env()['PATH']}"}


def test_there_is_a_broken_example_per_problem():
    assert len(BROKEN) >= 8
    for example in BROKEN:
        assert "(doctor." in example.read_text(), f"{example.name} does not say which finding it shows"


@pytest.mark.parametrize("example", BROKEN, ids=[p.name for p in BROKEN])
def test_doctor_finds_each_broken_layout(home: TempHome, example: Path):
    expected = example.read_text().split("(doctor.", 1)[1].split(")", 1)[0]
    env = doctor_home(home, example)

    text = stscache(home, "doctor", env=env)
    as_json = stscache(home, "doctor", "--json", env=env)
    strict = stscache(home, "doctor", "--strict", env=env)

    findings = json.loads(as_json.stdout)
    # 1 for an error; a warning alone (unsafe, but working) is 1 only with --strict.
    has_error = any(f["severity"] == "error" for f in findings)
    assert text.returncode == (1 if has_error else 0), text
    assert as_json.returncode == text.returncode, as_json
    assert strict.returncode == 1, strict
    assert text.stderr == "" and as_json.stderr == "", (text, as_json)
    assert all(set(f) == {"severity", "profile", "code", "message", "fix"} for f in findings)
    assert f"doctor.{expected}" in [f["code"] for f in findings], as_json.stdout
    # One line per finding, each with its fix.
    problems = [line for line in text.stdout.splitlines() if line.startswith(("error:", "warning:"))]
    assert len(problems) == len([f for f in findings if f["severity"] != "info"])
    assert all(" Fix: " in line for line in problems)
    assert "AKIAIOSFODNN7EXAMPLE" not in text.stdout + as_json.stdout
    assert "wJalrXUtnFEMI" not in text.stdout + as_json.stdout


def test_doctor_passes_a_healthy_setup_and_fails_it_again_when_the_cache_is_opened_up(home: TempHome):
    env = doctor_home(home, EXAMPLES / "healthy.ini")

    healthy = stscache(home, "doctor", env=env)

    assert healthy.returncode == 0, healthy
    assert healthy.stdout.endswith("No problems found.\n")
    assert "key store: file" in healthy.stdout
    assert not home.key_store_dir.exists(), "doctor created the key store"
    # Control: the same set-up with a group-readable cache directory is a finding.
    home.cache_dir.mkdir(parents=True)
    home.cache_dir.chmod(0o750)
    opened = stscache(home, "doctor", "--json", env=env)
    assert opened.returncode == 1, opened
    assert [f["code"] for f in json.loads(opened.stdout) if f["severity"] != "info"] == ["doctor.cache-dir-mode"]


def test_doctor_after_setup_finds_nothing_to_fix(home: TempHome, moto: MotoServer, base_user: AccessKey):
    real_looking_home(home, moto, base_user)
    before = stscache(home, "doctor", "--json", "--profile", "prod")
    assert "doctor.cli-resolves-role" in [f["code"] for f in json.loads(before.stdout)], before
    # A warning: the CLI works, it just bypasses stscache (--strict makes it a failure).
    assert before.returncode == 0
    assert stscache(home, "doctor", "--strict", "--profile", "prod").returncode == 1

    assert stscache(home, "setup", "--profile", "prod").returncode == 0
    after = stscache(home, "doctor", "--json", "--profile", "prod")

    assert after.returncode == 0, after
    assert [f for f in json.loads(after.stdout) if f["severity"] != "info"] == []


def test_doctor_right_after_setup_exits_0_for_the_plaintext_keys_warning(home: TempHome, moto: MotoServer,
                                                                         base_user: AccessKey):
    """The first hour: setup, then doctor. The base keys in ~/.aws/credentials are a warning
    (exit 0; 1 with --strict), and its fix, followed as written, clears it."""
    role, _ = real_looking_home(home, moto, base_user)
    assert stscache(home, "setup", "--profile", "prod").returncode == 0

    doctor = stscache(home, "doctor")
    strict = stscache(home, "doctor", "--strict")

    assert doctor.returncode == 0, doctor
    assert strict.returncode == 1 and strict.stdout == doctor.stdout, strict
    [warning] = [line for line in doctor.stdout.splitlines() if line.startswith("warning:")]
    assert warning.startswith("warning: [base] "), warning
    assert warning.endswith("Fix: stscache keys import base (moves them into stscache's encrypted store; the key "
                            f"lines leave {home.root / '.aws' / 'credentials'})."), warning
    assert "then delete" not in doctor.stdout
    # The fix as written: then nothing is left to fix, and the AWS CLI still goes through.
    assert stscache(home, "keys", "import", "base").returncode == 0
    after = stscache(home, "doctor", "--strict")
    assert after.returncode == 0 and after.stdout.endswith("No problems found.\n"), after
    identity = home.aws("sts", "get-caller-identity", "--profile", "prod", "--output", "json")
    assert identity.ok and identity.json()["Arn"] == assumed_arn(role, "alice"), identity


def test_a_typo_in_source_profile_is_answered_with_the_near_name(home: TempHome, moto: MotoServer,
                                                                  base_user: AccessKey):
    """source_profile = bsae: doctor, and the AWS CLI's call, point at base; neither suggests
    storing keys under the typo. Corrected as told, the call goes through."""
    role = moto.create_role("typo", trusted=[base_user.user_arn])
    home.delegate(role, base_user, profile="prod", session_name="alice")
    home.config["profile prod-role"]["source_profile"] = "bsae"
    home.write()
    config = home.root / ".aws" / "config"

    doctor = stscache(home, "doctor", "--profile", "prod")
    failed = home.aws("sts", "get-caller-identity", "--profile", "prod", "--output", "json")

    assert doctor.returncode == 1, doctor
    [error] = [line for line in doctor.stdout.splitlines() if line.startswith("error:")]
    assert 'has source_profile = bsae' in error and error.endswith(
        'Fix: did you mean "base"? Correct source_profile in [profile prod-role].'), error
    assert "keys add" not in doctor.stdout
    assert not failed.ok and 'did you mean "base"? Correct source_profile.' in failed.stderr, failed
    assert "keys add" not in failed.stderr
    assert not home.key_store_dir.exists() or not any(home.key_store_dir.glob("access-keys*"))
    config.write_text(config.read_text().replace("source_profile = bsae", "source_profile = base"))
    fixed = home.aws("sts", "get-caller-identity", "--profile", "prod", "--output", "json")
    assert fixed.ok and fixed.json()["Arn"] == assumed_arn(role, "alice"), fixed


def test_setup_with_a_typo_points_at_the_profile_not_at_list(home: TempHome, moto: MotoServer, base_user: AccessKey):
    _, original = real_looking_home(home, moto, base_user)
    config = home.root / ".aws" / "config"

    typo = stscache(home, "setup", "--profile", "prdo")
    far = stscache(home, "setup", "--profile", "staging")

    line = assert_clean_failure(typo, 'profile "prdo" is not in', 'did you mean "prod"?')
    assert "stscache list" not in line
    assert_clean_failure(far, "the profiles setup can take: prod.")
    assert config.read_text() == original and backups(home) == []


def test_doctor_network_compares_the_clock_with_sts(home: TempHome):
    """A scripted STS, not the session's moto: the clock check is an unsigned GET, which moto's
    request log (that other tests count AssumeRole calls from) must not receive."""
    from support.fakes import FakeSTS
    from support.peers import faketime_env

    env = doctor_home(home, EXAMPLES / "healthy.ini")
    sts = FakeSTS()
    try:
        env["AWS_ENDPOINT_URL_STS"] = sts.endpoint
        in_time = stscache(home, "doctor", "--json", "--network", env=env)
        skewed = stscache(home, "doctor", "--json", "--network", env={**env, **faketime_env("+1h")})
        offline = stscache(home, "doctor", "--json", env=env)
        assert [r.method for r in sts.requests] == ["GET", "GET"], "one request per --network run, none offline"
    finally:
        sts.close()

    assert in_time.returncode == 0, in_time
    assert "doctor.clock" in [f["code"] for f in json.loads(in_time.stdout)]
    assert skewed.returncode == 1, skewed
    [skew] = [f for f in json.loads(skewed.stdout) if f["code"] == "doctor.clock-skew"]
    assert "ahead of" in skew["message"] and skew["severity"] == "error"
    assert "doctor.clock-not-checked" in [f["code"] for f in json.loads(offline.stdout)]
