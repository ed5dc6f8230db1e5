"""Observed records: status and history files, badges and charts."""
