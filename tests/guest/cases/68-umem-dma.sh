# ib_umem's DMA side on a device that DMAs (a pci-testdev, through the
# test module): every kind of user memory and udmabufs registered for it,
# the DMA blocks at the best page size checked page by page against the
# device's view.  Here, without an IOMMU, the per-range path
# (dma_map_phys); the IOMMU boot runs the same with one IOVA range per MR
# (tests/guest/iommu-p2p).
. "$(dirname "$0")/../lib.sh"
load_test_exporter || fail "no test exporter"
bounded 300 umem_dma || fail "umem_dma"
rmmod phyr_test_exporter || fail "the test exporter is still in use"
