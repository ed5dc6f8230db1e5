#!/usr/bin/env bash
# Start a throwaway container from the GB10 vLLM image and wait (bounded) for
# /health. For trying an image before a system's compose file uses it.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_build_env   # pins and lab facts (model share, trial name and port) from build.env

CONTAINER_PORT=8000            # vLLM's port inside the container

usage() {
    cat <<EOF
Usage: $(basename "$0") --model PATH [options] [-- EXTRA_VLLM_ARGS...]

Start a throwaway container from the built image (IMAGE in build.env) that runs
'vllm serve PATH', wait at most --timeout seconds for GET /health, then query
/v1/models. The container is removed afterwards unless --keep is given.
Never touches other containers: an existing container with the same name is
only removed with --replace.

Options:
  --model PATH                 model directory on the model share: an absolute
                               host path under --models-dir, a container path
                               under $CONTAINER_MODELS_DIR, or a path relative to the share
                               (required)
  --port N                     host port published to the container's $CONTAINER_PORT
                               (default: $TRIAL_PORT; production services use 8000)
  --name NAME                  container name (default: $TRIAL_CONTAINER)
  --image IMAGE                image to try (default: IMAGE from build.env)
  --models-dir DIR             NFS model mount, mounted read-only at $CONTAINER_MODELS_DIR
                               (default: $MODELS_DIR)
  --gpu-memory-utilization F   fraction of the unified memory vLLM may take
                               (default: 0.80)
  --timeout SECONDS            give up waiting for /health after this long
                               (default: 1800; NFS loads take minutes)
  --interval SECONDS           poll interval (default: 10)
  --keep                       leave the container running after the check
  --replace                    remove an existing container named NAME first
                               (destructive: only that container)
  --allow-busy-gpu             start even if other GPU processes are running
  --min-free-gb N              required free disk in GB (default: $DEFAULT_RUN_MIN_FREE_GB)
  --skip-checks                skip the prerequisite checks
  --dry-run                    run the read-only checks as warnings and print the
                               docker/curl commands instead of running them
  -h, --help                   show this help

Everything after '--' is passed to 'vllm serve', e.g.
  $(basename "$0") --model $MODELS_DIR/my-model -- --enforce-eager --max-model-len 8192

Exit status: 0 healthy, 1 failure or timeout, 2 usage error.
EOF
}

MODEL=""
PORT="$TRIAL_PORT"
NAME="$TRIAL_CONTAINER"
IMAGE_OVERRIDE=""
GPU_MEM_UTIL=0.80
TIMEOUT_S=1800
INTERVAL_S=10
KEEP=0
REPLACE=0
ALLOW_BUSY_GPU=0
SKIP_CHECKS=0
MIN_FREE_GB="$DEFAULT_RUN_MIN_FREE_GB"
EXTRA_ARGS=()

need_value() { [[ $2 -ge 2 ]] || usage_error "$1 needs a value"; }

while (( $# > 0 )); do
    case "$1" in
        --model)      need_value "$1" $#; MODEL="$2"; shift 2 ;;
        --port)       need_value "$1" $#; PORT="$2"; shift 2 ;;
        --name)       need_value "$1" $#; NAME="$2"; shift 2 ;;
        --image)      need_value "$1" $#; IMAGE_OVERRIDE="$2"; shift 2 ;;
        --models-dir) need_value "$1" $#; MODELS_DIR="$2"; shift 2 ;;
        --gpu-memory-utilization) need_value "$1" $#; GPU_MEM_UTIL="$2"; shift 2 ;;
        --timeout)    need_value "$1" $#; TIMEOUT_S="$2"; shift 2 ;;
        --interval)   need_value "$1" $#; INTERVAL_S="$2"; shift 2 ;;
        --min-free-gb) need_value "$1" $#; MIN_FREE_GB="$2"; shift 2 ;;
        --keep)       KEEP=1; shift ;;
        --replace)    REPLACE=1; shift ;;
        --allow-busy-gpu) ALLOW_BUSY_GPU=1; shift ;;
        --skip-checks) SKIP_CHECKS=1; shift ;;
        --dry-run)    DRY_RUN=1; shift ;;
        -h|--help)    usage; exit 0 ;;
        --)           shift; EXTRA_ARGS=("$@"); break ;;
        *)            usage_error "unknown argument: $1" ;;
    esac
done

[[ -n "$MODEL" ]] || usage_error "--model is required"
is_int_between() { [[ "$1" =~ ^[0-9]+$ ]] && (( 10#$1 >= $2 && 10#$1 <= $3 )); }
is_int_between "$PORT" 1 65535 || usage_error "--port must be 1-65535"
is_int_between "$TIMEOUT_S" 1 86400 || usage_error "--timeout must be 1-86400 seconds"
is_int_between "$INTERVAL_S" 1 3600 || usage_error "--interval must be 1-3600 seconds"
[[ "$MIN_FREE_GB" =~ ^[0-9]+$ ]] || usage_error "--min-free-gb must be a whole number of GB"
[[ "$GPU_MEM_UTIL" =~ ^0?\.[0-9]+$ ]] || usage_error "--gpu-memory-utilization must be a fraction such as 0.80"
[[ "$NAME" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]] || usage_error "--name must be a valid container name"
MODELS_DIR="${MODELS_DIR%/}"

[[ -n "$IMAGE_OVERRIDE" ]] && IMAGE="$IMAGE_OVERRIDE"

# Map --model to the path vLLM sees inside the container (and the host path).
case "$MODEL" in
    "$MODELS_DIR"/*)           HOST_MODEL="$MODEL"; CONTAINER_MODEL="$CONTAINER_MODELS_DIR/${MODEL#"$MODELS_DIR"/}" ;;
    "$CONTAINER_MODELS_DIR"/*) CONTAINER_MODEL="$MODEL"; HOST_MODEL="$MODELS_DIR/${MODEL#"$CONTAINER_MODELS_DIR"/}" ;;
    /*) die "--model $MODEL is not under the model share $MODELS_DIR" \
            "the container only sees $MODELS_DIR (mounted at $CONTAINER_MODELS_DIR); pass a path under it or use --models-dir" ;;
    *)                         HOST_MODEL="$MODELS_DIR/$MODEL"; CONTAINER_MODEL="$CONTAINER_MODELS_DIR/$MODEL" ;;
esac
HOST_MODEL="${HOST_MODEL%/}"
CONTAINER_MODEL="${CONTAINER_MODEL%/}"
HEALTH_URL="http://127.0.0.1:$PORT/health"
MODELS_URL="http://127.0.0.1:$PORT/v1/models"

log "Image:   $IMAGE"
log "Model:   $HOST_MODEL (in container: $CONTAINER_MODEL)"
log "Port:    $PORT -> $CONTAINER_PORT, container '$NAME', wait up to ${TIMEOUT_S}s for $HEALTH_URL"
(( DRY_RUN )) && log "Dry run: commands are printed, not executed."

container_exists() {
    (( DOCKER_ENGINE_OK )) || return 1
    [[ -n "$(bounded "$DOCKER_TIMEOUT_S" docker ps -a --filter "name=^/${NAME}\$" --format '{{.Names}}' 2>/dev/null || true)" ]]
}

if (( SKIP_CHECKS )); then
    warn "prerequisite checks skipped (--skip-checks)"
    command -v docker >/dev/null 2>&1 && bounded "$DOCKER_TIMEOUT_S" docker info >/dev/null 2>&1 && DOCKER_ENGINE_OK=1
else
    log "Checking run prerequisites"
    run_checks run
    if (( ALLOW_BUSY_GPU )); then
        check_skip "GPU idle (--allow-busy-gpu)"
    else
        check_gpu_idle
    fi
    if [[ -f "$HOST_MODEL/config.json" ]]; then
        check_ok "model found: $HOST_MODEL/config.json"
    else
        check_fail "no config.json in $HOST_MODEL" \
            "point --model at a model directory (for HF caches: .../snapshots/<revision>) under $MODELS_DIR"
    fi
    if command -v ss >/dev/null 2>&1 && [[ -n "$(ss -Hltn "sport = :$PORT" 2>/dev/null || true)" ]]; then
        check_fail "port $PORT is already in use" "pick a free one with --port (production vLLM services listen on 8000)"
    fi
    if container_exists && (( ! REPLACE )); then
        check_fail "a container named '$NAME' already exists" \
            "use another --name, or --replace to remove it (destructive)"
    fi
    finish_checks
fi

if (( REPLACE )) && { (( DRY_RUN )) || container_exists; }; then
    log "Removing existing container '$NAME' (--replace)"
    run docker rm -f "$NAME"
fi

STARTED=0
cleanup() {
    if (( STARTED && ! KEEP )); then
        log "Removing trial container '$NAME'"
        run docker rm -f "$NAME" || warn "could not remove container '$NAME'"
    fi
    STARTED=0
}
# Whatever ends the script (error, Ctrl-C, timeout), remove the container it started.
trap cleanup EXIT
trap 'exit 130' INT TERM

show_logs() {
    log "Last log lines of '$NAME':"
    docker logs --tail "${1:-60}" "$NAME" 2>&1 | sed 's/^/    /' >&2 || true
}

PREEXISTING=0
container_exists && PREEXISTING=1
if ! run docker run --detach --name "$NAME" \
    --gpus all --ipc=host \
    --ulimit memlock=-1 --ulimit stack=67108864 \
    --publish "$PORT:$CONTAINER_PORT" \
    --volume "$MODELS_DIR:$CONTAINER_MODELS_DIR:ro" \
    --env HF_HUB_OFFLINE=1 \
    --label "lab.vllm-gb10.trial=1" \
    "$IMAGE" \
    vllm serve "$CONTAINER_MODEL" \
    --host 0.0.0.0 --port "$CONTAINER_PORT" \
    --gpu-memory-utilization "$GPU_MEM_UTIL" \
    "${EXTRA_ARGS[@]}"; then
    # A failed start can leave a created-but-not-running container behind.
    if (( ! PREEXISTING )); then
        docker rm -f "$NAME" >/dev/null 2>&1 || true
    fi
    die "docker run failed for $IMAGE" \
        "on 'could not select device driver' configure the NVIDIA Container Toolkit (see SETUP.md Troubleshooting)"
fi
(( DRY_RUN )) || STARTED=1

if (( DRY_RUN )); then
    log "Would poll every ${INTERVAL_S}s for at most ${TIMEOUT_S}s:"
    run curl -fsS --max-time 5 "$HEALTH_URL"
    run curl -fsS --max-time 10 "$MODELS_URL"
    if (( KEEP )); then
        log "Would leave '$NAME' running (--keep)."
    else
        run docker rm -f "$NAME"
    fi
    log "Dry run complete: nothing was started."
    exit 0
fi

deadline=$((SECONDS + TIMEOUT_S))
started=$SECONDS
while :; do
    state="$(docker inspect --format '{{.State.Status}}' "$NAME" 2>/dev/null || echo missing)"
    if [[ "$state" != running ]]; then
        show_logs 80
        cleanup
        die "container '$NAME' stopped before becoming healthy (state: $state)" \
            "read the log lines above; see SETUP.md Troubleshooting"
    fi
    if curl -fsS --max-time 5 "$HEALTH_URL" >/dev/null 2>&1; then
        log "Healthy after $((SECONDS - started))s: $HEALTH_URL"
        break
    fi
    if (( SECONDS >= deadline )); then
        last_logs="$(docker logs --tail 80 "$NAME" 2>&1 || true)"
        show_logs 80
        cleanup
        hint="see SETUP.md Troubleshooting"
        if grep -qi 'marlin' <<<"$last_logs"; then
            hint="the log stops at a Marlin backend line: the known GB10 Marlin hang; retry with '-- --enforce-eager' to confirm and see SETUP.md Troubleshooting"
        elif grep -qiE 'loading (safetensors|weights)|checkpoint shards' <<<"$last_logs"; then
            hint="still loading weights from NFS (minutes for 30B+ models): raise --timeout; see SETUP.md Troubleshooting"
        fi
        die "no healthy $HEALTH_URL after ${TIMEOUT_S}s" "$hint"
    fi
    last="$(docker logs --tail 1 "$NAME" 2>&1 | tr '\r' '\n' | grep -v '^[[:space:]]*$' | tail -n 1 | cut -c1-160 || true)"
    log "waiting for /health: $((SECONDS - started))s/${TIMEOUT_S}s${last:+ | $last}"
    sleep "$INTERVAL_S"
done

if models="$(curl -fsS --max-time 10 "$MODELS_URL")"; then
    log "Served models: $models"
else
    warn "/health is OK but $MODELS_URL did not answer"
fi

if (( KEEP )); then
    log "Container '$NAME' left running on port $PORT (--keep). Remove it with: docker rm -f $NAME"
    STARTED=0
else
    cleanup
fi
log "Trial passed: $IMAGE serves $CONTAINER_MODEL."
