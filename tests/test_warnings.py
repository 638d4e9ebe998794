"""IEEE arithmetic inside the engine is silent, as in PyTorch: 1/0 gives inf and inf * 0 gives NaN
without NumPy's "RuntimeWarning: divide by zero" (detect_anomaly is the tool that stops there),
while the learner's own NumPy code still warns. Run in a fresh interpreter, as a learner's is."""
import subprocess
import sys

CODE = """
import numpy as np
import tinygrad_attn as ta
x = ta.tensor([1.0, -1.0])
print((x / ta.tensor([0.0, 0.0])).tolist(), (ta.tensor([float("inf")]) * 0.0).tolist())
print(ta.tensor([[float("inf"), 0.0]]).softmax(-1).tolist())
np.array([1.0]) / np.array([0.0])
"""


def test_engine_arithmetic_is_silent_and_user_numpy_still_warns():
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "[inf, -inf] [nan]"
    assert lines[1] == "[[nan, nan]]"  # softmax of a +inf entry is NaN, as in PyTorch
    warnings = [line for line in done.stderr.splitlines() if "RuntimeWarning" in line]
    assert len(warnings) == 1 and warnings[0].startswith("<string>:7: RuntimeWarning: divide by zero"), done.stderr
