"""Bad input, tried as a new user would (issue 12): `tinybert-ref run --profile ci` with one bad argument.

Each case runs the command line in a subprocess and must end with a non-zero exit, one line on stderr
("tinybert-ref: error: ..."; argparse's own usage error for a choice it checks) and no traceback, before
any folder of the run is made: the checks run when the configuration is built (`RunConfig`,
`config.check_inputs`, `pipeline.prepare`), not when a stage reaches the argument.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

_ROWS = "".join(f"headline number {i},{topic}\n" for i in range(30) for topic in ("sport", "money"))


def _task(name: str, content: str | bytes):
    """A task file under the test's folder: (folder) -> ["--task", path]."""
    def make(folder: Path) -> list[str]:
        path = folder / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return ["--task", str(path)]
    return make


def _teacher(files: dict[str, str] | None):
    """A teacher folder holding `files` (None: no folder at all)."""
    def make(folder: Path) -> list[str]:
        path = folder / "teacher"
        if files is not None:
            path.mkdir()
            for name, text in files.items():
                (path / name).write_text(text)
        return ["--teacher", str(path)]
    return make


def _file(flag: str, name: str, content: str | None):
    """`flag` pointing at a file `name` with `content` (None: missing); a name ending in / is a folder."""
    def make(folder: Path) -> list[str]:
        path = folder / name
        if name.endswith("/"):
            path.mkdir()
        elif content is not None:
            path.write_text(content)
        return [flag, str(path)]
    return make


def _args(*args: str):
    return lambda folder: list(args)


# (id, argv maker, what the error line must contain)
CASES = [
    ("task_missing", _file("--task", "topics.csv", None), "no file or folder"),
    ("no_label_column", _task("topics.csv", "text,topic\n" + _ROWS), "no column 'label'"),
    ("no_rows", _task("topics.csv", "text,label\n"), "no rows"),
    ("one_class", _task("topics.csv", "text,label\n" + "".join(f"headline {i},sport\n" for i in range(40))),
     "one class"),
    ("empty_text_cells", _task("topics.csv", "text,label\n,sport\n" + _ROWS), "empty in 1 rows"),
    ("three_rows", _task("topics.csv", "text,label\na b,sport\nc d,money\ne f,sport\n"), "split 'dev' is empty"),
    # Latin-1 bytes are refused, not decoded with replacement: replacing a user's characters silently would
    # change the text the models learn from; the error names the byte and the fix (re-save as UTF-8).
    ("latin1_bytes", _task("topics.csv", ("text,label\ncaf\xe9 owner wins award,money\n" + _ROWS).encode("latin-1")),
     "not UTF-8"),
    ("unclosed_quote", _task("topics.csv", 'text,label\n"an unclosed quote,sport\n' + _ROWS), "cannot read"),
    ("teacher_empty_folder", _teacher({}), "no config.json"),
    ("teacher_corrupt_config", _teacher({"config.json": "{not json"}), "config.json"),
    ("teacher_missing", _teacher(None), "does not exist"),
    ("hub_teacher_offline", _args("--teacher", "bert-base-uncased"), "needs the network"),
    ("student_huge", _args("--student", "huge"), "unknown student preset"),
    ("mapping_out_of_range", _args("--mapping", "9,9,9,9"), "out of range"),
    ("mapping_too_short", _args("--mapping", "1,2"), "2 entries but the student has 4"),
    ("mapping_a_word", _args("--mapping", "sideways"), "neither"),
    ("profile_bogus", _args("--profile", "bogus"), "invalid choice: 'bogus'"),
    ("glove_missing", _file("--glove", "glove.txt", None), "no word-vector file"),
    ("glove_not_glove", _file("--glove", "glove.txt", "these are not\nword vectors\n"), "not a GloVe text file"),
    ("corpus_empty_txt", _file("--corpus", "corpus.txt", ""), "holds no text"),
    ("corpus_empty_folder", _file("--corpus", "corpus/", None), "no .txt files"),
    ("batch_size_zero", _args("--batch-size", "0"), "batch_size must be a whole number >= 1"),
    ("fp16_on_cpu", _args("--precision", "fp16"), "fp16 needs a GPU"),
    ("glue_offline", _args("--task", "sst2"), "needs the network"),
    ("mlm_without_masked_lm_augmentation", _args("--mlm", "bert-base-uncased", "--override", "aug_mlm=false"),
     "add --override aug_mlm=true"),
    # sentence pairs: a second text column the file lacks names the column, the columns found and the fix
    ("pair_column_missing", lambda folder: _task("pairs.csv", "question,label\n" + _ROWS)(folder)
     + ["--text-columns", "question,answer"],
     "no column 'answer'; columns found: ['question', 'label']; 'answer' was to be the second text column "
     "(text pair): name the right columns, on the command line with --text-columns TEXT,TEXT_PAIR"),
    ("text_columns_three", _args("--text-columns", "a,b,c"), "two different names separated by a comma"),
    ("text_columns_without_a_file", _args("--task", "bbc_pairs", "--text-columns", "a,b"),
     "is not a file (BBC tasks and GLUE know their columns)"),
]


@pytest.mark.parametrize("case, make_args, expected", CASES, ids=[case[0] for case in CASES])
def test_bad_input_is_one_line_before_any_folder(tmp_path, case, make_args, expected):
    if case == "fp16_on_cpu":
        import torch

        if torch.cuda.is_available():
            pytest.skip("fp16 is valid here: the machine has a GPU")
    out = tmp_path / "run"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "tinybert_ref.cli", "run", "--profile", "ci", "--out", str(out),
                             *make_args(tmp_path)], capture_output=True, text=True, env=env, timeout=600)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in lines if "error:" in line]
    assert len(errors) == 1 and expected in errors[0], result.stderr
    if case == "profile_bogus":  # argparse's own error: its usage, then the one error line
        assert errors[0].startswith("tinybert-ref run: error: argument --profile") and lines[0].startswith("usage:")
    else:
        assert lines == errors and errors[0].startswith("tinybert-ref: error: "), result.stderr
    assert not out.exists(), sorted(p.name for p in out.rglob("*"))  # refused before any folder is made
