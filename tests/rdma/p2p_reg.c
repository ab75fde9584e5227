// SPDX-License-Identifier: GPL-2.0
/*
 * PCI peer-to-peer memory through rxe, with no hardware: the lab's QEMU
 * puts a RAM-backed BAR (ivshmem) behind a PCIe switch; VFIO exports it as
 * a dma-buf, rxe registers it with ibv_reg_dmabuf_mr, and data moved over
 * RDMA is checked through the BAR itself.  Also: ATS reported for the BAR
 * MR and not for host memory, how a device beside the BAR and one across
 * the host bridge would map it, and revocation when the device is reset or
 * closed.
 *
 *   p2p_reg [-d dev] [test...]
 *
 * Needs phyrlab's P2P devices (phyrlab run --p2p), VFIO in no-IOMMU mode
 * (or an IOMMU), and /dev/phyr_test_exporter for the map-type probe.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/udmabuf.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memkind.h"
#include "rdmatest.h"
#include "../kmod/phyr_test_exporter.h"

#define ACCESS_ALL (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
		    IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)
#define PCI_DEVS "/sys/bus/pci/devices"
#define BAR_IOVA 0x6000000000ull

static struct rt_dev dev;
static struct ibv_qp *qa, *qb;
static uint8_t *lbuf;
static struct ibv_mr *lmr;
#define LBUF_LEN (4 * MiB)

/* The P2P source and the two devices that would reach it. */
static char src_bdf[32], beside_bdf[32], across_bdf[32];
static int container = -1, group = -1, device = -1, buf_fd = -1;
static int iommu;	/* VFIO with a real IOMMU group, not no-IOMMU mode */
static volatile uint8_t *bar;	/* the BAR, mapped through VFIO */
static size_t bar_len;

/* ---- PCI and VFIO ---- */

static int hex_attr(const char *bdf, const char *attr)
{
	char path[PATH_MAX];
	unsigned int v = 0;
	FILE *f;

	snprintf(path, sizeof(path), PCI_DEVS "/%s/%s", bdf, attr);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%x", &v) != 1)
		v = 0;
	fclose(f);
	return (int)v;
}

/* The sysfs path of a device's upstream bridge's upstream bridge. */
static void grandparent(const char *bdf, char *out, size_t n)
{
	char path[PATH_MAX], real[PATH_MAX], *p;

	snprintf(path, sizeof(path), PCI_DEVS "/%s", bdf);
	if (!realpath(path, real)) {
		*out = 0;
		return;
	}
	p = strrchr(real, '/');
	if (p)
		*p = 0;
	p = strrchr(real, '/');
	if (p)
		*p = 0;
	snprintf(out, n, "%s", real);
}

/*
 * ivshmem (1af4:1110) is the P2P source; of the two pci-testdev (1b36:0005)
 * the one under the same switch port pair is beside it, the other across
 * the host bridge.
 */
static int find_devices(void)
{
	char gp_src[PATH_MAX], gp[PATH_MAX];
	char test[2][32] = { "", "" };
	struct dirent *e;
	DIR *d = opendir(PCI_DEVS);
	int nt = 0, i;

	if (!d)
		return rt_fail(errno, PCI_DEVS);
	while ((e = readdir(d))) {
		int vendor, device_id;

		if (e->d_name[0] == '.')
			continue;
		vendor = hex_attr(e->d_name, "vendor");
		device_id = hex_attr(e->d_name, "device");
		/* PCI addresses ("0000:03:00.0") fit in 32 bytes */
		if (strlen(e->d_name) >= sizeof(src_bdf))
			continue;
		if (vendor == 0x1af4 && device_id == 0x1110)
			strcpy(src_bdf, e->d_name);
		else if (vendor == 0x1b36 && device_id == 0x0005 && nt < 2)
			strcpy(test[nt++], e->d_name);
	}
	closedir(d);
	if (!*src_bdf || nt != 2)
		return rt_fail(0, "no P2P devices (ivshmem and two pci-testdev): "
			       "boot with phyrlab run --p2p");
	grandparent(src_bdf, gp_src, sizeof(gp_src));
	for (i = 0; i < 2; i++) {
		grandparent(test[i], gp, sizeof(gp));
		snprintf(!strcmp(gp, gp_src) ? beside_bdf : across_bdf,
			 sizeof(beside_bdf), "%s", test[i]);
	}
	if (!*beside_bdf || !*across_bdf)
		return rt_fail(0, "cannot tell the test devices apart");
	printf("  P2P source %s, beside it %s, across the host bridge %s\n",
	       src_bdf, beside_bdf, across_bdf);
	return 0;
}

static int bind_vfio(void)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), PCI_DEVS "/%s/driver_override", src_bdf);
	if (write_file(path, "vfio-pci"))
		return rt_fail(errno, "%s", path);
	write_file("/sys/bus/pci/drivers_probe", src_bdf);
	snprintf(path, sizeof(path), PCI_DEVS "/%s/driver", src_bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0 || (link[n] = 0, !strstr(link, "vfio-pci")))
		return rt_fail(0, "%s is not bound to vfio-pci", src_bdf);
	return 0;
}

static int open_vfio(void)
{
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	char path[PATH_MAX], link[PATH_MAX], *grp;
	const char *mode;
	int noiommu;
	ssize_t n;

	snprintf(path, sizeof(path), PCI_DEVS "/%s/iommu_group", src_bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return rt_fail(errno, "%s", path);
	link[n] = 0;
	grp = strrchr(link, '/') + 1;
	snprintf(path, sizeof(path), "/dev/vfio/%s", grp);
	noiommu = access(path, F_OK) != 0;
	if (noiommu)
		snprintf(path, sizeof(path), "/dev/vfio/noiommu-%s", grp);
	mode = noiommu ? "no-IOMMU" : "IOMMU";
	iommu = !noiommu;
	container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	group = open(path, O_RDWR | O_CLOEXEC);
	if (container < 0 || group < 0)
		return rt_fail(errno, "open /dev/vfio/vfio or %s", path);
	if (ioctl(group, VFIO_GROUP_GET_STATUS, &gs) ||
	    !(gs.flags & VFIO_GROUP_FLAGS_VIABLE))
		return rt_fail(errno, "VFIO group %s not viable", grp);
	if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container))
		return rt_fail(errno, "VFIO_GROUP_SET_CONTAINER (%s)", mode);
	if (ioctl(container, VFIO_SET_IOMMU,
		  noiommu ? VFIO_NOIOMMU_IOMMU : VFIO_TYPE1v2_IOMMU))
		return rt_fail(errno, "VFIO_SET_IOMMU (%s)", mode);
	device = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, src_bdf);
	if (device < 0)
		return rt_fail(errno, "VFIO_GROUP_GET_DEVICE_FD %s", src_bdf);
	printf("  VFIO %s group %s, device fd %d\n", mode, grp, device);
	return 0;
}

static int map_bar(void)
{
	struct vfio_region_info ri = { .argsz = sizeof(ri),
				       .index = VFIO_PCI_BAR2_REGION_INDEX };

	if (ioctl(device, VFIO_DEVICE_GET_REGION_INFO, &ri))
		return rt_fail(errno, "VFIO_DEVICE_GET_REGION_INFO BAR2");
	if (!(ri.flags & VFIO_REGION_INFO_FLAG_MMAP))
		return rt_fail(0, "BAR2 cannot be mmapped");
	bar_len = ri.size;
	bar = mmap(NULL, bar_len, PROT_READ | PROT_WRITE, MAP_SHARED, device,
		   (off_t)ri.offset);
	if (bar == MAP_FAILED)
		return rt_fail(errno, "mmap BAR2");
	return 0;
}

/* The whole BAR as a dma-buf (VFIO_DEVICE_FEATURE_DMA_BUF). */
static int bar_dmabuf(void)
{
	struct {
		struct vfio_device_feature f;
		struct vfio_device_feature_dma_buf d;
		struct vfio_region_dma_range r;
	} req = {};
	int fd;

	req.f.argsz = sizeof(req);
	req.f.flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_BUF;
	req.d.region_index = VFIO_PCI_BAR2_REGION_INDEX;
	req.d.open_flags = O_RDWR | O_CLOEXEC;
	req.d.nr_ranges = 1;
	req.r.offset = 0;
	req.r.length = bar_len;
	fd = ioctl(device, VFIO_DEVICE_FEATURE, &req);
	if (fd < 0)
		return rt_fail(errno, "VFIO_DEVICE_FEATURE_DMA_BUF");
	return fd;
}

/* ---- RDMA ---- */

/* One RDMA op from the plain MR, which must succeed. */
static int rdma(enum ibv_wr_opcode op, void *local, uint32_t len,
		uint64_t remote, uint32_t rkey)
{
	return rt_rdma(&dev, qa, op, local, len, lmr->lkey, remote, rkey);
}

static void bar_read(size_t off, void *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		((uint8_t *)p)[i] = bar[off + i];
}

static void bar_write(size_t off, const void *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		bar[off + i] = ((const uint8_t *)p)[i];
}

/* WRITE into the BAR MR and READ from it, checked through the BAR. */
static int check_bar(struct ibv_mr *mr, size_t off, size_t len, uint32_t seed)
{
	uint8_t *back = lbuf + LBUF_LEN / 2;
	long at;

	rt_fill(lbuf, len, seed);
	if (rdma(IBV_WR_RDMA_WRITE, lbuf, (uint32_t)len, BAR_IOVA + off,
		 mr->rkey))
		return -1;
	bar_read(off, back, len);
	at = rt_check(back, len, seed);
	if (at >= 0)
		return rt_fail(0, "WRITE of %zu bytes at BAR offset %zu: the "
			       "BAR differs at byte %ld", len, off, at);
	rt_fill(back, len, seed + 1);
	bar_write(off, back, len);
	memset(lbuf, 0, len);
	if (rdma(IBV_WR_RDMA_READ, lbuf, (uint32_t)len, BAR_IOVA + off,
		 mr->rkey))
		return -1;
	at = rt_check(lbuf, len, seed + 1);
	if (at >= 0)
		return rt_fail(0, "READ of %zu bytes at BAR offset %zu: "
			       "mismatch at byte %ld", len, off, at);
	return 0;
}

static int check_bar_atomic(struct ibv_mr *mr, size_t off)
{
	struct ibv_sge sge = { .addr = (uintptr_t)lbuf, .length = 8,
			       .lkey = lmr->lkey };
	struct ibv_send_wr wr = { .wr_id = 9, .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_ATOMIC_FETCH_AND_ADD };
	uint64_t v = 1000, *res = (uint64_t *)lbuf;
	enum ibv_wc_status st;

	bar_write(off, &v, 8);
	wr.wr.atomic.remote_addr = BAR_IOVA + off;
	wr.wr.atomic.rkey = mr->rkey;
	wr.wr.atomic.compare_add = 24;
	if (rt_send_status(&dev, qa, &wr, &st))
		return -1;
	bar_read(off, &v, 8);
	if (st != IBV_WC_SUCCESS || *res != 1000 || v != 1024)
		return rt_fail(0, "FETCH_ADD on the BAR: %s, returned %" PRIu64
			       ", BAR holds %" PRIu64, ibv_wc_status_str(st),
			       *res, v);
	return 0;
}

/* The BAR MR as the local side of a WRITE into host memory. */
static int check_bar_local(struct ibv_mr *mr, size_t off, size_t len)
{
	uint8_t *remote = lbuf + LBUF_LEN / 2, tmp[8192];
	enum ibv_wc_status st;

	rt_fill(tmp, len, 77);
	bar_write(off, tmp, len);
	memset(remote, 0, len);
	if (rt_rdma_status(&dev, qa, IBV_WR_RDMA_WRITE,
			   (void *)(uintptr_t)(BAR_IOVA + off), (uint32_t)len,
			   mr->lkey, (uintptr_t)remote, lmr->rkey, &st))
		return -1;
	if (st != IBV_WC_SUCCESS || rt_check(remote, len, 77) >= 0)
		return rt_fail(0, "WRITE from the BAR MR: %s",
			       ibv_wc_status_str(st));
	return 0;
}

static struct ibv_mr *reg_bar(void)
{
	struct ibv_mr *mr = ibv_reg_dmabuf_mr(dev.pd, 0, bar_len, BAR_IOVA,
					      buf_fd, ACCESS_ALL);

	if (!mr)
		rt_fail(errno, "ibv_reg_dmabuf_mr of the BAR dma-buf");
	return mr;
}

/* ---- tests ---- */

static int t_rdma_bar(void)
{
	struct ibv_mr *mr = reg_bar();
	int ret;

	if (!mr)
		return -1;
	ret = check_bar(mr, 0, 64 * KiB, 1) ||
	      check_bar(mr, bar_len - 64 * KiB, 64 * KiB, 2) ||
	      check_bar(mr, 4093, 10000, 3) ||
	      check_bar(mr, bar_len / 2, MiB, 4) ||
	      check_bar_atomic(mr, 4096 + 8) ||
	      check_bar_local(mr, 12345, 8000);
	if (ibv_dereg_mr(mr))
		ret = rt_fail(errno, "ibv_dereg_mr");
	return ret;
}

/* Bytes of kernel address space in ioremap mappings (/proc/vmallocinfo). */
static long ioremap_bytes(void)
{
	FILE *f = fopen("/proc/vmallocinfo", "r");
	char line[512];
	long total = 0, n;

	if (!f)
		return rt_fail(errno, "open /proc/vmallocinfo");
	while (fgets(line, sizeof(line), f))
		if (strstr(line, " ioremap") &&
		    sscanf(line, "%*s %ld", &n) == 1)
			total += n;
	fclose(f);
	return total;
}

/*
 * Small MRs on one large BAR: rxe maps for the CPU only the window each MR
 * covers, not the BAR each (64 MiB here); data lands at the window's
 * offset in the BAR, through a mapping that starts inside the BAR.
 */
static int t_bar_window(void)
{
	enum { NR = 16, LEN = 8192 };
	struct ibv_mr *mr[NR] = {};
	long before, after;
	int i, ret = 0;

	before = ioremap_bytes();
	for (i = 0; i < NR && !ret; i++) {
		size_t off = (size_t)i * (bar_len / NR) + 4096 * i + 100;

		mr[i] = ibv_reg_dmabuf_mr(dev.pd, off, LEN, BAR_IOVA + off,
					  buf_fd, ACCESS_ALL);
		if (!mr[i])
			ret = rt_fail(errno, "ibv_reg_dmabuf_mr of %d bytes at "
				      "BAR offset %zu", LEN, off);
	}
	after = ioremap_bytes();
	if (!ret)
		printf("  %d MRs of %d bytes: ioremap space %ld -> %ld bytes\n",
		       NR, LEN, before, after);
	/* each: its pages (3 when unaligned) and a guard page */
	if (!ret && (before < 0 || after - before > NR * 4 * 4096L))
		ret = rt_fail(0, "%d MRs of %d bytes took %ld bytes of ioremap "
			      "space (BAR: %zu bytes)", NR, LEN,
			      after - before, bar_len);
	for (i = 0; i < NR && !ret; i++) {
		size_t off = (size_t)i * (bar_len / NR) + 4096 * i + 100;

		ret = check_bar(mr[i], off, LEN, 300 + i);
	}
	for (i = 0; i < NR; i++)
		if (mr[i] && ibv_dereg_mr(mr[i]))
			ret = rt_fail(errno, "ibv_dereg_mr");
	if (!ret && ioremap_bytes() > before)
		ret = rt_fail(0, "ioremap space left after dereg: %ld bytes",
			      ioremap_bytes() - before);
	return ret;
}

/* ATS where P2P memory is: on for the BAR MR, off for host memory. */
static int t_ats(void)
{
	struct ibv_mr *mr = reg_bar(), *umr = NULL;
	char a_bar[16], a_plain[16], a_udma[16] = "-";
	struct udmabuf_create c = { .flags = UDMABUF_FLAGS_CLOEXEC,
				    .size = 2 * MiB };
	struct region r;
	int udev, ufd = -1, ret;

	if (!mr)
		return -1;
	udev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	if (udev >= 0 && !region_map(&r, MEMFD_SHMEM, 2 * MiB) &&
	    !fcntl(r.fd, F_ADD_SEALS, F_SEAL_SHRINK)) {
		c.memfd = r.fd;
		ufd = ioctl(udev, UDMABUF_CREATE, &c);
		if (ufd >= 0)
			umr = ibv_reg_dmabuf_mr(dev.pd, 0, 2 * MiB, 0, ufd,
						ACCESS_ALL);
	}
	ret = !umr ? rt_fail(errno, "udmabuf MR") :
	      rt_mr_attr(mr->rkey, "ats", a_bar, sizeof(a_bar)) ||
	      rt_mr_attr(lmr->rkey, "ats", a_plain, sizeof(a_plain)) ||
	      rt_mr_attr(umr->rkey, "ats", a_udma, sizeof(a_udma));
	printf("  ats: BAR dma-buf MR %s, plain MR %s, udmabuf MR %s\n",
	       a_bar, a_plain, a_udma);
	if (!ret && (strcmp(a_bar, "on") || strcmp(a_plain, "off") ||
		     strcmp(a_udma, "off")))
		ret = rt_fail(0, "ATS must be on for P2P memory only");
	if (umr)
		ibv_dereg_mr(umr);
	if (ufd >= 0)
		close(ufd);
	if (udev >= 0) {
		close(udev);
		region_unmap(&r);
	}
	ibv_dereg_mr(mr);
	return ret;
}

static int probe(int pte, const char *bdf, struct pte_p2p_probe *p)
{
	unsigned int dom, bus, slot, fn;

	if (sscanf(bdf, "%x:%x:%x.%x", &dom, &bus, &slot, &fn) != 4)
		return rt_fail(0, "bad BDF %s", bdf);
	memset(p, 0, sizeof(*p));
	p->fd = buf_fd;
	p->client = dom << 16 | bus << 8 | slot << 3 | fn;
	if (ioctl(pte, PTE_IOC_P2P_PROBE, p))
		return rt_fail(errno, "PTE_IOC_P2P_PROBE for %s", bdf);
	return 0;
}

/*
 * What the topology implies for a device on the root bus reaching the BAR
 * behind the switch: through the host bridge when the kernel trusts it
 * (drivers/pci/p2pdma.c: an AMD CPU of family 0x17 or newer, or a host
 * bridge on its whitelist; only the entries that a devfn 00.0 host bridge
 * can match are listed here), else not at all.
 */
static uint32_t across_expected(void)
{
	static const unsigned int intel_bridges[] = {
		0x3c00, 0x3c01, 0x2f00, 0x2f01, 0x2030, 0x2031, 0x2032,
		0x2033, 0x2020, 0x09a2,
	};
	long vendor = -1, device = -1, family = -1;
	char line[256], cpu_vendor[64] = "";
	unsigned int i;
	FILE *f;

	f = fopen("/proc/cpuinfo", "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (!cpu_vendor[0])
			sscanf(line, "vendor_id : %63s", cpu_vendor);
		if (family < 0)
			sscanf(line, "cpu family : %ld", &family);
	}
	if (f)
		fclose(f);
	if (!strcmp(cpu_vendor, "AuthenticAMD") && family >= 0x17)
		return PTE_MAP_THRU_HOST_BRIDGE;
	f = fopen("/sys/bus/pci/devices/0000:00:00.0/vendor", "r");
	if (f && fscanf(f, "%li", &vendor) != 1)
		vendor = -1;
	if (f)
		fclose(f);
	f = fopen("/sys/bus/pci/devices/0000:00:00.0/device", "r");
	if (f && fscanf(f, "%li", &device) != 1)
		device = -1;
	if (f)
		fclose(f);
	printf("  CPU %s family %ld, host bridge %04lx:%04lx\n", cpu_vendor,
	       family, vendor, device);
	if (vendor == 0x1ae0)	/* Google */
		return PTE_MAP_THRU_HOST_BRIDGE;
	for (i = 0; vendor == 0x8086 && i < sizeof(intel_bridges) /
	     sizeof(intel_bridges[0]); i++)
		if (device == intel_bridges[i])
			return PTE_MAP_THRU_HOST_BRIDGE;
	return PTE_MAP_NOT_SUPPORTED;
}

static const char *map_name(uint32_t t)
{
	return t == PTE_MAP_BUS_ADDR ? "bus address" :
	       t == PTE_MAP_THRU_HOST_BRIDGE ? "through the host bridge" :
	       t == PTE_MAP_NOT_SUPPORTED ? "not supported" : "none";
}

/*
 * How a device would DMA to the BAR, through the phyr mapping of a list
 * that mixes host pages with the BAR's range: beside the BAR, by PCI bus
 * address with the host pages mapped as usual; across the host bridge,
 * through it or refused, as the bridge allows.
 */
static int t_map_types(void)
{
	struct pte_p2p_probe b, a;
	int pte = open("/dev/phyr_test_exporter", O_RDWR | O_CLOEXEC);
	uint32_t want;

	if (pte < 0)
		return rt_fail(errno, "/dev/phyr_test_exporter");
	if (probe(pte, beside_bdf, &b) || probe(pte, across_bdf, &a)) {
		close(pte);
		return -1;
	}
	close(pte);
	printf("  list of the BAR: %u range(s), %u P2P, cache meta %u "
	       "(1 = write-combined)\n", b.nr_ranges, b.p2p_ranges, b.cache);
	printf("  beside (%s): %s; mapped %d; BAR at phys %#" PRIx64
	       " -> dma %#" PRIx64 " (bus %#" PRIx64 "); host pages %u/%u "
	       "direct, %s\n", beside_bdf, map_name(b.map_type), b.map_err,
	       (uint64_t)b.p2p_phys, (uint64_t)b.p2p_dma, (uint64_t)b.p2p_bus,
	       b.cpu_direct, b.cpu_ranges,
	       b.cpu_iova ? "in one IOVA range" : "no IOVA range");
	printf("  across (%s): %s; mapped %d (%s)\n", across_bdf,
	       map_name(a.map_type), a.map_err, strerror(-a.map_err));
	if (b.p2p_ranges != 1 || b.cache != 1)
		return rt_fail(0, "the BAR's list must be one P2P range, "
			       "write-combined (prefetchable BAR)");
	/*
	 * The BAR by bus address, without IOVA; the host pages beside it as
	 * usual: at their physical addresses without an IOMMU, linked into
	 * one IOVA range with one.
	 */
	if (b.map_type != PTE_MAP_BUS_ADDR || b.map_err ||
	    b.p2p_dma != b.p2p_bus || b.cpu_ranges != 2 ||
	    (iommu ? !b.cpu_iova : b.cpu_direct != b.cpu_ranges))
		return rt_fail(0, "beside the BAR: want a bus address, and the "
			       "host pages %s", iommu ? "in one IOVA range" :
			       "at their physical addresses");
	want = across_expected();
	if (a.map_type != want ||
	    (want == PTE_MAP_NOT_SUPPORTED ? a.map_err != -EREMOTEIO :
	     a.map_err != 0))
		return rt_fail(0, "across the host bridge: want %s%s, got %s "
			       "(mapped %d)", map_name(want),
			       want == PTE_MAP_NOT_SUPPORTED ?
			       ", refused with EREMOTEIO" : "",
			       map_name(a.map_type), a.map_err);
	return 0;
}

/*
 * A device reset revokes the dma-buf while it lasts: rxe drops its mapping
 * of the BAR, and maps it again once VFIO allows it.
 */
static int t_reset(void)
{
	struct ibv_mr *mr = reg_bar();
	char before[16], after[16];
	int ret;

	if (!mr)
		return -1;
	ret = check_bar(mr, 8192, 32 * KiB, 20) ||
	      rt_mr_attr(mr->rkey, "maps", before, sizeof(before));
	if (!ret && ioctl(device, VFIO_DEVICE_RESET))
		ret = rt_fail(errno, "VFIO_DEVICE_RESET");
	if (!ret)
		ret = check_bar(mr, 8192, 32 * KiB, 22) ||
		      check_bar_atomic(mr, 64) ||
		      rt_mr_attr(mr->rkey, "maps", after, sizeof(after));
	if (!ret)
		printf("  BAR mapped %s time(s) before the reset, %s after\n",
		       before, after);
	/* revoked during the reset, mapped again at the next access */
	if (!ret && atoi(after) != atoi(before) + 1)
		ret = rt_fail(0, "the MR was not mapped again after the reset");
	if (ibv_dereg_mr(mr))
		ret = rt_fail(errno, "ibv_dereg_mr");
	return ret;
}

/*
 * Closing the VFIO device revokes the dma-buf for good: traffic completes
 * in error, the BAR is no longer touched, and dereg still cleans up.
 */
static int t_revoke_on_close(void)
{
	enum ibv_wc_status st;
	struct ibv_mr *mr = reg_bar();
	int ret;

	if (!mr)
		return -1;
	ret = check_bar(mr, 0, 16 * KiB, 30);
	munmap((void *)bar, bar_len);
	bar = NULL;
	close(device);
	device = -1;
	if (!ret && rt_rdma_status(&dev, qa, IBV_WR_RDMA_WRITE, lbuf, 4096,
				   lmr->lkey, BAR_IOVA, mr->rkey, &st))
		ret = -1;
	if (!ret && st == IBV_WC_SUCCESS)
		ret = rt_fail(0, "WRITE into a revoked BAR succeeded");
	if (!ret)
		printf("  after close: WRITE %s\n", ibv_wc_status_str(st));
	if (ibv_dereg_mr(mr))
		ret = rt_fail(errno, "ibv_dereg_mr");
	if (rt_reconnect(&dev, &qa, &qb))
		ret = -1;
	return ret;
}

struct test {
	const char *name;
	int (*fn)(void);
};

static const struct test tests[] = {
	{ "rdma-bar", t_rdma_bar },
	{ "bar-window", t_bar_window },
	{ "ats", t_ats },
	{ "map-types", t_map_types },
	{ "reset", t_reset },
	{ "revoke-on-close", t_revoke_on_close },
};

int main(int argc, char **argv)
{
	const char *devname = NULL;
	int i, j, opt, failed = 0, setup;

	while ((opt = getopt(argc, argv, "d:")) != -1) {
		if (opt != 'd') {
			fprintf(stderr, "usage: p2p_reg [-d dev] [test...]\n");
			return 2;
		}
		devname = optarg;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	setup = find_devices() || bind_vfio() || open_vfio() || map_bar() ||
		(buf_fd = bar_dmabuf()) < 0;
	if (!setup)
		printf("  BAR2 of %s: %zu bytes, dma-buf fd %d\n", src_bdf,
		       bar_len, buf_fd);
	if (rt_open(&dev, devname) || rt_reconnect(&dev, &qa, &qb))
		return 1;
	lbuf = mmap(NULL, LBUF_LEN, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	lmr = lbuf == MAP_FAILED ? NULL :
	      ibv_reg_mr(dev.pd, lbuf, LBUF_LEN, ACCESS_ALL);
	if (!lmr)
		return rt_fail(errno, "local MR") ? 1 : 1;
	for (i = 0; i < (int)(sizeof(tests) / sizeof(tests[0])); i++) {
		int wanted = optind == argc, ret;

		for (j = optind; j < argc; j++)
			wanted |= !strcmp(argv[j], tests[i].name);
		if (!wanted)
			continue;
		printf("p2p.%s\n", tests[i].name);
		ret = setup ? -1 : tests[i].fn();
		printf("PHYRLAB-TEST: p2p.%s %s\n", tests[i].name,
		       ret ? "FAIL" : "PASS");
		failed += !!ret;
	}
	if (buf_fd >= 0)
		close(buf_fd);
	if (device >= 0)
		close(device);
	ibv_dereg_mr(lmr);
	ibv_destroy_qp(qa);
	ibv_destroy_qp(qb);
	rt_close(&dev);
	return failed ? 1 : 0;
}
