"""One readable training loop: dense phase, then pruning + fine-tuning with masks held fixed between updates.

Deterministic on CPU: the model is seeded once and every epoch shuffles with ``seed + epoch``, so a run
resumed from an epoch checkpoint reaches exactly the same weights as an uninterrupted one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm import tqdm

from edge_gmp.atomic import atomic_path
from edge_gmp.config import PruneConfig, TrainConfig
from edge_gmp.errors import UserError
from edge_gmp.prune import OneShot, PolynomialDecay
from edge_gmp.train import distributed
from edge_gmp.train.masking import MaskedTraining

CHECKPOINT = "checkpoint.pt"
Augment = Callable[[Tensor, torch.Generator], Tensor]


@dataclass
class TrainResult:
    model: nn.Module
    masks: dict[str, Tensor]
    dense_state: dict[str, Tensor]
    history: list[dict] = field(default_factory=list)
    best_epoch: int = -1


def pruning_schedule(prune: PruneConfig, dense_epochs: int, steps_per_epoch: int) -> OneShot | PolynomialDecay:
    begin = dense_epochs * steps_per_epoch
    if prune.schedule == "oneshot" or prune.sparsity == 0.0:
        return OneShot(prune.sparsity, begin)
    end = begin + max(1, prune.prune_epochs * steps_per_epoch - 1)
    return PolynomialDecay(0.0, prune.sparsity, begin, end, frequency=prune.frequency)


def _cosine(base: float, progress: float) -> float:
    return base * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def predict(model: nn.Module, x: Tensor, batch_size: int = 1024) -> Tensor:
    """Logits of ``model`` (in eval mode) on ``x``, in batches, on the model's device; returned on ``x``'s."""
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        return torch.cat([model(x[i:i + batch_size].to(device)).to(x.device) for i in range(0, len(x), batch_size)])


def evaluate(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1024) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``model`` on ``(x, y)``."""
    logits = predict(model, x, batch_size)
    loss = nn.functional.cross_entropy(logits, y).item()
    return int((logits.argmax(1) == y).sum()) / len(x), loss


def _cpu_state(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def _save_checkpoint(path: Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path) -> dict:
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except FileNotFoundError as exc:
        raise UserError(f"no checkpoint at {path}: nothing to resume; run without --resume") from exc
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a corrupt file
        raise UserError(f"checkpoint {path} is unreadable ({exc}); delete it and run without --resume") from exc


def load_dense_weights(path: str | Path) -> dict[str, Tensor]:
    """Weights to start pruning from: a run's ``model.pt`` (its state dict), a ``checkpoint.pt`` (the dense
    state saved at the end of dense training) or a plain state dict, loaded with ``weights_only=True``."""
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except FileNotFoundError as exc:
        raise UserError(f"train.init_from: no file {path}") from exc
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a corrupt file
        raise UserError(f"train.init_from: {path} is not a readable torch file ({exc})") from exc
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    elif isinstance(state, dict) and "dense" in state:
        if state["dense"] is None:
            raise UserError(f"train.init_from: checkpoint {path} was saved before dense training finished")
        state = state["dense"]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise UserError(f"train.init_from: {path} holds no state dict (expected model.pt, checkpoint.pt or "
                        "torch.save(model.state_dict()))")
    return state


def load_into(model: nn.Module, state: dict[str, Tensor], source: str) -> None:
    """``model.load_state_dict(state)`` with a clear error when the weights belong to another model/config."""
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[:3]
        raise UserError(f"weights in {source} do not fit this model ({' '.join(first)}); check the model "
                        "config (e.g. hidden, width) matches the run that wrote them") from exc


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam or SGD with momentum; weight decay only on weight matrices/kernels, never on biases or norms."""
    decay, no_decay = [], []
    for p in model.parameters():
        (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
    return torch.optim.Adam(groups, lr=cfg.lr)


def train(model: nn.Module, train_data: tuple[Tensor, Tensor], val_data: tuple[Tensor, Tensor],
          train_cfg: TrainConfig, prune_cfg: PruneConfig, run_dir: Path, resume: bool = False,
          progress: bool = True, augment: Augment | None = None, pretrained: bool = False) -> TrainResult:
    """Dense training for ``train_cfg.epochs`` (none when ``pretrained``: ``model`` already holds the dense
    weights), then pruning and fine-tuning; the best validation epoch at the final sparsity is returned (the
    test set is never looked at here). ``augment(batch, generator)`` transforms each training batch (seeded
    per epoch, so resuming stays exact). Runs on ``train_cfg.device``; the returned model is on the CPU."""
    ranks = distributed.current()
    device = distributed.device_for(train_cfg.device, ranks)
    model.to(device)
    x_train, y_train = (t.to(device) for t in train_data)
    val_data = tuple(t.to(device) for t in val_data)
    steps_per_epoch = math.ceil(len(x_train) / train_cfg.batch_size)
    dense_epochs = train_cfg.epochs
    total_epochs = dense_epochs + prune_cfg.prune_epochs + prune_cfg.finetune_epochs
    final_from = dense_epochs + (prune_cfg.prune_epochs if prune_cfg.schedule == "gradual" else 0)
    masking = MaskedTraining(model, pruning_schedule(prune_cfg, dense_epochs, steps_per_epoch), prune_cfg.floor,
                             prune_cfg.include, prune_cfg.exclude, method=prune_cfg.method, seed=train_cfg.seed)
    optimizer = make_optimizer(model, train_cfg)
    net = distributed.wrap(model, ranks, device)

    ckpt_path = Path(run_dir) / CHECKPOINT
    # pretrained: skip the dense epochs but keep their numbering, so steps, learning rates and shuffles of the
    # pruning phase are those of a run that trained the same dense weights itself
    start_epoch, history = (dense_epochs if pretrained else 0), []
    best = {"epoch": -1, "val_accuracy": -1.0, "state": None, "masks": None}
    dense_state = _cpu_state(model) if pretrained else None
    if resume:
        ckpt = load_checkpoint(ckpt_path)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        masking.load_state_dict(ckpt["masking"])
        start_epoch, history, best, dense_state = ckpt["epoch"] + 1, ckpt["history"], ckpt["best"], ckpt["dense"]

    for epoch in range(start_epoch, total_epochs):
        phase = "dense" if epoch < dense_epochs else ("prune" if epoch < final_from else "finetune")
        net.train()
        generator = torch.Generator().manual_seed(train_cfg.seed + epoch)
        order = torch.randperm(len(x_train), generator=generator).to(device)
        augment_generator = torch.Generator().manual_seed(train_cfg.seed * 1_000_003 + epoch)
        started, seen, correct, loss_sum = time.perf_counter(), 0, 0, 0.0
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{total_epochs} {phase}",
                   disable=None if progress and ranks.is_main else True, leave=False)  # None: no bar off a TTY
        for i in bar:
            step = epoch * steps_per_epoch + i
            if phase == "dense":
                lr = _cosine(train_cfg.lr, step / (dense_epochs * steps_per_epoch))
            else:
                lr = _cosine(prune_cfg.lr, (epoch - dense_epochs + i / steps_per_epoch)
                             / max(1, total_epochs - dense_epochs))
            for group in optimizer.param_groups:
                group["lr"] = lr
            masking.update(step)
            global_idx = order[i * train_cfg.batch_size:(i + 1) * train_cfg.batch_size]
            idx = distributed.local_slice(global_idx, ranks)
            if augment is None:
                batch = x_train[idx]
            else:  # augment the global batch, so every rank draws the same random numbers as one process would
                batch = distributed.local_slice(augment(x_train[global_idx], augment_generator), ranks)
            logits = net(batch)
            loss = nn.functional.cross_entropy(logits, y_train[idx], label_smoothing=train_cfg.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            (loss * distributed.loss_weight(len(idx), len(global_idx), ranks)).backward()
            masking.before_optimizer_step()
            if train_cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), train_cfg.grad_clip)
            optimizer.step()
            masking.after_optimizer_step(optimizer)
            seen += len(idx)
            loss_sum += loss.item() * len(idx)
            correct += int((logits.argmax(1) == y_train[idx]).sum())
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.3f}")
        seen, loss_sum, correct = distributed.all_sum([seen, loss_sum, correct])  # over ranks
        distributed.average_buffers(model)
        val_accuracy, val_loss = evaluate(model, *val_data)
        record = {"epoch": epoch + 1, "phase": phase, "lr": lr, "sparsity": masking.sparsity,
                  "train_loss": loss_sum / seen, "train_accuracy": correct / seen,
                  "val_loss": val_loss, "val_accuracy": val_accuracy,
                  "seconds": time.perf_counter() - started}
        history.append(record)
        if progress and ranks.is_main:
            print(f"epoch {epoch + 1:3d}/{total_epochs} {phase:8s} loss {record['train_loss']:.4f} "
                  f"acc {record['train_accuracy']:.4f} val {val_accuracy:.4f} "
                  f"sparsity {masking.sparsity:.3f} ({record['seconds']:.1f}s)", flush=True)
        if epoch == dense_epochs - 1:
            dense_state = _cpu_state(model)
        if epoch >= final_from and val_accuracy > best["val_accuracy"]:
            best = {"epoch": epoch + 1, "val_accuracy": val_accuracy, "state": _cpu_state(model),
                    "masks": {k: v.detach().cpu().clone() for k, v in masking.masks.items()}}
        if ranks.is_main:
            _save_checkpoint(ckpt_path, {"epoch": epoch, "model": model.state_dict(),
                                         "optimizer": optimizer.state_dict(), "masking": masking.state_dict(),
                                         "history": history, "best": best, "dense": dense_state})

    if best["state"] is None:  # no epoch at the final sparsity (e.g. finetune_epochs = 0 and oneshot)
        best = {"epoch": total_epochs, "state": _cpu_state(model),
                "masks": {k: v.detach().cpu().clone() for k, v in masking.masks.items()}}
    model.cpu()
    model.load_state_dict(best["state"])
    distributed.check_in_sync(model, best["masks"])
    return TrainResult(model=model, masks=best["masks"], dense_state=dense_state, history=history,
                       best_epoch=best["epoch"])
