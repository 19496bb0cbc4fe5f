"""The side-by-side demo, small: our adapters must show no error, loss,
duplicate or disorder (the script's --check); the frameworks' own stores are
only reported."""
import os
import subprocess
import sys

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      "..", "..", "..", "demo", "python_compare.py")


def test_side_by_side_our_side_is_clean(db_url):
    run = subprocess.run([sys.executable, SCRIPT, "--check", "--agents", "32",
                          "--procs", "3", "--events", "10", "--items", "15"],
                         capture_output=True, text=True, timeout=900)
    print(run.stdout)
    assert run.returncode == 0, run.stdout + run.stderr
    ours = [ln for ln in run.stdout.splitlines()
            if "SessionStoreService" in ln or "SessionStoreSession" in ln]
    assert len(ours) == 3 and all(" 0 errors" in ln for ln in ours)
