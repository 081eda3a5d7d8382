"""Where the shared conformance vectors live."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
VECTORS = REPO_ROOT / "conformance" / "vectors"


def load(relative: str) -> Any:
    return json.loads((VECTORS / relative).read_text(encoding="utf-8"))
