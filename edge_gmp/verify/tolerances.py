"""Every tolerance and threshold that verification judges by, named once; no other module defines one.

Agreement is always measured the same way (:func:`edge_gmp.runtimes.compare_outputs`: top-1 agreement and
max |Δ| of one model's outputs against a reference) and judged here:

- ONNX vs PyTorch: max |Δlogit| <= ONNX_REL_MAX_ABS * max(1, |logit|) and identical top-1 (a near tie that this
  rounding can flip, top-2 gap within 2 max |Δ|, is not counted as a difference). Relative, because float32
  rounding carried through a recurrence grows with the logits' scale: a FastGRNN window can end 1e-4 apart on
  logits of 8 in two correct runtimes, while a wrong conversion is off by far more;
- float TFLite vs PyTorch: top-1 agreement >= MIN_TOP1 and max |Δlogit| <= FLOAT_REL_MAX_ABS * max(1, |logit|);
- integer TFLite (int8, int16x8): accuracy at most INTEGER_MAX_DROP below the float model's, and the device
  runtime agreeing with every other runtime on >= MIN_TOP1 top-1;
- a sparse-encoded file vs its dense twin in the same runtime: top-1 agreement >= MIN_TOP1 and max |Δlogit| <=
  SPARSE_FLOAT_REL_MAX_ABS * max(1, |logit|) (float) or SPARSE_INTEGER_STEPS quantisation steps of the class
  output (integer: none, DENSIFY restores the dense twin's integer weights exactly); a file outside them changed
  the model and is labelled "not shipped";
- test inputs for an accuracy measurement of a foreign model: more than SATURATED_SHARE of the quantised values
  at the type's limits, or fewer than MIN_LEVELS distinct values, make the measurement unreliable.

The TFLM_DECODE device file must give bit-identical raw outputs to its dense integer file: no tolerance.
"""

from __future__ import annotations

ONNX_REL_MAX_ABS = 1e-4
FLOAT_REL_MAX_ABS = 1e-3
MIN_TOP1 = 0.99  # tolerates a rare near-tie flip
INTEGER_MAX_DROP = 0.01
SPARSE_FLOAT_REL_MAX_ABS = 1e-4
SPARSE_INTEGER_STEPS = 0.0
SATURATED_SHARE = 0.05
MIN_LEVELS = 16
