"""HAR-2 data: official UCI HAR windows or an offline rebuild from raw HAPT recordings, split by subject."""

from edge_gmp.data.dataset import (
    SOURCES,
    Split,
    as_split,
    load_har2,
    official_counts,
    split_by_subject,
    window_counts,
)
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
    "POSITIVE_ACTIVITIES",
    "SOURCES",
    "TEST_SUBJECTS",
    "HarData",
    "Normalizer",
    "Split",
    "as_split",
    "binary_labels",
    "fit_normalizer",
    "load_har2",
    "official_counts",
    "split_by_subject",
    "window_counts",
]
