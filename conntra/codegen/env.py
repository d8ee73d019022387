"""The one Jinja2 environment that renders every template in ``conntra.ctemplates``.

``StrictUndefined`` turns a missing variable into an error instead of empty C;
``trim_blocks``/``lstrip_blocks`` keep block tags from leaving blank lines;
``keep_trailing_newline`` keeps files POSIX-terminated. Filters:
``c_ident`` (checks a name before it reaches C) and ``c_array`` (formats the
values of an initializer, 16 or 8 per line, in a fixed way so the same model
always gives the same bytes) and ``c_doubles`` (float64 values, exactly).
"""

from __future__ import annotations

import functools
import importlib.resources

import jinja2
import numpy as np

from conntra.codegen.names import check_prefix


def c_ident(name) -> str:
    return check_prefix(str(name))


def c_array(values, per_line: int = 0, indent: str = "    ") -> str:
    """Comma-separated decimal values, ``per_line`` a line (16 for bytes, 8 for
    wider integers by default); no trailing comma, no trailing spaces."""
    a = np.asarray(values).ravel()
    if a.dtype.kind not in "iub":
        raise TypeError(f"c_array takes integers, got {a.dtype}")
    if per_line <= 0:
        per_line = 16 if a.dtype.itemsize == 1 else 8
    items = [str(int(v)) for v in a.tolist()]
    if a.dtype.kind == "u" and a.dtype.itemsize >= 4:
        items = [f"{v}u" for v in items]
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return (",\n" + indent).join(lines)


def c_doubles(values, per_line: int = 4, indent: str = "    ") -> str:
    """Finite floats as C double literals: ``repr`` is the shortest decimal that reads
    back as the same float64 (C's strtod rounds correctly), so the header holds exactly
    the Python values."""
    a = np.asarray(values, dtype=np.float64).ravel()
    if not np.isfinite(a).all():
        raise ValueError("c_doubles takes finite values only")
    items = [repr(float(v)) for v in a.tolist()]
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return (",\n" + indent).join(lines)


def template_dir():
    """Where the installed templates (package ``conntra.ctemplates``) live."""
    return importlib.resources.files("conntra.ctemplates")


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["c_ident"] = c_ident
    env.filters["c_array"] = c_array
    env.filters["c_doubles"] = c_doubles
    return env


def render(template_name: str, /, **context) -> str:
    return environment().get_template(template_name).render(**context)
