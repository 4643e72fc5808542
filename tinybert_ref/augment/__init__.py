"""Data augmentation for task distillation (TinyBERT, section 3.1, Algorithm 1). Taught in notebook 06.

    wordvectors.py  GloVe neighbours for multi-piece words (offline GloVe 6B 50-d or any GloVe text file)
    mlm.py          the masked LM for single-piece words (built from the teacher's encoder and trained,
                    or a pretrained one such as bert-base-uncased), its recall, word-level helpers
    algorithm.py    Algorithm 1, batched over many sentences, with provenance of every replacement
    reference.py    the same, word by word as the official code (benchmark baseline, equality check)

Import from the submodules (`from tinybert_ref.augment.algorithm import augment`); importing this
package loads nothing heavy.
"""

__all__ = ["algorithm", "mlm", "reference", "wordvectors"]
