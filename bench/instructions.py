#!/usr/bin/env python3
"""Instructions (callgrind) of a cache hit and of `prompt`, for two stscache binaries side by side.

    .venv/bin/python bench/instructions.py OLD_BINARY NEW_BINARY

Instruction counts do not move with the machine's load, so two builds compare exactly even on a
busy machine (wall-clock comparisons are bench/run's job). Each binary gets its own throw-away
HOME and cache, filled by one miss against a local moto (the e2e support's MotoServer, signature
checking on); then `credential-process --profile prod-role` (a hit) and `prompt --profile prod`
run under callgrind three times each and the lowest count is kept. The binaries are measured
through stripped copies: valgrind 3.19 cannot read the DWARF 5 the toolchain writes.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "Tests" / "e2e"))
from support.homes import TempHome  # noqa: E402
from support.moto import MotoServer  # noqa: E402


def instructions(binary: Path, argv: list[str], env: dict[str, str]) -> int:
    runs = []
    for _ in range(3):
        result = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", str(binary), *argv],
                                env=env, capture_output=True, text=True)
        found = re.search(r"Collected : (\d+)", result.stderr)
        if result.returncode != 0 or not found:
            sys.exit(f"instructions: {binary} {' '.join(argv)} failed under callgrind:\n{result.stderr[-2000:]}")
        runs.append(int(found.group(1)))
    return min(runs)


def main() -> None:
    if len(sys.argv) != 3 or shutil.which("valgrind") is None:
        sys.exit(__doc__ if len(sys.argv) != 3 else "instructions: valgrind is not installed (apt-get install valgrind)")
    work = Path(tempfile.mkdtemp(prefix="stscache-instructions."))
    binaries = {}
    for name, given in (("before", sys.argv[1]), ("after", sys.argv[2])):
        binaries[name] = work / name
        subprocess.run(["strip", "-o", str(binaries[name]), given], check=True)
    moto = MotoServer(work / "moto").start()
    try:
        base = moto.create_user("bench")
        role = moto.create_role("bench", [base.user_arn])
        counts = {}
        for name, binary in binaries.items():
            home = TempHome(work / f"home-{name}", moto, binary)
            home.delegate(role, base)
            env = home.env()
            miss = subprocess.run([str(binary), "credential-process", "--profile", "prod-role"], env=env,
                                  capture_output=True, text=True)
            if miss.returncode != 0:
                sys.exit(f"instructions: the first call of {name} failed: {miss.stderr}")
            counts[name, "hit"] = instructions(binary, ["credential-process", "--profile", "prod-role"], env)
            counts[name, "prompt"] = instructions(binary, ["prompt", "--profile", "prod"], env)
        for what in ("hit", "prompt"):
            before, after = counts["before", what], counts["after", what]
            print(f"{what:6}  before {before / 1e6:.3f}M  after {after / 1e6:.3f}M  "
                  f"({(after - before) / 1e3:+.0f}K, {100 * (after - before) / before:+.1f}%)")
    finally:
        moto.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
