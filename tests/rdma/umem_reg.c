// SPDX-License-Identifier: GPL-2.0
/*
 * ibv_reg_mr over every kind of user memory the kernel pins, checked by
 * moving data over RDMA and reading it back through the CPU.
 *
 *   umem_reg [-d dev] [-q] [test...]     (no test: all; -l lists them)
 *
 * Every test reports "PHYRLAB-TEST: umem.<name> PASS|FAIL|SKIP" and must
 * leave /proc/vmstat's FOLL_PIN counters where it found them.  Pin counts
 * also tell the two pinning paths apart: memfd_pin_folios() takes one pin
 * per folio, pin_user_pages() one per page.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "memkind.h"
#include "rdmatest.h"

#define ACCESS_ALL (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
		    IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)

static struct rt_dev dev;
static struct ibv_qp *qa, *qb;
/* the local side of every transfer: plain anonymous memory */
static uint8_t *lbuf;
static struct ibv_mr *lmr;
#define LBUF_LEN (4 * MiB)

/* ---- transfers ---- */

static int rdma(enum ibv_wr_opcode op, void *local, uint32_t len,
		uint64_t remote, uint32_t rkey)
{
	struct ibv_sge sge = { .addr = (uintptr_t)local, .length = len,
			       .lkey = lmr->lkey };
	struct ibv_send_wr wr = { .wr_id = 1, .sg_list = &sge, .num_sge = 1,
				  .opcode = op };
	struct ibv_wc wc;

	wr.wr.rdma.remote_addr = remote;
	wr.wr.rdma.rkey = rkey;
	return rt_send_wait(&dev, qa, &wr, &wc);
}

/*
 * WRITE into [at, at + len) of @mr, compare through the CPU; fill through
 * the CPU, READ it back; SEND into it.  Chunks of at most LBUF_LEN.
 */
static int check_window(struct ibv_mr *mr, uint8_t *at, size_t len,
			uint32_t seed)
{
	struct ibv_send_wr wr, *bad;
	struct ibv_sge sge;
	struct ibv_wc wc;

	while (len) {
		uint32_t n = len > LBUF_LEN ? LBUF_LEN : (uint32_t)len;
		long b;

		rt_fill(lbuf, n, seed);
		memset(at, 0, n);
		if (rdma(IBV_WR_RDMA_WRITE, lbuf, n, (uintptr_t)at, mr->rkey))
			return -1;
		b = rt_check(at, n, seed);
		if (b >= 0)
			return rt_fail(0, "WRITE %u bytes at %p: CPU sees a "
				       "mismatch at byte %ld", n, at, b);

		rt_fill(at, n, seed + 1);
		memset(lbuf, 0, n);
		if (rdma(IBV_WR_RDMA_READ, lbuf, n, (uintptr_t)at, mr->rkey))
			return -1;
		b = rt_check(lbuf, n, seed + 1);
		if (b >= 0)
			return rt_fail(0, "READ %u bytes at %p: mismatch at "
				       "byte %ld", n, at, b);

		rt_fill(lbuf, n, seed + 2);
		memset(at, 0, n);
		if (rt_post_recv(qb, at, n, mr->lkey, 7))
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
		b = rt_check(at, n, seed + 2);
		if (b >= 0)
			return rt_fail(0, "SEND %u bytes at %p: mismatch at "
				       "byte %ld", n, at, b);
		at += n;
		len -= n;
		seed += 3;
	}
	return 0;
}

/* FETCH_ADD and CMP_SWP on the 8-byte word at @at, checked by the CPU. */
static int check_atomic(struct ibv_mr *mr, uint64_t *at)
{
	struct ibv_sge sge = { .addr = (uintptr_t)lbuf, .length = 8,
			       .lkey = lmr->lkey };
	struct ibv_send_wr wr = { .wr_id = 9, .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_ATOMIC_FETCH_AND_ADD };
	uint64_t *res = (uint64_t *)lbuf;
	struct ibv_wc wc;

	*at = 40;
	wr.wr.atomic.remote_addr = (uintptr_t)at;
	wr.wr.atomic.rkey = mr->rkey;
	wr.wr.atomic.compare_add = 2;
	if (rt_send_wait(&dev, qa, &wr, &wc))
		return -1;
	if (*res != 40 || *at != 42)
		return rt_fail(0, "FETCH_ADD at %p: returned %" PRIu64
			       ", memory %" PRIu64, at, *res, *at);
	wr.opcode = IBV_WR_ATOMIC_CMP_AND_SWP;
	wr.wr.atomic.compare_add = 42;
	wr.wr.atomic.swap = 7;
	if (rt_send_wait(&dev, qa, &wr, &wc))
		return -1;
	if (*res != 42 || *at != 7)
		return rt_fail(0, "CMP_SWP at %p: returned %" PRIu64
			       ", memory %" PRIu64, at, *res, *at);
	return 0;
}

/* Windows of a large MR worth checking: ends, and around 2 MiB lines. */
static int check_mr(struct ibv_mr *mr, uint8_t *start, size_t len)
{
	size_t w = 64 * KiB, off;
	uint32_t seed = (uint32_t)len;

	if (len <= 8 * MiB)
		return check_window(mr, start, len, seed) ||
		       (len >= 8 && check_atomic(mr, (uint64_t *)
				(((uintptr_t)start + len - 8) & ~7ul)));
	if (check_window(mr, start, w, seed) ||
	    check_window(mr, start + len - w, w, seed + 10))
		return -1;
	/* across 2 MiB lines at a few places through the MR */
	for (off = HPAGE; off + HPAGE < len; off += len / 7) {
		uint8_t *line = (uint8_t *)(((uintptr_t)start + off) &
					    ~(HPAGE - 1));

		if (check_window(mr, line - 3000, 6000, seed + 20) ||
		    check_atomic(mr, (uint64_t *)(line - 8)) ||
		    check_atomic(mr, (uint64_t *)line))
			return -1;
	}
	return 0;
}

/*
 * Register [base + off, base + off + len) of a fresh region of @kind,
 * check it, and check the pin count while registered.  @folio_pins: the
 * memfd path is expected (one pin per 2 MiB folio) rather than GUP.
 */
static int reg_case(enum kind kind, size_t map_len, size_t off, size_t len,
		    int huge_folio_pins)
{
	struct region r;
	struct ibv_mr *mr;
	int64_t before, pinned, want;
	size_t first, last;
	int ret = -1;

	if (region_map(&r, kind, map_len))
		return -1;
	before = pins_outstanding();
	mr = ibv_reg_mr(dev.pd, r.base + off, len, ACCESS_ALL);
	if (!mr) {
		rt_fail(errno, "%s: ibv_reg_mr(%zu bytes at +%zu)",
			kind_name[kind], len, off);
		goto out;
	}
	pinned = pins_outstanding() - before;
	first = (off) & ~4095ul;
	last = (off + len + 4095) & ~4095ul;
	want = (int64_t)((last - first) / 4096);
	if (huge_folio_pins)
		want = (int64_t)(((off + len + HPAGE - 1) & ~(HPAGE - 1)) -
				 (off & ~(HPAGE - 1))) / (int64_t)HPAGE;
	if (pinned != want) {
		rt_fail(0, "%s: %zu bytes at +%zu took %" PRId64 " pins, "
			"expected %" PRId64 " (%s)", kind_name[kind], len, off,
			pinned, want, huge_folio_pins ? "one per folio" :
							 "one per page");
		ibv_dereg_mr(mr);
		goto out;
	}
	ret = check_mr(mr, r.base + off, len);
	if (ret)
		printf("  in %s, %zu bytes at +%zu\n", kind_name[kind], len,
		       off);
	if (ibv_dereg_mr(mr))
		ret = rt_fail(errno, "ibv_dereg_mr");
	if (pins_outstanding() != before)
		ret = rt_fail(0, "%s: %" PRId64 " pins left after dereg",
			      kind_name[kind], pins_outstanding() - before);
out:
	region_unmap(&r);
	return ret;
}

/* ---- tests ---- */

static int t_anon_sizes(void)
{
	static const size_t sizes[] = { 1, 7, 4095, 4096, 4097, 8191,
					65536 + 3, MiB + 5, 3 * MiB + 77 };
	static const size_t offs[] = { 0, 1, 4093 };
	size_t i, j, pages, runs;
	struct region r;

	/* prove the fragmentation the corpus relies on */
	if (region_map(&r, ANON_FRAGMENTED, 8 * MiB) ||
	    pfn_runs(r.base, r.len, &pages, &runs, NULL))
		return -1;
	region_unmap(&r);
	printf("  anon-fragmented: %zu pages in %zu physical runs\n", pages,
	       runs);
	if (runs < pages * 9 / 10)
		return rt_fail(0, "anon-fragmented memory is not fragmented "
			       "(%zu runs for %zu pages)", runs, pages);

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		for (j = 0; j < sizeof(offs) / sizeof(offs[0]); j++)
			if (reg_case(ANON_FRAGMENTED, 8 * MiB, offs[j],
				     sizes[i], 0))
				return -1;
	return 0;
}

static int t_thp(void)
{
	size_t pages, runs;
	struct region r;

	if (region_map(&r, ANON_THP, 8 * MiB) ||
	    pfn_runs(r.base, r.len, &pages, &runs, NULL))
		return -1;
	region_unmap(&r);
	printf("  anon-thp: %zu pages in %zu physical runs\n", pages, runs);
	if (runs > pages / 512)
		return rt_fail(0, "no huge pages: %zu runs for %zu pages",
			       runs, pages);
	return reg_case(ANON_THP, 8 * MiB, 0, 8 * MiB, 0) ||
	       reg_case(ANON_THP, 8 * MiB, HPAGE - 100, 4 * MiB + 200, 0);
}

static int t_hugetlb(void)
{
	return reg_case(ANON_HUGETLB, 8 * MiB, 0, 8 * MiB, 0) ||
	       reg_case(ANON_HUGETLB, 8 * MiB, 5, HPAGE, 0);
}

static int t_memfd_shmem(void)
{
	return reg_case(MEMFD_SHMEM, 8 * MiB, 0, 8 * MiB, 0) ||
	       reg_case(MEMFD_SHMEM, 8 * MiB, 4000, 3 * MiB + 1, 0);
}

static int t_memfd_shmem_huge(void)
{
	const char *knob = "/sys/kernel/mm/transparent_hugepage/shmem_enabled";
	char was[128] = "never", *open_b, *close_b;
	FILE *f = fopen(knob, "r");
	int ret;

	/* "always within_size advise [never] deny force": keep the choice */
	if (f) {
		if (fgets(was, sizeof(was), f) &&
		    (open_b = strchr(was, '[')) &&
		    (close_b = strchr(open_b, ']'))) {
			*close_b = 0;
			memmove(was, open_b + 1, strlen(open_b + 1) + 1);
		}
		fclose(f);
	}
	if (write_file(knob, "always"))
		return rt_fail(errno, "%s", knob);
	ret = reg_case(MEMFD_SHMEM_HUGE, 8 * MiB, 0, 8 * MiB, 1) ||
	      reg_case(MEMFD_SHMEM_HUGE, 8 * MiB, HPAGE + 12, 3 * MiB, 1);
	write_file(knob, was);
	return ret;
}

static int t_memfd_hugetlb(void)
{
	return reg_case(MEMFD_HUGETLB, 8 * MiB, 0, 8 * MiB, 1) ||
	       reg_case(MEMFD_HUGETLB, 8 * MiB, 3, HPAGE + 10, 1);
}

static int t_memfd_private(void)
{
	return reg_case(MEMFD_PRIVATE, 4 * MiB, 0, 4 * MiB, 0);
}

static int t_one_gib(void)
{
	return reg_case(ANON_THP, GiB, 0, GiB, 0) ||
	       reg_case(MEMFD_HUGETLB, GiB, 0, GiB, 1);
}

/* WRITE and READ with the local side spread over two MRs. */
static int t_two_mrs(void)
{
	struct region a, b;
	struct ibv_mr *ma = NULL, *mb = NULL, *rm = NULL;
	struct ibv_sge sge[2];
	struct ibv_send_wr wr = { .wr_id = 11, .sg_list = sge, .num_sge = 2 };
	struct ibv_wc wc;
	uint8_t *remote = lbuf + MiB;
	int ret = -1;

	if (region_map(&a, ANON_FRAGMENTED, MiB) ||
	    region_map(&b, MEMFD_HUGETLB, HPAGE))
		return -1;
	ma = ibv_reg_mr(dev.pd, a.base, a.len, ACCESS_ALL);
	mb = ibv_reg_mr(dev.pd, b.base, b.len, ACCESS_ALL);
	rm = lmr;
	if (!ma || !mb) {
		rt_fail(errno, "ibv_reg_mr");
		goto out;
	}
	/* last 5000 bytes of a, then first 7000 of b */
	sge[0] = (struct ibv_sge){ .addr = (uintptr_t)(a.base + a.len - 5000),
				   .length = 5000, .lkey = ma->lkey };
	sge[1] = (struct ibv_sge){ .addr = (uintptr_t)b.base, .length = 7000,
				   .lkey = mb->lkey };
	rt_fill(a.base + a.len - 5000, 5000, 77);
	rt_fill(b.base, 7000, 78);
	memset(remote, 0, 12000);
	wr.opcode = IBV_WR_RDMA_WRITE;
	wr.wr.rdma.remote_addr = (uintptr_t)remote;
	wr.wr.rdma.rkey = rm->rkey;
	if (rt_send_wait(&dev, qa, &wr, &wc))
		goto out;
	if (rt_check(remote, 5000, 77) >= 0 ||
	    rt_check(remote + 5000, 7000, 78) >= 0) {
		rt_fail(0, "WRITE from two MRs: data differs");
		goto out;
	}
	memset(a.base + a.len - 5000, 0, 5000);
	memset(b.base, 0, 7000);
	wr.opcode = IBV_WR_RDMA_READ;
	if (rt_send_wait(&dev, qa, &wr, &wc))
		goto out;
	if (rt_check(a.base + a.len - 5000, 5000, 77) >= 0 ||
	    rt_check(b.base, 7000, 78) >= 0) {
		rt_fail(0, "READ into two MRs: data differs");
		goto out;
	}
	ret = 0;
out:
	if (ma)
		ibv_dereg_mr(ma);
	if (mb)
		ibv_dereg_mr(mb);
	region_unmap(&a);
	region_unmap(&b);
	return ret;
}

/* The MR keeps the parent's pages; the child's writes go to its copies. */
static int t_fork(void)
{
	struct region r;
	struct ibv_mr *mr;
	int status, ret = -1;
	pid_t pid;

	if (region_map(&r, ANON_FRAGMENTED, MiB))
		return -1;
	mr = ibv_reg_mr(dev.pd, r.base, r.len, ACCESS_ALL);
	if (!mr) {
		rt_fail(errno, "ibv_reg_mr");
		goto out;
	}
	pid = fork();
	if (pid == 0) {
		memset(r.base, 0xee, r.len);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || status) {
		rt_fail(errno, "fork/wait");
		goto dereg;
	}
	if (r.base[0] == 0xee) {
		rt_fail(0, "the child's write reached the parent");
		goto dereg;
	}
	ret = check_window(mr, r.base, r.len, 5);
dereg:
	ibv_dereg_mr(mr);
out:
	region_unmap(&r);
	return ret;
}

/* munmap while registered: the MR works, pins stay until dereg. */
static int t_munmap_registered(void)
{
	struct region r;
	struct ibv_mr *mr;
	int64_t before = pins_outstanding(), held;
	uint8_t *back = lbuf + 2 * MiB;
	size_t len = MiB;

	if (region_map(&r, ANON_FRAGMENTED, len))
		return -1;
	mr = ibv_reg_mr(dev.pd, r.base, len, ACCESS_ALL);
	if (!mr)
		return rt_fail(errno, "ibv_reg_mr");
	munmap(r.base, len);
	held = pins_outstanding() - before;
	if (held != (int64_t)(len / 4096)) {
		ibv_dereg_mr(mr);
		return rt_fail(0, "after munmap %" PRId64 " pins held, want %zu",
			       held, len / 4096);
	}
	/* the pages are only reachable over RDMA now */
	rt_fill(lbuf, len, 31);
	if (rdma(IBV_WR_RDMA_WRITE, lbuf, (uint32_t)len, (uintptr_t)r.base,
		 mr->rkey))
		return -1;
	memset(back, 0, len);
	if (rdma(IBV_WR_RDMA_READ, back, (uint32_t)len, (uintptr_t)r.base,
		 mr->rkey))
		return -1;
	if (rt_check(back, len, 31) >= 0)
		return rt_fail(0, "data of the unmapped MR differs");
	if (ibv_dereg_mr(mr))
		return rt_fail(errno, "ibv_dereg_mr");
	if (pins_outstanding() != before)
		return rt_fail(0, "pins left after dereg");
	return 0;
}

/* An ODP MR (no pinning: umem_odp) next to pinned ones still works. */
static int t_odp(void)
{
	struct ibv_device_attr_ex attr = {};
	struct region r;
	struct ibv_mr *mr;
	int64_t before;
	int ret;

	if (ibv_query_device_ex(dev.ctx, NULL, &attr))
		return rt_fail(errno, "ibv_query_device_ex");
	if (!(attr.odp_caps.general_caps & IBV_ODP_SUPPORT) ||
	    !(attr.odp_caps.per_transport_caps.rc_odp_caps &
	      IBV_ODP_SUPPORT_WRITE))
		return rt_fail(0, "rxe reports no RC ODP support");
	if (region_map(&r, ANON_FRAGMENTED, 2 * MiB))
		return -1;
	before = pins_outstanding();
	mr = ibv_reg_mr(dev.pd, r.base + 100, r.len - 200,
			ACCESS_ALL | IBV_ACCESS_ON_DEMAND);
	if (!mr) {
		region_unmap(&r);
		return rt_fail(errno, "ibv_reg_mr(ON_DEMAND)");
	}
	if (pins_outstanding() != before)
		ret = rt_fail(0, "an ODP MR pinned %" PRId64 " pages",
			      pins_outstanding() - before);
	else
		ret = check_mr(mr, r.base + 100, r.len - 200);
	ibv_dereg_mr(mr);
	region_unmap(&r);
	return ret;
}

/* A type 2 memory window bound inside a pinned MR: remote access by it. */
static int t_mw(void)
{
	struct region r;
	struct ibv_mr *mr;
	struct ibv_mw *mw;
	struct ibv_send_wr wr = { .wr_id = 21, .opcode = IBV_WR_BIND_MW };
	struct ibv_wc wc;
	uint8_t *win;
	size_t wlen = 3 * 4096 + 5;
	int ret = -1;

	if (region_map(&r, MEMFD_HUGETLB, HPAGE))
		return -1;
	mr = ibv_reg_mr(dev.pd, r.base, r.len, ACCESS_ALL |
			IBV_ACCESS_MW_BIND);
	mw = ibv_alloc_mw(dev.pd, IBV_MW_TYPE_2);
	if (!mr || !mw) {
		rt_fail(errno, "ibv_reg_mr/ibv_alloc_mw");
		goto out;
	}
	win = r.base + HPAGE / 2 - 4096 - 3;
	wr.bind_mw.mw = mw;
	wr.bind_mw.rkey = ibv_inc_rkey(mw->rkey);
	wr.bind_mw.bind_info.mr = mr;
	wr.bind_mw.bind_info.addr = (uintptr_t)win;
	wr.bind_mw.bind_info.length = wlen;
	wr.bind_mw.bind_info.mw_access_flags = IBV_ACCESS_REMOTE_WRITE |
					       IBV_ACCESS_REMOTE_READ;
	if (rt_send_wait(&dev, qb, &wr, &wc))
		goto out;
	rt_fill(lbuf, wlen, 61);
	memset(win, 0, wlen);
	if (rdma(IBV_WR_RDMA_WRITE, lbuf, (uint32_t)wlen, (uintptr_t)win,
		 wr.bind_mw.rkey))
		goto out;
	if (rt_check(win, wlen, 61) >= 0) {
		rt_fail(0, "WRITE through the window: data differs");
		goto out;
	}
	memset(lbuf, 0, wlen);
	if (rdma(IBV_WR_RDMA_READ, lbuf, (uint32_t)wlen, (uintptr_t)win,
		 wr.bind_mw.rkey))
		goto out;
	ret = rt_check(lbuf, wlen, 61) >= 0 ?
		rt_fail(0, "READ through the window: data differs") : 0;
out:
	if (mw)
		ibv_dealloc_mw(mw);
	if (mr)
		ibv_dereg_mr(mr);
	region_unmap(&r);
	return ret;
}

struct race {
	uint8_t *addr;
	size_t len;
	volatile int stop;
};

static void *unmapper(void *arg)
{
	struct race *rc = arg;

	while (!rc->stop) {
		munmap(rc->addr, rc->len);
		sched_yield();
		if (mmap(rc->addr, rc->len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
		    MAP_FAILED)
			break;
		memset(rc->addr, 2, rc->len);
	}
	return NULL;
}

/* Registration racing munmap from another thread: succeed or EFAULT. */
static int t_race_munmap(void)
{
	struct race rc = { .len = 2 * MiB };
	int i, ok = 0, efault = 0, ret = 0;
	pthread_t th;

	rc.addr = mmap(NULL, rc.len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (rc.addr == MAP_FAILED)
		return rt_fail(errno, "mmap");
	if (pthread_create(&th, NULL, unmapper, &rc))
		return rt_fail(0, "pthread_create");
	for (i = 0; i < 200 && !ret; i++) {
		struct ibv_mr *mr = ibv_reg_mr(dev.pd, rc.addr, rc.len,
					       ACCESS_ALL);

		if (mr) {
			ok++;
			if (ibv_dereg_mr(mr))
				ret = rt_fail(errno, "ibv_dereg_mr");
		} else if (errno == EFAULT) {
			efault++;
		} else {
			ret = rt_fail(errno, "ibv_reg_mr racing munmap");
		}
	}
	rc.stop = 1;
	pthread_join(th, NULL);
	munmap(rc.addr, rc.len);
	printf("  200 registrations racing munmap: %d registered, %d EFAULT\n",
	       ok, efault);
	return ret;
}

/* Drop CAP_IPC_LOCK from this process (RLIMIT_MEMLOCK then applies). */
static int drop_ipc_lock(void)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -1;
	d[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
	d[CAP_IPC_LOCK / 32].permitted &= ~(1u << (CAP_IPC_LOCK % 32));
	return (int)syscall(SYS_capset, &h, d);
}

static int expect_errno(const char *what, void *addr, size_t len, int access,
			int want)
{
	int64_t before = pins_outstanding();
	struct ibv_mr *mr = ibv_reg_mr(dev.pd, addr, len, access);
	int err = errno;

	if (mr) {
		ibv_dereg_mr(mr);
		return rt_fail(0, "%s: registered, expected errno %d", what,
			       want);
	}
	if (err != want)
		return rt_fail(err, "%s: expected errno %d (%s), got", what,
			       want, strerror(want));
	if (pins_outstanding() != before)
		return rt_fail(0, "%s: %" PRId64 " pins left behind", what,
			       pins_outstanding() - before);
	printf("  %s: errno %d (%s)\n", what, err, strerror(err));
	return 0;
}

/* Bad input gets the errno stock Linux 7.2 gives and pins nothing. */
static int t_bad_input(void)
{
	uint8_t *p = mmap(NULL, MiB, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *ro = mmap(NULL, MiB, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
			   -1, 0);
	uint8_t *gone = mmap(NULL, MiB, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fd = memfd_create("ro", 0), status;
	uint8_t *ro_shared;
	pid_t pid;

	if (p == MAP_FAILED || ro == MAP_FAILED || gone == MAP_FAILED ||
	    fd < 0 || ftruncate(fd, MiB))
		return rt_fail(errno, "setup");
	ro_shared = mmap(NULL, MiB, PROT_READ, MAP_SHARED, fd, 0);
	if (ro_shared == MAP_FAILED)
		return rt_fail(errno, "mmap memfd read-only");
	munmap(gone, MiB);
	memset(p, 0, MiB);

	if (expect_errno("length 0", p, 0, ACCESS_ALL, EINVAL) ||
	    expect_errno("address wrap-around",
			 (void *)(uintptr_t)0xfffffffffffff000ull, 0x2000,
			 ACCESS_ALL, EINVAL) ||
	    expect_errno("write access on a read-only mapping", ro, MiB,
			 ACCESS_ALL, EFAULT) ||
	    expect_errno("write access on a read-only shared memfd mapping",
			 ro_shared, MiB, ACCESS_ALL, EFAULT) ||
	    expect_errno("unmapped address", gone, MiB, ACCESS_ALL, EFAULT) ||
	    expect_errno("remote write without local write", p, MiB,
			 IBV_ACCESS_REMOTE_WRITE, EINVAL))
		return -1;

	/* RLIMIT_MEMLOCK, in a child that gives up CAP_IPC_LOCK */
	pid = fork();
	if (pid == 0) {
		struct rlimit rl = { 64 * KiB, 64 * KiB };

		if (setrlimit(RLIMIT_MEMLOCK, &rl) || drop_ipc_lock())
			_exit(rt_fail(errno, "setrlimit/capset") ? 2 : 2);
		_exit(expect_errno("RLIMIT_MEMLOCK of 64 KiB exceeded", p, MiB,
				   ACCESS_ALL, ENOMEM) ? 1 : 0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid ||
	    !WIFEXITED(status) || WEXITSTATUS(status))
		return rt_fail(0, "RLIMIT_MEMLOCK case failed");

	munmap(p, MiB);
	munmap(ro, MiB);
	munmap(ro_shared, MiB);
	close(fd);
	return 0;
}

struct test {
	const char *name;
	int (*fn)(void);
	int huge;	/* needs 2 MiB hugetlb pages (count) */
};

static const struct test tests[] = {
	{ "anon-sizes", t_anon_sizes, 0 },
	{ "anon-thp", t_thp, 0 },
	{ "anon-hugetlb", t_hugetlb, 8 },
	{ "memfd-shmem", t_memfd_shmem, 0 },
	{ "memfd-shmem-huge", t_memfd_shmem_huge, 0 },
	{ "memfd-hugetlb", t_memfd_hugetlb, 8 },
	{ "memfd-private", t_memfd_private, 0 },
	{ "one-gib", t_one_gib, 512 },
	{ "two-mrs", t_two_mrs, 1 },
	{ "fork", t_fork, 0 },
	{ "munmap-registered", t_munmap_registered, 0 },
	{ "race-munmap", t_race_munmap, 0 },
	{ "odp", t_odp, 0 },
	{ "memory-window", t_mw, 1 },
	{ "bad-input", t_bad_input, 0 },
};

static int run(const struct test *t)
{
	int64_t before = pins_outstanding();
	char n[32];
	int ret;

	if (t->huge) {
		snprintf(n, sizeof(n), "%d", t->huge);
		if (write_file("/proc/sys/vm/nr_hugepages", n) ||
		    read_long("/proc/sys/vm/nr_hugepages") < t->huge) {
			write_file("/proc/sys/vm/nr_hugepages", "0");
			printf("FAIL: could not reserve %d hugetlb pages\n",
			       t->huge);
			printf("PHYRLAB-TEST: umem.%s FAIL\n", t->name);
			return -1;
		}
	}
	printf("umem.%s\n", t->name);
	fflush(stdout);
	ret = t->fn();
	if (!ret && pins_outstanding() != before)
		ret = rt_fail(0, "%" PRId64 " pins outstanding after the test",
			      pins_outstanding() - before);
	if (t->huge)
		write_file("/proc/sys/vm/nr_hugepages", "0");
	printf("PHYRLAB-TEST: umem.%s %s\n", t->name, ret ? "FAIL" : "PASS");
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
			fprintf(stderr, "usage: umem_reg [-d dev] [-l] [test...]\n");
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* THP where asked for (MADV_HUGEPAGE), whatever the boot default */
	write_file("/sys/kernel/mm/transparent_hugepage/enabled", "madvise");
	if (rt_open(&dev, devname))
		return 1;
	qa = rt_rc_qp(&dev);
	qb = rt_rc_qp(&dev);
	if (!qa || !qb || rt_connect(&dev, qa, qb))
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
