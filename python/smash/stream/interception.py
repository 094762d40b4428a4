"""The interception capacity re-estimate (Model.adjust_interception) on streamed forcings."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from smash import _core

# md_interception_adjust::ncandidate: the capacities tried, 0.1 .. 2.9 mm.
CANDIDATES = 29


def estimate_interception(stream, nac: int, day_of_step: np.ndarray, ci: np.ndarray) -> None:
    """ci of the nac active cells from their streamed prcp and pet, window by window in order (the
    next window read while the core goes through the previous one): the same numbers bit for bit
    as the whole-period estimate (md_interception_adjust carries its running sums over)."""
    nt = stream.ntime_step
    window = stream.windows["forward"]
    sums = {"h": np.zeros((CANDIDATES, nac), dtype=np.float32, order="F"),
            "intercepted": np.zeros((CANDIDATES, nac), dtype=np.float32, order="F"),
            "pday": np.zeros(nac, dtype=np.float32), "eday": np.zeros(nac, dtype=np.float32),
            "target": np.zeros(nac, dtype=np.float32), "day": np.zeros(nac, dtype=np.int32)}

    def read(first):
        count = min(window, nt - first)
        return [np.asfortranarray(stream.read_steps(kind, first, count, nac).T) for kind in ("prcp", "pet")]

    firsts = list(range(0, nt, window))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="smash-forcing") as pool:
        ahead = pool.submit(read, firsts[0])
        for i, first in enumerate(firsts):
            prcp, pet = ahead.result()
            if i + 1 < len(firsts):
                ahead = pool.submit(read, firsts[i + 1])
            days = np.ascontiguousarray(day_of_step[first:first + prcp.shape[1]], dtype=np.int32)
            _core.estimate_interception_window(prcp, pet, days, sums)
    _core.estimate_interception_choice(sums, ci)
