"""The structural check of ``inspect_tflite`` against broken and hostile files, all made (seeded) from the
committed FastGRNN and MobileNet int8 models: every mutant is refused with a one-line UserError or, when it is
still structurally valid, opens and runs in TFLite Micro and LiteRT (in a child process) without crashing."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import tflite_mutations as tm
from tflite_micro import compression
from tflite_micro.tensorflow.lite.micro.compression import spec
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from edge_gmp.errors import UserError
from edge_gmp.tflite import inspect_tflite
from edge_gmp.tflite.decode.pruning import PRUNING
from edge_gmp.tflite.graph import MAX_FILE_BYTES

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {"fastgrnn": ROOT / "tests/fixtures/fastgrnn_step_int8.tflite",
           # the device file's dense twin
           "mobilenet": ROOT / "export/mobilenetv1-cifar10-distilled/classifier_int8.tflite"}
RANDOM_MUTANTS = {"fastgrnn": (1, 200), "mobilenet": (2, 100)}  # seed, count
SAMPLED_MUTANTS = 120  # vtable / vector-length mutants kept per model (seeded sample)
COMPRESSED_RANDOM_MUTANTS = 60  # of the FastGRNN model compressed with TFLM_DECODE operators


def _refusal(path: Path) -> str | None:
    """The one-line UserError message for ``path``, or None when the check accepts it."""
    try:
        inspect_tflite(path)
    except UserError as exc:
        message = str(exc)
        assert "\n" not in message and str(path) in message, message
        return message
    return None


# --- semantic mutations: each must be refused, naming what is wrong ---------------------------------------


@pytest.mark.parametrize("source", sorted(SOURCES))
@pytest.mark.parametrize("mutation", sorted(tm.SEMANTIC))
def test_semantic_mutation_is_refused(mutation: str, source: str, tmp_path: Path) -> None:
    mutate, phrase = tm.SEMANTIC[mutation]
    model = tm.load(SOURCES[source])
    try:
        mutate(model)
    except LookupError:
        pytest.skip(f"{source} has no tensor or operator this mutation applies to")
    path = tmp_path / "mutant.tflite"
    path.write_bytes(tm.serialise(model))
    message = _refusal(path)
    assert message is not None, f"{mutation} was accepted"
    assert phrase in message, message


def test_messages_name_the_tensor_or_operator(tmp_path: Path) -> None:
    model = tm.load(SOURCES["fastgrnn"])
    model.subgraphs[0].tensors[9].quantization.scale[3] = np.nan
    path = tmp_path / "nan_scale.tflite"
    path.write_bytes(tm.serialise(model))
    assert "subgraph 0 tensor 9 'tfl.pseudo_qconst7': quantisation scale[3] is nan" in _refusal(path)
    model = tm.load(SOURCES["fastgrnn"])
    model.subgraphs[0].operators[2].outputs[0] = 10
    path.write_bytes(tm.serialise(model))
    assert "operator 2 (ADD) writes into subgraph 0 tensor 10 'tfl.pseudo_qconst8'" in _refusal(path)


# --- byte-level corpus --------------------------------------------------------------------------------------


@dataclass
class Corpus:
    """Byte-level mutants written under ``root``: refusals by family, and the accepted files to open."""

    root: Path
    refused: dict[str, int] = field(default_factory=dict)
    total: dict[str, int] = field(default_factory=dict)
    accepted: list[tuple[str, Path]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    def add(self, family: str, mutant: tm.Mutant) -> None:
        path = self.root / f"m{sum(self.total.values())}.tflite"
        path.write_bytes(mutant.data)
        self.total[family] = self.total.get(family, 0) + 1
        message = _refusal(path)
        if message is None:
            self.accepted.append((f"{family}: {mutant.name}", path))
        else:
            self.refused[family] = self.refused.get(family, 0) + 1
            self.messages.append(message)
            path.unlink()


def _sample(mutants: list[tm.Mutant], seed: int) -> list[tm.Mutant]:
    rng = np.random.default_rng(seed)
    keep = rng.choice(len(mutants), min(SAMPLED_MUTANTS, len(mutants)), replace=False)
    return [mutants[i] for i in sorted(keep)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, compressed_models: list[Path]) -> Corpus:
    result = Corpus(tmp_path_factory.mktemp("tflite_mutants"))
    for mutant in tm.random_mutations(compressed_models[2].read_bytes(), COMPRESSED_RANDOM_MUTANTS, seed=3):
        result.add("compressed fastgrnn random", mutant)
    for name, source in SOURCES.items():
        data = source.read_bytes()
        seed, count = RANDOM_MUTANTS[name]
        families = {"truncation": tm.truncations(data),
                    "vtable": _sample(tm.vtable_mutations(data), seed),
                    "vector length": _sample(tm.vector_length_mutations(data), seed),
                    "random": tm.random_mutations(data, count, seed)}
        for family, mutants in families.items():
            for mutant in mutants:
                result.add(f"{name} {family}", mutant)
        result.add(f"{name} padded", tm.Mutant("1 MiB of zeros appended", data + bytes(1 << 20)))
        result.add(f"{name} control", tm.Mutant("re-serialised unchanged", tm.serialise(tm.load(source))))
    return result


def test_byte_mutants_are_refused_in_one_line_or_accepted(corpus: Corpus) -> None:
    summary = {family: f"{corpus.refused.get(family, 0)}/{n} refused" for family, n in corpus.total.items()}
    print("\nmutation corpus:", summary, f"accepted {len(corpus.accepted)}")
    for name in SOURCES:
        assert corpus.refused[f"{name} truncation"] == corpus.total[f"{name} truncation"], summary
        assert corpus.total[f"{name} random"] == RANDOM_MUTANTS[name][1]
        assert corpus.refused[f"{name} vtable"] and corpus.refused[f"{name} vector length"], summary
        assert corpus.refused[f"{name} random"] and f"{name} control" not in corpus.refused, summary
        assert f"{name} padded" not in corpus.refused, summary
    assert all(len(m) < 600 for m in corpus.messages), max(corpus.messages, key=len)


def test_accepted_mutants_do_not_crash_the_runtimes(corpus: Corpus) -> None:
    """The point of the check: whatever it lets through opens (and runs once) in TFLite Micro and LiteRT
    without killing the process, in each runtime either working or raising a Python exception."""
    result = tm.open_in_child([path for _, path in corpus.accepted])
    crashes = [f"{corpus.accepted[i][0]} ({corpus.accepted[i][1].name}): {how}" for i, how in result.crashes.items()]
    assert not crashes, "\n".join(crashes)
    assert len(result.outcomes) == len(corpus.accepted)
    controls = [i for i, (name, _) in enumerate(corpus.accepted) if "control" in name or "padded" in name]
    assert all(result.outcomes[i] == "tflm:ok litert:ok" for i in controls), result.outcomes


def test_oversized_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "padded.tflite"
    with path.open("wb") as f:  # sparse: the size check must not need the bytes
        f.write(SOURCES["fastgrnn"].read_bytes())
        f.truncate(215_000_000)
    message = _refusal(path)
    assert message is not None and "205.0 MiB" in message and f"over {MAX_FILE_BYTES >> 20} MiB" in message


def test_missing_and_foreign_files(tmp_path: Path) -> None:
    assert "model file not found" in _refusal_of_missing(tmp_path / "none.tflite")
    assert "is a directory" in _refusal_of_missing(tmp_path)
    assert "not a regular file" in _refusal_of_missing(Path("/dev/null"))
    fifo = tmp_path / "model.tflite"
    os.mkfifo(fifo)
    assert "not a regular file" in _refusal_of_missing(fifo)  # refused without opening it (which would block)
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(np.random.default_rng(0).bytes(4000))
    assert "no 'TFL3' identifier" in _refusal(junk)


def _refusal_of_missing(path: Path) -> str:
    with pytest.raises(UserError) as info:
        inspect_tflite(path)
    return str(info.value)


# --- real models must pass unchanged ---------------------------------------------------------------------


def _compressed(source: Path, tensors: list[tuple[int, int, spec.PerTensor | spec.PerChannel]]) -> bytes:
    builder = compression.SpecBuilder()
    for tensor, bits, mode in tensors:
        builder = builder.add_tensor(subgraph=0, tensor=tensor).with_lut(index_bitwidth=bits, mode=mode)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bytes(compression.compress(source.read_bytes(), builder.build()))


@pytest.fixture(scope="module")
def compressed_models(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Models with TFLM_DECODE operators: LUT-compressed by tflite_micro.compression, then compressed by this
    project's edge_gmp.export.compression (PRUNING/LUT, with its cuts: one zero point for equal per-channel
    zero points, no bias or encoded-tensor quantisation, no names)."""
    from edge_gmp.export.compression import compress_tflite

    root = tmp_path_factory.mktemp("compressed")
    specs = {"fastgrnn": [(3, 5, spec.PerTensor()), (4, 6, spec.PerTensor()), (8, 6, spec.PerTensor())],
             "mobilenet": [(8, 5, spec.PerChannel(axis=3)), (12, 6, spec.PerTensor())]}  # <= 32 and 64 values
    paths = []
    for name, tensors in specs.items():
        paths.append(root / f"{name}_lut.tflite")
        paths[-1].write_bytes(_compressed(SOURCES[name], tensors))
    for name, source in SOURCES.items():
        paths.append(root / f"{name}_edge_gmp.tflite")
        paths[-1].write_bytes(compress_tflite(source.read_bytes()).data)
    return paths


def test_committed_exports_pass() -> None:
    for path in sorted((ROOT / "export").glob("*/*.tflite")):
        info = inspect_tflite(path)
        assert info.ops and info.input_names and info.output_names and not info.sparse_encoded


def test_compressed_models_pass_and_run_in_tflm(compressed_models: list[Path]) -> None:
    for path in compressed_models:
        assert "CUSTOM:TFLM_DECODE" in inspect_tflite(path).ops
    result = tm.open_in_child(compressed_models)
    assert not result.crashes and all(o.startswith("tflm:ok") for o in result.outcomes.values()), result


def _decode_pair(model: schema.ModelT) -> tuple[schema.OperatorT, schema.TensorT, schema.TensorT]:
    """The first TFLM_DECODE operator with one (encoded, ancillary) pair, and those two tensors."""
    graph = model.subgraphs[0]
    decode_code = next(i for i, c in enumerate(model.operatorCodes) if c.customCode == b"TFLM_DECODE")
    op = next(op for op in graph.operators if op.opcodeIndex == decode_code and len(op.inputs) == 2)
    return op, graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]


def _shorten(model: schema.ModelT, tensor: schema.TensorT, length: int) -> None:
    """Shorten a UINT8 constant and its shape together, so the generic size check still holds."""
    buffer = model.buffers[tensor.buffer]
    buffer.data = buffer.data[:length]
    tensor.shape = np.array([length], np.int32)


DECODE_MUTATIONS = {
    "ancillary shorter than its header": (lambda m, op, enc, anc: _shorten(m, anc, 8), "16-byte header"),
    "encoded indices too short": (lambda m, op, enc, anc: _shorten(m, enc, 3), "LUT data"),
    "value tables too short": (lambda m, op, enc, anc: _shorten(m, anc, 17), "LUT data"),
    "one input": (lambda m, op, enc, anc: setattr(op, "inputs", op.inputs[:1]), "expected 2 or more"),
    "encoded data not constant": (lambda m, op, enc, anc: setattr(enc, "buffer", 0), "before any operator writes"),
    "ancillary data INT8": (lambda m, op, enc, anc: setattr(anc, "type", schema.TensorType.INT8), "constant UINT8"),
}


@pytest.mark.parametrize("mutation", sorted(DECODE_MUTATIONS))
def test_decode_mutations_are_refused(mutation: str, compressed_models: list[Path], tmp_path: Path) -> None:
    mutate, phrase = DECODE_MUTATIONS[mutation]
    model = tm.load(compressed_models[0])
    mutate(model, *_decode_pair(model))
    path = tmp_path / "decode.tflite"
    path.write_bytes(tm.serialise(model))
    message = _refusal(path)
    assert message is not None and "TFLM_DECODE" in message and phrase in message, message


def _pruning_pair(model: schema.ModelT) -> tuple[schema.TensorT, schema.TensorT]:
    """(encoded, ancillary) of the first TFLM_DECODE pair whose ancillary data is a PRUNING header."""
    graph = model.subgraphs[0]
    decode_code = next(i for i, c in enumerate(model.operatorCodes) if c.customCode == b"TFLM_DECODE")
    pairs = [(graph.tensors[a], graph.tensors[b]) for op in graph.operators if op.opcodeIndex == decode_code
             for a, b in zip(op.inputs[::2], op.inputs[1::2], strict=True)]
    return next((enc, anc) for enc, anc in pairs if model.buffers[anc.buffer].data[0] == PRUNING)


def test_a_pruning_bitmap_must_count_the_kept_values(compressed_models: list[Path], tmp_path: Path) -> None:
    """A bitmap with no set bits (or one bit too many or too few) while kept values remain was run as OK."""
    source = next(p for p in compressed_models if p.name == "fastgrnn_edge_gmp.tflite")
    for change in ("clear", "one more", "one fewer"):
        model = tm.load(source)
        encoded, _ = _pruning_pair(model)
        bitmap = model.buffers[encoded.buffer].data
        bits = np.unpackbits(bitmap)
        if change == "clear":
            bits[:] = 0
        else:
            bits[np.flatnonzero(bits == (0 if change == "one more" else 1))[0]] = 1 if change == "one more" else 0
        model.buffers[encoded.buffer].data = np.packbits(bits)
        path = tmp_path / f"{change}.tflite"
        path.write_bytes(tm.serialise(model))
        message = _refusal(path)
        assert message is not None and "PRUNING" in message, change
        if change != "one more":  # one value too few is already refused as data too short
            assert "set bits" in message and "must be equal" in message, message


CLI_CASES = ("op input index = tensor count", "tensor buffer index = buffer count", "subgraph output = -1",
             "zero operators", "operator writes into a weight", "weight buffer one byte short", "scale 0",
             "scale NaN", "scale +inf", "scale -1")


@pytest.mark.parametrize("mutation", CLI_CASES)
def test_validate_refuses_the_known_crashers_and_false_oks_in_one_line(mutation: str, tmp_path: Path) -> None:
    """What once crashed the validator (segfault) or made it say OK: now exit 2, one line, nothing else."""
    import subprocess
    import sys

    model = tm.load(SOURCES["fastgrnn"])
    tm.SEMANTIC[mutation][0](model)
    path = tmp_path / "mutant.tflite"
    path.write_bytes(tm.serialise(model))
    proc = subprocess.run([sys.executable, "-m", "edge_gmp.validate", str(path), "--board", "nano33ble"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, (mutation, proc.stdout, proc.stderr)
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("error:"), proc.stderr
    assert "OK" not in proc.stdout
