"""Recurrent sequence classifiers of lecture 13: embedding → RNN / LSTM / GRU over packed sequences → linear.

Input: a (B, T) LongTensor of character ids right-padded with 0 (id 0 is padding, 1 is unknown; see
`dlpractice.data.text`). Each length is the count of non-zero ids; the batch is trimmed to its own longest
sequence and packed (`pack_padded_sequence`), so the recurrence never reads a padding step and a
prediction does not depend on what else is in the batch or how far it was padded.
Output: logits (B, num_classes).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ._registry import (MAX_LAYERS, MAX_SIZE, MAX_UNITS, check_choice, check_count, check_counts, check_flag,
                        check_fraction, register_model)

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
POOLS = ("last", "max", "mean", "last+max")
NGRAM_POOLS = ("max", "max+mean")
MAX_WIDTH_NGRAM = 64    # longest character n-gram a convolution reads


class SequenceClassifier(nn.Module):
    """Embedding, a (bidirectional, multi-layer) recurrent network, a pooling of it and a linear head.

    `pool`: "last" concatenates the top layer's final hidden state of each direction (the course's model:
    forward state after the last character, backward state after the first); "max" / "mean" pool the top
    layer's outputs over the real (unpadded) steps; "last+max" concatenates both.
    `char_dropout`: in training, each character is replaced by the unknown id (1) with this probability,
    so the model cannot lean on any single character (and learns an embedding for unknown ones).
    `ngram_channels` > 0 adds a character n-gram branch beside the RNN: one Conv1d per width in
    `ngram_widths` over the embeddings (zero-padded by width − 1 at both ends, so prefixes and suffixes
    get their own windows), ReLU, pooled over the name's windows by max ("max") or max and mean
    ("max+mean": presence and frequency of each learnt n-gram, like a bag of n-grams); its features are
    concatenated with the RNN's before the linear head.
    """

    def __init__(self, vocab_size: int, num_classes: int, cell: str = "gru", embedding_dim: int = 64,
                 hidden_size: int = 128, num_layers: int = 1, bidirectional: bool = True, dropout: float = 0.0,
                 embed_dropout: float = 0.0, pool: str = "last", char_dropout: float = 0.0,
                 ngram_channels: int = 0, ngram_widths: tuple | list = (2, 3, 4, 5), ngram_pool: str = "max"):
        super().__init__()
        check_count("model.args.vocab_size", vocab_size, 1, most=MAX_SIZE)
        check_count("model.args.num_classes", num_classes, 1, most=MAX_SIZE)
        check_choice("model.args.cell", cell, CELLS)
        check_count("model.args.embedding_dim", embedding_dim, 1, most=MAX_UNITS)
        check_count("model.args.hidden_size", hidden_size, 1, most=MAX_UNITS)
        check_count("model.args.num_layers", num_layers, 1, most=MAX_LAYERS)
        check_flag("model.args.bidirectional", bidirectional)
        for what, value in (("dropout", dropout), ("embed_dropout", embed_dropout), ("char_dropout", char_dropout)):
            check_fraction(f"model.args.{what}", value)
        check_choice("model.args.pool", pool, POOLS)
        check_count("model.args.ngram_channels", ngram_channels, 0, "0: no n-gram branch", most=MAX_UNITS)
        check_counts("model.args.ngram_widths", ngram_widths, 1, MAX_WIDTH_NGRAM, example="[2, 3, 4, 5]")
        check_choice("model.args.ngram_pool", ngram_pool, NGRAM_POOLS)
        widths = list(ngram_widths) if ngram_channels else []
        self.cell, self.pool, self.num_layers, self.char_dropout = cell, pool, num_layers, char_dropout
        self.ngram_pool = ngram_pool
        self.directions = 2 if bidirectional else 1
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.embed_drop = nn.Dropout(embed_dropout)
        self.rnn = CELLS[cell](embedding_dim, hidden_size, num_layers=num_layers, batch_first=True,
                               bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)
        self.ngrams = nn.ModuleList(nn.Conv1d(embedding_dim, ngram_channels, w, padding=w - 1) for w in widths)
        self.drop = nn.Dropout(dropout)
        width = hidden_size * self.directions * (2 if pool == "last+max" else 1)
        width += ngram_channels * len(widths) * (2 if ngram_pool == "max+mean" else 1)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lengths = (x != 0).sum(1).clamp(min=1)      # an all-padding row reads one padding step
        x = x[:, :int(lengths.max())]               # (B, T_batch): trim this batch's padding columns
        if self.training and self.char_dropout:
            drop = (torch.rand(x.shape, device=x.device) < self.char_dropout) & (x != 0)
            x = x.masked_fill(drop, 1)              # 1: the unknown id; padding stays padding
        emb = self.embed_drop(self.embedding(x))    # (B, T_batch, embedding_dim)
        packed = pack_padded_sequence(emb, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, h = self.rnn(packed)
        if self.cell == "lstm":
            h = h[0]                                # (h_n, c_n): the hidden state, not the cell state
        feats = []
        if self.pool in ("last", "last+max"):
            # h: (num_layers * directions, B, hidden); the top layer's directions are the last ones
            feats.append(torch.cat(list(h[-self.directions:]), dim=1))
        if self.pool != "last":
            seq, _ = pad_packed_sequence(out, batch_first=True)        # (B, T_batch, hidden * directions)
            mask = (torch.arange(seq.shape[1], device=x.device)[None, :] < lengths[:, None].to(x.device))[..., None]
            if self.pool == "mean":
                feats.append((seq * mask).sum(1) / lengths[:, None].to(seq.dtype))
            else:
                feats.append(seq.masked_fill(~mask, float("-inf")).amax(1))
        if len(self.ngrams):
            feats.extend(self._ngram_features(emb, lengths.to(x.device)))
        return self.fc(self.drop(torch.cat(feats, dim=1)))

    def _ngram_features(self, emb: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
        """Max (and mean) over each name's n-gram windows; windows that lie wholly in padding are masked.
        Padding embeds to zeros (padding_idx), so the windows that touch a name's end see the same zeros
        as the convolution's own padding: the features do not depend on how far a batch is padded."""
        out = []
        e = emb.transpose(1, 2)                                      # (B, embedding_dim, T_batch)
        for conv in self.ngrams:
            w = conv.kernel_size[0]
            a = torch.relu(conv(e))                                  # (B, C, T_batch + w - 1)
            n = lengths + (w - 1)                                    # windows touching the name
            valid = torch.arange(a.shape[2], device=a.device)[None, :] < n[:, None]
            a = a * valid[:, None, :]                                # ReLU ≥ 0: zeros never win the max
            out.append(a.amax(2))
            if self.ngram_pool == "max+mean":
                out.append(a.sum(2) / n[:, None].to(a.dtype))
        return out


@register_model("course_rnn", "sequence_classification", "sequence",
                "lecture 13's name classifier: embedding 100, bidirectional GRU hidden 100 × 2 layers, "
                "final hidden states of both directions → linear")
def course_rnn(vocab_size: int = 60, num_classes: int = 18, hidden_size: int = 100, num_layers: int = 2,
               bidirectional: bool = True) -> nn.Module:
    # The course embeds characters into hidden_size dimensions (nn.Embedding(N_CHARS, HIDDEN_SIZE)).
    check_count("model.args.hidden_size", hidden_size, 1, most=MAX_UNITS)
    return SequenceClassifier(vocab_size, num_classes, cell="gru", embedding_dim=hidden_size,
                              hidden_size=hidden_size, num_layers=num_layers, bidirectional=bidirectional)


@register_model("rnn_classifier", "sequence_classification", "sequence",
                "configurable sequence classifier: cell rnn|lstm|gru, layers, bidirectional, embedding and "
                "hidden sizes, dropout, character dropout, pooling last|max|mean|last+max, optional character "
                "n-gram convolution branch; packed padded sequences")
def rnn_classifier(vocab_size: int = 60, num_classes: int = 18, cell: str = "gru", embedding_dim: int = 64,
                   hidden_size: int = 128, num_layers: int = 1, bidirectional: bool = True, dropout: float = 0.0,
                   embed_dropout: float = 0.0, pool: str = "last", char_dropout: float = 0.0,
                   ngram_channels: int = 0, ngram_widths: list = (2, 3, 4, 5), ngram_pool: str = "max") -> nn.Module:
    return SequenceClassifier(vocab_size, num_classes, cell, embedding_dim, hidden_size, num_layers,
                              bidirectional, dropout, embed_dropout, pool, char_dropout, ngram_channels,
                              ngram_widths, ngram_pool)
