"""schemathesis against the running system's /openapi.json: every phase (the examples, the coverage
of each constraint and of the methods no route has, fuzzing, stateful sequences), every check but
`positive_data_acceptance`, which tests/e2e/schemathesis_hooks.py replaces with one that knows the
API's documented refusals. Bounded: a few examples per operation, one fixed seed (CI sees the same
run), and a time limit on the whole run. The rate limit is off, and so is the brake on guessing
tokens (`ignored_auth` sends wrong ones on purpose).

What it holds the API to: no 5xx; every status, content type and header documented; every answer
valid against its schema; a schema-valid request accepted or refused only as documented; a
schema-invalid one refused; a 405 with an `Allow` naming every documented method.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.system import AUTH, LocalSystem
from tests.helpers import ROOT

SEED = os.environ.get("SCHEMATHESIS_SEED", "1")
EXAMPLES = 10
RUN_SECONDS = 300  # the whole run's bound; it takes ~15 s here


@pytest.mark.system_env(GATEWAY_RATE_LIMIT_PER_SECOND="0", GATEWAY_AUTH_FAILURES_BURST="1000000")
def test_the_running_api_conforms_to_its_own_description(system: LocalSystem, tmp_path: Path) -> None:
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "run", f"{system.url}/openapi.json"),
        *("--url", system.url, "--header", f"Authorization: {AUTH['Authorization']}"),
        *("--checks", "all", "--exclude-checks", "positive_data_acceptance"),
        *("--max-examples", str(EXAMPLES), "--seed", SEED, "--workers", "1"),
        *("--request-timeout", "10", "--output-truncate", "false"),
    ]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SCHEMATHESIS_HOOKS": "tests.e2e.schemathesis_hooks",
        "NO_COLOR": "1",
    }

    # cwd: its example database (.hypothesis) goes to the test's own directory
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=RUN_SECONDS)

    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    assert "0 passed" not in run.stdout and " passed" in run.stdout, run.stdout[-3000:]
