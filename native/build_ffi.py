"""cffi build of the C core (API mode, out of line) into ``conntra._native``.

The cdef is the part of each public header in ``native/include`` between the
CT_CDEF markers, so the Python side never restates a prototype or a constant.
"""

from __future__ import annotations

import os
import re

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))


def _rel(*parts: str) -> str:
    return os.path.join("native", *parts)


def public_headers() -> list[str]:
    """conntra.h first (the others build on its types), then the rest by name."""
    names = sorted(n for n in os.listdir(os.path.join(HERE, "include")) if n.endswith(".h"))
    return sorted(names, key=lambda n: n != "conntra.h")


def read_cdef() -> str:
    parts = []
    for name in public_headers():
        with open(os.path.join(HERE, "include", name), encoding="utf-8") as f:
            text = f.read()
        match = re.search(r"/\* CT_CDEF_BEGIN \*/(.*)/\* CT_CDEF_END \*/", text, re.S)
        if match is None:
            raise RuntimeError(f"{name} has no CT_CDEF_BEGIN/CT_CDEF_END section")
        parts.append(match.group(1))
    return "\n".join(parts)


def c_sources() -> list[str]:
    """Every C file under native/src (core/, kernels/<isa>/, train/), sorted by path."""
    src = os.path.join(HERE, "src")
    found = []
    for folder, _dirs, names in os.walk(src):
        rel = os.path.relpath(folder, HERE)
        found += [os.path.join("native", rel, n) for n in names if n.endswith(".c")]
    return sorted(found)


ffibuilder = FFI()
ffibuilder.cdef(read_cdef())
ffibuilder.set_source(
    "conntra._native",
    "".join(f'#include "{name}"\n' for name in public_headers()),
    sources=c_sources(),
    include_dirs=[_rel("include"), _rel("src")],
    # Portable flags: SIMD kernels carry their own target attributes and are
    # chosen at run time, so the module runs on any CPU of its architecture.
    # -ffp-contract=off: gnu99 lets GCC fuse a*b+c into one FMA where the
    # target has it (always on aarch64), which would make the trainer's float
    # kernels round differently from their SIMD twins and across ISAs.
    extra_compile_args=["-O3", "-std=gnu99", "-ffp-contract=off", "-fvisibility=hidden", "-Wall",
                        "-Wextra"],
    extra_link_args=["-lpthread"],
)
