"""What a data scientist's notebook does outside mlgov, for the demo: fit LightGBM with pandas on the
first 80% of a table's history and log it with plain MLflow to the team's tracking server (here,
mlgov's own), leaving a `runs:/` URI for `mlgov register`. Nothing here goes through mlgov's jobs or
its MLflow adapter: it stands for the notebook."""

from __future__ import annotations

import contextlib
import io
import warnings

from lakehouse.mlflow_models import pointed_at
from pipelines.demo.data import DemoDataset

EXPERIMENT = "notebooks/{model}"
TRAINED_SHARE = 0.8  # mlgov holds out the latest 20% by time: the notebook leaves those rows alone


def fit_and_log_lightgbm(dataset: DemoDataset, *, tracking_uri: str) -> str:
    """Fit a LightGBM classifier on the dataset's history (text as pandas categories, as notebooks do)
    and log it with MLflow; the model's `runs:/` URI."""
    import lightgbm
    import mlflow
    from mlflow.models import infer_signature

    history = dataset.history.sort(dataset.timestamp)
    trained = history.head(int(history.height * TRAINED_SHARE))
    features = trained.select(dataset.features).to_pandas()
    text = [c for c in features.columns if features[c].dtype == object]
    as_categories = features.assign(**{c: features[c].astype("category") for c in text})
    classifier = lightgbm.LGBMClassifier(n_estimators=80, learning_rate=0.08, num_leaves=15, n_jobs=1, verbose=-1)
    classifier.fit(as_categories, trained[dataset.target].to_pandas())
    with pointed_at(tracking_uri), warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        mlflow.set_experiment(EXPERIMENT.format(model=dataset.model))
        with mlflow.start_run(run_name="lightgbm-notebook") as run:
            mlflow.log_params({"n_estimators": 80, "learning_rate": 0.08, "num_leaves": 15})
            signature = infer_signature(features, classifier.predict_proba(as_categories))
            mlflow.lightgbm.log_model(classifier, name="model", signature=signature)
    return f"runs:/{run.info.run_id}/model"
