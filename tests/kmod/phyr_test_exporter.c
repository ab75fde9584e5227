// SPDX-License-Identifier: GPL-2.0
/*
 * phyr_test_exporter: a dma-buf exporter for the tests.
 *
 * Buffers are single pages allocated one by one (so physically scattered),
 * described to phyr importers as a fresh list per mapping, and to sg_table
 * importers as a table per mapping.  On command a buffer moves (its
 * contents are copied to new pages, importers are told to drop their
 * mappings and the old pages are freed once the last mapping is gone),
 * is revoked (mappings refused, importers told, pages freed) or restored
 * (new zeroed pages).  An importer that touches a buffer after it was told
 * to let go touches freed pages: KASAN reports it.
 *
 * Dynamic buffers (PTE_DYNAMIC) have pin/unpin: a pinned buffer does not
 * move.  Static ones can only be revoked, like VFIO's.  Split buffers
 * (PTE_SPLIT) leave a 4-byte hole in each page, so that their list has
 * ranges whose ends are not word aligned.
 *
 * PTE_IOC_P2P_PROBE makes the module an importer with a device instead:
 * it tells how a given PCI device would reach any dma-buf (VFIO's BAR
 * buffers, say) through the phyr DMA mapping.  PTE_IOC_UMEM_PROBE makes it
 * an RDMA driver whose device DMAs: it registers user memory or a dma-buf
 * for a PCI device as an ib_umem and checks the DMA side of the umem
 * against the IOMMU; PTE_IOC_SGT_PROBE an sg_table importer with a device,
 * whose table it checks against the buffer's CPU physical ranges.
 */
#include <linux/dma-buf.h>
#include <linux/dma-direct.h>
#include <linux/dma-resv.h>
#include <linux/file.h>
#include <linux/highmem.h>
#include <linux/iommu.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/phyr.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <rdma/ib_umem.h>
#include <rdma/ib_verbs.h>
#include <rdma/iter.h>

#include "phyr_test_exporter.h"

MODULE_IMPORT_NS("DMA_BUF");

static atomic64_t pte_live_buffers = ATOMIC64_INIT(0);
static atomic64_t pte_live_pages = ATOMIC64_INIT(0);

/* The pages of a buffer at one time; mappings keep them alive. */
struct pte_backing {
	struct kref kref;
	unsigned long nr;
	struct page **pages;
};

struct pte_buf {
	struct dma_buf *dmabuf;
	/* protected by the reservation lock */
	struct pte_backing *backing;
	u32 flags;
	bool revoked;
	u64 pins;
	u64 maps;
	u64 moves;
};

struct pte_phyr_map {
	struct phyr phyr;
	struct pte_backing *backing;
};

struct pte_sgt_map {
	struct sg_table sgt;
	struct pte_backing *backing;
};

static void pte_backing_free(struct pte_backing *b)
{
	unsigned long i;

	for (i = 0; i < b->nr; i++)
		if (b->pages[i])
			__free_page(b->pages[i]);
	atomic64_sub(b->nr, &pte_live_pages);
	kvfree(b->pages);
	kfree(b);
}

static void pte_backing_release(struct kref *kref)
{
	pte_backing_free(container_of(kref, struct pte_backing, kref));
}

static void pte_backing_put(struct pte_backing *b)
{
	if (b)
		kref_put(&b->kref, pte_backing_release);
}

static struct pte_backing *pte_backing_alloc(unsigned long nr)
{
	struct pte_backing *b;
	unsigned long i;

	b = kzalloc_obj(*b);
	if (!b)
		return NULL;
	kref_init(&b->kref);
	b->pages = kvcalloc(nr, sizeof(*b->pages), GFP_KERNEL);
	if (!b->pages) {
		kfree(b);
		return NULL;
	}
	b->nr = nr;
	atomic64_add(nr, &pte_live_pages);
	for (i = 0; i < nr; i++) {
		b->pages[i] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!b->pages[i]) {
			pte_backing_free(b);
			return NULL;
		}
		cond_resched();
	}
	return b;
}

static const struct phyr_meta pte_meta_private_ic = {
	.flags = PHYR_META_PRIVATE_INTERCONNECT,
};

static const struct phyr_meta pte_meta_wc = {
	.cache = PHYR_CACHE_WC,
};

/* Pages a buffer of @size bytes needs. */
static unsigned long pte_nr_pages(u64 size, u32 flags)
{
	if (flags & PTE_SPLIT)
		return DIV_ROUND_UP(size, PTE_SPLIT_PAGE);
	return size >> PAGE_SHIFT;
}

/*
 * Where byte @pos of the buffer is: its page, the offset in it, and the
 * bytes that follow it in the same range.
 */
static struct page *pte_locate(struct pte_buf *buf, u64 pos, size_t *off,
			       size_t *avail)
{
	u64 per = buf->flags & PTE_SPLIT ? PTE_SPLIT_PAGE : PAGE_SIZE;
	size_t x = do_div(pos, per);

	*off = x;
	*avail = per - x;
	if (buf->flags & PTE_SPLIT) {
		if (x < PTE_SPLIT_HEAD)
			*avail = PTE_SPLIT_HEAD - x;
		else
			*off = x + PTE_SPLIT_HOLE;
	}
	return buf->backing->pages[pos];
}

static int pte_check_map(struct pte_buf *buf, enum dma_data_direction dir)
{
	dma_resv_assert_held(buf->dmabuf->resv);
	if (buf->revoked || !buf->backing)
		return -ENODEV;
	if ((buf->flags & PTE_READONLY) && dir != DMA_TO_DEVICE)
		return -EACCES;
	return 0;
}

static const struct phyr *pte_map_phyr(struct dma_buf_attachment *attach,
				       enum dma_data_direction dir)
{
	struct pte_buf *buf = attach->dmabuf->priv;
	const struct phyr_meta *meta = &phyr_meta_cpu;
	struct pte_phyr_map *m;
	size_t off, avail;
	unsigned long i;
	u64 pos;
	int ret;

	ret = pte_check_map(buf, dir);
	if (ret)
		return ERR_PTR(ret);
	if (buf->flags & PTE_PRIVATE_IC)
		meta = &pte_meta_private_ic;
	else if (buf->flags & PTE_WC)
		meta = &pte_meta_wc;

	m = kzalloc_obj(*m);
	if (!m)
		return ERR_PTR(-ENOMEM);
	phyr_init(&m->phyr);
	for (i = 0; i < buf->backing->nr && !(buf->flags & PTE_SPLIT); i++) {
		ret = phyr_append_page(&m->phyr, buf->backing->pages[i], meta,
				       GFP_KERNEL);
		if (ret)
			goto err_free;
	}
	for (pos = 0; pos < buf->dmabuf->size && (buf->flags & PTE_SPLIT);) {
		struct page *page = pte_locate(buf, pos, &off, &avail);

		avail = min_t(u64, avail, buf->dmabuf->size - pos);
		ret = phyr_append(&m->phyr, page_to_phys(page) + off, avail,
				  meta, GFP_KERNEL);
		if (ret)
			goto err_free;
		pos += avail;
	}
	kref_get(&buf->backing->kref);
	m->backing = buf->backing;
	buf->maps++;
	return &m->phyr;

err_free:
	phyr_free(&m->phyr);
	kfree(m);
	return ERR_PTR(ret);
}

static void pte_unmap_phyr(struct dma_buf_attachment *attach,
			   const struct phyr *phyr,
			   enum dma_data_direction dir)
{
	struct pte_buf *buf = attach->dmabuf->priv;
	struct pte_phyr_map *m = container_of(phyr, struct pte_phyr_map,
					      phyr);

	dma_resv_assert_held(buf->dmabuf->resv);
	phyr_free(&m->phyr);
	pte_backing_put(m->backing);
	kfree(m);
	buf->maps--;
}

static struct sg_table *pte_map_dma_buf(struct dma_buf_attachment *attach,
					enum dma_data_direction dir)
{
	struct pte_buf *buf = attach->dmabuf->priv;
	struct pte_sgt_map *m;
	int ret;

	ret = pte_check_map(buf, dir);
	if (ret)
		return ERR_PTR(ret);
	/* a scatterlist cannot say that a page has a hole */
	if (buf->flags & PTE_SPLIT)
		return ERR_PTR(-EOPNOTSUPP);
	m = kzalloc_obj(*m);
	if (!m)
		return ERR_PTR(-ENOMEM);
	ret = sg_alloc_table_from_pages(&m->sgt, buf->backing->pages,
					buf->backing->nr, 0,
					buf->backing->nr << PAGE_SHIFT,
					GFP_KERNEL);
	if (ret)
		goto err_free;
	ret = dma_map_sgtable(attach->dev, &m->sgt, dir, 0);
	if (ret)
		goto err_table;
	kref_get(&buf->backing->kref);
	m->backing = buf->backing;
	buf->maps++;
	return &m->sgt;

err_table:
	sg_free_table(&m->sgt);
err_free:
	kfree(m);
	return ERR_PTR(ret);
}

static void pte_unmap_dma_buf(struct dma_buf_attachment *attach,
			      struct sg_table *sgt,
			      enum dma_data_direction dir)
{
	struct pte_buf *buf = attach->dmabuf->priv;
	struct pte_sgt_map *m = container_of(sgt, struct pte_sgt_map, sgt);

	dma_resv_assert_held(buf->dmabuf->resv);
	dma_unmap_sgtable(attach->dev, sgt, dir, 0);
	sg_free_table(sgt);
	pte_backing_put(m->backing);
	kfree(m);
	buf->maps--;
}

static int pte_pin(struct dma_buf_attachment *attach)
{
	struct pte_buf *buf = attach->dmabuf->priv;

	dma_resv_assert_held(buf->dmabuf->resv);
	buf->pins++;
	return 0;
}

static void pte_unpin(struct dma_buf_attachment *attach)
{
	struct pte_buf *buf = attach->dmabuf->priv;

	dma_resv_assert_held(buf->dmabuf->resv);
	buf->pins--;
}

static void pte_release(struct dma_buf *dmabuf)
{
	struct pte_buf *buf = dmabuf->priv;

	WARN_ON(buf->maps || buf->pins);
	pte_backing_put(buf->backing);
	kfree(buf);
	atomic64_dec(&pte_live_buffers);
}

/* Four exporters: static or dynamic, with or without phyr support. */
#define PTE_OPS(name, phyr_map, phyr_unmap, pin_op, unpin_op)	\
static const struct dma_buf_ops name = {			\
	.map_dma_buf = pte_map_dma_buf,				\
	.unmap_dma_buf = pte_unmap_dma_buf,			\
	.map_phyr = phyr_map,					\
	.unmap_phyr = phyr_unmap,				\
	.pin = pin_op,						\
	.unpin = unpin_op,					\
	.release = pte_release,					\
}

PTE_OPS(pte_static_ops, pte_map_phyr, pte_unmap_phyr, NULL, NULL);
PTE_OPS(pte_dynamic_ops, pte_map_phyr, pte_unmap_phyr, pte_pin, pte_unpin);
PTE_OPS(pte_static_sgt_ops, NULL, NULL, NULL, NULL);
PTE_OPS(pte_dynamic_sgt_ops, NULL, NULL, pte_pin, pte_unpin);

static bool pte_is_ours(struct dma_buf *dmabuf)
{
	return dmabuf->ops == &pte_static_ops ||
	       dmabuf->ops == &pte_dynamic_ops ||
	       dmabuf->ops == &pte_static_sgt_ops ||
	       dmabuf->ops == &pte_dynamic_sgt_ops;
}

static long pte_create(struct pte_create __user *uarg)
{
	DEFINE_DMA_BUF_EXPORT_INFO(exp_info);
	struct pte_create arg;
	struct pte_buf *buf;
	int fd;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (!arg.size || !PAGE_ALIGNED(arg.size) || arg.size > PTE_MAX_SIZE ||
	    (arg.flags & ~PTE_FLAGS) ||
	    ((arg.flags & PTE_SPLIT) && (arg.flags & PTE_SGT_ONLY)))
		return -EINVAL;

	buf = kzalloc_obj(*buf);
	if (!buf)
		return -ENOMEM;
	buf->flags = arg.flags;
	buf->backing = pte_backing_alloc(pte_nr_pages(arg.size, arg.flags));
	if (!buf->backing) {
		kfree(buf);
		return -ENOMEM;
	}

	if (arg.flags & PTE_SGT_ONLY)
		exp_info.ops = arg.flags & PTE_DYNAMIC ? &pte_dynamic_sgt_ops :
							 &pte_static_sgt_ops;
	else
		exp_info.ops = arg.flags & PTE_DYNAMIC ? &pte_dynamic_ops :
							 &pte_static_ops;
	exp_info.size = arg.size;
	exp_info.flags = O_RDWR | O_CLOEXEC;
	exp_info.priv = buf;
	buf->dmabuf = dma_buf_export(&exp_info);
	if (IS_ERR(buf->dmabuf)) {
		long ret = PTR_ERR(buf->dmabuf);

		pte_backing_put(buf->backing);
		kfree(buf);
		return ret;
	}
	atomic64_inc(&pte_live_buffers);

	fd = dma_buf_fd(buf->dmabuf, O_CLOEXEC);
	if (fd < 0) {
		dma_buf_put(buf->dmabuf);
		return fd;
	}
	arg.fd = fd;
	if (copy_to_user(uarg, &arg, sizeof(arg)))
		return -EFAULT;	/* the fd stays: the caller can close it */
	return 0;
}

static struct dma_buf *pte_get(int fd)
{
	struct dma_buf *dmabuf = dma_buf_get(fd);

	if (IS_ERR(dmabuf))
		return dmabuf;
	if (!pte_is_ours(dmabuf)) {
		dma_buf_put(dmabuf);
		return ERR_PTR(-EINVAL);
	}
	return dmabuf;
}

/*
 * Tell the importers to drop their mappings; how many are left right after
 * says whether they did.  The old pages go when the last mapping does.
 * Called with the reservation lock held: an importer that maps again
 * waits for it, and then gets the new pages.
 */
static u64 pte_invalidate(struct pte_buf *buf, struct pte_backing *old)
{
	dma_buf_invalidate_mappings(buf->dmabuf);
	dma_resv_wait_timeout(buf->dmabuf->resv, DMA_RESV_USAGE_BOOKKEEP,
			      false, MAX_SCHEDULE_TIMEOUT);
	return old ? kref_read(&old->kref) - 1 : 0;
}

static long pte_op(unsigned int cmd, struct pte_op __user *uarg)
{
	struct pte_backing *old = NULL, *new = NULL;
	struct dma_buf *dmabuf;
	struct pte_buf *buf;
	struct pte_op arg;
	long ret = 0;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	dmabuf = pte_get(arg.fd);
	if (IS_ERR(dmabuf))
		return PTR_ERR(dmabuf);
	buf = dmabuf->priv;

	if (cmd != PTE_IOC_REVOKE) {
		new = pte_backing_alloc(pte_nr_pages(dmabuf->size, buf->flags));
		if (!new) {
			ret = -ENOMEM;
			goto out_put;
		}
	}

	dma_resv_lock(dmabuf->resv, NULL);
	switch (cmd) {
	case PTE_IOC_MOVE:
		if (!(buf->flags & PTE_DYNAMIC) || buf->pins) {
			ret = -EBUSY;
			break;
		}
		if (buf->revoked) {
			ret = -ENODEV;
			break;
		}
		/*
		 * Importers first stop using the old pages, then their
		 * contents move: copying before the invalidation would lose
		 * whatever an importer wrote in between.
		 */
		old = buf->backing;
		arg.maps_left = pte_invalidate(buf, old);
		for (unsigned long i = 0; i < old->nr; i++)
			copy_highpage(new->pages[i], old->pages[i]);
		buf->backing = new;
		new = NULL;
		buf->moves++;
		break;
	case PTE_IOC_REVOKE:
		if (buf->revoked) {
			ret = -EALREADY;
			break;
		}
		buf->revoked = true;
		old = buf->backing;
		buf->backing = NULL;
		arg.maps_left = pte_invalidate(buf, old);
		break;
	case PTE_IOC_RESTORE:
		if (!buf->revoked) {
			ret = -EINVAL;
			break;
		}
		buf->backing = new;
		new = NULL;
		buf->revoked = false;
		break;
	}
	dma_resv_unlock(dmabuf->resv);

	pte_backing_put(old);
	if (new)
		pte_backing_free(new);
	if (!ret && copy_to_user(uarg, &arg, sizeof(arg)))
		ret = -EFAULT;
out_put:
	dma_buf_put(dmabuf);
	return ret;
}

static long pte_status(struct pte_status __user *uarg)
{
	struct dma_buf_attachment *attach;
	struct pte_status arg;
	struct dma_buf *dmabuf;
	struct pte_buf *buf;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	memset(&arg.attachments, 0,
	       sizeof(arg) - offsetof(struct pte_status, attachments));
	if (arg.fd >= 0) {
		dmabuf = pte_get(arg.fd);
		if (IS_ERR(dmabuf))
			return PTR_ERR(dmabuf);
		buf = dmabuf->priv;
		dma_resv_lock(dmabuf->resv, NULL);
		list_for_each_entry(attach, &dmabuf->attachments, node)
			arg.attachments++;
		arg.maps = buf->maps;
		arg.pins = buf->pins;
		arg.moves = buf->moves;
		dma_resv_unlock(dmabuf->resv);
		dma_buf_put(dmabuf);
	}
	arg.live_buffers = atomic64_read(&pte_live_buffers);
	arg.live_pages = atomic64_read(&pte_live_pages);
	return copy_to_user(uarg, &arg, sizeof(arg)) ? -EFAULT : 0;
}

/* Copy between @kbuf and [pos, pos + n) of the current pages. */
static void pte_copy_pages(struct pte_buf *buf, u64 pos, void *kbuf, size_t n,
			   bool write)
{
	while (n) {
		size_t off, c;
		struct page *page = pte_locate(buf, pos, &off, &c);

		c = min(c, n);

		if (write)
			memcpy_to_page(page, off, kbuf, c);
		else
			memcpy_from_page(kbuf, page, off, c);
		kbuf += c;
		pos += c;
		n -= c;
	}
}

/*
 * User memory is never touched under the reservation lock (mmap_lock nests
 * outside it): data goes through a bounce buffer, a chunk at a time.
 */
static long pte_rw(struct pte_rw __user *uarg)
{
	const size_t chunk = 256 * 1024;
	struct dma_buf *dmabuf;
	struct pte_buf *buf;
	struct pte_rw arg;
	void *bounce;
	u64 end, pos;
	long ret = 0;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	dmabuf = pte_get(arg.fd);
	if (IS_ERR(dmabuf))
		return PTR_ERR(dmabuf);
	if (check_add_overflow(arg.offset, arg.len, &end) ||
	    end > dmabuf->size) {
		ret = -EINVAL;
		goto out_put;
	}
	bounce = kvmalloc(min_t(u64, arg.len, chunk) ?: 1, GFP_KERNEL);
	if (!bounce) {
		ret = -ENOMEM;
		goto out_put;
	}
	buf = dmabuf->priv;
	for (pos = arg.offset; pos < end && !ret;) {
		size_t n = min_t(u64, chunk, end - pos);
		void __user *u = u64_to_user_ptr(arg.addr + (pos - arg.offset));

		if (arg.write && copy_from_user(bounce, u, n)) {
			ret = -EFAULT;
			break;
		}
		ret = dma_resv_lock_interruptible(dmabuf->resv, NULL);
		if (ret)
			break;
		if (buf->backing)
			pte_copy_pages(buf, pos, bounce, n, arg.write);
		else
			ret = -ENODEV;
		dma_resv_unlock(dmabuf->resv);
		if (!ret && !arg.write && copy_to_user(u, bounce, n))
			ret = -EFAULT;
		pos += n;
	}
	kvfree(bounce);
out_put:
	dma_buf_put(dmabuf);
	return ret;
}

/* The probe holds its mapping only under the reservation lock. */
static void pte_probe_invalidate(struct dma_buf_attachment *attach)
{
}

static const struct dma_buf_attach_ops pte_probe_ops = {
	.allow_peer2peer = true,
	.allow_phyr = true,
	.invalidate_mappings = pte_probe_invalidate,
};

static u32 pte_map_type(enum pci_p2pdma_map_type t)
{
	switch (t) {
	case PCI_P2PDMA_MAP_BUS_ADDR:
		return PTE_MAP_BUS_ADDR;
	case PCI_P2PDMA_MAP_THRU_HOST_BRIDGE:
		return PTE_MAP_THRU_HOST_BRIDGE;
	default:
		return PTE_MAP_NOT_SUPPORTED;
	}
}

/*
 * A CPU page, the buffer's ranges with their meta, another CPU page:
 * mapped for @dev, and what each kind of range became.
 */
static int pte_probe_mixed(struct device *dev, const struct phyr *buf,
			   struct pte_p2p_probe *arg)
{
	struct page *pages[2] = {};
	dma_addr_t cpu_next = 0;
	struct phyr_range r;
	struct phyr_iter it;
	struct phyr_dma dma;
	struct phyr mixed;
	int i, ret = 0;

	phyr_init(&mixed);
	for (i = 0; i < 2; i++) {
		pages[i] = alloc_page(GFP_KERNEL);
		if (!pages[i]) {
			ret = -ENOMEM;
			goto out;
		}
	}
	ret = phyr_append_page(&mixed, pages[0], &phyr_meta_cpu, GFP_KERNEL);
	phyr_for_each_range(buf, &it, &r)
		if (!ret)
			ret = phyr_append(&mixed, r.phys, r.len, r.meta,
					  GFP_KERNEL);
	if (!ret)
		ret = phyr_append_page(&mixed, pages[1], &phyr_meta_cpu,
				       GFP_KERNEL);
	if (ret)
		goto out;

	arg->map_err = phyr_dma_map(dev, &mixed, DMA_BIDIRECTIONAL, 0, &dma);
	if (arg->map_err)
		goto out;
	arg->one_iova = phyr_dma_is_iova(&dma);
	phyr_for_each_range(&mixed, &it, &r) {
		dma_addr_t a = phyr_dma_addr(&dma, &r);

		if (r.meta->provider) {
			if (r.phys == arg->p2p_phys)
				arg->p2p_dma = a;
			continue;
		}
		/* linked one after the other into the IOVA range? */
		if (arg->cpu_ranges++)
			arg->cpu_iova = dma_use_iova(&dma.state) &&
					a == cpu_next;
		cpu_next = a + r.len;
		arg->cpu_direct += a == phys_to_dma(dev, r.phys);
	}
	phyr_dma_unmap(dev, &mixed, &dma);
out:
	phyr_free(&mixed);
	for (i = 0; i < 2; i++)
		if (pages[i])
			__free_page(pages[i]);
	return ret;
}

/*
 * The PCI device @client (domain << 16 | bus << 8 | devfn), referenced.  A
 * device no driver has (the lab's pci-testdev) keeps the 32-bit default
 * mask, which would bounce host pages through swiotlb: it gets the mask a
 * driver would set.
 */
static struct pci_dev *pte_client(u32 client)
{
	struct pci_dev *pdev;
	int ret;

	pdev = pci_get_domain_bus_and_slot(client >> 16, (client >> 8) & 0xff,
					   client & 0xff);
	if (!pdev)
		return ERR_PTR(-ENODEV);
	if (!pdev->dev.driver) {
		ret = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(64));
		if (ret) {
			pci_dev_put(pdev);
			return ERR_PTR(ret);
		}
	}
	return pdev;
}

static long pte_p2p_probe(struct pte_p2p_probe __user *uarg)
{
	struct dma_buf_attachment *attach;
	struct pte_p2p_probe arg;
	struct dma_buf *dmabuf;
	const struct phyr *phyr;
	struct phyr_range r;
	struct phyr_iter it;
	struct pci_dev *pdev;
	long ret;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	pdev = pte_client(arg.client);
	if (IS_ERR(pdev))
		return PTR_ERR(pdev);
	dmabuf = dma_buf_get(arg.fd);
	if (IS_ERR(dmabuf)) {
		ret = PTR_ERR(dmabuf);
		goto out_dev;
	}
	attach = dma_buf_dynamic_attach(dmabuf, &pdev->dev, &pte_probe_ops,
					NULL);
	if (IS_ERR(attach)) {
		ret = PTR_ERR(attach);
		goto out_put;
	}

	dma_resv_lock(dmabuf->resv, NULL);
	phyr = dma_buf_map_attachment_phyr(attach, DMA_BIDIRECTIONAL);
	ret = PTR_ERR_OR_ZERO(phyr);
	if (ret)
		goto out_unlock;
	arg.map_type = 0;
	arg.nr_ranges = phyr_nr_ranges(phyr);
	arg.p2p_ranges = 0;
	phyr_for_each_range(phyr, &it, &r) {
		if (!r.meta->provider || arg.p2p_ranges++)
			continue;
		arg.map_type = pte_map_type(phyr_range_map_type(&pdev->dev,
								&r));
		arg.cache = r.meta->cache;
		arg.p2p_phys = r.phys;
		arg.p2p_bus = r.phys + r.meta->provider->bus_offset;
	}
	arg.p2p_dma = 0;
	arg.cpu_ranges = 0;
	arg.cpu_direct = 0;
	arg.cpu_iova = 0;
	ret = pte_probe_mixed(&pdev->dev, phyr, &arg);
	dma_buf_unmap_attachment_phyr(attach, phyr, DMA_BIDIRECTIONAL);
out_unlock:
	dma_resv_unlock(dmabuf->resv);
	dma_buf_detach(dmabuf, attach);
out_put:
	dma_buf_put(dmabuf);
out_dev:
	pci_dev_put(pdev);
	if (!ret && copy_to_user(uarg, &arg, sizeof(arg)))
		ret = -EFAULT;
	return ret;
}

/* The device's IOMMU domain when it translates DMA, else NULL. */
static struct iommu_domain *pte_dma_domain(struct device *dev)
{
	struct iommu_domain *domain = iommu_get_domain_for_dev(dev);

	return domain && iommu_is_dma_domain(domain) ? domain : NULL;
}

/* Does DMA address @dma of @dev reach CPU physical address @phys? */
static bool pte_reaches(struct device *dev, struct iommu_domain *domain,
			dma_addr_t dma, phys_addr_t phys)
{
	if (domain)
		return iommu_iova_to_phys(domain, dma) == phys;
	return dma == phys_to_dma(dev, phys);
}

/* Of @n DMA addresses no longer mapped, those the IOMMU still translates. */
static u64 pte_left_mapped(struct iommu_domain *domain,
			   const dma_addr_t *seen, u64 n)
{
	u64 i, left = 0;

	for (i = 0; domain && i < n; i++)
		left += iommu_iova_to_phys(domain, seen[i]) != 0;
	return left;
}

/* The device address of list position @pos of a mapped umem, and its page. */
static int pte_umem_locate(struct ib_umem *umem, const struct phyr *phyr,
			   u64 pos, struct phyr_iter *it, dma_addr_t *dma,
			   phys_addr_t *phys)
{
	struct phyr_range r;

	if (phyr_find(phyr, pos, it, &r))
		return -EINVAL;
	*phys = r.phys + (pos - r.offset);
	*dma = phyr_dma_addr(umem->dma, &r) + (pos - r.offset);
	return 0;
}

/*
 * Walk a umem mapped for @dev: its DMA blocks at the best page size, then
 * each page of it (its first byte, every page boundary of the device's
 * view after it): the DMA address must lie in the block the iterator gave
 * for it, at the same offset, and reach the page (through the IOMMU, or
 * directly).  The DMA addresses checked go to @seen, for after release.
 */
static int pte_umem_walk(struct device *dev, struct iommu_domain *domain,
			 struct ib_umem *umem, struct pte_umem_probe *arg,
			 dma_addr_t *seen, u64 nr_seen)
{
	u64 virt = arg->addr, first, off = 0, k;
	struct ib_block_iter biter;
	const struct phyr *phyr;
	dma_addr_t *blocks, dma;
	struct phyr_range r;
	struct phyr_iter it;
	phys_addr_t phys;
	int ret = 0;

	arg->pgsz = ib_umem_find_best_pgsz(umem, arg->pgsz_bitmap, virt);
	if (!arg->pgsz)
		return -EINVAL;
	arg->blocks_want = ib_umem_num_dma_blocks(umem, arg->pgsz);
	blocks = kvmalloc_array(arg->blocks_want, sizeof(*blocks), GFP_KERNEL);
	if (!blocks)
		return -ENOMEM;
	rdma_umem_for_each_dma_block(umem, &biter, arg->pgsz) {
		if (arg->blocks < arg->blocks_want)
			blocks[arg->blocks] = rdma_block_iter_dma_address(&biter);
		arg->blocks++;
	}
	if (arg->blocks != arg->blocks_want) {
		ret = -EPROTO;
		goto out;
	}

	phyr = ib_umem_phyr(umem, &first);
	if (!phyr || !umem->dma || phyr_find(phyr, first, NULL, &r)) {
		ret = -EPROTO;
		goto out;
	}
	arg->one_iova = phyr_dma_is_iova(umem->dma);
	arg->ranges = r.index;
	if (phyr_find(phyr, first + umem->length - 1, NULL, &r)) {
		ret = -EPROTO;
		goto out;
	}
	arg->ranges = r.index - arg->ranges + 1;

	phyr_iter_start(&it, phyr);
	while (off < umem->length && arg->pages < nr_seen) {
		u64 va = virt + off;

		ret = pte_umem_locate(umem, phyr, first + off, &it, &dma,
				      &phys);
		if (ret)
			goto out;
		k = (va >> ilog2(arg->pgsz)) - (virt >> ilog2(arg->pgsz));
		arg->in_block += k < arg->blocks &&
				 dma == blocks[k] + (va & (arg->pgsz - 1));
		arg->translated += pte_reaches(dev, domain, dma, phys);
		seen[arg->pages++] = dma;
		off = round_down(va + PAGE_SIZE, PAGE_SIZE) - virt;
	}
out:
	kvfree(blocks);
	return ret;
}

static long pte_umem_probe(struct pte_umem_probe __user *uarg)
{
	struct ib_uverbs_buffer_desc desc = {};
	struct iommu_domain *domain;
	struct dma_resv *resv = NULL;
	struct pte_umem_probe arg;
	struct ib_device *ibdev;
	struct ib_umem *umem;
	struct pci_dev *pdev;
	dma_addr_t *seen;
	u64 nr_seen;
	long ret;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (!arg.len || arg.len > PTE_MAX_SIZE || !arg.pgsz_bitmap)
		return -EINVAL;
	pdev = pte_client(arg.client);
	if (IS_ERR(pdev))
		return PTR_ERR(pdev);
	domain = pte_dma_domain(&pdev->dev);
	/* a page per PAGE_SIZE of the umem, and its first byte */
	nr_seen = (arg.len >> PAGE_SHIFT) + 2;
	seen = kvmalloc_array(nr_seen, sizeof(*seen), GFP_KERNEL);
	/* only what ib_umem_get_desc() reads: a device that DMAs */
	ibdev = kzalloc_obj(*ibdev);
	if (!seen || !ibdev) {
		ret = -ENOMEM;
		goto out_free;
	}
	ibdev->dma_device = &pdev->dev;

	desc.type = arg.fd < 0 ? IB_UVERBS_BUFFER_TYPE_VA :
				 IB_UVERBS_BUFFER_TYPE_DMABUF;
	desc.fd = arg.fd;
	desc.addr = arg.addr;
	desc.length = arg.len;
	umem = ib_umem_get_desc(ibdev, &desc, IB_ACCESS_LOCAL_WRITE);
	if (IS_ERR(umem)) {
		ret = PTR_ERR(umem);
		goto out_free;
	}
	/* the exporter's list is valid under the reservation lock */
	if (umem->is_dmabuf)
		resv = to_ib_umem_dmabuf(umem)->attach->dmabuf->resv;
	if (resv)
		dma_resv_lock(resv, NULL);
	/* everything from pgsz on is output */
	memset(&arg.pgsz, 0, sizeof(arg) - offsetof(typeof(arg), pgsz));
	arg.iommu = !!domain;
	ret = pte_umem_walk(&pdev->dev, domain, umem, &arg, seen, nr_seen);
	if (resv)
		dma_resv_unlock(resv);
	ib_umem_release(umem);
	/* released: no DMA address of it reaches anything any more */
	arg.left_mapped = pte_left_mapped(domain, seen, arg.pages);
out_free:
	kfree(ibdev);
	kvfree(seen);
	pci_dev_put(pdev);
	if (!ret && copy_to_user(uarg, &arg, sizeof(arg)))
		ret = -EFAULT;
	return ret;
}

/*
 * Walk an sg_table importer's mapping page by page beside the buffer's
 * CPU list: each DMA address must reach the next CPU page.  The addresses
 * go to @seen, for after unmap.
 */
static void pte_sgt_walk(struct device *dev, struct iommu_domain *domain,
			 struct sg_table *sgt, const struct phyr *cpu,
			 struct pte_sgt_probe *arg, dma_addr_t *seen,
			 u64 nr_seen)
{
	struct phyr_iter it;
	struct scatterlist *sg;
	struct phyr_range r;
	phys_addr_t phys;
	u64 pos = 0, off;
	int i;

	phyr_iter_start(&it, cpu);
	for_each_sgtable_dma_sg(sgt, sg, i) {
		arg->nents++;
		for (off = 0; off < sg_dma_len(sg); off += PAGE_SIZE) {
			dma_addr_t dma = sg_dma_address(sg) + off;

			if (arg->pages >= nr_seen ||
			    phyr_find(cpu, pos, &it, &r))
				return;
			phys = r.phys + (pos - r.offset);
			arg->translated += pte_reaches(dev, domain, dma, phys);
			seen[arg->pages++] = dma;
			pos += PAGE_SIZE;
		}
	}
}

static long pte_sgt_probe(struct pte_sgt_probe __user *uarg)
{
	struct dma_buf_attachment *sg_attach, *cpu_attach;
	struct iommu_domain *domain;
	struct pte_sgt_probe arg;
	const struct phyr *cpu;
	struct dma_buf *dmabuf;
	struct sg_table *sgt;
	struct pci_dev *pdev;
	dma_addr_t *seen;
	u64 nr_seen;
	long ret;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	pdev = pte_client(arg.client);
	if (IS_ERR(pdev))
		return PTR_ERR(pdev);
	domain = pte_dma_domain(&pdev->dev);
	dmabuf = dma_buf_get(arg.fd);
	if (IS_ERR(dmabuf)) {
		ret = PTR_ERR(dmabuf);
		goto out_dev;
	}
	nr_seen = dmabuf->size >> PAGE_SHIFT;
	seen = kvmalloc_array(nr_seen, sizeof(*seen), GFP_KERNEL);
	if (!seen) {
		ret = -ENOMEM;
		goto out_put;
	}
	/* the CPU view, and the device's through an ordinary sg_table */
	cpu_attach = dma_buf_dynamic_attach(dmabuf, NULL, &pte_probe_ops, NULL);
	if (IS_ERR(cpu_attach)) {
		ret = PTR_ERR(cpu_attach);
		goto out_free;
	}
	sg_attach = dma_buf_attach(dmabuf, &pdev->dev);
	if (IS_ERR(sg_attach)) {
		ret = PTR_ERR(sg_attach);
		goto out_detach_cpu;
	}
	memset(&arg.nents, 0, sizeof(arg) - offsetof(typeof(arg), nents));
	arg.iommu = !!domain;
	dma_resv_lock(dmabuf->resv, NULL);
	cpu = dma_buf_map_attachment_phyr(cpu_attach, DMA_BIDIRECTIONAL);
	ret = PTR_ERR_OR_ZERO(cpu);
	if (ret)
		goto out_unlock;
	sgt = dma_buf_map_attachment(sg_attach, DMA_BIDIRECTIONAL);
	ret = PTR_ERR_OR_ZERO(sgt);
	if (!ret) {
		pte_sgt_walk(&pdev->dev, domain, sgt, cpu, &arg, seen, nr_seen);
		/* CPU access while the device has it: the core syncs its table */
		dma_resv_unlock(dmabuf->resv);
		arg.cpu_access = dma_buf_begin_cpu_access(dmabuf,
							  DMA_BIDIRECTIONAL);
		if (!arg.cpu_access)
			arg.cpu_access = dma_buf_end_cpu_access(dmabuf,
								DMA_BIDIRECTIONAL);
		dma_resv_lock(dmabuf->resv, NULL);
		dma_buf_unmap_attachment(sg_attach, sgt, DMA_BIDIRECTIONAL);
	}
	dma_buf_unmap_attachment_phyr(cpu_attach, cpu, DMA_BIDIRECTIONAL);
	/* unmapped: none of it reaches anything any more */
	arg.left_mapped = pte_left_mapped(domain, seen, arg.pages);
out_unlock:
	dma_resv_unlock(dmabuf->resv);
	dma_buf_detach(dmabuf, sg_attach);
out_detach_cpu:
	dma_buf_detach(dmabuf, cpu_attach);
out_free:
	kvfree(seen);
out_put:
	dma_buf_put(dmabuf);
out_dev:
	pci_dev_put(pdev);
	if (!ret && copy_to_user(uarg, &arg, sizeof(arg)))
		ret = -EFAULT;
	return ret;
}

/*
 * Any exporter's buffer as a kernel importer sees it: dma_buf_vmap(), with
 * the access bracketed by dma_buf_begin/end_cpu_access().
 */
static long pte_vmap_rw(struct pte_rw __user *uarg)
{
	enum dma_data_direction dir;
	struct dma_buf *dmabuf;
	struct iosys_map map;
	struct pte_rw arg;
	void __user *u;
	void *bounce;
	long ret, end_ret;
	u64 end;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	u = u64_to_user_ptr(arg.addr);
	dmabuf = dma_buf_get(arg.fd);
	if (IS_ERR(dmabuf))
		return PTR_ERR(dmabuf);
	if (check_add_overflow(arg.offset, arg.len, &end) ||
	    end > dmabuf->size || !arg.len || arg.len > SZ_64M) {
		ret = -EINVAL;
		goto out_put;
	}
	bounce = kvmalloc(arg.len, GFP_KERNEL);
	if (!bounce) {
		ret = -ENOMEM;
		goto out_put;
	}
	if (arg.write && copy_from_user(bounce, u, arg.len)) {
		ret = -EFAULT;
		goto out_free;
	}
	dir = arg.write ? DMA_TO_DEVICE : DMA_FROM_DEVICE;
	ret = dma_buf_begin_cpu_access(dmabuf, dir);
	if (ret)
		goto out_free;
	ret = dma_buf_vmap_unlocked(dmabuf, &map);
	if (!ret) {
		if (arg.write)
			iosys_map_memcpy_to(&map, arg.offset, bounce, arg.len);
		else
			iosys_map_memcpy_from(bounce, &map, arg.offset,
					      arg.len);
		dma_buf_vunmap_unlocked(dmabuf, &map);
	}
	end_ret = dma_buf_end_cpu_access(dmabuf, dir);
	ret = ret ?: end_ret;
	if (!ret && !arg.write && copy_to_user(u, bounce, arg.len))
		ret = -EFAULT;
out_free:
	kvfree(bounce);
out_put:
	dma_buf_put(dmabuf);
	return ret;
}

static long pte_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case PTE_IOC_CREATE:
		return pte_create(uarg);
	case PTE_IOC_MOVE:
	case PTE_IOC_REVOKE:
	case PTE_IOC_RESTORE:
		return pte_op(cmd, uarg);
	case PTE_IOC_STATUS:
		return pte_status(uarg);
	case PTE_IOC_RW:
		return pte_rw(uarg);
	case PTE_IOC_P2P_PROBE:
		return pte_p2p_probe(uarg);
	case PTE_IOC_UMEM_PROBE:
		return pte_umem_probe(uarg);
	case PTE_IOC_SGT_PROBE:
		return pte_sgt_probe(uarg);
	case PTE_IOC_VMAP_RW:
		return pte_vmap_rw(uarg);
	}
	return -ENOTTY;
}

static const struct file_operations pte_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = pte_ioctl,
};

static struct miscdevice pte_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "phyr_test_exporter",
	.fops = &pte_fops,
};

static int __init pte_init(void)
{
	return misc_register(&pte_misc);
}

static void __exit pte_exit(void)
{
	misc_deregister(&pte_misc);
}

module_init(pte_init);
module_exit(pte_exit);

MODULE_DESCRIPTION("Tests' dma-buf exporter and P2P probe");
MODULE_LICENSE("GPL");
