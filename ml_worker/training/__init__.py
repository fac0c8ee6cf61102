"""Training and evaluation of the spine-level classifier.

`data` builds slice datasets (an exported manifest of DICOM files, or phantoms
in memory), `train` runs the reference protocol (`python -m
ml_worker.training.train`), `evaluate` writes the per-class table, confusion
matrix and training curves (`python -m ml_worker.training.evaluate`).
"""
