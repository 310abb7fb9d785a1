"""Engine building: TensorRT flavour, builder config, optimization profiles, serialization."""
