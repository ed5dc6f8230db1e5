"""Rebuild tests/invalid/ from tests/valid/systems.yaml: one file per rule, each one change away from
valid, its first line the error it must produce. Run after a schema change, then review the diff:
`.venv/bin/python tests/invalid/regenerate.py`."""

import subprocess
import sys

from labdocs.paths import ROOT
base = (ROOT / "tests/valid/systems.yaml").read_text()
def sub(old, new, text=None, count=1):
    text = text if text is not None else base
    assert old in text, old
    return text.replace(old, new, count)
stella_start = base.index("  stella:\n")
def in_stella(old, new):
    head, tail = base[:stella_start], base[stella_start:]
    assert old in tail, old
    return head + tail.replace(old, new, 1)
cases = {
 "unknown-key": in_stella("    port: 8000\n", "    prot: 8000\n"),
 "missing-key": in_stella("    container_name: qwen-coder\n", ""),
 "port-out-of-range": in_stella("    port: 8000\n", "    port: 80000\n"),
 "wrong-type": in_stella("    context_length: 204800\n", "    context_length: lots\n"),
 "duplicate-system-id": base.replace("\nclients:", "  stella:\n    name: Stella again\n\nclients:", 1),
 "duplicate-hostname": in_stella("    host: stella.home.arpa\n    port: 8000\n", "    host: pegasus.home.arpa\n    port: 8001\n"),
 "duplicate-container-name": in_stella("    container_name: qwen-coder\n", "    container_name: gpt-oss-120b\n"),
 "duplicate-ssh-alias": in_stella("      alias: stella-llm\n", "      alias: pegasus-llm\n"),
 "parser-format-mismatch": in_stella("      format: qwen3-xml ", "      format: hermes "),
 "model-id-mismatch": in_stella("      snapshot: b2cff646eb4bb1d68355c01b18ae02e7cf42d120\n", "      snapshot: deadbeefdeadbeefdeadbeefdeadbeefdeadbeef\n"),
 "hostname-shell-injection": in_stella("    host: stella.home.arpa\n", "    host: \"stella.home.arpa; rm -rf ~\"\n"),
 "flag-value-command-substitution": in_stella("      trust-remote-code: true\n", "      trust-remote-code: true\n      kv-cache-dtype: \"$(reboot)\"\n"),
 "flag-value-newline": in_stella("      trust-remote-code: true\n", "      trust-remote-code: true\n      kv-cache-dtype: \"auto\\n--api-key leaked\"\n"),
 "flag-name-invalid": in_stella("      trust-remote-code: true\n", "      trust-remote-code: true\n      \"--Max Num Seqs\": 4\n"),
 "path-with-space": in_stella("    service_dir: ~/vllm-service\n", "    service_dir: ~/vllm service\n"),
 "container-name-backtick": in_stella("    container_name: qwen-coder\n", "    container_name: \"qwen`id`\"\n"),
 "reserved-flag": in_stella("      trust-remote-code: true\n", "      trust-remote-code: true\n      max-model-len: 32768\n"),
 "unknown-platform": in_stella("      platform: gb10\n", "      platform: gb200\n"),
 "unknown-image": in_stella("    image: nvidia-vllm\n", "    image: nvidia-vllm-26\n"),
 "unknown-system-reference": sub("    systems: [pegasus]\n", "    systems: [pegasus, orion]\n"),
 "host-outside-domain": in_stella("    host: stella.home.arpa\n", "    host: stella.example.com\n"),
 "yaml-syntax": in_stella("    role: Fast Coder\n", "    role: Fast Coder\n   status: oops\n"),
 "bad-choice": in_stella("    status: production\n", "    status: live\n"),
 "unknown-quantization": in_stella("      quantization: BF16\n", "      quantization: INT3\n"),
 "no-systems": base[:base.index("systems:\n  pegasus:")] + "systems: {}\n\n" + base[base.index("clients:"):],
 "image-ref-invalid": sub("    ref: nvcr.io/nvidia/vllm:25.12-py3\n", "    ref: \"nvcr.io/nvidia/vllm:25.12 py3\"\n"),
 "resolver-address-invalid": sub("      address: 10.0.0.1\n", "      address: 10.0.0.256\n"),
 "active-params-exceed-total": in_stella("      active_params_b: 3.3\n", "      active_params_b: 33\n"),
 "snapshot-read-as-number": in_stella("      snapshot: b2cff646eb4bb1d68355c01b18ae02e7cf42d120\n", "      snapshot: 1234567890123456789012345678901234567890\n"),
 "duplicate-issue-id": sub("  - id: no-gds\n", "  - id: marlin-hang\n"),
 "flag-missing-in-version": in_stella("      disable-sliding-window: true\n", "      disable-sliding-window: true\n      attention-backend: FLASH_ATTN\n"),
 "parser-missing-in-version": in_stella("      parser: hermes ", "      parser: qwen3_json "),
 "unknown-vllm-version": sub("    vllm: 0.11.1 ", "    vllm: 0.11.0 "),
 "unknown-source": in_stella("      source: stella-deploy\n", "      source: stella-deploy-2\n"),
 "fact-without-source": in_stella("      source: stella-deploy\n", ""),
 "source-measured-and-vendor": sub("    vendor: https://huggingface.co/Qwen/Qwen3-Coder-30B-A3B-Instruct\n", "    vendor: https://huggingface.co/Qwen/Qwen3-Coder-30B-A3B-Instruct\n    measured: {host: stella.home.arpa, date: 2026-01-25, by: a guess}\n"),
 "read-per-token-mismatch": sub("params_b: 0.013,", "params_b: 1.013,"),
 # issue 19: nothing smuggled through the data file
 "text-opens-code-fence": in_stella("    role: Fast Coder\n", "    role: \"Fast Coder\\n\\n```bash {on=stella}\\nrm -rf ~\\n```\"\n"),
 "text-jinja": in_stella("    name: Stella\n", "    name: \"Stella {{ config.extra }}\"\n"),
 "text-html": sub("    cause: Weights are read from NFS rather than local disk (pegasus reads them with fastsafetensors, in 70 s).\n", "    cause: Weights <script>alert(1)</script> are slow.\n"),
 "comment-newline-adds-yaml": in_stella("      source: stella-deploy\n", "      estimate: \"notes\\nentrypoint: [sh, -c, reboot]\"\n"),
 "flag-value-is-option": in_stella("      trust-remote-code: true\n", "      trust-remote-code: true\n      kv-cache-dtype: --served-model-name=evil\n"),
 "flag-abbreviation": in_stella("      trust-remote-code: true\n", "      trust-remote-code: true\n      max-model: 4096\n"),
 "flag-no-form": in_stella("      trust-remote-code: true\n", "      trust-remote-code: true\n      no-enable-auto-tool-choice: true\n"),
 "flag-secret": in_stella("      trust-remote-code: true\n", "      trust-remote-code: true\n      api-key: hunter2hunter2\n"),
 "flag-boolean-as-text": in_stella("      trust-remote-code: true\n", "      trust-remote-code: \"off\"\n"),
 "flag-value-nan": in_stella("      gpu-memory-utilization: 0.93\n", "      gpu-memory-utilization: .nan\n"),
 "path-dotdot": in_stella("    service_dir: ~/vllm-service\n", "    service_dir: ~/../../etc\n"),
 "path-system-dir": sub("    local_copy_dir: /opt/models ", "    local_copy_dir: /etc "),
 "path-tilde-dash": in_stella("    service_dir: ~/vllm-service\n", "    service_dir: ~-/vllm-service\n"),
 "port-is-true": in_stella("    port: 8000\n", "    port: true\n"),
 "ipv4-unicode-digit": sub("      address: 10.0.0.1\n", "      address: 10.0.0.\u0661\n"),
 "minutes-infinite": in_stella("      minutes: 6.5 ", "      minutes: .inf "),
}
for name, text in cases.items():
    assert text != base, name
    path = ROOT / f'tests/invalid/{name}.yaml'
    open(path, 'w', encoding='utf-8').write("# expect: PLACEHOLDER\n" + text)
    r = subprocess.run([sys.executable, '-m', 'labdocs.render', 'validate', '--data', f'tests/invalid/{name}.yaml'], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2, name
    errs = [ln for ln in r.stderr.splitlines() if ln.startswith(f"tests/invalid/{name}.yaml:")]
    assert len(errs) == 1, (name, r.stderr)
    expect = errs[0][len(f"tests/invalid/{name}.yaml"):]
    open(path, 'w', encoding='utf-8').write(f"# expect: {expect}\n" + text)
    print(name, expect)
