"""Import FLAIR-style checkpoints (smp U-Net, 5 bands, FLAIR-1 19 classes) into costa.

The 19 FLAIR-1 classes map to costa's 16 by the table below, which is data: it goes into
the ONNX metadata (one costa code per output channel, 0 for "other" = no data) and the
model card. The graph keeps its 19 outputs; costa takes the argmax over all 19 channels and
then looks the code up, so predictions equal the mapped argmax of the torch checkpoint.

Checkpoints are read with ``torch.load(weights_only=True)``: tensors only, never code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from costa.errors import ModelError, first_line, require
from costa.models.card import ModelCard
from costa.models.export import ExportReport, export_onnx, make_unet

__all__ = ["FLAIR1_TO_COSTA", "FLAIR_CARD", "import_flair"]

FLAIR1_TO_COSTA: tuple[tuple[int, str, int], ...] = (
    (1, "building", 1),
    (2, "pervious surface", 3),
    (3, "impervious surface", 2),
    (4, "bare soil", 6),
    (5, "water", 7),
    (6, "coniferous", 9),
    (7, "deciduous", 10),
    (8, "brushwood", 12),
    (9, "vineyard", 16),
    (10, "herbaceous vegetation", 13),
    (11, "agricultural land", 14),
    (12, "plowed land", 15),
    (13, "swimming pool", 4),
    (14, "snow", 8),
    (15, "clear cut", 11),
    (16, "mixed", 10),
    (17, "ligneous", 12),
    (18, "greenhouse", 5),
    (19, "other", 0),
)
"""(FLAIR-1 value, FLAIR name, costa code), from docs/nomenclature.md."""

FLAIR_CARD = ModelCard(
    name="flair-import",
    classes=tuple(code for _, _, code in FLAIR1_TO_COSTA),
    bands=("R", "G", "B", "NIR", "DEM"),
    mean=(105.08, 110.87, 101.82, 106.38, 53.26),
    std=(52.17, 45.38, 44.0, 39.69, 79.3),
    tile_size=512,
    halo=128,
    stride=32,
    license="see the checkpoint's licence (FLAIR: Etalab 2.0)",
    source="FLAIR-1 style smp U-Net checkpoint",
    extra={"class_mapping": [{"flair": v, "name": n, "costa": c} for v, n, c in FLAIR1_TO_COSTA]},
)

_PREFIXES = ("model.seg_model.", "seg_model.", "model.", "module.", "net.")


def load_state_dict(path: str | Path) -> dict[str, Any]:
    """Tensors of a checkpoint (Lightning ``state_dict`` or bare), with wrapper prefixes removed."""
    torch = require("torch", "train", "import_flair")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling refused or not a torch file
        raise ModelError(f"{path} is not a weights-only torch checkpoint ({first_line(e, 160)})") from None
    sd = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(sd, dict) or not sd:
        raise ModelError(f"{path} holds no state_dict of tensors")
    out = {}
    for k, v in sd.items():
        for p in _PREFIXES:
            if k.startswith(p):
                k = k[len(p) :]
                break
        out[k] = v
    return out


def import_flair(
    checkpoint: str | Path, out: str | Path, encoder: str = "resnet34", name: str = "flair-import"
) -> ExportReport:
    """Build the smp U-Net, load the checkpoint strictly, export to ONNX with the mapped card."""
    sd = load_state_dict(checkpoint)
    model = make_unet(encoder, in_channels=5, classes=len(FLAIR1_TO_COSTA))
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise ModelError(
            f"{checkpoint} does not match an smp U-Net/{encoder} with 5 inputs and 19 classes "
            f"({first_line(e, 200)}); pass the right --encoder"
        ) from None
    card = ModelCard(
        **{**FLAIR_CARD.__dict__, "name": name, "source": f"FLAIR checkpoint {Path(checkpoint).name}"}
    )
    return export_onnx(model, card, out)
