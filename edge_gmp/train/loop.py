"""One readable training loop: dense phase, then pruning + fine-tuning with masks held fixed between updates.

Deterministic on CPU: the model is seeded once, every epoch shuffles and augments with generators seeded from
``seed + epoch``, and a checkpoint after every epoch carries the model, optimizer, masks, model selection and
every random generator, so a run resumed in a new process reaches exactly the weights of an uninterrupted one
(with the same thread count: a resumed run may use another, which changes float rounding, not the recipe).
Image models train in channels-last memory layout, which the CPU convolution kernels run faster on more than one
thread (benchmarks/train_speed.py measures it); the returned model is back in the default layout.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm import tqdm

from edge_gmp.atomic import write_text_atomic
from edge_gmp.config import PruneConfig, TrainConfig
from edge_gmp.prune import GRADUAL, ONESHOT, OneShot, PolynomialDecay
from edge_gmp.train import distributed
from edge_gmp.train.checkpoint import (
    CHECKPOINT,
    cpu_state,
    load_checkpoint,
    restore_rng,
    rng_state,
    save_torch,
    seed_global_rngs,
)
from edge_gmp.train.masking import MaskedTraining
from edge_gmp.train.schedule import Phase, TrainPlan
from edge_gmp.train.selection import ModelSelection

EPOCH_SECONDS = "epoch_seconds.json"  # wall times live beside the checkpoint, so its bytes stay reproducible
Augment = Callable[[Tensor, torch.Generator], Tensor]


@dataclass
class TrainResult:
    model: nn.Module
    masks: dict[str, Tensor]
    dense_state: dict[str, Tensor]
    history: list[dict] = field(default_factory=list)
    best_epoch: int = -1
    best_val_accuracy: float = float("nan")


def pruning_schedule(prune: PruneConfig, dense_epochs: int, steps_per_epoch: int) -> OneShot | PolynomialDecay:
    begin = dense_epochs * steps_per_epoch
    if prune.schedule == ONESHOT or prune.sparsity == 0.0:
        return OneShot(prune.sparsity, begin)
    end = begin + max(1, prune.prune_epochs * steps_per_epoch - 1)
    return PolynomialDecay(0.0, prune.sparsity, begin, end, frequency=prune.frequency)


def predict(model: nn.Module, x: Tensor, batch_size: int = 1024) -> Tensor:
    """Logits of ``model`` (in eval mode) on ``x``, in batches, on the model's device; returned on ``x``'s."""
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        return torch.cat([model(x[i:i + batch_size].to(device)).to(x.device) for i in range(0, len(x), batch_size)])


def training_layout(x: Tensor) -> torch.memory_format:
    """Channels-last for image batches (N, C, H, W), the default layout otherwise."""
    return torch.channels_last if x.ndim == 4 else torch.contiguous_format


def accuracy(logits: Tensor, y: Tensor) -> float:
    return int((logits.argmax(1) == y).sum()) / len(y)


def evaluate(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1024) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``model`` on ``(x, y)``."""
    logits = predict(model, x, batch_size)
    return accuracy(logits, y), nn.functional.cross_entropy(logits, y).item()


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam or SGD with momentum; weight decay only on weight matrices/kernels, never on biases or norms."""
    decay, no_decay = [], []
    for p in model.parameters():
        (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
    return torch.optim.Adam(groups, lr=cfg.lr)


@dataclass
class _Run:
    """Everything one training run holds between epochs."""

    model: nn.Module
    net: nn.Module
    optimizer: torch.optim.Optimizer
    masking: MaskedTraining
    plan: TrainPlan
    cfg: TrainConfig
    selection: ModelSelection
    data: tuple[Tensor, Tensor]
    val: tuple[Tensor, ...]
    augment: Augment | None
    ranks: distributed.Ranks
    history: list[dict] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    dense_state: dict[str, Tensor] | None = None
    teacher: nn.Module | None = None
    teacher_given: bool = False  # another model's teacher exists before training, so it teaches the dense phase too
    layout: torch.memory_format = torch.contiguous_format

    def start_teacher(self) -> None:
        """The dense model as a frozen teacher for distillation (once the dense weights exist), unless another
        teacher was given."""
        if self.cfg.distill > 0 and self.teacher is None and self.dense_state is not None:
            self.teacher = copy.deepcopy(self.model).eval()
            self.teacher.load_state_dict(self.dense_state)
        for p in self.teacher.parameters() if self.teacher is not None else ():
            p.requires_grad_(False)

    def checkpoint(self, epoch: int) -> dict[str, Any]:
        return {"epoch": epoch, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "masking": self.masking.state_dict(), "history": self.history, "selection": self.selection.state(),
                "dense": self.dense_state, "rng": rng_state()}

    def restore(self, ckpt: dict[str, Any]) -> int:
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.masking.load_state_dict(ckpt["masking"])
        self.selection.load_state(ckpt["selection"])
        self.history, self.dense_state = ckpt["history"], ckpt["dense"]
        restore_rng(ckpt["rng"])
        return int(ckpt["epoch"]) + 1


def _batch_gradients(run: _Run, batch: Tensor, labels: Tensor) -> Callable[[], Mapping[str, Tensor]]:
    """Loss gradients of the prunable weights on this batch, for data-driven mask rules (computed on demand)."""

    def compute() -> Mapping[str, Tensor]:
        run.optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(run.net(batch), labels).backward()
        grads = {n: p.grad.detach().clone() for n, p in run.masking.params.items() if p.grad is not None}
        run.optimizer.zero_grad(set_to_none=True)
        return grads

    return compute


def distillation_loss(logits: Tensor, teacher: nn.Module, batch: Tensor, temperature: float) -> Tensor:
    """Hinton et al.'s soft-target loss: T^2 KL(teacher || student) at temperature T."""
    with torch.no_grad():
        target = nn.functional.log_softmax(teacher(batch) / temperature, dim=1)
    student = nn.functional.log_softmax(logits / temperature, dim=1)
    return nn.functional.kl_div(student, target, log_target=True, reduction="batchmean") * temperature ** 2


def _train_step(run: _Run, step: int, global_idx: Tensor, generator: torch.Generator) -> tuple[int, float, int]:
    """One optimizer step on this rank's slice of the global batch; (samples, loss sum, correct)."""
    x_train, y_train = run.data
    for group in run.optimizer.param_groups:
        group["lr"] = run.plan.lr(step)
    idx = distributed.local_slice(global_idx, run.ranks)
    if run.augment is None:
        batch = x_train[idx]
    else:  # augment the global batch, so every rank draws the same random numbers as one process would
        batch = distributed.local_slice(run.augment(x_train[global_idx], generator), run.ranks)
    batch = batch.contiguous(memory_format=run.layout)
    labels = y_train[idx]
    run.masking.update(step, _batch_gradients(run, batch, labels))
    logits = run.net(batch)
    loss = nn.functional.cross_entropy(logits, labels, label_smoothing=run.cfg.label_smoothing)
    if run.teacher is not None and (run.teacher_given or run.plan.phase(step // run.plan.steps_per_epoch)
                                    is not Phase.DENSE):
        loss = (1 - run.cfg.distill) * loss + run.cfg.distill * distillation_loss(
            logits, run.teacher, batch, run.cfg.distill_temperature)
    run.optimizer.zero_grad(set_to_none=True)
    (loss * distributed.loss_weight(len(idx), len(global_idx), run.ranks)).backward()
    run.masking.before_optimizer_step()
    if run.cfg.grad_clip > 0:
        nn.utils.clip_grad_norm_(run.model.parameters(), run.cfg.grad_clip)
    run.optimizer.step()
    run.masking.after_optimizer_step(run.optimizer)
    return len(idx), loss.item() * len(idx), int((logits.argmax(1) == labels).sum())


def _train_epoch(run: _Run, epoch: int, progress: bool) -> dict[str, Any]:
    phase = run.plan.phase(epoch)
    steps = run.plan.steps_per_epoch
    run.net.train()
    order = torch.randperm(len(run.data[0]), generator=torch.Generator().manual_seed(run.cfg.seed + epoch))
    order = order.to(run.data[0].device)
    augment_generator = torch.Generator().manual_seed(run.cfg.seed * 1_000_003 + epoch)
    seen, loss_sum, correct = 0, 0.0, 0
    bar = tqdm(range(steps), desc=f"epoch {epoch + 1}/{run.plan.total_epochs} {phase.value}",
               disable=None if progress and run.ranks.is_main else True, leave=False)  # None: no bar off a TTY
    for i in bar:
        global_idx = order[i * run.cfg.batch_size:(i + 1) * run.cfg.batch_size]
        n, batch_loss, batch_correct = _train_step(run, epoch * steps + i, global_idx, augment_generator)
        seen, loss_sum, correct = seen + n, loss_sum + batch_loss, correct + batch_correct
        bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.3f}")
    seen, loss_sum, correct = distributed.all_sum([seen, loss_sum, correct])  # over ranks
    distributed.average_buffers(run.model)
    val_accuracy, val_loss = evaluate(run.model, *run.val)
    return {"epoch": epoch + 1, "phase": phase.value, "lr": run.plan.lr((epoch + 1) * steps - 1),
            "sparsity": run.masking.sparsity, "train_loss": loss_sum / seen, "train_accuracy": correct / seen,
            "val_loss": val_loss, "val_accuracy": val_accuracy, "threads": torch.get_num_threads()}


def _log_epoch(record: dict[str, Any], total: int, seconds: float) -> None:
    print(f"epoch {record['epoch']:3d}/{total} {record['phase']:8s} loss {record['train_loss']:.4f} "
          f"acc {record['train_accuracy']:.4f} val {record['val_accuracy']:.4f} "
          f"sparsity {record['sparsity']:.3f} ({seconds:.1f}s)", flush=True)


def _save(run: _Run, run_dir: Path, epoch: int) -> None:
    if run.ranks.is_main:
        save_torch(run_dir / CHECKPOINT, run.checkpoint(epoch))
        write_text_atomic(run_dir / EPOCH_SECONDS, json.dumps(run.seconds) + "\n")


def _previous_seconds(run_dir: Path, epochs: int) -> list[float]:
    try:
        seconds = json.loads((run_dir / EPOCH_SECONDS).read_text())
    except (OSError, ValueError):
        seconds = []
    seconds = [float(s) for s in seconds if isinstance(s, int | float)][:epochs]
    return seconds + [float("nan")] * (epochs - len(seconds))


def train(model: nn.Module, train_data: tuple[Tensor, Tensor], val_data: tuple[Tensor, Tensor],
          train_cfg: TrainConfig, prune_cfg: PruneConfig, run_dir: Path, resume: bool = False,
          progress: bool = True, augment: Augment | None = None, pretrained: bool = False,
          teacher: nn.Module | None = None) -> TrainResult:
    """Dense training for ``train_cfg.epochs`` (none when ``pretrained``: ``model`` already holds the dense
    weights), then pruning and fine-tuning; the model selected on validation at the final sparsity is returned
    (the test set is never looked at here). ``augment(batch, generator)`` transforms each training batch;
    ``teacher`` replaces the dense model as the distillation teacher (``train_cfg.distill``) and, existing from
    the start, teaches the dense epochs as well.
    Runs on ``train_cfg.device``; the returned model is on the CPU."""
    seed_global_rngs(train_cfg.seed)
    torch.set_num_threads(train_cfg.threads)  # every caller (pipeline, sweep, benchmarks) trains as configured
    ranks = distributed.current()
    device = distributed.device_for(train_cfg.device, ranks)
    x_train, y_train = (t.to(device) for t in train_data)
    layout = training_layout(x_train)
    model.to(device, memory_format=layout)
    x_train = x_train.contiguous(memory_format=layout)
    plan = TrainPlan(math.ceil(len(x_train) / train_cfg.batch_size), train_cfg.epochs, prune_cfg.prune_epochs,
                     prune_cfg.finetune_epochs, train_cfg.lr, prune_cfg.lr, prune_cfg.schedule == GRADUAL,
                     prune_cfg.final_lr)
    masking = MaskedTraining(model, pruning_schedule(prune_cfg, plan.dense_epochs, plan.steps_per_epoch),
                             prune_cfg.floor, prune_cfg.include, prune_cfg.exclude, method=prune_cfg.method,
                             seed=train_cfg.seed)
    run = _Run(model, distributed.wrap(model, ranks, device), make_optimizer(model, train_cfg), masking, plan,
               train_cfg, ModelSelection(train_cfg.select, plan.final_sparsity_from), (x_train, y_train),
               tuple(t.to(device).contiguous(memory_format=training_layout(t)) for t in val_data), augment, ranks,
               layout=layout,
               teacher=None if teacher is None else teacher.to(device, memory_format=layout).eval(),
               teacher_given=teacher is not None)
    # pretrained: skip the dense epochs but keep their numbering, so steps, learning rates and shuffles of the
    # pruning phase are those of a run that trained the same dense weights itself
    start = plan.dense_epochs if pretrained else 0
    run.dense_state = cpu_state(model) if pretrained else None
    if resume:
        start = run.restore(load_checkpoint(Path(run_dir) / CHECKPOINT))
        run.seconds = _previous_seconds(Path(run_dir), len(run.history))
    for epoch in range(start, plan.total_epochs):
        started = time.perf_counter()
        run.start_teacher()
        record = _train_epoch(run, epoch, progress)
        run.history.append(record)
        if epoch == plan.dense_epochs - 1:
            run.dense_state = cpu_state(model)
        run.selection.offer(epoch, record["val_accuracy"], model, masking.cpu_masks())
        run.seconds.append(time.perf_counter() - started)
        if progress and ranks.is_main:
            _log_epoch(record, plan.total_epochs, run.seconds[-1])
        _save(run, Path(run_dir), epoch)
    return _finish(run, x_train)


def _finish(run: _Run, x_train: Tensor) -> TrainResult:
    chosen = run.selection.result(run.model, run.masking.cpu_masks(), x_train, run.cfg.batch_size, run.val)
    run.model.to("cpu", memory_format=torch.contiguous_format)
    run.model.load_state_dict(chosen.state)
    distributed.check_in_sync(run.model, chosen.masks)
    history = [{**h, "seconds": s} for h, s in zip(run.history, run.seconds, strict=True)]
    return TrainResult(model=run.model, masks=chosen.masks, dense_state=run.dense_state, history=history,
                       best_epoch=chosen.epoch, best_val_accuracy=chosen.val_accuracy)
