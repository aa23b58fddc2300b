"""The configuration reference (docs/configuration.md), generated from ``engram.config.Config`` itself.

Every setting is documented once, by the docstring under its field in engram/config.py; this module reads those
docstrings from the source (Python keeps no attribute docstrings at run time) and renders one table with each key's
default, environment variable and ``engram start`` flag. A test keeps the page equal to what this prints, so the
reference cannot drift from the code.

    python -m engram.config_reference      # prints the table
"""

from __future__ import annotations

import ast
import inspect
import json

import msgspec

from engram import config
from engram.cli_server import FLAG_OF_FIELD


def field_docs() -> dict[str, str]:
    """Each Config field's docstring, in declaration order, whitespace folded onto one line."""
    tree = ast.parse(inspect.getsource(config))
    body = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Config").body
    docs = {}
    for statement, following in zip(body, body[1:] + [None], strict=True):
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            text = ""
            if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant):
                text = " ".join(str(following.value.value).split())
            docs[statement.target.id] = text
    return docs


def reference_markdown() -> str:
    env_of = {field: var for var, field in config.ENV_VARS.items()}
    defaults = msgspec.to_builtins(config.Config())
    rows = ["| key | default | env | flag | meaning |", "|---|---|---|---|---|"]
    for field, doc in field_docs().items():
        default = json.dumps(defaults[field])
        env = f"`{env_of[field]}`" if field in env_of else ""
        flag = f"`{FLAG_OF_FIELD[field]}`" if field in FLAG_OF_FIELD else ""
        rows.append(f"| `{field}` | `{default}` | {env} | {flag} | {doc.replace('|', '/')} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(reference_markdown(), end="")
