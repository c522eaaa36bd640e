"""Runs every measurement of bench/run and prints the table. Called by bench/run, which builds the
binaries, starts moto (as the e2e tests do) and sets up the throw-away HOME and environment (read
from BENCH_*).

Pairs are measured interleaved: each pair is several hyperfine invocations (`-N`, `--warmup`,
`--export-json`), alternating which command goes first, and the medians are taken over all the
runs of all rounds, so a burst of load on the machine hits both sides of a ratio alike.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "Tests" / "e2e"))
from support.moto import read_request_log  # noqa: E402

QUICK = os.environ.get("BENCH_QUICK") == "1"
OUT = Path(os.environ["BENCH_OUT"])
WORK = Path(os.environ["BENCH_WORK"])
REQUESTS = Path(os.environ["BENCH_REQUESTS"])
STSCACHE = os.environ["BENCH_STSCACHE"]
HELLO = os.environ["BENCH_HELLO"]
MICRO = os.environ["BENCH_MICRO"]
PYTHON = os.environ["BENCH_PYTHON"]
BENCH = Path(os.environ["BENCH_DIR"])
HOME = Path(os.environ["HOME"])

ROLE_ARN = os.environ["BENCH_ROLE_ARN"]
ROLE_PROFILE = "bench-role"
SESSION_NAME = "bench"
CACHE_DIR = HOME / ".cache" / "stscache"

HIT = f"{STSCACHE} credential-process --profile {ROLE_PROFILE}"
MISS = f"{STSCACHE} credential-process --profile {ROLE_PROFILE} --force-refresh"
PROMPT = f"{STSCACHE} prompt --profile bench"
BOTOCORE_HELPER = f"{PYTHON} {BENCH}/python/botocore_helper.py --profile {ROLE_PROFILE}"
BOTO3_ASSUME = f"{PYTHON} {BENCH}/python/boto3_assume.py {ROLE_ARN} {SESSION_NAME}"


def log(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# hyperfine, interleaved
# --------------------------------------------------------------------------------------------


def hyperfine(name: str, commands: dict[str, str], runs: int, rounds: int, warmup: int) -> dict[str, list[float]]:
    """Each command's run times (seconds) over `rounds` hyperfine invocations, order alternating."""
    if QUICK:
        runs, rounds, warmup = max(3, runs // 10), min(rounds, 2), max(1, warmup // 5)
    times: dict[str, list[float]] = {label: [] for label in commands}
    labels = list(commands)
    for round_index in range(rounds):
        order = labels if round_index % 2 == 0 else list(reversed(labels))
        export = OUT / f"{name}.round{round_index + 1}.json"
        argv = ["hyperfine", "-N", "--style", "none", "--warmup", str(warmup), "--runs", str(runs),
                "--export-json", str(export)]
        for label in order:
            argv += ["--command-name", label, commands[label]]
        completed = subprocess.run(argv, capture_output=True, text=True)
        if completed.returncode != 0:
            sys.exit(f"bench: hyperfine failed for {name}:\n{completed.stdout}\n{completed.stderr}")
        for result in json.loads(export.read_text())["results"]:
            if any(code != 0 for code in result.get("exit_codes", [])):
                sys.exit(f"bench: {result['command']} exited non-zero during {name}")
            times[result["command"]].extend(result["times"])
    return times


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------


@dataclass
class Row:
    what: str
    value: str
    against: str = ""
    against_value: str = ""
    comparison: str = ""
    budget: str = ""
    result: str = ""


@dataclass
class Table:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *args: str, **kwargs: str) -> None:
        self.rows.append(Row(*args, **kwargs))

    def render(self) -> str:
        header = Row("measurement", "median", "compared with", "median", "ratio / diff", "budget", "")
        rows = [header] + self.rows
        columns = list(vars(header))
        widths = {c: max(len(getattr(r, c)) for r in rows) for c in columns}
        lines = []
        for index, row in enumerate(rows):
            lines.append("  ".join(getattr(row, c).ljust(widths[c]) for c in columns).rstrip())
            if index == 0:
                lines.append("  ".join("-" * widths[c] for c in columns))
        return "\n".join(lines + [""] + [f"note: {n}" for n in self.notes])


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def ms(value: float) -> str:
    return f"{value:.2f} ms" if value < 100 else f"{value:.0f} ms"


# --------------------------------------------------------------------------------------------
# Helpers around the world bench/run set up
# --------------------------------------------------------------------------------------------


def run(command: str, check: bool = True) -> subprocess.CompletedProcess:
    completed = subprocess.run(command.split(), capture_output=True, text=True)
    if check and completed.returncode != 0:
        sys.exit(f"bench: `{command}` failed ({completed.returncode}):\n{completed.stderr}")
    return completed


def assume_role_count() -> int:
    """AssumeRole requests moto has received so far (its recorder writes one JSON line each)."""
    return sum(1 for request in read_request_log(REQUESTS) if request.params.get("Action") == "AssumeRole")


def empty_cache() -> None:
    shutil.rmtree(CACHE_DIR, ignore_errors=True)


def fill_cache_and_check_hit() -> None:
    """A first miss fills the cache (and creates the key); then the hit must really be a hit."""
    empty_cache()
    first = credential_document(run(HIT).stdout)
    calls = assume_role_count()
    again = credential_document(run(HIT).stdout)
    if again["AccessKeyId"] != first["AccessKeyId"] or assume_role_count() != calls:
        sys.exit("bench: the second credential-process call was not answered from the cache")


def prompt_available() -> bool:
    """`prompt` exits 0 whatever it finds; a build without it answers with a usage error."""
    completed = subprocess.run(PROMPT.split(), capture_output=True, text=True)
    return completed.returncode == 0


def credential_document(text: str) -> dict:
    lines = text.split("\n")
    if len(lines) != 2 or lines[1] != "":
        raise ValueError(f"expected one line of JSON, got {text!r}")
    return json.loads(lines[0])


def peak_rss_kib(command: str, repeats: int = 5) -> int:
    """Median peak resident set (KiB) over a few runs, from GNU time's %M."""
    values = []
    for _ in range(repeats):
        completed = subprocess.run(["/usr/bin/time", "-f", "%M", *command.split()], capture_output=True, text=True)
        if completed.returncode != 0:
            sys.exit(f"bench: `{command}` failed under /usr/bin/time:\n{completed.stderr}")
        values.append(int(completed.stderr.strip().splitlines()[-1]))
    return int(statistics.median(values))


def released_at_once(argv: list[str], count: int) -> tuple[float, list[str]]:
    """Forks `count` children that each block on one pipe, then closes the pipe: all of them
    exec `argv` at the same moment, stdout to a pipe as an SDK would read it. Returns the wall
    time from the release until the last one exited, and what each printed."""
    read_end, write_end = os.pipe()
    children = []
    outputs = []
    for _ in range(count):
        out_read, out_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: wait for the gate, then become the command
            try:
                os.close(write_end)
                os.close(out_read)
                os.read(read_end, 1)
                os.dup2(out_write, 1)
                os.execv(argv[0], argv)
            finally:
                os._exit(127)
        os.close(out_write)
        children.append(pid)
        outputs.append(out_read)
    os.close(read_end)
    time.sleep(0.2)  # let every child reach its read()
    started = time.perf_counter()
    os.close(write_end)
    failures = 0
    for pid in children:
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            failures += 1
    elapsed = time.perf_counter() - started
    texts = []
    for fd in outputs:  # each output is far below a pipe's buffer, so nobody blocked writing
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        os.close(fd)
        texts.append(b"".join(chunks).decode())
    if failures:
        sys.exit(f"bench: {failures} of {count} processes released at once failed ({argv[0]})")
    return elapsed, texts


def cold_start(count: int) -> tuple[float, int, int]:
    """`count` stscache processes released at once on an empty cache: the wall time until all
    answered, the AssumeRole requests moto saw, and how many distinct access key ids were
    printed."""
    empty_cache()
    before = assume_role_count()
    elapsed, outputs = released_at_once(HIT.split(), count)
    keys = {credential_document(text)["AccessKeyId"] for text in outputs}
    time.sleep(0.3)  # moto's recorder writes after answering
    return elapsed, assume_role_count() - before, len(keys)


def machine() -> list[str]:
    def first(path: str, key: str) -> str:
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return "?"

    openssl = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip() if shutil.which("openssl") else "?"
    versions = subprocess.run([PYTHON, "-c", "import sys, botocore, boto3, moto; print(sys.version.split()[0], botocore.__version__, moto.__version__)"],
                              capture_output=True, text=True).stdout.split()
    hyperfine_version = subprocess.run(["hyperfine", "--version"], capture_output=True, text=True).stdout.strip()
    return [
        f"cpu: {first('/proc/cpuinfo', 'model name')}, nproc {os.cpu_count()}, memory {first('/proc/meminfo', 'MemTotal')}",
        f"kernel: {platform.system()} {platform.release()}",
        f"swift: {os.environ.get('BENCH_SWIFT_VERSION', '?')}",
        f"openssl (system): {openssl}",
        f"python {versions[0] if versions else '?'}, botocore {versions[1] if len(versions) > 1 else '?'}, moto {versions[2] if len(versions) > 2 else '?'}; {hyperfine_version}",
        f"stscache binary: {os.path.getsize(STSCACHE) / 1e6:.1f} MB; hello: {os.path.getsize(HELLO) / 1e6:.1f} MB",
    ]


# --------------------------------------------------------------------------------------------


def main() -> None:
    table = Table()
    describe = machine()
    for line in describe:
        log(line)

    fill_cache_and_check_hit()
    botocore_first = credential_document(run(BOTOCORE_HELPER).stdout)  # fills botocore's JSON cache
    if not botocore_first.get("SessionToken"):
        sys.exit("bench: the botocore helper printed no session token")

    log("floor: /bin/true vs static hello")
    floor = hyperfine("floor", {"true": "/bin/true", "hello": HELLO}, runs=100, rounds=6, warmup=20)
    true_ms, hello_ms = median_ms(floor["true"]), median_ms(floor["hello"])
    table.add("static Swift hello", ms(hello_ms), "/bin/true", ms(true_ms), f"{hello_ms / true_ms:.2f}x", "(floor)")

    log("cache hit vs hello")
    hit = hyperfine("hit", {"hello": HELLO, "hit": HIT}, runs=100, rounds=6, warmup=20)
    hit_ms, hello2_ms = median_ms(hit["hit"]), median_ms(hit["hello"])
    ratio = hit_ms / hello2_ms
    table.add("credential-process, hit", ms(hit_ms), "static hello", ms(hello2_ms), f"{ratio:.2f}x", "<= 2.5x",
              verdict(ratio <= 2.5))

    if prompt_available():
        log("prompt vs hello")
        prompt = hyperfine("prompt", {"hello": HELLO, "prompt": PROMPT}, runs=100, rounds=6, warmup=20)
        shown = run(PROMPT).stdout.strip()
        if not shown:
            sys.exit("bench: `stscache prompt` printed nothing with a session cached")
        prompt_ms, hello3_ms = median_ms(prompt["prompt"]), median_ms(prompt["hello"])
        ratio = prompt_ms / hello3_ms
        table.add("prompt, session cached", ms(prompt_ms), "static hello", ms(hello3_ms), f"{ratio:.2f}x", "<= 2x",
                  verdict(ratio <= 2.0))
    else:
        table.add("prompt, session cached", "-", "", "", "", "<= 2x", "SKIP")
        table.notes.append("`stscache prompt` does not exist in this build yet: prompt not measured.")

    log("hit vs the botocore-based helper (JSON cache hit)")
    helper = hyperfine("botocore", {"hit": HIT, "botocore helper": BOTOCORE_HELPER}, runs=20, rounds=4, warmup=10)
    helper_ms, hit2_ms = median_ms(helper["botocore helper"]), median_ms(helper["hit"])
    ratio = helper_ms / hit2_ms
    table.add("botocore helper, JSON-cache hit", ms(helper_ms), "credential-process, hit", ms(hit2_ms),
              f"{ratio:.0f}x faster", ">= 50x", verdict(ratio >= 50))

    log("miss vs the same AssumeRole from boto3")
    before = assume_role_count()
    miss = hyperfine("miss", {"miss": MISS, "boto3 script": BOTO3_ASSUME}, runs=20, rounds=4, warmup=3)
    miss_ms, boto3_ms = median_ms(miss["miss"]), median_ms(miss["boto3 script"])
    calls = assume_role_count() - before
    expected = sum(len(v) for v in miss.values())
    if calls < expected:
        sys.exit(f"bench: the miss benchmark made {calls} AssumeRole calls for {expected} runs")
    call_count = 5 if QUICK else 40
    in_process = json.loads(run(f"{BOTO3_ASSUME} --calls {call_count}").stdout)
    call_ms = median_ms(in_process)
    table.add("credential-process, miss", ms(miss_ms), "boto3 AssumeRole script", ms(boto3_ms),
              f"{miss_ms - boto3_ms:+.1f} ms", "", "")
    table.add("  miss minus the call itself", ms(miss_ms - call_ms), "boto3 assume_role() call", ms(call_ms),
              f"{miss_ms - call_ms:+.1f} ms", "<= +10 ms", verdict(miss_ms - call_ms <= 10))

    log("cold start: N processes at once on an empty cache")
    repeats = 2 if QUICK else 5
    walls: dict[int, float] = {}
    for count in (1, 10, 50, 100):
        samples, calls_seen, keys_seen = [], [], []
        for _ in range(repeats):
            elapsed, calls, keys = cold_start(count)
            samples.append(elapsed)
            calls_seen.append(calls)
            keys_seen.append(keys)
        walls[count] = statistics.median(samples) * 1000
        exactly_one = all(c == 1 for c in calls_seen) and all(k == 1 for k in keys_seen)
        detail = "/".join(str(c) for c in calls_seen)
        table.add(f"cold start N={count}: wall", ms(walls[count]), "AssumeRole calls", detail,
                  f"{walls[count] / walls[1]:.1f}x N=1" if count > 1 else "", "1 call each",
                  verdict(exactly_one))
    table.rows[-1].budget = "1 call; < 3x N=1"
    table.rows[-1].result = verdict(table.rows[-1].result == "PASS" and walls[100] < 3 * walls[1])
    # What 100 processes at once cost on this machine at all: the floor under the N=100 line.
    hello_walls = [released_at_once([HELLO], 100)[0] * 1000 for _ in range(repeats)]
    hello_100 = statistics.median(hello_walls)
    table.add("  100 static hellos at once", ms(hello_100), "cold start N=100", ms(walls[100]),
              f"{walls[100] / hello_100:.1f}x", "")

    log("peak RSS")
    rss_hello = peak_rss_kib(HELLO)
    rss_hit = peak_rss_kib(HIT)
    rss_miss = peak_rss_kib(MISS)
    table.add("peak RSS, hit", f"{rss_hit / 1024:.1f} MiB", "static hello", f"{rss_hello / 1024:.1f} MiB",
              f"{rss_hit / rss_hello:.2f}x", "")
    table.add("peak RSS, miss", f"{rss_miss / 1024:.1f} MiB", "", "", "", "")

    log("micro-benchmark")
    micro = subprocess.run([MICRO] + (["--quick"] if QUICK else []), capture_output=True, text=True)
    if micro.returncode != 0:
        sys.exit(f"bench: stscache-micro failed:\n{micro.stderr}")
    first_calls: dict[str, list[int]] = {}
    for _ in range(5 if QUICK else 25):
        once = run(f"{MICRO} --first-calls").stdout
        for line in once.splitlines():
            name, _, rest = line.partition("  ")
            first_calls.setdefault(name.strip(), []).append(int(rest.split()[0]))
    first_lines = "".join(f"{name.ljust(44)}{int(statistics.median(values)):>10} ns      (first call in a process, median of {len(values)})\n"
                          for name, values in first_calls.items())

    text = "\n".join(describe) + "\n\n" + table.render() + "\n\nmicro-benchmark (in-process):\n" + first_lines + micro.stdout
    (OUT / "table.txt").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
