"""DCGAN for 28×28 images (Radford et al. 2016): a generator from noise and a discriminator.

The paper's rules, scaled to 28×28 and to a CPU: transposed convolutions instead of upsampling, BatchNorm
in both players (not in G's output or D's input layer), ReLU in G with a tanh output in [-1, 1], LeakyReLU
0.2 in D, no pooling, weights drawn from N(0, 0.02). Widths are half of the usual 28×28 DCGAN's
(G 256·7·7 → 128, D 64 → 128) so that an epoch of Fashion-MNIST (54,000 images, batch 64) takes 65–110 s
on one CPU thread of a shared 2-core machine (`lessons/gan.toml`, docs/RESULTS.md).
"""
from __future__ import annotations

import torch
from torch import nn

from ._registry import MAX_LAYERS, MAX_UNITS, check_count, check_flag, register_model

__all__ = ["Generator", "Discriminator", "dcgan_g", "dcgan_d"]


def _dcgan_init(m: nn.Module) -> None:
    # Radford et al. 2016 §4: all weights from N(0, 0.02); BatchNorm scales from N(1, 0.02).
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class Generator(nn.Module):
    """z (B, latent_dim) → linear to (B, 4w, 7, 7) → ConvT to (B, 2w, 14, 14) → ConvT to (B, C, 28, 28), tanh."""

    def __init__(self, latent_dim: int = 64, width: int = 32, channels: int = 1, refine: int = 0, deep: int = 0):
        super().__init__()
        self.latent_dim = latent_dim
        c1, c2 = 4 * width, 2 * width
        self.project = nn.Sequential(nn.Linear(latent_dim, c1 * 7 * 7, bias=False), nn.BatchNorm1d(c1 * 7 * 7),
                                     nn.ReLU(), nn.Unflatten(1, (c1, 7, 7)))              # (B, c1, 7, 7)
        # `deep` more 3×3 layers at 7×7 (conv + BN + ReLU), where the garment's shape is laid out
        self.mid = nn.Sequential(*[m for _ in range(deep) for m in
                                   (nn.Conv2d(c1, c1, 3, padding=1, bias=False), nn.BatchNorm2d(c1), nn.ReLU())])
        if refine:   # one more layer at full size: ConvT to (B, refine, 28, 28) + BN + ReLU, then 3×3 conv to C
            last = [nn.ConvTranspose2d(c2, refine, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(refine),
                    nn.ReLU(), nn.Conv2d(refine, channels, 3, padding=1)]
        else:
            last = [nn.ConvTranspose2d(c2, channels, 4, stride=2, padding=1)]
        self.up = nn.Sequential(
            nn.ConvTranspose2d(c1, c2, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(c2), nn.ReLU(),  # 14×14
            *last, nn.Tanh(),                                                                            # 28×28
        )
        self.apply(_dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.up(self.mid(self.project(z)))


class Discriminator(nn.Module):
    """(B, C, 28, 28) → conv s2 to (B, w, 14, 14) → conv s2 to (B, 2w, 7, 7) → linear → one logit (B, 1):
    real (> 0) or generated."""

    def __init__(self, in_channels: int = 1, width: int = 32, spectral_norm: bool = False):
        super().__init__()
        # spectral_norm: every layer's weight divided by its largest singular value (Miyato et al. 2018)
        # in place of BatchNorm, so D is 1-Lipschitz per layer
        sn = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda m: m)
        norm = [] if spectral_norm else [nn.BatchNorm2d(2 * width)]
        self.net = nn.Sequential(
            sn(nn.Conv2d(in_channels, width, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),      # (B, w, 14, 14)
            sn(nn.Conv2d(width, 2 * width, 4, stride=2, padding=1, bias=spectral_norm)), *norm,
            nn.LeakyReLU(0.2),                                                                  # (B, 2w, 7, 7)
            nn.Flatten(), sn(nn.Linear(2 * width * 7 * 7, 1)),
        )
        if not spectral_norm:
            self.apply(_dcgan_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@register_model("dcgan_g", "generation", "noise",
                "DCGAN generator: noise (64) → linear 128×7×7 → ConvT 14×14 → ConvT 28×28, BN + ReLU, tanh",
                input_size=28, paper={"latent_dim": 100, "width": 64})
def dcgan_g(latent_dim: int = 64, width: int = 32, channels: int = 1, refine: int = 0, deep: int = 0) -> Generator:
    for what, value, least, most in (("latent_dim", latent_dim, 1, MAX_UNITS), ("width", width, 1, MAX_UNITS // 4),
                                     ("channels", channels, 1, MAX_UNITS), ("refine", refine, 0, MAX_UNITS),
                                     ("deep", deep, 0, MAX_LAYERS)):
        check_count(f"model.args.{what} of dcgan_g", value, least, most=most)
    return Generator(latent_dim, width, channels, refine, deep)


@register_model("dcgan_d", "generation", "image",
                "DCGAN discriminator: conv s2 (32) → conv s2 (64) + BN, LeakyReLU 0.2 → one logit",
                input_size=28, paper={"width": 64})
def dcgan_d(in_channels: int = 1, width: int = 32, spectral_norm: bool = False) -> Discriminator:
    check_count("gan.d_args.in_channels of dcgan_d", in_channels, 1, most=MAX_UNITS)
    check_count("gan.d_args.width of dcgan_d", width, 1, most=MAX_UNITS // 2)
    check_flag("gan.d_args.spectral_norm of dcgan_d", spectral_norm)
    return Discriminator(in_channels, width, spectral_norm)
