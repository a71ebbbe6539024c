"""`ratings bench`: throughput, latency, aggregation time and memory of the pipeline, measured on this machine.

One module per measurement family (ceilings, generator, pipeline, latency,
aggregate, memory), shared plumbing in `env` and `sparkmon`, pure arithmetic
in `stats`, orchestration and the report in `runner` and `report`.
"""
