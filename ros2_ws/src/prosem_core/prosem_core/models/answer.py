"""What an answerer returns."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Answer:
    text: str  # readable answer (easy-VQA: the answer word, as the data set writes answers)
    confidence: float  # 0..1, the model's probability for what it says
    label: str  # short canonical answer used for exact agreement/accuracy ("circle", "yes", "tabby")
    route: str  # "shapes" (easy-VQA head) or "open" (ImageNet head + MiniLM)
    details: dict = field(default_factory=dict)
