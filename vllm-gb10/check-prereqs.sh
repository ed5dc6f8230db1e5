#!/usr/bin/env bash
# Check that this host can build and/or run the GB10 vLLM image.
# Read-only: it never changes anything on the host.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_build_env   # pins and lab facts (model share, trial name and port) from build.env

usage() {
    cat <<EOF
Usage: $(basename "$0") [--for build|run|all] [--models-dir DIR] [--min-free-gb N]

Check the prerequisites of the vllm-gb10 kit on this host and print one line
per check ([ OK ], [WARN], [FAIL] with a hint). Read-only.

Options:
  --for build|run|all  which prerequisites to check (default: all)
                         build: docker engine, host arch, free disk, memory
                         run:   docker engine + NVIDIA runtime, nvidia-smi shows
                                a GPU covered by TORCH_CUDA_ARCH_LIST, NFS model
                                mount, free disk, curl, image present
  --models-dir DIR     NFS model mount to check (default: $MODELS_DIR)
  --min-free-gb N      required free disk in GB (default: $DEFAULT_BUILD_MIN_FREE_GB
                       for build/all, $DEFAULT_RUN_MIN_FREE_GB for run)
  -h, --help           show this help

Build parameters come from build.env (generated from data/systems.yaml);
set BUILD_ENV_FILE to use another file.

Exit status: 0 all checks passed (warnings allowed), 1 a check failed,
2 usage error.
EOF
}

WHAT=all
MIN_FREE_GB=""

while (( $# > 0 )); do
    case "$1" in
        --for)
            [[ $# -ge 2 ]] || usage_error "--for needs a value"
            WHAT="$2"
            shift 2
            ;;
        --models-dir)
            [[ $# -ge 2 ]] || usage_error "--models-dir needs a value"
            MODELS_DIR="$2"
            shift 2
            ;;
        --min-free-gb)
            [[ $# -ge 2 ]] || usage_error "--min-free-gb needs a value"
            MIN_FREE_GB="$2"
            shift 2
            ;;
        -h|--help)
            usage
            exit 0
            ;;
        *)
            usage_error "unknown argument: $1"
            ;;
    esac
done

case "$WHAT" in
    build|all) MIN_FREE_GB="${MIN_FREE_GB:-$DEFAULT_BUILD_MIN_FREE_GB}" ;;
    run)       MIN_FREE_GB="${MIN_FREE_GB:-$DEFAULT_RUN_MIN_FREE_GB}" ;;
    *)         usage_error "--for must be build, run or all (got '$WHAT')" ;;
esac
[[ "$MIN_FREE_GB" =~ ^[0-9]+$ ]] || usage_error "--min-free-gb must be a whole number of GB"

CHECK_FD=1

echo "Checking '$WHAT' prerequisites for $IMAGE (vLLM $VLLM_REF, TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST, models: $MODELS_DIR)"
run_checks "$WHAT"

echo
if (( CHECK_FAILS > 0 )); then
    echo "RESULT: $CHECK_FAILS check(s) failed, $CHECK_WARNS warning(s)."
    exit 1
fi
echo "RESULT: all checks passed ($CHECK_WARNS warning(s))."
