"""Fault injection (issue 5): the built binary against a loopback STS that misbehaves on cue.

Every scenario asserts the outcome (exit status; stdout empty or one Version-1 JSON line; the
stderr line), how many requests the fake STS saw, and a wall-time bound. The scenarios, their
outcomes, request counts and wall times are written to ``.build/fault-table.md`` at the end of
the run (and printed in pytest's summary). Scenarios that differ only in what STS answers and
what must follow (retries, refusals, deadlines) are the rows of ``STS_CASES``, run by one test.

Small environment overrides (STSCACHE_STS_TIMEOUT, STSCACHE_ATTEMPT_TIMEOUT, ...) keep the
suite fast; the defaults are covered by the unit tests.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from support import fakes
from support.aws import AccessKey
from support.fakes import ClosedPort, FakeSTS
from support.homes import Result, TempHome, files_under
from support.peers import REPO_ROOT, missing_peer
from support.tls import ConnectProxy, TLSFiles, make_ca

pytestmark = pytest.mark.faults

SOURCE = AccessKey("fault-base", "arn:aws:iam::123456789012:user/fault-base", "AKIAFAULTBASE0000001",
                   "fault/source/secret+key0123456789abcdef")
ROLE_ARN = "arn:aws:iam::123456789012:role/Faults"

# The wall-time bound where the point is "no hang, no retry loop, no quadratic blow-up", not
# speed (that is bench/'s job): a loaded 2-core CI machine stays well inside it, and each bug it
# guards takes far longer (a wait for a 120 s lock, a 30 s STS deadline, or hours).
NO_HANG = 15

# Words the Swift runtime or the kernel print when a process crashes rather than fails cleanly.
CRASH_MARKERS = ("Fatal error", "Swift runtime failure", "Segmentation fault", "Illegal instruction",
                 "Current stack trace", "Stack dump", "*** Program crashed", "💣")

TABLE_PATH = REPO_ROOT / ".build" / "fault-table.md"


# --------------------------------------------------------------------------------------------
# The scenario table
# --------------------------------------------------------------------------------------------


@dataclass
class Row:
    scenario: str
    outcome: str
    requests: str
    wall: float


ROWS: list[Row] = []


@pytest.fixture(scope="module", autouse=True)
def fault_table():
    yield
    if not ROWS:
        return
    lines = [
        "| scenario | outcome | requests STS saw | wall time |",
        "| --- | --- | ---: | ---: |",
    ]
    for row in ROWS:
        lines.append(f"| {row.scenario} | {row.outcome} | {row.requests} | {row.wall:.2f} s |")
    TABLE_PATH.parent.mkdir(parents=True, exist_ok=True)
    TABLE_PATH.write_text("\n".join(lines) + "\n")


def record(scenario: str, result: Result, requests: int | str, detail: str = "") -> None:
    if result.returncode == 0:
        outcome = "credentials" + (" + warning" if result.stderr.strip() else "")
    elif result.returncode < 0:
        outcome = f"killed by {signal.Signals(-result.returncode).name}"
    else:
        outcome = f"exit {result.returncode}"
    if detail:
        outcome += f": {detail}"
    ROWS.append(Row(scenario, outcome, str(requests), result.elapsed))


# --------------------------------------------------------------------------------------------
# Assertions shared by every scenario
# --------------------------------------------------------------------------------------------


def assert_no_crash(result: Result) -> None:
    assert 0 <= result.returncode < 128, f"crashed or killed\n{result}"
    for marker in CRASH_MARKERS:
        assert marker not in result.stderr, f"crash text {marker!r} on stderr\n{result}"


def assert_success(result: Result) -> dict:
    assert_no_crash(result)
    creds = result.credentials()  # exactly one Version-1 JSON line
    assert creds["AccessKeyId"].startswith("ASIAFAKE"), "the fake STS's session"
    expiration = dt.datetime.strptime(creds["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    assert expiration > dt.datetime.now(dt.timezone.utc), f"expired credentials printed\n{result}"
    return creds


def assert_clean_failure(result: Result, *needles: str) -> str:
    """Exit 1, nothing on stdout, one ``stscache:`` line on stderr containing every needle."""
    assert_no_crash(result)
    assert result.returncode == 1, result
    assert result.stdout == "", f"stdout must be empty on failure\n{result}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr\n{result}"
    line = lines[0]
    assert line.startswith("stscache: "), result
    for needle in needles:
        assert needle in line, f"{needle!r} not in the error\n{result}"
    assert SOURCE.secret_access_key not in result.stderr
    return line


# --------------------------------------------------------------------------------------------
# A fake STS and a HOME that points at it
# --------------------------------------------------------------------------------------------


@dataclass
class Stage:
    fake: FakeSTS
    home: TempHome
    role_profile: str

    def call(self, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Result:
        return self.home.stscache(self.role_profile, *args, env=env, timeout=timeout)

    def popen(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        return self.home.stscache_popen(self.role_profile, *args, env=env)

    @property
    def requests(self) -> int:
        return self.fake.count()

    def cache_files(self) -> list[Path]:
        return files_under(self.home.cache_dir) if self.home.cache_dir.exists() else []

    def temp_files(self) -> list[Path]:
        return [p for p in self.cache_files() if p.name.endswith(".tmp")]

    def entry_file(self) -> Path:
        entries = [p for p in self.cache_files() if p.name.endswith(".entry")]
        assert len(entries) == 1, entries
        return entries[0]

    def lock_file(self) -> Path:
        locks = [p for p in self.cache_files() if p.name.endswith(".lock")]
        assert len(locks) == 1, locks
        return locks[0]


@pytest.fixture
def make_stage(tmp_path: Path, stscache_bin: Path):
    started: list[FakeSTS] = []
    counter = iter(range(100))

    def factory(*, role_extra: dict[str, str] | None = None, **fake_args) -> Stage:
        fake_args.setdefault("secret_key", SOURCE.secret_access_key)
        fake = FakeSTS(**fake_args)
        started.append(fake)
        home = TempHome(tmp_path / f"home{next(counter)}", fake, stscache_bin)
        role_profile = home.delegate(ROLE_ARN, SOURCE, **(role_extra or {}))
        return Stage(fake, home, role_profile)

    yield factory
    for fake in started:
        fake.close()


@pytest.fixture
def stage(make_stage) -> Stage:
    return make_stage()


# --------------------------------------------------------------------------------------------
# 1. STS answers on cue: retries, refusals, deadlines: one table, one test
# --------------------------------------------------------------------------------------------


@dataclass
class Case:
    """A scripted STS and what the binary must make of it."""

    id: str  # the test id
    scenario: str  # its row in the fault table
    script: list[fakes.Answer] = field(default_factory=list)  # answers to the first requests, in order
    then: fakes.Answer | None = None  # the answer to every later request (None: a valid session)
    env: dict[str, str] = field(default_factory=dict)
    error: tuple[str, ...] | None = None  # None: credentials; else words the one error line has
    never: tuple[str, ...] = ()  # words the error line must not have
    requests: int | range = 1  # requests the fake STS must see
    # Wall-time bound, seconds: a safety net, or (where timing is the point) a bound set well
    # below what the bug would take, so that a loaded machine cannot reach it: not a speed test.
    within: float = 10
    at_least: float = 0.0
    detail: str = ""  # for the fault table


def throttle(code: str, message: str) -> fakes.Answer:
    return fakes.sts_error(400, code, message)


THROTTLES = {
    "Throttling": throttle("Throttling", "Rate exceeded"),
    "ThrottlingException": throttle("ThrottlingException", "Rate exceeded"),
    "RequestLimitExceeded": throttle("RequestLimitExceeded", "Request limit exceeded."),
    "HTTP 429": fakes.raw(429, b"Too Many Requests", content_type="text/plain"),
}
UNAVAILABLE = fakes.sts_error(503, "ServiceUnavailable", "Service unavailable", "Receiver")
GAVE_UP = "gave up after 3 attempts"

REFUSALS = [
    (403, "AccessDenied", "User: arn:aws:iam::123456789012:user/fault-base is not authorized to perform: sts:AssumeRole",
     "trust policy"),
    (403, "InvalidClientTokenId", "The security token included in the request is invalid.", "access key id is wrong"),
    (400, "ExpiredToken", "The security token included in the request is expired", "refresh the source credentials"),
    (400, "MalformedQueryString", "Invalid query string", "MalformedQueryString"),
    (400, "ValidationError", "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint",
     "ValidationError"),
]

STS_CASES = [
    # Throttling, server errors, resets and truncation are retried, three attempts in all.
    *(Case(f"throttled-twice-{kind.replace(' ', '-')}", f"throttled twice ({kind}), then OK",
           script=[answer] * 2, requests=3) for kind, answer in THROTTLES.items()),
    Case("throttled-forever", "throttled forever", then=THROTTLES["Throttling"],
         error=("Throttling", GAVE_UP), requests=3, detail=GAVE_UP),
    *(Case(f"http-{status}-forever", f"HTTP {status} forever",
           then=fakes.sts_error(status, "InternalFailure", "We encountered an internal error.", "Receiver"),
           error=(f"HTTP {status}", GAVE_UP), requests=3, detail=GAVE_UP) for status in (500, 503)),
    Case("http-503-502-then-ok", "HTTP 503, HTTP 502, then OK",
         script=[UNAVAILABLE, fakes.raw(502, b"<html>Bad Gateway</html>")], requests=3),
    Case("max-attempts-1", "HTTP 503, STSCACHE_MAX_ATTEMPTS=1", then=UNAVAILABLE, env={"STSCACHE_MAX_ATTEMPTS": "1"},
         error=("HTTP 503",), never=("gave up",), requests=1, detail="no retry"),
    Case("reset-twice-then-ok", "connection reset twice, then OK", script=[fakes.reset(), fakes.reset()], requests=3),
    Case("reset-forever", "connection reset forever", then=fakes.reset(),
         error=("could not reach STS", GAVE_UP), requests=3, detail="could not reach STS"),
    Case("truncated-then-ok", "truncated body, then OK", script=[fakes.truncated()], requests=2),
    Case("truncated-forever", "truncated body forever", then=fakes.truncated(),
         error=("could not reach STS", GAVE_UP), requests=3, detail=GAVE_UP),
    # Refusals are never retried.
    *(Case(f"refused-{code}", f"{code} (HTTP {status})", then=fakes.sts_error(status, code, message),
           error=(code, hint), never=("gave up",), requests=1, detail="no retry")
      for status, code, message, hint in REFUSALS),
    # Deadlines and timeouts. The lower bounds are the timeouts themselves (load cannot make a
    # timeout fire early); the upper ones sit well below what the bug would take.
    # Ignoring the 2 s deadline, the attempt would end at its 10 s default timeout.
    Case("no-answer-past-the-deadline", "no answer, STSCACHE_STS_TIMEOUT=2", then=fakes.hang(),
         env={"STSCACHE_STS_TIMEOUT": "2"}, error=("timed out", "STSCACHE_STS_TIMEOUT"), requests=1,
         at_least=1.8, within=7, detail="timed out"),
    # Ignoring the 1 s attempt timeout, the first attempt would hang until the 30 s deadline.
    Case("slow-attempt-retried", "first attempt hangs, STSCACHE_ATTEMPT_TIMEOUT=1", script=[fakes.hang()],
         env={"STSCACHE_ATTEMPT_TIMEOUT": "1", "STSCACHE_STS_TIMEOUT": "30"}, requests=2, at_least=0.9, within=15),
    # A deadline that did not cover the retries would let 10 attempts of 1 s run.
    Case("deadline-covers-the-retries", "every attempt hangs, deadline 2.5 s, 10 attempts allowed", then=fakes.hang(),
         env={"STSCACHE_ATTEMPT_TIMEOUT": "1", "STSCACHE_STS_TIMEOUT": "2.5", "STSCACHE_MAX_ATTEMPTS": "10"},
         error=("timed out",), requests=range(2, 4), within=8, detail="timed out"),
    Case("slow-answer-inside-the-deadline", "answer after 1 s, deadline 5 s", script=[fakes.slow(1.0)],
         env={"STSCACHE_STS_TIMEOUT": "5"}, requests=1, at_least=0.9),
    Case("timeout-typo", "STSCACHE_STS_TIMEOUT=30s (typo)", env={"STSCACHE_STS_TIMEOUT": "30s"},
         error=("STSCACHE_STS_TIMEOUT='30s'",), requests=0, detail="names the variable"),
]


@pytest.mark.parametrize("case", STS_CASES, ids=[case.id for case in STS_CASES])
def test_sts_scenario(stage: Stage, case: Case):
    stage.fake.script(case.script, then=case.then)
    result = stage.call(env=case.env)
    if case.error is None:
        assert_success(result)
        assert result.stderr == "", "credentials and nothing else"
    else:
        line = assert_clean_failure(result, *case.error)
        for word in case.never:
            assert word not in line, result
        assert not [p for p in stage.cache_files() if p.name.endswith(".entry")], "nothing cached"
    if isinstance(case.requests, range):
        assert stage.requests in case.requests
    else:
        assert stage.requests == case.requests
    assert case.at_least <= result.elapsed < case.within, f"took {result.elapsed:.2f}s"
    record(case.scenario, result, stage.requests, case.detail)


# --------------------------------------------------------------------------------------------
# 2. Clock skew
# --------------------------------------------------------------------------------------------


def stated_offset(text: str) -> float:
    """The clock offset a warning or error states, in seconds (positive: the local clock is
    behind STS's). The Date header has whole seconds, so it is off by up to a second or two."""
    match = re.search(r"the local clock is ((\d+) h ?)?((\d+) min ?)?((\d+) s ?)?(behind|ahead of) STS's clock", text)
    assert match, f"no clock offset stated in: {text}"
    seconds = int(match.group(2) or 0) * 3600 + int(match.group(4) or 0) * 60 + int(match.group(6) or 0)
    return seconds if match.group(7) == "behind" else -seconds


@pytest.mark.parametrize(
    "offset,skew_error,words",
    [
        (dt.timedelta(minutes=20), "SignatureDoesNotMatch", "behind"),
        (dt.timedelta(minutes=-20), "RequestExpired", "ahead of"),
    ],
    ids=["clock-20min-slow-signature-expired", "clock-20min-fast-request-expired"],
)
def test_clock_skew_is_corrected_once_with_a_warning(make_stage, offset: dt.timedelta, skew_error: str, words: str):
    stage = make_stage(clock_offset=offset, skew_error=skew_error)
    result = stage.call()
    creds = assert_success(result)
    assert stage.requests == 2
    status = 403 if skew_error == "SignatureDoesNotMatch" else 400
    assert stage.fake.refusals == [f"error {status} {skew_error}"]
    # The second request was signed with STS's time (and the fake checked its signature).
    second = stage.fake.requests[1].amz_date
    assert second is not None and abs((second - stage.fake.now()).total_seconds()) < 120
    warning = result.stderr.strip()
    assert len(warning.splitlines()) == 1, result
    assert warning.startswith("stscache: warning: the local clock is"), result
    assert f" {words} STS's clock" in warning, result
    assert abs(stated_offset(warning) - offset.total_seconds()) <= 3, result
    assert "NTP" in warning
    assert result.elapsed < NO_HANG
    record(f"local clock 20 min {'slow' if offset.total_seconds() > 0 else 'fast'} ({skew_error})", result,
           stage.requests, "'" + re.search(r"the local clock is [^(]*STS's clock", warning).group(0) + "'")
    # The session is cached like any other: the next call is a hit, with no warning.
    again = stage.call()
    assert again.credentials() == creds and again.stderr == ""
    assert stage.requests == 2


def test_clock_hours_fast_never_prints_credentials_it_thinks_expired(make_stage):
    # STS issues a one-hour session; by a clock three hours fast it expired two hours ago.
    stage = make_stage(clock_offset=dt.timedelta(hours=-3))
    result = stage.call()
    assert_no_crash(result)
    assert result.returncode == 1 and result.stdout == "", result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, result
    assert lines[0].startswith("stscache: warning: the local clock is"), result
    assert abs(stated_offset(lines[0]) + 3 * 3600) <= 3, result
    assert lines[1].startswith("stscache: STS answered AssumeRole") and "already past by the local clock" in lines[1]
    assert stage.requests == 2
    assert not [p for p in stage.cache_files() if p.name.endswith(".entry")]
    record("local clock 3 h fast", result, stage.requests, "skew warning, then 'already past by the local clock'")


def test_clock_skew_is_retried_only_once(make_stage):
    # Every answer is a stale-timestamp refusal dated two hours ahead: re-signing cannot help.
    stage = make_stage(clock_offset=dt.timedelta(hours=2), secret_key=None)
    stage.fake.script([], then=fakes.sts_error(
        403, "SignatureDoesNotMatch", "Signature expired: 20260101T000000Z is now earlier than 20260101T001500Z "
        "(20260101T003000Z - 15 min.)"))
    result = stage.call()
    assert_no_crash(result)
    assert result.returncode == 1 and result.stdout == "", result
    warning, error = result.stderr.strip().splitlines()
    assert warning.startswith("stscache: warning: the local clock is"), result
    assert abs(stated_offset(warning) - 7200) <= 3, result
    # STS errors name the profile and the role first (issue 23), then what STS said.
    assert error.startswith('stscache: profile "prod-role" (role arn:aws:iam::'), result
    assert "STS AssumeRole failed: SignatureDoesNotMatch: Signature expired" in error, result
    for needle in ("check the system clock", "gave up after 2 attempts"):
        assert needle in error, result
    assert abs(stated_offset(error) - 7200) <= 3, "the error states the offset too"
    assert "secret access key is wrong" not in result.stderr
    assert stage.requests == 2
    assert result.elapsed < NO_HANG
    record("STS refuses the timestamp even after re-signing", result, stage.requests, "error says 2 h behind")


# --------------------------------------------------------------------------------------------
# 5. Oversized and malformed STS answers
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def native(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The two C helpers, built for this run: ``stop_in_write`` (an LD_PRELOAD shim that freezes
    the binary half-way through writing a temp file) and ``peak_rss`` (a launcher that reports a
    program's own peak memory)."""
    compiler = shutil.which("cc") or shutil.which("clang") or shutil.which("gcc")
    if compiler is None:
        missing_peer("no C compiler (cc, clang or gcc) for the fault suite's helpers")
    out = tmp_path_factory.mktemp("native")
    here = Path(__file__).parent
    built = {"stop_in_write": out / "stop_in_write.so", "peak_rss": out / "peak_rss"}
    subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-o", str(built["stop_in_write"]),
                    str(here / "stop_in_write.c"), "-ldl"], check=True)
    subprocess.run([compiler, "-O2", "-o", str(built["peak_rss"]), str(here / "peak_rss.c")], check=True)
    return built


def run_measured(native: dict[str, Path], argv: list[str], env: dict[str, str], timeout: float = 60
                 ) -> tuple[Result, int]:
    """Runs the binary under ``peak_rss``: its result and its peak resident memory (KiB)."""
    with tempfile.NamedTemporaryFile("r") as report:
        result = run_binary([str(native["peak_rss"]), report.name, *argv], env, timeout)
        result.argv = argv
        text = Path(report.name).read_text().strip()
    assert text, f"peak_rss reported nothing\n{result}"
    return result, int(text)


def run_binary(argv: list[str], env: dict[str, str], timeout: float) -> Result:
    started = time.monotonic()
    completed = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    return Result(argv, completed.returncode, completed.stdout.decode(errors="replace"),
                  completed.stderr.decode(errors="replace"), time.monotonic() - started)


def measured_call(stage: Stage, native: dict[str, Path], *args: str, env: dict[str, str] | None = None
                  ) -> tuple[Result, int]:
    argv = [str(stage.home.stscache_bin), "credential-process", "--profile", stage.role_profile, *args]
    return run_measured(native, argv, stage.home.env(env))


# Peak memory allowed for a run that must reject a large input: far below the input sizes used.
MEMORY_BOUND_KIB = 64 * 1024

BAD_ANSWERS = {
    "10 MB body (Content-Length)": (fakes.huge_body(10 * 1024 * 1024), "larger than 1048576 bytes"),
    "10 MB body (no length)": (fakes.huge_body(10 * 1024 * 1024, declare_length=False), "larger than 1048576 bytes"),
    "XML bomb (billion laughs)": (fakes.xml_bomb(), "DOCTYPE or ENTITY declaration"),
    "XML nested 100 000 deep": (fakes.deep_nesting(), "nested deeper than"),
    "no SessionToken": (fakes.success(omit="SessionToken"), "has no <SessionToken>"),
    "no Expiration": (fakes.success(omit="Expiration"), "has no <Expiration>"),
    "no AccessKeyId": (fakes.success(omit="AccessKeyId"), "has no <AccessKeyId>"),
    "Expiration not a timestamp": (fakes.success(expiration_text="tomorrow"), "is not an RFC 3339 timestamp"),
    "HTML page with 200": (fakes.raw(200, b"<html><body>Welcome to the captive portal</body></html>"),
                           "found <html>"),
    "JSON with 200": (fakes.raw(200, b'{"Credentials": {}}', "application/json"), "invalid XML"),
    "not UTF-8": (fakes.raw(200, b"<AssumeRoleResponse>\xff\xfe</AssumeRoleResponse>", "text/xml"), "not valid UTF-8"),
    "empty 200": (fakes.raw(200, b"", "text/xml"), "invalid XML"),
    "HTML error page (HTTP 403)": (fakes.raw(403, b"<html>Forbidden by proxy</html>"), "not an STS error document"),
    "Expiration already past": (fakes.success(expiration_offset=dt.timedelta(hours=-1)), "already past"),
}


@pytest.mark.parametrize("name", list(BAD_ANSWERS))
def test_bad_sts_answer_is_a_clear_error(stage: Stage, native: dict[str, Path], name: str):
    answer, needle = BAD_ANSWERS[name]
    stage.fake.script([], then=answer)
    result, peak_kib = measured_call(stage, native)
    assert_clean_failure(result, needle)
    assert stage.requests == 1, "an answer that cannot be read is not retried"
    assert result.elapsed < NO_HANG
    assert peak_kib < MEMORY_BOUND_KIB, f"peak memory {peak_kib} KiB"
    assert not [p for p in stage.cache_files() if p.name.endswith(".entry")], "nothing cached"
    record(f"STS answers: {name}", result, stage.requests, f"'{needle}', peak {peak_kib // 1024} MiB")


# --------------------------------------------------------------------------------------------
# 3. TLS with a private CA, proxies
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return make_ca(tmp_path_factory.mktemp("other-ca"), name="some other CA")


def test_https_with_aws_ca_bundle(make_stage, ca: TLSFiles):
    stage = make_stage(tls=ca, host="localhost")
    result = stage.call(env={"AWS_CA_BUNDLE": str(ca.ca_cert)})
    assert_success(result)
    assert stage.requests == 1
    record("HTTPS, AWS_CA_BUNDLE = the fake's CA", result, stage.requests)


def test_https_with_profile_ca_bundle(make_stage, ca: TLSFiles):
    stage = make_stage(tls=ca, host="localhost", role_extra={"ca_bundle": str(ca.ca_cert)})
    result = stage.call()
    assert_success(result)
    assert stage.requests == 1
    record("HTTPS, ca_bundle in the profile", result, stage.requests)


@pytest.mark.parametrize("bundle", ["wrong CA", "system store", "missing file"])
def test_https_with_the_wrong_ca_fails_naming_what_to_check(make_stage, ca, other_ca, tmp_path: Path, bundle: str):
    stage = make_stage(tls=ca, host="localhost")
    env = {}
    if bundle == "wrong CA":
        env["AWS_CA_BUNDLE"] = str(other_ca.ca_cert)
    elif bundle == "missing file":
        env["AWS_CA_BUNDLE"] = str(tmp_path / "no-such-bundle.pem")
    result = stage.call(env=env)
    line = assert_clean_failure(result, "TLS", "ca_bundle, AWS_CA_BUNDLE")
    if bundle == "missing file":
        assert "no-such-bundle.pem" in line
    assert "gave up" not in line, "a certificate problem is not retried"
    assert stage.requests == 0, "no request may be sent over an unverified connection"
    assert result.elapsed < NO_HANG
    record(f"HTTPS, {bundle}", result, stage.requests, "TLS error naming ca_bundle, AWS_CA_BUNDLE")


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy"])
def test_https_proxy_tunnels_to_sts(make_stage, ca: TLSFiles, variable: str):
    stage = make_stage(tls=ca, host="localhost")
    with ConnectProxy() as proxy:
        result = stage.call(env={variable: proxy.url, "AWS_CA_BUNDLE": str(ca.ca_cert)})
        tunnels = list(proxy.tunnels)
    assert_success(result)
    assert tunnels == [f"localhost:{stage.fake.port}"]
    assert stage.requests == 1
    record(f"{variable} = CONNECT proxy", result, stage.requests, f"{len(tunnels)} tunnel")


def test_no_proxy_bypasses_the_proxy(make_stage, ca: TLSFiles):
    stage = make_stage(tls=ca, host="localhost")
    with ConnectProxy() as proxy:
        result = stage.call(env={"HTTPS_PROXY": proxy.url, "NO_PROXY": "example.com,localhost",
                                 "AWS_CA_BUNDLE": str(ca.ca_cert)})
        seen = list(proxy.tunnels) + list(proxy.forwarded)
    assert_success(result)
    assert seen == []
    assert stage.requests == 1
    record("HTTPS_PROXY + NO_PROXY=localhost", result, stage.requests, "0 tunnels")


def test_http_proxy_is_used_for_http_endpoints_only(stage: Stage):
    with ConnectProxy() as proxy:
        # HTTPS_PROXY alone does not apply to an http:// endpoint...
        direct = stage.call("--force-refresh", env={"HTTPS_PROXY": proxy.url})
        assert_success(direct)
        assert proxy.tunnels == [] and proxy.forwarded == []
        # ...HTTP_PROXY does.
        proxied = stage.call("--force-refresh", env={"HTTP_PROXY": proxy.url})
        forwarded = list(proxy.forwarded)
    assert_success(proxied)
    assert len(forwarded) == 1 and forwarded[0].startswith(f"http://127.0.0.1:{stage.fake.port}/")
    assert stage.requests == 2
    record("http:// endpoint: HTTPS_PROXY ignored, HTTP_PROXY used", proxied, stage.requests, "1 forwarded")


def test_proxy_down_is_a_clear_error(make_stage, ca: TLSFiles):
    stage = make_stage(tls=ca, host="localhost")
    closed = ClosedPort()
    try:
        result = stage.call(env={"HTTPS_PROXY": closed.endpoint, "AWS_CA_BUNDLE": str(ca.ca_cert)})
    finally:
        closed.close()
    assert_clean_failure(result, "HTTPS_PROXY")
    assert stage.requests == 0
    assert result.elapsed < 10
    record("HTTPS_PROXY points at a closed port", result, stage.requests, "names HTTPS_PROXY")


# --------------------------------------------------------------------------------------------
# 4. Signals and crashes
# --------------------------------------------------------------------------------------------


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def process_state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[0]


def finish(process: subprocess.Popen, started: float) -> Result:
    stdout, stderr = process.communicate(timeout=30)
    return Result(list(map(str, process.args)), process.returncode, stdout, stderr, time.monotonic() - started)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_while_waiting_on_sts_leaves_nothing_behind(stage: Stage, sig: signal.Signals):
    stage.fake.script([fakes.hang()])
    process = stage.popen(env={"STSCACHE_LOCK_TIMEOUT": "20"})
    started = time.monotonic()
    assert stage.fake.wait_for_requests(1, timeout=20), "the binary never reached STS"
    process.send_signal(sig)
    result = finish(process, started)
    assert result.returncode == -sig, result
    assert result.stdout == ""
    assert stage.temp_files() == []
    # The lock died with the process: the next call goes straight to STS (a lock still held
    # would make it wait its 20 s timeout).
    after = stage.call(env={"STSCACHE_LOCK_TIMEOUT": "20"})
    assert_success(after)
    assert after.elapsed < 10, f"the next call waited {after.elapsed:.2f}s: the lock was still held"
    assert stage.requests == 2
    record(f"{sig.name} while waiting on STS, then a normal call", after, stage.requests,
           f"killed run left no temp file or lock; next call {after.elapsed:.2f} s")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_while_waiting_on_the_lock_leaves_nothing_behind(stage: Stage, sig: signal.Signals):
    first = assert_success(stage.call())
    lock_path = stage.lock_file()
    with open(lock_path, "r+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another process is refreshing this role
        process = stage.popen("--force-refresh")
        started = time.monotonic()
        time.sleep(1.0)
        assert process.poll() is None, "the binary did not wait for the lock"
        assert stage.requests == 1
        process.send_signal(sig)
        result = finish(process, started)
        assert result.returncode == -sig, result
        assert result.stdout == ""
        assert stage.temp_files() == []
    after = stage.call("--force-refresh")
    creds = assert_success(after)
    assert creds != first
    assert after.elapsed < NO_HANG
    assert stage.requests == 2
    record(f"{sig.name} while waiting on another process's lock", result, stage.requests,
           f"no temp file; next call {after.elapsed:.2f} s")


def test_lock_wait_is_bounded_by_its_own_timeout(stage: Stage):
    assert_success(stage.call())
    with open(stage.lock_file(), "r+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        result = stage.call("--force-refresh", env={"STSCACHE_LOCK_TIMEOUT": "1.5"})
    assert_clean_failure(result, "held the lock", ROLE_ARN, "STSCACHE_LOCK_TIMEOUT")
    # Not before its 1.5 s; ignored, the wait would be the default 120 s.
    assert 1.4 <= result.elapsed < NO_HANG, f"took {result.elapsed:.2f}s"
    assert stage.requests == 1
    record("lock held elsewhere, STSCACHE_LOCK_TIMEOUT=1.5", result, stage.requests, "lock timeout error")


def stopped_mid_write(stage: Stage, native: dict[str, Path], *args: str) -> tuple[subprocess.Popen, float]:
    process = stage.popen(*args, env={"LD_PRELOAD": str(native["stop_in_write"])})
    started = time.monotonic()
    wait_until(lambda: process_state(process.pid) == "T" or process.poll() is not None, 20,
               "the binary to stop half-way through its write")
    assert process.poll() is None, finish(process, started)
    temps = stage.temp_files()
    assert len(temps) == 1, temps
    assert 0 < temps[0].stat().st_size, "the temp file should hold half an entry"
    return process, started


def test_sigkill_mid_write_keeps_the_previous_entry(stage: Stage, native: dict[str, Path]):
    first = assert_success(stage.call())
    entry = stage.entry_file()
    before = entry.read_bytes()

    process, started = stopped_mid_write(stage, native, "--force-refresh")
    half_written = stage.temp_files()[0]
    assert half_written.stat().st_size < len(before)
    process.send_signal(signal.SIGKILL)
    killed = finish(process, started)
    assert killed.returncode == -signal.SIGKILL
    assert killed.stdout == ""
    assert stage.requests == 2

    assert entry.read_bytes() == before, "the entry must be untouched by the killed writer"
    after = stage.call()
    assert assert_success(after) == first, "the previous session is still served"
    assert stage.requests == 2
    assert after.elapsed < NO_HANG
    record("SIGKILL half-way through writing the entry", after, stage.requests,
           "previous entry intact and served")

    # The next writer clears the leftover temp file once it is clearly abandoned (10 minutes).
    refreshed = stage.call("--force-refresh")
    assert_success(refreshed)
    assert half_written.exists(), "a young temp file may belong to a live writer"
    old = time.time() - 11 * 60
    os.utime(half_written, (old, old))
    assert_success(stage.call("--force-refresh"))
    assert not half_written.exists()
    assert stage.temp_files() == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_mid_write_finishes_the_entry_first(stage: Stage, native: dict[str, Path], sig: signal.Signals):
    first = assert_success(stage.call())
    process, started = stopped_mid_write(stage, native, "--force-refresh")
    process.send_signal(sig)  # held: the binary blocks termination signals around its write...
    process.send_signal(signal.SIGCONT)
    result = finish(process, started)
    # ...and acts on it once the entry is in place: it dies by the signal, before printing.
    assert result.returncode == -sig, result
    assert result.stdout == ""
    assert stage.temp_files() == []
    after = stage.call()
    creds = assert_success(after)
    assert creds != first, "the interrupted run's fresh session was stored whole"
    assert stage.requests == 2, "and is served from the cache"
    record(f"{sig.name} half-way through writing the entry", result, stage.requests,
           "entry finished, then the signal; no temp file")


# --------------------------------------------------------------------------------------------
# 5. Bad input on disk and in the environment
# --------------------------------------------------------------------------------------------


def write_config(stage: Stage, data: bytes) -> None:
    (stage.home.root / ".aws" / "config").write_bytes(data)


def test_huge_config_with_the_profile_at_the_end(stage: Stage, native: dict[str, Path]):
    config_path = stage.home.root / ".aws" / "config"
    real = config_path.read_bytes()
    filler = b"".join(b"# comment line %08d with some padding to make it long enough\n" % i for i in range(200_000))
    assert len(filler) > 10 * 1024 * 1024
    config_path.write_bytes(filler + real)
    result, peak_kib = measured_call(stage, native)
    assert_success(result)
    assert result.elapsed < NO_HANG
    assert peak_kib < 128 * 1024, f"peak memory {peak_kib} KiB for a {len(filler) >> 20} MiB config"
    record(f"{len(filler) >> 20} MiB config file, profile at the end", result, stage.requests,
           f"peak {peak_kib // 1024} MiB")


def test_huge_config_of_one_line(stage: Stage, native: dict[str, Path]):
    write_config(stage, b"[profile x]\nkey = " + b"v" * (12 * 1024 * 1024) + b"\n")
    result, peak_kib = measured_call(stage, native)
    assert_clean_failure(result, "prod-role")
    assert result.elapsed < NO_HANG
    assert peak_kib < 128 * 1024
    record("12 MiB single-line config", result, stage.requests, f"profile not found, peak {peak_kib // 1024} MiB")


def test_config_over_the_size_limit(stage: Stage, native: dict[str, Path]):
    config_path = stage.home.root / ".aws" / "config"
    with open(config_path, "r+b") as f:
        f.truncate(70 * 1024 * 1024)  # sparse: costs no disk
    result, peak_kib = measured_call(stage, native)
    assert_clean_failure(result, str(config_path), "MiB allowed")
    assert result.elapsed < NO_HANG
    assert peak_kib < MEMORY_BOUND_KIB
    record("70 MiB config file", result, stage.requests, "refused by size, before reading")


CONFIG_GARBAGE = {
    "random bytes": bytes(random.Random(5).randrange(256) for _ in range(64 * 1024)),
    "NUL bytes": b"[profile prod-role]\0\0\0role_arn = \0arn\n",
    "non-UTF-8 value": b"[profile prod-role]\nrole_arn = " + ROLE_ARN.encode() + b"\nrole_session_name = caf\xe9\n",
    "unterminated section": b"[profile prod-role\nrole_arn = x\n",
    "only a value": b"= = =\n\t\t=\n",
    "deep continuation lines": b"[profile prod-role]\nrole_arn =\n" + b"  nested = value\n" * 100_000,
}


@pytest.mark.parametrize("kind", list(CONFIG_GARBAGE))
def test_malformed_config_is_a_clear_error(stage: Stage, kind: str):
    write_config(stage, CONFIG_GARBAGE[kind])
    result = stage.call()
    assert_clean_failure(result)
    assert result.elapsed < NO_HANG
    assert stage.requests == 0
    message = result.stderr.strip().replace(str(stage.home.root), "~")
    record(f"config: {kind}", result, stage.requests, message[len("stscache: "):][:70] + "...")


def test_non_utf8_credentials_file(stage: Stage):
    (stage.home.root / ".aws" / "credentials").write_bytes(
        b"[base]\naws_access_key_id = AKIA\xff\xfe\naws_secret_access_key = x\n")
    result = stage.call()
    assert_clean_failure(result, "credentials", "UTF-8")
    assert stage.requests == 0
    record("credentials file: non-UTF-8 key", result, stage.requests, "names the file and line")


def test_config_that_is_not_a_file(stage: Stage, tmp_path: Path):
    fifo = tmp_path / "config-fifo"
    os.mkfifo(fifo)
    result = stage.call(env={"AWS_CONFIG_FILE": str(fifo)}, timeout=60)
    assert_clean_failure(result, "not a regular file")
    assert result.elapsed < NO_HANG
    record("AWS_CONFIG_FILE is a FIFO", result, stage.requests, "not a regular file (no hang)")


def test_non_utf8_environment_values(stage: Stage):
    env = stage.home.env()
    env_bytes = {k.encode(): v.encode() for k, v in env.items()}
    env_bytes[b"AWS_PROFILE"] = b"\xff\xfe"
    env_bytes[b"AWS_REGION"] = b"eu-\xe9ast-1"
    env_bytes[b"STSCACHE_REFRESH_WINDOW"] = b"\xff"
    argv = [str(stage.home.stscache_bin), "credential-process", "--profile", stage.role_profile]
    started = time.monotonic()
    completed = subprocess.run(argv, env=env_bytes, capture_output=True, timeout=30)
    result = Result(argv, completed.returncode, completed.stdout.decode(errors="replace"),
                    completed.stderr.decode(errors="replace"), time.monotonic() - started)
    assert_clean_failure(result, "refresh window")
    record("non-UTF-8 environment values", result, stage.requests, "clear error")


def plant_garbage(cache_dir: Path, seed: int = 7) -> int:
    """Fills a cache directory with junk: entry-named files of random bytes, a 10 MB one, files
    with odd or non-UTF-8 names. Returns how many files it made."""
    rng = random.Random(seed)
    made = 0
    for _ in range(20):
        name = "".join(rng.choice("0123456789abcdef") for _ in range(64)) + ".entry"
        (cache_dir / name).write_bytes(bytes(rng.randrange(256) for _ in range(rng.randrange(0, 70000))))
        os.chmod(cache_dir / name, 0o600)
        made += 1
    for raw_name in (b"\xff\xfe.entry", b"..entry", b".x.tmp", b"lock.lock", b"\x01\x02"):
        with open(os.path.join(os.fsencode(cache_dir), raw_name), "wb") as f:
            f.write(bytes(rng.randrange(256) for _ in range(100)))
        made += 1
    (cache_dir / ("ab" * 32 + ".entry")).write_bytes(b"STSCACHE" + os.urandom(10 * 1024 * 1024))
    return made + 1


def test_garbage_in_the_cache_directory_is_a_miss(stage: Stage, native: dict[str, Path]):
    first = assert_success(stage.call())
    entry = stage.entry_file()
    # The role's own entry replaced by random bytes, and junk all around it.
    entry.write_bytes(bytes(random.Random(3).randrange(256) for _ in range(4096)))
    planted = plant_garbage(stage.home.cache_dir)
    result, peak_kib = measured_call(stage, native)
    creds = assert_success(result)
    assert creds != first, "garbage is a miss: a fresh session"
    assert stage.requests == 2
    assert peak_kib < MEMORY_BOUND_KIB
    assert assert_success(stage.call()) == creds, "and the rewritten entry is a hit"
    assert stage.requests == 2
    record(f"random bytes in the entry + {planted} junk files in the cache dir", result, stage.requests,
           "miss, re-fetched, rewritten")


def test_other_commands_survive_garbage_in_the_cache_directory(stage: Stage, native: dict[str, Path]):
    assert_success(stage.call())
    plant_garbage(stage.home.cache_dir)
    binary = str(stage.home.stscache_bin)
    env = stage.home.env()
    slowest = 0.0
    for args in (["list"], ["list", "--json"], ["prompt", "--profile", "prod"], ["purge", "--expired"]):
        result, peak_kib = run_measured(native, [binary, *args], env)
        assert_no_crash(result)
        assert result.returncode == 0, result
        assert result.elapsed < NO_HANG and peak_kib < MEMORY_BOUND_KIB, (result, peak_kib)
        slowest = max(slowest, result.elapsed)
        if args[0] == "prompt":
            assert re.fullmatch(r"prod \d+m\n", result.stdout), result
    listed = run_binary([binary, "list", "--json"], env, 30)
    entries = json.loads(listed.stdout)
    assert [(e["roleArn"], e["state"]) for e in entries] == [(ROLE_ARN, "valid")], "purge --expired cleared the junk"
    assert stage.requests == 1
    record("list, prompt, purge --expired over a junk-filled cache dir", listed, stage.requests,
           f"all exit 0 (slowest {slowest:.2f} s); junk entries purged")


@pytest.mark.parametrize("kind", ["random bytes", "12 MiB"])
def test_prompt_with_a_broken_or_huge_config(stage: Stage, native: dict[str, Path], kind: str):
    assert_success(stage.call())
    config_path = stage.home.root / ".aws" / "config"
    if kind == "random bytes":
        config_path.write_bytes(CONFIG_GARBAGE["random bytes"])
    else:
        filler = b"".join(b"# comment line %08d with some padding to make it long enough\n" % i for i in range(200_000))
        config_path.write_bytes(filler + config_path.read_bytes())
    result, peak_kib = run_measured(native, [str(stage.home.stscache_bin), "prompt", "--profile", "prod"],
                                    stage.home.env())
    assert_no_crash(result)
    assert result.returncode == 0 and result.stderr == "", result
    if kind == "random bytes":
        assert result.stdout == "", "prompt prints nothing when it cannot tell"
    else:
        assert re.fullmatch(r"prod \d+m\n", result.stdout), result
    assert result.elapsed < NO_HANG and peak_kib < 128 * 1024, (result, peak_kib)
    record(f"prompt with a {kind} config", result, stage.requests,
           "prints nothing" if kind == "random bytes" else f"shows the session; peak {peak_kib // 1024} MiB")


def test_oversized_entry_is_a_miss(stage: Stage, native: dict[str, Path]):
    assert_success(stage.call())
    entry = stage.entry_file()
    entry.write_bytes(entry.read_bytes() + os.urandom(12 * 1024 * 1024))
    result, peak_kib = measured_call(stage, native)
    assert_success(result)
    assert stage.requests == 2
    assert peak_kib < MEMORY_BOUND_KIB
    assert entry.stat().st_size < 64 * 1024
    record("12 MiB entry file", result, stage.requests, f"miss, rewritten; peak {peak_kib // 1024} MiB")
