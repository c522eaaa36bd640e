"""Throw-away HOMEs with AWS config files in the delegating-profile pattern, the clean
environment every subprocess gets, and runners for the binary, the AWS CLI and boto3."""

from __future__ import annotations

import io
import json
import os
import struct
import re
import shlex
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import pytest

from .aws import CREDENTIAL_KEYS, REGION, AccessKey
from .peers import AWS_CLI, VENV_BIN, VENV_PYTHON, faketime_env, require_peer

if TYPE_CHECKING:
    from .fakes import FakeSTS
    from .moto import MotoServer


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
        assert re.fullmatch(r"\d{12}", document["AccountId"]), f"AccountId {document['AccountId']!r}\n{self}"
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
    moto: MotoServer | FakeSTS  # the STS the profiles point at
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



def files_under(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() or p.is_symlink())


def entry_files(cache_dir: Path, role_arn: str) -> list[Path]:
    """Cache entries for a role: the plaintext header names the role ARN (the brief's format),
    lock files and temp files do not contain it. The audit log names it too, and is left out."""
    needle = role_arn.encode()
    return [p for p in files_under(cache_dir)
            if p.is_file() and not p.name.startswith("audit.log") and needle in p.read_bytes()]



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


# A cache entry's header (format 2), for tests that forge one.
ISSUED_OFFSET = 8 + 1 + 2 + 32 + 8
EXPIRY_OFFSET = ISSUED_OFFSET + 8


def forged_entry(genuine: bytes, stem: str, role_arn: str, session: str, expiration: int,
                 issued: int = 1_800_000_000) -> bytes:
    """A format-2 header claiming ``role_arn`` with the genuine entry's key id, and a body that
    is not a ciphertext under the cache key (an attacker without the key can write no other)."""
    role, name = role_arn.encode(), session.encode()
    length = 8 + 1 + 2 + 32 + 8 + 8 + 8 + 32 + 2 + len(role) + 2 + len(name)
    header = b"STSCACHE" + bytes([2]) + struct.pack(">H", length) + bytes.fromhex(stem)
    header += genuine[43:51] + struct.pack(">qq", issued, expiration) + bytes(32)
    header += struct.pack(">H", len(role)) + role + struct.pack(">H", len(name)) + name
    return header + os.urandom(12 + 64 + 16)
