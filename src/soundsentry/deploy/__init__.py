"""Deployment: a detector bundle (``export``), batch scoring of new recordings (``score-dir``), the HTTP service.

A run folder holds everything about how a model was made; a detector bundle holds only what scoring new
recordings needs, and loads on a CPU-only machine without the training data.
"""

from soundsentry.deploy.batch import BatchSummary, score_dir
from soundsentry.deploy.bundle import BUNDLE_FORMAT, BundleError, GroupInfo, export_detector, read_bundle_meta
from soundsentry.deploy.detector import ClipScore, Detector, load_detector, normalise_section, results_table

__all__ = [
    "BUNDLE_FORMAT",
    "BatchSummary",
    "BundleError",
    "ClipScore",
    "Detector",
    "GroupInfo",
    "export_detector",
    "load_detector",
    "normalise_section",
    "read_bundle_meta",
    "results_table",
    "score_dir",
]
