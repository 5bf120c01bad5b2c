#!/usr/bin/env bash
# The hot-path tables (reads, writes, token reads against their floor) at an
# older commit, for before/after tables: default a93e2cd, before issue 21.
#
#   scripts/bench/hot_path_before.sh [--quick] [--commit REV]
#
# Checks REV out in a git worktree under /tmp (never inside the repository),
# copies this checkout's scripts/bench/hot_path*.ts into it (the same harness
# at both commits; hot_path_api.ts absorbs the API differences at run time:
# before issue 21 a write ignores `wantsToken` and `tokenAfterWrite` reads the
# primary's position in a round trip of its own, and DbNode has no
# guardMisses, shown as "—"), links this checkout's node_modules when REV has
# the same package-lock.json (else runs `npm ci` there), and runs
# hot_path_main.ts there on a cluster of its own. The worktree is removed at
# the end. The "after" tables: `npx tsx scripts/bench/hot_path_main.ts` here,
# or this script with --commit HEAD (committed code only).
set -euo pipefail

usage="usage: scripts/bench/hot_path_before.sh [--quick] [--commit REV]  (REV default a93e2cd)"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(git -C "$here" rev-parse --show-toplevel)"
commit=a93e2cd
quick=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=(--quick) ;;
    --commit)
      [ $# -ge 2 ] || { echo "$usage" >&2; exit 2; }
      commit="$2"
      shift
      ;;
    -h | --help) echo "$usage"; exit 0 ;;
    *) echo "unknown argument $1"$'\n'"$usage" >&2; exit 2 ;;
  esac
  shift
done

sha="$(git -C "$repo" rev-parse --verify --quiet "$commit^{commit}")" || {
  echo "no such commit: $commit" >&2
  exit 2
}
wt="$(mktemp -d /tmp/hot-path-before.XXXXXX)"
# As root the cluster runs as the postgres user, who must reach its folder.
chmod 755 "$wt"
cleanup() {
  git -C "$repo" worktree remove --force "$wt" 2>/dev/null || rm -rf "$wt"
  git -C "$repo" worktree prune
}
trap cleanup EXIT

echo "hot path at ${sha:0:7} in $wt" >&2
git -C "$repo" worktree add --detach --quiet "$wt" "$sha"
cp "$here"/hot_path*.ts "$wt/scripts/bench/"
if git -C "$repo" show "$sha:package-lock.json" | cmp -s - "$repo/package-lock.json" &&
  [ -d "$repo/node_modules" ]; then
  ln -s "$repo/node_modules" "$wt/node_modules"
else
  (cd "$wt" && npm ci --no-audit --no-fund)
fi
cd "$wt"
npx tsx scripts/bench/hot_path_main.ts ${quick[@]+"${quick[@]}"}
