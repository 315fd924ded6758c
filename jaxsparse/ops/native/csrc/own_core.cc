// See own_core.h. jnp twin: none (it changes where a kernel runs, never its result).
#include "own_core.h"

#include <atomic>

#if defined(__linux__)
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace jaxsparse {
namespace {

std::atomic<int64_t> turns{0};   // threads given a core so far: the next one's turn
std::atomic<int64_t> pinned{0};  // threads pinned now

#if defined(__linux__)
// The turn-th (mod their count) of the cores in `allowed`, or -1 if there are none.
int NthCore(const cpu_set_t& allowed, int64_t turn) {
  int count = CPU_COUNT(&allowed);
  if (count == 0) return -1;
  int64_t skip = turn % count;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &allowed) && skip-- == 0) return cpu;
  }
  return -1;
}

struct ThreadState {
  int core = -2;  // -2: not chosen yet; -1: none (the main thread, or no core allowed)
  bool is_pinned = false;
  cpu_set_t before;  // the affinity to give back
};
#endif

}  // namespace

void KeepOnOwnCore(int64_t own_core) {
#if defined(__linux__)
  thread_local ThreadState state;
  if ((own_core != 0) == state.is_pinned || state.core == -1) return;
  if (own_core == 0) {  // pinned, and now running something else: give it back
    if (sched_setaffinity(0, sizeof state.before, &state.before) == 0) {
      state.is_pinned = false;
      pinned.fetch_sub(1);
    }
    return;
  }
  if (sched_getaffinity(0, sizeof state.before, &state.before) != 0) return;
  if (state.core == -2) {
    bool main_thread = static_cast<pid_t>(syscall(SYS_gettid)) == getpid();
    state.core = main_thread ? -1 : NthCore(state.before, turns.fetch_add(1));
    if (state.core < 0) return;
  }
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(state.core, &one);
  // Best effort: a refusal (a seccomp filter, a core no longer allowed) leaves the
  // thread where it was, and the next call tries again.
  if (sched_setaffinity(0, sizeof one, &one) == 0) {
    state.is_pinned = true;
    pinned.fetch_add(1);
  }
#else
  (void)own_core;
#endif
}

}  // namespace jaxsparse

extern "C" int64_t JaxsparsePinnedThreads() { return jaxsparse::pinned.load(); }
extern "C" void JaxsparseKeepOnOwnCore(int64_t own_core) { jaxsparse::KeepOnOwnCore(own_core); }
