"""CLI start-up benchmark: how long `comfy-platform --help`, a subcommand's help and a mistyped flag take, against
the interpreter's own start (`python -c pass`) measured in the same run.

The console script once imported the whole platform (settings, logging, Temporal, the database layer) before it
parsed its arguments: `--help` took about 2 s. cli/parser.py imports nothing heavy, and each subcommand's module
is imported only when it runs. Each figure is the median wall time of BENCH_RUNS (15) fresh processes:

    baseline        python -c pass (the same interpreter and environment)
    help            comfy-platform --help
    submit_help     comfy-platform submit --help
    bad_flag        comfy-platform submit --no-such-flag (the argument error, exit 2)

    make bench          # or: .venv/bin/python -m bench.cli   (a few seconds)

Target: each under 0.3 s on two cores, and a small multiple of the interpreter's own start.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.stack import CLI, save_results

RESULTS = Path(__file__).parent / "results" / "cli.json"
RUNS = int(os.environ.get("BENCH_RUNS", 15))
TARGET_S = 0.3
COMMANDS = {
    "baseline": [sys.executable, "-c", "pass"],
    "help": [*CLI, "--help"],
    "submit_help": [*CLI, "submit", "--help"],
    "bad_flag": [*CLI, "submit", "--no-such-flag"],
}


def wall_time(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def main() -> None:
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(RUNS):  # interleaved, so a busy moment of the machine weighs on every figure alike
        for name, command in COMMANDS.items():
            times[name].append(wall_time(command))
    figures: dict = {"runs": RUNS}
    for name, values in times.items():
        figures[f"{name}_s"] = round(statistics.median(values), 3)
    for name in COMMANDS:
        if name != "baseline":
            figures[f"{name}_over_baseline"] = round(figures[f"{name}_s"] / figures["baseline_s"], 2)
    figures["targets"] = {f"{name}_s": f"< {TARGET_S}" for name in COMMANDS if name != "baseline"}
    figures["met"] = all(figures[f"{name}_s"] < TARGET_S for name in COMMANDS if name != "baseline")
    save_results(RESULTS, figures)
    for key, value in figures.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
