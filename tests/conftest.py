"""Load the bundled pytest plugin even when the package is not installed (no entry point)."""

from importlib.metadata import entry_points

if not any(ep.value == "oxen_async.testing.plugin" for ep in entry_points(group="pytest11")):
    pytest_plugins = ["oxen_async.testing.plugin"]
