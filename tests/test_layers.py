"""The layering contract (pyproject `[tool.importlinter]`): floors import only downward, the core
knows no front end, only the CLI imports the benchmarks, and no two modules of a floor import
each other. Checked on the real tree, and shown to fail on a copy with one upward import added."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("config", "models", "retrieval", "answers", "bench", "bot", "training")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        check=False,
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _copy_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def test_the_layer_contracts_hold_on_the_tree() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "added_import", "broken_contract"),
    [
        ("retrieval/chunk.py", "import answers.grounding", "Floors import only downward"),
        ("models/embedders.py", "import retrieval.types", "Floors import only downward"),
        ("answers/grounding.py", "import telegram", "The core knows no front end"),
        ("bot/handlers.py", "import bench.runner", "Only the CLI's bench command imports the benchmarks"),
        ("retrieval/types.py", "import retrieval.stores.embedded.store", "No two modules of a floor import each other"),
        ("answers/grounding.py", "import retrieval.stores.embedded.store", "Answers read a store only through store_protocol"),
        ("retrieval/stores/embedded/search.py", "import retrieval.stores.postgres.store", "The two stores know nothing of each other"),
    ],
)
def test_an_added_forbidden_import_breaks_a_contract(
    tmp_path: Path, module: str, added_import: str, broken_contract: str
) -> None:
    tree = _copy_tree(tmp_path)
    target = tree / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{added_import}  # noqa\n", encoding="utf-8")
    result = _lint_imports(tree)
    assert result.returncode != 0
    assert f"{broken_contract} BROKEN" in result.stdout, result.stdout
