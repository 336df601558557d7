"""The unbiased pass@k estimator against values computed by hand."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest

from azr.evaluation.passk import pass_at_k, pass_at_k_mean


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (1, 0, 1, 0.0),
        (1, 1, 1, 1.0),
        (10, 3, 1, 0.3),  # pass@1 is the fraction correct
        (5, 2, 2, 1 - 3 / 10),  # 1 - C(3,2)/C(5,2) = 1 - 3/10
        (4, 1, 2, 0.5),  # 1 - C(3,2)/C(4,2) = 1 - 3/6
        (6, 2, 3, 1 - 4 / 20),  # 1 - C(4,3)/C(6,3) = 1 - 4/20
        (10, 0, 5, 0.0),
        (5, 4, 2, 1.0),  # fewer wrong samples (1) than k (2): every draw of 2 has a correct one
        (10, 5, 5, 1 - 1 / 252),  # 1 - C(5,5)/C(10,5)
    ],
)
def test_hand_computed_values(n: int, c: int, k: int, expected: float) -> None:
    assert pass_at_k(n, c, k)[0] == pytest.approx(expected, abs=1e-12)


def test_vectorised_matches_binomials_and_is_stable_for_large_n() -> None:
    n = np.array([200, 200, 200, 1000, 137])
    c = np.array([0, 13, 199, 1, 36])
    for k in (1, 10, 100):
        exact = [1 - comb(int(ni) - int(ci), k) / comb(int(ni), k) for ni, ci in zip(n, c, strict=True)]
        np.testing.assert_allclose(pass_at_k(n, c, k), exact, rtol=0, atol=1e-12)
    assert np.all(np.isfinite(pass_at_k([100_000], [3], 1000)))


def test_mean_and_undefined_cases() -> None:
    assert pass_at_k_mean([2, 2], [1, 0], 1) == pytest.approx(0.25)
    assert pass_at_k_mean([2, 2], [1, 0], 2) == pytest.approx(0.5)
    assert pass_at_k_mean([2, 1], [1, 0], 2) is None  # one problem has fewer than k samples
    assert pass_at_k_mean([], [], 1) is None
    with pytest.raises(ValueError, match="0 <= c <= n"):
        pass_at_k(3, 4, 1)
    with pytest.raises(ValueError, match="positive"):
        pass_at_k(3, 1, 0)
    with pytest.raises(ValueError, match="at least 3 samples"):
        pass_at_k(2, 1, 3)
    with pytest.raises(TypeError, match="k must be an int"):
        pass_at_k(2, 1, 1.0)  # type: ignore[arg-type]
