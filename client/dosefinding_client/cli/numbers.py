"""Whole-number options, checked against the range of the proto field each goes into.

A number the field cannot hold is refused by argparse, naming the option
(``argument --seed: -1 is outside 0..18446744073709551615``), instead of
failing as protobuf's "Value out of range" with no option named.  Whether
the number makes sense (a dose the design has, a positive cohort size) is
the service's to say, field by field.
"""

from __future__ import annotations

import argparse
from typing import Callable


def _whole(low: int, high: int) -> Callable[[str], int]:
    def whole(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high}")
        return value
    return whole


int32 = _whole(-2**31, 2**31 - 1)
int64 = _whole(-2**63, 2**63 - 1)
uint64 = _whole(0, 2**64 - 1)
