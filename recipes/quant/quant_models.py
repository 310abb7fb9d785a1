"""Models and calibration data for the quantized recipes (random weights, no hub access)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "zoo"))
from hf_models import bert_encoder  # noqa: E402,F401  (the zoo's BERT encoder, also quantized here)


def token_batches(batches: int = 8, vocab_size: int = 1000):
    """Calibration batches for the BERT encoder: token ids and attention masks of varied sizes (a
    stand-in for real text; a real recipe would tokenize a sample of its data here)."""
    generator = torch.Generator().manual_seed(7)
    for k in range(batches):
        batch, seq = 1 + k % 4, 16 * (1 + k % 8)
        ids = torch.randint(0, vocab_size, (batch, seq), generator=generator)
        mask = torch.ones(batch, seq, dtype=torch.int64)
        mask[:, seq - k % 5:] = 0  # some padding at the end
        yield ids, mask
