"""R's default random numbers: ``set.seed``, ``runif`` and ``rnorm`` draw for draw.

Some R results the service reproduces are Monte Carlo (escalation's
``select_dose_by_cibp`` averages over ``rnorm`` draws), so where the seed is
known the draws themselves can be reproduced.  R's defaults since 3.6.0 are
``RNGkind("Mersenne-Twister", "Inversion", "Rejection")``; this module
follows R's ``src/main/RNG.c`` and ``src/nmath/snorm.c``:

* ``set.seed(seed)`` scrambles the seed with 50 steps of the congruential
  generator ``seed = 69069 * seed + 1`` (mod 2³²), then fills R's 625-word
  ``dummy`` array with 625 further steps.  ``dummy[0]`` is the twister's
  position ``mti``, which ``FixupSeeds`` sets to 624, so the twister's 624
  words of state are the 624 values after the first and the next draw
  regenerates the whole state.  The twister is numpy's ``MT19937`` (the
  reference algorithm, as R's) given exactly that key and position.
* ``unif_rand`` is the tempered 32-bit output times 2.3283064365386963e-10
  (2⁻³²), moved into the open interval (0, 1) as R's ``fixup`` does.
* ``norm_rand`` by inversion uses two uniforms, for finer resolution than 2⁻³²,
  ``u = (int)(2²⁷ · u₁) + u₂``, and returns ``qnorm(u / 2²⁷)``.  Here
  ``qnorm`` is :func:`scipy.special.ndtri` (Cephes) rather than R's AS241
  (Wichura's PPND16).  Both are accurate to a few units in the last place,
  not bit-identical: a draw may differ from R's in its last bits (R's
  17-digit ``set.seed(1); rnorm(3)`` differs by up to 2 ulps, about 4e-16
  relative).  That cannot move a decision unless R's own result hinges on a
  tie to that precision.
* ``rnorm(n, mean, sd)`` is ``mean + sd · norm_rand()`` per draw, in order.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtri

#: the largest R integer, hence the range of seeds ``set.seed`` accepts (R's NA is -2³¹)
R_INT_MAX = 2**31 - 1
#: words of Mersenne-Twister state
_MT_WORDS = 624
#: R's ``unif_rand`` scale: 2⁻³², as R writes it
_UNIT = 2.3283064365386963e-10
#: R's ``i2_32m1`` (1 / (2³² − 1)); half of it replaces an exact 0 in ``fixup``
_I2_32M1 = 2.328306437080797e-10
#: R's ``BIG`` in inversion: 2²⁷
_BIG = 134217728.0


def _lcg(seed: int) -> int:
    """One step of ``set.seed``'s scrambling generator on an unsigned 32-bit word."""
    return (69069 * seed + 1) & 0xFFFFFFFF


def r_set_seed_state(seed: int) -> np.random.MT19937:
    """A Mersenne-Twister in the state R's ``set.seed(seed)`` leaves (default ``RNGkind``).

    Raises ``ValueError`` for a seed outside R's integers, which ``set.seed`` rejects.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or not -R_INT_MAX <= seed <= R_INT_MAX:
        raise ValueError(f"set.seed needs an R integer (|seed| <= {R_INT_MAX}), not {seed!r}")
    word = seed & 0xFFFFFFFF  # R's (Int32) cast of a negative seed
    for _ in range(50):
        word = _lcg(word)
    dummy = []
    for _ in range(_MT_WORDS + 1):
        word = _lcg(word)
        dummy.append(word)
    bitgen = np.random.MT19937(0)
    bitgen.state = {
        "bit_generator": "MT19937",
        "state": {"key": np.array(dummy[1:], dtype=np.uint32), "pos": _MT_WORDS},
    }
    return bitgen


def r_unif_rand(bitgen: np.random.MT19937, n: int) -> np.ndarray:
    """The next ``n`` values of R's ``unif_rand`` (what ``runif(n)`` returns), advancing ``bitgen``."""
    u = bitgen.random_raw(n).astype(np.float64) * _UNIT
    # R's fixup also maps values >= 1 below 1; 32-bit words times 2⁻³² never reach 1.
    return np.where(u <= 0.0, 0.5 * _I2_32M1, u)


def r_norm_rand(bitgen: np.random.MT19937, n: int) -> np.ndarray:
    """The next ``n`` values of R's ``norm_rand`` by inversion (``rnorm(n)``), advancing ``bitgen``."""
    u = r_unif_rand(bitgen, 2 * n).reshape(n, 2)
    return ndtri((np.floor(_BIG * u[:, 0]) + u[:, 1]) / _BIG)


def r_rnorm(bitgen: np.random.MT19937, n: int, mean: float, sd: float) -> np.ndarray:
    """R's ``rnorm(n, mean, sd)`` for scalar ``mean`` and ``sd``, advancing ``bitgen`` as R does.

    As in R, a zero ``sd`` or an infinite ``mean`` gives ``mean`` without drawing;
    a NaN ``mean`` or an infinite or negative ``sd`` (R: NaN with a warning) raises ``ValueError``.
    """
    if math.isnan(mean) or not math.isfinite(sd) or sd < 0.0:
        raise ValueError(f"rnorm needs a mean and a finite sd >= 0, not mean={mean!r}, sd={sd!r}")
    if sd == 0.0 or not math.isfinite(mean):
        return np.full(n, mean)
    return mean + sd * r_norm_rand(bitgen, n)
