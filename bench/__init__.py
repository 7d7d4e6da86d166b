"""Benchmarks: scripts that measure and print figures. Run them all with `make bench`.

Each ``bench_*.py`` module has ``main() -> dict`` which prints a readable table and returns its
figures; ``python -m bench`` runs every one (or those named on the command line) and writes
the figures to ``bench/results/<name>.json``. Goals are checked and printed as PASS/MISS here,
never asserted in tests: tests assert behaviour, benchmarks measure time.
"""
