"""Fill vLLM's model-class info cache (VLLM_CACHE_ROOT/modelinfos) for the architectures the lab's tiny models
use, with the lab venv's python: `vllm_model_info.py CACHE_ROOT ARCH...`. Prints one JSON line per architecture.

Why: a vLLM server that finds no cached entry for its model's class inspects the class in a subprocess that
imports torch and vLLM again, about a third of a cold start's CPU on this kind of machine (8-9 of 25 s), and
every lab server and stand-in container starts with an empty cache. The entries are written here by vLLM's own
inspect_model_cls (same JSON, same module hash, which vLLM checks when it reads them back); the servers' caches
are seeded from them (lab.venv.seed_model_info).
"""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> int:
    root, archs = argv[0], argv[1:]
    os.environ["VLLM_CACHE_ROOT"] = root          # read by vLLM when the registry module is imported
    os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
    from vllm.model_executor.models import registry

    # vLLM runs the inspection in a subprocess so that the caller never initialises CUDA; this CPU build has
    # none, and this process exits right after, so running it here saves a second torch + vLLM import.
    if hasattr(registry, "_run_in_subprocess"):
        registry._run_in_subprocess = lambda fn: fn()
    for arch in archs:
        model = registry.ModelRegistry.models.get(arch)
        if model is None:
            print(f"vllm_model_info: vLLM's registry has no architecture {arch!r}", file=sys.stderr)
            return 2
        model.inspect_model_cls()
    # What a server does next: the same lookups, now without any inspection (a vLLM whose cache moved or changed
    # format would inspect again: fail here rather than seed the servers with entries they ignore).
    registry._run_in_subprocess = _refuse
    for arch in archs:
        registry.ModelRegistry.models[arch].inspect_model_cls()
        print(json.dumps({"architecture": arch, "cached": True}), flush=True)
    return 0


def _refuse(fn):
    raise RuntimeError(f"vLLM inspected a model class again although its entry was just cached under "
                       f"{os.environ['VLLM_CACHE_ROOT']}/modelinfos")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
