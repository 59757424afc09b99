"""The project's `mjpeg-rtp` command, for the tests and the bench (plain
Python: no pytest, no numpy)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[2]


def project_command(missing_cargo: Callable[[], object]) -> str:
    """MJPEG_RTP_BIN, or the release build in the cargo target directory
    (built first if need be); without either, `missing_cargo()` (which
    should raise: skip, fail or exit)."""
    given = os.environ.get("MJPEG_RTP_BIN")
    if given:
        return given
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    binary = target / "release" / "mjpeg-rtp"
    if not binary.exists():
        if shutil.which("cargo") is None:
            missing_cargo()
            raise RuntimeError("cargo is missing")
        subprocess.run(
            ["cargo", "build", "--release", "-q", "-p", "mjpeg-rtp-cli"], cwd=REPO, check=True
        )
    return str(binary)
