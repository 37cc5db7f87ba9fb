"""The fit step sees only the train and validation windows: the test window's labels
cannot change the model, its calibration or the baselines."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from leadml import schema
from leadml.data.synth import generate_funnel
from leadml.features.build import build_features
from leadml.features.spec import learn_spec
from leadml.model.fit import Fitted, fit_models
from leadml.model.labels import cutoffs, data_end, make_labels
from leadml.model.train import time_split
from tests.conftest import fast_config


def test_test_labels_cannot_change_the_fit(tmp_path: Path) -> None:
    funnel = generate_funnel(2500, seed=5)
    config = fast_config(tmp_path, max_rounds=60)
    leads, events = funnel.leads, funnel.events
    labels = make_labels(
        leads,
        cutoffs(leads, config.labels),
        window_days=config.labels.window_days,
        data_end=data_end(leads, events),
    )
    y = labels.frame["label"]
    rows = leads[leads[schema.LEAD_ID].isin(y.index)]
    raw = build_features(rows, events, labels.frame["cutoff"], config.features).loc[y.index]
    split = time_split(labels.frame["cutoff"], train_fraction=0.7, valid_fraction=0.15)
    spec = learn_spec(raw.loc[split.train], config.features)
    steps: list[str] = []

    def fit(labels_: np.ndarray) -> Fitted:
        return fit_models(
            raw,
            y.copy(deep=True).where(~y.index.isin(split.test), labels_),
            split,
            spec,
            config.train,
            step=steps.append,
            on_round=None,
        )

    test_labels = y.to_numpy()
    honest, flipped = fit(test_labels), fit(1 - test_labels)
    assert flipped.booster.model_to_string() == honest.booster.model_to_string()
    assert flipped.calibrator.to_dict() == honest.calibrator.to_dict()
    np.testing.assert_array_equal(flipped.p_valid, honest.p_valid)
    test_raw = raw.loc[split.test]
    for name in ("points", "logistic"):
        np.testing.assert_array_equal(
            getattr(flipped, name).predict_proba(test_raw),
            getattr(honest, name).predict_proba(test_raw),
        )
    assert steps[:3] == ["model", "calibration", "baselines"]
