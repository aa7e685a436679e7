"""Ahead-of-time C for integer .tflite models: kernels that read pruned weights in their stored sparse format and
run only the kept multiply-accumulates, bit-exact with TFLite Micro's reference kernels.

    python -m edge_gmp.codegen MODEL.tflite --out DIR
"""

from edge_gmp.codegen.build import CompiledModel, compile_model
from edge_gmp.codegen.generate import Library, generate
from edge_gmp.codegen.graph import UnsupportedModel

__all__ = ["CompiledModel", "Library", "UnsupportedModel", "compile_model", "generate"]
