"""What the install puts where: import names of this project only, every package listed, no cache in site-packages."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_folders_install_as_wafersim_and_wafersim_kernels():
    setuptools = _config()["tool"]["setuptools"]
    assert setuptools["package-dir"] == {"wafersim": "simulator", "wafersim_kernels": "kernels"}
    listed = set(setuptools["packages"])
    found = {"wafersim" + ("." + ".".join(p.parent.relative_to(ROOT / "simulator").parts)
                           if p.parent != ROOT / "simulator" else "")
             for p in (ROOT / "simulator").rglob("__init__.py")} | {"wafersim_kernels"}
    assert listed == found


def test_no_module_imports_the_folder_names():
    """`simulator` and `kernels` are names of unrelated packages on the package index."""
    offenders = []
    for path in [*ROOT.glob("simulator/**/*.py"), *ROOT.glob("kernels/**/*.py"), *ROOT.glob("tests/**/*.py"),
                 *ROOT.glob("benchmarks/*.py"), *ROOT.glob("notebooks/*.ipynb")]:
        for line in path.read_text().splitlines():
            words = line.replace('"', " ").strip().split()
            if words[:1] in (["import"], ["from"]) and len(words) > 1 and words[1].split(".")[0] in ("simulator", "kernels"):
                offenders.append(f"{path.relative_to(ROOT)}: {line.strip()}")
    assert offenders == []


def test_numba_caches_outside_the_installed_package(tmp_path):
    code = "import numba, wafersim_kernels; print(numba.config.CACHE_DIR)"
    env = {"WAFERSIM_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.strip() == str(tmp_path / "cache")


def test_python_dash_m_and_version():
    out = subprocess.run([sys.executable, "-m", "wafersim", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("wafersim ")
