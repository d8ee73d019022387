"""Build script: the cffi C core and the package data (templates, data files)."""

from setuptools import find_packages, setup

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
)
