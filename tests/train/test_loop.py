"""The training loop on a real HAR-2 subset: determinism, masks held, resume to the same result."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edge_gmp.config import PruneConfig, TrainConfig
from edge_gmp.data import HarData, fit_normalizer
from edge_gmp.errors import UserError
from edge_gmp.models import create_model
from edge_gmp.train import CHECKPOINT, TrainResult, loop, torch_bytes, train

TRAIN_CFG = TrainConfig(epochs=2, batch_size=64, lr=0.01, seed=3)
PRUNE_CFG = PruneConfig(sparsity=0.7, schedule="gradual", prune_epochs=2, finetune_epochs=1, frequency=2)


@pytest.fixture(scope="module")
def subset(har: HarData) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    rng = torch.Generator().manual_seed(0)
    pick = torch.randperm(len(har.y_train), generator=rng)[:384].numpy()
    x, y = har.x_train[pick], har.y_train[pick]
    x = fit_normalizer(x).apply(x)
    as_tensors = (torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long))
    return (as_tensors[0][:256], as_tensors[1][:256]), (as_tensors[0][256:], as_tensors[1][256:])


def _train(subset, run_dir: Path, resume: bool = False) -> TrainResult:
    torch.manual_seed(TRAIN_CFG.seed)
    model = create_model("fastgrnn", hidden=8)
    return train(model, *subset, TRAIN_CFG, PRUNE_CFG, run_dir, resume=resume, progress=False)


def _same_weights(a: TrainResult, b: TrainResult) -> None:
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key
    assert all(torch.equal(a.masks[k], b.masks[k]) for k in a.masks)
    assert a.best_epoch == b.best_epoch


def test_masks_held_and_target_reached(subset, tmp_path: Path) -> None:
    result = _train(subset, tmp_path)
    total = sum(m.numel() for m in result.masks.values())
    pruned = sum(int((~m).sum()) for m in result.masks.values())
    assert pruned == round(0.7 * total)  # exactly round(s * N), as the schedule's final sparsity asks
    params = dict(result.model.named_parameters())
    for name, mask in result.masks.items():
        assert torch.all(params[name].detach()[~mask] == 0), name
    phases = [h["phase"] for h in result.history]
    assert phases == ["dense", "dense", "prune", "prune", "finetune"]
    assert result.best_epoch >= 4  # chosen only among epochs at the final sparsity
    assert (tmp_path / CHECKPOINT).is_file()


def test_deterministic(subset, tmp_path: Path) -> None:
    _same_weights(_train(subset, tmp_path / "a"), _train(subset, tmp_path / "b"))


def test_resume_after_interruption_reaches_the_same_weights(subset, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    uninterrupted = _train(subset, tmp_path / "full")

    saves = {"n": 0}
    real_save = loop.save_torch

    def save_then_crash(path: Path, state: dict) -> Path:
        out = real_save(path, state)
        saves["n"] += 1
        if saves["n"] == 3:  # mid-pruning: the schedule, masks and Adam state must all be restored
            raise KeyboardInterrupt
        return out

    monkeypatch.setattr(loop, "save_torch", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        _train(subset, tmp_path / "resumed")
    monkeypatch.setattr(loop, "save_torch", real_save)

    resumed = _train(subset, tmp_path / "resumed", resume=True)
    assert len(resumed.history) == len(uninterrupted.history)
    _same_weights(uninterrupted, resumed)
    # the checkpoints hold no wall times or file names: identical runs, identical bytes
    assert (tmp_path / "full" / CHECKPOINT).read_bytes() == (tmp_path / "resumed" / CHECKPOINT).read_bytes()
    assert torch_bytes(uninterrupted.model.state_dict()) == torch_bytes(resumed.model.state_dict())


def test_average_selection_keeps_pruned_weights_zero(subset, tmp_path: Path) -> None:
    cfg = TrainConfig(epochs=1, batch_size=64, lr=0.01, seed=3, select="average")
    prune = PruneConfig(sparsity=0.6, schedule="oneshot", prune_epochs=0, finetune_epochs=3)
    torch.manual_seed(cfg.seed)
    result = train(create_model("fastgrnn", hidden=8), *subset, cfg, prune, tmp_path, progress=False)
    params = dict(result.model.named_parameters())
    for name, mask in result.masks.items():
        assert torch.all(params[name].detach()[~mask] == 0) and bool(mask.any()), name
    assert result.best_epoch == 4 and 0.0 <= result.best_val_accuracy <= 1.0


def test_corrupt_checkpoint_is_a_clear_error(subset, tmp_path: Path) -> None:
    (tmp_path / CHECKPOINT).write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="unreadable"):
        _train(subset, tmp_path, resume=True)


def test_sgd_recipe_with_label_smoothing_and_augmentation(subset, tmp_path: Path) -> None:
    """SGD + momentum, label smoothing and a seeded batch augmentation: masks still held, resumable seeds."""
    cfg = TrainConfig(epochs=1, batch_size=64, lr=0.05, seed=1, optimizer="sgd", momentum=0.9,
                      label_smoothing=0.1, weight_decay=1e-4)
    prune = PruneConfig(sparsity=0.5, schedule="oneshot", prune_epochs=0, finetune_epochs=1)
    seen: list[torch.Tensor] = []

    def jitter(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(batch.shape, generator=generator) * 0.01
        seen.append(noise[0, 0, 0])
        return batch + noise

    def run(path: Path) -> TrainResult:
        seen.clear()
        torch.manual_seed(cfg.seed)
        return train(create_model("fastgrnn", hidden=8), *subset, cfg, prune, path, progress=False, augment=jitter)

    first = run(tmp_path / "a")
    first_noise = list(seen)
    second = run(tmp_path / "b")
    assert torch.equal(torch.stack(first_noise), torch.stack(seen))  # augmentation is seeded per epoch
    _same_weights(first, second)
    params = dict(first.model.named_parameters())
    for name, mask in first.masks.items():
        assert torch.all(params[name].detach()[~mask] == 0), name


def test_weight_decay_only_on_weight_matrices() -> None:
    model = create_model("fastgrnn", hidden=8)
    optimizer = loop.make_optimizer(model, TrainConfig(optimizer="sgd", weight_decay=1e-4))
    assert isinstance(optimizer, torch.optim.SGD)
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 1e-4 and all(p.ndim >= 2 for p in decayed["params"])
    assert plain["weight_decay"] == 0.0 and all(p.ndim < 2 for p in plain["params"])


@pytest.mark.parametrize("bad", [{"optimizer": "lion"}, {"momentum": 1.0}, {"label_smoothing": -0.1}])
def test_bad_recipe_is_a_config_error(bad: dict) -> None:
    with pytest.raises(UserError):
        TrainConfig(**bad)


def test_pretrained_skips_dense_training_and_keeps_the_numbering(subset, tmp_path: Path) -> None:
    full = _train(subset, tmp_path / "full")
    model = create_model("fastgrnn", hidden=8)
    model.load_state_dict(full.dense_state)
    result = train(model, *subset, TRAIN_CFG, PRUNE_CFG, tmp_path / "pretrained", progress=False, pretrained=True)
    assert [(h["epoch"], h["phase"]) for h in result.history] == [(3, "prune"), (4, "prune"), (5, "finetune")]
    assert [h["lr"] for h in result.history] == [h["lr"] for h in full.history[2:]]  # the same schedule
    assert all(torch.equal(result.dense_state[k], v) for k, v in full.dense_state.items())
    pruned = sum(int((~m).sum()) for m in result.masks.values())
    assert pruned == round(0.7 * sum(m.numel() for m in result.masks.values()))


def test_a_dense_only_run_keeps_every_weight(subset, tmp_path: Path) -> None:
    """Sparsity 0 with no pruning or fine-tuning epochs trains a dense model (e.g. a distillation teacher):
    all-kept masks over every prunable weight, and the last dense epoch's weights."""
    torch.manual_seed(TRAIN_CFG.seed)
    model = create_model("fastgrnn", hidden=8)
    dense_only = PruneConfig(sparsity=0.0, schedule="oneshot", prune_epochs=0, finetune_epochs=0)
    result = train(model, *subset, TRAIN_CFG, dense_only, tmp_path, progress=False)
    assert [h["phase"] for h in result.history] == ["dense", "dense"]
    prunable = {n for n, p in result.model.named_parameters() if p.ndim >= 2}
    assert set(result.masks) == prunable and all(bool(m.all()) for m in result.masks.values())
    state = result.model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in result.dense_state.items())


def test_distillation_from_the_dense_model_changes_the_pruned_training_and_resumes(subset, tmp_path: Path,
                                                                                   monkeypatch) -> None:
    cfg = TrainConfig(epochs=1, batch_size=64, lr=0.01, seed=3, distill=0.7, distill_temperature=3.0)
    prune = PruneConfig(sparsity=0.6, schedule="oneshot", prune_epochs=0, finetune_epochs=2)

    def run(path: Path, train_cfg: TrainConfig, resume: bool = False) -> TrainResult:
        torch.manual_seed(3)
        return train(create_model("fastgrnn", hidden=8), *subset, train_cfg, prune, path, progress=False,
                     resume=resume)

    plain = run(tmp_path / "plain", TrainConfig(epochs=1, batch_size=64, lr=0.01, seed=3))
    distilled = run(tmp_path / "kd", cfg)
    assert all(torch.equal(plain.dense_state[k], v) for k, v in distilled.dense_state.items())  # same dense phase
    assert not torch.equal(plain.model.state_dict()["U"], distilled.model.state_dict()["U"])
    real_save, saves = loop.save_torch, {"n": 0}

    def crash_after_two(path: Path, state: dict) -> Path:
        out = real_save(path, state)
        saves["n"] += 1
        if saves["n"] == 2:
            raise KeyboardInterrupt
        return out

    monkeypatch.setattr(loop, "save_torch", crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "kd2", cfg)
    monkeypatch.setattr(loop, "save_torch", real_save)
    _same_weights(distilled, run(tmp_path / "kd2", cfg, resume=True))


def test_distillation_from_another_model_file(subset, tmp_path: Path) -> None:
    """A teacher from a run's model.pt (here a wider FastGRNN) replaces the dense model as the teacher, and teaches
    the dense epochs too (it exists before them)."""
    from edge_gmp.train import save_torch
    from edge_gmp.train.checkpoint import load_model_file

    wide = create_model("fastgrnn", hidden=16)
    save_torch(tmp_path / "teacher.pt", {"model_name": "fastgrnn", "model_config": {"name": "fastgrnn", "hidden": 16},
                                         "state_dict": wide.state_dict()})
    teacher = load_model_file(tmp_path / "teacher.pt")
    assert teacher.config.hidden == 16 and not teacher.training
    cfg = TrainConfig(epochs=1, batch_size=64, lr=0.01, seed=3, distill=0.7)
    prune = PruneConfig(sparsity=0.6, schedule="oneshot", prune_epochs=0, finetune_epochs=1)

    def run(path: Path, given: torch.nn.Module | None) -> TrainResult:
        torch.manual_seed(3)
        return train(create_model("fastgrnn", hidden=8), *subset, cfg, prune, path, progress=False, teacher=given)

    own, other = run(tmp_path / "own", None), run(tmp_path / "other", teacher)
    assert not torch.equal(own.dense_state["U"], other.dense_state["U"])
    assert not torch.equal(own.model.state_dict()["U"], other.model.state_dict()["U"])
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(UserError, match="not a readable torch file"):
        load_model_file(tmp_path / "junk.pt")


def test_image_models_train_channels_last_and_come_back_in_the_default_layout(tmp_path: Path) -> None:
    """The CPU convolutions run ~1.7x faster on channels-last batches; export and checkpoints see plain tensors."""
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(96, 3, 32, 32, generator=gen), torch.randint(0, 10, (96,), generator=gen)
    layouts: list[bool] = []
    model = create_model("mobilenet_v1", width=0.25)
    model.register_forward_pre_hook(
        lambda _m, args: layouts.append(args[0].is_contiguous(memory_format=torch.channels_last)))
    cfg = TrainConfig(epochs=1, batch_size=32, lr=0.05, seed=1, optimizer="sgd")
    prune = PruneConfig(sparsity=0.5, schedule="oneshot", prune_epochs=0, finetune_epochs=1)
    result = train(model, (x[:64], y[:64]), (x[64:], y[64:]), cfg, prune, tmp_path, progress=False,
                   augment=lambda batch, g: torch.flip(batch, dims=[3]))
    assert len(layouts) >= 6 and all(layouts[:6])  # 2 training steps, validation, 2 steps, validation
    assert all(p.is_contiguous() for p in result.model.parameters())
    assert [h["threads"] for h in result.history] == [torch.get_num_threads()] * 2
