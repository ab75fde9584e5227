/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Small helpers for the guest tests: one device context, RC queue pairs
 * connected to each other through the device's RoCE v2 IPv4 GID, and
 * synchronous post-and-wait with a timeout.
 */
#ifndef RDMATEST_H
#define RDMATEST_H

#include <stddef.h>
#include <stdint.h>
#include <infiniband/verbs.h>

struct rt_dev {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	uint8_t port;
	int gid_index;
	union ibv_gid gid;
	enum ibv_mtu mtu;
};

/* Print a failure (with errno text when err != 0) and return -1. */
int rt_fail(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Open the named device (NULL: $RDMA_DEV, else rxe0) with a PD and CQ. */
int rt_open(struct rt_dev *d, const char *name);
void rt_close(struct rt_dev *d);

struct ibv_qp *rt_rc_qp(struct rt_dev *d);

/* RC QP timeout (4.096 us << 18: about 1 s) and a finite retry count. */
#define RT_QP_TIMEOUT 18
#define RT_QP_RETRY_CNT 6

/* Move both QPs to RTS, each pointing at the other. */
int rt_connect(struct rt_dev *d, struct ibv_qp *a, struct ibv_qp *b);
/* Move @qp to RTS, connected to QP @remote_qpn at @dgid (any machine). */
int rt_to_rts(struct rt_dev *d, struct ibv_qp *qp, uint32_t remote_qpn,
	      const union ibv_gid *dgid);

/* Post one signalled send WR and wait for its completion. */
int rt_send_wait(struct rt_dev *d, struct ibv_qp *qp, struct ibv_send_wr *wr,
		 struct ibv_wc *wc);
int rt_post_recv(struct ibv_qp *qp, void *addr, uint32_t len, uint32_t lkey,
		 uint64_t id);
/* Wait for the completion with wr_id == id. */
int rt_wait(struct rt_dev *d, uint64_t id, struct ibv_wc *wc);

/*
 * Post one signalled send WR and wait for its completion whatever its
 * status, which goes to *st (for tests that expect errors).
 */
int rt_send_status(struct rt_dev *d, struct ibv_qp *qp,
		   struct ibv_send_wr *wr, enum ibv_wc_status *st);
/* One RDMA @op of [local, local + len) (@lkey) at @remote (@rkey). */
int rt_rdma_status(struct rt_dev *d, struct ibv_qp *qp, enum ibv_wr_opcode op,
		   void *local, uint32_t len, uint32_t lkey, uint64_t remote,
		   uint32_t rkey, enum ibv_wc_status *st);
/* The same, failing (with a message) unless it completes successfully. */
int rt_rdma(struct rt_dev *d, struct ibv_qp *qp, enum ibv_wr_opcode op,
	    void *local, uint32_t len, uint32_t lkey, uint64_t remote,
	    uint32_t rkey);
/* A new connected pair in place of *a, *b (an error leaves QPs in error). */
int rt_reconnect(struct rt_dev *d, struct ibv_qp **a, struct ibv_qp **b);

/*
 * A driver attribute "rdma -dd resource show mr" prints for the MR with
 * @rkey ("ats", "maps" for rxe), as text.
 */
int rt_mr_attr(uint32_t rkey, const char *name, char *out, size_t n);
/* The same, returning 1 without a message when the MR (which must exist)
 * has no such attribute. */
int rt_mr_attr_opt(uint32_t rkey, const char *name, char *out, size_t n);

/* Deterministic byte pattern; returns offset of first mismatch or -1. */
void rt_fill(void *buf, size_t len, uint32_t seed);
long rt_check(const void *buf, size_t len, uint32_t seed);

#endif
