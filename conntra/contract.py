"""The integer contract's limits, stated once for the Python side.

docs/format.md is normative; native/include/conntra.h holds the same values
as C enums, and a test checks that both agree. The numpy reference reads them
from here rather than from the C core, so it stays an independent oracle.
"""

from __future__ import annotations

ACT_MAX = 127  # quantized inputs are 0 .. ACT_MAX, and so are 7-bit hidden activations
ACT_BITS = (1, 2, 4, 7)  # a hidden layer's activation bits: it requantizes to 0 .. 2^bits - 1
ACT_BITS_DEFAULT = 7  # the 0 .. 127 of every model made before activation bits


def act_max(act_bits: int) -> int:
    """The largest activation of a hidden layer with ``act_bits`` bits."""
    return (1 << act_bits) - 1


MAX_WIDTH = 1 << 20  # inputs or outputs of one layer: |sum w*x| <= 127 * 2^20 < 2^27
MAX_BIAS = 1 << 27  # |bias| <= 2^27, so |acc| < 2^28
MAX_SHIFT = 24  # hidden-layer shift 0 .. 24: acc + 2^(shift-1) < 2^28 + 2^23
MAX_LAYERS = 64
SHIFT_OUTPUT = -1  # the output layer's shift: no requantization, int32 logits
PIXEL_SHIFT_MIN, PIXEL_SHIFT_MAX = 1, 7  # uint8 pixels >> shift must land in 0 .. 127
