"""`bench/run --profile`: where a cache hit spends its time, next to the static hello floor.

Writes to the results directory: strace -c (syscall counts), strace -f -tt (the timeline),
perf stat (task clock, page faults; hardware counters where the machine exposes them) and
callgrind instruction counts (the top inclusive functions). valgrind cannot read the debug
info of the static-stdlib binaries, so callgrind runs on copies with the debug sections
stripped (symbols kept).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

OUT = Path(os.environ["BENCH_OUT"]) / "profile"
WORK = Path(os.environ["BENCH_WORK"])
STSCACHE = os.environ["BENCH_STSCACHE"]
HELLO = os.environ["BENCH_HELLO"]
HIT = [STSCACHE, "credential-process", "--profile", "bench-role"]


def log(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def run(argv: list[str], output: Path | None = None) -> str:
    completed = subprocess.run(argv, capture_output=True, text=True)
    text = completed.stderr
    if output is not None:
        output.write_text(text)
    return text


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    first = subprocess.run(HIT, capture_output=True, text=True)  # fill the cache
    if first.returncode != 0:
        sys.exit(f"bench: stscache failed: {first.stderr}")
    subjects = {"hit": HIT, "hello": [HELLO]}
    for name, argv in subjects.items():
        summary = []
        if shutil.which("strace"):
            counts = run(["strace", "-c", "-o", "/dev/stderr", *argv], OUT / f"{name}.strace-c.txt")
            total = [line for line in counts.splitlines() if line.strip().endswith("total")]
            summary.append(f"strace -c: {total[0].split()[3] if total else '?'} syscalls")
            run(["strace", "-f", "-tt", "-o", "/dev/stderr", *argv], OUT / f"{name}.strace-tt.txt")
        else:
            summary.append("strace not installed")
        if shutil.which("perf"):
            stat = run(["perf", "stat", "-r", "200", *argv], OUT / f"{name}.perf-stat.txt")
            for line in stat.splitlines():
                words = line.split()
                if "task-clock" in line:
                    summary.append(f"perf: task-clock {words[0]} ms")
                elif "page-faults" in line:
                    summary.append(f"{words[0]} page faults")
                elif "time elapsed" in line:
                    summary.append(f"{float(words[0]) * 1000:.2f} ms elapsed")
        if shutil.which("valgrind"):
            copy = WORK / f"{name}.nodebug"
            subprocess.run(["strip", "--strip-debug", "-o", str(copy), argv[0]], check=True)
            data = OUT / f"{name}.callgrind.out"
            run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={data}", str(copy), *argv[1:]])
            annotated = subprocess.run(["callgrind_annotate", "--inclusive=yes", str(data)],
                                       capture_output=True, text=True).stdout
            (OUT / f"{name}.callgrind.txt").write_text(annotated)
            total = [line for line in annotated.splitlines() if "PROGRAM TOTALS" in line]
            summary.append(f"callgrind: {total[0].split()[0] if total else '?'} instructions")
        print(f"{name}: " + "; ".join(summary))
    print(f"details in {OUT}")


if __name__ == "__main__":
    main()
