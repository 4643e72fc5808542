"""A linear probe: how much of a task a frozen encoder's sentence features already hold.

General distillation (TinyBERT Section 3.2) is meant to hand the student general knowledge before task
distillation starts. One way to see what a checkpoint holds, without training it further: freeze it, take
each sentence's mean-pooled last hidden states (real tokens only) as features, fit a logistic regression
on the train split and score it on another split (Alain and Bengio, 2016, "linear classifier probes").
A randomly initialised encoder gives the floor (mean pooling of random token vectors is close to a bag of
words); the pretrained teacher gives what a well-trained encoder of that size holds. Notebook 09 and
`benchmarks.general_distillation` set the student before and after general distillation between them.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["sentence_features", "fit_probe", "probe_accuracy"]


def sentence_features(model, tokenizer, texts, batch_size: int = 64, max_length: int = 64) -> np.ndarray:
    """(N, hidden) mean over real tokens of the last hidden states of `model` (a `BertModel` or a model with
    one inside, e.g. `BertForSequenceClassification`), in eval mode, without gradients."""
    encoder = getattr(model, "bert", model)
    was_training = encoder.training
    encoder.eval()
    texts, features = [str(t) for t in texts], []
    try:
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                inputs = tokenizer(texts[start:start + batch_size], padding=True, truncation=True,
                                   max_length=max_length, return_tensors="pt")
                hidden = encoder(**inputs).last_hidden_state
                mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                features.append(((hidden * mask).sum(1) / mask.sum(1).clamp(min=1)).float().numpy())
    finally:
        encoder.train(was_training)
    return np.concatenate(features) if features else np.zeros((0, encoder.config.hidden_size), dtype=np.float32)


def fit_probe(model, tokenizer, train_texts, train_labels, seed: int = 0):
    """A logistic regression fitted on the frozen `model`'s `sentence_features` of (train_texts, train_labels).
    Features are standardised on the train split, so the probe does not depend on the scale of a checkpoint's
    hidden states; C = 1 for every checkpoint alike. Score it with `.score(sentence_features(...), labels)`."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_labels = np.asarray(list(train_labels))
    if len(set(train_labels.tolist())) < 2:
        raise ValueError("the probe needs at least two classes among the train labels")
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0, random_state=seed))
    return classifier.fit(sentence_features(model, tokenizer, train_texts), train_labels)


def probe_accuracy(model, tokenizer, train_texts, train_labels, eval_texts, eval_labels, seed: int = 0) -> float:
    """Accuracy on (eval_texts, eval_labels) of `fit_probe` on (train_texts, train_labels)."""
    classifier = fit_probe(model, tokenizer, train_texts, train_labels, seed)
    return float(classifier.score(sentence_features(model, tokenizer, eval_texts), np.asarray(list(eval_labels))))
