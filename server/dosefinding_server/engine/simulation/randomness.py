"""Common random numbers: every simulated patient's own uniforms, fixed by the seed and the trial's index.

Trial ``i`` of a run with seed ``s`` owns the generator ``Generator(PCG64(c))``
with ``c = SeedSequence(s).spawn(num_trials)[i]``, and its j-th patient, in
order of arrival, draws the j-th pair of uniforms ``(u_tox, u_eff)``: the
patient has a toxicity at dose d when ``u_tox < p_tox[d]`` (likewise for
efficacy).  A patient's outcome at any dose is therefore fixed before any
design sees it, so designs simulated on the same seed treat the same
patients: the potential-outcomes comparison of Sweeting, Slade, Jackson &
Brock (2024, arXiv:2402.15460) that escalation's ``simulate_compare``
implements.  Results depend only on the seed and the trial index, never on
how trials are split into chunks or over workers.

Building one ``SeedSequence`` per trial costs more than a trial's whole
simulation, so the children's entropy pools are computed for a whole chunk
at once: ``c`` is ``SeedSequence(s, spawn_key=(i,))``, whose pool differs
from its siblings' only in the last mixing round, where the spawn key
enters; this module runs that round, and ``generate_state``, vectorised
over i with numpy's own constants and operations (O'Neill's ``seed_seq``
design, numpy's ``bit_generator.pyx``).  PCG64 then seeds itself from those
words as usual.  The tests check the streams against numpy's, bit for bit.

Patients who are not escalation patients draw from streams of their own, so
that adding them never moves an escalation patient's uniforms: trial i's
branch b is ``SeedSequence(s, spawn_key=(i, b))`` (numpy's
``spawn(n)[i].spawn(b + 1)[b]``), one more mixing round per key word.
Branch 0 (:data:`ALLOCATION_BRANCH`) gives the trial's allocation seed (a
live trial's is the secret seed the trial service draws), branches 1 and 2
the uniforms of backfill and expansion patients (:mod:`.conduct`).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.random.bit_generator import ISeedSequence

# numpy's SeedSequence constants (bit_generator.pyx)
_POOL_SIZE = 4
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_MULT_L, _MIX_MULT_R = 0xCA01F9DD, 0x4973F715
_XSHIFT, _MASK32 = 16, 0xFFFFFFFF
#: spawn keys are one 32-bit word below this
MAX_TRIALS = 1 << 32
#: the branches of a trial's stream (second spawn-key word)
ALLOCATION_BRANCH, BACKFILL_BRANCH, EXPANSION_BRANCH = range(3)


def _words(n: int) -> list[int]:
    """numpy's ``_int_to_uint32_array``: 32-bit words, lowest first (``[0]`` for 0)."""
    words = [n & _MASK32] if n == 0 else []
    while n > 0:
        words.append(n & _MASK32)
        n >>= 32
    return words


def _hashmix(value: np.ndarray | int, hash_const: int) -> tuple[np.ndarray | int, int]:
    value = (value ^ hash_const) & _MASK32
    hash_const = (hash_const * _MULT_A) & _MASK32
    value = (value * hash_const) & _MASK32
    return value ^ (value >> _XSHIFT), hash_const


def _mix(x: np.ndarray | int, y: np.ndarray | int) -> np.ndarray | int:
    result = (_MIX_MULT_L * x - _MIX_MULT_R * y) & _MASK32
    return result ^ (result >> _XSHIFT)


@lru_cache(maxsize=64)
def _parent_pool(seed: int) -> tuple[tuple[int, ...], int]:
    """The pool after mixing the seed's words (padded to the pool size), and the hash constant then."""
    entropy = _words(seed)
    if len(entropy) > _POOL_SIZE:
        raise ValueError(f"seed {seed} has more than {32 * _POOL_SIZE} bits")
    entropy += [0] * (_POOL_SIZE - len(entropy))
    pool, hash_const = [], _INIT_A
    for word in entropy:
        mixed, hash_const = _hashmix(word, hash_const)
        pool.append(int(mixed))
    for src in range(_POOL_SIZE):
        for dst in range(_POOL_SIZE):
            if src != dst:
                hashed, hash_const = _hashmix(pool[src], hash_const)
                pool[dst] = int(_mix(pool[dst], hashed))
    return tuple(pool), hash_const


def child_states(seed: int, start: int, stop: int, branch: tuple[int, ...] = ()) -> np.ndarray:
    """``SeedSequence(seed, spawn_key=(i, *branch)).generate_state(4, np.uint64)`` for i in [start, stop).

    With no branch that is ``SeedSequence(seed).spawn(n)[i]``'s state; one row per trial.
    """
    if not 0 <= start <= stop <= MAX_TRIALS:
        raise ValueError(f"trial indices {start}..{stop} are outside 0..{MAX_TRIALS}")
    if not all(0 <= word < MAX_TRIALS for word in branch):
        raise ValueError(f"branch {branch} is not a tuple of 32-bit words")
    parent, hash_const = _parent_pool(seed)
    pool = [np.full(stop - start, word, dtype=np.uint64) for word in parent]
    key_words = [np.arange(start, stop, dtype=np.uint64)] + [np.full(stop - start, w, dtype=np.uint64) for w in branch]
    for word in key_words:
        for dst in range(_POOL_SIZE):
            hashed, hash_const = _hashmix(word, hash_const)
            pool[dst] = _mix(pool[dst], hashed)
    state, hash_const = [], _INIT_B
    for dst in range(2 * _POOL_SIZE):
        value = (pool[dst % _POOL_SIZE] ^ hash_const) & _MASK32
        hash_const = (hash_const * _MULT_B) & _MASK32
        value = (value * hash_const) & _MASK32
        state.append(value ^ (value >> _XSHIFT))
    return np.stack([state[2 * k] | (state[2 * k + 1] << 32) for k in range(_POOL_SIZE)], axis=1)


class _GivenState(ISeedSequence):
    """A seed sequence whose state words were computed already (by :func:`child_states`)."""

    def __init__(self, words: np.ndarray) -> None:
        self.words = words

    def generate_state(self, n_words: int, dtype: type = np.uint32) -> np.ndarray:
        assert n_words == _POOL_SIZE and np.dtype(dtype) == np.uint64, "PCG64 asks for 4 64-bit words"
        return self.words


def stream_uniforms(seed: int, start: int, stop: int, count: int, width: int,
                    branch: tuple[int, ...] = ()) -> np.ndarray:
    """The first ``count`` rows of ``width`` uniforms of each trial's stream (or branch), shape
    ``(stop - start, count, width)``; a row never depends on ``count``: generators fill in order."""
    draws = np.empty((stop - start, count, width))
    for row, words in enumerate(child_states(seed, start, stop, branch)):
        np.random.Generator(np.random.PCG64(_GivenState(words))).random(out=draws[row])
    return draws


def patient_uniforms(seed: int, start: int, stop: int, capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """Toxicity and efficacy uniforms of the first ``capacity`` escalation patients of trials ``start`` to
    ``stop - 1``, each of shape ``(stop - start, capacity)``."""
    draws = stream_uniforms(seed, start, stop, capacity, 2)
    return draws[:, :, 0], draws[:, :, 1]


def allocation_seeds(seed: int, start: int, stop: int) -> list[int]:
    """Each trial's allocation seed: the top 63 bits of its allocation branch's first state word (a live
    trial's seed is 63 random bits too)."""
    return [int(word) >> 1 for word in child_states(seed, start, stop, (ALLOCATION_BRANCH,))[:, 0]]
