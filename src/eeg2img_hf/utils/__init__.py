"""Leaf helpers shared by every layer (image conversion and grids, the restricted unpickler); they import nothing else of the package."""
