"""Deployment: a detector bundle (``export``), batch scoring (``score-dir``), the HTTP service (``serve``), ONNX
export (``export-onnx``) and the HTML report of a run (``report``).

A run folder holds everything about how a model was made; a detector bundle holds only what scoring new
recordings needs, and loads on a CPU-only machine without the training data.
"""

from soundsentry.deploy.batch import BatchSummary, score_dir
from soundsentry.deploy.bundle import BUNDLE_FORMAT, BundleError, GroupInfo, export_detector, read_bundle_meta
from soundsentry.deploy.detector import ClipScore, Detector, load_detector, normalise_section, results_table
from soundsentry.deploy.onnx_export import export_onnx
from soundsentry.deploy.report import write_report
from soundsentry.deploy.service import create_app

__all__ = [
    "BUNDLE_FORMAT",
    "BatchSummary",
    "BundleError",
    "ClipScore",
    "Detector",
    "GroupInfo",
    "create_app",
    "export_detector",
    "export_onnx",
    "load_detector",
    "normalise_section",
    "read_bundle_meta",
    "results_table",
    "score_dir",
    "write_report",
]
