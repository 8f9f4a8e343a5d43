"""Spatial building blocks for landrec: CRS registry, sheet grid, IO, storage.

Knows nothing of parcels; the domain lives in :mod:`cadastre`.
"""

__version__ = "0.1.0"
