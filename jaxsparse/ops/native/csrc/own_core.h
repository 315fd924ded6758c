// A core of its own for each thread that runs devices' shares of a multi-device program.
//
// With several CPU devices in one process, PJRT runs the devices' shares of a program on
// a pool of threads (as many as devices here; which thread runs which device's share
// changes from call to call), and our kernels run on that thread alone (cores / devices
// is 1). Linux places a thread it wakes near the thread that woke it: when the Python
// thread launches a sharded program and wakes two pool threads while still running
// itself, both often land on the other core, and the core the Python thread then leaves
// stays idle. perf, system-wide, on the 2-device banded product timed alternately with
// SciPy: both threads on one core in about 1 call in 4, the second waiting 2-9 ms for
// the balancer (9.5-11.8 ms a call); with each pinned to a core of its own, 8.0-8.9 ms.
// Pinning by device instead (device d to the d-th core) moved the threads at the start
// of most calls, since the pool hands the shares out afresh, and lost that gain.
#pragma once

#include <cstdint>

namespace jaxsparse {

// own_core != 0 (the Python lowering decides, _lowerings.pins_threads: a one-thread call
// in a program over every device, in a process with at least as many CPU devices as
// cores; JAXSPARSE_PIN_THREADS=0 turns it off): pins the calling thread to its core,
// chosen on its first such call as the next in turn among the cores it may use (so D
// pool threads spread over the cores), and leaves it there, so that the next launch
// wakes it there. own_core == 0 (any other call) gives a pinned thread its earlier
// affinity back. Never the process's main thread (PJRT runs one-device programs there,
// inline: the user's Python thread); a no-op off Linux; a system call only when the
// state changes.
void KeepOnOwnCore(int64_t own_core);

}  // namespace jaxsparse

// For the tests (ctypes): how many threads KeepOnOwnCore has pinned now; KeepOnOwnCore
// itself, on the calling thread.
extern "C" int64_t JaxsparsePinnedThreads();
extern "C" void JaxsparseKeepOnOwnCore(int64_t own_core);
