"""Observed records: the probe's typed records, status and history files, badges and charts."""
