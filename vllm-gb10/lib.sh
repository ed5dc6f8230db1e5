# shellcheck shell=bash
# shellcheck source-path=SCRIPTDIR
# The kit defaults below are read by the scripts that source this file.
# shellcheck disable=SC2034
# Shared helpers for the vllm-gb10 kit: build-parameter loading, logging,
# dry-run aware command execution and the prerequisite checks.
# Sourced by build.sh, run.sh and check-prereqs.sh; not meant to be executed.
#
# Build parameters (vLLM ref, base image, CUDA arch list, image, ...) are NOT
# defined here: they come from build.env, which is generated from
# data/systems.yaml. Only kit defaults that are not build pins live below,
# each defined exactly once.

KIT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Override for testing or for an alternative generated file.
BUILD_ENV_FILE="${BUILD_ENV_FILE:-$KIT_DIR/build.env}"

# Keys build.env must define (all non-empty).
REQUIRED_BUILD_VARS=(VLLM_REF BASE_IMAGE TORCH_CUDA_ARCH_LIST IMAGE PLATFORM MAX_JOBS
                     MODELS_DIR CONTAINER_MODELS_DIR TRIAL_CONTAINER TRIAL_PORT)

# Kit defaults (not build pins).
DEFAULT_BUILD_MIN_FREE_GB=100       # base image + build cache + final image
DEFAULT_RUN_MIN_FREE_GB=20          # container layer, logs, compile caches
BUILD_MIN_AVAILABLE_MEM_GB=32       # below this the compile may OOM (warning only)
DOCKER_TIMEOUT_S=20                 # bound for read-only docker probes

DRY_RUN=0
CHECK_FD=2          # where check results go (check-prereqs.sh sets 1)
CHECK_FAILS=0
CHECK_WARNS=0
DOCKER_ENGINE_OK=0

log()  { printf '==> %s\n' "$*" >&2; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }

# die MESSAGE [HINT] [EXIT_CODE]
die() {
    printf 'ERROR: %s\n' "$1" >&2
    if [[ -n "${2:-}" ]]; then
        printf '  hint: %s\n' "$2" >&2
    fi
    exit "${3:-1}"
}

usage_error() {
    printf 'ERROR: %s\n' "$1" >&2
    printf "Run '%s --help' for usage.\n" "$(basename "$0")" >&2
    exit 2
}

# Print a command so it can be copy-pasted: plain words stay bare, anything
# with shell-special characters is single-quoted.
quote_cmd() {
    local out="" arg
    for arg in "$@"; do
        if [[ "$arg" =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
            out+="$arg "
        else
            out+="'${arg//\'/\'\\\'\'}' "
        fi
    done
    printf '%s' "${out% }"
}

# run CMD...: print the command; execute it unless --dry-run.
run() {
    if (( DRY_RUN )); then
        printf '[dry-run] %s\n' "$(quote_cmd "$@")"
        return 0
    fi
    printf '+ %s\n' "$(quote_cmd "$@")"
    "$@"
}

# Run a read-only probe with a time bound when `timeout` is available.
bounded() {
    local secs="$1"
    shift
    if command -v timeout >/dev/null 2>&1; then
        timeout "$secs" "$@"
    else
        "$@"
    fi
}

load_build_env() {
    if [[ ! -r "$BUILD_ENV_FILE" ]]; then
        die "build parameters file not found: $BUILD_ENV_FILE" \
            "it is generated from data/systems.yaml: run 'make generate' at the repository root"
    fi
    # shellcheck source=build.env
    source "$BUILD_ENV_FILE"
    local v missing=()
    for v in "${REQUIRED_BUILD_VARS[@]}"; do
        [[ -n "${!v:-}" ]] || missing+=("$v")
    done
    if (( ${#missing[@]} > 0 )); then
        die "missing value(s) in $BUILD_ENV_FILE: ${missing[*]}" \
            "regenerate it with 'make generate' (source of truth: data/systems.yaml)"
    fi
}

# ---------------------------------------------------------------- checks ----

check_ok()   { printf '[ OK ] %s\n' "$1" >&"$CHECK_FD"; }
check_skip() { printf '[SKIP] %s\n' "$1" >&"$CHECK_FD"; }
check_fail() {
    CHECK_FAILS=$((CHECK_FAILS + 1))
    printf '[FAIL] %s\n       hint: %s\n' "$1" "$2" >&"$CHECK_FD"
}
check_warn() {
    CHECK_WARNS=$((CHECK_WARNS + 1))
    printf '[WARN] %s\n       hint: %s\n' "$1" "$2" >&"$CHECK_FD"
}

check_docker() {
    DOCKER_ENGINE_OK=0
    if ! command -v docker >/dev/null 2>&1; then
        check_fail "docker CLI not found in PATH" \
            "install Docker Engine (DGX OS ships it) and make sure 'docker' is in PATH"
        return 0
    fi
    local out
    if out="$(bounded "$DOCKER_TIMEOUT_S" docker info --format '{{.ServerVersion}}' 2>&1)" && [[ -n "$out" ]]; then
        DOCKER_ENGINE_OK=1
        check_ok "docker engine reachable (server $out)"
    else
        check_fail "docker engine not reachable: $(printf '%s' "$out" | grep -v '^[[:space:]]*$' | head -n 1)" \
            "start it with 'sudo systemctl start docker'; on 'permission denied' add yourself to the docker group ('sudo usermod -aG docker \$USER') and log in again"
    fi
}

check_nvidia_runtime() {
    if (( ! DOCKER_ENGINE_OK )); then
        check_skip "NVIDIA container runtime (docker engine not reachable)"
        return 0
    fi
    local runtimes
    runtimes="$(bounded "$DOCKER_TIMEOUT_S" docker info --format '{{json .Runtimes}}' 2>/dev/null || true)"
    if [[ "$runtimes" == *nvidia* ]]; then
        check_ok "NVIDIA container runtime registered with docker"
    else
        check_warn "no 'nvidia' runtime registered with docker; '--gpus all' may fail" \
            "install the NVIDIA Container Toolkit and run 'sudo nvidia-ctk runtime configure --runtime=docker', then restart docker (restarting docker restarts running containers)"
    fi
}

# Is compute capability $1 (e.g. "9.0") covered by TORCH_CUDA_ARCH_LIST (e.g. "8.0;9.0a")?
arch_list_covers() {
    local cap="$1" item
    for item in ${TORCH_CUDA_ARCH_LIST//;/ }; do
        item="${item%%+*}"
        [[ "${item%[af]}" == "$cap" ]] && return 0
    done
    return 1
}

check_gpu() {
    if ! command -v nvidia-smi >/dev/null 2>&1; then
        check_fail "nvidia-smi not found in PATH: cannot see a GPU" \
            "install/load the NVIDIA driver (DGX OS ships nvidia-smi in /usr/bin); run this on the GB10 host itself"
        return 0
    fi
    local out name cap
    if ! out="$(bounded 30 nvidia-smi --query-gpu=name,compute_cap --format=csv,noheader 2>&1)" \
        || [[ -z "$out" ]] || [[ "$out" == *"No devices"* ]] || [[ "$out" != *,* ]]; then
        check_fail "nvidia-smi shows no GPU: $(printf '%s' "$out" | head -n 1)" \
            "check 'nvidia-smi' and 'lsmod | grep nvidia'; after a driver update the host needs a reboot"
        return 0
    fi
    out="$(printf '%s\n' "$out" | head -n 1)"
    name="${out%%,*}"
    cap="${out##*,}"
    cap="${cap//[[:space:]]/}"
    check_ok "GPU visible: $name (compute capability $cap)"
    if [[ "$name" != *GB10* ]]; then
        check_warn "GPU is '$name', not a GB10" "this kit targets GB10 (DGX Spark class) hosts"
    fi
    if [[ -n "${TORCH_CUDA_ARCH_LIST:-}" ]] && ! arch_list_covers "$cap"; then
        check_fail "compute capability $cap is not in TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST: the image's kernels will not load" \
            "use a GB10 host, or change the arch list in data/systems.yaml and rebuild"
    fi
}

check_gpu_idle() {
    command -v nvidia-smi >/dev/null 2>&1 || return 0
    local apps
    apps="$(bounded 30 nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv,noheader 2>/dev/null | grep -v '^[[:space:]]*$' || true)"
    if [[ -z "$apps" ]]; then
        check_ok "no other GPU compute processes"
    else
        check_fail "GPU already in use: $(printf '%s' "$apps" | tr '\n' ';')" \
            "GB10 has one 128 GB unified memory pool and a production vLLM holds most of it: stop it first (disruptive, see SETUP.md) or pass --allow-busy-gpu"
    fi
}

# Free space (GB) on the filesystem holding PATH.
free_gb() {
    df -Pk "$1" 2>/dev/null | awk 'NR==2 {print int($4 / 1048576)}'
}

check_disk() {
    local min_gb="$1" path
    path=""
    if (( DOCKER_ENGINE_OK )); then
        path="$(bounded "$DOCKER_TIMEOUT_S" docker info --format '{{.DockerRootDir}}' 2>/dev/null || true)"
    fi
    if [[ -z "$path" || ! -d "$path" ]]; then
        if [[ -d /var/lib/docker ]]; then path=/var/lib/docker; else path=/; fi
    fi
    local gb
    gb="$(free_gb "$path")"
    if [[ -z "$gb" ]]; then
        check_warn "could not read free space for $path" "check with 'df -h $path'"
    elif (( gb >= min_gb )); then
        check_ok "free disk on $path: ${gb} GB (need >= ${min_gb} GB)"
    else
        check_fail "free disk on $path: ${gb} GB, need >= ${min_gb} GB" \
            "see usage with 'docker system df'; remove unused images/build cache (disruptive: see SETUP.md Rollback)"
    fi
}

check_memory() {
    local kb gb
    kb="$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo 2>/dev/null || true)"
    if [[ -z "$kb" ]]; then
        check_skip "available memory (/proc/meminfo unreadable)"
        return 0
    fi
    gb=$((kb / 1048576))
    if (( gb >= BUILD_MIN_AVAILABLE_MEM_GB )); then
        check_ok "available memory: ${gb} GB"
    else
        check_warn "only ${gb} GB memory available; the compile (MAX_JOBS=${MAX_JOBS:-?}) may be OOM-killed" \
            "GPU and CPU share one memory pool: build while the host's vLLM service is stopped, or lower MAX_JOBS in data/systems.yaml"
    fi
}

check_arch() {
    local m
    m="$(uname -m)"
    if [[ "$m" == aarch64 || "$m" == arm64 ]]; then
        check_ok "host architecture $m"
    else
        check_warn "host architecture is $m; the image is $PLATFORM and would build under emulation (very slow)" \
            "build on the GB10 host itself"
    fi
}

check_models_mount() {
    local dir="$1"
    if [[ ! -d "$dir" ]]; then
        check_fail "model directory $dir does not exist" \
            "mount the NFS model share: 'sudo mount $dir' (fstab entry, see SETUP.md Prerequisites)"
        return 0
    fi
    if command -v mountpoint >/dev/null 2>&1 && ! mountpoint -q "$dir"; then
        check_fail "$dir is not a mount point: the NFS model share is not mounted" \
            "mount it: 'sudo mount $dir' (uses the /etc/fstab entry, see SETUP.md Prerequisites)"
        return 0
    fi
    if ! bounded 15 ls "$dir" >/dev/null 2>&1; then
        check_fail "$dir is mounted but not readable (stale NFS handle or permissions)" \
            "remount it: 'sudo umount -l $dir && sudo mount $dir'"
        return 0
    fi
    local src=""
    if command -v findmnt >/dev/null 2>&1; then
        src="$(findmnt -n -o FSTYPE,SOURCE --target "$dir" 2>/dev/null | head -n 1 | tr -s ' ' || true)"
    fi
    check_ok "model share mounted at $dir${src:+ ($src)}"
}

check_image_present() {
    local image="$1"
    if (( ! DOCKER_ENGINE_OK )); then
        check_skip "image $image present (docker engine not reachable)"
        return 0
    fi
    if bounded "$DOCKER_TIMEOUT_S" docker image inspect "$image" >/dev/null 2>&1; then
        check_ok "image $image present"
    else
        check_fail "image $image not found locally" \
            "build it with './build.sh' (or copy it from the host that built it, see SETUP.md)"
    fi
}

check_tool() {
    local tool="$1" why="$2"
    if command -v "$tool" >/dev/null 2>&1; then
        check_ok "$tool available"
    else
        check_fail "$tool not found in PATH ($why)" "install it: 'sudo apt-get install $tool'"
    fi
}

# run_checks build|run|all  (uses MODELS_DIR, MIN_FREE_GB, IMAGE)
run_checks() {
    local what="$1"
    check_docker
    case "$what" in
        build)
            check_arch
            check_disk "$MIN_FREE_GB"
            check_memory
            ;;
        run)
            check_nvidia_runtime
            check_gpu
            check_models_mount "$MODELS_DIR"
            check_disk "$MIN_FREE_GB"
            check_tool curl "needed to poll /health"
            check_image_present "$IMAGE"
            ;;
        all)
            check_arch
            check_nvidia_runtime
            check_gpu
            check_models_mount "$MODELS_DIR"
            check_disk "$MIN_FREE_GB"
            check_memory
            check_tool curl "needed to poll /health"
            check_image_present "$IMAGE"
            ;;
        *)
            die "internal: unknown check set '$what'"
            ;;
    esac
}

# After checks: stop on failures, unless this is a dry run (then just report).
finish_checks() {
    if (( CHECK_FAILS == 0 )); then
        return 0
    fi
    if (( DRY_RUN )); then
        warn "$CHECK_FAILS prerequisite check(s) failed; a real run would stop here (continuing because of --dry-run)"
        return 0
    fi
    die "$CHECK_FAILS prerequisite check(s) failed (see [FAIL] lines above)" \
        "fix them, or run './check-prereqs.sh --help' for the individual checks"
}
