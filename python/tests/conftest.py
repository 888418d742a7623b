"""Puts python/ on sys.path (the package is used from the source tree) and seeds every test."""
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
