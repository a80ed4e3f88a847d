// A small C surface over DPDK for the agent. It names no DPDK type (mbufs and mempools
// are opaque pointers), so Swift imports it whether or not DPDK is installed; without
// DPDK every call reports MBOX_DPDK_UNAVAILABLE.
#ifndef MBOX_DPDK_H
#define MBOX_DPDK_H

#include <stddef.h>
#include <stdint.h>

#define MBOX_DPDK_UNAVAILABLE (-95)

/// 1 when the agent was built with DPDK.
int mbox_dpdk_available(void);

/// rte_eal_init with these arguments (argv[0] is the program name). Returns 0, or a
/// negative error with a message in `error`. Succeeds once per process.
int mbox_eal_init(int argc, char **argv, char *error, size_t error_length);
void mbox_eal_cleanup(void);

/// A packet mbuf pool: `count` mbufs of `data_room` bytes each.
void *mbox_mempool_create(const char *name, unsigned count, unsigned cache, unsigned data_room,
                          char *error, size_t error_length);
/// Mbufs the pool has free now.
unsigned mbox_mempool_available(void *pool);
/// Writes frame i % count into the data room of every mbuf of the pool (the i-th object),
/// at the default headroom; frames longer than the data room are cut. For devices that
/// never write packet data (net_null): their packets then carry these frames. Returns
/// how many mbufs were written.
unsigned mbox_mempool_fill(void *pool, const uint8_t *const *frames, const uint16_t *lengths, unsigned count);

/// Number of ports EAL probed, and a port's device name ("net_pcap0", PCI address, ...).
/// A new mbuf from `pool` holding a copy of `length` bytes (NULL when the pool is empty).
void *mbox_mbuf_copy(void *pool, const uint8_t *data, uint16_t length);

uint16_t mbox_port_count(void);
int mbox_port_name(uint16_t port, char *name, size_t length);

/// Configures `port` with `rx_queues`/`tx_queues` queues of `descriptors` each, RX
/// queues filled from `pool`, and starts it. Returns 0 or a negative error (message in `error`).
int mbox_port_start(uint16_t port, uint16_t rx_queues, uint16_t tx_queues, uint16_t descriptors, void *pool,
                    char *error, size_t error_length);
void mbox_port_stop(uint16_t port);
/// How many RX/TX queue pairs `port` can spread by RSS (0: no RSS). With several RX
/// queues `mbox_port_start` sets a symmetric RSS key (both directions of a flow, one queue).
int mbox_port_rss_queues(uint16_t port);
/// Fills `key` with the symmetric RSS key `mbox_port_start` gives NICs.
void mbox_symmetric_rss_key(uint8_t *key, unsigned length);
/// The Toeplitz hash a NIC computes with `key` over `count` 32-bit input words in host
/// order (IPv4 TCP/UDP: source, destination, source port << 16 | destination port; the key
/// must be 4 bytes longer than the input). 0 without DPDK.
uint32_t mbox_rss_hash(const uint32_t *words, unsigned count, const uint8_t *key);

uint16_t mbox_rx_burst(uint16_t port, uint16_t queue, void **mbufs, uint16_t count);
uint16_t mbox_tx_burst(uint16_t port, uint16_t queue, void **mbufs, uint16_t count);
void mbox_free_bulk(void **mbufs, unsigned count);

/// For a whole burst: each packet's data pointer and length, and the NIC's RSS hash (0
/// when the device gave none). A packet in several segments (a jumbo or coalesced frame)
/// is copied whole into its `slot_size` slot of `scratch` (cut to the slot). Returns how
/// many packets were copied so.
unsigned mbox_burst_views(void **mbufs, uint16_t count, const uint8_t **data, uint32_t *length, uint32_t *rss,
                          uint8_t *scratch, uint32_t slot_size);

/// EAL's worker lcores (not the main one): their ids, up to `capacity`; returns how many.
unsigned mbox_worker_lcores(unsigned *ids, unsigned capacity);
/// 1 when the calling thread is EAL's main lcore (the only one that may launch work on others).
int mbox_on_main_lcore(void);
/// Runs `function(argument)` on worker lcore `lcore` (rte_eal_remote_launch); 0 or a negative error.
typedef void (*mbox_lcore_function)(void *argument);
int mbox_lcore_launch(unsigned lcore, mbox_lcore_function function, void *argument);
/// Waits until `lcore` finished what it was launched with.
int mbox_lcore_wait(unsigned lcore);

/// A port's counters.
struct mbox_port_stats {
    uint64_t rx_packets, tx_packets, rx_bytes, tx_bytes, rx_missed, rx_errors, tx_errors, rx_no_mbuf;
};
int mbox_port_stats(uint16_t port, struct mbox_port_stats *stats);

#endif
