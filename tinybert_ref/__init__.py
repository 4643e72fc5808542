"""tinybert_ref: a small, tested reference implementation of TinyBERT (Jiao et al., Findings of EMNLP 2020).

Importing the package is cheap and offline: heavy libraries (torch, transformers) load in the
modules that need them. Start with `tinybert_ref.pipeline.run` or the `tinybert-ref` command.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
