#!/usr/bin/python3
"""Fits the coefficients of xgrad's float tanh (tensor/src/activation_kernels_impl.hpp).

tanh(x) = x * P(t) / Q(t) with t = x^2 on [-9, 9]: P of degree 5, Q of degree 4,
P(0) = Q(0) = 1 up to rounding. The fit minimises the largest relative error of
tanh(x) / x on t in [0, 81] by Lawson's iteration over linearised least squares
(weights grow where the error is large). Needs only numpy:

    /usr/bin/python3 scripts/fit_tanh.py

It prints the relative error in exact arithmetic and the coefficients, highest
degree first, as the kernel's Horner scheme uses them.
"""
import numpy as np

P_DEGREE, Q_DEGREE, T_MAX = 5, 4, 81.0

# Points on s = t / T_MAX in [0, 1]: Chebyshev nodes plus an even grid.
k = np.arange(6000)
s = np.sort(np.concatenate([(1 - np.cos(np.pi * (k + 0.5) / len(k))) / 2, np.linspace(0, 1, 6000)]))
x = np.sqrt(s * T_MAX)
f = np.ones_like(x)
f[x > 0] = np.tanh(x[x > 0]) / x[x > 0]

powers_p = np.vander(s, P_DEGREE + 1, increasing=True)
powers_q = np.vander(s, Q_DEGREE + 1, increasing=True)
weights = np.ones_like(s)
previous_q = np.ones_like(s)
for _ in range(300):
    # P(s) - f Q(s) = 0 with Q(0) = 1, each row divided by f Q_previous so
    # that the residual approximates the relative error.
    a = np.hstack([powers_p, -f[:, None] * powers_q[:, 1:]])
    row_scale = np.sqrt(weights) / (f * previous_q)
    solution, *_ = np.linalg.lstsq(a * row_scale[:, None], f * row_scale, rcond=None)
    p = solution[:P_DEGREE + 1]
    q = np.concatenate([[1.0], solution[P_DEGREE + 1:]])
    previous_q = powers_q @ q
    error = (powers_p @ p / previous_q - f) / f
    weights *= np.abs(error)
    weights /= weights.sum()

print(f"relative error (exact arithmetic): {np.abs(error).max():.2e}")
# From s back to t: the coefficient of s^k is that of t^k times T_MAX^k.
for name, c in (("P", p / T_MAX ** np.arange(P_DEGREE + 1)), ("Q", q / T_MAX ** np.arange(Q_DEGREE + 1))):
    print(name, ", ".join(f"{v:.9e}f" for v in c[::-1].astype(np.float32)))
