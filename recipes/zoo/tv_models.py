"""torchvision models whose default initialisation would make verification vacuous."""

from __future__ import annotations

from torch import nn


def vit_b_16(**kwargs) -> nn.Module:
    """torchvision's ViT-B/16 zero-initialises its classifier head, so every logit is 0 and eager vs
    TensorRT would agree on nothing but zeros: give the head random weights instead."""
    from torchvision.models import vit_b_16 as build

    model = build(**kwargs)
    nn.init.normal_(model.heads.head.weight, std=0.02)
    nn.init.normal_(model.heads.head.bias, std=0.02)
    return model
