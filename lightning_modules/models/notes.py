"""One-line notes to the person running a command (on DDP rank 0 only): what was done on their behalf."""

from __future__ import annotations

import sys

from pytorch_lightning.utilities.rank_zero import rank_zero_only


@rank_zero_only
def note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr)
