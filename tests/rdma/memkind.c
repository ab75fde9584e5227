// SPDX-License-Identifier: GPL-2.0
/* Kinds of user memory; see memkind.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memkind.h"
#include "rdmatest.h"

#ifndef MAP_HUGE_1GB
#define MAP_HUGE_1GB (30 << MAP_HUGE_SHIFT)
#endif

int64_t vmstat(const char *key)
{
	char name[64];
	long long v;
	int64_t r = -1;
	FILE *f = fopen("/proc/vmstat", "r");

	if (!f)
		return -1;
	while (fscanf(f, "%63s %lld", name, &v) == 2)
		if (!strcmp(name, key))
			r = v;
	fclose(f);
	return r;
}

/*
 * vmstat counters are kept per CPU and folded in lazily: fold them first
 * (/proc/sys/vm/stat_refresh), or counts are off by up to a threshold.
 */
int64_t pins_outstanding(void)
{
	write_file("/proc/sys/vm/stat_refresh", "1");
	return vmstat("nr_foll_pin_acquired") - vmstat("nr_foll_pin_released");
}

long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, val, strlen(val));
	close(fd);
	return n < 0 ? -1 : 0;
}

/* ---- memory kinds ---- */


const char *const kind_name[] = {
	"anon-fragmented", "anon-thp", "anon-hugetlb", "memfd-shmem",
	"memfd-shmem-huge", "memfd-hugetlb", "memfd-private",
	"anon-contiguous", "anon-hugetlb-1g",
};

/*
 * Populate @p so that no two neighbouring pages are physically contiguous:
 * each page is faulted in right after a page of a spacer mapping, so the
 * frames the allocator hands out alternate between the two.  The spacer is
 * given back every 64 MiB, which bounds the extra memory.
 */
static int fragment(uint8_t *p, size_t len)
{
	const size_t pg = 4096, chunk = 64 * MiB;
	uint8_t *spacer = mmap(NULL, chunk, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t off, i;

	if (spacer == MAP_FAILED)
		return rt_fail(errno, "mmap spacer");
	madvise(spacer, chunk, MADV_NOHUGEPAGE);
	for (off = 0; off < len; off += chunk) {
		size_t n = (len - off < chunk ? len - off : chunk) / pg;

		for (i = 0; i < n; i++) {
			p[off + i * pg] = 1;
			spacer[i * pg] = 1;
		}
		madvise(spacer, chunk, MADV_DONTNEED);
	}
	munmap(spacer, chunk);
	return 0;
}

/* A total of this process's memory from /proc/self/smaps_rollup. */
static long smaps_kb(const char *key)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	char line[128];
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			kb = strtol(line + strlen(key), NULL, 10);
	fclose(f);
	return kb;
}

/*
 * Populate @p with transparent huge pages and split each into 4 KiB pages
 * (debugfs split_huge_pages): order-0 folios that stay physically
 * contiguous 2 MiB at a time.  Collapsing them back is then forbidden.
 */
static int contiguous(uint8_t *p, size_t len)
{
	char cmd[96];
	long kb;

	if (madvise(p, len, MADV_HUGEPAGE))
		return rt_fail(errno, "madvise(MADV_HUGEPAGE)");
	memset(p, 1, len);
	snprintf(cmd, sizeof(cmd), "%d,0x%lx,0x%lx", getpid(),
		 (unsigned long)p, (unsigned long)(p + len));
	if (write_file("/sys/kernel/debug/split_huge_pages", cmd))
		return rt_fail(errno, "split_huge_pages");
	if (madvise(p, len, MADV_NOHUGEPAGE))
		return rt_fail(errno, "madvise(MADV_NOHUGEPAGE)");
	/* this is the process's only anonymous memory that could be huge */
	kb = smaps_kb("AnonHugePages:");
	if (kb)
		return rt_fail(kb < 0 ? EIO : EBUSY, "AnonHugePages %ld kB "
			       "after the split", kb);
	return 0;
}

int region_map(struct region *r, enum kind kind, size_t len)
{
	int prot = PROT_READ | PROT_WRITE;
	uint8_t *p;

	*r = (struct region){ .kind = kind, .len = len, .map_len = len,
			      .fd = -1 };
	switch (kind) {
	case ANON_FRAGMENTED:
		p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return rt_fail(errno, "mmap");
		madvise(p, len, MADV_NOHUGEPAGE);
		if (fragment(p, len))
			return -1;
		break;
	case ANON_THP:
	case ANON_CONTIGUOUS: {
		/* over-allocate to align on 2 MiB, whole huge pages */
		size_t huge = (len + HPAGE - 1) & ~(HPAGE - 1);

		p = mmap(NULL, huge + HPAGE, prot,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return rt_fail(errno, "mmap");
		r->map = p;
		r->map_len = huge + HPAGE;
		p = (uint8_t *)(((uintptr_t)p + HPAGE - 1) & ~(HPAGE - 1));
		if (kind == ANON_CONTIGUOUS) {
			if (contiguous(p, huge))
				return -1;
			break;
		}
		if (madvise(p, len, MADV_HUGEPAGE))
			return rt_fail(errno, "madvise(MADV_HUGEPAGE)");
		memset(p, 1, len);
		break;
	}
	case ANON_HUGETLB:
	case ANON_HUGETLB_1G:
		p = mmap(NULL, len, prot,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB |
			 (kind == ANON_HUGETLB_1G ? MAP_HUGE_1GB : 0), -1, 0);
		if (p == MAP_FAILED)
			return rt_fail(errno, "mmap(MAP_HUGETLB)");
		memset(p, 1, len);
		break;
	default:
		/* sealable: udmabuf wants F_SEAL_SHRINK */
		r->fd = memfd_create("umem_reg", MFD_ALLOW_SEALING |
				     (kind == MEMFD_HUGETLB ? MFD_HUGETLB : 0));
		if (r->fd < 0)
			return rt_fail(errno, "memfd_create");
		if (ftruncate(r->fd, (off_t)len))
			return rt_fail(errno, "ftruncate");
		p = mmap(NULL, len, prot,
			 kind == MEMFD_PRIVATE ? MAP_PRIVATE : MAP_SHARED,
			 r->fd, 0);
		if (p == MAP_FAILED)
			return rt_fail(errno, "mmap(memfd)");
		memset(p, 1, len);
		break;
	}
	r->base = p;
	if (!r->map)
		r->map = p;
	return 0;
}

void region_unmap(struct region *r)
{
	if (r->map)
		munmap(r->map, r->map_len);
	r->map = NULL;
	if (r->fd >= 0)
		close(r->fd);
	r->base = NULL;
	r->fd = -1;
}

/* A phyr's words: see pfn_runs(). */
struct phyr_words {
	uint64_t start, prev, lone;
	size_t words;
	int lone_open;
};

/* The run start..prev ends: a word of its own, or half of a pair. */
static void run_end(struct phyr_words *w)
{
	int64_t d = (int64_t)(w->start - w->lone);

	if (w->start == w->prev && w->lone_open && d >= -(1ll << 22) &&
	    d < (1ll << 22)) {
		w->lone_open = 0;
		return;
	}
	w->words++;
	w->lone_open = w->start == w->prev;
	w->lone = w->start;
}

/*
 * Frame numbers from /proc/self/pagemap (root only).  @words, if not NULL,
 * gets the number of 64-bit words a phyr spends on these runs: a lone page
 * shares the word of the lone page before it when their frame numbers are
 * less than 2^22 apart (include/linux/phyr.h).
 */
int pfn_runs(const uint8_t *p, size_t len, size_t *pages, size_t *runs,
	     size_t *words)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	static uint64_t e[4096];
	struct phyr_words w = { 0 };
	size_t i = 0;

	*pages = len / 4096;
	*runs = 0;
	if (fd < 0)
		return rt_fail(errno, "open pagemap");
	while (i < *pages) {
		size_t n = *pages - i < 4096 ? *pages - i : 4096, j;
		off_t at = (off_t)(((uintptr_t)p / 4096 + i) * 8);

		if (pread(fd, e, n * 8, at) != (ssize_t)(n * 8)) {
			close(fd);
			return rt_fail(errno, "pread pagemap");
		}
		for (j = 0; j < n; j++, i++) {
			uint64_t pfn = e[j] & ((1ull << 55) - 1);

			if (!i || pfn != w.prev + 1) {
				if (i)
					run_end(&w);
				(*runs)++;
				w.start = pfn;
			}
			w.prev = pfn;
		}
	}
	close(fd);
	if (*pages)
		run_end(&w);
	if (words)
		*words = w.words;
	return 0;
}
