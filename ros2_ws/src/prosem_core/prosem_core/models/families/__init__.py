"""One module per model family; each defines FAMILY (see models/family.py) and is listed in models/registry.py."""
