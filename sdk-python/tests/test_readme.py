"""The README's runnable blocks run, against the live gateway: the page cannot
drift from the package."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from .conftest import LiveGateway, Tenant, mint_token
from .vectors import REPO_ROOT

README = (REPO_ROOT / "sdk-python" / "README.md").read_text(encoding="utf-8")
# The quickstart (`ci: file quickstart.py`, which `cargo xtask quickstarts` also
# runs against `lictor serve --demo` after installing the package from the
# clone) and the other blocks marked to run.
BLOCKS = re.findall(r"<!-- (?:runs-as-test|ci: file \S+\.py)[^>]*-->\n```python\n(.*?)```", README, re.DOTALL)


def test_the_readme_has_a_runnable_quickstart() -> None:
    assert len(BLOCKS) >= 2
    quickstart = BLOCKS[0]
    lines = [line for line in quickstart.splitlines() if line and not line.startswith("#")]
    assert lines[1].startswith("from lictor import Gateway")
    assert lines[2].startswith("gateway = Gateway(") and "call_tool(" in lines[3]


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index: int, live_gateway: LiveGateway, tenant: Tenant) -> None:
    env = {
        **os.environ,
        "LICTOR_URL": live_gateway.url,
        "LICTOR_TOKEN": mint_token(live_gateway.url, tenant.admin_key),
    }
    run = subprocess.run([sys.executable, "-c", BLOCKS[index]], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    if index == 0:
        assert run.stdout.splitlines() == [
            "hello through the gate",
            "refused: transact_over_limit",
            "['bank.echo']",
        ]
