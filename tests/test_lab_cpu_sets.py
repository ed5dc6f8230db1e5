"""How the loopback lab splits this machine's cores between its vLLM servers (lab.servers), without starting it."""

from __future__ import annotations

import os

from labdocs.lab.servers import _cpu_sets


def test_each_server_gets_cores_and_a_session_without_servers_gets_none():
    """`--system docs-site` selects no vLLM system: the lab then has no server, which divided by zero here."""
    cpus = sorted(os.sched_getaffinity(0))
    assert _cpu_sets(0) == []
    assert _cpu_sets(1) == [",".join(map(str, cpus))]
    many = _cpu_sets(len(cpus) + 1)
    assert len(many) == len(cpus) + 1 and set(many) == {str(c) for c in cpus}
