"""Counter-based noise: a pure function of (seed, stream, ticker index, day index).

Storing open/high/low/volume for every stock and day at full size would cost hundreds of MB, but
they are needed both for one whole-market date and for one ticker over a long range. A hash of the
coordinates (splitmix64) gives the same number on either access path without any storage, so a
date's payload is reproducible from the seed alone, independent of the order of requests.
"""

from __future__ import annotations

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_K_I = np.uint64(0xD6E8FEB86659FD93)
_K_T = np.uint64(0xA0761D6478BD642F)


def _mix(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def hash64(seed: int, stream: int, i, t) -> np.ndarray:
    """64-bit hash of the broadcast arrays `i` (entity) and `t` (day) for one (seed, stream)."""
    with np.errstate(over="ignore"):
        base = np.uint64((seed * 1_000_003 + stream * 7919) & 0xFFFFFFFFFFFFFFFF)
        ii = np.asarray(i, dtype=np.int64).astype(np.uint64)
        tt = np.asarray(t, dtype=np.int64).astype(np.uint64)
        x = _mix(base * _GOLD + ii * _K_I + tt * _K_T + _GOLD)
        return _mix(x + _GOLD)


def uniform(seed: int, stream: int, i, t) -> np.ndarray:
    """Uniform floats in (0, 1)."""
    h = hash64(seed, stream, i, t)
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


def normal(seed: int, stream: int, i, t) -> np.ndarray:
    """Standard normal floats (Box-Muller on two independent hash streams)."""
    u1 = uniform(seed, stream * 2 + 1, i, t)
    u2 = uniform(seed, stream * 2 + 2, i, t)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
