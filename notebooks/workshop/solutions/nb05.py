"""Workshop solutions for notebook 05 (general distillation). Each passes `tinybert_ref.exercises.nb05`."""

import torch

from tinybert_ref.losses import attention_loss, embedding_loss, hidden_loss


def my_distillation_loss(student_out, teacher_out, mapping, attention_mask, projection):
    """q1, Eq. 6 with every lambda_m = 1 through g(m): the embedding loss (m = 0), then for each student layer
    m = 1..M the attention and hidden losses against teacher layer n = mapping[m]. attention_scores has no
    embedding entry, so layer n's scores are attention_scores[n - 1]."""
    loss = embedding_loss(student_out.hidden_states[0], teacher_out.hidden_states[0], projection)
    for m, n in enumerate(mapping):
        if m > 0:
            loss = loss + attention_loss(student_out.attention_scores[m - 1], teacher_out.attention_scores[n - 1],
                                         attention_mask)
            loss = loss + hidden_loss(student_out.hidden_states[m], teacher_out.hidden_states[n], projection)
    return loss


def general_distillation_recipe():
    """q2, Section 3.3: the pretrained (not fine-tuned) BERT, a general corpus, Eq. 11 for m = 0..M only."""
    return {"teacher": "pretrained", "data": "general corpus", "losses": {"embedding", "attention", "hidden"}}


def my_layer_objective(embedding, attention, hidden, lambdas):
    """q3, Eq. 6 with Eq. 11 for m = 0..M: lambda_0 L_embd + sum_m lambda_m (L_attn^m + L_hidn^m).

    embedding: 0-d; attention, hidden: (M,) for m = 1..M; lambdas: (M + 1,) for m = 0..M.
    """
    return lambdas[0] * embedding + (lambdas[1:] * (attention + hidden)).sum()


def my_pack(documents, seq_len, cls_id, sep_id):
    """q4: [CLS] + seq_len - 2 ids + [SEP] blocks cut from all documents' ids concatenated; remainder dropped."""
    flat = [token for document in documents for token in document]
    body = seq_len - 2
    blocks = [[cls_id, *flat[i:i + body], sep_id] for i in range(0, len(flat) - body + 1, body)]
    return torch.tensor(blocks, dtype=torch.long)
