"""`python -m bench`: throughput, latency, aggregation time and memory of the pipeline, measured on this machine.

One module per measurement family (ceilings, generator, pipeline, latency,
aggregate, memory), shared plumbing in `env` and `sparkmon`, pure arithmetic
in `stats`, orchestration and the report in `runner` and `report`, the
command line in `cli` (`__main__`).

Not part of the shipped `ratings_assets` package: it lives at the repository
root, is run from there (`.venv/bin/python -m bench`, or `make bench`), and
needs the `bench` extra (matplotlib): `pip install -e '.[test,bench]'`.
"""
