"""`transformers.Trainer` for dialogue-level emotion recognition with multi-term losses.

`ERCTrainer` logs every term of the model's ``loss_terms`` (averaged over the logging window and over
processes), returns only ``(loss, logits, labels)`` from `prediction_step` and scores with
`training.evaluation.metrics`. `default_training_arguments` holds the settings the package relies on (best checkpoint by
validation weighted-F1, ``remove_unused_columns=False``, ``label_names=["labels"]``).

`ERCTrainingArguments` adds what fine-tuning a text encoder inside the model needs: ``backbone_learning_rate`` /
``backbone_weight_decay`` (a separate optimizer parameter group for ``model.emoje.text_model``; the Trainer's
scheduler scales both groups) and ``max_train_minutes`` (a wall-clock budget, `TimeBudgetCallback`).

Checkpoint selection follows the scenarios a deployment meets: ``selection_scenarios`` (``all`` by default, i.e.
every non-empty subset of the modalities; ``missing``, ``full`` or names like ``audio,privacy``;
`training.evaluation.scenarios.selection_scenarios`) are scored on the validation split at every evaluation
(``eval_<scenario>_weighted_f1``) and their mean ``eval_scenario_mean_weighted_f1`` is the default
``metric_for_best_model``, so both the best checkpoint and early stopping follow it. With one modality it is the
validation weighted-F1 itself (nothing more is evaluated).

Example:
    >>> from training.train.trainer import ERCTrainingArguments, default_training_arguments
    >>> defaults = default_training_arguments()
    >>> defaults["metric_for_best_model"], defaults["remove_unused_columns"]
    ('scenario_mean_weighted_f1', False)
    >>> args = ERCTrainingArguments(output_dir="runs/x", backbone_learning_rate=5e-5, max_train_minutes=30)
    >>> args.backbone_learning_rate, args.max_train_minutes
    (5e-05, 30.0)
"""

from __future__ import annotations

import inspect
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from accelerate.utils import gather_object
from transformers import EarlyStoppingCallback, Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import IntervalStrategy, SaveStrategy

from ..evaluation.metrics import compute_metrics_for_trainer
from ..evaluation.scenarios import SCENARIO_MEAN_METRIC, selection_scenarios
from .text_backbone import backbone_parameter_names

logger = logging.getLogger(__name__)

LOSS_TERM_PREFIX = "loss_"
BACKBONE_LR_LOG_KEY = "backbone_learning_rate"


@dataclass
class ERCTrainingArguments(TrainingArguments):
    """`TrainingArguments` plus the text-backbone optimizer settings, a wall-clock training budget and the scenarios
    the best checkpoint is chosen for."""

    backbone_learning_rate: float | None = field(
        default=None,
        metadata={"help": "learning rate of the model's text encoder (text_config sub-model); default: learning_rate"},
    )
    backbone_weight_decay: float | None = field(
        default=None, metadata={"help": "weight decay of the text encoder's parameters; default: weight_decay"}
    )
    max_train_minutes: float | None = field(
        default=None,
        metadata={"help": "stop training after this many minutes (evaluating and saving at the stop); see time_budget_clock"},
    )
    time_budget_clock: str = field(
        default="wall",
        metadata={
            "help": "what max_train_minutes counts: 'wall' (wall-clock time) or 'cpu' (this process' CPU time divided by "
            "its torch threads: what the run would take alone, even on a machine shared with other jobs)"
        },
    )

    selection_scenarios: str = field(
        default="all",
        metadata={
            "aliases": ["--select_scenarios"],
            "help": "scenarios whose mean validation weighted-F1 (eval_scenario_mean_weighted_f1, the default "
            "metric_for_best_model) chooses the best checkpoint and drives early stopping: 'all' (default: every "
            "non-empty subset of the modalities), 'missing' (every proper subset), 'full' (the complete data only) or "
            "comma-separated names such as 'audio,privacy' or 'text+audio,face'; with one modality all are the same",
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.time_budget_clock not in TimeBudgetCallback.CLOCKS:
            raise ValueError(f"time_budget_clock must be one of {TimeBudgetCallback.CLOCKS}, got {self.time_budget_clock!r}")
        for name in ("backbone_learning_rate", "backbone_weight_decay", "max_train_minutes"):
            value = getattr(self, name)
            if value is not None:
                value = float(value)
                setattr(self, name, value)
                if value < 0 or (name == "max_train_minutes" and value == 0):
                    raise ValueError(f"{name} must be {'> 0' if name == 'max_train_minutes' else '>= 0'}, got {value}")


class TimeBudgetCallback(TrainerCallback):
    """Stops training once ``max_minutes`` have passed since training (re)started, on the chosen ``clock``.

    ``clock="wall"`` counts wall-clock time; ``clock="cpu"`` counts this process' CPU time divided by its torch
    threads, which bounds what the run takes alone on idle cores even when other jobs share the machine.

    The step at which the budget runs out is evaluated and saved like the last step of a normal run (for
    step-based strategies; epoch-based ones evaluate at the end of the interrupted epoch anyway), so the best
    checkpoint is chosen among everything trained. With several processes they all stop at the same step. `stopped`, `wall_seconds` and `cpu_seconds` (this process)
    tell what happened.

    Example:
        >>> from training.train.trainer import TimeBudgetCallback
        >>> budget = TimeBudgetCallback(max_minutes=30)
        >>> budget.max_seconds, budget.stopped
        (1800.0, False)
    """

    CLOCKS = ("wall", "cpu")

    def __init__(self, max_minutes: float, clock: str = "wall") -> None:
        if max_minutes is None or max_minutes <= 0:
            raise ValueError(f"max_minutes must be > 0, got {max_minutes}")
        if clock not in self.CLOCKS:
            raise ValueError(f"clock must be one of {self.CLOCKS}, got {clock!r}")
        self.clock = clock
        self.max_seconds = float(max_minutes) * 60.0
        self.stopped = False
        self.stopped_at_step: int | None = None
        self._wall0: float | None = None
        self._cpu0: float | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self._wall0, self._cpu0 = time.perf_counter(), time.process_time()
        self.stopped, self.stopped_at_step = False, None

    @property
    def wall_seconds(self) -> float:
        return 0.0 if self._wall0 is None else time.perf_counter() - self._wall0

    @property
    def cpu_seconds(self) -> float:
        return 0.0 if self._cpu0 is None else time.process_time() - self._cpu0

    @property
    def budget_seconds(self) -> float:
        """Time spent so far on the budget's clock."""
        return self.wall_seconds if self.clock == "wall" else self.cpu_seconds / max(1, torch.get_num_threads())

    def on_step_end(self, args, state, control, **kwargs):
        if self._wall0 is None or control.should_training_stop:
            return control
        over = self.budget_seconds >= self.max_seconds
        if args.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
            # Every process must stop at the same step (else the others wait forever in the next all-reduce).
            flag = torch.tensor([float(over)], device=args.device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            over = bool(flag.item())
        if not over:
            return control
        control.should_training_stop = True
        self.stopped, self.stopped_at_step = True, state.global_step
        if args.eval_strategy == IntervalStrategy.STEPS and args.eval_delay <= state.global_step:
            control.should_evaluate = True
        if args.save_strategy == SaveStrategy.STEPS:
            control.should_save = True
        return control


class ReduceUnusedGradients(TrainerCallback):
    """Under FSDP2, reduce a zero gradient for every parameter a process did not use in a step.

    The models skip what a batch does not need (the cross-attention of an absent modality, its pooling, the
    imputation of a mode nobody misses), so processes whose batches hold different modalities leave different
    parameters without a gradient. FSDP2 reduce-scatters only the parameters that have one: the processes would
    then exchange gradient buffers of different sizes (a hang, or wrong sums). ``set_reduce_scatter_unused_params``
    makes every process reduce every parameter, as DDP's ``find_unused_parameters=True`` does (set by
    `default_training_arguments`). The sharded modules themselves (`_no_split_modules`) run on every process in
    every step (`modeling_emoje.modeling_layers.encode_present_modalities`). Other setups are left unchanged.
    """

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if hasattr(model, "set_reduce_scatter_unused_params"):
            model.set_reduce_scatter_unused_params(True)


def fit_feature_normalization(model: torch.nn.Module, dataset) -> dict[str, int]:
    """Fit each modality encoder's input standardiser (`FeatureStandardizer`) that is not fitted yet on the frames
    of ``dataset`` (the training split: never validation or test). Returns the frames used per fitted modality.

    Fitted statistics are buffers of the model, so checkpoints, exports, ``from_pretrained``, the pipeline and
    ``emoje-evaluate`` all apply them; a resumed run loads them from its checkpoint.

    Example:
        >>> from dataset_scripts.synthetic import make_prototype_corpus
        >>> from modeling_emoje import EmoJEConfig, EmoJEForEmotionRecognition
        >>> from training.train.collator import DialogueDataset
        >>> train = DialogueDataset(make_prototype_corpus(num_dialogues=(4, 2, 2), seed=0)["train"])
        >>> model = EmoJEForEmotionRecognition(EmoJEConfig(modality_dims=train.feature_dims, num_labels=7, hidden_size=16))
        >>> sorted(fit_feature_normalization(model, train))
        ['audio', 'body', 'face', 'text']
    """
    from modeling_emoje.modeling_layers import feature_standardizers

    fitted = {}
    for modality, standardizer in feature_standardizers(model).items():
        if standardizer.is_fitted:
            continue
        frames = dataset.modality_frames(modality) if hasattr(dataset, "modality_frames") else None
        if frames is None or len(frames) == 0:
            logger.warning("feature normalisation of '%s' not fitted: the training data has no %s frames", modality, modality)
            continue
        try:
            standardizer.fit(torch.from_numpy(frames).to(standardizer.shift.device))
        except ValueError as error:
            raise ValueError(f"{getattr(dataset, 'name', 'train')}: {modality}_features: {error}") from None
        fitted[modality] = len(frames)
    if fitted:
        logger.info("feature normalisation fitted on the training split (%s)", ", ".join(f"{m}: {n} frames" for m, n in fitted.items()))
    return fitted


def describe_feature_normalization(model: torch.nn.Module) -> str | None:
    """One line for logs and model cards: the method and the training frames each modality's statistics come from."""
    from modeling_emoje.modeling_layers import feature_standardizers

    standardizers = feature_standardizers(model)
    if not standardizers:
        return None
    method = next(iter(standardizers.values())).method
    parts = [f"{m}: {int(s.num_frames)} frames" if s.is_fitted else f"{m}: not fitted" for m, s in standardizers.items()]
    return f"{method}, fitted on the training split ({', '.join(parts)})"


def checkpoint_selection(args, modalities, best_metric: float | None = None) -> dict[str, Any]:
    """What the best checkpoint of a run was chosen for (``evaluation.json``'s ``selection``, the model card):
    ``metric`` (without the ``eval_`` prefix), ``scenarios`` (for the scenario mean), the best validation value.

    Example:
        >>> from types import SimpleNamespace
        >>> args = SimpleNamespace(metric_for_best_model="eval_scenario_mean_weighted_f1", selection_scenarios="all")
        >>> checkpoint_selection(args, ["audio", "face"], 0.5)["scenarios"]
        ['audio', 'face', 'audio+face']
    """
    metric = str(getattr(args, "metric_for_best_model", None) or "loss").removeprefix("eval_")
    record: dict[str, Any] = {"metric": metric}
    if metric == SCENARIO_MEAN_METRIC:
        spec = getattr(args, "selection_scenarios", None) or "all"
        record["selection_scenarios"] = spec
        record["scenarios"] = [s.name for s in selection_scenarios(modalities, spec)]
    record["best_validation_value"] = None if best_metric is None else round(float(best_metric), 6)
    return record


def default_training_arguments() -> dict[str, Any]:
    """TrainingArguments values the package sets unless a config or the command line overrides them."""
    return {
        "eval_strategy": "epoch",
        "save_strategy": "epoch",
        "logging_strategy": "steps",
        "logging_steps": 10,
        "save_total_limit": 2,
        "load_best_model_at_end": True,
        "metric_for_best_model": SCENARIO_MEAN_METRIC,
        "greater_is_better": True,
        "remove_unused_columns": False,
        "label_names": ["labels"],
        "report_to": "none",
        "dataloader_num_workers": 0,
        "dataloader_pin_memory": torch.cuda.is_available(),
        # Processes whose batches hold different modalities use different parameters in a step (absent
        # modalities' attention, pooling, imputation): DDP must look for unused ones, or it waits for their gradients.
        "ddp_find_unused_parameters": True,
        # Several processes on a machine without GPUs (or other accelerators): without `use_cpu`, accelerate gives
        # each process DistributedType.NO (each would train alone on all the data); with it they form one gloo group.
        "use_cpu": several_processes_without_accelerator(),
    }


def several_processes_without_accelerator() -> bool:
    """Launched as one of several processes (``WORLD_SIZE`` > 1) on a machine without GPUs or other accelerators:
    accelerate must then be told ``cpu=True`` / ``use_cpu``, or it gives each process DistributedType.NO and every
    process works alone on all the data instead of joining one gloo group."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.accelerator.is_available()


class ERCTrainer(Trainer):
    """Trainer for models returning ``loss``, ``logits`` (B, U, C) and ``loss_terms`` (dict of detached scalars).

    Uses `training.evaluation.metrics.compute_metrics_for_trainer` unless ``compute_metrics`` is given. The model's loss is
    a per-batch mean, so the Trainer must not pass ``num_items_in_batch`` to it nor rescale it.

    With ``args.backbone_learning_rate`` or ``args.backbone_weight_decay`` set (`ERCTrainingArguments`) and a model
    holding a text encoder, the optimizer gets separate parameter groups for that encoder (bias and LayerNorm
    weights without decay, as the Trainer does); the Trainer's scheduler scales every group's own learning rate,
    and ``backbone_learning_rate`` is logged next to ``learning_rate``. With ``args.max_train_minutes`` a
    `TimeBudgetCallback` is added (``trainer.time_budget``).
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("compute_metrics", compute_metrics_for_trainer)
        super().__init__(*args, **kwargs)
        # The models' forward takes **kwargs (input contract), which Trainer would read as "the model normalises
        # its loss by num_items_in_batch itself"; it does not, so gradient accumulation must rescale the loss.
        self.model_accepts_loss_kwargs = False
        self._term_sums: dict[str, torch.Tensor] = {}
        self._term_counts: dict[str, int] = {}
        self._backbone_group: int | None = None
        self.time_budget: TimeBudgetCallback | None = None
        self.add_callback(ReduceUnusedGradients())
        minutes = getattr(self.args, "max_train_minutes", None)
        if minutes:
            self.time_budget = TimeBudgetCallback(minutes, getattr(self.args, "time_budget_clock", "wall"))
            self.add_callback(self.time_budget)

    def evaluation_loop(
        self, dataloader, description, prediction_loss_only=None, ignore_keys=None, metric_key_prefix: str = "eval"
    ):
        """`Trainer.evaluation_loop`, plus the selection scenarios' scores (`scenario_metrics`) on validation runs
        when ``metric_for_best_model`` is their mean."""
        output = super().evaluation_loop(dataloader, description, prediction_loss_only, ignore_keys, metric_key_prefix)
        wanted = str(self.args.metric_for_best_model or "").removeprefix(f"{metric_key_prefix}_") == SCENARIO_MEAN_METRIC
        if wanted and not prediction_loss_only and output.metrics is not None:
            output.metrics.update(self.scenario_metrics(dataloader.dataset, output.metrics, metric_key_prefix))
        return output

    def scenario_metrics(self, dataset, metrics: dict[str, float], prefix: str = "eval") -> dict[str, float]:
        """``{prefix}_<scenario>_weighted_f1`` for each of ``args.selection_scenarios`` and their mean
        ``{prefix}_scenario_mean_weighted_f1``, scored on ``dataset`` by `training.evaluation.evaluate_model` (the
        full-data scenario reuses ``metrics``' weighted-F1 of the same data)."""
        from ..evaluation.evaluate import evaluate_model
        from ..evaluation.scenarios import ModalityMatch

        if not hasattr(dataset, "with_scenario"):  # not a DialogueDataset: only the full data can be scored
            return {f"{prefix}_{SCENARIO_MEAN_METRIC}": float(metrics[f"{prefix}_weighted_f1"])}
        model = self.accelerator.unwrap_model(self.model)
        available = ModalityMatch.of(model, dataset).available
        scenarios = selection_scenarios(available, getattr(self.args, "selection_scenarios", None))
        full = frozenset(available)
        scores = {s.name: metrics[f"{prefix}_weighted_f1"] for s in scenarios if s.keep == full}
        others = [s for s in scenarios if s.keep != full]
        if others:
            collator = self.data_collator
            result = evaluate_model(
                model, dataset, others, batch_size=self.args.per_device_eval_batch_size,
                accelerator=self.accelerator if self.args.world_size > 1 else None,
                tokenizer=getattr(collator, "tokenizer", None), max_text_length=getattr(collator, "max_text_length", None),
                progress=False,
            )
            scores.update({name: value["weighted_f1"] for name, value in result["scenarios"].items()})
        out = {f"{prefix}_{s.name}_weighted_f1": float(scores[s.name]) for s in scenarios}
        out[f"{prefix}_{SCENARIO_MEAN_METRIC}"] = sum(scores[s.name] for s in scenarios) / len(scenarios)
        return out

    def train(self, *args, **kwargs):
        """`Trainer.train`, after fitting the model's feature normalisation on ``train_dataset`` where not fitted yet
        (a resumed run then loads the checkpoint's statistics over the fitted ones, which are the same)."""
        if self.train_dataset is not None:
            fit_feature_normalization(self.model, self.train_dataset)
        return super().train(*args, **kwargs)

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        """`Trainer._save` for checkpoints: the processor is saved lean (`save_lean_processor`), so a checkpoint
        holds what resuming and evaluating need (weights, config, tokenizer, processor settings) but not a copy of
        the frozen text encoder; `training.publishing.export.export_model` writes the full processor."""
        processor = self.processing_class
        self.processing_class = None
        try:
            super()._save(output_dir, state_dict)
        finally:
            self.processing_class = processor
        if processor is not None and self.args.should_save:
            save_lean_processor(processor, output_dir if output_dir is not None else self.args.output_dir)

    def create_optimizer(self, model=None) -> torch.optim.Optimizer:
        """The Trainer's optimizer, with the text encoder in its own parameter groups when the args ask for it."""
        backbone_lr = getattr(self.args, "backbone_learning_rate", None)
        backbone_wd = getattr(self.args, "backbone_weight_decay", None)
        opt_model = self.model if model is None else model
        if self.optimizer is None and (backbone_lr is not None or backbone_wd is not None):
            backbone = backbone_parameter_names(opt_model)
            if backbone:
                self.optimizer = self._optimizer_with_backbone_groups(opt_model, backbone, backbone_lr, backbone_wd)
        return super().create_optimizer(model)

    def _optimizer_with_backbone_groups(self, model, backbone: set[str], lr: float | None, weight_decay: float | None):
        from transformers.trainer_optimizer import is_optimizer_factory

        decay = set(self.get_decay_parameter_names(model))
        trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        groups = []
        # The model's own parameters first: the Trainer logs the first group's rate as `learning_rate`.
        for in_backbone in (False, True):
            group_lr = (lr if lr is not None else self.args.learning_rate) if in_backbone else self.args.learning_rate
            group_wd = (weight_decay if weight_decay is not None else self.args.weight_decay) if in_backbone else self.args.weight_decay
            for decayed in (True, False):
                params = [p for n, p in trainable if (n in backbone) == in_backbone and (n in decay) == decayed]
                if params:
                    if in_backbone and self._backbone_group is None:
                        self._backbone_group = len(groups)
                    groups.append({"params": params, "lr": group_lr, "weight_decay": group_wd if decayed else 0.0})
        if self.optimizer_cls_and_kwargs is not None:
            optimizer_cls, kwargs = self.optimizer_cls_and_kwargs
        else:
            optimizer_cls, kwargs = self.get_optimizer_cls_and_kwargs(self.args, model)
        if is_optimizer_factory(optimizer_cls) or {"params", "model", "optimizer_dict"} & set(kwargs):
            raise ValueError(f"backbone_learning_rate / backbone_weight_decay are not supported with optim={self.args.optim!r}")
        return optimizer_cls(groups, **{k: v for k, v in kwargs.items() if k != "lr"}, lr=self.args.learning_rate)

    def compute_loss(self, model, inputs, return_outputs: bool = False, num_items_in_batch=None):
        outputs = model(**inputs)
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs[0]
        if loss is None:
            raise ValueError(f"the model returned no loss; its inputs were {sorted(inputs)} (labels are required)")
        terms = outputs.get("loss_terms") if isinstance(outputs, dict) else None
        if terms and model.training:
            for name, value in terms.items():
                value = value.detach().float().mean()
                self._term_sums[name] = self._term_sums.get(name, 0.0) + value
                self._term_counts[name] = self._term_counts.get(name, 0) + 1
        return (loss, outputs) if return_outputs else loss

    def _pop_loss_terms(self) -> dict[str, float]:
        """Mean of each loss term since the last training log, averaged over processes."""
        names = sorted(self._term_sums)
        if self.args.world_size > 1:
            names = sorted({name for part in gather_object([names]) for name in part})
        if not names:
            return {}
        device = self.args.device
        sums = torch.stack([torch.as_tensor(self._term_sums.get(n, 0.0), device=device, dtype=torch.float32) for n in names])
        counts = torch.tensor([float(self._term_counts.get(n, 0)) for n in names], device=device)
        if self.args.world_size > 1:
            sums, counts = self.accelerator.reduce(sums, "sum"), self.accelerator.reduce(counts, "sum")
        self._term_sums, self._term_counts = {}, {}
        means = (sums / counts.clamp_min(1.0)).tolist()
        return {f"{LOSS_TERM_PREFIX}{name}": round(mean, 6) for name, mean, count in zip(names, means, counts.tolist()) if count}

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs:  # a training log (evaluation logs use "eval_loss")
            # Terms that are exactly zero (a modality pair or weight the run does not have) would only add noise.
            logs.update({name: value for name, value in self._pop_loss_terms().items() if value != 0.0})
            if self._backbone_group is not None and self.lr_scheduler is not None:
                logs[BACKBONE_LR_LOG_KEY] = self.lr_scheduler.get_last_lr()[self._backbone_group]
        super().log(logs, start_time)

    def prediction_step(self, model, inputs, prediction_loss_only: bool, ignore_keys=None):
        """``(loss, logits (B, U, C), labels (B, U))``; the Trainer pads U across batches and processes with -100."""
        inputs = self._prepare_inputs(inputs)
        labels = inputs.get("labels")
        with torch.no_grad():
            outputs = model(**inputs)
        loss = outputs.get("loss")
        loss = loss.detach().mean() if loss is not None else None
        if prediction_loss_only:
            return loss, None, None
        return loss, outputs["logits"].detach(), labels


def save_lean_processor(processor, output_dir: str) -> None:
    """Save ``processor`` into a checkpoint without its frozen text encoder's weights (an `EmoJEProcessor` then
    refers to the encoder by its resolved path or Hub id); other processors and tokenizers are saved as they are.

    Example:
        >>> import tempfile
        >>> from modeling_emoje.text_encoding_emoje import default_text_encoder
        >>> from modeling_emoje import EmoJEProcessor
        >>> folder = tempfile.mkdtemp()
        >>> save_lean_processor(EmoJEProcessor.from_text_encoder(default_text_encoder()), folder)
        >>> import os; "text_encoder" in os.listdir(folder)
        False
    """
    if "save_text_encoder" in inspect.signature(processor.save_pretrained).parameters:
        processor.save_pretrained(output_dir, save_text_encoder=False)
    else:
        processor.save_pretrained(output_dir)


def early_stopping(patience: int | None, threshold: float = 0.0) -> list[EarlyStoppingCallback]:
    """An early-stopping callback list (empty when ``patience`` is None or 0)."""
    if not patience:
        return []
    return [EarlyStoppingCallback(early_stopping_patience=patience, early_stopping_threshold=threshold)]


__all__ = [
    "ERCTrainer",
    "ERCTrainingArguments",
    "ReduceUnusedGradients",
    "TimeBudgetCallback",
    "checkpoint_selection",
    "default_training_arguments",
    "describe_feature_normalization",
    "early_stopping",
    "fit_feature_normalization",
    "several_processes_without_accelerator",
    "save_lean_processor",
]
