"""Experiments as data: study files -> runs -> ``results/`` records -> README tables and figures.

* :mod:`.results` -- the per-run JSON records (``results/``);
* :mod:`.runner` -- ``vesselseg study``: train/evaluate what a study file lists, skipping what is done;
* :mod:`.eta` -- how much training a study has left (``--dry-run``);
* :mod:`.report` -- ``vesselseg report``: the README tables, regenerated from the records;
* :mod:`.figures` -- ``vesselseg figures``: the figures in ``docs/``.
"""

from vesselseg.study.runner import Study, load_study, plan, run_study, time_left

__all__ = ["Study", "load_study", "plan", "run_study", "time_left"]
