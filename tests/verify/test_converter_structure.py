"""The structural check (tests/tflite/test_reader.py) accepts what the TFLite converter writes."""

from __future__ import annotations

import pytest

from edge_gmp.tflite import inspect_tflite


@pytest.mark.slow
def test_converter_models_pass(models) -> None:
    """The TFLite converter's float32, int8, sparse, streaming and other fixtures of tests/verify."""
    for path in (models.float32, models.int8, models.sparse, models.nan, models.topk, models.stream):
        inspect_tflite(path)
    assert inspect_tflite(models.sparse).sparse_encoded
