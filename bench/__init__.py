"""Benchmarks: ``python -m bench [NAME ...]`` (``make bench``)."""
