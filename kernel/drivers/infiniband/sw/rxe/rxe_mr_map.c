// SPDX-License-Identifier: GPL-2.0
/*
 * Where an rxe MR's bytes live.
 *
 * A user MR reads its umem's physical range list: no per-page array.  An
 * address is found by phyr_find() (binary search over the list's chunks,
 * then one chunk) with the MR's last hit as a hint, so streams of packets
 * into one MR cost O(1) per look-up.  Copies move whole physically
 * contiguous runs at once.
 *
 * A fast-registration MR (ib_map_mr_sg()) keeps one physical address per
 * MR page (ibmr.page_size), allocated when the MR is, because mapping may
 * happen where allocation cannot.
 *
 * rxe is 64-bit only: all the memory it reaches is in the direct map.
 */

#include <linux/ioport.h>
#include <linux/libnvdimm.h>
#include <linux/slab.h>

#include "rxe.h"
#include "rxe_loc.h"

static bool rxe_phys_is_pmem(phys_addr_t phys, u64 len)
{
	return region_intersects(phys, len, IORESOURCE_MEM,
				 IORES_DESC_PERSISTENT_MEMORY) ==
	       REGION_INTERSECTS;
}

static void rxe_mr_hint_load(struct rxe_mr *mr, struct phyr_iter *hint)
{
	unsigned int seq;

	do {
		seq = read_seqcount_begin(&mr->hint_seq);
		*hint = mr->hint;
	} while (read_seqcount_retry(&mr->hint_seq, seq));
}

/*
 * Best effort: a concurrent user of the MR may store its own hit.  Nothing
 * to store when the look-ups stayed in the range they started from.
 */
static void rxe_mr_hint_store(struct rxe_mr *mr, const struct phyr_iter *seen,
			      const struct phyr_iter *hint)
{
	if (!memcmp(seen, hint, sizeof(*hint)) ||
	    !spin_trylock_bh(&mr->hint_lock))
		return;
	write_seqcount_begin(&mr->hint_seq);
	mr->hint = *hint;
	write_seqcount_end(&mr->hint_seq);
	spin_unlock_bh(&mr->hint_lock);
}

/*
 * Physical address of @iova in @mr and the number of bytes physically
 * contiguous from there within the MR.  @hint: look-up state of a user MR.
 */
static int rxe_mr_phys(struct rxe_mr *mr, u64 iova, struct phyr_iter *hint,
		       phys_addr_t *phys, u64 *avail)
{
	if (mr->ibmr.type == IB_MR_TYPE_USER) {
		u64 off = iova - mr->ibmr.iova + ib_umem_offset(mr->umem);
		struct phyr_range r;

		if (phyr_find(&mr->umem->phyr, off, hint, &r))
			return -EFAULT;
		*phys = r.phys + (off - r.offset);
		*avail = r.offset + r.len - off;
	} else {
		u64 pgsz = mr_page_size(mr);
		u64 idx = (iova >> mr->page_shift) -
			  (mr->ibmr.iova >> mr->page_shift);

		if (idx >= mr->fr_nr)
			return -EFAULT;
		*phys = mr->fr_pages[idx] + (iova & (pgsz - 1));
		*avail = pgsz - (iova & (pgsz - 1));
	}
	return 0;
}

/**
 * rxe_mr_map_user - take a user MR's addresses from its umem
 * @mr: MR whose umem is set
 *
 * Return: 0, or -EINVAL when the MR asks for persistence and some of its
 * memory is not persistent.
 */
int rxe_mr_map_user(struct rxe_mr *mr)
{
	struct phyr_iter it;
	struct phyr_range r;

	spin_lock_init(&mr->hint_lock);
	seqcount_spinlock_init(&mr->hint_seq, &mr->hint_lock);
	memset(&mr->hint, 0, sizeof(mr->hint));

	if (!(mr->access & IB_ACCESS_FLUSH_PERSISTENT))
		return 0;
	phyr_for_each_range(&mr->umem->phyr, &it, &r) {
		if (!rxe_phys_is_pmem(r.phys, r.len)) {
			rxe_dbg_mr(mr, "Page can't be persistent\n");
			return -EINVAL;
		}
	}
	return 0;
}

/**
 * rxe_mr_map_fast_init - room for a fast-registration MR's pages
 * @mr: MR
 * @max_pages: most MR pages one ib_map_mr_sg() may map
 *
 * Return: 0 or -ENOMEM.
 */
int rxe_mr_map_fast_init(struct rxe_mr *mr, int max_pages)
{
	mr->fr_pages = kcalloc(max_pages, sizeof(*mr->fr_pages), GFP_KERNEL);
	if (!mr->fr_pages)
		return -ENOMEM;
	mr->fr_max = max_pages;
	mr->fr_nr = 0;
	return 0;
}

void rxe_mr_map_free(struct rxe_mr *mr)
{
	kfree(mr->fr_pages);
	mr->fr_pages = NULL;
	mr->fr_max = 0;
	mr->fr_nr = 0;
}

/* ib_sg_to_pages() callback: @dma_addr is a kernel virtual address. */
static int rxe_set_page(struct ib_mr *ibmr, u64 dma_addr)
{
	struct rxe_mr *mr = to_rmr(ibmr);
	phys_addr_t phys = page_to_phys(ib_virt_dma_to_page(dma_addr)) +
			   offset_in_page(dma_addr);

	if (unlikely(mr->fr_nr >= mr->fr_max))
		return -ENOMEM;
	if ((mr->access & IB_ACCESS_FLUSH_PERSISTENT) &&
	    !rxe_phys_is_pmem(phys, mr_page_size(mr))) {
		rxe_dbg_mr(mr, "Page cannot be persistent\n");
		return -EINVAL;
	}
	mr->fr_pages[mr->fr_nr++] = phys;
	return 0;
}

int rxe_map_mr_sg(struct ib_mr *ibmr, struct scatterlist *sgl,
		  int sg_nents, unsigned int *sg_offset)
{
	struct rxe_mr *mr = to_rmr(ibmr);
	unsigned int page_size = mr_page_size(mr);

	/*
	 * An MR page larger than a CPU page must be physically contiguous,
	 * which ib_sg_to_pages() guarantees: it is one run of a linear-map
	 * address.  Sizes that are not powers of two cannot be indexed.
	 */
	if (!is_power_of_2(page_size)) {
		rxe_dbg_mr(mr, "MR page size %u is not a power of two\n",
			   page_size);
		return -EINVAL;
	}

	mr->fr_nr = 0;
	mr->page_shift = ilog2(page_size);
	mr->page_mask = ~((u64)page_size - 1);

	return ib_sg_to_pages(ibmr, sgl, sg_nents, sg_offset, rxe_set_page);
}

/**
 * rxe_mr_copy_mapped - copy between a user or fast-registration MR and a
 * kernel buffer
 * @mr: MR, range already checked
 * @iova: first MR byte
 * @addr: kernel buffer
 * @length: bytes
 * @dir: RXE_TO_MR_OBJ or RXE_FROM_MR_OBJ
 *
 * Return: 0, or -EFAULT when the MR has no memory at some byte.
 */
int rxe_mr_copy_mapped(struct rxe_mr *mr, u64 iova, void *addr,
		       unsigned int length, enum rxe_mr_copy_dir dir)
{
	bool user = mr->ibmr.type == IB_MR_TYPE_USER;
	struct phyr_iter hint = {}, seen;
	int err = 0;

	if (user)
		rxe_mr_hint_load(mr, &hint);
	seen = hint;
	while (length) {
		phys_addr_t phys;
		unsigned int n;
		u64 avail;
		void *va;

		err = rxe_mr_phys(mr, iova, &hint, &phys, &avail);
		if (err)
			break;
		n = min_t(u64, length, avail);
		va = phys_to_virt(phys);
		if (dir == RXE_TO_MR_OBJ)
			memcpy(va, addr, n);
		else
			memcpy(addr, va, n);
		addr += n;
		iova += n;
		length -= n;
	}
	if (user)
		rxe_mr_hint_store(mr, &seen, &hint);
	return err;
}

/**
 * rxe_mr_flush_mapped - write back persistent memory of an MR range
 * @mr: MR, range already checked
 * @iova: first byte
 * @length: bytes
 *
 * Return: 0 or -EFAULT.
 */
int rxe_mr_flush_mapped(struct rxe_mr *mr, u64 iova, unsigned int length)
{
	struct phyr_iter hint = {};

	while (length) {
		phys_addr_t phys;
		unsigned int n;
		u64 avail;
		int err;

		err = rxe_mr_phys(mr, iova, &hint, &phys, &avail);
		if (err)
			return err;
		n = min_t(u64, length, avail);
		arch_wb_cache_pmem(phys_to_virt(phys), n);
		iova += n;
		length -= n;
	}
	return 0;
}

/**
 * rxe_mr_map_page - the page and offset of one MR byte, for atomics
 * @mr: MR, range already checked
 * @iova: the byte
 * @page: its page
 * @offset: its offset in @page
 *
 * Return: 0 or -EFAULT.
 */
int rxe_mr_map_page(struct rxe_mr *mr, u64 iova, struct page **page,
		    unsigned int *offset)
{
	bool user = mr->ibmr.type == IB_MR_TYPE_USER;
	struct phyr_iter hint = {}, seen;
	phys_addr_t phys;
	u64 avail;
	int err;

	if (user)
		rxe_mr_hint_load(mr, &hint);
	seen = hint;
	err = rxe_mr_phys(mr, iova, &hint, &phys, &avail);
	if (err)
		return err;
	if (user)
		rxe_mr_hint_store(mr, &seen, &hint);
	*page = pfn_to_page(PHYS_PFN(phys));
	*offset = offset_in_page(phys);
	return 0;
}
