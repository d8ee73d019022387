"""A scikit-learn estimator over the conntra trainers.

``ConntraClassifier(hidden=8).fit(X, y).predict(X)`` trains a ternary network
with one of conntra's trainers. The class derives from scikit-learn's
``ClassifierMixin`` and ``BaseEstimator``, so it works with ``clone``,
``Pipeline``, ``cross_val_score``, ``GridSearchCV`` and ``is_classifier``, and
the test suite runs scikit-learn's estimator checks on it.

scikit-learn is an optional dependency (``pip install 'conntra[sklearn]'``):
``import conntra`` never needs it; importing this module without it raises
:class:`conntra.errors.MissingDependencyError` (an ``ImportError``).

Errors: invalid parameters, data and labels raise conntra's ``InputError``,
``ShapeError``, ``DTypeError`` or ``LabelError``. Where scikit-learn's own
validation finds the problem its message is kept (scikit-learn's checks match
on it) and only the class becomes conntra's, which still derives from the
``ValueError`` or ``TypeError`` scikit-learn raises. Calling a method that
needs a fitted model before ``fit`` raises :class:`NotFittedError`, which is
both a ``ConntraError`` and scikit-learn's ``NotFittedError``.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

from conntra.contract import MAX_LAYERS, MAX_WIDTH
from conntra.datasets import Dataset
from conntra.errors import (
    ConntraError,
    DTypeError,
    InputError,
    LabelError,
    MissingDependencyError,
)
from conntra.model import FloatModel, TernaryModel
from conntra.train import api
from conntra.train.coordinate import ConntraConfig
from conntra.train.surrogate import best_temperature

try:
    # validate_data is new in scikit-learn 1.6, the oldest release the extra allows
    from sklearn.base import BaseEstimator, ClassifierMixin  # type: ignore[import-untyped]
    from sklearn.exceptions import (  # type: ignore[import-untyped]
        NotFittedError as _SklearnNotFittedError,
    )
    from sklearn.utils.multiclass import (  # type: ignore[import-untyped]
        check_classification_targets,
    )
    from sklearn.utils.validation import (  # type: ignore[import-untyped]
        check_is_fitted,
        check_random_state,
        validate_data,
    )
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise MissingDependencyError(
        "conntra.estimator needs scikit-learn >= 1.6; install it with "
        "pip install 'conntra[sklearn]'"
    ) from exc

__all__ = ["ConntraClassifier", "NotFittedError"]

INPUT_KINDS = ("tabular", "image")
INITS = ("hybrid", "random")
SEED_BOUND = 2**31 - 1  # seeds drawn from a RandomState or Generator lie in 0 .. SEED_BOUND - 1


class NotFittedError(ConntraError, _SklearnNotFittedError):
    """A ConntraClassifier method needs a fitted model; call ``fit`` first.

    Both a :class:`conntra.ConntraError` and scikit-learn's ``NotFittedError``
    (hence also ``ValueError`` and ``AttributeError``), so either family of
    ``except`` clauses catches it.
    """


@contextmanager
def _conntra_errors(
    value_error: type[InputError] = InputError, type_error: type[ConntraError] = DTypeError
) -> Iterator[None]:
    """Re-raise scikit-learn's validation errors as conntra's, message unchanged."""
    try:
        yield
    except ConntraError:
        raise
    except TypeError as exc:
        raise type_error(str(exc)) from exc
    except ValueError as exc:
        raise value_error(str(exc)) from exc


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)


def _hidden_sizes(hidden: object) -> list[int]:
    """``hidden`` as a list of widths: an int is one hidden layer, () none."""
    if _is_int(hidden):
        sizes = [hidden]
    elif isinstance(hidden, Sequence | np.ndarray) and not isinstance(hidden, str | bytes):
        sizes = list(hidden)
    else:
        raise InputError(
            f"hidden must be an int or a sequence of ints (one width per hidden "
            f"layer), got {hidden!r}"
        )
    if not all(_is_int(h) for h in sizes):
        raise InputError(f"hidden layer widths must be ints, got {hidden!r}")
    widths = [int(h) for h in sizes]  # type: ignore[call-overload]
    if any(not 1 <= h <= MAX_WIDTH for h in widths):
        raise InputError(f"hidden layer widths must be 1..{MAX_WIDTH} (2^20), got {widths}")
    if len(widths) + 1 > MAX_LAYERS:
        raise InputError(f"at most {MAX_LAYERS - 1} hidden layers, got {len(widths)}")
    return widths


def _softmax(z: NDArray[np.float64]) -> NDArray[np.float64]:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: NDArray[np.float64] = e / e.sum(axis=1, keepdims=True)
    return out


class ConntraClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Ternary (or float baseline) classifier trained by one of conntra's trainers.

    Parameters (stored unchanged by the constructor and validated by ``fit``,
    as scikit-learn expects):

    hidden : int or sequence of int, default (8,)
        Width of each hidden layer, 1 .. 2^20; an int means one hidden layer,
        ``()`` none (a single ternary layer from inputs to logits).
    trainer : {"conntra", "qat", "backprop", "torch"}, default "conntra"
        "conntra" is coordinate descent on the ternary network; "qat" trains a
        ternary network by quantization-aware backpropagation; "backprop" and
        "torch" give float32 baselines (decision values are then float32).
    epochs : int, default 30
        Maximum training epochs (>= 1); the conntra trainer stops earlier after
        ``patience`` epochs without a better validation error.
    random_state : int >= 0, numpy RandomState or Generator, or None, default 0
        Seeds the split, the initialisation and the batch order: the same int
        gives the same model, byte for byte. None draws a seed from numpy's
        global random state (not reproducible).
    input_kind : {"tabular", "image"}, default "tabular"
        "tabular": any numeric X (bool too), quantized by an affine map fitted
        on the training X. "image": pixel values 0..255 (not bool), shifted.
    val_fraction : float in [0, 1), default 0.1
        Stratified part of the training data held out to pick the best epoch.
    batch, budget, rounds, init, exhaustive, patience
        The conntra trainer's settings (see ``ConntraConfig`` and
        docs/trainer.md): samples per batch (>= 1), exact checks per round
        (>= 0), rounds per batch (>= 1), "hybrid" or "random" initialisation,
        check every parameter (True/False, None: for small networks), epochs
        without improvement before stopping (>= 1).
    act_bits : int or sequence of int, default 7
        Activation bits of the hidden layers (docs/format.md): 1, 2, 4 or 7 for
        every hidden layer, or one value per hidden layer; a hidden layer
        requantizes to 0 .. 2^act_bits - 1. "conntra" and "qat" train for them;
        the float trainers ignore them.

    Attributes after ``fit``: ``model_`` (TernaryModel, or FloatModel for the
    float trainers), ``classes_`` (sorted labels; any type numpy can sort),
    ``n_features_in_``, ``feature_names_in_`` (for DataFrames with string
    column names), ``history_`` (per-epoch errors), ``temperature_``.

    ``decision_function(X)`` is the model's logits: int32 of shape
    (n, n_classes), and for two classes scikit-learn's shape (n,), the
    difference ``logit[1] - logit[0]`` (positive means ``classes_[1]``).
    ``predict_proba(X)`` is ``softmax(logits / temperature_)``: the conntra
    trainer's temperature at the epoch whose model was kept; for "qat" the
    temperature with the lowest cross-entropy on the training set, picked by
    the same search; 1.0 for the float trainers. On separable training data
    the trainer drives the temperature down, so probabilities tend to 0 or 1.
    ``predict(X)`` is ``classes_[argmax(logits)]``; a tie goes to the first
    class, as a binary decision value of 0 does in scikit-learn.
    """

    def __init__(
        self,
        hidden: int | Sequence[int] = (8,),
        trainer: str = "conntra",
        epochs: int = 30,
        random_state: Any = 0,
        input_kind: str = "tabular",
        val_fraction: float = 0.1,
        batch: int = 8192,
        budget: int = 8192,
        rounds: int = 4,
        init: str = "hybrid",
        exhaustive: bool | None = None,
        patience: int = 5,
        act_bits: int | Sequence[int] = 7,
    ) -> None:
        self.hidden = hidden
        self.trainer = trainer
        self.epochs = epochs
        self.random_state = random_state
        self.input_kind = input_kind
        self.val_fraction = val_fraction
        self.batch = batch
        self.budget = budget
        self.rounds = rounds
        self.init = init
        self.exhaustive = exhaustive
        self.patience = patience
        self.act_bits = act_bits

    # -- scikit-learn plumbing ------------------------------------------------
    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        # image inputs are pixels 0..255; the tag tells the checks to send such data
        tags.input_tags.positive_only = self.input_kind == "image"
        return tags

    def __getstate__(self) -> dict[str, Any]:
        state: dict[str, Any] = super().__getstate__()
        model = state.get("model_")
        if isinstance(model, TernaryModel) and getattr(model, "_native", None) is not None:
            # the C engine behind a TernaryModel holds cffi pointers, which do not
            # pickle; a shallow copy without it rebuilds the engine on first use
            state["model_"] = TernaryModel(model.layers, model.input_quant, dict(model.metadata))
        return state

    # -- parameters -------------------------------------------------------------
    def _seed(self) -> int:
        rs = self.random_state
        if _is_int(rs):
            if not 0 <= rs < 2**63:
                raise InputError(f"random_state must be a non-negative int, got {rs}")
            return int(rs)
        if isinstance(rs, np.random.Generator):
            return int(rs.integers(SEED_BOUND))
        if rs is None or isinstance(rs, np.random.RandomState):
            return int(check_random_state(rs).randint(SEED_BOUND))
        raise InputError(
            f"random_state must be an int >= 0, a numpy RandomState or "
            f"Generator, or None; got {rs!r}"
        )

    def _validated(self) -> tuple[list[int], ConntraConfig, list[int]]:
        """Check every parameter (at fit time, the scikit-learn convention)."""
        hidden = _hidden_sizes(self.hidden)
        act_bits = api.check_act_bits(self.act_bits, len(hidden), name="act_bits")
        if self.trainer not in api.TRAINERS:
            raise InputError(
                f"trainer must be one of {', '.join(api.TRAINERS)}; got {self.trainer!r}"
            )
        if not _is_int(self.epochs) or self.epochs < 1:
            raise InputError(f"epochs must be an int >= 1, got {self.epochs!r}")
        if self.input_kind not in INPUT_KINDS:
            raise InputError(f"input_kind must be 'tabular' or 'image', got {self.input_kind!r}")
        if not isinstance(self.val_fraction, numbers.Real) or not 0.0 <= self.val_fraction < 1.0:
            raise InputError(f"val_fraction must be a number in [0, 1), got {self.val_fraction!r}")
        for name, low in (("batch", 1), ("budget", 0), ("rounds", 1), ("patience", 1)):
            value = getattr(self, name)
            if not _is_int(value) or value < low:
                raise InputError(f"{name} must be an int >= {low}, got {value!r}")
        if self.init not in INITS:
            raise InputError(f"init must be 'hybrid' or 'random', got {self.init!r}")
        if self.exhaustive not in (None, True, False):
            raise InputError(f"exhaustive must be None, True or False, got {self.exhaustive!r}")
        cfg = ConntraConfig(
            batch=int(self.batch),
            budget=int(self.budget),
            rounds=int(self.rounds),
            init=self.init,
            exhaustive=self.exhaustive,
            patience=int(self.patience),
        )
        return hidden, cfg, act_bits

    # -- data ---------------------------------------------------------------------
    @staticmethod
    def _x_dtype(image: bool) -> Any:
        """The dtype fit and the prediction methods both ask validate_data for,
        so that both accept the same inputs (bool X: tabular yes, image no)."""
        return "numeric" if image else np.float64

    @staticmethod
    def _check_pixels_dtype(X: NDArray[Any], image: bool) -> None:
        if image and X.dtype.kind not in "iuf":
            raise DTypeError(f"image inputs must be pixel values 0..255, got dtype {X.dtype}")

    # -- learning -----------------------------------------------------------------
    def fit(self, X: ArrayLike, y: ArrayLike) -> Self:
        """Train a model on X (n, d) and labels y (n,) of any sortable type."""
        hidden, cfg, act_bits = self._validated()
        seed = self._seed()
        image = self.input_kind == "image"
        with _conntra_errors():
            Xv, yv = validate_data(self, X, y, dtype=self._x_dtype(image))
        x_arr, y_arr = np.asarray(Xv), np.asarray(yv)
        self._check_pixels_dtype(x_arr, image)
        # labels that do not sort together (strings and None) raise TypeError here
        with _conntra_errors(LabelError, LabelError):
            check_classification_targets(y_arr)
            classes, y_idx = np.unique(y_arr, return_inverse=True)
        if len(classes) < 2:
            raise LabelError(
                f"a classifier needs at least two classes; y has "
                f"{len(classes)} class ({classes[0]!r})"
            )
        y_idx = y_idx.reshape(-1)
        data = Dataset(
            "user", x_arr, y_idx, x_arr[:0], y_idx[:0], len(classes), None, self.input_kind
        )
        result = api.train(
            data,
            hidden,
            self.trainer,
            epochs=int(self.epochs),
            seed=seed,
            config=cfg,
            val_fraction=float(self.val_fraction),
            act_bits=act_bits,
        )
        model = result.model
        assert isinstance(model, TernaryModel | FloatModel)
        self.classes_: NDArray[Any] = classes
        self.model_: TernaryModel | FloatModel = model
        self.history_: list[dict[str, Any]] = result.history
        self.temperature_: float = self._temperature(model, result.history, x_arr, y_idx)
        return self

    @staticmethod
    def _temperature(
        model: TernaryModel | FloatModel,
        history: list[dict[str, Any]],
        X: NDArray[Any],
        y_idx: NDArray[Any],
    ) -> float:
        if isinstance(model, FloatModel):
            return 1.0  # float logits of a network trained with softmax at temperature 1
        if history and "temperature" in history[-1]:
            # the conntra trainer's own record of the epoch whose model it kept
            kept = history[-1]["best_epoch"]
            return float(next(h["temperature"] for h in history if h["epoch"] == kept))
        # no trainer temperature (qat): the trainer's own search, on the training set
        logits = model.logits(X).T
        temp = max(1.0, float(logits.std()))
        for _ in range(64):
            new = best_temperature(logits, y_idx, temp)
            if new == temp:
                break
            temp = new
        return float(temp)

    def _check_fitted(self) -> None:
        try:
            check_is_fitted(self, "model_")
        except _SklearnNotFittedError as exc:
            raise NotFittedError(str(exc)) from None

    def _logits(self, X: ArrayLike) -> NDArray[Any]:
        self._check_fitted()
        image = self.model_.input_quant.kind == "shift"
        with _conntra_errors():
            arr = validate_data(self, X, reset=False, dtype=self._x_dtype(image))
        self._check_pixels_dtype(arr, image)
        logits: NDArray[Any] = self.model_.logits(arr)
        return logits

    def decision_function(self, X: ArrayLike) -> NDArray[Any]:
        """Logits: (n, n_classes), or (n,) = logit[1] - logit[0] for two classes."""
        logits = self._logits(X)
        if logits.shape[1] == 2:
            out: NDArray[Any] = logits[:, 1] - logits[:, 0]
            return out
        return logits

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Softmax of the logits at ``temperature_``, (n, n_classes), rows sum to 1."""
        return _softmax(self._logits(X).astype(np.float64) / self.temperature_)

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """The class in ``classes_`` with the largest logit."""
        index = np.argmax(self._logits(X), axis=1)  # checks fitted before classes_ is read
        out: NDArray[Any] = self.classes_[index]
        return out
