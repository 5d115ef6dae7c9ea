"""Experiments as data: study files -> runs -> ``results/`` records -> docs tables and figures.

* :mod:`.results` -- the per-run JSON records (``results/``);
* :mod:`.runner` -- ``python -m experiments study``: train/evaluate what a study file lists, skipping what is done;
* :mod:`.eta` -- how much training a study has left (``--dry-run``);
* :mod:`.report` -- ``python -m experiments report``: the docs tables (docs/results.md,
  docs/ablations.md), regenerated from the records;
* :mod:`.figures` -- ``python -m experiments figures``: the figures in ``docs/``.
"""

from experiments.runner import Study, load_study, plan, run_study, time_left

__all__ = ["Study", "load_study", "plan", "run_study", "time_left"]
