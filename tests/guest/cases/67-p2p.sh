# PCI peer-to-peer memory with no hardware: QEMU's ivshmem BAR behind a
# PCIe switch, exported as a dma-buf by VFIO (no-IOMMU mode), registered on
# rxe and moved over RDMA with the data checked through the BAR; ATS on for
# it and off for host memory (rdma resource show mr -dd); the P2P map type
# for a device beside the BAR (bus address) and one across the host bridge;
# revocation on device reset and on close.  Sub-tests report p2p.<name>.
# phyrlab-timeout: 600
. "$(dirname "$0")/../lib.sh"
load_test_exporter || fail "cannot load the test exporter"
bounded 500 p2p_reg -d rxe0 || fail "p2p_reg"
rmmod phyr_test_exporter || fail "the test exporter is still in use"
