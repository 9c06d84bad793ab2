"""The `relay` command line: thin wrappers that parse arguments and call the stages and flows."""

import atexit
import gc

# At exit the interpreter's last garbage collection walks every object the loaded libraries made (pandas,
# scikit-learn, MLflow, Prefect): 0.15-0.4 s for each DVC stage command and about 2 s for the demo, all spent
# freeing memory the operating system takes back anyway. Freezing them first skips that walk; objects freed by
# reference counting, and every other exit handler (registered later, so run earlier), still run as usual.
atexit.register(gc.freeze)
