#include "mbox_dpdk.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void mbox_symmetric_rss_key(uint8_t *key, unsigned length) {
    // A key of repeated 0x6d5a makes the Toeplitz hash symmetric in source and
    // destination (address and port): the key repeats every 16 bits, and swapping a
    // tuple's source and destination moves each field by a multiple of 16 bits.
    for (unsigned i = 0; i < length; i++) key[i] = (i % 2 == 0) ? 0x6d : 0x5a;
}

#ifdef MBOX_HAVE_DPDK
#include <stdlib.h>

#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_thash.h>

int mbox_dpdk_available(void) { return 1; }

int mbox_eal_init(int argc, char **argv, char *error, size_t error_length) {
    int consumed = rte_eal_init(argc, argv);
    if (consumed < 0) {
        snprintf(error, error_length, "EAL did not start: %s", rte_strerror(rte_errno));
        return -rte_errno;
    }
    return 0;
}

void mbox_eal_cleanup(void) { rte_eal_cleanup(); }

void *mbox_mempool_create(const char *name, unsigned count, unsigned cache, unsigned data_room,
                          char *error, size_t error_length) {
    struct rte_mempool *pool = rte_pktmbuf_pool_create(name, count, cache, 0,
                                                       (uint16_t)(data_room + RTE_PKTMBUF_HEADROOM), rte_socket_id());
    if (pool == NULL) snprintf(error, error_length, "cannot create mbuf pool: %s", rte_strerror(rte_errno));
    return pool;
}

unsigned mbox_mempool_available(void *pool) { return rte_mempool_avail_count((struct rte_mempool *)pool); }

struct mbox_fill {
    const uint8_t *const *frames;
    const uint16_t *lengths;
    unsigned count;
};

static void mbox_fill_one(struct rte_mempool *pool, void *argument, void *object, unsigned index) {
    (void)pool;
    const struct mbox_fill *fill = argument;
    struct rte_mbuf *mbuf = object;
    unsigned frame = index % fill->count;
    unsigned room = mbuf->buf_len > RTE_PKTMBUF_HEADROOM ? mbuf->buf_len - RTE_PKTMBUF_HEADROOM : 0;
    unsigned length = fill->lengths[frame] < room ? fill->lengths[frame] : room;
    memcpy((uint8_t *)mbuf->buf_addr + RTE_PKTMBUF_HEADROOM, fill->frames[frame], length);
}

unsigned mbox_mempool_fill(void *pool, const uint8_t *const *frames, const uint16_t *lengths, unsigned count) {
    if (count == 0) return 0;
    struct mbox_fill fill = {frames, lengths, count};
    return rte_mempool_obj_iter((struct rte_mempool *)pool, mbox_fill_one, &fill);
}

void *mbox_mbuf_copy(void *pool, const uint8_t *data, uint16_t length) {
    struct rte_mbuf *mbuf = rte_pktmbuf_alloc((struct rte_mempool *)pool);
    if (mbuf == NULL) return NULL;
    char *room = rte_pktmbuf_append(mbuf, length);
    if (room == NULL) {
        rte_pktmbuf_free(mbuf);
        return NULL;
    }
    memcpy(room, data, length);
    return mbuf;
}

uint16_t mbox_port_count(void) { return rte_eth_dev_count_avail(); }

int mbox_port_name(uint16_t port, char *name, size_t length) {
    char buffer[RTE_ETH_NAME_MAX_LEN];
    int status = rte_eth_dev_get_name_by_port(port, buffer);
    if (status == 0) snprintf(name, length, "%s", buffer);
    return status;
}

int mbox_port_start(uint16_t port, uint16_t rx_queues, uint16_t tx_queues, uint16_t descriptors, void *pool,
                    char *error, size_t error_length) {
    struct rte_eth_conf conf;
    memset(&conf, 0, sizeof conf);
    struct rte_eth_dev_info info;
    int status = rte_eth_dev_info_get(port, &info);
    if (status != 0) {
        snprintf(error, error_length, "port %u: no device info (%s)", port, rte_strerror(-status));
        return status;
    }
    // Both directions of a flow must reach the same queue.
    static uint8_t symmetric_key[128];
    if (rx_queues > 1 && (info.flow_type_rss_offloads & RTE_ETH_RSS_IP)) {
        uint8_t key_length = info.hash_key_size ? info.hash_key_size : 40;
        if (key_length > sizeof symmetric_key) key_length = sizeof symmetric_key;
        mbox_symmetric_rss_key(symmetric_key, key_length);
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_key = symmetric_key;
        conf.rx_adv_conf.rss_conf.rss_key_len = key_length;
        conf.rx_adv_conf.rss_conf.rss_hf = info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP);
    }
    if ((status = rte_eth_dev_configure(port, rx_queues, tx_queues, &conf)) != 0) {
        snprintf(error, error_length, "port %u: configure failed (%s)", port, rte_strerror(-status));
        return status;
    }
    uint16_t rx_descriptors = descriptors, tx_descriptors = descriptors;
    rte_eth_dev_adjust_nb_rx_tx_desc(port, &rx_descriptors, &tx_descriptors);
    for (uint16_t queue = 0; queue < rx_queues; queue++) {
        status = rte_eth_rx_queue_setup(port, queue, rx_descriptors, rte_eth_dev_socket_id(port), NULL,
                                        (struct rte_mempool *)pool);
        if (status != 0) {
            snprintf(error, error_length, "port %u: RX queue %u setup failed (%s)", port, queue, rte_strerror(-status));
            return status;
        }
    }
    for (uint16_t queue = 0; queue < tx_queues; queue++) {
        status = rte_eth_tx_queue_setup(port, queue, tx_descriptors, rte_eth_dev_socket_id(port), NULL);
        if (status != 0) {
            snprintf(error, error_length, "port %u: TX queue %u setup failed (%s)", port, queue, rte_strerror(-status));
            return status;
        }
    }
    if ((status = rte_eth_dev_start(port)) != 0) {
        snprintf(error, error_length, "port %u: start failed (%s)", port, rte_strerror(-status));
        return status;
    }
    rte_eth_promiscuous_enable(port);
    return 0;
}

unsigned mbox_worker_lcores(unsigned *ids, unsigned capacity) {
    unsigned count = 0, id;
    RTE_LCORE_FOREACH_WORKER(id) {
        if (count < capacity) ids[count] = id;
        count++;
    }
    return count;
}

int mbox_on_main_lcore(void) { return rte_lcore_id() == rte_get_main_lcore(); }

struct mbox_launch { mbox_lcore_function function; void *argument; };

static int mbox_trampoline(void *pointer) {
    struct mbox_launch launch = *(struct mbox_launch *)pointer;
    free(pointer);
    launch.function(launch.argument);
    return 0;
}

int mbox_lcore_launch(unsigned lcore, mbox_lcore_function function, void *argument) {
    struct mbox_launch *launch = malloc(sizeof *launch);
    if (launch == NULL) return -ENOMEM;
    launch->function = function;
    launch->argument = argument;
    int status = rte_eal_remote_launch(mbox_trampoline, launch, lcore);
    if (status != 0) free(launch);
    return status;
}

int mbox_lcore_wait(unsigned lcore) { return rte_eal_wait_lcore(lcore); }

uint32_t mbox_rss_hash(const uint32_t *words, unsigned count, const uint8_t *key) {
    // rte_softrss reads its input as a mutable array; it does not write it.
    return rte_softrss((uint32_t *)words, count, key);
}

int mbox_port_rss_queues(uint16_t port) {
    struct rte_eth_dev_info info;
    if (rte_eth_dev_info_get(port, &info) != 0 || !(info.flow_type_rss_offloads & RTE_ETH_RSS_IP)) return 0;
    return info.max_rx_queues < info.max_tx_queues ? info.max_rx_queues : info.max_tx_queues;
}

void mbox_port_stop(uint16_t port) {
    rte_eth_dev_stop(port);
    rte_eth_dev_close(port);
}

uint16_t mbox_rx_burst(uint16_t port, uint16_t queue, void **mbufs, uint16_t count) {
    return rte_eth_rx_burst(port, queue, (struct rte_mbuf **)mbufs, count);
}

uint16_t mbox_tx_burst(uint16_t port, uint16_t queue, void **mbufs, uint16_t count) {
    return rte_eth_tx_burst(port, queue, (struct rte_mbuf **)mbufs, count);
}

void mbox_free_bulk(void **mbufs, unsigned count) { rte_pktmbuf_free_bulk((struct rte_mbuf **)mbufs, count); }

unsigned mbox_burst_views(void **mbufs, uint16_t count, const uint8_t **data, uint32_t *length, uint32_t *rss,
                          uint8_t *scratch, uint32_t slot_size) {
    unsigned copied = 0;
    for (uint16_t i = 0; i < count; i++) {
        struct rte_mbuf *m = (struct rte_mbuf *)mbufs[i];
        if (m->nb_segs == 1) {
            data[i] = rte_pktmbuf_mtod(m, const uint8_t *);
            length[i] = m->data_len;
        } else {
            uint32_t whole = m->pkt_len < slot_size ? m->pkt_len : slot_size;
            data[i] = rte_pktmbuf_read(m, 0, whole, scratch + (size_t)i * slot_size);
            length[i] = data[i] ? whole : 0;
            copied++;
        }
        rss[i] = (m->ol_flags & RTE_MBUF_F_RX_RSS_HASH) ? m->hash.rss : 0;
    }
    return copied;
}

int mbox_port_stats(uint16_t port, struct mbox_port_stats *stats) {
    struct rte_eth_stats s;
    int status = rte_eth_stats_get(port, &s);
    if (status != 0) return status;
    stats->rx_packets = s.ipackets;
    stats->tx_packets = s.opackets;
    stats->rx_bytes = s.ibytes;
    stats->tx_bytes = s.obytes;
    stats->rx_missed = s.imissed;
    stats->rx_errors = s.ierrors;
    stats->tx_errors = s.oerrors;
    stats->rx_no_mbuf = s.rx_nombuf;
    return 0;
}

#else  // Built without DPDK: every entry point says so.
uint32_t mbox_rss_hash(const uint32_t *words, unsigned count, const uint8_t *key) {
    (void)words; (void)count; (void)key;
    return 0;
}

int mbox_dpdk_available(void) { return 0; }
int mbox_eal_init(int argc, char **argv, char *error, size_t error_length) {
    (void)argc; (void)argv;
    snprintf(error, error_length, "this agent was built without DPDK (install libdpdk-dev and rebuild)");
    return MBOX_DPDK_UNAVAILABLE;
}
void mbox_eal_cleanup(void) {}
void *mbox_mempool_create(const char *name, unsigned count, unsigned cache, unsigned data_room,
                          char *error, size_t error_length) {
    (void)name; (void)count; (void)cache; (void)data_room;
    snprintf(error, error_length, "built without DPDK");
    return NULL;
}
unsigned mbox_mempool_available(void *pool) { (void)pool; return 0; }
unsigned mbox_mempool_fill(void *pool, const uint8_t *const *frames, const uint16_t *lengths, unsigned count) {
    (void)pool; (void)frames; (void)lengths; (void)count;
    return 0;
}
void *mbox_mbuf_copy(void *pool, const uint8_t *data, uint16_t length) { (void)pool; (void)data; (void)length; return NULL; }
uint16_t mbox_port_count(void) { return 0; }
int mbox_port_name(uint16_t port, char *name, size_t length) { (void)port; (void)name; (void)length; return MBOX_DPDK_UNAVAILABLE; }
int mbox_port_start(uint16_t port, uint16_t rx_queues, uint16_t tx_queues, uint16_t descriptors, void *pool,
                    char *error, size_t error_length) {
    (void)port; (void)rx_queues; (void)tx_queues; (void)descriptors; (void)pool;
    snprintf(error, error_length, "built without DPDK");
    return MBOX_DPDK_UNAVAILABLE;
}
int mbox_port_rss_queues(uint16_t port) { (void)port; return 0; }
unsigned mbox_worker_lcores(unsigned *ids, unsigned capacity) { (void)ids; (void)capacity; return 0; }
int mbox_on_main_lcore(void) { return 0; }
int mbox_lcore_launch(unsigned lcore, mbox_lcore_function function, void *argument) {
    (void)lcore; (void)function; (void)argument;
    return MBOX_DPDK_UNAVAILABLE;
}
int mbox_lcore_wait(unsigned lcore) { (void)lcore; return MBOX_DPDK_UNAVAILABLE; }
void mbox_port_stop(uint16_t port) { (void)port; }
uint16_t mbox_rx_burst(uint16_t port, uint16_t queue, void **mbufs, uint16_t count) { (void)port; (void)queue; (void)mbufs; (void)count; return 0; }
uint16_t mbox_tx_burst(uint16_t port, uint16_t queue, void **mbufs, uint16_t count) { (void)port; (void)queue; (void)mbufs; (void)count; return 0; }
void mbox_free_bulk(void **mbufs, unsigned count) { (void)mbufs; (void)count; }
unsigned mbox_burst_views(void **mbufs, uint16_t count, const uint8_t **data, uint32_t *length, uint32_t *rss,
                          uint8_t *scratch, uint32_t slot_size) {
    (void)mbufs; (void)count; (void)data; (void)length; (void)rss; (void)scratch; (void)slot_size;
    return 0;
}
int mbox_port_stats(uint16_t port, struct mbox_port_stats *stats) { (void)port; (void)stats; return MBOX_DPDK_UNAVAILABLE; }
#endif
