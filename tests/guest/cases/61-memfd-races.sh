# ibv_reg_mr of memfd memory (the memfd_pin_folios() path) racing munmap +
# F_SEAL_WRITE, mprotect, userfaultfd registration and ftruncate; SIGKILL
# during a 1 GiB registration (memfd, and GUP as the control); bad memfd
# input. Each sub-test reports its own PHYRLAB-TEST line as memfd.<name>.
# phyrlab-timeout: 900
. "$(dirname "$0")/../lib.sh"
# memfd_race reserves the hugetlb pages it needs and sets shmem THP to
# "never" while it runs; put both back even if it is killed
thp=/sys/kernel/mm/transparent_hugepage/shmem_enabled
hugepages=$(cat /proc/sys/vm/nr_hugepages)
shmem_thp=$(sed -n 's/.*\[\(.*\)\].*/\1/p' "$thp" 2>/dev/null)
bounded 840 memfd_race -d rxe0
rc=$?
echo "$hugepages" > /proc/sys/vm/nr_hugepages
[ -n "$shmem_thp" ] && echo "$shmem_thp" > "$thp"
[ "$rc" -eq 0 ] || fail "memfd_race"
