"""Fixtures for stscache's end-to-end tests. The machinery lives in support/."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from support.aws import AccessKey
from support.homes import TempHome
from support.moto import MotoServer
from support.peers import stscache_binary_path


def _restore_terminal_signals() -> None:
    """A shell without job control starts a background command with SIGINT and SIGQUIT ignored
    (nohup: SIGHUP), and an ignored signal stays ignored across exec: every program the tests
    start would then shrug off the Ctrl-C, Ctrl-\\ and hang-ups the signal tests send. Give
    them their usual dispositions (a handler is reset to the default in each child at exec) so
    the suite does not depend on how CI launched it."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGQUIT) == signal.SIG_IGN:
        signal.signal(signal.SIGQUIT, signal.SIG_DFL)
    # nohup, and some job runners, start a command with SIGHUP ignored: the same inheritance
    # would keep `exec`'s SIGHUP test from ever reaching its child.
    for number in (signal.SIGHUP, signal.SIGTERM):
        if signal.getsignal(number) == signal.SIG_IGN:
            signal.signal(number, signal.SIG_DFL)


_restore_terminal_signals()


def pytest_configure(config: pytest.Config) -> None:
    for name, what in (
        ("harness", "self-tests of the e2e support code (no stscache binary needed)"),
        ("credential_process", "credential-process end to end through the AWS CLI and boto3"),
        ("cache", "the encrypted cache, single flight, refresh and expiry"),
        ("commands", "prompt, list, purge, export, exec and the shell snippets"),
        ("sources", "MFA, web identity, instance/container and process credential sources"),
        ("faults", "fault injection against a loopback fake STS (docs/network.md)"),
        ("security", "attacks on the cache, the shell, children and endpoints (docs/SECURITY.md)"),
        ("endpoint", "the local container-credentials endpoint (exec --server) with real SDK clients"),
        ("agent", "stscache agent: refresh cycles against a scripted STS, signals, crashes, MFA, moto"),
        ("keys", "stscache keys: long-term keys in the encrypted store, import, rotation (kill -9 at each step), attacks"),
        ("install", "scripts/install and scripts/package: files, modes, completions, man pages, uninstall, the .deb with dpkg and lintian"),
        ("adoption", "setup (delegating pairs, backup, undo), doctor on broken layouts, console against a fake federation endpoint"),
        ("sso", "IAM Identity Center profiles: the CLI's token cache, refresh, the fake portal and OIDC, chaining"),
    ):
        config.addinivalue_line("markers", f"{name}: {what}")


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """Shows the fault suite's scenario table (test_faults.py writes it) when that suite ran."""
    rows = getattr(sys.modules.get("test_faults"), "ROWS", None)
    if not rows:
        return
    from test_faults import TABLE_PATH

    terminalreporter.section("fault-injection scenarios")
    if TABLE_PATH.exists():
        terminalreporter.write(TABLE_PATH.read_text())
        terminalreporter.write_line(f"(written to {TABLE_PATH})")


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory):
    """One moto_server for the session: signature checking and IAM policies on for every request
    after the admin bootstrap; every request recorded."""
    server = MotoServer(tmp_path_factory.mktemp("moto")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def clocked_moto(tmp_path_factory: pytest.TempPathFactory):
    """A second moto_server whose clock a test can move (libfaketime reading an offset file), for
    sessions that must be expired from the binary's point of view while fresh ones are not.
    Tests that use it reset the clock to +0 when they finish."""
    workdir = tmp_path_factory.mktemp("moto-clocked")
    server = MotoServer(workdir, clock_file=workdir / "clock").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def stscache_bin() -> Path:
    """The binary under test ($STSCACHE_BIN, else .build/release/stscache). Missing is a
    failure, not a skip: these tests are its specification."""
    path = stscache_binary_path()
    if not path.is_file():
        pytest.fail(f"stscache binary not found at {path}; build it with scripts/build or set STSCACHE_BIN")
    return path


@pytest.fixture
def base_user(moto: MotoServer) -> AccessKey:
    """A fresh IAM user allowed sts:AssumeRole: the long-term keys of a test's [base] profile."""
    return moto.create_user("base")


@pytest.fixture
def make_home(tmp_path: Path, moto: MotoServer, stscache_bin: Path):
    """Factory for throw-away HOMEs (several per test when a test needs them)."""
    counter = iter(range(1000))

    def factory(**env_overrides: str) -> TempHome:
        return TempHome(tmp_path / f"home{next(counter)}", moto, stscache_bin, env_overrides=dict(env_overrides))

    return factory


@pytest.fixture
def home(make_home) -> TempHome:
    return make_home()
