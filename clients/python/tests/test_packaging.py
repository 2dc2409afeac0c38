"""The wheel builds offline (no isolation; hatchling comes from requirements-dev) with py.typed."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

SDK_ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_the_package_and_py_typed(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path)],
        cwd=SDK_ROOT,
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("klaxon_sdk-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "klaxon/py.typed" in names
    assert "klaxon/_openapi.py" in names
    assert not any(name.startswith(("tests/", "tools/", "bench/")) for name in names)
    metadata = next(n for n in names if n.endswith("METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    requires = sorted(line for line in text.splitlines() if line.startswith("Requires-Dist:"))
    assert requires == ["Requires-Dist: httpx>=0.25", "Requires-Dist: sniffio>=1.3"]
