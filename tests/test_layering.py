"""The layering of shared/DESIGN.md holds: drivers import no project code, the controller
never imports the simulator, the simulator imports only the drivers' pure codecs and types."""

import subprocess
import sys
from pathlib import Path


def test_import_contracts_hold(repo: Path):
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=repo, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 5 kept, 0 broken." in result.stdout


def test_every_benchmark_imports(repo: Path):
    """``make bench`` is not run by the tests; an import that a change broke is found here."""
    for path in sorted((repo / "bench").glob("bench_*.py")):
        result = subprocess.run(
            [sys.executable, "-c", f"import bench.{path.stem}"],
            cwd=repo,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, f"{path.name}: {result.stderr.strip().splitlines()[-1:]}"
