"""Issue 14, item 1: scripts/install and scripts/package. The binary under test ($STSCACHE_BIN)
is installed into temporary prefixes (and, as a .deb, system-wide with dpkg: removed again in a
finally block), then used the way a user would: through the AWS CLI, the shells' completion
systems and man."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from support.aws import AccessKey, assumed_arn
from support.homes import TempHome, clean_env, run
from support.moto import MotoServer
from support.peers import IN_CI, REPO_ROOT, missing_peer, require_shell

pytestmark = pytest.mark.install

INSTALL = REPO_ROOT / "scripts" / "install"
PACKAGE = REPO_ROOT / "scripts" / "package"
VERSION = REPO_ROOT / "scripts" / "version"
SHELL_EXAMPLES = REPO_ROOT / "config-examples" / "shell"
SUBCOMMANDS = ["credential-process", "prompt", "list", "purge", "export", "exec", "agent", "agent.run", "agent.status",
               "setup", "console", "doctor", "login", "log", "keys", "keys.add", "keys.list", "keys.remove", "keys.import",
               "keys.export", "keys.rotate"]

# What an install puts under PREFIX (man pages for the subcommands are checked separately).
EXPECTED = {
    "bin/stscache": 0o755,
    "share/bash-completion/completions/stscache": 0o644,
    "share/zsh/site-functions/_stscache": 0o644,
    "share/fish/vendor_completions.d/stscache.fish": 0o644,
    "share/man/man1/stscache.1": 0o644,
    "share/stscache/stscache.bash": 0o644,
    "share/stscache/stscache.zsh": 0o644,
    "share/stscache/stscache.fish": 0o644,
    "share/stscache/starship.toml": 0o644,
    "share/stscache/installed-files": 0o644,
    "lib/systemd/user/stscache-agent.service": 0o644,
}


def require_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        missing_peer(f"{name} is not installed (Debian package {package}); run scripts/bootstrap")
    return path


def scratch_path(binary: Path) -> Path:
    """SwiftPM's build directory the binary came from (scripts/install builds the man page
    generator there, from the checkouts it already holds); .build when it cannot be told."""
    for parent in binary.resolve().parents:
        if (parent / "checkouts").is_dir():
            return parent
    return REPO_ROOT / ".build"


def install(stscache_bin: Path, prefix: Path, *extra: str, env: dict[str, str] | None = None):
    argv = [str(INSTALL), "--prefix", str(prefix), "--binary", str(stscache_bin),
            "--scratch-path", str(scratch_path(stscache_bin)), *extra]
    return run(argv, {**os.environ, **(env or {})}, timeout=900)


def uninstall(prefix: Path, *extra: str, env: dict[str, str] | None = None):
    return run([str(INSTALL), "--uninstall", "--prefix", str(prefix), *extra], {**os.environ, **(env or {})})


def tree(root: Path) -> list[str]:
    """Every file, symlink and directory under root, relative, sorted."""
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def script_version() -> str:
    completed = subprocess.run([str(VERSION)], capture_output=True, text=True, check=True)
    return completed.stdout.strip()


def readelf_dynamic(binary: Path) -> str:
    require_tool("readelf", "binutils")
    return subprocess.run(["readelf", "-d", str(binary)], capture_output=True, text=True, check=True).stdout


def failed_library_opens(argv: list[str], env: dict[str, str]) -> tuple[list[str], str]:
    """Runs argv under strace and returns the failed opens of shared libraries (the loader's
    search of RUNPATH, LD_LIBRARY_PATH and hwcaps directories), and the whole trace."""
    strace = require_tool("strace", "strace")
    completed = subprocess.run([strace, "-f", "-e", "trace=open,openat,stat,newfstatat,access", "-o", "/dev/stderr", *argv],
                               env=env, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    failed = [line for line in completed.stderr.splitlines()
              if re.search(r'"[^"]*\.so[.0-9]*"', line) and "= -1 ENOENT" in line]
    return failed, completed.stderr


# --------------------------------------------------------------------------------------------
# scripts/install into a temporary prefix
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prefix(tmp_path_factory: pytest.TempPathFactory, stscache_bin: Path) -> Path:
    """One install shared by the read-only checks below."""
    prefix = tmp_path_factory.mktemp("install") / "prefix"
    result = install(stscache_bin, prefix)
    assert result.ok, result
    return prefix


def test_install_puts_every_file_in_place_with_its_mode(prefix: Path):
    for relative, mode in EXPECTED.items():
        path = prefix / relative
        assert path.is_file(), f"{relative} not installed; tree: {tree(prefix)}"
        assert stat.S_IMODE(path.stat().st_mode) == mode, f"{relative}: mode {oct(path.stat().st_mode)}"
    for command in SUBCOMMANDS:
        page = prefix / "share" / "man" / "man1" / f"stscache.{command}.1"
        assert page.is_file(), f"no man page for {command}; tree: {tree(prefix / 'share' / 'man')}"
        assert stat.S_IMODE(page.stat().st_mode) == 0o644
    for name in ("stscache.bash", "stscache.zsh", "stscache.fish", "starship.toml"):
        assert (prefix / "share" / "stscache" / name).read_bytes() == (SHELL_EXAMPLES / name).read_bytes()


def test_the_manifest_lists_exactly_what_was_installed(prefix: Path):
    lines = (prefix / "share" / "stscache" / "installed-files").read_text().splitlines()
    files = sorted(line[2:] for line in lines if line.startswith("f "))
    dirs = sorted(line[2:] for line in lines if line.startswith("d "))
    assert all(line[:2] in ("f ", "d ") for line in lines), lines
    on_disk_files = sorted(str(p) for p in prefix.rglob("*") if p.is_file())
    on_disk_dirs = sorted([str(prefix)] + [str(p) for p in prefix.rglob("*") if p.is_dir()])
    assert files == on_disk_files
    # The prefix did not exist, so every directory in it is the install's own.
    assert dirs == on_disk_dirs


def test_installed_binary_is_stripped_and_has_no_runpath(prefix: Path, stscache_bin: Path):
    installed = prefix / "bin" / "stscache"
    sections = subprocess.run(["readelf", "-S", "-W", str(installed)], capture_output=True, text=True, check=True).stdout
    assert ".symtab" not in sections and ".debug_info" not in sections, sections
    # Control: the build's own binary still has its symbol table, so the check can fail.
    built = subprocess.run(["readelf", "-S", "-W", str(stscache_bin)], capture_output=True, text=True, check=True).stdout
    assert ".symtab" in built
    assert installed.stat().st_size < stscache_bin.stat().st_size * 0.75  # 32 MB -> 19 MB
    dynamic = readelf_dynamic(installed)
    assert "RUNPATH" not in dynamic and "RPATH" not in dynamic, dynamic
    assert "(NEEDED)" in dynamic  # control: readelf did print the dynamic section


def test_installed_binary_searches_no_path_for_its_libraries(prefix: Path, tmp_path: Path):
    """No RUNPATH: the loader goes straight to ld.so.cache for libc, libm, libstdc++, libgcc_s."""
    installed = prefix / "bin" / "stscache"
    env = clean_env(tmp_path)
    failed, trace = failed_library_opens([str(installed), "prompt", "--profile", "nothing"], env)
    assert failed == [], "\n".join(failed)
    assert re.search(r'"/etc/ld.so.cache"', trace), trace  # control: opens are traced
    # Control: with a search path to walk, the same filter sees the probes.
    probes, _ = failed_library_opens([str(installed), "prompt", "--profile", "nothing"],
                                     {**env, "LD_LIBRARY_PATH": str(tmp_path / "no-such-dir")})
    assert len(probes) >= 4, probes


def test_installed_binary_prints_the_one_version(prefix: Path):
    result = run([prefix / "bin" / "stscache", "--version"], clean_env())
    assert result.ok, result
    version = script_version()
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", version), version
    assert result.stdout == version + "\n"
    assert f'let stscacheVersion = "{version}"' in (REPO_ROOT / "Sources" / "StscacheCommands" / "Version.swift").read_text()


def test_installed_binary_answers_a_cache_hit_through_the_aws_cli(
    prefix: Path, tmp_path: Path, moto: MotoServer, base_user: AccessKey
):
    home = TempHome(tmp_path / "home", moto, prefix / "bin" / "stscache")
    role = moto.create_role("installed", trusted=[base_user.user_arn])
    home.delegate(role, base_user, session_name="installed")

    for _ in range(2):
        result = home.aws("sts", "get-caller-identity", "--profile", "prod", "--output", "json")
        assert result.ok, result
        assert result.json()["Arn"] == assumed_arn(role, "installed")
    assert moto.assume_role_count(role) == 1  # the second call was a cache hit
    segment = run([prefix / "bin" / "stscache", "prompt", "--profile", "prod"], home.env())
    assert segment.ok and segment.stdout.startswith("prod "), segment


def test_bash_completion_loads_and_completes_commands(prefix: Path):
    bash = require_shell("bash")
    script = prefix / "share" / "bash-completion" / "completions" / "stscache"
    env = clean_env(extra={"PATH": f"{prefix / 'bin'}:/usr/bin:/bin"})
    listed = run([bash, "--norc", "--noprofile", "-c", f'source "{script}" && complete -p stscache'], env)
    assert listed.ok, listed
    assert re.search(r"complete .*-F _stscache stscache$", listed.stdout.strip()), listed
    completions = run([bash, "--norc", "--noprofile", "-c",
                       f'source "{script}"; COMP_WORDS=(stscache pu); COMP_CWORD=1; COMP_LINE="stscache pu"; '
                       f'COMP_POINT=${{#COMP_LINE}}; _stscache stscache pu stscache; printf "%s\\n" "${{COMPREPLY[@]}}"'], env)
    assert completions.ok, completions
    assert "purge" in completions.stdout.split(), completions
    # Control: without the script there is nothing to list.
    assert not run([bash, "--norc", "--noprofile", "-c", "complete -p stscache"], env).ok


def test_fish_completion_loads_and_completes_commands(prefix: Path):
    fish = require_shell("fish")
    script = prefix / "share" / "fish" / "vendor_completions.d" / "stscache.fish"
    env = clean_env(extra={"PATH": f"{prefix / 'bin'}:/usr/bin:/bin"})
    result = run([fish, "--no-config", "-c", f'source "{script}"; complete -C "stscache "'], env)
    assert result.ok, result
    offered = [line.split("\t")[0] for line in result.stdout.splitlines()]
    assert {"credential-process", "prompt", "purge"} <= set(offered), result
    control = run([fish, "--no-config", "-c", 'complete -C "stscache "'], env)
    assert "credential-process" not in control.stdout, control


def test_zsh_completion_is_found_on_fpath(prefix: Path):
    zsh = require_shell("zsh")
    site = prefix / "share" / "zsh" / "site-functions"
    assert (site / "_stscache").read_text().startswith("#compdef stscache")
    assert run([zsh, "-n", site / "_stscache"], clean_env()).ok
    script = f'fpath=("{site}" $fpath); autoload -Uz compinit; compinit -u -D; print -r -- "$_comps[stscache]"'
    result = run([zsh, "-f", "-c", script], clean_env())
    assert result.ok and result.stdout.strip() == "_stscache", result


def test_man_renders_every_page(prefix: Path):
    man = require_tool("man", "man-db")
    env = clean_env(extra={"MANPAGER": "cat", "PAGER": "cat", "MANWIDTH": "80"})
    lexgrog = require_tool("lexgrog", "man-db")
    pages = sorted((prefix / "share" / "man" / "man1").glob("*.1"))
    # One per command, and the parser's own `help` command.
    assert [p.name for p in pages] == sorted(["stscache.1"] + [f"stscache.{c}.1" for c in SUBCOMMANDS + ["help"]])
    for page in pages:
        result = run([man, "--warnings", "-l", str(page)], env)
        assert result.ok, result
        assert result.stderr == "", result  # groff warnings: none
        assert "stscache" in result.stdout
        # whatis/apropos can index it under the name `man` finds it by.
        whatis = run([lexgrog, str(page)], env)
        assert whatis.ok and f'"{page.stem} - ' in whatis.stdout, whatis
    top = run([man, "-l", str(prefix / "share" / "man" / "man1" / "stscache.1")], env).stdout
    assert "credential-process" in top and "NAME" in top, top
    prompt = run([man, "-l", str(prefix / "share" / "man" / "man1" / "stscache.prompt.1")], env).stdout
    assert "--format" in prompt or "\u2010\u2010format" in prompt, prompt


def test_the_agent_unit_runs_the_installed_binary(prefix: Path):
    unit = prefix / "lib" / "systemd" / "user" / "stscache-agent.service"
    text = unit.read_text()
    # Before issue 23 no unit was installed, and the example named /usr/local/bin whatever the prefix.
    assert f"\nExecStart={prefix}/bin/stscache agent\n" in text, text
    analyze = require_tool("systemd-analyze", "systemd")
    verified = run([analyze, "verify", "--man=no", str(unit)], clean_env())
    assert verified.ok, verified


def test_the_man_pages_have_files_environment_and_examples(prefix: Path):
    man = require_tool("man", "man-db")
    env = clean_env(extra={"MANPAGER": "cat", "PAGER": "cat", "MANWIDTH": "100"})
    top = run([man, "-l", str(prefix / "share" / "man" / "man1" / "stscache.1")], env).stdout
    for heading in ("ENVIRONMENT", "FILES", "EXAMPLES"):
        assert f"\n{heading}\n" in top, top
    assert "STSCACHE_CACHE_DIR" in top and ".written" in top and "stscache setup --undo --profile prod" in top
    # Sections in mdoc's order: before SEE ALSO when there is one.
    if "\nSEE ALSO\n" in top:
        assert top.index("\nEXAMPLES\n") < top.index("\nSEE ALSO\n")
    setup = run([man, "-l", str(prefix / "share" / "man" / "man1" / "stscache.setup.1")], env).stdout
    assert "\nFILES\n" in setup and "\nEXAMPLES\n" in setup, setup
    prompt = run([man, "-l", str(prefix / "share" / "man" / "man1" / "stscache.prompt.1")], env).stdout
    assert "placeholders below" not in prompt, prompt


def test_install_says_what_next_and_uninstall_keeps_the_cli_working(tmp_path: Path, stscache_bin: Path,
                                                                    moto: MotoServer, base_user: AccessKey):
    prefix = tmp_path / "prefix"
    # PATH without the prefix (but with swift, which builds the man page generator).
    tools = os.path.dirname(require_tool("swift", "the Swift toolchain"))
    installed = install(stscache_bin, prefix, env={"PATH": f"{tools}:/usr/bin:/bin"})
    assert installed.ok, installed
    # Next steps (issue 23: it ended with "installed"), and no build noise that reads like a failure.
    assert "Next steps:" in installed.stderr, installed
    assert f"{prefix}/bin is not on your PATH" in installed.stderr, installed
    assert f"source {prefix}/share/stscache/stscache.bash" in installed.stderr, installed
    assert "stscache setup --profile NAME" in installed.stderr, installed
    assert "stscache agent --install-unit" in installed.stderr, installed
    assert "warning" not in installed.stderr.lower() and "deprecated" not in installed.stderr, installed
    on_path = install(stscache_bin, prefix, env={"PATH": f"{prefix}/bin:{tools}:/usr/bin:/bin"})
    assert on_path.ok and "not on your PATH" not in on_path.stderr, on_path

    # The user's step: setup with the installed binary, then the AWS CLI through it.
    binary = prefix / "bin" / "stscache"
    home = TempHome(tmp_path / "home", moto, binary)
    role = moto.create_role("uninstall", trusted=[base_user.user_arn])
    home.add_source("base", base_user)
    home.add_role_profile("dev", role, "base", role_session_name="dev")
    home.write()
    assert run([str(binary), "setup", "--profile", "dev"], home.env()).ok
    assert home.aws("sts", "get-caller-identity", "--profile", "dev").ok
    user_env = {"HOME": str(home.root)}

    # Uninstall refuses while dev's credential_process names the binary, and says both ways out.
    # (Before issue 23 it removed the binary and `aws --profile dev` failed with "No such file".)
    refused = uninstall(prefix, env=user_env)
    assert not refused.ok, refused
    assert "dev" in refused.stderr and "stscache setup --undo --profile dev" in refused.stderr, refused
    assert "--force" in refused.stderr, refused
    assert binary.is_file()
    forced = uninstall(prefix, "--force", "--dry-run", env=user_env)
    assert forced.ok and "warning: profile dev in" in forced.stderr, forced
    assert binary.is_file()

    assert run([str(binary), "setup", "--undo", "--profile", "dev"], home.env()).ok
    removed = uninstall(prefix, env=user_env)
    assert removed.ok, removed
    assert not prefix.exists(), tree(prefix)
    # The CLI assumes the role itself again.
    after = home.aws("sts", "get-caller-identity", "--profile", "dev", "--output", "json")
    assert after.ok and after.json()["Arn"] == assumed_arn(role, "dev"), after


# --------------------------------------------------------------------------------------------
# Dry run, uninstall, DESTDIR
# --------------------------------------------------------------------------------------------


def test_dry_run_changes_nothing(tmp_path: Path, stscache_bin: Path):
    prefix = tmp_path / "prefix"
    result = install(stscache_bin, prefix, "--dry-run")
    assert result.ok, result
    assert not prefix.exists()
    assert f"{prefix}/bin/stscache" in result.stdout, result
    assert f"{prefix}/share/man/man1/stscache.1" in result.stdout, result


def test_uninstall_leaves_nothing(tmp_path: Path, stscache_bin: Path):
    prefix = tmp_path / "prefix"
    assert install(stscache_bin, prefix).ok
    assert (prefix / "bin" / "stscache").exists()
    # Installing again over it (an upgrade) keeps one manifest that still owns the directories.
    assert install(stscache_bin, prefix).ok
    result = uninstall(prefix)
    assert result.ok, result
    assert not prefix.exists(), tree(prefix)


def test_uninstall_removes_only_its_own_files(tmp_path: Path, stscache_bin: Path):
    prefix = tmp_path / "prefix"
    (prefix / "share" / "man" / "man1").mkdir(parents=True)
    (prefix / "bin").mkdir()
    foreign = [prefix / "share" / "man" / "man1" / "other.1", prefix / "bin" / "other"]
    for path in foreign:
        path.write_text("someone else's\n")
    before = tree(prefix)
    assert install(stscache_bin, prefix).ok
    (prefix / "share" / "fish" / "vendor_completions.d" / "other.fish").write_text("# later\n")
    result = uninstall(prefix)
    assert result.ok, result
    assert tree(prefix) == sorted(before + ["share/fish", "share/fish/vendor_completions.d",
                                            "share/fish/vendor_completions.d/other.fish"])
    assert "not empty" in result.stderr, result


def test_uninstall_ignores_manifest_lines_outside_the_prefix(tmp_path: Path, stscache_bin: Path):
    prefix = tmp_path / "prefix"
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    assert install(stscache_bin, prefix).ok
    manifest = prefix / "share" / "stscache" / "installed-files"
    manifest.write_text(manifest.read_text() + f"f {victim}\nf {prefix}/../victim\n")
    result = uninstall(prefix)
    assert result.ok, result
    assert victim.read_text() == "keep me\n"
    assert not prefix.exists(), tree(prefix)


def test_destdir_stages_files_with_their_final_paths(tmp_path: Path, stscache_bin: Path):
    destdir = tmp_path / "stage"
    result = install(stscache_bin, Path("/opt/stscache"), env={"DESTDIR": str(destdir)})
    assert result.ok, result
    assert (destdir / "opt/stscache/bin/stscache").is_file()
    manifest = (destdir / "opt/stscache/share/stscache/installed-files").read_text()
    assert "f /opt/stscache/bin/stscache\n" in manifest
    assert str(destdir) not in manifest
    assert uninstall(Path("/opt/stscache"), env={"DESTDIR": str(destdir)}).ok
    # The prefix goes with its contents; its parent (DESTDIR/opt) is outside what the install owns.
    assert tree(destdir) == ["opt"], tree(destdir)


# --------------------------------------------------------------------------------------------
# The Debian package
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory, stscache_bin: Path) -> Path:
    for tool, package in (("dpkg-deb", "dpkg"), ("dpkg-shlibdeps", "dpkg-dev"), ("lintian", "lintian")):
        require_tool(tool, package)
    out = tmp_path_factory.mktemp("deb")
    # lintian runs in its own test below.
    result = run([str(PACKAGE), "--binary", str(stscache_bin), "--scratch-path", str(scratch_path(stscache_bin)),
                  "--output", str(out), "--no-lintian"], dict(os.environ), timeout=900)
    assert result.ok, result
    path = Path(result.stdout.strip())
    assert path.is_file() and path.parent == out, result
    return path


def deb_field(deb: Path, name: str) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb), name], capture_output=True, text=True, check=True).stdout.strip()


def test_package_version_and_dependencies(deb: Path):
    assert deb_field(deb, "Version") == script_version()
    assert deb.name == f"stscache_{script_version()}_{deb_field(deb, 'Architecture')}.deb"
    depends = [d.strip() for d in deb_field(deb, "Depends").split(",")]
    names = [d.split()[0] for d in depends]
    # What the binary loads (readelf NEEDED: libc, libm, libstdc++, libgcc_s) and libcurl, which
    # Transport dlopen()s on a miss; nothing used only to build (no -dev packages).
    assert {"libc6", "libstdc++6", "libgcc-s1", "libcurl4"} <= set(names), depends
    assert not [n for n in names if n.endswith("-dev")], depends
    assert all(re.fullmatch(r"[a-z0-9.+-]+ \(>= [^)]+\)", d) for d in depends), depends


def test_package_contents(deb: Path):
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    entries = {line.split()[-1].lstrip("."): line.split()[:2] for line in listing.splitlines()}
    assert entries["/usr/bin/stscache"][0] == "-rwxr-xr-x" and entries["/usr/bin/stscache"][1] == "root/root"
    for path in ("/usr/share/man/man1/stscache.1.gz", "/usr/share/man/man1/stscache.prompt.1.gz",
                 "/usr/share/bash-completion/completions/stscache", "/usr/share/zsh/vendor-completions/_stscache",
                 "/usr/share/fish/vendor_completions.d/stscache.fish", "/usr/share/stscache/stscache.bash",
                 "/usr/share/doc/stscache/copyright", "/usr/share/doc/stscache/changelog.gz"):
        assert path in entries, f"{path} missing:\n{listing}"
        assert entries[path] == ["-rw-r--r--", "root/root"], (path, entries[path])
    assert not [p for p in entries if p.endswith("installed-files")], listing  # dpkg keeps the list
    unit = "/usr/lib/systemd/user/stscache-agent.service"
    assert entries.get(unit) == ["-rw-r--r--", "root/root"], listing
    text = subprocess.run(f"dpkg-deb --fsys-tarfile {deb} | tar -xOf - .{unit}", shell=True, capture_output=True,
                          text=True, check=True).stdout
    assert "\nExecStart=/usr/bin/stscache agent\n" in text, text
    # Debian's zsh reads vendor-completions, not site-functions (that is /usr/local's).
    assert not [p for p in entries if "site-functions" in p], listing


def test_package_is_lintian_clean(deb: Path):
    lintian = require_tool("lintian", "lintian")
    result = run([lintian, "--display-info", str(deb)], dict(os.environ), timeout=600)
    errors_and_warnings = [line for line in result.stdout.splitlines() if re.match(r"[EW]: ", line)]
    assert errors_and_warnings == [], result
    assert result.ok, result


def test_dpkg_installs_runs_and_removes_the_package(deb: Path, tmp_path: Path, moto: MotoServer, base_user: AccessKey):
    if os.geteuid() != 0:
        missing_peer("dpkg -i needs root")
    dpkg = require_tool("dpkg", "dpkg")
    before = subprocess.run(["dpkg-query", "-W", "-f", "${Status}", "stscache"], capture_output=True, text=True)
    if "installed" in before.stdout.split():
        pytest.fail("a stscache package is already installed on this machine; this test would replace it "
                    "(dpkg -r stscache first)")
    files: list[str] = []
    try:
        installed = run([dpkg, "-i", str(deb)], dict(os.environ), timeout=300)
        assert installed.ok, installed
        files = [f for f in subprocess.run(["dpkg", "-L", "stscache"], capture_output=True, text=True,
                                           check=True).stdout.splitlines() if Path(f).is_file()]
        assert "/usr/bin/stscache" in files

        version = run(["/usr/bin/stscache", "--version"], clean_env())
        assert version.ok and version.stdout == script_version() + "\n", version

        home = TempHome(tmp_path / "home", moto, Path("/usr/bin/stscache"))
        role = moto.create_role("deb", trusted=[base_user.user_arn])
        home.delegate(role, base_user, session_name="deb")
        for _ in range(2):
            result = home.aws("sts", "get-caller-identity", "--profile", "prod", "--output", "json")
            assert result.ok, result
            assert result.json()["Arn"] == assumed_arn(role, "deb")
        assert moto.assume_role_count(role) == 1

        removed = run([dpkg, "-r", "stscache"], dict(os.environ), timeout=300)
        assert removed.ok, removed
        assert [f for f in files if os.path.lexists(f)] == []
    finally:
        subprocess.run(["dpkg", "--purge", "stscache"], capture_output=True)
    status = subprocess.run(["dpkg-query", "-W", "-f", "${Status}", "stscache"], capture_output=True, text=True)
    assert "installed" not in status.stdout.split(), status.stdout
