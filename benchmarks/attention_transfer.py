"""Does the student copy the teacher's attention? The attention-score MSE of finished runs, checkpoint by checkpoint.

    python -m benchmarks.attention_transfer runs/laptop-ablate-att/no_attention_loss/seed-42 \
        runs/laptop-ablate-1seed/no_hidden_loss/seed-42 ...

For each run folder (a `tinybert-ref run` or one seed of `tinybert-ref ablate`), every checkpoint of notebook
08 (before general distillation, after it, after task-distillation step 1 and step 2; `tinybert_ref.snapshots`)
is run with the teacher it is compared with on the 200 dev headlines as one padded batch. Two measures between
the pre-softmax attention scores of student layer m and teacher layer g(m), over real (query, key) pairs only,
each averaged over the 12 heads of a layer: the distance, Eq. 7's MSE (`snapshots.per_head_mse`), and the
correlation of the row-centred scores (`snapshots.per_head_correlation`: the pattern, whatever its scale). An
ablation that drops the attention loss shows whether the other losses carry the teacher's attention over anyway.
Beside them, `final_losses`: each loss term the run trained with (embedding, attention, hidden), the mean over the
last 100 training batches of general distillation and of step 1 (`snapshots.final_losses`): how closely the
student met the targets it was given, e.g. the hidden states with and without the attention loss; and
`held_out_losses`, the same terms on the dev headlines with each stage's trained projection
(`snapshots.held_out_losses`), so the comparison does not rest on training batches alone.
Writes `benchmarks/results/attention_transfer.json`: {"command", "split", "n", "rows": [{"run", "variant",
"seed", "mapping", "losses", "test_metric", "checkpoints": {name: {"per_layer", "mean",
"correlation_per_layer", "correlation"}}, "final_losses": {stage: {term: mean, "batches": n}},
"held_out_losses": {stage: {term: loss}}}]}.
"""

from __future__ import annotations

from pathlib import Path

from .finished_runs import command_line, parse_runs, runs_parser, variant_of

__all__ = ["measure_run"]

LOSSES = ("embedding_loss", "attention_loss", "hidden_loss")


def measure_run(run_dir, sentences: list[str], store=None) -> dict:
    """One row: per student layer, the attention distance and correlation of each checkpoint of `run_dir`."""
    from tinybert_ref.io import read_json
    from tinybert_ref.snapshots import (
        final_losses,
        held_out_losses,
        per_head_correlation,
        run_attention,
        transfer_mse,
    )

    run_dir = Path(run_dir)
    metrics = read_json(run_dir / "metrics.json")
    config = metrics["config"]
    attention = run_attention(run_dir, sentences, store)
    distance, correlation = transfer_mse(attention), transfer_mse(attention, per_head_correlation)
    checkpoints = {}
    for name in attention.names:  # (M, H) each: the mean over heads per layer, then over layers
        per_layer = [round(float(x), 4) for x in distance[name].mean(dim=1)]
        correlation_per_layer = [round(float(x), 4) for x in correlation[name].mean(dim=1)]
        checkpoints[name] = {"per_layer": per_layer, "mean": round(sum(per_layer) / len(per_layer), 4),
                             "correlation_per_layer": correlation_per_layer,
                             "correlation": round(sum(correlation_per_layer) / len(correlation_per_layer), 4)}
    return {"run": str(run_dir), "variant": variant_of(config, run_dir), "seed": config["seed"], "mapping": attention.mapping,
            "losses": {loss: config[loss] for loss in LOSSES}, "test_metric": metrics.get("student", {}).get("test_metric"),
            "checkpoints": checkpoints, "final_losses": final_losses(run_dir, store),
            "held_out_losses": held_out_losses(run_dir, sentences, store)}


def main(argv=None) -> int:
    parser = runs_parser("attention_transfer", __doc__)
    args = parse_runs(parser, argv)
    from tinybert_ref.data.bbc import load_bbc_headlines
    from tinybert_ref.io import write_json_atomic

    sentences = list(load_bbc_headlines().data["dev"]["text"])
    rows = []
    for run in args.runs:
        rows.append(measure_run(run, sentences, args.store))
        print(rows[-1]["variant"], rows[-1]["seed"],
              {name: c["mean"] for name, c in rows[-1]["checkpoints"].items()}, flush=True)
    write_json_atomic(args.out, {"command": command_line(parser, argv), "split": "dev", "n": len(sentences), "rows": rows})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
