"""scikit-learn's full estimator checks, with nothing excused.

No ``expected_failed_checks``, no ``poor_score``/``non_deterministic`` tags, and no
skipped check: pandas is installed (test extra) and SCIPY_ARRAY_API=1 is set by
the root conftest.py so that ``check_array_api_input`` runs.
"""

import warnings

from oracles import CLIPPED_BATCH_SIZE, CONVERGENCE, ignoring
from sklearn.exceptions import SkipTestWarning
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import check_estimator, parametrize_with_checks

from sktinycnn import TinyConvClassifier, TinyConvRegressor

CONFIGURATIONS = [
    TinyConvRegressor(),
    # The unpooled network: several filters, "same" padding and a 3x3 kernel.
    TinyConvRegressor(n_filters=3, kernel_size=3, padding="same", pooling=None),
    # The tutorial's kind of network: no biases.
    TinyConvRegressor(fit_intercept=False),
    # SGD with Nesterov momentum (the default momentum).
    TinyConvRegressor(solver="sgd", learning_rate=1.0),
    # SGD with classical momentum and the adaptive schedule.
    TinyConvRegressor(
        solver="sgd",
        learning_rate=1.0,
        nesterovs_momentum=False,
        learning_rate_schedule="adaptive",
    ),
    # SGD with the invscaling schedule (counts weighted samples).
    TinyConvRegressor(
        solver="sgd",
        learning_rate=2.0,
        learning_rate_schedule="invscaling",
        power_t=0.1,
    ),
    # Unpooled, a non-square kernel, two filters, explicit mini-batches of 32.
    TinyConvRegressor(n_filters=2, kernel_size=(1, 3), batch_size=32, pooling=None),
    # Two blocks, "same" padding: 2x2 max pooling, then a global max per map.
    TinyConvRegressor(
        n_filters=(4, 6), kernel_size=3, padding="same", pool_size=[2, "global"]
    ),
    # Two blocks, per-block kernels: the first unpooled, the second averaged.
    TinyConvRegressor(n_filters=(3, 4), kernel_size=[3, 2], pooling=[None, "avg"]),
    # Two relu blocks (unbounded maps after the first block).
    TinyConvRegressor(
        n_filters=(4, 6), kernel_size=3, padding="same", pool_size=[2, "global"],
        activation="relu",
    ),
]


CLASSIFIER_CONFIGURATIONS = [
    # Defaults: 16 5x5 "same" filters, 4x4 max pooling, Adam.
    TinyConvClassifier(),
    # The previous architecture: 3x3 "valid" filters, 2x2 pooling.
    TinyConvClassifier(kernel_size=3, padding="valid", pool_size=2,
                       learning_rate=0.02),
    # SGD with Nesterov momentum.
    TinyConvClassifier(solver="sgd", learning_rate=0.1),
    # Early stopping on the validation accuracy of a stratified split, ties
    # broken by the validation log-loss, at every other default. The checks'
    # smallest data (10 rows of 2 classes, 20 of 3) needs a fifth held out for
    # as many rows as classes, as MLPClassifier does.
    TinyConvClassifier(early_stopping=True, validation_fraction=0.2),
    # Balanced class weights (multiplied into sample_weight).
    TinyConvClassifier(class_weight="balanced"),
    # Global average pooling; and the tutorial's unpooled network.
    TinyConvClassifier(pooling="avg", pool_size="global"),
    TinyConvClassifier(pooling=None, n_filters=4),
    # No biases. (Without biases and pooling the network is an odd function of
    # its input, which cannot put check_class_weight_classifiers' blobs on both
    # sides of the origin in one class; a max pool is not odd.)
    TinyConvClassifier(
        fit_intercept=False, padding="same", pooling="max", pool_size="global"
    ),
    # Two blocks, "same" padding, 2x2 max pooling in both.
    TinyConvClassifier(n_filters=(4, 6), padding="same"),
    # Two blocks: the first unpooled, the second a global average per map.
    TinyConvClassifier(n_filters=(4, 6), pooling=[None, "avg"], pool_size="global"),
    # No relu classifier: with "relu" or "identity" blocks, at any depth, the
    # checks' unscaled multilabel data drive some logits past ~37, where
    # predict_proba rounds to exactly 1.0 in float64 while decision_function
    # still orders them; check_classifier_multioutput compares their ranks
    # and, fitting with random_state=None, fails for 15-40 % of the states
    # (measured over 30; none with tanh or logistic, none at learning_rate
    # 0.005). An open question of issue 22, not excused here.
]


def test_no_check_is_excused():
    for estimator in CONFIGURATIONS:
        tags = get_tags(estimator)
        assert not tags.regressor_tags.poor_score
        assert not tags.non_deterministic
        assert tags.target_tags.multi_output
    for estimator in CLASSIFIER_CONFIGURATIONS:
        tags = get_tags(estimator)
        assert not tags.classifier_tags.poor_score
        assert not tags.non_deterministic
        assert tags.target_tags.multi_output and tags.classifier_tags.multi_label


@parametrize_with_checks(CONFIGURATIONS + CLASSIFIER_CONFIGURATIONS)
def test_sklearn_compatible_estimator(estimator, check):
    # A check that raises SkipTest would only warn (SkipTestWarning); turning
    # that warning into an error makes any skipped check fail this test.
    # ConvergenceWarning is the one warning let through: the checks fit random
    # noise with the default max_iter, where stopping unconverged (and saying
    # so, as MLPRegressor does) is the documented behaviour, not a failure.
    allowed = CONVERGENCE
    if estimator.batch_size != "auto":
        # An explicit batch_size above the few rows of a check's data is
        # clipped with MLPRegressor's warning, by design (tested in
        # test_training.py); only that message is let through.
        allowed = (*CONVERGENCE, CLIPPED_BATCH_SIZE)
    with warnings.catch_warnings(), ignoring(allowed):
        warnings.simplefilter("error", SkipTestWarning)
        check(estimator)


def test_key_checks_are_collected():
    """The checks this estimator is most at risk with are really run."""
    with ignoring(CONVERGENCE):
        results = check_estimator(TinyConvRegressor(), on_fail=None)
    names = {result["check_name"] for result in results}
    assert all(result["status"] == "passed" for result in results)
    for name in (
        "check_array_api_input",
        "check_sample_weight_equivalence_on_dense_data",
        "check_regressors_train",
        "check_regressor_multioutput",
        "check_fit2d_1feature",
        "check_readonly_memmap_input",
    ):
        assert name in names


def test_key_classifier_checks_are_collected():
    with ignoring(CONVERGENCE):
        results = check_estimator(TinyConvClassifier(), on_fail=None)
    names = {result["check_name"] for result in results}
    assert all(result["status"] == "passed" for result in results)
    for name in (
        "check_classifiers_train",
        "check_classifiers_one_label",
        "check_classifiers_classes",
        "check_supervised_y_2d",
        "check_classifier_data_not_an_array",
        "check_sample_weight_equivalence_on_dense_data",
        "check_classifiers_regression_target",
        "check_decision_proba_consistency",
        "check_fit_idempotent",
        "check_n_features_in_after_fitting",
        "check_classifier_multioutput",
        "check_class_weight_classifiers",
    ):
        assert name in names
