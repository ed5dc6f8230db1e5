"""Issue 16, point 3: the build kit's SETUP (vllm-gb10/SETUP.md) runs top to bottom, as written, as a procedure page
of the doc-tests (labdocs/doctests/procedure.py) on the host stand-ins: the system the page's blocks name (pegasus)
and the host its step 11 streams the image to (stella). Disruptive steps included: the kit's copy, `check-prereqs.sh
--for build`, `build.sh --dry-run`, stopping and starting the production service, waiting for it, `docker save |
docker load` between the hosts, and the Rollback. What the page assumes and no step of it makes (the system
deployed, the step-5 image, a leftover trial for Rollback 1) comes from its preparation (labdocs/doctests/
preparations.py), which also puts back the QUICKSTART's end state afterwards; the report lists both.

The page runs once per session (tests/test_doc_blocks.py, or here when those were not selected); this module reads
that run and asserts only what it does not: each block refused or static exactly where host_blocks.refusal and
static_reason say (so a block made runnable elsewhere runs here too), the prerequisite checks for a GPU, the NVIDIA
runtime and the NFS share among the refused and the blocks needing a GPU or the CUDA build among the static, what
the checks printed, stella's image being pegasus's after the copy, and what the page left before the lab put
things back.
"""

from __future__ import annotations

import pytest

from conftest import ROOT
from labdocs.doctests import fences, host_blocks, preparations
from labdocs.lab import standin_hosts as sh
from labdocs.model.loader import load

pytestmark = [pytest.mark.lab, pytest.mark.slow]

PAGE = preparations.KitSetup.page
DATA = load()

# Blocks that truly need a GPU or the CUDA build: static on any stand-in, by a line of their code, with the
# reason each must be given. (The outside-world blocks follow static_reason: a stand-in of the world would make
# them run.)
MUST_STAY_STATIC = {
    "./build.sh 2>&1": "the CUDA build: compiles vLLM's kernels for the GB10 with the NGC base image's CUDA toolkit "
                       "(the lab's stand-in of that image has none; 45-90 min on a GB10)",
    "docker run --rm --gpus all": "needs a GPU (`docker run --gpus all`)",
    "./run.sh --port": "needs a GPU: run.sh's trial checks `nvidia-smi` first, then starts `docker run --gpus all`",
}
# The prerequisite checks for what a stand-in is not: they run there and must refuse it (host_blocks.refusal).
MUST_REFUSE = ["nvidia-smi --query-gpu", "docker info --format", "findmnt -t nfs4 /mnt/models"]


def blocks() -> list[fences.Block]:
    return [b for b in fences.blocks(PAGE, (ROOT / PAGE).read_text()) if b.lang in fences.RUNNABLE]


def the(snippet: str) -> fences.Block:
    found = [b for b in blocks() if snippet in b.code]
    assert len(found) == 1, f"{PAGE}: expected one block with {snippet!r}, found {[b.id for b in found]}"
    return found[0]


@pytest.fixture(scope="module")
def run(host_procedures):
    """The page's run of this session (run here if the doc-tests did not run it yet)."""
    page = host_procedures.run_page(PAGE)
    failures = [st.failure for st in page.steps.values() if st.failure]
    if failures:
        pytest.fail(f"{PAGE} failed in its run in order:\n{failures[-1]}", pytrace=False)
    return page


def test_every_block_ran_refused_or_is_static_for_its_reason(run, host_systems):
    page = blocks()
    assert list(run.steps) == [b.id for b in page if not b.skip]
    assert all(b.id not in run.steps for b in page if b.skip)
    kinds = {kind: {bid: st.reason for bid, st in run.steps.items() if st.kind == kind}
             for kind in ("refused", "static")}
    refusals = {b.id: r.reason() for b in page if b.on and not b.skip and (r := host_blocks.refusal(b, DATA))}
    assert kinds["refused"] == refusals and {the(snippet).id for snippet in MUST_REFUSE} <= set(refusals)
    assert kinds["static"] == {b.id: why for b in page if not b.skip and b.id not in refusals
                               and (why := host_blocks.static_reason(b, DATA, systemd=host_systems.systemd))}
    assert {the(snippet).id: why for snippet, why in MUST_STAY_STATIC.items()}.items() <= kinds["static"].items()
    ran = [b for b in page if b.id in run.steps and b.id not in kinds["static"] and b.id not in refusals]
    assert {b.on or "workstation" for b in ran} == {run.preparation.key, "workstation"}
    assert all(run.steps[b.id].kind == ("host" if b.on else "workstation") for b in ran)


def test_the_kit_copied_and_what_its_checks_printed(run, host_systems):
    kit = host_systems[run.preparation.key].host.home / "vllm-gb10"
    for f in sorted((ROOT / "vllm-gb10").iterdir()):
        assert (kit / f.name).read_bytes() == f.read_bytes(), f.name
    image = run.preparation.image
    out = run.steps[the("check-prereqs.sh --for build").id].stdout
    assert "[FAIL]" not in out and "RESULT: all checks passed" in out, out
    assert f"free disk on {sh.DOCKER_ROOT}: " in out, out
    out = run.steps[the("build.sh --dry-run").id].stdout
    assert "[dry-run] docker build --platform " in out and f"--tag {image}" in out, out
    assert "Total reclaimed space" in run.steps[the("docker builder prune").id].stdout
    # the world stand-in (lab.world_standin) answers as the page says to expect
    assert run.steps[the("https://nvcr.io/v2/").id].stdout.split() == ["401", "200", "200"]


def test_what_the_page_left_then_the_state_put_back(run, host_systems):
    """Before the preparation put things back: the service running on the production image (Rollback 2), the
    trial gone (Rollback 1), the kit image gone from pegasus (Rollback 3), stella holding pegasus's image (step
    11), the base image pulled from the lab's registry (step 3). After: the system stopped, as its QUICKSTART
    leaves it, and neither image on either host."""
    prep = run.preparation
    key, other, image = prep.key, prep.other, prep.image
    system = DATA.systems[key]
    production = DATA.images[system.image].ref
    assert prep.imported.startswith("sha256:"), prep.imported
    assert prep.left[other].images.get(image) == prep.imported, prep.left[other].images
    assert image not in prep.left[key].images and production in prep.left[key].images, prep.left[key].images
    assert prep.left[key].containers == {system.container_name: f"running {production}"}, prep.left[key].containers
    base = next(i for i in DATA.images.values() if i.build).build.base_image     # step 3: from the lab's registry
    assert prep.left[key].digests.get(base, "").startswith("sha256:"), prep.left[key].digests
    for k in (key, other):
        s = host_systems[k]
        out = s.host.run(f"docker ps -q; docker image ls -q {image}; docker image ls -q {base}", user=s.host.spec.user,
                         timeout=60)
        assert out.returncode == 0 and out.stdout.strip() == "", f"{k}: {out.stdout}{out.stderr}"
    assert any("local `docker import`" in d for d in run.prepared), run.prepared
