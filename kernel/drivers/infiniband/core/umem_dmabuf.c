// SPDX-License-Identifier: GPL-2.0
/*
 * RDMA memory from dma-buf exporters, as a physical range list.
 *
 * A dma-buf umem attaches to the exporter as a phyr importer
 * (dma_buf_attach_ops.allow_phyr) and maps the buffer with
 * dma_buf_map_attachment_phyr() under the reservation lock.  The list it
 * gets describes the whole buffer; the umem is the window
 * [umem.address, umem.address + umem.length) of it.
 *
 * Devices that DMA map the list with phyr_dma_map() (one IOVA range behind
 * an IOMMU, P2P ranges by their provider's map type); exporters that only
 * give sg_tables come back as ranges the device already has.
 *
 * Devices that do not DMA (rxe, siw: ib_uses_virt_dma()) attach without a
 * device and reach the memory with the CPU, only between
 * ib_umem_dmabuf_cpu_begin() and ib_umem_dmabuf_cpu_end(): CPU memory
 * through the direct map, device (P2P) memory through mappings made when
 * the buffer is mapped, as its meta says, and torn down with the mapping
 * (ib_umem_dmabuf_cpu_addr()).  Those
 * hold @cpu_lock for read; publishing or withdrawing the list takes it for
 * write, so when ib_umem_dmabuf_unmap_pages() returns (in the exporter's
 * invalidate_mappings, say) no CPU access is in flight and none starts
 * until the buffer is mapped again.  A CPU access that finds the list gone
 * maps it again, under the reservation lock, when the exporter allows it.
 *
 * Locking: the reservation lock, then @cpu_lock.
 */

#include <linux/cc_platform.h>
#include <linux/dma-buf.h>
#include <linux/dma-resv.h>
#include <linux/io.h>
#include <linux/dma-mapping.h>
#include <linux/module.h>
#include <linux/phyr.h>

#include "uverbs.h"

MODULE_IMPORT_NS("DMA_BUF");

/* CPU accesses that find the list gone map it again at most this often */
#define IB_UMEM_DMABUF_CPU_RETRIES	8

static bool ib_umem_dmabuf_is_cpu(struct ib_umem_dmabuf *umem_dmabuf)
{
	return !umem_dmabuf->attach->dev;
}

/* The device only reads memory it may not write: the exporter may refuse. */
static enum dma_data_direction ib_umem_dmabuf_dir(struct ib_umem *umem)
{
	return umem->writable ? DMA_BIDIRECTIONAL : DMA_TO_DEVICE;
}

/* The first and last list range of the umem's window, by index. */
static int ib_umem_dmabuf_window(struct ib_umem_dmabuf *umem_dmabuf,
				 const struct phyr *phyr,
				 struct phyr_range *first, unsigned long *nr)
{
	struct ib_umem *umem = &umem_dmabuf->umem;
	struct phyr_range last;

	if (phyr_find(phyr, umem->address, NULL, first) ||
	    phyr_find(phyr, umem->address + umem->length - 1, NULL, &last))
		return -EINVAL;
	*nr = last.index - first->index + 1;
	return 0;
}

/*
 * How the CPU reaches a range: NULL through the direct map (ordinary
 * write-back memory with struct pages), else a mapping of its own that
 * follows the range's meta: device memory (P2P) write-combined, uncached
 * or cached as the exporter says, encrypted where the exporter says it is
 * and Linux can map it so.  What cannot be mapped faithfully is refused:
 * memory behind a private interconnect or only reachable by a device;
 * CPU memory the exporter wants write-combined or uncached, since the
 * direct map already has it write-back and x86 forbids mixing the two; and
 * encrypted device memory where ioremap_encrypted() does not exist.
 */
static void __iomem *ib_umem_dmabuf_cpu_ioremap(const struct phyr_range *r,
						bool *direct)
{
	const struct phyr_meta *m = r->meta;

	*direct = false;
	if (m->flags & (PHYR_META_PRIVATE_INTERCONNECT |
			PHYR_META_DEVICE_ADDR))
		return IOMEM_ERR_PTR(-EOPNOTSUPP);
	if (!m->provider) {
		if (m->cache != PHYR_CACHE_WB || !pfn_valid(PHYS_PFN(r->phys)) ||
		    !pfn_valid(PHYS_PFN(r->phys + r->len - 1)))
			return IOMEM_ERR_PTR(-EOPNOTSUPP);
		*direct = true;
		return NULL;
	}
	if (m->cc == PHYR_CC_PRIVATE &&
	    cc_platform_has(CC_ATTR_GUEST_MEM_ENCRYPT)) {
#ifdef ioremap_encrypted
		return ioremap_encrypted(r->phys, r->len);
#else
		return IOMEM_ERR_PTR(-EOPNOTSUPP);
#endif
	}
	switch (m->cache) {
	case PHYR_CACHE_WB:
		return ioremap_cache(r->phys, r->len);
	case PHYR_CACHE_WC:
		return ioremap_wc(r->phys, r->len);
	default:
		return ioremap(r->phys, r->len);
	}
}

static void ib_umem_dmabuf_cpu_unmap(struct ib_umem_dmabuf *umem_dmabuf)
{
	unsigned long i;

	for (i = 0; umem_dmabuf->cpu_io && i < umem_dmabuf->cpu_nr; i++)
		if (umem_dmabuf->cpu_io[i])
			iounmap(umem_dmabuf->cpu_io[i]);
	kvfree(umem_dmabuf->cpu_io);
	umem_dmabuf->cpu_io = NULL;
	umem_dmabuf->cpu_nr = 0;
}

/*
 * Make every range of the umem's window reachable by the CPU: the direct
 * map for CPU memory, mappings of their own for the rest, kept until the
 * list is withdrawn.  Also counts the window's P2P ranges.
 */
static int ib_umem_dmabuf_cpu_map(struct ib_umem_dmabuf *umem_dmabuf,
				  const struct phyr *phyr)
{
	struct phyr_range first, r;
	struct phyr_iter it;
	unsigned long i, nr;
	int ret;

	ret = ib_umem_dmabuf_window(umem_dmabuf, phyr, &first, &nr);
	if (ret)
		return ret;
	umem_dmabuf->cpu_first = first.index;
	phyr_iter_start(&it, phyr);
	phyr_find(phyr, first.offset, &it, &r);
	for (i = 0; i < nr; i++) {
		void __iomem *io;
		bool direct;

		if (i && !phyr_iter_next(&it, &r)) {
			ret = -EINVAL;
			break;
		}
		io = ib_umem_dmabuf_cpu_ioremap(&r, &direct);
		if (IS_ERR(io)) {
			ret = PTR_ERR(io);
			break;
		}
		if (direct)
			continue;
		if (!io) {
			ret = -ENOMEM;
			break;
		}
		if (!umem_dmabuf->cpu_io) {
			umem_dmabuf->cpu_io = kvcalloc(nr,
						       sizeof(*umem_dmabuf->cpu_io),
						       GFP_KERNEL);
			if (!umem_dmabuf->cpu_io) {
				iounmap(io);
				ret = -ENOMEM;
				break;
			}
			umem_dmabuf->cpu_nr = nr;
		}
		umem_dmabuf->cpu_io[i] = io;
	}
	if (ret)
		ib_umem_dmabuf_cpu_unmap(umem_dmabuf);
	return ret;
}

/**
 * ib_umem_dmabuf_cpu_addr - where the CPU reaches a byte of a CPU importer
 * @umem_dmabuf: the umem, between ib_umem_dmabuf_cpu_begin() and _end()
 * @r: a range of the umem's window, from a look-up in ib_umem_phyr()
 * @off: byte offset in the range
 * @io: set when the address is an I/O mapping (memcpy_toio() and the like)
 *
 * Return: the kernel address; valid until ib_umem_dmabuf_cpu_end().
 */
void *ib_umem_dmabuf_cpu_addr(struct ib_umem_dmabuf *umem_dmabuf,
			      const struct phyr_range *r, u64 off, bool *io)
{
	unsigned long i = r->index - umem_dmabuf->cpu_first;

	if (umem_dmabuf->cpu_io && i < umem_dmabuf->cpu_nr &&
	    umem_dmabuf->cpu_io[i]) {
		*io = true;
		return (void __force *)umem_dmabuf->cpu_io[i] + off;
	}
	*io = false;
	return phys_to_virt(r->phys + off);
}
EXPORT_SYMBOL(ib_umem_dmabuf_cpu_addr);

/* Does the window hold P2P memory (or memory of unknown origin)? */
static bool ib_umem_dmabuf_window_p2p(struct ib_umem_dmabuf *umem_dmabuf,
				      const struct phyr *phyr, u64 offset,
				      u64 length)
{
	u64 pos = umem_dmabuf->umem.address + offset, end = pos + length;
	struct phyr_iter it = {};
	struct phyr_range r;

	while (pos < end && !phyr_find(phyr, pos, &it, &r)) {
		if (r.meta->provider || (r.meta->flags & PHYR_META_DEVICE_ADDR))
			return true;
		pos = r.offset + r.len;
	}
	return false;
}

/**
 * ib_umem_dmabuf_is_p2p_locked - is part of the umem PCI peer-to-peer memory
 * @umem_dmabuf: umem
 * @offset: first byte of the part, from the umem's first byte
 * @length: bytes
 *
 * What the exporter says of the memory (its phyr meta), so that a device
 * can use ATS, say, only where it pays.  Memory the exporter only gave as
 * device addresses counts as P2P: nothing says it is not.  Called with the
 * reservation lock held; maps the buffer to look when it is not mapped.
 *
 * Return: true when some of it is P2P memory.
 */
bool ib_umem_dmabuf_is_p2p_locked(struct ib_umem_dmabuf *umem_dmabuf,
				  u64 offset, u64 length)
{
	struct dma_buf_attachment *attach = umem_dmabuf->attach;
	enum dma_data_direction dir = ib_umem_dmabuf_dir(&umem_dmabuf->umem);
	const struct phyr *phyr = umem_dmabuf->phyr;
	bool p2p;

	dma_resv_assert_held(attach->dmabuf->resv);
	if (phyr)
		return ib_umem_dmabuf_window_p2p(umem_dmabuf, phyr, offset,
						 length);
	phyr = dma_buf_map_attachment_phyr(attach, dir);
	/* what cannot be looked at now may be P2P once it is mapped */
	if (IS_ERR(phyr))
		return attach->peer2peer;
	p2p = ib_umem_dmabuf_window_p2p(umem_dmabuf, phyr, offset, length);
	dma_buf_unmap_attachment_phyr(attach, phyr, dir);
	return p2p;
}
EXPORT_SYMBOL(ib_umem_dmabuf_is_p2p_locked);

/* As ib_umem_dmabuf_is_p2p_locked(), taking the reservation lock. */
bool ib_umem_dmabuf_is_p2p(struct ib_umem_dmabuf *umem_dmabuf, u64 offset,
			   u64 length)
{
	struct dma_resv *resv = umem_dmabuf->attach->dmabuf->resv;
	bool p2p;

	dma_resv_lock(resv, NULL);
	p2p = ib_umem_dmabuf_is_p2p_locked(umem_dmabuf, offset, length);
	dma_resv_unlock(resv);
	return p2p;
}
EXPORT_SYMBOL(ib_umem_dmabuf_is_p2p);

/* Make @phyr the umem's list, or withdraw it (NULL). */
static void ib_umem_dmabuf_publish(struct ib_umem_dmabuf *umem_dmabuf,
				   const struct phyr *phyr)
{
	if (!ib_umem_dmabuf_is_cpu(umem_dmabuf)) {
		umem_dmabuf->phyr = phyr;
		return;
	}
	down_write(&umem_dmabuf->cpu_lock);
	umem_dmabuf->phyr = phyr;
	up_write(&umem_dmabuf->cpu_lock);
}

/**
 * ib_umem_dmabuf_map_pages - map the buffer for the umem's device
 * @umem_dmabuf: umem
 *
 * Called with the reservation lock held.  Maps the buffer when it is not
 * mapped, checks that the exporter's list covers the umem and that the
 * device can reach it, then waits for the exporter's kernel fences (a move
 * in progress) before the memory may be used.
 *
 * The buffer is mapped for reading only when the umem is not writable, so
 * that an exporter can refuse writers (-EACCES, say).
 *
 * Return: 0; -EINVAL when revoked or when the buffer does not cover the
 * umem; -EOPNOTSUPP for memory the device cannot reach; the exporter's or
 * the DMA layer's error.  On error the buffer is left unmapped.
 */
int ib_umem_dmabuf_map_pages(struct ib_umem_dmabuf *umem_dmabuf)
{
	struct ib_umem *umem = &umem_dmabuf->umem;
	struct dma_buf_attachment *attach = umem_dmabuf->attach;
	const struct phyr *phyr;
	unsigned long attrs;
	long ret;

	dma_resv_assert_held(attach->dmabuf->resv);

	if (umem_dmabuf->revoked)
		return -EINVAL;
	if (umem_dmabuf->phyr)
		return 0;

	phyr = dma_buf_map_attachment_phyr(attach, ib_umem_dmabuf_dir(umem));
	if (IS_ERR(phyr))
		return PTR_ERR(phyr);

	if (phyr_length(phyr) < umem->address + umem->length) {
		ret = -EINVAL;
		goto err_unmap;
	}
	if (ib_umem_dmabuf_is_cpu(umem_dmabuf)) {
		ret = ib_umem_dmabuf_cpu_map(umem_dmabuf, phyr);
		if (ret)
			goto err_unmap;
	} else {
		/* like the exporters' own mappings: cache upkeep is theirs */
		attrs = DMA_ATTR_SKIP_CPU_SYNC | umem->dma_attrs;
		ret = phyr_dma_map(attach->dev, phyr, ib_umem_dmabuf_dir(umem),
				   attrs, &umem->dma);
		if (ret)
			goto err_unmap;
		umem->dma_mapped = 1;
	}

	/* the list is valid now, its contents once a move has finished */
	ret = dma_resv_wait_timeout(attach->dmabuf->resv, DMA_RESV_USAGE_KERNEL,
				    false, MAX_SCHEDULE_TIMEOUT);
	if (ret <= 0) {
		ret = ret ?: -ETIMEDOUT;
		goto err_dma;
	}
	ib_umem_dmabuf_publish(umem_dmabuf, phyr);
	WRITE_ONCE(umem_dmabuf->maps, umem_dmabuf->maps + 1);
	return 0;

err_dma:
	if (umem->dma_mapped) {
		phyr_dma_unmap(attach->dev, phyr, &umem->dma);
		umem->dma_mapped = 0;
	}
	ib_umem_dmabuf_cpu_unmap(umem_dmabuf);
err_unmap:
	dma_buf_unmap_attachment_phyr(attach, phyr, ib_umem_dmabuf_dir(umem));
	return ret;
}
EXPORT_SYMBOL(ib_umem_dmabuf_map_pages);

/**
 * ib_umem_dmabuf_unmap_pages - drop the umem's mapping of the buffer
 * @umem_dmabuf: umem
 *
 * Called with the reservation lock held, from the importer's
 * invalidate_mappings among others.  For a CPU importer it waits until no
 * CPU access is in flight; none starts until the buffer is mapped again.
 */
void ib_umem_dmabuf_unmap_pages(struct ib_umem_dmabuf *umem_dmabuf)
{
	struct ib_umem *umem = &umem_dmabuf->umem;
	struct dma_buf_attachment *attach = umem_dmabuf->attach;
	const struct phyr *phyr = umem_dmabuf->phyr;

	dma_resv_assert_held(attach->dmabuf->resv);

	if (!phyr)
		return;
	ib_umem_dmabuf_publish(umem_dmabuf, NULL);
	/* no CPU access is in flight: its mappings can go */
	ib_umem_dmabuf_cpu_unmap(umem_dmabuf);
	if (umem->dma_mapped) {
		phyr_dma_unmap(attach->dev, phyr, &umem->dma);
		umem->dma_mapped = 0;
	}
	dma_buf_unmap_attachment_phyr(attach, phyr, ib_umem_dmabuf_dir(umem));
}
EXPORT_SYMBOL(ib_umem_dmabuf_unmap_pages);

/**
 * ib_umem_dmabuf_cpu_begin - start touching a CPU importer's memory
 * @umem_dmabuf: a umem of a device that does not DMA
 *
 * Maps the buffer again if it was invalidated, taking the reservation lock,
 * so it may sleep.  On success the list (ib_umem_phyr()) stays valid until
 * ib_umem_dmabuf_cpu_end(); keep the section short, invalidation waits for
 * it.
 *
 * Return: 0, or the error that kept the buffer unmapped: -EINVAL once
 * revoked, the exporter's error (-ENODEV from a revoked VFIO buffer, say),
 * -EAGAIN when the exporter kept invalidating it.
 */
int ib_umem_dmabuf_cpu_begin(struct ib_umem_dmabuf *umem_dmabuf)
{
	struct dma_resv *resv = umem_dmabuf->attach->dmabuf->resv;
	int i, ret;

	might_sleep();
	for (i = 0; i < IB_UMEM_DMABUF_CPU_RETRIES; i++) {
		down_read(&umem_dmabuf->cpu_lock);
		if (likely(umem_dmabuf->phyr))
			return 0;
		up_read(&umem_dmabuf->cpu_lock);

		dma_resv_lock(resv, NULL);
		ret = ib_umem_dmabuf_map_pages(umem_dmabuf);
		dma_resv_unlock(resv);
		if (ret)
			return ret;
	}
	return -EAGAIN;
}
EXPORT_SYMBOL(ib_umem_dmabuf_cpu_begin);

/**
 * ib_umem_dmabuf_cpu_end - done touching the memory
 * @umem_dmabuf: the umem given to ib_umem_dmabuf_cpu_begin()
 */
void ib_umem_dmabuf_cpu_end(struct ib_umem_dmabuf *umem_dmabuf)
{
	up_read(&umem_dmabuf->cpu_lock);
}
EXPORT_SYMBOL(ib_umem_dmabuf_cpu_end);

static struct ib_umem_dmabuf *
ib_umem_dmabuf_get_with_dma_device(struct ib_device *device,
				   struct device *dma_device,
				   unsigned long offset, size_t size,
				   int fd, int access,
				   const struct dma_buf_attach_ops *ops)
{
	struct ib_umem_dmabuf *umem_dmabuf;
	struct dma_buf *dmabuf;
	struct ib_umem *umem;
	unsigned long end;
	int ret;

	if (!size || check_add_overflow(offset, (unsigned long)size, &end))
		return ERR_PTR(-EINVAL);
	/* without a device, a phyr importer reaches memory with the CPU */
	if (WARN_ON(!ops->allow_phyr))
		return ERR_PTR(-EINVAL);

	dmabuf = dma_buf_get(fd);
	if (IS_ERR(dmabuf))
		return ERR_CAST(dmabuf);

	if (dmabuf->size < end) {
		ret = -EINVAL;
		goto err_put;
	}

	umem_dmabuf = kzalloc_obj(*umem_dmabuf);
	if (!umem_dmabuf) {
		ret = -ENOMEM;
		goto err_put;
	}
	umem = &umem_dmabuf->umem;
	umem->ibdev = device;
	umem->length = size;
	umem->address = offset;
	umem->iova = offset;
	umem->writable = ib_access_writable(access);
	umem->is_dmabuf = 1;
	if (access & IB_ACCESS_RELAXED_ORDERING)
		umem->dma_attrs = DMA_ATTR_WEAK_ORDERING;
	init_rwsem(&umem_dmabuf->cpu_lock);

	umem_dmabuf->attach = dma_buf_dynamic_attach(dmabuf, dma_device, ops,
						     umem_dmabuf);
	if (IS_ERR(umem_dmabuf->attach)) {
		ret = PTR_ERR(umem_dmabuf->attach);
		kfree(umem_dmabuf);
		goto err_put;
	}
	return umem_dmabuf;

err_put:
	dma_buf_put(dmabuf);
	return ERR_PTR(ret);
}

/**
 * ib_umem_dmabuf_get - attach to a dma-buf for a dynamic mapping
 * @device: IB device; one that does not DMA attaches for CPU access
 * @offset: first byte of the umem in the buffer
 * @size: bytes
 * @fd: the dma-buf
 * @access: IB_ACCESS_* flags
 * @ops: the importer's attach ops: allow_phyr set, and an
 *       invalidate_mappings that stops the device using the memory and calls
 *       ib_umem_dmabuf_unmap_pages()
 *
 * Nothing is mapped yet: ib_umem_dmabuf_map_pages() does that.
 *
 * Return: the umem, or an ERR_PTR: -EINVAL for an empty or wrapping range,
 * one past the end of the buffer or an fd that is not a dma-buf; -EBADF for
 * no open file; -EOPNOTSUPP from an exporter that cannot serve this importer.
 */
struct ib_umem_dmabuf *ib_umem_dmabuf_get(struct ib_device *device,
					  unsigned long offset, size_t size,
					  int fd, int access,
					  const struct dma_buf_attach_ops *ops)
{
	return ib_umem_dmabuf_get_with_dma_device(device, device->dma_device,
						  offset, size, fd, access, ops);
}
EXPORT_SYMBOL(ib_umem_dmabuf_get);

static const struct dma_buf_attach_ops ib_umem_dmabuf_attach_pinned_ops = {
	.allow_peer2peer = true,
	.allow_phyr = true,
};

static void ib_umem_dmabuf_revoke_locked(struct dma_buf_attachment *attach)
{
	struct ib_umem_dmabuf *umem_dmabuf = attach->importer_priv;

	dma_resv_assert_held(attach->dmabuf->resv);

	if (umem_dmabuf->revoked)
		return;

	if (umem_dmabuf->pinned_revoke)
		umem_dmabuf->pinned_revoke(umem_dmabuf->private);

	ib_umem_dmabuf_unmap_pages(umem_dmabuf);
	if (umem_dmabuf->pinned) {
		dma_buf_unpin(umem_dmabuf->attach);
		umem_dmabuf->pinned = 0;
	}
	umem_dmabuf->revoked = 1;
}

static const struct dma_buf_attach_ops
ib_umem_dmabuf_attach_pinned_revocable_ops = {
	.allow_peer2peer = true,
	.allow_phyr = true,
	.invalidate_mappings = ib_umem_dmabuf_revoke_locked,
};

static struct ib_umem_dmabuf *
ib_umem_dmabuf_get_pinned_and_lock(struct ib_device *device,
				   struct device *dma_device,
				   unsigned long offset, size_t size, int fd,
				   int access,
				   const struct dma_buf_attach_ops *ops)
{
	struct ib_umem_dmabuf *umem_dmabuf;
	int err;

	/* pinning is for devices that DMA: a CPU importer follows moves */
	if (!dma_device)
		return ERR_PTR(-EOPNOTSUPP);

	umem_dmabuf = ib_umem_dmabuf_get_with_dma_device(device, dma_device,
							 offset, size, fd,
							 access, ops);
	if (IS_ERR(umem_dmabuf))
		return umem_dmabuf;

	dma_resv_lock(umem_dmabuf->attach->dmabuf->resv, NULL);
	err = dma_buf_pin(umem_dmabuf->attach);
	if (err)
		goto err_release;
	umem_dmabuf->pinned = 1;

	err = ib_umem_dmabuf_map_pages(umem_dmabuf);
	if (err)
		goto err_release;
	return umem_dmabuf;

err_release:
	dma_resv_unlock(umem_dmabuf->attach->dmabuf->resv);
	ib_umem_release(&umem_dmabuf->umem);
	return ERR_PTR(err);
}

/**
 * ib_umem_dmabuf_get_pinned_with_dma_device - map and pin a dma-buf
 * @device: IB device
 * @dma_device: the device that DMAs to it
 * @offset: first byte of the umem in the buffer
 * @size: bytes
 * @fd: the dma-buf
 * @access: IB_ACCESS_* flags
 *
 * Return: the umem or an ERR_PTR.
 */
struct ib_umem_dmabuf *
ib_umem_dmabuf_get_pinned_with_dma_device(struct ib_device *device,
					  struct device *dma_device,
					  unsigned long offset, size_t size,
					  int fd, int access)
{
	struct ib_umem_dmabuf *umem_dmabuf =
		ib_umem_dmabuf_get_pinned_and_lock(device, dma_device, offset,
						   size, fd, access,
						   &ib_umem_dmabuf_attach_pinned_ops);

	if (IS_ERR(umem_dmabuf))
		return umem_dmabuf;
	dma_resv_unlock(umem_dmabuf->attach->dmabuf->resv);
	return umem_dmabuf;
}
EXPORT_SYMBOL(ib_umem_dmabuf_get_pinned_with_dma_device);

/**
 * ib_umem_dmabuf_get_pinned_revocable_and_lock - map and pin a revocable dma-buf
 * @device: IB device
 * @offset: first byte of the umem in the buffer
 * @size: bytes
 * @fd: the dma-buf
 * @access: IB_ACCESS_* flags
 *
 * For drivers that can stop their device using the memory at any time.
 * Returns with the reservation lock held: the driver sets its revoke
 * callback with ib_umem_dmabuf_set_revoke_locked() before unlocking.  The
 * callback runs at most once, when the exporter revokes the buffer or at
 * release, and the device must no longer touch the memory when it returns.
 *
 * Return: the umem or an ERR_PTR.
 */
struct ib_umem_dmabuf *
ib_umem_dmabuf_get_pinned_revocable_and_lock(struct ib_device *device,
					     unsigned long offset, size_t size,
					     int fd, int access)
{
	return ib_umem_dmabuf_get_pinned_and_lock(device, device->dma_device,
			offset, size, fd, access,
			&ib_umem_dmabuf_attach_pinned_revocable_ops);
}
EXPORT_SYMBOL(ib_umem_dmabuf_get_pinned_revocable_and_lock);

void ib_umem_dmabuf_set_revoke_locked(struct ib_umem_dmabuf *umem_dmabuf,
				      void (*revoke)(void *priv), void *priv)
{
	dma_resv_assert_held(umem_dmabuf->attach->dmabuf->resv);

	umem_dmabuf->pinned_revoke = revoke;
	umem_dmabuf->private = priv;
}
EXPORT_SYMBOL(ib_umem_dmabuf_set_revoke_locked);

/**
 * ib_umem_dmabuf_get_pinned - map and pin a dma-buf for the device's DMA
 * @device: IB device
 * @offset: first byte of the umem in the buffer
 * @size: bytes
 * @fd: the dma-buf
 * @access: IB_ACCESS_* flags
 *
 * Return: the umem or an ERR_PTR; -EOPNOTSUPP for a device that does not
 * DMA.
 */
struct ib_umem_dmabuf *ib_umem_dmabuf_get_pinned(struct ib_device *device,
						 unsigned long offset,
						 size_t size, int fd,
						 int access)
{
	return ib_umem_dmabuf_get_pinned_with_dma_device(device,
							 device->dma_device,
							 offset, size, fd,
							 access);
}
EXPORT_SYMBOL(ib_umem_dmabuf_get_pinned);

void ib_umem_dmabuf_revoke_lock(struct ib_umem_dmabuf *umem_dmabuf)
{
	dma_resv_lock(umem_dmabuf->attach->dmabuf->resv, NULL);
}
EXPORT_SYMBOL(ib_umem_dmabuf_revoke_lock);

void ib_umem_dmabuf_revoke_unlock(struct ib_umem_dmabuf *umem_dmabuf)
{
	dma_resv_unlock(umem_dmabuf->attach->dmabuf->resv);
}
EXPORT_SYMBOL(ib_umem_dmabuf_revoke_unlock);

/**
 * ib_umem_dmabuf_revoke - stop using the buffer for good
 * @umem_dmabuf: umem
 *
 * Unmaps and unpins; later ib_umem_dmabuf_map_pages() calls fail.
 */
void ib_umem_dmabuf_revoke(struct ib_umem_dmabuf *umem_dmabuf)
{
	struct dma_buf *dmabuf = umem_dmabuf->attach->dmabuf;

	dma_resv_lock(dmabuf->resv, NULL);
	ib_umem_dmabuf_revoke_locked(umem_dmabuf->attach);
	dma_resv_unlock(dmabuf->resv);
}
EXPORT_SYMBOL(ib_umem_dmabuf_revoke);

void ib_umem_dmabuf_release(struct ib_umem_dmabuf *umem_dmabuf)
{
	struct dma_buf *dmabuf = umem_dmabuf->attach->dmabuf;

	ib_umem_dmabuf_revoke(umem_dmabuf);
	dma_buf_detach(dmabuf, umem_dmabuf->attach);
	dma_buf_put(dmabuf);
	kfree(umem_dmabuf);
}
