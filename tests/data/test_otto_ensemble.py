"""`dlp lesson otto_ensemble`: an ensemble whose members differ in shape (`model.args.members` as a list of
tables), trained by the one loop, rebuilt from its run folder alone and evaluated to the same log-loss; and
its inputs' tf-idf row profile (`data.options.tfidf`)."""
import tomllib

import numpy as np
import pytest
import torch

import dlpractice.data.kaggle as kaggle
from dlpractice.cli import main
from dlpractice.config import DataConfig, load_config
from dlpractice.data import load_dataset
from dlpractice.data.table import floats
from dlpractice.errors import UserError
from dlpractice.lessons import lesson_path
from dlpractice.models.calibration import tempered
from dlpractice.runs.folder import load_run
from dlpractice.train.loop import train

from conftest import require_data


def test_otto_ensemble_of_two_shapes_quick(tmp_path, capsys):
    """The lesson's recipe with its quick settings (two members of different depth), trained by the loop
    (the report's 144,368-row submission is tested with `dlp lesson otto`)."""
    require_data(lambda: kaggle.competition_dir("otto"))
    path = lesson_path("otto_ensemble")
    quick = tomllib.loads(path.read_text())["lesson"]["quick"]
    run = train(load_config(path, [*quick, "train.threads=1", "log.progress=false"]), out=tmp_path / "ens")
    model = load_run(run.folder).model()
    depths = [sum(isinstance(x, torch.nn.Linear) for x in m) for m in tempered(model).model.members]
    assert len(depths) == 2 and depths[0] != depths[1], depths
    loss = run.summary["metrics"]["loss"]
    assert run.summary["chosen_on"] == "loss_calibrated" and loss < 1.2     # train.calibrate = temperature
    assert float(tempered(model).temperature) == pytest.approx(run.summary["calibration"]["temperature"], abs=1e-4)
    capsys.readouterr()
    assert main(["evaluate", str(run.folder)]) == 0       # rebuilt from the run folder alone
    assert f"loss {loss:.4f}" in capsys.readouterr().out


def test_tfidf_profile_equals_scikit_learns():
    """data.options.tfidf: 93 more features per row, scikit-learn's TfidfTransformer (smoothed idf of the
    training rows, unit length per row) before the tabular kind's standardization; bad values refused."""
    from sklearn.feature_extraction.text import TfidfTransformer
    require_data(lambda: kaggle.competition_dir("otto"))
    raw = kaggle._read_cached(kaggle.competition_file("otto", "train"))
    train, other = raw.take(np.arange(0, 3000)), raw.take(np.arange(3000, 3400))
    state = kaggle.otto_fit(train, "log1p", tfidf=True)
    ours = kaggle.otto_transform(other, state)
    names = [f"tfidf(feat_{i})" for i in range(1, 94)]
    got = np.stack([ours.data[n] for n in names], 1)
    counts = lambda t: np.stack([floats(t, f"feat_{i}") for i in range(1, 94)], 1)
    want = TfidfTransformer().fit(counts(train)).transform(counts(other)).toarray()
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.data["log1p(feat_1)"], np.log1p(counts(other)[:, 0]))
    b = load_dataset(DataConfig(dataset="otto", options={"tfidf": True}))
    assert b.meta["in_features"] == 186 and b.meta["features"][93] == "tfidf(feat_1)"
    with pytest.raises(UserError, match="tfidf must be true or false"):
        load_dataset(DataConfig(dataset="otto", options={"tfidf": "yes"}))
