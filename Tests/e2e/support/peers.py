"""The test peers and where they are: the repository's .venv (moto_server, the AWS CLI, its
python), libfaketime, the shells, the stscache binary under test. A missing peer is a failure in
CI (``CI=true``) and a named skip elsewhere."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
VENV_BIN = REPO_ROOT / ".venv" / "bin"
MOTO_SERVER = VENV_BIN / "moto_server"
AWS_CLI = VENV_BIN / "aws"
VENV_PYTHON = VENV_BIN / "python"

IN_CI = os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def missing_peer(message: str) -> None:
    """A failure in CI, a named skip elsewhere: never a silent pass."""
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def libfaketime_path() -> Path | None:
    """The multi-threaded libfaketime from Debian's `faketime` package, if installed."""
    for pattern in ("faketime/libfaketimeMT.so.1", "faketime/libfaketime.so.1"):
        for lib_dir in (Path("/usr/lib/x86_64-linux-gnu"), Path("/usr/lib/aarch64-linux-gnu"), Path("/usr/lib")):
            candidate = lib_dir / pattern
            if candidate.exists():
                return candidate
    return None


def require_peer(path: Path, what: str) -> None:
    """A program the tests run, from .venv."""
    if path.exists():
        return
    missing_peer(f"{what} not found at {path}; run scripts/bootstrap")


def require_shell(name: str) -> str:
    """A shell the snippets are checked with; its path."""
    path = shutil.which(name)
    if path is None:
        missing_peer(f"{name} is not installed (Debian package {name}); run scripts/bootstrap")
    return path


def faketime_env(offset: str) -> dict[str, str]:
    """Environment that runs a dynamically linked program (our binary: static Swift stdlib,
    dynamic libc) with its wall clock shifted by ``offset`` (libfaketime syntax: ``+50m``)."""
    lib = libfaketime_path()
    if lib is None:
        missing_peer("libfaketime not installed; run scripts/bootstrap")
    return {
        "LD_PRELOAD": str(lib),
        "FAKETIME": offset,
        # Not FAKETIME_DONT_FAKE_MONOTONIC: with it, libfaketime 0.9.10 fails absolute
        # clock_nanosleep on CLOCK_MONOTONIC with EINVAL (Python's time.sleep, for one).
        # A constant offset on the monotonic clock is harmless to timeouts.
    }


def stscache_binary_path() -> Path:
    """The binary under test: $STSCACHE_BIN (relative to the repository), else the release build."""
    configured = os.environ.get("STSCACHE_BIN")
    path = Path(configured) if configured else REPO_ROOT / ".build" / "release" / "stscache"
    if not path.is_absolute():
        path = REPO_ROOT / path
    return path
