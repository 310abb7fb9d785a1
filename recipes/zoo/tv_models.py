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


def efficientnet_b0(**kwargs) -> nn.Module:
    """torchvision initialises convs with kaiming fan_out: for depthwise convs that is a std of
    sqrt(2 / (channels * 9)), and activations shrink block after block until the logits are ~1e-14.
    float16 flushes such values to 0, so a half-precision check would compare zeros. fan_in keeps
    activations at order 1, as trained weights do."""
    from torchvision.models import efficientnet_b0 as build

    model = build(**kwargs)
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_in")
    return model
