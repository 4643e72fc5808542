"""The masked LM that proposes replacements for single-piece words in Algorithm 1 (TinyBERT, section 3.1).

The paper uses BERT-base's own MLM head. Offline there is none (DESIGN.md section 3), so
`build_mlm_from_encoder` puts a new MLM head, its decoder tied to the word embeddings, on the
teacher's encoder and `train_mlm` fine-tunes the WHOLE model on the general corpus: with a frozen
encoder the new head only learns the unigram prior (DESIGN.md section 8). `masked_word_recall`
measures how often a masked held-out word comes back top-1 / in the top K. With `bert-base-uncased`
at hand, `load_pretrained_mlm` loads it (or any folder saved with `save_pretrained`) instead.
Taught in notebook 06.

The word-level helpers (splitting into words, the words Algorithm 1 may replace, batched top-K
predictions at [MASK] positions) live here too, so augmentation and recall see words the same way.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..runtime import quiet_transformers

__all__ = [
    "STOP_WORDS",
    "MaskedLMError",
    "build_mlm_from_encoder",
    "train_mlm",
    "masked_word_recall",
    "load_pretrained_mlm",
    "split_words",
    "word_piece_ids",
    "is_replaceable",
    "masked_topk",
]

log = logging.getLogger(__name__)

# The official code never replaces these (NLTK's English list as in TinyBERT/data_augmentation.py).
STOP_WORDS = frozenset("""
i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself yourselves he him
his himself she she's her hers herself it it's its itself they them their theirs themselves this that
that'll these those am is are was were be been being have has had having do does did doing a an the and
but if or because as until while of at by for with about against between into through during before
after above below to from up down in out on off over under again further then once here there all any
both each few more most other some such no nor not only own same so than too very s t can will just don
don't should should've now d ll m o re ve y ain aren aren't couldn couldn't didn didn't doesn doesn't
hadn hadn't hasn hasn't haven haven't isn isn't ma mightn mightn't mustn mustn't needn needn't shan
shan't shouldn shouldn't wasn wasn't weren weren't won won't wouldn wouldn't 's 're
""".split())
_LETTERS_ONLY = re.compile(r"[a-z]+")


class MaskedLMError(ValueError):
    """A masked LM cannot be built, trained, measured or loaded; the message says how to fix it."""


# ------------------------------------------------------------------------------------ words
def split_words(text: str, tokenizer) -> list[str]:
    """Words of `text` as BERT's basic tokenizer sees them (the official code's
    `basic_tokenizer.tokenize`): normalised (lower-cased, accents stripped for uncased vocabularies)
    and split at whitespace and punctuation. Uses the fast tokenizer's normalizer and pre-tokenizer."""
    if hasattr(tokenizer, "basic_tokenizer"):  # a slow BertTokenizer
        return tokenizer.basic_tokenizer.tokenize(text)
    backend = tokenizer.backend_tokenizer
    if backend.normalizer is not None:
        text = backend.normalizer.normalize_str(text)
    if backend.pre_tokenizer is None:
        return text.split()
    return [word for word, _ in backend.pre_tokenizer.pre_tokenize_str(text)]


def word_piece_ids(sentences_words: Sequence[Sequence[str]], tokenizer) -> list[list[list[int]]]:
    """WordPiece ids of every word of every sentence, in one tokenizer call: [sentence][word] -> ids."""
    result: list[list[list[int]]] = [[[] for _ in words] for words in sentences_words]
    todo = [i for i, words in enumerate(sentences_words) if words]
    if not todo:
        return result
    encoded = tokenizer([list(sentences_words[i]) for i in todo], is_split_into_words=True,
                        add_special_tokens=False, verbose=False)
    for row, i in enumerate(todo):
        for token_id, word in zip(encoded["input_ids"][row], encoded.word_ids(row), strict=True):
            result[i][word].append(token_id)
    return result


def is_replaceable(word: str) -> bool:
    """Algorithm 1 considers a word only if it is letters a-z and no stop word (the official
    `_is_valid` and `StopWordsList`); numbers, punctuation and stop words are always kept."""
    return bool(_LETTERS_ONLY.fullmatch(word.lower())) and word.lower() not in STOP_WORDS


# ----------------------------------------------------------------------- batched prediction
def masked_topk(model, inputs: Sequence[tuple[list[int], list[int], int]], k: int, batch_size: int = 64,
                progress: bool = False, desc: str = "masked LM", bar=None) -> torch.Tensor:
    """Top-k vocabulary ids at one [MASK] position per input, batched: returns (N, k) int64.

    inputs: (input_ids, token_type_ids, mask_position) per masked variant. Variants are sorted by
    length and padded per batch (dynamic padding); the encoder runs once per batch, its last layer
    and the MLM head only at the masked rows (never the whole (B, L, V) logits). bar: a tqdm to
    advance per batch (else one is made when progress=True).
    """
    model_was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    order = sorted(range(len(inputs)), key=lambda i: len(inputs[i][0]))
    top = torch.empty((len(inputs), k), dtype=torch.long)
    own_bar = bar is None
    if own_bar:
        bar = tqdm(total=-(-len(inputs) // batch_size), desc=desc, unit="batch", disable=not progress)
    try:
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                chosen = order[start:start + batch_size]
                logits = _masked_logits(model, [inputs[i] for i in chosen], device)
                top[chosen] = torch.topk(logits, k, dim=-1).indices.cpu()
                bar.update(1)
    finally:
        model.train(model_was_training)
        if own_bar:
            bar.close()
    return top


def _masked_logits(model, batch, device) -> torch.Tensor:
    """(B, V) logits at the mask position of each (ids, type_ids, position) in `batch`."""
    length = max(len(ids) for ids, _, _ in batch)
    pad = model.config.pad_token_id or 0
    input_ids = torch.full((len(batch), length), pad, dtype=torch.long)
    type_ids = torch.zeros((len(batch), length), dtype=torch.long)
    attention = torch.zeros((len(batch), length), dtype=torch.long)
    for row, (ids, types, _) in enumerate(batch):
        input_ids[row, :len(ids)] = torch.tensor(ids)
        type_ids[row, :len(ids)] = torch.tensor(types)
        attention[row, :len(ids)] = 1
    positions = torch.tensor([position for _, _, position in batch])
    hidden = _hidden_at_masks(model.base_model, input_ids.to(device), attention.to(device), type_ids.to(device),
                              positions.to(device))
    return _mlm_head(model)(hidden)


def _hidden_at_masks(encoder, input_ids, attention, type_ids, positions) -> torch.Tensor:
    """(B, D) last hidden state at one position per row (its [MASK]), the last layer run there only.

    Every layer but the last runs on all positions, as the model's own forward; the last one needs
    every position's keys and values, but its query, attention output and feed-forward only at the
    mask: about five sixths of that layer's FLOPs (a seventh of MiniLM's 6-layer forward) skipped,
    with the same numbers up to float rounding (tests/test_mlm.py compares it with the full forward).
    """
    from transformers.masking_utils import create_bidirectional_mask

    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    if layers is None or not hasattr(getattr(layers[-1], "attention", None), "self"):
        raise MaskedLMError(f"{type(encoder).__name__} has no BERT-style layers (encoder.layer[i].attention.self): "
                            "pass a BERT-family masked LM (BertForMaskedLM, RobertaForMaskedLM)")
    *lower, last = layers
    hidden = encoder.embeddings(input_ids=input_ids, token_type_ids=type_ids)
    mask = create_bidirectional_mask(config=encoder.config, inputs_embeds=hidden, attention_mask=attention)
    for layer in lower:
        hidden = layer(hidden, mask)
    at_mask = hidden[torch.arange(len(hidden), device=hidden.device), positions].unsqueeze(1)  # (B, 1, D)
    attention_layer = last.attention.self

    def heads(x):  # (B, L, D) -> (B, H, L, d)
        return x.view(len(x), -1, attention_layer.num_attention_heads, attention_layer.attention_head_size
                      ).transpose(1, 2)

    context = torch.nn.functional.scaled_dot_product_attention(
        heads(attention_layer.query(at_mask)), heads(attention_layer.key(hidden)),
        heads(attention_layer.value(hidden)), attn_mask=attention.bool()[:, None, None, :])
    attended = last.attention.output(context.transpose(1, 2).reshape(at_mask.shape), at_mask)
    return last.output(last.intermediate(attended), attended)[:, 0]


def _mlm_head(model):
    for name in ("cls", "lm_head"):  # BertForMaskedLM, RobertaForMaskedLM
        if hasattr(model, name):
            return getattr(model, name)
    raise MaskedLMError(f"{type(model).__name__} has no `cls` or `lm_head` MLM head: pass a masked LM such "
                        "as BertForMaskedLM (build_mlm_from_encoder or load_pretrained_mlm)")


# ------------------------------------------------------------------------- build and train
def build_mlm_from_encoder(encoder_dir):
    """(BertForMaskedLM, tokenizer): the encoder in `encoder_dir` (a folder, or "minilm") plus a NEW
    MLM head (transform + decoder tied to the word embeddings), initialised as BERT initialises it.
    Train it with `train_mlm` before use: untrained, it predicts noise."""
    from transformers import AutoTokenizer, BertForMaskedLM

    from ..models import check_checkpoint, resolve_teacher_path

    source = resolve_teacher_path(encoder_dir)
    if isinstance(source, Path):
        check_checkpoint(source)
    with quiet_transformers():
        model, info = BertForMaskedLM.from_pretrained(source, output_loading_info=True)
    missing = sorted(key for key in info["missing_keys"] if not key.startswith("cls."))
    if missing:
        raise MaskedLMError(f"{source} lacks encoder weights {missing[:3]}: pass a folder that holds a BERT "
                            "encoder (BertModel or any Bert*Model saved with save_pretrained)")
    model.tie_weights()
    if model.get_output_embeddings().weight is not model.get_input_embeddings().weight:
        raise MaskedLMError(f"the MLM decoder of {source} is not tied to the word embeddings: set "
                            "tie_word_embeddings=True in its config.json")
    head = "new" if info["missing_keys"] else "its own"
    log.info("masked LM from %s: encoder weights + %s MLM head (decoder tied to the embeddings)", source, head)
    return model, AutoTokenizer.from_pretrained(source)


def train_mlm(model, tokenizer, texts, steps: int, lr: float = 1e-4, batch_size: int = 16, seq_len: int = 128,
              seed: int = 0, progress: bool = True, head_lr: float | None = None) -> list[float]:
    """Fine-tune the whole masked LM for `steps` AdamW steps; returns the loss of every step.

    texts: list of strings or a Dataset with a `text` column, packed into blocks of seq_len tokens
    (data.corpus.pack_corpus). Masking is BERT's: 15% of tokens, of which 80% [MASK], 10% random,
    10% unchanged (DataCollatorForLanguageModeling). Seeded; the global RNGs are left as they were.
    """
    from transformers import DataCollatorForLanguageModeling, get_linear_schedule_with_warmup

    from ..data.corpus import pack_corpus

    if steps < 1:
        raise MaskedLMError(f"steps={steps}: train for at least one step")
    blocks = pack_corpus(list(texts) if isinstance(texts, (list, tuple)) else texts, tokenizer, seq_len)
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, seed=seed)
    optimizer = torch.optim.AdamW(_param_groups(model, lr, head_lr), weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, max(1, steps // 10), steps)
    order = _batch_order(len(blocks), steps * batch_size, seed)
    device, losses = next(model.parameters()).device, []
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # dropout
        for step in tqdm(range(steps), desc="masked LM training", disable=not progress):
            rows = blocks.select(order[step * batch_size:(step + 1) * batch_size])
            batch = collator([{"input_ids": ids} for ids in rows["input_ids"]])
            loss = _masked_loss(model, batch["input_ids"].to(device), batch["labels"].to(device))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
    model.eval()
    log.info("masked LM: %d steps, loss %.3f -> %.3f", steps, losses[0], losses[-1])
    return losses


def _masked_loss(model, input_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """BERT's MLM loss (mean cross-entropy over masked tokens), with the head applied to the masked
    rows only: the (B, L, V) logits of every position would cost about a third of the step."""
    hidden = model.base_model(input_ids=input_ids).last_hidden_state
    masked = labels != -100
    return torch.nn.functional.cross_entropy(_mlm_head(model)(hidden[masked]), labels[masked])


def _param_groups(model, lr: float, head_lr: float | None) -> list[dict]:
    """Every parameter trains; the head's own ones (not the tied decoder) may use head_lr."""
    head, body = [], []
    for name, parameter in model.named_parameters():
        (head if name.startswith(("cls.", "lm_head.")) else body).append(parameter)
    return [{"params": body, "lr": lr}, {"params": head, "lr": lr if head_lr is None else head_lr}]


def _batch_order(n_blocks: int, n_needed: int, seed: int) -> list[int]:
    """Block indices for every step: seeded shuffles of all blocks, repeated as often as needed."""
    rng = np.random.default_rng(seed)
    epochs = -(-n_needed // n_blocks)
    return np.concatenate([rng.permutation(n_blocks) for _ in range(epochs)])[:n_needed].tolist()


# ----------------------------------------------------------------------------------- recall
def masked_word_recall(model, tokenizer, texts, k: int = 15, max_words: int = 500, seed: int = 0,
                       seq_len: int = 128, batch_size: int = 64, words: str = "content") -> dict:
    """Mask held-out words one at a time; how often is the true word the top-1 / in the top-k?

    words="content" (default) measures the words Algorithm 1 sends to the masked LM: single-piece,
    letters only, no stop words (`is_replaceable`). words="all" counts every single-piece word of
    letters, stop words included: far easier (the unigram prior alone gets "the", "of", "to" right).
    Up to `max_words` words drawn with a seeded RNG, each masked within its window of the text (at
    most seq_len tokens). Returns {"top1", "topk", "k", "n", "words"}.
    """
    if words not in ("content", "all"):
        raise MaskedLMError(f"words={words!r}: choose 'content' (Algorithm 1's words) or 'all'")
    wanted = is_replaceable if words == "content" else str.isalpha
    texts = list(texts["text"] if hasattr(texts, "column_names") else texts)
    windows = [w for text in texts for w in _windows(split_words(text, tokenizer), tokenizer, seq_len)]
    spots = [(w, j) for w, (_, pieces) in enumerate(windows) for j, word_pieces in enumerate(pieces)
             if len(word_pieces) == 1 and wanted(windows[w][0][j])]
    if not spots:
        raise MaskedLMError(f"no single-piece {words} word to mask in the held-out texts: pass more text")
    chosen = np.random.default_rng(seed).permutation(len(spots))[:max_words]
    inputs, truth = [], []
    for index in sorted(chosen.tolist()):
        w, j = spots[index]
        pieces = windows[w][1]
        ids = [tokenizer.cls_token_id] + [t for piece in pieces[:j] for t in piece] + [tokenizer.mask_token_id]
        position = len(ids) - 1
        ids += [t for piece in pieces[j + 1:] for t in piece] + [tokenizer.sep_token_id]
        inputs.append((ids, [0] * len(ids), position))
        truth.append(pieces[j][0])
    top = masked_topk(model, inputs, k, batch_size=batch_size, desc="masked-word recall")
    truth_ids = torch.tensor(truth).unsqueeze(1)
    result = {"top1": (top[:, :1] == truth_ids).any(1).float().mean().item(),
              "topk": (top == truth_ids).any(1).float().mean().item(), "k": k, "n": len(truth), "words": words}
    log.info("masked-word recall on %d held-out %s words: top-1 %.1f%%, top-%d %.1f%%", result["n"], words,
             100 * result["top1"], k, 100 * result["topk"])
    return result


def _windows(words: list[str], tokenizer, seq_len: int):
    """Consecutive runs of words whose pieces fit in seq_len - 2 tokens: (words, pieces per word)."""
    pieces = word_piece_ids([words], tokenizer)[0]
    window_words, window_pieces, size = [], [], 0
    for word, word_pieces in zip(words, pieces, strict=True):
        if size + len(word_pieces) > seq_len - 2 and window_words:
            yield window_words, window_pieces
            window_words, window_pieces, size = [], [], 0
        window_words.append(word)
        window_pieces.append(word_pieces[:seq_len - 2])
        size += len(word_pieces)
    if window_words:
        yield window_words, window_pieces


# ------------------------------------------------------------------------------------- load
def load_pretrained_mlm(name_or_path):
    """(masked LM in eval mode, tokenizer) from a folder saved with `save_pretrained` or a hub name
    such as "bert-base-uncased" (online; it has its own MLM head). A folder without MLM head weights
    (e.g. a plain encoder such as the packaged MiniLM) raises MaskedLMError saying what to do."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from ..models import CheckpointError, check_checkpoint

    folder = Path(name_or_path).expanduser()
    source = folder if folder.exists() else str(name_or_path)
    if isinstance(source, Path):
        check_checkpoint(source)
    try:
        with quiet_transformers():
            model, info = AutoModelForMaskedLM.from_pretrained(source, output_loading_info=True)
        tokenizer = AutoTokenizer.from_pretrained(source)
    except Exception as error:
        raise CheckpointError(f"cannot load a masked LM from {source} ({type(error).__name__}: "
                              f"{str(error).splitlines()[0] if str(error) else ''}); pass a folder saved with "
                              "save_pretrained, or go online for a hub name") from error
    prefix = model.base_model_prefix + "."
    head_missing = sorted(key for key in info["missing_keys"] if not key.startswith(prefix))
    if head_missing:
        raise MaskedLMError(f"{source} has no MLM head weights (missing {head_missing[:3]}): it holds an "
                            "encoder only; build one with build_mlm_from_encoder + train_mlm and save it, "
                            "or pass 'bert-base-uncased' (online)")
    return model.eval(), tokenizer
