"""The study's compute stages, in the order they run. Each writes files into its folder (under a
subfolder named by its key, so results of other settings stay on disk) and resumes from what it
streamed there: per seed for scores, per sample for trajectories. The stages live with the claim
they serve (claims/); the original model and the baselines, which every claim reads, in
original.py; the learning-rate calibration of claims 1 and 4 in protocol.py.
"""
from __future__ import annotations

from mrd_bench.reproduce.claims import cud, predicts, sampling, sensitivity, variance
from mrd_bench.reproduce.original import BASELINES, ORIGINAL
from mrd_bench.reproduce.protocol import CALIBRATE

# On a CPU the core claim (MRD against GA and NPO) and the sensitivity checks come first, the
# costlier runs after.
STAGES = [ORIGINAL, BASELINES, predicts.MRD_DEFINITION, predicts.UPDATES["ga"], sensitivity.SENSITIVITY,
          predicts.UPDATES["npo"], predicts.ESTIMATOR["alg1"], predicts.UPDATES["graddiff"],
          predicts.ESTIMATOR["hutchinson"], sensitivity.STABILITY, cud.LABELS, cud.CUD, CALIBRATE, variance.SUBSETS,
          sampling.SAMPLERS]
