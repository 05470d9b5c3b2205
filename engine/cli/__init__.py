"""The ``taskclf`` command dispatcher (lives in engine; finds the other packages' commands)."""
