"""``python -m glue_lit benchmark --tasks cola,mrpc --seeds 42,43,44``: fit tasks over seeds, tabulate.

Each (task, seed) is one ordinary CLI run: ``configs/<task>.yaml``, then the options you add (for
example ``--config configs/minilm.yaml --trainer.max_epochs 1``), then ``--recipes DIR/<task>.yaml``
where it exists, with ``--seed_everything`` set to the seed; so a benchmark trains exactly what
``python -m glue_lit fit`` would. ``--runner trainer`` trains the same runs through
``transformers.Trainer`` with its defaults, the baseline. Every finished run is written at once to
``runs/benchmark/version_N/runs/<task>-seed<seed>.json`` (a :class:`Record`); the same command
started again (after a kill, say) continues that folder and runs only what has no record yet.
``--resume`` continues the newest folder (or ``--out`` itself when it is one) with other tasks or
seeds if you give them, as long as the options that decide how a run trains are the same (plan.json
lists each batch of added runs, and ``results.md`` the command for each). ``results.md``,
``results.csv`` and ``results.json`` hold the per-seed runs and their median, mean and spread per
task, with collapsed runs named. ``--baseline DIR`` puts another folder's records beside;
``--report --column NAME=DIR ...`` tables several folders side by side.
"""

from glue_lit.benchmark.command import main
from glue_lit.benchmark.records import Record, load_records, save_record
from glue_lit.seeds import parse_seeds

__all__ = ["Record", "load_records", "main", "parse_seeds", "save_record"]
