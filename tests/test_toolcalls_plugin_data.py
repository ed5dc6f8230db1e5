"""A system's tool_calling section can choose the project's tool-call parser plugin (`parser: toolcalls`):
the compose file mounts toolcalls/ read-only and passes the flags, the quickstart copies the directory,
the rules know what clients get. Example: stella-plugin in data/examples/native-tool-parser.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import BIN, ROOT, run
from labdocs.lab.lab_specs import PLUGIN_PATHS, specs
from labdocs.model.loader import load
from labdocs.render.views import render_all
from labdocs.engines.vllm import PLUGIN_TARGET, client_format, serve_flags

EXAMPLE = ROOT / "data" / "examples" / "native-tool-parser.yaml"
DATA = load(EXAMPLE)
KEY = "stella-plugin"
OUT = render_all(DATA, "data/examples/native-tool-parser.yaml")


def test_the_flags_load_the_plugin_from_the_mounted_file():
    flags = serve_flags(DATA.systems[KEY])
    i = flags.index("--tool-parser-plugin")
    assert flags[i + 1] == f"{PLUGIN_TARGET}/vllm_plugin.py"
    assert flags[flags.index("--tool-call-parser") + 1] == "toolcalls"
    assert "--enable-auto-tool-choice" in flags
    assert "--tool-parser-plugin" not in serve_flags(DATA.systems["stella-next"])


def test_compose_mounts_the_package_read_only_and_passes_the_flags(tmp_path: Path):
    text = OUT[f"systems/{KEY}/docker-compose.yml"]
    svc = yaml.safe_load(text)["services"]["vllm"]
    mounts = [v for v in svc["volumes"] if isinstance(v, dict) and v.get("target") == PLUGIN_TARGET]
    assert mounts == [{"type": "bind", "source": "./toolcalls", "target": PLUGIN_TARGET, "read_only": True}]
    assert svc["command"][:3] == ["vllm", "serve", DATA.systems[KEY].model.id]
    assert svc["command"][3:] == serve_flags(DATA.systems[KEY])
    other = yaml.safe_load(OUT["systems/stella-next/docker-compose.yml"])["services"]["vllm"]
    assert not [v for v in other["volumes"] if isinstance(v, dict) and v.get("target") == PLUGIN_TARGET]
    path = tmp_path / "docker-compose.yml"
    path.write_text(text)
    result = run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_mounted_directory_is_the_package_the_flag_names():
    # what the quickstart copies (toolcalls/) holds the file the flag names, inside the package
    assert (ROOT / "toolcalls" / "vllm_plugin.py").is_file() and (ROOT / "toolcalls" / "__init__.py").is_file()
    quickstart = OUT[f"systems/{KEY}/QUICKSTART.md"]
    assert f"scp -r toolcalls {DATA.systems[KEY].ssh.alias}:{DATA.systems[KEY].service_dir}/" in quickstart
    assert "scp -r toolcalls" not in OUT["systems/stella-next/QUICKSTART.md"]


def test_the_lab_serves_the_repos_plugin_file():
    spec = next(s for s in specs(DATA, [KEY])[0])
    assert spec.tool_call_parser == "toolcalls"
    path = spec.extra_args[spec.extra_args.index("--tool-parser-plugin") + 1]
    assert path == PLUGIN_PATHS[f"{PLUGIN_TARGET}/vllm_plugin.py"] and Path(path).is_file()


def test_clients_get_tool_calls_for_the_formats_it_reads():
    families = DATA.model_families
    assert client_format("toolcalls", families["qwen3-coder-moe"]) == "openai"
    assert client_format("toolcalls", families["qwen3"]) == "openai"
    assert client_format("hermes", families["qwen3-coder-moe"]) == "qwen3-xml"  # the rule can say no


@pytest.mark.parametrize("old,new,needle", [
    ("      parser: toolcalls ", "      format: qwen3-xml\n      parser: toolcalls ",
     "tool_calling.format: 'format' is derived, not declared"),
    ("      disable-sliding-window: true\n    load:\n      minutes: 6.5\n      source: stella-deploy\n\nclients",
     "      disable-sliding-window: true\n      tool-parser-plugin: /x.py\n    load:\n      minutes: 6.5\n"
     "      source: stella-deploy\n\nclients", "--tool-parser-plugin is generated"),
])
def test_bad_plugin_data_is_refused(tmp_path: Path, old, new, needle):
    text = EXAMPLE.read_text()
    assert old in text
    bad = tmp_path / "systems.yaml"
    bad.write_text(text.replace(old, new))
    from labdocs.model.errors import DataInvalid

    with pytest.raises(DataInvalid) as err:
        load(bad)
    assert needle in str(err.value)


def test_the_plugin_page_talks_to_the_example_systems():
    page = (ROOT / "docs" / "toolcalls-plugin.md").read_text()
    for key in ("stella-plugin", "stella-next"):
        assert f'"{DATA.systems[key].host}"' in page
    assert f'"{DATA.systems[KEY].model.id}"' in page
    deployed = load().systems["stella"]
    assert f'"{deployed.host}"' in page and deployed.tool_calling.parser == "hermes"
