"""HAR-2 data: official UCI HAR windows or an offline rebuild from raw HAPT recordings, split by subject."""

from edge_gmp.data.augment import augment_batch
from edge_gmp.data.cifar import ImageData, load_cifar10
from edge_gmp.data.cifar_folder import CIFAR10_CLASSES
from edge_gmp.data.dataset import (
    SOURCES,
    Split,
    as_split,
    load_har2,
    official_counts,
    split_by_subject,
    window_counts,
)
from edge_gmp.data.image_normalize import ImageNormalizer, fit_image_normalizer
from edge_gmp.data.layout import (
    ACTIVITIES,
    CHANNELS,
    POSITIVE_ACTIVITIES,
    TEST_SUBJECTS,
    HarData,
    binary_labels,
)
from edge_gmp.data.normalize import Normalizer, fit_normalizer

__all__ = [
    "ACTIVITIES",
    "CHANNELS",
    "CIFAR10_CLASSES",
    "POSITIVE_ACTIVITIES",
    "SOURCES",
    "TEST_SUBJECTS",
    "HarData",
    "ImageData",
    "ImageNormalizer",
    "Normalizer",
    "Split",
    "as_split",
    "augment_batch",
    "binary_labels",
    "fit_image_normalizer",
    "fit_normalizer",
    "load_cifar10",
    "load_har2",
    "official_counts",
    "split_by_subject",
    "window_counts",
]
