"""The README's two commands are the ones CI runs and the ones that work."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_readme_gives_exactly_two_commands():
    run, test = _commands()
    assert "pip install ." in run and "wafersim run scenarios/quickstart.yaml" in run
    assert "pytest" in test


def test_ci_runs_the_readme_commands_one_after_the_other():
    run, test = _commands()
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert run in lines and test in lines
    assert lines.index(run) < lines.index(test)


def test_readme_names_every_shipped_scenario():
    text = (ROOT / "README.md").read_text()
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        assert f"scenarios/{path.name}" in text


def test_readme_optimizer_table_states_the_optimizers_own_facts():
    from wafersim.optimizers import OPTIMIZERS, facts

    text = (ROOT / "README.md").read_text()
    for name, kind in OPTIMIZERS.items():
        state, macs = facts(name)
        row = next(line for line in text.splitlines() if line.startswith(f"| `{name}` |"))
        assert f"| {state} | {macs} | {kind.summary} |" in row, name
