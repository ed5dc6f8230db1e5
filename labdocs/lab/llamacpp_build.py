"""The lab's llama-server: built from llama-cpp-python's source archive, which vendors llama.cpp with its
server (tools/server), and a tiny GGUF model made locally with llama.cpp's own converter.

    python -m labdocs.lab.llamacpp_build --build          # build (or reuse) the binary; prints its path and time
    python -m labdocs.lab.llamacpp_build --facts          # rewrite labdocs/engines/llamacpp_flags.json from its --help
    python -m labdocs.lab.llamacpp_build --gguf OUT.gguf  # the tiny model, as a GGUF file

The archive is fetched with pip (`pip download --no-binary :all:`, the pinned version and its sha256) and built
with Debian's cmake, ninja and g++ (tools/system-deps.sh): a CPU build of the llama-server target only, with
every option that costs compile time and does not matter to a tiny model turned off (BUILD_OPTIONS). The
binary is cached under .lab/llamacpp/<version>-<hash of the options>/, so later runs reuse it, and the time
the build took is kept beside it (build.json).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from labdocs.engines import llamacpp
from labdocs.paths import ROOT

PIN = "0.3.36"          # llama-cpp-python, vendoring llama.cpp at commit LLAMA_CPP_COMMIT (its CHANGELOG)
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
LAB_DIR = ROOT / ".lab" / "llamacpp"

# What each option saves, measured on the lab machine (2 cores): see labdocs/lab/README.md.
BUILD_OPTIONS = {
    "CMAKE_BUILD_TYPE": "Release",
    "CMAKE_C_FLAGS_RELEASE": "-O0",            # a tiny model needs no optimised kernels: compiles far faster
    "CMAKE_CXX_FLAGS_RELEASE": "-O0",
    "CMAKE_UNITY_BUILD": "ON",                 # one compiler run per batch of files: headers parsed once
    "BUILD_SHARED_LIBS": "OFF",
    "GGML_NATIVE": "OFF",                      # the same binary on any x86-64 CI machine
    "GGML_AVX512": "OFF",
    "GGML_OPENMP": "OFF",
    "GGML_LLAMAFILE": "OFF",                   # sgemm kernels: big templates, no use for a tiny model
    "GGML_CPU_REPACK": "OFF",
    "GGML_BACKEND_DL": "OFF",
    "GGML_CPU_ALL_VARIANTS": "OFF",
    "GGML_CCACHE": "OFF",
    "LLAMA_BUILD_TESTS": "OFF",
    "LLAMA_BUILD_EXAMPLES": "OFF",
    "LLAMA_BUILD_TOOLS": "ON",                 # tools/server lives there; only its target is built
    "LLAMA_BUILD_SERVER": "ON",
    "LLAMA_BUILD_UI": "OFF",                   # no npm
    "LLAMA_USE_PREBUILT_UI": "OFF",            # no download of the web UI at build time
    "LLAMA_OPENSSL": "OFF",
    "LLAMA_ALL_WARNINGS": "OFF",
    "GGML_ALL_WARNINGS": "OFF",
}
TARGET = llamacpp.PROGRAM


class BuildError(Exception):
    def __init__(self, message: str, hint: str):
        super().__init__(f"{message}\n  hint: {hint}")


# Files a unity build must compile on their own (set through CMake's project include, no edit of the sources).
UNITY_EXCLUSIONS = Path(__file__).with_name("llamacpp_unity.cmake")


def build_key(options: dict[str, str] = BUILD_OPTIONS) -> str:
    """What the binary depends on: the pin, the options and the unity exclusions file."""
    return hashlib.sha256(json.dumps([PIN, options, UNITY_EXCLUSIONS.read_text()], sort_keys=True).encode()).hexdigest()[:12]


def cache_dir(options: dict[str, str] = BUILD_OPTIONS) -> Path:
    return LAB_DIR / f"{PIN}-{build_key(options)}"


def binary(options: dict[str, str] = BUILD_OPTIONS) -> Path:
    return cache_dir(options) / TARGET


@contextlib.contextmanager
def _locked(name: str):
    """One build or fetch at a time (two test runs sharing .lab/ wait for each other)."""
    LAB_DIR.mkdir(parents=True, exist_ok=True)
    with open(LAB_DIR / f".{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _run(argv: list[str], what: str, **kw) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True, **kw)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise BuildError(f"{what} failed ({' '.join(argv[:4])} ...):\n{tail}",
                         "tools/system-deps.sh installs cmake, ninja-build and g++; pip needs PyPI")
    return result


def sdist() -> Path:
    """llama-cpp-python's source archive, fetched once by pip and checked against its sha256."""
    folder = LAB_DIR / "sdist"
    archive = folder / f"llama_cpp_python-{PIN}.tar.gz"
    with _locked("sdist"):
        if not archive.exists():
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as req:
                req.write(f"llama-cpp-python=={PIN} --hash=sha256:{SDIST_SHA256}\n")
            try:
                _run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                      "--no-binary", ":all:", "--no-deps", "--require-hashes", "-r", req.name, "-d", str(folder)],
                     f"pip download llama-cpp-python=={PIN}")
            finally:
                os.unlink(req.name)
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        if digest != SDIST_SHA256:
            archive.unlink()
            raise BuildError(f"{archive}: sha256 {digest}, not the pinned {SDIST_SHA256}", "run again to fetch it anew")
    return archive


def source_tree() -> Path:
    """The vendored llama.cpp of the archive, unpacked once."""
    top = LAB_DIR / f"src-{PIN}"
    tree = top / f"llama_cpp_python-{PIN}" / "vendor" / "llama.cpp"
    with _locked("src"):
        if not (top / ".complete").exists():
            archive = sdist()
            shutil.rmtree(top, ignore_errors=True)
            top.mkdir(parents=True)
            with tarfile.open(archive) as tar:
                tar.extractall(top, filter="data")
            (top / ".complete").write_text(SDIST_SHA256)
    return tree


def llama_cpp_commit(tree: Path) -> str:
    """The llama.cpp commit the archive vendors, as its CHANGELOG names it for this version."""
    changelog = (tree.parents[1] / "CHANGELOG.md").read_text(encoding="utf-8")
    section = changelog.split(f"## [{PIN}]", 1)[1].split("\n## [", 1)[0]
    found = re.search(r"ggml-org/llama\.cpp@([0-9a-f]{7,40})", section)
    if not found:
        raise BuildError(f"llama-cpp-python {PIN}'s CHANGELOG names no llama.cpp commit", "check the archive")
    return found.group(1)


def build(jobs: int = 2, options: dict[str, str] = BUILD_OPTIONS) -> dict:
    """Build llama-server (or reuse the cached one). Returns {path, built, seconds, build_seconds}."""
    t0 = time.monotonic()
    out = binary(options)
    with _locked(f"build-{build_key(options)}"):     # per option set: a cached binary never waits for another build
        if not out.exists():
            tree = source_tree()
            work = LAB_DIR / f"build-{build_key(options)}"
            shutil.rmtree(work, ignore_errors=True)
            cmake = ["cmake", "-S", str(tree), "-B", str(work), "-G", "Ninja",
                     *(f"-D{k}={v}" for k, v in options.items())]
            if options.get("CMAKE_UNITY_BUILD") == "ON":
                cmake.append(f"-DCMAKE_PROJECT_INCLUDE={UNITY_EXCLUSIONS}")
            t_configure = time.monotonic()
            _run(cmake, "cmake (configure)")
            t_build = time.monotonic()
            _run(["cmake", "--build", str(work), "--target", TARGET, "-j", str(jobs)], f"building {TARGET}")
            done = time.monotonic()
            cache_dir(options).mkdir(parents=True, exist_ok=True)
            shutil.copy2(work / "bin" / TARGET, out.with_suffix(".tmp"))
            os.replace(out.with_suffix(".tmp"), out)
            (cache_dir(options) / "build.json").write_text(json.dumps({
                "llama_cpp_python": PIN, "llama_cpp_commit": llama_cpp_commit(tree), "options": options,
                "jobs": jobs, "configure_seconds": round(t_build - t_configure, 1),
                "build_seconds": round(done - t_build, 1)}, indent=1) + "\n")
            shutil.rmtree(work, ignore_errors=True)
            built = True
        else:
            built = False
    record = json.loads((cache_dir(options) / "build.json").read_text())
    return {"path": str(out), "built": built, "seconds": round(time.monotonic() - t0, 1),
            "build_seconds": record["build_seconds"]}


# --- the flag list of the built binary ---------------------------------------------------------------

_OPTION = re.compile(r"(-[^\s,]+(?:,\s+-[^\s,]+)*)(?: ((?:[^ ]| (?! ))+?))?(?: {2,}|$)")


def parse_help(text: str) -> dict[str, dict]:
    """llama-server's --help, one entry per option: {canonical long name: {names, value}}. An option line
    starts at column 0 with its spellings (`-c, --ctx-size N`), then the value it takes, if any."""
    flags = {}
    for line in text.splitlines():
        if not line.startswith("-") or line.startswith("-----"):    # (section headers: ----- common params -----)
            continue
        m = _OPTION.match(line)
        if not m:
            continue
        names = [n.strip() for n in m.group(1).split(",")]
        long = next((n for n in names if n.startswith("--")), names[0])
        flags[long] = {"names": names, "value": m.group(2)}
    return flags


def facts(path: Path) -> dict:
    """The facts llamacpp_flags.json keeps: the pin, the commit and every flag of this build's --help."""
    text = _run([str(path), "--help"], f"{TARGET} --help").stdout
    flags = parse_help(text)
    if len(flags) < 100 or "--ctx-size" not in flags:
        raise BuildError(f"{TARGET} --help gave {len(flags)} options: the format changed", "adapt parse_help")
    return {"llama_cpp_python": PIN, "llama_cpp_commit": llama_cpp_commit(source_tree()),
            "generated_by": "python -m labdocs.lab.llamacpp_build --facts", "flags": flags}


def write_facts(path: Path) -> Path:
    """One option a line, so a new build's changes read as a short diff."""
    found = facts(path)
    head = {k: v for k, v in found.items() if k != "flags"}
    lines = [f" {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
    rows = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in found["flags"].items()]
    text = "{\n" + "\n".join(lines) + '\n "flags": {\n' + ",\n".join(rows) + "\n }\n}\n"
    assert json.loads(text) == found
    tmp = llamacpp.FLAGS_FILE.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, llamacpp.FLAGS_FILE)
    return llamacpp.FLAGS_FILE


# --- the tiny GGUF model -----------------------------------------------------------------------------

TINY_REPO = "labdocs/tiny-qwen2"      # the lab's own tiny model (labdocs/lab/tiny_model.py), never published
# llama.cpp's converter names a tokenizer's pre-tokenizer by hashing what it makes of a test text; the
# tiny model's own small vocabulary matches no published model, so it is declared: the tiny tokenizer
# splits text with Qwen2's pattern (tiny_model._qwen_tokenizer), which llama.cpp calls "qwen2".
TINY_PRE_TOKENIZER = "qwen2"
_CONVERT = """
import sys
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/gguf-py"]
import convert_hf_to_gguf as convert
from conversion.base import TextModel
pre = sys.argv[2]
TextModel.get_vocab_base_pre = lambda self, tokenizer: pre
sys.argv = ["convert_hf_to_gguf.py", *sys.argv[3:]]
convert.main()
"""


def tiny_gguf(out: Path, lab_python: Path, max_len: int) -> dict:
    """Build the tiny qwen2 model (with the lab venv, which has torch and transformers) and convert it
    with llama.cpp's converter of the same archive. max_len: the context the system documents (llama-server
    caps -c at the model's trained context). Reused while its inputs are unchanged."""
    t0 = time.monotonic()
    tree = source_tree()
    hf_dir = LAB_DIR / "hf"
    request = json.dumps([{"repo": TINY_REPO, "revision": None, "family": "qwen2", "max_len": max_len}])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error"}
    res = _run([str(lab_python), str(ROOT / "labdocs" / "lab" / "tiny_model.py"), "--out", str(hf_dir),
                "--request", request], "building the tiny model", env=env)
    snap = Path(json.loads(res.stdout.strip().splitlines()[-1])["path"])
    stamp = out.with_name(out.name + ".lab.json")
    key = {"snapshot": snap.name, "pin": PIN, "pre": TINY_PRE_TOKENIZER, "convert": hashlib.sha256(_CONVERT.encode()).hexdigest()}
    if out.exists() and stamp.exists() and json.loads(stamp.read_text()) == key:
        return {"path": str(out), "built": False, "bytes": out.stat().st_size, "seconds": round(time.monotonic() - t0, 1)}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    _run([str(lab_python), "-c", _CONVERT, str(tree), TINY_PRE_TOKENIZER, str(snap), "--outfile", str(tmp),
          "--outtype", "f16"], "converting the tiny model to GGUF", env=env)
    os.replace(tmp, out)
    stamp.write_text(json.dumps(key))
    return {"path": str(out), "built": True, "bytes": out.stat().st_size, "seconds": round(time.monotonic() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", action="store_true", help="build (or reuse) llama-server; print its path and times")
    ap.add_argument("--facts", action="store_true", help=f"rewrite {llamacpp.FLAGS_FILE.relative_to(ROOT)} from its --help")
    ap.add_argument("--gguf", type=Path, metavar="OUT", help="write the tiny GGUF model there")
    ap.add_argument("--max-len", type=int, default=131072, help="the tiny model's context (default 131072)")
    ap.add_argument("--lab-python", type=Path, help="a python with torch and transformers (default: the lab venv)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args(argv)
    try:
        if args.build or args.facts:
            print(json.dumps(build(args.jobs)), flush=True)
        if args.facts:
            written = write_facts(binary())
            print(f"wrote {written.relative_to(ROOT)}: {len(json.loads(written.read_text())['flags'])} options")
        if args.gguf:
            from labdocs.lab.venv import ensure_venv
            print(json.dumps(tiny_gguf(args.gguf, args.lab_python or ensure_venv(ROOT), args.max_len)))
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
