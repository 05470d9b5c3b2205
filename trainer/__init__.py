"""taskclf trainer: datasets, LightGBM training, calibration, reject tuning, reports, demo."""

TRAINER_VERSION = "1"
