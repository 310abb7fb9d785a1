"""Export: build the model a recipe names, load its weights, and trace it with torch.export."""

from .model import build_model, load_program
from .trace import load_export_machinery, trace

__all__ = ["build_model", "load_export_machinery", "load_program", "trace"]
