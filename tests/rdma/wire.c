// SPDX-License-Identifier: GPL-2.0
/*
 * RC traffic between two machines, every byte checked: RDMA WRITE (with
 * and without immediate), READ, SEND (with and without immediate),
 * FETCH_ADD and CMP_SWP, first with one side as the requester, then with
 * the other.  The sides talk over TCP to set up and to have the peer check
 * its own memory.  The peer may run another kernel (stock Linux 7.2): what
 * crosses the wire must be what stock rxe sends and understands, or the
 * transfers fail (a changed header or ICRC makes the receiver drop the
 * packets, and the requester runs out of retries).
 *
 *   wire [-d DEV] [-p PORT] [-m plain|udmabuf] [-s BYTES] -l    (listen)
 *   wire [-d DEV] [-p PORT] [-m plain|udmabuf] [-s BYTES] HOST  (connect)
 *
 * The listener is the responder first; the side that connects is the
 * requester first.  -m udmabuf registers the buffer as a dma-buf (a memfd
 * exported by udmabuf) with ibv_reg_dmabuf_mr(); the CPU reads and writes
 * it through the memfd.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/udmabuf.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "rdmatest.h"

#define ACCESS	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
		 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)
#define TAIL	(64 * 1024)	/* the recv area, then the atomic word */
#define RECV_ID	0x5ecf

/* The buffer: WRITE area, READ area, recv area, one page for atomics. */
struct layout {
	size_t w, r, recv, word;	/* offsets */
	size_t w_len, r_len, recv_len;
};

/* What each side tells the other, integers big endian. */
struct info {
	uint32_t qpn;
	uint32_t rkey;
	uint64_t addr;
	uint64_t len;
	uint8_t gid[16];
	char release[65];		/* as struct utsname has it */
	char mem[16];
};

/* Requests of the requester to its peer, answered by a struct reply. */
enum {
	C_FILL = 1,	/* fill [off, off + len) with pattern arg */
	C_CHECK,	/* check it: res is the first wrong byte, or -1 */
	C_RECV,		/* post a receive of len bytes */
	C_RECVD,	/* its completion: len bytes, pattern arg, imm */
	C_SETW,		/* set the atomic word to arg */
	C_GETW,		/* val: the atomic word */
	C_SWAP,		/* the peer becomes the requester */
	C_DONE,
};

struct cmd {
	uint32_t op, len, imm;
	uint32_t flags;		/* C_RECVD: 1 WRITE, 2 SEND with immediate */
	uint64_t off, arg;
};

struct reply {
	int64_t res;			/* 0 or -1: good; else what failed */
	uint64_t val;
};

static struct {
	struct rt_dev d;
	struct ibv_qp *qp;
	struct ibv_mr *mr;
	uint8_t *buf;			/* the CPU's view of the MR */
	size_t size;
	struct layout l;
	int sock;
	struct info peer;
	uint64_t raddr;
	uint32_t rkey;
	const char *mem;
	int memfd, dmabuf;
	uint64_t n_write, b_write, n_wimm, n_read, b_read, n_send, b_send,
		 n_simm, n_atomic;
} g = { .sock = -1, .memfd = -1, .dmabuf = -1, .mem = "plain" };

static int io_all(int write_side, void *p, size_t n)
{
	uint8_t *b = p;

	while (n) {
		ssize_t k = write_side ? send(g.sock, b, n, MSG_NOSIGNAL) :
					 recv(g.sock, b, n, 0);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return rt_fail(k ? errno : 0, "%s the peer's socket",
				       write_side ? "writing" : "reading");
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

static int buffer_alloc(void)
{
	struct udmabuf_create c = { .flags = UDMABUF_FLAGS_CLOEXEC };
	int dev;

	if (!strcmp(g.mem, "plain")) {
		g.buf = mmap(NULL, g.size, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (g.buf == MAP_FAILED)
			return rt_fail(errno, "mmap %zu bytes", g.size);
		g.mr = ibv_reg_mr(g.d.pd, g.buf, g.size, ACCESS);
		if (!g.mr)
			return rt_fail(errno, "ibv_reg_mr");
		return 0;
	}
	if (strcmp(g.mem, "udmabuf"))
		return rt_fail(EINVAL, "memory kind %s", g.mem);
	g.memfd = memfd_create("wire", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	if (g.memfd < 0 || ftruncate(g.memfd, (off_t)g.size) ||
	    fcntl(g.memfd, F_ADD_SEALS, F_SEAL_SHRINK))
		return rt_fail(errno, "memfd of %zu bytes", g.size);
	g.buf = mmap(NULL, g.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		     g.memfd, 0);
	if (g.buf == MAP_FAILED)
		return rt_fail(errno, "mmap of the memfd");
	memset(g.buf, 0, g.size);
	dev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return rt_fail(errno, "open /dev/udmabuf");
	c.memfd = (uint32_t)g.memfd;
	c.size = g.size;
	g.dmabuf = ioctl(dev, UDMABUF_CREATE, &c);
	close(dev);
	if (g.dmabuf < 0)
		return rt_fail(errno, "UDMABUF_CREATE");
	/* the MR's addresses are the CPU view's, as for a plain MR */
	g.mr = ibv_reg_dmabuf_mr(g.d.pd, 0, g.size, (uintptr_t)g.buf,
				 g.dmabuf, ACCESS);
	if (!g.mr)
		return rt_fail(errno, "ibv_reg_dmabuf_mr");
	return 0;
}

static int tcp_open(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_family = AF_INET,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = host ? 0 : AI_PASSIVE };
	struct addrinfo *ai;
	int s, one = 1, i, err;

	err = getaddrinfo(host, port, &hints, &ai);
	if (err)
		return rt_fail(0, "%s:%s: %s", host ? host : "*", port,
			       gai_strerror(err));
	if (!host) {
		int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (l < 0 ||
		    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one,
			       sizeof(one)) ||
		    bind(l, ai->ai_addr, ai->ai_addrlen) || listen(l, 1)) {
			freeaddrinfo(ai);
			return rt_fail(errno, "listening on port %s", port);
		}
		freeaddrinfo(ai);
		s = accept(l, NULL, NULL);
		close(l);
		if (s < 0)
			return rt_fail(errno, "accept");
		goto out;
	}
	/* the peer may still be booting: try for a minute */
	for (i = 0; i < 600; i++) {
		s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0)
			break;
		if (!connect(s, ai->ai_addr, ai->ai_addrlen))
			break;
		err = errno;
		close(s);
		s = -1;
		if (err != ECONNREFUSED && err != EHOSTUNREACH &&
		    err != ENETUNREACH && err != ETIMEDOUT)
			break;
		usleep(100000);
	}
	freeaddrinfo(ai);
	if (s < 0)
		return rt_fail(errno, "connecting to %s:%s", host, port);
out:
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return s;
}

static int exchange_info(void)
{
	struct info me = { 0 };
	struct utsname u;

	uname(&u);
	me.qpn = htonl(g.qp->qp_num);
	me.rkey = htonl(g.mr->rkey);
	me.addr = htobe64((uintptr_t)g.buf);
	me.len = htobe64(g.size);
	memcpy(me.gid, g.d.gid.raw, 16);
	snprintf(me.release, sizeof(me.release), "%s", u.release);
	snprintf(me.mem, sizeof(me.mem), "%s", g.mem);
	if (io_all(1, &me, sizeof(me)) || io_all(0, &g.peer, sizeof(g.peer)))
		return -1;
	g.peer.release[sizeof(g.peer.release) - 1] = 0;
	g.peer.mem[sizeof(g.peer.mem) - 1] = 0;
	g.raddr = be64toh(g.peer.addr);
	g.rkey = ntohl(g.peer.rkey);
	if (be64toh(g.peer.len) != g.size)
		return rt_fail(0, "the peer's buffer has %" PRIu64 " bytes, "
			       "this one %zu: give both the same -s",
			       (uint64_t)be64toh(g.peer.len), g.size);
	return 0;
}

/* RTS on both sides before either sends: a byte each way. */
static int barrier(void)
{
	char c = 'b';

	return io_all(1, &c, 1) || io_all(0, &c, 1) ? -1 : 0;
}

static int ask(uint32_t op, uint64_t off, uint32_t len, uint64_t arg,
	       uint32_t imm, uint32_t flags, struct reply *r)
{
	struct cmd m = { .op = htonl(op), .len = htonl(len),
			 .imm = htonl(imm), .flags = htonl(flags),
			 .off = htobe64(off), .arg = htobe64(arg) };

	if (io_all(1, &m, sizeof(m)) || io_all(0, r, sizeof(*r)))
		return -1;
	r->res = (int64_t)be64toh((uint64_t)r->res);
	r->val = be64toh(r->val);
	return 0;
}

/* Have the peer check [off, off + len) of its buffer against @seed. */
static int peer_check(const char *what, uint64_t off, uint32_t len,
		      uint32_t seed)
{
	struct reply r;

	if (ask(C_CHECK, off, len, seed, 0, 0, &r))
		return -1;
	if (r.res != -1)
		return rt_fail(0, "%s of %u bytes at offset %" PRIu64 ": the "
			       "peer's memory differs at byte %" PRId64, what,
			       len, off, r.res);
	return 0;
}

static int post(struct ibv_send_wr *wr)
{
	struct ibv_wc wc;

	return rt_send_wait(&g.d, g.qp, wr, &wc);
}

static int one_rdma(enum ibv_wr_opcode op, size_t off, uint32_t len,
		    uint32_t imm)
{
	struct ibv_sge sge = { .addr = (uintptr_t)g.buf + off, .length = len,
			       .lkey = g.mr->lkey };
	struct ibv_send_wr wr = { .wr_id = 1, .sg_list = &sge, .num_sge = 1,
				  .opcode = op };

	wr.wr.rdma.remote_addr = g.raddr + off;
	wr.wr.rdma.rkey = g.rkey;
	wr.imm_data = htonl(imm);
	return post(&wr);
}

static int drive_rdma(void)
{
	/* one byte, under and over one MTU, pages, a whole area */
	static const uint32_t lens[] = { 1, 100, 1024, 1025, 4096, 65539, 0 };
	struct reply r;
	unsigned int i;

	for (i = 0; i < sizeof(lens) / sizeof(*lens); i++) {
		size_t off = (i * 4099) % 64;
		uint32_t n = lens[i] ? lens[i] : (uint32_t)(g.l.w_len - off);
		uint32_t seed = 0x1000 + i;

		rt_fill(g.buf + g.l.w + off, n, seed);
		if (one_rdma(IBV_WR_RDMA_WRITE, g.l.w + off, n, 0) ||
		    peer_check("WRITE", g.l.w + off, n, seed))
			return -1;
		g.n_write++;
		g.b_write += n;

		n = lens[i] ? lens[i] : (uint32_t)(g.l.r_len - off);
		seed = 0x2000 + i;
		if (ask(C_FILL, g.l.r + off, n, seed, 0, 0, &r) || r.res)
			return rt_fail(0, "the peer could not fill its buffer");
		memset(g.buf + g.l.r + off, 0, n);
		if (one_rdma(IBV_WR_RDMA_READ, g.l.r + off, n, 0))
			return -1;
		if (rt_check(g.buf + g.l.r + off, n, seed) >= 0)
			return rt_fail(0, "READ of %u bytes at offset %zu: "
				       "wrong data at byte %ld", n, off,
				       rt_check(g.buf + g.l.r + off, n, seed));
		g.n_read++;
		g.b_read += n;
	}
	/* WRITE with immediate: data where it is written, the immediate in
	 * a receive that takes no data
	 */
	for (i = 0; i < 2; i++) {
		uint32_t n = i ? 5000 : 4, seed = 0x3000 + i;
		uint32_t imm = 0xc0ffee00 + i;

		if (ask(C_RECV, 0, 0, 0, 0, 0, &r) || r.res)
			return rt_fail(0, "the peer could not post a receive");
		rt_fill(g.buf + g.l.w, n, seed);
		if (one_rdma(IBV_WR_RDMA_WRITE_WITH_IMM, g.l.w, n, imm))
			return -1;
		if (ask(C_RECVD, 0, n, 0, imm, 1, &r) || r.res)
			return rt_fail(0, "WRITE with immediate of %u bytes: "
				       "the peer's completion was wrong", n);
		if (peer_check("WRITE with immediate", g.l.w, n, seed))
			return -1;
		g.n_wimm++;
	}
	return 0;
}

static int drive_send(void)
{
	static const uint32_t lens[] = { 1, 3000, TAIL - 4096 };
	struct reply r;
	unsigned int i;

	for (i = 0; i < 2 * sizeof(lens) / sizeof(*lens); i++) {
		uint32_t n = lens[i / 2], seed = 0x4000 + i;
		uint32_t imm = (i & 1) ? 0x5e0d0000 + i : 0;
		struct ibv_sge sge = { .addr = (uintptr_t)g.buf + g.l.recv,
				       .length = n, .lkey = g.mr->lkey };
		struct ibv_send_wr wr = {
			.wr_id = 2, .sg_list = &sge, .num_sge = 1,
			.opcode = imm ? IBV_WR_SEND_WITH_IMM : IBV_WR_SEND,
			.imm_data = htonl(imm),
		};

		if (ask(C_RECV, 0, g.l.recv_len, 0, 0, 0, &r) || r.res)
			return rt_fail(0, "the peer could not post a receive");
		rt_fill(g.buf + g.l.recv, n, seed);
		if (post(&wr))
			return -1;
		if (ask(C_RECVD, 0, n, seed, imm, imm ? 2 : 0, &r) || r.res)
			return rt_fail(0, "SEND%s of %u bytes: the peer "
				       "received something else",
				       imm ? " with immediate" : "", n);
		if (imm)
			g.n_simm++;
		else
			g.n_send++;
		g.b_send += n;
	}
	return 0;
}

static int atomic_op(enum ibv_wr_opcode op, uint64_t cmp_add, uint64_t swap,
		     uint64_t want_old)
{
	struct ibv_sge sge = { .addr = (uintptr_t)g.buf + g.l.word,
			       .length = 8, .lkey = g.mr->lkey };
	struct ibv_send_wr wr = { .wr_id = 3, .sg_list = &sge, .num_sge = 1,
				  .opcode = op };
	uint64_t *old = (uint64_t *)(g.buf + g.l.word), got;

	__atomic_store_n(old, ~want_old, __ATOMIC_RELAXED);
	wr.wr.atomic.remote_addr = g.raddr + g.l.word;
	wr.wr.atomic.rkey = g.rkey;
	wr.wr.atomic.compare_add = cmp_add;
	wr.wr.atomic.swap = swap;
	if (post(&wr))
		return -1;
	got = __atomic_load_n(old, __ATOMIC_ACQUIRE);
	if (got != want_old)
		return rt_fail(0, "%s returned %#" PRIx64 ", want %#" PRIx64,
			       op == IBV_WR_ATOMIC_CMP_AND_SWP ? "CMP_SWP" :
			       "FETCH_ADD", got, want_old);
	g.n_atomic++;
	return 0;
}

static int drive_atomics(void)
{
	const uint64_t v0 = 0x0123456789abcdefull, add = 0x1111;
	const uint64_t x = 0xfeedfacecafebeefull;
	struct reply r;

	if (ask(C_SETW, 0, 0, v0, 0, 0, &r) ||
	    atomic_op(IBV_WR_ATOMIC_FETCH_AND_ADD, add, 0, v0) ||
	    atomic_op(IBV_WR_ATOMIC_CMP_AND_SWP, v0 + add, x, v0 + add) ||
	    /* a compare that fails returns the word and leaves it alone */
	    atomic_op(IBV_WR_ATOMIC_CMP_AND_SWP, v0, 0, x) ||
	    ask(C_GETW, 0, 0, 0, 0, 0, &r))
		return -1;
	if (r.val != x)
		return rt_fail(0, "after the atomics the peer's word is %#"
			       PRIx64 ", want %#" PRIx64, r.val, x);
	return 0;
}

static int drive(void)
{
	if (drive_rdma() || drive_send() || drive_atomics())
		return -1;
	printf("wire: requester, %s memory, to %s (%s memory): WRITE %" PRIu64
	       " (%" PRIu64 " bytes), WRITE with immediate %" PRIu64
	       ", READ %" PRIu64 " (%" PRIu64 " bytes), SEND %" PRIu64
	       ", SEND with immediate %" PRIu64 " (%" PRIu64 " bytes), "
	       "atomics %" PRIu64 ": every byte checked\n", g.mem,
	       g.peer.release, g.peer.mem, g.n_write, g.b_write, g.n_wimm,
	       g.n_read, g.b_read, g.n_send, g.n_simm, g.b_send, g.n_atomic);
	fflush(stdout);
	return 0;
}

/* The completion of the receive C_RECV posted, checked against @m. */
static int64_t received(const struct cmd *m)
{
	uint32_t len = ntohl(m->len), imm = ntohl(m->imm);
	uint32_t flags = ntohl(m->flags);
	struct ibv_wc wc;
	long bad;

	if (rt_wait(&g.d, RECV_ID, &wc))
		return 1;
	if (wc.byte_len != len)
		return rt_fail(0, "a receive of %u bytes, want %u",
			       wc.byte_len, len), 2;
	if (flags) {
		enum ibv_wc_opcode want = flags == 1 ?
			IBV_WC_RECV_RDMA_WITH_IMM : IBV_WC_RECV;

		if (wc.opcode != want || !(wc.wc_flags & IBV_WC_WITH_IMM) ||
		    ntohl(wc.imm_data) != imm)
			return rt_fail(0, "a receive with opcode %d, flags %#x"
				       ", immediate %#x; want opcode %d and "
				       "immediate %#x", wc.opcode,
				       wc.wc_flags, ntohl(wc.imm_data), want,
				       imm), 3;
	} else if (wc.opcode != IBV_WC_RECV || (wc.wc_flags & IBV_WC_WITH_IMM)) {
		return rt_fail(0, "a receive with opcode %d, flags %#x; want "
			       "a plain receive", wc.opcode, wc.wc_flags), 3;
	}
	if (flags == 1)		/* a WRITE: the requester checks the data */
		return 0;
	bad = rt_check(g.buf + g.l.recv, len, (uint32_t)be64toh(m->arg));
	if (bad >= 0)
		return rt_fail(0, "received %u bytes, wrong at byte %ld", len,
			       bad), 4;
	return 0;
}

/* Answer the peer's requests until it hands over (1) or is done (0). */
static int serve(void)
{
	for (;;) {
		struct reply r = { 0 };
		uint64_t off, arg;
		struct cmd m;
		uint32_t op, len;

		if (io_all(0, &m, sizeof(m)))
			return -1;
		op = ntohl(m.op);
		len = ntohl(m.len);
		off = be64toh(m.off);
		arg = be64toh(m.arg);
		if ((op == C_FILL || op == C_CHECK) &&
		    (off > g.size || len > g.size - off))
			return rt_fail(EINVAL, "the peer asked for %u bytes at "
				       "offset %" PRIu64, len, off);
		switch (op) {
		case C_FILL:
			rt_fill(g.buf + off, len, (uint32_t)arg);
			break;
		case C_CHECK:
			r.res = rt_check(g.buf + off, len, (uint32_t)arg);
			break;
		case C_RECV: {
			struct ibv_sge sge = {
				.addr = (uintptr_t)g.buf + g.l.recv,
				.length = len, .lkey = g.mr->lkey };
			struct ibv_recv_wr wr = { .wr_id = RECV_ID,
						  .sg_list = &sge,
						  .num_sge = len ? 1 : 0 };
			struct ibv_recv_wr *badwr;

			if (len > g.l.recv_len)
				return rt_fail(EINVAL, "a receive of %u bytes",
					       len);
			memset(g.buf + g.l.recv, 0, len);
			r.res = ibv_post_recv(g.qp, &wr, &badwr);
			if (r.res)
				rt_fail((int)r.res, "ibv_post_recv");
			break;
		}
		case C_RECVD:
			r.res = received(&m);
			break;
		case C_SETW:
			__atomic_store_n((uint64_t *)(g.buf + g.l.word), arg,
					 __ATOMIC_RELEASE);
			break;
		case C_GETW:
			r.val = __atomic_load_n((uint64_t *)(g.buf + g.l.word),
						__ATOMIC_ACQUIRE);
			break;
		case C_SWAP:
		case C_DONE:
			break;
		default:
			return rt_fail(EINVAL, "the peer sent request %u", op);
		}
		r.res = (int64_t)htobe64((uint64_t)r.res);
		r.val = htobe64(r.val);
		if (io_all(1, &r, sizeof(r)))
			return -1;
		if (op == C_SWAP || op == C_DONE)
			return op == C_SWAP;
	}
}

static int hand_over(uint32_t op)
{
	struct reply r;

	return ask(op, 0, 0, 0, 0, 0, &r);
}

static void usage(void)
{
	fprintf(stderr, "usage: wire [-d DEV] [-p PORT] [-m plain|udmabuf] "
		"[-s BYTES] (-l | HOST)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *dev = NULL, *port = "18517", *host = NULL;
	int c, listener = 0, ret;
	union ibv_gid dgid;

	g.size = 1024 * 1024;
	while ((c = getopt(argc, argv, "d:p:m:s:l")) != -1) {
		switch (c) {
		case 'd':
			dev = optarg;
			break;
		case 'p':
			port = optarg;
			break;
		case 'm':
			g.mem = optarg;
			break;
		case 's':
			g.size = strtoul(optarg, NULL, 0);
			break;
		case 'l':
			listener = 1;
			break;
		default:
			usage();
		}
	}
	if (listener == (optind < argc) || argc > optind + 1)
		usage();
	if (!listener)
		host = argv[optind];
	if (g.size < 4 * TAIL || g.size % 4096)
		return rt_fail(EINVAL, "-s %zu: a multiple of 4096, at least "
			       "%d", g.size, 4 * TAIL), 1;
	g.l.w = 0;
	g.l.w_len = (g.size - TAIL) / 2;
	g.l.r = g.l.w_len;
	g.l.r_len = g.size - TAIL - g.l.w_len;
	g.l.recv = g.size - TAIL;
	g.l.recv_len = TAIL - 4096;
	g.l.word = g.size - 4096;

	if (rt_open(&g.d, dev) || buffer_alloc())
		return 1;
	g.qp = rt_rc_qp(&g.d);
	if (!g.qp)
		return 1;
	g.sock = tcp_open(host, port);
	if (g.sock < 0 || exchange_info())
		return 1;
	memcpy(dgid.raw, g.peer.gid, 16);
	if (rt_to_rts(&g.d, g.qp, ntohl(g.peer.qpn), &dgid) || barrier())
		return 1;
	printf("wire: %s memory (%s), peer runs %s with %s memory\n", g.mem,
	       g.mem[0] == 'u' ? "ibv_reg_dmabuf_mr" : "ibv_reg_mr",
	       g.peer.release, g.peer.mem);
	fflush(stdout);
	if (listener)
		ret = serve() == 1 && !drive() && !hand_over(C_DONE) ? 0 : 1;
	else
		ret = !drive() && !hand_over(C_SWAP) && serve() == 0 ? 0 : 1;
	if (!ret)
		printf("wire: both directions checked\n");
	ibv_destroy_qp(g.qp);
	ibv_dereg_mr(g.mr);
	if (g.dmabuf >= 0)
		close(g.dmabuf);
	munmap(g.buf, g.size);
	if (g.memfd >= 0)
		close(g.memfd);
	close(g.sock);
	rt_close(&g.d);
	return ret;
}
