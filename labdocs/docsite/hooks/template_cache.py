"""Keep the theme's compiled templates across `mkdocs serve` rebuilds.

Every rebuild under `mkdocs serve` loads the configuration again, and with it a new Jinja environment
for the theme: material's templates were parsed and compiled anew each time, a third of a rebuild of
the bundled site. Jinja's bytecode cache (its documented extension point) keeps the compiled code in
this process, keyed by template and checked against the source's checksum, so an edited template
(overrides/) is compiled again. A plain `mkdocs build` compiles once, as before.
"""

from __future__ import annotations

from jinja2.bccache import Bucket, BytecodeCache


class _InProcess(BytecodeCache):
    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)      # rejected (and recompiled) if the checksum differs

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_CACHE = _InProcess()


def on_env(env, config, files):
    env.bytecode_cache = _CACHE
    return env
