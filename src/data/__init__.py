"""Audio, features and data sets: the bottom layer, importing nothing else of the project.

torchaudio's compiled extension loads only with the torch it was built for, and pip does not
know which that is (torchaudio 2.11.1 declares torch>=2.11 but fails with torch 2.11.0). Every
module that imports torchaudio, and every package above this one, calls `require_torchaudio`
first, so a mismatched pair stops a command with one message that says what is installed and
what was tested, instead of an OSError about an undefined symbol. (Checking files, `data.probe`
and `data.folders`, needs no torch and stays light.)
"""

from __future__ import annotations


def _tested_pair() -> str:
    from pathlib import Path

    constraints = Path(__file__).resolve().parents[2] / "constraints.txt"
    if not constraints.is_file():
        return "the pair in the project's constraints.txt"
    pins = dict(
        line.split("==", 1) for line in constraints.read_text().splitlines() if line.startswith(("torch==", "torchaudio=="))
    )
    return f"torch {pins.get('torch', '?')} + torchaudio {pins.get('torchaudio', '?')} (constraints.txt)"


def require_torchaudio() -> None:
    try:
        import torchaudio  # noqa: F401  (loads libtorchaudio.so)
    except (OSError, ImportError) as exc:
        from importlib.metadata import PackageNotFoundError, version

        def installed(name: str) -> str:
            try:
                return version(name)
            except PackageNotFoundError:
                return "not installed"

        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise SystemExit(
            f"error: torchaudio {installed('torchaudio')} cannot load with torch {installed('torch')} ({reason}). "
            f"This project is tested with {_tested_pair()}; reinstall with: "
            "pip install -e . -c constraints.txt"
        ) from None
