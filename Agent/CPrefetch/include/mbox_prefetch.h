#ifndef MBOX_PREFETCH_H
#define MBOX_PREFETCH_H

/// Asks the CPU to bring the cache line at `address` in ahead of its use (a hint: never
/// faults, costs an instruction). Swift has no prefetch of its own.
static inline void mbox_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

#endif
