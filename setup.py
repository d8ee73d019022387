"""Build script: the cffi C core and the package data (templates, data files)."""

from setuptools import setup

setup(
    packages=["conntra", "conntra.cli", "conntra.codegen", "conntra.ctemplates"],
    package_dir={"conntra": "conntra", "conntra.ctemplates": "ctemplates"},
    package_data={
        "conntra": ["data/*.csv", "py.typed"],
        "conntra.ctemplates": ["*.j2", "*.c", "*.h", "*.ld", "*.S"],
    },
    cffi_modules=["native/build_ffi.py:ffibuilder"],
)
