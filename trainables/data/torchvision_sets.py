"""The torchvision datasets (CIFAR-10/100, SVHN, MNIST, Fashion-MNIST) as registered sources: the table.

How each one is found, extracted, downloaded and read is ``trainables.data.torchvision_layout``; the
network probe and ``$STUDY_OFFLINE`` are ``trainables.data.network``.
"""
from __future__ import annotations

from trainables.data import DATASETS
from trainables.data.torchvision_layout import TorchvisionSet


def _mnist_like(name: str, tv_class: str, alt_dirs: tuple[str, ...], mean: float, std: float) -> TorchvisionSet:
    files = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    raw = f"{tv_class}/raw"
    return TorchvisionSet(
        name=name,
        tv_class=tv_class,
        ready_files=tuple(f"{raw}/{f}" for f in files),
        archives=tuple(f"{raw}/{f}.gz" for f in files),
        extract_into=raw,
        alt_dirs=alt_dirs,
        host="ossci-datasets.s3.amazonaws.com",
        layout="NHW",
        split_kwargs=({"train": True}, {"train": False}),
        image_size=28,
        in_channels=1,
        mean=(mean,),
        std=(std,),
    )


_CIFAR10_BATCHES = tuple(f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6))

SETS = (
    TorchvisionSet(
        name="cifar10",
        tv_class="CIFAR10",
        ready_files=(*_CIFAR10_BATCHES, "cifar-10-batches-py/test_batch", "cifar-10-batches-py/batches.meta"),
        archives=("cifar-10-python.tar.gz",),
        extract_into=".",
        alt_dirs=("cifar10", "cifar-10", "CIFAR10"),
        host="www.cs.toronto.edu",
        layout="NHWC",
        split_kwargs=({"train": True}, {"train": False}),
        image_size=32,
        in_channels=3,
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2471, 0.2435, 0.2616),
    ),
    TorchvisionSet(
        name="cifar100",
        tv_class="CIFAR100",
        ready_files=("cifar-100-python/train", "cifar-100-python/test", "cifar-100-python/meta"),
        archives=("cifar-100-python.tar.gz",),
        extract_into=".",
        alt_dirs=("cifar100", "cifar-100", "CIFAR100"),
        host="www.cs.toronto.edu",
        layout="NHWC",
        split_kwargs=({"train": True}, {"train": False}),
        image_size=32,
        in_channels=3,
        mean=(0.5071, 0.4865, 0.4409),
        std=(0.2673, 0.2564, 0.2762),
    ),
    TorchvisionSet(
        name="svhn",
        tv_class="SVHN",
        ready_files=("train_32x32.mat", "test_32x32.mat"),
        archives=(),
        extract_into=".",
        alt_dirs=("svhn", "SVHN"),
        host="ufldl.stanford.edu",
        layout="NCHW",
        split_kwargs=({"split": "train"}, {"split": "test"}),
        image_size=32,
        in_channels=3,
        mean=(0.4377, 0.4438, 0.4728),
        std=(0.1980, 0.2010, 0.1970),
        class_names=tuple(str(i) for i in range(10)),
    ),
    _mnist_like("mnist", "MNIST", ("mnist",), 0.1307, 0.3081),
    _mnist_like("fashion_mnist", "FashionMNIST", ("fashion-mnist", "fashion_mnist"), 0.2860, 0.3530),
)

for _spec in SETS:
    DATASETS.register(_spec.name)(_spec)
