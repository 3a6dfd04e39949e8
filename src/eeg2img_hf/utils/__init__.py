"""Small shared helpers (image conversion and grids)."""
