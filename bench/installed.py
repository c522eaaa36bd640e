"""`bench/run --installed`: the installed binary's cache hit and `prompt` against the static hello
installed the same way (stripped with scripts/install's flags, no RUNPATH, in PREFIX/bin), the
pairs measured interleaved as bench/measure.py measures them. Goal (issue 14): hit <= 1.5x,
prompt <= 1.5x. bench/run set up moto, the HOME and the environment, and points BENCH_STSCACHE
and BENCH_HELLO at the installed copies."""

from __future__ import annotations

import os
import subprocess
import sys

from measure import (HELLO, HIT, OUT, PROMPT, STSCACHE, Table, fill_cache_and_check_hit, hyperfine, log, machine,
                     median_ms, ms, run, verdict)

GOAL = 1.5


def dynamic_section(binary: str) -> str:
    return subprocess.run(["readelf", "-d", binary], capture_output=True, text=True, check=True).stdout


def main() -> None:
    table = Table()
    describe = machine()
    for binary in (STSCACHE, HELLO):
        runpath = "RUNPATH" in dynamic_section(binary)
        describe.append(f"{binary}: {os.path.getsize(binary) / 1e6:.1f} MB, {'RUNPATH' if runpath else 'no RUNPATH'}")
    for line in describe:
        log(line)

    fill_cache_and_check_hit()
    if not run(PROMPT).stdout.strip():
        sys.exit("bench: `stscache prompt` printed nothing with a session cached")

    log("floor: /bin/true vs installed hello")
    floor = hyperfine("installed-floor", {"true": "/bin/true", "hello": HELLO}, runs=100, rounds=6, warmup=20)
    true_ms, hello_ms = median_ms(floor["true"]), median_ms(floor["hello"])
    table.add("installed hello", ms(hello_ms), "/bin/true", ms(true_ms), f"{hello_ms / true_ms:.2f}x", "(floor)")

    log("installed: cache hit vs hello")
    hit = hyperfine("installed-hit", {"hello": HELLO, "hit": HIT}, runs=100, rounds=6, warmup=20)
    hit_ms, hello2_ms = median_ms(hit["hit"]), median_ms(hit["hello"])
    ratio = hit_ms / hello2_ms
    table.add("installed credential-process, hit", ms(hit_ms), "installed hello", ms(hello2_ms), f"{ratio:.2f}x",
              f"<= {GOAL}x", verdict(ratio <= GOAL))

    log("installed: prompt vs hello")
    prompt = hyperfine("installed-prompt", {"hello": HELLO, "prompt": PROMPT}, runs=100, rounds=6, warmup=20)
    prompt_ms, hello3_ms = median_ms(prompt["prompt"]), median_ms(prompt["hello"])
    ratio = prompt_ms / hello3_ms
    table.add("installed prompt, session cached", ms(prompt_ms), "installed hello", ms(hello3_ms), f"{ratio:.2f}x",
              f"<= {GOAL}x", verdict(ratio <= GOAL))

    text = "\n".join(describe) + "\n\n" + table.render()
    (OUT / "installed-table.txt").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
