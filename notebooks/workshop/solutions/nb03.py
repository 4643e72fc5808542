"""Workshop solutions for notebook 03 (layer mapping). Each function passes `tinybert_ref.exercises.nb03`."""


def uniform_mapping(student_layers, teacher_layers):
    """q1: g(m) = m * N / M for m = 0..M (12 -> 4: [0, 3, 6, 9, 12])."""
    step = teacher_layers // student_layers
    return [m * step for m in range(student_layers + 1)]


def top_mapping(student_layers, teacher_layers):
    """q2: g(0) = 0, then the last M teacher layers (12 -> 4: [0, 9, 10, 11, 12])."""
    return [0] + [teacher_layers - student_layers + m for m in range(1, student_layers + 1)]
