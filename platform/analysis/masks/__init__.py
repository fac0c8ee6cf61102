"""Tissue masks of body composition measurements in the viewer: reading them
(image rights needed), a labeler's corrections as revisions (undo, history),
re-measurement from the corrected masks on the worker, review like level
labels, and the export of verified masks as training data."""
