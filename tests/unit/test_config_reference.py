"""docs/configuration.md lists every configuration key, with the docstring engram/config.py gives it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from engram.config import Config, load_config
from engram.config_reference import field_docs, reference_markdown

PAGE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_every_config_key_has_a_docstring():
    docs = field_docs()
    assert list(docs) == list(Config.__struct_fields__)
    assert all(docs.values()), [key for key, text in docs.items() if not text]


def test_the_page_holds_the_generated_reference():
    match = re.search(r"<!-- reference:start -->\n(.*?)<!-- reference:end -->", PAGE.read_text(), re.S)
    assert match, "docs/configuration.md lost its reference markers"
    assert match.group(1) == reference_markdown(), "run: python -m engram.config_reference"


def test_the_pages_toml_example_is_a_valid_configuration(tmp_path):
    example = re.search(r"```toml\n(.*?)```", PAGE.read_text(), re.S).group(1)
    path = tmp_path / "engram.toml"
    path.write_text(example)
    config = load_config(str(path))
    document = tomllib.loads(example)
    assert config.require_explicit_space is True
    assert config.bootstrap_spaces == document["memory_spaces"]["bootstrap_spaces"]
    assert config.max_resident_spaces == document["workers"]["max_resident_spaces"]
