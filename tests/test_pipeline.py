import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from edge_gmp.cli import config_from_args
from edge_gmp.config import dump_toml, load_config
from edge_gmp.errors import UserError
from edge_gmp.models import create_model
from edge_gmp.pipeline import build_parser, main

BAD_INPUTS = {
    "sparsity_one": ["--sparsity", "1.0"],
    "unknown_preset": ["--preset", "no-such-preset"],
    "missing_config": ["--config", "/nonexistent/run.toml"],
    "unknown_device": ["--device", "no-such-board"],
    "bad_set": ["--set", "train.no_such_key=1"],
    "zero_epochs": ["--epochs", "0"],
    "infeasible_floor": ["--set", "prune.floor_count=3000"],  # U (4,096) must keep 3,000: 80 % impossible
    "unknown_method": ["--method", "magic"],
    "missing_init_from": ["--init-from", "/nonexistent/model.pt"],
    "missing_teacher": ["--set", "train.distill=0.5", "--set", "train.distill_from=/nonexistent/model.pt"],
    "teacher_without_weight": ["--set", "train.distill_from=models/fastgrnn/model.pt"],
    "no_cuda_here": ["--device", "cuda"],  # the CPU build of torch: a clear error, not a crash mid-run
    "negative_seed": ["--seed", "-1"],
    "fractional_epochs": ["--set", "train.epochs=2.5"],
    "fractional_batch": ["--set", "train.batch_size=2.5"],
    "fractional_seed": ["--set", "train.seed=1.5"],
    "fractional_hidden": ["--set", "model.hidden=2.5"],
    "fractional_frequency": ["--set", "prune.frequency=2.5"],
    "fractional_val_subjects": ["--set", "data.val_subjects=2.5"],
    "string_sparsity": ["--set", "prune.sparsity=high"],
    "bool_as_int": ["--set", "train.epochs=true"],
    "empty_preset": ["--preset", ""],
    "unknown_dataset_option": ["--set", "data.val_images=10"],  # a CIFAR-10 option on HAR-2
    "bad_choice": ["--method", "magic"],
    "bad_schedule": ["--schedule", "weekly"],
    "unknown_flag": ["--no-such-flag"],
    "zero_threads": ["--threads", "0"],
    "bad_select": ["--set", "train.select=luckiest"],
    "distill_out_of_range": ["--set", "train.distill=1.5"],
    "not_a_table": ["--set", "train=3"],
    "resume_and_overwrite": ["--resume", "--overwrite"],
    "export_from_nowhere": ["--export-from", "/nonexistent/run"],
    "export_from_other_recipe": ["--export-from", str(Path(__file__).parents[1] / "models" / "fastgrnn"),
                                 "--sparsity", "0.5"],
}


@pytest.mark.parametrize("argv", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_exits_2_in_one_line_and_writes_nothing(tmp_path: Path, argv: list[str]) -> None:
    out = tmp_path / "run"
    proc = _cli(*argv, "--out", str(out), "--quiet")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    assert not out.exists()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_gmp.pipeline", *args], capture_output=True, text=True,
                          timeout=300)


def test_out_that_is_a_file_or_unwritable_is_refused(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    proc = _cli("--out", str(a_file), "--quiet")
    assert proc.returncode == 2 and "is a file" in proc.stderr and a_file.read_text() == "x"
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    # root writes through permissions: there, a place no one can write into stands in
    target = locked / "run" if os.geteuid() != 0 else Path("/proc/edge-gmp-test/run")
    try:
        proc = _cli("--out", str(target), "--quiet")
        said = "not writable" if os.geteuid() != 0 else "/proc does not take new files"
        assert proc.returncode == 2 and said in proc.stderr and "No such file" not in proc.stderr, proc.stderr
        assert not target.exists()
    finally:
        locked.chmod(0o700)


def test_a_directory_holding_a_run_is_never_mixed(tmp_path: Path) -> None:
    """A finished run is refused without --overwrite; --resume refuses another training configuration."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.json").write_text("{}")
    (out / "config.toml").write_text("old")
    proc = _cli("--out", str(out), "--quiet")
    assert proc.returncode == 2 and "holds a finished run" in proc.stderr and "--overwrite" in proc.stderr
    assert (out / "config.toml").read_text() == "old"
    (out / "checkpoint.pt").write_bytes(b"x")
    (out / "config.toml").write_text(dump_toml(load_config()))
    before = (out / "config.toml").read_bytes()
    proc = _cli("--resume", "--hidden", "48", "--out", str(out), "--quiet")
    assert proc.returncode == 2 and "model.hidden 64 -> 48" in proc.stderr
    assert (out / "config.toml").read_bytes() == before


def test_in_process_bad_input_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["--sparsity", "1.0", "--out", str(out), "--quiet"]) == 2
    assert "error:" in capsys.readouterr().err and not out.exists()


def test_resume_without_checkpoint_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--resume", "--out", str(tmp_path / "empty"), "--quiet"]) == 2
    assert "--resume" in capsys.readouterr().err


def test_init_from_weights_of_another_model_is_a_clear_error(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    weights = tmp_path / "hidden16.pt"
    torch.save(create_model("fastgrnn", hidden=16).state_dict(), weights)
    out = tmp_path / "run"
    assert main(["--init-from", str(weights), "--hidden", "8", "--out", str(out), "--quiet"]) == 2
    assert "do not fit this model" in capsys.readouterr().err and not out.exists()
    (tmp_path / "junk.pt").write_bytes(b"junk")
    assert main(["--init-from", str(tmp_path / "junk.pt"), "--out", str(out), "--quiet"]) == 2
    assert "not a readable torch file" in capsys.readouterr().err and not out.exists()


def test_device_flag_takes_a_board_or_a_torch_device() -> None:
    args = build_parser().parse_args(["--device", "cuda:1", "--device", "uno", "--method", "lamp"])
    config = config_from_args(args)
    assert (config.train.device, config.export.device, config.prune.method) == ("cuda:1", "uno", "lamp")
    config = config_from_args(build_parser().parse_args(["--board", "pico"]))
    assert (config.train.device, config.export.device) == ("cpu", "pico")


class _Exploit:
    """A pickle that would run a command when loaded without restrictions."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _hostile_files(tmp_path: Path) -> dict[str, tuple[list[str], Path | None]]:
    """argv (without --out) for each hostile or corrupt input, and a file that must not appear."""
    import pickle

    marker = tmp_path / "pwned"
    exploit = tmp_path / "exploit.pt"
    exploit.write_bytes(pickle.dumps(_Exploit(marker)))
    archive = tmp_path / "cifar.tar.gz"
    archive.write_bytes(b"\x1f\x8b" + os.urandom(4000))  # a gzip magic, then garbage
    return {"malicious_pickle": (["--init-from", str(exploit)], marker),
            "corrupt_archive": (["--preset", "mobilenetv1-cifar10", "--data-path", str(archive)], None)}


@pytest.mark.parametrize("case", ["malicious_pickle", "corrupt_archive"])
def test_hostile_files_are_refused_in_one_line_and_write_nothing(tmp_path: Path, case: str) -> None:
    argv, marker = _hostile_files(tmp_path)[case]
    out = tmp_path / "run"
    proc = _cli(*argv, "--out", str(out), "--quiet")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    assert not out.exists() and (marker is None or not marker.exists())


def test_resume_from_a_corrupt_checkpoint_is_refused_in_one_line(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.toml").write_text(dump_toml(load_config()))
    (out / "checkpoint.pt").write_bytes(b"PK\x03\x04" + os.urandom(2000))  # a zip header, then garbage
    before = sorted((p.name, p.read_bytes()) for p in out.iterdir())
    proc = _cli("--resume", "--out", str(out), "--quiet")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "checkpoint" in lines[0], proc.stderr
    assert sorted((p.name, p.read_bytes()) for p in out.iterdir()) == before


def test_a_teacher_trained_on_another_split_is_warned_about(tmp_path: Path) -> None:
    """Distilling from a run whose validation subjects this run trains on (or the reverse) fools model selection;
    the teacher's config.toml tells, and preflight says so."""
    import warnings

    from edge_gmp.pipeline import preflight
    from edge_gmp.train import save_torch

    teacher = create_model("fastgrnn", hidden=8)
    (tmp_path / "teacher").mkdir()
    save_torch(tmp_path / "teacher" / "model.pt", {"model_name": "fastgrnn", "model_config": {"hidden": 8},
                                                   "state_dict": teacher.state_dict()})
    teacher_config = load_config("fastgrnn-har2", overrides={"train": {"seed": 1}})
    (tmp_path / "teacher" / "config.toml").write_text(dump_toml(teacher_config))

    def student(**train: object) -> object:
        return load_config("fastgrnn-har2", overrides={
            "train": {"distill": 0.5, "distill_from": str(tmp_path / "teacher" / "model.pt"), **train},
            "export": {"enabled": False}})

    with pytest.warns(UserWarning, match=r"another data split \(train.seed 1 \(teacher\) vs 0\)"):
        preflight(student(seed=0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        preflight(student(seed=1))  # the same subjects: nothing to say
    (tmp_path / "teacher" / "config.toml").write_text(dump_toml(load_config(
        "fastgrnn-har2", overrides={"train": {"seed": 1}, "data": {"val_subjects": 6}})))
    with pytest.warns(UserWarning, match=r"data.val_subjects 6 \(teacher\) vs 1"):
        preflight(student(seed=1))


def test_our_warnings_print_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import warnings

    from edge_gmp.cli import PACKAGE_DIR, short_warnings

    monkeypatch.setattr(warnings, "formatwarning", warnings.formatwarning)
    short_warnings()
    assert warnings.formatwarning("two\nlines", UserWarning, str(PACKAGE_DIR / "pipeline.py"), 7) == \
        "warning: two; lines\n"
    assert "UserWarning" in warnings.formatwarning("theirs", UserWarning, "/elsewhere/lib.py", 7)


def test_a_dense_only_run_writes_a_teacher_for_distillation(tmp_path: Path) -> None:
    """--sparsity 0 --schedule oneshot with no pruning or fine-tuning epochs: a dense model whose model.pt
    another run can distil from (it failed after training before: no masks to report)."""
    import json

    from edge_gmp.pipeline import preflight, run
    from edge_gmp.train.checkpoint import load_model_file

    config = load_config("fastgrnn-har2", overrides={
        "train": {"epochs": 1}, "data": {"train_limit": 300, "test_limit": 100}, "export": {"enabled": False},
        "prune": {"sparsity": 0.0, "schedule": "oneshot", "prune_epochs": 0, "finetune_epochs": 0}})
    run(config, tmp_path / "teacher", progress=False)
    metrics = json.loads((tmp_path / "teacher" / "metrics.json").read_text())
    assert metrics["sparsity"] == 0.0 and all(layer["kept"] == layer["size"] for layer in metrics["layers"])
    assert metrics["pruned_test_accuracy"] == metrics["dense_test_accuracy"]
    teacher = load_model_file(tmp_path / "teacher" / "model.pt")
    assert sum(p.numel() for p in teacher.parameters()) == metrics["parameters"]
    preflight(load_config("fastgrnn-har2", overrides={
        "train": {"distill": 0.5, "distill_from": str(tmp_path / "teacher" / "model.pt")}}))


def test_resume_reads_the_runs_own_config_and_the_options_beside_it(tmp_path: Path) -> None:
    """`--out runs/h48 --resume` continues the run runs/h48 holds, not the default preset; --threads still applies
    and another recipe given beside --resume is still refused."""
    from edge_gmp.pipeline import _stored_config
    from edge_gmp.workflow.run_dir import check_resumable

    out = tmp_path / "h48"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"x")
    (out / "config.toml").write_text(dump_toml(load_config(overrides={"model": {"hidden": 48},
                                                                      "train": {"epochs": 30}})))
    args = build_parser().parse_args(["--out", str(out), "--resume", "--threads", "2"])
    config = config_from_args(args, base_file=_stored_config(args))
    assert (config.model.hidden, config.train.epochs, config.train.threads) == (48, 30, 2)
    check_resumable(out, config)
    args = build_parser().parse_args(["--out", str(out), "--resume", "--hidden", "32"])
    with pytest.raises(UserError, match=r"model\.hidden 48 -> 32"):
        check_resumable(out, config_from_args(args, base_file=_stored_config(args)))


def _fake_data() -> SimpleNamespace:
    return SimpleNamespace(dataset="har2", source="hapt", y_train=[0], y_val=[0], y_test=[0])


def test_ctrl_c_prints_one_line_with_the_resume_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    import edge_gmp.pipeline as pipeline

    out = tmp_path / "run"

    def interrupted_training(config: object, data: object, out_dir: Path, *_: object) -> None:
        (out_dir / "checkpoint.pt").write_bytes(b"x")
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "prepare_data", lambda *_, **__: _fake_data())
    monkeypatch.setattr(pipeline, "_train", interrupted_training)
    assert main(["--out", str(out), "--threads", "1", "--quiet"]) == 130
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stopped (Ctrl-C):") and "can be resumed" in lines[0]
    assert lines[0].endswith(f"python -m edge_gmp.pipeline --out {out} --threads 1 --quiet --resume")

    def interrupted_data(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "prepare_data", interrupted_data)
    assert main(["--out", str(tmp_path / "new"), "--quiet"]) == 130
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "nothing to resume" in lines[0] and "--resume" not in lines[0]


def test_data_errors_speak_command_line_words(tmp_path: Path) -> None:
    """No `path=`/`download=True` on the command line, and a wrong file the user gave is not theirs to delete."""
    env = {**os.environ, "EDGE_GMP_CACHE": str(tmp_path / "cache")}
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(b"\x1f\x8b" + bytes(200))
    cases = {("--source", "uci"): "--source uci needs --data-path",
             ("--source", "uci", "--data-path", str(archive)): "give --data-path the 'UCI HAR Dataset' folder"}
    for argv, words in cases.items():
        proc = subprocess.run([sys.executable, "-m", "edge_gmp.pipeline", *argv, "--out", str(tmp_path / "run"),
                               "--quiet"], capture_output=True, text=True, timeout=300, env=env)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and words in lines[0], proc.stderr
        assert not any(api in lines[0] for api in ("path=", "download=True", "delete")), lines[0]
    assert archive.is_file() and not (tmp_path / "run").exists()
