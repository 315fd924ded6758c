"""The "native" backend: C++ CPU kernels called through the XLA FFI.

The kernels (``csrc/``, one family per file) are compiled into one shared library by the
package's own build (``setup.py``) and registered here as FFI targets and as the
"native" lowerings of the product primitives, so ``jit``/``grad``/``jvp``/``vmap`` and
the sharded ops use them with no other change. ``backend=None`` picks them on CPU.

Threads: a call splits its rows (balanced by nonzeros) over ``cores // local CPU
devices`` threads of XLA's intra-op pool, so D simulated devices do not fight over the
cores; ``JAXSPARSE_NUM_THREADS`` overrides (read when a product is traced). Results
never depend on the thread count. A one-thread call inside a program over every
device pins the thread running it (PJRT's, for one device's share) to a core of its
own until that thread runs another kind of call, so two devices' shares do not queue on
one core while another idles (``csrc/own_core.h``); ``JAXSPARSE_PIN_THREADS=0`` turns
that off.

Where the library is missing (no compiler at install time) jaxsparse uses "xla" and
warns once; ``JAXSPARSE_REQUIRE_NATIVE=1`` makes the import fail instead (CI sets it).
"""

from ._library import missing_reason as missing_reason
from ._lowerings import num_threads as num_threads
from ._lowerings import own_core as own_core
