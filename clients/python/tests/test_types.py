"""Stale-types checks: klaxon/_openapi.py must be what the generator makes of the API document."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from harness import KlaxonProcess

from tools.generate import DEFAULT_INPUT, DEFAULT_OUTPUT, generate

OPENAPI_JSON = DEFAULT_INPUT  # clients/openapi.json, committed by the lead


def regenerated(document: object, scratch: Path) -> str:
    source = scratch / "openapi.json"
    source.write_text(json.dumps(document), encoding="utf-8")
    output = scratch / "_openapi.py"
    generate(source, output)
    return output.read_text(encoding="utf-8")


def served_document(klaxon_server: KlaxonProcess) -> object:
    return httpx.get(f"{klaxon_server.url}/openapi.json", timeout=10).json()


@pytest.mark.skipif(not OPENAPI_JSON.exists(), reason="clients/openapi.json is not committed yet")
def test_committed_types_match_openapi_json(tmp_path: Path) -> None:
    document = json.loads(OPENAPI_JSON.read_text(encoding="utf-8"))
    assert regenerated(document, tmp_path) == DEFAULT_OUTPUT.read_text(encoding="utf-8"), (
        "klaxon/_openapi.py is stale: run `python -m tools.generate` in clients/python"
    )


@pytest.mark.skipif(not OPENAPI_JSON.exists(), reason="clients/openapi.json is not committed yet")
def test_openapi_json_is_what_the_binary_serves(klaxon_server: KlaxonProcess) -> None:
    committed = json.loads(OPENAPI_JSON.read_text(encoding="utf-8"))
    assert served_document(klaxon_server) == committed, (
        "clients/openapi.json differs from GET /openapi.json: regenerate it with `klaxon openapi`"
    )


def test_committed_types_match_the_running_binary(
    klaxon_server: KlaxonProcess, tmp_path: Path
) -> None:
    generated = regenerated(served_document(klaxon_server), tmp_path)
    assert generated == DEFAULT_OUTPUT.read_text(encoding="utf-8"), (
        "klaxon/_openapi.py does not match the binary's /openapi.json"
    )
