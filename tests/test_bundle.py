"""What `wrangler deploy --dry-run` would upload: worker/ and python_modules/.

wrangler puts the files of the main module's folder (worker/) at the bundle
root and every file of python_modules/ under python_modules/, data files such
as the policy's TOML included. The dry run needs no network.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NODE = PROJECT_ROOT / "node_modules" / ".bin" / "node"
WRANGLER = PROJECT_ROOT / "node_modules" / "wrangler" / "bin" / "wrangler.js"
PYTHON_MODULES = PROJECT_ROOT / "python_modules"
VENDORED_PACKAGES = ("shared_routing", "wcmatch", "bracex")


def build_bundle(outdir: Path, env: str) -> subprocess.CompletedProcess[str]:
    """Run the wrangler dry run into `outdir` for `env` ("" is the top level)."""
    if not NODE.exists() or not WRANGLER.exists():
        pytest.skip(f"{NODE} or {WRANGLER} is missing: run `make install`")
    if not (PYTHON_MODULES / "shared_routing").is_dir():
        pytest.skip(f"{PYTHON_MODULES} is missing: run `make vendor`")
    environment = dict(os.environ, WRANGLER_SEND_METRICS="false")
    command = [str(NODE), str(WRANGLER), "deploy", "--dry-run", "--outdir", str(outdir)]
    return subprocess.run(
        [*command, f"--env={env}"],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the folder holding the top-level environment's bundle."""
    outdir = tmp_path_factory.mktemp("bundle")
    result = build_bundle(outdir, "")
    assert result.returncode == 0, result.stdout + result.stderr
    return outdir


def files_under(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*")}


def test_bundle_root_holds_worker_modules(bundle: Path) -> None:
    sources = {path.name for path in (PROJECT_ROOT / "worker").glob("*.py")}
    assert "entry.py" in sources
    for name in sorted(sources):
        assert (bundle / name).is_file(), f"{name} missing from the bundle root"


def test_bundle_holds_vendored_packages(bundle: Path) -> None:
    for package in VENDORED_PACKAGES:
        init = bundle / "python_modules" / package / "__init__.py"
        assert init.is_file(), f"{package} missing from python_modules in the bundle"


def test_bundle_holds_all_of_python_modules(bundle: Path) -> None:
    vendored = {
        path.relative_to(PYTHON_MODULES).as_posix()
        for path in PYTHON_MODULES.rglob("*")
        if path.is_file() and path.suffix != ".pyc"
    }
    bundled = files_under(bundle / "python_modules")
    assert vendored - bundled == set()


def test_bundle_keeps_toml_data_files(bundle: Path) -> None:
    bundled = files_under(bundle / "python_modules" / "shared_routing")
    for path in (PROJECT_ROOT / "shared_routing").rglob("*.toml"):
        assert path.name in bundled, f"{path.name} missing from the bundle"


def test_python_modules_holds_every_core_module() -> None:
    if not PYTHON_MODULES.is_dir():
        pytest.skip(f"{PYTHON_MODULES} is missing: run `make vendor`")
    source = PROJECT_ROOT / "shared_routing"
    vendored = files_under(PYTHON_MODULES / "shared_routing")
    expected = {
        path.relative_to(source).as_posix()
        for path in source.rglob("*")
        if path.suffix in (".py", ".toml") and "__pycache__" not in path.parts
    }
    missing = sorted(expected - vendored)
    assert missing == [], "python_modules is stale: run `make vendor`"


def test_bundle_has_no_bytecode_or_tooling(bundle: Path) -> None:
    bundled = files_under(bundle)
    assert [name for name in bundled if name.endswith(".pyc")] == []
    assert [
        name for name in bundled if name.startswith(("node_modules", ".venv"))
    ] == []


def test_production_bundle_builds(tmp_path: Path) -> None:
    result = build_bundle(tmp_path, "production")
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'env.ENVIRONMENT ("production")' in result.stdout
    assert (tmp_path / "entry.py").is_file()
