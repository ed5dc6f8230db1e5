#!/usr/bin/env bash
# Build the GB10 vLLM image from Dockerfile.gb10 with the pins in build.env.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<EOF
Usage: $(basename "$0") [--dry-run] [--pull] [--no-cache] [--min-free-gb N] [--skip-checks]

Build the vLLM image for NVIDIA GB10 (aarch64, sm_121) from Dockerfile.gb10.
Every pin (VLLM_REF, BASE_IMAGE, TORCH_CUDA_ARCH_LIST, MAX_JOBS, PLATFORM and the
resulting IMAGE tag) comes from build.env, generated from data/systems.yaml.
Building is additive: it never stops, removes or prunes anything.
Expect 45-90 minutes on a GB10; run it inside tmux.

Options:
  --dry-run          run the read-only prerequisite checks as warnings and
                     print the docker commands instead of running them
  --pull             always pull a newer BASE_IMAGE before building
  --no-cache         build without the docker layer cache
  --min-free-gb N    required free disk in GB (default: $DEFAULT_BUILD_MIN_FREE_GB)
  --skip-checks      skip the prerequisite checks (docker engine, arch, disk, memory)
  -h, --help         show this help

Environment:
  BUILD_ENV_FILE     use another generated parameters file (default: build.env)

Exit status: 0 built (or printed), 1 failure, 2 usage error.
EOF
}

PULL=0
NO_CACHE=0
SKIP_CHECKS=0
MIN_FREE_GB="$DEFAULT_BUILD_MIN_FREE_GB"

while (( $# > 0 )); do
    case "$1" in
        --dry-run)     DRY_RUN=1; shift ;;
        --pull)        PULL=1; shift ;;
        --no-cache)    NO_CACHE=1; shift ;;
        --skip-checks) SKIP_CHECKS=1; shift ;;
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
[[ "$MIN_FREE_GB" =~ ^[0-9]+$ ]] || usage_error "--min-free-gb must be a whole number of GB"

load_build_env

log "Image:        $IMAGE ($PLATFORM)"
log "vLLM ref:     $VLLM_REF"
log "Base image:   $BASE_IMAGE"
log "CUDA archs:   TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST"
log "Parallelism:  MAX_JOBS=$MAX_JOBS"
(( DRY_RUN )) && log "Dry run: commands are printed, not executed."

if (( SKIP_CHECKS )); then
    warn "prerequisite checks skipped (--skip-checks)"
else
    log "Checking build prerequisites"
    run_checks build
    finish_checks
fi

cmd=(docker build
    --platform "$PLATFORM"
    --progress=plain
    --file "$KIT_DIR/Dockerfile.gb10"
    --build-arg "BASE_IMAGE=$BASE_IMAGE"
    --build-arg "VLLM_REF=$VLLM_REF"
    --build-arg "TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST"
    --build-arg "MAX_JOBS=$MAX_JOBS"
    --tag "$IMAGE")
(( PULL )) && cmd+=(--pull)
(( NO_CACHE )) && cmd+=(--no-cache)
cmd+=("$KIT_DIR")

log "Building $IMAGE (this compiles vLLM's CUDA kernels; 45-90 min on a GB10)"
started=$SECONDS
run "${cmd[@]}"
run docker image ls "$IMAGE"

if (( DRY_RUN )); then
    log "Dry run complete: nothing was built."
else
    log "Built $IMAGE in $(( (SECONDS - started) / 60 )) min."
    log "Next: try it with ./run.sh --model <path under the model share> (see SETUP.md)."
fi
