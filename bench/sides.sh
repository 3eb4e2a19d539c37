# sides.sh, sourced by the side-by-side benchmark scripts: checks out BASE
# (and HEAD, unless it is ".", the working tree) in throwaway worktrees under
# $work, removed on exit, and sets src_base and src_head to their roots.
work="$(mktemp -d)"
cleanup() {
	for s in base head; do git worktree remove --force "$work/$s" >/dev/null 2>&1 || true; done
	rm -rf "$work"
}
trap cleanup EXIT
src_base="$work/base"
git worktree add --detach "$src_base" "$BASE" >/dev/null 2>&1
if [ "$HEAD" = . ]; then
	src_head="$PWD"
else
	src_head="$work/head"
	git worktree add --detach "$src_head" "$HEAD" >/dev/null 2>&1
fi
