// SPDX-License-Identifier: GPL-2.0
/*
 * User memory for RDMA, pinned into a physical range list.
 *
 * ib_umem_get*() pins a user virtual range and records it as a phyr: one
 * packed word per physically contiguous run, so a 2 MiB folio is one
 * entry and nothing per page survives registration.  Anonymous and other
 * GUP-able memory is pinned with pin_user_pages_fast(); a range that lies
 * in one shared mapping of a memfd (shmem, huge shmem or hugetlbfs) is
 * pinned with memfd_pin_folios(), one pin per folio.  Devices that DMA get
 * the list mapped with the IOVA API (one contiguous range when an IOMMU is
 * in use); devices that do not (rxe, siw, rdmavt) read the list itself.
 */

#include <linux/mm.h>
#include <linux/dma-mapping.h>
#include <linux/sched/signal.h>
#include <linux/sched/mm.h>
#include <linux/export.h>
#include <linux/slab.h>
#include <linux/pagemap.h>
#include <linux/count_zeros.h>
#include <linux/hugetlb.h>
#include <linux/memfd.h>
#include <linux/shmem_fs.h>
#include <linux/highmem.h>
#include <linux/sizes.h>
#include <linux/userfaultfd_k.h>
#include <rdma/ib_umem_odp.h>
#include <asm/mmu_context.h>

#include "uverbs.h"

/* page and folio pointers handled per pinning call: one page of them */
#define IB_UMEM_BATCH	(PAGE_SIZE / sizeof(void *))

static void ib_umem_unpin_pages(struct ib_umem *umem, bool dirty)
{
	struct phys_vec vec[16];
	struct phyr_iter it;
	unsigned int n, i;

	phyr_iter_start(&it, &umem->phyr);
	while ((n = phyr_iter_next_vec(&it, vec, ARRAY_SIZE(vec)))) {
		for (i = 0; i < n; i++) {
			struct page *page = pfn_to_page(PHYS_PFN(vec[i].paddr));

			unpin_user_page_range_dirty_lock(page,
							 vec[i].len >> PAGE_SHIFT,
							 dirty);
		}
		cond_resched();
	}
}

/* memfd_pin_folios() took one pin per folio: drop one per folio. */
static void ib_umem_unpin_folios(struct ib_umem *umem, bool dirty)
{
	struct phyr_iter it;
	struct phyr_range r;
	unsigned long n = 0;

	phyr_for_each_range(&umem->phyr, &it, &r) {
		unsigned long pfn = PHYS_PFN(r.phys);
		unsigned long end = pfn + (r.len >> PAGE_SHIFT);

		while (pfn < end) {
			struct folio *folio = pfn_folio(pfn);

			pfn = folio_pfn(folio) + folio_nr_pages(folio);
			if (dirty)
				folio_mark_dirty_lock(folio);
			unpin_folio(folio);
			if (!(++n % 1024))
				cond_resched();
		}
	}
}

static void ib_umem_unpin(struct ib_umem *umem, bool dirty)
{
	if (umem->folio_pins)
		ib_umem_unpin_folios(umem, dirty);
	else
		ib_umem_unpin_pages(umem, dirty);
	phyr_free(&umem->phyr);
}

/**
 * ib_umem_phyr - the physical range list behind a umem
 * @umem: a pinned umem, or a dma-buf umem while it is mapped
 * @first: set to the list offset of the umem's first byte
 *
 * A pinned umem's own list starts at the page holding its first byte; a
 * dma-buf umem is a window into the exporter's list of the whole buffer,
 * valid only under the buffer's rules (the reservation lock, or
 * ib_umem_dmabuf_cpu_begin() for CPU importers).
 *
 * Return: the list, or NULL for ODP and unmapped dma-buf umems.
 */
const struct phyr *ib_umem_phyr(struct ib_umem *umem, u64 *first)
{
	if (umem->is_dmabuf) {
		*first = umem->address;
		return to_ib_umem_dmabuf(umem)->phyr;
	}
	*first = ib_umem_offset(umem);
	return umem->is_odp ? NULL : &umem->phyr;
}
EXPORT_SYMBOL(ib_umem_phyr);

/**
 * ib_umem_is_p2p - is part of a umem PCI peer-to-peer memory
 * @umem: umem
 * @offset: first byte of the part, from the umem's first byte
 * @length: bytes; the whole umem is [0, umem->length)
 *
 * For decisions that only pay for P2P memory, such as turning on ATS.
 * Pinned user memory never is (pinning does not take P2P pages); a dma-buf
 * umem is what its exporter's meta says (see ib_umem_dmabuf_is_p2p(); it
 * may take the reservation lock).  A driver asks per MR with the whole
 * umem, or per DMA block with the block's bytes.
 *
 * Return: true when some of the part is P2P memory.
 */
bool ib_umem_is_p2p(struct ib_umem *umem, u64 offset, u64 length)
{
	if (!umem->is_dmabuf || !length || offset >= umem->length)
		return false;
	return ib_umem_dmabuf_is_p2p(to_ib_umem_dmabuf(umem), offset,
				     min_t(u64, length,
					   umem->length - offset));
}
EXPORT_SYMBOL(ib_umem_is_p2p);

/* Next raw segment of the umem's list in device address space. */
static bool ib_umem_dma_raw_next(struct ib_umem_dma_iter *it,
				 dma_addr_t *addr, u64 *len)
{
	struct ib_umem *umem = it->umem;
	struct phyr_range r;

	if (it->one_iova) {
		/* one IOVA range: no need to walk the ranges behind it */
		it->one_iova = false;
		*addr = umem->dma.state.addr;
		*len = phyr_length(it->it.phyr);
		return true;
	}
	if (!it->it.phyr || !phyr_iter_next(&it->it, &r))
		return false;
	if (umem->dma_mapped)
		*addr = phyr_dma_addr(&umem->dma, &r);
	else
		*addr = (uintptr_t)phys_to_virt(r.phys);
	*len = r.len;
	return true;
}

/**
 * ib_umem_dma_iter_start - start walking a umem's DMA segments
 * @it: iterator
 * @umem: a pinned umem, or a dma-buf umem while mapped (ODP umems and
 *        unmapped dma-buf umems have no segments here)
 */
void ib_umem_dma_iter_start(struct ib_umem_dma_iter *it, struct ib_umem *umem)
{
	const struct phyr *phyr;
	u64 first;

	*it = (struct ib_umem_dma_iter){ .umem = umem };
	phyr = ib_umem_phyr(umem, &first);
	if (!phyr)
		return;
	it->skip = first;
	it->left = umem->length;
	phyr_iter_start(&it->it, phyr);
	it->one_iova = umem->dma_mapped && phyr_dma_is_iova(&umem->dma);
}
EXPORT_SYMBOL(ib_umem_dma_iter_start);

/**
 * ib_umem_dma_iter_next - the next DMA-contiguous segment
 * @it: iterator
 * @addr: its first byte's address
 * @len: its length in bytes
 *
 * Return: false when the umem is exhausted.
 */
bool ib_umem_dma_iter_next(struct ib_umem_dma_iter *it, dma_addr_t *addr,
			   u64 *len)
{
	dma_addr_t a;
	u64 l;

	while (it->left && ib_umem_dma_raw_next(it, &a, &l)) {
		if (it->skip >= l) {
			it->skip -= l;
			continue;
		}
		a += it->skip;
		l -= it->skip;
		it->skip = 0;
		l = min(l, it->left);
		it->left -= l;
		if (it->pending && it->addr + it->len == a) {
			it->len += l;
			continue;
		}
		if (it->pending) {
			*addr = it->addr;
			*len = it->len;
			it->addr = a;
			it->len = l;
			return true;
		}
		it->addr = a;
		it->len = l;
		it->pending = true;
	}
	if (!it->pending)
		return false;
	*addr = it->addr;
	*len = it->len;
	it->pending = false;
	return true;
}
EXPORT_SYMBOL(ib_umem_dma_iter_next);

/**
 * ib_umem_start_dma_addr - device address of the umem's first byte
 * @umem: a pinned or dma-buf umem
 */
dma_addr_t ib_umem_start_dma_addr(struct ib_umem *umem)
{
	const struct phyr *phyr;
	struct phyr_range r;
	u64 first;

	phyr = ib_umem_phyr(umem, &first);
	if (!phyr)
		return 0;
	if (umem->dma_mapped && phyr_dma_is_iova(&umem->dma))
		return umem->dma.state.addr + first;
	if (phyr_find(phyr, first, NULL, &r))
		return 0;
	if (umem->dma_mapped)
		return phyr_dma_addr(&umem->dma, &r) + (first - r.offset);
	return (uintptr_t)phys_to_virt(r.phys + (first - r.offset));
}
EXPORT_SYMBOL(ib_umem_start_dma_addr);

/**
 * ib_umem_first_page - the page holding a pinned umem's first byte
 * @umem: a umem from ib_umem_get*() on user virtual memory
 *
 * Return: the page, or NULL for dma-buf and ODP umems, which pin nothing.
 */
struct page *ib_umem_first_page(struct ib_umem *umem)
{
	struct phyr_iter it;
	struct phyr_range r;

	if (umem->is_dmabuf || umem->is_odp)
		return NULL;
	phyr_iter_start(&it, &umem->phyr);
	if (!phyr_iter_next(&it, &r))
		return NULL;
	return pfn_to_page(PHYS_PFN(r.phys));
}
EXPORT_SYMBOL(ib_umem_first_page);

/**
 * ib_umem_find_best_pgsz - largest HW page size that maps the umem
 * @umem: umem
 * @pgsz_bitmap: page sizes the hardware supports
 * @virt: the IOVA the hardware will use for the umem's first byte
 *
 * Sets umem->iova to @virt.  A page size qualifies when every place the
 * device address is discontinuous is a page boundary in both @virt space
 * and device space, and the two agree below the page size.  Page sizes
 * beyond the smallest aligned block holding the whole range are only kept
 * when no smaller size in @pgsz_bitmap covers that block.
 *
 * Return: the page size, or 0 when none in @pgsz_bitmap works.
 */
unsigned long ib_umem_find_best_pgsz(struct ib_umem *umem,
				     unsigned long pgsz_bitmap, u64 virt)
{
	struct ib_umem_dma_iter it;
	unsigned long mask = 0;
	unsigned int span_bits;
	dma_addr_t addr;
	u64 last, len;
	u64 va = virt;
	bool first = true;

	umem->iova = virt;

	if (umem->is_odp) {
		unsigned long odp_pgsz = BIT(to_ib_umem_odp(umem)->page_shift);

		/* ODP always uses its own page size */
		return (pgsz_bitmap & odp_pgsz) ? odp_pgsz : 0;
	}

	if (check_add_overflow(virt, (u64)umem->length - 1, &last))
		return 0;
	span_bits = bits_per(virt ^ last);
	if (span_bits < BITS_PER_LONG)
		mask = pgsz_bitmap & GENMASK(BITS_PER_LONG - 1, span_bits);

	ib_umem_dma_iter_start(&it, umem);
	while (ib_umem_dma_iter_next(&it, &addr, &len)) {
		/* low bits where device and virtual address disagree */
		mask |= addr ^ va;
		/* a discontinuity must start a page */
		if (!first)
			mask |= va;
		first = false;
		va += len;
	}

	if (mask)
		pgsz_bitmap &= GENMASK(count_trailing_zeros(mask), 0);
	return pgsz_bitmap ? rounddown_pow_of_two(pgsz_bitmap) : 0;
}
EXPORT_SYMBOL(ib_umem_find_best_pgsz);

static int ib_umem_pin_gup(struct ib_umem *umem, unsigned long start,
			   unsigned long npages, void **batch)
{
	unsigned int gup_flags = FOLL_LONGTERM;
	struct page **pages = (struct page **)batch;

	if (umem->writable)
		gup_flags |= FOLL_WRITE;

	while (npages) {
		unsigned long appended;
		long pinned;
		int ret;

		cond_resched();
		pinned = pin_user_pages_fast(start,
					     min(npages, IB_UMEM_BATCH),
					     gup_flags, pages);
		if (pinned < 0)
			return pinned;
		if (WARN_ON_ONCE(!pinned))
			return -EFAULT;

		ret = phyr_append_pages(&umem->phyr, pages, pinned,
					&phyr_meta_cpu, GFP_KERNEL, &appended);
		if (ret) {
			unpin_user_pages(pages + appended, pinned - appended);
			return ret;
		}
		start += pinned << PAGE_SHIFT;
		npages -= pinned;
	}
	return 0;
}

/*
 * The memfd a user range can be pinned through: the range is at least
 * 2 MiB, the size from which the file pays off (the smallest hugetlbfs and
 * PMD size on x86; below it GUP pins as few folios, and small registrations
 * skip the VMA look-up), and lies in one shared mapping of a shmem or
 * hugetlbfs file, inside the file, with the access the registration needs.
 * Anything else (private mappings, ranges over several VMAs, other files,
 * smaller ranges) is left to GUP, which also gives the errors for bad
 * ranges.  So are mappings where a fault means more than "bring the page
 * in", which memfd_pin_folios() would bypass: userfaultfd (missing or
 * write-protect), guard regions, protection keys.
 *
 * Return: a file reference, or NULL; *pos is the file offset of @start.
 */
static struct file *ib_umem_memfd_of(struct ib_umem *umem,
				     unsigned long start, unsigned long end,
				     loff_t *pos)
{
	struct mm_struct *mm = umem->owning_mm;
	vm_flags_t need = umem->writable ? VM_WRITE : VM_READ;
	struct vm_area_struct *vma;
	struct file *file = NULL;

	if (end - start < SZ_2M)
		return NULL;
	if (mmap_read_lock_killable(mm))
		return NULL;
	vma = vma_lookup(mm, start);
	if (!vma || end > vma->vm_end || !vma->vm_file)
		goto out;
	if ((vma->vm_flags & (VM_SHARED | VM_IO | VM_PFNMAP | VM_MAYBE_GUARD |
			      need)) != (VM_SHARED | need))
		goto out;
	if (userfaultfd_armed(vma) ||
	    !arch_vma_access_permitted(vma, umem->writable, false, false))
		goto out;
	if (!shmem_file(vma->vm_file) && !is_file_hugepages(vma->vm_file))
		goto out;
	*pos = ((loff_t)vma->vm_pgoff << PAGE_SHIFT) + (start - vma->vm_start);
	if (*pos + (end - start) > i_size_read(file_inode(vma->vm_file)))
		goto out;
	file = get_file(vma->vm_file);
out:
	mmap_read_unlock(mm);
	return file;
}

static int ib_umem_pin_memfd(struct ib_umem *umem, struct file *file,
			     loff_t pos, u64 bytes, void **batch)
{
	struct folio **folios = (struct folio **)batch;

	umem->folio_pins = 1;
	while (bytes) {
		pgoff_t offset;
		long nr, i;

		cond_resched();
		nr = memfd_pin_folios(file, pos, pos + bytes - 1, folios,
				      IB_UMEM_BATCH, &offset);
		/*
		 * Where a fault would have raised SIGBUS (tmpfs full, the file
		 * truncated under us), GUP says -EFAULT: so do we.
		 */
		if (nr == -ENOSPC || nr == -EINVAL)
			return -EFAULT;
		if (nr < 0)
			return nr;
		if (WARN_ON_ONCE(!nr))
			return -EFAULT;

		for (i = 0; i < nr && bytes; i++) {
			size_t off = i ? 0 : offset;
			u64 len = min_t(u64, folio_size(folios[i]) - off, bytes);
			int ret;

			ret = phyr_append_folio(&umem->phyr, folios[i], off, len,
						&phyr_meta_cpu, GFP_KERNEL);
			if (ret) {
				unpin_folios(folios + i, nr - i);
				return ret;
			}
			pos += len;
			bytes -= len;
		}
		if (i < nr)
			unpin_folios(folios + i, nr - i);
	}
	return 0;
}

static int ib_umem_pin(struct ib_umem *umem, unsigned long npages)
{
	unsigned long start = umem->address & PAGE_MASK;
	unsigned long end = start + (npages << PAGE_SHIFT);
	struct file *memfd;
	void **batch;
	loff_t pos;
	int ret;

	batch = (void **)__get_free_page(GFP_KERNEL);
	if (!batch)
		return -ENOMEM;

	memfd = ib_umem_memfd_of(umem, start, end, &pos);
	if (memfd) {
		ret = ib_umem_pin_memfd(umem, memfd, pos, end - start, batch);
		fput(memfd);
	} else {
		ret = ib_umem_pin_gup(umem, start, npages, batch);
	}
	free_page((unsigned long)batch);
	return ret;
}

static struct ib_umem *__ib_umem_get_va(struct ib_device *device,
					unsigned long addr, size_t size,
					int access)
{
	unsigned long npages, locked, limit;
	struct ib_umem *umem;
	int ret;

	/* no bounce buffers for pinned memory under confidential computing */
	if (device->cc_dma_bounce)
		return ERR_PTR(-EOPNOTSUPP);
	if (addr + size < addr || PAGE_ALIGN(addr + size) < addr + size)
		return ERR_PTR(-EINVAL);
	if (!can_do_mlock())
		return ERR_PTR(-EPERM);
	if (access & IB_ACCESS_ON_DEMAND)
		return ERR_PTR(-EOPNOTSUPP);

	umem = kzalloc_obj(*umem);
	if (!umem)
		return ERR_PTR(-ENOMEM);
	umem->ibdev = device;
	umem->length = size;
	umem->address = addr;
	/* drivers set the real IOVA through ib_umem_find_best_pgsz() */
	umem->iova = addr;
	umem->writable = ib_access_writable(access);
	umem->dma_attrs = DMA_ATTR_REQUIRE_COHERENT;
	if (access & IB_ACCESS_RELAXED_ORDERING)
		umem->dma_attrs |= DMA_ATTR_WEAK_ORDERING;
	umem->owning_mm = current->mm;
	mmgrab(umem->owning_mm);
	phyr_init(&umem->phyr);

	npages = ib_umem_num_pages(umem);
	if (!npages || npages > UINT_MAX) {
		ret = -EINVAL;
		goto out_free;
	}

	limit = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
	locked = atomic64_add_return(npages, &umem->owning_mm->pinned_vm);
	if (locked > limit && !capable(CAP_IPC_LOCK)) {
		ret = -ENOMEM;
		goto out_unaccount;
	}

	ret = ib_umem_pin(umem, npages);
	if (ret)
		goto out_unpin;

	if (!ib_uses_virt_dma(device)) {
		ret = phyr_dma_map(device->dma_device, &umem->phyr,
				   DMA_BIDIRECTIONAL, umem->dma_attrs,
				   &umem->dma);
		if (ret)
			goto out_unpin;
		umem->dma_mapped = 1;
	}
	return umem;

out_unpin:
	ib_umem_unpin(umem, false);
out_unaccount:
	atomic64_sub(npages, &umem->owning_mm->pinned_vm);
out_free:
	mmdrop(umem->owning_mm);
	kfree(umem);
	return ERR_PTR(ret);
}

/**
 * ib_umem_get_desc - pin the memory a buffer descriptor names
 * @device: IB device the memory is for
 * @desc: a user virtual range or a dma-buf range
 * @access: IB_ACCESS_* flags
 *
 * Return: the umem, or an ERR_PTR.
 */
struct ib_umem *ib_umem_get_desc(struct ib_device *device,
				 const struct ib_uverbs_buffer_desc *desc,
				 int access)
{
	struct ib_umem_dmabuf *umem_dmabuf;

	if (desc->flags & ~IB_UVERBS_BUFFER_DESC_FLAGS_KNOWN_MASK)
		return ERR_PTR(-EINVAL);
	if (overflows_type(desc->addr, unsigned long) ||
	    overflows_type(desc->length, size_t))
		return ERR_PTR(-EOVERFLOW);

	if (desc->type == IB_UVERBS_BUFFER_TYPE_VA)
		return __ib_umem_get_va(device, desc->addr, desc->length,
					access);
	if (desc->type != IB_UVERBS_BUFFER_TYPE_DMABUF)
		return ERR_PTR(-EINVAL);

	umem_dmabuf = ib_umem_dmabuf_get_pinned(device, desc->addr,
						desc->length, desc->fd, access);
	return IS_ERR(umem_dmabuf) ? ERR_CAST(umem_dmabuf) :
				     &umem_dmabuf->umem;
}
EXPORT_SYMBOL(ib_umem_get_desc);

/*
 * Reads a command's old-style buffer attributes into a descriptor.
 * Return: 0, -ENODATA when the command carries none, or an error.
 */
typedef int (*ib_umem_legacy_desc_t)(const struct uverbs_attr_bundle *attrs,
				     struct ib_uverbs_buffer_desc *desc);

/*
 * The buffer a command names: the descriptor attribute @attr_id, or the
 * command's legacy attributes; naming both is an error.
 * Return: 0, -ENOENT when it names none, or an error.
 */
static int ib_umem_desc_of(const struct uverbs_attr_bundle *attrs,
			   u16 attr_id, ib_umem_legacy_desc_t legacy,
			   struct ib_uverbs_buffer_desc *desc)
{
	struct ib_uverbs_buffer_desc old = {};
	bool found;
	int ret;

	if (!attrs)
		return -ENOENT;

	ret = uverbs_get_buffer_desc(attrs, attr_id, desc);
	if (ret && ret != -ENOENT)
		return ret;
	found = !ret;

	if (!legacy)
		return found ? 0 : -ENOENT;
	ret = legacy(attrs, &old);
	if (ret == -ENODATA)
		return found ? 0 : -ENOENT;
	if (ret)
		return ret;
	if (found)
		return -EINVAL;
	*desc = old;
	return 0;
}

/* Pin @desc and insist on at least @min_size bytes. */
static struct ib_umem *ib_umem_get_sized(struct ib_device *device,
					 const struct ib_uverbs_buffer_desc *desc,
					 size_t min_size, int access)
{
	struct ib_umem *umem = ib_umem_get_desc(device, desc, access);

	if (!IS_ERR(umem) && umem->length < min_size) {
		ib_umem_release(umem);
		return ERR_PTR(-EINVAL);
	}
	return umem;
}

/* NULL when the command names no buffer. */
static struct ib_umem *ib_umem_get_named(struct ib_device *device,
					 const struct uverbs_attr_bundle *attrs,
					 u16 attr_id,
					 ib_umem_legacy_desc_t legacy,
					 size_t size, int access)
{
	struct ib_uverbs_buffer_desc desc = {};
	int ret = ib_umem_desc_of(attrs, attr_id, legacy, &desc);

	if (ret == -ENOENT)
		return NULL;
	if (ret)
		return ERR_PTR(ret);
	return ib_umem_get_sized(device, &desc, size, access);
}

/* The named buffer, or the user range @addr, @size when none is named. */
static struct ib_umem *
ib_umem_get_named_or_va(struct ib_device *device,
			const struct uverbs_attr_bundle *attrs, u16 attr_id,
			ib_umem_legacy_desc_t legacy, u64 addr, size_t size,
			int access)
{
	struct ib_uverbs_buffer_desc desc = {};
	int ret = ib_umem_desc_of(attrs, attr_id, legacy, &desc);

	if (ret == -ENOENT) {
		desc.type = IB_UVERBS_BUFFER_TYPE_VA;
		desc.addr = addr;
		desc.length = size;
	} else if (ret) {
		return ERR_PTR(ret);
	}
	return ib_umem_get_sized(device, &desc, size, access);
}

/**
 * ib_umem_get_attr - pin the buffer a command's descriptor attribute names
 * @device: IB device
 * @attrs: the command's attributes (NULL: none)
 * @attr_id: the descriptor attribute
 * @size: minimum length
 * @access: IB_ACCESS_* flags
 *
 * Return: the umem, NULL when the attribute is absent, or an ERR_PTR.
 */
struct ib_umem *ib_umem_get_attr(struct ib_device *device,
				 const struct uverbs_attr_bundle *attrs,
				 u16 attr_id, size_t size, int access)
{
	return ib_umem_get_named(device, attrs, attr_id, NULL, size, access);
}
EXPORT_SYMBOL(ib_umem_get_attr);

/**
 * ib_umem_get_attr_or_va - pin a command's described buffer or a user range
 * @device: IB device
 * @attrs: the command's attributes (NULL: none)
 * @attr_id: the descriptor attribute
 * @addr: user address used when the attribute is absent
 * @size: length (and minimum length of a described buffer)
 * @access: IB_ACCESS_* flags
 *
 * Return: the umem or an ERR_PTR.
 */
struct ib_umem *ib_umem_get_attr_or_va(struct ib_device *device,
				       const struct uverbs_attr_bundle *attrs,
				       u16 attr_id, u64 addr, size_t size,
				       int access)
{
	return ib_umem_get_named_or_va(device, attrs, attr_id, NULL, addr,
				       size, access);
}
EXPORT_SYMBOL(ib_umem_get_attr_or_va);

/* CQ creation's own attributes: a VA and length, or an fd and offset. */
static int ib_umem_cq_legacy_desc(const struct uverbs_attr_bundle *attrs,
				  struct ib_uverbs_buffer_desc *desc)
{
	bool has_va = uverbs_attr_is_valid(attrs,
					   UVERBS_ATTR_CREATE_CQ_BUFFER_VA);
	bool has_fd = uverbs_attr_is_valid(attrs,
					   UVERBS_ATTR_CREATE_CQ_BUFFER_FD);
	bool has_off = uverbs_attr_is_valid(attrs,
					    UVERBS_ATTR_CREATE_CQ_BUFFER_OFFSET);
	bool has_len = uverbs_attr_is_valid(attrs,
					    UVERBS_ATTR_CREATE_CQ_BUFFER_LENGTH);
	bool user_cq = attrs->context->device->ops.create_user_cq;
	int ret;

	if (!has_va && !has_fd)
		return (has_off || has_len) ? -EINVAL : -ENODATA;

	if (has_va) {
		ret = uverbs_copy_from(&desc->addr, attrs,
				       UVERBS_ATTR_CREATE_CQ_BUFFER_VA);
		if (!ret)
			ret = uverbs_copy_from(&desc->length, attrs,
					       UVERBS_ATTR_CREATE_CQ_BUFFER_LENGTH);
		if (ret)
			return ret;
		if (has_fd || has_off || !user_cq)
			return -EINVAL;
		desc->type = IB_UVERBS_BUFFER_TYPE_VA;
		return 0;
	}

	ret = uverbs_get_raw_fd(&desc->fd, attrs,
				UVERBS_ATTR_CREATE_CQ_BUFFER_FD);
	if (!ret)
		ret = uverbs_copy_from(&desc->addr, attrs,
				       UVERBS_ATTR_CREATE_CQ_BUFFER_OFFSET);
	if (!ret)
		ret = uverbs_copy_from(&desc->length, attrs,
				       UVERBS_ATTR_CREATE_CQ_BUFFER_LENGTH);
	if (ret)
		return ret;
	if (!user_cq)
		return -EINVAL;
	desc->type = IB_UVERBS_BUFFER_TYPE_DMABUF;
	return 0;
}

/**
 * ib_umem_get_cq_buf - pin the buffer a CQ creation command names
 * @device: IB device
 * @attrs: the command's attributes
 * @size: minimum length
 * @access: IB_ACCESS_* flags
 *
 * Return: the umem, NULL when the command names none, or an ERR_PTR.
 */
struct ib_umem *ib_umem_get_cq_buf(struct ib_device *device,
				   const struct uverbs_attr_bundle *attrs,
				   size_t size, int access)
{
	return ib_umem_get_named(device, attrs,
				 UVERBS_ATTR_CREATE_CQ_BUF_UMEM,
				 ib_umem_cq_legacy_desc, size, access);
}
EXPORT_SYMBOL(ib_umem_get_cq_buf);

/**
 * ib_umem_get_cq_buf_or_va - pin a CQ command's buffer or a user range
 * @device: IB device
 * @attrs: the command's attributes
 * @addr: user address used when the command names no buffer
 * @size: length
 * @access: IB_ACCESS_* flags
 *
 * Return: the umem or an ERR_PTR.
 */
struct ib_umem *ib_umem_get_cq_buf_or_va(struct ib_device *device,
					 const struct uverbs_attr_bundle *attrs,
					 u64 addr, size_t size, int access)
{
	return ib_umem_get_named_or_va(device, attrs,
				       UVERBS_ATTR_CREATE_CQ_BUF_UMEM,
				       ib_umem_cq_legacy_desc, addr, size,
				       access);
}
EXPORT_SYMBOL(ib_umem_get_cq_buf_or_va);

/**
 * ib_umem_release - unmap, unpin and free a umem
 * @umem: umem, NULL or an ERR_PTR (ignored)
 *
 * Writable memory is marked dirty: the device may have written it.
 */
void ib_umem_release(struct ib_umem *umem)
{
	unsigned long npages;

	if (IS_ERR_OR_NULL(umem))
		return;
	if (umem->is_dmabuf)
		return ib_umem_dmabuf_release(to_ib_umem_dmabuf(umem));
	if (umem->is_odp)
		return ib_umem_odp_release(to_ib_umem_odp(umem));

	if (umem->dma_mapped)
		phyr_dma_unmap(umem->ibdev->dma_device, &umem->phyr,
			       &umem->dma);
	/*
	 * What was accounted, not ib_umem_num_pages(): that follows
	 * umem->iova, which ib_umem_find_best_pgsz() may have moved.
	 */
	npages = phyr_length(&umem->phyr) >> PAGE_SHIFT;
	ib_umem_unpin(umem, umem->writable);
	atomic64_sub(npages, &umem->owning_mm->pinned_vm);
	mmdrop(umem->owning_mm);
	kfree(umem);
}
EXPORT_SYMBOL(ib_umem_release);

/**
 * ib_umem_copy_from - copy bytes out of pinned user memory
 * @dst: destination buffer
 * @umem: a umem on user virtual memory
 * @offset: offset from the umem's first byte
 * @length: bytes to copy
 *
 * Return: 0, or -EINVAL when the bytes are not all inside the umem (or the
 * umem pins no pages: dma-buf and ODP).
 */
int ib_umem_copy_from(void *dst, struct ib_umem *umem, size_t offset,
		      size_t length)
{
	struct phyr_iter hint = {};
	struct phyr_range r;
	u64 pos;

	if (offset > umem->length || length > umem->length - offset) {
		pr_err("%s: %zu bytes at %zu outside a umem of %zu bytes\n",
		       __func__, length, offset, umem->length);
		return -EINVAL;
	}
	if (umem->is_dmabuf || umem->is_odp)
		return -EINVAL;

	pos = offset + ib_umem_offset(umem);
	while (length) {
		phys_addr_t phys;
		size_t n;

		if (phyr_find(&umem->phyr, pos, &hint, &r))
			return -EINVAL;
		phys = r.phys + (pos - r.offset);
		n = min_t(u64, length, r.offset + r.len - pos);
		n = min_t(size_t, n, PAGE_SIZE - offset_in_page(phys));
		memcpy_from_page(dst, pfn_to_page(PHYS_PFN(phys)),
				 offset_in_page(phys), n);
		dst += n;
		pos += n;
		length -= n;
	}
	return 0;
}
EXPORT_SYMBOL(ib_umem_copy_from);

/**
 * ib_umem_check_rereg - may an MR on @umem change to @new_access_flags?
 * @umem: the MR's umem (NULL: nothing to check)
 * @flags: IB_MR_REREG_* flags
 * @new_access_flags: requested IB_ACCESS_* flags
 *
 * Return: 0, or -EACCES when write access is asked for on memory pinned
 * read-only and the translation is kept.
 */
int ib_umem_check_rereg(struct ib_umem *umem, int flags, int new_access_flags)
{
	if (umem && (flags & IB_MR_REREG_ACCESS) &&
	    !(flags & IB_MR_REREG_TRANS) &&
	    ib_access_writable(new_access_flags) && !umem->writable)
		return -EACCES;
	return 0;
}
EXPORT_SYMBOL(ib_umem_check_rereg);
