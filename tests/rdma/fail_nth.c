// SPDX-License-Identifier: GPL-2.0
/*
 * Systematic fault injection into memory registration and teardown on rxe,
 * through the per-task fail-nth interface
 * (Documentation/fault-injection/fault-injection.rst): each operation runs
 * with its first fault-injection point failed, then its second, and so on
 * until it runs through without the counter running out.
 *
 *   fail_nth [-d dev] [-l] [-m max] [test...]  (no test: all; -l lists them)
 *
 * The operations: ibv_reg_mr on anonymous 4 KiB pages, THP, hugetlbfs,
 * shared memfds below and above the 2 MiB of the memfd_pin_folios() path
 * and on demand (ODP); ibv_rereg_mr; ibv_reg_dmabuf_mr on udmabuf, the
 * system dma-heap and the test exporter (static and dynamic);
 * ibv_dereg_mr; ibv_destroy_qp with traffic in flight.
 *
 * After every step the operation must have succeeded or failed with an
 * errno that befits a failed allocation, and the system must be back where
 * it was: the FOLL_PIN counters of /proc/vmstat, VmPin of this process,
 * and the importers of a dma-buf (the test exporter's attachments, mappings
 * and pins; the debugfs attachment count of other exporters).  An object
 * that was created although a fault was injected (an optional allocation,
 * or one retried) must work: an MR takes an RDMA WRITE and READ over a
 * loopback RC pair, bytes checked.  An operation still failing at its
 * max-th (-m, 400) injection point fails the test.
 *
 * Every test reports "PHYRLAB-TEST: failnth.<name> PASS|FAIL|SKIP (<k>
 * injections)"; the program exits 77 when the kernel has no fail-nth.  It
 * sets up failslab and fail_page_alloc in debugfs for fail-nth alone (no
 * random failures, no messages, sleeping and user-page allocations
 * included) and puts every setting back when it ends.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/dma-heap.h>
#include <linux/magic.h>
#include <linux/udmabuf.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
/* ibv_cmd_rereg_mr(): rxe's provider has no rereg_mr of its own */
#include <infiniband/driver.h>

#include "memkind.h"
#include "rdmatest.h"
#include "../kmod/phyr_test_exporter.h"

#define ACCESS_ALL (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
		    IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)
#define SKIP 77
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define DEBUGFS "/sys/kernel/debug"
#define FAIL_NTH "/proc/thread-self/fail-nth"
#define THP_ENABLED "/sys/kernel/mm/transparent_hugepage/enabled"
/* a count of fault-injection points no operation here reaches */
#define NTH_COUNT 1000000u

static unsigned int max_nth = 400;
static struct rt_dev dev;
static struct ibv_qp *qa, *qb;
/*
 * The other side of every transfer: [0, WIN) is written from, SINK on is
 * read into, TRAFFIC on is what the QP teardown test moves.
 */
static uint8_t *lbuf;
static struct ibv_mr *lmr;
#define LBUF_LEN MiB
#define WIN (64 * KiB)
#define SINK (LBUF_LEN / 2)
#define TRAFFIC (LBUF_LEN / 4)
static int pte_fd = -1;
static int nth_fd = -1;

/* Errnos an injected fault may give, per operation (0-terminated) */
static const int reg_errnos[] = { ENOMEM, EFAULT, EAGAIN, EINTR, 0 };
static const int dmabuf_errnos[] = { ENOMEM, EAGAIN, EINTR, 0 };
static const int destroy_errnos[] = { ENOMEM, EAGAIN, EINTR, 0 };
static const int rereg_errnos[] = { ENOMEM, EAGAIN, EINTR, 0 };

/* ---- settings changed for the run, put back at the end ---- */

struct knob {
	char path[160];
	char old[64];
};

static struct knob knobs[64];
static int nknobs;
static int debugfs_ours;

/* Write @val to @path, keeping the old value ("a [b] c": b) for later. */
static int knob_set(const char *path, const char *val)
{
	char buf[256], *open_b, *close_b;
	struct knob *k;
	size_t n;
	FILE *f;

	if (nknobs == (int)ARRAY_SIZE(knobs))
		return rt_fail(0, "too many settings to restore");
	f = fopen(path, "r");
	if (!f)
		return rt_fail(errno, "%s", path);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	open_b = strchr(buf, '[');
	close_b = open_b ? strchr(open_b, ']') : NULL;
	if (close_b) {
		*close_b = 0;
		memmove(buf, open_b + 1, strlen(open_b + 1) + 1);
	}
	k = &knobs[nknobs];
	snprintf(k->path, sizeof(k->path), "%s", path);
	snprintf(k->old, sizeof(k->old), "%.63s", buf);
	if (write_file(path, val))
		return rt_fail(errno, "write %s to %s", val, path);
	nknobs++;
	return 0;
}

/* Async-signal-safe: open, write and close only. */
static void knobs_restore(void)
{
	while (nknobs > 0) {
		nknobs--;
		write_file(knobs[nknobs].path, knobs[nknobs].old);
	}
}

static int fault_knob(const char *dir, const char *file, const char *val)
{
	char path[160];

	snprintf(path, sizeof(path), DEBUGFS "/%.64s/%.64s", dir, file);
	return knob_set(path, val);
}

/*
 * fail-nth alone: it fails the n-th call whatever the debugfs settings
 * say, but those decide which calls count (ignore-gfp-*, min-order,
 * cache-filter) and whether other calls fail at random too (probability;
 * times 0 as well, in case something raises the probability meanwhile).
 * Every fault type this kernel has is told to keep quiet, the console is
 * slow under emulation.
 *
 * Return: 0, SKIP without failslab and fail_page_alloc, or -1.
 */
static int fault_setup(void)
{
	static const char *const generic[][2] = {
		{ "probability", "0" }, { "times", "0" }, { "verbose", "0" },
	};
	char path[160];
	struct dirent *e;
	struct statfs fs;
	size_t i;
	DIR *d;

	if (statfs(DEBUGFS, &fs) || fs.f_type != DEBUGFS_MAGIC) {
		if (mount("debugfs", DEBUGFS, "debugfs", 0, NULL))
			return rt_fail(errno, "mount debugfs on " DEBUGFS);
		debugfs_ours = 1;
	}
	if (access(DEBUGFS "/failslab", F_OK) ||
	    access(DEBUGFS "/fail_page_alloc", F_OK)) {
		printf("no failslab or fail_page_alloc in debugfs: kernel "
		       "without CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC or "
		       "CONFIG_FAULT_INJECTION_DEBUG_FS\n");
		return SKIP;
	}
	d = opendir(DEBUGFS);
	if (!d)
		return rt_fail(errno, "opendir " DEBUGFS);
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "fail", 4))
			continue;
		snprintf(path, sizeof(path), DEBUGFS "/%.100s/probability",
			 e->d_name);
		if (access(path, W_OK))
			continue;
		for (i = 0; i < ARRAY_SIZE(generic); i++) {
			if (fault_knob(e->d_name, generic[i][0],
				       generic[i][1])) {
				closedir(d);
				return -1;
			}
		}
	}
	closedir(d);
	if (fault_knob("failslab", "ignore-gfp-wait", "N") ||
	    (!access(DEBUGFS "/failslab/cache-filter", F_OK) &&
	     fault_knob("failslab", "cache-filter", "N")) ||
	    fault_knob("fail_page_alloc", "ignore-gfp-wait", "N") ||
	    fault_knob("fail_page_alloc", "ignore-gfp-highmem", "N") ||
	    fault_knob("fail_page_alloc", "min-order", "0"))
		return -1;
	return 0;
}

static void restore_all(void)
{
	knobs_restore();
	if (debugfs_ours && !umount(DEBUGFS))
		debugfs_ours = 0;
}

static void on_signal(int sig)
{
	/* nothing more to do if this fails */
	if (nth_fd >= 0 && write(nth_fd, "0", 1) < 0) {
	}
	knobs_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* ---- fail-nth ---- */

/* Fail the @n-th fault-injection point from now on (0: none). */
static int nth_arm(unsigned int n)
{
	char b[16];
	int len = snprintf(b, sizeof(b), "%u", n);

	return write(nth_fd, b, (size_t)len) == len ? 0 : -1;
}

/*
 * Read the counter back and clear it.  Return: 0 when the fault was
 * injected, else the points that were left over; -1 on error.
 */
static long nth_disarm(void)
{
	char b[24];
	ssize_t n = pread(nth_fd, b, sizeof(b) - 1, 0);
	long left;

	if (n <= 0) {
		nth_arm(0);
		return -1;
	}
	b[n] = 0;
	left = strtol(b, NULL, 10);
	if (left && nth_arm(0))
		return -1;
	return left;
}

/* ---- the state that must come back ---- */

static long vm_pin_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[128];
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmPin:", 6))
			kb = strtol(line + 6, NULL, 10);
	fclose(f);
	return kb;
}

/* ---- dma-bufs ---- */

enum source { UDMABUF, HEAP, TEST_EXPORTER };

struct dbuf {
	enum source src;
	int fd;			/* the dma-buf */
	size_t size;
	uint8_t *cpu;		/* CPU view, or NULL */
	struct region mem;	/* udmabuf: the memfd behind it */
};

static int pte_status(int fd, struct pte_status *st)
{
	memset(st, 0, sizeof(*st));
	st->fd = fd;
	return ioctl(pte_fd, PTE_IOC_STATUS, st) ?
		rt_fail(errno, "PTE_IOC_STATUS") : 0;
}

/*
 * Attachments of a dma-buf, from the debugfs listing: the buffer's line
 * (inode in the sixth field), then "Total N devices attached".
 */
static long attachments(int fd)
{
	char line[512];
	struct stat st;
	long n = -1;
	int in = 0;
	FILE *f;

	if (fstat(fd, &st))
		return -1;
	f = fopen(DEBUGFS "/dma_buf/bufinfo", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long ino;
		long total;

		if (line[0] != '\t' &&
		    sscanf(line, "%*s\t%*s\t%*s\t%*s\t%*s\t%llu", &ino) == 1)
			in = ino == (unsigned long long)st.st_ino;
		else if (in && strstr(line, " devices attached") &&
			 sscanf(line, "Total %ld", &total) == 1)
			n = total;
	}
	fclose(f);
	return n;
}

/* Return: 0, SKIP when the exporter is missing, or -1. */
static int dbuf_open(struct dbuf *b, enum source src, size_t size,
		     uint32_t pte_flags)
{
	memset(b, 0, sizeof(*b));
	b->src = src;
	b->size = size;
	b->fd = -1;
	b->mem.fd = -1;
	switch (src) {
	case UDMABUF: {
		struct udmabuf_create c = { .flags = UDMABUF_FLAGS_CLOEXEC,
					    .size = size };
		int dev_fd;

		if (access("/dev/udmabuf", F_OK)) {
			printf("  no /dev/udmabuf\n");
			return SKIP;
		}
		if (region_map(&b->mem, MEMFD_SHMEM, size))
			return -1;
		if (fcntl(b->mem.fd, F_ADD_SEALS, F_SEAL_SHRINK))
			return rt_fail(errno, "F_SEAL_SHRINK");
		b->cpu = b->mem.base;
		dev_fd = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
		if (dev_fd < 0)
			return rt_fail(errno, "open /dev/udmabuf");
		c.memfd = (uint32_t)b->mem.fd;
		b->fd = ioctl(dev_fd, UDMABUF_CREATE, &c);
		if (b->fd < 0)
			rt_fail(errno, "UDMABUF_CREATE of %zu bytes", size);
		close(dev_fd);
		break;
	}
	case HEAP: {
		struct dma_heap_allocation_data a = {
			.len = size, .fd_flags = O_RDWR | O_CLOEXEC };
		int heap;

		if (access("/dev/dma_heap/system", F_OK)) {
			printf("  no /dev/dma_heap/system\n");
			return SKIP;
		}
		heap = open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC);
		if (heap < 0)
			return rt_fail(errno, "open /dev/dma_heap/system");
		if (ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a)) {
			close(heap);
			return rt_fail(errno, "DMA_HEAP_IOCTL_ALLOC");
		}
		close(heap);
		b->fd = (int)a.fd;
		b->cpu = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			      b->fd, 0);
		if (b->cpu == MAP_FAILED) {
			b->cpu = NULL;
			return rt_fail(errno, "mmap the heap buffer");
		}
		break;
	}
	case TEST_EXPORTER: {
		struct pte_create c = { .size = size, .flags = pte_flags };

		if (pte_fd < 0) {
			printf("  no /dev/phyr_test_exporter\n");
			return SKIP;
		}
		if (ioctl(pte_fd, PTE_IOC_CREATE, &c))
			return rt_fail(errno, "PTE_IOC_CREATE flags %#x",
				       pte_flags);
		b->fd = c.fd;
		break;
	}
	}
	return b->fd < 0 ? -1 : 0;
}

static void dbuf_close(struct dbuf *b)
{
	if (b->src == HEAP && b->cpu)
		munmap(b->cpu, b->size);
	if (b->mem.map)
		region_unmap(&b->mem);
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
	b->cpu = NULL;
}

/* ---- snapshots ---- */

struct snap {
	int64_t pins;		/* FOLL_PIN pins outstanding */
	long vmpin;		/* kB, this process */
	long att;		/* attachments, other exporters' buffers */
	struct pte_status pte;	/* a buffer of the test exporter */
};

static int snap_take(struct snap *s, const struct dbuf *b)
{
	memset(s, 0, sizeof(*s));
	s->pins = pins_outstanding();
	s->vmpin = vm_pin_kb();
	s->att = -1;
	if (s->vmpin < 0)
		return rt_fail(0, "no VmPin in /proc/self/status");
	if (!b)
		return 0;
	if (b->src == TEST_EXPORTER)
		return pte_status(b->fd, &s->pte);
	s->att = attachments(b->fd);
	if (s->att < 0)
		return rt_fail(0, "the dma-buf is missing from "
			       DEBUGFS "/dma_buf/bufinfo");
	return 0;
}

/* The state is back where @s0 saw it; @when names the step. */
static int snap_check(const struct snap *s0, const struct dbuf *b,
		      const char *when)
{
	struct snap s;
	int ret = 0;

	if (snap_take(&s, b))
		return -1;
	if (s.pins != s0->pins)
		ret = rt_fail(0, "%s: %+" PRId64 " FOLL_PIN pins outstanding",
			      when, s.pins - s0->pins);
	if (s.vmpin != s0->vmpin)
		ret = rt_fail(0, "%s: VmPin %ld kB, was %ld kB", when, s.vmpin,
			      s0->vmpin);
	if (s.att != s0->att)
		ret = rt_fail(0, "%s: %ld attachments of the dma-buf, was %ld",
			      when, s.att, s0->att);
	if (b && b->src == TEST_EXPORTER &&
	    (s.pte.attachments != s0->pte.attachments ||
	     s.pte.maps != s0->pte.maps || s.pte.pins != s0->pte.pins ||
	     s.pte.live_buffers != s0->pte.live_buffers ||
	     s.pte.live_pages != s0->pte.live_pages))
		ret = rt_fail(0, "%s: test exporter: %" PRIu64 " attachments, %"
			      PRIu64 " mappings, %" PRIu64 " pins, %" PRIu64
			      " buffers, %" PRIu64 " pages; were %" PRIu64
			      ", %" PRIu64 ", %" PRIu64 ", %" PRIu64 ", %"
			      PRIu64, when, (uint64_t)s.pte.attachments,
			      (uint64_t)s.pte.maps, (uint64_t)s.pte.pins,
			      (uint64_t)s.pte.live_buffers,
			      (uint64_t)s.pte.live_pages,
			      (uint64_t)s0->pte.attachments,
			      (uint64_t)s0->pte.maps, (uint64_t)s0->pte.pins,
			      (uint64_t)s0->pte.live_buffers,
			      (uint64_t)s0->pte.live_pages);
	return ret;
}

/* ---- transfers ---- */

/*
 * An RDMA WRITE into [iova, iova + len) of @mr (both ends when longer than
 * WIN) and a READ back, bytes checked; through @cpu too when not NULL.
 * @cq_err not NULL: a completion in error is no failure but sets
 * *cq_err (the QPs are connected again); wrong data still is.
 */
static int check_mr(struct ibv_mr *mr, uint64_t iova, const uint8_t *cpu,
		    size_t len, uint32_t seed, int *cq_err)
{
	uint32_t n = len < WIN ? (uint32_t)len : WIN;
	size_t off[2] = { 0, len - n };
	enum ibv_wc_status st;
	int i;

	for (i = 0; i < (len > WIN ? 2 : 1); i++) {
		long at;

		rt_fill(lbuf, n, seed + i);
		memset(lbuf + SINK, 0, n);
		if (rt_rdma_status(&dev, qa, IBV_WR_RDMA_WRITE, lbuf, n,
				   lmr->lkey, iova + off[i], mr->rkey, &st))
			return -1;
		if (st == IBV_WC_SUCCESS && cpu) {
			at = rt_check(cpu + off[i], n, seed + i);
			if (at >= 0)
				return rt_fail(0, "WRITE of %u bytes at +%zu: "
					       "the CPU sees a mismatch at "
					       "byte %ld", n, off[i], at);
		}
		if (st == IBV_WC_SUCCESS &&
		    rt_rdma_status(&dev, qa, IBV_WR_RDMA_READ, lbuf + SINK, n,
				   lmr->lkey, iova + off[i], mr->rkey, &st))
			return -1;
		if (st != IBV_WC_SUCCESS) {
			if (!cq_err)
				return rt_fail(0, "RDMA at +%zu of the MR "
					       "completed with %s", off[i],
					       ibv_wc_status_str(st));
			*cq_err = 1;
			return rt_reconnect(&dev, &qa, &qb);
		}
		at = rt_check(lbuf + SINK, n, seed + i);
		if (at >= 0)
			return rt_fail(0, "READ of %u bytes at +%zu: mismatch "
				       "at byte %ld", n, off[i], at);
	}
	return 0;
}

/* ---- the step loop ---- */

struct op {
	const char *what;		/* the call, for messages */
	const int *allowed;	/* errnos an injected fault may give */
	int need_points;	/* it must have fault-injection points */
	int any_outcome;	/* without faults it need not succeed */
	/* uninjected set-up before each step, or NULL */
	int (*prepare)(void *ctx);
	/*
	 * The operation: 0, an errno, or -1 for a failure without one.
	 * Nothing but the operation may enter the kernel in here.
	 */
	int (*run)(void *ctx);
	/* check the outcome of a step and clean up, uninjected */
	int (*done)(void *ctx, int err, int injected);
	void *ctx;
	const struct dbuf *b;		/* its importers are counted */
	unsigned int points;	/* out: points of the uninjected run */
};

struct tally {
	int err;
	unsigned int n;
};

static void tally_add(struct tally *t, size_t nt, int err)
{
	size_t i;

	for (i = 0; i < nt - 1 && t[i].n && t[i].err != err; i++)
		;
	t[i].err = err;
	t[i].n++;
}

static const char *err_text(int err)
{
	return err < 0 ? "no errno" : err ? strerror(err) : "success";
}

static int op_errno_ok(const struct op *op, int err, int first)
{
	const int *a;

	if (!err || err == first)
		return 1;
	for (a = op->allowed; *a; a++)
		if (*a == err)
			return 1;
	return 0;
}

/*
 * Run @op once with the counter set high (so its points are counted), then
 * failing its 1st, 2nd, ... point until a run leaves the counter unused.
 * *injections: the faults injected.
 */
static int op_loop(struct op *op, unsigned int *injections)
{
	struct tally t[8] = {};
	unsigned int n, absorbed = 0;
	char when[96];
	struct snap s0;
	int first, err;
	long left;
	size_t i;

	*injections = 0;
	if (snap_take(&s0, op->b))
		return -1;
	if (op->prepare && op->prepare(op->ctx))
		return -1;
	if (nth_arm(NTH_COUNT))
		return rt_fail(errno, "write " FAIL_NTH);
	first = op->run(op->ctx);
	left = nth_disarm();
	if (left <= 0)
		return rt_fail(errno, "read " FAIL_NTH ": %ld", left);
	op->points = NTH_COUNT - (unsigned int)left;
	printf("  %s without faults: %s, %u fault-injection points\n",
	       op->what, err_text(first), op->points);
	if (op->done(op->ctx, first, 0) ||
	    snap_check(&s0, op->b, "after the run without faults"))
		return -1;
	if (first && !op->any_outcome)
		return rt_fail(first > 0 ? first : 0, "%s failed without "
			       "faults", op->what);
	if (op->need_points && !op->points)
		return rt_fail(0, "fail-nth counted no fault-injection point "
			       "in %s", op->what);

	for (n = 1; n <= max_nth; n++) {
		int injected, bad = 0;

		if (op->prepare && op->prepare(op->ctx))
			return -1;
		if (nth_arm(n))
			return rt_fail(errno, "write " FAIL_NTH);
		err = op->run(op->ctx);
		left = nth_disarm();
		if (left < 0)
			return rt_fail(errno, "read " FAIL_NTH);
		injected = !left;
		snprintf(when, sizeof(when), "step %u (%s)", n,
			 injected ? "fault injected" : "no fault left");
		if (injected) {
			(*injections)++;
			if (err)
				tally_add(t, ARRAY_SIZE(t), err);
			else
				absorbed++;
		}
		if (!injected && err != first)
			bad = rt_fail(0, "%s: %s gave %s, without faults it "
				      "gave %s", when, op->what, err_text(err),
				      err_text(first));
		else if (!op_errno_ok(op, err, first))
			bad = rt_fail(0, "%s: %s failed with %s (errno %d), "
				      "not a clean failure", when, op->what,
				      err_text(err), err);
		if (op->done(op->ctx, err, injected) || bad) {
			printf("  at %s of %s\n", when, op->what);
			return -1;
		}
		if (snap_check(&s0, op->b, when))
			return -1;
		if (!injected)
			break;
	}
	if (n > max_nth)
		return rt_fail(0, "%s still failed at its fault-injection "
			       "point %u (-m raises the limit)", op->what,
			       max_nth);
	printf("  %u faults injected: %u absorbed (success)", *injections,
	       absorbed);
	for (i = 0; i < ARRAY_SIZE(t) && t[i].n; i++)
		printf(", %u %s", t[i].n, err_text(t[i].err));
	printf("\n");
	return 0;
}

/* ---- registration ---- */

struct reg_ctx {
	struct region *r;	/* user memory */
	struct dbuf *b;		/* or a dma-buf */
	size_t len;
	uint64_t iova;
	int access;
	struct ibv_mr *mr;
	uint32_t seed;
};

static int reg_run(void *p)
{
	struct reg_ctx *c = p;

	errno = 0;
	if (c->b)
		c->mr = ibv_reg_dmabuf_mr(dev.pd, 0, c->len, c->iova, c->b->fd,
					  c->access);
	else
		c->mr = ibv_reg_mr(dev.pd, c->r->base, c->len, c->access);
	return c->mr ? 0 : errno ? errno : -1;
}

static const uint8_t *reg_cpu(const struct reg_ctx *c)
{
	return c->b ? c->b->cpu : c->r->base;
}

/* A registered MR must work; deregister it. */
static int reg_done(void *p, int err, int injected)
{
	struct reg_ctx *c = p;
	int ret;

	if (!c->mr)
		return 0;
	ret = check_mr(c->mr, c->iova, reg_cpu(c), c->len, c->seed++, NULL);
	if (ret && injected)
		printf("  the MR registered despite the fault does not "
		       "work\n");
	err = ibv_dereg_mr(c->mr);
	c->mr = NULL;
	if (err)
		ret = rt_fail(err, "ibv_dereg_mr");
	return ret;
}

static void reg_ctx_init(struct reg_ctx *c, struct region *r,
			 struct dbuf *b, size_t len)
{
	memset(c, 0, sizeof(*c));
	c->r = r;
	c->b = b;
	c->len = len;
	c->iova = b ? 0x10000000ull : (uintptr_t)r->base;
	c->access = ACCESS_ALL;
	c->seed = 1;
}

static int reg_test(struct region *r, struct dbuf *b, size_t len,
		    int access, unsigned int *inj)
{
	struct reg_ctx c;
	struct op op = {
		.what = b ? "ibv_reg_dmabuf_mr" : "ibv_reg_mr",
		.allowed = b ? dmabuf_errnos : reg_errnos,
		.need_points = 1,
		.run = reg_run,
		.done = reg_done,
		.ctx = &c,
		.b = b,
	};

	reg_ctx_init(&c, r, b, len);
	c.access |= access;
	return op_loop(&op, inj);
}

static int reg_kind(enum kind kind, size_t len, int access,
		    unsigned int *inj)
{
	size_t pages, runs;
	struct region r;
	int ret;

	if (region_map(&r, kind, len) ||
	    pfn_runs(r.base, len, &pages, &runs, NULL))
		return -1;
	printf("  %s, %zu KiB: %zu pages in %zu physical runs\n",
	       kind_name[kind], len / KiB, pages, runs);
	ret = reg_test(&r, NULL, len, access, inj);
	region_unmap(&r);
	return ret;
}

static int t_reg_anon(unsigned int *inj)
{
	return reg_kind(ANON_FRAGMENTED, 64 * KiB, 0, inj);
}

/* several GUP batches, several chunks of the umem's phyr */
static int t_reg_anon_4m(unsigned int *inj)
{
	return reg_kind(ANON_FRAGMENTED, 4 * MiB, 0, inj);
}

static int t_reg_thp(unsigned int *inj)
{
	return reg_kind(ANON_THP, HPAGE, 0, inj);
}

static int t_reg_hugetlb(unsigned int *inj)
{
	return reg_kind(ANON_HUGETLB, HPAGE, 0, inj);
}

/* below the 2 MiB from which umem pins a memfd through the file: GUP */
static int t_reg_memfd_1m(unsigned int *inj)
{
	return reg_kind(MEMFD_SHMEM, MiB, 0, inj);
}

/* above it: memfd_pin_folios() */
static int t_reg_memfd_4m(unsigned int *inj)
{
	return reg_kind(MEMFD_SHMEM, 4 * MiB, 0, inj);
}

static int t_reg_memfd_hugetlb(unsigned int *inj)
{
	return reg_kind(MEMFD_HUGETLB, 4 * MiB, 0, inj);
}

/* umem_odp: nothing pinned, an interval notifier and a page snapshot */
static int t_reg_odp(unsigned int *inj)
{
	return reg_kind(ANON_FRAGMENTED, MiB, IBV_ACCESS_ON_DEMAND, inj);
}

/*
 * The same at other sizes and kinds: more GUP batches and list chunks,
 * contiguous runs, huge folios through the file, private memfd mappings
 * (GUP), relaxed ordering.
 */
static int t_reg_anon_32m(unsigned int *inj)
{
	return reg_kind(ANON_FRAGMENTED, 32 * MiB, 0, inj);
}

static int t_reg_anon_64m(unsigned int *inj)
{
	return reg_kind(ANON_FRAGMENTED, 64 * MiB, 0, inj);
}

static int t_reg_anon_16m(unsigned int *inj)
{
	return reg_kind(ANON_FRAGMENTED, 16 * MiB, 0, inj);
}

static int t_reg_memfd_64m(unsigned int *inj)
{
	return reg_kind(MEMFD_SHMEM, 64 * MiB, 0, inj);
}

static int t_reg_anon_contig(unsigned int *inj)
{
	return reg_kind(ANON_CONTIGUOUS, 4 * MiB, 0, inj);
}

static int t_reg_thp_16m(unsigned int *inj)
{
	return reg_kind(ANON_THP, 16 * MiB, 0, inj);
}

static int t_reg_hugetlb_8m(unsigned int *inj)
{
	return reg_kind(ANON_HUGETLB, 8 * MiB, 0, inj);
}

static int t_reg_memfd_huge(unsigned int *inj)
{
	return reg_kind(MEMFD_SHMEM_HUGE, 8 * MiB, 0, inj);
}

static int t_reg_memfd_32m(unsigned int *inj)
{
	return reg_kind(MEMFD_SHMEM, 32 * MiB, 0, inj);
}

static int t_reg_memfd_private(unsigned int *inj)
{
	return reg_kind(MEMFD_PRIVATE, 4 * MiB, 0, inj);
}

static int t_reg_relaxed(unsigned int *inj)
{
	return reg_kind(ANON_FRAGMENTED, MiB, IBV_ACCESS_RELAXED_ORDERING,
			inj);
}

static int reg_dbuf(enum source src, size_t size, uint32_t flags,
		    unsigned int *inj)
{
	struct dbuf b;
	int ret = dbuf_open(&b, src, size, flags);

	if (!ret)
		ret = reg_test(NULL, &b, size, 0, inj);
	dbuf_close(&b);
	return ret;
}

static int t_dmabuf_udmabuf(unsigned int *inj)
{
	return reg_dbuf(UDMABUF, MiB, 0, inj);
}

static int t_dmabuf_heap(unsigned int *inj)
{
	return reg_dbuf(HEAP, MiB, 0, inj);
}

static int t_dmabuf_pte_static(unsigned int *inj)
{
	return reg_dbuf(TEST_EXPORTER, MiB, 0, inj);
}

/* 4 MiB of single pages: the exporter's list takes several chunks */
static int t_dmabuf_pte_dynamic(unsigned int *inj)
{
	return reg_dbuf(TEST_EXPORTER, 4 * MiB, PTE_DYNAMIC, inj);
}

static int t_dmabuf_udmabuf_8m(unsigned int *inj)
{
	return reg_dbuf(UDMABUF, 8 * MiB, 0, inj);
}

static int t_dmabuf_heap_8m(unsigned int *inj)
{
	return reg_dbuf(HEAP, 8 * MiB, 0, inj);
}

/* byte-granular ranges: every page two of them */
static int t_dmabuf_pte_split(unsigned int *inj)
{
	return reg_dbuf(TEST_EXPORTER, MiB, PTE_SPLIT | PTE_DYNAMIC, inj);
}

static int t_dmabuf_pte_static_16m(unsigned int *inj)
{
	return reg_dbuf(TEST_EXPORTER, 16 * MiB, 0, inj);
}

static int t_dmabuf_pte_dynamic_16m(unsigned int *inj)
{
	return reg_dbuf(TEST_EXPORTER, 16 * MiB, PTE_DYNAMIC, inj);
}

/* ---- re-registration ---- */

struct rereg_ctx {
	struct region *old, *new;
	size_t len;
	int kernel;		/* ibv_cmd_rereg_mr(), not ibv_rereg_mr() */
	int flags;		/* IBV_REREG_MR_CHANGE_* */
	int access;		/* with IBV_REREG_MR_CHANGE_ACCESS */
	int old_access;
	int ret;		/* ibv_rereg_mr(): ibv_rereg_mr_err_code */
	struct ibv_mr *mr;
	uint32_t seed;
	unsigned int unusable;	/* MRs the contract let fail */
};

static int rereg_prepare(void *p)
{
	struct rereg_ctx *c = p;

	c->mr = ibv_reg_mr(dev.pd, c->old->base, c->len, c->old_access);
	return c->mr ? 0 : rt_fail(errno, "ibv_reg_mr");
}

static int rereg_run(void *p)
{
	struct rereg_ctx *c = p;
	int trans = c->flags & IBV_REREG_MR_CHANGE_TRANSLATION;
	void *addr = trans ? c->new->base : NULL;
	size_t len = trans ? c->len : 0;
	struct ib_uverbs_rereg_mr_resp resp;
	struct ibv_rereg_mr cmd;

	if (c->kernel) {
		memset(&cmd, 0, sizeof(cmd));
		return ibv_cmd_rereg_mr(verbs_get_mr(c->mr), (uint32_t)c->flags,
					addr, len, (uintptr_t)addr, c->access,
					NULL, &cmd, sizeof(cmd), &resp,
					sizeof(resp));
	}
	errno = 0;
	c->ret = ibv_rereg_mr(c->mr, c->flags, NULL, addr, len, c->access);
	return !c->ret ? 0 : errno ? errno : -1;
}

/*
 * ibv_rereg_mr(3): after IBV_REREG_MR_ERR_INPUT and _DONT_FORK_NEW the old
 * MR is valid, after _DO_FORK_OLD the new one, after a command error
 * (_CMD, _CMD_AND_DO_FORK_NEW; any failure of ibv_cmd_rereg_mr) it
 * "shouldn't be used": it may still work, but its data must not be wrong.
 * Deregister it in any case.
 */
static int rereg_done(void *p, int err, int injected)
{
	struct rereg_ctx *c = p;
	int trans = c->flags & IBV_REREG_MR_CHANGE_TRANSLATION;
	struct region *at = c->old;
	int may_fail = 0, cq_err = 0, ret;

	if (!err) {
		if (trans)
			at = c->new;
	} else if (c->kernel) {
		may_fail = 1;
	} else {
		switch (c->ret) {
		case IBV_REREG_MR_ERR_INPUT:
		case IBV_REREG_MR_ERR_DONT_FORK_NEW:
			break;
		case IBV_REREG_MR_ERR_DO_FORK_OLD:
			at = c->new;
			break;
		default:
			may_fail = 1;
		}
	}
	ret = check_mr(c->mr, (uintptr_t)at->base, at->base, c->len,
		       c->seed++, may_fail ? &cq_err : NULL);
	if (ret)
		printf("  the MR %s (%s) does not work\n",
		       err ? "after the failed re-registration" :
			     "re-registered", at == c->new ? "new buffer" :
							     "old buffer");
	c->unusable += cq_err;
	err = ibv_dereg_mr(c->mr);
	c->mr = NULL;
	if (err)
		ret = rt_fail(err, "ibv_dereg_mr after ibv_rereg_mr");
	return ret;
}

static int rereg_loop(struct rereg_ctx *c, const char *what, int any_outcome,
		      unsigned int *inj)
{
	struct op op = {
		.what = what,
		.allowed = rereg_errnos,
		.need_points = c->kernel,
		.any_outcome = any_outcome,
		.prepare = rereg_prepare,
		.run = rereg_run,
		.done = rereg_done,
		.ctx = c,
	};
	int ret = op_loop(&op, inj);

	if (c->unusable)
		printf("  %u MRs failed transfers after a failed command (the "
		       "contract allows it)\n", c->unusable);
	c->unusable = 0;
	return ret ? ret : (int)op.points;
}

/*
 * IBV_REREG_MR_CHANGE_TRANSLATION to a new buffer.  rxe's provider has no
 * rereg_mr: libibverbs answers IBV_REREG_MR_ERR_CMD (errno EOPNOTSUPP)
 * without a system call, and the kernel's rxe refuses a new translation
 * (EOPNOTSUPP) too.  The command then goes to the kernel all the same,
 * through ibv_cmd_rereg_mr(), for what uverbs does before rxe refuses.
 */
static int t_rereg(unsigned int *inj)
{
	struct region o, n;
	struct rereg_ctx c = {
		.old = &o, .new = &n, .len = 64 * KiB,
		.flags = IBV_REREG_MR_CHANGE_TRANSLATION,
		.old_access = ACCESS_ALL, .seed = 1,
	};
	unsigned int k = 0;
	int ret;

	*inj = 0;
	if (region_map(&o, ANON_FRAGMENTED, c.len))
		return -1;
	if (region_map(&n, ANON_FRAGMENTED, c.len)) {
		region_unmap(&o);
		return -1;
	}
	ret = rereg_loop(&c, "ibv_rereg_mr(CHANGE_TRANSLATION)", 1, inj);
	if (ret == 0) {
		printf("  ibv_rereg_mr returned %d without a system call: the "
		       "command itself, through ibv_cmd_rereg_mr\n", c.ret);
		c.kernel = 1;
		ret = rereg_loop(&c, "ibv_cmd_rereg_mr(CHANGE_TRANSLATION)", 1,
				 &k);
		*inj += k;
	}
	region_unmap(&o);
	region_unmap(&n);
	return ret < 0 ? -1 : 0;
}

/* IBV_REREG_MR_CHANGE_ACCESS, which rxe's kernel driver does support. */
static int t_rereg_access(unsigned int *inj)
{
	struct region o;
	struct rereg_ctx c = {
		.old = &o, .new = &o, .len = 64 * KiB, .kernel = 1,
		.flags = IBV_REREG_MR_CHANGE_ACCESS, .access = ACCESS_ALL,
		.old_access = IBV_ACCESS_LOCAL_WRITE |
			      IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ,
		.seed = 1,
	};
	int ret;

	if (region_map(&o, ANON_FRAGMENTED, c.len))
		return -1;
	ret = rereg_loop(&c, "ibv_cmd_rereg_mr(CHANGE_ACCESS)", 0, inj);
	region_unmap(&o);
	return ret < 0 ? -1 : 0;
}

/* ---- deregistration ---- */

static int dereg_prepare(void *p)
{
	struct reg_ctx *c = p;
	int err = reg_run(c);

	return err ? rt_fail(err > 0 ? err : 0, "register") : 0;
}

static int dereg_run(void *p)
{
	struct reg_ctx *c = p;
	int err = ibv_dereg_mr(c->mr);

	if (!err)
		c->mr = NULL;
	return err;
}

/* A failed deregistration leaves a working MR, which goes uninjected. */
static int dereg_done(void *p, int err, int injected)
{
	struct reg_ctx *c = p;
	int ret;

	if (!c->mr)
		return 0;
	ret = check_mr(c->mr, c->iova, reg_cpu(c), c->len, c->seed++, NULL);
	if (ret)
		printf("  the MR does not work after the failed "
		       "ibv_dereg_mr\n");
	err = ibv_dereg_mr(c->mr);
	c->mr = NULL;
	if (err)
		ret = rt_fail(err, "ibv_dereg_mr again, without faults");
	return ret;
}

static int dereg_test(struct region *r, struct dbuf *b, size_t len,
		      unsigned int *inj)
{
	struct reg_ctx c;
	struct op op = {
		.what = "ibv_dereg_mr",
		.allowed = destroy_errnos,
		.prepare = dereg_prepare,
		.run = dereg_run,
		.done = dereg_done,
		.ctx = &c,
		.b = b,
	};

	reg_ctx_init(&c, r, b, len);
	return op_loop(&op, inj);
}

static int t_dereg(unsigned int *inj)
{
	struct region r;
	int ret;

	if (region_map(&r, ANON_FRAGMENTED, 64 * KiB))
		return -1;
	ret = dereg_test(&r, NULL, r.len, inj);
	region_unmap(&r);
	return ret;
}

/* A dma-buf MR: detach and unmap on the way out. */
static int t_dereg_dmabuf(unsigned int *inj)
{
	struct dbuf b;
	int ret = dbuf_open(&b, TEST_EXPORTER, MiB, PTE_DYNAMIC);

	if (ret == SKIP)
		ret = dbuf_open(&b, UDMABUF, MiB, 0);
	if (!ret)
		ret = dereg_test(NULL, &b, MiB, inj);
	dbuf_close(&b);
	return ret;
}

/* ---- QP teardown ---- */

struct qp_ctx {
	struct rt_dev d;	/* the device, with a CQ of this test's own */
	struct ibv_qp *a, *b;
	struct region *r;
	struct ibv_mr *mr;
	uint32_t seed;
};

#define QP_WRS 8
#define QP_WR_LEN (8 * KiB)

/*
 * A connected pair, an MR, and WRITEs and READs into it posted: the first
 * has completed, the rest may be in flight when the QP goes.
 */
static int qp_prepare(void *p)
{
	struct qp_ctx *c = p;
	struct ibv_send_wr wr[QP_WRS], *bad;
	struct ibv_sge sge[QP_WRS];
	struct ibv_wc wc;
	int i, err;

	c->a = rt_rc_qp(&c->d);
	c->b = rt_rc_qp(&c->d);
	if (!c->a || !c->b || rt_connect(&c->d, c->a, c->b))
		return -1;
	c->mr = ibv_reg_mr(dev.pd, c->r->base, c->r->len, ACCESS_ALL);
	if (!c->mr)
		return rt_fail(errno, "ibv_reg_mr");
	for (i = 0; i < QP_WRS; i++) {
		sge[i] = (struct ibv_sge){
			.addr = (uintptr_t)(lbuf + TRAFFIC + i * QP_WR_LEN),
			.length = QP_WR_LEN, .lkey = lmr->lkey };
		wr[i] = (struct ibv_send_wr){
			.wr_id = 100 + i, .sg_list = &sge[i], .num_sge = 1,
			.opcode = i & 1 ? IBV_WR_RDMA_READ :
					  IBV_WR_RDMA_WRITE,
			.send_flags = IBV_SEND_SIGNALED,
			.next = i + 1 < QP_WRS ? &wr[i + 1] : NULL };
		wr[i].wr.rdma.remote_addr = (uintptr_t)(c->r->base +
							i * QP_WR_LEN);
		wr[i].wr.rdma.rkey = c->mr->rkey;
	}
	err = ibv_post_send(c->a, wr, &bad);
	if (err)
		return rt_fail(err, "ibv_post_send");
	return rt_wait(&c->d, 100, &wc);
}

static int qp_run(void *p)
{
	struct qp_ctx *c = p;
	int err = ibv_destroy_qp(c->a);

	if (!err)
		c->a = NULL;
	return err;
}

/*
 * A QP that failed to go is destroyed again, uninjected, and must go; so
 * must its peer.  The MR they used must still work, and deregister.
 */
static int qp_done(void *p, int err, int injected)
{
	struct qp_ctx *c = p;
	struct ibv_wc wc[16];
	int ret = 0;

	if (c->a) {
		err = ibv_destroy_qp(c->a);
		if (err)
			ret = rt_fail(err, "ibv_destroy_qp again, without "
				      "faults");
		else
			c->a = NULL;
	}
	if (c->b) {
		err = ibv_destroy_qp(c->b);
		if (err)
			ret = rt_fail(err, "ibv_destroy_qp of the peer");
		else
			c->b = NULL;
	}
	while (ibv_poll_cq(c->d.cq, 16, wc) > 0)
		;
	if (c->mr) {
		if (!ret && check_mr(c->mr, (uintptr_t)c->r->base, c->r->base,
				     c->r->len, c->seed++, NULL)) {
			printf("  the MR does not work after its QP went\n");
			ret = -1;
		}
		err = ibv_dereg_mr(c->mr);
		if (err)
			ret = rt_fail(err, "ibv_dereg_mr after the QP went");
		c->mr = NULL;
	}
	return ret;
}

static int t_destroy_qp(unsigned int *inj)
{
	struct region r;
	struct qp_ctx c = { .d = dev, .r = &r, .seed = 1 };
	struct op op = {
		.what = "ibv_destroy_qp",
		.allowed = destroy_errnos,
		.prepare = qp_prepare,
		.run = qp_run,
		.done = qp_done,
		.ctx = &c,
	};
	int ret;

	*inj = 0;
	if (region_map(&r, ANON_FRAGMENTED, QP_WRS * QP_WR_LEN))
		return -1;
	c.d.cq = ibv_create_cq(dev.ctx, 4 * QP_WRS, NULL, NULL, 0);
	if (!c.d.cq) {
		region_unmap(&r);
		return rt_fail(errno, "ibv_create_cq");
	}
	ret = op_loop(&op, inj);
	/* after a failure on the way: whatever is left */
	qp_done(&c, 0, 0);
	if (ibv_destroy_cq(c.d.cq))
		ret = rt_fail(errno, "ibv_destroy_cq");
	region_unmap(&r);
	return ret;
}

/* ---- tests ---- */

struct test {
	const char *name;
	int (*fn)(unsigned int *injections);
	int huge;	/* free 2 MiB hugetlb pages it needs */
};

static const struct test tests[] = {
	{ "reg-anon", t_reg_anon, 0 },
	{ "reg-anon-4m", t_reg_anon_4m, 0 },
	{ "reg-thp", t_reg_thp, 0 },
	{ "reg-hugetlb", t_reg_hugetlb, 1 },
	{ "reg-memfd-1m", t_reg_memfd_1m, 0 },
	{ "reg-memfd-4m", t_reg_memfd_4m, 0 },
	{ "reg-memfd-hugetlb", t_reg_memfd_hugetlb, 2 },
	{ "reg-odp", t_reg_odp, 0 },
	{ "reg-anon-32m", t_reg_anon_32m, 0 },
	{ "reg-anon-16m", t_reg_anon_16m, 0 },
	{ "reg-anon-64m", t_reg_anon_64m, 0 },
	{ "reg-memfd-64m", t_reg_memfd_64m, 0 },
	{ "reg-anon-contig", t_reg_anon_contig, 0 },
	{ "reg-thp-16m", t_reg_thp_16m, 0 },
	{ "reg-hugetlb-8m", t_reg_hugetlb_8m, 4 },
	{ "reg-memfd-huge", t_reg_memfd_huge, 0 },
	{ "reg-memfd-32m", t_reg_memfd_32m, 0 },
	{ "reg-memfd-private", t_reg_memfd_private, 0 },
	{ "reg-relaxed", t_reg_relaxed, 0 },
	{ "rereg-mr", t_rereg, 0 },
	{ "rereg-mr-access", t_rereg_access, 0 },
	{ "dmabuf-udmabuf", t_dmabuf_udmabuf, 0 },
	{ "dmabuf-heap", t_dmabuf_heap, 0 },
	{ "dmabuf-pte-static", t_dmabuf_pte_static, 0 },
	{ "dmabuf-pte-dynamic", t_dmabuf_pte_dynamic, 0 },
	{ "dmabuf-udmabuf-8m", t_dmabuf_udmabuf_8m, 0 },
	{ "dmabuf-heap-8m", t_dmabuf_heap_8m, 0 },
	{ "dmabuf-pte-split", t_dmabuf_pte_split, 0 },
	{ "dmabuf-pte-static-16m", t_dmabuf_pte_static_16m, 0 },
	{ "dmabuf-pte-dynamic-16m", t_dmabuf_pte_dynamic_16m, 0 },
	{ "dereg-mr", t_dereg, 0 },
	{ "dereg-dmabuf-mr", t_dereg_dmabuf, 0 },
	{ "destroy-qp", t_destroy_qp, 0 },
};

static unsigned int injected[ARRAY_SIZE(tests)];
static int ran[ARRAY_SIZE(tests)];

static int run(size_t i)
{
	const struct test *t = &tests[i];
	int64_t before = pins_outstanding();
	struct pte_status st0 = {}, st1 = {};
	long huge = read_long("/sys/kernel/mm/hugepages/hugepages-2048kB/"
			      "free_hugepages");
	int ret;

	printf("failnth.%s\n", t->name);
	fflush(stdout);
	injected[i] = 0;
	if (pte_fd >= 0 && pte_status(-1, &st0))
		return -1;
	if (t->huge && huge < t->huge) {
		printf("  %ld free 2 MiB hugetlb pages, %d needed "
		       "(/proc/sys/vm/nr_hugepages)\n", huge < 0 ? 0 : huge,
		       t->huge);
		ret = SKIP;
	} else {
		ret = t->fn(&injected[i]);
	}
	if (ret != SKIP && ret)
		ret = -1;
	if (!ret && pins_outstanding() != before)
		ret = rt_fail(0, "%" PRId64 " pins outstanding after the test",
			      pins_outstanding() - before);
	/* every buffer of the test exporter released, every page freed */
	if (!ret && pte_fd >= 0 && !pte_status(-1, &st1) &&
	    (st1.live_buffers != st0.live_buffers ||
	     st1.live_pages != st0.live_pages))
		ret = rt_fail(0, "test exporter: %" PRId64 " buffers and %"
			      PRId64 " pages more than before",
			      (int64_t)(st1.live_buffers - st0.live_buffers),
			      (int64_t)(st1.live_pages - st0.live_pages));
	/* a failed test may leave the QPs in error */
	if (ret == -1 && rt_reconnect(&dev, &qa, &qb)) {
		printf("FAIL: cannot connect the QPs again\n");
		exit(1);
	}
	ran[i] = ret != SKIP;
	printf("PHYRLAB-TEST: failnth.%s %s (%u injections)\n", t->name,
	       ret == SKIP ? "SKIP" : ret ? "FAIL" : "PASS", injected[i]);
	fflush(stdout);
	return ret;
}

int main(int argc, char **argv)
{
	const char *devname = NULL;
	unsigned int total = 0;
	int opt, failed = 0, ret;
	size_t i;

	while ((opt = getopt(argc, argv, "d:lm:")) != -1) {
		if (opt == 'd') {
			devname = optarg;
		} else if (opt == 'm') {
			max_nth = (unsigned int)strtoul(optarg, NULL, 0);
		} else if (opt == 'l') {
			for (i = 0; i < ARRAY_SIZE(tests); i++)
				puts(tests[i].name);
			return 0;
		} else {
			fprintf(stderr, "usage: fail_nth [-d dev] [-l] "
				"[-m max] [test...]\n");
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* one thread: /proc/thread-self is the task every call below runs in */
	nth_fd = open(FAIL_NTH, O_RDWR | O_CLOEXEC);
	if (nth_fd < 0) {
		printf("no " FAIL_NTH ": kernel without CONFIG_FAULT_INJECTION "
		       "(%s)\n", strerror(errno));
		return SKIP;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	atexit(restore_all);
	ret = fault_setup();
	if (ret) {
		restore_all();
		return ret == SKIP ? SKIP : 1;
	}
	/* THP where asked for (MADV_HUGEPAGE), whatever the boot default */
	if (!access(THP_ENABLED, F_OK) && knob_set(THP_ENABLED, "madvise")) {
		restore_all();
		return 1;
	}
	pte_fd = open("/dev/phyr_test_exporter", O_RDWR | O_CLOEXEC);
	if (rt_open(&dev, devname) || rt_reconnect(&dev, &qa, &qb)) {
		restore_all();
		return 1;
	}
	lbuf = mmap(NULL, LBUF_LEN, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	lmr = lbuf == MAP_FAILED ? NULL :
		ibv_reg_mr(dev.pd, lbuf, LBUF_LEN, ACCESS_ALL);
	if (!lmr) {
		rt_fail(errno, "the local MR");
		restore_all();
		return 1;
	}

	for (i = 0; i < ARRAY_SIZE(tests); i++) {
		int wanted = optind == argc, j;

		for (j = optind; j < argc; j++)
			wanted |= !strcmp(argv[j], tests[i].name);
		if (wanted && run(i) == -1)
			failed++;
	}
	printf("failnth: injections");
	for (i = 0; i < ARRAY_SIZE(tests); i++) {
		if (!ran[i])
			continue;
		printf(" %s %u,", tests[i].name, injected[i]);
		total += injected[i];
	}
	printf(" total %u; %d tests failed\n", total, failed);

	ibv_dereg_mr(lmr);
	munmap(lbuf, LBUF_LEN);
	ibv_destroy_qp(qa);
	ibv_destroy_qp(qb);
	rt_close(&dev);
	if (pte_fd >= 0)
		close(pte_fd);
	restore_all();
	return failed ? 1 : 0;
}
