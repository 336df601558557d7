"""The unbiased pass@k estimator of Chen et al. (2021), "Evaluating Large Language Models Trained on Code".

With ``n`` samples of which ``c`` are correct, pass@k = 1 - C(n-c, k) / C(n, k): the probability that at
least one of ``k`` samples drawn without replacement from the ``n`` is correct. The ratio of binomials
is computed as ``prod_{j<k} (n-c-j) / (n-j)``, a product of ``k`` factors in [0, 1], never as a
binomial coefficient, so it neither overflows nor loses precision for large ``n``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["pass_at_k", "pass_at_k_mean"]


def pass_at_k(
    n: int | Sequence[int] | npt.ArrayLike, c: int | Sequence[int] | npt.ArrayLike, k: int
) -> npt.NDArray[np.float64]:
    """pass@k per problem, for arrays (or scalars) of sample counts ``n`` and correct counts ``c``.

    Exactly 1 when ``n - c < k`` (every draw of ``k`` contains a correct sample). Every ``n`` must be
    >= ``k``: fewer samples than ``k`` cannot estimate pass@k without bias.
    """
    if not isinstance(k, int) or isinstance(k, bool):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    if k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    n_arr = np.atleast_1d(np.asarray(n, dtype=np.int64))
    c_arr = np.atleast_1d(np.asarray(c, dtype=np.int64))
    if n_arr.shape != c_arr.shape or n_arr.ndim != 1:
        raise ValueError("n and c must be scalars or one-dimensional arrays of the same length")
    if np.any(c_arr < 0) or np.any(c_arr > n_arr):
        raise ValueError("need 0 <= c <= n for every problem")
    if np.any(n_arr < k):
        raise ValueError(f"pass@{k} needs at least {k} samples per problem (got n={int(n_arr.min())})")
    j = np.arange(k, dtype=np.float64)[None, :]
    wrong = (n_arr - c_arr).astype(np.float64)[:, None]
    # One row per problem: the chance that draw j is wrong given draws < j were; a zero factor
    # (fewer wrong samples than k) makes the whole product 0, i.e. pass@k = 1.
    factors = np.clip(wrong - j, 0.0, None) / (n_arr.astype(np.float64)[:, None] - j)
    result: npt.NDArray[np.float64] = 1.0 - np.prod(factors, axis=1)
    return result


def pass_at_k_mean(n: Sequence[int] | npt.ArrayLike, c: Sequence[int] | npt.ArrayLike, k: int) -> float | None:
    """Mean pass@k over problems, or None when some problem has fewer than ``k`` samples (or none)."""
    n_arr = np.asarray(n, dtype=np.int64)
    if n_arr.size == 0 or np.any(n_arr < k):
        return None
    return float(pass_at_k(n_arr, c, k).mean())
