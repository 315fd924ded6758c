"""Find, load and register the compiled kernels; remember why when they are absent."""

from __future__ import annotations

import ctypes
import os
import pathlib

import jax

# FFI target name -> exported C symbol (csrc/*.cc, XLA_FFI_DEFINE_HANDLER_SYMBOL).
TARGETS = {
    "jaxsparse_csr_matmul": "JaxsparseCsrMatmul",
    "jaxsparse_csr_matmul_add": "JaxsparseCsrMatmulAdd",
    "jaxsparse_csr_offsets": "JaxsparseCsrOffsets",
    "jaxsparse_coo_matmul": "JaxsparseCooMatmul",
    "jaxsparse_sampled": "JaxsparseSampled",
    "jaxsparse_dia_matmul": "JaxsparseDiaMatmul",
    "jaxsparse_cg_update": "JaxsparseCgUpdate",
}

_HERE = pathlib.Path(__file__).resolve().parent
_LIBRARY: ctypes.CDLL | None = None  # the loaded library (load)


def library_path(directory: pathlib.Path = _HERE) -> pathlib.Path | None:
    """The built library (``_kernels.<python tag>.so``) in ``directory``, if any."""
    found = sorted(directory.glob("_kernels*.so")) + sorted(directory.glob("_kernels*.pyd"))
    return found[0] if found else None


def load(path: pathlib.Path | None) -> str | None:
    """Load the library at ``path`` and register its FFI targets on CPU.

    Returns ``None`` on success, else the reason the native backend is unavailable.
    """
    if os.environ.get("JAXSPARSE_DISABLE_NATIVE", "") not in ("", "0"):
        return "disabled by JAXSPARSE_DISABLE_NATIVE"
    if path is None or not path.exists():
        return ("the native kernels were not built when jaxsparse was installed "
                "(no working C++ compiler?); reinstall with one to get them")
    global _LIBRARY
    try:
        lib = ctypes.CDLL(str(path))
        for target, symbol in TARGETS.items():
            capsule = jax.ffi.pycapsule(getattr(lib, symbol))
            jax.ffi.register_ffi_target(target, capsule, platform="cpu")
        lib.JaxsparseCachedStreamBytes.restype = ctypes.c_int64
    except (OSError, AttributeError) as err:
        return f"could not load {path.name}: {err}"
    _LIBRARY = lib
    return None


def _load_or_explain() -> str | None:
    reason = load(library_path())
    required = os.environ.get("JAXSPARSE_REQUIRE_NATIVE", "") not in ("", "0")
    if reason is not None and required:
        raise ImportError(f"JAXSPARSE_REQUIRE_NATIVE is set but {reason}")
    return reason


_MISSING = _load_or_explain()


def missing_reason() -> str | None:
    """Why the native backend is unavailable, or ``None`` when it is loaded."""
    return _MISSING


def cached_stream_bytes() -> int:
    """The kernels' ``kCachedStreamBytes`` (csrc/common.h): a matrix whose values and
    indices take fewer bytes stays in the last-level cache from one product to the next.
    Asked by the native lowerings, which run only where the library is loaded."""
    if _LIBRARY is None:
        raise RuntimeError(f"the native kernels are unavailable: {_MISSING}")
    return int(_LIBRARY.JaxsparseCachedStreamBytes())
