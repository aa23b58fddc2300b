"""The built-in embedder gives every text a stable unit vector, and related texts similar ones."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from engram.embedder import embed_text, tokenize

REPO_ROOT = Path(__file__).resolve().parents[2]


def cosine(a: str, b: str, dim: int = 768) -> float:
    return float(embed_text(a, dim) @ embed_text(b, dim))


def test_tokenize_lowercases_and_splits_on_everything_but_letters_and_digits() -> None:
    assert tokenize("The Mitochondria, the cell's POWERHOUSE_42; Über-café") == [
        "the",
        "mitochondria",
        "the",
        "cell",
        "s",
        "powerhouse",
        "42",
        "über",
        "café",
    ]


def test_vectors_are_identical_in_another_process_with_another_hash_seed() -> None:
    text = "The mitochondria is the powerhouse of the cell"
    script = (
        "import sys; from engram.embedder import embed_text; "
        f"sys.stdout.buffer.write(embed_text({text!r}, 384).tobytes())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, check=True, timeout=60
    )
    assert child.stdout == embed_text(text, 384).tobytes()


def test_vectors_are_float32_unit_length_of_the_requested_dimension() -> None:
    for text in [
        "one",
        "The mitochondria is the powerhouse of the cell",
        "a " * 500,
        "",
        "?!",
        "日本語のテキスト",
    ]:
        for dim in (1, 3, 64, 768):
            vector = embed_text(text, dim)
            assert vector.dtype == np.float32 and vector.shape == (dim,)
            assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


def test_text_without_words_gets_a_fixed_non_zero_vector() -> None:
    assert np.array_equal(embed_text("?!", 64), embed_text("?!", 64))
    assert np.count_nonzero(embed_text("", 64)) == 1


def test_shared_words_score_higher_than_unrelated_text() -> None:
    memory = "The mitochondria is the powerhouse of the cell"
    assert cosine(memory, "mitochondria cell") > 0.4
    assert cosine(memory, "mitochondria cell") > cosine(memory, "quarterly stock market report") + 0.3
    assert cosine("remember the meeting", "memories of meetings") > cosine(
        "remember the meeting", "quarterly stock market report"
    )


def test_related_word_forms_overlap_through_trigrams() -> None:
    assert cosine("consolidation", "consolidating") > 0.05
    assert abs(cosine("consolidation", "spreadsheet")) < cosine("consolidation", "consolidating")
