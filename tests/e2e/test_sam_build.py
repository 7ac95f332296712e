"""`make build` runs `sam build` without Docker: functions and the layer, wheels for Lambda's Python."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT, template


def test_sam_build_makes_every_function_and_the_layer_for_python_312_on_arm64(tmp_path: Path) -> None:
    build = tmp_path / "build"

    result = subprocess.run(
        ["make", "--no-print-directory", "build", f"BUILD_DIR={build}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for logical_id, resource in template()["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            assert (build / logical_id / "app.py").is_file(), logical_id
    layer = build / "DomainLayer" / "python"
    assert (layer / "closeloop" / "api" / "catalogue.py").is_file()
    for language in ("fr", "en"):  # the email templates ship in the layer, where the renderer finds them
        for name in ("survey.html", "survey.txt", "subject.txt", "intro.txt"):
            assert (layer / "closeloop" / "templates" / "emails" / language / name).is_file(), (language, name)
    assert (layer / "closeloop" / "templates" / "emails" / "layout.html").is_file()
    for category in ("detractor", "passive", "promoter"):  # the call scripts too (closeloop.scripts)
        for language in ("fr", "en"):
            assert (layer / "closeloop" / "templates" / "scripts" / f"{category}.{language}.md").is_file()
    found = subprocess.run(
        [sys.executable, "-c", "from closeloop.templating import templates_dir; print(templates_dir())"],
        env={**os.environ, "PYTHONPATH": str(layer)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(found.stdout.strip()) == layer / "closeloop" / "templates", "the renderer reads the layer's copy"
    assert list(layer.glob("pydantic_core/_pydantic_core.cpython-312-aarch64-linux-gnu.so")), "wheels for Lambda"
    assert not list(layer.glob("moto")), "the local runtime's dependencies stay out of the layer"
    assert (build / "template.yaml").is_file()
