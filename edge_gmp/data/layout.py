"""HAR-2 constants (channels, activities, official split) and the result type shared by both sources."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WINDOW = 128  # samples per window (2.56 s at 50 Hz)
STEP = 64  # 50 % overlap
SAMPLE_RATE_HZ = 50.0
CHANNELS = (
    "body_acc_x", "body_acc_y", "body_acc_z",
    "body_gyro_x", "body_gyro_y", "body_gyro_z",
    "total_acc_x", "total_acc_y", "total_acc_z",
)
ACTIVITIES = {
    1: "WALKING", 2: "WALKING_UPSTAIRS", 3: "WALKING_DOWNSTAIRS",
    4: "SITTING", 5: "STANDING", 6: "LAYING",
}
POSITIVE_ACTIVITIES = frozenset({2, 4, 6})  # HAR-2 label 1: sitting, laying, walking upstairs
TEST_SUBJECTS = frozenset({2, 4, 9, 10, 12, 13, 18, 20, 24})
ALL_SUBJECTS = frozenset(range(1, 31))


def binary_labels(activity: np.ndarray) -> np.ndarray:
    """HAR-2 labels (int64 0/1) from UCI activity codes 1-6."""
    return np.isin(activity, sorted(POSITIVE_ACTIVITIES)).astype(np.int64)


@dataclass(frozen=True)
class HarData:
    """HAR-2 windows: ``x_*`` (N, 128, 9) float32 in ``CHANNELS`` order, ``y_*`` 0/1, ``activity_*`` UCI codes
    1-6, ``subject_*`` 1-30; ``source`` names where they came from and ``source_sha256`` hashes that input."""

    x_train: np.ndarray
    y_train: np.ndarray
    activity_train: np.ndarray
    subject_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    activity_test: np.ndarray
    subject_test: np.ndarray
    source: str
    source_sha256: str

    @classmethod
    def from_windows(cls, x: np.ndarray, activity: np.ndarray, subject: np.ndarray, source: str,
                     source_sha256: str) -> HarData:
        """Split windows of all 30 subjects into the official train/test subjects."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        activity = np.asarray(activity, dtype=np.int64)
        subject = np.asarray(subject, dtype=np.int64)
        test = np.isin(subject, sorted(TEST_SUBJECTS))
        return cls(
            x_train=x[~test], y_train=binary_labels(activity[~test]), activity_train=activity[~test],
            subject_train=subject[~test],
            x_test=x[test], y_test=binary_labels(activity[test]), activity_test=activity[test],
            subject_test=subject[test],
            source=source, source_sha256=source_sha256,
        )
