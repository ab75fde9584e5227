# NVMe over Fabrics over rxe, target and host in this guest: a
# memory-backed null_blk device exported by nvmet-rdma, connected with
# nvme-rdma, written and read back with O_DIRECT.  nvme-rdma registers
# every I/O that does not fit inline with a fast-registration MR
# (ib_map_mr_sg, IB_WR_REG_MR), so this moves data through rxe's
# fast-registration path.
. "$(dirname "$0")/../lib.sh"
cfg=/sys/kernel/config
mountpoint -q $cfg || mount -t configfs none $cfg || fail "configfs"
[ "$(cat /sys/module/nvme_rdma/parameters/register_always)" = Y ] ||
	fail "nvme_rdma does not register every I/O"

nb=$cfg/nullb/phyr
mkdir $nb || fail "null_blk configfs"
echo 64 > $nb/size			# MiB
echo 1 > $nb/memory_backed
echo 1 > $nb/power || fail "null_blk power on"
# named after the configfs directory, or nullb<index> on older kernels
dev=/dev/phyr
[ -b $dev ] || dev=/dev/nullb$(cat $nb/index)
[ -b "$dev" ] || fail "no block device for $nb"

sub=$cfg/nvmet/subsystems/phyr-test
mkdir $sub || fail "nvmet configfs"
echo 1 > $sub/attr_allow_any_host
mkdir $sub/namespaces/1
echo -n "$dev" > $sub/namespaces/1/device_path
echo 1 > $sub/namespaces/1/enable || fail "namespace enable"
port=$cfg/nvmet/ports/1
mkdir $port
echo rdma > $port/addr_trtype
echo ipv4 > $port/addr_adrfam
echo 192.0.2.1 > $port/addr_traddr
echo 4420 > $port/addr_trsvcid
ln -s $sub $port/subsystems/phyr-test || fail "nvmet-rdma port"

echo "transport=rdma,traddr=192.0.2.1,trsvcid=4420,nqn=phyr-test" \
	> /dev/nvme-fabrics || fail "nvme-rdma connect"
ns=
for i in $(seq 1 50); do
	ns=$(ls /sys/class/nvme/*/ 2>/dev/null | grep -m1 '^nvme[0-9]*c*[0-9]*n1$')
	[ -n "$ns" ] && [ -b /dev/$ns ] && break
	ns=
	sleep 0.2
done
[ -n "$ns" ] || fail "no namespace appeared"
ns=/dev/${ns/c[0-9]*n/n}
[ -b "$ns" ] || ns=$(ls /dev/nvme*n1 | head -1)
echo "connected: $ns"

# 24 MiB of a pattern through the host, in 1 MiB and 4 KiB-unaligned I/Os
head -c $((24 << 20)) /dev/urandom > /tmp/pattern
bounded 300 dd if=/tmp/pattern of="$ns" bs=1M oflag=direct status=none ||
	fail "write to $ns"
bounded 300 dd if="$ns" of=/tmp/back bs=1M count=24 iflag=direct \
	status=none || fail "read from $ns"
cmp /tmp/pattern /tmp/back || fail "data read back over NVMe/RDMA differs"
bounded 300 dd if="$ns" of=/tmp/back2 bs=12k skip=7 count=300 \
	iflag=direct status=none || fail "12 KiB reads"
tail -c +$((7 * 12288 + 1)) /tmp/pattern | head -c $((300 * 12288)) \
	> /tmp/want2
cmp /tmp/want2 /tmp/back2 || fail "12 KiB reads differ"
# the target's memory holds what the host wrote
head -c $((24 << 20)) "$dev" > /tmp/target
cmp /tmp/target /tmp/pattern || fail "null_blk holds something else"

echo 1 > /sys/class/nvme/$(basename "${ns%n1}")/delete_controller 2>/dev/null ||
	for c in /sys/class/nvme/nvme*; do echo 1 > $c/delete_controller; done
rm $port/subsystems/phyr-test
rmdir $port
echo 0 > $sub/namespaces/1/enable
rmdir $sub/namespaces/1 $sub
echo 0 > $nb/power
rmdir $nb
echo "24 MiB written and read back over nvme-rdma on rxe"
