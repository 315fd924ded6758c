"""Builds jaxsparse's native CPU kernels (C++ through the XLA FFI) with the package.

`pip install .` / `pip install -e .` compile jaxsparse/ops/native/csrc/*.cc against the
XLA FFI headers that jaxlib ships (jaxlib is a build requirement in pyproject.toml) into
one shared library, loaded at run time with ctypes (it is not a Python module). When no
C++ compiler works the install still succeeds, without the library, and jaxsparse uses
its "xla" backend and warns once (JAXSPARSE_REQUIRE_NATIVE=1 turns that into an error).
"""

from __future__ import annotations

import os
import pathlib
import sys
from concurrent.futures import ThreadPoolExecutor

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# The kernels are compiled where they run (pip builds from source), so by default for
# this machine's vector units; JAXSPARSE_NATIVE_MARCH=x86-64-v2 (say) makes a build
# that runs on older CPUs too. No FMA contraction: products then sums, as SciPy rounds.
MARCH = os.environ.get("JAXSPARSE_NATIVE_MARCH", "native")

SOURCES = sorted(str(p) for p in pathlib.Path("jaxsparse/ops/native/csrc").glob("*.cc"))

# Every function and loop head at a 64-byte boundary, so that where a kernel's loops fall
# against the instruction fetch no longer depends on the code linked before it: adding
# 80 bytes of cold code to dia_matmul.cc moved every later function by 80 bytes and the
# one-thread banded CSR product from 11.9 to 13.9 ms; with these flags that build ran it
# in 11.97 (the 2-thread products and the 2-D Poisson ones within a few percent of the
# earlier build, either way).
ALIGN = ["-falign-functions=64", "-falign-loops=64"]


def _ffi_include_dir() -> str:
    import jaxlib  # the headers live in jaxlib; importing jax itself is not needed

    return os.path.join(os.path.dirname(jaxlib.__file__), "include")


class OptionalBuildExt(build_ext):
    """build_ext that reports a failed native build instead of failing the install."""

    def build_extension(self, ext):
        try:
            ext.include_dirs.append(_ffi_include_dir())
            self._compile_sources_in_parallel()
            super().build_extension(ext)
        except Exception as err:  # noqa: BLE001 - any compiler/toolchain failure
            print(
                f"WARNING: jaxsparse native CPU kernels were not built ({err}); "
                "jaxsparse will use its 'xla' backend on CPU.",
                file=sys.stderr,
            )

    def _compile_sources_in_parallel(self):
        """One compiler process per source, as many at once as there are cores:
        setuptools compiles one extension's sources one after another (csr_matmul.cc
        alone takes 18 s of the 52)."""
        compile_some = self.compiler.compile

        def compile_each(sources, *args, **kwargs):
            with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
                objects = pool.map(lambda src: compile_some([src], *args, **kwargs), sources)
                return [obj for some in objects for obj in some]

        self.compiler.compile = compile_each

    def get_export_symbols(self, ext):
        return []  # a plain shared library: no PyInit_ entry point to export


setup(
    ext_modules=[
        Extension(
            "jaxsparse.ops.native._kernels",
            sources=SOURCES,
            depends=[str(p) for p in pathlib.Path("jaxsparse/ops/native/csrc").glob("*.h")],
            language="c++",
            extra_compile_args=["-O3", "-std=c++17", f"-march={MARCH}", "-ffp-contract=off",
                                *ALIGN, "-Wno-attributes", "-Wno-return-type"],
        )
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)
