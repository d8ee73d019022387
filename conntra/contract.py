"""The integer contract's limits, stated once for the Python side.

docs/format.md is normative; native/include/conntra.h holds the same values
as C enums, and a test checks that both agree. The numpy reference reads them
from here rather than from the C core, so it stays an independent oracle.
"""

from __future__ import annotations

ACT_MAX = 127  # hidden activations and quantized inputs are 0 .. ACT_MAX
MAX_WIDTH = 1 << 20  # inputs or outputs of one layer: |sum w*x| <= 127 * 2^20 < 2^27
MAX_BIAS = 1 << 27  # |bias| <= 2^27, so |acc| < 2^28
MAX_SHIFT = 24  # hidden-layer shift 0 .. 24: acc + 2^(shift-1) < 2^28 + 2^23
MAX_LAYERS = 64
SHIFT_OUTPUT = -1  # the output layer's shift: no requantization, int32 logits
PIXEL_SHIFT_MIN, PIXEL_SHIFT_MAX = 1, 7  # uint8 pixels >> shift must land in 0 .. 127
