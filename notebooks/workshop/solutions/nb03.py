"""Workshop solutions for notebook 03 (layer mapping). Each function passes `tinybert_ref.exercises.nb03`."""


def uniform_mapping(student_layers, teacher_layers):
    """q1: g(m) = m * N / M rounded to the nearest layer, halves up (12 -> 4: [0, 3, 6, 9, 12]; 6 -> 4:
    [0, 2, 3, 5, 6]). Multiply before dividing: N // M first would give the bottom mapping for 6 -> 4."""
    return [(2 * m * teacher_layers + student_layers) // (2 * student_layers) for m in range(student_layers + 1)]


def top_mapping(student_layers, teacher_layers):
    """q2: g(0) = 0, then the last M teacher layers (12 -> 4: [0, 9, 10, 11, 12])."""
    return [0] + [teacher_layers - student_layers + m for m in range(1, student_layers + 1)]
