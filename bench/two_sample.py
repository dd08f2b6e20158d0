"""Small-sample statistics for comparing two sets of runs (issue 27's seed comparison).

Wilson score intervals for a rate, a rank test of two samples (Mann-Whitney U through SciPy when it is
installed, else an exact permutation test of the difference in means), and Fisher's exact test of two counts
(SciPy, else the hypergeometric sum written out). Each returns plain floats; none needs more than ~20 runs a side.

>>> lo, hi = wilson(3, 10); round(lo, 3), round(hi, 3)
(0.108, 0.603)
>>> round(fisher_exact_p(3, 10, 0, 10), 3)
0.211
>>> round(permutation_p([0.1, 0.2, 0.3], [0.7, 0.8, 0.9], "less"), 3)
0.05
"""
from __future__ import annotations

import itertools
import math
from statistics import mean
from typing import Sequence


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The 95 % (``z``) Wilson score interval of a rate k/n; (0, 1) when n = 0."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def permutation_p(a: Sequence[float], b: Sequence[float], alternative: str = "two-sided") -> float:
    """Exact permutation test of mean(a) − mean(b) over every split of the pooled values (C(n, k) ≤ ~2e5 here).
    ``alternative``: "two-sided", "less" (a below b) or "greater"."""
    pooled, k = list(a) + list(b), len(a)
    observed = mean(a) - mean(b)
    total, hits = 0, 0
    for idx in itertools.combinations(range(len(pooled)), k):
        chosen = set(idx)
        d = mean(pooled[i] for i in idx) - mean(pooled[i] for i in range(len(pooled)) if i not in chosen)
        total += 1
        eps = 1e-12
        if alternative == "less":
            hits += d <= observed + eps
        elif alternative == "greater":
            hits += d >= observed - eps
        else:
            hits += abs(d) >= abs(observed) - eps
    return hits / total


def rank_test(a: Sequence[float], b: Sequence[float], alternative: str = "two-sided") -> tuple[str, float]:
    """(name, p) of a two-sample test of a against b: Mann-Whitney U (SciPy), else the exact permutation test."""
    if len(a) < 1 or len(b) < 1:
        return "none", float("nan")
    try:
        from scipy.stats import mannwhitneyu
    except ImportError:
        return "exact permutation test of the means", permutation_p(a, b, alternative)
    return "Mann-Whitney U", float(mannwhitneyu(a, b, alternative=alternative).pvalue)


def fisher_exact_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided Fisher exact test of k1/n1 against k2/n2 (SciPy when installed)."""
    try:
        from scipy.stats import fisher_exact
    except ImportError:
        return _fisher(k1, n1, k2, n2)
    return float(fisher_exact([[k1, n1 - k1], [k2, n2 - k2]]).pvalue)


def _fisher(k1: int, n1: int, k2: int, n2: int) -> float:
    """Sum of the hypergeometric probabilities no larger than the observed table's."""
    k, n = k1 + k2, n1 + n2

    def prob(x: int) -> float:
        return math.comb(n1, x) * math.comb(n2, k - x) / math.comb(n, k)

    p_obs = prob(k1)
    return min(1.0, sum(prob(x) for x in range(max(0, k - n2), min(k, n1) + 1) if prob(x) <= p_obs * (1 + 1e-9)))
