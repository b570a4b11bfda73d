"""proximity-sim: synthetic store days (scans, truth, customers, calibration walk, config) and their scoring."""

__version__ = "0.1.0"
