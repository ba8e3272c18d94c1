"""`dlp sample RUN -n 64`: a new grid of images from the generator of a GAN run folder."""
from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from .help import Help


def cmd_sample(args) -> int:
    import torch

    from ..track.gan_score import save_grid
    from ..train.adversarial import generate
    from ..runs.folder import Run
    run = Run(args.run)
    ck = run.checkpoint(args.checkpoint)
    meta = ck.get("data_meta") or {}
    if meta.get("task") != "generation":
        raise UserError(f"{run.folder} is a {meta.get('task', 'non-GAN')} run; `dlp sample` needs a GAN run "
                        "(a generator such as dcgan_g: `dlp lesson gan`)")
    if args.n < 1:
        raise UserError(f"-n must be at least 1, got {args.n}")
    out = Path(args.out) if args.out else run.folder / "samples" / f"sample-seed{args.seed}-n{args.n}.png"
    if out.suffix.lower() != ".png":
        raise UserError(f"--out {out} must end in .png")
    if out.exists():
        raise UserError(f"{out} already exists; choose another --out or --seed (nothing was overwritten)")
    g = run.model(args.checkpoint)
    # At least 64 noise vectors, so the BatchNorm statistics of a small request are not those of 1–2 images.
    noise = torch.randn(max(args.n, 64), meta["latent_dim"], generator=torch.Generator().manual_seed(args.seed))
    save_grid(generate(g, noise, torch.device("cpu"))[:args.n], out)
    print(f"{args.n} images from the {args.checkpoint} checkpoint (epoch {ck['epoch'] - 1}, "
          f"seed {args.seed}) → {out}")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("sample", help="draw a grid of images from a GAN run's generator",
                       formatter_class=Help)
    p.add_argument("run", help="GAN run folder")
    p.add_argument("-n", type=int, default=64, help="how many images")
    p.add_argument("--out", default=None, help="PNG to write (default: RUN/samples/sample-seed<seed>-n<n>.png)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise: the same seed draws the same images")
    p.add_argument("--checkpoint", default="best", choices=["best", "last"],
                   help="which generator: best (lowest validation FID) or last")
    p.set_defaults(func=cmd_sample)
