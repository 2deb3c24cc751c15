import gzip
import os

import numpy as np
import pytest

from dlbench.data import cifar, imagefolder, mnist
from dlbench.data.augment import Augment
from dlbench.data.prefetch import prefetch
from dlbench.data.batching import eval_batches, train_batches
from dlbench.data.builtin import digits, synthetic
from dlbench.data.dataset import DatasetRequest, Split
from dlbench.data.idx import read_idx
from dlbench.data.transforms import Adapter
from dlbench.errors import ConfigError, DataError
from tests.conftest import write_idx


def test_idx_round_trip_gzipped_and_plain(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for name in ("a-idx3-ubyte", "a-idx3-ubyte.gz"):
        assert np.array_equal(read_idx(write_idx(tmp_path / name, a)), a)
    big = np.arange(6, dtype=">i4").reshape(2, 3)
    assert read_idx(write_idx(tmp_path / "b-idx2-int", big)).tolist() == big.tolist()


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"", "bad magic"),
        (b"\x00\x00\x08\x03\x00\x00", "truncated"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x05abc", "corrupt: 11 bytes where dimensions \\(5,\\) need 13"),
        (b"PK\x03\x04zip", "not an IDX file"),
    ],
)
def test_corrupt_idx_files_are_rejected_with_the_reason(tmp_path, payload, message):
    path = tmp_path / "x-idx1-ubyte"
    path.write_bytes(payload)
    with pytest.raises(DataError, match=message):
        read_idx(path)


def test_broken_gzip_is_a_data_error(tmp_path):
    path = tmp_path / "x-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x02ab")[:-6])
    with pytest.raises(DataError, match="cannot read"):
        read_idx(path)


def test_mnist_loads_from_data_dir(mnist_dir):
    ds = mnist.load(mnist.MNIST, DatasetRequest(data_dir=mnist_dir))
    assert ds.input_shape == (28, 28, 1) and len(ds.train) == 600 and len(ds.test) == 200
    assert ds.real and ds.train.x.dtype == np.uint8 and ds.scale == pytest.approx(1 / 255)


def test_missing_files_name_what_is_needed_and_how_to_get_it(tmp_path):
    with pytest.raises(DataError) as err:
        mnist.load(mnist.FASHION_MNIST, DatasetRequest(data_dir=tmp_path))
    text = str(err.value)
    assert "train-images-idx3-ubyte" in text and str(tmp_path) in text
    assert "apt-get install dataset-fashion-mnist" in text and "--download" in text


def test_mismatched_images_and_labels_are_rejected(mnist_dir):
    write_idx(mnist_dir / "t10k-labels-idx1-ubyte", np.zeros(7, np.uint8))
    with pytest.raises(DataError, match="do not match"):
        mnist.load(mnist.MNIST, DatasetRequest(data_dir=mnist_dir))


def _local_source(tmp_path, files: dict[str, bytes], md5s: dict[str, str]) -> mnist.IdxSource:
    served = tmp_path / "served"
    served.mkdir()
    for stem, data in files.items():
        (served / f"{stem}.gz").write_bytes(data)
    return mnist.IdxSource("mnist", served.as_uri() + "/", md5s)


def _gz_files(mnist_dir) -> dict[str, bytes]:
    out = {}
    for stem in mnist.FILES:
        path = mnist._find(mnist_dir, stem)
        raw = path.read_bytes()
        out[stem] = raw if path.suffix == ".gz" else gzip.compress(raw)
    return out


def test_download_verifies_checksums_and_caches(tmp_path, mnist_dir, monkeypatch):
    import hashlib

    files = _gz_files(mnist_dir)
    src = _local_source(tmp_path, files, {k: hashlib.md5(v).hexdigest() for k, v in files.items()})
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("DLBENCH_CACHE_DIR", str(tmp_path / "cache"))  # the variable tuning and calibration read
    monkeypatch.setattr(mnist, "SYSTEM_DIR", tmp_path / "nowhere")
    ds = mnist.load(src, DatasetRequest(download=True))
    assert len(ds.train) == 600
    assert sorted(p.name for p in (tmp_path / "cache" / "mnist").iterdir()) == sorted(f"{s}.gz" for s in mnist.FILES)


def test_download_with_bad_checksum_keeps_nothing(tmp_path, mnist_dir, monkeypatch):
    files = _gz_files(mnist_dir)
    src = _local_source(tmp_path, files, {k: "0" * 32 for k in files})
    dest = tmp_path / "dest"
    with pytest.raises(DataError, match="checksum mismatch"):
        mnist.load(src, DatasetRequest(data_dir=dest, download=True))
    assert os.listdir(dest) == []


def test_synthetic_adapts_to_the_model_and_is_seeded():
    a = synthetic(DatasetRequest(model_input_shape=(224, 224, 3), model_num_classes=1000, seed=1))
    b = synthetic(DatasetRequest(model_input_shape=(224, 224, 3), model_num_classes=1000, seed=1))
    assert a.input_shape == (224, 224, 3) and a.num_classes == 1000 and not a.real and a.test is None
    assert a.train.x.nbytes <= 256 * 2**20 and np.array_equal(a.train.x[:3], b.train.x[:3])


def test_digits_is_real_with_a_fixed_split():
    ds = digits(DatasetRequest(seed=123))
    assert (len(ds.train), len(ds.test), ds.input_shape) == (1437, 360, (8, 8, 1))
    assert np.array_equal(ds.test.y, digits(DatasetRequest(seed=0)).test.y)
    assert 0.0 <= ds.train.x.min() and ds.train.x.max() <= 1.0


def test_adapter_resizes_and_maps_channels():
    x = np.arange(2 * 8 * 8, dtype=np.float32).reshape(2, 8, 8, 1)
    adapt = Adapter((8, 8, 1), (28, 28, 3))
    out = adapt(x)
    assert out.shape == (2, 28, 28, 3) and out.dtype == np.float32
    assert np.array_equal(out[..., 0], out[..., 2])
    assert out.min() == pytest.approx(x.min()) and out.max() == pytest.approx(x.max())  # bilinear stays in range
    assert adapt.steps == ["resize 8x8->28x28 (bilinear)", "channels 1->3"]
    same = Adapter((4, 4, 1), (4, 4, 1), scale=0.5)
    assert np.array_equal(same(np.full((1, 4, 4, 1), 2, np.uint8)), np.ones((1, 4, 4, 1), np.float32))


def test_adapter_rejects_impossible_shapes():
    with pytest.raises(ConfigError, match="cannot map 2 channels"):
        Adapter((8, 8, 2), (8, 8, 3))


def test_training_batches_are_seeded_full_and_cover_each_epoch():
    split = Split(np.arange(10, dtype=np.float32).reshape(10, 1), np.arange(10))
    ident = lambda x: x  # noqa: E731
    first = [b for _, b in zip(range(3), train_batches(split, 3, 0, ident))]
    again = [b for _, b in zip(range(3), train_batches(split, 3, 0, ident))]
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(first, again))
    assert all(len(y) == 3 for _, _, y in first)  # the 10th example is dropped, shapes stay static
    assert len(set(np.concatenate([y for _, _, y in first]))) == 9
    other = next(train_batches(split, 3, 1, ident))
    assert not np.array_equal(other[2], first[0][2])


def test_batch_larger_than_dataset_is_rejected():
    split = Split(np.zeros((5, 1), np.float32), np.zeros(5, np.int64))
    with pytest.raises(ConfigError, match="batch size 8 is larger than the 5 training examples"):
        next(train_batches(split, 8, 0, lambda x: x))


def test_eval_batches_pad_the_last_one():
    split = Split(np.ones((5, 2), np.float32), np.arange(5))
    batches = list(eval_batches(split, 4, lambda x: x))
    assert [(len(x), valid) for x, _, valid in batches] == [(4, 4), (4, 1)]
    assert batches[1][0][1:].sum() == 0


def test_augmentation_is_seeded_and_keeps_shapes():
    x = np.random.default_rng(0).random((8, 6, 6, 3)).astype(np.float32)
    aug = Augment.parse("crop2,flip")
    a, b = aug(x, np.random.default_rng(1)), aug(x, np.random.default_rng(1))
    assert a.shape == x.shape and np.array_equal(a, b) and not np.array_equal(a, x)
    assert not Augment.parse("none")


def test_flip_mirrors_exactly_the_chosen_images():
    x = np.arange(4 * 2 * 3, dtype=np.float32).reshape(4, 2, 3, 1)
    out = Augment(flip=True)(x, np.random.default_rng(0))
    mirrored = [np.array_equal(out[i], x[i, :, ::-1]) for i in range(4)]
    kept = [np.array_equal(out[i], x[i]) for i in range(4)]
    assert all(m != k for m, k in zip(mirrored, kept)) and any(mirrored) and any(kept)


def test_unknown_augmentation_lists_what_is_accepted():
    with pytest.raises(ConfigError, match="unknown augmentation 'rotate'; accepted: 'none', or"):
        Augment.parse("crop4,rotate")


def test_prefetch_preserves_order_and_errors():
    assert list(prefetch(iter(range(50)), 3)) == list(range(50))

    def broken():
        yield 1
        raise DataError("disk on fire")

    it = prefetch(broken())
    assert next(it) == 1
    with pytest.raises(DataError, match="disk on fire"):
        next(it)


def write_cifar(path, labels, label_bytes=1, seed=0):
    rng = np.random.default_rng(seed)
    rows = [bytes([0] * (label_bytes - 1) + [int(l)]) + rng.integers(0, 256, 3072, dtype=np.uint8).tobytes() for l in labels]
    path.write_bytes(b"".join(rows))
    return path


def test_cifar10_reads_the_official_binary_layout(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    for i in range(1, 6):
        write_cifar(folder / f"data_batch_{i}.bin", [i % 10, 3], seed=i)
    write_cifar(folder / "test_batch.bin", [7])
    # a red-only pixel at (0, 1) of the test image: bytes are planar R, G, B
    raw = bytearray((folder / "test_batch.bin").read_bytes())
    raw[1:3073] = bytes(3072)
    raw[1 + 1] = 255
    (folder / "test_batch.bin").write_bytes(bytes(raw))
    ds = cifar.load(cifar.CIFAR10, DatasetRequest(data_dir=tmp_path))
    assert (len(ds.train), len(ds.test), ds.input_shape, ds.num_classes) == (10, 1, (32, 32, 3), 10)
    assert ds.test.y.tolist() == [7] and ds.train.y[:2].tolist() == [1, 3]
    assert ds.test.x[0, 0, 1].tolist() == [255, 0, 0] and ds.test.x[0].sum() == 255


def test_cifar100_uses_the_fine_label(tmp_path):
    write_cifar(tmp_path / "train.bin", [42, 99], label_bytes=2)
    write_cifar(tmp_path / "test.bin", [5], label_bytes=2)
    ds = cifar.load(cifar.CIFAR100, DatasetRequest(data_dir=tmp_path))
    assert ds.train.y.tolist() == [42, 99] and ds.num_classes == 100


def test_cifar_rejects_corrupt_and_mismatched_files(tmp_path):
    cifar100_file = write_cifar(tmp_path / "x.bin", [1, 2, 3], label_bytes=2)
    with pytest.raises(DataError, match="not a cifar10 binary file.*looks like cifar100"):
        cifar.read_records(cifar100_file, cifar.CIFAR10)
    truncated = tmp_path / "t.bin"
    truncated.write_bytes(write_cifar(tmp_path / "y.bin", [1]).read_bytes()[:-10])
    with pytest.raises(DataError, match="not a whole number of 3073-byte records"):
        cifar.read_records(truncated, cifar.CIFAR10)
    bad_label = write_cifar(tmp_path / "z.bin", [12])
    with pytest.raises(DataError, match="label 12 is out of range for cifar10"):
        cifar.read_records(bad_label, cifar.CIFAR10)


class CreatesAFile:
    """Unpickled, it creates ``path``: what a malicious pickle could do instead."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def test_cifar_never_unpickles(tmp_path):
    """The python-version CIFAR files are pickles: in place of the binary ones, they are refused
    as not binary records, and the malicious one among them never runs."""
    import pickle

    marker = tmp_path / "unpickled"
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    for name in (*cifar.CIFAR10.train, cifar.CIFAR10.test):
        batch = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 2], b"payload": CreatesAFile(marker)}
        (folder / name).write_bytes(pickle.dumps(batch))
    with pytest.raises(DataError):  # not whole records; read as records, the first label would be 0x80
        cifar.load(cifar.CIFAR10, DatasetRequest(data_dir=tmp_path))
    assert not marker.exists()


def test_cifar_missing_files_say_where_to_get_them(tmp_path):
    with pytest.raises(DataError, match="cifar-10-binary.tar.gz.*--download"):
        cifar.load(cifar.CIFAR10, DatasetRequest(data_dir=tmp_path))


def test_imagefolder_decodes_lazily_at_the_model_size(tmp_path):
    from PIL import Image

    for split in ("train", "val"):
        for cls, color in (("cat", (255, 0, 0)), ("dog", (0, 0, 255))):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(3):
                Image.new("RGB", (40 + i, 30), color).save(tmp_path / split / cls / f"{i}.{'png' if i else 'jpg'}")
    ds = imagefolder.load(DatasetRequest(model_input_shape=(16, 16, 3), data_dir=tmp_path))
    assert (len(ds.train), len(ds.test), ds.num_classes, ds.input_shape) == (6, 6, 2, (16, 16, 3))
    batch = ds.train.x[np.array([0, 5])]
    assert batch.shape == (2, 16, 16, 3) and batch.dtype == np.uint8
    assert batch[0, ..., 0].min() > 200 and batch[1, ..., 2].min() > 200  # cat red, dog blue
    assert ds.train.y.tolist() == [0, 0, 0, 1, 1, 1]


def test_imagefolder_errors_are_clear(tmp_path):
    with pytest.raises(DataError, match="needs --data-dir"):
        imagefolder.load(DatasetRequest())
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(DataError, match="no images"):
        imagefolder.load(DatasetRequest(data_dir=tmp_path))
