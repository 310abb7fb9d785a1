"""Partitioning: split the lowered graph into TensorRT and torch segments.

Support comes from the converter registry (and `torch_executed_ops`); grouping, cycle checks and
fusion come from torch.fx's CapabilityBasedPartitioner. TensorRT blocks with fewer than
`min_block_size` ops fall back to torch. Every node left to torch carries the reason.
"""

from .partition import Partition, Segment, partition

__all__ = ["Partition", "Segment", "partition"]
