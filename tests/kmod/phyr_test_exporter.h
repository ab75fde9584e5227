/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * User interface of phyr_test_exporter, the dma-buf exporter of the tests:
 * /dev/phyr_test_exporter creates buffers and moves, revokes and restores
 * them on command.
 */
#ifndef PHYR_TEST_EXPORTER_H
#define PHYR_TEST_EXPORTER_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

/* Creation flags */
/* a dynamic exporter (pin/unpin): PTE_IOC_MOVE moves unpinned buffers */
#define PTE_DYNAMIC		_BITUL(0)
/* only DMA_TO_DEVICE mappings: the importer may read, not write */
#define PTE_READONLY		_BITUL(1)
/* the memory is behind a private interconnect (phyr meta) */
#define PTE_PRIVATE_IC		_BITUL(2)
/* the memory is write-combined (phyr meta) */
#define PTE_WC			_BITUL(3)
/* no map_phyr: an exporter that only maps sg_tables */
#define PTE_SGT_ONLY		_BITUL(4)
/*
 * Byte-granular ranges: each page holds PTE_SPLIT_PAGE bytes of the buffer
 * in two ranges, [0, PTE_SPLIT_HEAD) and [PTE_SPLIT_HEAD + 4, page end),
 * so ranges end where an 8-byte word does not (phyr importers only)
 */
#define PTE_SPLIT		_BITUL(5)
#define PTE_FLAGS		(_BITUL(6) - 1)

#define PTE_SPLIT_HEAD		2052
#define PTE_SPLIT_HOLE		4
#define PTE_SPLIT_PAGE		(4096 - PTE_SPLIT_HOLE)

/* Largest buffer */
#define PTE_MAX_SIZE		_BITULL(30)

struct pte_create {
	__u64 size;	/* bytes, a multiple of the page size */
	__u32 flags;	/* PTE_* */
	__s32 fd;	/* out: the dma-buf */
};

struct pte_op {
	__s32 fd;	/* a dma-buf of this exporter */
	__u32 pad;
	/*
	 * out: mappings still held right after the importers were told to
	 * drop theirs (PTE_IOC_MOVE, PTE_IOC_REVOKE)
	 */
	__u64 maps_left;
};

struct pte_status {
	__s32 fd;		/* in: a dma-buf of this exporter, or -1 */
	__u32 pad;
	__u64 attachments;	/* out: attachments of the buffer */
	__u64 maps;		/* out: mappings of the buffer */
	__u64 pins;		/* out: pins of the buffer */
	__u64 moves;		/* out: times the buffer moved */
	__u64 live_buffers;	/* out: buffers not released, all of them */
	__u64 live_pages;	/* out: pages allocated, all buffers */
};

struct pte_rw {
	__s32 fd;	/* a dma-buf of this exporter */
	__u32 write;	/* 1: buffer <- user memory, 0: user memory <- buffer */
	__u64 offset;	/* in the buffer */
	__u64 len;
	__u64 addr;	/* user memory */
};

/* How an importer's device reaches a P2P range (pci_p2pdma_map_type) */
#define PTE_MAP_NOT_SUPPORTED	1
#define PTE_MAP_BUS_ADDR	2
#define PTE_MAP_THRU_HOST_BRIDGE 3

/*
 * The module as an importer with a device: attach to any dma-buf for a PCI
 * device, take its physical range list, and map a mixed list (a CPU page,
 * the buffer's ranges, a CPU page) for that device with phyr_dma_map().
 */
struct pte_p2p_probe {
	__s32 fd;		/* in: a dma-buf */
	__u32 client;		/* in: PCI device: domain << 16 | bus << 8 | devfn */
	__s32 map_err;		/* out: phyr_dma_map() of the mixed list */
	__u32 map_type;		/* out: PTE_MAP_* of the first P2P range */
	__u32 nr_ranges;	/* out: ranges of the buffer's list */
	__u32 p2p_ranges;	/* out: of them with a P2P provider */
	__u32 cache;		/* out: cache meta of the first P2P range */
	__u32 one_iova;		/* out: the mixed list got one IOVA range */
	__u64 p2p_phys;		/* out: CPU address of the first P2P range */
	__u64 p2p_bus;		/* out: its PCI bus address */
	__u64 p2p_dma;		/* out: its DMA address for the client */
	__u32 cpu_ranges;	/* out: CPU ranges of the mixed list */
	__u32 cpu_direct;	/* out: of them mapped at phys_to_dma() */
	__u32 cpu_iova;		/* out: they share one IOVA range */
	__u32 pad;
};

/*
 * The module as a driver that registers memory for a device that DMAs:
 * ib_umem_get_desc() on user memory or a dma-buf for a PCI device, the
 * umem's DMA blocks at ib_umem_find_best_pgsz()'s page size walked and
 * every page of the umem checked against them and against the IOMMU, then
 * ib_umem_release() and the IOMMU checked again.
 */
struct pte_umem_probe {
	__u64 addr;		/* in: user address, or offset in the dma-buf */
	__u64 len;		/* in: bytes */
	__s32 fd;		/* in: a dma-buf, or -1 for user memory */
	__u32 client;		/* in: PCI device: domain << 16 | bus << 8 | devfn */
	__u64 pgsz_bitmap;	/* in: the page sizes the device could use */
	__u64 pgsz;		/* out: ib_umem_find_best_pgsz() */
	__u64 ranges;		/* out: ranges of the umem's list (its window) */
	__u64 blocks;		/* out: blocks the DMA block iterator gave */
	__u64 blocks_want;	/* out: ib_umem_num_dma_blocks() */
	__u64 pages;		/* out: pages of the umem checked */
	__u64 translated;	/* out: of them, the DMA address reaching the page */
	__u64 in_block;		/* out: of them, inside the block given for them */
	__u64 left_mapped;	/* out: of them, DMA addresses still translating
				 * after ib_umem_release()
				 */
	__u32 iommu;		/* out: the device has an IOMMU DMA domain */
	__u32 one_iova;		/* out: the umem got one IOVA range */
};

/*
 * The module as an sg_table importer with a device: dma_buf_attach() for a
 * PCI device, dma_buf_map_attachment(), and every page of the table checked
 * against the buffer's CPU physical ranges (taken through a device-less
 * phyr attachment): reached through the IOMMU, or directly.
 */
struct pte_sgt_probe {
	__s32 fd;		/* in: a dma-buf whose exporter has map_phyr */
	__u32 client;		/* in: PCI device: domain << 16 | bus << 8 | devfn */
	__u32 nents;		/* out: DMA entries of the table */
	__u32 iommu;		/* out: the device has an IOMMU DMA domain */
	__u64 pages;		/* out: pages the table covers */
	__u64 translated;	/* out: of them, reaching the right page */
	__u64 left_mapped;	/* out: of them, still translating after unmap */
	/* out: dma_buf_begin/end_cpu_access() while mapped: 0 or -errno */
	__s32 cpu_access;
	__u32 pad;
};

#define PTE_IOC_MAGIC	'p'
#define PTE_IOC_CREATE	_IOWR(PTE_IOC_MAGIC, 1, struct pte_create)
/* copy the buffer to new pages, invalidate mappings, free the old pages */
#define PTE_IOC_MOVE	_IOWR(PTE_IOC_MAGIC, 2, struct pte_op)
/* refuse mappings from now on, invalidate, free the pages */
#define PTE_IOC_REVOKE	_IOWR(PTE_IOC_MAGIC, 3, struct pte_op)
/* allow mappings again, on new zeroed pages */
#define PTE_IOC_RESTORE	_IOWR(PTE_IOC_MAGIC, 4, struct pte_op)
#define PTE_IOC_STATUS	_IOWR(PTE_IOC_MAGIC, 5, struct pte_status)
/* CPU access to the buffer's current pages, under the reservation lock */
#define PTE_IOC_RW	_IOW(PTE_IOC_MAGIC, 6, struct pte_rw)
#define PTE_IOC_P2P_PROBE _IOWR(PTE_IOC_MAGIC, 7, struct pte_p2p_probe)
#define PTE_IOC_UMEM_PROBE _IOWR(PTE_IOC_MAGIC, 8, struct pte_umem_probe)
#define PTE_IOC_SGT_PROBE _IOWR(PTE_IOC_MAGIC, 9, struct pte_sgt_probe)
/*
 * Any dma-buf (struct pte_rw, fd of any exporter) read or written through
 * dma_buf_vmap(), bracketed by dma_buf_begin/end_cpu_access()
 */
#define PTE_IOC_VMAP_RW	_IOW(PTE_IOC_MAGIC, 10, struct pte_rw)

#endif
