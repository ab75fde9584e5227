// SPDX-License-Identifier: GPL-2.0
/*
 * Registration cost of user memory over rxe: kernel bytes per MR (from
 * /proc/allocinfo, MEM_ALLOC_PROFILING), ibv_reg_mr and ibv_dereg_mr
 * latency, and the CPU's memcpy bandwidth as the ceiling for data movement.
 * Runs in a guest of whichever kernel is being measured; prints one JSON
 * object per measurement, prefixed "PHYRLAB-BENCH ".
 *
 * Kinds named "udmabuf-<memfd kind>" register the same memfd memory as a
 * dma-buf (udmabuf) with ibv_reg_dmabuf_mr(); what creating the udmabuf
 * itself costs is reported apart, as exporter_bytes.
 *
 * Each registration above is timed alone, between two reads of
 * /proc/allocinfo that evict what it would find in caches.  Then, in a
 * second pass (so that memory freed late does not blur the byte counts),
 * MRs of every size are registered and deregistered back to
 * back, with nothing in between, and the medians of that loop reported
 * ("reg-loop"): the cost an application that registers many small buffers
 * sees.  dma-buf MRs take part in both passes.
 *
 *   reg_bench [-d dev] [-r reps] [-m max_bytes] [-k kind]...
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/udmabuf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "memkind.h"
#include "rdmatest.h"

#define ACCESS_ALL (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
		    IBV_ACCESS_REMOTE_READ)

/* allocation sites that registration allocates from */
static const char *const sites[] = {
	"lib/scatterlist.c", "lib/phyr.c", "drivers/infiniband/",
	"drivers/dma-buf/",
};

/* Sum of live bytes over the registration path's allocation sites. */
static long long allocinfo_bytes(void)
{
	FILE *f = fopen("/proc/allocinfo", "r");
	char line[512];
	long long sum = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		long long bytes, calls;
		size_t i;

		if (sscanf(line, "%lld %lld", &bytes, &calls) != 2)
			continue;
		for (i = 0; i < sizeof(sites) / sizeof(sites[0]); i++)
			if (strstr(line, sites[i])) {
				sum += bytes;
				break;
			}
	}
	fclose(f);
	return sum;
}

static long long memfree_bytes(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char key[64];
	long long kb, r = -1;

	if (!f)
		return -1;
	while (fscanf(f, "%63s %lld kB\n", key, &kb) == 2)
		if (!strcmp(key, "MemFree:"))
			r = kb * 1024;
	fclose(f);
	return r;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* The memfd behind @r as a udmabuf; its kernel bytes in *bytes. */
static int udmabuf_of(struct region *r, long long *bytes)
{
	struct udmabuf_create c = { .memfd = r->fd,
				    .flags = UDMABUF_FLAGS_CLOEXEC,
				    .size = r->len };
	int dev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC), fd;
	long long b0;

	if (dev < 0)
		return rt_fail(errno, "open /dev/udmabuf");
	if (fcntl(r->fd, F_ADD_SEALS, F_SEAL_SHRINK))
		return rt_fail(errno, "F_SEAL_SHRINK");
	b0 = allocinfo_bytes();
	fd = ioctl(dev, UDMABUF_CREATE, &c);
	*bytes = allocinfo_bytes() - b0;
	close(dev);
	if (fd < 0)
		return rt_fail(errno, "UDMABUF_CREATE of %zu bytes", r->len);
	return fd;
}

#define LOOP_BYTES	(256 * MiB)	/* registered per loop, unless too few */
#define LOOP_MIN_ITERS	8
#define LOOP_MAX_ITERS	200

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * Back-to-back registrations of @r's memory, through the udmabuf @fd if it
 * is not -1: median reg and dereg times.
 */
static int reg_loop(struct rt_dev *d, const char *name, struct region *r,
		    int fd)
{
	int n = LOOP_BYTES / r->len, i;
	double *t;

	if (n > LOOP_MAX_ITERS)
		n = LOOP_MAX_ITERS;
	if (n < LOOP_MIN_ITERS)
		n = LOOP_MIN_ITERS;
	t = calloc(2 * n, sizeof(*t));
	if (!t)
		return rt_fail(ENOMEM, "reg loop");
	for (i = 0; i < n; i++) {
		double t0, t1, t2;
		struct ibv_mr *mr;

		t0 = now_ns();
		mr = fd >= 0 ? ibv_reg_dmabuf_mr(d->pd, 0, r->len,
						 (uintptr_t)r->base, fd,
						 ACCESS_ALL) :
			       ibv_reg_mr(d->pd, r->base, r->len, ACCESS_ALL);
		t1 = now_ns();
		if (!mr && !i) {
			/*
			 * a result too, as in one(): stock rxe has no dma-buf
			 * MRs, nor room for a 4 GiB MR's page_info
			 */
			printf("PHYRLAB-BENCH {\"what\":\"reg-failed\","
			       "\"kind\":\"%s\",\"bytes\":%zu,\"errno\":%d,"
			       "\"loop\":1}\n", name, r->len, errno);
			free(t);
			return 0;
		}
		if (!mr) {
			free(t);
			return rt_fail(errno, "%s in the loop", fd >= 0 ?
				       "ibv_reg_dmabuf_mr" : "ibv_reg_mr");
		}
		if (ibv_dereg_mr(mr)) {
			free(t);
			return rt_fail(errno, "ibv_dereg_mr in the loop");
		}
		t2 = now_ns();
		t[i] = t1 - t0;
		t[n + i] = t2 - t1;
	}
	printf("PHYRLAB-BENCH {\"what\":\"reg-loop\",\"kind\":\"%s\","
	       "\"bytes\":%zu,\"n\":%d,\"reg_ns\":%.0f,"
	       "\"dereg_ns\":%.0f}\n", name, r->len, n, median(t, n),
	       median(t + n, n));
	free(t);
	return 0;
}

/*
 * Measure @kind @reps times; @dmabuf: the same memory through a udmabuf;
 * @loop: then the back-to-back loop.
 */
static int one(struct rt_dev *d, enum kind kind, int dmabuf, size_t len,
	       int reps, int loop)
{
	long long exporter_bytes = 0;
	size_t pages, runs, words;
	char name[64];
	struct region r;
	int i, fd = -1;

	snprintf(name, sizeof(name), "%s%s", dmabuf ? "udmabuf-" : "",
		 kind_name[kind] + (dmabuf ? strlen("memfd-") : 0));
	if (region_map(&r, kind, len))
		return -1;
	if (pfn_runs(r.base, len, &pages, &runs, &words) ||
	    (dmabuf && (fd = udmabuf_of(&r, &exporter_bytes)) < 0)) {
		region_unmap(&r);
		return -1;
	}
	for (i = 0; i < reps; i++) {
		long long b0, b1, m0, m1;
		double t0, t1, t2, t3;
		struct ibv_mr *mr;

		b0 = allocinfo_bytes();
		m0 = memfree_bytes();
		t0 = now_ns();
		/* perftest's choice for dma-buf MRs: iova = the CPU address */
		mr = dmabuf ? ibv_reg_dmabuf_mr(d->pd, 0, len,
						(uintptr_t)r.base, fd,
						ACCESS_ALL) :
			      ibv_reg_mr(d->pd, r.base, len, ACCESS_ALL);
		t1 = now_ns();
		if (!mr) {
			int err = errno;

			/*
			 * a result too: stock rxe cannot map 4 GiB, nor
			 * register dma-buf memory at all
			 */
			printf("PHYRLAB-BENCH {\"what\":\"reg-failed\","
			       "\"kind\":\"%s\",\"bytes\":%zu,\"errno\":%d}\n",
			       name, len, err);
			if (fd >= 0)
				close(fd);
			region_unmap(&r);
			return 0;
		}
		b1 = allocinfo_bytes();
		m1 = memfree_bytes();
		t2 = now_ns();
		if (ibv_dereg_mr(mr)) {
			region_unmap(&r);
			return rt_fail(errno, "ibv_dereg_mr");
		}
		t3 = now_ns();
		printf("PHYRLAB-BENCH {\"what\":\"reg\",\"kind\":\"%s\","
		       "\"bytes\":%zu,\"rep\":%d,\"pages\":%zu,\"runs\":%zu,"
		       "\"words\":%zu,"
		       "\"kernel_bytes\":%lld,\"memfree_delta\":%lld,"
		       "\"reg_ns\":%.0f,\"dereg_ns\":%.0f,"
		       "\"exporter_bytes\":%lld}\n",
		       name, len, i, pages, runs, words, b1 - b0, m0 - m1,
		       t1 - t0, t3 - t2, exporter_bytes);
	}
	i = loop ? reg_loop(d, name, &r, fd) : 0;
	if (fd >= 0)
		close(fd);
	region_unmap(&r);
	return i;
}

/* memcpy bandwidth of the guest CPU: the ceiling for rxe's copies. */
static void memcpy_ceiling(void)
{
	size_t len = 64 * MiB;
	char *a = malloc(len), *b = malloc(len);
	int i;

	if (!a || !b)
		return;
	memset(a, 1, len);
	memset(b, 2, len);
	for (i = 0; i < 5; i++) {
		double t0 = now_ns(), t1;

		memcpy(b, a, len);
		t1 = now_ns();
		printf("PHYRLAB-BENCH {\"what\":\"memcpy\",\"bytes\":%zu,"
		       "\"rep\":%d,\"ns\":%.0f}\n", len, i, t1 - t0);
	}
	free(a);
	free(b);
}

/*
 * Size the hugetlb pool @kind draws from for @len bytes (0: empty it);
 * -1 when the kernel cannot give that many pages.  1 GiB pages come only
 * from the boot command line (hugepagesz=1G hugepages=N: phyrlab bench
 * asks for them) and a CPU with pdpe1gb, so that pool is only checked:
 * once given back, 1 GiB pages cannot be had again without CONTIG_ALLOC.
 */
static int hugetlb_pool(enum kind kind, size_t len)
{
	static const char *const pool[] = {
		[ANON_HUGETLB] = "/proc/sys/vm/nr_hugepages",
		[MEMFD_HUGETLB] = "/proc/sys/vm/nr_hugepages",
		[ANON_HUGETLB_1G] =
		"/sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages",
	};
	size_t page = kind == ANON_HUGETLB_1G ? GPAGE : HPAGE;
	char n[32];

	if (kind >= sizeof(pool) / sizeof(pool[0]) || !pool[kind])
		return 0;
	snprintf(n, sizeof(n), "%zu", len / page);
	if (kind != ANON_HUGETLB_1G)
		write_file(pool[kind], n);
	if (len && read_long(pool[kind]) < (long)(len / page)) {
		printf("PHYRLAB-BENCH {\"what\":\"reg-skipped\","
		       "\"kind\":\"%s\",\"bytes\":%zu,"
		       "\"why\":\"no %zu MiB hugetlb pages\"}\n",
		       kind_name[kind], len, page >> 20);
		if (kind != ANON_HUGETLB_1G)
			write_file(pool[kind], "0");
		return -1;
	}
	return 0;
}

/*
 * One pass over @kinds (1: plain, 2: through a udmabuf) and sizes up to
 * @max; @loop: the back-to-back pass.
 */
static int measure(struct rt_dev *d, const int *kinds, size_t max, int reps,
		   int loop)
{
	static const size_t sizes[] = { 4 * KiB, 64 * KiB, MiB, 16 * MiB,
					256 * MiB, GiB, 4 * GiB };
	size_t i;
	int k;

	for (k = 0; k < NR_KINDS; k++) {
		if (!kinds[k])
			continue;
		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			size_t len = sizes[i];

			if (len > max)
				break;
			/* huge kinds come in 2 MiB or 1 GiB pages */
			if (k != ANON_FRAGMENTED && k != ANON_CONTIGUOUS &&
			    len < (k == ANON_HUGETLB_1G ? GPAGE : HPAGE))
				continue;
			if (hugetlb_pool(k, len))
				continue;
			if (((kinds[k] & 1) &&
			     one(d, k, 0, len, loop ? 0 : reps, loop)) ||
			    ((kinds[k] & 2) &&
			     one(d, k, 1, len, loop ? 0 : reps, loop)))
				return 1;
			hugetlb_pool(k, 0);
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	/* kinds to measure: 1 plain, 2 through a udmabuf (memfd kinds) */
	int kinds[NR_KINDS] = { 0 }, any = 0, reps = 5, opt, k, loop;
	size_t max = 4 * GiB;
	const char *devname = NULL;
	struct rt_dev d;

	while ((opt = getopt(argc, argv, "d:r:m:k:")) != -1) {
		switch (opt) {
		case 'd':
			devname = optarg;
			break;
		case 'r':
			reps = atoi(optarg);
			break;
		case 'm':
			max = strtoull(optarg, NULL, 0);
			break;
		case 'k':
			for (k = 0; k < NR_KINDS; k++) {
				const char *n = kind_name[k];

				if (!strcmp(optarg, n))
					kinds[k] |= 1;
				else if (!strncmp(n, "memfd-", 6) &&
					 !strncmp(optarg, "udmabuf-", 8) &&
					 !strcmp(optarg + 8, n + 6))
					kinds[k] |= 2;
				any |= kinds[k];
			}
			break;
		default:
			fprintf(stderr, "usage: reg_bench [-d dev] [-r reps] "
				"[-m max_bytes] [-k kind]...\n");
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (allocinfo_bytes() < 0)
		fprintf(stderr, "no /proc/allocinfo: kernel_bytes will be "
			"-1\n");
	if (rt_open(&d, devname))
		return 1;
	write_file("/sys/kernel/mm/transparent_hugepage/enabled", "madvise");
	write_file("/sys/kernel/mm/transparent_hugepage/shmem_enabled",
		   "always");
	memcpy_ceiling();
	if (!any)	/* the default corpus */
		for (k = 0; k < NR_KINDS; k++)
			kinds[k] = k == MEMFD_PRIVATE || k == MEMFD_SHMEM ? 0 :
				   k == MEMFD_HUGETLB || k == MEMFD_SHMEM_HUGE ?
				   3 : 1;
	for (loop = 0; loop < 2; loop++)
		if (measure(&d, kinds, max, reps, loop))
			return 1;
	rt_close(&d);
	return 0;
}
