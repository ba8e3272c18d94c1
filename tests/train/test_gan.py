"""The GAN: score formulas, a short real DCGAN run that beats an untrained generator by a wide margin,
exact resume after Ctrl-C, the score's classifier trained once into the cache, and `dlp sample`."""

import numpy as np
import pytest
import torch

from dlpractice.errors import UserError
from dlpractice.track.gan_score import class_shares, frechet, gaussian, inception_score

from conftest import CtrlCAfterEpoch1, dlp, require_data

# A small scorer (1 epoch on 6,000 images, ≈ 0.80 accuracy) keeps the suite quick; its cache folder is
# keyed by the recipe, so it never stands in for the real one.
SCORER = '["train.epochs=1", "data.limit_train=6000"]'
BASE = ["data.dataset=fashion-mnist", "model.name=dcgan_g", "optim.name=adam", "optim.weight_decay=0.0",
        "optim.args={betas = [0.5, 0.999]}", f"gan.scorer_set={SCORER}", "train.threads=1",
        "log.progress=false", "log.loggers=['csv']"]
# ≈ 150 steps of batch 64 at a higher rate than DCGAN's 2e-4, enough to leave noise far behind.
SHORT = BASE + ["data.limit_train=3200", "data.batch_size=64", "optim.lr=0.001", "train.epochs=3",
                "gan.eval_samples=1000", "model.args={width = 16}", "gan.d_args={width = 16}"]
# Two tiny epochs for the resume test: exactness, not quality; no validation split (the last epoch is kept).
# The hinge loss and the refining layer here, so that their state resumes exactly too.
TINY = BASE + ["data.val_fraction=0.0", "data.limit_train=512", "data.batch_size=64", "train.epochs=2",
               "gan.eval_samples=200", "gan.grid=16", "model.args={width = 8, refine = 8}", "gan.d_args={width = 8}",
               "gan.loss=hinge"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A private user cache for the module: the score's classifier is trained there on first use."""
    from dlpractice.config import DataConfig
    from dlpractice.data import load_dataset
    require_data(lambda: load_dataset(DataConfig(dataset="fashion-mnist")))
    path = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DLP_CACHE_DIR", str(path))
        yield path


def _train(overrides, out):
    from dlpractice.config import load_config
    from dlpractice.train.loop import train
    return train(load_config(overrides=overrides), out=out)


@pytest.fixture(scope="module")
def short(cache, tmp_path_factory):
    """(trainer, run) of the short real GAN; the trainer keeps the fixed noise and the real statistics."""
    from dlpractice.config import load_config
    from dlpractice.train.adversarial import GanTrainer
    from dlpractice.runs.folder import make_run_dir
    cfg = load_config(overrides=SHORT)
    folder = tmp_path_factory.mktemp("gan") / "run"
    trainer = GanTrainer(cfg, folder)
    make_run_dir(folder, cfg)
    return trainer, trainer.fit()


@pytest.fixture(scope="module")
def short_run(short):
    return short[1]


# -- the formulas ----------------------------------------------------------------------------------
def test_frechet_matches_the_matrix_square_root_formula():
    from scipy.linalg import sqrtm
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(500, 6)), rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6)) + 0.5
    (ma, sa), (mb, sb) = gaussian(a), gaussian(b)
    want = ((ma - mb) ** 2).sum() + np.trace(sa + sb - 2 * sqrtm(sa @ sb).real)
    assert frechet((ma, sa), (mb, sb)) == pytest.approx(want, rel=1e-6)
    assert frechet((ma, sa), (ma, sa)) == pytest.approx(0.0, abs=1e-9)


def test_inception_score_bounds_and_class_shares():
    eye = np.eye(10)
    assert inception_score(np.repeat(eye, 3, axis=0)) == pytest.approx(10.0)   # confident, every class
    assert inception_score(np.tile(eye[:1], (30, 1))) == pytest.approx(1.0)   # one class only
    assert inception_score(np.full((30, 10), 0.1)) == pytest.approx(1.0)      # no confidence
    assert inception_score(np.repeat(eye[:5], 3, axis=0)) == pytest.approx(5.0)  # half the classes
    assert class_shares(np.repeat(eye[:5], [1, 1, 2, 0, 0], axis=0)).tolist() == [0.25, 0.25, 0.5, 0, 0, 0, 0, 0, 0, 0]


@pytest.mark.parametrize("name", ["bce", "hinge", "lsgan"])
def test_each_loss_rewards_the_right_player(name):
    """For every gan.loss, D's loss is lower when it tells real (high logits) from generated (low logits)
    than when it is fooled, and G's loss is lower when D rates its images as real."""
    from dlpractice.train.adversarial import GAN_LOSSES
    d_loss, g_loss = GAN_LOSSES[name]
    hi, lo = torch.full((8, 1), 3.0), torch.full((8, 1), -3.0)
    assert d_loss(hi, lo, 1.0) < d_loss(lo, hi, 1.0)
    assert g_loss(hi) < g_loss(lo)
    if name == "hinge":   # past the margin on both sides D has nothing left to learn
        assert d_loss(hi, lo, 1.0) == 0.0


def test_refine_layer_keeps_the_image_shape_and_old_checkpoints_load():
    from dlpractice.models import build_model
    plain, refined = build_model("dcgan_g", {"width": 8}), build_model("dcgan_g", {"width": 8, "refine": 8})
    z = torch.randn(4, plain.latent_dim)
    assert plain(z).shape == refined(z).shape == (4, 1, 28, 28)
    assert refined(z).abs().max() <= 1.0
    # without the option the layers keep their places, so checkpoints written before it load unchanged
    assert [k for k in plain.state_dict() if k.startswith("up.")][-2:] == ["up.3.weight", "up.3.bias"]
    assert "up.6.weight" in refined.state_dict()      # ConvT, BN, ReLU, then the 3×3 convolution


def test_deep_generator_and_spectral_norm_discriminator():
    from dlpractice.models import build_model
    plain, deep = build_model("dcgan_g", {"width": 8}), build_model("dcgan_g", {"width": 8, "deep": 2})
    z = torch.randn(4, plain.latent_dim)
    assert deep(z).shape == (4, 1, 28, 28)
    assert "mid.3.weight" in deep.state_dict()                 # two conv + BN + ReLU blocks at 7×7
    assert not any(k.startswith("mid.") for k in plain.state_dict())   # old checkpoints keep their keys
    d = build_model("dcgan_d", {"width": 8, "spectral_norm": True})
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())
    x = torch.randn(6, 1, 28, 28)
    for _ in range(30):      # power iteration converges in training-mode forwards
        d(x)
    d.eval()
    w = d.net[0].weight                                        # the normalised weight: top singular value 1
    assert torch.linalg.matrix_norm(w.flatten(1), ord=2).item() == pytest.approx(1.0, abs=0.05)
    assert d(x).shape == (6, 1)


# -- a real run ------------------------------------------------------------------------------------
def test_short_gan_beats_an_untrained_generator(short):
    from dlpractice.models import build_model
    from dlpractice.train.adversarial import generate
    trainer, run = short
    s = run.summary
    rows = [r for r in run.metrics() if r["split"] == "test"]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    # The untrained generator (same seed, same arguments), scored on the same noise against the same images.
    torch.manual_seed(trainer.cfg.train.seed)
    untrained = build_model(trainer.g_spec.name, trainer.g_args)
    base = trainer.ref.score(generate(untrained, trainer.noise[:trainer.cfg.gan.eval_samples], "cpu"))
    m = s["metrics"]
    print(f"untrained FID {base['fid']:.3f} IS {base['inception_score']:.3f} | trained FID {m['fid']:.3f} "
          f"IS {m['inception_score']:.3f} | real: halves FID {m['fid_real_halves']:.3f}, "
          f"IS {m['inception_score_real']:.3f}")
    assert m["fid"] < 0.4 * base["fid"]                            # a wide margin (measured: 0.21×)
    assert m["inception_score"] > base["inception_score"] + 1.0     # measured: 2.79 against 1.00
    assert m["fid_real_halves"] < m["fid"]                          # real data is still closer to itself
    assert rows[-1]["fid"] < rows[0]["fid"]                         # FID falls over training
    assert s["task"] == "generation" and s["primary_metric"] == {"name": "fid", "value": m["fid"]}
    assert sum(s["class_shares"].values()) == pytest.approx(1.0)
    for name in ["samples.png", "samples/epoch_001.png", "samples/epoch_003.png", "curves.png", "classes.png",
                 "metrics.csv", "timing.csv", "data.json", "checkpoints/best.pt", "checkpoints/last.pt"]:
        assert (run.folder / name).is_file(), name
    train_rows = [r for r in run.metrics() if r["split"] == "train"]
    assert all(r["loss_d"] > 0 and r["loss_g"] > 0 for r in train_rows)


def test_scorer_is_trained_once_into_the_cache(short_run, cache, capsys):
    from dlpractice.train.scorer import load_scorer
    scorer = load_scorer(["train.epochs=1", "data.limit_train=6000"])
    assert "training" not in capsys.readouterr().out            # the cached weights were reused
    assert scorer.folder.parent == cache / "gan_scorer" and (scorer.folder / "checkpoints" / "best.pt").is_file()
    assert scorer.accuracy > 0.7
    assert short_run.summary["scorer"]["folder"] == str(scorer.folder)


# -- exact resume ----------------------------------------------------------------------------------
@pytest.mark.parametrize("speed", [[], ["train.precision=bf16", "train.channels_last=true"]], ids=["auto", "bf16-nhwc"])
def test_ctrl_c_then_resume_is_exact(speed, cache, tmp_path):
    """Exact resume with the probe's choice (auto) and with bf16 and NHWC forced: both players train so, and the
    resumed run keeps the choice."""
    from dlpractice.config import load_config
    from dlpractice.track.loggers import CsvLogger
    from dlpractice.runs.checkpoint import load_checkpoint
    from dlpractice.train.loop import TrainingInterrupted, resume, train
    ref = _train(TINY + speed, tmp_path / "ref")
    out = tmp_path / "stopped"
    with pytest.raises(TrainingInterrupted, match=f"dlp train --resume {out}"):
        train(load_config(overrides=TINY + speed), out=out, loggers=[CsvLogger(), CtrlCAfterEpoch1()])
    ck = load_checkpoint(out / "checkpoints" / "last.pt")
    assert ck["epoch"] == 2 and ck["batch"] == 1 and "discriminator" in ck and "d_optimizer" in ck
    run = resume(out)
    assert run.summary["steps_this_process"] == 8 - 1            # 512 images / 64: the rest of epoch 2 only
    assert (out / "metrics.csv").read_text() == (ref.folder / "metrics.csv").read_text()
    assert run.summary["metrics"] == ref.summary["metrics"]
    chose = [(r.summary["speed"]["precision"], r.summary["speed"]["channels_last"]) for r in (ref, run)]
    assert chose[0] == chose[1] and (not speed or chose[0] == ("bf16", True))
    assert ref.summary["speed"]["how"] in (("set",) if speed else ("probed", "cached"))   # auto: the players probed
    assert ref.summary["speed"]["compile"] == "off"
    if not speed:   # the probe drew no random numbers and touched no weight: the choice forced trains the same
        p, nhwc = chose[0]
        forced = _train(TINY + [f"train.precision={p}", f"train.channels_last={str(nhwc).lower()}"], tmp_path / "set")
        assert forced.summary["speed"]["how"] == "set"
        for k, v in ref.summary["metrics"].items():
            assert forced.summary["metrics"][k] == pytest.approx(v, rel=1e-5, abs=1e-6), k


# -- dlp sample ------------------------------------------------------------------------------------
def test_dlp_sample_writes_a_new_grid(short_run, tmp_path, capsys):
    from PIL import Image
    out = tmp_path / "grid.png"
    r = dlp("sample", short_run.folder, "-n", 16, "--seed", 3, "--out", out, check=True)
    assert str(out) in r.stdout
    img = np.asarray(Image.open(out))
    assert img.shape == (2 * (4 * 30 + 2),) * 2                   # 4 × 4 images of 28 px, 2 px gaps, drawn 2×
    assert img.std() > 20                                           # images, not a flat field
    before = out.read_bytes()
    from dlpractice.cli import main
    assert main(["sample", str(short_run.folder), "-n", "4", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err and out.read_bytes() == before   # nothing overwritten


def test_dlp_sample_errors(short_run, classifier_run, capsys):
    from dlpractice.cli import main
    assert main(["sample", str(classifier_run)]) == 2
    assert "needs a GAN run" in capsys.readouterr().err
    assert main(["sample", str(short_run.folder), "-n", "0"]) == 2
    assert "-n must be at least 1" in capsys.readouterr().err
    for cmd in (["predict", str(short_run.folder), "x.png"], ["export", str(short_run.folder)]):
        assert main(cmd) == 2                                        # a GAN run has nothing to predict
        assert "is a GAN run" in capsys.readouterr().err
    with pytest.raises(UserError, match="not a run folder"):
        from dlpractice.runs.folder import Run
        Run(short_run.folder / "samples")


@pytest.mark.parametrize("bad, message", [
    ("model.args={refine=32, deep=-1}", "model.args.deep of dcgan_g must be a whole number ≥ 0, got -1"),
    ("model.args={refine=-2}", "model.args.refine of dcgan_g must be a whole number ≥ 0, got -2"),
    ("gan.d_args={spectral_norm=2}", "gan.d_args.spectral_norm of dcgan_d must be true or false, got 2"),
    ("gan.d_args={width=0}", "gan.d_args.width of dcgan_d must be a whole number ≥ 1, got 0"),
    # speed settings the GAN loop does not honour are refused, not recorded in summary.json as if they had run
    ("train.precision=fp16", "train.precision = fp16: the GAN loop trains in fp32 or bf16 (NCHW or NHWC), "
                             "uncompiled; leave it at auto"),
    ("train.compile=on", "train.compile = on: the GAN loop trains in fp32 or bf16 (NCHW or NHWC), uncompiled; "
                         "leave it at auto")])
def test_bad_player_arguments_are_refused_before_anything_is_written(bad, message, tmp_path, capsys):
    from dlpractice.cli import main
    out = tmp_path / "run"
    assert main(["lesson", "gan", "--quick", "--set", bad, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.fixture
def classifier_run(tmp_path):
    """A classification run folder with a real checkpoint: one epoch of the course CNN on 200 digits."""
    return _train(["data.dataset=digits", "model.name=course_cnn", "data.limit_train=200", "train.epochs=1",
                   "log.progress=false", "log.loggers=['csv']"], tmp_path / "cls").folder
