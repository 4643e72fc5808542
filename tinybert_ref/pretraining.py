"""BERT's two pretraining tasks, small enough to run in a notebook: masked LM (MLM) and next sentence
prediction (NSP), trained with `transformers`' BertForPreTraining.

Devlin et al. (2019), BERT, Section 3.1 and Appendix A.1 (stated in words, no numbered equation):
    MLM: pick 15% of the (non-special) tokens; of those, 80% become [MASK], 10% a random token,
         10% stay unchanged; predict the original token at the picked positions only.
    NSP: sentence B follows sentence A in the text 50% of the time (IsNext), else it is a random
         sentence from another document (NotNext).
    L = L_MLM + L_NSP   (both cross-entropies, as BertForPreTraining computes them)
TinyBERT's teacher is a BERT pretrained this way; TinyBERT itself is NOT trained with these losses
(its two stages are general and task-specific distillation). Taught in notebook 02.

The masking itself is `transformers.DataCollatorForLanguageModeling`; `apply_bert_masking` writes the
same rule with explicit random draws so that notebook 02's exercise can be checked exactly. `masking_figure`
draws one corrupted sequence for the notebook.
NSP label convention (BertForPreTraining): 0 = IsNext, 1 = NotNext.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from .runtime import quiet_transformers

__all__ = [
    "IS_NEXT",
    "NOT_NEXT",
    "NspPair",
    "apply_bert_masking",
    "build_pretraining_model",
    "fill_mask",
    "masked_lm_loss",
    "masking_collator",
    "masking_counts",
    "masking_figure",
    "nsp_pairs",
    "pretrain",
    "pretraining_batch",
    "pretraining_losses",
    "split_sentences",
]

log = logging.getLogger(__name__)

IS_NEXT, NOT_NEXT = 0, 1  # next_sentence_label values of BertForPreTraining
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'A-Z0-9])")


@dataclass(frozen=True)
class NspPair:
    """One NSP example: sentence A, sentence B and the label (IS_NEXT = 0 or NOT_NEXT = 1)."""

    first: str
    second: str
    label: int


def apply_bert_masking(input_ids: torch.Tensor, special_mask: torch.Tensor, select_draw: torch.Tensor,
                       replace_draw: torch.Tensor, random_ids: torch.Tensor, mask_token_id: int,
                       mlm_probability: float = 0.15) -> torch.Tensor:
    """BERT's 80/10/10 corruption with the random draws given explicitly; returns the corrupted ids (B, L).

    input_ids, random_ids: (B, L) token ids; special_mask: (B, L) bool, True for [CLS]/[SEP]/[PAD];
    select_draw, replace_draw: (B, L) uniform in [0, 1). A non-special position is selected when
    select_draw < mlm_probability; a selected position becomes [MASK] when replace_draw < 0.8, the
    random id when 0.8 <= replace_draw < 0.9, and stays unchanged otherwise.
    """
    selected = (select_draw < mlm_probability) & ~special_mask.bool()
    corrupted = input_ids.clone()
    corrupted[selected & (replace_draw < 0.8)] = mask_token_id
    use_random = selected & (replace_draw >= 0.8) & (replace_draw < 0.9)
    corrupted[use_random] = random_ids[use_random]
    return corrupted


def masked_lm_loss(logits: torch.Tensor, original_ids: torch.Tensor, selected: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the original token at the selected positions only (the MLM loss).

    logits: (B, L, V); original_ids: (B, L); selected: (B, L) bool, the 15% positions (whether they
    became [MASK], a random token or stayed unchanged). Equals cross_entropy with labels = -100
    outside the selected positions, which is how `transformers` writes it.
    """
    picked = selected.bool()
    return nn.functional.cross_entropy(logits[picked], original_ids[picked])


def masking_collator(tokenizer, mlm_probability: float = 0.15, seed: int | None = 0):
    """`transformers`' DataCollatorForLanguageModeling with BERT's 80/10/10 rule, seeded."""
    from transformers import DataCollatorForLanguageModeling

    return DataCollatorForLanguageModeling(tokenizer, mlm_probability=mlm_probability, mask_replace_prob=0.8,
                                           random_replace_prob=0.1, seed=seed)


def masking_counts(original_ids: torch.Tensor, corrupted_ids: torch.Tensor, labels: torch.Tensor,
                   mask_token_id: int, attention_mask: torch.Tensor | None = None) -> dict[str, int]:
    """How a batch was corrupted: tokens (real, non-padding), selected, and of the selected how many
    became [MASK], a random token, or stayed unchanged. All tensors (B, L); labels = -100 where not
    selected. A random replacement that drew the original token counts as unchanged."""
    real = torch.ones_like(original_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
    selected = labels != -100
    as_mask = selected & (corrupted_ids == mask_token_id)
    unchanged = selected & ~as_mask & (corrupted_ids == original_ids)
    return {"tokens": int(real.sum()), "selected": int(selected.sum()), "mask": int(as_mask.sum()),
            "random": int((selected & ~as_mask & ~unchanged).sum()), "unchanged": int(unchanged.sum())}


def split_sentences(text: str) -> list[str]:
    """A document as sentences: split at . ! ? followed by a space and a capital letter, digit or quote."""
    return [s.strip() for line in text.splitlines() for s in _SENTENCE_END.split(line) if s.strip()]


def nsp_pairs(documents: Sequence[str], n_pairs: int, seed: int = 0, is_next_fraction: float = 0.5) -> list[NspPair]:
    """NSP examples from documents: A is a random sentence, B its successor (IS_NEXT) with probability
    is_next_fraction, else a random sentence of another document (NOT_NEXT). Seeded, global RNG untouched."""
    rng = random.Random(seed)
    sentences = [split_sentences(doc) for doc in documents]
    usable = [i for i, doc in enumerate(sentences) if len(doc) >= 2]
    if len(usable) < 2:
        raise ValueError(f"NSP needs at least two documents of two or more sentences, got {len(usable)}; "
                         "pass longer documents (e.g. tinybert_ref.data.bbc_bodies()['text'])")
    pairs = []
    for _ in range(n_pairs):
        doc = rng.choice(usable)
        position = rng.randrange(len(sentences[doc]) - 1)
        first = sentences[doc][position]
        if rng.random() < is_next_fraction:
            pairs.append(NspPair(first, sentences[doc][position + 1], IS_NEXT))
        else:
            other = doc
            while other == doc:  # terminates: there are at least two usable documents
                other = rng.choice(usable)
            pairs.append(NspPair(first, rng.choice(sentences[other]), NOT_NEXT))
    return pairs


def pretraining_batch(pairs: Sequence[NspPair], tokenizer, collator, max_len: int = 64) -> dict[str, torch.Tensor]:
    """Tokenise NSP pairs as [CLS] A [SEP] B [SEP] (token_type_ids 0 / 1), pad to the longest, then mask
    with `collator`. Returns input_ids, token_type_ids, attention_mask, labels (-100 = not selected)
    and next_sentence_label, each (B, L) or (B,)."""
    encoded = tokenizer([p.first for p in pairs], [p.second for p in pairs], truncation="longest_first",
                        max_length=max_len)
    features = [{key: encoded[key][i] for key in encoded} for i in range(len(pairs))]
    batch = collator(features)
    batch["next_sentence_label"] = torch.tensor([p.label for p in pairs])
    return dict(batch)


def build_pretraining_model(encoder="minilm", seed: int = 0):
    """(BertForPreTraining, tokenizer): a pretrained encoder ("minilm", a folder, or a hub name) with
    NEW MLM and NSP heads (the MLM decoder tied to the word embeddings), seeded initialisation."""
    from transformers import AutoTokenizer, BertForPreTraining

    from .models import resolve_teacher_path

    source = resolve_teacher_path(encoder)
    with quiet_transformers(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model, info = BertForPreTraining.from_pretrained(source, output_loading_info=True)
    missing = sorted(key for key in info["missing_keys"] if not key.startswith(("cls.", "bert.pooler.")))
    if missing:
        raise ValueError(f"{source} lacks encoder weights {missing[:3]}: pass a folder holding a BERT encoder")
    log.info("BertForPreTraining from %s: %d new head tensors", source, len(info["missing_keys"]))
    return model, AutoTokenizer.from_pretrained(source)


def pretraining_losses(model, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """One forward of a BertForPreTraining: {"mlm", "nsp", "total"} scalars, total = mlm + nsp as in
    BertForPreTraining's own loss (except that a batch with no selected position gives mlm = 0, not NaN).
    batch: as `pretraining_batch` returns it."""
    inputs = {k: batch[k] for k in ("input_ids", "token_type_ids", "attention_mask")}
    outputs = model(**inputs)
    logits, labels = outputs.prediction_logits, batch["labels"]
    if (labels != -100).any():
        mlm = nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1))
    else:  # a short batch can draw no position at all; cross_entropy would return NaN
        mlm = logits.sum() * 0.0
    nsp = nn.functional.cross_entropy(outputs.seq_relationship_logits, batch["next_sentence_label"])
    return {"mlm": mlm, "nsp": nsp, "total": mlm + nsp}


def pretrain(model, tokenizer, pairs: Sequence[NspPair], steps: int, batch_size: int = 8, lr: float = 1e-4,
             max_len: int = 64, seed: int = 0, progress: bool = True) -> dict[str, list[float]]:
    """A short MLM + NSP run with AdamW (linear warm-up over 10% of the steps, then linear decay).

    Batches cycle through `pairs` in a seeded order; masking is redrawn every batch. Returns the
    history {"total": [...], "mlm": [...], "nsp": [...]}, one value per step; the model ends in eval mode.
    """
    from transformers import get_linear_schedule_with_warmup

    if steps < 1 or not pairs:
        raise ValueError(f"pretrain needs steps >= 1 and some pairs, got steps={steps}, {len(pairs)} pairs")
    collator = masking_collator(tokenizer, seed=seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, max(1, steps // 10), steps)
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    history: dict[str, list[float]] = {"total": [], "mlm": [], "nsp": []}
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # dropout
        for step in tqdm(range(steps), desc="MLM + NSP pretraining", disable=not progress):
            chosen = [pairs[order[(step * batch_size + i) % len(order)]] for i in range(batch_size)]
            losses = pretraining_losses(model, pretraining_batch(chosen, tokenizer, collator, max_len))
            losses["total"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            for key, value in losses.items():
                history[key].append(value.item())
    model.eval()
    log.info("pretraining: %d steps, loss %.3f -> %.3f", steps, history["total"][0], history["total"][-1])
    return history


@torch.no_grad()
def fill_mask(model, tokenizer, text: str, k: int = 5) -> list[list[str]]:
    """Top-k tokens the MLM head predicts at each [MASK] of `text`, in order (one list per [MASK]).

    model: BertForPreTraining (prediction_logits) or BertForMaskedLM (logits)."""
    encoded = tokenizer(text, return_tensors="pt")
    positions = (encoded["input_ids"][0] == tokenizer.mask_token_id).nonzero().flatten()
    if len(positions) == 0:
        raise ValueError(f"no {tokenizer.mask_token} in {text!r}; write the word to predict as {tokenizer.mask_token}")
    outputs = model(**encoded)
    logits = getattr(outputs, "prediction_logits", None)
    logits = outputs.logits if logits is None else logits
    top = logits[0, positions].topk(k, dim=-1).indices
    return [tokenizer.convert_ids_to_tokens(row.tolist()) for row in top]


_KIND_COLOURS = {"not selected": "#f0f0f0", "[MASK]": "#f4a3a3", "random token": "#f7c97e",
                 "unchanged": "#a8d8a8"}


def masking_figure(original_tokens: Sequence[str], shown_tokens: Sequence[str], selected, per_row: int = 12,
                   title: str | None = None):
    """One sequence before and after BERT's corruption, as coloured token boxes (notebook 02).

    original_tokens, shown_tokens: the L tokens before and after masking; selected: (L,) bools, the
    positions the MLM loss predicts. Each box shows what the model sees, the original in small type
    under it; colour: not selected, [MASK], random token, unchanged. Returns a Figure (1 axes).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    chosen = [bool(x) for x in (selected.tolist() if hasattr(selected, "tolist") else selected)]
    if not len(original_tokens) == len(shown_tokens) == len(chosen):
        raise ValueError(f"got {len(original_tokens)} original tokens, {len(shown_tokens)} shown tokens and "
                         f"{len(chosen)} selection flags; pass the same sequence (one row of the batch) for all three")
    rows = max(1, -(-len(chosen) // per_row))
    fig, ax = plt.subplots(figsize=(1.0 * per_row, 0.75 * rows + 0.6), layout="constrained")
    plt.close(fig)
    for i, (before, after, picked) in enumerate(zip(original_tokens, shown_tokens, chosen, strict=True)):
        kind = ("not selected" if not picked else "[MASK]" if after == "[MASK]"
                else "unchanged" if after == before else "random token")
        x, y = i % per_row, -(i // per_row)
        ax.text(x, y, after, ha="center", va="center", fontsize=8,
                bbox={"boxstyle": "round,pad=0.25", "facecolor": _KIND_COLOURS[kind], "edgecolor": "#999999"})
        if picked:
            ax.text(x, y - 0.33, before, ha="center", va="center", fontsize=6, color="#444444")
    ax.set_xlim(-0.6, per_row - 0.4)
    ax.set_ylim(-rows + 0.45, 0.45)
    ax.axis("off")
    ax.legend(handles=[Patch(facecolor=c, edgecolor="#999999", label=k) for k, c in _KIND_COLOURS.items()],
              loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=4, fontsize=8, frameon=False)
    if title:
        ax.set_title(title, fontsize=9)
    return fig
