// SPDX-License-Identifier: GPL-2.0
/*
 * Footprint benchmark for phyr: kernel bytes per range for a corpus of
 * memory layouts, printed beside struct scatterlist and struct phys_vec.
 *
 * Runs once at boot when the kernel command line has phyr_bench.run=1 and
 * prints one line per corpus entry:
 *
 *   phyr_bench: <name> bytes=<B> ranges=<N> length=<L> per_range=<x.yy>
 *               sg_entry=<32> phys_vec=<16>
 *
 * The addresses are made up (the list never touches the memory it
 * describes), so the figures are exact and do not depend on how the
 * machine's memory happens to be laid out.  This measures; it asserts
 * nothing.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/phyr.h>
#include <linux/scatterlist.h>
#include <linux/sizes.h>

static bool run;
module_param(run, bool, 0444);
MODULE_PARM_DESC(run, "print the phyr footprint table at boot");

static const struct phyr_meta bench_wc = { .cache = PHYR_CACHE_WC };

struct corpus {
	const char *name;
	u64 total;	/* bytes described */
	u64 piece;	/* bytes per append */
	u64 stride;	/* physical distance between appends */
	unsigned int meta_every;	/* switch meta every n appends (0: never) */
};

static const struct corpus corpus[] = {
	/* every 4 KiB page on its own: worst case for coalescing */
	{ "4k-fragmented-1g", SZ_1G, SZ_4K, SZ_8K, 0 },
	/* 2 MiB folios, not contiguous with each other */
	{ "2m-folios-1g", SZ_1G, SZ_2M, SZ_4M, 0 },
	/* 1 GiB physically contiguous, appended page by page */
	{ "contiguous-1g", SZ_1G, SZ_4K, SZ_4K, 0 },
	/* fragmented pages, meta switching every 16 ranges */
	{ "mixed-meta-4k-256m", SZ_256M, SZ_4K, SZ_8K, 16 },
	/* large: 16 GiB of fragmented pages */
	{ "4k-fragmented-16g", SZ_16G, SZ_4K, SZ_8K, 0 },
};

static void __init phyr_bench_one(const struct corpus *c)
{
	phys_addr_t phys = SZ_4G;
	struct phyr p;
	size_t bytes;
	u64 done, n = 0;
	int ret = 0;

	phyr_init(&p);
	for (done = 0; done < c->total; done += c->piece, n++) {
		const struct phyr_meta *m = &phyr_meta_cpu;

		if (c->meta_every && (n / c->meta_every) & 1)
			m = &bench_wc;
		ret = phyr_append(&p, phys, c->piece, m, GFP_KERNEL);
		if (ret)
			break;
		phys += c->stride;
		if (!(n & 4095))
			cond_resched();
	}
	bytes = phyr_bytes_used(&p);
	if (ret)
		pr_info("phyr_bench: %s failed: %d\n", c->name, ret);
	else
		pr_info("phyr_bench: %s bytes=%zu ranges=%lu length=%llu per_range=%llu.%02llu sg_entry=%zu phys_vec=%zu\n",
			c->name, bytes, phyr_nr_ranges(&p), phyr_length(&p),
			(u64)bytes / phyr_nr_ranges(&p),
			(u64)bytes * 100 / phyr_nr_ranges(&p) % 100,
			sizeof(struct scatterlist), sizeof(struct phys_vec));
	phyr_free(&p);
}

static int __init phyr_bench_init(void)
{
	int i;

	if (!run)
		return 0;
	for (i = 0; i < ARRAY_SIZE(corpus); i++)
		phyr_bench_one(&corpus[i]);
	pr_info("phyr_bench: done\n");
	return 0;
}
late_initcall(phyr_bench_init);

MODULE_DESCRIPTION("phyr footprint benchmark");
MODULE_LICENSE("GPL");
