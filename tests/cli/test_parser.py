"""`comfy-platform --help` and argument errors answer at once: nothing heavy is imported before the arguments
parse (the time itself is measured in bench/cli.py, not here)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("temporalio", "sqlalchemy", "pydantic", "pydantic_settings", "structlog", "httpx", "rich", "fastapi",
         "PIL", "comfy_platform.settings", "db", "services", "presets")
PROBE = """
import sys
from cli.main import main
try:
    main({argv!r})
except SystemExit:
    pass
print("IMPORTED:" + ",".join(sorted(name for name in {heavy!r} if name in sys.modules)))
"""


def imported_by(argv: list[str]) -> str:
    probe = PROBE.format(argv=argv, heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    return done.stdout.rsplit("IMPORTED:", 1)[1].strip()


def test_help_and_argument_errors_import_nothing_heavy():
    for argv in (["--help"], ["submit", "--help"], ["submit", "--no-such-flag"], ["keys", "create", "--help"], []):
        assert imported_by(argv) == "", argv


def test_an_argument_error_says_what_is_wrong_and_exits_2():
    done = subprocess.run([sys.executable, "-m", "cli.main", "submit", "--preset", "x"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "--out" in done.stderr and "Traceback" not in done.stderr
