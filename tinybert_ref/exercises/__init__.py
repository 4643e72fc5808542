"""Exercise checkers, one module per notebook (`from tinybert_ref.exercises import nb04`).

Each module exposes q1, q2, ... with `.check(fn)`, `.hint(n)` and `.solution()` (see checker.py).
"""
