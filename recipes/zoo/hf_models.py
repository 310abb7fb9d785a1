"""Small Hugging Face transformers built from configs in code (random init, no hub access).

Each factory wraps the HF model so `forward` takes plain tensors and returns one tensor, which is
what a recipe exports and verify compares.
"""

from __future__ import annotations

import torch
from torch import nn


class _Logits(nn.Module):
    """forward(*tensors) -> the wrapped model's `field` (logits, last_hidden_state, ...)."""

    def __init__(self, model: nn.Module, field: str):
        super().__init__()
        self.model, self.field = model.eval(), field


class _TextModel(_Logits):
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return getattr(self.model(input_ids=input_ids, attention_mask=attention_mask), self.field)


class _DecoderModel(_Logits):
    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return getattr(self.model(input_ids=input_ids, use_cache=False), self.field)


class _ImageModel(_Logits):
    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return getattr(self.model(pixel_values=pixel_values), self.field)


def bert_encoder(hidden_size: int = 64, layers: int = 2, heads: int = 4, vocab_size: int = 1000,
                 max_positions: int = 128) -> nn.Module:
    from transformers import BertConfig, BertModel

    config = BertConfig(hidden_size=hidden_size, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=2 * hidden_size, vocab_size=vocab_size,
                        max_position_embeddings=max_positions)
    return _TextModel(BertModel(config, add_pooling_layer=False), "last_hidden_state")


def gpt2_decoder(hidden_size: int = 64, layers: int = 2, heads: int = 4, vocab_size: int = 1000,
                 max_positions: int = 128) -> nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(n_embd=hidden_size, n_layer=layers, n_head=heads, vocab_size=vocab_size,
                        n_positions=max_positions,
                        bos_token_id=vocab_size - 1, eos_token_id=vocab_size - 1)
    return _DecoderModel(GPT2LMHeadModel(config), "logits")


def vit_classifier(hidden_size: int = 64, layers: int = 2, heads: int = 4, image_size: int = 32,
                   patch_size: int = 8, num_labels: int = 10) -> nn.Module:
    from transformers import ViTConfig, ViTForImageClassification

    config = ViTConfig(hidden_size=hidden_size, num_hidden_layers=layers, num_attention_heads=heads,
                       intermediate_size=2 * hidden_size, image_size=image_size, patch_size=patch_size,
                       num_labels=num_labels)
    return _ImageModel(ViTForImageClassification(config), "logits")
