"""Recall@10 and latency of a space's similarity index (exact buffer + pynndescent segments) against exact search,
measured the way a worker runs it, and the size from which a segment beats the exact scan.

    python bench/recall_quality.py [--sizes 10000,100000] [--queries 500] [--datasets clustered,text]
        [--crossover 1000,2000,4000,8000,12000,16000,32000] [--seal-rows 8192] [--out bench/results/recall_quality.json]

For each data set and size, memories are remembered into a real ``Space`` in batches of ``seal_rows``, and after
each batch the real compaction policy runs its jobs to completion (plan, prepare, the builder's ``execute`` with
pynndescent, install), so the space ends with the segments and buffer a server would have. Queries go through
``Space._similar``, the path recall uses, in this process with the worker's thread settings (one BLAS and one numba
thread). Builds run here too, on one thread like the builder's. Data sets: clustered synthetic vectors (the hard
case, reference/measurements.md §2) and real sentences embedded by the built-in embedder (bench/recall_data.py).

Recall counts a returned memory as right when its exact similarity is at least the exact 10th best (ties).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy and numba load: the worker's and the builder's settings
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.recall_data import clustered, sentences  # noqa: E402
from engram.config import Config  # noqa: E402
from engram.embedder import embed_text  # noqa: E402
from engram.protocol import MemoryIn  # noqa: E402
from workers import segments  # noqa: E402
from workers.builder import execute  # noqa: E402
from workers.compaction import install, plan, prepare  # noqa: E402
from workers.space import Space  # noqa: E402

DIM = 384
K = 10
WARMUP_QUERIES = 20
NOW = 1_700_000_000.0


def make_space(root: Path, name: str) -> Space:
    return Space.open(root, name, DIM, NOW)[0]


def remember(space: Space, items: list, start: int, builtin: bool) -> None:
    """Remember ``items`` (vectors, or texts for the built-in embedder) with ids m<start>, m<start+1>, ..."""
    memories = [
        MemoryIn(item, id=f"m{start + i}")
        if builtin
        else MemoryIn(f"memory {start + i}", id=f"m{start + i}", embedding=item.astype("<f4").tobytes())
        for i, item in enumerate(items)
    ]
    space.remember(memories, NOW)
    space.sync()


def compact(space: Space, seal_rows: int) -> list[dict]:
    """Run the compaction policy's jobs to completion; return what each built and how long it took."""
    jobs = []
    while (chosen := plan(space.index, seal_rows)) is not None:
        job, message = prepare(space.index, chosen, len(jobs) + 1)
        done = execute(message)
        if not done.ok:
            raise RuntimeError(done.error)
        started = time.perf_counter()
        install(space.index, job, done)
        jobs.append(
            {
                "rows": done.rows,
                "merge": bool(job.sources),
                "build_s": done.build_s,
                "load_s": time.perf_counter() - started,
            }
        )
    return jobs


def fill(space: Space, items: list, builtin: bool, seal_rows: int | None) -> list[dict]:
    """Remember everything in batches of ``seal_rows``, compacting after each batch (none without seal_rows)."""
    jobs: list[dict] = []
    step = seal_rows or 10_000
    for start in range(0, len(items), step):
        remember(space, items[start : start + step], start, builtin)
        if seal_rows:
            jobs += compact(space, seal_rows)
    return jobs


def measure(space: Space, queries: np.ndarray) -> dict:
    """Recall@10 of ``_similar`` against an exact scan, and single-query latency of both."""
    columns = space._columns
    units = columns.units[: columns.rows]
    live = np.flatnonzero(columns.live[: columns.rows])
    truth_scores = np.empty((len(queries), K), dtype=np.float32)
    for start in range(0, len(queries), 100):
        block = units[live] @ queries[start : start + 100].T
        truth_scores[start : start + 100] = -np.sort(-np.partition(block, -K, axis=0)[-K:], axis=0).T
    for query in queries[:WARMUP_QUERIES]:
        space._similar(query, K)
    index_ms, exact_ms, recalls = [], [], []
    for i, query in enumerate(queries):
        started = time.perf_counter()
        rows, _ = space._similar(query, K)
        index_ms.append((time.perf_counter() - started) * 1000)
        exact_scores = units[rows[:K]] @ query
        recalls.append(np.count_nonzero(exact_scores >= truth_scores[i, -1] - 1e-6) / K)
        started = time.perf_counter()
        scores = units @ query
        best = np.argpartition(scores, -K)[-K:]
        best[np.argsort(-scores[best])]
        exact_ms.append((time.perf_counter() - started) * 1000)
    return {
        "recall_at_10": round(float(np.mean(recalls)), 4),
        "min_recall_at_10": round(float(np.min(recalls)), 2),
        "index_p50_ms": _percentile(index_ms, 50),
        "index_p99_ms": _percentile(index_ms, 99),
        "exact_p50_ms": _percentile(exact_ms, 50),
        "exact_p99_ms": _percentile(exact_ms, 99),
    }


def _percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 4)


def run_case(root: Path, dataset: str, items: list, queries: np.ndarray, builtin: bool, seal_rows: int) -> dict:
    n = len(items)
    space = make_space(root, f"{dataset}-{n}")
    started = time.perf_counter()
    jobs = fill(space, items, builtin, seal_rows)
    wall = time.perf_counter() - started
    hot = root / f"{dataset}-{n}" / "hot"
    index_bytes = sum(p.stat().st_size for p in hot.glob("seg-*") if not p.name.endswith(".vectors.npy"))
    disk_bytes = sum(p.stat().st_size for p in hot.glob("seg-*"))
    result = {
        "dataset": dataset,
        "memories": n,
        "segments": space.index.segment_count,
        "segment_rows": sorted((s.size for s in space.index.segments), reverse=True),
        "buffer": space.index.buffer_count(),
        "builds": len(jobs),
        "build_s_total": round(sum(j["build_s"] for j in jobs), 2),
        "build_s_largest": round(max((j["build_s"] for j in jobs), default=0.0), 2),
        "load_s_largest": round(max((j["load_s"] for j in jobs), default=0.0), 3),
        "fill_wall_s": round(wall, 1),
        "index_bytes_per_memory": round(index_bytes / n),
        "vector_bytes_per_memory": DIM * 4,
        "disk_bytes_per_memory": round(disk_bytes / n),
        "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        **measure(space, queries),
    }
    space.close()
    return result


def crossover(root: Path, sizes: list[int], queries: int) -> dict:
    """Per size N: exact scan of an N-row buffer against one N-row segment, both through ``Space._similar``."""
    base, query_vectors = clustered(max(sizes), queries)
    rows = []
    for n in sizes:
        space = make_space(root, f"crossover-{n}")
        fill(space, list(base[:n]), builtin=False, seal_rows=None)
        exact = measure(space, query_vectors)
        jobs = compact(space, n)
        assert space.index.segment_count == 1 and space.index.buffer_count() == 0
        indexed = measure(space, query_vectors)
        rows.append(
            {
                "rows": n,
                "exact_p50_ms": exact["index_p50_ms"],
                "exact_p99_ms": exact["index_p99_ms"],
                "segment_p50_ms": indexed["index_p50_ms"],
                "segment_p99_ms": indexed["index_p99_ms"],
                "segment_recall_at_10": indexed["recall_at_10"],
                "build_s": round(jobs[0]["build_s"], 3),
            }
        )
        space.close()
    faster = [r["segment_p50_ms"] < r["exact_p50_ms"] for r in rows]
    first = next((i for i in range(len(rows)) if all(faster[i:])), None)
    return {"sizes": rows, "crossover_rows": None if first is None else rows[first]["rows"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--datasets", default="clustered,text")
    parser.add_argument("--crossover", default="1000,2000,4000,8000,12000,16000,32000")
    parser.add_argument("--seal-rows", type=int, default=Config().index_seal_rows)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "recall_quality.json"))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    started = time.perf_counter()
    segments.build_index(clustered(200, 0)[0])  # pay numba's JIT before anything is timed
    report: dict = {
        "settings": {
            "seal_rows": args.seal_rows,
            "query_epsilon": segments.QUERY_EPSILON,
            "search_tree_leaf_budget": segments.SEARCH_TREE_LEAF_BUDGET,
            "n_neighbors": segments.N_NEIGHBORS,
            "queries": args.queries,
            "k": K,
            "threads": 1,
        },
        "jit_warmup_s": round(time.perf_counter() - started, 1),
        "cases": [],
    }
    print(f"numba JIT warm-up (first build in this process): {report['jit_warmup_s']} s", flush=True)
    with tempfile.TemporaryDirectory(prefix="engram-recall-") as tmp:
        root = Path(tmp)
        for dataset in args.datasets.split(","):
            if dataset == "clustered":
                base, query_vectors = clustered(max(sizes), args.queries)
                items: list = list(base)
            else:
                texts, query_texts = sentences(max(sizes), args.queries)
                items, query_vectors = texts, np.stack([embed_text(t, DIM) for t in query_texts])
            for n in sizes:
                case = run_case(root, dataset, items[:n], query_vectors, dataset == "text", args.seal_rows)
                report["cases"].append(case)
                print(_case_line(case), flush=True)
        if args.crossover:
            report["crossover"] = crossover(root, [int(s) for s in args.crossover.split(",")], args.queries)
    report["wall_s"] = round(time.perf_counter() - started, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print_tables(report)
    print(f"wrote {out}")
    return 0


def _case_line(c: dict) -> str:
    return (
        f"{c['dataset']:>9} {c['memories']:>7} | recall@10 {c['recall_at_10']:.3f} | index p50 "
        f"{c['index_p50_ms']:.3f} p99 {c['index_p99_ms']:.3f} ms | exact p50 {c['exact_p50_ms']:.3f} ms | "
        f"{c['segments']} seg + {c['buffer']} buffer | builds {c['build_s_total']:.1f} s"
    )


def print_tables(report: dict) -> None:
    print(
        "\n| data | memories | recall@10 | index p50 / p99 ms | exact p50 / p99 ms | segments (rows) + buffer | "
        "builds: total / largest s | index B/mem | disk B/mem |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for c in report["cases"]:
        print(
            f"| {c['dataset']} | {c['memories']:,} | {c['recall_at_10']:.3f} | {c['index_p50_ms']:.3f} / "
            f"{c['index_p99_ms']:.3f} | {c['exact_p50_ms']:.3f} / {c['exact_p99_ms']:.3f} | {c['segments']} "
            f"({', '.join(map(str, c['segment_rows']))}) + {c['buffer']} | {c['builds']}: "
            f"{c['build_s_total']:.1f} / {c['build_s_largest']:.1f} | {c['index_bytes_per_memory']} | "
            f"{c['disk_bytes_per_memory']} |"
        )
    if "crossover" in report:
        print("\n| rows | exact scan p50 / p99 ms | one segment p50 / p99 ms | segment recall@10 | build s |")
        print("|---|---|---|---|---|")
        for r in report["crossover"]["sizes"]:
            print(
                f"| {r['rows']:,} | {r['exact_p50_ms']:.3f} / {r['exact_p99_ms']:.3f} | {r['segment_p50_ms']:.3f} / "
                f"{r['segment_p99_ms']:.3f} | {r['segment_recall_at_10']:.3f} | {r['build_s']:.2f} |"
            )
        print(
            f"\ncrossover: one segment answers faster than an exact scan from "
            f"{report['crossover']['crossover_rows']} rows on"
        )


if __name__ == "__main__":
    sys.exit(main())
