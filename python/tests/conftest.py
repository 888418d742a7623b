"""Puts python/ on sys.path (the package is used from the source tree) and seeds every test. With
FGATTN_USE_INSTALLED=1 the tests use the installed package instead (scripts/gpu-test-torch with a wheel)."""
import os
import sys
from pathlib import Path

import pytest
import torch

if os.environ.get("FGATTN_USE_INSTALLED") != "1":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
