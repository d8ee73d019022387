"""Build script: the cffi C core and the package data (templates, data files)."""

import shutil

from setuptools import find_packages, setup
from setuptools.command.build_ext import build_ext

NO_COMPILER = """
conntra builds a C extension (its inference and training core) and needs a C
compiler with the C library headers; {what}.
Install one and retry:
  Debian, Ubuntu:  apt-get install gcc libc6-dev
  Fedora, RHEL:    dnf install gcc glibc-devel
  Alpine:          apk add gcc musl-dev
  macOS:           xcode-select --install
or point CC at a compiler you have (CC=clang pip install conntra).
"""


class BuildExtWithAdvice(build_ext):
    """Turns a missing or broken C compiler into a message that says what to
    install, instead of a bare 'command gcc failed' deep in the build log."""

    def build_extensions(self):
        compiler = getattr(self.compiler, "compiler_so", None) or [None]
        if compiler[0] is not None and shutil.which(compiler[0]) is None:
            raise SystemExit(NO_COMPILER.format(what=f"'{compiler[0]}' was not found"))
        try:
            super().build_extensions()
        except Exception as exc:  # CompileError / CCompilerError from distutils
            if type(exc).__name__ in ("CompileError", "CCompilerError", "DistutilsExecError"):
                raise SystemExit(NO_COMPILER.format(what=f"compiling failed: {exc}")) from exc
            raise


setup(
    # Every subpackage of conntra/, plus the templates, which live at the top
    # level of the checkout but install as conntra.ctemplates.
    packages=find_packages(include=["conntra", "conntra.*"]) + ["conntra.ctemplates"],
    package_dir={"conntra": "conntra", "conntra.ctemplates": "ctemplates"},
    package_data={
        "conntra": ["data/*.csv", "py.typed"],
        "conntra.codegen": ["plugins/*.c"],  # the QEMU instruction-count plugin's source
        "conntra.ctemplates": ["*.j2", "*.c", "*.h", "*.ld", "*.S"],
    },
    cffi_modules=["native/build_ffi.py:ffibuilder"],
    cmdclass={"build_ext": BuildExtWithAdvice},
)
