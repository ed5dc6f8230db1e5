"""The loopback lab's address plan: every 127.0.0.x the lab hands out, in one place, so that two of its
servers never share an address (their ports may differ today; a new server's need not).

    127.0.0.2 and up    the vLLM servers, in data order over every data file of the session (lab_specs)
    127.0.0.30          kept free (the docs host's site server was here; it now runs on a host stand-in of its
                        own, at a lab address of lab.standin_hosts: docs_site)
    127.0.0.40 and up   the llama-servers, 40 + the system's index in its data (llamacpp_server)
    127.0.0.60 and up   the probe tests' small fake servers (tests/probe_fakes.py)
"""

from __future__ import annotations

VLLM_FIRST = 2
DOCS_SITE = 30              # the vLLM servers' upper bound (see above)
LLAMACPP_FIRST = 40
PROBE_FAKES_FIRST = 60


def loopback(n: int) -> str:
    return f"127.0.0.{n}"
