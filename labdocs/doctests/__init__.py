"""Executable docs: collect the fenced blocks readers see and run them against live endpoints.

fences.py parses blocks and their header settings, console.py checks `$ ` blocks against their shown
output, rendered.py gets each page as the reader sees it (after macros), static.py checks host-local
blocks without a host, and run.py runs a block in the lab or against the real hosts.
"""
