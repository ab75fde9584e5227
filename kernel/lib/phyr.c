// SPDX-License-Identifier: GPL-2.0
/*
 * phyr: compact physical range lists, see include/linux/phyr.h.
 *
 * It lives in lib/ beside scatterlist.c, which it replaces for its users:
 * it is a data structure with no subsystem of its own, used by dma-buf,
 * RDMA and (through phyr_to_sgt) by anything that still wants an sg_table.
 */
#include <kunit/static_stub.h>
#include <kunit/visibility.h>
#include <linux/bitfield.h>
#include <linux/cc_platform.h>
#include <linux/dma-mapping.h>
#include <linux/export.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/pci-p2pdma.h>
#include <linux/phyr.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>

/*
 * A chunk holds whole words; a byte-granular range (three words) never
 * straddles two chunks.  @meta is the meta in force at the chunk's first
 * word and @start the list offset of its first range, so a look-up can
 * binary-search the chunk directory.
 */
struct phyr_chunk {
	u64 start;
	unsigned long first_index;
	u16 meta;
	u16 nr;			/* words used */
	u16 cap;		/* words allocated */
	u64 w[];
};

#define PHYR_FIRST_CHUNK_WORDS	8
#define PHYR_CHUNK_WORDS	\
	((PAGE_SIZE - sizeof(struct phyr_chunk)) / sizeof(u64))

#define PHYR_ESC_KIND		GENMASK_ULL(23, 20)
#define PHYR_ESC_ARG		GENMASK_ULL(15, 0)
#define PHYR_ESC_META		1
#define PHYR_ESC_WIDE		2

const struct phyr_meta phyr_meta_cpu = {};
EXPORT_SYMBOL_GPL(phyr_meta_cpu);

/*
 * Every allocation of the list goes through here, so that KUnit can make
 * the n-th one fail (kunit_activate_static_stub).
 */
VISIBLE_IF_KUNIT void *phyr_alloc(void *old, size_t n, size_t size, gfp_t gfp)
{
	KUNIT_STATIC_STUB_REDIRECT(phyr_alloc, old, n, size, gfp);
	return krealloc_array(old, n, size, gfp);
}
EXPORT_SYMBOL_IF_KUNIT(phyr_alloc);

static inline u64 phyr_esc(unsigned int kind, unsigned int arg)
{
	return (PHYR_PFN_ESCAPE << PHYR_NPAGES_BITS) |
	       FIELD_PREP(PHYR_ESC_KIND, kind) | FIELD_PREP(PHYR_ESC_ARG, arg);
}

static inline bool phyr_is_esc(u64 w)
{
	return (w >> PHYR_NPAGES_BITS) == PHYR_PFN_ESCAPE;
}

static inline u64 phyr_pack(u64 pfn, u64 npages)
{
	return pfn << PHYR_NPAGES_BITS | (npages - 1);
}

#define PHYR_PAIR_DELTA		(PHYR_PAIR - 1)

static inline u64 phyr_word_pfn(u64 w)
{
	return w >> PHYR_NPAGES_BITS;
}

/* Pages of a page-granular word that is not a pair. */
static inline u64 phyr_word_npages(u64 w)
{
	return (w & (PHYR_MAX_RUN_PAGES - 1)) + 1;
}

/* The page frame of the second page of a pair word. */
static inline u64 phyr_pair_pfn(u64 w)
{
	return phyr_word_pfn(w) + sign_extend64(w & PHYR_PAIR_DELTA,
						 PHYR_NPAGES_BITS - 2);
}

/*
 * Make the last word, a lone page, a pair with the lone page at @pfn if it
 * is close enough.
 */
static bool phyr_pair_up(u64 *w, u64 pfn)
{
	s64 delta = pfn - phyr_word_pfn(*w);

	if (*w & (PHYR_PAIR | PHYR_PAIR_DELTA) ||
	    delta < -(s64)PHYR_PAIR_REACH || delta >= (s64)PHYR_PAIR_REACH)
		return false;
	*w |= PHYR_PAIR | (delta & PHYR_PAIR_DELTA);
	return true;
}

/* Meta number @i: 0 is ordinary CPU memory, the others are in the table. */
static const struct phyr_meta *phyr_meta_at(const struct phyr *p,
					    unsigned int i)
{
	return i ? &p->metas[i - 1] : &phyr_meta_cpu;
}

/* Chunk number @i: a list of one chunk has no directory. */
static struct phyr_chunk *phyr_chunk_at(const struct phyr *p, u32 i)
{
	return p->chunks_cap ? p->chunks[i] : p->chunk;
}

static bool phyr_meta_equal(const struct phyr_meta *a,
			    const struct phyr_meta *b)
{
	return a->provider == b->provider && a->cache == b->cache &&
	       a->cc == b->cc && a->flags == b->flags;
}

/* Index of @meta in the table, adding it if new; -ENOMEM on failure. */
static int phyr_meta_index(struct phyr *p, const struct phyr_meta *meta,
			   gfp_t gfp)
{
	struct phyr_meta *m;
	unsigned int i, cap;

	/* most appends continue the meta of the last range */
	if (phyr_meta_equal(phyr_meta_at(p, p->cur_meta), meta))
		return p->cur_meta;
	for (i = 0; i <= p->nr_metas; i++)
		if (phyr_meta_equal(phyr_meta_at(p, i), meta))
			return i;
	/* the new meta's number must fit an escape word's argument */
	if (p->nr_metas == U16_MAX)
		return -E2BIG;
	if (p->nr_metas == p->metas_cap) {
		cap = min(2U * p->metas_cap, (unsigned int)U16_MAX) ?: 1;
		m = phyr_alloc(p->metas, cap, sizeof(*m), gfp);
		if (!m)
			return -ENOMEM;
		p->metas = m;
		p->metas_cap = cap;
	}
	p->metas[p->nr_metas] = *meta;
	return ++p->nr_metas;
}

static struct phyr_chunk *phyr_last_chunk(const struct phyr *p)
{
	return p->nr_chunks ? phyr_chunk_at(p, p->nr_chunks - 1) : NULL;
}

/*
 * Make room for @words more words, all in one chunk.  On failure nothing
 * visible changes (a grown directory is harmless).
 */
static struct phyr_chunk *phyr_reserve(struct phyr *p, unsigned int words,
				       unsigned int meta, gfp_t gfp)
{
	struct phyr_chunk *c = phyr_last_chunk(p), **dir;
	unsigned int cap;

	if (c && c->cap - c->nr >= words)
		return c;
	/* the second chunk brings the directory */
	if (p->nr_chunks && p->nr_chunks >= p->chunks_cap) {
		cap = p->chunks_cap ? 2 * p->chunks_cap : 4;
		dir = phyr_alloc(p->chunks_cap ? p->chunks : NULL, cap,
				 sizeof(*dir), gfp);
		if (!dir)
			return NULL;
		if (!p->chunks_cap)
			dir[0] = p->chunk;
		p->chunks = dir;
		p->chunks_cap = cap;
	}
	cap = p->nr_chunks ? PHYR_CHUNK_WORDS : PHYR_FIRST_CHUNK_WORDS;
	c = phyr_alloc(NULL, 1, struct_size(c, w, cap), gfp);
	if (!c)
		return NULL;
	c->start = p->length;
	c->first_index = p->nr_ranges;
	c->meta = meta;
	c->nr = 0;
	c->cap = cap;
	if (p->chunks_cap)
		p->chunks[p->nr_chunks] = c;
	else
		p->chunk = c;
	p->nr_chunks++;
	return c;
}

/* Append one range that fits the encoding limits. */
static int phyr_append_one(struct phyr *p, phys_addr_t phys, u64 len,
			   int meta, gfp_t gfp)
{
	bool wide = !PAGE_ALIGNED(phys) || !PAGE_ALIGNED(len) ||
		    PHYS_PFN(phys) > PHYR_MAX_PFN;
	struct phyr_chunk *c = phyr_last_chunk(p);
	bool switch_meta = p->nr_ranges && meta != p->cur_meta;
	unsigned int words;

	/* Merge into the last range when contiguous with the same meta. */
	if (c && p->nr_ranges && !switch_meta) {
		u64 *w = &c->w[c->nr - 1];

		if (p->last_wide) {
			/* a byte-granular range takes any contiguous bytes */
			u64 end;

			if (!check_add_overflow(w[-1], w[0], &end) &&
			    end == phys &&
			    w[0] + len <= PHYR_MAX_RUN_PAGES * PAGE_SIZE) {
				w[0] += len;
				p->length += len;
				return 0;
			}
		} else if (*w & PHYR_PAIR) {
			u64 pfn = phyr_pair_pfn(*w), saved = *w;
			int ret;

			/*
			 * The pair's second page grows: it moves to a word of
			 * its own, the first page keeps this one.
			 */
			if (PFN_PHYS(pfn + 1) == phys &&
			    PAGE_SIZE + len <= PHYR_MAX_RUN_PAGES * PAGE_SIZE) {
				*w = phyr_pack(phyr_word_pfn(*w), 1);
				p->nr_ranges--;
				p->length -= PAGE_SIZE;
				ret = phyr_append_one(p, PFN_PHYS(pfn),
						      PAGE_SIZE + len, meta, gfp);
				if (ret) {
					*w = saved;
					p->nr_ranges++;
					p->length += PAGE_SIZE;
				}
				return ret;
			}
		} else {
			u64 pfn = phyr_word_pfn(*w);
			u64 n = phyr_word_npages(*w);
			u64 bytes = n << PAGE_SHIFT;

			if (PFN_PHYS(pfn + n) == phys &&
			    bytes + len <= PHYR_MAX_RUN_PAGES * PAGE_SIZE) {
				if (!wide) {
					*w = phyr_pack(pfn, n + (len >> PAGE_SHIFT));
					p->length += len;
					return 0;
				}
				/* whole pages, then a partial one: go wide */
				if (c->cap - c->nr >= 2) {
					w[0] = phyr_esc(PHYR_ESC_WIDE, 0);
					w[1] = PFN_PHYS(pfn);
					w[2] = bytes + len;
					c->nr += 2;
					p->last_wide = true;
					p->length += len;
					return 0;
				}
			} else if (!wide && len == PAGE_SIZE &&
				   phyr_pair_up(w, PHYS_PFN(phys))) {
				p->nr_ranges++;
				p->length += len;
				return 0;
			}
		}
	}

	/*
	 * A chunk records the meta in force at its start, so a meta switch
	 * only needs an escape word when it falls inside a chunk.
	 */
	words = (wide ? 3 : 1) + (switch_meta ? 1 : 0);
	c = phyr_reserve(p, words, meta, gfp);
	if (!c)
		return -ENOMEM;
	if (switch_meta && c->nr)
		c->w[c->nr++] = phyr_esc(PHYR_ESC_META, meta);
	else if (!c->nr)
		c->meta = meta;
	if (wide) {
		c->w[c->nr++] = phyr_esc(PHYR_ESC_WIDE, 0);
		c->w[c->nr++] = phys;
		c->w[c->nr++] = len;
	} else {
		c->w[c->nr++] = phyr_pack(PHYS_PFN(phys), len >> PAGE_SHIFT);
	}
	p->cur_meta = meta;
	p->last_wide = wide;
	p->nr_ranges++;
	p->length += len;
	return 0;
}

/*
 * Undo appends back to a saved state, so that a failed multi-range append
 * leaves the list as it was.  Chunks created since are freed.
 */
struct phyr_mark {
	u32 nr_chunks;
	u16 nr_metas;
	u16 words;
	u16 cur_meta;
	bool last_wide;
	u64 last_word[3];
	unsigned long nr_ranges;
	u64 length;
};

static void phyr_mark(const struct phyr *p, struct phyr_mark *m)
{
	struct phyr_chunk *c = phyr_last_chunk(p);

	m->nr_chunks = p->nr_chunks;
	m->nr_metas = p->nr_metas;
	m->words = c ? c->nr : 0;
	m->cur_meta = p->cur_meta;
	m->last_wide = p->last_wide;
	m->nr_ranges = p->nr_ranges;
	m->length = p->length;
	if (c && c->nr >= 3)
		memcpy(m->last_word, &c->w[c->nr - 3], sizeof(m->last_word));
	else if (c && c->nr)
		memcpy(m->last_word, c->w, c->nr * sizeof(u64));
}

/*
 * A list that a failed append left empty keeps no storage either, so that
 * a user may free a list it never filled without phyr_free().
 */
static void phyr_drop_if_empty(struct phyr *p)
{
	if (!p->nr_chunks && !p->nr_metas)
		phyr_free(p);
}

static void phyr_rewind(struct phyr *p, const struct phyr_mark *m)
{
	struct phyr_chunk *c;

	while (p->nr_chunks > m->nr_chunks)
		kfree(phyr_chunk_at(p, --p->nr_chunks));
	c = phyr_last_chunk(p);
	if (c) {
		c->nr = m->words;
		/* a merge may have changed the last range in place */
		if (c->nr >= 3)
			memcpy(&c->w[c->nr - 3], m->last_word,
			       sizeof(m->last_word));
		else if (c->nr)
			memcpy(c->w, m->last_word, c->nr * sizeof(u64));
	}
	p->nr_metas = m->nr_metas;
	p->cur_meta = m->cur_meta;
	p->last_wide = m->last_wide;
	p->nr_ranges = m->nr_ranges;
	p->length = m->length;
	phyr_drop_if_empty(p);
}

/**
 * phyr_append - append a physical range
 * @p: the list
 * @phys: physical address of the first byte
 * @len: length in bytes, non-zero
 * @meta: the range's meta (copied)
 * @gfp: allocation flags for storage
 *
 * Merges with the last range when contiguous with equal meta; splits ranges
 * longer than the encoding allows.  On failure the list is unchanged, and a
 * list that was empty holds no storage.
 *
 * Return: 0, -EINVAL for an empty or wrapping range, -ENOMEM or -E2BIG
 * (more than 65536 distinct metas, counting CPU memory's).
 */
int phyr_append(struct phyr *p, phys_addr_t phys, u64 len,
		const struct phyr_meta *meta, gfp_t gfp)
{
	const u64 max = PHYR_MAX_RUN_PAGES * PAGE_SIZE;
	struct phyr_mark mark;
	u16 nr_metas;
	u64 end;
	int idx, ret = 0;

	if (!len || check_add_overflow((u64)phys, len - 1, &end) ||
	    end > PHYS_ADDR_MAX)
		return -EINVAL;
	nr_metas = p->nr_metas;
	idx = phyr_meta_index(p, meta, gfp);
	if (idx < 0)
		return idx;
	/* one range, the common case: phyr_append_one() fails cleanly */
	if (len <= max - offset_in_page(phys)) {
		ret = phyr_append_one(p, phys, len, idx, gfp);
		if (ret) {
			p->nr_metas = nr_metas;
			phyr_drop_if_empty(p);
		}
		return ret;
	}
	phyr_mark(p, &mark);
	mark.nr_metas = nr_metas;
	while (len) {
		/* split long runs at a page boundary (and at max length) */
		u64 chunk = min(len, max - offset_in_page(phys));

		ret = phyr_append_one(p, phys, chunk, idx, gfp);
		if (ret) {
			phyr_rewind(p, &mark);
			return ret;
		}
		phys += chunk;
		len -= chunk;
	}
	return 0;
}
EXPORT_SYMBOL_GPL(phyr_append);

/**
 * phyr_append_pages - append pages, one range per physically contiguous run
 * @p: the list
 * @pages: the pages, in list order
 * @nr: number of pages
 * @meta: their meta (copied)
 * @gfp: allocation flags for storage
 * @done: set to the number of pages appended, also on failure
 *
 * What pin_user_pages() returned goes in this way: the meta is looked up
 * once, not once a page.
 *
 * Return: 0, or an error of phyr_append(); the list then holds exactly the
 * first *@done pages, so that the caller can release the others.
 */
int phyr_append_pages(struct phyr *p, struct page **pages, unsigned long nr,
		      const struct phyr_meta *meta, gfp_t gfp,
		      unsigned long *done)
{
	u16 nr_metas = p->nr_metas;
	unsigned long i = 0;
	int idx, ret = 0;

	*done = 0;
	if (!nr)
		return 0;
	idx = phyr_meta_index(p, meta, gfp);
	if (idx < 0)
		return idx;
	while (i < nr) {
		unsigned long pfn = page_to_pfn(pages[i]), run = 1;

		while (i + run < nr && run < PHYR_MAX_RUN_PAGES &&
		       page_to_pfn(pages[i + run]) == pfn + run)
			run++;
		ret = phyr_append_one(p, PFN_PHYS(pfn), (u64)run << PAGE_SHIFT,
				      idx, gfp);
		if (ret)
			break;
		i += run;
	}
	/* a meta no range uses leaves the table */
	if (!i) {
		p->nr_metas = nr_metas;
		phyr_drop_if_empty(p);
	}
	*done = i;
	return ret;
}
EXPORT_SYMBOL_GPL(phyr_append_pages);

/**
 * phyr_append_folio - append part of a folio
 * @p: the list
 * @folio: the folio
 * @offset: byte offset in the folio
 * @len: bytes
 * @meta: meta
 * @gfp: allocation flags
 *
 * Return: as phyr_append(); -EINVAL if the part is not inside the folio.
 */
int phyr_append_folio(struct phyr *p, struct folio *folio, size_t offset,
		      size_t len, const struct phyr_meta *meta, gfp_t gfp)
{
	if (offset >= folio_size(folio) || len > folio_size(folio) - offset)
		return -EINVAL;
	return phyr_append(p, PFN_PHYS(folio_pfn(folio)) + offset, len, meta,
			   gfp);
}
EXPORT_SYMBOL_GPL(phyr_append_folio);

/**
 * phyr_free - release all storage of a list and make it empty
 * @p: the list
 */
void phyr_free(struct phyr *p)
{
	u32 i;

	for (i = 0; i < p->nr_chunks; i++)
		kfree(phyr_chunk_at(p, i));
	if (p->chunks_cap)
		kfree(p->chunks);
	kfree(p->metas);
	phyr_init(p);
}
EXPORT_SYMBOL_GPL(phyr_free);

/**
 * phyr_bytes_used - kernel memory the list occupies
 * @p: the list
 *
 * Return: bytes allocated for chunks, the chunk directory and the meta
 * table, as the slab allocator accounts them (ksize), excluding the
 * struct phyr itself, which the user embeds.
 */
size_t phyr_bytes_used(const struct phyr *p)
{
	size_t bytes = 0;
	u32 i;

	for (i = 0; i < p->nr_chunks; i++)
		bytes += ksize(phyr_chunk_at(p, i));
	if (p->chunks_cap)
		bytes += ksize(p->chunks);
	if (p->metas)
		bytes += ksize(p->metas);
	return bytes;
}
EXPORT_SYMBOL_GPL(phyr_bytes_used);

/**
 * phyr_has_p2p - does any range of the list come from a P2P provider
 * @p: the list
 *
 * Return: true if a range has a P2P provider in its meta.
 */
bool phyr_has_p2p(const struct phyr *p)
{
	unsigned int i;

	for (i = 0; i < p->nr_metas; i++)
		if (p->metas[i].provider)
			return true;
	return false;
}
EXPORT_SYMBOL_GPL(phyr_has_p2p);

static void phyr_iter_at_chunk(struct phyr_iter *it, u32 chunk)
{
	const struct phyr_chunk *c = phyr_chunk_at(it->phyr, chunk);

	it->c = c;
	it->chunk = chunk;
	it->word = 0;
	it->offset = c->start;
	it->index = c->first_index;
	it->meta = c->meta;
	it->second = false;
}

/**
 * phyr_iter_start - position an iterator before the first range
 * @it: the iterator
 * @p: the list
 *
 * Return: @it.
 */
struct phyr_iter *phyr_iter_start(struct phyr_iter *it, const struct phyr *p)
{
	*it = (struct phyr_iter){ .phyr = p };
	if (p->nr_chunks)
		phyr_iter_at_chunk(it, 0);
	return it;
}
EXPORT_SYMBOL_GPL(phyr_iter_start);

/*
 * Decode the next range and move past it; offset and index are the
 * caller's to advance.
 */
static __always_inline bool phyr_iter_step(struct phyr_iter *it,
					   phys_addr_t *phys, u64 *len)
{
	const struct phyr *p = it->phyr;
	const struct phyr_chunk *c;
	u64 w;

	while (it->chunk < p->nr_chunks) {
		c = it->c;
		if (it->word >= c->nr) {
			if (++it->chunk < p->nr_chunks)
				phyr_iter_at_chunk(it, it->chunk);
			continue;
		}
		w = c->w[it->word];
		if (phyr_is_esc(w)) {
			it->word++;
			if (FIELD_GET(PHYR_ESC_KIND, w) == PHYR_ESC_META) {
				it->meta = FIELD_GET(PHYR_ESC_ARG, w);
				continue;
			}
			*phys = c->w[it->word];
			*len = c->w[it->word + 1];
			it->word += 2;
		} else if (w & PHYR_PAIR) {
			/* stay on the word until its second page is out */
			*phys = PFN_PHYS(it->second ? phyr_pair_pfn(w) :
					 phyr_word_pfn(w));
			*len = PAGE_SIZE;
			it->word += it->second;
			it->second = !it->second;
		} else {
			it->word++;
			*phys = PFN_PHYS(phyr_word_pfn(w));
			*len = phyr_word_npages(w) << PAGE_SHIFT;
		}
		return true;
	}
	return false;
}

/**
 * phyr_iter_next - the next range
 * @it: the iterator
 * @r: filled with the range
 *
 * Return: false after the last range.
 */
bool phyr_iter_next(struct phyr_iter *it, struct phyr_range *r)
{
	if (!phyr_iter_step(it, &r->phys, &r->len))
		return false;
	r->offset = it->offset;
	r->index = it->index++;
	r->meta = phyr_meta_at(it->phyr, it->meta);
	it->offset += r->len;
	return true;
}
EXPORT_SYMBOL_GPL(phyr_iter_next);

/**
 * phyr_iter_next_vec - the next ranges, as bare addresses and lengths
 * @it: the iterator
 * @vec: filled with up to @max ranges
 * @max: room in @vec, at least one
 *
 * For walks that need only where the ranges are, such as unpinning: one
 * call for many ranges, and no offset, index or meta to fill in.  Calls
 * of phyr_iter_next() and of this may be mixed on one iterator.
 *
 * Return: the number of ranges filled in, 0 after the last.
 */
unsigned int phyr_iter_next_vec(struct phyr_iter *it, struct phys_vec *vec,
				unsigned int max)
{
	unsigned int n = 0;
	phys_addr_t phys;
	u64 len;

	while (n < max && phyr_iter_step(it, &phys, &len)) {
		vec[n].paddr = phys;
		vec[n++].len = len;
		it->offset += len;
		it->index++;
	}
	return n;
}
EXPORT_SYMBOL_GPL(phyr_iter_next_vec);

/**
 * phyr_find - the range holding a byte offset of the list
 * @p: the list
 * @offset: byte offset from the start of the list
 * @hint: optional iterator kept by the caller between look-ups; the last
 *        hit and its successor are checked first, so sequential access
 *        costs O(1).  NULL for none.
 * @r: filled with the range
 *
 * Otherwise a binary search over chunks, then a scan of one chunk (at most
 * a page of words): O(log n).
 *
 * Return: 0, or -ERANGE when @offset is not inside the list.
 */
int phyr_find(const struct phyr *p, u64 offset, struct phyr_iter *hint,
	      struct phyr_range *r)
{
	struct phyr_iter local;
	struct phyr_iter *it = hint ? hint : &local;
	u32 lo, hi;

	if (offset >= p->length)
		return -ERANGE;
	if (hint && hint->phyr == p && hint->has_last) {
		phys_addr_t phys;

		if (phyr_hint_covers(hint, offset, 1, &phys)) {
			*r = hint->last;
			return 0;
		}
		if (offset >= hint->offset && phyr_iter_next(hint, r) &&
		    offset - r->offset < r->len)
			goto found;
	}
	/* last chunk whose start is <= offset */
	lo = 0;
	hi = p->nr_chunks;
	while (hi - lo > 1) {
		u32 mid = lo + (hi - lo) / 2;

		if (phyr_chunk_at(p, mid)->start <= offset)
			lo = mid;
		else
			hi = mid;
	}
	it->phyr = p;
	it->has_last = false;
	phyr_iter_at_chunk(it, lo);
	while (phyr_iter_next(it, r))
		if (offset - r->offset < r->len)
			goto found;
	WARN_ON_ONCE(1);	/* lengths and chunk starts disagree */
	return -ERANGE;
found:
	/* only look-ups keep the range for the next one */
	it->last = *r;
	it->has_last = true;
	return 0;
}
EXPORT_SYMBOL_GPL(phyr_find);

/**
 * phyr_block_start - start walking a list in aligned blocks
 * @bi: the block iterator
 * @p: the list
 * @pgsz: block size, a power of two
 *
 * Return: @bi.
 */
struct phyr_block_iter *phyr_block_start(struct phyr_block_iter *bi,
					 const struct phyr *p, u64 pgsz)
{
	*bi = (struct phyr_block_iter){ .pgsz = pgsz };
	phyr_iter_start(&bi->it, p);
	/* a block size that is not a power of two yields nothing */
	if (WARN_ON_ONCE(!is_power_of_2(pgsz)))
		bi->pgsz = 0;
	return bi;
}
EXPORT_SYMBOL_GPL(phyr_block_start);

/**
 * phyr_block_next - the next aligned block
 * @bi: the block iterator
 * @block: address of the block's first byte (aligned to the block size)
 *
 * Return: false when done.
 */
bool phyr_block_next(struct phyr_block_iter *bi, phys_addr_t *block)
{
	u64 mask = bi->pgsz - 1;

	if (!bi->pgsz)
		return false;
	for (;;) {
		if (!bi->in_range) {
			if (!phyr_iter_next(&bi->it, &bi->r))
				return false;
			bi->next = bi->r.phys & ~mask;
			bi->in_range = true;
		}
		if (bi->next > bi->r.phys + bi->r.len - 1 ||
		    bi->next < (bi->r.phys & ~mask)) {
			bi->in_range = false;
			continue;
		}
		*block = bi->next;
		bi->next += bi->pgsz;
		/*
		 * A range that starts inside the block the previous range
		 * ended in shares it: yield it once.  A range that starts on
		 * the block boundary (the same page twice, say) is its own.
		 */
		if (bi->has_prev && *block == bi->prev_block &&
		    (bi->r.phys & mask) && *block == (bi->r.phys & ~mask))
			continue;
		bi->prev_block = *block;
		bi->has_prev = true;
		return true;
	}
}
EXPORT_SYMBOL_GPL(phyr_block_next);

/**
 * phyr_from_phys_vec - append an array of ranges with one meta
 * @p: the list
 * @vec: ranges
 * @nr: number of ranges
 * @meta: their meta
 * @gfp: allocation flags
 *
 * Return: 0 or an error from phyr_append(); on error @p is unchanged.
 */
int phyr_from_phys_vec(struct phyr *p, const struct phys_vec *vec,
		       size_t nr, const struct phyr_meta *meta, gfp_t gfp)
{
	struct phyr_mark mark;
	size_t i;
	int ret;

	phyr_mark(p, &mark);
	for (i = 0; i < nr; i++) {
		ret = phyr_append(p, vec[i].paddr, vec[i].len, meta, gfp);
		if (ret) {
			phyr_rewind(p, &mark);
			return ret;
		}
	}
	return 0;
}
EXPORT_SYMBOL_GPL(phyr_from_phys_vec);

/**
 * phyr_to_phys_vec - the list as an array of struct phys_vec
 * @p: the list
 * @nr: set to the number of elements
 * @gfp: allocation flags
 *
 * Return: a kvmalloc'ed array (kvfree it), or NULL on allocation failure
 * or for an empty list.
 */
struct phys_vec *phyr_to_phys_vec(const struct phyr *p, size_t *nr,
				  gfp_t gfp)
{
	struct phys_vec *vec;
	struct phyr_range r;
	struct phyr_iter it;

	*nr = 0;
	if (phyr_empty(p))
		return NULL;
	vec = kvmalloc_array(p->nr_ranges, sizeof(*vec), gfp);
	if (!vec)
		return NULL;
	phyr_for_each_range(p, &it, &r) {
		vec[r.index].paddr = r.phys;
		vec[r.index].len = r.len;
	}
	*nr = p->nr_ranges;
	return vec;
}
EXPORT_SYMBOL_GPL(phyr_to_phys_vec);

/**
 * phyr_from_sgt - append the CPU side of an sg_table
 * @p: the list
 * @sgt: the table; its page entries (not its DMA addresses) are read
 * @meta: meta of all its ranges
 * @gfp: allocation flags
 *
 * For exporters that only provide an sg_table.
 *
 * Return: as phyr_from_phys_vec().
 */
int phyr_from_sgt(struct phyr *p, struct sg_table *sgt,
		  const struct phyr_meta *meta, gfp_t gfp)
{
	struct phyr_mark mark;
	struct scatterlist *sg;
	unsigned int i;
	int ret;

	phyr_mark(p, &mark);
	for_each_sgtable_sg(sgt, sg, i) {
		ret = phyr_append(p, sg_phys(sg), sg->length, meta, gfp);
		if (ret) {
			phyr_rewind(p, &mark);
			return ret;
		}
	}
	return 0;
}
EXPORT_SYMBOL_GPL(phyr_from_sgt);

/* Largest sg entry: its length is an unsigned int. */
#define PHYR_SG_MAX	((u64)UINT_MAX & PAGE_MASK)

/**
 * phyr_to_sgt - an sg_table (CPU side) describing the list
 * @p: the list, which must hold only CPU memory with struct pages
 * @sgt: table to allocate and fill; free with sg_free_table()
 * @gfp: allocation flags
 *
 * For importers that still want a scatterlist.  Ranges longer than an sg
 * entry can hold are split.
 *
 * Return: 0, -EINVAL for an empty list, -EOPNOTSUPP if a range is P2P or
 * behind a private interconnect (no struct page to point at), -ENOMEM.
 */
int phyr_to_sgt(const struct phyr *p, struct sg_table *sgt, gfp_t gfp)
{
	struct scatterlist *sg;
	struct phyr_range r;
	struct phyr_iter it;
	unsigned int nents = 0;
	int ret;

	if (phyr_empty(p))
		return -EINVAL;
	phyr_for_each_range(p, &it, &r) {
		if (r.meta->provider ||
		    (r.meta->flags & (PHYR_META_PRIVATE_INTERCONNECT |
				      PHYR_META_DEVICE_ADDR)) ||
		    !pfn_valid(PHYS_PFN(r.phys)))
			return -EOPNOTSUPP;
		nents += DIV_ROUND_UP_ULL(r.len + offset_in_page(r.phys),
					  PHYR_SG_MAX);
	}
	ret = sg_alloc_table(sgt, nents, gfp);
	if (ret)
		return ret;
	sg = sgt->sgl;
	phyr_for_each_range(p, &it, &r) {
		phys_addr_t phys = r.phys;
		u64 left = r.len;

		while (left) {
			u64 n = min(left, PHYR_SG_MAX - offset_in_page(phys));

			sg_set_page(sg, pfn_to_page(PHYS_PFN(phys)), n,
				    offset_in_page(phys));
			sg = sg_next(sg);
			phys += n;
			left -= n;
		}
	}
	return 0;
}
EXPORT_SYMBOL_GPL(phyr_to_sgt);

/*
 * DMA mapping
 */

static int phyr_range_attrs(struct device *dev, const struct phyr_range *r,
			    unsigned long *attrs, enum pci_p2pdma_map_type *type)
{
	const struct phyr_meta *m = r->meta;

	*type = PCI_P2PDMA_MAP_NONE;
	if (m->flags & PHYR_META_PRIVATE_INTERCONNECT)
		return -EOPNOTSUPP;
	if (m->flags & PHYR_META_DEVICE_ADDR) {
		/* already in the device's address space, like a bus address */
		*type = PCI_P2PDMA_MAP_BUS_ADDR;
		return 0;
	}
	if (m->cc == PHYR_CC_SHARED)
		*attrs |= DMA_ATTR_CC_SHARED;
	/*
	 * Encrypted device memory (a TDISP device in a confidential guest):
	 * the DMA API of Linux 7.2 maps device memory as shared only.
	 */
	else if (m->provider && cc_platform_has(CC_ATTR_GUEST_MEM_ENCRYPT))
		return -EOPNOTSUPP;
	if (m->provider) {
		*type = pci_p2pdma_map_type(m->provider, dev);
		if (*type == PCI_P2PDMA_MAP_NOT_SUPPORTED)
			return -EREMOTEIO;
		*attrs |= DMA_ATTR_MMIO;
	}
	if (m->cache != PHYR_CACHE_WB)
		*attrs |= DMA_ATTR_SKIP_CPU_SYNC;
	return 0;
}

/**
 * phyr_range_map_type - how a device reaches a range
 * @dev: the device that would DMA to it
 * @r: the range, from an iterator or a look-up
 *
 * Return: PCI_P2PDMA_MAP_NONE for CPU memory, the P2P map type for memory
 * with a P2P provider (PCI_P2PDMA_MAP_NOT_SUPPORTED when @dev cannot reach
 * it), PCI_P2PDMA_MAP_BUS_ADDR for addresses @dev already has.
 */
enum pci_p2pdma_map_type phyr_range_map_type(struct device *dev,
					     const struct phyr_range *r)
{
	enum pci_p2pdma_map_type type;
	unsigned long attrs = 0;

	if (phyr_range_attrs(dev, r, &attrs, &type))
		return PCI_P2PDMA_MAP_NOT_SUPPORTED;
	return type;
}
EXPORT_SYMBOL_GPL(phyr_range_map_type);

/* How a range is mapped for a device. */
enum phyr_how {
	PHYR_LINK,	/* into the IOVA range, when there is one */
	PHYR_BUS,	/* a bus address (P2P) or an address the device has */
	PHYR_SINGLE,	/* on its own, with dma_map_phys() */
};

static enum phyr_how phyr_range_how(enum pci_p2pdma_map_type type,
				    unsigned long attrs)
{
	if (type == PCI_P2PDMA_MAP_BUS_ADDR)
		return PHYR_BUS;
	/*
	 * dma_iova_link() has no notion of shared (decrypted) memory;
	 * dma_map_phys() does, and refuses what it cannot honour.
	 */
	if (attrs & DMA_ATTR_CC_SHARED)
		return PHYR_SINGLE;
	return PHYR_LINK;
}

/* What one range needs; its attributes in *attrs. */
static enum phyr_how phyr_range_plan(struct device *dev,
				     const struct phyr_range *r,
				     unsigned long *attrs)
{
	enum pci_p2pdma_map_type type;

	phyr_range_attrs(dev, r, attrs, &type);
	return phyr_range_how(type, *attrs);
}

/*
 * One pass before anything is mapped: refuse what cannot be mapped at all,
 * count the bytes that would go into an IOVA range (*link, the first of
 * them at *first) and decide whether they can share one (*iova_ok): every
 * boundary between two of them must fall on an IOMMU page.
 */
static int phyr_dma_check(struct device *dev, const struct phyr *p,
			  unsigned long attrs, u64 *link, phys_addr_t *first,
			  bool *iova_ok)
{
	/* the IOMMU's page may be larger than the CPU's */
	unsigned long gran = max_t(unsigned long, PAGE_SIZE,
				   dma_get_merge_boundary(dev) + 1);
	bool have_link = false, end_ok = true;
	enum pci_p2pdma_map_type type;
	struct phyr_range r;
	struct phyr_iter it;
	int ret;

	*link = 0;
	*iova_ok = true;
	phyr_for_each_range(p, &it, &r) {
		unsigned long a = attrs;

		ret = phyr_range_attrs(dev, &r, &a, &type);
		if (ret)
			return ret;
		if (phyr_range_how(type, a) != PHYR_LINK)
			continue;
		if (!have_link)
			*first = r.phys;
		else if (!end_ok || !IS_ALIGNED(r.phys, gran))
			*iova_ok = false;
		end_ok = IS_ALIGNED(r.phys + r.len, gran);
		have_link = true;
		*link += r.len;
	}
	return 0;
}

/*
 * Unlink the first @bytes of the IOVA range, one call per run of linked
 * ranges with the same attributes, and free the IOVA range.  The usual
 * list has one run: one dma_iova_destroy().
 */
static void phyr_iova_unlink(struct device *dev, const struct phyr *p,
			     struct phyr_dma *dma, u64 bytes)
{
	unsigned long run_attrs = 0;
	u64 start = 0, off = 0;
	struct phyr_range r;
	struct phyr_iter it;

	phyr_for_each_range(p, &it, &r) {
		unsigned long attrs = dma->attrs;

		if (off >= bytes)
			break;
		if (phyr_range_plan(dev, &r, &attrs) != PHYR_LINK)
			continue;
		if (off && attrs != run_attrs) {
			dma_iova_unlink(dev, &dma->state, start, off - start,
					dma->dir, run_attrs);
			start = off;
		}
		run_attrs = attrs;
		off += r.len;
	}
	if (!start) {
		dma_iova_destroy(dev, &dma->state, bytes, dma->dir, run_attrs);
		return;
	}
	dma_iova_unlink(dev, &dma->state, start, bytes - start, dma->dir,
			run_attrs);
	dma_iova_free(dev, &dma->state);
}

/*
 * Undo a mapping: the ranges before @end that were mapped on their own,
 * then the IOVA range if there is one.
 */
static void phyr_dma_undo(struct device *dev, const struct phyr *p,
			  struct phyr_dma *dma, unsigned long end)
{
	bool iova = dma_use_iova(&dma->state);
	struct phyr_range r;
	struct phyr_iter it;

	/* without per-range addresses, everything was linked */
	if (dma->addrs) {
		phyr_for_each_range(p, &it, &r) {
			unsigned long attrs = dma->attrs;
			enum phyr_how how;

			if (r.index >= end)
				break;
			how = phyr_range_plan(dev, &r, &attrs);
			if (how == PHYR_SINGLE || (how == PHYR_LINK && !iova))
				dma_unmap_phys(dev, dma->addrs[r.index], r.len,
					       dma->dir, attrs);
		}
	}
	if (iova && dma->mapped)
		phyr_iova_unlink(dev, p, dma, dma->mapped);
	else if (iova)
		dma_iova_free(dev, &dma->state);
	kvfree(dma->addrs);
	dma->addrs = NULL;
	dma->mapped = 0;
}

/*
 * Map every range: P2P bus addresses as they are, the rest linked into the
 * IOVA range when there is one, else mapped on their own.  Per-range
 * addresses are kept unless the IOVA range holds the whole list, which is
 * then one contiguous run of device addresses.
 */
static int phyr_dma_map_ranges(struct device *dev, const struct phyr *p,
			       u64 link, struct phyr_dma *dma)
{
	bool iova = dma_use_iova(&dma->state);
	unsigned long done = 0;
	struct phyr_range r;
	struct phyr_iter it;
	int ret = 0;

	if (!iova || link != p->length) {
		dma->addrs = kvmalloc_array(p->nr_ranges, sizeof(*dma->addrs),
					    GFP_KERNEL);
		if (!dma->addrs) {
			if (iova)
				dma_iova_free(dev, &dma->state);
			return -ENOMEM;
		}
	}
	phyr_for_each_range(p, &it, &r) {
		unsigned long a = dma->attrs;
		dma_addr_t addr;

		switch (phyr_range_plan(dev, &r, &a)) {
		case PHYR_BUS:
			addr = r.meta->provider ?
			       pci_p2pdma_bus_addr_map(r.meta->provider,
						       r.phys) : r.phys;
			break;
		case PHYR_LINK:
			if (iova) {
				ret = dma_iova_link(dev, &dma->state, r.phys,
						    dma->mapped, r.len,
						    dma->dir, a);
				if (ret)
					break;
				addr = dma->state.addr + dma->mapped;
				dma->mapped += r.len;
				break;
			}
			fallthrough;
		case PHYR_SINGLE:
			addr = dma_map_phys(dev, r.phys, r.len, dma->dir, a);
			ret = dma_mapping_error(dev, addr);
			break;
		}
		if (ret)
			break;
		if (dma->addrs)
			dma->addrs[r.index] = addr;
		done = r.index + 1;
	}
	if (!ret && iova && dma->mapped)
		ret = dma_iova_sync(dev, &dma->state, 0, dma->mapped);
	if (ret) {
		phyr_dma_undo(dev, p, dma, done);
		return ret;
	}
	dma->nr = p->nr_ranges;
	return 0;
}

/**
 * phyr_dma_map - map a list for DMA by a device
 * @dev: the device
 * @p: the list
 * @dir: direction
 * @attrs: DMA attributes; each range adds what its meta requires
 *         (DMA_ATTR_MMIO for P2P, DMA_ATTR_CC_SHARED for shared memory,
 *         DMA_ATTR_SKIP_CPU_SYNC for uncached or write-combined memory)
 * @dma: filled with the mapping
 *
 * With an IOMMU, CPU memory (and P2P memory reached through the host
 * bridge) goes into one IOVA range: one dma_iova_try_alloc, a
 * dma_iova_link per range, one dma_iova_sync.  When that is the whole
 * list, it is one contiguous range of device addresses and @dma->addrs
 * stays NULL.  P2P memory the device reaches by PCI bus address takes that
 * address, without IOVA; shared (decrypted) memory is mapped on its own;
 * then every range's address is kept in @dma->addrs.  Without an IOMMU
 * (or when it declines, or range boundaries do not fall on its pages)
 * every range is mapped on its own.  Ranges marked PHYR_META_DEVICE_ADDR
 * are DMA addresses of @dev already: taken as they are.
 *
 * Return: 0; -EINVAL for an empty list; -EOPNOTSUPP for a range behind a
 * private interconnect, or encrypted device memory in a confidential guest
 * (Linux 7.2 can only map device memory as shared); -EREMOTEIO for a P2P
 * range the device cannot reach; -ENOMEM or the DMA layer's error.  On
 * error nothing is mapped.
 */
int phyr_dma_map(struct device *dev, const struct phyr *p,
		 enum dma_data_direction dir, unsigned long attrs,
		 struct phyr_dma *dma)
{
	phys_addr_t first = 0;
	bool iova_ok;
	u64 link;
	int ret;

	*dma = (struct phyr_dma){ .dir = dir, .attrs = attrs };
	if (phyr_empty(p))
		return -EINVAL;
	ret = phyr_dma_check(dev, p, attrs, &link, &first, &iova_ok);
	if (ret)
		return ret;
	/* the first linked range sets the IOVA's offset in its page */
	if (link && iova_ok)
		dma_iova_try_alloc(dev, &dma->state, first, link);
	return phyr_dma_map_ranges(dev, p, link, dma);
}
EXPORT_SYMBOL_GPL(phyr_dma_map);

/**
 * phyr_dma_unmap - undo phyr_dma_map()
 * @dev: the device
 * @p: the list, unchanged since mapping
 * @dma: the mapping
 */
void phyr_dma_unmap(struct device *dev, const struct phyr *p,
		    struct phyr_dma *dma)
{
	if (dma->nr)
		phyr_dma_undo(dev, p, dma, dma->nr);
	*dma = (struct phyr_dma){};
}
EXPORT_SYMBOL_GPL(phyr_dma_unmap);
