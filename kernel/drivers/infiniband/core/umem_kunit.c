// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the device-facing side of ib_umem on phyr: the DMA
 * segment walk, ib_umem_find_best_pgsz() and the DMA block iterator that
 * hardware drivers build their page tables from.
 *
 * The umems are made up: a phyr of invented physical ranges and an
 * invented DMA mapping (per-range addresses, or one IOVA range), so every
 * layout a driver may meet can be set up without hardware.
 */
#include <kunit/test.h>
#include <linux/sizes.h>
#include <rdma/ib_umem.h>
#include <rdma/iter.h>

struct fake_range {
	u64 len;
	dma_addr_t dma;		/* ignored when the umem is IOVA-mapped */
};

static void fake_umem_free(void *arg)
{
	struct ib_umem *umem = arg;

	phyr_free(&umem->phyr);
}

/*
 * A umem over @nr ranges starting at user address @address, @length bytes.
 * Physical addresses are 1 GiB apart so that no two ranges merge.  With
 * @iova, the device sees one contiguous range at @iova.
 */
static struct ib_umem *fake_umem(struct kunit *test,
				 const struct fake_range *r, unsigned int nr,
				 unsigned long address, size_t length,
				 dma_addr_t iova)
{
	struct ib_umem *umem = kunit_kzalloc(test, sizeof(*umem), GFP_KERNEL);
	dma_addr_t *addrs = NULL;
	unsigned int i;

	KUNIT_ASSERT_NOT_NULL(test, umem);
	phyr_init(&umem->phyr);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, fake_umem_free,
							umem), 0);
	if (!iova) {
		addrs = kunit_kcalloc(test, nr, sizeof(*addrs), GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, addrs);
	}
	for (i = 0; i < nr; i++) {
		KUNIT_ASSERT_EQ(test, phyr_append(&umem->phyr,
						  (phys_addr_t)(i + 1) * SZ_1G,
						  r[i].len, &phyr_meta_cpu,
						  GFP_KERNEL), 0);
		if (addrs)
			addrs[i] = r[i].dma;
	}
	KUNIT_ASSERT_EQ(test, phyr_nr_ranges(&umem->phyr), nr);
	umem->address = address;
	umem->iova = address;
	umem->length = length;
	umem->dma_mapped = 1;
	umem->dma.addrs = addrs;
	umem->dma.nr = nr;
	umem->dma.state.addr = iova;
	return umem;
}

static void expect_segments(struct kunit *test, struct ib_umem *umem,
			    const dma_addr_t *addr, const u64 *len,
			    unsigned int nr)
{
	struct ib_umem_dma_iter it;
	unsigned int n = 0;
	dma_addr_t a;
	u64 l;

	ib_umem_dma_iter_start(&it, umem);
	while (ib_umem_dma_iter_next(&it, &a, &l)) {
		KUNIT_ASSERT_LT(test, n, nr);
		KUNIT_EXPECT_EQ(test, a, addr[n]);
		KUNIT_EXPECT_EQ(test, l, len[n]);
		n++;
	}
	KUNIT_EXPECT_EQ(test, n, nr);
}

static void expect_blocks(struct kunit *test, struct ib_umem *umem,
			  unsigned long pgsz, const dma_addr_t *blk,
			  unsigned int nr)
{
	struct ib_block_iter biter;
	unsigned int n = 0;

	KUNIT_EXPECT_EQ(test, ib_umem_num_dma_blocks(umem, pgsz), nr);
	rdma_umem_for_each_dma_block(umem, &biter, pgsz) {
		KUNIT_ASSERT_LT(test, n, nr);
		KUNIT_EXPECT_EQ(test, rdma_block_iter_dma_address(&biter),
				blk[n]);
		n++;
	}
	KUNIT_EXPECT_EQ(test, n, nr);
}

/* Unaligned start and end are trimmed; DMA-contiguous ranges merge. */
static void umem_test_segments(struct kunit *test)
{
	static const struct fake_range r[] = {
		{ SZ_8K, 0x10000000 },
		{ SZ_4K, 0x10002000 },	/* follows the first on the bus */
		{ SZ_8K, 0x20000000 },
	};
	static const dma_addr_t addr[] = { 0x10000123, 0x20000000 };
	static const u64 len[] = { SZ_8K + SZ_4K - 0x123, SZ_8K - 0x100 };
	struct ib_umem *umem;

	umem = fake_umem(test, r, ARRAY_SIZE(r), 0x7f0000000123,
			 5 * SZ_4K - 0x123 - 0x100, 0);
	expect_segments(test, umem, addr, len, ARRAY_SIZE(addr));
	KUNIT_EXPECT_EQ(test, ib_umem_start_dma_addr(umem), 0x10000123);
}

/* Behind an IOMMU the whole umem is one segment. */
static void umem_test_iova_one_segment(struct kunit *test)
{
	static const struct fake_range r[] = {
		{ SZ_2M }, { SZ_4K }, { SZ_2M - SZ_4K },
	};
	static const dma_addr_t addr[] = { 0x800000000 };
	static const u64 len[] = { SZ_4M };
	struct ib_umem *umem;

	umem = fake_umem(test, r, ARRAY_SIZE(r), 0x7f0000200000, SZ_4M,
			 0x800000000);
	expect_segments(test, umem, addr, len, 1);
}

/*
 * The page size: the largest the hardware supports that keeps every
 * discontinuity on a page boundary and device and virtual addresses equal
 * below it; capped by the span of the region.
 */
static void umem_test_best_pgsz(struct kunit *test)
{
	unsigned long hw = SZ_4K | SZ_64K | SZ_2M | SZ_1G;
	static const struct fake_range huge[] = {
		{ SZ_2M, 0x40000000 }, { SZ_2M, 0x80200000 },
	};
	static const struct fake_range off4k[] = {
		{ SZ_2M, 0x40000000 }, { SZ_2M, 0x80201000 },
	};
	static const struct fake_range small[] = {
		{ SZ_8K, 0x40000000 },
	};
	struct ib_umem *umem;

	/* two 2 MiB runs, both 2 MiB aligned on the bus and in VA */
	umem = fake_umem(test, huge, 2, 0x7f0000400000, SZ_4M, 0);
	KUNIT_EXPECT_EQ(test, ib_umem_find_best_pgsz(umem, hw, 0x400000),
			SZ_2M);
	KUNIT_EXPECT_EQ(test, umem->iova, 0x400000);
	/* an IOVA that disagrees with the bus below 64 KiB */
	KUNIT_EXPECT_EQ(test, ib_umem_find_best_pgsz(umem, hw, 0x410000),
			SZ_64K);
	/* the same, from a hardware that only has 4 KiB and 1 GiB */
	KUNIT_EXPECT_EQ(test, ib_umem_find_best_pgsz(umem, SZ_4K | SZ_1G,
						     0x400000), SZ_4K);

	/* the second run starts 4 KiB into a 2 MiB page: 4 KiB pages */
	umem = fake_umem(test, off4k, 2, 0x7f0000400000, SZ_4M, 0);
	KUNIT_EXPECT_EQ(test, ib_umem_find_best_pgsz(umem, hw, 0x400000),
			SZ_4K);

	/* nothing fits: hardware pages of 64 KiB only, 4 KiB misaligned */
	KUNIT_EXPECT_EQ(test, ib_umem_find_best_pgsz(umem, SZ_64K, 0x400000),
			0);

	/*
	 * A region that one page covers gets the smallest such page, not
	 * the largest the hardware has.
	 */
	umem = fake_umem(test, small, 1, 0x7f0000000000, SZ_8K, 0);
	KUNIT_EXPECT_EQ(test, ib_umem_find_best_pgsz(umem,
						     SZ_4K | SZ_16K | SZ_2M,
						     0), SZ_16K);
	KUNIT_EXPECT_EQ(test, ib_umem_find_best_pgsz(umem, SZ_4K | SZ_2M, 0),
			SZ_2M);

	/* an IOVA range that wraps: no page size */
	KUNIT_EXPECT_EQ(test, ib_umem_find_best_pgsz(umem, hw, ~0ULL - 10),
			0);
}

/* Blocks of 4 KiB, 2 MiB and the whole region. */
static void umem_test_blocks(struct kunit *test)
{
	static const struct fake_range r[] = {
		{ SZ_2M, 0x40000000 }, { SZ_2M, 0x80200000 },
	};
	static const dma_addr_t blk2m[] = { 0x40000000, 0x80200000 };
	static const dma_addr_t blk_iova[] = { 0x900000000 };
	static const struct fake_range tail[] = {
		{ SZ_4K, 0x403ff000 }, { SZ_4K, 0x80200000 },
	};
	static const dma_addr_t blk4k_tail[] = { 0x403ff000, 0x80200000 };
	static const struct fake_range part[] = {
		{ SZ_2M }, { SZ_2M },
	};
	struct ib_block_iter biter;
	struct ib_umem *umem;
	unsigned int n = 0;

	umem = fake_umem(test, r, 2, 0x7f0000400000, SZ_4M, 0);
	KUNIT_ASSERT_EQ(test, ib_umem_find_best_pgsz(umem, SZ_4K | SZ_2M,
						     0x400000), SZ_2M);
	expect_blocks(test, umem, SZ_2M, blk2m, 2);

	rdma_umem_for_each_dma_block(umem, &biter, SZ_4K)
		n++;
	KUNIT_EXPECT_EQ(test, n, SZ_4M / SZ_4K);

	/* the last 2 KiB of one run and the first byte of the next */
	umem = fake_umem(test, tail, 2, 0x7f00005ff800, 0x800 + 1, 0);
	KUNIT_ASSERT_EQ(test, ib_umem_find_best_pgsz(umem, SZ_4K,
						     0x7f00005ff800), SZ_4K);
	expect_blocks(test, umem, SZ_4K, blk4k_tail, 2);

	/* one IOVA range: one 4 MiB block when the hardware has one */
	umem = fake_umem(test, part, 2, 0x7f0000400000, SZ_4M, 0x900000000);
	KUNIT_ASSERT_EQ(test, ib_umem_find_best_pgsz(umem, SZ_4K | SZ_4M,
						     0x400000), SZ_4M);
	expect_blocks(test, umem, SZ_4M, blk_iova, 1);
}

/* A page the umem holds twice (the zero page) is two blocks. */
static void umem_test_repeated_page(struct kunit *test)
{
	static const struct fake_range r[] = {
		{ SZ_4K, 0x5000000 }, { SZ_4K, 0x5000000 },
		{ SZ_4K, 0x5000000 }, { SZ_4K, 0x7000000 },
	};
	static const dma_addr_t blk[] = { 0x5000000, 0x5000000, 0x5000000,
					  0x7000000 };
	struct ib_umem *umem;

	umem = fake_umem(test, r, ARRAY_SIZE(r), 0x7f0000000000, 4 * SZ_4K, 0);
	KUNIT_ASSERT_EQ(test, ib_umem_find_best_pgsz(umem, SZ_4K | SZ_2M,
						     0x7f0000000000), SZ_4K);
	expect_blocks(test, umem, SZ_4K, blk, ARRAY_SIZE(blk));
}

static struct kunit_case umem_test_cases[] = {
	KUNIT_CASE(umem_test_segments),
	KUNIT_CASE(umem_test_iova_one_segment),
	KUNIT_CASE(umem_test_best_pgsz),
	KUNIT_CASE(umem_test_blocks),
	KUNIT_CASE(umem_test_repeated_page),
	{}
};

static struct kunit_suite umem_test_suite = {
	.name = "ib_umem",
	.test_cases = umem_test_cases,
};

kunit_test_suite(umem_test_suite);

MODULE_DESCRIPTION("KUnit tests for ib_umem on phyr");
MODULE_LICENSE("GPL");
