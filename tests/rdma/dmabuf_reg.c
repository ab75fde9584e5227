// SPDX-License-Identifier: GPL-2.0
/*
 * ibv_reg_dmabuf_mr on rxe, checked by moving data over RDMA and reading it
 * back through the exporter's CPU view of the buffer.
 *
 *   dmabuf_reg [-d dev] [-l] [test...]     (no test: all; -l lists them)
 *
 * Exporters: udmabuf over memfds (4 KiB shmem, huge shmem, hugetlbfs), the
 * system dma-heap, and phyr_test_exporter (tests/kmod), which moves and
 * revokes its buffers on command.  Every test reports
 * "PHYRLAB-TEST: dmabuf.<name> PASS|FAIL|SKIP" and must leave the FOLL_PIN
 * counters and the buffers' attachments where it found them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/udmabuf.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ibv_cmd_rereg_mr(): rxe's provider has no rereg_mr of its own */
#include <infiniband/driver.h>

#include "memkind.h"
#include "rdmatest.h"
#include "../kmod/phyr_test_exporter.h"

#define ACCESS_ALL (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
		    IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)
#define SKIP 77

static struct rt_dev dev;
static struct ibv_qp *qa, *qb;
/* the other side of every transfer: plain anonymous memory */
static uint8_t *lbuf;
static struct ibv_mr *lmr;
#define LBUF_LEN (4 * MiB)
static int pte_fd = -1;

/* ---- buffers: a dma-buf and a CPU view of it ---- */

enum source { UDMABUF_SHMEM, UDMABUF_SHMEM_HUGE, UDMABUF_HUGETLB, HEAP,
	      TEST_EXPORTER };

static const char *const source_name[] = {
	"udmabuf-shmem", "udmabuf-shmem-huge", "udmabuf-hugetlb",
	"heap-system", "test-exporter",
};

/*
 * How the test reads and writes a buffer with the CPU: through the
 * exporter's own view (the memfd behind a udmabuf, the heap's mapping, the
 * test exporter's ioctl), through an mmap() of the dma-buf itself, or
 * through the kernel's dma_buf_vmap() (the test module's PTE_IOC_VMAP_RW).
 */
enum view { VIEW_EXPORTER, VIEW_MMAP, VIEW_VMAP };

struct dbuf {
	enum source src;
	int fd;			/* the dma-buf */
	size_t size;
	uint8_t *cpu;		/* CPU view, or NULL: the exporter's ioctl */
	struct region mem;	/* udmabuf: the memfd behind it */
	enum view view;
	uint8_t *map;		/* VIEW_MMAP: the dma-buf mapped whole */
};

static int udmabuf_create(int memfd, size_t size)
{
	struct udmabuf_create c = { .memfd = memfd,
				    .flags = UDMABUF_FLAGS_CLOEXEC,
				    .offset = 0, .size = size };
	int dev_fd = open("/dev/udmabuf", O_RDWR | O_CLOEXEC), fd;

	if (dev_fd < 0)
		return rt_fail(errno, "open /dev/udmabuf");
	fd = ioctl(dev_fd, UDMABUF_CREATE, &c);
	if (fd < 0)
		rt_fail(errno, "UDMABUF_CREATE of %zu bytes", size);
	close(dev_fd);
	return fd;
}

static int heap_alloc(size_t size)
{
	struct dma_heap_allocation_data a = {
		.len = size, .fd_flags = O_RDWR | O_CLOEXEC };
	int heap = open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC);

	if (heap < 0)
		return rt_fail(errno, "open /dev/dma_heap/system");
	if (ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a)) {
		close(heap);
		return rt_fail(errno, "DMA_HEAP_IOCTL_ALLOC of %zu bytes",
			       size);
	}
	close(heap);
	return (int)a.fd;
}

static int pte_create(size_t size, uint32_t flags)
{
	struct pte_create c = { .size = size, .flags = flags };

	if (ioctl(pte_fd, PTE_IOC_CREATE, &c))
		return rt_fail(errno, "PTE_IOC_CREATE flags %#x", flags);
	return c.fd;
}

static int dbuf_open(struct dbuf *b, enum source src, size_t size,
		     uint32_t pte_flags)
{
	static const enum kind memfd_kind[] = {
		[UDMABUF_SHMEM] = MEMFD_SHMEM,
		[UDMABUF_SHMEM_HUGE] = MEMFD_SHMEM_HUGE,
		[UDMABUF_HUGETLB] = MEMFD_HUGETLB,
	};

	memset(b, 0, sizeof(*b));
	b->src = src;
	b->size = size;
	b->fd = -1;
	b->mem.fd = -1;
	switch (src) {
	case UDMABUF_SHMEM:
	case UDMABUF_SHMEM_HUGE:
	case UDMABUF_HUGETLB:
		if (region_map(&b->mem, memfd_kind[src], size))
			return -1;
		if (fcntl(b->mem.fd, F_ADD_SEALS, F_SEAL_SHRINK))
			return rt_fail(errno, "F_SEAL_SHRINK");
		b->cpu = b->mem.base;
		b->fd = udmabuf_create(b->mem.fd, size);
		break;
	case HEAP:
		b->fd = heap_alloc(size);
		if (b->fd < 0)
			break;
		b->cpu = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			      b->fd, 0);
		if (b->cpu == MAP_FAILED)
			return rt_fail(errno, "mmap the heap buffer");
		break;
	case TEST_EXPORTER:
		b->fd = pte_create(size, pte_flags);
		break;
	}
	return b->fd < 0 ? -1 : 0;
}

static void dbuf_close(struct dbuf *b)
{
	if (b->src == HEAP && b->cpu && b->cpu != MAP_FAILED)
		munmap(b->cpu, b->size);
	if (b->mem.map)
		region_unmap(&b->mem);
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
	b->cpu = NULL;
}

static int pte_rw(int fd, int write, size_t off, void *p, size_t len)
{
	struct pte_rw rw = { .fd = fd, .write = write, .offset = off,
			     .len = len, .addr = (uintptr_t)p };

	return ioctl(pte_fd, PTE_IOC_RW, &rw) ?
		rt_fail(errno, "PTE_IOC_RW") : 0;
}

/* CPU access to an mmap of the dma-buf, bracketed as the uAPI asks. */
static int dbuf_sync(struct dbuf *b, uint64_t flags)
{
	struct dma_buf_sync sync = { .flags = flags };

	return ioctl(b->fd, DMA_BUF_IOCTL_SYNC, &sync) ?
		rt_fail(errno, "DMA_BUF_IOCTL_SYNC %#" PRIx64, flags) : 0;
}

static int dbuf_view_rw(struct dbuf *b, int write, size_t off, void *p,
			size_t len)
{
	uint64_t rw = write ? DMA_BUF_SYNC_WRITE : DMA_BUF_SYNC_READ;
	struct pte_rw v = { .fd = b->fd, .write = write, .offset = off,
			    .len = len, .addr = (uintptr_t)p };

	if (b->view == VIEW_VMAP)
		return ioctl(pte_fd, PTE_IOC_VMAP_RW, &v) ?
			rt_fail(errno, "PTE_IOC_VMAP_RW") : 0;
	if (dbuf_sync(b, DMA_BUF_SYNC_START | rw))
		return -1;
	if (write)
		memcpy(b->map + off, p, len);
	else
		memcpy(p, b->map + off, len);
	return dbuf_sync(b, DMA_BUF_SYNC_END | rw);
}

static int dbuf_write(struct dbuf *b, size_t off, const void *p, size_t len)
{
	if (b->view != VIEW_EXPORTER)
		return dbuf_view_rw(b, 1, off, (void *)p, len);
	if (!b->cpu)
		return pte_rw(b->fd, 1, off, (void *)p, len);
	memcpy(b->cpu + off, p, len);
	return 0;
}

static int dbuf_read(struct dbuf *b, size_t off, void *p, size_t len)
{
	if (b->view != VIEW_EXPORTER)
		return dbuf_view_rw(b, 0, off, p, len);
	if (!b->cpu)
		return pte_rw(b->fd, 0, off, p, len);
	memcpy(p, b->cpu + off, len);
	return 0;
}

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
	f = fopen("/sys/kernel/debug/dma_buf/bufinfo", "r");
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

/* ---- transfers ---- */

/* One RDMA op from the plain MR, which must succeed. */
static int rdma(enum ibv_wr_opcode op, void *local, uint32_t len,
		uint64_t remote, uint32_t rkey)
{
	return rt_rdma(&dev, qa, op, local, len, lmr->lkey, remote, rkey);
}

/*
 * [off, off + len) of @b, registered in @mr at @iova: WRITE into it and
 * compare through the CPU; fill it through the CPU and READ it; SEND into
 * it; fetch-add and compare-swap on its last aligned word.  The local side
 * of every transfer is the plain MR.
 */
static int check_window(struct ibv_mr *mr, struct dbuf *b, size_t off,
			uint64_t iova, size_t len, uint32_t seed)
{
	uint8_t *back = lbuf + LBUF_LEN / 2;
	struct ibv_send_wr wr, *bad;
	struct ibv_sge sge;
	struct ibv_wc wc;

	while (len) {
		uint32_t n = len > LBUF_LEN / 2 ? LBUF_LEN / 2 : (uint32_t)len;
		long at;

		rt_fill(lbuf, n, seed);
		if (rdma(IBV_WR_RDMA_WRITE, lbuf, n, iova, mr->rkey) ||
		    dbuf_read(b, off, back, n))
			return -1;
		at = rt_check(back, n, seed);
		if (at >= 0)
			return rt_fail(0, "WRITE %u bytes at buffer offset "
				       "%zu: the CPU sees a mismatch at byte "
				       "%ld", n, off, at);

		rt_fill(back, n, seed + 1);
		if (dbuf_write(b, off, back, n))
			return -1;
		memset(lbuf, 0, n);
		if (rdma(IBV_WR_RDMA_READ, lbuf, n, iova, mr->rkey))
			return -1;
		at = rt_check(lbuf, n, seed + 1);
		if (at >= 0)
			return rt_fail(0, "READ %u bytes at buffer offset %zu: "
				       "mismatch at byte %ld", n, off, at);

		rt_fill(lbuf, n, seed + 2);
		if (rt_post_recv(qb, (void *)(uintptr_t)iova, n, mr->lkey, 7))
			return -1;
		sge = (struct ibv_sge){ .addr = (uintptr_t)lbuf, .length = n,
					.lkey = lmr->lkey };
		wr = (struct ibv_send_wr){ .wr_id = 8, .sg_list = &sge,
					   .num_sge = 1, .opcode = IBV_WR_SEND,
					   .send_flags = IBV_SEND_SIGNALED };
		if (ibv_post_send(qa, &wr, &bad))
			return rt_fail(errno, "post SEND");
		if (rt_wait(&dev, 8, &wc) || rt_wait(&dev, 7, &wc))
			return -1;
		if (wc.byte_len != n)
			return rt_fail(0, "SEND of %u bytes: %u received", n,
				       wc.byte_len);
		if (dbuf_read(b, off, back, n))
			return -1;
		at = rt_check(back, n, seed + 2);
		if (at >= 0)
			return rt_fail(0, "SEND %u bytes at buffer offset %zu: "
				       "mismatch at byte %ld", n, off, at);
		off += n;
		iova += n;
		len -= n;
		seed += 3;
	}
	return 0;
}

/* FETCH_ADD and CMP_SWP on the aligned word at buffer offset @off. */
static int check_atomic(struct ibv_mr *mr, struct dbuf *b, size_t off,
			uint64_t iova)
{
	struct ibv_sge sge = { .addr = (uintptr_t)lbuf, .length = 8,
			       .lkey = lmr->lkey };
	struct ibv_send_wr wr = { .wr_id = 9, .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_ATOMIC_FETCH_AND_ADD };
	uint64_t *res = (uint64_t *)lbuf, v = 40;
	struct ibv_wc wc;

	if (dbuf_write(b, off, &v, 8))
		return -1;
	wr.wr.atomic.remote_addr = iova;
	wr.wr.atomic.rkey = mr->rkey;
	wr.wr.atomic.compare_add = 2;
	if (rt_send_wait(&dev, qa, &wr, &wc) || dbuf_read(b, off, &v, 8))
		return -1;
	if (*res != 40 || v != 42)
		return rt_fail(0, "FETCH_ADD at buffer offset %zu: returned %"
			       PRIu64 ", memory %" PRIu64, off, *res, v);
	wr.opcode = IBV_WR_ATOMIC_CMP_AND_SWP;
	wr.wr.atomic.compare_add = 42;
	wr.wr.atomic.swap = 7;
	if (rt_send_wait(&dev, qa, &wr, &wc) || dbuf_read(b, off, &v, 8))
		return -1;
	if (*res != 42 || v != 7)
		return rt_fail(0, "CMP_SWP at buffer offset %zu: returned %"
			       PRIu64 ", memory %" PRIu64, off, *res, v);
	return 0;
}

/*
 * The dma-buf MR as the local side: WRITE from it into the plain MR and
 * READ from the plain MR into it.
 */
static int check_local(struct ibv_mr *mr, struct dbuf *b, size_t off,
		       uint64_t iova, uint32_t len, uint32_t seed)
{
	uint8_t *remote = lbuf, *back = lbuf + LBUF_LEN / 2;
	enum ibv_wc_status st;
	long at;

	rt_fill(back, len, seed);
	if (dbuf_write(b, off, back, len))
		return -1;
	memset(remote, 0, len);
	if (rt_rdma_status(&dev, qa, IBV_WR_RDMA_WRITE, (void *)(uintptr_t)iova,
			   len, mr->lkey, (uintptr_t)remote, lmr->rkey, &st))
		return -1;
	if (st != IBV_WC_SUCCESS)
		return rt_fail(0, "WRITE from the dma-buf MR: %s",
			       ibv_wc_status_str(st));
	at = rt_check(remote, len, seed);
	if (at >= 0)
		return rt_fail(0, "WRITE from the dma-buf MR: mismatch at "
			       "byte %ld", at);
	rt_fill(remote, len, seed + 1);
	if (rt_rdma_status(&dev, qa, IBV_WR_RDMA_READ, (void *)(uintptr_t)iova,
			   len, mr->lkey, (uintptr_t)remote, lmr->rkey, &st))
		return -1;
	if (st != IBV_WC_SUCCESS)
		return rt_fail(0, "READ into the dma-buf MR: %s",
			       ibv_wc_status_str(st));
	if (dbuf_read(b, off, back, len))
		return -1;
	at = rt_check(back, len, seed + 1);
	if (at >= 0)
		return rt_fail(0, "READ into the dma-buf MR: mismatch at byte "
			       "%ld", at);
	return 0;
}

/* Bytes of each window checked in an MR that is not checked whole */
#define SAMPLE_LEN (256 * KiB)

/*
 * check_window() over all of [off, off + len) when @whole or when it is
 * short; else over three windows: the first and the last bytes, and the
 * middle, where a buffer of 2 MiB folios has a folio boundary.
 */
static int check_windows(struct ibv_mr *mr, struct dbuf *b, size_t off,
			 uint64_t iova, size_t len, bool whole)
{
	size_t mid = len / 2 - SAMPLE_LEN / 2, end = len - SAMPLE_LEN;

	if (whole || len <= 3 * SAMPLE_LEN)
		return check_window(mr, b, off, iova, len, (uint32_t)off);
	return check_window(mr, b, off, iova, SAMPLE_LEN, (uint32_t)off) ||
	       check_window(mr, b, off + mid, iova + mid, SAMPLE_LEN, 5) ||
	       check_window(mr, b, off + end, iova + end, SAMPLE_LEN, 3);
}

/*
 * Register [off, off + len) of @b at @iova, check it every way (all of it
 * when @whole), dereg.  Registration must not pin anything (the exporter
 * holds the memory) and must leave exactly one CPU attachment while
 * registered.
 */
static int reg_case(struct dbuf *b, size_t off, size_t len, uint64_t iova,
		    bool whole)
{
	int64_t pins = pins_outstanding();
	long att = attachments(b->fd);
	struct ibv_mr *mr;
	int ret;

	mr = ibv_reg_dmabuf_mr(dev.pd, off, len, iova, b->fd, ACCESS_ALL);
	if (!mr)
		return rt_fail(errno, "%s: ibv_reg_dmabuf_mr(offset %zu, "
			       "length %zu, iova %#" PRIx64 ")",
			       source_name[b->src], off, len, iova);
	if (pins_outstanding() != pins)
		ret = rt_fail(0, "registration took %" PRId64 " pins",
			      pins_outstanding() - pins);
	else if (attachments(b->fd) != att + 1)
		ret = rt_fail(0, "%ld CPU attachments while registered, "
			      "want %ld", attachments(b->fd), att + 1);
	else
		ret = check_windows(mr, b, off, iova, len, whole) ||
		      (len >= 16 && check_atomic(mr, b, (off + len - 8) & ~7ul,
						 iova + (((off + len - 8) & ~7ul) -
							 off))) ||
		      check_local(mr, b, off, iova, len > MiB ? MiB :
				  (uint32_t)len, 99);
	if (ret)
		printf("  in %s: offset %zu, length %zu, iova %#" PRIx64 "\n",
		       source_name[b->src], off, len, iova);
	if (ibv_dereg_mr(mr))
		ret = rt_fail(errno, "ibv_dereg_mr");
	if (attachments(b->fd) != att)
		ret = rt_fail(0, "%ld CPU attachments left after dereg",
			      attachments(b->fd) - att);
	return ret;
}

/*
 * Offset, iova and length combinations over one buffer; the whole buffer
 * is moved once, the other large MRs at their ends and middle.
 */
static int source_cases(enum source src, size_t size)
{
	const struct { size_t off, len; uint64_t iova; bool whole; } c[] = {
		{ 0, size, 0, true },
		{ 0, size, 0x7f0000000000ull, false },
		{ 4096 + 5, 3 * 4096 + 11, 0x10000005, false },
		{ 3, 1, 0x20000003, false },
		{ size - 4096, 4096, 0, false },
		{ size / 2 - 100, 200, (1ull << 40) + ((size / 2 - 100) &
						       4095), false },
		{ 8, size - 16, 0x1008, false },
	};
	struct dbuf b;
	size_t i;
	int ret = 0;

	if (dbuf_open(&b, src, size, 0))
		return -1;
	for (i = 0; i < sizeof(c) / sizeof(c[0]) && !ret; i++)
		ret = reg_case(&b, c[i].off, c[i].len, c[i].iova,
			       c[i].whole);
	dbuf_close(&b);
	return ret;
}

/* ---- tests ---- */

static int t_udmabuf_shmem(void)
{
	return source_cases(UDMABUF_SHMEM, 8 * MiB);
}

static int t_udmabuf_shmem_huge(void)
{
	const char *knob = "/sys/kernel/mm/transparent_hugepage/shmem_enabled";
	int ret;

	if (write_file(knob, "always"))
		return rt_fail(errno, "%s", knob);
	ret = source_cases(UDMABUF_SHMEM_HUGE, 8 * MiB);
	write_file(knob, "never");
	return ret;
}

static int t_udmabuf_hugetlb(void)
{
	return source_cases(UDMABUF_HUGETLB, 8 * MiB);
}

static int t_heap(void)
{
	return source_cases(HEAP, 8 * MiB);
}

static int t_test_exporter(void)
{
	return source_cases(TEST_EXPORTER, 4 * MiB);
}

/*
 * A window of the dma-buf mapped at a page offset shows the same bytes as
 * the whole; a private, oversized or out-of-range mapping is refused.
 */
static int check_mmap_window(struct dbuf *b)
{
	size_t pg = 4096, at = 3 * pg, len = 5 * pg;
	uint8_t *w;
	int ret = 0;

	w = mmap(NULL, len, PROT_READ, MAP_SHARED, b->fd, at);
	if (w == MAP_FAILED)
		return rt_fail(errno, "mmap %zu bytes at offset %zu", len, at);
	if (memcmp(w, b->map + at, len))
		ret = rt_fail(0, "a window mapped at offset %zu differs from "
			      "the whole mapping", at);
	munmap(w, len);
	if (b->src != HEAP) {
		w = mmap(NULL, pg, PROT_READ, MAP_PRIVATE, b->fd, 0);
		if (w != MAP_FAILED || errno != EINVAL)
			ret = rt_fail(errno, "a private mapping of a udmabuf: "
				      "want EINVAL");
		if (w != MAP_FAILED)
			munmap(w, pg);
	}
	w = mmap(NULL, b->size + pg, PROT_READ, MAP_SHARED, b->fd, 0);
	if (w != MAP_FAILED || errno != EINVAL)
		ret = rt_fail(errno, "a mapping a page longer than the buffer: "
			      "want EINVAL");
	if (w != MAP_FAILED)
		munmap(w, b->size + pg);
	w = mmap(NULL, pg, PROT_READ, MAP_SHARED, b->fd, b->size);
	if (w != MAP_FAILED || errno != EINVAL)
		ret = rt_fail(errno, "a mapping past the buffer's end: want "
			      "EINVAL");
	if (w != MAP_FAILED)
		munmap(w, pg);
	return ret;
}

/*
 * The exporters that describe their memory as a list also map it from the
 * list, for userspace (dma_buf_phyr_mmap()) and the kernel
 * (dma_buf_phyr_vmap()): every transfer of reg_case() checked through an
 * mmap of the dma-buf, then through the kernel's vmap, over 4 KiB pages,
 * huge shmem, hugetlbfs and the system heap.
 */
static int t_mmap_vmap(void)
{
	static const enum source src[] = { UDMABUF_SHMEM, UDMABUF_SHMEM_HUGE,
					   UDMABUF_HUGETLB, HEAP };
	const char *knob = "/sys/kernel/mm/transparent_hugepage/shmem_enabled";
	const size_t size = 2 * MiB;
	const struct { size_t off, len; uint64_t iova; } c[] = {
		{ 0, size, 0 },
		{ 4096 + 5, 3 * 4096 + 11, 0x10000005 },
		{ size / 2 - 100, 200, 0x20000000 + ((size / 2 - 100) & 4095) },
	};
	int ret = 0;
	size_t i, k;
	int v;

	if (write_file(knob, "always"))
		return rt_fail(errno, "%s", knob);
	for (i = 0; i < sizeof(src) / sizeof(src[0]) && !ret; i++) {
		struct dbuf b;

		if (dbuf_open(&b, src[i], size, 0)) {
			ret = -1;
			dbuf_close(&b);
			break;
		}
		b.map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			     b.fd, 0);
		if (b.map == MAP_FAILED) {
			ret = rt_fail(errno, "%s: mmap of the dma-buf",
				      source_name[src[i]]);
			b.map = NULL;
		}
		for (v = VIEW_MMAP; !ret && b.map && v <= VIEW_VMAP; v++) {
			b.view = v;
			for (k = 0; k < sizeof(c) / sizeof(c[0]) && !ret; k++)
				ret = reg_case(&b, c[k].off, c[k].len,
					       c[k].iova, true);
			if (ret)
				printf("  through %s\n",
				       v == VIEW_MMAP ? "mmap" : "vmap");
		}
		if (!ret)
			ret = check_mmap_window(&b);
		if (ret)
			printf("  in %s\n", source_name[src[i]]);
		if (b.map)
			munmap(b.map, size);
		b.view = VIEW_EXPORTER;
		dbuf_close(&b);
	}
	write_file(knob, "never");
	return ret;
}

/*
 * Byte-granular ranges (the test exporter's split buffers: each page holds
 * PTE_SPLIT_PAGE bytes, in ranges of PTE_SPLIT_HEAD and PTE_SPLIT_PAGE -
 * PTE_SPLIT_HEAD bytes): transfers over range ends whose bytes land in
 * order, atomics on words inside a range, and an aligned word that
 * crosses a range end refused without touching the memory beyond it.
 */
static int t_split_ranges(void)
{
	/*
	 * An aligned word with 4 bytes in the first range of page 0.  Page 1
	 * starts at buffer offset 4092: there the words aligned in the buffer
	 * are aligned in memory in its second range.
	 */
	const size_t cross = PTE_SPLIT_HEAD - 4;
	uint64_t iova = 0x10000, v = 0x1111111111111111ull, back;
	size_t size = 64 * KiB;
	enum ibv_wc_status st;
	struct ibv_mr *mr;
	struct dbuf b;
	int ret;

	if (dbuf_open(&b, TEST_EXPORTER, size, PTE_SPLIT | PTE_DYNAMIC))
		return -1;
	mr = ibv_reg_dmabuf_mr(dev.pd, 0, size, iova, b.fd, ACCESS_ALL);
	if (!mr) {
		dbuf_close(&b);
		return rt_fail(errno, "ibv_reg_dmabuf_mr of a split buffer");
	}
	ret = check_window(mr, &b, 0, iova, size, 900) ||
	      check_window(mr, &b, 4093, iova + 4093, 20000, 901) ||
	      check_atomic(mr, &b, cross - 8, iova + cross - 8) ||
	      check_atomic(mr, &b, PTE_SPLIT_PAGE + PTE_SPLIT_HEAD + 8,
			   iova + PTE_SPLIT_PAGE + PTE_SPLIT_HEAD + 8);
	if (!ret)
		ret = dbuf_write(&b, cross, &v, 8);
	if (!ret) {
		struct ibv_sge sge = { .addr = (uintptr_t)lbuf, .length = 8,
				       .lkey = lmr->lkey };
		struct ibv_send_wr wr = {
			.wr_id = 9, .sg_list = &sge, .num_sge = 1,
			.opcode = IBV_WR_ATOMIC_FETCH_AND_ADD,
			.wr.atomic = { .remote_addr = iova + cross,
				       .compare_add = 1, .rkey = mr->rkey } };

		ret = rt_send_status(&dev, qa, &wr, &st);
	}
	if (!ret && st == IBV_WC_SUCCESS)
		ret = rt_fail(0, "FETCH_ADD on a word across a range end "
			      "succeeded");
	if (!ret && dbuf_read(&b, cross, &back, 8))
		ret = -1;
	if (!ret && back != v)
		ret = rt_fail(0, "the refused FETCH_ADD changed the buffer: %#"
			      PRIx64 " -> %#" PRIx64, v, back);
	if (!ret)
		printf("  FETCH_ADD across a range end: %s\n",
		       ibv_wc_status_str(st));
	if (rt_reconnect(&dev, &qa, &qb))
		ret = -1;
	/* the MR still works, after a move too */
	if (!ret)
		ret = check_window(mr, &b, 8192, iova + 8192, 8192, 902);
	if (!ret) {
		struct pte_op op = { .fd = b.fd };

		if (ioctl(pte_fd, PTE_IOC_MOVE, &op))
			ret = rt_fail(errno, "PTE_IOC_MOVE");
	}
	if (!ret)
		ret = check_window(mr, &b, 0, iova, size, 903);
	if (ibv_dereg_mr(mr))
		ret = rt_fail(errno, "ibv_dereg_mr");
	dbuf_close(&b);
	return ret;
}

/*
 * Access flags changed in the kernel (IB_MR_REREG_ACCESS): rxe's provider
 * has no rereg_mr, but the command is there for any process to send.
 * Returns 0 or the errno.
 */
static int rereg_access(struct ibv_mr *mr, int access)
{
	struct ib_uverbs_rereg_mr_resp resp;
	struct ibv_rereg_mr cmd;
	int ret;

	memset(&cmd, 0, sizeof(cmd));
	errno = 0;
	ret = ibv_cmd_rereg_mr(verbs_get_mr(mr), IBV_REREG_MR_CHANGE_ACCESS,
			       NULL, 0, 0, access, NULL, &cmd, sizeof(cmd),
			       &resp, sizeof(resp));
	return ret < 0 ? (errno ? errno : -ret) : ret;
}

/*
 * Persistence cannot be promised for memory an exporter may move: a
 * dma-buf MR takes no FLUSH flags at registration (uverbs refuses them),
 * nor IB_ACCESS_FLUSH_PERSISTENT later (EOPNOTSUPP), but takes
 * FLUSH_GLOBAL.  Plain RAM refuses persistence with EINVAL, at
 * registration and later alike.
 */
static int t_flush_access(void)
{
	size_t size = 64 * KiB;
	struct ibv_mr *mr;
	struct dbuf b;
	int ret = 0, err;
	void *p;

	if (dbuf_open(&b, TEST_EXPORTER, size, 0))
		return -1;
	errno = 0;
	mr = ibv_reg_dmabuf_mr(dev.pd, 0, size, 0, b.fd,
			       ACCESS_ALL | IBV_ACCESS_FLUSH_PERSISTENT);
	if (mr) {
		ibv_dereg_mr(mr);
		ret = rt_fail(0, "a dma-buf MR took FLUSH_PERSISTENT");
	} else if (errno != EINVAL) {
		ret = rt_fail(errno, "dma-buf MR with FLUSH_PERSISTENT: want "
			      "EINVAL");
	}
	mr = ibv_reg_dmabuf_mr(dev.pd, 0, size, 0, b.fd, ACCESS_ALL);
	if (!mr) {
		dbuf_close(&b);
		return rt_fail(errno, "ibv_reg_dmabuf_mr");
	}
	err = rereg_access(mr, ACCESS_ALL | IBV_ACCESS_FLUSH_PERSISTENT);
	if (err != EOPNOTSUPP)
		ret = rt_fail(err, "rereg of a dma-buf MR to FLUSH_PERSISTENT: "
			      "want EOPNOTSUPP");
	err = rereg_access(mr, ACCESS_ALL | IBV_ACCESS_FLUSH_GLOBAL);
	if (err)
		ret = rt_fail(err, "rereg of a dma-buf MR to FLUSH_GLOBAL");
	if (!ret)
		ret = check_window(mr, &b, 0, 0, size, 950);
	if (ibv_dereg_mr(mr))
		ret = rt_fail(errno, "ibv_dereg_mr");
	dbuf_close(&b);

	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED)
		return rt_fail(errno, "mmap");
	errno = 0;
	mr = ibv_reg_mr(dev.pd, p, size,
			ACCESS_ALL | IBV_ACCESS_FLUSH_PERSISTENT);
	if (mr) {
		ibv_dereg_mr(mr);
		ret = rt_fail(0, "an MR on RAM took FLUSH_PERSISTENT");
	} else if (errno != EINVAL) {
		ret = rt_fail(errno, "MR on RAM with FLUSH_PERSISTENT: want "
			      "EINVAL");
	}
	mr = ibv_reg_mr(dev.pd, p, size, ACCESS_ALL);
	if (!mr) {
		ret = rt_fail(errno, "ibv_reg_mr");
	} else {
		err = rereg_access(mr, ACCESS_ALL |
				       IBV_ACCESS_FLUSH_PERSISTENT);
		if (err != EINVAL)
			ret = rt_fail(err, "rereg of an MR on RAM to "
				      "FLUSH_PERSISTENT: want EINVAL");
		if (ibv_dereg_mr(mr))
			ret = rt_fail(errno, "ibv_dereg_mr");
	}
	munmap(p, size);
	return ret;
}

/* The fd closed right after registration: the MR works, the memory stays
 * pinned by the udmabuf until dereg. */
static int t_fd_closed(void)
{
	int64_t before = pins_outstanding(), held;
	uint8_t *back = lbuf + LBUF_LEN / 2;
	size_t len = 2 * MiB;
	struct ibv_mr *mr;
	struct dbuf b;

	if (dbuf_open(&b, UDMABUF_SHMEM, len, 0))
		return -1;
	mr = ibv_reg_dmabuf_mr(dev.pd, 0, len, 0x5000000, b.fd, ACCESS_ALL);
	if (!mr)
		return rt_fail(errno, "ibv_reg_dmabuf_mr");
	dbuf_close(&b);		/* the dma-buf, the memfd and its mapping */
	held = pins_outstanding() - before;
	if (held != (int64_t)(len / 4096)) {
		ibv_dereg_mr(mr);
		return rt_fail(0, "%" PRId64 " pins held after close, want %zu "
			       "(udmabuf pins every folio)", held, len / 4096);
	}
	rt_fill(lbuf, len, 41);
	if (rdma(IBV_WR_RDMA_WRITE, lbuf, (uint32_t)len, 0x5000000, mr->rkey))
		return -1;
	memset(back, 0, len);
	if (rdma(IBV_WR_RDMA_READ, back, (uint32_t)len, 0x5000000, mr->rkey))
		return -1;
	if (rt_check(back, len, 41) >= 0)
		return rt_fail(0, "data of the closed buffer differs");
	if (ibv_dereg_mr(mr))
		return rt_fail(errno, "ibv_dereg_mr");
	if (pins_outstanding() != before)
		return rt_fail(0, "%" PRId64 " pins left after dereg: the "
			       "buffer was not released",
			       pins_outstanding() - before);
	return 0;
}

/* Many MRs on one buffer, overlapping, each moving its own data. */
static int t_many_mrs(void)
{
	enum { N = 64 };
	size_t size = 4 * MiB, win = 64 * KiB;
	struct ibv_mr *mr[N] = {};
	struct dbuf b;
	int i, ret = 0;

	if (dbuf_open(&b, UDMABUF_HUGETLB, size, 0))
		return -1;
	for (i = 0; i < N && !ret; i++) {
		size_t off = (size_t)i * (size - win) / N;

		mr[i] = ibv_reg_dmabuf_mr(dev.pd, off, win, 0x100000000ull *
					  (i + 1) + (off & 4095), b.fd,
					  ACCESS_ALL);
		if (!mr[i])
			ret = rt_fail(errno, "MR %d", i);
	}
	if (!ret && attachments(b.fd) != N)
		ret = rt_fail(0, "%ld CPU attachments, want %d",
			      attachments(b.fd), N);
	for (i = 0; i < N && !ret; i++) {
		size_t off = (size_t)i * (size - win) / N;

		ret = check_window(mr[i], &b, off, 0x100000000ull * (i + 1) +
				   (off & 4095), win, (uint32_t)i);
	}
	for (i = 0; i < N; i++)
		if (mr[i] && ibv_dereg_mr(mr[i]))
			ret = rt_fail(errno, "ibv_dereg_mr %d", i);
	if (attachments(b.fd) != 0)
		ret = rt_fail(0, "%ld attachments left",
			      attachments(b.fd));
	dbuf_close(&b);
	return ret;
}

struct mover {
	int fd;
	volatile int stop;
	int moves, errors;
	uint64_t maps_left;
};

static void *mover_thread(void *arg)
{
	struct mover *m = arg;

	while (!m->stop) {
		struct pte_op op = { .fd = m->fd };

		if (ioctl(pte_fd, PTE_IOC_MOVE, &op)) {
			m->errors++;
			break;
		}
		m->moves++;
		m->maps_left += op.maps_left;
		usleep(2000);
	}
	return NULL;
}

/*
 * A dynamic exporter moves the buffer again and again during traffic: rxe
 * drops its mapping each time before the exporter frees the old pages
 * (KASAN would see any later touch), maps the new ones on the next access,
 * and every transfer completes with the right data.
 */
static int t_move_during_traffic(void)
{
	size_t size = 2 * MiB, len = 256 * KiB;
	struct mover m = {};
	char maps[16] = "?";
	struct pte_status st;
	struct ibv_mr *mr;
	pthread_t th;
	struct dbuf b;
	int i, ret = 0;

	if (dbuf_open(&b, TEST_EXPORTER, size, PTE_DYNAMIC))
		return -1;
	mr = ibv_reg_dmabuf_mr(dev.pd, 0, size, 0x40000000, b.fd, ACCESS_ALL);
	if (!mr)
		return rt_fail(errno, "ibv_reg_dmabuf_mr");
	m.fd = b.fd;
	if (pthread_create(&th, NULL, mover_thread, &m))
		return rt_fail(0, "pthread_create");
	for (i = 0; i < 60 && !ret; i++) {
		size_t off = (size_t)(i * 37 % 7) * len;

		ret = check_window(mr, &b, off, 0x40000000 + off, len,
				   (uint32_t)i * 3);
		if (!ret && i % 4 == 3)
			ret = check_atomic(mr, &b, off + 64,
					   0x40000000 + off + 64) ||
			      check_local(mr, &b, off, 0x40000000 + off,
					  (uint32_t)len, i);
	}
	m.stop = 1;
	pthread_join(th, NULL);
	if (pte_status(b.fd, &st) ||
	    rt_mr_attr(mr->rkey, "maps", maps, sizeof(maps)))
		ret = -1;
	printf("  %d moves during traffic (%" PRIu64 " counted by the "
	       "exporter), mappings left at invalidation: %" PRIu64 ", rxe "
	       "mapped the buffer %s times\n", m.moves, (uint64_t)st.moves,
	       m.maps_left, maps);
	/*
	 * Once at registration, then at most once per move.  Traffic touches
	 * the buffer all the time, so nearly every move is followed by a new
	 * mapping (about 2,000 moves and as many mappings here): a path that
	 * pins the buffer (moves fail) or stops remapping falls far short.
	 */
	if (!ret && (atoi(maps) < 2 || atoi(maps) > m.moves + 1 ||
		     atoi(maps) < m.moves / 4))
		ret = rt_fail(0, "%s mappings for %d moves", maps, m.moves);
	if (!ret && (m.errors || m.moves < 100))
		ret = rt_fail(0, "the exporter moved the buffer %d times "
			      "(%d errors): want 100 or more", m.moves,
			      m.errors);
	if (!ret && m.maps_left)
		ret = rt_fail(0, "rxe kept %" PRIu64 " mappings past "
			      "invalidation", m.maps_left);
	if (ibv_dereg_mr(mr))
		ret = rt_fail(errno, "ibv_dereg_mr");
	if (!pte_status(b.fd, &st) && (st.attachments || st.maps))
		ret = rt_fail(0, "after dereg: %" PRIu64 " attachments, %"
			      PRIu64 " mappings", (uint64_t)st.attachments,
			      (uint64_t)st.maps);
	dbuf_close(&b);
	return ret;
}

/*
 * A static exporter revokes the buffer during traffic (as VFIO does on
 * reset): transfers after it complete in error, remote and local, and the
 * freed pages are never touched; once the exporter allows mappings again
 * the same MR works on the new memory.
 */
static int t_revoke_during_traffic(void)
{
	size_t size = 1 * MiB;
	enum ibv_wc_status st1, st2;
	struct pte_op op = {};
	struct pte_status st;
	struct ibv_mr *mr;
	struct dbuf b;
	int i, ret = 0;

	if (dbuf_open(&b, TEST_EXPORTER, size, 0))
		return -1;
	mr = ibv_reg_dmabuf_mr(dev.pd, 4096, size - 4096, 0x7000, b.fd,
			       ACCESS_ALL);
	if (!mr)
		return rt_fail(errno, "ibv_reg_dmabuf_mr");
	for (i = 0; i < 5 && !ret; i++)
		ret = check_window(mr, &b, 4096, 0x7000, 128 * KiB, i);
	op.fd = b.fd;
	if (!ret && ioctl(pte_fd, PTE_IOC_REVOKE, &op))
		ret = rt_fail(errno, "PTE_IOC_REVOKE");
	if (!ret && op.maps_left)
		ret = rt_fail(0, "rxe kept %" PRIu64 " mappings past revoke",
			      (uint64_t)op.maps_left);
	/* remote access to the revoked MR */
	if (!ret && rt_rdma_status(&dev, qa, IBV_WR_RDMA_WRITE, lbuf, 4096,
				   lmr->lkey, 0x7000, mr->rkey, &st1))
		ret = -1;
	if (!ret && st1 == IBV_WC_SUCCESS)
		ret = rt_fail(0, "WRITE into a revoked buffer succeeded");
	/* local access from the revoked MR, on new QPs */
	if (!ret && (rt_reconnect(&dev, &qa, &qb) ||
		     rt_rdma_status(&dev, qa, IBV_WR_RDMA_WRITE,
				    (void *)(uintptr_t)0x7000, 4096, mr->lkey,
				    (uintptr_t)lbuf, lmr->rkey, &st2)))
		ret = -1;
	if (!ret && st2 == IBV_WC_SUCCESS)
		ret = rt_fail(0, "WRITE from a revoked buffer succeeded");
	if (!ret)
		printf("  after revoke: remote WRITE %s, local WRITE %s\n",
		       ibv_wc_status_str(st1), ibv_wc_status_str(st2));
	/* the exporter allows mappings again: the MR follows */
	if (!ret && (rt_reconnect(&dev, &qa, &qb) ||
		     ioctl(pte_fd, PTE_IOC_RESTORE, &op)))
		ret = rt_fail(errno, "PTE_IOC_RESTORE");
	for (i = 0; i < 3 && !ret; i++)
		ret = check_window(mr, &b, 4096 + i * 8192, 0x7000 + i * 8192,
				   64 * KiB, 50 + i);
	if (ibv_dereg_mr(mr))
		ret = rt_fail(errno, "ibv_dereg_mr");
	if (!pte_status(b.fd, &st) && (st.attachments || st.maps))
		ret = rt_fail(0, "after dereg: %" PRIu64 " attachments, %"
			      PRIu64 " mappings", (uint64_t)st.attachments,
			      (uint64_t)st.maps);
	dbuf_close(&b);
	if (rt_reconnect(&dev, &qa, &qb))
		ret = -1;
	return ret;
}

/* A process that exits with dma-buf MRs registered releases them all. */
static int t_process_exit(void)
{
	int64_t before = pins_outstanding();
	struct pte_status st;
	struct dbuf b, u;
	int status;
	pid_t pid;

	if (dbuf_open(&b, TEST_EXPORTER, MiB, PTE_DYNAMIC) ||
	    dbuf_open(&u, UDMABUF_SHMEM, MiB, 0))
		return -1;
	pid = fork();
	if (pid == 0) {
		struct rt_dev d;

		if (rt_open(&d, NULL))
			_exit(2);
		if (!ibv_reg_dmabuf_mr(d.pd, 0, MiB, 0, b.fd, ACCESS_ALL) ||
		    !ibv_reg_dmabuf_mr(d.pd, 4096, 8192, 0, u.fd, ACCESS_ALL))
			_exit(3);
		_exit(0);	/* without dereg */
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		return rt_fail(0, "child failed (status %#x)", status);
	if (pte_status(b.fd, &st))
		return -1;
	if (st.attachments || st.maps)
		return rt_fail(0, "after exit: %" PRIu64 " attachments, %" PRIu64
			       " mappings", (uint64_t)st.attachments,
			       (uint64_t)st.maps);
	if (attachments(u.fd) != 0)
		return rt_fail(0, "udmabuf: %ld attachments after exit",
			       attachments(u.fd));
	dbuf_close(&b);
	dbuf_close(&u);
	if (pins_outstanding() != before)
		return rt_fail(0, "%" PRId64 " pins left",
			       pins_outstanding() - before);
	return 0;
}

static int expect_reg_errno(const char *what, int fd, uint64_t off,
			    size_t len, uint64_t iova, int access, int want)
{
	int64_t pins = pins_outstanding();
	struct ibv_mr *mr;
	int err;

	mr = ibv_reg_dmabuf_mr(dev.pd, off, len, iova, fd, access);
	err = errno;
	if (mr) {
		ibv_dereg_mr(mr);
		return rt_fail(0, "%s: registered, expected errno %d", what,
			       want);
	}
	if (err != want)
		return rt_fail(err, "%s: expected errno %d (%s), got", what,
			       want, strerror(want));
	if (pins_outstanding() != pins)
		return rt_fail(0, "%s: %" PRId64 " pins left behind", what,
			       pins_outstanding() - pins);
	printf("  %s: errno %d (%s)\n", what, err, strerror(err));
	return 0;
}

/* The test exporter's buffer @fd has no attachment and no mapping left. */
static int pte_clean(const char *what, int fd)
{
	struct pte_status st;

	if (pte_status(fd, &st))
		return -1;
	if (st.attachments || st.maps)
		return rt_fail(0, "%s: %" PRIu64 " attachments and %" PRIu64
			       " mappings left", what,
			       (uint64_t)st.attachments, (uint64_t)st.maps);
	return 0;
}

static int t_bad_input(void)
{
	int file = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	int memfd = memfd_create("not-a-dmabuf", MFD_CLOEXEC);
	int efd = eventfd(0, EFD_CLOEXEC);
	struct dbuf u, ro, pic, wc, sgt;
	int ret;

	if (file < 0 || memfd < 0 || efd < 0 || ftruncate(memfd, MiB))
		return rt_fail(errno, "setup");
	if (dbuf_open(&u, UDMABUF_SHMEM, MiB, 0) ||
	    dbuf_open(&ro, TEST_EXPORTER, MiB, PTE_READONLY) ||
	    dbuf_open(&pic, TEST_EXPORTER, MiB, PTE_PRIVATE_IC) ||
	    dbuf_open(&wc, TEST_EXPORTER, MiB, PTE_WC) ||
	    dbuf_open(&sgt, TEST_EXPORTER, MiB, PTE_SGT_ONLY))
		return -1;

	ret = expect_reg_errno("fd -1", -1, 0, 4096, 0, ACCESS_ALL, EBADF) ||
	      expect_reg_errno("a regular file", file, 0, 4096, 0, ACCESS_ALL,
			       EINVAL) ||
	      expect_reg_errno("a memfd", memfd, 0, 4096, 0, ACCESS_ALL,
			       EINVAL) ||
	      expect_reg_errno("an eventfd", efd, 0, 4096, 0, ACCESS_ALL,
			       EINVAL) ||
	      expect_reg_errno("offset + length past the end", u.fd,
			       MiB - 4096, 8192, 0, ACCESS_ALL, EINVAL) ||
	      expect_reg_errno("offset past the end", u.fd, 2 * MiB, 4096, 0,
			       ACCESS_ALL, EINVAL) ||
	      expect_reg_errno("length 0", u.fd, 0, 0, 0, ACCESS_ALL,
			       EINVAL) ||
	      expect_reg_errno("offset and iova with different page offsets",
			       u.fd, 4096 + 8, 4096, 0x10000, ACCESS_ALL,
			       EINVAL) ||
	      expect_reg_errno("offset + length overflows 64 bits", u.fd,
			       UINT64_MAX - 4095, 8192, UINT64_MAX - 4095,
			       ACCESS_ALL, EINVAL) ||
	      expect_reg_errno("remote write without local write", u.fd, 0,
			       4096, 0, IBV_ACCESS_REMOTE_WRITE, EINVAL) ||
	      expect_reg_errno("write access to a buffer the exporter keeps "
			       "read-only", ro.fd, 0, MiB, 0, ACCESS_ALL,
			       EACCES) ||
	      pte_clean("read-only refusal", ro.fd) ||
	      expect_reg_errno("memory behind a private interconnect",
			       pic.fd, 0, MiB, 0, ACCESS_ALL, EOPNOTSUPP) ||
	      pte_clean("private interconnect refusal", pic.fd) ||
	      expect_reg_errno("write-combined CPU memory (the direct map "
			       "has it write-back)", wc.fd, 0, MiB, 0,
			       ACCESS_ALL, EOPNOTSUPP) ||
	      pte_clean("write-combined refusal", wc.fd) ||
	      expect_reg_errno("an exporter that only maps sg_tables",
			       sgt.fd, 0, MiB, 0, ACCESS_ALL, EOPNOTSUPP) ||
	      pte_clean("sg_table-only refusal", sgt.fd);
	if (!ret && attachments(u.fd) != 0)
		ret = rt_fail(0, "udmabuf: %ld attachments left",
			      attachments(u.fd));

	/* read-only access to the read-only buffer is fine */
	if (!ret) {
		struct ibv_mr *mr = ibv_reg_dmabuf_mr(dev.pd, 0, MiB, 0, ro.fd,
						      IBV_ACCESS_REMOTE_READ);
		uint64_t v = 0x1122334455667788ull;

		if (!mr) {
			ret = rt_fail(errno, "read-only MR on a read-only "
				      "buffer");
		} else {
			ret = dbuf_write(&ro, 4096, &v, 8) ||
			      rdma(IBV_WR_RDMA_READ, lbuf, 8, 4096, mr->rkey);
			if (!ret && memcmp(lbuf, &v, 8))
				ret = rt_fail(0, "READ from the read-only "
					      "buffer: wrong data");
			ibv_dereg_mr(mr);
		}
	}
	dbuf_close(&u);
	dbuf_close(&ro);
	dbuf_close(&pic);
	dbuf_close(&wc);
	dbuf_close(&sgt);
	close(file);
	close(memfd);
	close(efd);
	return ret;
}

struct test {
	const char *name;
	int (*fn)(void);
	int huge;		/* 2 MiB hugetlb pages it needs */
	int exporter;		/* needs phyr_test_exporter */
};

static const struct test tests[] = {
	{ "udmabuf-shmem", t_udmabuf_shmem, 0, 0 },
	{ "udmabuf-shmem-huge", t_udmabuf_shmem_huge, 0, 0 },
	{ "udmabuf-hugetlb", t_udmabuf_hugetlb, 4, 0 },
	{ "heap-system", t_heap, 0, 0 },
	{ "mmap-vmap", t_mmap_vmap, 1, 1 },
	{ "test-exporter", t_test_exporter, 0, 1 },
	{ "fd-closed", t_fd_closed, 0, 0 },
	{ "many-mrs", t_many_mrs, 2, 0 },
	{ "move-during-traffic", t_move_during_traffic, 0, 1 },
	{ "revoke-during-traffic", t_revoke_during_traffic, 0, 1 },
	{ "process-exit", t_process_exit, 0, 1 },
	{ "bad-input", t_bad_input, 0, 1 },
	{ "split-ranges", t_split_ranges, 0, 1 },
	{ "flush-access", t_flush_access, 0, 1 },
};

static int run(const struct test *t)
{
	int64_t before = pins_outstanding();
	struct pte_status st0, st1;
	char n[32];
	int ret;

	printf("dmabuf.%s\n", t->name);
	if (t->exporter && pte_fd < 0) {
		printf("  /dev/phyr_test_exporter is missing\n");
		printf("PHYRLAB-TEST: dmabuf.%s FAIL\n", t->name);
		return -1;
	}
	if (t->huge) {
		snprintf(n, sizeof(n), "%d", t->huge);
		if (write_file("/proc/sys/vm/nr_hugepages", n) ||
		    read_long("/proc/sys/vm/nr_hugepages") < t->huge) {
			printf("FAIL: could not reserve %d hugetlb pages\n",
			       t->huge);
			printf("PHYRLAB-TEST: dmabuf.%s FAIL\n", t->name);
			return -1;
		}
	}
	if (pte_fd >= 0 && pte_status(-1, &st0))
		return -1;
	ret = t->fn();
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
	if (t->huge)
		write_file("/proc/sys/vm/nr_hugepages", "0");
	printf("PHYRLAB-TEST: dmabuf.%s %s\n", t->name, ret ? "FAIL" : "PASS");
	fflush(stdout);
	return ret;
}

int main(int argc, char **argv)
{
	const char *devname = NULL;
	int i, j, opt, failed = 0;

	while ((opt = getopt(argc, argv, "d:l")) != -1) {
		if (opt == 'd') {
			devname = optarg;
		} else if (opt == 'l') {
			for (i = 0; i < (int)(sizeof(tests) / sizeof(tests[0]));
			     i++)
				puts(tests[i].name);
			return 0;
		} else {
			fprintf(stderr, "usage: dmabuf_reg [-d dev] [-l] "
				"[test...]\n");
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	pte_fd = open("/dev/phyr_test_exporter", O_RDWR | O_CLOEXEC);
	if (rt_open(&dev, devname) || rt_reconnect(&dev, &qa, &qb))
		return 1;
	lbuf = mmap(NULL, LBUF_LEN, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (lbuf == MAP_FAILED)
		return rt_fail(errno, "mmap") ? 1 : 1;
	lmr = ibv_reg_mr(dev.pd, lbuf, LBUF_LEN, ACCESS_ALL);
	if (!lmr)
		return rt_fail(errno, "ibv_reg_mr local") ? 1 : 1;

	for (i = 0; i < (int)(sizeof(tests) / sizeof(tests[0])); i++) {
		int wanted = optind == argc;

		for (j = optind; j < argc; j++)
			wanted |= !strcmp(argv[j], tests[i].name);
		if (wanted && run(&tests[i]))
			failed++;
	}
	ibv_dereg_mr(lmr);
	ibv_destroy_qp(qa);
	ibv_destroy_qp(qb);
	rt_close(&dev);
	return failed ? 1 : 0;
}
