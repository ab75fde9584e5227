// SPDX-License-Identifier: GPL-2.0
/*
 * Chaos: RDMA users that die at random moments, and registrations that
 * churn while an exporter moves and revokes the memory under them.
 *
 *   chaos [-d dev] [-l] [-r rounds] [-t threads] [-n ops] [-s seed]
 *         [-D seconds] [test...]          (no test: all; -l lists them)
 *
 * kill-rounds (-r rounds, 100): each round forks three processes.  The
 * exporter owner creates a dynamic test exporter buffer and a udmabuf,
 * hands both to the others over unix sockets (SCM_RIGHTS) and then moves
 * the test exporter's buffer again and again.  The server and the client
 * each open the device (context, PD, CQs, RC QP), connect to each other
 * through its RoCE v2 GID, register a plain MR and a dma-buf MR on their
 * half of each buffer, and run RDMA WRITE (read back), READ of a pattern
 * the other wrote, SEND/RECV, FETCH_ADD and CMP_SWP against each other,
 * every local and remote kind of MR mixed, checking every byte and every
 * returned value.  50-1500 ms after traffic started the parent kills one of
 * the three at random (SIGKILL), the other two 200 ms later.  Before the
 * kill any error fails the round; after it the survivors' failed work
 * requests are expected, wrong data never is; every child must have died
 * of SIGKILL.  After the rounds the dead processes' QPs, CQs, MRs and PDs
 * are gone (rdma resource show), and the FOLL_PIN counters and the test
 * exporter's live buffers and pages are back where they were.
 *
 * churn (-t threads, 8; -n registrations each, 10000): threads register
 * and deregister MRs of every kind at random: anonymous memory (fragmented
 * or THP), memfd ranges of 2 MiB and more (memfd_pin_folios) and less
 * (GUP), and windows at random byte offsets of shared dma-bufs (dynamic
 * test exporter buffers, one split into byte-granular ranges, a udmabuf,
 * a system heap buffer), of random sizes with random remote access.  Each
 * keeps a few alive, uses some over a loopback QP pair of its own (WRITE,
 * READ back and FETCH_ADD, checked on memory only it uses; a WRITE without
 * the access must be refused) and deregisters them in random order.
 * Meanwhile one thread moves, revokes and restores the test exporter's
 * buffers, and another moves data through a plain MR and a dma-buf MR on a
 * buffer that is only ever moved, checking every byte.  Registrations on,
 * and transfers through, a buffer revoked meanwhile may fail (ENODEV, the
 * exporter's error, for registrations); nothing else may.  At the end the
 * pins, the exporter's buffers and the device's resources are back where
 * they were.
 *
 * -D stops each sub-test at a deadline (seconds from its start), short of
 * its target: it says so and judges what it did.  Every sub-test reports
 * "PHYRLAB-TEST: chaos.<name> PASS|FAIL".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/dma-heap.h>
#include <linux/udmabuf.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "memkind.h"
#include "rdmatest.h"
#include "../kmod/phyr_test_exporter.h"

#define ACCESS_ALL (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
		    IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)
#define NS 1000000000ull
#define MS 1000000ull

#define INC(x) __atomic_add_fetch(&(x), 1, __ATOMIC_RELAXED)
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_SEQ_CST)

static const char *devname;
static int pte_fd = -1;
static uint64_t seed;
static int rounds = 100, nthreads = 8;
static long nops = 10000;
static unsigned deadline_s;	/* -D: 0 for none */

/* ---- common ---- */

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * NS + (uint64_t)t.tv_nsec;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Uniform in [lo, hi]. */
static uint64_t rnd_in(uint64_t *s, uint64_t lo, uint64_t hi)
{
	return lo + rnd(s) % (hi - lo + 1);
}

/*
 * In [lo, hi], as likely in each octave [2^e, 2^(e+1)): small sizes as
 * often as large ones.
 */
static uint64_t rnd_size(uint64_t *s, uint64_t lo, uint64_t hi)
{
	int a = 63 - __builtin_clzll(lo), b = 63 - __builtin_clzll(hi), e;
	uint64_t v;

	if (!(hi & (hi - 1)) && b > a)
		b--;		/* hi itself is no octave of its own */
	e = (int)rnd_in(s, (uint64_t)a, (uint64_t)b);
	v = rnd_in(s, 1ull << e, (2ull << e) - 1);
	return v < lo ? lo : v > hi ? hi : v;
}

/* A seed for a stream of its own (splitmix64), never 0. */
static uint64_t seed_for(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return (x ^ (x >> 31)) | 1;
}

static long mismatch(const uint8_t *a, const uint8_t *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (a[i] != b[i])
			return (long)i;
	return -1;
}

/* The test exporter's buffer: its fd, or -errno. */
static int pte_create(size_t size, uint32_t flags)
{
	struct pte_create c = { .size = size, .flags = flags };

	if (ioctl(pte_fd, PTE_IOC_CREATE, &c))
		return -errno;
	return c.fd;
}

/* PTE_IOC_MOVE, _REVOKE or _RESTORE: 0 or the errno. */
static int pte_op(unsigned long cmd, int fd, uint64_t *maps_left)
{
	struct pte_op op = { .fd = fd };

	if (ioctl(pte_fd, cmd, &op))
		return errno;
	if (maps_left)
		*maps_left = op.maps_left;
	return 0;
}

/* CPU access to the buffer's current pages: 0 or the errno. */
static int pte_rw(int fd, int write, uint64_t off, void *p, size_t len)
{
	struct pte_rw rw = { .fd = fd, .write = (uint32_t)write,
			     .offset = off, .len = len,
			     .addr = (uintptr_t)p };

	return ioctl(pte_fd, PTE_IOC_RW, &rw) ? errno : 0;
}

/* A udmabuf over @memfd: its fd, or -errno. */
static int udmabuf_create(int memfd, size_t size)
{
	struct udmabuf_create c = { .memfd = (uint32_t)memfd,
				    .flags = UDMABUF_FLAGS_CLOEXEC,
				    .offset = 0, .size = size };
	int dev_fd = open("/dev/udmabuf", O_RDWR | O_CLOEXEC), fd, err;

	if (dev_fd < 0)
		return -errno;
	fd = ioctl(dev_fd, UDMABUF_CREATE, &c);
	err = errno;
	close(dev_fd);
	return fd < 0 ? -err : fd;
}

/* A system heap buffer: its fd, or -errno. */
static int heap_alloc(size_t size)
{
	struct dma_heap_allocation_data a = {
		.len = size, .fd_flags = O_RDWR | O_CLOEXEC };
	int heap = open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC), err;

	if (heap < 0)
		return -errno;
	err = ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a) ? errno : 0;
	close(heap);
	return err ? -err : (int)a.fd;
}

/* A memfd's pages behind a udmabuf: its fd, or -errno. */
static int udmabuf_over(struct region *mem, size_t size)
{
	if (region_map(mem, MEMFD_SHMEM, size))
		return -ENOMEM;
	if (fcntl(mem->fd, F_ADD_SEALS, F_SEAL_SHRINK))
		return -errno;
	return udmabuf_create(mem->fd, size);
}

/* One work request: what to post. */
struct op {
	enum ibv_wr_opcode opcode;
	uint64_t laddr;
	uint32_t len, lkey;
	uint64_t raddr;
	uint32_t rkey;
	uint64_t add, swap;	/* atomics: compare_add, swap */
};

/*
 * Post @o signalled as work request @id and wait for its completion on @cq
 * (other completions are dropped), calling @idle while there is none.
 * Returns 0 with the status in *st, or an errno: the post's, EIO from the
 * poll, ETIMEDOUT after @secs.
 */
static int do_op(struct ibv_cq *cq, struct ibv_qp *qp, uint64_t id,
		 const struct op *o, enum ibv_wc_status *st, unsigned secs,
		 void (*idle)(void *), void *arg)
{
	struct ibv_sge sge = { .addr = o->laddr, .length = o->len,
			       .lkey = o->lkey };
	struct ibv_send_wr wr = { .wr_id = id, .sg_list = &sge, .num_sge = 1,
				  .opcode = o->opcode,
				  .send_flags = IBV_SEND_SIGNALED };
	struct ibv_send_wr *bad;
	uint64_t t0 = now_ns();
	struct ibv_wc wc;
	int n, err;

	if (o->opcode == IBV_WR_ATOMIC_FETCH_AND_ADD ||
	    o->opcode == IBV_WR_ATOMIC_CMP_AND_SWP) {
		wr.wr.atomic.remote_addr = o->raddr;
		wr.wr.atomic.rkey = o->rkey;
		wr.wr.atomic.compare_add = o->add;
		wr.wr.atomic.swap = o->swap;
	} else if (o->opcode != IBV_WR_SEND) {
		wr.wr.rdma.remote_addr = o->raddr;
		wr.wr.rdma.rkey = o->rkey;
	}
	err = ibv_post_send(qp, &wr, &bad);
	if (err)
		return err;
	for (;;) {
		n = ibv_poll_cq(cq, 1, &wc);
		if (n < 0)
			return EIO;
		if (n) {
			if (wc.wr_id != id)
				continue;
			*st = wc.status;
			return 0;
		}
		if (idle)
			idle(arg);
		if (now_ns() - t0 > secs * NS)
			return ETIMEDOUT;
		sched_yield();
	}
}

static const char *opname(enum ibv_wr_opcode op)
{
	switch (op) {
	case IBV_WR_RDMA_WRITE:
		return "WRITE";
	case IBV_WR_RDMA_READ:
		return "READ";
	case IBV_WR_SEND:
		return "SEND";
	case IBV_WR_ATOMIC_FETCH_AND_ADD:
		return "FETCH_ADD";
	case IBV_WR_ATOMIC_CMP_AND_SWP:
		return "CMP_SWP";
	default:
		return "work request";
	}
}

/* ---- what the system holds: pins, exporter, rdma resources ---- */

static const char *const res_name[] = { "qp", "cq", "mr", "pd" };
#define NR_RES 4

struct snap {
	int64_t pins;
	/* the test exporter's live buffers and pages */
	uint64_t bufs, pages;
	int res[NR_RES];	/* objects "rdma resource show" lists */
};

/*
 * Objects of one kind on all devices (every object of the JSON output has
 * an ifindex); with @show, print the listing.
 */
static int rdma_count(const char *what, int show)
{
	size_t len = 0, cap = 1 << 16;
	char cmd[80], line[512], *json = malloc(cap), *p;
	int n = 0, lines = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "rdma -j resource show %s 2>&1", what);
	f = popen(cmd, "r");
	if (!f || !json) {
		free(json);
		return -1;
	}
	for (;;) {
		size_t got = fread(json + len, 1, cap - len - 1, f);

		len += got;
		if (len < cap - 1)
			break;
		cap *= 2;
		p = realloc(json, cap);
		if (!p)
			break;
		json = p;
	}
	json[len] = 0;
	if (pclose(f)) {
		printf("  rdma resource show %s failed: %.300s\n", what, json);
		free(json);
		return -1;
	}
	for (p = json; (p = strstr(p, "\"ifindex\":")); p++)
		n++;
	free(json);
	if (!show)
		return n;
	snprintf(cmd, sizeof(cmd), "rdma resource show %s 2>&1", what);
	f = popen(cmd, "r");
	while (f && fgets(line, sizeof(line), f))
		if (lines++ < 30)
			printf("  rdma %s: %s", what, line);
	if (f)
		pclose(f);
	return n;
}

static int snap_take(struct snap *s, int show)
{
	struct pte_status st = { .fd = -1 };
	int i;

	s->pins = pins_outstanding();
	if (ioctl(pte_fd, PTE_IOC_STATUS, &st))
		return rt_fail(errno, "PTE_IOC_STATUS");
	s->bufs = st.live_buffers;
	s->pages = st.live_pages;
	for (i = 0; i < NR_RES; i++) {
		s->res[i] = rdma_count(res_name[i], show);
		if (s->res[i] < 0)
			return rt_fail(0, "rdma resource show %s", res_name[i]);
	}
	return 0;
}

/*
 * Wait up to 10 s (the dead processes' resources go asynchronously) for
 * everything to be back at @want; say what is not.
 */
static int settle(const struct snap *want)
{
	uint64_t t0 = now_ns();
	struct snap s;
	int i, same, ret = 0;

	for (;;) {
		if (snap_take(&s, 0))
			return -1;
		same = s.pins == want->pins && s.bufs == want->bufs &&
		       s.pages == want->pages;
		for (i = 0; i < NR_RES; i++)
			same &= s.res[i] == want->res[i];
		if (same) {
			printf("  pins, test exporter buffers and pages, QPs, "
			       "CQs, MRs and PDs back where they were (%.1f s "
			       "after the end)\n", (now_ns() - t0) / 1e9);
			return 0;
		}
		if (now_ns() - t0 > 10 * NS)
			break;
		usleep(250 * 1000);
	}
	if (s.pins != want->pins)
		ret = rt_fail(0, "%" PRId64 " pins outstanding more than at "
			      "the start", s.pins - want->pins);
	if (s.bufs != want->bufs || s.pages != want->pages)
		ret = rt_fail(0, "test exporter: %" PRId64 " buffers and %"
			      PRId64 " pages more than at the start",
			      (int64_t)(s.bufs - want->bufs),
			      (int64_t)(s.pages - want->pages));
	for (i = 0; i < NR_RES; i++) {
		if (s.res[i] == want->res[i])
			continue;
		ret = rt_fail(0, "rdma resource show %s: %d objects, %d at "
			      "the start", res_name[i], s.res[i],
			      want->res[i]);
		rdma_count(res_name[i], 1);
	}
	return ret;
}

/* ---- kill-rounds ---- */

enum { SERVER, CLIENT, OWNER, NR_ROLES };
static const char *const role_name[] = { "server", "client", "owner" };

enum { KR_PLAIN, KR_PTE, KR_UDMABUF, KR_KINDS };
static const char *const kr_kind[] = { "plain", "test-exporter", "udmabuf" };

/* each dma-buf: a window per peer */
#define KR_BUF		(64 * KiB)
#define KR_WIN		(32 * KiB)
#define KR_IOVA(k)	(0x100000000ull * (k))
/* A peer's window, in each of its three MRs: */
#define RD_OFF		0		/* a pattern the other READs */
#define RD_LEN		(8 * KiB)
#define WR_OFF		(8 * KiB)	/* the other WRITEs, READs */
#define WR_LEN		(8 * KiB)
#define RV_OFF		(16 * KiB)	/* receive slots */
#define RV_SLOTS	2		/* per MR */
#define RV_SLOT		(4 * KiB)
#define ST_OFF		(24 * KiB)	/* local side of its own WRs */
#define AT_OFF		(30 * KiB)	/* the other's atomics' word */
#define OP_MAX		4096		/* bytes a transfer */

struct kr_shared {
	uint64_t ops[2];	/* completed by the server, the client */
	uint64_t moves;
	int killed;		/* the parent has begun to kill */
	int failed;
	int round;
};

static struct kr_shared *krs;

/* What a peer tells the other. */
struct kr_info {
	uint32_t qpn;
	union ibv_gid gid;
	uint64_t addr[KR_KINDS];	/* its window's first byte in each MR */
	uint32_t rkey[KR_KINDS];
};

struct kr_peer {
	int role;
	uint64_t rng, next_id, sent, received;
	struct rt_dev d;		/* d.cq: the send CQ */
	struct ibv_cq *rcq;
	struct ibv_qp *qp;
	int fd[2];			/* test exporter buffer, udmabuf */
	uint8_t *plain;			/* the plain MR's window */
	uint8_t *uview;			/* the udmabuf's CPU view */
	struct ibv_mr *mr[KR_KINDS];
	struct kr_info me, peer;
	uint64_t word[KR_KINDS];	/* the other's atomic words, as they
					 * must be */
	uint8_t buf[OP_MAX], rbuf[RV_SLOT], want[KR_KINDS][RD_LEN];
};

static uint32_t rd_seed(int role, int kind)
{
	return 0x52440000u + (uint32_t)role * 16 + (uint32_t)kind;
}

static uint32_t send_seed(int role, uint64_t n)
{
	return 0x53000000u + ((uint32_t)role << 20) + (uint32_t)n * 7919u;
}

/*
 * A child's failure.  Unless @always (wrong data), once the parent has
 * begun to kill, the peer's death explains it (flushed or unanswered work
 * requests): wait for SIGKILL.
 */
static void __attribute__((noreturn))
kr_vfail(int role, int err, int always, const char *fmt, va_list ap)
{
	int killed = LOAD(krs->killed);

	if (killed && !always)
		for (;;)
			pause();
	printf("FAIL: round %d, %s%s: ", krs->round, role_name[role],
	       killed ? " (after the kill)" : "");
	vprintf(fmt, ap);
	if (err)
		printf(": %s (errno %d)", strerror(err), err);
	putchar('\n');
	fflush(stdout);
	__atomic_add_fetch(&krs->failed, 1, __ATOMIC_SEQ_CST);
	_exit(1);
}

static void __attribute__((noreturn, format(printf, 3, 4)))
kr_fail(int role, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kr_vfail(role, err, 0, fmt, ap);
}

static void __attribute__((noreturn, format(printf, 2, 3)))
kr_bad(int role, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kr_vfail(role, 0, 1, fmt, ap);
}

/* CPU access to [off, off + n) of @p's window in its MR of @kind. */
static void kr_cpu(struct kr_peer *p, int kind, size_t off, void *buf,
		   size_t n, int write)
{
	size_t at = (size_t)p->role * KR_WIN + off;
	uint8_t *mem = kind == KR_PLAIN ? p->plain + off : p->uview + at;
	int err;

	if (kind == KR_PTE) {
		err = pte_rw(p->fd[0], write, at, buf, n);
		if (err)
			kr_fail(p->role, err, "PTE_IOC_RW");
	} else if (write) {
		memcpy(mem, buf, n);
	} else {
		memcpy(buf, mem, n);
	}
}

static void kr_post_recv(struct kr_peer *p, int slot)
{
	int kind = slot / RV_SLOTS;
	struct ibv_sge sge = {
		.addr = p->me.addr[kind] + RV_OFF +
			(uint64_t)(slot % RV_SLOTS) * RV_SLOT,
		.length = RV_SLOT, .lkey = p->mr[kind]->lkey };
	struct ibv_recv_wr wr = { .wr_id = (uint64_t)slot, .sg_list = &sge,
				  .num_sge = 1 };
	struct ibv_recv_wr *bad;
	int err = ibv_post_recv(p->qp, &wr, &bad);

	if (err)
		kr_fail(p->role, err, "ibv_post_recv");
}

/* Check what the other SENT, in order, and give the slots back. */
static void kr_recvs(void *arg)
{
	struct kr_peer *p = arg;
	struct ibv_wc wc[4];
	int i, n = ibv_poll_cq(p->rcq, 4, wc);

	if (n < 0)
		kr_fail(p->role, 0, "ibv_poll_cq of the receive CQ: %d", n);
	for (i = 0; i < n; i++) {
		int slot = (int)wc[i].wr_id, kind = slot / RV_SLOTS;
		uint32_t len = wc[i].byte_len;
		long at;

		if (wc[i].status != IBV_WC_SUCCESS)
			kr_fail(p->role, 0, "RECV %" PRIu64 " into the %s MR: "
				"%s", p->received, kr_kind[kind],
				ibv_wc_status_str(wc[i].status));
		if (!len || len > OP_MAX)
			kr_bad(p->role, "RECV %" PRIu64 ": %u bytes",
			       p->received, len);
		kr_cpu(p, kind, RV_OFF + (size_t)(slot % RV_SLOTS) * RV_SLOT,
		       p->rbuf, len, 0);
		at = rt_check(p->rbuf, len, send_seed(1 - p->role,
						      p->received));
		if (at >= 0)
			kr_bad(p->role, "SEND %" PRIu64 " of %u bytes into the "
			       "%s MR: mismatch at byte %ld", p->received, len,
			       kr_kind[kind], at);
		p->received++;
		__atomic_add_fetch(&krs->ops[p->role], 1, __ATOMIC_RELAXED);
		kr_post_recv(p, slot);
	}
}

/* One work request from the @l MR to the other's @r MR, which must work. */
static void kr_op(struct kr_peer *p, struct op *o, int l, int r)
{
	enum ibv_wc_status st;
	int err = do_op(p->d.cq, p->qp, ++p->next_id, o, &st, 30, kr_recvs,
			p);

	if (err)
		kr_fail(p->role, err, "%s from the %s MR", opname(o->opcode),
			kr_kind[l]);
	if (st != IBV_WC_SUCCESS)
		kr_fail(p->role, 0, "%s of %u bytes from the %s MR to the "
			"other's %s: %s", opname(o->opcode), o->len,
			kr_kind[l], r < 0 ? "receive queue" : kr_kind[r],
			ibv_wc_status_str(st));
	__atomic_add_fetch(&krs->ops[p->role], 1, __ATOMIC_RELAXED);
}

static void __attribute__((noreturn)) kr_traffic(struct kr_peer *p)
{
	uint64_t *g = &p->rng;

	for (;;) {
		int l = (int)rnd_in(g, 0, KR_KINDS - 1);
		int r = (int)rnd_in(g, 0, KR_KINDS - 1);
		uint32_t n = (uint32_t)rnd_in(g, 1, OP_MAX);
		uint32_t s = (uint32_t)rnd(g);
		struct op o = { .laddr = p->me.addr[l] + ST_OFF, .len = n,
				.lkey = p->mr[l]->lkey,
				.rkey = p->peer.rkey[r] };
		uint64_t off, v;
		long at;
		int hit;

		switch (rnd_in(g, 0, 4)) {
		case 0:		/* WRITE, READ back */
			off = rnd_in(g, 0, WR_LEN - n);
			o.raddr = p->peer.addr[r] + WR_OFF + off;
			rt_fill(p->buf, n, s);
			kr_cpu(p, l, ST_OFF, p->buf, n, 1);
			o.opcode = IBV_WR_RDMA_WRITE;
			kr_op(p, &o, l, r);
			memset(p->buf, 0, n);
			kr_cpu(p, l, ST_OFF, p->buf, n, 1);
			o.opcode = IBV_WR_RDMA_READ;
			kr_op(p, &o, l, r);
			kr_cpu(p, l, ST_OFF, p->buf, n, 0);
			at = rt_check(p->buf, n, s);
			if (at >= 0)
				kr_bad(p->role, "WRITE of %u bytes from the %s "
				       "MR into the other's %s MR, READ back: "
				       "mismatch at byte %ld", n, kr_kind[l],
				       kr_kind[r], at);
			break;
		case 1:		/* READ the other's pattern */
			off = rnd_in(g, 0, RD_LEN - n);
			o.raddr = p->peer.addr[r] + RD_OFF + off;
			memset(p->buf, 0xa5, n);
			kr_cpu(p, l, ST_OFF, p->buf, n, 1);
			o.opcode = IBV_WR_RDMA_READ;
			kr_op(p, &o, l, r);
			kr_cpu(p, l, ST_OFF, p->buf, n, 0);
			at = mismatch(p->buf, p->want[r] + off, n);
			if (at >= 0)
				kr_bad(p->role, "READ of %u bytes at %" PRIu64
				       " of the other's %s MR into the %s MR: "
				       "mismatch at byte %ld", n, off,
				       kr_kind[r], kr_kind[l], at);
			break;
		case 2:		/* SEND: the other checks it */
			rt_fill(p->buf, n, send_seed(p->role, p->sent));
			kr_cpu(p, l, ST_OFF, p->buf, n, 1);
			o.opcode = IBV_WR_SEND;
			kr_op(p, &o, l, -1);
			p->sent++;
			break;
		case 3:		/* FETCH_ADD */
			o.len = 8;
			o.raddr = p->peer.addr[r] + AT_OFF;
			o.opcode = IBV_WR_ATOMIC_FETCH_AND_ADD;
			o.add = 1;
			kr_op(p, &o, l, r);
			kr_cpu(p, l, ST_OFF, &v, 8, 0);
			if (v != p->word[r])
				kr_bad(p->role, "FETCH_ADD on the other's %s "
				       "MR returned %" PRIu64 ", want %" PRIu64,
				       kr_kind[r], v, p->word[r]);
			p->word[r]++;
			break;
		default:	/* CMP_SWP, a quarter of them missing */
			hit = rnd_in(g, 0, 3) != 0;
			o.len = 8;
			o.raddr = p->peer.addr[r] + AT_OFF;
			o.opcode = IBV_WR_ATOMIC_CMP_AND_SWP;
			o.add = hit ? p->word[r] : p->word[r] + 1;
			o.swap = rnd(g);
			kr_op(p, &o, l, r);
			kr_cpu(p, l, ST_OFF, &v, 8, 0);
			if (v != p->word[r])
				kr_bad(p->role, "CMP_SWP on the other's %s MR "
				       "returned %" PRIu64 ", want %" PRIu64,
				       kr_kind[r], v, p->word[r]);
			if (hit)
				p->word[r] = o.swap;
			break;
		}
	}
}

/* INIT, RTR, RTS: connected to QP @qpn at @gid (the same device here). */
static int kr_rts(struct rt_dev *d, struct ibv_qp *qp, uint32_t qpn,
		  const union ibv_gid *gid)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT,
		.port_num = d->port,
		.qp_access_flags = ACCESS_ALL,
	};

	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			  IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		return errno;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = d->mtu;
	a.dest_qp_num = qpn;
	a.max_dest_rd_atomic = 16;
	a.min_rnr_timer = 12;
	a.ah_attr.is_global = 1;
	a.ah_attr.grh.dgid = *gid;
	a.ah_attr.grh.sgid_index = (uint8_t)d->gid_index;
	a.ah_attr.grh.hop_limit = 64;
	a.ah_attr.port_num = d->port;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
			  IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
		return errno;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = RT_QP_TIMEOUT;
	a.retry_cnt = RT_QP_RETRY_CNT;
	a.rnr_retry = 7;
	a.max_rd_atomic = 16;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT |
			  IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
			  IBV_QP_MAX_QP_RD_ATOMIC))
		return errno;
	return 0;
}

static int send_fds(int sock, const int fds[2])
{
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u;
	char c = 'f';
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *h;

	memset(&u, 0, sizeof(u));
	h = CMSG_FIRSTHDR(&m);
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(2 * sizeof(int));
	memcpy(CMSG_DATA(h), fds, 2 * sizeof(int));
	return sendmsg(sock, &m, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

static int recv_fds(int sock, int fds[2])
{
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u;
	char c;
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *h;

	if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	h = CMSG_FIRSTHDR(&m);
	if (!h || h->cmsg_type != SCM_RIGHTS ||
	    h->cmsg_len != CMSG_LEN(2 * sizeof(int))) {
		errno = EPROTO;
		return -1;
	}
	memcpy(fds, CMSG_DATA(h), 2 * sizeof(int));
	return 0;
}

/* Exchange @len bytes with the other peer over @sock. */
static int swap_msg(int sock, const void *out, void *in, size_t len)
{
	if (send(sock, out, len, MSG_NOSIGNAL) != (ssize_t)len)
		return -1;
	if (recv(sock, in, len, 0) != (ssize_t)len) {
		errno = errno ? errno : EPIPE;
		return -1;
	}
	return 0;
}

static void __attribute__((noreturn))
kr_peer_main(int role, int sock, int osock, uint64_t rng)
{
	static struct kr_peer p;
	struct ibv_qp_init_attr ia = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 16, .max_recv_wr = 16,
			 .max_send_sge = 1, .max_recv_sge = 1 },
	};
	uint64_t zero = 0;
	char c = 'r';
	int k, err;

	p.role = role;
	p.rng = rng;
	if (recv_fds(osock, p.fd))
		kr_fail(role, errno, "receiving the dma-bufs");
	close(osock);
	if (rt_open(&p.d, devname))
		kr_fail(role, 0, "opening the device");
	p.rcq = ibv_create_cq(p.d.ctx, 16, NULL, NULL, 0);
	if (!p.rcq)
		kr_fail(role, errno, "ibv_create_cq");
	ia.send_cq = p.d.cq;
	ia.recv_cq = p.rcq;
	p.qp = ibv_create_qp(p.d.pd, &ia);
	if (!p.qp)
		kr_fail(role, errno, "ibv_create_qp");
	p.plain = mmap(NULL, KR_WIN, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	p.uview = mmap(NULL, KR_BUF, PROT_READ | PROT_WRITE, MAP_SHARED,
		       p.fd[1], 0);
	if (p.plain == MAP_FAILED || p.uview == MAP_FAILED)
		kr_fail(role, errno, "mmap");
	p.mr[KR_PLAIN] = ibv_reg_mr(p.d.pd, p.plain, KR_WIN, ACCESS_ALL);
	if (!p.mr[KR_PLAIN])
		kr_fail(role, errno, "ibv_reg_mr");
	p.me.addr[KR_PLAIN] = (uintptr_t)p.plain;
	for (k = KR_PTE; k < KR_KINDS; k++) {
		p.mr[k] = ibv_reg_dmabuf_mr(p.d.pd, (uint64_t)role * KR_WIN,
					    KR_WIN, KR_IOVA(k), p.fd[k - 1],
					    ACCESS_ALL);
		if (!p.mr[k])
			kr_fail(role, errno, "ibv_reg_dmabuf_mr on the %s",
				kr_kind[k]);
		p.me.addr[k] = KR_IOVA(k);
	}
	for (k = 0; k < KR_KINDS; k++) {
		rt_fill(p.want[k], RD_LEN, rd_seed(role, k));
		kr_cpu(&p, k, RD_OFF, p.want[k], RD_LEN, 1);
		kr_cpu(&p, k, AT_OFF, &zero, 8, 1);
		p.me.rkey[k] = p.mr[k]->rkey;
	}
	p.me.qpn = p.qp->qp_num;
	p.me.gid = p.d.gid;
	if (swap_msg(sock, &p.me, &p.peer, sizeof(p.me)))
		kr_fail(role, errno, "exchanging QP numbers and keys");
	err = kr_rts(&p.d, p.qp, p.peer.qpn, &p.peer.gid);
	if (err)
		kr_fail(role, err, "connecting the QP");
	for (k = 0; k < KR_KINDS * RV_SLOTS; k++)
		kr_post_recv(&p, k);
	/* both connected, receives posted: go */
	if (swap_msg(sock, &c, &c, 1))
		kr_fail(role, errno, "waiting for the other peer");
	for (k = 0; k < KR_KINDS; k++)
		rt_fill(p.want[k], RD_LEN, rd_seed(1 - role, k));
	kr_traffic(&p);
}

static void __attribute__((noreturn))
kr_owner_main(int ssock, int csock, uint64_t rng)
{
	struct region mem;
	uint64_t left = 0;
	int fd[2], err;

	fd[0] = pte_create(KR_BUF, PTE_DYNAMIC);
	if (fd[0] < 0)
		kr_fail(OWNER, -fd[0], "PTE_IOC_CREATE");
	fd[1] = udmabuf_over(&mem, KR_BUF);
	if (fd[1] < 0)
		kr_fail(OWNER, -fd[1], "creating a udmabuf");
	if (send_fds(ssock, fd) || send_fds(csock, fd))
		kr_fail(OWNER, errno, "sending the dma-bufs");
	close(ssock);
	close(csock);
	for (;;) {
		err = pte_op(PTE_IOC_MOVE, fd[0], &left);
		if (err)
			kr_fail(OWNER, err, "PTE_IOC_MOVE");
		if (left)
			kr_bad(OWNER, "the importers kept %" PRIu64 " mappings "
			       "past a move's invalidation", left);
		__atomic_add_fetch(&krs->moves, 1, __ATOMIC_RELAXED);
		usleep((useconds_t)rnd_in(&rng, 1000, 5000));
	}
}

struct kr_stats {
	int rounds, killed[NR_ROLES];
	uint64_t ops, ops_min, ops_max, moves;
};

/* A child that SIGKILL does not end: where it is stuck in the kernel. */
static int kr_stuck(int role, pid_t pid)
{
	char cmd[64];

	printf("FAIL: round %d: the %s (pid %d) has not died 60 s after "
	       "SIGKILL; its kernel stack:\n", krs->round, role_name[role],
	       (int)pid);
	fflush(stdout);
	snprintf(cmd, sizeof(cmd), "cat /proc/%d/stack", (int)pid);
	if (system(cmd))
		printf("  (no kernel stack)\n");
	return -2;
}

/*
 * Reap what exited by now; with @wait, all of them, waiting up to 60 s.
 * Returns how many it reaped, -1 on error, -2 for a child that would not
 * die.
 */
static int kr_reap(const pid_t *pid, int *reaped, int *status, int wait)
{
	uint64_t t0 = now_ns();
	int i, n = 0;
	pid_t r;

	for (i = 0; i < NR_ROLES; i++) {
		while (!reaped[i]) {
			r = waitpid(pid[i], &status[i], WNOHANG);
			if (r == pid[i]) {
				reaped[i] = 1;
				n++;
			} else if (r < 0) {
				return rt_fail(errno, "waitpid");
			} else if (!wait) {
				break;
			} else if (now_ns() - t0 > 60 * NS) {
				return kr_stuck(i, pid[i]);
			} else {
				usleep(10 * 1000);
			}
		}
	}
	return n;
}

/*
 * One round: start the three, wait for traffic, kill one, then the rest.
 * Returns 0, -1 for a failed round, -2 when a child would not die.
 */
static int kr_round(int round, uint64_t *g, struct kr_stats *stt)
{
	int ps[2], os[2], oc[2], reaped[NR_ROLES] = {}, status[NR_ROLES];
	int i, n, victim = -1, ret = 0;
	pid_t pid[NR_ROLES];
	uint64_t t0, delay = 0, ops = 0, moves = 0;

	memset(krs, 0, sizeof(*krs));
	krs->round = round;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, ps) ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, os) ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, oc))
		return rt_fail(errno, "socketpair");
	fflush(stdout);
	for (i = 0; i < NR_ROLES; i++) {
		uint64_t s = seed_for(rnd(g));

		pid[i] = fork();
		if (pid[i] < 0) {
			ret = rt_fail(errno, "fork");
			while (i--) {
				kill(pid[i], SIGKILL);
				waitpid(pid[i], NULL, 0);
			}
			return ret;
		}
		if (pid[i])
			continue;
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		signal(SIGPIPE, SIG_IGN);
		if (i == OWNER) {
			close(ps[0]);
			close(ps[1]);
			close(os[1]);
			close(oc[1]);
			kr_owner_main(os[0], oc[0], s);
		}
		close(os[0]);
		close(oc[0]);
		if (i == SERVER) {
			close(ps[1]);
			close(oc[1]);
			kr_peer_main(SERVER, ps[0], os[1], s);
		}
		close(ps[0]);
		close(os[1]);
		kr_peer_main(CLIENT, ps[1], oc[1], s);
	}
	close(ps[0]);
	close(ps[1]);
	close(os[0]);
	close(os[1]);
	close(oc[0]);
	close(oc[1]);

	/* traffic first; then a random moment */
	t0 = now_ns();
	while (!(LOAD(krs->ops[0]) + LOAD(krs->ops[1]))) {
		n = kr_reap(pid, reaped, status, 0);
		if (n || LOAD(krs->failed))
			goto early;
		if (now_ns() - t0 > 60 * NS) {
			rt_fail(0, "round %d: no traffic 60 s after the start",
				round);
			goto early;
		}
		usleep(5 * 1000);
	}
	delay = rnd_in(g, 50, 1500) * MS;
	t0 = now_ns();
	while (now_ns() - t0 < delay) {
		n = kr_reap(pid, reaped, status, 0);
		if (n || LOAD(krs->failed))
			goto early;
		usleep(5 * 1000);
	}
	victim = (int)rnd_in(g, 0, NR_ROLES - 1);
	__atomic_store_n(&krs->killed, 1, __ATOMIC_SEQ_CST);
	ops = LOAD(krs->ops[0]) + LOAD(krs->ops[1]);
	moves = LOAD(krs->moves);
	kill(pid[victim], SIGKILL);
	usleep(200 * 1000);
	goto kill_all;
early:
	ret = -1;
	__atomic_store_n(&krs->killed, 1, __ATOMIC_SEQ_CST);
kill_all:
	for (i = 0; i < NR_ROLES; i++)
		if (!reaped[i])
			kill(pid[i], SIGKILL);
	n = kr_reap(pid, reaped, status, 1);
	if (n == -2)
		return -2;
	if (n < 0)
		ret = -1;
	for (i = 0; i < NR_ROLES; i++) {
		int st = status[i];

		if (!reaped[i] || (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL))
			continue;
		ret = -1;
		if (WIFSIGNALED(st))
			printf("FAIL: round %d: the %s died of signal %d "
			       "(%s)\n", round, role_name[i], WTERMSIG(st),
			       strsignal(WTERMSIG(st)));
		else
			printf("FAIL: round %d: the %s exited with status "
			       "%d\n", round, role_name[i], WEXITSTATUS(st));
	}
	if (LOAD(krs->failed))
		ret = -1;
	if (victim < 0) {
		printf("  round %d: FAILED before the kill\n", round);
		return -1;
	}
	stt->rounds++;
	stt->killed[victim]++;
	stt->ops += ops;
	stt->moves += moves;
	if (!stt->ops_min || ops < stt->ops_min)
		stt->ops_min = ops;
	if (ops > stt->ops_max)
		stt->ops_max = ops;
	printf("  round %d: %s killed %" PRIu64 " ms into traffic, after %"
	       PRIu64 " operations and %" PRIu64 " moves%s\n", round,
	       role_name[victim], (uint64_t)(delay / MS), ops, moves,
	       ret ? ": FAILED" : "");
	return ret;
}

static int t_kill_rounds(void)
{
	uint64_t g = seed_for(seed ^ 0x6b696c6cull), t0 = now_ns();
	struct kr_stats st = {};
	struct snap before;
	int r, ret = 0, stopped = 0;

	krs = mmap(NULL, sizeof(*krs), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (krs == MAP_FAILED)
		return rt_fail(errno, "mmap");
	if (snap_take(&before, 0))
		return -1;
	printf("  at the start: %d QPs, %d CQs, %d MRs, %d PDs; %" PRId64
	       " pins; test exporter: %" PRIu64 " buffers\n", before.res[0],
	       before.res[1], before.res[2], before.res[3], before.pins,
	       before.bufs);
	for (r = 0; r < rounds && !ret; r++) {
		if (deadline_s && now_ns() - t0 > deadline_s * NS) {
			stopped = 1;
			break;
		}
		ret = kr_round(r, &g, &st);
	}
	printf("  kill-rounds: %d of %d rounds in %.1f s, seed %#" PRIx64
	       "\n", st.rounds, rounds, (now_ns() - t0) / 1e9, seed);
	if (stopped)
		printf("  STOPPED at the %u s deadline, short of the %d "
		       "rounds\n", deadline_s, rounds);
	printf("  killed: server %d times, client %d times, owner %d times\n",
	       st.killed[SERVER], st.killed[CLIENT], st.killed[OWNER]);
	printf("  operations before the kill: %" PRIu64 " (%" PRIu64 " to %"
	       PRIu64 " a round); %" PRIu64 " moves of the test exporter's "
	       "buffer\n", st.ops, st.ops_min, st.ops_max, st.moves);
	if (ret != -2 && settle(&before))
		ret = -1;
	if (!st.rounds)
		ret = rt_fail(0, "no round completed");
	munmap(krs, sizeof(*krs));
	return ret ? -1 : 0;
}

/* ---- churn ---- */

enum { CK_ANON_FRAG, CK_ANON_THP, CK_MEMFD_BIG, CK_MEMFD_SMALL, CK_PTE,
       CK_PTE_SPLIT, CK_UDMABUF, CK_HEAP, NR_CK };
static const char *const ck_name[] = {
	"anon-fragmented", "anon-thp", "memfd-2M+", "memfd-small",
	"test-exporter", "test-exporter-split", "udmabuf", "heap-system",
};

#define CH_POOL		(4 * MiB)	/* thread memory of a kind */
#define CH_BUF		(4 * MiB)	/* each shared dma-buf */
#define CH_TRAFFIC	(1 * MiB)	/* the traffic thread's buffers */
#define CH_TOP		(64 * KiB)	/* its largest transfer */
#define CH_NPTE		3		/* dynamic test exporter bufs */
/* the shared dma-bufs: revocable ones first */
enum { B_SPLIT = CH_NPTE, B_UDMABUF, B_HEAP, B_TRAFFIC, NR_B };
#define NR_REVOCABLE	(B_SPLIT + 1)
#define CH_LIVE		4		/* MRs a thread keeps at most */
#define STAGE		(64 * KiB)
#define MAX_ERRNO	160
#define MAX_MSGS	30

struct cbuf {
	int fd;
	size_t size;
	unsigned seq;	/* revocable: odd from just before a revoke until
			 * after the restore */
};

enum { E_ERRNO, E_WC, E_DATA, E_OTHER };

static struct {
	struct rt_dev dev;
	struct cbuf buf[NR_B];
	struct region umem;		/* the memfd behind the udmabuf */
	int workers_left, stopped;
	uint64_t end;			/* the deadline, ns; 0: none */
	uint64_t regs, deregs, uses, refused, wc_revoked, wc_access;
	uint64_t reconnects, by_kind[NR_CK];
	uint64_t moves, revokes, restores, move_refused;
	uint64_t traffic, traffic_dmabuf;
	uint64_t slowest_ns, slow;	/* workers' completions; over 10 s */
	long long retries[2];		/* the device's, at the start */
	uint64_t errors, err_errno[MAX_ERRNO], err_wc, err_data, err_other;
} ch;

static void __attribute__((format(printf, 3, 4)))
ch_err(int cat, int err, const char *fmt, ...)
{
	uint64_t n = INC(ch.errors);
	va_list ap;

	if (cat == E_ERRNO && err > 0 && err < MAX_ERRNO)
		INC(ch.err_errno[err]);
	else if (cat == E_WC)
		INC(ch.err_wc);
	else if (cat == E_DATA)
		INC(ch.err_data);
	else
		INC(ch.err_other);
	if (n > MAX_MSGS) {
		if (n == MAX_MSGS + 1)
			puts("  (more errors: not shown)");
		return;
	}
	flockfile(stdout);
	fputs("FAIL: ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (cat == E_ERRNO && err)
		printf(": %s (errno %d)", strerror(err), err);
	putchar('\n');
	funlockfile(stdout);
	fflush(stdout);
}

static unsigned seq_of(int b)
{
	return b >= 0 && b < NR_REVOCABLE ? LOAD(ch.buf[b].seq) : 0;
}

/* Was buffer @b revoked at any time since seq_of() said @s1? */
static int maybe_revoked(int b, unsigned s1)
{
	return b >= 0 && b < NR_REVOCABLE && ((s1 & 1) || seq_of(b) != s1);
}

struct live {
	struct ibv_mr *mr;
	int kind, buf;		/* buf: in ch.buf, -1 for user memory */
	uint64_t addr;		/* the MR's first byte: iova or address */
	size_t len;
	int access;
};

struct worker {
	pthread_t th;
	int id, started;
	uint64_t rng, next_id;
	long done;
	struct rt_dev d;		/* the device's, with a CQ of its own */
	struct ibv_qp *qa, *qb;
	struct region pool[3];		/* fragmented, THP, memfd */
	uint8_t *stage;
	struct ibv_mr *smr;
	struct live live[CH_LIVE];
	int nlive;
};

static void w_reconnect(struct worker *w)
{
	INC(ch.reconnects);
	if (!rt_reconnect(&w->d, &w->qa, &w->qb))
		return;
	ch_err(E_OTHER, 0, "worker %d: cannot connect a new QP pair", w->id);
	if (w->qa)
		ibv_destroy_qp(w->qa);
	if (w->qb)
		ibv_destroy_qp(w->qb);
	w->qa = w->qb = NULL;
}

static const char *qp_state(struct ibv_qp *qp)
{
	static const char *const names[] = {
		"RESET", "INIT", "RTR", "RTS", "SQD", "SQE", "ERR" };
	struct ibv_qp_init_attr init;
	struct ibv_qp_attr attr;

	if (ibv_query_qp(qp, &attr, IBV_QP_STATE, &init))
		return "(query failed)";
	return attr.qp_state < sizeof(names) / sizeof(names[0]) ?
	       names[attr.qp_state] : "(unknown)";
}

/*
 * The wait is long: with eight workers registering under KASAN on two
 * emulated CPUs, one WRITE of the whole 8 x 10,000 churn once waited more
 * than 30 s for its completion (2026-11-30, not explained).  A completion
 * that never comes still fails, with both QPs' states; the slowest one
 * that came is reported, and how many took over 10 s, so that a slow
 * machine and a lost completion can be told apart.
 */
static int w_rdma(struct worker *w, struct op *o, enum ibv_wc_status *st)
{
	uint64_t t0 = now_ns(), dt, old;
	int err = do_op(w->d.cq, w->qa, ++w->next_id, o, st, 120, NULL, NULL);

	dt = now_ns() - t0;
	if (!err) {
		old = __atomic_load_n(&ch.slowest_ns, __ATOMIC_RELAXED);
		while (dt > old &&
		       !__atomic_compare_exchange_n(&ch.slowest_ns, &old, dt,
						    0, __ATOMIC_RELAXED,
						    __ATOMIC_RELAXED))
			;
		if (dt > 10 * NS)
			INC(ch.slow);
		return 0;
	}
	ch_err(E_ERRNO, err, "worker %d: %s of %u bytes, after %.1f s; "
	       "QP states: requester %s, responder %s", w->id,
	       opname(o->opcode), o->len, (double)dt / NS, qp_state(w->qa),
	       qp_state(w->qb));
	w_reconnect(w);
	return -1;
}

/* A transfer through @l completed with @st: did it succeed? */
static int w_status(struct worker *w, struct live *l, enum ibv_wr_opcode op,
		    enum ibv_wc_status st, unsigned s1)
{
	if (st == IBV_WC_SUCCESS)
		return 1;
	if (maybe_revoked(l->buf, s1))
		INC(ch.wc_revoked);
	else
		ch_err(E_WC, 0, "worker %d: %s through a %s MR (%zu bytes, "
		       "access %#x): %s", w->id, opname(op), ck_name[l->kind],
		       l->len, l->access, ibv_wc_status_str(st));
	w_reconnect(w);
	return 0;
}

/*
 * Use @l as the remote side: WRITE, READ back, FETCH_ADD as its access
 * allows (a WRITE without the access must fail).  Data are checked on
 * user memory, which only this thread touches.
 */
static void w_use(struct worker *w, struct live *l)
{
	uint64_t *g = &w->rng;
	uint32_t n = (uint32_t)rnd_in(g, 1, l->len < 4096 ? l->len : 4096);
	uint64_t off = rnd_in(g, 0, l->len - n), at = l->addr + off, a;
	uint8_t *back = w->stage + STAGE / 2;
	uint32_t s = (uint32_t)rnd(g);
	struct op o = { .opcode = IBV_WR_RDMA_WRITE,
			.laddr = (uintptr_t)w->stage, .len = n,
			.lkey = w->smr->lkey, .raddr = at,
			.rkey = l->mr->rkey };
	unsigned s1 = seq_of(l->buf);
	int priv = l->buf < 0;
	enum ibv_wc_status st;
	uint64_t before = 0, got;
	long bad;

	if (!w->qa)
		return;
	INC(ch.uses);
	if (!(l->access & IBV_ACCESS_REMOTE_WRITE)) {
		if (rnd_in(g, 0, 3) || w_rdma(w, &o, &st))
			return;
		if (st == IBV_WC_SUCCESS)
			ch_err(E_WC, 0, "worker %d: WRITE into a %s MR without "
			       "remote write access succeeded", w->id,
			       ck_name[l->kind]);
		else
			INC(ch.wc_access);
		w_reconnect(w);
		return;
	}
	rt_fill(w->stage, n, s);
	if (w_rdma(w, &o, &st) || !w_status(w, l, o.opcode, st, s1))
		return;
	if (priv && (bad = rt_check((void *)(uintptr_t)at, n, s)) >= 0)
		ch_err(E_DATA, 0, "worker %d: WRITE of %u bytes into a %s MR: "
		       "the CPU sees a mismatch at byte %ld", w->id, n,
		       ck_name[l->kind], bad);
	if (l->access & IBV_ACCESS_REMOTE_READ) {
		memset(back, 0, n);
		o.opcode = IBV_WR_RDMA_READ;
		o.laddr = (uintptr_t)back;
		if (w_rdma(w, &o, &st) || !w_status(w, l, o.opcode, st, s1))
			return;
		if (priv && (bad = rt_check(back, n, s)) >= 0)
			ch_err(E_DATA, 0, "worker %d: READ back %u bytes of "
			       "a %s MR: mismatch at byte %ld", w->id, n,
			       ck_name[l->kind], bad);
	}
	/* an aligned word: none across a split buffer's range ends */
	a = (at + 7) & ~7ull;
	if (!(l->access & IBV_ACCESS_REMOTE_ATOMIC) ||
	    l->kind == CK_PTE_SPLIT || a + 8 > l->addr + l->len)
		return;
	if (priv)
		before = *(volatile uint64_t *)(uintptr_t)a;
	o = (struct op){ .opcode = IBV_WR_ATOMIC_FETCH_AND_ADD,
			 .laddr = (uintptr_t)w->stage, .len = 8,
			 .lkey = w->smr->lkey, .raddr = a,
			 .rkey = l->mr->rkey, .add = 3 };
	if (w_rdma(w, &o, &st) || !w_status(w, l, o.opcode, st, s1))
		return;
	memcpy(&got, w->stage, 8);
	if (priv && (got != before ||
		     *(volatile uint64_t *)(uintptr_t)a != before + 3))
		ch_err(E_DATA, 0, "worker %d: FETCH_ADD on a %s MR returned %#"
		       PRIx64 " (want %#" PRIx64 "), memory %#" PRIx64,
		       w->id, ck_name[l->kind], got, before,
		       *(volatile uint64_t *)(uintptr_t)a);
}

static void w_register(struct worker *w)
{
	uint64_t *g = &w->rng, off;
	struct live l = { .buf = -1, .access = IBV_ACCESS_LOCAL_WRITE };
	struct region *pool = NULL;
	unsigned s1 = 0;
	int err;

	l.kind = (int)rnd_in(g, 0, NR_CK - 1);
	if (rnd(g) & 1)
		l.access |= IBV_ACCESS_REMOTE_READ;
	if (rnd(g) & 1)
		l.access |= IBV_ACCESS_REMOTE_WRITE;
	if (rnd(g) & 1)
		l.access |= IBV_ACCESS_REMOTE_ATOMIC;
	switch (l.kind) {
	case CK_ANON_FRAG:
	case CK_ANON_THP:
		pool = &w->pool[l.kind];
		l.len = rnd_size(g, 4 * KiB, CH_POOL);
		break;
	case CK_MEMFD_BIG:
		pool = &w->pool[2];
		l.len = rnd_in(g, HPAGE, CH_POOL);
		break;
	case CK_MEMFD_SMALL:
		/* fewer than 512 pages even when not aligned */
		pool = &w->pool[2];
		l.len = rnd_size(g, 4 * KiB, HPAGE - 8 * KiB);
		break;
	case CK_PTE:
		l.buf = (int)rnd_in(g, 0, CH_NPTE - 1);
		break;
	case CK_PTE_SPLIT:
		l.buf = B_SPLIT;
		break;
	case CK_UDMABUF:
		l.buf = B_UDMABUF;
		break;
	default:
		l.buf = B_HEAP;
		break;
	}
	if (pool) {
		off = rnd_in(g, 0, CH_POOL - l.len);
		l.addr = (uintptr_t)pool->base + off;
		l.mr = ibv_reg_mr(w->d.pd, (void *)(uintptr_t)l.addr, l.len,
				  l.access);
	} else {
		struct cbuf *b = &ch.buf[l.buf];

		l.len = rnd_size(g, 4 * KiB, b->size);
		off = rnd_in(g, 0, b->size - l.len);
		/* the same offset in a page as the buffer offset */
		l.addr = (rnd(g) & 0xfffffff000ull) | (off & 4095);
		s1 = seq_of(l.buf);
		l.mr = ibv_reg_dmabuf_mr(w->d.pd, off, l.len, l.addr, b->fd,
					 l.access);
	}
	err = errno;
	w->done++;
	INC(ch.by_kind[l.kind]);
	if (!l.mr) {
		if (err == ENODEV && maybe_revoked(l.buf, s1))
			INC(ch.refused);
		else
			ch_err(E_ERRNO, err, "worker %d: registering %zu bytes "
			       "of %s at offset %" PRIu64 ", access %#x",
			       w->id, l.len, ck_name[l.kind], off, l.access);
		return;
	}
	INC(ch.regs);
	w->live[w->nlive++] = l;
}

static void w_dereg(struct worker *w, int i)
{
	struct live *l = &w->live[i];
	int err = ibv_dereg_mr(l->mr);

	if (err)
		ch_err(E_ERRNO, err, "worker %d: ibv_dereg_mr of a %s MR",
		       w->id, ck_name[l->kind]);
	else
		INC(ch.deregs);
	memmove(l, l + 1, (size_t)(w->nlive - i - 1) * sizeof(*l));
	w->nlive--;
}

static void *w_main(void *arg)
{
	static const enum kind pool_kind[3] = { ANON_FRAGMENTED, ANON_THP,
						MEMFD_SHMEM };
	struct worker *w = arg;
	uint64_t *g = &w->rng;
	int i, ok = 1;

	w->d = ch.dev;
	w->d.cq = ibv_create_cq(ch.dev.ctx, 64, NULL, NULL, 0);
	for (i = 0; i < 3; i++)
		if (region_map(&w->pool[i], pool_kind[i], CH_POOL))
			ok = 0;
	w->stage = mmap(NULL, STAGE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w->stage == MAP_FAILED)
		w->stage = NULL;
	if (w->stage)
		w->smr = ibv_reg_mr(ch.dev.pd, w->stage, STAGE, ACCESS_ALL);
	if (!ok || !w->d.cq || !w->smr ||
	    rt_reconnect(&w->d, &w->qa, &w->qb)) {
		ch_err(E_OTHER, 0, "worker %d: setup failed", w->id);
		goto out;
	}
	while (w->done < nops) {
		if (ch.end && now_ns() > ch.end) {
			__atomic_store_n(&ch.stopped, 1, __ATOMIC_SEQ_CST);
			break;
		}
		/* sometimes the oldest, sometimes any: in a different order */
		if (w->nlive == CH_LIVE || (w->nlive && !rnd_in(g, 0, 2)))
			w_dereg(w, rnd(g) & 1 ? 0 :
				(int)rnd_in(g, 0, (uint64_t)w->nlive - 1));
		else
			w_register(w);
		if (w->nlive && !rnd_in(g, 0, 3))
			w_use(w, &w->live[rnd_in(g, 0,
						 (uint64_t)w->nlive - 1)]);
	}
	while (w->nlive)
		w_dereg(w, (int)rnd_in(g, 0, (uint64_t)w->nlive - 1));
out:
	if (w->qa)
		ibv_destroy_qp(w->qa);
	if (w->qb)
		ibv_destroy_qp(w->qb);
	if (w->smr)
		ibv_dereg_mr(w->smr);
	if (w->stage)
		munmap(w->stage, STAGE);
	if (w->d.cq)
		ibv_destroy_cq(w->d.cq);
	for (i = 0; i < 3; i++)
		if (w->pool[i].map)
			region_unmap(&w->pool[i]);
	__atomic_sub_fetch(&ch.workers_left, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* One move, revoke or restore of test exporter buffer @b. */
static void mover_step(int b, uint64_t *g)
{
	struct cbuf *c = &ch.buf[b];
	uint64_t left = 0;
	int err;

	if (c->seq & 1) {		/* revoked */
		if (!rnd_in(g, 0, 3)) {
			err = pte_op(PTE_IOC_MOVE, c->fd, NULL);
			if (err == ENODEV)
				INC(ch.move_refused);
			else
				ch_err(err ? E_ERRNO : E_OTHER, err,
				       "PTE_IOC_MOVE of a revoked buffer: want "
				       "ENODEV");
		} else if (rnd(g) & 1) {
			err = pte_op(PTE_IOC_RESTORE, c->fd, NULL);
			if (err) {
				ch_err(E_ERRNO, err, "PTE_IOC_RESTORE");
				return;
			}
			INC(ch.restores);
			__atomic_add_fetch(&c->seq, 1, __ATOMIC_SEQ_CST);
		}
		return;
	}
	if (b != B_TRAFFIC && !rnd_in(g, 0, 3)) {
		__atomic_add_fetch(&c->seq, 1, __ATOMIC_SEQ_CST);
		err = pte_op(PTE_IOC_REVOKE, c->fd, &left);
		if (err) {
			ch_err(E_ERRNO, err, "PTE_IOC_REVOKE");
			__atomic_add_fetch(&c->seq, 1, __ATOMIC_SEQ_CST);
			return;
		}
		INC(ch.revokes);
	} else {
		err = pte_op(PTE_IOC_MOVE, c->fd, &left);
		if (err) {
			ch_err(E_ERRNO, err, "PTE_IOC_MOVE");
			return;
		}
		INC(ch.moves);
	}
	if (left)
		ch_err(E_OTHER, 0, "rxe kept %" PRIu64 " mappings past the "
		       "invalidation", left);
}

static void *mover_main(void *arg)
{
	uint64_t g = seed_for(seed ^ 0x6d6f7665ull);
	int b, err;

	while (LOAD(ch.workers_left) > 0) {
		usleep((useconds_t)rnd_in(&g, 2000, 6000));
		b = (int)rnd_in(&g, 0, NR_REVOCABLE);
		mover_step(b == NR_REVOCABLE ? B_TRAFFIC : b, &g);
	}
	/* leave every buffer mapped again */
	for (b = 0; b < NR_REVOCABLE; b++) {
		if (!(ch.buf[b].seq & 1))
			continue;
		err = pte_op(PTE_IOC_RESTORE, ch.buf[b].fd, NULL);
		if (err)
			ch_err(E_ERRNO, err, "PTE_IOC_RESTORE");
		else
			__atomic_add_fetch(&ch.buf[b].seq, 1,
					   __ATOMIC_SEQ_CST);
	}
	return NULL;
}

/* A transfer of the traffic thread, which must succeed. */
static int t_op(struct rt_dev *d, struct ibv_qp *qp, uint64_t id,
		struct op *o, int dm)
{
	enum ibv_wc_status st;
	int err = do_op(d->cq, qp, id, o, &st, 30, NULL, NULL);

	if (err) {
		ch_err(E_ERRNO, err, "traffic: %s of %u bytes",
		       opname(o->opcode), o->len);
		return -1;
	}
	if (st != IBV_WC_SUCCESS) {
		ch_err(E_WC, 0, "traffic: %s of %u bytes through the %s MR: %s",
		       opname(o->opcode), o->len, dm ? "dma-buf" : "plain",
		       ibv_wc_status_str(st));
		return -1;
	}
	return 0;
}

/* 8 bytes at @off of the plain buffer or the moving dma-buf. */
static int t_word(int dm, uint8_t *plain, uint64_t off, uint64_t *v)
{
	int err;

	if (!dm) {
		*v = *(volatile uint64_t *)(plain + off);
		return 0;
	}
	err = pte_rw(ch.buf[B_TRAFFIC].fd, 0, off, v, 8);
	if (err)
		ch_err(E_ERRNO, err, "traffic: PTE_IOC_RW");
	return err;
}

/*
 * WRITE, READ back and FETCH_ADD through a plain MR and a dma-buf MR on a
 * buffer that moves all the time but is never revoked: every byte must
 * arrive, and stay through the moves.
 */
static void *traffic_main(void *arg)
{
	const uint64_t iova = 0x3000000000ull;
	struct cbuf *tb = &ch.buf[B_TRAFFIC];
	uint64_t g = seed_for(seed ^ 0x74726166ull), id = 0, before, after;
	uint8_t *lbuf, *back, *plain;
	struct ibv_qp *qa = NULL, *qb = NULL;
	struct ibv_mr *lmr = NULL, *pmr = NULL, *dmr = NULL;
	struct rt_dev d = ch.dev;

	d.cq = ibv_create_cq(ch.dev.ctx, 64, NULL, NULL, 0);
	lbuf = mmap(NULL, 2 * CH_TOP, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	plain = mmap(NULL, CH_TRAFFIC, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!d.cq || lbuf == MAP_FAILED || plain == MAP_FAILED) {
		ch_err(E_OTHER, 0, "traffic: setup failed");
		goto out;
	}
	back = lbuf + CH_TOP;
	lmr = ibv_reg_mr(d.pd, lbuf, 2 * CH_TOP, ACCESS_ALL);
	pmr = ibv_reg_mr(d.pd, plain, CH_TRAFFIC, ACCESS_ALL);
	dmr = ibv_reg_dmabuf_mr(d.pd, 0, tb->size, iova, tb->fd, ACCESS_ALL);
	if (!lmr || !pmr || !dmr || rt_reconnect(&d, &qa, &qb)) {
		ch_err(E_ERRNO, errno, "traffic: MRs and QPs");
		goto out;
	}
	while (LOAD(ch.workers_left) > 0) {
		int dm = rnd(&g) & 1;
		uint32_t n = (uint32_t)rnd_in(&g, 1, CH_TOP);
		uint32_t s = (uint32_t)rnd(&g);
		uint64_t off = rnd_in(&g, 0, CH_TRAFFIC - n), a;
		struct op o = { .opcode = IBV_WR_RDMA_WRITE,
				.laddr = (uintptr_t)lbuf, .len = n,
				.lkey = lmr->lkey,
				.raddr = dm ? iova + off :
					      (uintptr_t)plain + off,
				.rkey = dm ? dmr->rkey : pmr->rkey };
		long bad;

		rt_fill(lbuf, n, s);
		if (t_op(&d, qa, ++id, &o, dm))
			goto reconnect;
		memset(back, 0, n);
		o.opcode = IBV_WR_RDMA_READ;
		o.laddr = (uintptr_t)back;
		if (t_op(&d, qa, ++id, &o, dm))
			goto reconnect;
		bad = rt_check(back, n, s);
		if (bad >= 0)
			ch_err(E_DATA, 0, "traffic: WRITE of %u bytes at %"
			       PRIu64 " of the %s MR, READ back: mismatch at "
			       "byte %ld", n, off, dm ? "dma-buf" : "plain",
			       bad);
		/* and in the memory itself, whichever pages it has now */
		if (!dm)
			bad = rt_check(plain + off, n, s);
		else if (!rnd_in(&g, 0, 3) && !pte_rw(tb->fd, 0, off, back, n))
			bad = rt_check(back, n, s);
		if (bad >= 0)
			ch_err(E_DATA, 0, "traffic: WRITE of %u bytes at %"
			       PRIu64 " of the %s MR: the CPU sees a mismatch "
			       "at byte %ld", n, off,
			       dm ? "dma-buf" : "plain", bad);
		INC(ch.traffic);
		if (dm)
			INC(ch.traffic_dmabuf);
		if (rnd_in(&g, 0, 7))
			continue;
		a = off & ~7ull;
		if (t_word(dm, plain, a, &before))
			continue;
		o = (struct op){ .opcode = IBV_WR_ATOMIC_FETCH_AND_ADD,
				 .laddr = (uintptr_t)lbuf, .len = 8,
				 .lkey = lmr->lkey,
				 .raddr = (dm ? iova : (uintptr_t)plain) + a,
				 .rkey = dm ? dmr->rkey : pmr->rkey,
				 .add = 0x101 };
		if (t_op(&d, qa, ++id, &o, dm))
			goto reconnect;
		if (t_word(dm, plain, a, &after))
			continue;
		if (memcmp(lbuf, &before, 8) || after != before + 0x101)
			ch_err(E_DATA, 0, "traffic: FETCH_ADD on the %s MR: %#"
			       PRIx64 " before, %#" PRIx64 " after",
			       dm ? "dma-buf" : "plain", before, after);
		INC(ch.traffic);
		continue;
reconnect:
		if (rt_reconnect(&d, &qa, &qb)) {
			ch_err(E_OTHER, 0, "traffic: cannot reconnect");
			break;
		}
	}
out:
	if (qa)
		ibv_destroy_qp(qa);
	if (qb)
		ibv_destroy_qp(qb);
	if (dmr)
		ibv_dereg_mr(dmr);
	if (pmr)
		ibv_dereg_mr(pmr);
	if (lmr)
		ibv_dereg_mr(lmr);
	if (lbuf != MAP_FAILED)
		munmap(lbuf, 2 * CH_TOP);
	if (plain != MAP_FAILED)
		munmap(plain, CH_TRAFFIC);
	if (d.cq)
		ibv_destroy_cq(d.cq);
	return NULL;
}

static int ch_buffers(void)
{
	int i, fd;

	for (i = 0; i < NR_REVOCABLE; i++) {
		fd = pte_create(CH_BUF, PTE_DYNAMIC |
				(i == B_SPLIT ? PTE_SPLIT : 0));
		if (fd < 0)
			return rt_fail(-fd, "PTE_IOC_CREATE");
		ch.buf[i] = (struct cbuf){ .fd = fd, .size = CH_BUF };
	}
	fd = udmabuf_over(&ch.umem, CH_BUF);
	if (fd < 0)
		return rt_fail(-fd, "creating a udmabuf");
	ch.buf[B_UDMABUF] = (struct cbuf){ .fd = fd, .size = CH_BUF };
	fd = heap_alloc(CH_BUF);
	if (fd < 0)
		return rt_fail(-fd, "allocating from the system heap");
	ch.buf[B_HEAP] = (struct cbuf){ .fd = fd, .size = CH_BUF };
	fd = pte_create(CH_TRAFFIC, PTE_DYNAMIC);
	if (fd < 0)
		return rt_fail(-fd, "PTE_IOC_CREATE");
	ch.buf[B_TRAFFIC] = (struct cbuf){ .fd = fd, .size = CH_TRAFFIC };
	return 0;
}

static const char *const retry_counter[2] = {
	"completer_retry_err", "retry_exceeded_err",
};

/* One of the device's port counters, or -1 where it has none. */
static long long hw_counter(const char *name)
{
	char path[256];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path),
		 "/sys/class/infiniband/%s/ports/%u/hw_counters/%s",
		 ibv_get_device_name(ch.dev.ctx->device), ch.dev.port, name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static void ch_report(double secs)
{
	uint64_t total = 0;
	int i;

	for (i = 0; i < NR_CK; i++)
		total += ch.by_kind[i];
	printf("  churn: %" PRIu64 " registrations of %ld (%d threads x %ld) "
	       "in %.1f s, seed %#" PRIx64 "\n", total, nthreads * nops,
	       nthreads, nops, secs, seed);
	if (ch.stopped)
		printf("  STOPPED at the %u s deadline, short of the target: "
		       "%" PRIu64 " of %ld registrations\n", deadline_s, total,
		       nthreads * nops);
	printf("  by kind:");
	for (i = 0; i < NR_CK; i++)
		printf(" %s %" PRIu64, ck_name[i], ch.by_kind[i]);
	printf("\n  %" PRIu64 " registered, %" PRIu64 " deregistered, %"
	       PRIu64 " used; %" PRIu64 " QP pairs replaced after a failed "
	       "transfer\n", ch.regs, ch.deregs, ch.uses, ch.reconnects);
	printf("  test exporter: %" PRIu64 " moves, %" PRIu64 " revokes, %"
	       PRIu64 " restores, %" PRIu64 " moves of revoked buffers "
	       "refused (ENODEV)\n", ch.moves, ch.revokes, ch.restores,
	       ch.move_refused);
	printf("  expected failures: %" PRIu64 " registrations on revoked "
	       "buffers (ENODEV), %" PRIu64 " transfers through revoked "
	       "buffers, %" PRIu64 " WRITEs without remote write access\n",
	       ch.refused, ch.wc_revoked, ch.wc_access);
	printf("  traffic: %" PRIu64 " transfers checked, %" PRIu64 " of them "
	       "through the moving dma-buf\n", ch.traffic, ch.traffic_dmabuf);
	printf("  workers' slowest completion: %.2f s; %" PRIu64 " took over "
	       "10 s\n", (double)ch.slowest_ns / NS, ch.slow);
	printf("  device:");
	for (i = 0; i < 2; i++) {
		long long v = hw_counter(retry_counter[i]);

		if (v < 0 || ch.retries[i] < 0)
			printf(" %s unknown", retry_counter[i]);
		else
			printf(" %s %lld", retry_counter[i],
			       v - ch.retries[i]);
	}
	printf(" (retransmission rounds; WRs that ran out of retries)\n");
	printf("  unexpected errors: %" PRIu64, ch.errors);
	for (i = 0; i < MAX_ERRNO; i++)
		if (ch.err_errno[i])
			printf("; errno %d (%s): %" PRIu64, i, strerror(i),
			       ch.err_errno[i]);
	if (ch.err_wc)
		printf("; failed transfers: %" PRIu64, ch.err_wc);
	if (ch.err_data)
		printf("; wrong data: %" PRIu64, ch.err_data);
	if (ch.err_other)
		printf("; other: %" PRIu64, ch.err_other);
	putchar('\n');
}

static int t_churn(void)
{
	uint64_t t0 = now_ns();
	struct worker *w = NULL;
	pthread_t mover, traffic;
	int i, ret = 0, mv = 0, tr = 0;
	struct snap before;

	memset(&ch, 0, sizeof(ch));
	for (i = 0; i < NR_B; i++)
		ch.buf[i].fd = -1;
	if (deadline_s)
		ch.end = t0 + deadline_s * NS;
	/* before this process holds anything */
	if (snap_take(&before, 0))
		return -1;
	if (rt_open(&ch.dev, devname) || ch_buffers())
		goto out;
	for (i = 0; i < 2; i++)
		ch.retries[i] = hw_counter(retry_counter[i]);
	w = calloc((size_t)nthreads, sizeof(*w));
	if (!w) {
		ret = rt_fail(errno, "calloc");
		goto out;
	}
	ch.workers_left = nthreads;
	for (i = 0; i < nthreads; i++) {
		w[i].id = i;
		w[i].rng = seed_for(seed + (uint64_t)i + 1);
		w[i].started = !pthread_create(&w[i].th, NULL, w_main, &w[i]);
		if (!w[i].started) {
			ch_err(E_OTHER, 0, "pthread_create");
			__atomic_sub_fetch(&ch.workers_left, 1,
					   __ATOMIC_SEQ_CST);
		}
	}
	mv = !pthread_create(&mover, NULL, mover_main, NULL);
	tr = !pthread_create(&traffic, NULL, traffic_main, NULL);
	if (!mv || !tr)
		ch_err(E_OTHER, 0, "pthread_create");
	for (i = 0; i < nthreads; i++)
		if (w[i].started)
			pthread_join(w[i].th, NULL);
	if (mv)
		pthread_join(mover, NULL);
	if (tr)
		pthread_join(traffic, NULL);
	ch_report((now_ns() - t0) / 1e9);
	if (ch.errors)
		ret = -1;
	if (ch.regs != ch.deregs)
		ret = rt_fail(0, "%" PRIu64 " MRs registered, %" PRIu64
			      " deregistered", ch.regs, ch.deregs);
out:
	if (!w)
		ret = -1;
	free(w);
	for (i = 0; i < NR_B; i++)
		if (ch.buf[i].fd >= 0)
			close(ch.buf[i].fd);
	if (ch.umem.map)
		region_unmap(&ch.umem);
	rt_close(&ch.dev);
	if (settle(&before))
		ret = -1;
	return ret;
}

/* ---- main ---- */

struct test {
	const char *name;
	int (*fn)(void);
};

/* kill-rounds first: it forks, which wants no verbs context open */
static const struct test tests[] = {
	{ "kill-rounds", t_kill_rounds },
	{ "churn", t_churn },
};

static int run(const struct test *t)
{
	int ret = -1;

	printf("chaos.%s\n", t->name);
	if (pte_fd < 0)
		printf("  /dev/phyr_test_exporter is missing\n");
	else
		ret = t->fn();
	printf("PHYRLAB-TEST: chaos.%s %s\n", t->name, ret ? "FAIL" : "PASS");
	fflush(stdout);
	return ret;
}

int main(int argc, char **argv)
{
	int i, j, opt, failed = 0;

	seed = now_ns() | 1;
	while ((opt = getopt(argc, argv, "d:lr:t:n:s:D:")) != -1) {
		switch (opt) {
		case 'd':
			devname = optarg;
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		case 't':
			nthreads = atoi(optarg);
			break;
		case 'n':
			nops = atol(optarg);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0) | 1;
			break;
		case 'D':
			deadline_s = (unsigned)atoi(optarg);
			break;
		case 'l':
			for (i = 0; i < (int)(sizeof(tests) / sizeof(tests[0]));
			     i++)
				puts(tests[i].name);
			return 0;
		default:
			fprintf(stderr, "usage: chaos [-d dev] [-l] "
				"[-r rounds] [-t threads] [-n ops] [-s seed] "
				"[-D seconds] [test...]\n");
			return 2;
		}
	}
	if (rounds < 1 || nthreads < 1 || nops < 1) {
		fprintf(stderr, "chaos: -r, -t and -n take positive numbers\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("chaos: seed %#" PRIx64 " (-s to repeat)\n", seed);
	pte_fd = open("/dev/phyr_test_exporter", O_RDWR | O_CLOEXEC);
	for (i = 0; i < (int)(sizeof(tests) / sizeof(tests[0])); i++) {
		int wanted = optind == argc;

		for (j = optind; j < argc; j++)
			wanted |= !strcmp(argv[j], tests[i].name);
		if (wanted && run(&tests[i]))
			failed++;
	}
	return failed ? 1 : 0;
}
