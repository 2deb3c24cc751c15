"""Text for language models: characters as tokens, in the core (numpy), so every backend sees the same
token ids in the same order.

The vocabulary is the sorted set of the text's characters. The text splits once, by position: its
first 90 % trains and its last 10 % validates (nanoGPT's shakespeare-char split). Each split is cut
into windows of ``T + 1`` consecutive characters, one every ``T``: the first ``T`` are a sequence's
inputs, the last ``T`` its next-character targets; batching and shuffling then treat windows as
images are treated.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlbench.data.dataset import Dataset, DatasetRequest, Split
from dlbench.errors import DataError

TRAIN_FRACTION = 0.9
DEFAULT_CONTEXT = 64  # characters per sequence when the model declares none
SHIPPED = Path(__file__).parent / "corpora"


@dataclass(frozen=True)
class CharVocabulary:
    chars: str

    @classmethod
    def of(cls, text: str) -> "CharVocabulary":
        return cls("".join(sorted(set(text))))

    def encode(self, text: str) -> np.ndarray:
        index = {c: i for i, c in enumerate(self.chars)}
        try:
            return np.fromiter((index[c] for c in text), np.int32, len(text))
        except KeyError as e:
            raise DataError(f"character {e.args[0]!r} is not in the vocabulary of {len(self.chars)}") from None

    def decode(self, ids) -> str:
        return "".join(self.chars[i] for i in ids)


def read_text(path: Path) -> str:
    """A UTF-8 text file (``.gz`` too), refused with a clear error when empty or not UTF-8."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read text file {path}: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text (byte {e.start}: {raw[e.start:e.start + 1]!r}); "
                        "the text dataset reads UTF-8 files") from None
    if not text.strip():
        raise DataError(f"{path} is empty; the text dataset needs some text to train on")
    return text


def windows(ids: np.ndarray, context: int) -> Split:
    """Sequences of ``context`` ids and their next-id targets, one window every ``context`` ids."""
    n = (len(ids) - 1) // context
    if n < 1:
        raise DataError(f"{len(ids)} characters are too few for one sequence of {context}")
    x = ids[: n * context].reshape(n, context)
    y = ids[1 : n * context + 1].reshape(n, context)
    return Split(x, y)


def dataset(name: str, text: str, source: str, request: DatasetRequest) -> Dataset:
    context = request.model_input_shape[0] if request.model_input_shape else DEFAULT_CONTEXT
    vocab = CharVocabulary.of(text)
    ids = vocab.encode(text)
    cut = int(len(ids) * TRAIN_FRACTION)
    return Dataset(name, windows(ids[:cut], context), windows(ids[cut:], context), len(vocab.chars), real=True,
                   source=source, inputs="tokens", vocabulary=vocab.chars)


def shakespeare(request: DatasetRequest) -> Dataset:
    """Shakespeare's plays and poems, shipped with dlbench (``dlbench/data/corpora/README.md``)."""
    path = SHIPPED / "shakespeare.txt.gz"
    return dataset("shakespeare", read_text(path), "shipped with dlbench (Open Shakespeare / Project Gutenberg)", request)


def text(request: DatasetRequest) -> Dataset:
    """Any UTF-8 text: ``--data-dir`` names a file, or a folder whose ``*.txt`` files are read in order."""
    where = request.data_dir
    if where is None:
        raise DataError("the text dataset reads your own text: give --data-dir FILE (or a folder of .txt files)")
    files = sorted(where.glob("*.txt")) if where.is_dir() else [where]
    if not files:
        raise DataError(f"no .txt file in {where}; give a UTF-8 text file or a folder of them")
    return dataset("text", "\n\n".join(read_text(f) for f in files), str(where), request)
