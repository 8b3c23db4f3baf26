"""The README's two commands are the ones CI runs and stay in step with the project."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path


def _bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)\n```", text, flags=re.S)


def test_readme_opens_with_run_and_test_commands(repo: Path) -> None:
    blocks = _bash_blocks((repo / "README.md").read_text())
    run, test = blocks[0], blocks[1]
    assert run.startswith("python3 -m venv .venv") and run.endswith("snakemake --cores 2")
    assert "pytest" in test
    for command in (run, test):
        # torch is installed first, alone, pinned
        assert command.index("torch==2.13.0") < command.index("-c constraints.txt")


def test_ci_runs_exactly_the_readme_test_command(repo: Path) -> None:
    test_command = _bash_blocks((repo / "README.md").read_text())[1]
    ci_lines = (repo / ".ci" / "run").read_text().splitlines()
    assert test_command in ci_lines


def test_constraints_pin_every_dependency(repo: Path) -> None:
    pins = {
        line.split("==")[0].lower().replace("_", "-")
        for line in (repo / "constraints.txt").read_text().splitlines()
        if line and not line.startswith("#")
    }
    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + [
        d for ds in project["optional-dependencies"].values() for d in ds
    ]
    assert deps, "no dependencies in pyproject.toml"
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+", d) for d in deps), (
        "versions belong in constraints.txt"
    )
    missing = [d for d in deps if d.lower().replace("_", "-") not in pins]
    assert not missing, f"not pinned in constraints.txt: {missing}"
    assert "torch" in pins
