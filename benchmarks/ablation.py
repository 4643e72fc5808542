"""Ablation rows over seeds, merged into the committed table: the `seeds.json` of each variant that a
`tinybert-ref ablate --seeds ...` run finished, collected.

    python -m benchmarks.ablation runs/laptop-ablate-v2 \
        --command "tinybert-ref ablate --set no_da,no_td --seeds 42,43,44 --store runs/laptop/stages --out runs/laptop-ablate-v2"

Each finished variant (OUT/<variant>/seeds.json over the table's seeds) replaces its row in
`benchmarks/results/ablation.json`; the row it replaces moves to the `previous_loop` block, so a table
never silently mixes what two versions of the code made. `--moved-to BLOCK --label TEXT` sends the
replaced rows to another labelled block instead (`other_cpu`: the same code on another machine).
`--one-seed --label TEXT` merges variants run over one of the table's seeds (the loss and mapping rows,
which the issue lets stay at one seed) into the `one_seed` block, each judged against the `full` row's
score on that seed with the `full` row's sd over its seeds as the noise bar; a variant later merged over
the table's seeds leaves that block. Every verdict is recomputed against the
table's `full` row with the 2-sd rule (`tinybert_ref.seeds.beats`). Nothing is measured here: the
figures are the pipeline's. The README's ablation block is generated from this file
(`python -m benchmarks.readme`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tinybert_ref.ablation import seeded_rows, versus_full

from . import RESULTS_DIR

__all__ = ["merge", "merge_one_seed", "one_seed_verdicts", "verdicts"]


def verdicts(rows: list[dict]) -> list[dict]:
    """`vs_full` and `verdict` of every row against the `full` row (`tinybert_ref.ablation.versus_full`)."""
    full = next(row for row in rows if row["variant"] == "full")
    for row in rows:
        if row is not full:
            row.update(versus_full((full["test_mean"], full["test_sd"]), (row["test_mean"], row["test_sd"])))
    return rows


def merge(table: dict, run: Path, command: str, moved_to: str = "previous_loop", label: str | None = None) -> list[str]:
    """Replace the rows of `table` (ablation.json, in place) by the variants `run` finished over the
    table's seeds; returns the variants merged. A variant still running (no seeds.json) or run over
    other seeds is left out: its row would not be comparable. The replaced rows join block `moved_to`
    (made with `label` if new), beside that block's own `full`, against which their verdicts are recomputed."""
    summaries = {}
    for path in sorted(run.glob("*/seeds.json")):
        summary = json.loads(path.read_text())
        if summary["seeds"] == table["seeds"]:
            summaries[path.parent.name] = summary
    if not summaries:
        raise SystemExit(f"{run}: no variant finished over seeds {table['seeds']} (no <variant>/seeds.json); "
                         "wait for `tinybert-ref ablate` to finish a variant")
    new = {row["variant"]: row for row in seeded_rows(summaries)}
    previous = table.setdefault(moved_to, {"label": label or "", "rows": []})
    rows = []
    for row in table["rows"]:
        if row["variant"] in new:  # the replaced row joins the older code's table, beside that code's `full`
            previous["rows"] = [old for old in previous["rows"] if old["variant"] != row["variant"]] + [row]
            row = new.pop(row["variant"])
        rows.append(row)
    table["rows"] = verdicts(rows + list(new.values()))
    if any(row["variant"] == "full" for row in previous["rows"]):
        verdicts(previous["rows"])
    if "one_seed" in table:  # a variant now over the table's seeds leaves the one-seed block; the rest are re-judged
        table["one_seed"]["rows"] = [row for row in table["one_seed"]["rows"] if row["variant"] not in summaries]
        one_seed_verdicts(table)
        if not table["one_seed"]["rows"]:
            del table["one_seed"]
    table.setdefault("commands", []).append(command)
    return list(summaries)


def one_seed_verdicts(table: dict) -> None:
    """Judge each row of block `one_seed` (in place) against the `full` row's score on the same seed (the
    same teacher, split and augmentation sampling); one seed has no sd of its own, so the bar of the 2-sd
    rule is the `full` row's sd over its seeds: a difference inside it is noise as far as three seeds of
    the full recipe can tell."""
    full = next(row for row in table["rows"] if row["variant"] == "full")
    for row in table["one_seed"]["rows"]:
        on_seed = next(r for r in full["per_seed"] if r["seed"] == row["seeds"][0])
        row.update(versus_full((on_seed["test"], full["test_sd"]), (row["test_mean"], full["test_sd"])))
        row["full_on_seed"] = on_seed


def merge_one_seed(table: dict, run: Path, command: str, label: str | None = None) -> list[str]:
    """Put the variants `run` finished over a single seed of the table into block `one_seed` of `table`
    (in place), judged by `one_seed_verdicts`; returns the variants merged."""
    full = next(row for row in table["rows"] if row["variant"] == "full")
    summaries = {}
    for path in sorted(run.glob("*/seeds.json")):
        summary = json.loads(path.read_text())
        if len(summary["seeds"]) == 1 and summary["seeds"][0] in full["seeds"] and path.parent.name != "full":
            summaries[path.parent.name] = summary
    if not summaries:
        raise SystemExit(f"{run}: no variant finished over one of the seeds {full['seeds']} of the `full` row "
                         "(no <variant>/seeds.json over one seed); wait for `tinybert-ref ablate --seeds S` to "
                         "finish a variant")
    block = table.setdefault("one_seed", {"label": label or "", "commands": [], "rows": []})
    if label:
        block["label"] = label
    rows = {row["variant"]: row for row in block["rows"]}
    rows.update({row["variant"]: row for row in seeded_rows(summaries)})
    block["rows"] = list(rows.values())
    one_seed_verdicts(table)
    if command not in block["commands"]:  # merging again as more variants of the same command finish
        block["commands"].append(command)
    return list(summaries)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ablation", description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="the --out folder of a `tinybert-ref ablate --seeds ...` run")
    parser.add_argument("--command", required=True, help="the command that made it, and on which machine")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR / "ablation.json")
    parser.add_argument("--moved-to", default="previous_loop",
                        help="the block the replaced rows join (default previous_loop: older code; other_cpu: "
                             "the same code on another machine)")
    parser.add_argument("--label", help="the heading of that block, when the merge creates it")
    parser.add_argument("--one-seed", action="store_true",
                        help="merge variants run over one seed into the `one_seed` block (loss and mapping rows)")
    args = parser.parse_args(argv)
    table = json.loads(args.results.read_text())
    if args.one_seed:
        merged = merge_one_seed(table, args.run, args.command, label=args.label)
    else:
        merged = merge(table, args.run, args.command, moved_to=args.moved_to, label=args.label)
    args.results.write_text(json.dumps(table, indent=2) + "\n")
    print(f"merged {', '.join(merged)} into {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
