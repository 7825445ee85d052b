"""Build script: the Cython ring core and the CUDA sources shipped inside the package.

Metadata lives in pyproject.toml; this file only declares what setuptools cannot: the
compiled extensions in secured/_kernels/ (next to the CUDA sources of the same kernels,
shipped as package data). Set SECURED_NO_OPENMP=1 for a compiler without OpenMP.
"""

import os
import platform

import numpy
from Cython.Build import cythonize
from setuptools import Extension, find_packages, setup

openmp = [] if os.environ.get("SECURED_NO_OPENMP") else ["-fopenmp"]

extensions = [
    Extension(
        f"secured._kernels.{name}",
        [f"secured/_kernels/{name}.pyx"],
        include_dirs=[numpy.get_include()],
        extra_compile_args=["-O3", *openmp],
        extra_link_args=openmp,
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
    for name in ("_ring", "_bits", "_privacy")
]
# The FSS kernels use AES-NI where the machine has it (x86-64); elsewhere the module builds
# without it and secured.backend.fss_kernels uses its numpy twin (OpenSSL's AES).
aes = ["-maes", "-msse4.1"] if platform.machine().lower() in ("x86_64", "amd64") else []
extensions.append(Extension(
    "secured._kernels._fss",
    ["secured/_kernels/_fss.pyx"],
    include_dirs=[numpy.get_include()],
    extra_compile_args=["-O3", *aes, *openmp],
    extra_link_args=openmp,
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
))

setup(
    ext_modules=cythonize(extensions, compiler_directives={"language_level": "3"}),
    packages=find_packages(include=["secured", "secured.*"]),   # every subpackage (serve, synth, bias, ...)
    package_data={
        "secured._kernels": ["*.cu", "*.cuh", "*.pyx"],
        "secured.data": ["*.parquet", "*.csv", "*.json", "*.md", "arx/*.csv"],
        "secured.hub": ["migrations/*.py", "migrations/script.py.mako", "migrations/versions/*.py"],
    },
)
