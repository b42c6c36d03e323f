"""The package installs its console scripts and lays out the shim and recipe packages."""
import subprocess
import sys


def test_wrapctl_version():
    out = subprocess.run([sys.executable, "-m", "wrapctl", "--version"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0
    assert "wrapctl" in out.stdout


def test_shim_package_is_mapped():
    import wrapctl.shims
    import wrapctl.bundled_recipes
    assert wrapctl.shims.__file__.replace("\\", "/").endswith("shims/__init__.py")
    assert wrapctl.bundled_recipes.__file__.replace("\\", "/").endswith("recipes/__init__.py")
