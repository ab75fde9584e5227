// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for physical range list attachments (dma_buf_attach_ops
 * allow_phyr, dma_buf_map_attachment_phyr()).
 *
 * A small exporter of a few real pages, with and without map_phyr, and
 * importers with and without a device.
 */
#include <kunit/device.h>
#include <kunit/test.h>
#include <linux/dma-buf.h>
#include <linux/dma-direct.h>
#include <linux/dma-mapping.h>
#include <linux/dma-resv.h>
#include <linux/phyr.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>

MODULE_IMPORT_NS("DMA_BUF");

#define TEST_PAGES	6

struct test_buf {
	struct page *pages[TEST_PAGES];
	struct phyr phyr;
	int phyr_maps;
	int sgt_maps;
	int map_error;		/* map_phyr fails with this, when set */
};

static const struct phyr *test_map_phyr(struct dma_buf_attachment *attach,
					enum dma_data_direction dir)
{
	struct test_buf *tb = attach->dmabuf->priv;
	int i, ret;

	dma_resv_assert_held(attach->dmabuf->resv);
	if (tb->map_error)
		return ERR_PTR(tb->map_error);
	if (phyr_empty(&tb->phyr)) {
		for (i = 0; i < TEST_PAGES; i++) {
			ret = phyr_append_page(&tb->phyr, tb->pages[i],
					       &phyr_meta_cpu, GFP_KERNEL);
			if (ret)
				return ERR_PTR(ret);
		}
	}
	tb->phyr_maps++;
	return &tb->phyr;
}

static void test_unmap_phyr(struct dma_buf_attachment *attach,
			    const struct phyr *phyr,
			    enum dma_data_direction dir)
{
	struct test_buf *tb = attach->dmabuf->priv;

	tb->phyr_maps--;
}

static struct sg_table *test_map_sgt(struct dma_buf_attachment *attach,
				     enum dma_data_direction dir)
{
	struct test_buf *tb = attach->dmabuf->priv;
	struct sg_table *sgt;
	int ret;

	sgt = kzalloc_obj(*sgt);
	if (!sgt)
		return ERR_PTR(-ENOMEM);
	ret = sg_alloc_table_from_pages(sgt, tb->pages, TEST_PAGES, 0,
					TEST_PAGES * PAGE_SIZE, GFP_KERNEL);
	if (!ret)
		ret = dma_map_sgtable(attach->dev, sgt, dir, 0);
	if (ret) {
		sg_free_table(sgt);
		kfree(sgt);
		return ERR_PTR(ret);
	}
	tb->sgt_maps++;
	return sgt;
}

static void test_unmap_sgt(struct dma_buf_attachment *attach,
			   struct sg_table *sgt, enum dma_data_direction dir)
{
	struct test_buf *tb = attach->dmabuf->priv;

	dma_unmap_sgtable(attach->dev, sgt, dir, 0);
	sg_free_table(sgt);
	kfree(sgt);
	tb->sgt_maps--;
}

static void test_release(struct dma_buf *dmabuf)
{
	struct test_buf *tb = dmabuf->priv;
	int i;

	for (i = 0; i < TEST_PAGES; i++)
		__free_page(tb->pages[i]);
	phyr_free(&tb->phyr);
	kfree(tb);
}

static const struct dma_buf_ops test_phyr_ops = {
	.map_dma_buf = test_map_sgt,
	.unmap_dma_buf = test_unmap_sgt,
	.map_phyr = test_map_phyr,
	.unmap_phyr = test_unmap_phyr,
	.release = test_release,
};

static const struct dma_buf_ops test_sgt_ops = {
	.map_dma_buf = test_map_sgt,
	.unmap_dma_buf = test_unmap_sgt,
	.release = test_release,
};

static void put_dmabuf(void *dmabuf)
{
	dma_buf_put(dmabuf);
}

/* A buffer of TEST_PAGES scattered pages, released when the test ends. */
static struct dma_buf *test_export(struct kunit *test,
				   const struct dma_buf_ops *ops)
{
	DEFINE_DMA_BUF_EXPORT_INFO(exp_info);
	struct dma_buf *dmabuf;
	struct test_buf *tb;
	int i;

	tb = kzalloc_obj(*tb);
	KUNIT_ASSERT_NOT_NULL(test, tb);
	/* pages allocated one by one: scattered, usually */
	for (i = 0; i < TEST_PAGES; i++) {
		tb->pages[i] = alloc_page(GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, tb->pages[i]);
	}
	exp_info.ops = ops;
	exp_info.size = TEST_PAGES * PAGE_SIZE;
	exp_info.flags = O_RDWR;
	exp_info.priv = tb;
	dmabuf = dma_buf_export(&exp_info);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dmabuf);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, put_dmabuf,
							dmabuf), 0);
	return dmabuf;
}

static struct test_buf *tbuf(struct dma_buf *dmabuf)
{
	return dmabuf->priv;
}

struct importer {
	struct dma_buf_attachment *attach;
	const struct phyr *phyr;
	int invalidations;
};

/* Drops its list when told to, as the rules require. */
static void importer_invalidate(struct dma_buf_attachment *attach)
{
	struct importer *imp = attach->importer_priv;

	imp->invalidations++;
	if (imp->phyr) {
		dma_buf_unmap_attachment_phyr(attach, imp->phyr,
					      DMA_BIDIRECTIONAL);
		imp->phyr = NULL;
	}
}

static const struct dma_buf_attach_ops phyr_importer_ops = {
	.allow_phyr = true,
	.invalidate_mappings = importer_invalidate,
};

static struct device *test_device(struct kunit *test)
{
	struct device *dev = kunit_device_register(test, "dma-buf-phyr");

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dev);
	dev->dma_mask = &dev->coherent_dma_mask;
	KUNIT_ASSERT_EQ(test, dma_set_mask_and_coherent(dev, DMA_BIT_MASK(64)),
			0);
	return dev;
}

static const struct phyr *map_locked(struct dma_buf_attachment *attach)
{
	const struct phyr *phyr;

	dma_resv_lock(attach->dmabuf->resv, NULL);
	phyr = dma_buf_map_attachment_phyr(attach, DMA_BIDIRECTIONAL);
	dma_resv_unlock(attach->dmabuf->resv);
	return phyr;
}

static void unmap_locked(struct dma_buf_attachment *attach,
			 const struct phyr *phyr)
{
	dma_resv_lock(attach->dmabuf->resv, NULL);
	dma_buf_unmap_attachment_phyr(attach, phyr, DMA_BIDIRECTIONAL);
	dma_resv_unlock(attach->dmabuf->resv);
}

/*
 * An importer without a device gets the exporter's own list: the CPU
 * physical address of every page, in order, ordinary CPU meta.
 */
static void phyr_cpu_attach(struct kunit *test)
{
	struct dma_buf *dmabuf = test_export(test, &test_phyr_ops);
	struct importer imp = {};
	struct phyr_range r;
	struct phyr_iter it;
	u64 off = 0;

	imp.attach = dma_buf_dynamic_attach(dmabuf, NULL, &phyr_importer_ops,
					    &imp);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, imp.attach);
	KUNIT_EXPECT_NULL(test, imp.attach->dev);

	imp.phyr = map_locked(imp.attach);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, imp.phyr);
	KUNIT_EXPECT_EQ(test, phyr_length(imp.phyr), dmabuf->size);
	KUNIT_EXPECT_EQ(test, tbuf(dmabuf)->phyr_maps, 1);
	KUNIT_EXPECT_EQ(test, tbuf(dmabuf)->sgt_maps, 0);
	phyr_for_each_range(imp.phyr, &it, &r) {
		u64 b;

		KUNIT_EXPECT_FALSE(test, r.meta->provider);
		KUNIT_EXPECT_EQ(test, r.meta->flags, 0);
		for (b = 0; b < r.len; b += PAGE_SIZE, off += PAGE_SIZE) {
			struct page *pg = tbuf(dmabuf)->pages[off >> PAGE_SHIFT];

			KUNIT_EXPECT_EQ(test, r.phys + b, page_to_phys(pg));
		}
	}
	KUNIT_EXPECT_EQ(test, off, dmabuf->size);

	unmap_locked(imp.attach, imp.phyr);
	KUNIT_EXPECT_EQ(test, tbuf(dmabuf)->phyr_maps, 0);
	dma_buf_detach(dmabuf, imp.attach);
}

/* No list without map_phyr and without a device: a clean -EOPNOTSUPP. */
static void phyr_cpu_attach_sgt_exporter(struct kunit *test)
{
	struct dma_buf *dmabuf = test_export(test, &test_sgt_ops);
	struct dma_buf_attachment *attach;

	attach = dma_buf_dynamic_attach(dmabuf, NULL, &phyr_importer_ops,
					NULL);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(attach), -EOPNOTSUPP);
	KUNIT_EXPECT_TRUE(test, list_empty(&dmabuf->attachments));
}

/*
 * An importer with a device and an exporter that only maps sg_tables: the
 * table's DMA side comes back as device-address ranges covering the
 * buffer, and the table is unmapped with the list.
 */
static void phyr_converted_from_sgt(struct kunit *test)
{
	struct dma_buf *dmabuf = test_export(test, &test_sgt_ops);
	struct device *dev = test_device(test);
	struct importer imp = {};
	struct phyr_range r;
	struct phyr_iter it;
	u64 off = 0;

	imp.attach = dma_buf_dynamic_attach(dmabuf, dev, &phyr_importer_ops,
					    &imp);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, imp.attach);
	imp.phyr = map_locked(imp.attach);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, imp.phyr);
	KUNIT_EXPECT_EQ(test, tbuf(dmabuf)->sgt_maps, 1);
	KUNIT_EXPECT_EQ(test, phyr_length(imp.phyr), dmabuf->size);
	phyr_for_each_range(imp.phyr, &it, &r) {
		u64 b;

		KUNIT_EXPECT_EQ(test, r.meta->flags, PHYR_META_DEVICE_ADDR);
		/* dma-direct: the device address of each page is its own */
		for (b = 0; b < r.len; b += PAGE_SIZE, off += PAGE_SIZE) {
			struct page *pg = tbuf(dmabuf)->pages[off >> PAGE_SHIFT];

			KUNIT_EXPECT_EQ(test, r.phys + b,
					phys_to_dma(dev, page_to_phys(pg)));
		}
	}
	unmap_locked(imp.attach, imp.phyr);
	KUNIT_EXPECT_EQ(test, tbuf(dmabuf)->sgt_maps, 0);
	dma_buf_detach(dmabuf, imp.attach);
}

/* invalidate_mappings reaches phyr importers, which drop their lists. */
static void phyr_invalidate(struct kunit *test)
{
	struct dma_buf *dmabuf = test_export(test, &test_phyr_ops);
	struct importer a = {}, b = {};

	a.attach = dma_buf_dynamic_attach(dmabuf, NULL, &phyr_importer_ops,
					  &a);
	b.attach = dma_buf_dynamic_attach(dmabuf, test_device(test),
					  &phyr_importer_ops, &b);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, a.attach);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, b.attach);
	a.phyr = map_locked(a.attach);
	b.phyr = map_locked(b.attach);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, a.phyr);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, b.phyr);
	/* one list for the buffer, shared by both */
	KUNIT_EXPECT_PTR_EQ(test, a.phyr, b.phyr);
	KUNIT_EXPECT_EQ(test, tbuf(dmabuf)->phyr_maps, 2);

	dma_resv_lock(dmabuf->resv, NULL);
	dma_buf_invalidate_mappings(dmabuf);
	dma_resv_unlock(dmabuf->resv);
	KUNIT_EXPECT_EQ(test, a.invalidations, 1);
	KUNIT_EXPECT_EQ(test, b.invalidations, 1);
	KUNIT_EXPECT_EQ(test, tbuf(dmabuf)->phyr_maps, 0);

	dma_buf_detach(dmabuf, a.attach);
	dma_buf_detach(dmabuf, b.attach);
}

/* The exporter's refusal (a revoked buffer, say) reaches the importer. */
static void phyr_map_error(struct kunit *test)
{
	struct dma_buf *dmabuf = test_export(test, &test_phyr_ops);
	struct dma_buf_attachment *attach;

	attach = dma_buf_dynamic_attach(dmabuf, NULL, &phyr_importer_ops,
					NULL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, attach);
	tbuf(dmabuf)->map_error = -ENODEV;
	KUNIT_EXPECT_EQ(test, PTR_ERR(map_locked(attach)), -ENODEV);
	KUNIT_EXPECT_EQ(test, tbuf(dmabuf)->phyr_maps, 0);
	dma_buf_detach(dmabuf, attach);
}

/* An sg_table importer of an exporter with map_phyr sees no change. */
static void phyr_sgt_importer_unchanged(struct kunit *test)
{
	struct dma_buf *dmabuf = test_export(test, &test_phyr_ops);
	struct device *dev = test_device(test);
	struct dma_buf_attachment *attach;
	struct sg_table *sgt;

	attach = dma_buf_attach(dmabuf, dev);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, attach);
	sgt = dma_buf_map_attachment_unlocked(attach, DMA_BIDIRECTIONAL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, sgt);
	KUNIT_EXPECT_EQ(test, tbuf(dmabuf)->sgt_maps, 1);
	KUNIT_EXPECT_EQ(test, tbuf(dmabuf)->phyr_maps, 0);
	dma_buf_unmap_attachment_unlocked(attach, sgt, DMA_BIDIRECTIONAL);
	KUNIT_EXPECT_EQ(test, tbuf(dmabuf)->sgt_maps, 0);
	dma_buf_detach(dmabuf, attach);
}

static struct kunit_case dma_buf_phyr_cases[] = {
	KUNIT_CASE(phyr_cpu_attach),
	KUNIT_CASE(phyr_cpu_attach_sgt_exporter),
	KUNIT_CASE(phyr_converted_from_sgt),
	KUNIT_CASE(phyr_invalidate),
	KUNIT_CASE(phyr_map_error),
	KUNIT_CASE(phyr_sgt_importer_unchanged),
	{}
};

static struct kunit_suite dma_buf_phyr_suite = {
	.name = "dma-buf-phyr",
	.test_cases = dma_buf_phyr_cases,
};

kunit_test_suite(dma_buf_phyr_suite);

MODULE_DESCRIPTION("KUnit tests for dma-buf physical range list attachments");
MODULE_LICENSE("GPL");
