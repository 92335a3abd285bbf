"""The JSON Schema of rule files, generated from the pydantic models in ``rules.schema``.

The shipped copy is ``rules/rules.schema.json`` (``make schema`` regenerates it; a test
keeps it in sync). Rule files point editors at it with a first line such as
``# yaml-language-server: $schema=../rules.schema.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rules.schema import RuleFile

SCHEMA_PATH = Path(__file__).resolve().parent / "rules.schema.json"


def rule_file_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) that every rule YAML file satisfies."""
    schema = RuleFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://adreview.invalid/rules.schema.json"
    schema["title"] = "adreview rule file"
    schema["description"] = (
        "Banned advertising claims: categories and rules. Phrases are matched after "
        "normalisation (full width to half width, lower case, traditional to simplified, "
        "separators removed); patterns are RE2 expressions on that normalised text."
    )
    return schema
