"""One-off comparisons: each script writes its records beside it; docs/results.md states the outcome.

- ``lora_vs_full``: full fine-tuning against LoRA on CoLA, MRPC and STS-B (records in ``lora/``).
- ``tune_pruning``: a tuning study with and without Optuna's median pruner.
- ``stsb_bias_at_zero/``: STS-B with the regression head's bias started at zero instead of the
  label mean (benchmark records).
- ``wnli_random_batches/``: WNLI with random batches (``--data.group_by_length false``).
"""
