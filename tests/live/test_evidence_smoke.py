"""The evidence suite's smoke run (bench/evidence.py --smoke) produces every JSON result and an HTML report that
shows their figures, so the harness cannot rot unnoticed between full runs."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib", reason="the report needs the bench extra (matplotlib)")

ROOT = Path(__file__).resolve().parents[2]
SMOKE_TIMEOUT_S = 180


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory) -> Path:
    results = tmp_path_factory.mktemp("evidence")
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "evidence.py"), "--smoke", "--results", str(results)],
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT_S,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return results


def _json(results: Path, name: str) -> dict:
    return json.loads((results / f"{name}.json").read_text())


def test_load_result_has_overall_per_operation_and_per_space_figures(smoke_results):
    load = _json(smoke_results, "load")
    assert load["overall"]["ok"] > 0 and load["overall"]["errors"] == 0
    assert set(load["overall"]) >= {"p50_ms", "p95_ms", "p99_ms", "p99.9_ms", "throughput_per_s"}
    assert sorted(load["spaces"]) == ["load-00000", "load-00001", "load-00002"]
    assert all(row["count"] > 0 for row in load["spaces"].values())
    assert load["operations"]["remember"]["count"] > 0


def test_fairness_result_has_a_row_per_space_count_and_both_ratios(smoke_results):
    fairness = _json(smoke_results, "fairness")
    rows = fairness["overhead"]["space_counts"]
    assert set(rows) == {"1", "2", "10"}
    assert rows["1"]["ratio_to_1"] == 1.0 and rows["10"]["throughput_per_s"] > 0
    assert len(rows["10"]["round_ratios"]) == fairness["overhead"]["rounds"] == 2
    # --middle-every 2: the count between the smallest and the largest ran in the first round only
    assert [run["round"] for run in rows["10"]["runs"]] == [1, 2] and [run["round"] for run in rows["2"]["runs"]] == [1]
    assert rows["2"]["round_ratios"] == [
        round(rows["2"]["runs"][0]["throughput_per_s"] / rows["1"]["runs"][0]["throughput_per_s"], 4)
    ]
    assert rows["10"]["ratio_to_1"] == round(statistics.median(rows["10"]["round_ratios"]), 4)
    assert rows["10"]["ratio_interval"] is None  # two rounds: no interval for its median (bench/load_stats.py)
    assert fairness["overhead"]["interval_at_max"] == rows["10"]["ratio_interval"]
    noisy = fairness["noisy_neighbour"]
    rounds = noisy["rounds"]
    assert set(noisy["phases"]) == {f"solo_{n}" for n in range(1, rounds + 2)} | {
        f"with_noisy_{n}" for n in range(1, rounds + 1)
    }
    pooled = noisy["pooled"]
    assert pooled["solo"]["count"] == sum(noisy["phases"][f"solo_{n}"]["ok"] for n in range(1, rounds + 2))
    assert noisy["p99_ratio"] == round(pooled["with_noisy"]["p99_ms"] / pooled["solo"]["p99_ms"], 3) > 0
    assert len(noisy["round_ratios"]) == rounds and noisy["noisy"]["throughput_per_s"] > 0
    machine = [run["machine"] for run in rows["10"]["runs"]] + [p["machine"] for p in noisy["phases"].values()]
    assert all(0.0 <= m["steal"] <= m["busy"] <= 1.0 and m["worst_steal"] >= 0.0 for m in machine)  # Linux: measured


def test_fuzz_result_shows_its_budget_ran_without_divergence(smoke_results):
    fuzz = _json(smoke_results, "fuzz")
    assert fuzz["budget_sequences"] == 3 and fuzz["budget_steps"] == 10
    assert fuzz["sequences_run"] >= 3 and fuzz["requests"] >= fuzz["sequences_run"]
    assert fuzz["divergences"] == 0 and fuzz["divergence"] is None


def test_chaos_result_has_each_fault_and_no_lost_or_leaked_write(smoke_results):
    chaos = _json(smoke_results, "chaos")
    faults = chaos["report"]["faults"]
    assert [f["kind"] for f in faults] and {f["kind"] for f in faults} <= {"worker", "eio_fsync"}
    assert len(faults) == chaos["summary"]["faults_injected"] == 2
    assert chaos["summary"]["lost_writes"] == chaos["summary"]["cross_space_leaks"] == 0
    assert chaos["summary"]["acked_under_io_fault"] == 0 and chaos["summary"]["acknowledged_writes"] > 0


def test_crash_loop_and_cold_start_results_are_not_empty(smoke_results):
    crash = _json(smoke_results, "crash_loop")
    assert crash["kills"] == 2 and len(crash["recovery_s"]) == 2
    assert crash["acknowledged_writes"] > 0 and crash["lost_writes"] == 0
    cold = _json(smoke_results, "cold_start")
    assert len(cold["results"]["small"]["spaces"]) == 3


def test_power_cut_result_lost_nothing_or_says_why_it_did_not_run(smoke_results):
    cuts = _json(smoke_results, "power_cut")
    page = (smoke_results / "report.html").read_text()
    section = dict(part.split("</h2>", 1) for part in page.split("<h2>")[1:])["Power cuts"]
    if "unavailable" in cuts:  # no root or no loop device on this machine: the report says so
        assert "Not run" in section and "loop-device" in cuts["unavailable"]
        return
    assert cuts["cuts"] == 1 and len(cuts["recovery_s"]) == 1
    assert cuts["acknowledged_writes"] > 0 and cuts["lost_writes"] == 0 and cuts["cross_space_leaks"] == 0
    assert "<svg" in section and "acknowledged writes lost over 1 power cuts" in page


def test_interval_power_cut_result_is_within_its_bound_or_says_why_it_did_not_run(smoke_results):
    cuts = _json(smoke_results, "power_cut_interval")
    page = (smoke_results / "report.html").read_text()
    section = dict(part.split("</h2>", 1) for part in page.split("<h2>")[1:])["Power cuts of interval spaces"]
    if "unavailable" in cuts:
        assert "Not run" in section
        return
    assert cuts["durability"] == "interval" and cuts["cuts"] == 1 and cuts["acknowledged_writes"] > 0
    assert cuts["lost_ack_age_bound_ms"] == 150.0
    assert cuts["lost_ack_age_max_ms"] is None or cuts["lost_ack_age_max_ms"] <= 150.0
    assert "interval spaces over 1 power cuts" in page


def test_report_is_one_page_with_every_section_and_its_plots(smoke_results):
    page = (smoke_results / "report.html").read_text()
    for heading in ("Overhead of many spaces", "Noisy neighbour", "Load run", "Crash loop", "Cold start"):
        assert f"<h2>{heading}</h2>" in page
    sections = dict(part.split("</h2>", 1) for part in page.split("<h2>")[1:])
    for heading in ("Overhead of many spaces", "Noisy neighbour", "Load run", "Crash loop", "Cold start"):
        assert "Not run" not in sections[heading], heading
        assert "<svg" in sections[heading], heading
    assert "steal (worst 0.25 s)" in sections["Noisy neighbour"]  # a slow spell of the machine is visible
    assert "acknowledged writes lost over 2 kills" in sections["Headline figures"]
    assert "fuzzing divergences from the model (3 sequences of at most 10 steps)" in sections["Headline figures"]
    assert "sequences_run" in sections["Fuzzing"] and "Not run" not in sections["Fuzzing"]
    assert "acknowledged writes lost over 2 injected faults" in sections["Headline figures"]
    assert sections["Injected faults"].count("<svg") == 2 and "Not run" not in sections["Injected faults"]
    assert "<script" not in page and "src=" not in page  # self-contained: nothing loaded from elsewhere
