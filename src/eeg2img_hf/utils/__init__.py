"""Leaf helpers shared by every layer (image conversion and grids, the restricted unpickler, argument checks, user
errors, safe output paths, model-folder checks); they import nothing else of the package."""
