"""Task metrics, prediction, latency, FLOPs and the TF-IDF baseline (TinyBERT Section 4, Tables 1-2).

The paper scores GLUE tasks with accuracy, F1 (MRPC, QQP), Matthews correlation (CoLA) and
Pearson/Spearman correlation (STS-B), and compares models by parameters, FLOPs and inference
speed (Table 1). The TF-IDF baselines take single sentences (`tfidf_baseline`) or sentence pairs
(`tfidf_pair_baseline`). Notebook 07 evaluates the distilled student with these functions; notebook 09 and
`report.py` set teacher, student and the TF-IDF baseline side by side.

No `evaluate` library: it downloads metric code from the hub, and nothing here goes online.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import torch

__all__ = [
    "METRICS",
    "compute_metrics",
    "predict",
    "evaluate_model",
    "shard",
    "gather_shards",
    "per_class_report",
    "confusion",
    "measure_latency",
    "count_flops",
    "tfidf_baseline",
    "tfidf_pair_baseline",
]

log = logging.getLogger(__name__)

# metric name -> the figures reported beside it; the first one is the main figure ("metric")
METRICS = {
    "accuracy": ("accuracy",),
    "f1": ("f1", "accuracy"),
    "matthews": ("matthews", "accuracy"),
    "pearson": ("pearson", "spearman"),
    "spearman": ("spearman", "pearson"),
    "pearson_spearman": ("pearson_spearman", "pearson", "spearman"),
}
REGRESSION_METRICS = ("pearson", "spearman", "pearson_spearman")
# what a batch may hold that the model's forward takes (labels stay out: no loss is needed here)
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "position_ids")


def compute_metrics(predictions, labels, metric: str = "accuracy") -> dict[str, float]:
    """The task metric of `predictions` against `labels`, under "metric", plus the figures beside it.

    predictions, labels: (N,) class ids, or (N,) real values for the regression metrics
    (pearson, spearman, pearson_spearman = their mean, as GLUE reports STS-B). f1 is binary
    (positive class 1, as GLUE's MRPC/QQP). Returns plain Python floats, ready for JSON.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; use one of {', '.join(METRICS)}")
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    if predictions.shape != labels.shape or predictions.ndim != 1:
        raise ValueError(f"predictions {predictions.shape} and labels {labels.shape} must both be (N,); "
                         "for classification pass logits.argmax(-1), for regression logits[:, 0]")
    if len(labels) == 0:
        raise ValueError("no examples to score: predictions and labels are empty")
    values = {name: _metric_value(name, predictions, labels) for name in METRICS[metric]}
    return {"metric": values[metric], **values}


def _metric_value(name: str, predictions: np.ndarray, labels: np.ndarray) -> float:
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    if name == "accuracy":
        return float(accuracy_score(labels, predictions))
    if name == "f1":
        return float(f1_score(labels, predictions, zero_division=0))
    if name == "matthews":
        return float(matthews_corrcoef(labels, predictions))
    if np.std(predictions) == 0 or np.std(labels) == 0:
        return 0.0  # a constant prediction has no correlation (scipy would warn and return NaN)
    if name == "pearson":
        return float(pearsonr(predictions, labels)[0])
    if name == "spearman":
        return float(spearmanr(predictions, labels)[0])
    return (_metric_value("pearson", predictions, labels) + _metric_value("spearman", predictions, labels)) / 2


def _model_device(model) -> torch.device:
    return next(model.parameters()).device


def shard(dataset, accelerator=None):
    """This process's share of `dataset` for evaluation: every P-th example from its rank on (P processes).

    With one process (or no accelerator) the dataset itself. `gather_shards` puts the predictions of
    the shards back together in dataset order, each example exactly once.
    """
    world = getattr(accelerator, "num_processes", 1)
    if world <= 1:
        return dataset
    return dataset.select(range(accelerator.process_index, len(dataset), world))


def gather_shards(accelerator, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Every process's arrays (rows of its `shard`) gathered and interleaved back into dataset order.

    Shards differ in length by at most one and none is padded, so nothing is duplicated or dropped
    (unlike gathering padded batches). With one process the arrays come back unchanged.
    """
    world = getattr(accelerator, "num_processes", 1)
    if world <= 1:
        return arrays
    from accelerate.utils import gather_object

    parts = dict(gather_object([(accelerator.process_index, arrays)]))
    out = []
    for i in range(len(arrays)):
        pieces = [parts[rank][i] for rank in range(world)]
        total = sum(len(p) for p in pieces)
        merged = np.empty((total, *pieces[0].shape[1:]), dtype=pieces[0].dtype)
        for rank, piece in enumerate(pieces):
            merged[rank::world] = piece
        out.append(merged)
    return tuple(out)


def predict(model, dataloader: Iterable[Mapping], device=None, progress: bool = True, accelerator=None):
    """Logits of `model` on every batch of `dataloader`, and the labels the batches carry.

    dataloader: yields dicts with input_ids, attention_mask, token_type_ids (B, L) and "labels" or
    "label" (B,). device: where to run (the model is moved there); None = the model's own device.
    Returns (logits (N, C) float32, labels (N,)); labels is empty when the batches carry none.
    Runs under torch.inference_mode() in eval mode; the model's train/eval mode is restored after.
    accelerator: with several processes, `dataloader` holds this process's `shard(dataset)` and the
    result is every process's predictions gathered back into dataset order (call it on every process).
    """
    from tqdm.auto import tqdm

    device = _model_device(model) if device is None else torch.device(device)
    was_training = model.training
    model.to(device).eval()
    all_logits, all_labels = [], []
    try:
        with torch.inference_mode():
            for batch in tqdm(dataloader, desc="predict", disable=not progress, leave=False):
                inputs = {k: v.to(device) for k, v in batch.items() if k in MODEL_INPUTS}
                all_logits.append(model(**inputs).logits.float().cpu().numpy())
                labels = batch.get("labels", batch.get("label"))
                if labels is not None:
                    all_labels.append(np.asarray(labels.cpu() if torch.is_tensor(labels) else labels))
    finally:
        model.train(was_training)
    if getattr(accelerator, "num_processes", 1) > 1:
        width = model.config.num_labels
        logits = np.concatenate(all_logits) if all_logits else np.zeros((0, width), dtype=np.float32)
        labels = np.concatenate(all_labels) if all_labels else np.array([])
        all_logits, all_labels = list(gather_shards(accelerator, logits, labels))
        all_logits, all_labels = [all_logits], [all_labels] if len(all_labels) else []
    if not all_logits or not len(all_logits[0]):
        raise ValueError("the dataloader yielded no batches; check the split is not empty")
    labels = np.concatenate(all_labels) if all_labels else np.array([])
    return np.concatenate(all_logits), labels


def evaluate_model(model, dataloader: Iterable[Mapping], metric: str = "accuracy", device=None,
                   progress: bool = True, accelerator=None) -> dict[str, float]:
    """`compute_metrics` of the model's predictions on a labelled dataloader (see `predict`; with
    several processes pass the accelerator and a loader over `shard(dataset, accelerator)`).

    Classification predicts logits.argmax(-1); a regression metric uses logits[:, 0].
    """
    logits, labels = predict(model, dataloader, device=device, progress=progress, accelerator=accelerator)
    if len(labels) != len(logits):
        raise ValueError(f"got {len(logits)} predictions but {len(labels)} labels; every batch needs "
                         "'labels' (or 'label') to be evaluated")
    predictions = logits[:, 0] if metric in REGRESSION_METRICS else logits.argmax(-1)
    return compute_metrics(predictions, labels, metric)


def per_class_report(predictions, labels, label_names: Sequence[str]) -> dict:
    """Precision, recall, F1 and support per class (sklearn's classification_report as a dict).

    predictions, labels: (N,) class ids in 0..len(label_names)-1. Keys: each label name, plus
    "accuracy", "macro avg", "weighted avg". Shown per class in the report (notebook 09).
    """
    from sklearn.metrics import classification_report

    return classification_report(np.asarray(labels), np.asarray(predictions), labels=list(range(len(label_names))),
                                 target_names=[str(n) for n in label_names], output_dict=True, zero_division=0)


def confusion(predictions, labels, n: int) -> np.ndarray:
    """Confusion matrix (n, n): row = true class, column = predicted class."""
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(np.asarray(labels), np.asarray(predictions), labels=list(range(n)))


def _random_inputs(models: Mapping, batch_size: int, seq_len: int, seed: int) -> dict[str, torch.Tensor]:
    configs = [m.config for m in models.values()]
    vocab = min(c.vocab_size for c in configs)
    max_len = min(c.max_position_embeddings for c in configs)
    if seq_len > max_len:
        raise ValueError(f"seq_len {seq_len} exceeds the models' max_position_embeddings {max_len}; "
                         f"measure at seq_len <= {max_len}")
    generator = torch.Generator().manual_seed(seed)
    # ids from 1000 up skip [PAD]/[unused]/[CLS]/[SEP] of BERT vocabularies; tiny vocabularies use all ids
    low = 1000 if vocab > 2000 else 0
    input_ids = torch.randint(low, vocab, (batch_size, seq_len), generator=generator)
    return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids),
            "token_type_ids": torch.zeros_like(input_ids)}


def _timed_forward(model, inputs: dict) -> float:
    device = _model_device(model)
    inputs = {k: v.to(device) for k, v in inputs.items()}
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    model(**inputs)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) * 1000


def measure_latency(models: Mapping[str, torch.nn.Module], batch_size: int = 1, seq_len: int = 64,
                    repeats: int = 20, warmup: int = 3, threads: int | None = None,
                    seed: int = 0) -> dict[str, dict]:
    """Forward latency of each model on the same random batch (B, L) = (batch_size, seq_len).

    Runs are interleaved (A, B, A, B, ...) after `warmup` untimed runs each, so machine drift hits every
    model alike. Token ids are drawn below the smallest vocabulary. threads: torch.set_num_threads for
    the measurement, restored after. Returns {name: {"median_ms", "p90_ms", "all_ms"}}.
    Used by the report (teacher vs student latency) and notebook 09; Table 1 of the paper is the
    same comparison on a GPU/CPU of its own.
    """
    if not models:
        raise ValueError("no models to time; pass a dict such as {'teacher': teacher, 'student': student}")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    inputs = _random_inputs(models, batch_size, seq_len, seed)
    old_threads, modes = torch.get_num_threads(), {name: m.training for name, m in models.items()}
    times: dict[str, list[float]] = {name: [] for name in models}
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        with torch.inference_mode():
            for model in models.values():
                model.eval()
                for _ in range(warmup):
                    _timed_forward(model, inputs)
            for _ in range(repeats):
                for name, model in models.items():
                    times[name].append(_timed_forward(model, inputs))
    finally:
        torch.set_num_threads(old_threads)
        for name, model in models.items():
            model.train(modes[name])
    return {name: {"median_ms": statistics.median(t), "p90_ms": float(np.percentile(t, 90)), "all_ms": t}
            for name, t in times.items()}


def _config_value(config, key: str):
    return config[key] if isinstance(config, Mapping) else getattr(config, key)


def count_flops(config, seq_len: int, num_labels: int | None = None) -> int:
    """Analytic forward FLOPs for one example of length L through a BERT encoder and its classifier.

    config: a BertConfig (or a dict) with hidden_size D, num_hidden_layers N, intermediate_size F and
    num_labels C (overridden by `num_labels`). A multiply-add counts as 2 FLOPs. Per layer:
        Q, K, V and output projections   4 * 2*L*D*D
        scores Q K^T and weighted sum A V  2 * 2*L*L*D   (summed over heads: H * d_k = D)
        feed-forward D -> F -> D          2 * 2*L*D*F
    plus the pooler 2*D*D and classifier 2*D*C on the [CLS] vector. Embedding lookups, biases,
    softmax, LayerNorm and GELU are left out (they are O(L*D), small beside the matrix products).
    BERT-base at L = 128 gives 22.3 G, TinyBERT4 1.25 G (ratio 17.9); the paper's Table 1 lists
    21.8 G and 1.2 G.
    """
    d = _config_value(config, "hidden_size")
    n_layers = _config_value(config, "num_hidden_layers")
    ffn = _config_value(config, "intermediate_size")
    classes = num_labels if num_labels is not None else _config_value(config, "num_labels")
    per_layer = 4 * 2 * seq_len * d * d + 2 * 2 * seq_len * seq_len * d + 2 * 2 * seq_len * d * ffn
    return int(n_layers * per_layer + 2 * d * d + 2 * d * classes)


def tfidf_baseline(train_texts, train_labels, test_texts, test_labels, metric: str = "accuracy",
                   seed: int = 0) -> dict:
    """The honest non-neural baseline: TF-IDF of word 1-2 grams + logistic regression.

    C = 10 (weak regularisation suits short texts); regression metrics use ridge regression instead.
    Returns compute_metrics(...) plus "model" and "features" (the vocabulary size). Shown beside
    teacher and student in the report (notebook 09).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, Ridge

    train_texts, test_texts = [str(t) for t in train_texts], [str(t) for t in test_texts]
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True)
    train_x = vectorizer.fit_transform(train_texts)
    if metric in REGRESSION_METRICS:
        model, name = Ridge(alpha=1.0, random_state=seed), "tfidf+ridge"
    else:
        model, name = LogisticRegression(max_iter=2000, C=10.0, random_state=seed), "tfidf+logreg"
    model.fit(train_x, np.asarray(list(train_labels)))
    predictions = model.predict(vectorizer.transform(test_texts))
    result = compute_metrics(predictions, np.asarray(list(test_labels)), metric)
    log.info("%s baseline: %s %.4f", name, metric, result["metric"])
    return {**result, "model": name, "features": len(vectorizer.vocabulary_)}


def tfidf_pair_baseline(train_texts, train_pairs, train_labels, test_texts, test_pairs, test_labels,
                        metric: str = "accuracy", seed: int = 0) -> dict:
    """The non-neural baseline for sentence pairs (MRPC, RTE, `bbc_pairs`, ...): TF-IDF of word 1-2 grams
    with one vocabulary fitted on both sentences of the training pairs; per pair the features of a, of b,
    their elementwise product a*b (the words they share, weighted) and their cosine similarity; then
    logistic regression (C = 10), or ridge regression for a regression metric.

    a and b alone say which words each sentence holds; a*b and the cosine say how much they overlap,
    which is what a pair task is about. Returns compute_metrics(...) plus "model", "features" (the
    vocabulary size) and "description". Shown beside teacher and student in the report.
    """
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, Ridge

    def strings(values):
        return [str(v) for v in values]

    train_texts, train_pairs = strings(train_texts), strings(train_pairs)
    test_texts, test_pairs = strings(test_texts), strings(test_pairs)
    if len(train_texts) != len(train_pairs) or len(test_texts) != len(test_pairs):
        raise ValueError(f"{len(train_texts)}/{len(test_texts)} first sentences but {len(train_pairs)}/"
                         f"{len(test_pairs)} second sentences (train/test): pass one second sentence per pair")
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True)  # rows L2-normalised
    vectorizer.fit(train_texts + train_pairs)

    def features(texts, pairs):
        a, b = vectorizer.transform(texts), vectorizer.transform(pairs)
        shared = a.multiply(b).tocsr()
        cosine = sparse.csr_matrix(np.asarray(shared.sum(axis=1)))  # unit rows: the dot product is the cosine
        return sparse.hstack([a, b, shared, cosine]).tocsr()

    if metric in REGRESSION_METRICS:
        model, name = Ridge(alpha=1.0, random_state=seed), "tfidf-pair+ridge"
    else:
        model, name = LogisticRegression(max_iter=2000, C=10.0, random_state=seed), "tfidf-pair+logreg"
    model.fit(features(train_texts, train_pairs), np.asarray(list(train_labels)))
    predictions = model.predict(features(test_texts, test_pairs))
    result = compute_metrics(predictions, np.asarray(list(test_labels)), metric)
    log.info("%s baseline: %s %.4f", name, metric, result["metric"])
    learner = "ridge regression" if metric in REGRESSION_METRICS else "logistic regression"
    return {**result, "model": name, "features": len(vectorizer.vocabulary_),
            "description": f"TF-IDF of word 1-2 grams of both sentences, their product and cosine + {learner} "
                           "(no neural network)"}
