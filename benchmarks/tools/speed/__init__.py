"""Parts of ``benchmarks.tools.throughput``: probe (what is counted and timed), runners (glue_lit,
the Trainer, each in its own worker process), bare (a minimal loop over glue_lit's batches, and the
step it shares with the experiments), process (whole runs as a user starts them), tokenization,
report (medians, ratios, table)."""
