"""Features (owner: data scientist): the model pipeline, built from the data contract.

Only stock scikit-learn parts, so the serialised model loads anywhere MLflow and scikit-learn are
installed, without Relay's code (the prediction service never imports training code).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import ensemble, linear_model
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from pipelines.core.contract import Contract
from pipelines.core.params import LogisticRegression, RandomForest, TrainParams


# plug-in: features-and-model
def build_pipeline(params: TrainParams, contract: Contract) -> Pipeline:
    """The encoders and the estimator for `params.model`'s kind (`train.model.kind` in params.yaml) and the
    contract's task: a classifier for a binary or multiclass target, a regressor for a regression one."""
    nominal = contract.categorical_features()
    ordinal = contract.ordinal_features()
    numeric = contract.numeric_features()
    sizes = [list(contract.column(c).allowed or ()) for c in ordinal]
    # Unseen categories (a new brand) become missing values; levels keep their order (XS < ... < XXL).
    unknown = {"handle_unknown": "use_encoded_value", "unknown_value": np.nan}
    ordered = OrdinalEncoder(categories=sizes, **unknown)
    m = params.model
    regression = contract.task == "regression"
    if isinstance(m, LogisticRegression):
        if regression:
            raise ValueError(
                "train.model.kind logistic_regression is a classifier, and the contract's target is a regression "
                "target: choose hist_gradient_boosting or random_forest"
            )
        # A linear model wants one column per category and scaled numbers without gaps.
        encode = ColumnTransformer(
            [
                ("nominal", OneHotEncoder(handle_unknown="ignore"), nominal),
                ("ordinal", make_pipeline(ordered, SimpleImputer(), StandardScaler()), ordinal),
                ("numeric", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
            ],
            verbose_feature_names_out=False,
        )
        model: Any = linear_model.LogisticRegression(C=m.C, max_iter=m.max_iter)
        return Pipeline([("encode", encode), ("model", model)])
    encode = ColumnTransformer(
        [
            ("nominal", OrdinalEncoder(encoded_missing_value=np.nan, **unknown), nominal),
            ("ordinal", ordered, ordinal),
            ("numeric", "passthrough", numeric),
        ],
        verbose_feature_names_out=False,
    )
    if isinstance(m, RandomForest):
        # Trees split encoded categories like numbers; scikit-learn's forests handle missing values.
        forest = ensemble.RandomForestRegressor if regression else ensemble.RandomForestClassifier
        model = forest(
            n_estimators=m.n_estimators,
            max_depth=m.max_depth,
            min_samples_leaf=m.min_samples_leaf,
            random_state=params.seed,
        )
    else:
        boosting = ensemble.HistGradientBoostingRegressor if regression else ensemble.HistGradientBoostingClassifier
        model = boosting(
            learning_rate=m.learning_rate,
            max_iter=m.max_iter,
            max_leaf_nodes=m.max_leaf_nodes,
            min_samples_leaf=m.min_samples_leaf,
            l2_regularization=m.l2_regularization,
            categorical_features=list(range(len(nominal))),
            early_stopping=True,
            validation_fraction=0.1,
            random_state=params.seed,
        )
    return Pipeline([("encode", encode), ("model", model)])
