"""PSI arithmetic (pure; the Spark binning is covered by tests/integration/test_run.py)."""
from __future__ import annotations

import math

import pytest

from ltv.pipeline.drift import MIN_SHARE, psi


def test_identical_histograms_have_zero_psi():
    assert psi([10, 20, 30], [1, 2, 3]) == 0.0  # counts are normalised


def test_psi_matches_the_definition():
    expected, actual = [0.5, 0.5], [0.2, 0.8]
    by_hand = (0.2 - 0.5) * math.log(0.2 / 0.5) + (0.8 - 0.5) * math.log(0.8 / 0.5)
    assert psi(expected, actual) == pytest.approx(by_hand, rel=1e-12)
    assert psi(actual, expected) == pytest.approx(by_hand, rel=1e-12)  # symmetric


def test_empty_bin_is_floored_not_infinite():
    value = psi([50, 50, 0], [50, 0, 50])
    assert math.isfinite(value) and value > 1.0
    share = 0.5
    assert value == pytest.approx(2 * (share - MIN_SHARE) * math.log(share / MIN_SHARE), rel=1e-12)


def test_empty_or_mismatched_inputs():
    assert math.isnan(psi([0, 0], [1, 1]))
    with pytest.raises(ValueError, match="differ in length"):
        psi([1, 2], [1, 2, 3])
