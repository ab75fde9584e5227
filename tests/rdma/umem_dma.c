// SPDX-License-Identifier: GPL-2.0
/*
 * The ib_umem DMA side on a device that DMAs.  rxe never maps memory for
 * DMA, so this registers memory for a PCI device instead, through the
 * test module (phyr_test_exporter, PTE_IOC_UMEM_PROBE): ib_umem_get_desc()
 * on user memory of each kind and on a udmabuf, for a pci-testdev, and
 * per registration checks
 *  - the DMA block iterator gave ib_umem_num_dma_blocks() blocks at the
 *    page size ib_umem_find_best_pgsz() chose;
 *  - every page of the umem has its DMA address inside the block given for
 *    it, and that address reaches the page: through the IOMMU
 *    (iommu_iova_to_phys()) or, without one, directly;
 *  - with an IOMMU, the umem is one IOVA range, and after ib_umem_release()
 *    none of its DMA addresses translates any more;
 *  - the DMA API debug layer counted no error, and no pin is left.
 * The udmabufs are also mapped by an sg_table importer for the device
 * (PTE_IOC_SGT_PROBE): the DMA-buf core maps udmabuf's list for it, and
 * every page of the table must reach the buffer's page.
 * Reports umem-dma.<kind> results.
 *
 * usage: umem_dma [--iommu]   (--iommu: an IOMMU must be in the way)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/udmabuf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memkind.h"
#include "rdmatest.h"
#include "../kmod/phyr_test_exporter.h"

#define PCI_DEVS "/sys/bus/pci/devices"
#define REG_LEN (4 * MiB)
/* what a NIC's page tables take: 4 KiB, 2 MiB, 1 GiB */
#define PGSZ_BITMAP ((1ull << 12) | (1ull << 21) | (1ull << 30))

static bool need_iommu;

/* A sysfs file holding a hex number ("0x1b36"), or -1. */
static long read_hex(const char *path)
{
	FILE *f = fopen(path, "r");
	unsigned int v;
	long r = -1;

	if (f) {
		if (fscanf(f, "%x", &v) == 1)
			r = v;
		fclose(f);
	}
	return r;
}

/* The first pci-testdev (1b36:0005): no driver takes it. */
static int find_client(uint32_t *client, char *bdf, size_t n)
{
	unsigned int dom, bus, slot, fn;
	DIR *d = opendir(PCI_DEVS);
	struct dirent *e;
	char path[300];
	int found = 0;

	if (!d)
		return rt_fail(errno, "opendir " PCI_DEVS);
	while (!found && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), PCI_DEVS "/%s/vendor", e->d_name);
		if (read_hex(path) != 0x1b36)
			continue;
		snprintf(path, sizeof(path), PCI_DEVS "/%s/device", e->d_name);
		if (read_hex(path) != 0x0005)
			continue;
		if (strlen(e->d_name) >= n ||
		    sscanf(e->d_name, "%x:%x:%x.%x", &dom, &bus, &slot,
			   &fn) != 4)
			continue;
		*client = dom << 16 | bus << 8 | slot << 3 | fn;
		memcpy(bdf, e->d_name, strlen(e->d_name) + 1);
		found = 1;
	}
	closedir(d);
	return found ? 0 : rt_fail(ENODEV, "no pci-testdev in this machine");
}

static long dma_api_errors(void)
{
	return read_long("/sys/kernel/debug/dma-api/error_count");
}

static int udmabuf_of(struct region *r)
{
	struct udmabuf_create c = { .memfd = r->fd,
				    .flags = UDMABUF_FLAGS_CLOEXEC,
				    .size = r->len };
	int dev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC), fd;

	if (dev < 0)
		return rt_fail(errno, "open /dev/udmabuf");
	if (fcntl(r->fd, F_ADD_SEALS, F_SEAL_SHRINK)) {
		close(dev);
		return rt_fail(errno, "F_SEAL_SHRINK");
	}
	fd = ioctl(dev, UDMABUF_CREATE, &c);
	if (fd < 0)
		rt_fail(errno, "UDMABUF_CREATE");
	close(dev);
	return fd;
}

/* One registration of @len bytes at @addr (or of dma-buf @fd); 0 if right. */
static int probe_one(int pte, uint32_t client, const char *name,
		     uint64_t addr, uint64_t len, int fd, bool huge)
{
	struct pte_umem_probe p = { .addr = addr, .len = len, .fd = fd,
				    .client = client,
				    .pgsz_bitmap = PGSZ_BITMAP };
	/* the pages it spans: each is checked */
	uint64_t pages = ((addr & 4095) + len + 4095) / 4096;
	int bad = 0;

	if (ioctl(pte, PTE_IOC_UMEM_PROBE, &p))
		return rt_fail(errno, "%s: PTE_IOC_UMEM_PROBE", name);
	printf("%s: %llu bytes, %llu range(s); %s; page size %llu KiB, "
	       "%llu of %llu block(s); %llu page(s): %llu translated, "
	       "%llu in their block; %llu left mapped after release\n",
	       name, (unsigned long long)len, (unsigned long long)p.ranges,
	       !p.iommu ? "no IOMMU" : p.one_iova ? "IOMMU, one IOVA range" :
	       "IOMMU, several DMA ranges",
	       (unsigned long long)p.pgsz >> 10,
	       (unsigned long long)p.blocks,
	       (unsigned long long)p.blocks_want,
	       (unsigned long long)p.pages, (unsigned long long)p.translated,
	       (unsigned long long)p.in_block,
	       (unsigned long long)p.left_mapped);
	if (need_iommu && !p.iommu)
		bad = rt_fail(0, "%s: no IOMMU in the way", name);
	if (p.iommu && !p.one_iova)
		bad = rt_fail(0, "%s: not one IOVA range", name);
	if (!p.pgsz || (p.pgsz & ~PGSZ_BITMAP))
		bad = rt_fail(0, "%s: page size %llu", name,
			      (unsigned long long)p.pgsz);
	if (!p.blocks || p.blocks != p.blocks_want)
		bad = rt_fail(0, "%s: %llu blocks, not %llu", name,
			      (unsigned long long)p.blocks,
			      (unsigned long long)p.blocks_want);
	if (p.pages != pages || p.translated != pages || p.in_block != pages)
		bad = rt_fail(0, "%s: of %llu pages %llu checked, %llu "
			      "translated, %llu in their block", name,
			      (unsigned long long)pages,
			      (unsigned long long)p.pages,
			      (unsigned long long)p.translated,
			      (unsigned long long)p.in_block);
	if (p.left_mapped)
		bad = rt_fail(0, "%s: %llu page(s) still mapped", name,
			      (unsigned long long)p.left_mapped);
	/* 2 MiB folios, 2 MiB aligned: 2 MiB blocks, whatever the IOMMU */
	if (huge && (p.ranges > len / HPAGE || p.pgsz < HPAGE))
		bad = rt_fail(0, "%s: %llu ranges, %llu KiB pages: not huge",
			      name, (unsigned long long)p.ranges,
			      (unsigned long long)p.pgsz >> 10);
	return bad;
}

/*
 * The udmabuf through an ordinary sg_table importer for the device: udmabuf
 * has no map_dma_buf, the DMA-buf core maps its list.  Every page of the
 * table must reach the buffer's page; with an IOMMU the table is one IOVA
 * range and nothing translates after unmap.
 */
static int sgt_one(int pte, uint32_t client, const char *name, int fd,
		   uint64_t len)
{
	struct pte_sgt_probe p = { .fd = fd, .client = client };
	uint64_t pages = len / 4096;
	int bad = 0;

	if (ioctl(pte, PTE_IOC_SGT_PROBE, &p))
		return rt_fail(errno, "%s: PTE_IOC_SGT_PROBE", name);
	printf("%s as an sg_table: %u entr%s; %llu page(s), %llu reaching "
	       "their page; %llu left mapped after unmap\n", name, p.nents,
	       p.nents == 1 ? "y" : "ies", (unsigned long long)p.pages,
	       (unsigned long long)p.translated,
	       (unsigned long long)p.left_mapped);
	if (p.pages != pages || p.translated != pages)
		bad = rt_fail(0, "%s: of %llu pages %llu in the table, %llu "
			      "reaching their page", name,
			      (unsigned long long)pages,
			      (unsigned long long)p.pages,
			      (unsigned long long)p.translated);
	if (p.iommu && p.nents != 1)
		bad = rt_fail(0, "%s: %u entries behind an IOMMU", name,
			      p.nents);
	if (p.left_mapped)
		bad = rt_fail(0, "%s: %llu page(s) still mapped", name,
			      (unsigned long long)p.left_mapped);
	/* the core syncs the table it mapped; DMA API debug watches */
	if (p.cpu_access)
		bad = rt_fail(-p.cpu_access, "%s: CPU access while mapped",
			      name);
	return bad;
}

/*
 * Memory of kind @kind, registered whole and at an odd window of it; the
 * whole of a huge kind must be huge.
 */
static int test_kind(int pte, uint32_t client, enum kind kind, bool dmabuf)
{
	bool huge = kind == ANON_THP || kind == ANON_HUGETLB ||
		    kind == MEMFD_SHMEM_HUGE;
	char name[64];
	struct region r;
	int ret, fd = -1;

	snprintf(name, sizeof(name), "%s%s", dmabuf ? "udmabuf-" : "",
		 kind_name[kind]);
	if (region_map(&r, kind, REG_LEN))
		return -1;
	if (dmabuf) {
		fd = udmabuf_of(&r);
		ret = fd < 0 ? -1 :
		      probe_one(pte, client, name, 0, REG_LEN, fd, huge) ||
		      probe_one(pte, client, name, 3 * 4096 + 100,
				REG_LEN - 5 * 4096, fd, false) ||
		      sgt_one(pte, client, name, fd, REG_LEN);
		if (fd >= 0)
			close(fd);
	} else {
		ret = probe_one(pte, client, name, (uintptr_t)r.base, REG_LEN,
				-1, huge) ||
		      probe_one(pte, client, name, (uintptr_t)r.base + 4096 +
				100, REG_LEN - 3 * 4096, -1, false);
	}
	region_unmap(&r);
	return ret ? -1 : 0;
}

#define SHMEM_KNOB "/sys/kernel/mm/transparent_hugepage/shmem_enabled"

/* The shmem huge page policy in force ("[advise]" of the list), or "never". */
static void shmem_policy(char *was, size_t n)
{
	char line[128], *open_b, *close_b;
	FILE *f = fopen(SHMEM_KNOB, "r");

	snprintf(was, n, "never");
	if (!f)
		return;
	if (fgets(line, sizeof(line), f) && (open_b = strchr(line, '[')) &&
	    (close_b = strchr(open_b, ']'))) {
		*close_b = 0;
		snprintf(was, n, "%s", open_b + 1);
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	static const struct {
		enum kind kind;
		bool dmabuf;
		unsigned int huge;	/* 2 MiB pages it needs */
	} tests[] = {
		{ ANON_FRAGMENTED, false, 0 }, { ANON_THP, false, 0 },
		{ ANON_HUGETLB, false, REG_LEN / HPAGE },
		{ MEMFD_SHMEM, false, 0 }, { MEMFD_SHMEM, true, 0 },
		{ MEMFD_SHMEM_HUGE, true, 0 },
	};
	long errors0 = dma_api_errors(), errors;
	int64_t pins0 = pins_outstanding(), pins;
	int pte, failed = 0;
	uint32_t client = 0;
	char bdf[32], n[16], was[32];
	size_t i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	need_iommu = argc > 1 && !strcmp(argv[1], "--iommu");
	if (find_client(&client, bdf, sizeof(bdf)))
		return 1;
	pte = open("/dev/phyr_test_exporter", O_RDWR | O_CLOEXEC);
	if (pte < 0) {
		rt_fail(errno, "open /dev/phyr_test_exporter");
		return 1;
	}
	printf("device %s; DMA API debug errors so far: %ld\n", bdf, errors0);
	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		const char *name = kind_name[tests[i].kind];
		int ret;

		if (tests[i].huge) {
			snprintf(n, sizeof(n), "%u", tests[i].huge);
			if (write_file("/proc/sys/vm/nr_hugepages", n) ||
			    read_long("/proc/sys/vm/nr_hugepages") <
			    tests[i].huge) {
				rt_fail(ENOMEM, "%u huge pages", tests[i].huge);
				ret = -1;
				goto report;
			}
		}
		if (tests[i].kind == MEMFD_SHMEM_HUGE) {
			shmem_policy(was, sizeof(was));
			write_file(SHMEM_KNOB, "always");
		}
		ret = test_kind(pte, client, tests[i].kind, tests[i].dmabuf);
		if (tests[i].huge)
			write_file("/proc/sys/vm/nr_hugepages", "0");
		if (tests[i].kind == MEMFD_SHMEM_HUGE)
			write_file(SHMEM_KNOB, was);
report:
		printf("PHYRLAB-TEST: umem-dma.%s%s %s\n",
		       tests[i].dmabuf ? "udmabuf-" : "", name,
		       ret ? "FAIL" : "PASS");
		failed |= ret != 0;
	}
	close(pte);
	errors = dma_api_errors() - errors0;
	pins = pins_outstanding() - pins0;
	if (errors)
		rt_fail(0, "the DMA API debug layer counted %ld error(s)",
			errors);
	if (pins)
		rt_fail(0, "%lld page(s) left pinned", (long long)pins);
	printf("PHYRLAB-TEST: umem-dma.balanced %s\n",
	       errors || pins ? "FAIL" : "PASS");
	return failed || errors || pins;
}
