#!/bin/sh
# Builds the Waybill registry contract and its Go bindings from
# WaybillRegistry.sol, with the solc pinned in package-lock.json and the
# abigen of the go-ethereum version in go.mod:
#
#   sync/anchor/contract/build.sh           rewrite the committed outputs
#   sync/anchor/contract/build.sh --check   build into a temporary directory
#                                           and fail if the committed outputs
#                                           differ from the build (for CI)
#
# Outputs: sync/anchor/contract/WaybillRegistry.abi.json and .bin, and
# sync/anchor/registry/registry.go. The npm packages go to build/contract
# (git-ignored with the rest of build/), abigen to build/abigen.
# EVM_VERSION overrides package.json's config.evmVersion (paris).
set -eu

root=$(cd "$(dirname "$0")/../../.." && pwd)
contract=$root/sync/anchor/contract
registry=$root/sync/anchor/registry
build=$root/build
npmdir=$build/contract
abigen=$build/abigen

check=false
case "${1:-}" in
"") ;;
--check) check=true ;;
*)
	echo "usage: $0 [--check]" >&2
	exit 2
	;;
esac

command -v node >/dev/null 2>&1 || { echo "build.sh: node is required (Debian: apt-get install nodejs npm)" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "build.sh: npm is required (Debian: apt-get install npm)" >&2; exit 1; }

# 1. The pinned compiler, installed from the lock file into build/contract.
mkdir -p "$npmdir"
if ! cmp -s "$contract/package-lock.json" "$npmdir/package-lock.json" ||
	! cmp -s "$contract/package.json" "$npmdir/package.json" ||
	[ ! -f "$npmdir/node_modules/solc/package.json" ]; then
	cp "$contract/package.json" "$contract/package-lock.json" "$npmdir/"
	(cd "$npmdir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi

# 2. abigen at the go-ethereum version the module requires.
gethver=$(cd "$root" && go list -m -f '{{.Version}}' github.com/ethereum/go-ethereum)
if ! "$abigen" --version 2>/dev/null | grep -q "version ${gethver#v}"; then
	echo "installing abigen $gethver into $build"
	GOBIN="$build" go install "github.com/ethereum/go-ethereum/cmd/abigen@$gethver"
fi

# 3. Compile and generate.
if $check; then
	out=$(mktemp -d)
	trap 'rm -rf "$out"' EXIT
	outgo=$out
else
	out=$contract
	outgo=$registry
fi
NODE_PATH="$npmdir/node_modules" node "$contract/compile.js" --out "$out"
"$abigen" --v2 --abi "$out/WaybillRegistry.abi.json" --bin "$out/WaybillRegistry.bin" \
	--pkg registry --type WaybillRegistry --out "$outgo/registry.go"
chmod 644 "$outgo/registry.go" # abigen writes 0600

if $check; then
	status=0
	for f in WaybillRegistry.abi.json WaybillRegistry.bin; do
		cmp -s "$out/$f" "$contract/$f" || { echo "build.sh: sync/anchor/contract/$f is not what WaybillRegistry.sol compiles to" >&2; status=1; }
	done
	cmp -s "$outgo/registry.go" "$registry/registry.go" || { echo "build.sh: sync/anchor/registry/registry.go is not what abigen generates" >&2; status=1; }
	if [ $status -ne 0 ]; then
		echo "build.sh: run sync/anchor/contract/build.sh (make contracts) and commit the result" >&2
		exit 1
	fi
	echo "build.sh: committed ABI, bytecode and bindings are up to date"
fi
