"""OpenAI's OpenAPI spec (tests/fixtures/openapi, MIT, copied verbatim), for checking what we send.

The YAML is 3 MB: it is parsed once per test process, with libyaml's ``CSafeLoader`` (seconds
faster than the pure-Python loader), and every test file asks for its validators here.
"""

from __future__ import annotations

import functools
from pathlib import Path

SPEC = Path(__file__).resolve().parent / "fixtures" / "openapi" / "openapi.yaml"


@functools.lru_cache(maxsize=1)
def spec() -> dict:
    import yaml

    with open(SPEC, "rb") as handle:
        return yaml.load(handle, Loader=yaml.CSafeLoader)


@functools.cache
def validator(schema: str):
    """A Draft 2020-12 validator for ``#/components/schemas/<schema>``."""
    import jsonschema

    return jsonschema.Draft202012Validator(
        {"$ref": f"#/components/schemas/{schema}", "components": spec()["components"]})
