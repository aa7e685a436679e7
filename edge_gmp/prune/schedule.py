"""Sparsity schedules: small validated objects; ``schedule(step)`` is the target sparsity at ``step``. Also the
schedules' names as a config, the sweep and the study's report spell them (:data:`SCHEDULES`)."""

from __future__ import annotations

from dataclasses import dataclass

from edge_gmp.errors import ConfigError

GRADUAL = "gradual"  # PolynomialDecay over the pruning epochs
ONESHOT = "oneshot"  # OneShot at the start of the pruning epochs
SCHEDULES = (GRADUAL, ONESHOT)  # every schedule name, in the order the study reports them


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ConfigError(f"{name} must be in [0, 1), got {value}")


@dataclass(frozen=True)
class OneShot:
    """Prune to ``sparsity`` once, at ``step``, and hold it."""

    sparsity: float
    step: int = 0

    def __post_init__(self) -> None:
        _check_fraction("sparsity", self.sparsity)
        if self.step < 0:
            raise ConfigError(f"one-shot step must be >= 0, got {self.step}")

    def __call__(self, step: int) -> float:
        return self.sparsity if step >= self.step else 0.0

    def is_update_step(self, step: int) -> bool:
        return step == self.step

    @property
    def end_step(self) -> int:
        return self.step


@dataclass(frozen=True)
class PolynomialDecay:
    """Zhu & Gupta (2017): s_t = s_f + (s_i - s_f) (1 - (t - t0) / (t1 - t0))^power.

    The target is updated every ``frequency`` steps (and always at ``end``)."""

    initial_sparsity: float
    final_sparsity: float
    begin_step: int
    end_step: int
    frequency: int = 100
    power: int = 3

    def __post_init__(self) -> None:
        _check_fraction("initial_sparsity", self.initial_sparsity)
        _check_fraction("final_sparsity", self.final_sparsity)
        if self.final_sparsity < self.initial_sparsity:
            raise ConfigError("final_sparsity must be >= initial_sparsity")
        if self.begin_step < 0 or self.end_step <= self.begin_step:
            raise ConfigError(f"need 0 <= begin_step < end_step, got {self.begin_step}, {self.end_step}")
        if self.frequency < 1:
            raise ConfigError(f"frequency must be >= 1 step, got {self.frequency}")
        if self.power < 1:
            raise ConfigError(f"power must be >= 1, got {self.power}")

    def __call__(self, step: int) -> float:
        if step < self.begin_step:
            return 0.0
        progress = min(1.0, (step - self.begin_step) / (self.end_step - self.begin_step))
        return self.final_sparsity + (self.initial_sparsity - self.final_sparsity) * (1.0 - progress) ** self.power

    def is_update_step(self, step: int) -> bool:
        in_window = self.begin_step <= step <= self.end_step
        return in_window and ((step - self.begin_step) % self.frequency == 0 or step == self.end_step)
