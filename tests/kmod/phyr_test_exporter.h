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
#define PTE_FLAGS		(_BITUL(5) - 1)

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

#endif
