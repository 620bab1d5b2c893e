"""The one error a node or CLI reports when it cannot build its models.

`str(ModelSetupError)` is a single line: what is wrong, then the exact command that fixes it, so a node
can log it and exit non-zero, and a user can copy the command.
"""
from __future__ import annotations


class ModelSetupError(RuntimeError):
    """A model, ONNX export or codebook is missing, broken, or belongs to another model."""

    def __init__(self, problem: str, fix: str = ""):
        self.problem = " ".join(str(problem).split())  # one line, whatever the cause's message held
        self.fix = " ".join(str(fix).split())
        super().__init__(f"{self.problem}; fix: {self.fix}" if self.fix else self.problem)


class ModelOptionError(ModelSetupError, ValueError):
    """A pipeline option is unknown or does not apply to the chosen model (also a ValueError)."""
