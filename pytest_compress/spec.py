"""What users register: a model (``ModelSpec``) and a compression method (``Method``).

This module must stay importable without torch; tensors appear only in annotations.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

from pytest_compress.method_config import ConfigError, MethodConfig, NoConfig, envelope
from pytest_compress.registries import Current
from pytest_compress.registry import decorator
from pytest_compress.results import MethodResult, R, find_result

if TYPE_CHECKING:
    import torch
    from torch import nn

    Batch = tuple[torch.Tensor, torch.Tensor]


AGGREGATES = ("mean", "exp-mean", "set")
AGAINST = ("targets", "reference")


@dataclass(frozen=True)
class Metric:
    """A task metric computed per example, so paired statistics stay possible.

    ``score(outputs, targets)`` returns one number per example. ``aggregate`` turns their mean
    into the metric: ``"mean"`` (accuracy) or ``"exp-mean"`` (perplexity = exp of the mean
    per-example negative log-likelihood; exact corpus perplexity when every example scores the
    same number of tokens). ``against="reference"`` scores the outputs against the *uncompressed
    model's* outputs on the same inputs instead of the targets (fidelity metrics: KL divergence,
    top-1 agreement, embedding similarity); the reference then scores itself. ``definition``
    pins what is measured in words; it is recorded with the baseline.
    ``aggregate="set"`` (detection mAP, not a mean over examples): ``score`` returns one record per
    example (any object), ``summarize(records)`` is the metric, ``paired_interval(ref_records,
    cmp_records, confidence, seed)`` the drop's interval; results keep no records.
    """

    name: str
    unit: str
    higher_is_better: bool
    score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    aggregate: str = "mean"
    against: str = "targets"
    definition: str = ""
    summarize: Callable[[Sequence[Any]], float] | None = None
    paired_interval: Callable[[Sequence[Any], Sequence[Any], float, int], tuple[float, float]] | None = None

    def __post_init__(self) -> None:
        given = (self.summarize is not None, self.paired_interval is not None)
        if given != ((self.aggregate == "set"),) * 2:
            raise ValueError(f"Metric {self.name!r}: summarize and paired_interval go with aggregate='set', only")
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"Metric {self.name!r}: aggregate must be one of {AGGREGATES}, got {self.aggregate!r}")
        if self.against not in AGAINST:
            raise ValueError(f"Metric {self.name!r}: against must be one of {AGAINST}, got {self.against!r}")

    def value(self, outcomes: Sequence[float]) -> float:
        """The metric of a set of per-example outcomes."""
        if not outcomes:
            raise ValueError(f"metric {self.name!r}: no outcomes")
        if self.summarize is not None:
            return float(self.summarize(outcomes))
        m = sum(outcomes) / len(outcomes)
        return math.exp(m) if self.aggregate == "exp-mean" else m


def _top1(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return (outputs.argmax(dim=-1) == targets).float()


ACCURACY = Metric(name="accuracy", unit="fraction", higher_is_better=True, score=_top1)


class SpecError(ValueError):
    """API misuse in a registered model or method (a ``ModelSpec`` field, ``build()``'s or a
    method's return value, ``method_args``). Its message is one sentence naming the field or
    function and what is expected; the plugin fails the test with it, without a traceback."""


def _length(value: Any) -> int | None:
    try:
        return len(value)
    except TypeError:
        return None


def _check_batch(field_name: str, data: Any) -> None:
    """``data`` must be ``(inputs, targets)``: two sized objects of one non-zero length."""
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        got = type(data).__name__
        if isinstance(data, (tuple, list)):
            got = f"a {got} of {len(data)} items"
        raise SpecError(f"ModelSpec.{field_name} must be a tuple (inputs, targets), got {got}")
    n_in, n_out = _length(data[0]), _length(data[1])
    if n_in is None or n_out is None:
        bad = type(data[0] if n_in is None else data[1]).__name__
        raise SpecError(f"ModelSpec.{field_name}: inputs and targets must be tensors (or sized sequences), got {bad}")
    if n_in != n_out:
        raise SpecError(
            f"ModelSpec.{field_name}: inputs and targets must have the same length, "
            f"got {n_in} inputs and {n_out} targets"
        )
    if n_in == 0:
        raise SpecError(f"ModelSpec.{field_name} is empty: give at least one (input, target) example")


@dataclass(frozen=True)
class ModelSpec:
    """Everything the plugin needs to build, train (once, cached), evaluate and time a model.

    ``build`` makes the untrained architecture with fixed seeds; ``train(model, train_data)``
    trains it in place. The trained weights are cached under a key made of the model's
    definition, ``settings``, ``train_data`` and the torch version.
    """

    build: Callable[[], nn.Module]
    eval_data: Batch
    example_inputs: tuple[torch.Tensor, ...]
    train: Callable[[nn.Module, Batch], None] | None = None
    train_data: Batch | None = None
    # Calibration inputs: a tensor (run in batches) or a sequence of tensors of different lengths
    # (run one by one: e.g. unpadded sentences). Default: the first 256 training inputs.
    calib_data: torch.Tensor | tuple[torch.Tensor, ...] | None = None
    # A Metric, or the name of a registered one (``register_metric``, a ``pytest_compress.metrics``
    # entry point); names are resolved when the spec is made.
    metric: Metric | str = ACCURACY
    settings: Mapping[str, Any] = field(default_factory=dict)
    eval_batch_size: int = 256
    # A smaller architecture for knowledge distillation; methods that need one skip without it.
    student: Callable[[], nn.Module] | None = None
    # Secondary metrics, measured and reported with the primary ``metric`` (not gated).
    extra_metrics: tuple[Metric | str, ...] = ()
    # More latency workloads besides one forward over ``example_inputs``: name -> a function that
    # takes the (reference or compressed) module and returns the zero-argument call to time.
    # Each is timed reference-vs-compressed, interleaved, like the forward.
    workloads: Mapping[str, Callable[[nn.Module], Callable[[], object]]] = field(default_factory=dict)
    # Qualified names of modules that compression methods leave in floating point (a language
    # model's output head, by the usual convention); methods that honour it say so.
    keep_float: tuple[str, ...] = ()
    # Modules whose outputs are the task's (a detector's score and box convs): structured pruning
    # keeps them whole. Default: the last Linear.
    output_layers: tuple[str, ...] = ()
    # ``finetune(model, train_data, epochs=, lr=, seed=)``: the model's own loop for methods that
    # fine-tune (structured pruning). Default: ``training.fit`` (cross-entropy).
    finetune: Callable[..., None] | None = None
    # A name for the forward over ``example_inputs`` in reports (a language model's "prefill").
    forward_name: str = "forward"

    def __post_init__(self) -> None:
        _resolve_metrics(self)
        if not callable(self.build):
            raise SpecError(f"ModelSpec.build must be a function returning a torch.nn.Module, got {self.build!r}")
        if self.train is not None and not callable(self.train):
            raise SpecError(f"ModelSpec.train must be a function train(model, train_data), got {self.train!r}")
        if (self.train is None) != (self.train_data is None):
            raise SpecError("ModelSpec: give both `train` and `train_data`, or neither")
        if self.train_data is not None and (not isinstance(self.train_data, (tuple, list)) or not self.train_data):
            raise SpecError(
                f"ModelSpec.train_data must be a non-empty tuple of tensors, e.g. (inputs, targets), "
                f"got {type(self.train_data).__name__}"
            )
        _check_batch("eval_data", self.eval_data)
        if not isinstance(self.example_inputs, tuple) or not self.example_inputs:
            raise SpecError("ModelSpec.example_inputs must be a non-empty tuple of tensors")
        batch = self.eval_batch_size
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise SpecError(f"ModelSpec.eval_batch_size must be an integer >= 1, got {self.eval_batch_size!r}")
        names = [self.metric.name] + [m.name for m in self.extra_metrics]
        if len(set(names)) != len(names):
            raise SpecError(f"ModelSpec: metric names must be unique, got {names}")


def _resolve_metrics(spec: ModelSpec) -> None:
    """Metric names -> the registered :class:`Metric` (imports a declared module on first use)."""

    def resolve(m: Metric | str, where: str) -> Metric:
        if isinstance(m, Metric):
            return m
        if not isinstance(m, str):
            raise SpecError(f"ModelSpec.{where} must be a pytest_compress.Metric or a metric name, got {m!r}")
        try:
            return METRICS.get(m)
        except LookupError as exc:
            raise SpecError(f"ModelSpec.{where}: {exc}") from None

    extra = spec.extra_metrics
    if not isinstance(extra, (tuple, list)):
        raise SpecError(f"ModelSpec.extra_metrics must be a tuple of metrics or metric names, got {extra!r}")
    object.__setattr__(spec, "metric", resolve(spec.metric, "metric"))
    object.__setattr__(spec, "extra_metrics", tuple(resolve(m, "extra_metrics") for m in extra))


def all_metrics(spec: ModelSpec) -> tuple[Metric, ...]:
    """The primary metric first, then the secondary ones: the order results are reported in."""
    return (spec.metric, *spec.extra_metrics)


@dataclass(frozen=True)
class MethodContext:
    """What a method may use besides the model: calibration inputs, example inputs, training data."""

    example_inputs: tuple[Any, ...]
    calib_data: Any = None
    train_data: Any = None
    seed: int = 0
    student: Callable[[], Any] | None = None
    # The model's metric on its held-out data, for methods that compare candidates (distillation).
    evaluate: Callable[[Any], float] | None = None
    # Caches weights a method trains (fine-tunes, students); None runs training every time.
    train_cache: Callable[..., str] | None = None
    # Module names to leave in floating point (ModelSpec.keep_float).
    keep_float: tuple[str, ...] = ()
    output_layers: tuple[str, ...] = ()
    finetune: Callable[..., None] | None = None

    def trained(self, label: str, module: Any, train: Callable[[Any], None], key: Mapping[str, Any]) -> str:
        """Train ``module`` in place with ``train``, or load the weights an identical earlier run
        produced. ``key`` must hold everything the result depends on besides the reference model
        and the module's architecture (the method's config, the code that trains). Returns
        "cache" or "trained"."""
        if self.train_cache is None:
            train(module)
            return "trained"
        return self.train_cache(label, module, train, key)


class NotApplicable(Exception):
    """Raised by a method that does not apply to this model; the test is skipped with the reason."""


@dataclass
class Artifact:
    """A compressed model: ``module`` runs inference, ``payload`` is the bytes you would ship.

    ``encoding`` names the payload format so a reader of the report knows what was counted; the
    format registered under it (:func:`pytest_compress.register_format`) accounts for the
    payload's Linear weights (bits per weight). ``results`` are the method's typed reports
    (:class:`~pytest_compress.results.MethodResult`), ``details`` free-form extras.
    """

    module: nn.Module
    payload: bytes
    encoding: str
    details: dict[str, Any] = field(default_factory=dict)
    results: tuple[MethodResult, ...] = ()

    def result(self, kind: type[R]) -> R | None:
        """The method's report of ``kind`` (e.g. ``SparsityResult``), or None."""
        return find_result(self.results, kind)


ApplyFn = Callable[["nn.Module", Any, MethodContext], Union["nn.Module", Artifact]]


@dataclass(frozen=True)
class Method:
    name: str
    config_type: type[MethodConfig]
    apply: ApplyFn

    def make_config(self, args: Mapping[str, Any] | None) -> MethodConfig:
        """The method's config from ``method_args``; a :class:`SpecError` naming the option and
        what it takes for an unknown key, a missing required one or a bad value."""
        if args is not None and not isinstance(args, Mapping):
            raise SpecError(f"method {self.name!r}: method_args must be a dict of options, got {type(args).__name__}")
        args = dict(args or {})
        fields = {f.name: f for f in dataclasses.fields(self.config_type)}
        valid = f"valid options: {', '.join(sorted(fields)) or '(none)'}"
        unknown = sorted(set(args) - set(fields), key=str)
        if unknown:
            raise SpecError(f"method {self.name!r} has no option(s) {', '.join(map(str, unknown))}; {valid}")
        missing = [n for n, f in fields.items() if n not in args and _default(f) is dataclasses.MISSING]
        if missing:
            raise SpecError(f"method {self.name!r} needs option(s) {', '.join(missing)} in method_args; {valid}")
        for key, value in args.items():
            expected = _expected_kind(_default(fields[key]), value)
            if expected:
                raise SpecError(
                    f"method {self.name!r}: option {key!r} must be {expected} (default {_default(fields[key])!r}), "
                    f"got {type(value).__name__} {value!r}"
                )
        try:
            return self.config_type(**args)
        except SpecError:
            raise
        except (TypeError, ValueError) as exc:
            message = str(exc)
            raise SpecError(message if message.startswith(self.name) else f"method {self.name!r}: {message}") from None

    def config_from_dict(self, data: Mapping[str, Any]) -> MethodConfig:
        """This method's config from its serialised form (the envelope, or an older file's plain
        fields). Allow-listed: only this method's registered config type is ever built, and only
        through ``make_config``'s checks; an envelope of another type or version is refused."""
        env = envelope(data)
        tag, version = self.config_type.tag(), self.config_type.config_version
        if env.type is not None and (env.type, env.version) != (tag, version):
            raise ConfigError(
                f"method {self.name!r} takes {tag} version {version} configs, got {env.type} version {env.version}"
            )
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in env.fields.items()}  # JSON lists
        try:
            return self.make_config(values)
        except SpecError as exc:
            raise ConfigError(str(exc)) from None


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return dataclasses.MISSING


def _expected_kind(default: Any, value: Any) -> str:
    """What ``value`` should be, judged by the option's default ("" when it fits or there is no
    telling): a typo'd type fails here, with a sentence, instead of deep inside a method."""
    if isinstance(default, bool):
        return "" if isinstance(value, bool) else "true or false"
    if isinstance(default, numbers.Integral):
        return "" if isinstance(value, numbers.Integral) and not isinstance(value, bool) else "an integer"
    if isinstance(default, numbers.Real):
        return "" if isinstance(value, numbers.Real) and not isinstance(value, bool) else "a number"
    if isinstance(default, str):
        return "" if isinstance(value, str) else "a string"
    if isinstance(default, (tuple, list)):
        return "" if isinstance(value, (tuple, list)) else "a list"
    return ""


# The current session's registries (``registries.py``); built-in names come from the torch-free
# tables in ``pytest_compress.zoo`` / ``.methods``; ``accuracy`` is the one built-in metric.
MODELS: Current[Callable[[], ModelSpec]] = Current("models")
METHODS: Current[Method] = Current("methods")
METRICS: Current[Metric] = Current("metrics")  # metrics a ModelSpec may name


def register_model(
    name: str, *, override: bool = False
) -> Callable[[Callable[[], ModelSpec]], Callable[[], ModelSpec]]:
    """Register a function returning a :class:`ModelSpec`; it is called lazily, once per process.

    A name already registered (a built-in, or by another module) is an error naming both;
    ``override=True`` replaces it on purpose, whichever of the two is imported first.

    Example (conftest.py)::

        @pytest_compress.register_model("my-mlp")
        def my_mlp():
            import torch
            x, y = torch.randn(512, 20), torch.randint(0, 3, (512,))
            return pytest_compress.ModelSpec(
                build=lambda: torch.nn.Sequential(torch.nn.Linear(20, 64), torch.nn.ReLU(), torch.nn.Linear(64, 3)),
                train=my_train_loop, train_data=(x[:400], y[:400]),
                eval_data=(x[400:], y[400:]), example_inputs=(x[:1],),
            )
    """
    return decorator(MODELS, name, lambda fn: fn, override=override)


def register_method(
    name: str, config: type[MethodConfig] = NoConfig, *, override: bool = False
) -> Callable[[ApplyFn], ApplyFn]:
    """Register ``apply(model, config, ctx) -> nn.Module | Artifact`` under ``name``.

    ``model`` is a private deep copy of the trained reference; return the compressed module
    (shipped as ``torch.save(state_dict)``) or an :class:`Artifact` with your own payload.
    A name already registered (a built-in such as ``fp16``, or by another module) is an error
    naming both; ``override=True`` replaces it on purpose, whichever is imported first.
    """
    if not (isinstance(config, type) and issubclass(config, MethodConfig)):
        raise TypeError(f"register_method({name!r}): config must be a MethodConfig dataclass, got {config!r}")
    return decorator(METHODS, name, lambda fn: Method(name=name, config_type=config, apply=fn), override=override)


def register_metric(metric: Metric, *, override: bool = False) -> Metric:
    """Register ``metric`` under ``metric.name`` so a :class:`ModelSpec` can name it
    (``metric="top2"``, ``extra_metrics=("top2",)``); returns it. A name already registered (the
    built-in ``accuracy``, or by another module) is an error naming both, unless ``override=True``.

    Example (conftest.py, or a module named by a ``pytest_compress.metrics`` entry point)::

        def _top2(outputs, targets):
            return (outputs.topk(2, dim=-1).indices == targets[:, None]).any(dim=-1).float()

        TOP2 = pytest_compress.register_metric(
            pytest_compress.Metric(name="top2", unit="fraction", higher_is_better=True, score=_top2)
        )
    """
    if not isinstance(metric, Metric):
        raise TypeError(f"register_metric: expected a pytest_compress.Metric, got {type(metric).__name__}")
    METRICS.add(metric.name, metric, summary=metric.definition, override=override)
    return metric
