import hashlib
import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from edge_gmp import validate


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_gmp.validate", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_fits_exit_0_and_json(models):
    r = cli(models.int8, "--device", "nano33ble")
    assert r.returncode == 0, r.stderr
    assert "OK: every budget holds" in r.stdout and "64-bit host" in r.stdout
    r = cli(models.int8, "--device", "STM32F746-Disco", "--json")
    report = json.loads(r.stdout)
    assert r.returncode == 0 and report["ok"] and report["arena_bytes"] > 0
    assert report["model"]["bytes"] == models.int8.stat().st_size
    assert [row["budget"] for row in report["budget"]["rows"]] == ["flash", "ram"]


def test_budget_that_cannot_hold_exits_1(models):
    r = cli(models.float32, "--device", "uno")
    assert r.returncode == 1, r.stderr
    assert "FAIL: flash over budget by" in r.stdout and "FAIL: ram over budget by" in r.stdout


def test_user_devices_file(models, tmp_path):
    boards = tmp_path / "boards.toml"
    size = models.int8.stat().st_size
    boards.write_text(f'[device.tiny]\nname = "Tiny"\nflash_bytes = {size + 10}\nsram_bytes = 100000\n'
                      'flash_reserve_bytes = 0\nram_reserve_bytes = 0\n')
    assert cli(models.int8, "--device", "tiny", "--devices", boards).returncode == 0
    boards.write_text(boards.read_text().replace(f"{size + 10}", f"{size - 10}"))
    r = cli(models.int8, "--device", "TINY", "--devices", boards)
    assert r.returncode == 1 and "flash over budget by 10 B" in r.stdout
    boards.write_text(boards.read_text().replace("sram_bytes = 100000", "sram_bytes = -1"))
    r = cli(models.int8, "--device", "tiny", "--devices", boards)
    assert r.returncode == 2 and "sram_bytes must be a non-negative integer" in r.stderr


def test_bad_input_exits_2(models, tmp_path):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(np.random.default_rng(1).bytes(3000))
    trunc = tmp_path / "trunc.tflite"
    trunc.write_bytes(models.int8.read_bytes()[:5000])
    cases = [((junk, "--device", "pico"), "not a TFLite flatbuffer"),
             ((trunc, "--device", "pico"), "truncated or corrupt"),
             ((tmp_path / "none.tflite", "--device", "pico"), "model file not found"),
             ((models.int8, "--device", "arduino-mega"), "unknown device 'arduino-mega'"),
             ((models.topk, "--device", "pico"), "no kernel for op TOPK_V2"),
             ((models.sparse, "--device", "pico"), "sparse-encoded"),
             ((models.int8, "--device", "pico", "--min-accuracy", "1.5", "--dataset", "har2"), r"[0, 1]"),
             ((models.int8, "--device", "pico", "--min-accuracy", "0.9"), "needs --dataset"),
             ((models.int8, "--device", "pico", "--dataset", "cifar10"), "needs --data-path")]
    for args, msg in cases:
        r = cli(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert msg in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)


def test_non_finite_model_exits_1(models):
    r = cli(models.nan, "--device", "pico")
    assert r.returncode == 1 and "non-finite" in r.stdout


@pytest.fixture
def toy_set(models, tmp_path):
    """The verify models' samples served as a user's own dataset (tests/plugins/toy_dataset.py, from an .npz):
    raw values 2 x + 1, labelled with the float model's own predictions on x."""
    from plugins import toy_dataset  # noqa: F401  (registers "toy-windows")

    from edge_gmp.runtimes import open_session
    from edge_gmp.verify import run_samples

    ref = run_samples(open_session("onnxruntime", models.onnx), [models.samples])[0]
    raw = models.samples * 2 + 1
    path = tmp_path / "toy.npz"

    def write(y_test: np.ndarray, x_test: np.ndarray = raw) -> Path:
        np.savez(path, x_train=raw, y_train=np.zeros(len(raw), np.int64), x_test=x_test, y_test=y_test)
        return path

    write(ref.argmax(1))
    return types.SimpleNamespace(path=path, raw=raw, labels=ref.argmax(1), write=write)


def test_accuracy_budget_with_fitted_normaliser(models, toy_set, capsys):
    args = [str(models.float32), "--device", "pico", "--dataset", "toy-windows", "--data-path", str(toy_set.path)]
    assert validate.main([*args, "--normalization", "fit", "--min-accuracy", "0.99", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["accuracy"] == 1.0 and report["accuracy_samples"] == 24
    assert "fitted on the training split" in report["accuracy_note"]
    toy_set.write(1 - toy_set.labels)
    assert validate.main([*args, "--normalization", "fit", "--min-accuracy", "0.5", "--limit", "8"]) == 1
    assert "FAIL: accuracy 0.0000 is 0.5000 below" in capsys.readouterr().out


def test_streaming_model_uses_its_own_manifest_only(models, toy_set, capsys, tmp_path):
    path = tmp_path / "stream.tflite"
    path.write_bytes(models.stream.read_bytes())
    norm = {"mean": [1.0] * 9, "std": [2.0] * 9}
    windows = toy_set.raw[:5]
    toy_set.write(models.stream_reference((windows - 1) / 2).argmax(1), windows)
    args = [str(path), "--device", "esp32", "--dataset", "toy-windows", "--data-path", str(toy_set.path),
            "--min-accuracy", "1", "--limit", "5"]
    (tmp_path / "manifest.json").write_text(json.dumps({"normalization": norm, "sha256": {"stream.tflite": "0" * 64}}))
    validate.main(args)
    said = " ".join(capsys.readouterr().out.split())  # the report wraps long lines
    assert "does not name this model's SHA-256" in said  # another file's manifest: ignored
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    (tmp_path / "manifest.json").write_text(json.dumps({"normalization": norm, "sha256": {"stream.tflite": digest}}))
    assert validate.main(args) == 0
    out = capsys.readouterr().out
    assert "accuracy  1.0000 on 5 test samples" in out and "manifest.json" in out



def test_a_manifest_without_checksum_is_not_called_another_files_and_is_a_normalization_file(models, toy_set, capsys,
                                                                                            tmp_path):
    path = tmp_path / "stream.tflite"
    path.write_bytes(models.stream.read_bytes())
    windows = toy_set.raw[:5]
    toy_set.write(models.stream_reference((windows - 1) / 2).argmax(1), windows)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"normalization": {"mean": [1.0] * 9, "std": [2.0] * 9}, "files": {}}))
    args = [str(path), "--device", "esp32", "--dataset", "toy-windows", "--data-path", str(toy_set.path),
            "--min-accuracy", "1", "--limit", "5"]
    validate.main(args)
    out = " ".join(capsys.readouterr().out.split())
    assert "lists no SHA-256 checksum" in out and "another file" not in out
    assert validate.main([*args, "--normalization", str(manifest)]) == 0
    assert "accuracy  1.0000 on 5 test samples" in capsys.readouterr().out


# --- models compressed with TFLM_DECODE operators -------------------------------------------------------------

FASTGRNN = Path(__file__).resolve().parents[2] / "tests/fixtures/fastgrnn_step_int8.tflite"


@pytest.fixture(scope="module")
def compressed_fastgrnn(tmp_path_factory) -> Path:
    from edge_gmp.export.compression import compress_tflite

    if not FASTGRNN.is_file():
        pytest.skip(f"{FASTGRNN} not present")
    path = tmp_path_factory.mktemp("decode") / "fastgrnn_compressed.tflite"
    path.write_bytes(compress_tflite(FASTGRNN.read_bytes()).data)
    return path


def test_dense_model_report_has_no_decode_keys(models):
    r = cli(models.int8, "--device", "pico", "--json")
    report = json.loads(r.stdout)
    assert r.returncode == 0 and not {"decode", "arena_modes", "ram_mode"} & set(report)
    assert "decode" not in cli(models.int8, "--device", "pico").stdout


def test_compressed_model_text_and_json(compressed_fastgrnn):
    from edge_gmp.verify.arena import measure_arena

    r = cli(compressed_fastgrnn, "--device", "nano33ble")
    assert r.returncode == 0, r.stderr
    assert "decode    2 tensor(s) compressed (prune 2): 1,545 B stored for 4,672 B decoded, 3,127 B saved" in r.stdout
    assert "with the decoded tensors in the arena" in r.stdout and "+ 4,096 B alternate decompression buffer = " \
        in r.stdout
    assert "the RAM budget uses the smaller total: decoded tensors in the arena" in r.stdout
    r = cli(compressed_fastgrnn, "--device", "nano33ble", "--json")
    report = json.loads(r.stdout)
    assert report["decode"] == {"tensors": 2, "by_method": {"prune": 2}, "stored_bytes": 1545,
                                "decoded_bytes": 4672, "saved_bytes": 3127}
    modes = report["arena_modes"]
    in_arena = measure_arena(compressed_fastgrnn)
    with_buffer = measure_arena(compressed_fastgrnn, alt_decompression_bytes=4096)
    assert modes["in_arena"]["arena_bytes"] == in_arena == report["arena_bytes"]
    assert modes["alternate_buffer"] == {"arena_bytes": with_buffer, "buffer_bytes": 4096,
                                         "total_bytes": with_buffer + 4096}
    assert report["ram_mode"] == modes["chosen"] == "decoded tensors in the arena"
    assert report["decompression_buffer_bytes"] == 0
    ram = next(row for row in report["budget"]["rows"] if row["budget"] == "ram")
    assert ram["needed"] == in_arena


def test_budget_takes_the_buffer_mode_when_its_total_is_smaller(compressed_fastgrnn, monkeypatch):
    from edge_gmp.verify import validation
    from edge_gmp.verify.decoded import ALT_BUFFER, IN_ARENA, ArenaModes

    assert ArenaModes(100, 30, 60, 1000).mode == ALT_BUFFER and ArenaModes(100, 50, 60, 1000).mode == IN_ARENA
    assert ArenaModes(90, 30, 60, 1000).mode == IN_ARENA  # a tie keeps the decoded tensors in the arena
    assert ArenaModes(None, 30, 60, 1000).ram == (60, 30) and ArenaModes(None, 30, None, 1000).mode is None
    real = validation.measure_arena_modes

    def buffer_cheaper(path, limit):
        modes = real(path, limit)
        return ArenaModes(modes.buffer_total + 1, modes.buffer, modes.with_buffer, limit)

    monkeypatch.setattr(validation, "measure_arena_modes", buffer_cheaper)
    result = validation.validate_model(compressed_fastgrnn, "nano33ble", isolate=False)
    modes = result.measured.modes
    assert modes.mode == ALT_BUFFER and result.measured.arena_bytes == modes.with_buffer
    ram = next(row for row in result.budget.rows if row.budget == "ram")
    assert ram.needed == modes.buffer_total and "decompression buffer 4,096 B" in ram.detail
    report = result.to_dict()
    assert report["ram_mode"] == ALT_BUFFER and report["decompression_buffer_bytes"] == 4096
    assert "the RAM budget uses the smaller total: alternate decompression buffer" in validate._text(result)


def test_decompression_buffer_is_the_smallest_that_minimises_the_arena(compressed_fastgrnn, tmp_path):
    """TFLM falls back to the arena when the buffer is too small (it still runs), so the figure is where the
    arena stops shrinking: the largest decoded tensor here, one DECODE operator's outputs in general."""
    from edge_gmp.verify.arena import measure_arena, measure_decompression_buffer

    buffer = measure_decompression_buffer(compressed_fastgrnn)
    assert buffer == 64 * 64 and measure_decompression_buffer(FASTGRNN) == 0
    smallest = measure_arena(compressed_fastgrnn, alt_decompression_bytes=buffer)
    assert measure_arena(compressed_fastgrnn, alt_decompression_bytes=4 * buffer) == smallest
    assert measure_arena(compressed_fastgrnn, alt_decompression_bytes=buffer - 1) > smallest
    two = tmp_path / "two_outputs.tflite"
    two.write_bytes(_two_constants_one_reader())
    buffer = measure_decompression_buffer(two)
    assert buffer == 640 + 540  # 70x9 int8 padded to 16 bytes, then 60x9
    smallest = measure_arena(two, alt_decompression_bytes=buffer)
    assert measure_arena(two, alt_decompression_bytes=10 * buffer) == smallest
    assert measure_arena(two, alt_decompression_bytes=buffer - 1) > smallest


def _two_constants_one_reader() -> bytes:
    """y = concatenate([x, c1, c2]) with two pruned int8 constants: one DECODE operator with two outputs."""
    from tflite_micro.tensorflow.lite.micro.compression import model_editor
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    from edge_gmp.export.compression import compress_tflite

    rng = np.random.default_rng(0)
    int8 = schema.TensorType.INT8
    consts = [np.where(rng.random((rows, 9)) < 0.2, rng.integers(-100, 100, (rows, 9)), 0).astype(np.int8)
              for rows in (70, 60)]
    x = model_editor.Tensor(shape=(5, 9), dtype=int8, name="x")
    cs = [model_editor.Tensor(shape=c.shape, dtype=int8, data=c.tobytes(), name=f"c{i}") for i, c in enumerate(consts)]
    y = model_editor.Tensor(shape=(135, 9), dtype=int8, name="y")
    fb = schema.OperatorT()
    fb.builtinOptionsType = schema.BuiltinOptions.ConcatenationOptions
    fb.builtinOptions = schema.ConcatenationOptionsT()
    op = model_editor.Operator(opcode=schema.BuiltinOperator.CONCATENATION, inputs=[x, *cs], outputs=[y], _fb=fb)
    subgraph = model_editor.Subgraph(tensors=[x, *cs, y], operators=[op], inputs=[x], outputs=[y])
    return compress_tflite(bytes(model_editor.Model(subgraphs=[subgraph]).build()), method="prune").data
