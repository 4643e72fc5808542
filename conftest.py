"""Root pytest configuration: tests and notebooks run offline, in the `ci` profile unless told otherwise.

nbval starts each notebook's kernel with this process's environment, so these settings reach the
notebooks too.
"""

import os

os.environ.setdefault("TINYBERT_PROFILE", "ci")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
