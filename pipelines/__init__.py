"""Relay's pipeline: the stages each role owns, the flows that run them, and the `relay` command."""

import os

# OpenMP (scikit-learn's gradient boosting and forests) keeps idle threads spinning for the next parallel region.
# Where more than one busy process shares the cores (a service beside a flow, a sweep's workers, CI), the spinning
# threads take the cores the others need: four `relay stage evaluate` at once on 2 cores took 64 s of CPU and 33 s
# with spinning, 20 s and 10 s with passive waiting (alone, 4.2 s against 4.5 s). libgomp reads the setting when it
# loads, so it is set here, before anything imports scikit-learn; a value already in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
