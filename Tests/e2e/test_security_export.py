"""Issue 10, item 1: shell injection through ``export``, end to end.

A loopback STS (``FakeSTS`` over TLS, trusted through the profile's ``ca_bundle``: an endpoint
the user was pointed at) answers AssumeRole with a session token built to break out of shell
quotes by hiding the quote in a grapheme cluster (``'`` + U+0301, U+0600 + ``'``), or with an
access key id that is not ``[A-Z0-9]``. The built binary must refuse it: ``credential-process``
and ``export`` exit 1 with one ``stscache:`` line naming the source and the field (never the
value), print nothing on stdout, cache nothing; and ``eval "$(stscache export ...)"`` in bash,
zsh and fish creates no file.

The control reproduces the old quoting (by ``Character``, i.e. grapheme cluster) in Python and
shows each shell really runs the payload through it, so the hostile strings are real attacks.
The property test over random strings is the Swift one (ExportEvalPropertyTests): it drives the
renderer directly, since the binary no longer prints such values.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from support import fakes
from support.aws import AccessKey
from support.fakes import FakeSTS
from support.homes import Result, TempHome, clean_env, files_under, run
from support.peers import require_shell
from support.tls import TLSFiles, make_ca

pytestmark = pytest.mark.security

SOURCE = AccessKey("export-base", "arn:aws:iam::123456789012:user/export-base", "AKIAEXPORTBASE000001",
                   "export/source/secret+key0123456789abcdef")
ROLE_ARN = "arn:aws:iam::123456789012:role/ExportTarget"
SHELLS = ("bash", "zsh", "fish")


# --------------------------------------------------------------------------------------------
# Hostile answers
# --------------------------------------------------------------------------------------------


@dataclass
class Hostile:
    name: str
    field: str  # the field the error must name
    template: str  # "{marker}" is replaced by the file the payload touches

    def value(self, marker: Path) -> str:
        return self.template.replace("{marker}", str(marker))


HOSTILE = [
    Hostile("token-quote-combining-acute", "SessionToken", "tok'\u0301; touch {marker}; #"),
    Hostile("token-prepend-u0600-quote", "SessionToken", "tok\u0600'; touch {marker}; #"),
    Hostile("key-id-lowercase", "AccessKeyId", "ASIAfake0000000001"),
    Hostile("key-id-space", "AccessKeyId", "ASIA FAKE 00000001"),
]


def hostile_success(field: str, value: str) -> fakes.Answer:
    """A well-formed AssumeRoleResponse with ``field`` replaced by ``value``."""

    def answer(handler, request) -> None:  # noqa: ANN001 - the fake STS's handler type
        document = fakes.success_document(request, handler.fake.now()).decode()
        document = re.sub(f"<{field}>[^<]*</{field}>", lambda _: f"<{field}>{escape(value)}</{field}>", document)
        fakes.xml_response(handler, 200, document.encode())

    answer.__name__ = f"hostile {field}"
    return answer


# --------------------------------------------------------------------------------------------
# The old quoting, by grapheme cluster (a reproduction for the control)
# --------------------------------------------------------------------------------------------

# Grapheme_Cluster_Break=Prepend, the part the control needs.
PREPEND = {chr(c) for c in [*range(0x0600, 0x0606), 0x06DD, 0x070F, 0x08E2, 0x0D4E, 0x110BD, 0x110CD]}


def clusters(text: str) -> list[str]:
    """Enough of UAX #29 for the control: marks and ZWJ extend the cluster before them; a
    prepend character joins the one after it."""
    out: list[str] = []
    glue_next = False
    for ch in text:
        extends = unicodedata.category(ch) in ("Mn", "Mc", "Me") or ch == "\u200d"
        if out and (extends or glue_next):
            out[-1] += ch
        else:
            out.append(ch)
        glue_next = ch in PREPEND
    return out


def old_posix(value: str) -> str:
    return "'" + "".join("'\\''" if c == "'" else c for c in clusters(value)) + "'"


def old_fish(value: str) -> str:
    return "'" + "".join({"'": "\\'", "\\": "\\\\"}.get(c, c) for c in clusters(value)) + "'"


# --------------------------------------------------------------------------------------------
# Shells
# --------------------------------------------------------------------------------------------


def eval_in(shell: str, script: str, env: dict[str, str], cwd: Path) -> Result:
    """Runs ``script`` in ``shell`` without rc files."""
    flags = {"bash": ["--norc", "--noprofile"], "zsh": ["-f"], "fish": ["--no-config"]}[shell]
    return run([require_shell(shell), *flags, "-c", script], env, timeout=60, cwd=cwd)


def eval_export(shell: str, stscache: Path, profile: str, env: dict[str, str], cwd: Path) -> Result:
    """The way docs/exec-and-endpoint.md loads ``export``'s lines in each shell, then the token as bytes."""
    command = f"{stscache} export --profile {profile}"
    if shell == "fish":
        script = f"{command} --format fish | source; printenv AWS_SESSION_TOKEN"
    else:
        script = f'eval "$({command})"; printenv AWS_SESSION_TOKEN'
    return eval_in(shell, script, env, cwd)


# --------------------------------------------------------------------------------------------
# A HOME whose role profile points at the hostile STS
# --------------------------------------------------------------------------------------------


@dataclass
class Stage:
    fake: FakeSTS
    home: TempHome
    role_profile: str
    workdir: Path

    @property
    def marker(self) -> Path:
        return self.workdir / "pwned"

    def stscache(self, *args: str) -> Result:
        assert self.home.stscache_bin is not None
        return run([str(self.home.stscache_bin), *args], self.home.env(), timeout=60, cwd=self.workdir)

    def entries(self) -> list[Path]:
        if not self.home.cache_dir.exists():
            return []
        return [p for p in files_under(self.home.cache_dir) if p.name.endswith(".entry")]


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return make_ca(tmp_path_factory.mktemp("export-ca"))


@pytest.fixture
def make_stage(tmp_path: Path, stscache_bin: Path, ca: TLSFiles):
    started: list[FakeSTS] = []

    def factory(answer: fakes.Answer) -> Stage:
        fake = FakeSTS(tls=ca, host="localhost", secret_key=SOURCE.secret_access_key).script([], then=answer)
        started.append(fake)
        home = TempHome(tmp_path / f"home{len(started)}", fake, stscache_bin)
        role_profile = home.delegate(ROLE_ARN, SOURCE, ca_bundle=str(ca.ca_cert))
        workdir = tmp_path / f"work{len(started)}"
        workdir.mkdir()
        return Stage(fake, home, role_profile, workdir)

    yield factory
    for fake in started:
        fake.close()


def assert_refused(result: Result, stage: Stage, hostile: Hostile, value: str) -> None:
    """Exit 1, nothing on stdout, one stscache: line naming the source and the field, never
    the value; nothing cached; the payload did not run."""
    assert result.returncode == 1, result
    assert result.stdout == "", f"stdout must be empty\n{result}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stscache: "), result
    assert f"STS AssumeRole for {ROLE_ARN}" in lines[0], result
    assert f"malformed {hostile.field}" in lines[0], result
    assert value not in result.stderr, "the value must never be shown"
    assert SOURCE.secret_access_key not in result.stderr
    assert stage.entries() == [], "nothing may be cached"
    assert not stage.marker.exists(), "the payload ran"


# --------------------------------------------------------------------------------------------
# The tests
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hostile", HOSTILE, ids=[h.name for h in HOSTILE])
def test_hostile_sts_answer_is_refused(make_stage, hostile: Hostile):
    """credential-process and export (each format) refuse the answer: one line, no stdout, no cache."""
    stage = make_stage(None)  # the answer needs the marker path, which needs the stage
    value = hostile.value(stage.marker)
    stage.fake.script([], then=hostile_success(hostile.field, value))

    assert_refused(stage.stscache("credential-process", "--profile", stage.role_profile), stage, hostile, value)
    for fmt in ("env", "fish", "powershell", "json"):
        assert_refused(stage.stscache("export", "--profile", "prod", "--format", fmt), stage, hostile, value)
    # Nothing was cached, so every run asked STS again.
    assert stage.fake.count() == 5


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("hostile", HOSTILE[:2], ids=[h.name for h in HOSTILE[:2]])
def test_eval_of_export_runs_nothing(make_stage, hostile: Hostile, shell: str):
    """``eval "$(stscache export ...)"`` (``| source`` in fish) with the hostile STS: no file."""
    stage = make_stage(None)
    value = hostile.value(stage.marker)
    stage.fake.script([], then=hostile_success(hostile.field, value))

    result = eval_export(shell, stage.home.stscache_bin, "prod", stage.home.env(), stage.workdir)
    assert not stage.marker.exists(), f"{shell} ran the payload\n{result}"
    assert f"malformed {hostile.field}" in result.stderr, result
    assert value not in result.stderr
    assert result.stdout == "", "nothing exported"
    assert stage.entries() == []


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("hostile", HOSTILE[:2], ids=[h.name for h in HOSTILE[:2]])
def test_control_old_quoting_runs_the_payload(tmp_path: Path, hostile: Hostile, shell: str):
    """Control: through the old, cluster-based quoting the same token really runs ``touch`` in
    each shell, so the tests above would fail against the old binary's behaviour."""
    marker = tmp_path / "pwned"
    value = hostile.value(marker)
    if shell == "fish":
        line = f"set -gx AWS_SESSION_TOKEN {old_fish(value)}\n"
        script = "cat export.txt | source"
    else:
        line = f"export AWS_SESSION_TOKEN={old_posix(value)}\n"
        script = 'eval "$(cat export.txt)"'
    (tmp_path / "export.txt").write_text(line, encoding="utf-8")
    result = eval_in(shell, script, clean_env(tmp_path), tmp_path)
    assert marker.exists(), f"{shell} did not run the payload through the old quoting\n{line!r}\n{result}"


@pytest.mark.parametrize("shell", SHELLS)
def test_control_good_answer_exports(make_stage, shell: str):
    """Control for the harness: a well-formed answer goes through the same path and the shell
    gets the session token byte for byte (so a refusal above is the check, not a broken set-up)."""
    seen: list[str] = []

    def recording(handler, request) -> None:  # noqa: ANN001
        document = fakes.success_document(request, handler.fake.now())
        seen.append(re.search(rb"<SessionToken>([^<]*)</SessionToken>", document).group(1).decode())
        fakes.xml_response(handler, 200, document)

    stage = make_stage(recording)
    result = eval_export(shell, stage.home.stscache_bin, "prod", stage.home.env(), stage.workdir)
    assert result.returncode == 0, result
    assert result.stdout == seen[0] + "\n", result
    assert len(stage.entries()) == 1
