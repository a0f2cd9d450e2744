"""Benchmarks for KAP Companion: `kap bench seed` makes the data, `make bench` prints the figures.

Nothing here runs in `make test`; nothing here fails for being slow. See bench/README.md.
"""
