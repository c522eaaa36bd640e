"""Issue 3: the encrypted on-disk cache and single-flight refresh, end to end against moto with
signature checking on. AssumeRole requests are counted in moto's request log (support/moto.py);
time is moved with libfaketime (the binary's clock) and, where an entry must be expired while a
fresh session is not, with a second moto whose clock moves too."""

from __future__ import annotations

import base64
import datetime as dt
import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.aws import ACCOUNT_ID, AccessKey, assumed_arn
from support.fakes import BlackHole, ClosedPort
from support.homes import Result, TempHome, assert_clean_failure, entry_files, files_under
from support.moto import MotoServer

pytestmark = pytest.mark.cache

BOUNDED_FAILURE_SECONDS = 40






def parse_expiration(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class Prod:
    """One delegating setup: [profile prod] -> [profile prod-role] (role) -> [base]."""

    home: TempHome
    moto: MotoServer
    base: AccessKey
    role: str
    role_profile: str
    session: str = "alice"

    @property
    def arn(self) -> str:
        return assumed_arn(self.role, self.session)

    def call(self, *args: str, **kwargs) -> Result:
        return self.home.stscache(self.role_profile, *args, **kwargs)

    def count(self) -> int:
        return self.moto.assume_role_count(self.role)

    def set_endpoint(self, endpoint: str) -> None:
        self.home.config[f"profile {self.role_profile}"]["endpoint_url"] = endpoint
        self.home.write()

    @staticmethod
    def through(server) -> dict[str, str]:
        """The environment that sends this profile's STS requests (plain http to moto) through
        ``server`` as a proxy: STS made unreachable without changing the endpoint, which would
        change the cache entry (sessions are kept apart per endpoint)."""
        return {"http_proxy": server.endpoint}

    def entry(self) -> Path:
        found = entry_files(self.home.cache_dir, self.role)
        assert len(found) == 1, f"expected one cache entry for {self.role}, found {found}"
        return found[0]


def make_prod(home: TempHome, moto: MotoServer, base: AccessKey, prefix: str = "cached", **role_extra) -> Prod:
    role = moto.create_role(prefix, trusted=[base.user_arn])
    role_profile = home.delegate(role, base, session_name="alice", **role_extra)
    return Prod(home, moto, base, role, role_profile)


@pytest.fixture
def prod(home: TempHome, moto: MotoServer, base_user: AccessKey) -> Prod:
    return make_prod(home, moto, base_user)


# --- hits, misses, forced refresh ----------------------------------------------------------------


def test_first_call_fetches_then_the_cache_answers_until_forced(prod: Prod):
    first = prod.call().credentials()
    assert prod.count() == 1
    assert prod.moto.caller_arn(first) == prod.arn

    for _ in range(20):
        assert prod.call().credentials() == first
    assert prod.count() == 1, "cache hits must not call STS"

    forced = prod.call("--force-refresh").credentials()
    assert prod.count() == 2
    assert forced["AccessKeyId"] != first["AccessKeyId"]
    assert prod.moto.caller_arn(forced) == prod.arn

    assert prod.call().credentials() == forced, "the forced refresh overwrote the entry"
    assert prod.count() == 2


def test_aws_cli_and_boto3_share_one_cached_session(prod: Prod):
    for _ in range(2):
        cli = prod.home.aws("sts", "get-caller-identity", "--profile", "prod", "--output", "json")
        assert cli.ok, cli
        assert cli.json()["Arn"] == prod.arn
    sdk = prod.home.boto3_caller_identity("prod")
    assert sdk.ok, sdk
    assert prod.count() == 1


def test_fifty_concurrent_cold_callers_make_one_sts_call(prod: Prod, tmp_path: Path):
    results = prod.home.stscache_together(prod.role_profile, 50, workdir=tmp_path)

    key_ids = {result.credentials()["AccessKeyId"] for result in results}
    assert prod.count() == 1, f"{prod.count()} AssumeRole requests for 50 concurrent callers"
    assert len(key_ids) == 1, key_ids
    assert prod.moto.caller_arn(results[0].credentials()) == prod.arn


# --- damaged or foreign entries are misses ---------------------------------------------------------


def flip(index_of):
    def tamper(path: Path) -> None:
        data = bytearray(path.read_bytes())
        data[index_of(len(data))] ^= 0x5A
        path.write_bytes(bytes(data))

    return tamper


TAMPERINGS = {
    "flipped-last-byte": flip(lambda n: n - 1),
    "flipped-middle-byte": flip(lambda n: n // 2),
    "flipped-header-byte": flip(lambda n: 2),
    "truncated-to-half": lambda path: path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2]),
    "truncated-to-empty": lambda path: path.write_bytes(b""),
}


def assert_refetched(prod: Prod, before: dict, count_before: int) -> None:
    result = prod.call()
    creds = result.credentials()
    assert prod.count() == count_before + 1, "a damaged entry is a miss: exactly one new AssumeRole"
    assert creds["AccessKeyId"] != before["AccessKeyId"]
    assert prod.moto.caller_arn(creds) == prod.arn
    # ...and the entry was overwritten with a good one.
    assert prod.call().credentials() == creds
    assert prod.count() == count_before + 1


@pytest.mark.parametrize("tampering", sorted(TAMPERINGS))
def test_damaged_entry_is_a_miss(prod: Prod, tampering: str):
    before = prod.call().credentials()
    count = prod.count()
    TAMPERINGS[tampering](prod.entry())
    assert_refetched(prod, before, count)


def test_another_roles_entry_copied_over_is_a_miss(prod: Prod):
    other = make_prod(prod.home, prod.moto, prod.base, prefix="other", profile="other")
    # delegate() reused [base]; both roles now live in the same cache.
    before = prod.call().credentials()
    other_creds = other.call().credentials()
    count = prod.count()
    shutil.copyfile(other.entry(), prod.entry())

    result = prod.call()
    creds = result.credentials()
    assert creds["AccessKeyId"] != other_creds["AccessKeyId"], "served another role's credentials"
    assert prod.moto.caller_arn(creds) == prod.arn
    assert prod.count() == count + 1
    assert before["AccessKeyId"] != creds["AccessKeyId"]


def test_deleted_file_key_is_a_miss(prod: Prod):
    before = prod.call().credentials()
    count = prod.count()
    keys = files_under(prod.home.key_store_dir)
    assert keys, f"the file key store wrote nothing under {prod.home.key_store_dir}"
    for key in keys:
        key.unlink()
    assert_refetched(prod, before, count)


def test_changed_env_key_is_a_miss(make_home, moto: MotoServer, base_user: AccessKey):
    home = make_home(STSCACHE_KEY_STORE="env", STSCACHE_CACHE_KEY=base64.b64encode(os.urandom(32)).decode())
    prod = make_prod(home, moto, base_user)
    before = prod.call().credentials()
    assert prod.call().credentials() == before, "the env key store serves hits"
    count = prod.count()
    home.env_overrides["STSCACHE_CACHE_KEY"] = base64.b64encode(os.urandom(32)).decode()
    assert_refetched(prod, before, count)


# --- key stores -----------------------------------------------------------------------------------


def test_default_key_store_serves_hits(make_home, moto: MotoServer, base_user: AccessKey):
    # No STSCACHE_KEY_STORE: the kernel keyring, or the file store where keyctl is refused.
    prod = make_prod(make_home(STSCACHE_KEY_STORE=None), moto, base_user)
    first = prod.call()
    assert prod.call().credentials() == first.credentials()
    assert prod.count() == 1
    assert first.stderr == "", "the keyring fallback is silent unless --verbose"


def test_malformed_env_key_is_a_clear_error(make_home, moto: MotoServer, base_user: AccessKey):
    bad_key = base64.b64encode(b"sixteen-byte-key").decode()
    prod = make_prod(make_home(STSCACHE_KEY_STORE="env", STSCACHE_CACHE_KEY=bad_key), moto, base_user)
    line = assert_clean_failure(prod.call(), "STSCACHE_CACHE_KEY")
    assert bad_key not in line


# --- what is on disk --------------------------------------------------------------------------------


def test_cache_holds_no_plaintext_secret(prod: Prod):
    sets = [prod.call().credentials(), prod.call("--force-refresh").credentials()]
    secrets = [prod.base.secret_access_key]
    for creds in sets:
        secrets += [creds["SecretAccessKey"], creds["SessionToken"]]
    places = files_under(prod.home.cache_dir) + files_under(prod.home.key_store_dir)
    assert places
    for path in places:
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, f"a secret in plaintext in {path}"
            assert secret not in path.name
    assert {p.name for p in files_under(prod.home.cache_dir)}.isdisjoint({"alice", "prod", "prod-role", "base"})
    assert not any(prod.role.split("/")[-1] in p.name or ACCOUNT_ID in p.name for p in files_under(prod.home.cache_dir))


def test_cache_directory_is_0700_and_files_0600(prod: Prod):
    prod.call().credentials()
    prod.call("--force-refresh").credentials()
    cache_dir = prod.home.cache_dir
    assert cache_dir.is_dir() and not cache_dir.is_symlink()
    assert cache_dir.stat().st_mode & 0o777 == 0o700, oct(cache_dir.stat().st_mode)
    assert cache_dir.stat().st_uid == os.getuid()
    files = files_under(cache_dir)
    assert files
    for path in files + files_under(prod.home.key_store_dir):
        assert not path.is_symlink(), path
        assert path.stat().st_mode & 0o777 == 0o600, f"{path} is {oct(path.stat().st_mode & 0o777)}"


def test_cache_location_follows_the_environment(make_home, moto: MotoServer, base_user: AccessKey, tmp_path: Path):
    role = moto.create_role("where", trusted=[base_user.user_arn])

    home = make_home()
    home.stscache(home.delegate(role, base_user)).credentials()
    assert entry_files(home.root / ".cache" / "stscache", role)

    xdg = tmp_path / "xdg-cache"
    home = make_home(XDG_CACHE_HOME=str(xdg))
    home.stscache(home.delegate(role, base_user)).credentials()
    assert entry_files(xdg / "stscache", role)
    assert not (home.root / ".cache").exists()

    explicit = tmp_path / "explicit-cache"
    home = make_home(XDG_CACHE_HOME=str(tmp_path / "xdg-unused"), STSCACHE_CACHE_DIR=str(explicit))
    home.stscache(home.delegate(role, base_user)).credentials()
    assert entry_files(explicit, role)
    assert not (tmp_path / "xdg-unused").exists()


def unsafe_dir_symlink(tmp_path: Path) -> Path:
    target = tmp_path / "real-cache"
    target.mkdir(mode=0o700)
    link = tmp_path / "linked-cache"
    link.symlink_to(target)
    return link


def unsafe_dir_mode(mode: int):
    def make(tmp_path: Path) -> Path:
        path = tmp_path / f"cache-{mode:o}"
        path.mkdir()
        path.chmod(mode)
        return path

    return make


def unsafe_dir_foreign_owner(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        pytest.skip("making a directory owned by another user needs root (CI runs as root)")
    path = tmp_path / "cache-nobody"
    path.mkdir(mode=0o700)
    os.chown(path, 65534, 65534)
    return path


UNSAFE_DIRS = {
    "symlink": unsafe_dir_symlink,
    "group-writable": unsafe_dir_mode(0o770),
    "group-readable": unsafe_dir_mode(0o750),
    "other-accessible": unsafe_dir_mode(0o701),
    "owned-by-another-user": unsafe_dir_foreign_owner,
}


@pytest.mark.parametrize("kind", sorted(UNSAFE_DIRS))
def test_unsafe_cache_directory_is_refused(make_home, moto: MotoServer, base_user: AccessKey, tmp_path: Path, kind: str):
    unsafe = UNSAFE_DIRS[kind](tmp_path)
    home = make_home(STSCACHE_CACHE_DIR=str(unsafe))
    prod = make_prod(home, moto, base_user)

    assert_clean_failure(prod.call(), str(unsafe))
    assert not [p for p in files_under(unsafe.resolve()) if p.is_file()], "nothing written to a refused directory"


# --- STS unreachable ---------------------------------------------------------------------------------


def test_unreachable_sts_serves_valid_cached_credentials_with_a_warning(prod: Prod):
    cached = prod.call().credentials()
    closed = ClosedPort()
    try:
        # 50 minutes later, 10 minutes remain: inside the 15-minute window, so a refresh is
        # attempted, fails, and the still-valid credentials are served.
        result = prod.call(faketime="+50m", env=prod.through(closed))
    finally:
        closed.close()
    assert result.credentials() == cached
    assert result.stderr.strip(), "a failed refresh must warn on stderr"
    assert "stscache" in result.stderr
    assert result.elapsed < BOUNDED_FAILURE_SECONDS
    assert prod.count() == 1


def test_unreachable_sts_never_serves_expired_credentials(prod: Prod):
    prod.call().credentials()
    closed = ClosedPort()
    try:
        result = prod.call(faketime="+2h", env=prod.through(closed))
    finally:
        closed.close()
    assert_clean_failure(result)
    assert result.elapsed < BOUNDED_FAILURE_SECONDS


@pytest.mark.parametrize("dead_end", ["refused", "never-answers"])
def test_unreachable_sts_with_nothing_cached_fails_in_bounded_time(prod: Prod, dead_end: str):
    server = ClosedPort() if dead_end == "refused" else BlackHole()
    try:
        prod.set_endpoint(server.endpoint)
        result = prod.call(timeout=BOUNDED_FAILURE_SECONDS + 20)
    finally:
        server.close()
    assert_clean_failure(result)
    assert result.elapsed < BOUNDED_FAILURE_SECONDS, f"took {result.elapsed:.1f}s"


# --- refresh follows the clock --------------------------------------------------------------------------


def test_refresh_happens_inside_the_window_and_not_before(prod: Prod):
    first = prod.call().credentials()  # a one-hour session
    assert prod.call(faketime="+10m").credentials() == first, "50 minutes left: a hit"
    assert prod.count() == 1

    refreshed = prod.call(faketime="+50m").credentials()  # 10 minutes left < 15-minute window
    assert prod.count() == 2
    assert refreshed["AccessKeyId"] != first["AccessKeyId"]
    assert prod.moto.caller_arn(refreshed) == prod.arn


def test_refresh_window_option_widens_the_window(prod: Prod):
    first = prod.call().credentials()
    assert prod.call(faketime="+40m").credentials() == first, "20 minutes left, default window: a hit"
    assert prod.count() == 1
    refreshed = prod.call("--refresh-window", "1500", faketime="+40m").credentials()  # 25-minute window
    assert prod.count() == 2
    assert refreshed["AccessKeyId"] != first["AccessKeyId"]


def test_short_sessions_refresh_at_half_their_lifetime(home: TempHome, moto: MotoServer, base_user: AccessKey):
    prod = make_prod(home, moto, base_user, prefix="short", duration_seconds="900")
    first = prod.call().credentials()  # 15 minutes: the window is capped at 7.5 minutes
    assert prod.call(faketime="+5m").credentials() == first, "10 minutes left of 15: a hit, not a refresh"
    assert prod.count() == 1
    prod.call(faketime="+9m").credentials()  # 6 minutes left < 7.5
    assert prod.count() == 2


def test_expired_entry_is_refreshed(tmp_path: Path, clocked_moto: MotoServer, stscache_bin: Path):
    base = clocked_moto.create_user("clock-base")
    home = TempHome(tmp_path / "home", clocked_moto, stscache_bin)
    prod = make_prod(home, clocked_moto, base, prefix="expiring")
    first = prod.call().credentials()
    try:
        # Two hours on, for STS and for stscache alike: the cached session expired an hour ago.
        clocked_moto.set_clock("+2h")
        result = prod.call(faketime="+2h")
    finally:
        clocked_moto.set_clock("+0")
    creds = result.credentials()
    assert prod.count() == 2
    assert creds["AccessKeyId"] != first["AccessKeyId"]
    assert parse_expiration(creds["Expiration"]) > dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)
    assert clocked_moto.caller_arn(creds) == prod.arn


# --- single flight survives a killed holder ------------------------------------------------------------


def test_a_lock_holder_killed_with_sigkill_does_not_wedge_the_next_caller(prod: Prod):
    hole = BlackHole()
    try:
        holder = prod.home.stscache_popen(prod.role_profile, env=prod.through(hole))
        assert hole.wait_for_connection(timeout=20), "the first caller never reached STS"
        # The holder is inside its STS call, so it holds the entry's lock. A second caller with
        # a working path to STS must wait for it...
        waiter = prod.home.stscache_popen(prod.role_profile)
        time.sleep(1.5)
        assert waiter.poll() is None, "the second caller did not wait for the lock holder"
        # ...and carry on when the holder dies without unlocking.
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        started = time.monotonic()
        stdout, stderr = waiter.communicate(timeout=60)
    finally:
        hole.close()
    result = Result(waiter.args, waiter.returncode, stdout, stderr, time.monotonic() - started)
    creds = result.credentials()
    assert result.elapsed < 20, result
    assert prod.count() == 1
    assert prod.moto.caller_arn(creds) == prod.arn
