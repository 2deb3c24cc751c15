"""MNIST and Fashion-MNIST from IDX files: found locally, or downloaded on request and checksum-verified."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dlbench.data.dataset import Dataset, DatasetRequest, Split
from dlbench.data.download import fetch
from dlbench.data.idx import read_idx
from dlbench.errors import DataError
from dlbench.paths import cache_dir

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
SYSTEM_DIR = Path("/usr/share/datasets")


@dataclass(frozen=True)
class IdxSource:
    name: str
    url: str
    md5: dict[str, str]  # of the canonical .gz files
    mean: float = 0.0
    std: float = 1.0
    install_hint: str = ""


MNIST = IdxSource(
    "mnist",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    {
        "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    mean=0.1307,
    std=0.3081,
)
FASHION_MNIST = IdxSource(
    "fashion-mnist",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    {
        "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    mean=0.2860,
    std=0.3530,
    install_hint="on Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist; ",
)


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def candidate_dirs(src: IdxSource, data_dir: Path | None) -> list[Path]:
    if data_dir is not None:
        return [Path(data_dir), Path(data_dir) / src.name]
    return [SYSTEM_DIR / src.name, cache_dir() / src.name]


def download(src: IdxSource, dest: Path) -> None:
    """Fetch the four canonical .gz files into ``dest``, each verified before it is kept."""
    for stem, md5 in src.md5.items():
        fetch(src.url + f"{stem}.gz", dest / f"{stem}.gz", md5)


def locate(src: IdxSource, data_dir: Path | None, allow_download: bool) -> dict[str, Path]:
    for folder in candidate_dirs(src, data_dir):
        found = {stem: _find(folder, stem) for stem in FILES}
        if all(found.values()):
            return found  # type: ignore[return-value]
    if allow_download:
        dest = Path(data_dir) if data_dir is not None else cache_dir() / src.name
        download(src, dest)
        return {stem: dest / f"{stem}.gz" for stem in FILES}
    looked = ", ".join(str(d) for d in candidate_dirs(src, data_dir))
    raise DataError(
        f"{src.name} files not found (looked in: {looked}). Need {', '.join(FILES)} (optionally .gz). "
        f"Get them with: {src.install_hint}dlbench run --dataset {src.name} --download; "
        f"or put them in a folder and pass --data-dir"
    )


def load(src: IdxSource, request: DatasetRequest) -> Dataset:
    paths = locate(src, request.data_dir, request.download)
    arrays = {stem: read_idx(p) for stem, p in paths.items()}
    splits = []
    for prefix in ("train", "t10k"):
        x, y = arrays[f"{prefix}-images-idx3-ubyte"], arrays[f"{prefix}-labels-idx1-ubyte"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DataError(
                f"{src.name}: {prefix} images {x.shape} and labels {y.shape} do not match "
                f"(expected (N, 28, 28) images and N labels) in {paths[f'{prefix}-images-idx3-ubyte'].parent}"
            )
        if y.max(initial=0) > 9:
            raise DataError(f"{src.name}: {prefix} labels go up to {y.max()}, expected 0-9")
        splits.append(Split(x[..., None], y.astype("int64")))
    folder = paths["train-images-idx3-ubyte"].parent
    return Dataset(src.name, splits[0], splits[1], 10, real=True, source=str(folder), scale=1 / 255,
                   mean=(src.mean,), std=(src.std,))
