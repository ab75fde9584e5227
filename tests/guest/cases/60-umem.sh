# ibv_reg_mr over anonymous, THP, hugetlbfs and memfd memory (shmem, huge
# shmem, hugetlbfs), 1 byte to 1 GiB, fork, munmap, races and bad input;
# each sub-test reports its own PHYRLAB-TEST line as umem.<name>.
# phyrlab-timeout: 1500
. "$(dirname "$0")/../lib.sh"
bounded 1500 umem_reg -d rxe0 || fail "umem_reg"
