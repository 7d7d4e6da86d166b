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
    """``make bench`` is not run by the tests; an import that a change broke is found here.
    One fresh interpreter imports them all (one each cost 25 interpreter starts), naming every
    module that fails."""
    modules = [f"bench.{path.stem}" for path in sorted((repo / "bench").glob("bench_*.py"))]
    assert len(modules) > 10
    script = (
        "import importlib, sys\n"
        "failed = []\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as error:\n"
        "        failed.append(f'{name}: {error!r}')\n"
        "print('\\n'.join(failed))\n"
        "sys.exit(1 if failed else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *modules], cwd=repo, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
