/* SPDX-License-Identifier: GPL-2.0 */
/*
 * phyr: a compact list of physical address ranges with meta.
 *
 * A phyr describes memory by CPU physical address, as a sequence of
 * contiguous ranges.  It is the input of DMA mapping, not its output: unlike
 * a scatterlist it holds no DMA addresses, and unlike a bare array of
 * struct phys_vec it says what each range is (its "meta"): which PCI device
 * exports it (a P2P provider, or none for CPU memory), how it may be cached,
 * its confidential-computing state, and whether it lives behind a private
 * interconnect that generic code must refuse.
 *
 * Encoding.  Ranges are stored as 64-bit words in chunks:
 *
 *   page-granular range:   pfn << PHYR_NPAGES_BITS | (npages - 1)
 *   two one-page ranges:   pfn << PHYR_NPAGES_BITS | PHYR_PAIR | delta
 *   escape word:           PHYR_PFN_ESCAPE << PHYR_NPAGES_BITS | kind | arg
 *
 * so a page-aligned range costs 8 bytes.  A lone page that follows a lone
 * page shares its word when delta, its page frame number minus the first
 * one's, fits 23 bits in two's complement (-PHYR_PAIR_REACH <= delta <
 * PHYR_PAIR_REACH, 16 GiB either way): physically fragmented memory costs
 * 4 bytes a page.  A range whose start or length is not page aligned is
 * stored as an escape word followed by its physical address and length (24
 * bytes): the documented fallback for byte-granular ranges.  Meta is
 * stored once per run of ranges that share it: an escape word switches
 * the meta of all following ranges, and the meta itself sits in a small
 * table of distinct metas.  Ordinary CPU memory (phyr_meta_cpu) needs no
 * entry: a list of it allocates no table.
 *
 * Limits (page-granular encoding, 4 KiB pages):
 *   - largest physical address: PHYR_MAX_PFN pages, i.e. just below 2^52
 *     (x86-64's MAX_PHYSMEM_BITS with 5-level paging); the top page frame
 *     is the escape;
 *   - longest range: PHYR_MAX_RUN_PAGES pages (2^23 pages: 32 GiB); a
 *     longer contiguous append is split into several ranges;
 *   - byte-granular ranges: any address below 2^64 and any length below
 *     PHYR_MAX_RUN_PAGES pages.
 *
 * Building.  Appends that are physically contiguous with the last range,
 * share its meta and stay in its encoding are merged into it.  Storage grows
 * by chunks (the first small, later ones a page) that are never moved, so a
 * list is built in one pass with no reallocation of the ranges; only the
 * chunk directory (one pointer per chunk, allocated when a second chunk is)
 * is reallocated as it grows.  A list of CPU memory that fits the first
 * chunk, eight words, is one allocation.  A failed append leaves the list
 * as it was.
 *
 * Locking: none.  A phyr is built by one thread and then read by many.
 */
#ifndef _LINUX_PHYR_H
#define _LINUX_PHYR_H

#include <linux/bits.h>
#include <linux/cc_platform.h>
#include <linux/types.h>
#include <linux/mm_types.h>
#include <linux/dma-direction.h>
#include <linux/dma-mapping.h>
#include <linux/pci-p2pdma.h>

struct device;
struct p2pdma_provider;
struct sg_table;

#define PHYR_NPAGES_BITS	24
#define PHYR_PAIR		BIT_ULL(PHYR_NPAGES_BITS - 1)
#define PHYR_MAX_RUN_PAGES	PHYR_PAIR
#define PHYR_PAIR_REACH		(PHYR_PAIR / 2)
#define PHYR_PFN_BITS		(64 - PHYR_NPAGES_BITS)
#define PHYR_PFN_ESCAPE		((1ULL << PHYR_PFN_BITS) - 1)
#define PHYR_MAX_PFN		(PHYR_PFN_ESCAPE - 1)

enum phyr_cache {
	PHYR_CACHE_WB = 0,	/* write-back: ordinary memory */
	PHYR_CACHE_WC,		/* write-combined */
	PHYR_CACHE_UC,		/* uncached */
};

enum phyr_cc {
	PHYR_CC_PRIVATE = 0,	/* encrypted (the default for struct page memory) */
	PHYR_CC_SHARED,		/* shared with the host (decrypted) */
};

/* The range is reached through a private interconnect: generic code refuses. */
#define PHYR_META_PRIVATE_INTERCONNECT	BIT(0)
/*
 * The address is not a CPU physical address but a DMA address the device
 * the list was made for already has (a dma-buf exporter's sg_table handed
 * to a phyr importer).  The CPU must not touch it, phyr_dma_map() passes
 * it through unchanged and phyr_to_sgt() refuses it.
 */
#define PHYR_META_DEVICE_ADDR		BIT(1)

/**
 * struct phyr_meta - what a run of ranges is
 * @provider: the P2P provider exporting the memory, NULL for CPU memory
 * @cache: enum phyr_cache
 * @cc: enum phyr_cc
 * @flags: PHYR_META_*
 */
struct phyr_meta {
	struct p2pdma_provider *provider;
	u8 cache;
	u8 cc;
	u8 flags;
};

/* Ordinary CPU memory: write-back, private, no provider. */
extern const struct phyr_meta phyr_meta_cpu;

/*
 * The confidential-computing state of device memory (a BAR) that an
 * exporter hands out: a confidential guest reaches it decrypted, and
 * phyr_dma_map() refuses it encrypted there.
 */
static inline u8 phyr_device_mem_cc(void)
{
	return cc_platform_has(CC_ATTR_GUEST_MEM_ENCRYPT) ? PHYR_CC_SHARED :
							     PHYR_CC_PRIVATE;
}

struct phyr_chunk;

/**
 * struct phyr - a physical range list
 *
 * All fields are private; use the accessors.
 */
struct phyr {
	/* private: */
	union {
		struct phyr_chunk *chunk;	/* the only one: chunks_cap 0 */
		struct phyr_chunk **chunks;	/* directory: chunks_cap > 0 */
	};
	struct phyr_meta *metas;	/* metas 1..nr_metas; 0 is the CPU's */
	u32 nr_chunks;
	u32 chunks_cap;
	u16 nr_metas;
	u16 metas_cap;
	u16 cur_meta;		/* meta of the last range appended */
	bool last_wide;		/* last range is byte-granular */
	unsigned long nr_ranges;
	u64 length;
};

/**
 * struct phyr_range - one range, as returned by iterators and look-ups
 * @phys: CPU physical address of the first byte
 * @len: length in bytes
 * @offset: byte offset of the range's first byte within the list
 * @index: position of the range in the list
 * @meta: the range's meta (points into the list: valid while it lives)
 */
struct phyr_range {
	phys_addr_t phys;
	u64 len;
	u64 offset;
	unsigned long index;
	const struct phyr_meta *meta;
};

/**
 * struct phyr_iter - position in a list (also a look-up hint)
 *
 * Private; valid only while the list is not appended to, and never after
 * it is freed (a hint kept across phyr_free() must be started again).
 */
struct phyr_iter {
	/* private: */
	const struct phyr *phyr;
	const struct phyr_chunk *c;	/* chunk number @chunk */
	u32 chunk;
	u32 word;
	u64 offset;
	unsigned long index;
	u16 meta;
	bool second;		/* the first page of a pair word was returned */
	/* the range phyr_find() last returned through this hint */
	struct phyr_range last;
	bool has_last;
};

static inline void phyr_init(struct phyr *p)
{
	*p = (struct phyr){};
}

void phyr_free(struct phyr *p);

int phyr_append(struct phyr *p, phys_addr_t phys, u64 len,
		const struct phyr_meta *meta, gfp_t gfp);

int phyr_append_pages(struct phyr *p, struct page **pages, unsigned long nr,
		      const struct phyr_meta *meta, gfp_t gfp,
		      unsigned long *done);

static inline int phyr_append_page(struct phyr *p, struct page *page,
				   const struct phyr_meta *meta, gfp_t gfp)
{
	return phyr_append(p, page_to_phys(page), PAGE_SIZE, meta, gfp);
}

int phyr_append_folio(struct phyr *p, struct folio *folio, size_t offset,
		      size_t len, const struct phyr_meta *meta, gfp_t gfp);

static inline u64 phyr_length(const struct phyr *p)
{
	return p->length;
}

static inline unsigned long phyr_nr_ranges(const struct phyr *p)
{
	return p->nr_ranges;
}

static inline bool phyr_empty(const struct phyr *p)
{
	return !p->nr_ranges;
}

size_t phyr_bytes_used(const struct phyr *p);
bool phyr_has_p2p(const struct phyr *p);

struct phyr_iter *phyr_iter_start(struct phyr_iter *it, const struct phyr *p);
bool phyr_iter_next(struct phyr_iter *it, struct phyr_range *r);
unsigned int phyr_iter_next_vec(struct phyr_iter *it, struct phys_vec *vec,
				unsigned int max);

#define phyr_for_each_range(p, it, r) \
	for (struct phyr_iter *__pi = phyr_iter_start(it, p); \
	     phyr_iter_next(__pi, r);)

int phyr_find(const struct phyr *p, u64 offset, struct phyr_iter *hint,
	      struct phyr_range *r);

/**
 * phyr_hint_covers - is a span inside the range a hint's look-up found
 * @hint: a hint that phyr_find() has used, or a zeroed one
 * @offset: first byte of the span, as a list offset
 * @len: bytes in the span
 * @phys: set to the physical address of @offset when it is
 *
 * A caller that looks up one place after the other, such as a stream of
 * packets into one buffer, mostly stays in the range it found last: this
 * answers without a call and without changing the hint.
 *
 * Return: true when [@offset, @offset + @len) lies in that range.
 */
static inline bool phyr_hint_covers(const struct phyr_iter *hint, u64 offset,
				    u64 len, phys_addr_t *phys)
{
	u64 in = offset - hint->last.offset;	/* huge when before the range */

	if (!hint->has_last || in >= hint->last.len ||
	    len > hint->last.len - in)
		return false;
	*phys = hint->last.phys + in;
	return true;
}

/**
 * struct phyr_block_iter - walk a list in aligned blocks
 *
 * Yields every @pgsz-aligned block of address space that holds part of a
 * range, once, in list order: what a driver writes into page tables whose
 * page size is @pgsz.  Two consecutive ranges that share a block yield it
 * once.
 */
struct phyr_block_iter {
	/* private: */
	struct phyr_iter it;
	struct phyr_range r;
	u64 pgsz;
	u64 next;		/* next block address within r */
	u64 prev_block;
	bool has_prev;
	bool in_range;
};

struct phyr_block_iter *phyr_block_start(struct phyr_block_iter *bi,
					 const struct phyr *p, u64 pgsz);
bool phyr_block_next(struct phyr_block_iter *bi, phys_addr_t *block);

#define phyr_for_each_block(p, bi, pgsz, blk) \
	for (struct phyr_block_iter *__pbi = phyr_block_start(bi, p, pgsz); \
	     phyr_block_next(__pbi, blk);)

int phyr_from_phys_vec(struct phyr *p, const struct phys_vec *vec,
		       size_t nr, const struct phyr_meta *meta, gfp_t gfp);
struct phys_vec *phyr_to_phys_vec(const struct phyr *p, size_t *nr,
				  gfp_t gfp);
int phyr_from_sgt(struct phyr *p, struct sg_table *sgt,
		  const struct phyr_meta *meta, gfp_t gfp);
int phyr_to_sgt(const struct phyr *p, struct sg_table *sgt, gfp_t gfp);

/**
 * struct phyr_dma - a phyr mapped for one device
 * @state: IOVA state; in use when the whole list got one IOVA range
 * @addrs: per-range DMA addresses when it did not (no IOMMU, the IOMMU
 *         declined, or P2P ranges with bus addresses), else NULL
 * @nr: number of ranges mapped
 * @mapped: bytes linked into the IOVA range
 * @attrs: DMA attributes the caller asked for
 * @dir: direction
 */
struct phyr_dma {
	struct dma_iova_state state;
	dma_addr_t *addrs;
	unsigned long nr;
	u64 mapped;
	unsigned long attrs;
	enum dma_data_direction dir;
};

enum pci_p2pdma_map_type phyr_range_map_type(struct device *dev,
					     const struct phyr_range *r);
int phyr_dma_map(struct device *dev, const struct phyr *p,
		 enum dma_data_direction dir, unsigned long attrs,
		 struct phyr_dma *dma);
void phyr_dma_unmap(struct device *dev, const struct phyr *p,
		    struct phyr_dma *dma);

/* True when the whole list is one contiguous IOVA range. */
static inline bool phyr_dma_is_iova(const struct phyr_dma *dma)
{
	return !dma->addrs;
}

/* DMA address of range @r (from an iterator over the same list). */
static inline dma_addr_t phyr_dma_addr(const struct phyr_dma *dma,
				       const struct phyr_range *r)
{
	if (!dma->addrs)
		return dma->state.addr + r->offset;
	return dma->addrs[r->index];
}

#if IS_ENABLED(CONFIG_KUNIT)
void *phyr_alloc(void *old, size_t n, size_t size, gfp_t gfp);
#endif

#endif /* _LINUX_PHYR_H */
