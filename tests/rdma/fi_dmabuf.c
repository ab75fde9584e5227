// SPDX-License-Identifier: GPL-2.0
/*
 * libfabric over rxe with host dma-buf memory: udmabufs registered with
 * fi_mr_regattr(FI_MR_DMABUF), RMA and messages moved between them, every
 * byte checked through the memfds the udmabufs export.
 *
 *   fi_dmabuf [-p PROVIDER] [-d DOMAIN] [-s BYTES]
 *
 * Two processes (a target and an initiator, forked before libfabric is
 * opened), one RDM endpoint each on PROVIDER (default "verbs;ofi_rxm"),
 * their names and the target's MR exchanged over pipes.  The initiator:
 *   1. READs the target's dma-buf MR into its own dma-buf MR;
 *   2. WRITEs a new pattern from its dma-buf MR into the target's;
 *   3. SENDs BYTES (rendezvous above rxm's eager limit) from its dma-buf
 *      MR into a receive the target posted on a dma-buf MR.
 * The side that owns the memory checks it.  Each side also asks the kernel
 * ("rdma -dd resource show mr") whether its MRs are dma-buf MRs: that shows
 * that the verbs provider called ibv_reg_dmabuf_mr(), and a plain MR
 * registered beside them with fi_mr_reg() must not be one.
 * Exit status 0 when everything checked out.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/udmabuf.h>
#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#include "rdmatest.h"

#define TIMEOUT_S 120

static const char *prov = "verbs;ofi_rxm";
static const char *dom = "rxe0";
static size_t bytes = 1 << 20;
static const char *who = "fi_dmabuf";

/* What the target tells the initiator about its memory. */
struct target_mr {
	uint64_t addr;
	uint64_t key;
	uint64_t len;
};

/* A memfd exported by udmabuf, mapped for the CPU. */
struct dmabuf {
	int memfd, fd;
	uint8_t *cpu;
	size_t len;
};

struct side {
	struct fi_info *info;
	struct fid_fabric *fabric;
	struct fid_domain *domain;
	struct fid_av *av;
	struct fid_cq *cq;
	struct fid_ep *ep;
	fi_addr_t peer;
	int rfd, wfd;		/* pipe ends to the other side */
};

static int fi_fail(int ret, const char *what)
{
	fprintf(stderr, "%s: %s: %s (%d)\n", who, what, fi_strerror(-ret),
		ret);
	return -1;
}

static int dmabuf_new(struct dmabuf *b, size_t len)
{
	struct udmabuf_create c = { .flags = UDMABUF_FLAGS_CLOEXEC,
				    .size = len };
	int dev;

	b->len = len;
	b->memfd = memfd_create("fi_dmabuf", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	if (b->memfd < 0 || ftruncate(b->memfd, len) ||
	    fcntl(b->memfd, F_ADD_SEALS, F_SEAL_SHRINK))
		return rt_fail(errno, "memfd");
	b->cpu = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
		      b->memfd, 0);
	if (b->cpu == MAP_FAILED)
		return rt_fail(errno, "mmap memfd");
	dev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return rt_fail(errno, "open /dev/udmabuf");
	c.memfd = b->memfd;
	b->fd = ioctl(dev, UDMABUF_CREATE, &c);
	close(dev);
	if (b->fd < 0)
		return rt_fail(errno, "UDMABUF_CREATE");
	return 0;
}

static void dmabuf_free(struct dmabuf *b)
{
	munmap(b->cpu, b->len);
	close(b->fd);
	close(b->memfd);
}

/* Register a dma-buf as libfabric users do: the whole buffer, its
 * address for RMA being its CPU mapping's (FI_MR_VIRT_ADDR). */
static int reg_dmabuf(struct side *s, struct dmabuf *b, uint64_t access,
		      struct fid_mr **mr)
{
	struct fi_mr_dmabuf dmabuf = {
		.fd = b->fd, .offset = 0, .len = b->len, .base_addr = b->cpu,
	};
	struct fi_mr_attr attr = {
		.dmabuf = &dmabuf, .iov_count = 1, .access = access,
		.iface = FI_HMEM_SYSTEM,
	};
	int ret = fi_mr_regattr(s->domain, &attr, FI_MR_DMABUF, mr);

	if (ret)
		return fi_fail(ret, "fi_mr_regattr(FI_MR_DMABUF)");
	if (s->info->domain_attr->mr_mode & FI_MR_ENDPOINT) {
		ret = fi_mr_bind(*mr, &s->ep->fid, 0);
		if (!ret)
			ret = fi_mr_enable(*mr);
		if (ret)
			return fi_fail(ret, "fi_mr_bind");
	}
	return 0;
}

/*
 * What the kernel says of the memory behind an MR: rxe names dma-buf MRs
 * "memory dma-buf" in "rdma -dd resource show mr", and other MRs not.
 */
static int expect_memory(struct fid_mr *mr, const char *what, bool dmabuf)
{
	char mem[32] = "user";
	int ret = rt_mr_attr_opt((uint32_t)fi_mr_key(mr), "memory", mem,
				 sizeof(mem));

	if (ret < 0)
		return -1;
	printf("%s: %s: key %#llx, kernel memory kind %s\n", who, what,
	       (unsigned long long)fi_mr_key(mr), mem);
	if (dmabuf != !strcmp(mem, "dma-buf"))
		return rt_fail(0, "%s: kernel says %s, expected %s", what, mem,
			       dmabuf ? "dma-buf" : "not dma-buf");
	return 0;
}

static int open_side(struct side *s)
{
	struct fi_info *hints = fi_allocinfo();
	struct fi_cq_attr cq_attr = { .format = FI_CQ_FORMAT_CONTEXT };
	struct fi_av_attr av_attr = { .type = FI_AV_TABLE };
	int ret;

	if (!hints)
		return rt_fail(ENOMEM, "fi_allocinfo");
	hints->ep_attr->type = FI_EP_RDM;
	hints->caps = FI_MSG | FI_RMA;
	hints->mode = FI_CONTEXT;
	hints->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_VIRT_ADDR |
				      FI_MR_ALLOCATED | FI_MR_PROV_KEY |
				      FI_MR_ENDPOINT;
	hints->fabric_attr->prov_name = strdup(prov);
	hints->domain_attr->name = strdup(dom);
	ret = fi_getinfo(FI_VERSION(2, 0), NULL, NULL, 0, hints, &s->info);
	fi_freeinfo(hints);
	if (ret)
		return fi_fail(ret, "fi_getinfo");
	ret = fi_fabric(s->info->fabric_attr, &s->fabric, NULL);
	if (ret)
		return fi_fail(ret, "fi_fabric");
	ret = fi_domain(s->fabric, s->info, &s->domain, NULL);
	if (ret)
		return fi_fail(ret, "fi_domain");
	ret = fi_cq_open(s->domain, &cq_attr, &s->cq, NULL);
	if (ret)
		return fi_fail(ret, "fi_cq_open");
	ret = fi_av_open(s->domain, &av_attr, &s->av, NULL);
	if (ret)
		return fi_fail(ret, "fi_av_open");
	ret = fi_endpoint(s->domain, s->info, &s->ep, NULL);
	if (!ret)
		ret = fi_ep_bind(s->ep, &s->cq->fid, FI_TRANSMIT | FI_RECV);
	if (!ret)
		ret = fi_ep_bind(s->ep, &s->av->fid, 0);
	if (!ret)
		ret = fi_enable(s->ep);
	if (ret)
		return fi_fail(ret, "endpoint");
	return 0;
}

static void close_side(struct side *s)
{
	if (s->ep)
		fi_close(&s->ep->fid);
	if (s->av)
		fi_close(&s->av->fid);
	if (s->cq)
		fi_close(&s->cq->fid);
	if (s->domain)
		fi_close(&s->domain->fid);
	if (s->fabric)
		fi_close(&s->fabric->fid);
	fi_freeinfo(s->info);
}

static int put(struct side *s, const void *buf, size_t len)
{
	return write(s->wfd, buf, len) == (ssize_t)len ? 0 :
		rt_fail(errno, "pipe write");
}

/*
 * Read exactly @len bytes from the other side, driving this side's
 * progress while waiting (rxm connects and answers rendezvous reads only
 * when its owner polls the completion queue).
 */
static int get(struct side *s, void *buf, size_t len)
{
	struct pollfd pfd = { .fd = s->rfd, .events = POLLIN };
	struct fi_cq_entry e;
	size_t got = 0;
	int waited = 0;

	while (got < len) {
		ssize_t n;

		fi_cq_read(s->cq, &e, 1);
		if (poll(&pfd, 1, 1) == 0) {
			if (++waited > TIMEOUT_S * 1000)
				return rt_fail(ETIMEDOUT, "waiting for the peer");
			continue;
		}
		n = read(s->rfd, (char *)buf + got, len - got);
		if (n <= 0)
			return rt_fail(n ? errno : EPIPE, "pipe read");
		got += n;
	}
	return 0;
}

/* Wait for the completion of the operation with context @ctx. */
static int wait_cq(struct side *s, void *ctx, const char *what)
{
	struct fi_cq_entry e;
	time_t end = time(NULL) + TIMEOUT_S;
	ssize_t n;

	while (time(NULL) < end) {
		n = fi_cq_read(s->cq, &e, 1);
		if (n == 1 && e.op_context == ctx)
			return 0;
		if (n == -FI_EAVAIL) {
			struct fi_cq_err_entry err = { 0 };

			fi_cq_readerr(s->cq, &err, 0);
			fprintf(stderr, "%s: %s: completion error %s (%s)\n",
				who, what, fi_strerror(err.err),
				fi_cq_strerror(s->cq, err.prov_errno,
					       err.err_data, NULL, 0));
			return -1;
		}
		if (n < 0 && n != -FI_EAGAIN)
			return fi_fail(n, what);
	}
	return rt_fail(ETIMEDOUT, "%s: no completion", what);
}

/*
 * Post with @post until the provider takes it: -FI_EAGAIN means its queue
 * is full or (rxm) the connection is still being made, both moved on by
 * reading the completion queue.
 */
#define POST(s, what, post)						\
({									\
	time_t end_ = time(NULL) + TIMEOUT_S;				\
	ssize_t ret_;							\
									\
	while ((ret_ = (post)) == -FI_EAGAIN && time(NULL) < end_)	\
		fi_cq_read((s)->cq, NULL, 0);				\
	ret_ ? fi_fail(ret_, what) : 0;					\
})

static int exchange_names(struct side *s)
{
	char name[256];
	size_t len = sizeof(name);
	uint64_t n;
	int ret = fi_getname(&s->ep->fid, name, &len);

	if (ret)
		return fi_fail(ret, "fi_getname");
	n = len;
	if (put(s, &n, sizeof(n)) || put(s, name, len) ||
	    get(s, &n, sizeof(n)) || n > sizeof(name) || get(s, name, n))
		return -1;
	ret = fi_av_insert(s->av, name, 1, &s->peer, 0, NULL);
	return ret == 1 ? 0 : fi_fail(ret, "fi_av_insert");
}

static int check(const struct dmabuf *b, uint32_t seed, const char *what)
{
	long bad = rt_check(b->cpu, b->len, seed);

	if (bad >= 0)
		return rt_fail(0, "%s: byte %ld differs", what, bad);
	printf("%s: %s: %zu bytes checked\n", who, what, b->len);
	return 0;
}

/* The plain MR beside the dma-buf ones: the check must tell them apart. */
static int plain_mr_is_not_dmabuf(struct side *s)
{
	size_t len = 1 << 16;
	void *p = aligned_alloc(4096, len);
	struct fid_mr *mr;
	int ret;

	if (!p)
		return rt_fail(ENOMEM, "plain buffer");
	memset(p, 0, len);
	ret = fi_mr_reg(s->domain, p, len, FI_REMOTE_READ, 0, 0, 0, &mr,
			NULL);
	if (ret) {
		free(p);
		return fi_fail(ret, "fi_mr_reg");
	}
	if (s->info->domain_attr->mr_mode & FI_MR_ENDPOINT)
		ret = fi_mr_bind(mr, &s->ep->fid, 0) ?: fi_mr_enable(mr);
	if (!ret)
		ret = expect_memory(mr, "plain MR (fi_mr_reg)", false);
	fi_close(&mr->fid);
	free(p);
	return ret;
}

static int target(struct side *s)
{
	struct fi_context ctx;
	struct target_mr t;
	struct dmabuf b;
	struct fid_mr *mr;
	char msg;

	if (dmabuf_new(&b, bytes) ||
	    reg_dmabuf(s, &b, FI_REMOTE_READ | FI_REMOTE_WRITE | FI_RECV, &mr))
		return -1;
	if (expect_memory(mr, "target MR (FI_MR_DMABUF)", true) ||
	    plain_mr_is_not_dmabuf(s))
		return -1;
	rt_fill(b.cpu, b.len, 1);
	t.addr = (uintptr_t)b.cpu;
	t.key = fi_mr_key(mr);
	t.len = b.len;
	if (put(s, &t, sizeof(t)))
		return -1;
	/* 1: the initiator READs; 2: it WRITEs seed 2 */
	if (get(s, &msg, 1) || check(&b, 2, "RDMA WRITE into the target"))
		return -1;
	/* 3: a SEND of seed 3 into a receive on the dma-buf MR */
	memset(b.cpu, 0, b.len);
	if (POST(s, "fi_recv", fi_recv(s->ep, b.cpu, b.len, fi_mr_desc(mr),
				       s->peer, &ctx)) ||
	    put(s, "r", 1) || wait_cq(s, &ctx, "receive") ||
	    check(&b, 3, "SEND into the target"))
		return -1;
	if (put(s, "d", 1) || get(s, &msg, 1))
		return -1;
	fi_close(&mr->fid);
	dmabuf_free(&b);
	return 0;
}

static int initiator(struct side *s)
{
	struct fi_context ctx;
	struct target_mr t;
	struct dmabuf b;
	struct fid_mr *mr;
	char msg;

	if (dmabuf_new(&b, bytes) ||
	    reg_dmabuf(s, &b, FI_READ | FI_WRITE | FI_SEND | FI_REMOTE_READ,
		       &mr))
		return -1;
	if (expect_memory(mr, "initiator MR (FI_MR_DMABUF)", true))
		return -1;
	if (get(s, &t, sizeof(t)))
		return -1;
	if (t.len != b.len)
		return rt_fail(0, "the target offers %llu bytes, not %zu",
			       (unsigned long long)t.len, b.len);
	memset(b.cpu, 0, b.len);
	if (POST(s, "fi_read", fi_read(s->ep, b.cpu, b.len, fi_mr_desc(mr),
				       s->peer, t.addr, t.key, &ctx)) ||
	    wait_cq(s, &ctx, "RDMA READ") ||
	    check(&b, 1, "RDMA READ from the target"))
		return -1;
	rt_fill(b.cpu, b.len, 2);
	if (POST(s, "fi_write", fi_write(s->ep, b.cpu, b.len, fi_mr_desc(mr),
					 s->peer, t.addr, t.key, &ctx)) ||
	    wait_cq(s, &ctx, "RDMA WRITE") || put(s, "w", 1))
		return -1;
	/* the target has posted its receive once it says "r" */
	rt_fill(b.cpu, b.len, 3);
	if (get(s, &msg, 1) ||
	    POST(s, "fi_send", fi_send(s->ep, b.cpu, b.len, fi_mr_desc(mr),
				       s->peer, &ctx)) ||
	    wait_cq(s, &ctx, "SEND") || get(s, &msg, 1) || put(s, "d", 1))
		return -1;
	fi_close(&mr->fid);
	dmabuf_free(&b);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: fi_dmabuf [-p PROVIDER] [-d DOMAIN] "
		"[-s BYTES]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int to_child[2], to_parent[2], opt, ret, status;
	struct side s = { 0 };
	pid_t pid;

	while ((opt = getopt(argc, argv, "p:d:s:")) != -1) {
		switch (opt) {
		case 'p':
			prov = optarg;
			break;
		case 'd':
			dom = optarg;
			break;
		case 's':
			bytes = strtoul(optarg, NULL, 0);
			break;
		default:
			usage();
		}
	}
	if (optind != argc || !bytes || bytes % 4096)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	/*
	 * rxm sizes each endpoint's verbs CQ for FI_UNIVERSE_SIZE peers
	 * (1024 by default): far beyond rxe's 32767 entries.  Two peers here.
	 */
	setenv("FI_UNIVERSE_SIZE", "32", 0);
	/* fork before libfabric or libibverbs hold anything */
	if (pipe(to_child) || pipe(to_parent))
		return rt_fail(errno, "pipe") ? 1 : 0;
	pid = fork();
	if (pid < 0)
		return rt_fail(errno, "fork") ? 1 : 0;
	if (!pid) {
		who = "fi_dmabuf initiator";
		s.rfd = to_child[0];
		s.wfd = to_parent[1];
		close(to_child[1]);
		close(to_parent[0]);
		ret = open_side(&s) || exchange_names(&s) || initiator(&s);
		close_side(&s);
		_exit(ret ? 1 : 0);
	}
	who = "fi_dmabuf target";
	s.rfd = to_parent[0];
	s.wfd = to_child[1];
	close(to_child[0]);
	close(to_parent[1]);
	ret = open_side(&s) || exchange_names(&s) || target(&s);
	if (ret)
		kill(pid, SIGTERM);
	close_side(&s);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		ret = 1;
	if (!ret)
		printf("fi_dmabuf: %s on %s: READ, WRITE and SEND of %zu bytes "
		       "between FI_MR_DMABUF regions checked\n", prov, dom,
		       bytes);
	return ret ? 1 : 0;
}
