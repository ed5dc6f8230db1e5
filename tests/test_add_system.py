"""Adding a system is one data entry: its directory, compose file, pages and nav entry all appear."""

from __future__ import annotations

from pathlib import Path

from conftest import BIN, macros_cli, run

THIRD = """
  vega:
    name: Vega
    role: Embeddings
    status: staging
    host: vega.home.arpa
    port: 8000
    ssh:
      alias: vega-llm
      user: llm-agent
    hardware:
      platform: gb10
      vendor: NVIDIA
      model: DGX Spark
    model:
      repo: Qwen/Qwen3-Embedding-8B
      snapshot: 1d8ad4ca9b3dd8059ad90a75d4983776a23d44af
      family: qwen3
      params_b: 8
      active_params_b: 8
      quantization: BF16
      source: qwen3-coder-card
    context_length: 32768
    speed:
      decode_tokens_per_s: null
    tool_calling:
      parser: hermes
    image: nvidia-vllm
    container_name: qwen-embed
    service_dir: ~/vllm-service
    vllm_args:
      gpu-memory-utilization: 0.3
    load:
      minutes: 2
      estimate: an 8B BF16 model, from stella's measured load
"""


def add_third_system(repo: Path) -> None:
    data = repo / "data" / "systems.yaml"
    text = data.read_text()
    data.write_text(text.replace("\nclients:\n", THIRD + "\nclients:\n", 1))


def test_one_data_entry_adds_a_whole_system(repo_copy: Path):
    add_third_system(repo_copy)

    generated = macros_cli("generate", cwd=repo_copy)
    assert generated.returncode == 0, generated.stderr
    vega = repo_copy / "systems" / "vega"
    assert sorted(p.name for p in vega.iterdir()) == \
        [".nav.yml", "COMPOSE.md", "QUICKSTART.md", "README.md", "docker-compose.yml", "vllm-vega.service"]
    assert "qwen-embed" in (vega / "docker-compose.yml").read_text()
    assert "vega.home.arpa" in (repo_copy / "STATUS.md").read_text()
    assert "http://vega.home.arpa:8000/v1" in (repo_copy / "clients" / "opencode.json").read_text()

    schema = run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
                  str(vega / "docker-compose.yml")])
    assert schema.returncode == 0, schema.stdout

    built = run([str(BIN / "mkdocs"), "build", "--strict"], cwd=repo_copy)
    assert built.returncode == 0, built.stdout + built.stderr
    site = repo_copy / "site"
    for page in ("systems/vega/index.html", "systems/vega/QUICKSTART/index.html",
                 "systems/vega/COMPOSE/index.html",
                 "systems/vega/docker-compose.yml"):
        assert (site / page).is_file(), page
    home = (site / "index.html").read_text()
    assert "Qwen/Qwen3-Embedding-8B" in home and 'href="systems/vega/' in home
    assert "vega.home.arpa" in (site / "infrastructure" / "index.html").read_text()
