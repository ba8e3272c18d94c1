"""train.calibrate = "temperature": the trained classifier's logits divided by one temperature fitted on
the validation split once the best epoch is chosen (models/calibration.py says why and how)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import UserError
from ..models._registry import ENSEMBLE_TASKS
from ..models.calibration import fit_temperature, tempered
from ..runs.checkpoint import load_checkpoint, save_checkpoint
from ..runs.evaluate import evaluate_outputs


def calibrated_args(cfg, spec, data, model_args: dict) -> dict:
    """The model's arguments with the Tempered wrapper when train.calibrate asks for it; a run it cannot
    serve (no softmax classes, no validation split) is refused before any file is written."""
    if cfg.train.calibrate == "off":
        return model_args
    if spec.task not in ENSEMBLE_TASKS:   # the tasks whose outputs are softmax logits
        raise UserError(f"train.calibrate = temperature scales a classifier's softmax; model '{spec.name}' is for "
                        f"{spec.task}: set train.calibrate = off")
    if not len(data.splits["val"]):
        raise UserError("train.calibrate = temperature is fitted on the validation split, which is empty here: "
                        "set data.val_fraction > 0 (e.g. 0.1), or train.calibrate = off")
    return {**model_args, "calibrated": True}


def calibrated_loss(t, logits: torch.Tensor, y: torch.Tensor) -> float:
    """An epoch's validation log-loss at the temperature fitted to its validation outputs `logits`: what the
    run would score were this epoch chosen, so `train.choose_by = "loss"` picks by it (a later epoch is often
    sharper, its raw loss higher, and better once calibrated). Rank 0's figure for every rank, so all choose alike."""
    y = y.view(-1).long()
    found = float(F.cross_entropy(logits / fit_temperature(logits, y), y)) if t.ranks.main else None
    return t.ranks.from_main(found)


def fit_on_validation(t) -> dict | None:
    """With the best checkpoint loaded into `t.eval_model`: T fitted to validation's log-loss at T = 1 (so
    a run finished twice fits the same T), set in the model and written into checkpoints/best.pt."""
    holder = tempered(t.eval_model)
    if holder is None:
        return None
    holder.temperature.fill_(1.0)
    val = t.data.splits["val"]
    logits = evaluate_outputs(t.eval_model, t.task, val.x, val.y, t.cfg, t.device, t.ranks)[1]
    y = val.y.view(-1).long()
    temperature = t.ranks.from_main(fit_temperature(logits, y) if t.ranks.main else None)
    holder.temperature.fill_(temperature)
    found = {"temperature": round(temperature, 4), "val_loss_before": round(float(F.cross_entropy(logits, y)), 5),
             "val_loss_after": round(float(F.cross_entropy(logits / temperature, y)), 5)}
    if t.ranks.main:
        path = t.folder / "checkpoints" / "best.pt"
        ck = load_checkpoint(path)
        ck["model"] = {k: v.detach().cpu() for k, v in t.eval_model.state_dict().items()}
        save_checkpoint(path, ck)
        print(f"calibration: temperature {temperature:.3f} fitted on validation (log-loss "
              f"{found['val_loss_before']:.4f} → {found['val_loss_after']:.4f}; the predicted classes stay)",
              flush=True)
    return found
