"""dfcrm's ``getprior``: a CRM skeleton from an indifference interval (Lee & Cheung 2009).

Lee & Cheung (2009, "Model calibration in the continual reassessment
method", *Clinical Trials* 6:227–238) choose the skeleton so that the CRM
eventually recommends a dose whose toxicity lies within ``target ±
halfwidth`` (the indifference interval) whichever dose is the true MTD.  With
the prior MTD ``nu`` placed at the target, the skeleton is built outward one
level at a time: the model parameter at which level ``k`` reaches
``target + halfwidth`` is the one at which level ``k - 1`` reaches
``target - halfwidth`` (and symmetrically upward).

For both of dfcrm's models that recursion has a closed form, because the
parameter enters through ``exp(β)`` times a dose-specific quantity:

* empiric, ``F = x^exp(β)``: ``log x_k = log(target) · r^(k - nu)`` with
  ``r = log(target + halfwidth) / log(target - halfwidth)``;
* logistic, ``F = 1/(1 + exp(-a - exp(β)·x))``: the scaled doses form the
  geometric sequence ``x_k = (logit(target) - a) · r^(k - nu)`` with
  ``r = (logit(target + halfwidth) - a) / (logit(target - halfwidth) - a)``,
  and the skeleton is ``plogis(a + x_k)``.

(``0 < r < 1`` in both, so the skeleton increases.)
"""

from __future__ import annotations

import math

from ..selector import require
from .dfcrm import EMPIRIC, LOGISTIC, MODELS, check_target


def _check(halfwidth: float, target: float, nu: int, nlevel: int, model: str, intcpt: float) -> None:
    check_target(target)
    require(isinstance(halfwidth, (int, float)) and not isinstance(halfwidth, bool) and halfwidth > 0,
            "halfwidth", f"{halfwidth!r} is not a positive number")
    require(halfwidth < target and target + halfwidth < 1, "halfwidth",
            f"target ± halfwidth = {target} ± {halfwidth} must lie strictly between 0 and 1")
    for name, value in (("nlevel", nlevel), ("nu", nu)):
        require(isinstance(value, int) and not isinstance(value, bool) and value >= 1, name,
                f"{value!r} is not a positive whole number")
    require(nu <= nlevel, "nu", f"prior MTD level {nu} is above the number of levels {nlevel}")
    require(model in MODELS, "model", f"{model!r} is not one of {', '.join(MODELS)}")
    if model == LOGISTIC:
        require(isinstance(intcpt, (int, float)) and math.isfinite(intcpt), "intcpt",
                f"{intcpt!r} is not a finite number")
        upper = target + halfwidth
        require(math.log(upper / (1 - upper)) < intcpt, "intcpt",
                f"intercept {intcpt} is too small: logit(target + halfwidth) = logit({upper}) must be below it")


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def getprior(halfwidth: float, target: float, nu: int, nlevel: int, *, model: str = EMPIRIC,
             intcpt: float = 3.0) -> tuple[float, ...]:
    """The skeleton of ``nlevel`` doses with prior MTD ``nu`` (1-based) and indifference interval
    ``target ± halfwidth``."""
    _check(halfwidth, target, nu, nlevel, model, intcpt)
    if model == EMPIRIC:
        ratio = math.log(target + halfwidth) / math.log(target - halfwidth)
        return tuple(math.exp(math.log(target) * ratio ** (k - nu)) for k in range(1, nlevel + 1))
    ratio = (_logit(target + halfwidth) - intcpt) / (_logit(target - halfwidth) - intcpt)
    start = _logit(target) - intcpt
    return tuple(1.0 / (1.0 + math.exp(-intcpt - start * ratio ** (k - nu))) for k in range(1, nlevel + 1))

