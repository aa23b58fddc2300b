"""One self-contained HTML page from the JSON results in bench/results/: headline figures against the issue's
targets, then plots (throughput and p99 against the number of spaces, the noisy-neighbour comparison, latency
percentiles per operation, crash-loop and power-cut recoveries, injected faults, cold start), the fuzzing run's
outcome, and the tables behind them.

    python bench/report.py [--results bench/results] [--out bench/results/report.html]

Reads whichever of load.json, fairness.json, fuzz.json, crash_loop.json, power_cut.json, chaos.json,
cold_start.json, quick.json and recall_quality.json exist; a missing one is shown as "not run". Plots are matplotlib
SVGs inlined in the page (needs the ``bench`` extra: ``pip install -e '.[bench]'``), so the page is one file that
opens anywhere.
"""

from __future__ import annotations

import argparse
import html
import io
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load_stats import interval_text  # noqa: E402
from bench.machine import busy_text, steal_text  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RESULT_FILES = (
    "load", "fairness", "fuzz", "crash_loop", "power_cut", "power_cut_interval", "chaos", "cold_start", "quick",
    "recall_quality",
)  # fmt: skip
PERCENTILE_KEYS = ("p50_ms", "p95_ms", "p99_ms", "p99.9_ms")
STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.pass{color:#176b2c;font-weight:bold}
.fail{color:#a31515;font-weight:bold}.missing{color:#777;font-style:italic}figure{margin:0 0 1.5em}
.plots{display:flex;flex-wrap:wrap;gap:1em}.plots svg{max-width:520px;height:auto}"""


def load_results(directory: Path) -> dict[str, dict]:
    results = {}
    for name in RESULT_FILES:
        path = directory / f"{name}.json"
        if path.exists():
            results[name] = json.loads(path.read_text())
    return results


def render(results: dict[str, dict]) -> str:
    """The whole page as one HTML string."""
    plt.rcParams.update({"svg.fonttype": "none", "figure.figsize": (5.2, 3.2), "font.size": 9})
    sections = [
        ("Headline figures", _headline),
        ("Overhead of many spaces", _overhead),
        ("Noisy neighbour", _noisy),
        ("Load run", _load),
        ("Fuzzing", _fuzz),
        ("Crash loop", _crash_loop),
        ("Power cuts", _power_cut),
        ("Power cuts of interval spaces", _power_cut_interval),
        ("Injected faults", _chaos),
        ("Cold start", _cold_start),
        ("Quick benchmark", _quick),
        ("Recall quality", _recall_quality),
    ]
    body = [
        f"<h1>Engram evidence report</h1><p>Generated {datetime.now(UTC):%Y-%m-%d %H:%M UTC} from "
        f"{', '.join(sorted(results)) or 'no results'}.</p>"
    ]
    for title, section in sections:
        body.append(f"<h2>{html.escape(title)}</h2>\n{section(results)}")
    return f"<!doctype html><html><head><meta charset='utf-8'><title>Engram evidence report</title><style>{STYLE}</style></head><body>{''.join(body)}</body></html>"  # noqa: E501


def _headline(results: dict) -> str:
    rows = []
    over = results.get("fairness", {}).get("overhead")
    if over:
        counts = over["counts"]
        rows.append(
            (
                f"remember throughput, {counts[-1]} spaces vs {counts[0]}",
                f"{over['ratio_at_max']:.1%}{interval_text(over.get('interval_at_max'))}",
                ">= 95%",
                over["meets_target"],
            )
        )
    noisy = results.get("fairness", {}).get("noisy_neighbour")
    if noisy and noisy.get("p99_ratio") is not None:
        rows.append(
            ("quiet p99 beside a noisy space vs solo", f"{noisy['p99_ratio']:.2f}x", "<= 1.5x", noisy["meets_target"])
        )
    fuzz = results.get("fuzz")
    if fuzz:
        budget = f"{fuzz['budget_sequences']} sequences of at most {fuzz['budget_steps']} steps"
        divergences = fuzz["divergences"]
        rows.append((f"fuzzing divergences from the model ({budget})", str(divergences), "0", not divergences))
    crash = results.get("crash_loop")
    if crash:
        lost = crash["lost_writes"]
        rows.append((f"acknowledged writes lost over {crash['kills']} kills", _lost_text(crash), "0", lost == 0))
    cuts = results.get("power_cut")
    if cuts and "unavailable" not in cuts:
        lost = cuts["lost_writes"]
        rows.append((f"acknowledged writes lost over {cuts['cuts']} power cuts", _lost_text(cuts), "0", lost == 0))
    interval = results.get("power_cut_interval")
    if interval and "unavailable" not in interval:
        oldest = interval["lost_ack_age_max_ms"]
        bound = interval["lost_ack_age_bound_ms"]
        value = f"{interval['lost_writes']} of {interval['acknowledged_writes']:,} lost, the oldest acknowledged " + (
            f"{oldest:.1f} ms before its cut" if oldest is not None else "- (none lost)"
        )
        figure = f"interval spaces over {interval['cuts']} power cuts: writes lost only from the last interval"
        rows.append((figure, value, f"<= {bound:g} ms", oldest is None or 0 <= oldest <= bound))
    chaos = results.get("chaos", {}).get("summary")
    if chaos:
        faults = f"{chaos['faults_injected']} injected faults of {len(chaos['by_kind'])} kinds"
        for figure, key in (
            (f"acknowledged writes lost over {faults}", "lost_writes"),
            ("writes acknowledged while their log failed", "acked_under_io_fault"),
            ("memories shown in another space", "cross_space_leaks"),
        ):
            rows.append((figure, str(chaos[key]), "0", not chaos[key]))
    cold = results.get("cold_start", {}).get("results", {})
    for case, result in cold.items():
        last = max((row["since_start_s"] for row in result["spaces"]), default=None)
        value = f"ready {result['ready_s']:.2f} s, all probed spaces answered by {last:.2f} s" if last else "-"
        rows.append((f"cold start ({case})", value, "", None))
    if not rows:
        return _missing("no fairness, crash-loop or cold-start results")
    return _table(["figure", "measured", "target", "verdict"], [(*row[:3], _verdict(row[3])) for row in rows])


def _overhead(results: dict) -> str:
    over = results.get("fairness", {}).get("overhead")
    if not over:
        return _missing("fairness.json (python bench/fairness.py)")
    counts = [int(c) for c in over["space_counts"]]
    rows = [over["space_counts"][str(c)] for c in counts]

    def throughput(ax) -> None:
        ax.plot(counts, [r["throughput_per_s"] for r in rows], "o-")
        ax.axhline(rows[0]["throughput_per_s"] * over["target_ratio"], color="grey", ls="--", label="95% of 1 space")
        ax.set(xscale="log", xlabel="spaces", ylabel="remembers / s", title="Remember throughput", ylim=(0, None))
        ax.legend()

    def p99(ax) -> None:
        ax.plot(counts, [r["p50_ms"] for r in rows], "o-", label="p50")
        ax.plot(counts, [r["p99_ms"] for r in rows], "s-", label="p99")
        ax.set(xscale="log", xlabel="spaces", ylabel="ms", title="Remember latency", ylim=(0, None))
        ax.legend()

    table = _table(
        ["spaces", "remembers/s (mean)", "vs 1 space (median of rounds)", "each round", "p50 ms", "p99 ms", "errors",
         "machine steal, each round (worst 0.25 s)"],
        [
            (c, f"{r['throughput_per_s']:.0f}", f"{r['ratio_to_1']:.1%}{interval_text(r.get('ratio_interval'))}",
             ", ".join(f"{x:.0%}" for x in r.get("round_ratios", [])), r["p50_ms"], r["p99_ms"], r["errors"],
             ", ".join(steal_text(run.get("machine")) for run in r.get("runs", [])))
            for c, r in zip(counts, rows, strict=True)
        ],
    )  # fmt: skip
    middle_every = over.get("middle_every", 1)
    middle = f", the counts between in every {_ordinal(middle_every)} round" if middle_every > 1 else ""
    note = (
        f"<p>{over['concurrency']} closed-loop clients over {over['transport']}, {over['seconds']:g} s per "
        f"measurement, {over['rounds']} rounds in alternating order with 1 and {counts[-1]} spaces back to back"
        f"{middle}; each count against 1 space in the same round, the median over rounds. Where there are 5 rounds "
        f"or more, the interval beside it is the k-th lowest to the k-th highest round, which holds the median of "
        f"what such rounds measure with the probability given, whatever their distribution (for 8 rounds: the 2nd "
        f"and the 7th, 93%; for 16: the 5th and the 12th, 92%).</p>"
    )
    return note + _plots(throughput, p99) + table


def _ordinal(number: int) -> str:
    return f"{number}{'nd' if number == 2 else 'rd' if number == 3 else 'th'}"


def _noisy(results: dict) -> str:
    noisy = results.get("fairness", {}).get("noisy_neighbour")
    if not noisy:
        return _missing("fairness.json (python bench/fairness.py)")
    phases = noisy["phases"]
    labels = list(phases)

    def bars(ax) -> None:
        positions = range(len(labels))
        ax.bar([p - 0.2 for p in positions], [phases[k]["p50_ms"] or 0 for k in labels], 0.4, label="p50")
        ax.bar([p + 0.2 for p in positions], [phases[k]["p99_ms"] or 0 for k in labels], 0.4, label="p99")
        ax.set_xticks(list(positions), [k.replace("_", " ") for k in labels])
        ax.set(ylabel="ms", title="Quiet spaces' latency")
        ax.legend()

    table = _table(
        ["phase", "ok", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "errors", "machine busy", "steal (worst 0.25 s)"],
        [
            (k.replace("_", " "), p["ok"], p["throughput_per_s"], p["p50_ms"], p["p99_ms"], p["p99.9_ms"], p["errors"],
             busy_text(p.get("machine")), steal_text(p.get("machine")))
            for k, p in phases.items()
        ],
    )  # fmt: skip
    pooled = noisy["pooled"]
    note = (
        f"<p>{noisy['quiet_spaces']} quiet spaces at {noisy['quiet_rate_per_space']:g} requests/s each (open "
        f"loop), alone and beside a noisy space in turn ({noisy['rounds']} noisy phases, each between two solo "
        f"phases); the noisy space ran {noisy['noisy']['throughput_per_s']:.0f} remembers/s with "
        f"{noisy['noisy_concurrency']} clients{_paces(noisy.get('noisy_paced_rps'))}. Quiet p99 of all solo "
        f"phases' {pooled['solo']['count']} requests: "
        f"{pooled['solo']['p99_ms']} ms; of all noisy phases' {pooled['with_noisy']['count']}: "
        f"{pooled['with_noisy']['p99_ms']} ms. Ratio {noisy['p99_ratio']} (each round on its own: "
        f"{', '.join(str(r) for r in noisy['round_ratios'])}).</p>"
    )
    return note + _plots(bars) + table


def _paces(paces: list | None) -> str:
    """How the router paced the noisy space (docs/scaling.md, "Pacing"), as sampled at the end of each phase."""
    if not paces:
        return ""
    shown = ", ".join("not paced" if pace is None else f"{pace:.0f}/s" for pace in paces)
    return f", held by the router's pacing to {shown} as each noisy phase ended"


def _load(results: dict) -> str:
    load = results.get("load")
    if not load:
        return _missing("load.json (python bench/load.py)")
    operations = {**load["operations"], "all": load["overall"]}

    def percentiles(ax) -> None:
        for name, row in operations.items():
            values = [row.get(key) for key in PERCENTILE_KEYS]
            if None not in values:
                ax.plot(range(len(PERCENTILE_KEYS)), values, "o-", label=name)
        ax.set_xticks(range(len(PERCENTILE_KEYS)), [k[:-3] for k in PERCENTILE_KEYS])
        ax.set(yscale="log", ylabel="ms", title="Latency percentiles by operation")
        ax.legend()

    def per_space(ax) -> None:
        rates = [row["throughput_per_s"] for row in load["spaces"].values()]
        ax.hist(rates, bins=min(30, max(5, len(rates) // 3)))
        ax.set(xlabel="requests / s", ylabel="spaces", title="Throughput per space")

    config = load["config"]
    mode = (
        f"{config['concurrency']} clients (closed loop)"
        if config["mode"] == "closed"
        else f"{config['rate']:g}/s due (open loop)"
    )
    note = (
        f"<p>{config['spaces']} spaces, mix {html.escape(config['mix'])}, {config['transport']}, {mode}, "
        f"{load['seconds']:g} s. Errors: {html.escape(json.dumps(load['errors_by_code'])) or 'none'}.</p>"
    )
    table = _table(
        ["operation", "ok", "req/s", *[k[:-3] + " ms" for k in PERCENTILE_KEYS]],
        [
            (name, row["count"], row["throughput_per_s"], *[row.get(k) for k in PERCENTILE_KEYS])
            for name, row in operations.items()
        ],
    )
    plots = [percentiles] + ([per_space] if load["spaces"] else [])
    return note + _plots(*plots) + table


def _fuzz(results: dict) -> str:
    fuzz = results.get("fuzz")
    if not fuzz:
        return _missing("fuzz.json (python bench/fuzz.py)")
    fields = [k for k in fuzz if k != "divergence"]
    table = _table(["figure", "value"], [(k, fuzz[k]) for k in fields])
    if not fuzz["divergence"]:
        return table
    return table + f"<p class='fail'>Diverged from the model:</p><pre>{html.escape(fuzz['divergence'])}</pre>"


def _lost_text(summary: dict) -> str:
    """ "0 of 17,265 (remember 12,000, replace 2,600, delete 2,665)": the writes checked, by kind where recorded."""
    kinds = summary.get("acknowledged_by_kind") or {}
    detail = ", ".join(f"{kind} {count:,}" for kind, count in kinds.items())
    return f"{summary['lost_writes']} of {summary['acknowledged_writes']:,}" + (f" ({detail})" if detail else "")


def _crash_loop(results: dict) -> str:
    crash = results.get("crash_loop")
    if not crash:
        return _missing("crash_loop.json (python bench/crash_loop.py)")

    def recoveries(ax) -> None:
        ax.plot(range(1, len(crash["recovery_s"]) + 1), crash["recovery_s"], ".")
        ax.set(xlabel="kill", ylabel="s", title="Kill to replacement worker serving", ylim=(0, None))

    def outcomes(ax) -> None:
        keys = ("acknowledged_writes", "unacknowledged_writes", "lost_writes")
        ax.bar([k.split("_")[0] for k in keys], [crash[k] for k in keys], color=["#3a7", "#bbb", "#c33"])
        ax.set(title="Writes over the whole loop", yscale="symlog")

    fields = [k for k in crash if not isinstance(crash[k], list)]
    return _plots(recoveries, outcomes) + _table(["figure", "value"], [(k, crash[k]) for k in fields])


def _power_cut_interval(results: dict) -> str:
    return _power_cut(results, "power_cut_interval", " --durability interval")


def _power_cut(results: dict, name: str = "power_cut", options: str = "") -> str:
    cuts = results.get(name)
    if not cuts:
        return _missing(f"{name}.json (python bench/power_cut.py{options}, as root)")
    if "unavailable" in cuts:
        return f"<p class='missing'>Not run: {html.escape(cuts['unavailable'])}</p>"

    def recoveries(ax) -> None:
        ax.plot(range(1, len(cuts["recovery_s"]) + 1), cuts["recovery_s"], ".")
        ax.set(xlabel="cut", ylabel="s", title="Server start on the cut disk until it serves", ylim=(0, None))

    fields = [k for k in cuts if not isinstance(cuts[k], list)]
    return _plots(recoveries) + _table(["figure", "value"], [(k, cuts[k]) for k in fields])


def _chaos(results: dict) -> str:
    chaos = results.get("chaos")
    if not chaos:
        return _missing("chaos.json (python bench/chaos.py)")
    faults = chaos["report"]["faults"]
    baseline = chaos["summary"]["baseline_p99_ms"]

    def recoveries(ax) -> None:
        kinds = sorted({f["kind"] for f in faults})
        for kind in kinds:
            mine = [f for f in faults if f["kind"] == kind]
            ax.bar([f["number"] for f in mine], [f["recovery_s"] for f in mine], label=kind)
        ax.set(xlabel="fault", ylabel="s", title="Recovery (kill: serving again; I/O: lifted to acked)", yscale="log")
        ax.legend(fontsize=7)

    def others(ax) -> None:
        measured = [f for f in faults if f["others_p99_ms"] is not None]
        ax.bar([f["number"] for f in measured], [f["others_p99_ms"] for f in measured], color="#37a")
        if baseline:
            ax.axhline(baseline, ls="--", color="grey", label=f"p99 before any fault ({baseline} ms)")
            ax.legend(fontsize=7)
        ax.set(xlabel="fault", ylabel="ms", title="Other spaces' write p99 during each fault")

    header = ["#", "fault", "recovery s", "lost", "leaks", "acked under fault", "faulted space errors",
              "others errors / requests", "others p99 ms"]  # fmt: skip
    rows = [
        (f["number"], f["target"], f["recovery_s"], len(f["lost"]), len(f["leaks"]), f["acked_under_fault"],
         f["faulted_errors"], f"{f['others_errors']} / {f['others_requests']}", f["others_p99_ms"] or "-")
        for f in faults
    ]  # fmt: skip
    summary = [(k, v) for k, v in chaos["summary"].items() if k != "by_kind"]
    why = chaos["report"].get("skipped_why", {})
    skipped = "".join(
        f"<p class='missing'>Not run here: {html.escape(kind)} "
        f"({html.escape(why.get(kind, 'not possible on this target'))})</p>"
        for kind in chaos["report"].get("skipped_kinds", [])
    )
    return skipped + _plots(recoveries, others) + _table(header, rows) + _table(["figure", "value"], summary)


def _cold_start(results: dict) -> str:
    cold = results.get("cold_start")
    if not cold:
        return _missing("cold_start.json (python bench/cold_start.py)")
    cases = cold["results"]

    def first_recalls(ax) -> None:
        for case, result in cases.items():
            ax.plot(
                [row["since_start_s"] for row in result["spaces"]],
                [row["recall_s"] * 1000 for row in result["spaces"]],
                "o",
                label=case,
            )
            ax.axvline(result["ready_s"], ls="--", color="grey")
        ax.set(xlabel="s after engram start", ylabel="first recall, ms", title="First recall of each space")
        ax.legend()

    rows = []
    for case, result in cases.items():
        recalls = sorted(row["recall_s"] * 1000 for row in result["spaces"])
        slowest = f"{recalls[-1]:.1f}" if recalls else "-"
        rows.append((case, f"{result['seed_s']:.1f}", f"{result['ready_s']:.2f}", len(recalls), slowest))
    table = _table(["case", "seeded in s", "ready s", "spaces probed", "slowest first recall ms"], rows)
    return _plots(first_recalls) + table


def _quick(results: dict) -> str:
    quick = results.get("quick")
    if not quick:
        return _missing("quick.json (python bench/quick.py)")
    rows = quick["results"]
    return _table(
        ["scenario", "req/s", "memories/s", "p50 ms", "p99 ms"],
        [(r["name"], r["throughput_per_s"], r.get("memories_per_s", "-"), r["p50_ms"], r["p99_ms"]) for r in rows],
    )


def _recall_quality(results: dict) -> str:
    quality = results.get("recall_quality")
    if not quality:
        return _missing("recall_quality.json (python bench/recall_quality.py)")
    keys = ("dataset", "memories", "segments", "recall_at_10", "index_p50_ms", "index_p99_ms", "exact_p50_ms")
    return _table(list(keys), [[case.get(k, "-") for k in keys] for case in quality.get("cases", [])])


def _plots(*draws: Callable) -> str:
    figures = []
    for draw in draws:
        figure, ax = plt.subplots()
        draw(ax)
        figure.tight_layout()
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg")
        plt.close(figure)
        svg = buffer.getvalue()
        figures.append(svg[svg.index("<svg") :])
    return f"<div class='plots'>{''.join(figures)}</div>"


def _table(header: list[str], rows) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value: object) -> str:
    return value if isinstance(value, str) and value.startswith("<span") else html.escape(str(value))


def _verdict(ok: bool | None) -> str:
    if ok is None:
        return ""
    return "<span class='pass'>meets target</span>" if ok else "<span class='fail'>misses target</span>"


def _missing(what: str) -> str:
    return f"<p class='missing'>Not run: {html.escape(what)} not found.</p>"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default="bench/results", help="directory of the JSON results")
    parser.add_argument("--out", help="the HTML page (default: <results>/report.html)")
    args = parser.parse_args(argv)
    directory = Path(args.results)
    out = Path(args.out) if args.out else directory / "report.html"
    results = load_results(directory)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(results))
    print(f"wrote {out} ({', '.join(sorted(results)) or 'no results found'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
