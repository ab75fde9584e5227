/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kinds of user memory the tests and benchmarks register: how to map
 * and populate each, how fragmented it is physically, and the system's
 * FOLL_PIN counters.
 */
#ifndef MEMKIND_H
#define MEMKIND_H

#include <stddef.h>
#include <stdint.h>

#define KiB 1024ul
#define MiB (1024 * KiB)
#define GiB (1024 * MiB)
#define HPAGE (2 * MiB)
#define GPAGE GiB

enum kind {
	ANON_FRAGMENTED,	/* 4 KiB pages, no two neighbours contiguous */
	ANON_THP,		/* transparent huge pages */
	ANON_HUGETLB,		/* MAP_HUGETLB, private */
	MEMFD_SHMEM,		/* memfd, shared mapping */
	MEMFD_SHMEM_HUGE,	/* memfd on huge shmem, shared mapping */
	MEMFD_HUGETLB,		/* memfd on hugetlbfs, shared mapping */
	MEMFD_PRIVATE,		/* memfd, private mapping: GUP */
	ANON_CONTIGUOUS,	/* 4 KiB pages, physically contiguous */
	ANON_HUGETLB_1G,	/* MAP_HUGETLB | MAP_HUGE_1GB, private */
};
#define NR_KINDS (ANON_HUGETLB_1G + 1)

extern const char *const kind_name[NR_KINDS];

struct region {
	enum kind kind;
	uint8_t *base;		/* the memory to register */
	size_t len;
	void *map;		/* the whole mapping (base aligned inside) */
	size_t map_len;
	int fd;
};

/*
 * Map @len bytes, populated: a multiple of 2 MiB for the huge kinds, of
 * 1 GiB for ANON_HUGETLB_1G.
 */
int region_map(struct region *r, enum kind kind, size_t len);
void region_unmap(struct region *r);
/*
 * Physically contiguous runs of a mapping, from /proc/self/pagemap, and
 * the phyr words they take (@words may be NULL).
 */
int pfn_runs(const uint8_t *p, size_t len, size_t *pages, size_t *runs,
	     size_t *words);

int64_t vmstat(const char *key);
/* nr_foll_pin_acquired - nr_foll_pin_released, counters folded first */
int64_t pins_outstanding(void);
long read_long(const char *path);
int write_file(const char *path, const char *val);

#endif
