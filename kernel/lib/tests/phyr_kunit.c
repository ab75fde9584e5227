// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for phyr, the physical range list (lib/phyr.c).
 *
 * Most tests use made-up physical addresses: building, iterating and
 * looking up never touch the memory.  The sg_table and DMA tests use real
 * pages.
 */
#include <kunit/device.h>
#include <kunit/static_stub.h>
#include <kunit/test.h>
#include <linux/dma-direct.h>
#include <linux/dma-mapping.h>
#include <linux/iommu.h>
#include <linux/mm.h>
#include <linux/pci.h>
#include <linux/pci-p2pdma.h>
#include <linux/phyr.h>
#include <linux/scatterlist.h>
#include <linux/sizes.h>
#include <linux/slab.h>

static const struct phyr_meta meta_wc = { .cache = PHYR_CACHE_WC };
static const struct phyr_meta meta_shared = { .cc = PHYR_CC_SHARED };
static const struct phyr_meta meta_private_ic = {
	.flags = PHYR_META_PRIVATE_INTERCONNECT,
};

struct expect {
	phys_addr_t phys;
	u64 len;
	const struct phyr_meta *meta;
};

static bool meta_eq(const struct phyr_meta *a, const struct phyr_meta *b)
{
	return a->provider == b->provider && a->cache == b->cache &&
	       a->cc == b->cc && a->flags == b->flags;
}

static void phyr_free_action(void *p)
{
	phyr_free(p);
}

/*
 * A list freed when the test ends, also when an assertion aborts it, so a
 * failing test does not show up as a leak as well.
 */
static struct phyr *new_phyr(struct kunit *test)
{
	struct phyr *p = kunit_kzalloc(test, sizeof(*p), GFP_KERNEL);
	int ret;

	KUNIT_ASSERT_NOT_NULL(test, p);
	phyr_init(p);
	ret = kunit_add_action_or_reset(test, phyr_free_action, p);
	KUNIT_ASSERT_EQ(test, ret, 0);
	return p;
}

/* The list holds exactly @want, in order, with consistent offsets. */
static void expect_ranges(struct kunit *test, const struct phyr *p,
			  const struct expect *want, unsigned long n)
{
	struct phyr_range r;
	struct phyr_iter it;
	unsigned long i = 0;
	u64 off = 0;

	KUNIT_EXPECT_EQ(test, phyr_nr_ranges(p), n);
	phyr_for_each_range(p, &it, &r) {
		KUNIT_ASSERT_LT(test, i, n);
		KUNIT_EXPECT_EQ_MSG(test, r.phys, want[i].phys, "range %lu", i);
		KUNIT_EXPECT_EQ_MSG(test, r.len, want[i].len, "range %lu", i);
		KUNIT_EXPECT_EQ_MSG(test, r.offset, off, "range %lu", i);
		KUNIT_EXPECT_EQ_MSG(test, r.index, i, "range %lu", i);
		KUNIT_EXPECT_TRUE_MSG(test, meta_eq(r.meta, want[i].meta),
				      "meta of range %lu", i);
		off += r.len;
		i++;
	}
	KUNIT_EXPECT_EQ(test, i, n);
	KUNIT_EXPECT_EQ(test, phyr_length(p), off);
}

static void phyr_test_empty(struct kunit *test)
{
	struct phyr *p = new_phyr(test);
	struct phyr_range r;
	struct phyr_iter it;
	struct sg_table sgt;
	struct phyr_dma dma;
	size_t nr;
	struct device *dev = kunit_device_register(test, "phyr-empty");

	KUNIT_EXPECT_TRUE(test, phyr_empty(p));
	KUNIT_EXPECT_EQ(test, phyr_length(p), 0);
	KUNIT_EXPECT_EQ(test, phyr_bytes_used(p), 0);
	phyr_iter_start(&it, p);
	KUNIT_EXPECT_FALSE(test, phyr_iter_next(&it, &r));
	KUNIT_EXPECT_EQ(test, phyr_find(p, 0, NULL, &r), -ERANGE);
	KUNIT_EXPECT_EQ(test, phyr_to_sgt(p, &sgt, GFP_KERNEL), -EINVAL);
	KUNIT_EXPECT_NULL(test, phyr_to_phys_vec(p, &nr, GFP_KERNEL));
	KUNIT_EXPECT_EQ(test, nr, 0);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dev);
	KUNIT_EXPECT_EQ(test, phyr_dma_map(dev, p, DMA_TO_DEVICE, 0, &dma),
			-EINVAL);
	/* bad appends leave it empty */
	KUNIT_EXPECT_EQ(test, phyr_append(p, SZ_4K, 0, &phyr_meta_cpu,
					  GFP_KERNEL), -EINVAL);
	KUNIT_EXPECT_TRUE(test, phyr_empty(p));
	phyr_free(p);
}

static void phyr_test_single_byte(struct kunit *test)
{
	struct expect want[] = { { SZ_64K + 5, 1, &phyr_meta_cpu } };
	struct phyr_range r;
	struct phyr *p = new_phyr(test);

	KUNIT_ASSERT_EQ(test, phyr_append(p, SZ_64K + 5, 1, &phyr_meta_cpu,
					  GFP_KERNEL), 0);
	expect_ranges(test, p, want, 1);
	KUNIT_EXPECT_EQ(test, phyr_find(p, 0, NULL, &r), 0);
	KUNIT_EXPECT_EQ(test, r.phys, SZ_64K + 5);
	KUNIT_EXPECT_EQ(test, phyr_find(p, 1, NULL, &r), -ERANGE);
	phyr_free(p);
	KUNIT_EXPECT_TRUE(test, phyr_empty(p));
}

static void phyr_test_single_page(struct kunit *test)
{
	struct expect want[] = { { SZ_1M, PAGE_SIZE, &phyr_meta_cpu } };
	struct phyr *p = new_phyr(test);

	KUNIT_ASSERT_EQ(test, phyr_append(p, SZ_1M, PAGE_SIZE, &phyr_meta_cpu,
					  GFP_KERNEL), 0);
	expect_ranges(test, p, want, 1);
	/* one small chunk (phyr_test_alloc_count counts the allocations) */
	KUNIT_EXPECT_GT(test, phyr_bytes_used(p), 0);
	KUNIT_EXPECT_LE(test, phyr_bytes_used(p), 128);
	phyr_free(p);
}

/* 1 GiB appended page by page, physically contiguous: one range. */
static void phyr_test_1g_run(struct kunit *test)
{
	struct expect want[] = { { SZ_4G, SZ_1G, &phyr_meta_cpu } };
	struct phyr *p = new_phyr(test);
	u64 off;

	for (off = 0; off < SZ_1G; off += PAGE_SIZE)
		KUNIT_ASSERT_EQ(test, phyr_append(p, SZ_4G + off, PAGE_SIZE,
						  &phyr_meta_cpu, GFP_KERNEL), 0);
	expect_ranges(test, p, want, 1);
	phyr_free(p);
	/* and as 2 MiB folios in reverse physical order: 512 ranges */
	for (off = 0; off < SZ_1G; off += SZ_2M)
		KUNIT_ASSERT_EQ(test, phyr_append(p, SZ_4G + SZ_1G - SZ_2M - off,
						  SZ_2M, &phyr_meta_cpu,
						  GFP_KERNEL), 0);
	KUNIT_EXPECT_EQ(test, phyr_nr_ranges(p), 512);
	KUNIT_EXPECT_EQ(test, phyr_length(p), SZ_1G);
	/* 8 bytes a range, plus chunk headers and the directory */
	KUNIT_EXPECT_LE(test, phyr_bytes_used(p), 512 * 8 + 256);
	phyr_free(p);
}

static void phyr_test_longest_run(struct kunit *test)
{
	const u64 max = PHYR_MAX_RUN_PAGES * PAGE_SIZE;
	struct expect want[] = {
		{ SZ_1G, max, &phyr_meta_cpu },
		{ SZ_1G + max, PAGE_SIZE, &phyr_meta_cpu },
	};
	struct phyr *p = new_phyr(test);

	KUNIT_ASSERT_EQ(test, phyr_append(p, SZ_1G, max, &phyr_meta_cpu,
					  GFP_KERNEL), 0);
	expect_ranges(test, p, want, 1);
	/* one page more does not fit the run: a second range */
	KUNIT_ASSERT_EQ(test, phyr_append(p, SZ_1G + max, PAGE_SIZE,
					  &phyr_meta_cpu, GFP_KERNEL), 0);
	expect_ranges(test, p, want, 2);
	phyr_free(p);
	/* the same as one append is split the same way */
	KUNIT_ASSERT_EQ(test, phyr_append(p, SZ_1G, max + PAGE_SIZE,
					  &phyr_meta_cpu, GFP_KERNEL), 0);
	expect_ranges(test, p, want, 2);
	phyr_free(p);
}

static void phyr_test_alternating_meta(struct kunit *test)
{
	struct expect *want;
	struct phyr *p = new_phyr(test);
	int i, n = 1500;	/* spans several chunks */

	want = kunit_kcalloc(test, n, sizeof(*want), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, want);
	for (i = 0; i < n; i++) {
		/* physically contiguous: only the meta keeps them apart */
		want[i].phys = SZ_1G + (u64)i * PAGE_SIZE;
		want[i].len = PAGE_SIZE;
		want[i].meta = i % 3 == 0 ? &phyr_meta_cpu :
			       i % 3 == 1 ? &meta_wc : &meta_shared;
		KUNIT_ASSERT_EQ(test, phyr_append(p, want[i].phys, PAGE_SIZE,
						  want[i].meta, GFP_KERNEL), 0);
	}
	expect_ranges(test, p, want, n);
	phyr_free(p);
}

static void phyr_test_contiguous_meta_apart(struct kunit *test)
{
	struct expect want[] = {
		{ SZ_1M, SZ_64K, &phyr_meta_cpu },
		{ SZ_1M + SZ_64K, SZ_64K, &meta_wc },
		{ SZ_1M + SZ_128K, SZ_128K, &phyr_meta_cpu },
	};
	struct phyr *p = new_phyr(test);

	KUNIT_ASSERT_EQ(test, phyr_append(p, SZ_1M, SZ_32K, &phyr_meta_cpu,
					  GFP_KERNEL), 0);
	KUNIT_ASSERT_EQ(test, phyr_append(p, SZ_1M + SZ_32K, SZ_32K,
					  &phyr_meta_cpu, GFP_KERNEL), 0);
	KUNIT_ASSERT_EQ(test, phyr_append(p, SZ_1M + SZ_64K, SZ_64K, &meta_wc,
					  GFP_KERNEL), 0);
	KUNIT_ASSERT_EQ(test, phyr_append(p, SZ_1M + SZ_128K, SZ_128K,
					  &phyr_meta_cpu, GFP_KERNEL), 0);
	expect_ranges(test, p, want, ARRAY_SIZE(want));
	KUNIT_EXPECT_FALSE(test, phyr_has_p2p(p));
	phyr_free(p);
}

static void phyr_test_unaligned_ends(struct kunit *test)
{
	struct expect want[] = {
		{ SZ_1M + 100, PAGE_SIZE - 100 + 2 * PAGE_SIZE, &phyr_meta_cpu },
		{ SZ_16M, PAGE_SIZE, &phyr_meta_cpu },
		{ SZ_32M, 300, &phyr_meta_cpu },
	};
	struct phyr_range r;
	struct phyr *p = new_phyr(test);

	/* unaligned start, then contiguous whole pages: still one range */
	KUNIT_ASSERT_EQ(test, phyr_append(p, SZ_1M + 100, PAGE_SIZE - 100,
					  &phyr_meta_cpu, GFP_KERNEL), 0);
	KUNIT_ASSERT_EQ(test, phyr_append(p, SZ_1M + PAGE_SIZE, 2 * PAGE_SIZE,
					  &phyr_meta_cpu, GFP_KERNEL), 0);
	KUNIT_ASSERT_EQ(test, phyr_append(p, SZ_16M, PAGE_SIZE,
					  &phyr_meta_cpu, GFP_KERNEL), 0);
	KUNIT_ASSERT_EQ(test, phyr_append(p, SZ_32M, 300, &phyr_meta_cpu,
					  GFP_KERNEL), 0);
	expect_ranges(test, p, want, ARRAY_SIZE(want));
	KUNIT_EXPECT_EQ(test, phyr_find(p, phyr_length(p) - 1, NULL, &r), 0);
	KUNIT_EXPECT_EQ(test, r.phys, SZ_32M);
	KUNIT_EXPECT_EQ(test, phyr_find(p, phyr_length(p), NULL, &r),
			-ERANGE);
	phyr_free(p);
}

static void phyr_test_address_limits(struct kunit *test)
{
	const phys_addr_t top_packed = PFN_PHYS((phys_addr_t)PHYR_MAX_PFN);
	const phys_addr_t escape = PFN_PHYS((phys_addr_t)PHYR_PFN_ESCAPE);
	const phys_addr_t last_page = (phys_addr_t)U64_MAX - PAGE_SIZE + 1;
	struct expect want[] = {
		{ 0, PAGE_SIZE, &phyr_meta_cpu },
		{ top_packed, 2 * PAGE_SIZE, &phyr_meta_cpu },
		{ last_page, PAGE_SIZE, &phyr_meta_cpu },
	};
	struct phyr *p = new_phyr(test);

	KUNIT_ASSERT_EQ(test, phyr_append(p, 0, PAGE_SIZE, &phyr_meta_cpu,
					  GFP_KERNEL), 0);
	/* the last packed page frame, then the escape frame right after it */
	KUNIT_ASSERT_EQ(test, phyr_append(p, top_packed, PAGE_SIZE,
					  &phyr_meta_cpu, GFP_KERNEL), 0);
	KUNIT_ASSERT_EQ(test, phyr_append(p, escape, PAGE_SIZE,
					  &phyr_meta_cpu, GFP_KERNEL), 0);
	/* beyond the packed limit: the merged range is byte-granular */
	expect_ranges(test, p, want, 2);
	phyr_free(p);

	want[1].len = PAGE_SIZE;
	KUNIT_ASSERT_EQ(test, phyr_append(p, 0, PAGE_SIZE, &phyr_meta_cpu,
					  GFP_KERNEL), 0);
	KUNIT_ASSERT_EQ(test, phyr_append(p, top_packed, PAGE_SIZE,
					  &phyr_meta_cpu, GFP_KERNEL), 0);
	KUNIT_ASSERT_EQ(test, phyr_append(p, last_page, PAGE_SIZE,
					  &phyr_meta_cpu, GFP_KERNEL), 0);
	expect_ranges(test, p, want, 3);
	/* a range at the top does not merge with one at address 0 */
	KUNIT_ASSERT_EQ(test, phyr_append(p, 0, PAGE_SIZE, &phyr_meta_cpu,
					  GFP_KERNEL), 0);
	KUNIT_EXPECT_EQ(test, phyr_nr_ranges(p), 4);
	KUNIT_EXPECT_EQ(test, phyr_length(p), 4 * PAGE_SIZE);
	phyr_free(p);
	KUNIT_ASSERT_EQ(test, phyr_append(p, 0, PAGE_SIZE, &phyr_meta_cpu,
					  GFP_KERNEL), 0);
	KUNIT_ASSERT_EQ(test, phyr_append(p, top_packed, PAGE_SIZE,
					  &phyr_meta_cpu, GFP_KERNEL), 0);
	KUNIT_ASSERT_EQ(test, phyr_append(p, last_page, PAGE_SIZE,
					  &phyr_meta_cpu, GFP_KERNEL), 0);
	/* wrapping past the top of the address space is refused */
	KUNIT_EXPECT_EQ(test, phyr_append(p, last_page, 2 * PAGE_SIZE,
					  &phyr_meta_cpu, GFP_KERNEL), -EINVAL);
	expect_ranges(test, p, want, 3);
	phyr_free(p);
}

/* Allocation failure injection: fail the n-th allocation. */
static int phyr_alloc_calls, phyr_alloc_fail_at;

static void *phyr_failing_alloc(void *old, size_t n, size_t size, gfp_t gfp)
{
	if (++phyr_alloc_calls == phyr_alloc_fail_at)
		return NULL;
	return krealloc_array(old, n, size, gfp);
}

static void phyr_test_alloc_failure(struct kunit *test)
{
	const int n = 2000;
	struct phys_vec *vec;
	int fail_at, i, failures = 0;

	vec = kunit_kcalloc(test, n, sizeof(*vec), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, vec);
	for (i = 0; i < n; i++) {
		vec[i].paddr = SZ_1G + 2ULL * i * PAGE_SIZE;
		vec[i].len = i % 7 ? PAGE_SIZE : 100;
	}
	kunit_activate_static_stub(test, phyr_alloc, phyr_failing_alloc);
	for (fail_at = 1; fail_at < 12; fail_at++) {
		struct phyr *p = new_phyr(test);
		unsigned long before_ranges;
		u64 before_len;
		int ret;

		phyr_alloc_calls = 0;
		phyr_alloc_fail_at = fail_at;
		ret = 0;
		/* build one by one until the injected failure */
		for (i = 0; i < n / 2; i++) {
			before_ranges = phyr_nr_ranges(p);
			before_len = phyr_length(p);
			ret = phyr_append(p, vec[i].paddr, vec[i].len,
					  i & 1 ? &meta_wc : &phyr_meta_cpu,
					  GFP_KERNEL);
			if (ret)
				break;
		}
		if (ret) {
			struct phyr_range r;
			struct phyr_iter it;
			unsigned long seen = 0;

			failures++;
			KUNIT_EXPECT_EQ(test, ret, -ENOMEM);
			/* the failed append changed nothing */
			KUNIT_EXPECT_EQ(test, phyr_nr_ranges(p), before_ranges);
			KUNIT_EXPECT_EQ(test, phyr_length(p), before_len);
			phyr_for_each_range(p, &it, &r) {
				KUNIT_EXPECT_EQ(test, r.phys, vec[seen].paddr);
				seen++;
			}
			KUNIT_EXPECT_EQ(test, seen, before_ranges);
		}
		phyr_free(p);

		/* a multi-range append fails whole */
		phyr_alloc_fail_at = 0;
		KUNIT_ASSERT_EQ(test, phyr_append(p, SZ_16M, PAGE_SIZE,
						  &phyr_meta_cpu, GFP_KERNEL), 0);
		phyr_alloc_calls = 0;
		phyr_alloc_fail_at = fail_at;
		ret = phyr_from_phys_vec(p, vec, n, &meta_shared, GFP_KERNEL);
		if (ret) {
			KUNIT_EXPECT_EQ(test, ret, -ENOMEM);
			KUNIT_EXPECT_EQ(test, phyr_nr_ranges(p), 1);
			KUNIT_EXPECT_EQ(test, phyr_length(p), PAGE_SIZE);
			KUNIT_EXPECT_EQ(test, p->nr_metas, 0);
		} else {
			KUNIT_EXPECT_EQ(test, phyr_nr_ranges(p), n + 1);
		}
		phyr_free(p);
	}
	KUNIT_EXPECT_GT(test, failures, 3);
	/* kmemleak, run by the lab at the end, catches anything left */
}

/* Append want[from] up to want[to - 1]. */
static void append_all(struct kunit *test, struct phyr *p,
		       const struct expect *want, int from, int to)
{
	int i;

	for (i = from; i < to; i++)
		KUNIT_ASSERT_EQ_MSG(test, phyr_append(p, want[i].phys,
						      want[i].len, want[i].meta,
						      GFP_KERNEL), 0,
				    "range %d", i);
}

/*
 * A list of CPU memory that fits the first chunk is one allocation.  The
 * directory comes with the second chunk and the meta table with the first
 * meta that is not the CPU's; a failure to allocate either leaves the list
 * as it was.
 */
static void phyr_test_alloc_count(struct kunit *test)
{
	struct expect want[11];
	struct phyr *p = new_phyr(test);
	size_t one_chunk;
	int i;

	for (i = 0; i < 10; i++)
		want[i] = (struct expect){ SZ_1G + i * SZ_1M, 2 * PAGE_SIZE,
					   &phyr_meta_cpu };
	want[10] = (struct expect){ SZ_2G, PAGE_SIZE, &meta_wc };
	kunit_activate_static_stub(test, phyr_alloc, phyr_failing_alloc);
	phyr_alloc_calls = 0;
	phyr_alloc_fail_at = 0;
	append_all(test, p, want, 0, 8);
	KUNIT_EXPECT_EQ(test, phyr_alloc_calls, 1);
	one_chunk = phyr_bytes_used(p);
	KUNIT_EXPECT_LE(test, one_chunk, 128);
	expect_ranges(test, p, want, 8);

	/* the second chunk needs the directory: fail that, then the chunk */
	for (i = 2; i <= 3; i++) {
		phyr_alloc_calls = 1;
		phyr_alloc_fail_at = i;
		KUNIT_EXPECT_EQ(test, phyr_append(p, want[8].phys, want[8].len,
						  want[8].meta, GFP_KERNEL),
				-ENOMEM);
		KUNIT_EXPECT_EQ(test, phyr_alloc_calls, i);
		expect_ranges(test, p, want, 8);
	}
	/* the failed chunk is gone; the directory it needed may stay */
	KUNIT_EXPECT_EQ(test, p->nr_chunks, 1);
	KUNIT_EXPECT_LT(test, phyr_bytes_used(p), one_chunk + PAGE_SIZE);
	phyr_alloc_fail_at = 0;
	phyr_alloc_calls = 0;
	append_all(test, p, want, 8, 10);
	KUNIT_EXPECT_EQ(test, phyr_alloc_calls, 1);
	expect_ranges(test, p, want, 10);

	/* a meta that is not the CPU's needs the table */
	phyr_alloc_fail_at = 2;
	KUNIT_EXPECT_EQ(test, phyr_append(p, want[10].phys, want[10].len,
					  want[10].meta, GFP_KERNEL), -ENOMEM);
	KUNIT_EXPECT_EQ(test, p->nr_metas, 0);
	expect_ranges(test, p, want, 10);
	phyr_alloc_fail_at = 0;
	KUNIT_ASSERT_EQ(test, phyr_append(p, want[10].phys, want[10].len,
					  want[10].meta, GFP_KERNEL), 0);
	KUNIT_EXPECT_EQ(test, phyr_alloc_calls, 3);
	KUNIT_EXPECT_EQ(test, p->nr_metas, 1);
	expect_ranges(test, p, want, 11);
	kunit_deactivate_static_stub(test, phyr_alloc);
	phyr_free(p);
	KUNIT_EXPECT_EQ(test, phyr_bytes_used(p), 0);
}

static void free_block(void *block)
{
	__free_pages(block, 6);
}

/*
 * Pages as pin_user_pages() returns them: runs merge, lone pages pair up,
 * and a failure leaves exactly the pages appended before it.  A list that
 * a failure left empty holds no storage.
 */
static void phyr_test_append_pages(struct kunit *test)
{
	static const int order[] = { 0, 1, 2, 10, 10, 5, 20, 21 };
	struct page *block, *pages[32];
	struct phyr *p = new_phyr(test);
	struct expect want[32];
	unsigned long done;
	int i;

	block = alloc_pages(GFP_KERNEL, 6);
	KUNIT_ASSERT_NOT_NULL(test, block);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, free_block,
							block), 0);
	/* a run of three, the same page twice, a page back, a run of two */
	for (i = 0; i < ARRAY_SIZE(order); i++)
		pages[i] = block + order[i];
	want[0] = (struct expect){ page_to_phys(block), 3 * PAGE_SIZE };
	want[1] = (struct expect){ page_to_phys(block + 10), PAGE_SIZE };
	want[2] = want[1];
	want[3] = (struct expect){ page_to_phys(block + 5), PAGE_SIZE };
	want[4] = (struct expect){ page_to_phys(block + 20), 2 * PAGE_SIZE };
	for (i = 0; i < 5; i++)
		want[i].meta = &phyr_meta_cpu;
	KUNIT_EXPECT_EQ(test, phyr_append_pages(p, pages, ARRAY_SIZE(order),
						&phyr_meta_cpu, GFP_KERNEL,
						&done), 0);
	KUNIT_EXPECT_EQ(test, done, ARRAY_SIZE(order));
	expect_ranges(test, p, want, 5);
	KUNIT_EXPECT_EQ(test, phyr_append_pages(p, pages, 0, &meta_wc,
						GFP_KERNEL, &done), 0);
	KUNIT_EXPECT_EQ(test, done, 0);
	KUNIT_EXPECT_EQ(test, p->nr_metas, 0);
	phyr_free(p);

	/* every other page: 32 lone pages, 16 pair words, two chunks */
	for (i = 0; i < 32; i++) {
		pages[i] = block + 2 * i;
		want[i] = (struct expect){ page_to_phys(pages[i]), PAGE_SIZE,
					   &meta_wc };
	}
	kunit_activate_static_stub(test, phyr_alloc, phyr_failing_alloc);
	/*
	 * The meta table fails, or is made and the first chunk fails: nothing
	 * goes in and nothing stays allocated.
	 */
	for (i = 1; i <= 2; i++) {
		phyr_alloc_calls = 0;
		phyr_alloc_fail_at = i;
		KUNIT_EXPECT_EQ(test, phyr_append_pages(p, pages, 32, &meta_wc,
							GFP_KERNEL, &done),
				-ENOMEM);
		KUNIT_EXPECT_EQ(test, done, 0);
		KUNIT_EXPECT_EQ(test, p->nr_metas, 0);
		KUNIT_EXPECT_TRUE(test, phyr_empty(p));
		KUNIT_EXPECT_EQ(test, phyr_bytes_used(p), 0);
	}
	phyr_alloc_calls = 0;
	KUNIT_EXPECT_EQ(test, phyr_append(p, page_to_phys(block), PAGE_SIZE,
					  &meta_wc, GFP_KERNEL), -ENOMEM);
	KUNIT_EXPECT_EQ(test, p->nr_metas, 0);
	KUNIT_EXPECT_EQ(test, phyr_bytes_used(p), 0);
	/* table, first chunk, then the directory fails: the first 16 stay */
	phyr_alloc_calls = 0;
	phyr_alloc_fail_at = 3;
	KUNIT_EXPECT_EQ(test, phyr_append_pages(p, pages, 32, &meta_wc,
						GFP_KERNEL, &done), -ENOMEM);
	KUNIT_EXPECT_EQ(test, done, 16);
	expect_ranges(test, p, want, 16);
	phyr_alloc_fail_at = 0;
	KUNIT_EXPECT_EQ(test, phyr_append_pages(p, pages + 16, 16, &meta_wc,
						GFP_KERNEL, &done), 0);
	KUNIT_EXPECT_EQ(test, done, 16);
	expect_ranges(test, p, want, 32);
	kunit_deactivate_static_stub(test, phyr_alloc);
	phyr_free(p);
}

/*
 * Lone pages close to each other share a word: the first chunk (8 words)
 * holds 16 of them.  The pair's reach is exact on both sides.
 */
static void phyr_test_pairs(struct kunit *test)
{
	const u64 reach = PHYR_PAIR_REACH * PAGE_SIZE;
	const phys_addr_t base = SZ_64G;
	struct expect want[20];
	struct phyr *p = new_phyr(test);
	int i, n = 0;

	want[n++] = (struct expect){ base };
	want[n++] = (struct expect){ base - reach };	/* delta -reach */
	want[n++] = (struct expect){ base + SZ_1M };
	want[n++] = (struct expect){ base + SZ_1M + reach - PAGE_SIZE };
	for (i = 0; i < 12; i++)
		want[n++] = (struct expect){ base + SZ_2M + 2 * i * PAGE_SIZE };
	/* delta +reach does not fit: a word of its own, in a new chunk */
	want[n] = (struct expect){ want[n - 1].phys + reach };
	n++;
	/* the same page twice pairs (delta 0) */
	want[n] = want[n - 1];
	n++;
	for (i = 0; i < n; i++) {
		want[i].len = PAGE_SIZE;
		want[i].meta = &phyr_meta_cpu;
		KUNIT_ASSERT_EQ(test, phyr_append(p, want[i].phys, PAGE_SIZE,
						  &phyr_meta_cpu, GFP_KERNEL),
				0);
		if (i == 15)
			KUNIT_EXPECT_EQ(test, p->nr_chunks, 1);
	}
	KUNIT_EXPECT_EQ(test, p->nr_chunks, 2);
	expect_ranges(test, p, want, n);
	phyr_free(p);

	/* 1022 lone pages, two pages apart: 511 words, one 4 KiB chunk */
	for (i = 0; i < 1022; i++)
		KUNIT_ASSERT_EQ(test, phyr_append(p, base + 2 * i * PAGE_SIZE,
						  PAGE_SIZE, &phyr_meta_cpu,
						  GFP_KERNEL), 0);
	KUNIT_EXPECT_EQ(test, phyr_nr_ranges(p), 1022);
	KUNIT_EXPECT_EQ(test, p->nr_chunks, 2);
	KUNIT_EXPECT_LE(test, phyr_bytes_used(p), PAGE_SIZE + 256);
	phyr_free(p);
}

/*
 * The second page of a pair grows: it moves to a word of its own, in a new
 * chunk when the pair ends one.  If that chunk cannot be had, the list is
 * as it was.
 */
static void phyr_test_pair_grows(struct kunit *test)
{
	const phys_addr_t base = SZ_64G;
	struct expect want[16];
	struct phyr *p = new_phyr(test);
	phys_addr_t last;
	int i, ret;

	for (i = 0; i < 16; i++) {
		want[i] = (struct expect){ base + 2 * i * PAGE_SIZE, PAGE_SIZE,
					   &phyr_meta_cpu };
		KUNIT_ASSERT_EQ(test, phyr_append(p, want[i].phys, PAGE_SIZE,
						  &phyr_meta_cpu, GFP_KERNEL),
				0);
	}
	KUNIT_ASSERT_EQ(test, p->nr_chunks, 1);
	last = want[15].phys;

	kunit_activate_static_stub(test, phyr_alloc, phyr_failing_alloc);
	phyr_alloc_calls = 0;
	phyr_alloc_fail_at = 1;
	ret = phyr_append(p, last + PAGE_SIZE, 3 * PAGE_SIZE, &phyr_meta_cpu,
			  GFP_KERNEL);
	KUNIT_EXPECT_EQ(test, ret, -ENOMEM);
	expect_ranges(test, p, want, 16);
	/* a byte-granular tail fails the same way */
	phyr_alloc_calls = 0;
	ret = phyr_append(p, last + PAGE_SIZE, 100, &phyr_meta_cpu,
			  GFP_KERNEL);
	KUNIT_EXPECT_EQ(test, ret, -ENOMEM);
	expect_ranges(test, p, want, 16);
	kunit_deactivate_static_stub(test, phyr_alloc);

	KUNIT_ASSERT_EQ(test, phyr_append(p, last + PAGE_SIZE, 3 * PAGE_SIZE,
					  &phyr_meta_cpu, GFP_KERNEL), 0);
	want[15].len = 4 * PAGE_SIZE;
	expect_ranges(test, p, want, 16);
	KUNIT_EXPECT_EQ(test, p->nr_chunks, 2);
	/* and it keeps growing in place, then goes byte-granular */
	KUNIT_ASSERT_EQ(test, phyr_append(p, last + 4 * PAGE_SIZE, PAGE_SIZE,
					  &phyr_meta_cpu, GFP_KERNEL), 0);
	KUNIT_ASSERT_EQ(test, phyr_append(p, last + 5 * PAGE_SIZE, 10,
					  &phyr_meta_cpu, GFP_KERNEL), 0);
	want[15].len = 5 * PAGE_SIZE + 10;
	expect_ranges(test, p, want, 16);
	phyr_free(p);

	/* a pair inside a chunk: the second page grows in the same chunk */
	KUNIT_ASSERT_EQ(test, phyr_append(p, base, PAGE_SIZE, &phyr_meta_cpu,
					  GFP_KERNEL), 0);
	KUNIT_ASSERT_EQ(test, phyr_append(p, base - SZ_1M, PAGE_SIZE,
					  &phyr_meta_cpu, GFP_KERNEL), 0);
	KUNIT_ASSERT_EQ(test, phyr_append(p, base - SZ_1M + PAGE_SIZE,
					  PAGE_SIZE, &phyr_meta_cpu,
					  GFP_KERNEL), 0);
	want[0] = (struct expect){ base, PAGE_SIZE, &phyr_meta_cpu };
	want[1] = (struct expect){ base - SZ_1M, 2 * PAGE_SIZE,
				   &phyr_meta_cpu };
	expect_ranges(test, p, want, 2);
	KUNIT_EXPECT_EQ(test, p->nr_chunks, 1);
	phyr_free(p);
}

/*
 * Look-ups in a list of pairs, lone words, runs, byte-granular ranges and
 * meta switches over several chunks: every page found without a hint, with
 * a sequential hint and with a hint taken anywhere.
 */
static void phyr_test_pairs_find(struct kunit *test)
{
	const int n = 4000;
	struct phyr_iter hint;
	struct phyr_range r;
	struct phyr *p = new_phyr(test);
	struct expect *want;
	u64 *start, x = 1;
	int i, k;

	want = kunit_kcalloc(test, n, sizeof(*want), GFP_KERNEL);
	start = kunit_kcalloc(test, n + 1, sizeof(*start), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, want);
	KUNIT_ASSERT_NOT_NULL(test, start);
	for (i = 0; i < n; i++) {
		/* xorshift: deterministic, scattered */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		want[i].phys = SZ_64G + (x % SZ_8G & PAGE_MASK);
		/* now and then far away, a run, a partial page or a WC page */
		if (i % 97 == 0)
			want[i].phys += SZ_64G;
		want[i].len = i % 53 == 0 ? 3 * PAGE_SIZE :
			      i % 89 == 0 ? 300 : PAGE_SIZE;
		want[i].meta = i % 211 == 0 ? &meta_wc : &phyr_meta_cpu;
		start[i] = phyr_length(p);
		KUNIT_ASSERT_EQ(test, phyr_append(p, want[i].phys, want[i].len,
						  want[i].meta, GFP_KERNEL), 0);
	}
	start[n] = phyr_length(p);
	expect_ranges(test, p, want, n);
	/* mostly pairs: well under a word a page */
	KUNIT_EXPECT_LT(test, phyr_bytes_used(p), n * 6);

	phyr_iter_start(&hint, p);
	for (i = 0; i < n; i++) {
		u64 probe[] = { start[i], start[i + 1] - 1 };

		for (k = 0; k < ARRAY_SIZE(probe); k++) {
			KUNIT_ASSERT_EQ(test, phyr_find(p, probe[k], NULL, &r),
					0);
			KUNIT_EXPECT_EQ(test, r.index, i);
			KUNIT_EXPECT_EQ(test, r.phys, want[i].phys);
			KUNIT_ASSERT_EQ(test, phyr_find(p, probe[k], &hint, &r),
					0);
			KUNIT_EXPECT_EQ(test, r.index, i);
			KUNIT_EXPECT_EQ(test, r.offset, start[i]);
		}
	}
	for (i = 0; i < 3000; i++) {
		int j = (i * 7919) % n;

		KUNIT_ASSERT_EQ(test, phyr_find(p, start[j], &hint, &r), 0);
		KUNIT_EXPECT_EQ(test, r.index, j);
		KUNIT_EXPECT_EQ(test, r.phys, want[j].phys);
	}

	/* bare walks in batches, mixed with single steps, see the same */
	for (k = 1; k <= 17; k += 8) {
		struct phys_vec vec[17];
		unsigned int got, m;

		phyr_iter_start(&hint, p);
		i = 0;
		while ((got = phyr_iter_next_vec(&hint, vec, k))) {
			KUNIT_ASSERT_LE(test, got, k);
			for (m = 0; m < got; m++, i++) {
				KUNIT_ASSERT_LT(test, i, n);
				KUNIT_EXPECT_EQ(test, vec[m].paddr, want[i].phys);
				KUNIT_EXPECT_EQ(test, vec[m].len, want[i].len);
			}
			if (i < n && i % 3 == 0) {
				KUNIT_ASSERT_TRUE(test,
						  phyr_iter_next(&hint, &r));
				KUNIT_EXPECT_EQ(test, r.index, i);
				KUNIT_EXPECT_EQ(test, r.offset, start[i]);
				KUNIT_EXPECT_EQ(test, r.phys, want[i].phys);
				KUNIT_EXPECT_TRUE(test, meta_eq(r.meta,
								want[i].meta));
				i++;
			}
		}
		KUNIT_EXPECT_EQ(test, i, n);
	}
}

/*
 * Reference: every block touched by every range; a range that starts inside
 * the block the previous one ended in does not yield that block again.
 */
static unsigned long ref_blocks(const struct expect *r, int n, u64 pgsz,
				phys_addr_t *out, unsigned long max)
{
	unsigned long nr = 0;
	int i;

	for (i = 0; i < n; i++) {
		u64 a;

		for (a = r[i].phys; a < r[i].phys + r[i].len;
		     a = ALIGN_DOWN(a, pgsz) + pgsz) {
			phys_addr_t b = ALIGN_DOWN(a, pgsz);

			/* a range starting inside the last block shares it */
			if (nr && out[nr - 1] == b && a == r[i].phys &&
			    a != b)
				continue;
			if (nr < max)
				out[nr] = b;
			nr++;
		}
	}
	return nr;
}

static void phyr_test_blocks(struct kunit *test)
{
	static const u64 sizes[] = { SZ_4K, SZ_64K, SZ_2M, SZ_1G };
	struct expect r[] = {
		{ SZ_2M + SZ_8K + 17, SZ_4K * 5, &phyr_meta_cpu },
		{ SZ_2M + SZ_64K, SZ_4K, &phyr_meta_cpu },	/* same 2M block */
		{ SZ_1G, SZ_2M * 3, &phyr_meta_cpu },
		{ SZ_4G + SZ_1G - SZ_4K, SZ_8K, &meta_wc },	/* crosses 1G */
		{ SZ_8G, SZ_4K, &phyr_meta_cpu },
		{ SZ_8G, SZ_4K, &phyr_meta_cpu },	/* the same page again */
	};
	const unsigned long max = 2048;
	phys_addr_t *want, blk;
	struct phyr *p = new_phyr(test);
	int i, s;

	want = kunit_kcalloc(test, max, sizeof(*want), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, want);
	for (i = 0; i < ARRAY_SIZE(r); i++)
		KUNIT_ASSERT_EQ(test, phyr_append(p, r[i].phys, r[i].len,
						  r[i].meta, GFP_KERNEL), 0);
	for (s = 0; s < ARRAY_SIZE(sizes); s++) {
		struct phyr_block_iter bi;
		unsigned long n, got = 0;

		n = ref_blocks(r, ARRAY_SIZE(r), sizes[s], want, max);
		KUNIT_ASSERT_LE(test, n, max);
		phyr_for_each_block(p, &bi, sizes[s], &blk) {
			KUNIT_ASSERT_LT(test, got, n);
			KUNIT_EXPECT_EQ_MSG(test, blk, want[got],
					    "block %lu at %llu", got, sizes[s]);
			got++;
		}
		KUNIT_EXPECT_EQ_MSG(test, got, n, "blocks at %llu", sizes[s]);
	}
	phyr_free(p);
}

static void phyr_test_find_boundaries(struct kunit *test)
{
	const int n = 3000;	/* several chunks */
	struct phyr_iter hint;
	struct phyr_range r;
	struct phyr *p = new_phyr(test);
	phys_addr_t phys;
	bool covered;
	u64 *start;
	int i;

	start = kunit_kcalloc(test, n + 1, sizeof(*start), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, start);
	for (i = 0; i < n; i++) {
		u64 len = (i % 5 == 4) ? 123 : (u64)(1 + i % 4) * PAGE_SIZE;

		start[i] = phyr_length(p);
		KUNIT_ASSERT_EQ(test, phyr_append(p, SZ_1G + (u64)i * SZ_1M,
						  len, i % 11 ? &phyr_meta_cpu :
						  &meta_wc, GFP_KERNEL), 0);
	}
	start[n] = phyr_length(p);
	phyr_iter_start(&hint, p);
	/* a hint no look-up has used covers nothing */
	KUNIT_EXPECT_FALSE(test, phyr_hint_covers(&hint, 0, 1, &phys));
	for (i = 0; i < n; i++) {
		u64 probe[] = { start[i], start[i + 1] - 1,
				start[i] + (start[i + 1] - start[i]) / 2 };
		int k;

		for (k = 0; k < ARRAY_SIZE(probe); k++) {
			/* without a hint: binary search */
			KUNIT_ASSERT_EQ(test, phyr_find(p, probe[k], NULL, &r),
					0);
			KUNIT_EXPECT_EQ(test, r.index, i);
			KUNIT_EXPECT_EQ(test, r.offset, start[i]);
			KUNIT_EXPECT_EQ(test, r.phys, SZ_1G + (u64)i * SZ_1M);
			/* with a hint, sequential */
			KUNIT_ASSERT_EQ(test, phyr_find(p, probe[k], &hint, &r),
					0);
			KUNIT_EXPECT_EQ(test, r.index, i);
			/* the hint covers up to the range's end, not beyond */
			covered = phyr_hint_covers(&hint, probe[k],
						   start[i + 1] - probe[k],
						   &phys);
			KUNIT_EXPECT_TRUE(test, covered);
			KUNIT_EXPECT_EQ(test, phys, r.phys + probe[k] - start[i]);
			covered = phyr_hint_covers(&hint, probe[k],
						   start[i + 1] - probe[k] + 1,
						   &phys) ||
				  phyr_hint_covers(&hint, probe[k], U64_MAX,
						   &phys) ||
				  phyr_hint_covers(&hint, start[i + 1], 1,
						   &phys) ||
				  (i && phyr_hint_covers(&hint, start[i] - 1, 1,
							 &phys));
			KUNIT_EXPECT_FALSE(test, covered);
		}
	}
	/* random order through the same hint */
	for (i = 0; i < 2000; i++) {
		int j = (i * 7919) % n;

		KUNIT_ASSERT_EQ(test, phyr_find(p, start[j], &hint, &r), 0);
		KUNIT_EXPECT_EQ(test, r.index, j);
	}
	KUNIT_EXPECT_EQ(test, phyr_find(p, start[n], &hint, &r), -ERANGE);
	KUNIT_EXPECT_EQ(test, phyr_find(p, U64_MAX, NULL, &r), -ERANGE);
	phyr_free(p);
}

static void phyr_test_phys_vec_round_trip(struct kunit *test)
{
	struct phys_vec in[] = {
		{ SZ_1M + 10, 90 },
		{ SZ_2M, SZ_64K },
		{ SZ_2M + SZ_64K, SZ_64K },	/* merges with the one before */
		{ SZ_4G, SZ_2M },
		{ SZ_8G + 1, SZ_4K },
	};
	struct phys_vec *out;
	struct phyr *p = new_phyr(test);
	size_t nr;

	KUNIT_ASSERT_EQ(test, phyr_from_phys_vec(p, in, ARRAY_SIZE(in),
						 &phyr_meta_cpu, GFP_KERNEL), 0);
	out = phyr_to_phys_vec(p, &nr, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, out);
	KUNIT_ASSERT_EQ(test, nr, 4);
	KUNIT_EXPECT_EQ(test, out[0].paddr, SZ_1M + 10);
	KUNIT_EXPECT_EQ(test, out[0].len, 90);
	KUNIT_EXPECT_EQ(test, out[1].paddr, SZ_2M);
	KUNIT_EXPECT_EQ(test, out[1].len, SZ_128K);
	KUNIT_EXPECT_EQ(test, out[2].paddr, SZ_4G);
	KUNIT_EXPECT_EQ(test, out[3].paddr, SZ_8G + 1);
	KUNIT_EXPECT_EQ(test, out[3].len, SZ_4K);
	kvfree(out);
	phyr_free(p);
}

struct real_pages {
	struct page *pg[8];
	int order[8];
};

static void free_real_pages(void *data)
{
	struct real_pages *rp = data;
	int i;

	for (i = 0; i < ARRAY_SIZE(rp->pg); i++)
		if (rp->pg[i])
			__free_pages(rp->pg[i], rp->order[i]);
}

static struct real_pages *get_real_pages(struct kunit *test)
{
	struct real_pages *rp = kunit_kzalloc(test, sizeof(*rp), GFP_KERNEL);
	int i;

	KUNIT_ASSERT_NOT_NULL(test, rp);
	for (i = 0; i < ARRAY_SIZE(rp->pg); i++) {
		rp->order[i] = i % 3;
		rp->pg[i] = alloc_pages(GFP_KERNEL, rp->order[i]);
		KUNIT_ASSERT_NOT_NULL(test, rp->pg[i]);
	}
	i = kunit_add_action_or_reset(test, free_real_pages, rp);
	KUNIT_ASSERT_EQ(test, i, 0);
	return rp;
}

static void phyr_test_sgt_round_trip(struct kunit *test)
{
	struct real_pages *rp = get_real_pages(test);
	struct phyr_range a, b;
	struct phyr_iter ia, ib;
	struct phyr *p = new_phyr(test), *q = new_phyr(test);
	struct sg_table sgt;
	int i;

	for (i = 0; i < ARRAY_SIZE(rp->pg); i++) {
		size_t len = PAGE_SIZE << rp->order[i];
		size_t off = i == 0 ? 123 : 0;

		if (i == ARRAY_SIZE(rp->pg) - 1)
			len = 77;
		KUNIT_ASSERT_EQ(test, phyr_append(p, page_to_phys(rp->pg[i]) +
						  off, len - off,
						  &phyr_meta_cpu, GFP_KERNEL),
				0);
	}
	KUNIT_ASSERT_EQ(test, phyr_to_sgt(p, &sgt, GFP_KERNEL), 0);
	KUNIT_EXPECT_EQ(test, sgt.orig_nents, phyr_nr_ranges(p));
	KUNIT_ASSERT_EQ(test, phyr_from_sgt(q, &sgt, &phyr_meta_cpu,
					    GFP_KERNEL), 0);
	sg_free_table(&sgt);
	KUNIT_EXPECT_EQ(test, phyr_nr_ranges(q), phyr_nr_ranges(p));
	KUNIT_EXPECT_EQ(test, phyr_length(q), phyr_length(p));
	phyr_iter_start(&ib, q);
	phyr_for_each_range(p, &ia, &a) {
		KUNIT_ASSERT_TRUE(test, phyr_iter_next(&ib, &b));
		KUNIT_EXPECT_EQ(test, a.phys, b.phys);
		KUNIT_EXPECT_EQ(test, a.len, b.len);
	}
	phyr_free(q);

	/* nothing with a P2P provider or a private interconnect */
	KUNIT_ASSERT_EQ(test, phyr_append(p, page_to_phys(rp->pg[1]), PAGE_SIZE,
					  &meta_private_ic, GFP_KERNEL), 0);
	KUNIT_EXPECT_EQ(test, phyr_to_sgt(p, &sgt, GFP_KERNEL), -EOPNOTSUPP);
	phyr_free(p);
}

static struct device *dma_test_device(struct kunit *test)
{
	struct device *dev = kunit_device_register(test, "phyr-dma");

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dev);
	dev->dma_mask = &dev->coherent_dma_mask;
	KUNIT_ASSERT_EQ(test, dma_set_mask_and_coherent(dev, DMA_BIT_MASK(64)),
			0);
	return dev;
}

/*
 * Without an IOMMU (the KUnit device has none) the per-range fallback must
 * be taken, and dma-direct maps each range to its physical address.
 */
static void phyr_test_dma_direct(struct kunit *test)
{
	struct real_pages *rp = get_real_pages(test);
	struct device *dev = dma_test_device(test);
	struct phyr_range r;
	struct phyr_iter it;
	struct phyr_dma dma;
	struct phyr *p = new_phyr(test);
	int i;

	for (i = 0; i < ARRAY_SIZE(rp->pg); i++)
		KUNIT_ASSERT_EQ(test, phyr_append_page(p, rp->pg[i],
						       &phyr_meta_cpu,
						       GFP_KERNEL), 0);
	KUNIT_ASSERT_EQ(test, phyr_dma_map(dev, p, DMA_BIDIRECTIONAL, 0, &dma),
			0);
	KUNIT_EXPECT_FALSE(test, phyr_dma_is_iova(&dma));
	KUNIT_EXPECT_EQ(test, dma.nr, phyr_nr_ranges(p));
	phyr_for_each_range(p, &it, &r)
		KUNIT_EXPECT_EQ(test, phyr_dma_addr(&dma, &r),
				phys_to_dma(dev, r.phys));
	phyr_dma_unmap(dev, p, &dma);
	KUNIT_EXPECT_NULL(test, dma.addrs);

	/* private interconnect anywhere: refused, nothing mapped */
	KUNIT_ASSERT_EQ(test, phyr_append(p, page_to_phys(rp->pg[0]), PAGE_SIZE,
					  &meta_private_ic, GFP_KERNEL), 0);
	KUNIT_EXPECT_EQ(test, phyr_dma_map(dev, p, DMA_TO_DEVICE, 0, &dma),
			-EOPNOTSUPP);
	KUNIT_EXPECT_NULL(test, dma.addrs);
	KUNIT_EXPECT_EQ(test, dma.nr, 0);
	phyr_free(p);
}

/*
 * A list mixing CPU memory with addresses the device already has (a dma-buf
 * exporter's sg_table): those pass through unchanged, the CPU ranges are
 * mapped, the list is never one IOVA range, and nothing of it becomes an
 * sg_table.
 */
static void phyr_test_dma_device_addr(struct kunit *test)
{
	static const struct phyr_meta meta_dev = {
		.flags = PHYR_META_DEVICE_ADDR,
	};
	struct real_pages *rp = get_real_pages(test);
	struct device *dev = dma_test_device(test);
	/* made-up device addresses: never touched */
	const dma_addr_t dev_addr = 0xfe00000000ULL;
	struct phyr *p = new_phyr(test);
	struct phyr_range r;
	struct phyr_iter it;
	struct phyr_dma dma;
	struct sg_table sgt;

	KUNIT_ASSERT_EQ(test, phyr_append_page(p, rp->pg[0], &phyr_meta_cpu,
					       GFP_KERNEL), 0);
	KUNIT_ASSERT_EQ(test, phyr_append(p, dev_addr, SZ_2M, &meta_dev,
					  GFP_KERNEL), 0);
	KUNIT_ASSERT_EQ(test, phyr_append_page(p, rp->pg[1], &phyr_meta_cpu,
					       GFP_KERNEL), 0);
	KUNIT_ASSERT_EQ(test, phyr_nr_ranges(p), 3);
	KUNIT_ASSERT_EQ(test, phyr_dma_map(dev, p, DMA_BIDIRECTIONAL, 0, &dma),
			0);
	KUNIT_EXPECT_FALSE(test, phyr_dma_is_iova(&dma));
	phyr_for_each_range(p, &it, &r) {
		if (r.meta->flags & PHYR_META_DEVICE_ADDR)
			KUNIT_EXPECT_EQ(test, phyr_dma_addr(&dma, &r), dev_addr);
		else
			KUNIT_EXPECT_EQ(test, phyr_dma_addr(&dma, &r),
					phys_to_dma(dev, r.phys));
	}
	phyr_dma_unmap(dev, p, &dma);
	KUNIT_EXPECT_EQ(test, phyr_to_sgt(p, &sgt, GFP_KERNEL), -EOPNOTSUPP);
}

static void put_pci_dev(void *pdev)
{
	pci_dev_put(pdev);
}

/*
 * A list mixing CPU pages with a P2P range whose provider the device
 * cannot reach (a PCI device with no P2P support set up): the meta tells
 * the ranges apart, and mapping is refused with -EREMOTEIO before anything
 * is mapped; no sg_table either.
 */
static void phyr_test_dma_mixed_p2p(struct kunit *test)
{
	struct real_pages *rp = get_real_pages(test);
	struct phyr *p = new_phyr(test);
	struct p2pdma_provider provider;
	struct phyr_meta meta_p2p = { .cache = PHYR_CACHE_WC };
	struct pci_dev *pdev;
	struct phyr_range r;
	struct phyr_iter it;
	struct phyr_dma dma;
	struct sg_table sgt;
	int i, p2p = 0;

	pdev = pci_get_device(PCI_VENDOR_ID_REDHAT_QUMRANET, PCI_ANY_ID, NULL);
	if (!pdev)
		kunit_skip(test, "no virtio PCI device in this machine");
	i = kunit_add_action_or_reset(test, put_pci_dev, pdev);
	KUNIT_ASSERT_EQ(test, i, 0);
	/* virtio never set up P2P: nobody reaches its BARs that way */
	provider = (struct p2pdma_provider){ .owner = &pdev->dev };
	meta_p2p.provider = &provider;

	KUNIT_ASSERT_EQ(test, phyr_append_page(p, rp->pg[0], &phyr_meta_cpu,
					       GFP_KERNEL), 0);
	/* made-up MMIO: never touched */
	KUNIT_ASSERT_EQ(test, phyr_append(p, 0xfe000000, SZ_64K, &meta_p2p,
					  GFP_KERNEL), 0);
	KUNIT_ASSERT_EQ(test, phyr_append_page(p, rp->pg[1], &phyr_meta_cpu,
					       GFP_KERNEL), 0);
	KUNIT_EXPECT_TRUE(test, phyr_has_p2p(p));
	phyr_for_each_range(p, &it, &r) {
		enum pci_p2pdma_map_type t = phyr_range_map_type(&pdev->dev,
								 &r);

		if (r.meta->provider) {
			p2p++;
			KUNIT_EXPECT_EQ(test, t, PCI_P2PDMA_MAP_NOT_SUPPORTED);
			KUNIT_EXPECT_EQ(test, r.meta->cache, PHYR_CACHE_WC);
		} else {
			KUNIT_EXPECT_EQ(test, t, PCI_P2PDMA_MAP_NONE);
		}
	}
	KUNIT_EXPECT_EQ(test, p2p, 1);
	KUNIT_EXPECT_EQ(test, phyr_dma_map(&pdev->dev, p, DMA_BIDIRECTIONAL, 0,
					   &dma), -EREMOTEIO);
	KUNIT_EXPECT_NULL(test, dma.addrs);
	KUNIT_EXPECT_EQ(test, dma.nr, 0);
	KUNIT_EXPECT_EQ(test, phyr_to_sgt(p, &sgt, GFP_KERNEL), -EOPNOTSUPP);
}

/*
 * DMA mapping for a real (emulated) PCI device.  The lab boots the test
 * kernel twice: without an IOMMU, where the per-range fallback must be
 * taken, and on q35 with an emulated Intel IOMMU, where the whole list must
 * get one IOVA range and every IOVA must translate to the physical address
 * it stands for.  kunit_info says which path ran; the lab checks it.
 */
static void phyr_test_dma_pci(struct kunit *test)
{
	struct real_pages *rp = get_real_pages(test);
	struct phyr *p = new_phyr(test);
	struct iommu_domain *domain;
	struct pci_dev *pdev = NULL;
	struct phyr_range r;
	struct phyr_iter it;
	struct phyr_dma dma;
	struct device *dev;
	dma_addr_t iova;
	u64 off;
	int i;

	/* any device that does DMA: the first virtio device (the 9p root) */
	pdev = pci_get_device(PCI_VENDOR_ID_REDHAT_QUMRANET, PCI_ANY_ID, NULL);
	if (!pdev)
		kunit_skip(test, "no virtio PCI device in this machine");
	i = kunit_add_action_or_reset(test, put_pci_dev, pdev);
	KUNIT_ASSERT_EQ(test, i, 0);
	dev = &pdev->dev;
	domain = iommu_get_domain_for_dev(dev);

	/* fragmented on purpose: pages in reverse order, different sizes */
	for (i = ARRAY_SIZE(rp->pg) - 1; i >= 0; i--)
		KUNIT_ASSERT_EQ(test, phyr_append(p, page_to_phys(rp->pg[i]),
						  PAGE_SIZE << rp->order[i],
						  &phyr_meta_cpu, GFP_KERNEL), 0);
	KUNIT_ASSERT_EQ(test, phyr_dma_map(dev, p, DMA_BIDIRECTIONAL, 0, &dma),
			0);
	if (domain && iommu_is_dma_domain(domain)) {
		kunit_info(test, "IOMMU domain: one IOVA range for %lu ranges",
			   phyr_nr_ranges(p));
		KUNIT_EXPECT_TRUE(test, phyr_dma_is_iova(&dma));
		KUNIT_EXPECT_EQ(test, dma.mapped, phyr_length(p));
		phyr_for_each_range(p, &it, &r) {
			dma_addr_t a = phyr_dma_addr(&dma, &r);

			/* contiguous IOVA: each range follows the previous */
			KUNIT_EXPECT_EQ(test, a, dma.state.addr + r.offset);
			for (off = 0; off < r.len; off += PAGE_SIZE) {
				phys_addr_t got = iommu_iova_to_phys(domain,
								     a + off);

				KUNIT_EXPECT_EQ_MSG(test, got, r.phys + off,
						    "range %lu +%llu",
						    r.index, off);
			}
		}
		iova = dma.state.addr;
		phyr_dma_unmap(dev, p, &dma);
		/* unmapped: the IOVA no longer translates */
		phyr_for_each_range(p, &it, &r) {
			phys_addr_t got = iommu_iova_to_phys(domain, iova +
							     r.offset);

			KUNIT_EXPECT_EQ(test, got, 0);
		}
	} else {
		kunit_info(test, "no IOMMU: per-range fallback for %lu ranges",
			   phyr_nr_ranges(p));
		KUNIT_EXPECT_FALSE(test, phyr_dma_is_iova(&dma));
		phyr_for_each_range(p, &it, &r)
			KUNIT_EXPECT_EQ(test, phyr_dma_addr(&dma, &r),
					phys_to_dma(dev, r.phys));
		phyr_dma_unmap(dev, p, &dma);
	}
}

static struct kunit_case phyr_test_cases[] = {
	KUNIT_CASE(phyr_test_empty),
	KUNIT_CASE(phyr_test_single_byte),
	KUNIT_CASE(phyr_test_single_page),
	KUNIT_CASE(phyr_test_1g_run),
	KUNIT_CASE(phyr_test_longest_run),
	KUNIT_CASE(phyr_test_alternating_meta),
	KUNIT_CASE(phyr_test_contiguous_meta_apart),
	KUNIT_CASE(phyr_test_unaligned_ends),
	KUNIT_CASE(phyr_test_address_limits),
	KUNIT_CASE(phyr_test_alloc_failure),
	KUNIT_CASE(phyr_test_alloc_count),
	KUNIT_CASE(phyr_test_append_pages),
	KUNIT_CASE(phyr_test_pairs),
	KUNIT_CASE(phyr_test_pair_grows),
	KUNIT_CASE(phyr_test_pairs_find),
	KUNIT_CASE(phyr_test_blocks),
	KUNIT_CASE(phyr_test_find_boundaries),
	KUNIT_CASE(phyr_test_phys_vec_round_trip),
	KUNIT_CASE(phyr_test_sgt_round_trip),
	KUNIT_CASE(phyr_test_dma_direct),
	KUNIT_CASE(phyr_test_dma_device_addr),
	KUNIT_CASE(phyr_test_dma_mixed_p2p),
	KUNIT_CASE(phyr_test_dma_pci),
	{}
};

static struct kunit_suite phyr_test_suite = {
	.name = "phyr",
	.test_cases = phyr_test_cases,
};

kunit_test_suite(phyr_test_suite);

MODULE_DESCRIPTION("KUnit tests for physical range lists");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS("EXPORTED_FOR_KUNIT_TESTING");
