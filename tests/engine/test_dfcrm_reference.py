"""dfcrm's ``crm``, ``titecrm`` and ``getprior`` against the R reference, case by case.

FORMAT.md sections 4.1 and 4.2 define the families; fields R computed
unreliably are under a case's ``r_unstable`` and are left out.  Below the
reference cases: the input checks (each names the offending field) and the
properties of the quadrature the posterior relies on.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from dosefinding_server.engine.errors import InputError
from dosefinding_server.engine.numerics.dfcrm import (
    CrmResult,
    WorkingModel,
    crm,
    posterior_mean_var,
    tite_weights,
)
from dosefinding_server.engine.numerics.getprior import getprior
from dosefinding_server.engine.numerics.quadrature import composite, gauss_legendre, join, semi_infinite

from .reference import disagreements, load_cases


def crm_inputs(case: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of :func:`crm` for a ``dfcrm_crm`` or ``dfcrm_titecrm`` case."""
    given = case["input"]
    tite = case["family"] == "dfcrm_titecrm"
    weights = given.get("weights")
    if tite and weights is None:
        weights = tite_weights(given["followup"], given["obswin"], given["tox"], given["level"],
                               scheme=given["scheme"])
    return dict(prior=given["prior"], target=given["target"], tox=given["tox"], level=given["level"],
                model=given["model"], intcpt=given.get("intcpt", 3.0), scale=given["scale"],
                method=given["method"], conf_level=given["conf_level"], weights=weights, tite=tite)


def as_expected(result: CrmResult, case: dict[str, Any]) -> dict[str, Any]:
    """A :class:`CrmResult` keyed as the case's ``expected``, without its ``r_unstable`` fields."""
    actual: dict[str, Any] = {
        "mtd": result.mtd, "estimate": result.estimate, "post_var": result.post_var,
        "prior_var": result.prior_var, "ptox": list(result.ptox), "ptoxL": list(result.ptox_lower),
        "ptoxU": list(result.ptox_upper), "dosescaled": list(result.dosescaled),
    }
    if case["family"] == "dfcrm_titecrm":
        actual["weights"] = list(result.weights)
    for unstable in case.get("r_unstable", {}):
        actual.pop(unstable)
    return actual


CRM_CASES = load_cases("dfcrm_crm") + load_cases("dfcrm_titecrm")


@pytest.mark.parametrize("case", CRM_CASES, ids=lambda c: c["id"])
def test_crm_reference(case: dict[str, Any]) -> None:
    assert disagreements(case, as_expected(crm(**crm_inputs(case)), case)) == []


@pytest.mark.parametrize("case", load_cases("dfcrm_getprior"), ids=lambda c: c["id"])
def test_getprior_reference(case: dict[str, Any]) -> None:
    given = case["input"]
    skeleton = getprior(given["halfwidth"], given["target"], given["nu"], given["nlevel"],
                        model=given["model"], intcpt=given.get("intcpt", 3.0))
    assert disagreements(case, {"skeleton": list(skeleton)}) == []


def test_reference_covers_every_family_and_option() -> None:
    assert (len(load_cases("dfcrm_crm")), len(load_cases("dfcrm_titecrm")), len(load_cases("dfcrm_getprior"))) \
        == (800, 300, 100)
    options = {(c["family"], c["input"]["model"], c["input"]["method"]) for c in CRM_CASES}
    assert len(options) == 7  # every combination dfcrm allows (titecrm has no logistic MLE)
    assert {c["input"].get("scheme") for c in CRM_CASES} == {None, "linear", "adaptive"}


# Semantics not pinned by a single reference number ---------------------------------------


def test_crm_reports_prior_variance_unit_weights_and_ordered_interval() -> None:
    result = crm([0.05, 0.1, 0.2, 0.3], 0.2, [0, 0, 1], [1, 2, 3])
    assert result.prior_var == pytest.approx(1.34)
    assert result.weights == (1.0, 1.0, 1.0)
    assert result.ptox_lower[0] < result.ptox[0] < result.ptox_upper[0]


def test_mtd_rule_extremes() -> None:
    assert crm([0.05, 0.1, 0.2], 0.5, [0] * 6, [3] * 6).mtd == 3  # every estimate below target: top dose
    assert crm([0.3, 0.4, 0.5], 0.1, [1] * 6, [1] * 6).mtd == 1  # every estimate above target: dose 1


def test_negative_mle_variance_gives_no_interval() -> None:
    case = next(c for c in load_cases("dfcrm_titecrm") if c["id"] == "tite-p-00211")
    result = crm(**crm_inputs(case))
    assert result.post_var < 0
    assert result.ptox_lower == result.ptox_upper == (None,) * 4
    assert result.estimate == -10.0  # the log-likelihood increases to the end of dfcrm's range


def test_titecrm_gives_toxic_patients_full_weight() -> None:
    result = crm([0.1, 0.2, 0.3], 0.2, [1, 0, 0], [1, 2, 2], weights=[0.2, 0.5, 1.0], tite=True)
    assert result.weights == (1.0, 0.5, 1.0)


def test_full_weights_make_titecrm_a_crm() -> None:
    plain = crm([0.1, 0.2, 0.3], 0.2, [1, 0, 0], [1, 2, 2])
    tite = crm([0.1, 0.2, 0.3], 0.2, [1, 0, 0], [1, 2, 2], weights=[1, 1, 1], tite=True)
    assert (tite.estimate, tite.post_var) == (plain.estimate, plain.post_var)


def test_adaptive_weights_interpolate_between_toxicity_times() -> None:
    # Toxicities at follow-up 10 and 30 in a 40-day window: knots 0, 10, 30, 40 carry 0, 1/3, 2/3, 1.
    weights = tite_weights([10, 30, 5, 20, 35, 40], 40, [1, 1, 0, 0, 0, 0], [1] * 6, scheme="adaptive")
    assert weights == pytest.approx((1, 1, 1 / 6, 1 / 2, 5 / 6, 1))


def test_adaptive_weights_without_toxicities_are_linear() -> None:
    assert tite_weights([10, 50], 40, [0, 0], [1, 1], scheme="adaptive") == (0.25, 1.0)


def test_batched_posterior_equals_single_fits() -> None:
    model = WorkingModel.calibrated([0.05, 0.12, 0.25, 0.4])
    trials = [([0, 0, 1], [1, 2, 3]), ([1, 1, 0, 0], [2, 2, 1, 1]), ([0], [4])]
    tox = np.zeros((3, 4))
    nontox = np.zeros((3, 4))
    for row, (ys, levels) in enumerate(trials):
        for y, level in zip(ys, levels):
            (tox if y else nontox)[row, level - 1] += 1
    mean, var = posterior_mean_var(model, math.sqrt(1.34), tox, nontox)
    for row, (ys, levels) in enumerate(trials):
        single = crm([0.05, 0.12, 0.25, 0.4], 0.25, ys, levels)
        assert (mean[row], var[row]) == (single.estimate, single.post_var)


@pytest.mark.parametrize("model, scale", [("empiric", math.sqrt(1.34)), ("logistic", math.sqrt(1.34)),
                                          ("empiric", 500.0)])
def test_a_posterior_has_the_same_bits_alone_and_in_any_batch(model: str, scale: float) -> None:
    """Batches of any size, at any position, with any neighbours: every trial gets its lone fit's bits."""
    rng = np.random.default_rng(11)
    working = WorkingModel.calibrated([0.05, 0.12, 0.25, 0.4, 0.55], model)
    treated = rng.integers(0, 9, size=(120, 5)) * (rng.random((120, 5)) < 0.6)
    tox = rng.binomial(treated, 0.3).astype(float)
    nontox = (treated - tox).astype(float)
    with np.errstate(over="ignore"):
        alone = np.array([posterior_mean_var(working, scale, tox[i], nontox[i]) for i in range(120)])
        for rows in (np.arange(120), rng.permutation(120), np.arange(3, 36), rng.permutation(120)[:65],
                     np.array([7]), np.arange(119, -1, -2)):
            mean, var = posterior_mean_var(working, scale, tox[rows], nontox[rows])
            assert np.array_equal(mean, alone[rows, 0]) and np.array_equal(var, alone[rows, 1])
        grid_mean, _ = posterior_mean_var(working, scale, tox.reshape(8, 15, 5), nontox.reshape(8, 15, 5))
    assert np.array_equal(grid_mean.reshape(-1), alone[:, 0])


def test_getprior_puts_the_target_at_the_prior_mtd() -> None:
    for model in ("empiric", "logistic"):
        skeleton = getprior(0.05, 0.25, 3, 6, model=model)
        assert skeleton[2] == pytest.approx(0.25, abs=1e-15)
        assert all(a < b for a, b in zip(skeleton, skeleton[1:]))


# Input checks: each names the field the caller gave -------------------------------------

GOOD = dict(prior=[0.05, 0.1, 0.2, 0.3], target=0.2, tox=[0, 1, 0], level=[1, 2, 2])


def field_of(call: Any, **changes: Any) -> str:
    with pytest.raises(InputError) as raised:
        call(**changes)
    return raised.value.violations[0].field


def crm_field(**changes: Any) -> str:
    return field_of(lambda **kw: crm(**{**GOOD, **kw}), **changes)


@pytest.mark.parametrize(("changes", "field"), [
    (dict(prior=[0.1, 0.3, 0.2, 0.4]), "prior[2]"),
    (dict(prior=[0.0, 0.1, 0.2, 0.3]), "prior[0]"),
    (dict(prior=[0.1, 0.2, 0.3, 1.0]), "prior[3]"),
    (dict(prior=[]), "prior"),
    (dict(prior="0.1 0.2"), "prior"),
    (dict(prior=[0.1, None, 0.3, 0.4]), "prior[1]"),
    (dict(target=1.2), "target"),
    (dict(target=0.0), "target"),
    (dict(tox=[0, 2, 0]), "tox[1]"),
    (dict(tox=[0, True, 0]), "tox[1]"),
    (dict(tox=[], level=[]), "tox"),
    (dict(level=[1, 2, 5]), "level[2]"),
    (dict(level=[1, 0, 2]), "level[1]"),
    (dict(level=[1, 1.5, 2]), "level[1]"),
    (dict(level=[1, 2]), "level"),
    (dict(scale=0.0), "scale"),
    (dict(scale=-1.0), "scale"),
    (dict(conf_level=1.0), "conf_level"),
    (dict(model="probit"), "model"),
    (dict(method="map"), "method"),
    (dict(model="logistic", intcpt=-1.0), "intcpt"),  # logit(0.3) = -0.85 is not below it
    (dict(method="mle", tox=[0, 0, 0]), "tox"),
    (dict(method="mle", tox=[1, 1, 1]), "tox"),
    (dict(weights=[1, 1, 1]), "weights"),
    (dict(weights=[1, 1], tite=True), "weights"),
    (dict(weights=[1, 1.5, 1], tite=True), "weights[1]"),
    (dict(model="logistic", method="mle", weights=[1, 1, 0.5], tite=True), "method"),
])
def test_crm_rejects_invalid_input(changes: dict[str, Any], field: str) -> None:
    assert crm_field(**changes) == field


@pytest.mark.parametrize(("changes", "field"), [
    (dict(scheme="exponential"), "scheme"),
    (dict(obswin=0), "obswin"),
    (dict(followup=[10, -1, 5]), "followup[1]"),
    (dict(followup=[10, 5]), "followup"),
    (dict(tox=[0, 3, 0]), "tox[1]"),
    (dict(level=[1, 1]), "level"),
    # A toxicity at the very end of the window leaves R's adaptive weight undefined (0/0).
    (dict(followup=[40, 40, 5], tox=[1, 0, 0], scheme="adaptive"), "followup[0]"),
])
def test_tite_weights_reject_invalid_input(changes: dict[str, Any], field: str) -> None:
    good = dict(followup=[10, 20, 5], obswin=40, tox=[0, 1, 0], level=[1, 2, 2], scheme="linear")
    assert field_of(lambda **kw: tite_weights(**{**good, **kw}), **changes) == field


@pytest.mark.parametrize(("changes", "field"), [
    (dict(halfwidth=0.0), "halfwidth"),
    (dict(halfwidth=0.3), "halfwidth"),
    (dict(target=0.95), "halfwidth"),
    (dict(target=1.5), "target"),
    (dict(nu=0), "nu"),
    (dict(nu=7), "nu"),
    (dict(nlevel=2.5), "nlevel"),
    (dict(model="probit"), "model"),
    (dict(model="logistic", intcpt=-2.0), "intcpt"),
])
def test_getprior_rejects_invalid_input(changes: dict[str, Any], field: str) -> None:
    good = dict(halfwidth=0.05, target=0.25, nu=3, nlevel=6)
    assert field_of(lambda **kw: getprior(**{**good, **kw}), **changes) == field


# The quadrature ---------------------------------------------------------------------------


def test_gauss_legendre_nodes_are_cached_and_read_only() -> None:
    nodes, weights = gauss_legendre(16)
    assert gauss_legendre(16)[0] is nodes
    assert not nodes.flags.writeable and weights.sum() == pytest.approx(2.0, abs=1e-15)


def test_composite_rule_integrates_many_integrands_at_once() -> None:
    rule = composite(0.0, 2.0, 4)
    values = np.stack([np.ones_like(rule.nodes), rule.nodes**7, np.exp(rule.nodes)])
    assert rule.integrate(values) == pytest.approx([2.0, 2.0**8 / 8, math.e**2 - 1], rel=1e-14)


def test_semi_infinite_rules_integrate_gaussian_tails() -> None:
    scale = 2.0
    rule = join(semi_infinite(-10.0, -1, scale), composite(-10.0, 10.0, 20), semi_infinite(10.0, 1, scale))
    density = np.exp(-rule.nodes**2 / (2 * scale**2)) / (scale * math.sqrt(2 * math.pi))
    assert rule.integrate(density) == pytest.approx(1.0, abs=1e-14)
    tail = semi_infinite(10.0, 1, scale)
    upper = tail.integrate(np.exp(-tail.nodes**2 / (2 * scale**2)) / (scale * math.sqrt(2 * math.pi)))
    assert upper == pytest.approx(0.5 * math.erfc(10.0 / (scale * math.sqrt(2))), rel=1e-12)
