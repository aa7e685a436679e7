"""pyproject.toml declares compatible ranges; constraints.txt holds the exact tested set that CI and the README's
install command use. They must agree: every direct dependency pinned in constraints.txt at one version inside its
declared range, the TensorFlow alias at the pinned TensorFlow version, and the install commands naming both files."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "constraints.txt"
ALIAS = ROOT / ".ci" / "tensorflow-cpu-alias" / "pyproject.toml"
INSTALL = "pip install -c constraints.txt ./.ci/tensorflow-cpu-alias -e '.[dev]'"
# the platform the constraints were generated on (tflite-micro publishes wheels for Linux x86-64 only)
TESTED_PLATFORM = {**default_environment(), "sys_platform": "linux", "platform_system": "Linux",
                   "platform_machine": "x86_64", "python_version": "3.11", "os_name": "posix"}


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _direct() -> list[Requirement]:
    project = _project()
    found = [Requirement(s) for s in project["dependencies"]]
    found += [Requirement(s) for s in project["optional-dependencies"]["dev"]]
    return [r for r in found if r.marker is None or r.marker.evaluate(TESTED_PLATFORM)]


def _pins() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for number, line in enumerate(CONSTRAINTS.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
        assert match, f"constraints.txt:{number}: {line!r} is not an exact `name==version` pin"
        name = canonicalize_name(match.group(1))
        assert name not in pins, f"constraints.txt:{number}: {name} is pinned twice"
        pins[name] = Version(match.group(2))
    return pins


def test_constraints_pin_every_package_exactly_once() -> None:
    assert len(_pins()) > len(_direct())  # direct and transitive


@pytest.mark.parametrize("requirement", _direct(), ids=lambda r: r.name)
def test_direct_dependency_pinned_inside_its_range(requirement: Requirement) -> None:
    assert requirement.specifier, f"{requirement.name} has no declared range in pyproject.toml"
    pins = _pins()
    name = canonicalize_name(requirement.name)
    assert name in pins, f"{requirement.name} is a dependency in pyproject.toml but not pinned in constraints.txt"
    assert requirement.specifier.contains(pins[name], prereleases=True), (
        f"constraints.txt pins {requirement.name}=={pins[name]}, outside pyproject.toml's {requirement}")


def test_tensorflow_alias_matches_the_pinned_tensorflow() -> None:
    pins = _pins()
    alias = tomllib.loads(ALIAS.read_text())["project"]
    assert alias["name"] == "tensorflow"
    assert Version(alias["version"]) == pins["tensorflow"], "the alias's version must be constraints.txt's tensorflow"
    (cpu,) = [Requirement(s) for s in alias["dependencies"]]
    assert canonicalize_name(cpu.name) == "tensorflow-cpu"
    assert str(cpu.specifier) == f"=={pins['tensorflow']}" and pins["tensorflow-cpu"] == pins["tensorflow"]


def test_torch_pinned_to_the_cpu_build() -> None:
    assert _pins()["torch"].local == "cpu", "a torch pin without +cpu lets pip take PyPI's multi-GB CUDA build"


@pytest.mark.parametrize("document", ["README.md", ".ci/run"])
def test_install_commands_use_the_constraints(document: str) -> None:
    assert INSTALL in (ROOT / document).read_text(), f"{document} does not install with: {INSTALL}"
