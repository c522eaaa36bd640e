"""moto_server as the tests' STS and IAM: signature checking on, and a count of the requests it
received. Also the one way scripts start it (``python -m support.moto serve``, below).

Facts about moto 5 this relies on (read from its source, checked by test_harness.py):

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
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping
from urllib.parse import parse_qs, urlsplit

import pytest

from .aws import ACCOUNT_ID, REGION, AccessKey
from .homes import clean_env
from .peers import MOTO_SERVER, libfaketime_path, missing_peer, require_peer


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


@dataclass
class RecordedRequest:
    method: str
    path: str
    params: dict[str, str]


def read_request_log(path: Path) -> list[RecordedRequest]:
    """Every service request in a moto recorder's log (``/moto-api/*`` calls left out)."""
    recorded = []
    for line in path.read_text().splitlines():
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
        if entry["method"] in ("GET", "HEAD") and url.path == "/" and not url.query and not body:
            # `stscache doctor --network` reads STS's clock from the Date header of a bare GET:
            # not an API call, and nothing to count.
            continue
        if "Action" not in params:
            # A request whose action we cannot see (a body without Content-Length, say) would
            # make every count below an under-count: refuse to count rather than guess.
            raise AssertionError(f"moto recorded a request without a visible Action: {entry!r:.500}")
        recorded.append(RecordedRequest(entry["method"], url.path, params))
    return recorded


class MotoServer:
    """moto_server on a free loopback port, auth on after bootstrap, every request recorded.

    ``clock_file``: when given, moto runs under libfaketime reading its offset from that file on
    every clock read, so a test can move STS's clock (the Expiration it issues) forward.
    ``signature_checking=False``: auth off for (practically) every request after the bootstrap,
    for the hops moto's auth cannot check (AssumeRole signed with moto's own GetSessionToken
    credentials; the unsigned AssumeRoleWithWebIdentity).
    """

    def __init__(self, workdir: Path, clock_file: Path | None = None, signature_checking: bool = True):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "moto.log"
        self.recording_path = workdir / "requests.jsonl"
        self.clock_file = clock_file
        self.signature_checking = signature_checking
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
                    missing_peer("libfaketime not installed; run scripts/bootstrap")
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
        if not self.signature_checking:
            self._moto_api("/moto-api/reset-auth", b"1000000000")

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
        return read_request_log(self.recording_path)

    def actions(self, action: str) -> list[RecordedRequest]:
        return [r for r in self.requests() if r.params.get("Action") == action]

    def assume_role_requests(self, role_arn: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.actions("AssumeRole") if role_arn is None or r.params.get("RoleArn") == role_arn]

    def assume_role_count(self, role_arn: str | None = None) -> int:
        return len(self.assume_role_requests(role_arn))


# --------------------------------------------------------------------------------------------
# The command line: how scripts/demo and bench/run start moto (the same way the tests do)
# --------------------------------------------------------------------------------------------

USAGE = """\
python -m support.moto serve --workdir DIR --env-file FILE [--user PREFIX [--role PREFIX]]
    Starts moto_server as the tests do (signature checking on after the admin's bootstrap,
    every request recorded in DIR/requests.jsonl), then writes FILE, shell assignments:
    moto_endpoint, moto_requests, moto_admin_access_key_id, moto_admin_secret_access_key;
    with --user, an IAM user allowed sts:AssumeRole (moto_user_name, moto_user_arn,
    moto_user_access_key_id, moto_user_secret_access_key); with --role, a role trusting that
    user (moto_role_arn). FILE appears whole once moto is ready. Runs until SIGTERM or SIGINT.
python -m support.moto count --workdir DIR
    Prints how many AssumeRole requests the moto serving DIR has received.
(PYTHONPATH=Tests/e2e, with .venv's python.)"""


def _serve(workdir: Path, env_file: Path, user_prefix: str | None, role_prefix: str | None) -> int:
    def stop(_signum: int, _frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server = MotoServer(workdir)
    try:
        server.start()
        assert server.admin is not None and server.process is not None
        values = {
            "moto_endpoint": server.endpoint,
            "moto_requests": str(server.recording_path),
            "moto_admin_access_key_id": server.admin.access_key_id,
            "moto_admin_secret_access_key": server.admin.secret_access_key,
        }
        if user_prefix is not None:
            user = server.create_user(user_prefix)
            values.update(moto_user_name=user.user_name, moto_user_arn=user.user_arn,
                          moto_user_access_key_id=user.access_key_id,
                          moto_user_secret_access_key=user.secret_access_key)
            if role_prefix is not None:
                values["moto_role_arn"] = server.create_role(role_prefix, [user.user_arn])
        partial = env_file.with_name(env_file.name + ".partial")
        partial.write_text("".join(f"{name}={shlex.quote(value)}\n" for name, value in values.items()))
        os.chmod(partial, 0o600)
        partial.rename(env_file)
        status = server.process.wait()
        print(f"moto: moto_server exited with status {status}; log: {server.log_path}", file=sys.stderr)
        return 1
    except (pytest.fail.Exception, pytest.skip.Exception) as failure:
        print(f"moto: {failure.msg}", file=sys.stderr)
        return 1
    finally:
        server.stop()


def main(argv: list[str]) -> int:
    options = dict(zip(argv[1::2], argv[2::2]))
    known = {"serve": {"--workdir", "--env-file", "--user", "--role"}, "count": {"--workdir"}}
    command = argv[0] if argv else ""
    if command not in known or len(argv) % 2 != 1 or not set(options) <= known[command] or "--workdir" not in options:
        print(USAGE, file=sys.stderr)
        return 2
    workdir = Path(options["--workdir"]).resolve()
    if command == "count":
        requests = read_request_log(workdir / "requests.jsonl")
        print(sum(1 for r in requests if r.params.get("Action") == "AssumeRole"))
        return 0
    if "--env-file" not in options or ("--role" in options and "--user" not in options):
        print(USAGE, file=sys.stderr)
        return 2
    return _serve(workdir, Path(options["--env-file"]).resolve(), options.get("--user"), options.get("--role"))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
