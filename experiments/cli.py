"""``python -m experiments``: the paper's study, beside the library (run from the repository root).

* ``study STUDY.yaml`` -- train and evaluate what a study file lists, skipping what is done;
* ``report`` -- regenerate the results tables in README.md and docs/*.md from ``results/``;
* ``figures`` -- draw the figures in ``docs/figures``.

Errors behave as in ``vesselseg``: one ``error:`` line, exit 2, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from vesselseg.cli import DATA_HELP, run_group


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def cli() -> None:
    """The CaFFNet paper's reproduction: study runs, results tables and figures."""


@cli.command("study")
@click.argument("study_file", type=click.Path(path_type=Path))
@click.option("--only", multiple=True, metavar="GLOB",
              help="Only items whose name matches (repeatable), e.g. 'chase_*'.")
@click.option("--dry-run", is_flag=True, help="List every item and what would be done; do nothing.")
@click.option("--redo", multiple=True, metavar="GLOB",
              help="Evaluate these finished items again from their weights (repeatable; never retrains), "
                   "e.g. after an evaluation change: --redo '*caffnet*'.")
@click.option("--runs", "runs_dir", type=click.Path(path_type=Path), default=Path("runs"), show_default=True,
              help="Folder of run folders (runs/<name>).")
@click.option("--results", "results_dir", type=click.Path(path_type=Path), default=Path("results"),
              show_default=True, help="Folder of result records.")
@click.option("--data", type=click.Path(path_type=Path), default=None, help=DATA_HELP)
@click.option("--progress/--no-progress", default=True, show_default=True)
def study_cmd(study_file, only, dry_run, redo, runs_dir, results_dir, data, progress):
    """Train and evaluate every run of STUDY_FILE (configs/studies/*.yaml) not done yet.

    Runs with a record in results/ are skipped, finished runs are only evaluated, interrupted
    runs resume from their newest checkpoint: rerun the same command after any interruption.
    Then the human reference and cross-dataset records; `python -m experiments report` makes the tables.
    """
    from experiments.eta import summary
    from experiments.runner import load_study, plan, run_study, time_left

    study = load_study(study_file)
    if dry_run:
        rows = plan(study, runs_dir, results_dir, redo=redo, only=only)
        left = time_left(study, runs_dir, results_dir, rows)
        for name, status in rows:
            click.echo(f"{name:32s} {status:18s} {left[name].describe() if name in left else ''}".rstrip())
        click.echo(summary(left))
        return
    written = run_study(study, runs_dir, results_dir, only=only, data=data, progress=progress, echo=click.echo,
                        redo=redo)
    click.echo(f"{len(written)} record(s) written; `python -m experiments report` updates the tables")


@cli.command("report")
@click.option("--results", "results_dir", type=click.Path(path_type=Path), default=Path("results"),
              show_default=True, help="Folder of result records.")
@click.option("--file", "files", multiple=True, type=click.Path(path_type=Path),
              help="Markdown file whose <!-- report:NAME --> sections are regenerated (repeatable; "
                   "default: README.md and every docs/*.md that holds a marker).")
@click.option("--check", is_flag=True, help="Only check: exit 1 if a file is out of date.")
@click.option("--print", "print_only", is_flag=True, help="Print every table instead of writing the files.")
def report_cmd(results_dir, files, check, print_only):
    """Regenerate the results tables from the records in results/ (no hand-typed numbers)."""
    from experiments.report import marked_files, render, update_file

    if print_only:
        if not results_dir.is_dir():
            raise click.UsageError(f"{results_dir}: no results folder")
        for name, table in render(results_dir).items():
            click.echo(f"<!-- report:{name} -->\n{table}")
        return 0
    targets = list(files) or marked_files(Path("."))
    if not targets:
        raise click.UsageError("no README.md or docs/*.md with <!-- report:NAME --> markers here; run it from the "
                               "repository root or name the files with --file")
    stale = []
    for path in targets:
        changed, sections = update_file(path, results_dir, check=check)
        if check:
            if changed:
                stale.append(path)
                click.echo(f"{path} is out of date with {results_dir}/: run `python -m experiments report`", err=True)
            else:
                click.echo(f"{path} is up to date ({', '.join(sections)})")
        else:
            click.echo(f"{'updated' if changed else 'unchanged'}: {path} ({', '.join(sections)})")
    return 1 if stale else 0


@cli.command("figures")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("docs/figures"), show_default=True)
@click.option("--kind", "kinds", multiple=True, type=click.Choice(["roc", "preprocessing", "qualitative"]),
              help="Only these figures (repeatable; default: all).")
@click.option("--dataset", "datasets", multiple=True, type=click.Choice(["drive", "stare", "chase"]),
              help="Only these datasets (repeatable; default: all).")
@click.option("--results", "results_dir", type=click.Path(path_type=Path), default=Path("results"), show_default=True)
@click.option("--data", type=click.Path(path_type=Path), default=None, help=DATA_HELP)
def figures_cmd(out_dir, kinds, datasets, results_dir, data):
    """Draw the figures: ROC curves per dataset (from results/), preprocessing stages and the
    qualitative comparison with zoomed thin vessels (from the datasets and the trained weights)."""
    from experiments.figures import KINDS, make_figures
    from experiments.report import DATASETS

    make_figures(out_dir, results_dir, data, kinds=kinds or KINDS, datasets=datasets or DATASETS, echo=click.echo)


def main(argv: list[str] | None = None) -> int:
    return run_group(cli, argv, "python -m experiments")


if __name__ == "__main__":
    sys.exit(main())
