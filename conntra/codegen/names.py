"""C identifiers chosen by the user (the ``--prefix``), checked before rendering.

Every public name of a generated header starts with the prefix (``mnist_infer``,
``MNIST_SCRATCH_BYTES``), so a prefix must be a plain ASCII C identifier that is
not a keyword, not reserved to the implementation (leading underscore) and not a
name that ``<stdint.h>`` already defines.
"""

from __future__ import annotations

import re

from conntra.errors import IdentifierError

# C89 .. C23 keywords (C23's are included so a header stays valid for newer compilers).
C_KEYWORDS = frozenset(
    """
auto break case char const continue default do double else enum extern float for goto if
inline int long register restrict return short signed sizeof static struct switch typedef
union unsigned void volatile while _Alignas _Alignof _Atomic _Bool _Complex _Generic
_Imaginary _Noreturn _Static_assert _Thread_local alignas alignof bool constexpr false
nullptr static_assert thread_local true typeof typeof_unqual _BitInt _Decimal32 _Decimal64
_Decimal128 asm fortran
""".split()
)

# Names <stdint.h> and the preprocessor own; a prefix equal to one would redefine it.
RESERVED_NAMES = frozenset(
    """
int8_t int16_t int32_t int64_t uint8_t uint16_t uint32_t uint64_t intptr_t uintptr_t
intmax_t uintmax_t size_t ptrdiff_t defined main NULL
""".split()
)

MAX_PREFIX_LENGTH = 31  # C99 guarantees 31 significant characters for external names
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def check_prefix(prefix) -> str:
    """Returns ``prefix`` if it is usable as the prefix of C names, else raises
    IdentifierError saying why."""
    if not isinstance(prefix, str):
        raise IdentifierError(f"prefix must be a string, got {type(prefix).__name__}")
    if not prefix:
        raise IdentifierError("prefix is empty: give a C identifier such as 'mnist'")
    if not prefix.isascii():
        raise IdentifierError(
            f"prefix {prefix!r} contains non-ASCII characters; "
            f"C identifiers here are ASCII letters, digits and '_'"
        )
    if prefix[0].isdigit():
        raise IdentifierError(
            f"prefix {prefix!r} starts with a digit; a C identifier starts with a letter"
        )
    if not _IDENT.match(prefix):
        bad = sorted({c for c in prefix if not (c.isalnum() or c == "_")})
        raise IdentifierError(
            f"prefix {prefix!r} is not a C identifier (bad characters "
            f"{''.join(bad)!r}; use letters, digits and '_')"
        )
    if prefix.startswith("_"):
        raise IdentifierError(
            f"prefix {prefix!r} starts with '_': such names are reserved to the C implementation"
        )
    if prefix in C_KEYWORDS:
        raise IdentifierError(f"prefix {prefix!r} is a C keyword")
    if prefix in RESERVED_NAMES:
        raise IdentifierError(f"prefix {prefix!r} is a name <stdint.h> or C already defines")
    if len(prefix) > MAX_PREFIX_LENGTH:
        raise IdentifierError(
            f"prefix {prefix!r} is {len(prefix)} characters long; at most "
            f"{MAX_PREFIX_LENGTH} keep every generated name portable"
        )
    return prefix
