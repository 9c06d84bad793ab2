"""Features (owner: data scientist): the model pipeline, built from the data contract.

Only stock scikit-learn parts, so the serialised model loads anywhere MLflow and scikit-learn are
installed, without Relay's code (the prediction service never imports training code).
"""

from __future__ import annotations

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

from pipelines.core.contract import Contract
from pipelines.core.params import TrainParams


# plug-in: features-and-model
def build_pipeline(params: TrainParams, contract: Contract) -> Pipeline:
    nominal = contract.categorical_features()
    ordinal = contract.ordinal_features()
    numeric = contract.numeric_features()
    sizes = [list(contract.column(c).allowed or ()) for c in ordinal]
    encode = ColumnTransformer(
        [
            # Unseen categories (a new brand) become missing values, which the booster handles natively.
            (
                "nominal",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan),
                nominal,
            ),
            # Sizes keep their order (XS < ... < XXL) so trees can compare ordered vs usual size.
            (
                "ordinal",
                OrdinalEncoder(categories=sizes, handle_unknown="use_encoded_value", unknown_value=np.nan),
                ordinal,
            ),
            ("numeric", "passthrough", numeric),
        ],
        verbose_feature_names_out=False,
    )
    model = HistGradientBoostingClassifier(
        learning_rate=params.learning_rate,
        max_iter=params.max_iter,
        max_leaf_nodes=params.max_leaf_nodes,
        min_samples_leaf=params.min_samples_leaf,
        l2_regularization=params.l2_regularization,
        categorical_features=list(range(len(nominal))),
        early_stopping=True,
        validation_fraction=0.1,
        random_state=params.seed,
    )
    return Pipeline([("encode", encode), ("model", model)])
