"""What the images install holds no test, development or benchmark harness: the project's wheel
carries exactly the five deployable packages and none of its modules imports a harness, and the
Dockerfile's build stage takes nothing else from the repository (DESIGN.md, item 14).

The wheel is built offline from a copy of the whole working tree (devtools/, bench/ and tests/
included), with the venv's setuptools: what `pip install .` in the Dockerfile would install."""

from __future__ import annotations

import ast
import shlex
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import PurePosixPath

import pytest

from tests.helpers import ROOT

DEPLOYED = {"shared", "gateway", "inventory_service", "sales_service", "delivery_service"}
HARNESS = {"devtools", "bench", "tests"}
# Imports that only a harness makes: none may appear in a module the images run.
HARNESS_IMPORTS = HARNESS | {"pytest", "respx", "_pytest"}
# Never copied: the venv, git's data, caches and earlier builds.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "venv", "data", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    work = tmp_path_factory.mktemp("packaging")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    packages = {p.name for p in source.iterdir() if (p / "__init__.py").exists()}
    assert packages >= HARNESS | DEPLOYED  # the wheel leaves them out by choice, not by absence
    offline = ["--no-deps", "--no-build-isolation", "--no-index"]
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", *offline, "-w", str(work / "wheels"), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    [path] = (work / "wheels").glob("bookstore-*.whl")
    with zipfile.ZipFile(path) as archive:
        yield archive


def python_modules(wheel: zipfile.ZipFile) -> list[str]:
    return [name for name in wheel.namelist() if name.endswith(".py")]


def imported_packages(source: bytes) -> set[str]:
    """The top-level packages a module imports by absolute name."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_wheel_holds_exactly_the_five_deployable_packages(wheel: zipfile.ZipFile) -> None:
    top_level = {PurePosixPath(name).parts[0] for name in wheel.namelist()}
    assert {name for name in top_level if not name.endswith(".dist-info")} == DEPLOYED


def test_no_module_in_the_wheel_is_a_test_or_imports_a_harness(wheel: zipfile.ZipFile) -> None:
    modules = python_modules(wheel)
    assert len(modules) > 50  # the services themselves are there to be checked
    for name in modules:
        path = PurePosixPath(name)
        assert not HARNESS & set(path.parts), name
        assert not path.name.startswith("test_") and path.name != "conftest.py", name
        harness = imported_packages(wheel.read(name)) & HARNESS_IMPORTS
        assert not harness, f"{name} imports {sorted(harness)}"


def copied_from_the_context(dockerfile: str) -> list[str]:
    """The sources of every COPY or ADD that reads the build context (not `--from=` a stage)."""
    sources = []
    for line in dockerfile.replace("\\\n", " ").splitlines():
        if not line.lstrip().upper().startswith(("COPY ", "ADD ")):
            continue
        words = shlex.split(line)
        flags = [w for w in words[1:] if w.startswith("--")]
        if not any(flag.startswith("--from=") for flag in flags):
            sources += [w for w in words[1:-1] if not w.startswith("--")]
    return sources


def test_the_images_build_stage_copies_only_the_deployables_the_lock_and_pyproject() -> None:
    sources = copied_from_the_context((ROOT / "Dockerfile").read_text())
    assert sorted(source.rstrip("/") for source in sources) == sorted(
        DEPLOYED | {"pyproject.toml", "requirements.lock"}
    )


def test_the_build_context_leaves_the_harness_out() -> None:
    ignored = {line.strip().strip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert ignored >= HARNESS
