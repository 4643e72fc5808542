"""The masked LM's recall measured on more held-out words than its stage uses: the same model, the same split.

    python -m benchmarks.mlm_recall --stage runs/laptop/stages/mlm-03c41e1401 --words 500,5000

The `mlm` stage scores top-1 / top-K recall of 500 held-out content words, each hidden from the whole input
(`tinybert_ref.augment.mlm.masked_word_recall`): a binomial standard error of about 2 points, too wide to
say which side of a 25% aim a 24.6% lies. This loads the stage's saved model, rebuilds its held-out
articles (`held_out_split` of the BBC bodies, the stage's fraction and seed) and scores each size in
`--words` with the stage's seed, so the first 500 words are the stage's own (its figure comes back) and
the larger draws extend them. Writes `benchmarks/results/mlm_recall.json`: {"stage", "k", "rows": [{"n",
"top1", "topk", "se_topk"}]}, se = sqrt(p(1 - p) / n).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from . import RESULTS_DIR

__all__ = ["measure"]


def measure(model, tokenizer, texts, sizes: list[int], k: int = 15, seed: int = 42) -> list[dict]:
    """Top-1 / top-k recall of held-out content words for each number of words in `sizes`, with the
    standard error of the top-k figure (`masked_word_recall` draws its words with `seed`, so a smaller
    size is the prefix of a larger one)."""
    from tinybert_ref.augment.mlm import masked_word_recall

    rows = []
    for n in sizes:
        r = masked_word_recall(model, tokenizer, texts, k=k, max_words=n, seed=seed)
        rows.append({"n": r["n"], "top1": r["top1"], "topk": r["topk"],
                     "se_topk": math.sqrt(r["topk"] * (1 - r["topk"]) / r["n"])})
    return rows


def main(argv=None) -> int:
    from tinybert_ref.augment.mlm import load_pretrained_mlm
    from tinybert_ref.data.corpus import bbc_bodies, held_out_split
    from tinybert_ref.stages import MLM_HELD_OUT

    parser = argparse.ArgumentParser(prog="python -m benchmarks.mlm_recall", description=__doc__.splitlines()[0])
    parser.add_argument("--stage", type=Path, required=True, help="an `mlm-<key>` stage folder of the embedded default")
    parser.add_argument("--words", default="500,5000", help="comma-separated numbers of held-out words")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "mlm_recall.json")
    args = parser.parse_args(argv)
    key = json.loads((args.stage / "key.json").read_text())
    if key.get("stage") != "mlm" or key.get("corpus") is not None:
        raise SystemExit(f"{args.stage}: not a masked-LM stage on the BBC bodies (key.json: stage "
                         f"{key.get('stage')!r}, corpus {key.get('corpus')!r}); pass runs/<run>/stages/mlm-<key>")
    model, tokenizer = load_pretrained_mlm(args.stage / "model")
    # the stage's own held-out articles (tinybert_ref.stages.mlm: the same share of the bodies, its seed)
    _, held_out = held_out_split(bbc_bodies(exclude_split="test"), fraction=MLM_HELD_OUT, seed=key["seed"])
    rows = measure(model, tokenizer, held_out, [int(n) for n in args.words.split(",")], k=key["aug_k"],
                   seed=key["seed"])
    args.out.write_text(json.dumps({"stage": args.stage.name, "k": key["aug_k"], "rows": rows}, indent=2) + "\n")
    for row in rows:
        print(f"{row['n']:5d} words: top-{key['aug_k']} {row['topk']:.1%} (se {row['se_topk']:.1%}), top-1 {row['top1']:.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
