"""taskclf trainer: datasets, LightGBM training, calibration, reject tuning, reports, demo."""

import os as _os

# LightGBM's OpenMP threads spin while they wait by default; on a busy 2-core machine that turns
# a 50 ms boosting round into seconds. The policy is read once, when the OpenMP runtime loads, so
# it is chosen here, before anything of the trainer can load LightGBM.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

TRAINER_VERSION = "1"
