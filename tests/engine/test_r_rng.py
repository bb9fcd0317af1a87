"""R's set.seed / runif / rnorm reproduced draw for draw, against values R printed.

The expected values are R's own output as published (R's default
``RNGkind``: Mersenne-Twister, Inversion): 15 significant digits where R's
``print`` showed them, 17 where ``sprintf("%.17g")`` did.  ``runif`` is exact;
``rnorm`` goes through ``qnorm``, computed here by a different algorithm than
R's (see :mod:`dosefinding_server.engine.numerics.r_rng`), so it is compared to
a few ulps.
"""

from __future__ import annotations

import pytest

from dosefinding_server.engine.numerics.r_rng import (
    R_INT_MAX,
    r_norm_rand,
    r_rnorm,
    r_set_seed_state,
    r_unif_rand,
)

#: absolute tolerance for 17-digit normals below 1 in size: a few ulps of qnorm
NORMAL_TOLERANCE = 1e-15
#: relative tolerance for normals R printed to 15 significant digits: their rounding plus qnorm's ulps
PRINTED_TOLERANCE = 6e-15


def test_set_seed_42_runif() -> None:
    # R: set.seed(42); sprintf("%.17g", runif(5))
    expected = [0.91480604349635541, 0.93707541329786181, 0.28613953478634357,
                0.83044762606732547, 0.64174551889300346]
    assert r_unif_rand(r_set_seed_state(42), 5).tolist() == expected


def test_set_seed_42_runif_printed() -> None:
    # R: set.seed(42); runif(3), as printed (15 significant digits)
    printed = ["0.914806043496355", "0.937075413297862", "0.286139534786344"]
    assert [f"{u:.15g}" for u in r_unif_rand(r_set_seed_state(42), 3)] == printed


def test_set_seed_1_rnorm() -> None:
    # R: set.seed(1); rnorm(3)
    expected = [-0.626453810742332, 0.183643324222082, -0.835628612410047]
    assert r_rnorm(r_set_seed_state(1), 3, 0.0, 1.0) == pytest.approx(expected, rel=PRINTED_TOLERANCE)
    # the same to 17 digits, as R's sprintf("%.17g") shows them
    precise = [-0.6264538107423324, 0.18364332422208224, -0.8356286124100472]
    assert r_rnorm(r_set_seed_state(1), 3, 0.0, 1.0) == pytest.approx(precise, abs=NORMAL_TOLERANCE)


def test_set_seed_123_rnorm() -> None:
    # R: set.seed(123); rnorm(1), then rnorm(10)
    assert r_rnorm(r_set_seed_state(123), 1, 0.0, 1.0)[0] == pytest.approx(-0.560475646552213,
                                                                    rel=PRINTED_TOLERANCE)
    expected = [-0.560475646552213, -0.23017748948328, 1.55870831414912, 0.070508391424576,
                0.129287735160946, 1.71506498688328, 0.460916205989202, -1.26506123460653,
                -0.686852851893526, -0.445661970099958]
    assert r_rnorm(r_set_seed_state(123), 10, 0.0, 1.0) == pytest.approx(expected, rel=PRINTED_TOLERANCE)


def test_rnorm_scales_by_mean_and_sd_as_r_does() -> None:
    # R: set.seed(1); rnorm(3, 10, 2) is 10 + 2 * rnorm(3) draw for draw
    scaled = r_rnorm(r_set_seed_state(1), 3, 10.0, 2.0)
    assert scaled.tolist() == (10.0 + 2.0 * r_rnorm(r_set_seed_state(1), 3, 0.0, 1.0)).tolist()


def test_normals_take_two_uniforms_each_in_one_stream() -> None:
    # R: set.seed(42); c(runif(2), rnorm(3))
    bitgen = r_set_seed_state(42)
    assert r_unif_rand(bitgen, 2).tolist() == [0.91480604349635541, 0.93707541329786181]
    assert r_norm_rand(bitgen, 3) == pytest.approx(
        [-0.5646981713960888, 0.36312841133733914, 0.63286260496104052], abs=NORMAL_TOLERANCE)


def test_state_refills_past_624_words() -> None:
    # R: set.seed(1); x <- rnorm(1000); mean(x); sd(x)  (2000 uniforms: three refills)
    x = r_rnorm(r_set_seed_state(1), 1000, 0.0, 1.0)
    assert f"{x.mean():.7g}" == "-0.01164814"
    assert f"{x.std(ddof=1):.7g}" == "1.034916"


def test_zero_sd_returns_the_mean_without_drawing() -> None:
    bitgen = r_set_seed_state(42)
    assert r_rnorm(bitgen, 2, 3.5, 0.0).tolist() == [3.5, 3.5]
    assert r_unif_rand(bitgen, 1)[0] == 0.91480604349635541


@pytest.mark.parametrize("seed", [R_INT_MAX + 1, -R_INT_MAX - 1, 1.5, True])
def test_seed_outside_r_integers_is_rejected(seed: object) -> None:
    with pytest.raises(ValueError):
        r_set_seed_state(seed)  # type: ignore[arg-type]


@pytest.mark.parametrize("mean, sd", [(float("nan"), 1.0), (0.0, -1.0), (0.0, float("inf"))])
def test_rnorm_outside_its_domain_is_rejected(mean: float, sd: float) -> None:
    with pytest.raises(ValueError):
        r_rnorm(r_set_seed_state(1), 3, mean, sd)
