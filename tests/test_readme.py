"""README.md stays true: every setting is documented, and CI runs the test command it gives."""

from pathlib import Path

from comfy_platform.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_every_environment_variable_is_documented():
    missing = [name for name in Settings.model_fields if f"`{name}`" not in README]
    assert missing == []


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one():
    assert "make dev" in README and "make test" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
