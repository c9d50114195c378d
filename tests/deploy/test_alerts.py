"""The alert rules are valid Prometheus rules, and fire when they should (promtool's own unit tests).

promtool comes with Debian's `prometheus` package, which `make test` installs when it is missing; a machine
without it fails here rather than skipping, so CI never passes without these checks."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess:
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: `make test` installs it (apt-get install prometheus)"
    return subprocess.run([binary, *args], capture_output=True, text=True, cwd=PROMETHEUS)


def test_alert_rules_pass_promtool_check():
    checked = promtool("check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_alerts_fire_for_a_backend_down_usage_stuck_and_webhooks_failing():
    tested = promtool("test", "rules", "alerts_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_a_broken_rule_is_refused(tmp_path):
    """The check above can fail."""
    broken = tmp_path / "broken.yml"
    broken.write_text("groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: sum(rate(\n")
    assert promtool("check", "rules", str(broken)).returncode != 0
