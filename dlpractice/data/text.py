"""Text data: labelled short strings (surnames → country) as padded character-id tensors.

One code path for training and prediction:
- `normalize` folds a string to the form the model sees: Unicode NFKD, combining marks dropped (as the
  PyTorch name-classification tutorial does, so "Nguyễn" → "Nguyen", "Müller" → "Muller"), surrounding
  whitespace stripped, optionally lower-cased. An empty or whitespace-only string is a UserError.
- `Vocab` maps characters to ids: 0 is padding, 1 is "unknown", 2.. are the characters of the training
  split (after normalisation, those seen at least `min_count` times). The unknown-character policy is
  explicit (`data.options.unknown`): "unk" maps a character never seen in training to id 1, "drop"
  leaves it out, "error" refuses the string. Its state is plain JSON (`meta["text"]`), saved in
  `data.json` and every checkpoint, so `dlp predict RUN --text Müller` encodes exactly like training
  (`dlpractice.inputs.sequence`).
- A split is stored as one (N, T_max) LongTensor right-padded with 0 (T_max = its longest string), so the
  loop's TensorLoader can index whole batches; the models (`dlpractice.models.rnn`) recover each length
  as the count of non-zero ids and trim a batch to its own longest string before packing.

Data sets registered here: `names` (the course's 13,374 / 6,700 split, lecture 13), `names-tutorial`
(the PyTorch tutorial's 18 files, 20,074 names, fixed stratified test split) and `text-csv` (your own
labelled strings from a CSV). Validation is carved from train (`data.val_fraction`, `data.split_seed`,
stratified) and the vocabulary is built from what remains, so neither validation nor test leaks into it.
"""
from __future__ import annotations

import csv
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from ..config import DataConfig
from ..errors import UserError, did_you_mean
from .paths import find_data
from .table import check_delimiter, open_text
from .registry import DataBundle, Split, bool_option, carve_validation, check_options, fixed_test_split, \
    fraction_option, int_option, path_option, register_dataset

PAD, UNK = 0, 1
UNKNOWN_POLICIES = ("unk", "drop", "error")

TEXT_OPTIONS = {
    "unknown": "character not in the vocabulary: unk (id 1) | drop | error (default unk)",
    "min_count": "characters seen fewer times in training map to unknown (default 1: keep all)",
    "lowercase": "fold case before encoding (default false: capitals carry information in names)",
    "max_length": "cut strings to this many characters (default 0: no limit; text-csv default 64)",
}
SPLIT_OPTIONS = {
    "test_fraction": "share held out as the fixed test split (default 1/3, like the course's 6,700 of 20,074)",
    "test_seed": "seed of the fixed test split (default 0)",
}
CSV_OPTIONS = {
    "path": "CSV file (plain or .gz) of labelled strings",
    "text_column": "column with the strings: header name or 0-based position (default 0)",
    "label_column": "column with the labels: header name or 0-based position (default 1)",
    "header": "first line holds column names (default true)",
    "delimiter": "field separator (default ',')",
}




# -- normalisation and vocabulary --------------------------------------------------------------------
def normalize(text: str, lowercase: bool = False, where: str = "") -> str:
    """NFKD, combining marks stripped, whitespace runs → one space, trimmed; empty → UserError."""
    if not isinstance(text, str):
        raise UserError(f"expected a string{where}, got {type(text).__name__}")
    folded = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    folded = " ".join(folded.split())  # NBSP and other spaces become one plain space
    if lowercase:
        folded = folded.lower()
    if not folded:
        raise UserError(f"empty or whitespace-only text{where}: give at least one character, e.g. a surname")
    return folded


class Vocab:
    """Character ↔ id: 0 padding, 1 unknown, 2.. `chars`; the normalisation and unknown policy with it."""

    def __init__(self, chars: list[str], unknown: str = "unk", lowercase: bool = False, max_length: int = 0):
        if unknown not in UNKNOWN_POLICIES:
            raise UserError(f"data.options.unknown must be one of {', '.join(UNKNOWN_POLICIES)}; got {unknown!r}")
        if not isinstance(max_length, int) or max_length < 0:
            raise UserError(f"data.options.max_length must be an integer ≥ 0; got {max_length!r}")
        self.chars, self.unknown, self.lowercase, self.max_length = list(chars), unknown, bool(lowercase), max_length
        self.index = {c: i + 2 for i, c in enumerate(self.chars)}

    def __len__(self) -> int:
        """Embedding rows needed: the characters plus padding and unknown."""
        return len(self.chars) + 2

    @classmethod
    def build(cls, texts: list[str], unknown: str = "unk", min_count: int = 1, lowercase: bool = False,
              max_length: int = 0) -> Vocab:
        """The characters of already-normalised training strings, sorted, those seen ≥ min_count times."""
        if not isinstance(min_count, int) or min_count < 1:
            raise UserError(f"data.options.min_count must be an integer ≥ 1; got {min_count!r}")
        counts = Counter(c for t in texts for c in t)
        return cls(sorted(c for c, n in counts.items() if n >= min_count), unknown, lowercase, max_length)

    def to_meta(self) -> dict:
        return {"chars": self.chars, "pad_id": PAD, "unk_id": UNK, "unknown": self.unknown,
                "lowercase": self.lowercase, "max_length": self.max_length, "normalize": "NFKD, combining marks stripped"}

    @classmethod
    def from_meta(cls, state: dict) -> Vocab:
        return cls(state["chars"], state.get("unknown", "unk"), state.get("lowercase", False),
                   state.get("max_length", 0))

    def normalize(self, text: str, where: str = "") -> str:
        s = normalize(text, self.lowercase, where)
        return s[:self.max_length] if self.max_length else s

    def ids(self, text: str, where: str = "") -> list[int]:
        """A raw string → ids (normalised here); the unknown policy applied to unseen characters."""
        s = self.normalize(text, where)
        out = []
        for c in s:
            i = self.index.get(c)
            if i is None:
                if self.unknown == "error":
                    raise UserError(f"character {c!r} (U+{ord(c):04X}) in {text!r}{where} was never seen in "
                                    "training; retrain with data.options.unknown = \"unk\" to map it to unknown")
                if self.unknown == "drop":
                    continue
                i = UNK
            out.append(i)
        if not out:
            raise UserError(f"{text!r}{where} has no character the model knows (all were dropped as unknown)")
        return out

    def encode(self, texts: list[str], where=None) -> torch.Tensor:
        """Strings → (N, T) LongTensor right-padded with 0, T the longest encoded string."""
        rows = [self.ids(t, where(i) if where else "") for i, t in enumerate(texts)]
        out = torch.zeros(len(rows), max((len(r) for r in rows), default=1), dtype=torch.long)
        for i, r in enumerate(rows):
            out[i, :len(r)] = torch.tensor(r, dtype=torch.long)
        return out

    def decode(self, ids) -> str:
        """Ids back to text (padding dropped, unknown shown as �), for printing."""
        return "".join("\ufffd" if int(i) == UNK else self.chars[int(i) - 2] for i in ids if int(i) != PAD)


def lengths(x: torch.Tensor) -> torch.Tensor:
    """Per-row lengths of a right-padded id batch: the count of non-padding ids."""
    return (x != PAD).sum(1)


# -- bundles -----------------------------------------------------------------------------------------
def _stratifiable(y: np.ndarray) -> bool:
    """Can a stratified split be drawn: at least two examples of every class present."""
    return len(y) > 1 and int(np.unique(y, return_counts=True)[1].min()) >= 2


def text_bundle(name: str, train: tuple[list[str], list[int]], test: tuple[list[str], list[int]],
                classes: list[str], cfg: DataConfig, opts: dict, source: str = "",
                where_train=None, where_test=None) -> DataBundle:
    """Raw (strings, label ids) for train and test → normalised, encoded splits and meta.

    Validation is carved from train (stratified when every class has two examples); the vocabulary is
    built from the remaining training strings only."""
    if len(set(np.asarray(train[1]).tolist())) < 2:
        raise UserError(f"the training strings of '{name}' ({source}) all have one label "
                        f"({list(classes)[:1]}); a classifier needs at least two")
    unknown = opts.get("unknown", "unk")
    lowercase = bool_option(opts, "lowercase", False)
    max_length = int_option(opts, "max_length", 0, 0, what="0: no limit")
    probe = Vocab([], unknown, lowercase, max_length)  # validates the options before any work
    tr_text = [probe.normalize(t, where_train(i) if where_train else f" (training row {i + 1})")
               for i, t in enumerate(train[0])]
    te_text = [probe.normalize(t, where_test(i) if where_test else f" (test row {i + 1})")
               for i, t in enumerate(test[0])]
    xtr, ytr = np.array(tr_text, dtype=object), np.asarray(train[1], dtype=np.int64)
    (xtr, ytr), (xva, yva) = carve_validation(xtr, ytr, cfg.val_fraction, cfg.split_seed,
                                              stratify=_stratifiable(ytr))
    vocab = Vocab.build(list(xtr), unknown, int_option(opts, "min_count", 1, 1), lowercase, max_length)
    # The policy "error" is for prediction (refuse a string with an unseen character); the data splits
    # map such characters (rare ones below min_count, ones met only in validation or test) to unknown.
    enc = Vocab(vocab.chars, "unk" if unknown == "error" else unknown, lowercase, max_length)

    def split(texts, y):
        return Split(enc.encode(list(texts)) if len(texts) else torch.zeros(0, 1, dtype=torch.long),
                     torch.as_tensor(np.asarray(y, dtype=np.int64)))

    splits = {"train": split(xtr, ytr), "val": split(xva, yva), "test": split(te_text, test[1])}
    meta = {"task": "sequence_classification", "input": "sequence", "classes": list(classes),
            "num_classes": len(classes), "vocab_size": len(vocab), "text": vocab.to_meta(), "source": source,
            "sizes": {k: len(v) for k, v in splits.items()}, "max_len": {k: int(v.x.shape[1]) for k, v in splits.items()}}
    return DataBundle(name, splits, meta)


# -- the course's names (lecture 13) ---------------------------------------------------------------------
NAMES_FILES = ["names_train.csv.gz", "names_test.csv.gz"]
NAMES_HOW = ("Get names_train.csv.gz and names_test.csv.gz (the course's names → country data) from "
             "https://github.com/hunkim/PyTorchZeroToAll/tree/master/data into <data-dir>/names.")
TUTORIAL_LANGUAGES = ["Arabic", "Chinese", "Czech", "Dutch", "English", "French", "German", "Greek", "Irish",
                      "Italian", "Japanese", "Korean", "Polish", "Portuguese", "Russian", "Scottish", "Spanish",
                      "Vietnamese"]
TUTORIAL_HOW = ("Get the 18 <Language>.txt files of the PyTorch tutorial 'Classifying names with a "
                "character-level RNN' (https://download.pytorch.org/tutorial/data.zip, folder data/names) "
                "into <data-dir>/names/tutorial.")


def read_pairs(path: Path) -> list[tuple[str, str]]:
    """A (gzip) CSV without header of `"Name","Country"` rows."""
    try:
        with open_text(path, encoding="utf-8") as f:
            rows = [r for r in csv.reader(f) if r]
    except (OSError, UnicodeDecodeError, csv.Error, EOFError) as e:
        raise UserError(f"cannot read {path}: {e}; expected a gzip CSV of \"Name\",\"Country\" rows") from None
    bad = next((i for i, r in enumerate(rows) if len(r) != 2), None)
    if bad is not None:
        raise UserError(f"{path} row {bad + 1} has {len(rows[bad])} fields; expected \"Name\",\"Country\"")
    return [(r[0], r[1]) for r in rows]


@register_dataset("names", "sequence_classification", "sequence",
                  "the course's surnames → country (lecture 13): 13,374 train / 6,700 test names, 18 countries",
                  "hunkim/PyTorchZeroToAll data/names_{train,test}.csv.gz in <data-dir>/names")
def load_names(cfg: DataConfig) -> DataBundle:
    opts = dict(cfg.options)
    check_options(opts, TEXT_OPTIONS, "names")
    folder = find_data("names", NAMES_FILES, how_to_get=NAMES_HOW)
    train, test = read_pairs(folder / NAMES_FILES[0]), read_pairs(folder / NAMES_FILES[1])
    classes = sorted({c for _, c in train})
    unseen = sorted({c for _, c in test} - set(classes))
    if unseen:
        raise UserError(f"{folder / NAMES_FILES[1]} has countries {unseen} that the training file lacks")
    ix = {c: i for i, c in enumerate(classes)}
    return text_bundle("names", ([n for n, _ in train], [ix[c] for _, c in train]),
                       ([n for n, _ in test], [ix[c] for _, c in test]), classes, cfg, opts,
                       source=str(folder),
                       where_train=lambda i: f" ({NAMES_FILES[0]} row {i + 1})",
                       where_test=lambda i: f" ({NAMES_FILES[1]} row {i + 1})")


def _fixed_test_split(y: np.ndarray, opts: dict, source) -> tuple[np.ndarray, np.ndarray]:
    frac = fraction_option(opts, "test_fraction", 1 / 3)
    if len(y) < 4:
        raise UserError(f"{source} holds only {len(y)} labelled strings: too few to split into train and test "
                        "(at least 4)")
    return fixed_test_split(y, frac, int_option(opts, "test_seed", 0), stratify=_stratifiable(y))


@register_dataset("names-tutorial", "sequence_classification", "sequence",
                  "the PyTorch tutorial's 20,074 surnames in 18 languages (accents kept in the files, folded "
                  "on load); fixed stratified 1/3 test split (seed 0)",
                  "PyTorch tutorials data.zip data/names/*.txt in <data-dir>/names/tutorial")
def load_names_tutorial(cfg: DataConfig) -> DataBundle:
    opts = dict(cfg.options)
    check_options(opts, {**TEXT_OPTIONS, **SPLIT_OPTIONS}, "names-tutorial")
    files = [f"{lang}.txt" for lang in TUTORIAL_LANGUAGES]
    folder = find_data("names/tutorial", files, how_to_get=TUTORIAL_HOW)
    texts, labels, where = [], [], []
    for k, f in enumerate(files):
        try:
            lines = (folder / f).read_text(encoding="utf-8").split("\n")
        except (OSError, UnicodeDecodeError) as e:
            raise UserError(f"cannot read {folder / f}: {e}; expected UTF-8 text, one name per line") from None
        for n, line in enumerate(lines, 1):
            if line.strip():  # the final newline leaves one empty string; blank lines are not names
                texts.append(line)
                labels.append(k)
                where.append(f" ({f} line {n})")
    y = np.asarray(labels, dtype=np.int64)
    tr, te = _fixed_test_split(y, opts, folder)
    bundle = text_bundle("names-tutorial", ([texts[i] for i in tr], y[tr].tolist()),
                         ([texts[i] for i in te], y[te].tolist()), TUTORIAL_LANGUAGES, cfg,
                         {k: v for k, v in opts.items() if k in TEXT_OPTIONS}, source=str(folder),
                         where_train=lambda i: where[tr[i]], where_test=lambda i: where[te[i]])
    bundle.meta["split"] = {"test_fraction": opts.get("test_fraction", 1 / 3), "test_seed": opts.get("test_seed", 0)}
    return bundle


# -- your own labelled strings -------------------------------------------------------------------------
def _column(ref, header: list[str] | None, width: int, option: str, path: Path) -> int:
    if isinstance(ref, int) and not isinstance(ref, bool):
        if not -width <= ref < width:
            raise UserError(f"data.options.{option} = {ref}, but {path} has only {width} columns")
        return ref % width
    if isinstance(ref, str) and header is not None:
        if ref in header:
            return header.index(ref)
        raise UserError(f"data.options.{option} names column '{ref}'{did_you_mean(ref, header)}, which {path} lacks; "
                        f"its columns: {', '.join(header)}")
    if isinstance(ref, str) and ref.lstrip("-").isdigit():
        return _column(int(ref), header, width, option, path)
    raise UserError(f"data.options.{option} must be a column name (with a header) or a 0-based position; got {ref!r}")


@register_dataset("text-csv", "sequence_classification", "sequence",
                  "your own labelled strings from a CSV (data.options.path, text_column, label_column); "
                  "fixed stratified test split (data.options.test_fraction, default 1/3)",
                  "a local CSV file, plain or .gz")
def load_text_csv(cfg: DataConfig) -> DataBundle:
    opts = dict(cfg.options)
    check_options(opts, {**TEXT_OPTIONS, **SPLIT_OPTIONS, **CSV_OPTIONS}, "text-csv")
    if not opts.get("path"):
        raise UserError("data set 'text-csv' needs data.options.path, e.g. --set data.options.path=names.csv "
                        "(and data.options.text_column / label_column; see `dlp datasets`)")
    path = path_option(opts, "path")
    delimiter = check_delimiter(opts.get("delimiter", ","))
    header_line = bool_option(opts, "header", True)
    if not path.is_file():
        raise UserError(f"CSV file not found: {path}; check data.options.path")
    try:
        with open_text(path) as f:
            reader = csv.reader(f, delimiter=delimiter)
            rows = [(reader.line_num, r) for r in reader if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error, EOFError) as e:
        raise UserError(f"cannot read CSV {path}: {e}; is it a UTF-8 text CSV (optionally gzip-compressed)?") from None
    header = [c.strip() for c in rows.pop(0)[1]] if header_line and rows else None
    if not rows:
        raise UserError(f"CSV {path} has no data rows")
    width = len(header) if header is not None else len(rows[0][1])
    ti = _column(opts.get("text_column", 0), header, width, "text_column", path)
    li = _column(opts.get("label_column", 1), header, width, "label_column", path)
    if ti == li:
        raise UserError("data.options.text_column and label_column are the same column")
    texts, labels, lines = [], [], []
    for line, r in rows:
        if len(r) != width:
            raise UserError(f"CSV {path} line {line} has {len(r)} fields but {width} are expected; check for an "
                            "unquoted comma or a missing field")
        if not r[li].strip():
            raise UserError(f"CSV {path} line {line} has an empty label")
        texts.append(r[ti])
        labels.append(r[li].strip())
        lines.append(line)
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise UserError(f"CSV {path} has a single label {classes}; a classifier needs at least two")
    ix = {c: i for i, c in enumerate(classes)}
    y = np.array([ix[c] for c in labels], dtype=np.int64)
    tr, te = _fixed_test_split(y, opts, f"CSV {path}")
    text_opts = {k: v for k, v in opts.items() if k in TEXT_OPTIONS}
    text_opts.setdefault("max_length", 64)
    bundle = text_bundle(path.stem, ([texts[i] for i in tr], y[tr].tolist()), ([texts[i] for i in te], y[te].tolist()),
                         classes, cfg, text_opts, source=str(path),
                         where_train=lambda i: f" ({path.name} line {lines[tr[i]]})",
                         where_test=lambda i: f" ({path.name} line {lines[te[i]]})")
    bundle.meta["path"] = str(path)
    return bundle
