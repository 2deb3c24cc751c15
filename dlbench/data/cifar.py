"""CIFAR-10 and CIFAR-100 from the official *binary* distribution, parsed with numpy (never pickle).

Each record is the label byte(s) then 3,072 bytes: 1,024 red, 1,024 green, 1,024 blue, row-major.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlbench.data.dataset import Dataset, DatasetRequest, Split
from dlbench.data.download import fetch
from dlbench.errors import DataError
from dlbench.paths import cache_dir

PIXELS = 3 * 32 * 32


@dataclass(frozen=True)
class CifarSource:
    name: str
    folder: str  # inside the official tarball
    train: tuple[str, ...]
    test: str
    label_bytes: int  # CIFAR-100 stores coarse then fine label; the fine one is used
    num_classes: int
    url: str
    md5: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @property
    def record(self) -> int:
        return self.label_bytes + PIXELS


CIFAR10 = CifarSource(
    "cifar10", "cifar-10-batches-bin", tuple(f"data_batch_{i}.bin" for i in range(1, 6)), "test_batch.bin", 1, 10,
    "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530",
    (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616),
)
CIFAR100 = CifarSource(
    "cifar100", "cifar-100-binary", ("train.bin",), "test.bin", 2, 100,
    "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz", "03b5dce01913d631647c71ecec9e9cb8",
    (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762),
)


def read_records(path: Path, src: CifarSource) -> Split:
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % src.record:
        other = CIFAR100 if src is CIFAR10 else CIFAR10
        hint = f"; it looks like {other.name}" if raw.size and raw.size % other.record == 0 else ""
        raise DataError(f"{path} is not a {src.name} binary file: {raw.size} bytes is not a whole number of "
                        f"{src.record}-byte records{hint}")
    records = raw.reshape(-1, src.record)
    labels = records[:, src.label_bytes - 1].astype(np.int64)
    if labels.max() >= src.num_classes:
        raise DataError(f"{path}: label {labels.max()} is out of range for {src.name} ({src.num_classes} classes)")
    images = records[:, src.label_bytes:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return Split(np.ascontiguousarray(images), labels)


def locate(src: CifarSource, request: DatasetRequest) -> Path:
    roots = [request.data_dir] if request.data_dir else [Path("/usr/share/datasets") / src.name, cache_dir() / src.name]
    for root in roots:
        for folder in (Path(root), Path(root) / src.folder):
            if all((folder / f).is_file() for f in (*src.train, src.test)):
                return folder
    if request.download:
        dest = Path(request.data_dir or cache_dir() / src.name)
        archive = fetch(src.url, dest / Path(src.url).name, src.md5)
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.name.endswith(".bin")]
            tar.extractall(dest, members=members, filter="data")
        return dest / src.folder
    looked = ", ".join(str(r) for r in roots)
    raise DataError(f"{src.name} binary files not found (looked in: {looked} and their {src.folder}/). Need "
                    f"{', '.join(src.train)}, {src.test} from {src.url}; get them with "
                    f"dlbench run --dataset {src.name} --download, or pass --data-dir")


def load(src: CifarSource, request: DatasetRequest) -> Dataset:
    folder = locate(src, request)
    parts = [read_records(folder / f, src) for f in src.train]
    train = Split(np.concatenate([p.x for p in parts]), np.concatenate([p.y for p in parts]))
    return Dataset(src.name, train, read_records(folder / src.test, src), src.num_classes, real=True,
                   source=str(folder), scale=1 / 255, mean=src.mean, std=src.std)
