// SPDX-License-Identifier: GPL-2.0
/*
 * Where an rxe MR's bytes live.
 *
 * A user MR reads its umem's physical range list: no per-page array.  An
 * address is found by phyr_find() (binary search over the list's chunks,
 * then one chunk) with the MR's last hit as a hint, so streams of packets
 * into one MR cost O(1) per look-up; a packet that lands in the range last
 * found is copied without a look-up.  Copies move whole physically
 * contiguous runs at once.
 *
 * A dma-buf MR reads the exporter's list the same way, as a window into
 * the whole buffer, but only between ib_umem_dmabuf_cpu_begin() and
 * ib_umem_dmabuf_cpu_end(): rxe attaches without a device, and the list is
 * valid only until the exporter invalidates it.  Invalidation waits for
 * accesses in flight and drops the MR's look-up hint; the next access maps
 * the buffer again if the exporter allows it, or fails, which completes
 * the work request in error.
 *
 * A fast-registration MR (ib_map_mr_sg()) keeps one physical address per
 * MR page (ibmr.page_size), allocated when the MR is, because mapping may
 * happen where allocation cannot.
 *
 * rxe is 64-bit only: all the memory it reaches is in the direct map.
 */

#include <linux/dma-buf.h>
#include <linux/dma-resv.h>
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

static void rxe_mr_hint_init(struct rxe_mr *mr)
{
	spin_lock_init(&mr->hint_lock);
	seqcount_spinlock_init(&mr->hint_seq, &mr->hint_lock);
	memset(&mr->hint, 0, sizeof(mr->hint));
}

/* The umem's list is gone: a hint into it must not be followed. */
static void rxe_mr_hint_reset(struct rxe_mr *mr)
{
	spin_lock_bh(&mr->hint_lock);
	write_seqcount_begin(&mr->hint_seq);
	memset(&mr->hint, 0, sizeof(mr->hint));
	write_seqcount_end(&mr->hint_seq);
	spin_unlock_bh(&mr->hint_lock);
}

static struct ib_umem_dmabuf *rxe_mr_dmabuf(struct rxe_mr *mr)
{
	if (mr->ibmr.type != IB_MR_TYPE_USER || !mr->umem->is_dmabuf)
		return NULL;
	return to_ib_umem_dmabuf(mr->umem);
}

/**
 * rxe_mr_access_begin - the MR's memory may be touched until the end call
 * @mr: MR
 *
 * Only dma-buf MRs need it: it maps the buffer again after an
 * invalidation, and may sleep doing so.
 *
 * Return: 0, or the error that keeps the memory out of reach.
 */
int rxe_mr_access_begin(struct rxe_mr *mr)
{
	struct ib_umem_dmabuf *umem_dmabuf = rxe_mr_dmabuf(mr);
	int err;

	if (!umem_dmabuf)
		return 0;
	err = ib_umem_dmabuf_cpu_begin(umem_dmabuf);
	if (err)
		rxe_dbg_mr(mr, "dma-buf out of reach, err = %d\n", err);
	return err;
}

void rxe_mr_access_end(struct rxe_mr *mr)
{
	struct ib_umem_dmabuf *umem_dmabuf = rxe_mr_dmabuf(mr);

	if (umem_dmabuf)
		ib_umem_dmabuf_cpu_end(umem_dmabuf);
}

/*
 * Kernel address of @iova in @mr and the number of bytes contiguous from
 * there within the MR.  @io: the address is an I/O mapping (device memory
 * of a dma-buf MR).  @hint: look-up state of a user MR.
 */
static int rxe_mr_addr(struct rxe_mr *mr, u64 iova, struct phyr_iter *hint,
		       void **va, bool *io, u64 *avail)
{
	struct ib_umem_dmabuf *umem_dmabuf = rxe_mr_dmabuf(mr);

	*io = false;
	if (mr->ibmr.type == IB_MR_TYPE_USER) {
		const struct phyr *phyr;
		struct phyr_range r;
		u64 first, off;

		phyr = ib_umem_phyr(mr->umem, &first);
		off = iova - mr->ibmr.iova + first;
		if (!phyr || phyr_find(phyr, off, hint, &r))
			return -EFAULT;
		if (umem_dmabuf)
			*va = ib_umem_dmabuf_cpu_addr(umem_dmabuf, &r,
						      off - r.offset, io);
		else
			*va = phys_to_virt(r.phys + (off - r.offset));
		*avail = r.offset + r.len - off;
	} else {
		u64 pgsz = mr_page_size(mr);
		u64 idx = (iova >> mr->page_shift) -
			  (mr->ibmr.iova >> mr->page_shift);

		if (idx >= mr->fr_nr)
			return -EFAULT;
		*va = phys_to_virt(mr->fr_pages[idx] + (iova & (pgsz - 1)));
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

	rxe_mr_hint_init(mr);

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

/*
 * The exporter moves or revokes the buffer: once the umem has dropped its
 * list no access is in flight, and none starts before this returns (it
 * would need the reservation lock, which the exporter holds).
 */
static void rxe_mr_dmabuf_invalidate(struct dma_buf_attachment *attach)
{
	struct ib_umem_dmabuf *umem_dmabuf = attach->importer_priv;

	ib_umem_dmabuf_unmap_pages(umem_dmabuf);
	if (umem_dmabuf->private)
		rxe_mr_hint_reset(umem_dmabuf->private);
}

static const struct dma_buf_attach_ops rxe_mr_dmabuf_attach_ops = {
	/* device memory is mapped for the CPU as its meta says */
	.allow_peer2peer = true,
	.allow_phyr = true,
	.invalidate_mappings = rxe_mr_dmabuf_invalidate,
};

/**
 * rxe_mr_init_dmabuf - a user MR on [offset, offset + length) of a dma-buf
 * @rxe: device
 * @offset: first byte in the buffer
 * @length: bytes
 * @iova: the MR's address of its first byte
 * @fd: the dma-buf
 * @access: IB_ACCESS_* flags
 * @mr: MR
 *
 * rxe attaches without a device and maps the buffer at once, so that a
 * buffer rxe cannot reach fails the registration; an exporter that moves
 * the buffer later has it mapped again on the next access.
 *
 * Return: 0 or an error from ib_umem_dmabuf_get() or
 * ib_umem_dmabuf_map_pages(): -EOPNOTSUPP for memory rxe cannot reach
 * through the direct map, or from an exporter that cannot describe it.
 */
int rxe_mr_init_dmabuf(struct rxe_dev *rxe, u64 offset, u64 length, u64 iova,
		       int fd, int access, struct rxe_mr *mr)
{
	struct ib_umem_dmabuf *umem_dmabuf;
	struct dma_resv *resv;
	int err;

	rxe_mr_init(access, mr);
	rxe_mr_hint_init(mr);

	umem_dmabuf = ib_umem_dmabuf_get(&rxe->ib_dev, offset, length, fd,
					 access, &rxe_mr_dmabuf_attach_ops);
	if (IS_ERR(umem_dmabuf)) {
		rxe_dbg_mr(mr, "cannot attach to dma-buf %d, err = %ld\n", fd,
			   PTR_ERR(umem_dmabuf));
		return PTR_ERR(umem_dmabuf);
	}

	resv = umem_dmabuf->attach->dmabuf->resv;
	dma_resv_lock(resv, NULL);
	umem_dmabuf->private = mr;
	err = ib_umem_dmabuf_map_pages(umem_dmabuf);
	/* what a device would do: ATS for P2P memory only */
	if (!err)
		mr->ats = ib_umem_dmabuf_is_p2p_locked(umem_dmabuf, 0, length);
	dma_resv_unlock(resv);
	if (err) {
		rxe_dbg_mr(mr, "cannot map dma-buf %d, err = %d\n", fd, err);
		ib_umem_release(&umem_dmabuf->umem);
		return err;
	}

	mr->umem = &umem_dmabuf->umem;
	mr->ibmr.iova = iova;
	mr->ibmr.length = length;
	mr->ibmr.type = IB_MR_TYPE_USER;
	mr->state = RXE_MR_STATE_VALID;
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

/*
 * Packets into a pinned MR mostly land in the range the MR's last look-up
 * found: copy there without looking up, and with no hint to store.
 */
static bool rxe_mr_copy_hit(struct rxe_mr *mr, u64 iova, void *addr,
			    unsigned int length, enum rxe_mr_copy_dir dir)
{
	u64 off = iova - mr->ibmr.iova + ib_umem_offset(mr->umem);
	unsigned int seq;
	phys_addr_t phys;
	bool hit;

	do {
		seq = read_seqcount_begin(&mr->hint_seq);
		hit = phyr_hint_covers(&mr->hint, off, length, &phys);
	} while (read_seqcount_retry(&mr->hint_seq, seq));
	if (!hit)
		return false;
	if (dir == RXE_TO_MR_OBJ)
		memcpy(phys_to_virt(phys), addr, length);
	else
		memcpy(addr, phys_to_virt(phys), length);
	return true;
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
	int err;

	if (user && !mr->umem->is_dmabuf &&
	    rxe_mr_copy_hit(mr, iova, addr, length, dir))
		return 0;
	err = rxe_mr_access_begin(mr);
	if (err)
		return err;
	if (user)
		rxe_mr_hint_load(mr, &hint);
	seen = hint;
	while (length) {
		unsigned int n;
		u64 avail;
		void *va;
		bool io;

		err = rxe_mr_addr(mr, iova, &hint, &va, &io, &avail);
		if (err)
			break;
		n = min_t(u64, length, avail);
		if (io && dir == RXE_TO_MR_OBJ)
			memcpy_toio((void __iomem __force *)va, addr, n);
		else if (io)
			memcpy_fromio(addr, (void __iomem __force *)va, n);
		else if (dir == RXE_TO_MR_OBJ)
			memcpy(va, addr, n);
		else
			memcpy(addr, va, n);
		addr += n;
		iova += n;
		length -= n;
	}
	if (user)
		rxe_mr_hint_store(mr, &seen, &hint);
	rxe_mr_access_end(mr);
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
	int err;

	err = rxe_mr_access_begin(mr);
	if (err)
		return err;
	while (length) {
		unsigned int n;
		u64 avail;
		void *va;
		bool io;

		/* persistence is only granted to pinned user memory */
		err = rxe_mr_addr(mr, iova, &hint, &va, &io, &avail);
		if (err)
			break;
		n = min_t(u64, length, avail);
		arch_wb_cache_pmem(va, n);
		iova += n;
		length -= n;
	}
	rxe_mr_access_end(mr);
	return err;
}

/**
 * rxe_mr_map_word - the kernel address of one MR word, for atomics
 * @mr: MR, range already checked, between rxe_mr_access_begin() and
 *      rxe_mr_access_end()
 * @iova: the word's first byte
 * @va: its address
 * @io: set when @va is an I/O mapping (readq()/writeq())
 *
 * Return: 0 or -EFAULT.
 */
int rxe_mr_map_word(struct rxe_mr *mr, u64 iova, void **va, bool *io)
{
	bool user = mr->ibmr.type == IB_MR_TYPE_USER;
	struct phyr_iter hint = {}, seen;
	u64 avail;
	int err;

	if (user)
		rxe_mr_hint_load(mr, &hint);
	seen = hint;
	err = rxe_mr_addr(mr, iova, &hint, va, io, &avail);
	if (err)
		return err;
	if (user)
		rxe_mr_hint_store(mr, &seen, &hint);
	return 0;
}
