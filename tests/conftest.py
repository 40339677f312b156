import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FIXTURES = Path(os.environ.get("RTVC_FIXTURES", ROOT.parent / "shared" / "fixtures" / "rtvc"))


@pytest.fixture(scope="session")
def fixtures() -> Path:
    if not FIXTURES.is_dir():
        pytest.fail(f"RTVC fixtures not found at {FIXTURES} (set RTVC_FIXTURES)")
    return FIXTURES
