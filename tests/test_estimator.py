"""ConntraClassifier as a scikit-learn estimator: the library's own checks,
meta-estimators, labels, parameters, probabilities and determinism.

Every fit here is a tiny network on a few hundred rows (well under a second)."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone, is_classifier  # noqa: E402
from sklearn.exceptions import NotFittedError as SklearnNotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from conntra import datasets  # noqa: E402
from conntra.errors import ConntraError, DTypeError, InputError, LabelError  # noqa: E402
from conntra.estimator import ConntraClassifier, NotFittedError  # noqa: E402
from conntra.modelfile import to_bytes  # noqa: E402
from conntra.train.surrogate import best_temperature  # noqa: E402

# small enough that each of scikit-learn's checks fits in a fraction of a second
FAST = dict(hidden=4, epochs=5)

# Checks expected to fail, with the reason; passed to parametrize_with_checks.
# Empty: every check of the installed scikit-learn passes. A new scikit-learn
# check that cannot pass goes here with its reason (xfail, not silently skipped).
EXPECTED_FAILED_CHECKS: dict[str, str] = {}


@pytest.fixture(scope="module")
def iris():
    d = datasets.load("iris")
    return np.concatenate([d.x_train, d.x_test]), np.concatenate([d.y_train, d.y_test])


@parametrize_with_checks(
    [ConntraClassifier(**FAST)], expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS
)
def test_sklearn_estimator_checks(estimator, check, monkeypatch):
    # scikit-learn runs its array-API check (dispatch on, NumPy inputs, same
    # results) only with SCIPY_ARRAY_API set; it reads the variable per check
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    check(estimator)


def test_is_a_classifier_with_tags():
    clf = ConntraClassifier()
    assert is_classifier(clf)
    tags = clf.__sklearn_tags__()
    assert tags.estimator_type == "classifier" and tags.classifier_tags.multi_class
    assert not tags.input_tags.positive_only
    assert ConntraClassifier(input_kind="image").__sklearn_tags__().input_tags.positive_only


def test_pipeline_cross_val_score_and_grid_search(iris):
    X, y = iris
    scores = cross_val_score(ConntraClassifier(**FAST), X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.8  # zeros if not seen as a classifier
    pipe = make_pipeline(StandardScaler(), ConntraClassifier(**FAST))
    assert cross_val_score(pipe, X, y, cv=3).min() > 0.8
    grid = GridSearchCV(ConntraClassifier(epochs=5), {"hidden": [2, 4]}, cv=3).fit(X, y)
    assert grid.best_params_["hidden"] in (2, 4) and grid.best_score_ > 0.8
    assert grid.best_estimator_.predict(X[:5]).shape == (5,)


def test_get_set_params_and_clone():
    clf = ConntraClassifier(hidden=(8, 4), random_state=3)
    params = clf.get_params()
    assert params["hidden"] == (8, 4) and params["random_state"] == 3
    assert clf.set_params(epochs=2) is clf and clf.epochs == 2
    assert clone(clf).get_params() == clf.get_params()
    with pytest.raises(ValueError, match="Invalid parameter 'lr'"):
        clf.set_params(lr=0.1)


def test_string_and_noncontiguous_labels(iris):
    X, y = iris
    for labels in (np.array(["setosa", "versicolor", "virginica"])[y], y * 10 - 7):
        clf = ConntraClassifier(**FAST).fit(X, labels)
        assert list(clf.classes_) == sorted(set(labels))
        pred = clf.predict(X)
        assert pred.dtype == labels.dtype and np.mean(pred == labels) > 0.85
        assert clf.score(X, labels) == np.mean(pred == labels)


def test_decision_function_proba_predict_agree(iris):
    X, y = iris
    clf = ConntraClassifier(**FAST).fit(X, y)
    logits = clf.decision_function(X)
    assert logits.dtype == np.int32 and logits.shape == (len(X), 3)
    np.testing.assert_array_equal(logits, clf.model_.logits(X))
    proba = clf.predict_proba(X)
    z = logits / clf.temperature_
    expect = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(proba, expect / expect.sum(1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[np.argmax(logits, 1)])
    np.testing.assert_array_equal(np.argmax(proba, 1), np.argmax(logits, 1))
    # the trainer's temperature at one of its epochs, not a made-up constant
    assert clf.temperature_ in [h["temperature"] for h in clf.history_]


def test_binary_decision_function_is_one_column(iris):
    X, y = iris
    keep = y > 0
    labels = np.where(y[keep] == 1, "b", "c")
    clf = ConntraClassifier(**FAST).fit(X[keep], labels)
    d = clf.decision_function(X[keep])
    logits = clf.model_.logits(X[keep])
    assert d.shape == (keep.sum(),) and d.dtype == np.int32
    np.testing.assert_array_equal(d, logits[:, 1] - logits[:, 0])
    np.testing.assert_array_equal(clf.predict(X[keep]), clf.classes_[(d > 0).astype(int)])
    assert clf.predict_proba(X[keep]).shape == (keep.sum(), 2)


def test_qat_temperature_from_training_set(iris):
    X, y = iris
    clf = ConntraClassifier(hidden=4, epochs=3, trainer="qat").fit(X, y)
    # a fixed point of the trainer's own temperature search on the training set
    logits = clf.model_.logits(X).T
    assert best_temperature(logits, y, clf.temperature_) == clf.temperature_
    float_clf = ConntraClassifier(hidden=4, epochs=3, trainer="backprop").fit(X, y)
    assert float_clf.temperature_ == 1.0
    assert float_clf.decision_function(X).dtype == np.float32


def test_rejects_continuous_nan_and_single_class_labels(iris):
    X, y = iris
    clf = ConntraClassifier(**FAST)
    with pytest.raises(LabelError, match="Unknown label type"):
        clf.fit(X, y + 0.5)
    for bad in (y.astype(float), np.array(["a", "b", "c"], object)[y]):
        bad = bad.astype(object) if bad.dtype == object else bad.copy()
        bad[3] = np.nan
        with pytest.raises(InputError, match="NaN"):
            clf.fit(X, bad)
    with pytest.raises(LabelError, match="1 class"):
        clf.fit(X, np.zeros(len(X), int))
    labels = np.array(["a", "b", None], object)[y]
    with pytest.raises(LabelError):
        clf.fit(X, labels)


def test_not_fitted_error_is_both_conntra_and_sklearn(iris):
    X, _ = iris
    clf = ConntraClassifier()
    for method in (clf.predict, clf.predict_proba, clf.decision_function):
        with pytest.raises(NotFittedError, match="not fitted yet") as info:
            method(X)
        assert isinstance(info.value, ConntraError)
        assert isinstance(info.value, SklearnNotFittedError)


@pytest.mark.parametrize(
    "hidden,widths", [(8, [4, 8, 3]), ((5, 3), [4, 5, 3, 3]), ([6], [4, 6, 3]), ((), [4, 3])]
)
def test_hidden_forms(iris, hidden, widths):
    X, y = iris
    clf = ConntraClassifier(hidden=hidden, epochs=2).fit(X, y)
    assert clf.model_.sizes == widths
    assert clf.hidden == hidden  # stored unchanged


@pytest.mark.parametrize(
    "params,message",
    [
        ({"hidden": "abc"}, "hidden must be an int or a sequence"),
        ({"hidden": (4, "x")}, "widths must be ints"),
        ({"hidden": 0}, r"1\.\.1048576"),
        ({"hidden": (8, -1)}, r"1\.\.1048576"),
        ({"hidden": (10**7,)}, r"1\.\.1048576"),
        ({"hidden": 4.0}, "hidden must be an int"),
        ({"hidden": True}, "hidden must be an int"),
        ({"hidden": (1,) * 64}, "at most 63 hidden layers"),
        ({"trainer": "sgd"}, "trainer must be one of"),
        ({"epochs": 0}, "epochs must be an int >= 1"),
        ({"input_kind": "audio"}, "input_kind must be"),
        ({"val_fraction": 1.0}, r"val_fraction must be a number in \[0, 1\)"),
        ({"batch": 0}, "batch must be an int >= 1"),
        ({"budget": -1}, "budget must be an int >= 0"),
        ({"init": "zeros"}, "init must be"),
        ({"exhaustive": "yes"}, "exhaustive must be"),
        ({"random_state": -1}, "random_state must be a non-negative int"),
        ({"random_state": "seed"}, "random_state must be"),
    ],
)
def test_invalid_params_rejected_at_fit(iris, params, message):
    X, y = iris
    clf = ConntraClassifier(**params)  # the constructor only stores, as sklearn expects
    with pytest.raises(InputError, match=message):
        clf.fit(X, y)


def test_bool_inputs_consistent_between_fit_and_predict(iris):
    X, y = iris
    Xb = X > X.mean(0)
    clf = ConntraClassifier(**FAST).fit(Xb, y)  # tabular: bool is 0/1 in both
    assert clf.predict(Xb).shape == (len(X),)
    pixels = np.clip(X * 30, 0, 255).astype(np.uint8)
    img = ConntraClassifier(input_kind="image", **FAST).fit(pixels, y)
    assert img.predict(pixels).shape == (len(X),)
    for call in (
        lambda: ConntraClassifier(input_kind="image", **FAST).fit(Xb, y),
        lambda: img.predict(pixels > 50),
    ):
        with pytest.raises(DTypeError, match="pixel values"):
            call()


def test_validation_errors_are_conntra_errors(iris):
    X, y = iris
    clf = ConntraClassifier(**FAST)
    with pytest.raises(InputError, match="inconsistent numbers of samples"):
        clf.fit(X, y[:5])
    with pytest.raises(InputError, match="NaN"):
        clf.fit(np.where(X > 7, np.nan, X), y)
    clf.fit(X, y)
    with pytest.raises(InputError, match="X has 3 features"):
        clf.predict(X[:, :3])


def test_random_state_controls_the_model_bytes(iris):
    X, y = iris

    def fit(rs):
        return to_bytes(ConntraClassifier(hidden=6, epochs=4, random_state=rs).fit(X, y).model_)

    assert fit(3) == fit(3)
    assert fit(3) != fit(4)
    assert fit(np.random.RandomState(5)) == fit(np.random.RandomState(5))


def test_pickle_after_predict(iris):
    X, y = iris
    clf = ConntraClassifier(**FAST).fit(X, y)
    before = clf.decision_function(X)  # builds the C engine, which does not pickle
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.decision_function(X), before)


def test_import_without_sklearn_is_a_clear_error(tmp_path):
    code = (
        "import sys\n"
        "sys.modules['sklearn'] = None\n"  # makes `import sklearn` raise ImportError
        "import conntra, conntra.cli, conntra.train.api\n"
        "from conntra.errors import ConntraError, MissingDependencyError\n"
        "try:\n"
        "    import conntra.estimator\n"
        "except MissingDependencyError as e:\n"
        "    assert isinstance(e, ImportError) and isinstance(e, ConntraError)\n"
        "    print(e)\n"
    )
    # run outside the checkout: the installed package (with its C core) is the one tested
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert "pip install 'conntra[sklearn]'" in out.stdout


def test_estimator_types_check():
    pytest.importorskip("mypy", reason="mypy comes with the lint extra")
    # --follow-imports=silent: this module's annotations are judged, not its imports';
    # --cache-dir=/dev/null: no cache written into the checkout
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--follow-imports=silent",
            "--cache-dir=/dev/null",
            "-m",
            "conntra.estimator",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
