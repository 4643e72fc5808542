"""Workshop solutions for notebook 05 (general distillation). Each passes `tinybert_ref.exercises.nb05`."""

import torch


def general_distillation_recipe():
    """Section 3.3: the pretrained (not fine-tuned) BERT, a general corpus, Eq. 11 for m = 0..M only."""
    return {"teacher": "pretrained", "data": "general corpus", "losses": {"embedding", "attention", "hidden"}}


def my_layer_objective(embedding, attention, hidden, lambdas):
    """Eq. 6 with Eq. 11 for m = 0..M: lambda_0 L_embd + sum_m lambda_m (L_attn^m + L_hidn^m).

    embedding: 0-d; attention, hidden: (M,) for m = 1..M; lambdas: (M + 1,) for m = 0..M.
    """
    return lambdas[0] * embedding + (lambdas[1:] * (attention + hidden)).sum()


def my_pack(documents, seq_len, cls_id, sep_id):
    """[CLS] + seq_len - 2 ids + [SEP] blocks cut from all documents' ids concatenated; remainder dropped."""
    flat = [token for document in documents for token in document]
    body = seq_len - 2
    blocks = [[cls_id, *flat[i:i + body], sep_id] for i in range(0, len(flat) - body + 1, body)]
    return torch.tensor(blocks, dtype=torch.long)
