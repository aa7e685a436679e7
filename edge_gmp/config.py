"""Run configuration: frozen dataclasses loaded from TOML presets, files and overrides."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from edge_gmp.data import datasets as _datasets  # noqa: F401  (registers every dataset)
from edge_gmp.data.registry import dataset_options, dataset_spec
from edge_gmp.errors import ConfigError
from edge_gmp.fields import check_field_types
from edge_gmp.models import model_config
from edge_gmp.prune.masks import MinimumThreshold
from edge_gmp.prune.methods import effective_floor, get_method
from edge_gmp.prune.schedule import GRADUAL, SCHEDULES

SELECTIONS = ("best", "average")  # model selection rules, see edge_gmp.train.selection
DEVICE_ARTIFACTS = ("tflm", "compiled")  # what export's budget judges


@dataclass(frozen=True)
class DataConfig:
    """``dataset``: a registered dataset (edge_gmp.data.datasets); ``source``: one of its sources (default: its
    first); ``download`` fetches the dataset's official archive (checksum-verified) and implies that source.
    ``options``: the dataset's own ``[data]`` options (e.g. HAR-2 ``val_subjects``, CIFAR-10 ``val_images``),
    given as a mapping or an instance of its options class."""

    dataset: str = "har2"
    source: str | None = None
    path: str | None = None
    download: bool = False
    train_limit: int | None = None  # a seeded random subset of the training pool (smoke tests, quick looks)
    test_limit: int | None = None  # a seeded random test subset (reports count it); real runs use all
    options: Any = None

    def __post_init__(self) -> None:
        check_field_types(self, "data")
        spec = dataset_spec(self.dataset)
        if self.download:
            if spec.downloadable is None:
                raise ConfigError(f"dataset {self.dataset} has no official archive to download; give --data-path")
            object.__setattr__(self, "source", spec.downloadable)
        if self.source is None:
            object.__setattr__(self, "source", spec.sources[0])
        if self.source not in spec.sources:
            raise ConfigError(f"unknown {self.dataset} source {self.source!r}; use one of {', '.join(spec.sources)}")
        if self.source in spec.needs_path and self.path is None and not self.download:
            raise ConfigError(f"{spec.display} needs its data: --data-path ({spec.path_hint})"
                              + (" or --download" if spec.downloadable else ""))
        for name in ("train_limit", "test_limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"data.{name} must be >= 1 (or unset for all samples), got {value}")
        object.__setattr__(self, "options", dataset_options(self.dataset, self.options))


@dataclass(frozen=True)
class TrainConfig:
    """``device``: where training runs ("cpu", "cuda", "cuda:N"). ``init_from``: a file of trained dense weights
    (a run's model.pt or checkpoint.pt, or a plain state dict) to prune instead of training ``epochs`` dense."""

    epochs: int = 30
    batch_size: int = 64
    lr: float = 0.01
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    seed: int = 0
    optimizer: str = "adam"  # "adam" or "sgd" (momentum, Nesterov off)
    momentum: float = 0.9
    label_smoothing: float = 0.0
    device: str = "cpu"
    init_from: str | None = None
    select: str = "best"  # model selection at the final sparsity: "best" validation epoch or "average" weights
    threads: int = 1  # torch CPU threads (measured: benchmarks/results/train_speed.json)
    distill: float = 0.0  # weight of distillation while pruning and fine-tuning, all epochs with distill_from (0: off)
    distill_temperature: float = 4.0
    distill_from: str | None = None  # the teacher: a model.pt (any registered model), from the first epoch on;
    # default: the run's own dense model, from the pruning phase on

    def __post_init__(self) -> None:
        check_field_types(self, "train")
        if self.select not in SELECTIONS:
            raise ConfigError(f"train.select must be one of {', '.join(SELECTIONS)}, got {self.select!r}")
        if not re.fullmatch(r"cpu|cuda(:\d+)?", self.device):
            raise ConfigError(f"train.device must be 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        if self.optimizer not in ("adam", "sgd"):
            raise ConfigError(f"train.optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        if not 0.0 <= self.momentum < 1.0:
            raise ConfigError(f"train.momentum must be in [0, 1), got {self.momentum}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"train.label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.epochs < 1:
            raise ConfigError(f"train.epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"train.batch_size must be >= 1, got {self.batch_size}")
        if not self.lr > 0:
            raise ConfigError(f"train.lr must be > 0, got {self.lr}")
        if self.seed < 0:
            raise ConfigError(f"train.seed must be >= 0, got {self.seed}")
        if not 1 <= self.threads <= 256:
            raise ConfigError(f"train.threads must be in [1, 256], got {self.threads}")
        if self.distill_from is not None and self.distill == 0:
            raise ConfigError("train.distill_from names a teacher but train.distill is 0; set train.distill > 0")
        if not 0.0 <= self.distill <= 1.0 or not self.distill_temperature > 0:
            raise ConfigError(f"train.distill must be in [0, 1] and train.distill_temperature > 0, got "
                              f"{self.distill} and {self.distill_temperature}")
        if self.weight_decay < 0 or self.grad_clip < 0:
            raise ConfigError("train.weight_decay and train.grad_clip must be >= 0")


@dataclass(frozen=True)
class PruneConfig:
    """``method``: a rule of edge_gmp.prune.methods (default "gmp", Global MP); the Minimum-Threshold floor
    (``floor_percent`` of all prunable weights, or ``floor_count``) applies where that rule's own policy uses
    one (``uses_floor``); 0 turns it off."""

    method: str = "gmp"
    sparsity: float = 0.8
    schedule: str = GRADUAL
    prune_epochs: int = 10
    finetune_epochs: int = 10
    frequency: int = 20
    lr: float = 0.005
    final_lr: float = 0.0  # where the pruning learning rate's cosine ends; > 0 keeps weights moving to average
    floor_percent: float = 0.05
    floor_count: int | None = None
    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_field_types(self, "prune")
        if not 0.0 <= self.sparsity < 1.0:
            raise ConfigError(f"prune.sparsity must be in [0, 1), got {self.sparsity}")
        get_method(self.method)
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"prune.schedule must be {' or '.join(map(repr, SCHEDULES))}, got {self.schedule!r}")
        if self.schedule == GRADUAL and self.prune_epochs < 1:
            raise ConfigError("prune.prune_epochs must be >= 1 for a gradual schedule")
        if self.prune_epochs < 0 or self.finetune_epochs < 0:
            raise ConfigError("prune.prune_epochs and prune.finetune_epochs must be >= 0")
        if self.frequency < 1:
            raise ConfigError(f"prune.frequency must be >= 1 step, got {self.frequency}")
        if not self.lr > 0:
            raise ConfigError(f"prune.lr must be > 0, got {self.lr}")
        if not 0 <= self.final_lr <= self.lr:
            raise ConfigError(f"prune.final_lr must be in [0, prune.lr = {self.lr}], got {self.final_lr}")
        object.__setattr__(self, "include", tuple(self.include))
        object.__setattr__(self, "exclude", tuple(self.exclude))
        _ = self.floor  # validates the floor values

    @property
    def floor(self) -> MinimumThreshold:
        """The Minimum-Threshold floor this method applies (none where its rule's policy has none)."""
        return effective_floor(self.method, MinimumThreshold(self.floor_percent, self.floor_count))


@dataclass(frozen=True)
class ExportConfig:
    """Export, verification and the device budget check that follow training."""

    enabled: bool = True
    device: str = "nano33ble"
    min_accuracy: float | None = None  # accuracy budget for the integer device file in TFLite Micro
    calibration_samples: int = 500  # real (x_t, h) pairs drawn from training windows
    sequence_tflite: bool = False  # also convert the unrolled 128-step graph for LiteRT (minutes)
    devices_file: str | None = None
    emulate_samples: int = 5  # test samples the compiled C runs on the board's emulated core (0: skip)
    # what the budget judges: "tflm", the device file in TFLite Micro (its bytes and arena), or "compiled", the
    # firmware image of the generated C on the board's emulated core (its whole flash, RAM with the stack)
    device_artifact: str = "tflm"
    max_flash_bytes: int | None = None  # a flash bar below the board's, on the device artifact

    def __post_init__(self) -> None:
        check_field_types(self, "export")
        if self.emulate_samples < 0:
            raise ConfigError(f"export.emulate_samples must be >= 0, got {self.emulate_samples}")
        if self.device_artifact not in DEVICE_ARTIFACTS:
            raise ConfigError(f"export.device_artifact must be one of {', '.join(DEVICE_ARTIFACTS)}, got "
                              f"{self.device_artifact!r}")
        if self.device_artifact == "compiled" and self.emulate_samples == 0:
            raise ConfigError("export.device_artifact = 'compiled' is judged on the emulated core: set "
                              "export.emulate_samples >= 1")
        if self.max_flash_bytes is not None and self.max_flash_bytes < 1:
            raise ConfigError(f"export.max_flash_bytes must be >= 1 (or unset), got {self.max_flash_bytes}")
        if self.min_accuracy is not None and not 0.0 <= self.min_accuracy <= 1.0:
            raise ConfigError(f"export.min_accuracy must be a fraction in [0, 1], got {self.min_accuracy}")
        if self.calibration_samples < 200:
            raise ConfigError(f"export.calibration_samples must be >= 200 real samples, "
                              f"got {self.calibration_samples}")


@dataclass(frozen=True)
class RunConfig:
    """One run's whole configuration: its name (the preset's, or the config's ``name``), the registered model and
    its config, and the data, train, prune and export sections."""

    name: str
    model_name: str
    model: Any
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    prune: PruneConfig = field(default_factory=PruneConfig)
    export: ExportConfig = field(default_factory=ExportConfig)

    def to_dict(self) -> dict[str, Any]:
        def clean(obj: Any) -> dict[str, Any]:
            return {k: list(v) if isinstance(v, tuple) else v
                    for k, v in dataclasses.asdict(obj).items() if v is not None}

        data = {k: v for k, v in clean(self.data).items() if k != "options"}
        return {
            "name": self.name,
            "model": {"name": self.model_name, **clean(self.model)},
            "data": {**data, **clean(self.data.options)},
            "train": clean(self.train),
            "prune": clean(self.prune),
            "export": clean(self.export),
        }


_SECTIONS = {"data": DataConfig, "train": TrainConfig, "prune": PruneConfig, "export": ExportConfig}


def _build_section(cls: type, values: dict[str, Any], where: str) -> Any:
    known = {f.name for f in dataclasses.fields(cls)}
    if cls is DataConfig:  # the rest of [data] are the dataset's own options
        known.discard("options")
        dataset = values.get("dataset", DataConfig.dataset)
        if not isinstance(dataset, str):
            raise ConfigError(f"{where}: dataset must be a string, got {dataset!r}")
        values = {**{k: v for k, v in values.items() if k in known},
                  "options": {k: v for k, v in values.items() if k not in known}}
        known.add("options")
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def config_from_dict(raw: dict[str, Any], where: str = "config") -> RunConfig:
    """A RunConfig from a parsed TOML table; ``where`` names its origin in every error."""
    raw = {k: (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}
    unknown = sorted(set(raw) - {"name", "model", *_SECTIONS})
    if unknown:
        raise ConfigError(f"{where}: unknown section(s) {', '.join(unknown)}")
    for key in ("model", *_SECTIONS):
        if not isinstance(raw.get(key, {}), dict):
            raise ConfigError(f"{where}: [{key}] must be a table of options, got {raw[key]!r}")
    if not isinstance(raw.get("name", ""), str):
        raise ConfigError(f"{where}: name must be a string, got {raw['name']!r}")
    model_raw = dict(raw.get("model", {}))
    model_name = model_raw.pop("name", None)
    if not model_name or not isinstance(model_name, str):
        raise ConfigError(f"{where}: [model] needs a name, e.g. name = \"fastgrnn\"")
    sections = {key: _build_section(cls, raw.get(key, {}), f"{where} [{key}]") for key, cls in _SECTIONS.items()}
    return RunConfig(name=str(raw.get("name", model_name)), model_name=model_name,
                     model=model_config(model_name, model_raw), **sections)


DEFAULT_PRESET = "fastgrnn-har2"
RUNS_ROOT = Path("runs")  # a run goes to RUNS_ROOT/<preset name> unless --out says otherwise; presets chain through it


def available_presets() -> list[str]:
    """The names of the built-in presets (``edge_gmp/presets/*.toml``), sorted."""
    return sorted(p.name.removesuffix(".toml") for p in resources.files("edge_gmp.presets").iterdir()
                  if p.name.endswith(".toml"))


def _parse_toml(text: str, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where} is not valid TOML: {exc}") from exc


def preset_dict(name: str) -> dict[str, Any]:
    """A built-in preset's TOML table."""
    if name not in available_presets():
        raise ConfigError(f"unknown preset {name!r}; available: {', '.join(available_presets())}")
    text = resources.files("edge_gmp.presets").joinpath(f"{name}.toml").read_text()
    return _parse_toml(text, f"preset {name}")


def file_dict(path: str | Path) -> dict[str, Any]:
    """A config file's TOML table."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    return _parse_toml(text, f"config file {path}")


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` on top, tables merged key by key (neither argument is changed)."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_assignment(text: str) -> dict[str, Any]:
    """``section.key=value`` (value in TOML syntax, bare words as strings) -> nested dict."""
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise ConfigError(f"override {text!r} must look like section.key=value, e.g. prune.sparsity=0.9")
    key, value = text.split("=", 1)
    section, option = key.strip().split(".", 1)
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    return {section: {option: parsed}}


def load_config(preset: str | None = None, path: str | Path | None = None,
                overrides: dict[str, Any] | None = None) -> RunConfig:
    """A preset (default ``fastgrnn-har2``) or a TOML file, with overrides merged on top."""
    if path is not None:
        raw, where = file_dict(path), str(path)
        if preset is not None:
            raw, where = merge(preset_dict(preset), raw), f"preset {preset} + {path}"
    else:
        preset = DEFAULT_PRESET if preset is None else preset
        raw, where = preset_dict(preset), f"preset {preset}"
    return config_from_dict(merge(raw, overrides or {}), where)


def dump_toml(config: RunConfig) -> str:
    """``config`` as TOML text (what a run directory's ``config.toml`` holds)."""
    import tomli_w

    return tomli_w.dumps(config.to_dict())
