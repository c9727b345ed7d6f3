"""Parts of ``benchmarks/throughput.py``: probe (what is counted and timed), runners (glue_lit, the
Trainer, a bare loop, each in its own worker process), process (whole runs as a user starts them),
tokenization, report (medians, ratios, table)."""
