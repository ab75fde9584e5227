// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

#include "rdmatest.h"

int rt_fail(int err, const char *fmt, ...)
{
	va_list ap;

	fputs("FAIL: ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (err)
		printf(": %s (errno %d)", strerror(err), err);
	putchar('\n');
	fflush(stdout);
	return -1;
}

static int find_roce_v2_ipv4_gid(struct rt_dev *d)
{
	struct ibv_port_attr pa;
	int i;

	if (ibv_query_port(d->ctx, d->port, &pa))
		return rt_fail(errno, "ibv_query_port");
	d->mtu = pa.active_mtu;
	for (i = 0; i < pa.gid_tbl_len; i++) {
		struct ibv_gid_entry e;

		if (ibv_query_gid_ex(d->ctx, d->port, i, &e, 0))
			continue;
		if (e.gid_type != IBV_GID_TYPE_ROCE_V2)
			continue;
		/* IPv4-mapped: ::ffff:a.b.c.d */
		if (memcmp(e.gid.raw, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12))
			continue;
		d->gid_index = i;
		d->gid = e.gid;
		return 0;
	}
	return rt_fail(0, "no RoCE v2 IPv4 GID on port %u", d->port);
}

int rt_open(struct rt_dev *d, const char *name)
{
	struct ibv_device **list;
	int i, n;

	memset(d, 0, sizeof(*d));
	if (!name)
		name = getenv("RDMA_DEV");
	if (!name)
		name = "rxe0";
	list = ibv_get_device_list(&n);
	if (!list)
		return rt_fail(errno, "ibv_get_device_list");
	for (i = 0; i < n; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name))
			d->ctx = ibv_open_device(list[i]);
	ibv_free_device_list(list);
	if (!d->ctx)
		return rt_fail(0, "device %s not found or not openable", name);
	d->port = 1;
	d->pd = ibv_alloc_pd(d->ctx);
	if (!d->pd)
		return rt_fail(errno, "ibv_alloc_pd");
	d->cq = ibv_create_cq(d->ctx, 1024, NULL, NULL, 0);
	if (!d->cq)
		return rt_fail(errno, "ibv_create_cq");
	return find_roce_v2_ipv4_gid(d);
}

void rt_close(struct rt_dev *d)
{
	if (d->cq)
		ibv_destroy_cq(d->cq);
	if (d->pd)
		ibv_dealloc_pd(d->pd);
	if (d->ctx)
		ibv_close_device(d->ctx);
	memset(d, 0, sizeof(*d));
}

struct ibv_qp *rt_rc_qp(struct rt_dev *d)
{
	struct ibv_qp_init_attr ia = {
		.send_cq = d->cq,
		.recv_cq = d->cq,
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 256, .max_recv_wr = 256,
			 .max_send_sge = 4, .max_recv_sge = 4 },
	};
	struct ibv_qp *qp = ibv_create_qp(d->pd, &ia);

	if (!qp)
		rt_fail(errno, "ibv_create_qp");
	return qp;
}

int rt_to_rts(struct rt_dev *d, struct ibv_qp *qp, uint32_t remote_qpn,
	      const union ibv_gid *dgid)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT,
		.pkey_index = 0,
		.port_num = d->port,
		.qp_access_flags = IBV_ACCESS_LOCAL_WRITE |
				   IBV_ACCESS_REMOTE_WRITE |
				   IBV_ACCESS_REMOTE_READ |
				   IBV_ACCESS_REMOTE_ATOMIC,
	};

	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			  IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		return rt_fail(errno, "modify QP to INIT");
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = d->mtu;
	a.dest_qp_num = remote_qpn;
	a.rq_psn = 0;
	a.max_dest_rd_atomic = 16;
	a.min_rnr_timer = 12;
	a.ah_attr.is_global = 1;
	a.ah_attr.grh.dgid = *dgid;
	a.ah_attr.grh.sgid_index = d->gid_index;
	a.ah_attr.grh.hop_limit = 64;
	a.ah_attr.port_num = d->port;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
			  IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
		return rt_fail(errno, "modify QP to RTR");
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	/*
	 * rxe retries a retry_cnt of 7 forever: a WR whose NAK never
	 * reaches the requester (seen in CI under TCG, responder in ERR)
	 * would hang.  Six retries of a 1 s timeout end such a WR with
	 * IBV_WC_RETRY_EXC_ERR instead, and outlast any stall of a slow
	 * guest seen here.
	 */
	a.timeout = RT_QP_TIMEOUT;
	a.retry_cnt = RT_QP_RETRY_CNT;
	a.rnr_retry = 7;
	a.sq_psn = 0;
	a.max_rd_atomic = 16;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT |
			  IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
			  IBV_QP_MAX_QP_RD_ATOMIC))
		return rt_fail(errno, "modify QP to RTS");
	return 0;
}

int rt_connect(struct rt_dev *d, struct ibv_qp *a, struct ibv_qp *b)
{
	if (rt_to_rts(d, a, b->qp_num, &d->gid) ||
	    rt_to_rts(d, b, a->qp_num, &d->gid))
		return -1;
	return 0;
}

/* Completions that arrive for other WRs are parked here. */
static struct ibv_wc parked[256];
static int nparked;

int rt_wait(struct rt_dev *d, uint64_t id, struct ibv_wc *wc)
{
	struct timespec t0, t;
	int i, n;

	for (i = 0; i < nparked; i++) {
		if (parked[i].wr_id == id) {
			*wc = parked[i];
			parked[i] = parked[--nparked];
			goto got;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct ibv_wc w;

		n = ibv_poll_cq(d->cq, 1, &w);
		if (n < 0)
			return rt_fail(0, "ibv_poll_cq returned %d", n);
		if (n == 1) {
			if (w.wr_id == id) {
				*wc = w;
				goto got;
			}
			if (nparked == (int)(sizeof(parked) / sizeof(*parked)))
				return rt_fail(0, "too many stray completions");
			parked[nparked++] = w;
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 30)
			return rt_fail(0, "no completion for wr_id %llu in 30 s",
				       (unsigned long long)id);
	}
got:
	if (wc->status != IBV_WC_SUCCESS)
		return rt_fail(0, "wr_id %llu completed with %s",
			       (unsigned long long)id,
			       ibv_wc_status_str(wc->status));
	return 0;
}

int rt_send_wait(struct rt_dev *d, struct ibv_qp *qp, struct ibv_send_wr *wr,
		 struct ibv_wc *wc)
{
	struct ibv_send_wr *bad;
	int err;

	wr->send_flags |= IBV_SEND_SIGNALED;
	err = ibv_post_send(qp, wr, &bad);
	if (err)
		return rt_fail(err, "ibv_post_send");
	return rt_wait(d, wr->wr_id, wc);
}

int rt_send_status(struct rt_dev *d, struct ibv_qp *qp,
		   struct ibv_send_wr *wr, enum ibv_wc_status *st)
{
	struct timespec t0, t;
	struct ibv_send_wr *bad;
	struct ibv_wc wc;
	int n, err;

	wr->send_flags |= IBV_SEND_SIGNALED;
	err = ibv_post_send(qp, wr, &bad);
	if (err)
		return rt_fail(err, "ibv_post_send");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		n = ibv_poll_cq(d->cq, 1, &wc);
		if (n < 0)
			return rt_fail(0, "ibv_poll_cq returned %d", n);
		if (n && wc.wr_id == wr->wr_id) {
			*st = wc.status;
			return 0;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 30)
			return rt_fail(0, "no completion for wr_id %llu in 30 s",
				       (unsigned long long)wr->wr_id);
	}
}

int rt_rdma_status(struct rt_dev *d, struct ibv_qp *qp, enum ibv_wr_opcode op,
		   void *local, uint32_t len, uint32_t lkey, uint64_t remote,
		   uint32_t rkey, enum ibv_wc_status *st)
{
	struct ibv_sge sge = { .addr = (uintptr_t)local, .length = len,
			       .lkey = lkey };
	struct ibv_send_wr wr = { .wr_id = 1, .sg_list = &sge, .num_sge = 1,
				  .opcode = op };

	wr.wr.rdma.remote_addr = remote;
	wr.wr.rdma.rkey = rkey;
	return rt_send_status(d, qp, &wr, st);
}

int rt_rdma(struct rt_dev *d, struct ibv_qp *qp, enum ibv_wr_opcode op,
	    void *local, uint32_t len, uint32_t lkey, uint64_t remote,
	    uint32_t rkey)
{
	enum ibv_wc_status st;

	if (rt_rdma_status(d, qp, op, local, len, lkey, remote, rkey, &st))
		return -1;
	if (st != IBV_WC_SUCCESS)
		return rt_fail(0, "%s of %u bytes at %#llx completed with %s",
			       op == IBV_WR_RDMA_WRITE ? "WRITE" :
			       op == IBV_WR_RDMA_READ ? "READ" : "RDMA op", len,
			       (unsigned long long)remote,
			       ibv_wc_status_str(st));
	return 0;
}

int rt_reconnect(struct rt_dev *d, struct ibv_qp **a, struct ibv_qp **b)
{
	if (*a)
		ibv_destroy_qp(*a);
	if (*b)
		ibv_destroy_qp(*b);
	*a = rt_rc_qp(d);
	*b = rt_rc_qp(d);
	return !*a || !*b ? -1 : rt_connect(d, *a, *b);
}

int rt_post_recv(struct ibv_qp *qp, void *addr, uint32_t len, uint32_t lkey,
		 uint64_t id)
{
	struct ibv_sge sge = { .addr = (uintptr_t)addr, .length = len,
			       .lkey = lkey };
	struct ibv_recv_wr wr = { .wr_id = id, .sg_list = &sge, .num_sge = 1 };
	struct ibv_recv_wr *bad;
	int err = ibv_post_recv(qp, &wr, &bad);

	if (err)
		return rt_fail(err, "ibv_post_recv");
	return 0;
}

static inline uint8_t pattern_byte(size_t i, uint32_t seed)
{
	uint32_t x = (uint32_t)i * 2654435761u ^ seed;

	return (uint8_t)(x ^ (x >> 13) ^ (x >> 24));
}

void rt_fill(void *buf, size_t len, uint32_t seed)
{
	uint8_t *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = pattern_byte(i, seed);
}

long rt_check(const void *buf, size_t len, uint32_t seed)
{
	const uint8_t *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != pattern_byte(i, seed))
			return (long)i;
	return -1;
}

int rt_mr_attr(uint32_t rkey, const char *name, char *out, size_t n)
{
	int ret = rt_mr_attr_opt(rkey, name, out, n);

	return ret > 0 ? rt_fail(0, "no %s attribute for rkey %#x", name,
				 rkey) : ret;
}

int rt_mr_attr_opt(uint32_t rkey, const char *name, char *out, size_t n)
{
	FILE *p = popen("rdma -dd -j resource show mr", "r");
	char want[32], *obj, *a;
	static char json[1 << 16];
	size_t len;

	if (!p)
		return rt_fail(errno, "rdma resource show mr");
	len = fread(json, 1, sizeof(json) - 1, p);
	pclose(p);
	json[len] = 0;
	snprintf(want, sizeof(want), "\"rkey\":\"%x\"", rkey);
	obj = strstr(json, want);
	if (!obj)
		return rt_fail(0, "MR with rkey %#x missing from: %s", rkey,
			       json);
	while (obj > json && *obj != '{')
		obj--;
	/* driver attributes come prefixed: "drv_ats":"on", "drv_maps":2 */
	snprintf(want, sizeof(want), "\"drv_%s\":", name);
	a = strstr(obj, want);
	if (!a || (strchr(obj, '}') && a > strchr(obj, '}')))
		return 1;
	a += strlen(want);
	a += *a == '"';
	snprintf(out, n, "%.*s", (int)strcspn(a, "\",}"), a);
	return 0;
}
