"""End-to-end harness for stscache: a local STS/IAM (moto_server) with signature checking on,
a count of the AssumeRole requests it received, throw-away HOMEs with AWS config files in the
delegating-profile pattern, and helpers that run the built binary, the real AWS CLI and boto3
in subprocesses with a clean environment.

Facts about moto 5 this harness relies on (read from its source, checked by test_harness.py):

* ``INITIAL_NO_AUTH_ACTION_COUNT=n``: the first ``n`` requests that reach a service's
  authorisation hook run unauthenticated; every later one has its SigV4 signature recomputed
  from the IAM user's (or assumed role's) secret and its action checked against IAM policies.
  ``/moto-api/...`` calls are not counted. ``POST /moto-api/reset-auth`` with a number sets the
  limit again and zeroes the counter; we post ``0`` after set-up so auth is on for everything.
* ``sts:GetCallerIdentity`` skips the policy check but not the signature check.
* AssumeRole needs an identity policy allowing ``sts:AssumeRole`` and, when the role exists, a
  trust policy whose ``Principal.AWS`` is ``"*"`` or lists the caller's exact ARN (a user ARN,
  or ``arn:aws:sts::<acct>:assumed-role/<role>/<session>`` for role chaining).
* The recorder (``MOTO_ENABLE_RECORDING``, ``MOTO_RECORDER_FILEPATH``) appends one JSON line
  per request moto receives, before dispatch, with the body base64-encoded. That file is
  "moto's request log" the cache tests count AssumeRole requests in.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence
from urllib.parse import parse_qs, urlsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = REPO_ROOT / ".venv" / "bin"
MOTO_SERVER = VENV_BIN / "moto_server"
AWS_CLI = VENV_BIN / "aws"
VENV_PYTHON = VENV_BIN / "python"

IN_CI = os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account

# Requests moto serves unauthenticated before signature checking starts: exactly the three
# bootstrap calls in MotoServer._bootstrap_admin (CreateUser, PutUserPolicy, CreateAccessKey).
BOOTSTRAP_UNAUTHENTICATED_CALLS = 3

ALLOW_ALL_POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)
ALLOW_ASSUME_ROLE_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
    }
)

CREDENTIAL_KEYS = ["Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"]


def libfaketime_path() -> Path | None:
    """The multi-threaded libfaketime from Debian's `faketime` package, if installed."""
    for pattern in ("faketime/libfaketimeMT.so.1", "faketime/libfaketime.so.1"):
        for lib_dir in (Path("/usr/lib/x86_64-linux-gnu"), Path("/usr/lib/aarch64-linux-gnu"), Path("/usr/lib")):
            candidate = lib_dir / pattern
            if candidate.exists():
                return candidate
    return None


def require_peer(path: Path, what: str) -> None:
    """A missing test peer is a failure in CI and an explicit, named skip elsewhere."""
    if path.exists():
        return
    message = f"{what} not found at {path}; run scripts/bootstrap"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def _die_with_parent() -> None:
    """preexec_fn: the kernel sends SIGTERM to the child if the test run itself dies, so no
    server outlives a killed pytest (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(home: Path | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment with nothing from the host that could change AWS or stscache behaviour:
    no AWS_*, no STSCACHE_*, no XDG_*, no proxies, no LD_PRELOAD/FAKETIME."""
    env = {
        "PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        # Never let botocore fall back to the instance metadata service (a non-loopback address).
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    for name in ("USER", "LOGNAME", "TMPDIR"):
        if name in os.environ:
            env[name] = os.environ[name]
    if home is not None:
        env["HOME"] = str(home)
    if extra:
        env.update(extra)
    return env


# --------------------------------------------------------------------------------------------
# Results of subprocess runs
# --------------------------------------------------------------------------------------------


@dataclass
class Result:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    elapsed: float

    def __str__(self) -> str:  # shown by pytest when an assertion on a Result fails
        return (
            f"$ {shlex.join(self.argv)}\n-> exit {self.returncode} in {self.elapsed:.2f}s\n"
            f"--- stdout ---\n{self.stdout}--- stderr ---\n{self.stderr}"
        )

    __repr__ = __str__

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def credentials(self) -> dict:
        """The Version-1 JSON of a successful credential-process run (asserting the contract)."""
        assert self.returncode == 0, self
        lines = self.stdout.split("\n")
        assert len(lines) == 2 and lines[1] == "", f"expected exactly one line on stdout\n{self}"
        document = json.loads(lines[0])
        assert list(document) == CREDENTIAL_KEYS, f"keys {list(document)}\n{self}"
        return document

    def json(self) -> dict:
        assert self.returncode == 0, self
        return json.loads(self.stdout)


def run(
    argv: Sequence[str],
    env: Mapping[str, str],
    timeout: float = 120,
    cwd: Path | None = None,
) -> Result:
    argv = [str(a) for a in argv]
    started = time.monotonic()
    try:
        completed = subprocess.run(
            argv,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        pytest.fail(f"timed out after {timeout}s: {shlex.join(argv)}\nstdout: {out}\nstderr: {err}")
    return Result(argv, completed.returncode, completed.stdout, completed.stderr, time.monotonic() - started)


# --------------------------------------------------------------------------------------------
# moto_server with auth on, and its request log
# --------------------------------------------------------------------------------------------


@dataclass
class AccessKey:
    user_name: str
    user_arn: str
    access_key_id: str
    secret_access_key: str


@dataclass
class RecordedRequest:
    method: str
    path: str
    params: dict[str, str]


class MotoServer:
    """moto_server on a free loopback port, auth on after bootstrap, every request recorded.

    ``clock_file``: when given, moto runs under libfaketime reading its offset from that file on
    every clock read, so a test can move STS's clock (the Expiration it issues) forward.
    """

    def __init__(self, workdir: Path, clock_file: Path | None = None):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "moto.log"
        self.recording_path = workdir / "requests.jsonl"
        self.clock_file = clock_file
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.admin: AccessKey | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> "MotoServer":
        require_peer(MOTO_SERVER, "moto_server")
        last_error = ""
        for _attempt in range(3):  # a free port can be taken between probing and binding
            self.port = free_port()
            self.recording_path.write_text("")
            env = clean_env(
                extra={
                    "INITIAL_NO_AUTH_ACTION_COUNT": str(BOOTSTRAP_UNAUTHENTICATED_CALLS),
                    "MOTO_ENABLE_RECORDING": "true",
                    "MOTO_RECORDER_FILEPATH": str(self.recording_path),
                    "MOTO_ACCOUNT_ID": ACCOUNT_ID,
                }
            )
            if self.clock_file is not None:
                lib = libfaketime_path()
                if lib is None:
                    (pytest.fail if IN_CI else pytest.skip)("libfaketime not installed; run scripts/bootstrap")
                if not self.clock_file.exists():
                    self.clock_file.write_text("+0\n")
                env.update(
                    {
                        "LD_PRELOAD": str(lib),
                        "FAKETIME_TIMESTAMP_FILE": str(self.clock_file),
                        "FAKETIME_NO_CACHE": "1",
                    }
                )
            log = open(self.log_path, "ab")
            self.process = subprocess.Popen(
                [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(self.port)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
            log.close()
            if self._wait_ready(timeout=60):
                try:
                    self._bootstrap_admin()
                except BaseException:
                    self.stop()  # never leave a server behind when set-up fails
                    raise
                return self
            last_error = self.log_path.read_text(errors="replace")[-2000:]
            self.stop()
        pytest.fail(f"moto_server did not start; log tail:\n{last_error}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=2) as response:
                    if response.status == 200:
                        return True
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.process = None

    def set_clock(self, offset: str) -> None:
        """Moves moto's clock (libfaketime syntax, e.g. ``+2h``); needs ``clock_file``."""
        assert self.clock_file is not None, "this MotoServer was started without a clock file"
        self.clock_file.write_text(offset + "\n")

    def _moto_api(self, path: str, body: bytes) -> dict:
        # Not form-encoded: moto reads the raw body (a form content type would leave it empty).
        request = urllib.request.Request(
            f"{self.endpoint}{path}", data=body, method="POST", headers={"Content-Type": "text/plain"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def _bootstrap_admin(self) -> None:
        """Creates the admin user with the only unauthenticated calls moto will ever serve, then
        turns signature checking on for every later request."""
        iam = self.client("iam", AccessKey("", "", "AKIABOOTSTRAPBOOTSTR", "bootstrap-secret"))
        name = "stscache-e2e-admin"
        user = iam.create_user(UserName=name)["User"]
        iam.put_user_policy(UserName=name, PolicyName="administrator", PolicyDocument=ALLOW_ALL_POLICY)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        self.admin = AccessKey(name, user["Arn"], key["AccessKeyId"], key["SecretAccessKey"])
        previous = self._moto_api("/moto-api/reset-auth", b"0")
        assert float(previous["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"]) == BOOTSTRAP_UNAUTHENTICATED_CALLS

    # -- clients --------------------------------------------------------------------------------

    def client(self, service: str, key: AccessKey | None = None, session_token: str | None = None):
        import boto3
        from botocore.config import Config

        key = key or self.admin
        assert key is not None
        return boto3.session.Session().client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret_access_key,
            aws_session_token=session_token,
            config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        )

    def caller_arn(self, credentials: Mapping[str, str]) -> str:
        """GetCallerIdentity signed with a credential-process result: proves those credentials
        are a live session moto issued, and says whose."""
        key = AccessKey("", "", credentials["AccessKeyId"], credentials["SecretAccessKey"])
        sts = self.client("sts", key, session_token=credentials["SessionToken"])
        return sts.get_caller_identity()["Arn"]

    # -- IAM set-up (signed with the admin's keys: auth is on) -----------------------------------

    def create_user(self, prefix: str = "base", policy: str = ALLOW_ASSUME_ROLE_POLICY) -> AccessKey:
        iam = self.client("iam")
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        user = iam.create_user(UserName=name)["User"]
        iam.put_user_policy(UserName=name, PolicyName="assume-roles", PolicyDocument=policy)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return AccessKey(name, user["Arn"], key["AccessKeyId"], key["SecretAccessKey"])

    def create_role(
        self,
        prefix: str,
        trusted: Iterable[str],
        may_assume_roles: bool = False,
        external_id: str | None = None,
        max_session_duration: int = 3600,
    ) -> str:
        """A role whose trust policy lists exactly the principal ARNs in ``trusted``."""
        statement: dict = {
            "Effect": "Allow",
            "Principal": {"AWS": list(trusted)},
            "Action": "sts:AssumeRole",
        }
        if external_id is not None:
            statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
        iam = self.client("iam")
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        role = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
            MaxSessionDuration=max_session_duration,
        )["Role"]
        if may_assume_roles:
            iam.put_role_policy(RoleName=name, PolicyName="assume-roles", PolicyDocument=ALLOW_ASSUME_ROLE_POLICY)
        return role["Arn"]

    # -- the request log ------------------------------------------------------------------------

    def requests(self) -> list[RecordedRequest]:
        """Every service request moto received so far, decoded from the recorder's log."""
        recorded = []
        for line in self.recording_path.read_text().splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            url = urlsplit(entry["url"])
            if url.path.startswith("/moto-api/"):
                continue
            body = entry.get("body") or ""
            if entry.get("body_encoded"):
                body = base64.b64decode(body).decode("utf-8", errors="replace")
            params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            if entry["method"] == "POST":
                params.update({k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()})
            if "Action" not in params:
                # A request whose action we cannot see (a body without Content-Length, say) would
                # make every count below an under-count: refuse to count rather than guess.
                raise AssertionError(f"moto recorded a request without a visible Action: {entry!r:.500}")
            recorded.append(RecordedRequest(entry["method"], url.path, params))
        return recorded

    def assume_role_requests(self, role_arn: str | None = None) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests()
            if r.params.get("Action") == "AssumeRole" and (role_arn is None or r.params.get("RoleArn") == role_arn)
        ]

    def assume_role_count(self, role_arn: str | None = None) -> int:
        return len(self.assume_role_requests(role_arn))


# --------------------------------------------------------------------------------------------
# Throw-away HOME with AWS config files (the delegating-profile pattern)
# --------------------------------------------------------------------------------------------


def render_ini(sections: Mapping[str, Mapping[str, str]]) -> str:
    out = io.StringIO()
    for name, values in sections.items():
        out.write(f"[{name}]\n")
        for key, value in values.items():
            out.write(f"{key} = {value}\n")
        out.write("\n")
    return out.getvalue()


@dataclass
class TempHome:
    """A HOME with ~/.aws/config and ~/.aws/credentials; the binary and the AWS tools run in it
    with a clean environment. Edit ``config``/``credentials`` and call ``write()``."""

    root: Path
    moto: MotoServer
    stscache_bin: Path | None
    config: dict[str, dict[str, str]] = field(default_factory=dict)
    credentials: dict[str, dict[str, str]] = field(default_factory=dict)
    env_overrides: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / ".aws").mkdir(exist_ok=True)
        # The file key store by default: the kernel keyring is per user and outlives the test.
        self.env_overrides.setdefault("STSCACHE_KEY_STORE", "file")

    # -- paths ----------------------------------------------------------------------------------

    @property
    def cache_dir(self) -> Path:
        """Where the binary's cache lives for this HOME when nothing overrides it."""
        if "STSCACHE_CACHE_DIR" in self.env_overrides:
            return Path(self.env_overrides["STSCACHE_CACHE_DIR"])
        if "XDG_CACHE_HOME" in self.env_overrides:
            return Path(self.env_overrides["XDG_CACHE_HOME"]) / "stscache"
        return self.root / ".cache" / "stscache"

    @property
    def key_store_dir(self) -> Path:
        """The file key store's directory for this HOME."""
        if "XDG_CONFIG_HOME" in self.env_overrides:
            return Path(self.env_overrides["XDG_CONFIG_HOME"]) / "stscache"
        return self.root / ".config" / "stscache"

    # -- config ---------------------------------------------------------------------------------

    def credential_process(self, role_profile: str, *extra: str) -> str:
        assert self.stscache_bin is not None, "this HOME has no stscache binary"
        return shlex.join([str(self.stscache_bin), "credential-process", "--profile", role_profile, *extra])

    def add_source(self, profile: str, key: AccessKey) -> None:
        """A profile with long-term keys: [profile X] in config, [X] in credentials."""
        self.config[f"profile {profile}"] = {"region": REGION, "endpoint_url": self.moto.endpoint}
        self.credentials[profile] = {
            "aws_access_key_id": key.access_key_id,
            "aws_secret_access_key": key.secret_access_key,
        }

    def add_role_profile(self, profile: str, role_arn: str, source_profile: str, **extra: str) -> None:
        values = {
            "role_arn": role_arn,
            "source_profile": source_profile,
            "region": REGION,
            "endpoint_url": self.moto.endpoint,
        }
        values.update(extra)
        self.config[f"profile {profile}"] = values

    def add_delegating_profile(self, profile: str, role_profile: str, *extra_args: str) -> None:
        """What users select: credential_process delegating to stscache's role profile."""
        self.config[f"profile {profile}"] = {
            "credential_process": self.credential_process(role_profile, *extra_args),
            "region": REGION,
            "endpoint_url": self.moto.endpoint,
        }

    def delegate(
        self,
        role_arn: str,
        source: AccessKey,
        profile: str = "prod",
        session_name: str | None = "alice",
        **role_extra: str,
    ) -> str:
        """The layout of the README: [profile prod] -> [profile prod-role] -> [base]. Returns
        the role profile's name."""
        role_profile = f"{profile}-role"
        if session_name is not None:
            role_extra.setdefault("role_session_name", session_name)
        if "base" not in self.credentials:
            self.add_source("base", source)
        self.add_role_profile(role_profile, role_arn, "base", **role_extra)
        self.add_delegating_profile(profile, role_profile)
        self.write()
        return role_profile

    def write(self) -> None:
        (self.root / ".aws" / "config").write_text(render_ini(self.config))
        (self.root / ".aws" / "credentials").write_text(render_ini(self.credentials))
        os.chmod(self.root / ".aws" / "credentials", 0o600)

    # -- environment ----------------------------------------------------------------------------

    def env(self, extra: Mapping[str, str] | None = None, faketime: str | None = None) -> dict[str, str]:
        env = clean_env(self.root, self.env_overrides)
        if faketime is not None:
            env.update(faketime_env(faketime))
        if extra:
            env.update(extra)
        return {k: v for k, v in env.items() if v is not None}

    # -- runners --------------------------------------------------------------------------------

    def stscache(
        self,
        profile: str,
        *args: str,
        env: Mapping[str, str] | None = None,
        faketime: str | None = None,
        timeout: float = 60,
    ) -> Result:
        assert self.stscache_bin is not None
        argv = [str(self.stscache_bin), "credential-process", "--profile", profile, *args]
        return run(argv, self.env(env, faketime), timeout=timeout)

    def stscache_popen(
        self, profile: str, *args: str, env: Mapping[str, str] | None = None, faketime: str | None = None
    ) -> subprocess.Popen:
        assert self.stscache_bin is not None
        argv = [str(self.stscache_bin), "credential-process", "--profile", profile, *args]
        return subprocess.Popen(
            argv,
            env=self.env(env, faketime),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def stscache_together(self, profile: str, count: int, *args: str, workdir: Path) -> list[Result]:
        """Starts ``count`` runs of the binary at the same instant: each waits in a shell on a
        FIFO, all are released by one open, then exec the binary (same pid)."""
        assert self.stscache_bin is not None
        fifo = workdir / f"start-line-{uuid.uuid4().hex[:8]}"
        os.mkfifo(fifo)
        argv = [str(self.stscache_bin), "credential-process", "--profile", profile, *args]
        processes = [
            subprocess.Popen(
                ["/bin/sh", "-c", ': < "$0"; exec "$@"', str(fifo), *argv],
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(count)
        ]
        release = None
        try:
            wait_until_blocked_on_fifo([p.pid for p in processes], timeout=30)
            started = time.monotonic()
            release = os.open(fifo, os.O_RDWR)  # never blocks; every reader's open returns now
            results = []
            for process in processes:
                stdout, stderr = process.communicate(timeout=120)
                results.append(Result(argv, process.returncode, stdout, stderr, time.monotonic() - started))
            return results
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
            if release is not None:
                os.close(release)
            fifo.unlink()

    def aws(self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 120) -> Result:
        require_peer(AWS_CLI, "AWS CLI")
        return run([str(AWS_CLI), *args], self.env(env), timeout=timeout)

    def boto3_caller_identity(self, profile: str, env: Mapping[str, str] | None = None) -> Result:
        """boto3.Session(profile_name=...) in a fresh interpreter, as an SDK user would."""
        require_peer(VENV_PYTHON, "virtualenv python")
        script = (
            "import json, sys, boto3\n"
            "session = boto3.Session(profile_name=sys.argv[1])\n"
            "print(json.dumps(session.client('sts').get_caller_identity()['Arn']))\n"
        )
        return run([str(VENV_PYTHON), "-c", script, profile], self.env(env), timeout=120)


def wait_until_blocked_on_fifo(pids: list[int], timeout: float) -> None:
    """Waits until every process sleeps in the kernel's FIFO open (wchan ``wait_for_partner``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = 0
        for pid in pids:
            try:
                wchan = Path(f"/proc/{pid}/wchan").read_text()
            except OSError:
                wchan = ""
            if wchan == "wait_for_partner":
                waiting += 1
            elif wchan in ("", "0"):  # wchan hidden: fall back to a generous pause
                time.sleep(3)
                return
        if waiting == len(pids):
            return
        time.sleep(0.05)
    pytest.fail(f"not all of {len(pids)} processes reached the start line in {timeout}s")


def faketime_env(offset: str) -> dict[str, str]:
    """Environment that runs a dynamically linked program (our binary: static Swift stdlib,
    dynamic libc) with its wall clock shifted by ``offset`` (libfaketime syntax: ``+50m``)."""
    lib = libfaketime_path()
    if lib is None:
        (pytest.fail if IN_CI else pytest.skip)("libfaketime not installed; run scripts/bootstrap")
    return {
        "LD_PRELOAD": str(lib),
        "FAKETIME": offset,
        # Not FAKETIME_DONT_FAKE_MONOTONIC: with it, libfaketime 0.9.10 fails absolute
        # clock_nanosleep on CLOCK_MONOTONIC with EINVAL (Python's time.sleep, for one).
        # A constant offset on the monotonic clock is harmless to timeouts.
    }


# --------------------------------------------------------------------------------------------
# Endpoints that do not answer
# --------------------------------------------------------------------------------------------


class ClosedPort:
    """A loopback port that refuses connections: bound, never listening, held until closed."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._sock.close()


class BlackHole:
    """A loopback server that accepts connections and never answers; counts connections."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.connections: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (socket.timeout, OSError):
                continue
            self.connections.append(conn)

    def wait_for_connection(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.connections:
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self.connections:
            conn.close()
        self._sock.close()


def files_under(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() or p.is_symlink())


def entry_files(cache_dir: Path, role_arn: str) -> list[Path]:
    """Cache entries for a role: the plaintext header names the role ARN (the brief's format),
    lock files and temp files do not contain it."""
    needle = role_arn.encode()
    return [p for p in files_under(cache_dir) if p.is_file() and needle in p.read_bytes()]


def stscache_binary_path() -> Path:
    configured = os.environ.get("STSCACHE_BIN")
    path = Path(configured) if configured else REPO_ROOT / ".build" / "release" / "stscache"
    if not path.is_absolute():
        path = REPO_ROOT / path
    return path


def assumed_arn(role_arn: str, session: str) -> str:
    """The ARN STS (and moto) gives a role session: what get-caller-identity shows."""
    return f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role_arn.split('/')[-1]}/{session}"


def assert_clean_failure(result: Result, *needles: str) -> str:
    """The failure contract: non-zero exit, nothing on stdout, one `stscache: ` line on stderr
    containing every needle. Returns that line."""
    assert result.returncode != 0, result
    assert result.stdout == "", result
    lines = result.stderr.rstrip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("stscache: "), result
    for needle in needles:
        assert needle in lines[0], f"{needle!r} missing from the error\n{result}"
    return lines[0]


def require_shell(name: str) -> str:
    """A shell the snippets are checked with: a failure in CI, a named skip elsewhere."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian package {name}); run scripts/bootstrap"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path
