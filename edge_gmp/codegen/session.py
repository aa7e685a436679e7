"""The generated library as a :class:`~edge_gmp.runtimes.Session`, so that the same traces and bit-exact
comparisons that prove a compressed file identical to its dense twin in TFLM prove the C identical to TFLM."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from edge_gmp.codegen.generate import Library, generate
from edge_gmp.codegen.graph import load_graph
from edge_gmp.codegen.host import HostLibrary
from edge_gmp.runtimes import Session, TensorInfo


def _info(graph, t: int, name: str) -> TensorInfo:
    x = graph.tensor(t)
    return TensorInfo(name, tuple(x.shape), np.dtype(x.dtype), x.scale if x.quantized else None,
                      x.zero_point if x.quantized else None)


class CompiledSession(Session):
    """``path``'s generated C, compiled for this machine and called through ctypes."""

    runtime = "compiled"

    def __init__(self, path: str | os.PathLike, library: Library | None = None, name: str = "model",
                 build_dir: str | os.PathLike | None = None, cflags: tuple[str, ...] = ()) -> None:
        graph = load_graph(path)
        self.library = library or generate(path, name)
        self.host = HostLibrary(self.library, build_dir, cflags)
        ins = [_info(graph, t, graph.tensor(t).name or f"in{i}") for i, t in enumerate(graph.inputs)]
        outs = [_info(graph, t, graph.tensor(t).name or f"out{i}") for i, t in enumerate(graph.outputs)]
        self._dtypes = [o.dtype for o in outs]
        self._sizes = [o.size for o in outs]
        super().__init__(path, ins, outs)

    def _invoke(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        outs = self.host(*feeds, output_dtypes=self._dtypes, output_sizes=self._sizes)
        return [o.reshape(t.shape) for o, t in zip(outs, self.outputs, strict=True)]

    def raw_step(self) -> Callable[[Sequence[np.ndarray]], list[np.ndarray]]:
        """The library's call and nothing else, for the streaming trace (its inputs come in the tensors' dtypes and
        shapes, contiguous); fresh output arrays, since a trace may feed one back as the next input."""
        call, shapes, dtypes = self.host.raw_call, [t.shape for t in self.outputs], self._dtypes

        def step(feeds: Sequence[np.ndarray]) -> list[np.ndarray]:
            outs = [np.empty(shape, dtype) for shape, dtype in zip(shapes, dtypes, strict=True)]
            call([np.ascontiguousarray(f) for f in feeds], outs)
            return outs

        return step

    def close(self) -> None:
        self.host.close()
