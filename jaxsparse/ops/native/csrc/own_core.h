// A core of its own for each device's thread while it runs a multi-device program.
//
// With several CPU devices in one process, PJRT runs each device's share of a program on
// a thread of its own, and our kernels run on that one thread (cores / devices is 1).
// Linux places a thread it wakes near the thread that woke it: when the Python thread
// launches a sharded program and wakes both device threads while still running itself,
// both often land on the other core, and the core the Python thread then leaves stays
// idle. perf, system-wide, on the 2-device banded product timed alternately with SciPy:
// both device threads on one core in about 1 call in 4, the second waiting 2-9 ms for
// the balancer (11.2 ms a call); with each pinned to a core of its own, 8.3-8.8 ms.
#pragma once

#include <cstdint>

namespace jaxsparse {

// own_core != 0 (the Python lowering decides, _lowerings.pins_threads: a one-thread call
// in a program over several devices, in a process with at least as many CPU devices as
// cores; JAXSPARSE_PIN_THREADS=0 turns it off): pins the calling thread to its
// core, chosen on its first such call as the next in turn among the cores it may use,
// and leaves it there, so that the next launch wakes it there. own_core == 0 (any other
// call) gives a pinned thread its earlier affinity back. Never the process's main thread
// (the user's Python thread, were PJRT ever to run a device's program there); a no-op
// off Linux; a system call only when the state changes.
void KeepOnOwnCore(int64_t own_core);

}  // namespace jaxsparse

// For the tests (ctypes): how many threads KeepOnOwnCore has pinned now; KeepOnOwnCore
// itself, on the calling thread.
extern "C" int64_t JaxsparsePinnedThreads();
extern "C" void JaxsparseKeepOnOwnCore(int64_t own_core);
