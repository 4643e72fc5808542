"""Workshop solutions for notebook 10 (myths appendix). Each function passes `tinybert_ref.exercises.nb10`."""


def bert_parameters(shape):
    """q1: parameters of a BertModel (pooler included) from its shape alone."""
    V, P, T = shape["vocab_size"], shape["max_position_embeddings"], shape["type_vocab_size"]
    D, F, N = shape["hidden_size"], shape["intermediate_size"], shape["num_hidden_layers"]
    embeddings = (V + P + T) * D + 2 * D
    layer = 4 * (D * D + D) + 2 * D + (D * F + F) + (F * D + D) + 2 * D
    pooler = D * D + D
    return embeddings + N * layer + pooler


def mse_in_float32(student_hidden, teacher_hidden):
    """q2: cast first, then subtract, square and average, all in float32."""
    return ((student_hidden.float() - teacher_hidden.float()) ** 2).mean()
