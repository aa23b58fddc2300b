"""Data for bench/recall_quality.py: clustered synthetic vectors, and real sentences to embed.

``clustered`` follows reference/measurements.md §2 (1000 Gaussian clusters of uneven size, each with its own
16-dimensional subspace and spread, one direction shared by all, a little isotropic noise), tuned to the same
cosine profile at 100k: top-1 median 0.85, top-10 0.78, top-100 0.57, random pairs 0.14. Those clusters are well
separated, the hard case for a graph index.

``sentences`` are real English text that ships with every Python installation: the sentences of the docstrings of
the standard library and the installed packages, deduplicated, in a fixed order. Extracting them takes about a
minute, so the result is cached under ``~/.cache/engram``.
"""

from __future__ import annotations

import ast
import os
import random
import re
import sysconfig
from pathlib import Path

import numpy as np

CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "engram"
MAX_SOURCE_BYTES = 300_000
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def clustered(n: int, queries: int, dim: int = 384, clusters: int = 1000, seed: int = 12345):
    """``n`` unit vectors and ``queries`` held-out ones from the same distribution (float32)."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(clusters, 2.0))
    shared = rng.standard_normal(dim)
    shared /= np.linalg.norm(shared)
    centers = rng.standard_normal((clusters, dim)) / np.sqrt(dim)
    spreads = rng.uniform(0.5, 1.0, clusters)
    bases = np.linalg.qr(rng.standard_normal((clusters, dim, 16)))[0].transpose(0, 2, 1)  # orthonormal rows
    total = n + queries
    labels = rng.choice(clusters, size=total, p=weights)
    coefficients = rng.standard_normal((total, 16)) / 4.0
    out = np.empty((total, dim), dtype=np.float32)
    for start in range(0, total, 10_000):
        part = slice(start, min(total, start + 10_000))
        label = labels[part]
        spread = spreads[label, None] * np.einsum("nk,nkd->nd", coefficients[part], bases[label])
        noise = rng.standard_normal((len(label), dim))
        noise *= 0.25 / np.linalg.norm(noise, axis=1, keepdims=True)
        out[part] = 0.5 * shared + centers[label] + spread + noise
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out[:n], out[n:]


def sentences(n: int, queries: int, seed: int = 7) -> tuple[list[str], list[str]]:
    """``n`` sentences to remember and ``queries`` other ones to ask with, shuffled with a fixed seed."""
    needed = n + queries
    cache = CACHE_DIR / "docstring-sentences.txt"
    found = cache.read_text().splitlines() if cache.exists() else []
    if len(found) < needed:
        found = _extract_sentences(needed)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text("\n".join(found))
    if len(found) < needed:
        raise SystemExit(f"only {len(found)} docstring sentences on this machine, {needed} needed")
    chosen = found[:needed]
    random.Random(seed).shuffle(chosen)
    return chosen[:n], chosen[n:]


def _extract_sentences(needed: int) -> list[str]:
    paths = sysconfig.get_paths()
    seen: set[str] = set()
    found: list[str] = []
    for root in dict.fromkeys([paths["stdlib"], paths["purelib"]]):
        for path in sorted(Path(root).rglob("*.py")):
            if len(found) >= needed:
                return found
            if path.stat().st_size > MAX_SOURCE_BYTES:
                continue
            try:
                tree = ast.parse(path.read_bytes())
            except (SyntaxError, ValueError, OSError):
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    for sentence in _sentences_of(ast.get_docstring(node, clean=False) or ""):
                        if sentence not in seen:
                            seen.add(sentence)
                            found.append(sentence)
    return found


def _sentences_of(docstring: str) -> list[str]:
    """Prose sentences: 5+ words, 30-300 characters, mostly letters (no code, tables or signatures)."""
    kept = []
    for paragraph in re.split(r"\n\s*\n", docstring):
        for sentence in _SENTENCE_END.split(" ".join(paragraph.split())):
            letters = sum(c.isalpha() or c == " " for c in sentence)
            if 30 <= len(sentence) <= 300 and len(sentence.split()) >= 5 and letters > 0.85 * len(sentence):
                kept.append(sentence)
    return kept
