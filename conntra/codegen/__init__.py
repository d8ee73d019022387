"""Firmware generation: standalone C99 headers of ternary models for
microcontrollers, verified bit for bit against the Python model on the host and
on Cortex-M cores emulated by QEMU (docs/firmware.md).

- ``render.render_header(model, prefix)``: the header text (deterministic);
- ``export(model, out_dir, prefix, targets)``: write it, optionally with a size report;
- ``verify(model, target, x)``: compile, run and compare every logit;
- ``size_report(model, target)``: flash, RAM, stack, instructions per inference.
"""

from conntra.codegen.api import export, load_model, size_report, verify
from conntra.codegen.names import check_prefix
from conntra.codegen.render import FIRMWARE_FORMAT, render_header
from conntra.codegen.targets import TARGETS, get_target

__all__ = [
    "FIRMWARE_FORMAT",
    "TARGETS",
    "check_prefix",
    "export",
    "get_target",
    "load_model",
    "render_header",
    "size_report",
    "verify",
]
