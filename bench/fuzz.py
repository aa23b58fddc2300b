"""Stateful fuzzing of a live server at a chosen budget, with a JSON result for the evidence report.

    python bench/fuzz.py [--sequences 80] [--steps 50] [--url http://127.0.0.1:7432] [--out bench/results/fuzz.json]

Runs bench/fuzz_machine.py's state machine (random sequences of space and memory operations, checked against a model
of what each space must hold) until ``--sequences`` sequences of at most ``--steps`` steps pass or one diverges.
Without ``--url`` it starts its own server. A divergence is written to the result with hypothesis' shortest failing
sequence, saved in tests/hypothesis-regressions so the tests replay it first, and exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from hypothesis.stateful import run_state_machine_as_test

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fuzz_machine import SpacesMachine, budget  # noqa: E402
from bench.load import serving  # noqa: E402
from engram.config import default_worker_count  # noqa: E402


def run_fuzz(url: str, sequences: int, steps: int) -> dict:
    """Fuzz the server at ``url``; the summary says what ran and the divergence found, if any."""
    SpacesMachine.url = url
    SpacesMachine.counts.update(sequences=0, requests=0)
    divergence = None
    started = time.monotonic()
    try:
        run_state_machine_as_test(SpacesMachine, settings=budget(sequences, steps))
    except Exception as error:  # a failed assertion or an unexpected answer: hypothesis has shrunk it already
        notes = "\n".join(getattr(error, "__notes__", []))  # the failing sequence of steps (PEP 678 notes)
        divergence = f"{type(error).__name__}: {error}\n{notes}".strip()
    return {
        "budget_sequences": sequences,
        "budget_steps": steps,
        "sequences_run": SpacesMachine.counts["sequences"],
        "requests": SpacesMachine.counts["requests"],
        "divergences": 0 if divergence is None else 1,
        "divergence": divergence,
        "seconds": round(time.monotonic() - started, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequences", type=int, default=80, help="sequences that must pass (hypothesis examples)")
    parser.add_argument("--steps", type=int, default=50, help="most steps in one sequence")
    parser.add_argument("--url", help="REST base URL of a running server (default: start one)")
    parser.add_argument("--workers", type=int, default=default_worker_count(), help="workers of a server we start")
    parser.add_argument("--out", default="bench/results/fuzz.json")
    args = parser.parse_args()
    with serving(args.workers, url=args.url) as target:
        summary = run_fuzz(target.url, args.sequences, args.steps)
    print("| figure | value |\n|---|---|")
    for key, value in summary.items():
        if key != "divergence":
            print(f"| {key} | {value} |")
    if summary["divergence"]:
        print("DIVERGENCE:\n" + summary["divergence"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2))
    return 1 if summary["divergences"] else 0


if __name__ == "__main__":
    sys.exit(main())
