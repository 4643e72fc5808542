"""Task metrics, prediction, latency, FLOPs and the TF-IDF baseline (tinybert_ref/evaluate.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr, spearmanr

from tinybert_ref.evaluate import (
    compute_metrics,
    confusion,
    count_flops,
    evaluate_model,
    measure_latency,
    per_class_report,
    predict,
    tfidf_baseline,
    tfidf_pair_baseline,
)


def test_accuracy_by_hand():
    result = compute_metrics([0, 1, 1, 0], [0, 1, 0, 0], "accuracy")
    assert result == {"metric": 0.75, "accuracy": 0.75}


def test_f1_binary_with_accuracy():
    # tp = 2, fp = 1, fn = 1 -> precision 2/3, recall 2/3, F1 2/3; 3 of 5 right
    result = compute_metrics([1, 1, 1, 0, 0], [1, 1, 0, 1, 0], "f1")
    assert result["metric"] == pytest.approx(2 / 3)
    assert result["f1"] == pytest.approx(2 / 3)
    assert result["accuracy"] == pytest.approx(0.6)


def test_matthews_by_hand():
    # tp = 2, tn = 1, fp = 1, fn = 1: (2*1 - 1*1) / sqrt(3 * 3 * 2 * 2) = 1/6
    result = compute_metrics([1, 1, 1, 0, 0], [1, 1, 0, 1, 0], "matthews")
    assert result["metric"] == pytest.approx(1 / 6)
    assert compute_metrics([0, 1, 0, 1], [0, 1, 0, 1], "matthews")["metric"] == pytest.approx(1.0)
    assert compute_metrics([1, 0, 1, 0], [0, 1, 0, 1], "matthews")["metric"] == pytest.approx(-1.0)


def test_pearson_and_spearman():
    predictions, labels = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 4.0, 6.0, 8.5])
    result = compute_metrics(predictions, labels, "pearson")
    assert result["metric"] == result["pearson"] == pytest.approx(pearsonr(predictions, labels)[0])
    assert result["spearman"] == pytest.approx(1.0)
    monotone = compute_metrics([1.0, 2.0, 3.0, 100.0], [1.0, 2.0, 3.0, 4.0], "spearman")
    assert monotone["metric"] == pytest.approx(1.0) and monotone["pearson"] < 0.9
    both = compute_metrics(predictions, labels, "pearson_spearman")
    assert both["metric"] == pytest.approx((both["pearson"] + both["spearman"]) / 2)
    assert spearmanr(predictions, labels)[0] == pytest.approx(both["spearman"])


def test_constant_prediction_has_zero_correlation():
    assert compute_metrics([1.0, 1.0, 1.0], [1.0, 2.0, 3.0], "pearson")["metric"] == 0.0


def test_bad_metric_and_shapes_are_named():
    with pytest.raises(ValueError, match="unknown metric 'auc'"):
        compute_metrics([0], [0], "auc")
    with pytest.raises(ValueError, match="argmax"):
        compute_metrics(np.zeros((2, 3)), [0, 1], "accuracy")


def test_per_class_report_and_confusion():
    predictions, labels = [0, 1, 2, 2, 1], [0, 1, 2, 1, 1]
    report = per_class_report(predictions, labels, ["a", "b", "c"])
    assert report["a"]["precision"] == 1.0
    assert report["b"]["recall"] == pytest.approx(2 / 3)
    assert report["c"]["support"] == 1
    assert report["accuracy"] == pytest.approx(0.8)
    matrix = confusion(predictions, labels, 3)
    assert matrix.tolist() == [[1, 0, 0], [0, 2, 1], [0, 0, 1]]


def _loader(n_batches=3, batch=4, length=7, vocab=30522, with_labels=True, key="labels"):
    generator = torch.Generator().manual_seed(0)
    for _ in range(n_batches):
        ids = torch.randint(1000, vocab, (batch, length), generator=generator)
        mask = torch.ones_like(ids)
        mask[0, -2:] = 0
        row = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}
        if with_labels:
            row[key] = torch.randint(0, 3, (batch,), generator=generator)
        yield row


@pytest.fixture
def tiny_model(tiny_config):
    from transformers import BertForSequenceClassification

    torch.manual_seed(0)
    return BertForSequenceClassification(tiny_config(layers=1, hidden=24, heads=2, ffn=48, num_labels=3))


def test_predict_shapes_labels_and_mode_restored(tiny_model):
    tiny_model.train()
    logits, labels = predict(tiny_model, list(_loader()), progress=False)
    assert logits.shape == (12, 3) and logits.dtype == np.float32
    assert labels.shape == (12,)
    assert tiny_model.training, "predict must restore train mode"
    tiny_model.eval()
    again, _ = predict(tiny_model, list(_loader(key="label")), device="cpu", progress=False)
    np.testing.assert_allclose(again, logits, atol=1e-6)  # no dropout at eval: deterministic
    assert not tiny_model.training


def test_predict_without_labels(tiny_model):
    logits, labels = predict(tiny_model, list(_loader(with_labels=False)), progress=False)
    assert logits.shape == (12, 3) and labels.size == 0
    with pytest.raises(ValueError, match="labels"):
        evaluate_model(tiny_model, list(_loader(with_labels=False)), "accuracy", progress=False)


def test_evaluate_model_matches_manual_accuracy(tiny_model):
    batches = list(_loader())
    logits, labels = predict(tiny_model, batches, progress=False)
    result = evaluate_model(tiny_model, batches, "accuracy", progress=False)
    assert result["metric"] == pytest.approx(float((logits.argmax(-1) == labels).mean()))


def test_latency_two_models(tiny_config):
    from transformers import BertForSequenceClassification

    models = {"big": BertForSequenceClassification(tiny_config(layers=2, hidden=48, heads=4, ffn=96)),
              "small": BertForSequenceClassification(tiny_config(layers=1, hidden=24, heads=2, ffn=48))}
    models["small"].train()
    models["big"].eval()
    threads = torch.get_num_threads()
    result = measure_latency(models, batch_size=2, seq_len=16, repeats=4, warmup=1, threads=1)
    assert set(result) == {"big", "small"}
    for timing in result.values():
        assert set(timing) == {"median_ms", "p90_ms", "all_ms"}
        assert len(timing["all_ms"]) == 4 and timing["median_ms"] > 0
        assert timing["p90_ms"] >= timing["median_ms"]
    assert torch.get_num_threads() == threads
    assert models["small"].training and not models["big"].training


def test_latency_rejects_too_long_inputs(tiny_config):
    from transformers import BertForSequenceClassification

    model = BertForSequenceClassification(tiny_config(layers=1, hidden=24, heads=2, ffn=48))
    with pytest.raises(ValueError, match="max_position_embeddings"):
        measure_latency({"m": model}, batch_size=1, seq_len=600, repeats=1)


def test_flops_by_hand(tiny_config):
    config = tiny_config(layers=2, hidden=4, heads=2, ffn=8, num_labels=3)
    length = 3
    projections = 4 * 2 * length * 4 * 4  # Q, K, V, output: 384
    attention = 2 * 2 * length * length * 4  # QK^T and AV: 144
    ffn = 2 * 2 * length * 4 * 8  # 384
    head = 2 * 4 * 4 + 2 * 4 * 3  # pooler 32 + classifier 24
    assert count_flops(config, length) == 2 * (projections + attention + ffn) + head == 1880


def test_flops_ratio_bert_base_vs_tinybert4(tiny_config):
    base = tiny_config(layers=12, hidden=768, heads=12, ffn=3072)
    tiny = {"hidden_size": 312, "num_hidden_layers": 4, "intermediate_size": 1200, "num_labels": 2}
    base_flops, tiny_flops = count_flops(base, 128), count_flops(tiny, 128)
    assert base_flops == pytest.approx(21.8e9, rel=0.05)  # paper Table 1
    assert tiny_flops == pytest.approx(1.2e9, rel=0.06)
    assert 15 < base_flops / tiny_flops < 21


def test_tfidf_baseline_beats_chance():
    sports = ["the team won the match", "a great goal in the final", "the striker scored twice",
              "the coach praised the team", "fans cheered the winning goal", "the match ended in a draw"]
    money = ["shares fell on the market", "the bank raised interest rates", "profits rose this quarter",
             "the market rallied on earnings", "investors sold bank shares", "rates and profits worry investors"]
    texts, labels = sports + money, [0] * 6 + [1] * 6
    result = tfidf_baseline(texts[::2] + texts[1::4], labels[::2] + labels[1::4],
                            ["the team scored a goal", "bank shares and profits", "fans and the coach",
                             "market rates rose"], [0, 1, 0, 1], seed=0)
    assert result["metric"] == result["accuracy"] > 0.5
    assert result["model"] == "tfidf+logreg" and result["features"] > 0


def test_tfidf_baseline_regression():
    texts = ["good", "very good", "bad", "very bad", "good good", "bad bad"]
    scores = [3.0, 4.0, 1.0, 0.0, 4.0, 0.0]
    result = tfidf_baseline(texts, scores, ["good", "bad", "very good"], [3.0, 1.0, 4.0], metric="pearson")
    assert result["model"] == "tfidf+ridge" and result["pearson"] > 0.5


def test_tfidf_pair_baseline_uses_the_overlap():
    """Pairs that share their words (label 1) or not (label 0), each sentence once per class: only the
    pair features (product, cosine) can tell them apart. Regression (STS-B) gets ridge regression."""
    words = ["goal", "bank", "film", "vote", "phone", "rain", "chip", "album", "match", "profit", "party", "storm"]
    a = [f"the {w} story" for w in words]
    b_same, b_other = list(a), a[1:] + a[:1]
    texts, pairs, labels = a + a, b_same + b_other, [1] * len(a) + [0] * len(a)
    result = tfidf_pair_baseline(texts[::2] + texts[1::2], pairs[::2] + pairs[1::2], labels[::2] + labels[1::2],
                                 ["the goal story", "the bank story"], ["the goal story", "the film story"], [1, 0],
                                 metric="f1")
    assert result["model"] == "tfidf-pair+logreg" and result["f1"] == result["metric"] == 1.0
    assert result["accuracy"] == 1.0 and "cosine" in result["description"]
    scores = tfidf_pair_baseline(texts, pairs, [4.0] * len(a) + [0.5] * len(a), ["the rain story"] * 2,
                                 ["the rain story", "the vote story"], [4.0, 0.5], metric="pearson")
    assert scores["model"] == "tfidf-pair+ridge" and scores["pearson"] > 0.9
