# The README's "use it from your own code" examples, built by phyrlab as a
# user would build them (cc NAME.c -libverbs), each run on rxe0: it must
# exit 0, print its "ok" line and leave no page pinned.
. "$(dirname "$0")/../lib.sh"
list=$PHYRLAB_PROGRAMS/readme-examples
[ -s "$list" ] || fail "no README examples were built ($list)"
while read -r name; do
	pins0=$(pin_balance)
	out=$(bounded 120 "$PHYRLAB_PROGRAMS/example-$name" rxe0 2>&1)
	rc=$?
	echo "example $name: $out"
	[ $rc -eq 0 ] || fail "example $name exited with $rc"
	echo "$out" | grep -q ": ok$" || fail "example $name printed no ok line"
	[ "$(pin_balance)" = "$pins0" ] || fail "example $name left pages pinned"
done < "$list"
