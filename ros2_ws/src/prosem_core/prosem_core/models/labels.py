"""ImageNet-1k class names (shipped list) and coarse categories for open questions.

`imagenet_labels.txt` was generated once from pytorch/hub's imagenet_classes.txt (Keras class
index order, the order EfficientNet's `_fc` uses); two duplicated names were made distinct
(134 "crane (bird)" / 517 "crane (machine)", 638 "maillot" / 639 "tank suit").
Categories group classes by WordNet ancestry (index ranges checked against the list), so that
"is there a cat?" adds up all cat breeds and "a dog" all 118 breeds.
"""
from __future__ import annotations

from functools import lru_cache

from prosem_core.models.paths import IMAGENET_LABELS_FILE, data_file


def _r(a: int, b: int) -> list[int]:
    return list(range(a, b + 1))


# name -> ImageNet class indices. A class may be in several categories (a tabby is a cat and an animal).
CATEGORIES: dict[str, list[int]] = {
    "cat": _r(281, 285),
    "dog": _r(151, 268),
    "wolf or fox": _r(269, 280),
    "big cat": _r(286, 293),
    "bear": _r(294, 297),
    "bird": _r(7, 24) + _r(80, 100) + _r(127, 146),
    "fish": _r(0, 6) + _r(389, 397),
    "snake": _r(52, 68),
    "lizard": _r(38, 48),
    "turtle": _r(33, 37),
    "frog": _r(30, 32),
    "insect": _r(300, 319),
    "butterfly": _r(321, 326),
    "spider": _r(72, 77),
    "monkey": _r(365, 382),
    "rabbit": _r(330, 332),
    "horse": [339, 603],
    "cattle": _r(345, 347),
    "sheep or goat": _r(348, 350),
    "elephant": [101, 385, 386],
    "car": [407, 436, 468, 511, 609, 627, 656, 661, 717, 751, 817],
    "truck": [555, 569, 675, 717, 734, 864, 867],
    "bus": [654, 779, 874],
    "bicycle": [444, 671, 870, 880],
    "motorcycle": [665, 670],
    "boat": [403, 472, 484, 510, 554, 576, 625, 628, 724, 780, 814, 833, 871, 914],
    "airplane": [404, 895, 908],
    "train": [466, 547, 565, 705, 820, 829],
    "rocket": [657, 744, 812],
    "person": _r(981, 983),
    "computer": [508, 527, 590, 620, 664, 681],
    "phone": [487, 528, 707],
    "cup": [504, 968, 899],
    "bottle": [440, 720, 737, 898, 907],
    "chair": [423, 559, 765, 857],
    "fruit": _r(948, 957),
    "vegetable": _r(936, 945),
    "food": _r(924, 935) + _r(959, 967),
    "flower": [985, 986],
    "mushroom": [947] + _r(991, 997),
    "animal": _r(0, 397),
    "vehicle": [403, 404, 407, 436, 444, 466, 468, 472, 484, 510, 511, 547, 554, 555, 565, 569, 573, 575, 576, 609,
                625, 627, 628, 654, 656, 657, 661, 665, 670, 671, 675, 705, 717, 724, 734, 751, 779, 780, 812, 814,
                817, 820, 829, 833, 864, 866, 867, 870, 871, 874, 880, 895, 914],
}


@lru_cache(maxsize=1)
def imagenet_labels() -> tuple[str, ...]:
    names = tuple(line.strip() for line in data_file(IMAGENET_LABELS_FILE).read_text().splitlines() if line.strip())
    if len(names) != 1000:
        raise ValueError(f"{IMAGENET_LABELS_FILE} must list 1000 classes, found {len(names)}")
    return names


def category_of(index: int) -> str | None:
    """The most specific category of a class (first listed), or None."""
    for name, members in CATEGORIES.items():
        if name not in ("animal", "vehicle") and index in members:
            return name
    return None
