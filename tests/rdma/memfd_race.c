// SPDX-License-Identifier: GPL-2.0
/*
 * Registrations of memfd memory (>= 2 MiB of a shared mapping of a shmem or
 * hugetlbfs memfd: pinned by memfd_pin_folios(), see ib_umem_memfd_of())
 * against what can change the mapping or the file in the meantime, and bad
 * memfd input.
 *
 *   memfd_race [-d dev] [-l] [-n iterations] [-s seed] [test...]
 *
 * Every test reports "PHYRLAB-TEST: memfd.<name> PASS|FAIL|SKIP" and must
 * leave /proc/vmstat's FOLL_PIN counters where it found them; the races
 * check that after every iteration.
 *
 * The races.  The registering thread (A, the main thread) checks the VMA
 * and pins; another thread (B) munmaps and seals, mprotects, registers a
 * userfaultfd or truncates.  Check and pin must be one step for B: the
 * kernel holds the mmap lock across both, so B's munmap, mprotect or
 * userfaultfd registration lands before the check (the registration fails
 * or takes the GUP path) or after the pin, and its seal fails while the
 * writable mapping or the pins exist.  B starts after a random delay within one
 * registration's time, measured beforehand.  Odd iterations: B spins on the
 * other CPU.  Even ones: B is a SCHED_FIFO thread on A's CPU woken by a
 * timer; it preempts the registration wherever it is and runs to the end
 * unless it blocks on a lock the registration holds, which is how it lands
 * in the window between check and pin.  What each race can observe is said
 * at its judge.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "memkind.h"
#include "rdmatest.h"

#define SKIP 1
#define WRITABLE (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE)
#define ACCESS (WRITABLE | IBV_ACCESS_REMOTE_READ)
#define MS 1000000ull

static const char *devname;
static struct rt_dev dev;
static struct ibv_qp *qa, *qb;
/* the local side of every transfer: plain anonymous memory */
static uint8_t *lbuf;
static struct ibv_mr *lmr;
#define LBUF_LEN (4 * MiB)
static int iterations;		/* -n: every race this many times */
static uint64_t rng;
static char hugepages_was[32] = "0";

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* nr_foll_pin_acquired, counters folded first */
static int64_t pins_acquired(void)
{
	write_file("/proc/sys/vm/stat_refresh", "1");
	return vmstat("nr_foll_pin_acquired");
}

/*
 * Bytes of the file allocated (st_blocks): shmem counts a page when it
 * allocates it, hugetlbfs when it adds the folio to the file.  Exact and
 * cheap, unlike the pin counters, so a racing thread can read it the
 * moment its own operation returns.
 */
static int64_t file_bytes(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? -1 : (int64_t)st.st_blocks * 512;
}

/* A memfd of @size bytes, nothing allocated, or -1. */
static int new_memfd(const char *name, size_t size, unsigned int flags)
{
	int fd = memfd_create(name, MFD_CLOEXEC | flags);

	if (fd < 0)
		return rt_fail(errno, "memfd_create(%s)", name);
	if (ftruncate(fd, (off_t)size)) {
		rt_fail(errno, "ftruncate(%s, %zu)", name, size);
		close(fd);
		return -1;
	}
	return fd;
}

/* Write @len bytes of pattern @seed to @fd; the pattern stays in *@img. */
static int fill_file(int fd, size_t len, uint32_t seed, uint8_t **img)
{
	*img = malloc(len);
	if (!*img)
		return rt_fail(ENOMEM, "malloc");
	rt_fill(*img, len, seed);
	if (pwrite(fd, *img, len, 0) != (ssize_t)len)
		return rt_fail(errno, "pwrite");
	return 0;
}

/* The file's bytes [off, off + n) are @want. */
static int file_is(int fd, size_t off, const void *want, size_t n,
		   const char *what)
{
	uint8_t *got = malloc(n);
	int ret = 0;

	if (!got)
		return rt_fail(ENOMEM, "malloc");
	if (pread(fd, got, n, (off_t)off) != (ssize_t)n)
		ret = rt_fail(errno, "pread");
	else if (memcmp(got, want, n))
		ret = rt_fail(0, "%s: the file's bytes at %zu differ", what,
			      off);
	free(got);
	return ret;
}

/* RDMA WRITE @n bytes of pattern @seed at @at of @mr, READ them back. */
static int write_read(struct ibv_mr *mr, void *at, uint32_t n, uint32_t seed)
{
	uint8_t *back = lbuf + LBUF_LEN / 2;

	rt_fill(lbuf, n, seed);
	if (rt_rdma(&dev, qa, IBV_WR_RDMA_WRITE, lbuf, n, lmr->lkey,
		    (uintptr_t)at, mr->rkey))
		return -1;
	memset(back, 0, n);
	if (rt_rdma(&dev, qa, IBV_WR_RDMA_READ, back, n, lmr->lkey,
		    (uintptr_t)at, mr->rkey))
		return -1;
	if (rt_check(back, n, seed) >= 0)
		return rt_fail(0, "WRITE then READ of %u bytes at %p differ",
			       n, at);
	return 0;
}

/* RDMA READ @n bytes at @at of @mr: they must be @want. */
static int read_is(struct ibv_mr *mr, void *at, uint32_t n, const void *want)
{
	memset(lbuf, 0, n);
	if (rt_rdma(&dev, qa, IBV_WR_RDMA_READ, lbuf, n, lmr->lkey,
		    (uintptr_t)at, mr->rkey))
		return -1;
	if (memcmp(lbuf, want, n))
		return rt_fail(0, "READ of %u bytes at %p: not the file's "
			       "bytes", n, at);
	return 0;
}

/*
 * Register [addr, addr + len) with @access and expect errno @want or @alt
 * (0: none) with nothing left pinned, or success (want == 0) with @pins
 * pins taken (-1: any number).  A success goes to *@keep if @keep, else is
 * deregistered (pins balanced).
 */
static int expect_reg(const char *what, void *addr, size_t len, int access,
		      int want, int alt, int64_t pins, struct ibv_mr **keep)
{
	int64_t before = pins_outstanding(), took;
	struct ibv_mr *mr = ibv_reg_mr(dev.pd, addr, len, access);
	int err = errno;

	if (!mr) {
		if (!want)
			return rt_fail(err, "%s: ibv_reg_mr", what);
		if (err != want && (!alt || err != alt))
			return rt_fail(err, "%s: expected errno %d (%s), got",
				       what, want, strerror(want));
		took = pins_outstanding() - before;
		if (took)
			return rt_fail(0, "%s: %" PRId64 " pins left behind",
				       what, took);
		printf("  %s: errno %d (%s)\n", what, err, strerror(err));
		return 0;
	}
	took = pins_outstanding() - before;
	if (want) {
		ibv_dereg_mr(mr);
		return rt_fail(0, "%s: registered (%" PRId64 " pins), "
			       "expected errno %d (%s)", what, took, want,
			       strerror(want));
	}
	if (pins >= 0 && took != pins) {
		ibv_dereg_mr(mr);
		return rt_fail(0, "%s: %" PRId64 " pins, expected %" PRId64,
			       what, took, pins);
	}
	printf("  %s: registered, %" PRId64 " pins\n", what, took);
	if (keep) {
		*keep = mr;
		return 0;
	}
	if (ibv_dereg_mr(mr))
		return rt_fail(errno, "%s: ibv_dereg_mr", what);
	if (pins_outstanding() != before)
		return rt_fail(0, "%s: %" PRId64 " pins left after dereg",
			       what, pins_outstanding() - before);
	return 0;
}

static int dereg(struct ibv_mr *mr)
{
	return ibv_dereg_mr(mr) ? rt_fail(errno, "ibv_dereg_mr") : 0;
}

/* ---- bad input and plain cases ---- */

/*
 * A writable memfd-path MR holds its folios pinned: F_SEAL_WRITE must see
 * them (EBUSY) even with no mapping left, and succeed after the dereg.
 * What the races below rely on; passes on the old kernel too.
 */
static int t_seal_pinned(void)
{
	size_t len = HPAGE;
	struct ibv_mr *mr = NULL;
	int fd = new_memfd("seal-pinned", len, MFD_ALLOW_SEALING);
	uint8_t *p;
	int ret = -1;

	if (fd < 0)
		return -1;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		close(fd);
		return rt_fail(errno, "mmap");
	}
	if (expect_reg("writable, 2 MiB shared memfd", p, len, ACCESS, 0, 0,
		       -1, &mr))
		goto out;
	munmap(p, len);
	if (!fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE)) {
		rt_fail(0, "F_SEAL_WRITE succeeded while a writable MR pins "
			"the file");
		goto out;
	}
	if (errno != EBUSY) {
		rt_fail(errno, "F_SEAL_WRITE with the MR: expected EBUSY, got");
		goto out;
	}
	printf("  F_SEAL_WRITE while registered: EBUSY\n");
	/* the MR still reaches the file's pages with no mapping left */
	if (write_read(mr, p + len - 8192, 8192, 3) ||
	    file_is(fd, len - 8192, lbuf, 8192, "WRITE through the MR"))
		goto out;
	ret = dereg(mr);
	mr = NULL;
	if (ret)
		goto out;
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE)) {
		ret = rt_fail(errno, "F_SEAL_WRITE after the dereg");
		goto out;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p != MAP_FAILED || errno != EPERM) {
		ret = rt_fail(errno, "writable mmap of the sealed memfd: "
			      "expected EPERM, got");
		if (p != MAP_FAILED)
			munmap(p, len);
	}
out:
	if (mr)
		ibv_dereg_mr(mr);
	close(fd);
	return ret;
}

/*
 * Write access to a read-only shared mapping of a memfd opened read-write,
 * 4 MiB: the same EFAULT as umem_reg's 1 MiB case (GUP's), read access
 * fine; and a read-only mapping through a read-only fd.
 */
static int t_bad_readonly(void)
{
	size_t len = 2 * HPAGE;
	struct ibv_mr *mr = NULL;
	int fd = new_memfd("bad-readonly", len, 0), rofd = -1, ret = -1;
	uint8_t *ro = MAP_FAILED, *ro2 = MAP_FAILED, *img = NULL;
	char path[64];

	if (fd < 0)
		return -1;
	if (fill_file(fd, len, 11, &img))
		goto out;
	ro = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	rofd = open(path, O_RDONLY | O_CLOEXEC);
	if (rofd >= 0)
		ro2 = mmap(NULL, len, PROT_READ, MAP_SHARED, rofd, 0);
	if (ro == MAP_FAILED || ro2 == MAP_FAILED) {
		rt_fail(errno, "read-only mmap");
		goto out;
	}
	if (expect_reg("write access, PROT_READ shared mapping, 4 MiB", ro,
		       len, ACCESS, EFAULT, 0, 0, NULL) ||
	    expect_reg("write access, mapping of an O_RDONLY fd, 4 MiB", ro2,
		       len, ACCESS, EFAULT, 0, 0, NULL) ||
	    expect_reg("local write only, PROT_READ shared mapping",
		       ro + 5, len - 10, IBV_ACCESS_LOCAL_WRITE, EFAULT, 0, 0,
		       NULL) ||
	    expect_reg("remote read, PROT_READ shared mapping", ro, len,
		       IBV_ACCESS_REMOTE_READ, 0, 0, -1, &mr))
		goto out;
	ret = read_is(mr, ro + HPAGE - 32 * KiB, 64 * KiB,
		      img + HPAGE - 32 * KiB);
out:
	if (mr && dereg(mr))
		ret = -1;
	if (ro != MAP_FAILED)
		munmap(ro, len);
	if (ro2 != MAP_FAILED)
		munmap(ro2, len);
	if (rofd >= 0)
		close(rofd);
	close(fd);
	free(img);
	return ret;
}

/*
 * A 4 MiB mapping of a 3 MiB memfd: any range reaching past the end of the
 * file is EFAULT (SIGBUS for a fault), for write and for read access; the
 * part inside the file registers.
 */
static int t_beyond_eof(void)
{
	size_t flen = 3 * MiB, len = 4 * MiB;
	struct ibv_mr *mr = NULL;
	int fd = new_memfd("beyond-eof", flen, 0), ret = -1;
	uint8_t *p;

	if (fd < 0)
		return -1;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		close(fd);
		return rt_fail(errno, "mmap");
	}
	if (expect_reg("4 MiB over a 3 MiB file, write", p, len, ACCESS,
		       EFAULT, 0, 0, NULL) ||
	    expect_reg("4 MiB over a 3 MiB file, read", p, len,
		       IBV_ACCESS_REMOTE_READ, EFAULT, 0, 0, NULL) ||
	    expect_reg("[1 MiB, 4 MiB) over a 3 MiB file", p + MiB, 3 * MiB,
		       ACCESS, EFAULT, 0, 0, NULL) ||
	    expect_reg("[1 MiB, 3 MiB + 1) over a 3 MiB file", p + MiB,
		       2 * MiB + 1, ACCESS, EFAULT, 0, 0, NULL) ||
	    expect_reg("[0, 3 MiB) of the same mapping", p, flen, ACCESS, 0,
		       0, -1, &mr))
		goto out;
	/* the last bytes of the file, through the MR and through the fd */
	ret = write_read(mr, p + flen - 6000, 6000, 21) ||
	      file_is(fd, flen - 6000, lbuf, 6000, "WRITE at the end");
out:
	if (mr && dereg(mr))
		ret = -1;
	munmap(p, len);
	close(fd);
	return ret;
}

/*
 * One range over two VMAs of the same memfd, mapped the wrong way round
 * (file offset 2 MiB first): not one file range, so GUP, and each half
 * must reach its own part of the file.  Then the second VMA read-only.
 */
static int t_two_vmas(void)
{
	size_t len = 4 * MiB;
	struct ibv_mr *mr = NULL;
	int fd = new_memfd("two-vmas", len, 0), ret = -1;
	uint8_t *p, *img = NULL;

	if (fd < 0)
		return -1;
	p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		close(fd);
		return rt_fail(errno, "mmap");
	}
	if (fill_file(fd, len, 31, &img))
		goto out;
	if (mmap(p, HPAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		 fd, HPAGE) == MAP_FAILED ||
	    mmap(p + HPAGE, HPAGE, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
		rt_fail(errno, "mmap(MAP_FIXED)");
		goto out;
	}
	if (expect_reg("4 MiB over two VMAs (file 2-4 MiB, then 0-2 MiB)", p,
		       len, ACCESS, 0, 0, (int64_t)(len / 4096), &mr))
		goto out;
	/* the whole MR, half by half */
	if (read_is(mr, p, HPAGE, img + HPAGE) ||
	    read_is(mr, p + HPAGE, HPAGE, img))
		goto out;
	/* a WRITE across the VMA boundary: end of the file, then its start */
	rt_fill(lbuf, 8192, 33);
	if (rt_rdma(&dev, qa, IBV_WR_RDMA_WRITE, lbuf, 8192, lmr->lkey,
		    (uintptr_t)(p + HPAGE - 4096), mr->rkey) ||
	    file_is(fd, len - 4096, lbuf, 4096, "WRITE, first VMA") ||
	    file_is(fd, 0, lbuf + 4096, 4096, "WRITE, second VMA"))
		goto out;
	if (dereg(mr))
		goto out;
	mr = NULL;
	if (mprotect(p + HPAGE, HPAGE, PROT_READ)) {
		rt_fail(errno, "mprotect");
		goto out;
	}
	ret = expect_reg("write access, second VMA read-only", p, len,
			 ACCESS, EFAULT, 0, 0, NULL) ||
	      expect_reg("read access, second VMA read-only", p, len,
			 IBV_ACCESS_REMOTE_READ, 0, 0, (int64_t)(len / 4096),
			 NULL);
out:
	if (mr && dereg(mr))
		ret = -1;
	munmap(p, len);
	close(fd);
	free(img);
	return ret;
}

/*
 * A memfd sealed F_SEAL_WRITE, mapped read-only: read access registers
 * (memfd path), write access fails.  Stock Linux 7.2 gives EFAULT: the
 * VMA lacks VM_WRITE, so ib_umem_memfd_of() leaves it to GUP, which
 * refuses FOLL_WRITE on it with -EFAULT (check_vma_flags()); no seal check
 * is reached.  EACCES would do too.  A writable private mapping of the
 * sealed file registers (GUP, copies on write) and leaves the file alone.
 */
static int t_sealed_readonly(void)
{
	size_t len = 4 * MiB;
	struct ibv_mr *mr = NULL;
	int fd = new_memfd("sealed", len, MFD_ALLOW_SEALING), ret = -1;
	uint8_t *ro = MAP_FAILED, *priv = MAP_FAILED, *img = NULL, *w;

	if (fd < 0)
		return -1;
	if (fill_file(fd, len, 41, &img))
		goto out;
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE)) {
		rt_fail(errno, "F_SEAL_WRITE");
		goto out;
	}
	w = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (w != MAP_FAILED) {
		munmap(w, len);
		rt_fail(0, "a writable shared mapping of a sealed memfd");
		goto out;
	}
	ro = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	priv = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (ro == MAP_FAILED || priv == MAP_FAILED) {
		rt_fail(errno, "mmap of the sealed memfd");
		goto out;
	}
	if (expect_reg("sealed, read-only mapping, read access", ro, len,
		       IBV_ACCESS_REMOTE_READ, 0, 0, -1, &mr) ||
	    read_is(mr, ro + HPAGE - 4096, 8192, img + HPAGE - 4096) ||
	    dereg(mr))
		goto out;
	mr = NULL;
	if (expect_reg("sealed, read-only mapping, write access", ro, len,
		       ACCESS, EFAULT, EACCES, 0, NULL) ||
	    expect_reg("sealed, writable private mapping, write access",
		       priv, len, ACCESS, 0, 0, (int64_t)(len / 4096), &mr) ||
	    write_read(mr, priv + HPAGE - 4096, 8192, 43))
		goto out;
	if (memcmp(priv + HPAGE - 4096, lbuf, 8192)) {
		rt_fail(0, "the private mapping does not show the WRITE");
		goto out;
	}
	ret = file_is(fd, 0, img, len, "sealed file after a WRITE to a "
		      "private mapping");
out:
	if (mr && dereg(mr))
		ret = -1;
	if (ro != MAP_FAILED)
		munmap(ro, len);
	if (priv != MAP_FAILED)
		munmap(priv, len);
	close(fd);
	free(img);
	return ret;
}

/*
 * A private mapping of a memfd, 4 MiB, writable: GUP (one pin a page),
 * which breaks COW.  RDMA writes and CPU writes meet in the private copy;
 * the file keeps its contents.  The memfd path would write the file.
 */
static int t_private_cow(void)
{
	size_t len = 4 * MiB;
	struct ibv_mr *mr = NULL;
	int fd = new_memfd("private", len, 0), ret = -1;
	uint8_t *p = MAP_FAILED, *img = NULL;

	if (fd < 0)
		return -1;
	if (fill_file(fd, len, 51, &img))
		goto out;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED) {
		rt_fail(errno, "mmap(MAP_PRIVATE)");
		goto out;
	}
	if (expect_reg("private memfd mapping, write access", p, len, ACCESS,
		       0, 0, (int64_t)(len / 4096), &mr) ||
	    read_is(mr, p + HPAGE - 4096, 8192, img + HPAGE - 4096) ||
	    write_read(mr, p + HPAGE - 4096, 8192, 53))
		goto out;
	if (memcmp(p + HPAGE - 4096, lbuf, 8192)) {
		rt_fail(0, "the CPU does not see the RDMA WRITE");
		goto out;
	}
	/* and the MR sees the CPU's writes: the same private pages */
	rt_fill(p + len - 4096, 4096, 55);
	if (read_is(mr, p + len - 4096, 4096, p + len - 4096))
		goto out;
	ret = file_is(fd, 0, img, len, "the file behind a private mapping");
out:
	if (mr && dereg(mr))
		ret = -1;
	if (p != MAP_FAILED)
		munmap(p, len);
	close(fd);
	free(img);
	return ret;
}

/*
 * A hugetlbfs memfd: the memfd path, one pin per 2 MiB folio, allocated by
 * the registration; write access to a read-only mapping EFAULT; a read-only
 * mapping past the end of a 2 MiB file EFAULT (a writable one would grow
 * the file: hugetlbfs_file_mmap()).
 */
static int t_hugetlb(void)
{
	size_t len = 4 * MiB;
	struct ibv_mr *mr = NULL;
	int fd = new_memfd("hugetlb", len, MFD_HUGETLB), fd2 = -1, ret = -1;
	uint8_t *p = MAP_FAILED, *ro = MAP_FAILED, *ro2 = MAP_FAILED;

	if (fd < 0)
		return -1;
	fd2 = new_memfd("hugetlb-short", HPAGE, MFD_HUGETLB);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ro = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (fd2 >= 0)
		ro2 = mmap(NULL, len, PROT_READ, MAP_SHARED, fd2, 0);
	if (p == MAP_FAILED || ro == MAP_FAILED || ro2 == MAP_FAILED) {
		rt_fail(errno, "mmap(hugetlb memfd)");
		goto out;
	}
	if (expect_reg("hugetlb memfd, 4 MiB, not populated", p, len, ACCESS,
		       0, 0, 2, &mr) ||
	    write_read(mr, p + HPAGE - 5000, 10000, 61) ||
	    file_is(fd, HPAGE - 5000, lbuf, 10000, "WRITE across folios") ||
	    dereg(mr))
		goto out;
	mr = NULL;
	ret = expect_reg("hugetlb memfd, 2 MiB at +2 MiB - 4091", p + HPAGE -
			 4091, HPAGE, ACCESS, 0, 0, 2, NULL) ||
	      expect_reg("hugetlb, read-only mapping, write access", ro, len,
			 ACCESS, EFAULT, 0, 0, NULL) ||
	      expect_reg("hugetlb, read-only mapping, read access", ro, len,
			 IBV_ACCESS_REMOTE_READ, 0, 0, 2, NULL) ||
	      expect_reg("hugetlb, 4 MiB mapping of a 2 MiB file", ro2, len,
			 IBV_ACCESS_REMOTE_READ, EFAULT, 0, 0, NULL);
out:
	if (mr && dereg(mr))
		ret = -1;
	if (p != MAP_FAILED)
		munmap(p, len);
	if (ro != MAP_FAILED)
		munmap(ro, len);
	if (ro2 != MAP_FAILED)
		munmap(ro2, len);
	if (fd2 >= 0)
		close(fd2);
	close(fd);
	return ret;
}

/* ---- races ---- */

enum { SPIN, PREEMPT };
#define NR_OUTCOMES 4
#define HOLD_NS (50 * MS)	/* a registered MR waits this long for B */

struct race;

struct race_kind {
	const char *name;
	unsigned int mfd_flags;
	size_t len;
	int iters;
	int (*op)(struct race *r);	/* thread B's: 0 or an errno */
	/* an outcome's index, -1: illegal, -2: unexpected (both printed) */
	int (*judge)(struct race *r, int reg_err, uint64_t t_dereg);
	const char *outcome[NR_OUTCOMES];
	int uffd;			/* B registers a userfaultfd */
	int unmaps;			/* B unmaps the range */
};

struct race {
	const struct race_kind *k;
	int fd, uffd, mode;
	uint8_t *addr;
	uint64_t delay;
	sem_t wake;
	int ready, go, done;		/* __atomic */
	int b_err;
	uint64_t t_b;			/* B's operation returned */
	int64_t alloc_b;		/* file_bytes() then */
	int events, stop, h_err;	/* userfaultfd handler */
};

static void *racer(void *arg)
{
	struct race *r = arg;
	uint64_t until;

	if (r->mode == PREEMPT) {
		struct timespec t;

		/* woken by A; sleep so A can start registering */
		while (sem_wait(&r->wake) && errno == EINTR)
			;
		until = now_ns() + r->delay;
		t.tv_sec = (time_t)(until / 1000000000ull);
		t.tv_nsec = (long)(until % 1000000000ull);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t,
				       NULL) == EINTR)
			;
	} else {
		__atomic_store_n(&r->ready, 1, __ATOMIC_RELEASE);
		while (!__atomic_load_n(&r->go, __ATOMIC_ACQUIRE))
			;
		until = now_ns() + r->delay;
		while (now_ns() < until)
			;
	}
	r->b_err = r->k->op(r);
	r->t_b = now_ns();
	r->alloc_b = file_bytes(r->fd);
	__atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * Lets the registration's faults through: the first fault reported
 * unregisters the range, which wakes the fault as an ordinary one.
 */
static void *uffd_handler(void *arg)
{
	static uint8_t zero[4096] __attribute__((aligned(4096)));
	struct race *r = arg;
	struct pollfd pfd = { .fd = r->uffd, .events = POLLIN };
	struct uffdio_range range = { .start = (uintptr_t)r->addr,
				      .len = r->k->len };
	struct uffd_msg msg;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		if (poll(&pfd, 1, 5) <= 0 ||
		    read(r->uffd, &msg, sizeof(msg)) != sizeof(msg) ||
		    msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		__atomic_add_fetch(&r->events, 1, __ATOMIC_RELEASE);
		if (!ioctl(r->uffd, UFFDIO_UNREGISTER, &range))
			continue;
		/* fall back to filling the page */
		r->h_err = errno;
		{
			struct uffdio_copy c = {
				.dst = msg.arg.pagefault.address & ~4095ull,
				.src = (uintptr_t)zero, .len = 4096 };

			ioctl(r->uffd, UFFDIO_COPY, &c);
		}
	}
	return NULL;
}

static int uffd_open(void)
{
#ifdef SYS_userfaultfd
	struct uffdio_api api = { .api = UFFD_API };
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -errno;
	if (ioctl(fd, UFFDIO_API, &api)) {
		int err = errno;

		close(fd);
		return -err;
	}
	return fd;
#else
	return -ENOSYS;
#endif
}

static int race_setup(struct race *r)
{
	const struct race_kind *k = r->k;

	r->uffd = -1;
	r->fd = new_memfd(k->name, k->len, k->mfd_flags);
	if (r->fd < 0)
		return -1;
	r->addr = mmap(NULL, k->len, PROT_READ | PROT_WRITE, MAP_SHARED,
		       r->fd, 0);
	if (r->addr == MAP_FAILED) {
		close(r->fd);
		return rt_fail(errno, "mmap(%s)", k->name);
	}
	if (k->uffd) {
		r->uffd = uffd_open();
		if (r->uffd < 0) {
			munmap(r->addr, k->len);
			close(r->fd);
			return rt_fail(-r->uffd, "userfaultfd");
		}
	}
	return 0;
}

static void race_teardown(struct race *r, int unmapped)
{
	if (!unmapped)
		munmap(r->addr, r->k->len);
	if (r->uffd >= 0)
		close(r->uffd);
	close(r->fd);
}

/* One registration's time on a fresh file, averaged over three. */
static int calibrate(const struct race_kind *k, uint64_t *span)
{
	struct race r = { .k = k };
	uint64_t sum = 0, t;
	struct ibv_mr *mr;
	int i;

	for (i = 0; i < 3; i++) {
		if (race_setup(&r))
			return -1;
		t = now_ns();
		mr = ibv_reg_mr(dev.pd, r.addr, k->len, ACCESS);
		sum += now_ns() - t;
		if (!mr) {
			race_teardown(&r, 0);
			return rt_fail(errno, "%s: calibration ibv_reg_mr",
				       k->name);
		}
		ibv_dereg_mr(mr);
		race_teardown(&r, 0);
	}
	*span = sum / 3 * 5 / 4;
	return 0;
}

static int cpu_attr(pthread_attr_t *a, const cpu_set_t *cpus, int fifo)
{
	struct sched_param sp = { .sched_priority = 1 };

	pthread_attr_init(a);
	if (cpus && pthread_attr_setaffinity_np(a, sizeof(*cpus), cpus))
		return -1;
	if (fifo && (pthread_attr_setinheritsched(a, PTHREAD_EXPLICIT_SCHED) ||
		     pthread_attr_setschedpolicy(a, SCHED_FIFO) ||
		     pthread_attr_setschedparam(a, &sp)))
		return -1;
	return 0;
}

static int run_race(const struct race_kind *k)
{
	int iters = iterations ? iterations : k->iters;
	int count[2][NR_OUTCOMES] = { { 0 } }, illegal = 0, fifo_ok = 1;
	int i, j, ret = 0, ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t all, cpu0, cpu1;
	int64_t before;
	uint64_t span = 0;

	if (sched_getaffinity(0, sizeof(all), &all))
		return rt_fail(errno, "sched_getaffinity");
	CPU_ZERO(&cpu0);
	CPU_ZERO(&cpu1);
	CPU_SET(0, &cpu0);
	CPU_SET(1, &cpu1);
	if (calibrate(k, &span))
		return -1;
	printf("  %d iterations, B within %.1f ms of the registration's "
	       "start, seed %#" PRIx64 "\n", iters, span / 1e6, rng);
	/* A on CPU 0; B there (preempting) or on CPU 1 (spinning) */
	if (sched_setaffinity(0, sizeof(cpu0), &cpu0))
		return rt_fail(errno, "sched_setaffinity");
	before = pins_outstanding();
	for (i = 0; i < iters && !ret; i++) {
		struct race r = { .k = k };
		pthread_t b = 0, h = 0;
		pthread_attr_t attr;
		struct ibv_mr *mr;
		uint64_t t_dereg, until;
		int reg_err, o, err = 0;

		if (race_setup(&r)) {
			ret = -1;
			break;
		}
		r.delay = span ? rnd() % span : 0;
		r.mode = (i & 1) && ncpu > 1 ? SPIN : PREEMPT;
		if (r.mode == PREEMPT && !fifo_ok)
			r.mode = SPIN;
		sem_init(&r.wake, 0, 0);
		if (k->uffd) {
			cpu_attr(&attr, &all, 0);
			err = pthread_create(&h, &attr, uffd_handler, &r);
			pthread_attr_destroy(&attr);
			if (err) {
				ret = rt_fail(err, "pthread_create");
				race_teardown(&r, 0);
				break;
			}
		}
		if (r.mode == PREEMPT) {
			cpu_attr(&attr, &cpu0, 1);
			err = pthread_create(&b, &attr, racer, &r);
			pthread_attr_destroy(&attr);
			if (err == EPERM || err == EINVAL) {
				printf("  no SCHED_FIFO thread (%s): B only "
				       "spins\n", strerror(err));
				fifo_ok = 0;
				r.mode = SPIN;
			}
		}
		if (r.mode == SPIN) {
			cpu_attr(&attr, ncpu > 1 ? &cpu1 : NULL, 0);
			err = pthread_create(&b, &attr, racer, &r);
			pthread_attr_destroy(&attr);
		}
		if (err) {
			ret = rt_fail(err, "pthread_create");
			if (k->uffd) {
				__atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
				pthread_join(h, NULL);
			}
			race_teardown(&r, 0);
			break;
		}
		/* go */
		if (r.mode == PREEMPT) {
			sem_post(&r.wake);
		} else {
			while (!__atomic_load_n(&r.ready, __ATOMIC_ACQUIRE))
				;
			__atomic_store_n(&r.go, 1, __ATOMIC_RELEASE);
		}
		mr = ibv_reg_mr(dev.pd, r.addr, k->len, ACCESS);
		reg_err = mr ? 0 : errno;
		if (mr) {
			/* the MR works, whatever happened to the file */
			if (write_read(mr, r.addr + k->len - 4096, 4096, i))
				ret = -1;
			until = now_ns() + HOLD_NS;
			while (!__atomic_load_n(&r.done, __ATOMIC_ACQUIRE) &&
			       now_ns() < until)
				usleep(200);
		}
		t_dereg = now_ns();
		if (mr && ibv_dereg_mr(mr))
			ret = rt_fail(errno, "ibv_dereg_mr");
		pthread_join(b, NULL);
		if (k->uffd) {
			__atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
			pthread_join(h, NULL);
		}
		sem_destroy(&r.wake);
		o = k->judge(&r, reg_err, t_dereg);
		if (o == -1)
			illegal++;
		else if (o < 0)
			ret = -1;
		else
			count[r.mode][o]++;
		if (o < 0)
			printf("  (iteration %d, %s, B after %.2f ms)\n", i,
			       r.mode == SPIN ? "spinning" : "preempting",
			       r.delay / 1e6);
		race_teardown(&r, k->unmaps);
		if (pins_outstanding() != before)
			ret = rt_fail(0, "iteration %d: %" PRId64 " pins "
				      "outstanding", i,
				      pins_outstanding() - before);
	}
	sched_setaffinity(0, sizeof(all), &all);
	printf("  after %d iterations (B spinning / preempting):\n", i);
	for (j = 0; j < NR_OUTCOMES && k->outcome[j]; j++)
		printf("    %-44s %4d / %4d\n", k->outcome[j], count[SPIN][j],
		       count[PREEMPT][j]);
	printf("    %-44s %4d\n", "ILLEGAL", illegal);
	if (illegal)
		ret = rt_fail(0, "%d illegal outcomes", illegal);
	return ret;
}

/* B: unmap the range, then seal the file against writes. */
static int op_seal(struct race *r)
{
	if (munmap(r->addr, r->k->len)) {
		printf("  munmap: %s\n", strerror(errno));
		return -1;
	}
	return fcntl(r->fd, F_ADD_SEALS, F_SEAL_WRITE) ? errno : 0;
}

/*
 * Directly observable: the seal must not succeed while a writable MR pins
 * the file.  B's fcntl() returned before A started the dereg (both clocks
 * CLOCK_MONOTONIC, B reads it after fcntl() returns, A before it calls
 * ibv_dereg_mr()), with both successful: illegal.  A seal that returns
 * after the dereg started may have waited for the dereg's unpinning
 * (memfd_wait_for_pins() waits ~150 ms): legal, and what an MR held
 * HOLD_NS against a waiting seal ends in.
 */
static int judge_seal(struct race *r, int reg_err, uint64_t t_dereg)
{
	if ((r->b_err && r->b_err != EBUSY) ||
	    (reg_err && reg_err != EFAULT)) {
		rt_fail(0, "registration: %s, F_SEAL_WRITE: %s",
			reg_err ? strerror(reg_err) : "ok",
			r->b_err ? strerror(r->b_err) : "ok");
		return -2;
	}
	if (reg_err)
		return r->b_err ? 3 : 2;
	if (r->b_err)
		return 0;
	if (r->t_b >= t_dereg)
		return 1;
	rt_fail(0, "F_SEAL_WRITE succeeded while a writable MR pinned the "
		"file (seal returned %.3f ms before the dereg)",
		(t_dereg - r->t_b) / 1e6);
	return -1;
}

static const struct race_kind seal_race = {
	.name = "seal-race", .len = HPAGE, .iters = 100,
	.mfd_flags = MFD_ALLOW_SEALING,
	.op = op_seal, .judge = judge_seal, .unmaps = 1,
	.outcome = { "registered, seal EBUSY",
		     "registered, sealed after the dereg",
		     "EFAULT, sealed", "EFAULT, seal EBUSY" },
};

/*
 * The shmem race's window is from the check to the first page allocated
 * (memfd_wait_for_pins() sees a page the registration holds): narrow.  On
 * hugetlbfs the first folio is zeroed before it enters the file, so the
 * window is most of the registration: the race that catches an unlocked
 * check.
 */
static const struct race_kind seal_race_hugetlb = {
	.name = "seal-race-hugetlb", .len = HPAGE, .iters = 200,
	.mfd_flags = MFD_ALLOW_SEALING | MFD_HUGETLB,
	.op = op_seal, .judge = judge_seal, .unmaps = 1,
	.outcome = { "registered, seal EBUSY",
		     "registered, sealed after the dereg",
		     "EFAULT, sealed", "EFAULT, seal EBUSY" },
};

static int op_mprotect(struct race *r)
{
	return mprotect(r->addr, r->k->len, PROT_READ) ? errno : 0;
}

/*
 * Not directly observable: mprotect() always succeeds and a writable MR of
 * a mapping made read-only after it is legal.  What is: the file is fresh
 * and the registration allocates it page by page as it pins, so when
 * mprotect() returns with part of the range not yet allocated, the pinning
 * was still going on; if the registration then succeeds, it pinned for
 * write after the mapping had become read-only: illegal.  (Locked, mprotect
 * waits for the pin to end, or comes before the check and the writable
 * registration fails.)  B reads the allocation right after mprotect()
 * returns; A can only have allocated more by then, so an unlocked kernel
 * may get away with it, a locked one is never blamed.
 */
static int judge_mprotect(struct race *r, int reg_err, uint64_t t_dereg)
{
	if (r->b_err || (reg_err && reg_err != EFAULT)) {
		rt_fail(0, "registration: %s, mprotect: %s",
			reg_err ? strerror(reg_err) : "ok",
			r->b_err ? strerror(r->b_err) : "ok");
		return -2;
	}
	if (reg_err)
		return 1;
	if (r->alloc_b >= (int64_t)r->k->len)
		return 0;
	rt_fail(0, "mprotect(PROT_READ) returned with %" PRId64 " of %zu "
		"bytes allocated, and the writable registration succeeded",
		r->alloc_b, r->k->len);
	return -1;
}

static const struct race_kind mprotect_race = {
	.name = "mprotect-race", .len = HPAGE, .iters = 100,
	.op = op_mprotect, .judge = judge_mprotect,
	.outcome = { "registered, then read-only",
		     "read-only first: EFAULT" },
};

static int op_uffd(struct race *r)
{
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)r->addr, .len = r->k->len },
		.mode = UFFDIO_REGISTER_MODE_MISSING };

	return ioctl(r->uffd, UFFDIO_REGISTER, &reg) ? errno : 0;
}

/*
 * As for mprotect: UFFDIO_REGISTER(MISSING) returned while part of the
 * fresh file was not yet allocated, no fault reached the userfaultfd, and
 * the registration succeeded: it allocated missing pages behind the
 * userfaultfd's back.  (Registered before the check, the range goes to GUP,
 * whose faults are reported: the handler counts them and lets them through
 * by unregistering.)
 */
static int judge_uffd(struct race *r, int reg_err, uint64_t t_dereg)
{
	if (r->b_err || (reg_err && reg_err != EFAULT)) {
		rt_fail(0, "registration: %s, UFFDIO_REGISTER: %s",
			reg_err ? strerror(reg_err) : "ok",
			r->b_err ? strerror(r->b_err) : "ok");
		return -2;
	}
	if (r->h_err)
		printf("  UFFDIO_UNREGISTER in the handler: %s\n",
		       strerror(r->h_err));
	if (reg_err)
		return 2;
	if (r->events)
		return 1;
	if (r->alloc_b >= (int64_t)r->k->len)
		return 0;
	rt_fail(0, "UFFDIO_REGISTER returned with %" PRId64 " of %zu bytes "
		"allocated; the registration allocated the rest unreported",
		r->alloc_b, r->k->len);
	return -1;
}

static const struct race_kind uffd_race = {
	.name = "uffd-race", .len = HPAGE, .iters = 100,
	.op = op_uffd, .judge = judge_uffd, .uffd = 1,
	.outcome = { "registered, then the userfaultfd",
		     "userfaultfd first: faults reported",
		     "EFAULT" },
};

static int op_truncate(struct race *r)
{
	return ftruncate(r->fd, (off_t)(r->k->len / 2)) ? errno : 0;
}

/*
 * Robustness only: a truncation after the pin is legal and leaves the MR
 * with pages cut from the file, so no outcome shows the order.  The
 * registration ends in success or EFAULT, the MR works (KASAN watches the
 * pages), the pins balance.
 */
static int judge_truncate(struct race *r, int reg_err, uint64_t t_dereg)
{
	if (r->b_err || (reg_err && reg_err != EFAULT)) {
		rt_fail(0, "registration: %s, ftruncate: %s",
			reg_err ? strerror(reg_err) : "ok",
			r->b_err ? strerror(r->b_err) : "ok");
		return -2;
	}
	return reg_err ? 1 : 0;
}

static const struct race_kind truncate_race = {
	.name = "truncate-race", .len = HPAGE, .iters = 100,
	.op = op_truncate, .judge = judge_truncate,
	.outcome = { "registered", "EFAULT" },
};

static int t_seal_race(void)
{
	return run_race(&seal_race);
}

static int t_seal_race_hugetlb(void)
{
	return run_race(&seal_race_hugetlb);
}

static int t_mprotect_race(void)
{
	return run_race(&mprotect_race);
}

static int t_uffd_race(void)
{
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	int fd = uffd_open(), mfd, ret;
	uint8_t *p;

	if (fd < 0) {
		printf("  userfaultfd: %s: skipped\n", strerror(-fd));
		return SKIP;
	}
	/* shmem in missing mode needs CONFIG_SHMEM's userfaultfd support */
	mfd = new_memfd("uffd-probe", HPAGE, 0);
	if (mfd < 0) {
		close(fd);
		return -1;
	}
	p = mmap(NULL, HPAGE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	reg.range.start = (uintptr_t)p;
	reg.range.len = HPAGE;
	ret = p == MAP_FAILED ? rt_fail(errno, "mmap") :
	      ioctl(fd, UFFDIO_REGISTER, &reg) ? SKIP : 0;
	if (ret == SKIP)
		printf("  UFFDIO_REGISTER(MISSING) on shmem: %s: skipped\n",
		       strerror(errno));
	if (p != MAP_FAILED)
		munmap(p, HPAGE);
	close(mfd);
	close(fd);
	return ret ? ret : run_race(&uffd_race);
}

static int t_truncate_race(void)
{
	return run_race(&truncate_race);
}

/* ---- SIGKILL during a large registration ---- */

#define KILL_LEN GiB
#define KILL_START 4096		/* pins that show the pinning has begun */
#define KILL_WAIT_S 240		/* for the child's death (old kernel) */

/* Map @len (of @fd if >= 0, else anonymous), register it writable. */
static void __attribute__((noreturn)) kill_child(int fd, size_t len, int wfd)
{
	struct rt_dev d;
	struct ibv_mr *mr;
	uint8_t *p;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	alarm(KILL_WAIT_S + 120);
	if (rt_open(&d, devname))
		_exit(3);
	if (fd >= 0)
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	else
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		_exit(rt_fail(errno, "child: mmap") ? 4 : 4);
	if (fd < 0)
		madvise(p, len, MADV_NOHUGEPAGE);
	if (write(wfd, "g", 1) != 1)
		_exit(5);
	mr = ibv_reg_mr(d.pd, p, len, WRITABLE);
	/* only when not killed inside the registration */
	if (write(wfd, mr ? "r" : "e", 1) != 1)
		_exit(5);
	for (;;)
		pause();
}

/*
 * A child registers @len bytes (memfd: a shared mapping of a fresh shmem
 * memfd, so pinning allocates it; else anonymous memory) and is killed
 * once KILL_START pins show the pinning under way.  It must die of SIGKILL
 * with only a little more pinned, and everything unpinned.  Bounded: the
 * pinning must begin within 120 s, the child die within KILL_WAIT_S (an
 * uninterruptible loop over all of @len may take most of that under TCG).
 */
static int kill_case(int memfd)
{
	size_t len = KILL_LEN, npages = len / 4096;
	int64_t acq0, out0, at_kill, acq, alloc = -1, left;
	int fd = -1, pfd[2], status = 0, started = 0, ret = 0;
	uint64_t deadline;
	pid_t pid;
	char c;

	if (memfd) {
		fd = new_memfd("kill", len, 0);
		if (fd < 0)
			return -1;
	}
	if (pipe2(pfd, O_CLOEXEC | O_NONBLOCK)) {
		if (fd >= 0)
			close(fd);
		return rt_fail(errno, "pipe2");
	}
	out0 = pins_outstanding();
	acq0 = pins_acquired();
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		kill_child(fd, len, pfd[1]);
	}
	close(pfd[1]);
	if (pid < 0) {
		close(pfd[0]);
		if (fd >= 0)
			close(fd);
		return rt_fail(errno, "fork");
	}
	deadline = now_ns() + 120000 * MS;
	for (;;) {
		if (read(pfd[0], &c, 1) == 1) {
			if (c != 'g') {
				ret = rt_fail(0, "the registration ended (%s) "
					      "before %d pins were seen",
					      c == 'r' ? "registered" : "error",
					      KILL_START);
				break;
			}
			started = 1;
		}
		if (waitpid(pid, &status, WNOHANG) == pid) {
			close(pfd[0]);
			if (fd >= 0)
				close(fd);
			return rt_fail(0, "the child ended early (status "
				       "%#x)", status);
		}
		if (started && pins_acquired() - acq0 >= KILL_START)
			break;
		if (now_ns() > deadline) {
			ret = rt_fail(0, "no %d pins within 120 s (pinning "
				      "%sstarted)", KILL_START,
				      started ? "" : "not ");
			break;
		}
		usleep(1000);
	}
	kill(pid, SIGKILL);
	at_kill = pins_acquired() - acq0;
	close(pfd[0]);
	deadline = now_ns() + KILL_WAIT_S * 1000 * MS;
	while (waitpid(pid, &status, WNOHANG) != pid) {
		if (now_ns() > deadline) {
			/* PR_SET_PDEATHSIG takes it when we exit */
			if (fd >= 0)
				close(fd);
			return rt_fail(0, "child alive %d s after SIGKILL: "
				       "the pin loop ignores fatal signals",
				       KILL_WAIT_S);
		}
		usleep(10000);
	}
	/* the exit unpins; give it a moment */
	deadline = now_ns() + 30000 * MS;
	while ((left = pins_outstanding() - out0) && now_ns() < deadline)
		usleep(50000);
	acq = pins_acquired() - acq0;
	if (fd >= 0) {
		alloc = file_bytes(fd);
		close(fd);
	}
	printf("  %s of %zu MiB: %" PRId64 " pins when killed, %" PRId64
	       " in all (of %zu pages)", memfd ? "memfd" : "anonymous",
	       len / MiB, at_kill, acq, npages);
	if (alloc >= 0)
		printf(", %" PRId64 " MiB of the file allocated", alloc / MiB);
	printf("\n");
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		ret = rt_fail(0, "the child did not die of SIGKILL (status "
			      "%#x)", status);
	if (acq >= (int64_t)npages / 2)
		ret = rt_fail(0, "%" PRId64 " pages pinned of %zu: the "
			      "registration went on after SIGKILL", acq,
			      npages);
	if (alloc >= (int64_t)len / 2)
		ret = rt_fail(0, "%" PRId64 " MiB of the file allocated: the "
			      "registration went on after SIGKILL",
			      alloc / MiB);
	if (left)
		ret = rt_fail(0, "%" PRId64 " pins outstanding 30 s after "
			      "the child's death", left);
	return ret;
}

/* The control: GUP (pin_user_pages) has always stopped on SIGKILL. */
static int t_kill_gup(void)
{
	return kill_case(0);
}

static int t_kill_memfd(void)
{
	return kill_case(1);
}

/* ---- main ---- */

struct test {
	const char *name;
	int (*fn)(void);
	int huge;	/* needs 2 MiB hugetlb pages (count) */
};

static const struct test tests[] = {
	{ "seal-pinned", t_seal_pinned, 0 },
	{ "bad-readonly", t_bad_readonly, 0 },
	{ "beyond-eof", t_beyond_eof, 0 },
	{ "two-vmas", t_two_vmas, 0 },
	{ "sealed-readonly", t_sealed_readonly, 0 },
	{ "private-cow", t_private_cow, 0 },
	{ "hugetlb", t_hugetlb, 8 },
	{ "seal-race", t_seal_race, 0 },
	{ "seal-race-hugetlb", t_seal_race_hugetlb, 4 },
	{ "mprotect-race", t_mprotect_race, 0 },
	{ "uffd-race", t_uffd_race, 0 },
	{ "truncate-race", t_truncate_race, 0 },
	{ "kill-gup", t_kill_gup, 0 },
	{ "kill-memfd", t_kill_memfd, 0 },
};

static int run(const struct test *t)
{
	int64_t before = pins_outstanding();
	char n[32];
	int ret;

	printf("memfd.%s\n", t->name);
	fflush(stdout);
	if (t->huge) {
		snprintf(n, sizeof(n), "%d", t->huge);
		if (write_file("/proc/sys/vm/nr_hugepages", n) ||
		    read_long("/proc/sys/vm/nr_hugepages") < t->huge) {
			write_file("/proc/sys/vm/nr_hugepages", hugepages_was);
			printf("  could not reserve %d hugetlb pages: "
			       "skipped\n", t->huge);
			printf("PHYRLAB-TEST: memfd.%s SKIP\n", t->name);
			return 0;
		}
	}
	ret = t->fn();
	if (ret <= 0 && pins_outstanding() != before)
		ret = rt_fail(0, "%" PRId64 " pins outstanding after the test",
			      pins_outstanding() - before);
	if (t->huge)
		write_file("/proc/sys/vm/nr_hugepages", hugepages_was);
	printf("PHYRLAB-TEST: memfd.%s %s\n", t->name,
	       ret == SKIP ? "SKIP" : ret ? "FAIL" : "PASS");
	fflush(stdout);
	return ret < 0 ? -1 : 0;
}

/* The selected word of a "a [b] c" sysfs knob, into @out. */
static void knob_choice(const char *path, char *out, size_t n)
{
	char line[128], *o, *c;
	FILE *f = fopen(path, "r");

	*out = 0;
	if (!f)
		return;
	o = fgets(line, sizeof(line), f) ? strchr(line, '[') : NULL;
	c = o ? strchr(o, ']') : NULL;
	if (c) {
		*c = 0;
		snprintf(out, n, "%s", o + 1);
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	const char *shmem_knob =
		"/sys/kernel/mm/transparent_hugepage/shmem_enabled";
	char shmem_was[32];
	int i, j, opt, failed = 0;
	long hp;

	rng = (uint64_t)now_ns() | 1;
	while ((opt = getopt(argc, argv, "d:ln:s:")) != -1) {
		if (opt == 'd') {
			devname = optarg;
		} else if (opt == 'n') {
			iterations = atoi(optarg);
		} else if (opt == 's') {
			rng = strtoull(optarg, NULL, 0) | 1;
		} else if (opt == 'l') {
			for (i = 0; i < (int)(sizeof(tests) / sizeof(tests[0]));
			     i++)
				puts(tests[i].name);
			return 0;
		} else {
			fprintf(stderr, "usage: memfd_race [-d dev] [-l] "
				"[-n iterations] [-s seed] [test...]\n");
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	hp = read_long("/proc/sys/vm/nr_hugepages");
	if (hp > 0)
		snprintf(hugepages_was, sizeof(hugepages_was), "%ld", hp);
	/* 4 KiB shmem folios: the pin counts above count pages */
	knob_choice(shmem_knob, shmem_was, sizeof(shmem_was));
	if (*shmem_was)
		write_file(shmem_knob, "never");
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
	lmr = ibv_reg_mr(dev.pd, lbuf, LBUF_LEN, ACCESS);
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
	if (*shmem_was)
		write_file(shmem_knob, shmem_was);
	return failed ? 1 : 0;
}
