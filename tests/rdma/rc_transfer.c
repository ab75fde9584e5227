// SPDX-License-Identifier: GPL-2.0
/*
 * RDMA WRITE, READ, SEND and atomics between two RC QPs on one device,
 * every transfer read back and compared byte for byte.
 *
 *   rc_transfer [-d dev] [-s max_bytes]
 *
 * Sizes run from 1 byte to max_bytes at unaligned offsets, so transfers
 * start and end inside pages and cross page boundaries.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rdmatest.h"

struct side {
	uint8_t *buf;
	size_t len;
	struct ibv_mr *mr;
};

static int side_init(struct rt_dev *d, struct side *s, size_t len)
{
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
		     IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC;

	s->len = len;
	s->buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s->buf == MAP_FAILED)
		return rt_fail(errno, "mmap %zu", len);
	memset(s->buf, 0, len);
	s->mr = ibv_reg_mr(d->pd, s->buf, len, access);
	if (!s->mr)
		return rt_fail(errno, "ibv_reg_mr %zu", len);
	return 0;
}

static void side_fini(struct side *s)
{
	if (s->mr)
		ibv_dereg_mr(s->mr);
	if (s->buf && s->buf != MAP_FAILED)
		munmap(s->buf, s->len);
}

static int rdma_op(struct rt_dev *d, struct ibv_qp *qp, enum ibv_wr_opcode op,
		   struct side *local, size_t loff, struct side *remote,
		   size_t roff, size_t len, uint64_t id)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)(local->buf + loff),
		.length = (uint32_t)len,
		.lkey = local->mr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = id,
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = op,
	};
	struct ibv_wc wc;

	wr.wr.rdma.remote_addr = (uintptr_t)(remote->buf + roff);
	wr.wr.rdma.rkey = remote->mr->rkey;
	return rt_send_wait(d, qp, &wr, &wc);
}

static int check(const char *what, const uint8_t *p, size_t len, uint32_t seed)
{
	long bad = rt_check(p, len, seed);

	if (bad >= 0)
		return rt_fail(0, "%s of %zu bytes: mismatch at byte %ld",
			       what, len, bad);
	return 0;
}

static int one_size(struct rt_dev *d, struct ibv_qp *qa, struct ibv_qp *qb,
		    struct side *a, struct side *b, size_t len, size_t off)
{
	uint32_t seed = (uint32_t)(len * 7 + off);
	struct ibv_wc wc;
	struct ibv_sge sge;
	struct ibv_send_wr wr;

	/* WRITE a -> b */
	rt_fill(a->buf + off, len, seed);
	memset(b->buf + off, 0, len);
	if (rdma_op(d, qa, IBV_WR_RDMA_WRITE, a, off, b, off, len, 1) ||
	    check("RDMA WRITE", b->buf + off, len, seed))
		return -1;
	/* READ b -> a */
	rt_fill(b->buf + off, len, seed + 1);
	memset(a->buf + off, 0, len);
	if (rdma_op(d, qa, IBV_WR_RDMA_READ, a, off, b, off, len, 2) ||
	    check("RDMA READ", a->buf + off, len, seed + 1))
		return -1;
	/* SEND a -> b */
	rt_fill(a->buf + off, len, seed + 2);
	memset(b->buf + off, 0, len);
	if (rt_post_recv(qb, b->buf + off, (uint32_t)len, b->mr->lkey, 3))
		return -1;
	sge = (struct ibv_sge){ .addr = (uintptr_t)(a->buf + off),
				.length = (uint32_t)len, .lkey = a->mr->lkey };
	wr = (struct ibv_send_wr){ .wr_id = 4, .sg_list = &sge, .num_sge = 1,
				   .opcode = IBV_WR_SEND };
	if (rt_send_wait(d, qa, &wr, &wc) || rt_wait(d, 3, &wc))
		return -1;
	if (wc.byte_len != len)
		return rt_fail(0, "SEND of %zu bytes: receiver got %u", len,
			       wc.byte_len);
	return check("SEND", b->buf + off, len, seed + 2);
}

static int atomics(struct rt_dev *d, struct ibv_qp *qa, struct side *a,
		   struct side *b)
{
	/* the last 8-byte word of b: crosses into the MR's last page */
	size_t roff = (b->len - 8) & ~7ul;
	uint64_t *target = (uint64_t *)(b->buf + roff);
	uint64_t *result = (uint64_t *)a->buf;
	struct ibv_sge sge = { .addr = (uintptr_t)result, .length = 8,
			       .lkey = a->mr->lkey };
	struct ibv_send_wr wr = { .wr_id = 5, .sg_list = &sge, .num_sge = 1 };
	struct ibv_wc wc;

	*target = 1000;
	wr.opcode = IBV_WR_ATOMIC_FETCH_AND_ADD;
	wr.wr.atomic.remote_addr = (uintptr_t)target;
	wr.wr.atomic.rkey = b->mr->rkey;
	wr.wr.atomic.compare_add = 234;
	if (rt_send_wait(d, qa, &wr, &wc))
		return -1;
	if (*result != 1000 || *target != 1234)
		return rt_fail(0, "fetch-and-add: got old %llu new %llu",
			       (unsigned long long)*result,
			       (unsigned long long)*target);
	wr.opcode = IBV_WR_ATOMIC_CMP_AND_SWP;
	wr.wr.atomic.compare_add = 1234;
	wr.wr.atomic.swap = 42;
	wr.send_flags = 0;
	if (rt_send_wait(d, qa, &wr, &wc))
		return -1;
	if (*result != 1234 || *target != 42)
		return rt_fail(0, "compare-and-swap: got old %llu new %llu",
			       (unsigned long long)*result,
			       (unsigned long long)*target);
	return 0;
}

int main(int argc, char **argv)
{
	size_t max = 4 << 20, len;
	const char *dev = NULL;
	struct side a = {}, b = {};
	struct ibv_qp *qa = NULL, *qb = NULL;
	struct rt_dev d;
	int opt, ret = 1, n = 0;

	while ((opt = getopt(argc, argv, "d:s:")) != -1) {
		if (opt == 'd')
			dev = optarg;
		else if (opt == 's')
			max = strtoull(optarg, NULL, 0);
		else
			return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (rt_open(&d, dev))
		goto out;
	if (side_init(&d, &a, max + 8192) || side_init(&d, &b, max + 8192))
		goto out;
	qa = rt_rc_qp(&d);
	qb = rt_rc_qp(&d);
	if (!qa || !qb || rt_connect(&d, qa, qb))
		goto out;
	for (len = 1; len <= max; len = len < 16 ? len + 7 : len * 4 - 1) {
		size_t off = (len * 131) % 4096;

		if (one_size(&d, qa, qb, &a, &b, len, off))
			goto out;
		n++;
	}
	if (one_size(&d, qa, qb, &a, &b, max, 4095) || atomics(&d, qa, &a, &b))
		goto out;
	printf("rc_transfer: %d sizes up to %zu bytes: WRITE, READ, SEND "
	       "verified; atomics verified\n", n + 1, max);
	ret = 0;
out:
	if (qa)
		ibv_destroy_qp(qa);
	if (qb)
		ibv_destroy_qp(qb);
	side_fini(&a);
	side_fini(&b);
	rt_close(&d);
	return ret;
}
