"""The conda environment of the rules (envs/mlhep.yaml) agrees with constraints.txt and
pyproject.toml: every package it pins has the version constraints.txt pins, every run-time
dependency is in it, and it holds the whole run-time closure of the pinned packages and
nothing else (not the test tools). Conda itself cannot be installed here: the file is
checked, not built."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
ENV_FILE = REPO / "envs" / "mlhep.yaml"


def _pin(text: str) -> tuple[str, str]:
    """(canonical name, version) of an exact pin ``name==version``; ``ValueError`` else."""
    requirement = Requirement(text)
    specs = list(requirement.specifier)
    if len(specs) != 1 or specs[0].operator != "==" or requirement.marker or requirement.extras:
        raise ValueError(f"{text!r} is not an exact pin name==version")
    return canonicalize_name(requirement.name), specs[0].version


def constraints_pins(path: Path = REPO / "constraints.txt") -> dict[str, str]:
    """The versions constraints.txt pins, by canonical name."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return dict(_pin(line) for line in lines if line)


def env_pins(env: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """The conda and the pip pins of a conda environment file's content (pip options such as
    ``--extra-index-url`` skipped); ``ValueError`` for a package that is not pinned."""
    conda: dict[str, str] = {}
    pip: dict[str, str] = {}
    for entry in env["dependencies"]:
        if isinstance(entry, dict):
            for line in entry["pip"]:
                if not line.startswith("-"):
                    name, version = _pin(line)
                    pip[name] = version
        elif entry != "pip":  # conda's pip, taken as it comes
            name, sep, version = entry.partition("=")
            if not sep or not version:
                raise ValueError(f"conda package {entry!r} is not pinned")
            conda[canonicalize_name(name)] = version.lstrip("=")
    return conda, pip


def disagreements(pins: Mapping[str, str], constraints: Mapping[str, str]) -> list[str]:
    """The pins that constraints.txt lacks or pins to another version."""
    return [
        f"{name}=={version} (constraints.txt: {constraints.get(name, 'absent')})"
        for name, version in sorted(pins.items())
        if constraints.get(name) != version
    ]


def runtime_dependencies() -> list[Requirement]:
    """pyproject.toml's run-time dependencies."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [Requirement(text) for text in project["dependencies"]]


def closure(requirements: Iterable[Requirement]) -> set[str]:
    """The canonical names of the installed packages these requirements need, and of those
    they need in turn (markers evaluated here, with the extras asked for)."""
    needed: set[str] = set()
    todo = list(requirements)
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in needed:
            continue
        needed.add(name)
        for text in metadata.distribution(requirement.name).requires or []:
            sub = Requirement(text)
            extras = ("", *requirement.extras)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in extras):
                todo.append(sub)
    return needed


@pytest.fixture(scope="module")
def env() -> dict[str, Any]:
    """The environment file's content."""
    return yaml.safe_load(ENV_FILE.read_text())


def test_the_env_takes_python_3_11_from_conda_forge_only(env: dict) -> None:
    assert env["channels"] == ["conda-forge", "nodefaults"]
    conda, _ = env_pins(env)
    assert conda == {"python": "3.11"}
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11"


def test_every_package_the_env_pins_has_the_version_of_constraints_txt(env: dict) -> None:
    _, pip = env_pins(env)
    assert disagreements(pip, constraints_pins()) == []
    assert pip["torch"] == "2.13.0"


def test_a_disagreement_is_found() -> None:
    constraints = {"numpy": "2.4.6", "torch": "2.13.0"}
    assert disagreements({"numpy": "2.4.6", "torch": "2.13.0"}, constraints) == []
    assert disagreements({"numpy": "2.4.5", "scipy": "1.17.1"}, constraints) == [
        "numpy==2.4.5 (constraints.txt: 2.4.6)",
        "scipy==1.17.1 (constraints.txt: absent)",
    ]
    with pytest.raises(ValueError, match="'numpy>=2' is not an exact pin"):
        env_pins({"dependencies": ["python=3.11", {"pip": ["numpy>=2"]}]})
    with pytest.raises(ValueError, match="conda package 'python' is not pinned"):
        env_pins({"dependencies": ["python"]})


def test_every_runtime_dependency_of_pyproject_is_in_the_env(env: dict) -> None:
    _, pip = env_pins(env)
    missing = [r.name for r in runtime_dependencies() if canonicalize_name(r.name) not in pip]
    assert missing == []


def test_the_env_pins_the_whole_runtime_closure_and_no_test_tool(env: dict) -> None:
    _, pip = env_pins(env)
    runtime = closure(runtime_dependencies()) & set(constraints_pins())
    assert sorted(runtime - set(pip)) == [], "needed at run time but not in the env"
    assert sorted(set(pip) - runtime) == [], "in the env but not needed at run time"
