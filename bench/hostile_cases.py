"""The inputs of bench/hostile_pass.py as data: each a `Case` (argv of `dlp`, must it be refused, the files it needs).
Setups run in the pass's parent process and never run a torch op there (the parent forks)."""
from __future__ import annotations

import gzip, io, json, math, os, random, shlex, shutil, struct, subprocess, zlib  # noqa: E401
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Callable

import numpy as np
QUICK = ["train.epochs=1", "data.limit_train=64", "log.progress=false", "train.threads=1"]
NAMES = ['data.dataset="names-tutorial"', 'model.name="rnn_classifier"', "train.eval_test=false"]
TABLE = ['data.dataset="diabetes"', 'model.name="tabular_mlp"']
GAN = ['model.name="dcgan_g"', 'data.dataset="fashion-mnist"', "gan.eval_samples=100"]
MOUNTS, MARKER = [], None   # tmpfs mounts to undo at the end; the file a code-running checkpoint would create (never)
@dataclass
class Case:
    cat: str
    what: str
    argv: list
    refuse: bool | None = True      # True: must be refused; False: must be accepted; None: either (see `why`)
    setup: Callable | None = None   # setup(folder), in the parent, before the run
    env: dict = field(default_factory=dict)          # None deletes a variable
    keep: list = field(default_factory=list)         # paths (under the folder) whose bytes must not change
    check: Callable | None = None   # check(folder) -> [count names], after the run
    cwd: Path | None = None         # None: a fresh folder of its own (removed when the case passes)
    timeout: float = 90
    serve: bool = False             # a server: "serving" on stdout counts as accepted, then it is stopped
    why: str = ""                   # for refuse=None: why either outcome is allowed
    sub: bool = False               # run as a real `python -m dlpractice`
def sets(*items) -> list[str]:
    return [x for s in items for x in ("--set", s)]
def train(*items, pre=()) -> list[str]:
    return ["train", *sets(*QUICK, *pre, *items)]
def toml(v) -> str:
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else "inf" if v > 0 else "-inf"
    if isinstance(v, (list, dict)):
        return "[" + ", ".join(map(toml, v)) + "]" if isinstance(v, list) else "{" + ", ".join(f"{k} = {toml(x)}" for k, x in v.items()) + "}"
    return json.dumps(v)
def writer(files: dict) -> Callable:
    def setup(folder: Path):
        for rel, data in files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(data if isinstance(data, bytes) else data.encode())
    return setup

# -- every setting: outside and at its declared bounds, non-finite, wrong types, 2**64, one valid value -----------
VALID = {"data.dataset": "fashion-mnist", "model.name": "mlp", "optim.name": "adam", "data.augment": ["flip"],
         "log.loggers": ["console", "csv"], "log.runs_dir": "my-runs", "log.name": "mine", "train.device": "cpu",
         "train.epochs": 1, "data.batch_size": 32, "data.limit_train": 64, "train.threads": 1, "optim.lr": 0.01,
         "train.checkpoint_every": 2, "gan.eval_samples": 200, "gan.discriminator": "dcgan_d", "data.val_fraction": 0.2}
LONG = {"train.epochs"}   # a closed bound that is valid but would train for long
UNCLEAR = {"data.batch_size=1": "the declared min, but lenet_bn's BatchNorm cannot train on a batch of one",
           "optim.lr=10.0": "the declared (closed) max, but SGD at lr 10 may diverge, and a diverging run is refused",
           "train.threads=4096": "the declared max, but a new run is held to 4 × this machine's cores",
           "train.nproc=4096": "the declared max, but --nproc is held to 4 × this machine's cores",
           "train.dist_timeout=86400": "the declared max; with one rank it is unused, so accepted",
           "optim.weight_decay=18446744073709551616": "no declared max, so valid; but training with it diverges"}
def field_values(key: str, f) -> list[tuple[str, object, bool]]:
    """(what, value, must refuse) for one setting, from its metadata (min/max/open_min/open_max/finite/choices)."""
    m, default = f.metadata, f.default if f.default is not MISSING else f.default_factory()
    kind, out = type(default), [("nan", math.nan, True), ("inf", math.inf, True), ("-inf", -math.inf, True)]
    if kind in (int, float):
        lo, hi, step = m.get("min"), m.get("max"), 1 if kind is int else 0.01
        out += [("below min", lo - step, True), ("at min", kind(lo), bool(m.get("open_min")))] if lo is not None else []
        out += [("above max", hi + step, True)] + ([("at max", kind(hi), bool(m.get("open_max")))]
                                                   if m.get("open_max") or key not in LONG else []) if hi is not None else []
        out += [("a fraction", 1.5, True)] if kind is int else []
        out += [("2**64", 2 ** 64, hi is not None), ("a string", "3", True), ("a list", [1], True)]
        mid = (lo or 0) + 1 if kind is int else ((lo or 0) + (hi if hi is not None else 1)) / 2
        out.append(("valid", kind(VALID.get(key, mid)), False))
    elif kind is bool:
        out += [("a string", "yes", True), ("a number", 1, True), ("a list", [True], True), ("valid", not default, False)]
    elif kind is str:
        out += [("a number", 1, True), ("a list", ["x"], True), ("true", True, True)]
        if m.get("choices") or key in ("data.dataset", "model.name", "optim.name"):
            out += [("unknown name", "bogus", True), ("empty", "", True)]
        out += [("too long", "x" * (m["max_len"] + 1), True)] if m.get("max_len") else []
        out += [(f"holding {'NUL' if c == chr(0) else c}", f"a{c}b", True) for c in m.get("forbid", ())]
        out.append(("valid", VALID.get(key, next((c for c in (m.get("choices") or ()) if c != default), "x")), False))
    else:   # list or dict
        deep = json.loads("[" * 34 + "1" + "]" * 34)
        out += [("a string", "x", True), ("a number", 1, True), ("33 levels deep", deep if kind is list else {"a": deep}, True),
                ("a table", {"a": 1}, True) if kind is list else ("a list", [1], True), ("valid", VALID.get(key, kind()), False)]
    return out + ([("2**64", 2 ** 64, True)] if kind not in (int, float) else [])
def config_cases() -> list[Case]:
    from dlpractice.config import _SECTION_TYPES
    items = [(f"{s}.{f.name}={toml(v)}", what, r) for s, cls in _SECTION_TYPES.items() for f in fields(cls)
             for what, v, r in field_values(f"{s}.{f.name}", f)]
    return [Case("config", f"{it[:60]} ({w})", train(it), None if it in UNCLEAR else r, why=UNCLEAR.get(it, "")) for it, w, r in items]

# -- model.args, data.options, optim.args, gan.d_args: lines "PRESET: item; item!; ..." (! = must be refused) ---------
PRE = {"lenet": [], "sgd": [], "names": NAMES, "table": TABLE, "gan": GAN, "folds": TABLE + ["data.options.folds=5"],
       "nesterov": ["optim.args.nesterov=true"], "course_rnn": ['data.dataset="names"', 'model.name="course_rnn"', "train.eval_test=false"],
       **{k: [f'data.dataset="{d}"'] + ([f'model.name="{m}"'] if m else []) for k, d, m in [
           ("names13", "names", "rnn_classifier"), ("fashion", "fashion-mnist", ""), ("mnist", "mnist", ""), ("cancer", "breast-cancer", "logistic"),
           ("titanic", "titanic", "tabular_mlp"), ("otto", "otto", "tabular_classifier"), ("linear", "course-linear", "linear"),
           ("logistic", "course-logistic", "logistic")]},
       **{k: [f'{s}.name="{k}"'] for s, k in [("model", "mlp"), ("model", "resnet18"), ("optim", "adam"), ("optim", "lbfgs"), ("optim", "rmsprop")]}}
ABBR = {"a.": "model.args.", "o.": "data.options.", "p.": "optim.args.", "d.": "gan.d_args."}
ARGS = """mlp: a.hidden=[-1]!; a.hidden=[0]!; a.hidden=[1.5]!; a.hidden="64"!; a.hidden=[70000]!; a.hidden=[]; a.hidden=[64]
mlp: a.dropout=-0.1!; a.dropout=1.0!; a.dropout=nan!; a.dropout="0.5"!; a.dropout=0.5; a.members=0!; a.members=65!
mlp: a.members=1.5!; a.members=2; a.flip_average=2!; a.flip_average="yes"!; a.flip_average=true; a.input_size=14
mlp: a.num_classes=3!; a.in_channels=3!; a.widht=2!
lenet: a.width=0!; a.width=547!; a.width=2; a.num_classes=5!; a.in_channels=3!; o.colour=1!
names: a.cell="lstm"; a.cell="transformer"!; a.cell=1!; a.pool="max"; a.pool="avg"!; a.num_layers=0!; a.num_layers=257!
names: a.num_layers=2; a.bidirectional=1!; a.dropout=1.0!; a.embedding_dim=0!; a.hidden_size=70000!; a.ngram_widths=[0]!
names: a.ngram_channels=8; a.vocab_size=5!; a.num_classes=2!
table: a.hidden=[0]!; a.hidden=[]; a.activation="swish"!; a.activation="relu"; a.batch_norm=1!; a.batch_norm=true
table: a.dropout=1!; a.in_features=3!; a.in_features=0!
resnet18: a.width=100!; a.small_input="no"! | course_rnn: a.hidden_size=0! | fashion: o.x=1! | mnist: o.x=1!
names: o.lowercase="yes"!; o.min_count=0!; o.max_length=-1!; o.unknown="bogus"!; o.test_fraction=1.5!; o.lowercase=true
names: o.min_count=2 | names13: o.test_fraction=0.2!
table: o.fold=5!; o.folds=1!; o.test_fraction=0!; o.standardize="yes"!; o.impute="mode"!; o.indicators=1!; o.test_fraction=0.3
folds: o.fold=5!; o.fold=0 | cancer: o.target=1! | titanic: o.full="yes"! | otto: o.transform="cube"! | linear: o.x=1! | logistic: o.x=1!
adam: p.betas=[1.5, 0.9]!; p.betas=[0.9]!; p.betas=["a", "b"]!; p.betas=[0.9, nan]!; p.betas=[0.9, 0.999]; p.eps=nan!
adam: p.eps=-1!; p.eps=1e-6; p.capturable=true!; p.capturable=false; p.differentiable=true!; p.lr=0.1!; p.params=[]!
adam: p.amsgrad="yes"!; p.amsgrad=true; p.foreach=1!; p.maximize=true; p.bogus=1!; p.weight_decay=0.1!
sgd: p.nesterov=true; p.dampening=-1! | nesterov: p.dampening=0.5! | rmsprop: p.centered="yes"!
lbfgs: p.line_search_fn="x"!; p.max_iter=0!; p.max_iter=1.5!
gan: gan.d_args={width = 0}!; gan.d_args={spectral_norm = "yes"}!; gan.d_args={bogus = 1}!; gan.d_args={width = "32"}!
gan: gan.d_args={in_channels = 3}!; gan.scorer_set=["optim.lrr=1"]!; gan.d_args={spectral_norm = true}; d.spectral_norm=true"""
LAUNCH = [(["--nproc", "0"], True), (["--nproc", "-1"], True), (["--nproc", "x"], True), (["--nproc", "99"], True),
          (["--nproc", "2", "--set", "data.batch_size=1"], True), (["--nproc", "2", "--set", "optim.name=\"lbfgs\""], True),
          (["--nproc", "2", "--set", "data.limit_train=129", "--set", "data.batch_size=128"], True),
          (["--nnodes", "0"], True), (["--nnodes", "2"], True), (["--nnodes", "2", "--rdzv-endpoint", "h:0", "--out", "r"], True),
          (["--nnodes", "2", "--rdzv-endpoint", "nohost", "--out", "r"], True), (["--node-rank", "1"], True),
          (["--nnodes", "2", "--node-rank", "5", "--rdzv-endpoint", "127.0.0.1:29400", "--out", "r"], True),
          (["--max-restarts", "-1"], True), (["--nproc", "2"], False)]


def launch_cases() -> list[Case]:
    """`--nproc` and the several-machine flags (issue 19): refused in one line, or a 2-rank run that trains."""
    return [Case("flags", " ".join(a), train() + a, r, timeout=180) for a, r in LAUNCH]


def args_cases() -> list[Case]:
    out = []
    for pre, items in (group.split(":", 1) for line in ARGS.splitlines() for group in line.split(" | ")):
        for it in (x.strip() for x in items.split(";")):
            full = next((full + it[2:] for a, full in ABBR.items() if it.startswith(a)), it).rstrip("!")
            out.append(Case("config", f"{full} ({pre})", train(full, pre=PRE[pre]), it.endswith("!"), timeout=180 if pre == "gan" else 90))
    return out
TOMLS = [("malformed TOML", "[data\nbatch_size = ", True), ("an unknown section", "[datta]\nbatch_size = 1\n", True),
         ("an empty unknown section", "[foo]\n", True), ("a section that is a number", "data = 3\n", True),
         ("an unknown key", "[train]\nepoch = 1\n", True), ("a wrong type", '[train]\nepochs = "1"\n', True),
         ("a duplicate key", "[train]\nepochs = 1\nepochs = 2\n", True),
         ("an integer of 5000 digits", "[train]\nseed = 1" + "0" * 5000 + "\n", True),
         ("nesting 200 deep", "[model]\nargs = {x = " + "[" * 200 + "]" * 200 + "}\n", True),
         ("non-UTF-8 bytes", b"[train]\nepochs = 1\n# \xff\xfe caf\xe9\n", True),
         ("a valid file", "[train]\nepochs = 1\n[data]\nbatch_size = 32\n", False),
         ("only a [lesson] table", '[lesson]\ntitle = "x"\n', False), ("a UTF-8 byte-order mark", "\ufeff[train]\nepochs = 1\n", None)]
def toml_cases() -> list[Case]:
    return [Case("config", f"config file: {w}", ["train", "c.toml", *sets(*QUICK)], r, writer({"c.toml": text}),
                 why="a BOM is not TOML, but Windows editors write one" if r is None else "") for w, text, r in TOMLS] + [
        Case("config", "config file: a directory", ["train", "d", *sets(*QUICK)], True, lambda f: (f / "d").mkdir()),
        *[Case("config", f"config file: {p}", ["train", p, *sets(*QUICK)], True) for p in ("nope.toml", "/dev/null")]]

# -- data files: images, CSV tables, labelled strings, IDX, names, image folders -------------------------------------
def png(mode="L", size=(8, 8), fmt="PNG", seed=0, value=None) -> bytes:
    from PIL import Image
    a = np.random.default_rng(seed).integers(0, 65535 if mode in ("I;16", "F") else 255, size[::-1])
    im = Image.new(mode, size, value) if value is not None else Image.fromarray(a.astype(np.uint16)) if mode == "I;16" else \
        Image.fromarray(a.astype(np.float32)) if mode == "F" else Image.fromarray(a.astype(np.uint8)).convert(mode)
    im.save(b := io.BytesIO(), fmt)
    return b.getvalue()
def huge_png(w=20000, h=20000) -> bytes:
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
IMAGES = {"corrupt.png": lambda: png()[:30] + b"\x00" * 20 + png()[50:], "text.png": lambda: b"just text\n",
          "gray16.png": lambda: png("I;16"), "float.tif": lambda: png("F", fmt="TIFF"), "palette.png": lambda: png("P"),
          "rgba.png": lambda: png("RGBA"), "cmyk.jpg": lambda: png("CMYK", fmt="JPEG"), "huge.png": huge_png,
          "empty.png": lambda: b"", "one-pixel.png": lambda: png(size=(1, 1)), "wide.png": lambda: png(size=(3000, 1))}
def gz(b: bytes) -> bytes:
    return gzip.compress(b, mtime=0)
def bad_deflate(b: bytes) -> bytes:
    g, i = gz(b), len(gz(b)) // 3
    return g[:i] + bytes(x ^ 0x5A for x in g[i:i + 8]) + g[i + 8:]
def csv_text(rows=200, classes=2, seed=0) -> bytes:
    rng = random.Random(seed)
    return ("a,b,c,y\n" + "".join(f"{rng.random():.3f},{rng.random():.3f},{rng.choice('xyz')},{i % classes}\n"
                                  for i in range(rows))).encode()
def text_csv(rows=90, labels=("en", "fr", "de"), seed=0) -> bytes:
    rng = random.Random(seed)
    return ("text,label\n" + "".join(f"{''.join(rng.choice('abcdefgh') for _ in range(6))},{labels[i % len(labels)]}\n"
                                     for i in range(rows))).encode()
C, T = csv_text(), text_csv()
CSV_FILES = [  # (what, file name, bytes (None: a folder), extra overrides, must refuse)
    ("a cut-off gzip", "d.csv.gz", gz(C)[:-40], [], True), ("corrupt deflate", "d.csv.gz", bad_deflate(C), [], True),
    ("not gzip", "d.csv.gz", C, [], True), ("an empty file", "d.csv", b"", [], True), ("header only", "d.csv", b"a,b,c,y\n", [], True),
    ("ragged rows", "d.csv", C + b"1,2,x,0,9,9\n", [], True), ("NUL bytes", "d.csv", C[:40] + b"\0\0" + C[40:], [], True),
    ("non-UTF-8", "d.csv", C.replace(b",x,", b",caf\xe9,", 3), [], True), ("a single class", "d.csv", csv_text(classes=1), [], True),
    ("a missing target column", "d.csv", C, ['data.options.target="nope"'], True), ("1 row", "d.csv", csv_text(rows=1), [], True),
    ("a field of 200,000 characters", "d.csv", C + b"1," + b"9" * 200_000 + b",x,1\n", [], True),
    ("a value 1e999", "d.csv", C + b"1e999,1,x,1\n", [], True), ("a valid CSV", "d.csv", C, [], False),
    ("a valid .csv.gz", "d.csv.gz", gz(C), [], False), ("CRLF line ends", "d.csv", C.replace(b"\n", b"\r\n"), [], False),
    ("delimiter empty", "d.csv", C, ['data.options.delimiter=""'], True), ("delimiter 1", "d.csv", C, ["data.options.delimiter=1"], True),
    ("delimiter ';;'", "d.csv", C, ['data.options.delimiter=";;"'], True), ('header "yes"', "d.csv", C, ['data.options.header="yes"'], True),
    ("target 99", "d.csv", C, ["data.options.target=99"], True), ('task "cluster"', "d.csv", C, ['data.options.task="cluster"'], True),
    ("classes not in the data", "d.csv", C, ['data.options.classes=["p", "q"]'], True),
    ("max_categories 0", "d.csv", C, ["data.options.max_categories=0"], True), ('unseen "x"', "d.csv", C, ['data.options.unseen="x"'], True),
    ('numeric ["nope"]', "d.csv", C, ['data.options.numeric=["nope"]'], True), ("the path a folder", "d", None, [], True)]
TEXT_FILES = [
    ("a cut-off gzip", "t.csv.gz", gz(T)[:-30], [], True), ("not gzip", "t.csv.gz", T, [], True), ("an empty file", "t.csv", b"", [], True),
    ("header only", "t.csv", b"text,label\n", [], True), ("ragged rows", "t.csv", T + b"a,b,c\n", [], True),
    ("NUL bytes", "t.csv", T[:30] + b"\0" + T[30:], [], None), ("non-UTF-8", "t.csv", T + b"caf\xe9,fr\n", [], True),
    ("a single label", "t.csv", text_csv(labels=("en",)), [], True), ("3 rows", "t.csv", text_csv(rows=3), [], True),
    ("an empty label", "t.csv", T + b"abc,\n", [], True), ("a valid file", "t.csv", T, [], False),
    ('lowercase "yes"', "t.csv", T, ['data.options.lowercase="yes"'], True), ("min_count 0", "t.csv", T, ["data.options.min_count=0"], True),
    ('min_count "2"', "t.csv", T, ['data.options.min_count="2"'], True), ("text_column 99", "t.csv", T, ["data.options.text_column=99"], True),
    ("label_column = text_column", "t.csv", T, ["data.options.label_column=0"], True),
    ('label_column "nope"', "t.csv", T, ['data.options.label_column="nope"'], True)]
def file_cases() -> list[Case]:
    out = []
    for table, pre in ((CSV_FILES, ['data.dataset="csv"', 'model.name="tabular_mlp"']),
                       (TEXT_FILES, ['data.dataset="text-csv"', 'model.name="rnn_classifier"'])):
        for what, name, data, extra, r in table:
            out.append(Case("data", pre[0][14:-1] + f": {what}", train(*extra, pre=[*pre, f'data.options.path="{name}"']), r,
                            writer({name: data} if data is not None else {f"{name}/x": b""}), keep=[name],
                            why="a NUL inside a string may be a character" if r is None else ""))
    return out + idx_cases() + names_cases() + folder_cases()
def idx(kind: int, dims, data: bytes) -> bytes:
    return struct.pack(">BBBB", 0, 0, kind, len(dims)) + struct.pack(f">{len(dims)}I", *dims) + data
def mnist_files(seed=0) -> dict:   # 300 training and 100 test images of noise, labels 0-9 in turn
    rng, out = np.random.default_rng(seed), {}
    for split, n in (("train", 300), ("t10k", 100)):
        out[f"{split}-images-idx3-ubyte.gz"] = gz(idx(8, [n, 28, 28], rng.integers(0, 256, n * 784, dtype=np.uint8).tobytes()))
        out[f"{split}-labels-idx1-ubyte.gz"] = gz(idx(8, [n], bytes(i % 10 for i in range(n))))
    return out
TI, TL = "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"
IDX_CASES = [  # (what, {file: new bytes, "cut", "dir" or None to delete}, must refuse)
    ("valid files", {}, False), ("wrong magic", {TI: gz(b"\x12\x34\x08\x03" + b"\0" * 3000)}, True),
    ("truncated data", {TI: gz(idx(8, [300, 28, 28], b"\0" * 1000))}, True), ("a cut-off gzip", {TI: "cut"}, True),
    ("1-D images", {TI: gz(idx(8, [300], b"\0" * 300))}, True), ("labels out of range", {TL: gz(idx(8, [300], bytes([10]) * 300))}, True),
    ("label count mismatch", {TL: gz(idx(8, [299], bytes(i % 10 for i in range(299))))}, True),
    ("int32 images", {TI: gz(idx(12, [300, 28, 28], b"\0" * 300 * 784 * 4))}, True), ("float labels", {TL: gz(idx(13, [300], b"\0" * 1200))}, True),
    ("zero images", {TI: gz(idx(8, [0, 28, 28], b"")), TL: gz(idx(8, [0], b""))}, True),
    ("dimensions of 2**32-1", {TI: gz(idx(8, [2 ** 32 - 1] * 3, b"\0" * 100))}, True),
    ("not gzip", {TI: idx(8, [300, 28, 28], b"\0" * 300 * 784)}, True), ("a folder", {TI: "dir"}, True),
    ("missing train images (download fails)", {TI: None}, True)]
def idx_cases() -> list[Case]:
    def setup_for(changes, dataset):
        def setup(folder):
            writer({f"data/{dataset}/{k}": v for k, v in mnist_files().items()})(folder)
            for name, data in changes.items():
                p = folder / "data" / dataset / name
                p.write_bytes(p.read_bytes()[:-5000] if data == "cut" else data) if data not in ("dir", None) \
                    else (p.unlink(), p.mkdir() if data == "dir" else None)
        return setup
    env = {"DLP_DATA_DIR": "data", "DLP_CACHE_DIR": "cache", "DLP_MNIST_MIRRORS": "http://127.0.0.1:9/"}
    return [Case("data", f"{ds} IDX: {w}", train(pre=[f'data.dataset="{ds}"']), r, setup_for(ch, ds), env=env, keep=["data"])
            for ds, rows in (("mnist", IDX_CASES), ("fashion-mnist", IDX_CASES[:3])) for w, ch, r in rows]
def names_cases() -> list[Case]:
    from dlpractice.data.text import TUTORIAL_LANGUAGES as LANGS
    rows = "".join(f'"{n}{i}","{c}"\r\n' for c in ("Czech", "Dutch", "Greek") for i, n in enumerate(["Ab", "Cd", "Ef"] * 8)).encode()
    tr, te = "data/names/names_train.csv.gz", "data/names/names_test.csv.gz"
    one = gz(rows[:rows.index(b"Dutch") - 7])
    out = [Case("data", f"names files: {w}", train(pre=['data.dataset="names"', 'model.name="rnn_classifier"']), r,
                writer({tr: gz(rows), te: gz(rows), **ch}), env={"DLP_DATA_DIR": "data"}, keep=["data"]) for w, ch, r in [
        ("valid files", {}, False), ("a cut-off gzip", {tr: gz(rows)[:-20]}, True), ("a row of 3 fields", {tr: gz(rows + b'"a","b","c"\r\n')}, True),
        ("non-UTF-8", {tr: gz(rows + b'"caf\xe9","French"\r\n')}, True), ("an empty training file", {tr: gz(b""), te: gz(b"")}, True),
        ("a test country not in training", {te: gz(rows + b'"X","Mars"\r\n')}, True), ("a single country", {tr: one, te: one}, True)]]
    tut = {f"data/names/tutorial/{lang}.txt": "".join(f"{lang[:3]}{c}{d}\n" for c in "abcdefgh" for d in "wxyz") for lang in LANGS}
    for w, ch, r in [("valid files", {}, False), ("a non-UTF-8 file", {"data/names/tutorial/Czech.txt": b"Nov\xe1k\n"}, True),
                     ("all files empty", {k: "" for k in tut}, True), ("one file missing", {"data/names/tutorial/Irish.txt": None}, True)]:
        out.append(Case("data", f"names-tutorial files: {w}", train(pre=NAMES), r,
                        writer({k: v for k, v in {**tut, **ch}.items() if v is not None}), env={"DLP_DATA_DIR": "data"}, keep=["data"]))
    return out
def folder_cases() -> list[Case]:
    good, pre = {f"imgs/{c}/{i}.png": png(seed=i + 10 * j) for j, c in enumerate("ab") for i in range(8)}, \
        ['data.dataset="image-folder"', 'data.options.path="imgs"']
    rows = [("two good classes", good, False), ("one class", {k: v for k, v in good.items() if "/a/" in k}, True),
            ("an empty class folder", {**good, "imgs/c/.keep": b""}, False), ("all files corrupt", {k: b"junk" for k in good}, True)]
    rows += [(f"plus {n}", {**good, f"imgs/a/{n}": make()}, False) for n, make in IMAGES.items()]
    out = [Case("data", f"image-folder: {w}", train(pre=pre), r, writer(files), keep=["imgs"]) for w, files, r in rows]
    out.append(Case("data", "image-folder: a symlink loop", train(pre=pre), False,
                    lambda f: (writer(good)(f), os.symlink("..", f / "imgs/a/loop")), keep=["imgs"], timeout=60))
    return out + [Case("data", f"image-folder: {o}", train(f"data.options.{o}", pre=pre), r, writer(good), keep=["imgs"]) for o, r in [
        ("size=0", True), ("size=1025", True), ('size="28"', True), ("channels=2", True), ('channels="3"', True), ("size=16", False),
        ('polarity="inverted"', True), ("test_fraction=1.0", True), ('path="nope"', True), ('path="imgs/a/0.png"', True),
        ('test_path="nope"', True), ("channels=3", False), ('polarity="light-on-dark"', False)]]

# -- checkpoints: damaged copies of a good run's best.pt / last.pt through predict, export, serve and resume ------------
def ckpt_blobs(run: str, out: str, marker: str) -> list[str]:
    """Damaged checkpoints built from a good one (in a forked child: torch ops)."""
    import hashlib, pickle, torch  # noqa: E401
    from dlpractice.runs.checkpoint import HEADER, MAGIC
    body = Path(run, "checkpoints", "last.pt").read_bytes()[HEADER:]
    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)
    def save(obj):
        torch.save(obj, b := io.BytesIO())
        return b.getvalue()
    def wrap(obj):
        return MAGIC + hashlib.sha256(b := save(obj)).hexdigest().encode() + b"\n" + b
    m = (ck := torch.load(io.BytesIO(body), weights_only=True))["model"]
    blobs = {"a header only": MAGIC + hashlib.sha256(b"").hexdigest().encode() + b"\n", "random bytes": random.Random(1).randbytes(4000),
             "no model_args": wrap({k: v for k, v in ck.items() if k != "model_args"}),
             "no optimizer": wrap({k: v for k, v in ck.items() if k != "optimizer"}),
             "other tensor shapes": wrap({**ck, "model": {k: torch.zeros(3, 3) for k in m}}),
             "a layer dropped": wrap({**ck, "model": dict(list(m.items())[1:])}),
             "all-NaN weights": wrap({**ck, "model": {k: torch.full_like(v, math.nan) if v.is_floating_point() else v for k, v in m.items()}}),
             "a list, not a dict": wrap([1, 2, 3]), "an unknown model_name": wrap({**ck, "model_name": "nope"}),
             "code on unpickling, digest right": wrap({**ck, "x": Evil()}), "code on unpickling, no digest": save({**ck, "x": Evil()}),
             "code on unpickling, a plain pickle": pickle.dumps(Evil()), "no digest (an older file)": bytes(body)}
    Path(out).mkdir(parents=True, exist_ok=True)
    return sorted(k for k, b in blobs.items() if Path(out, k).write_bytes(b) >= 0)
CK_CMDS = {"predict": ["predict", "run", "{png}"], "export": ["export", "run"], "serve": ["serve", "run", "--port", "0"],
           "resume": ["train", "--resume", "run"], "predict --checkpoint last": ["predict", "run", "{png}", "--checkpoint", "last"]}
def ckpt_case(fx, fname: str, what: str, damage, cmd: str, refuse) -> Case:
    def setup(folder):
        shutil.copytree(fx["img-unfinished" if cmd == "resume" else "img"], folder / "run")
        p = folder / "run" / "checkpoints" / fname
        p.write_bytes(damage) if isinstance(damage, bytes) else (p.unlink(), p.symlink_to(
            "last.pt" if fname == "best.pt" else "best.pt") if damage == "link" else p.mkdir() if damage == "dir" else None)
    return Case("checkpoints", f"{fname} {what}: {cmd}", [a.format(png=fx["png"]) for a in CK_CMDS[cmd]], refuse, setup,
                serve=cmd == "serve", timeout=40 if cmd == "serve" else 90,
                why="a resumed run rebuilds its model from its config and needs only best.pt's weights" if refuse is None else "")
def ckpt_cases(fx) -> list[Case]:
    kinds = [(p.name, p.read_bytes()) for p in sorted(fx["blobs"].iterdir())] + [("empty", b""), ("a symlink to the other", "link"),
                                                                                  ("a directory", "dir"), ("missing", None)]
    out = []
    for fname in ("best.pt", "last.pt"):
        for what, damage in kinds:
            for cmd in ("predict", "export", "serve", "resume"):
                refuse = (cmd == "resume" or fname == "best.pt") and not what.startswith("no digest") and \
                    (fname, what) != ("last.pt", "missing")
                if what == "no optimizer":   # only resuming needs the optimizer's state
                    refuse = (cmd, fname) == ("resume", "last.pt")
                if cmd == "resume" and (what == "an unknown model_name" or (fname, what) == ("best.pt", "no model_args")):
                    refuse = None
                out.append(ckpt_case(fx, fname, what, damage, cmd, refuse))
    rng = random.Random(7)
    for i in range(80):   # 10 cuts of each file, then 60 flipped bytes
        fname = ("best.pt", "last.pt")[i % 2]
        data = (fx["img"] / "checkpoints" / fname).read_bytes()
        cmds = ("predict", "export", "serve", "resume") if fname == "best.pt" else ("resume", "predict --checkpoint last")
        if i < 20:
            at = [1, 10, 93, 94, 95, 100, 1000, len(data) // 2, len(data) - 100, len(data) - 1][i // 2]
            out.append(ckpt_case(fx, fname, f"cut to {at} bytes", data[:at], cmds[i // 2 % len(cmds)], True))
        else:
            b, at, x = bytearray(data), rng.randrange(len(data)), rng.randrange(1, 256)
            b[at] ^= x
            out.append(ckpt_case(fx, fname, f"byte {at} ^ {x:#04x}", bytes(b), cmds[i % len(cmds)], True))
    return out

# -- command-line flags: "@RUN " copies that fixture run to ./run first; ! must be refused, ? either (see WHY) ----------
CLI = """predict {img} {png} --top 0 ! | predict {img} {png} --top -1 ! | predict {img} {png} --top abc ! | predict {img} {png} --top 1
predict {img} {png} --top 99999 ? | predict nope {png} ! | predict {fx} {png} ! | predict {png} {png} ! | predict {img} !
predict {img} --csv {png} ! | predict {img} --text abc ! | predict {img} nope.png ! | predict {img} {fx} ! | predict {img} --interactive !
predict {names} --text Nakamura | predict {names} --text "" ! | predict {names} {png} ! | predict {table} {png} !
predict {table} --csv nope.csv ! | serve {img} --port 0 | serve {img} --port -1 ! | serve {img} --port 70000 ! | serve {img} --port abc !
serve {img} --max-bytes 0 ! | serve {img} --max-batch 0 ! | serve {img} --host no.such.host.invalid ! | serve nope --port 0 !
sample {gan} -n 0 ! | sample {gan} -n -1 ! | @gan sample run -n 4 | sample {img} -n 4 ! | sample nope ! | export nope ! | export {fx} !
@img export run | @img export run --check | @img export run --format torchscript | @img export run --format bogus !
@img export run --out run/config.toml ! | @img export run --out missing/dir/m.onnx ? | @names export run --format torchscript
runs --runs-dir nope ? | runs --runs-dir {png} ! | runs --runs-dir {fx} --json | compare nope nope2 ! | compare {img} ? | compare {fx} {png} !
@img compare run {img} --out c.png | @img compare run {img} --out c.txt ! | report nope ! | report {fx} ! | @img report run
evaluate nope ! | evaluate {img} --split val | lesson 0 ! | lesson 14 ! | lesson -1 ! | lesson nope ! | lesson ../../etc/passwd !
lesson {png} ! | lessons | models --json | --data-dir /nonexistent train {q} | --data-dir /nonexistent/x lessons | trian !
train --resume {img} --set train.epochs=2 ! | train --device tpu ! | train a.toml b.toml ! | data fetch bogus !
submit {img} --test {png} ! | submit nope --test x.csv ! | @table submit run --test nope.csv !"""
WHY = {"predict {img} {png} --top 99999": "more classes asked for than the run has: all of them shown, or a refusal",
       "@img export run --out missing/dir/m.onnx": "a missing parent folder may be created or refused",
       "runs --runs-dir nope": "an empty listing, or a refusal naming the folder",
       "compare {img}": "a comparison of one run: a plain table, or a refusal (two or more expected)"}
def cli_cases(fx) -> list[Case]:
    out, names = [], {k: str(v) for k, v in fx.items()}
    for line in (x.strip() for row in CLI.splitlines() for x in row.split(" | ")):
        mark, line = line[-1] if line[-1] in "!?" else "", line.rstrip("!? ")
        copy, tmpl = line.split(" ", 1) if line.startswith("@") else ("", line)
        argv = shlex.split(tmpl.format(q=" ".join(sets(*QUICK)), **names))
        out.append(Case("cli", line, argv, {"!": True, "?": None, "": False}[mark], (
            lambda f, src=fx[copy[1:]]: shutil.copytree(src, f / "run")) if copy else None,
            serve=argv[0] == "serve", timeout=40 if argv[0] == "serve" else 120, why=WHY.get(line, "")))
    return out + [Case("cli", "--data-dir missing, names (no other data folder)", ["--data-dir", "/nonexistent", *train(
        pre=['data.dataset="names"', 'model.name="rnn_classifier"'])], True, env={"DLP_DATA_DIR": None, "DLP_CACHE_DIR": "cache"})]

# -- run folders -------------------------------------------------------------------------------------------------------
def mount(path: Path, size: str, populate: Callable | None = None, ro: bool = False) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True, capture_output=True)
    MOUNTS.append(path)
    populate(path) if populate else None
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True, capture_output=True) if ro else None
    return path
RUNFOLDERS = """--out at a folder of the user's files | mine | train --out mine ! || --out at a regular file | file | train --out f !
--out . holding the user's files | note | train --out . ! || --out under a regular file | file | train --out f/run !
--out with missing parents | - | train --out a/b/c/run || --out at an existing run | img | train --out run !
--out at a run killed before its first checkpoint | died | train --out run || --out on a read-only file system | ro | train --out ro/run !
--out at a symlink to the user's folder | link | train --out link ! || --resume of a finished run | img | train --resume run =
--resume of a folder that is not a run | mine | train --resume mine ! || --resume of an empty folder | empty | train --resume e !
--resume of a file | file | train --resume f ! || --resume of an unfinished run | img-unfinished | train --resume run
--resume with --set | img | train --resume run --set train.epochs=2 ! || --resume on a read-only file system | ro:img-unfinished | train --resume ro/run !
predict on a read-only file system | ro:img | predict ro/run {png} || export on a read-only file system | ro:img | export ro/run !
report on a read-only file system | ro:img | report ro/run !"""
def runfolder_cases(fx) -> list[Case]:
    mine = writer({"mine/summary.json": '{"mine": true}', "mine/report.html": "<p>mine</p>", "mine/notes.txt": "mine"})
    setups = {"mine": mine, "file": writer({"f": "mine"}), "note": writer({"notes.txt": "mine"}), "-": None,
              "died": writer({"run/config.toml": "[train]\nepochs = 1\n"}), "empty": lambda f: (f / "e").mkdir(),
              "link": lambda f: (mine(f), os.symlink("mine", f / "link")), "ro": lambda f: mount(f / "ro", "16m", ro=True)}
    setups.update({k: lambda f, k=k: shutil.copytree(fx[k], f / "run") for k in ("img", "img-unfinished")})
    setups.update({f"ro:{k}": lambda f, k=k: mount(f / "ro", "16m", lambda m: shutil.copytree(fx[k], m / "run"), True)
                   for k in ("img", "img-unfinished")})
    out = []
    for w, setup, cmd in (x.split(" | ") for row in RUNFOLDERS.splitlines() for x in row.split(" || ")):
        mark, cmd = cmd[-1] if cmd[-1] in "!=" else "", cmd.rstrip("!= ")
        argv = shlex.split(cmd.format(png=fx["png"]))
        out.append(Case("runfolders", w, argv + (sets(*QUICK) if argv[:2] == ["train", "--out"] else []), mark == "!",
                        setups[setup], keep=["run"] if mark == "=" else []))
    return out
