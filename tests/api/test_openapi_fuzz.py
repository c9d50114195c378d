"""Property-based fuzzing of the published OpenAPI schema with every schemathesis check: no 5xx comes back, every
status and body is the documented one, requests valid by the schema are accepted (a 400 aside: see
schemathesis.toml), invalid ones refused, and 405s name the methods a path serves."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
CONFIG = Path(__file__).with_name("schemathesis.toml")


async def test_fuzzing_the_openapi_schema_with_every_check_finds_nothing(api_server, make_key, tmp_path):
    created = await make_key(rate_limit_per_minute=1_000_000, max_concurrent_jobs=1_000_000)
    process = await asyncio.create_subprocess_exec(
        SCHEMATHESIS, "--config-file", str(CONFIG), "run", f"{api_server.url}/openapi.json",
        "--checks", "all", "--max-examples", "25", "--generation-deterministic",
        "--header", f"Authorization: Bearer {created.secret}", "--request-timeout", "30",
        "--phases", "examples,coverage,fuzzing", "--workers", "1",
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), timeout=600)
    report = output.decode(errors="replace")
    assert process.returncode == 0, report[-6000:]
    selected, tested = (int(n) for n in re.search(r"Selected: (\d+)/\d+\s+Tested: (\d+)", report).groups())
    assert tested == selected >= 10, report[-3000:]  # every operation of the API was exercised
