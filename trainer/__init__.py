"""taskclf trainer: datasets, LightGBM training, calibration, reject tuning, reports, demo."""
