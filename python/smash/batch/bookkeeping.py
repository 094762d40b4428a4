"""What a batch has done, read from its output folder: finished, failed (with the error) or not started.

The catchment folders are the record (each is published whole, see `catchment.publish`):
`summary.csv` is rebuilt from them whenever a catchment ends, so a killed batch, shards running
at once on several nodes, and re-runs all agree on it.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import socket

from smash.atomic import write_text
from smash.batch.catchment import FAILED_DIR, RESULT_FILE, parse_partial
from smash.batch.study import summary_frame

MANIFEST = "study.json"
SUMMARY = "summary.csv"
FINISHED, FAILED, NOT_STARTED = "finished", "failed", "not started"


def write_manifest(outdir: str, study_path: str, codes: list[str]) -> None:
    """Record the study's catchments in `outdir` (so that `smash status` knows those not started)."""
    os.makedirs(outdir, exist_ok=True)
    write_text(os.path.join(outdir, MANIFEST), json.dumps({"study": study_path, "codes": codes}, indent=1),
               "batch manifest")


def read_manifest(outdir: str) -> dict:
    path = os.path.join(outdir, MANIFEST)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{outdir} is not a batch output folder: no {MANIFEST} in it")
    with open(path, encoding="utf-8") as stream:
        return json.load(stream)


def _result(folder: str) -> dict | None:
    path = os.path.join(folder, RESULT_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as stream:
        return json.load(stream)["row"]


def catchment_state(outdir: str, code: str) -> dict:
    """The summary row of `code`: its result when finished or failed, else status 'not started'."""
    for folder in (os.path.join(outdir, code), os.path.join(outdir, FAILED_DIR, code)):
        row = _result(folder)
        if row is not None:
            return row
    return {"code": code, "status": NOT_STARTED}


def _columns(rows: list[dict]) -> list[str]:
    scores = sorted({k for row in rows for k in row if k.startswith(("cal_", "val_"))})
    return ["code", "status", *scores, "n_iter", "wall_time", "error"]


def _rows(outdir: str, codes: list[str], known: dict | None) -> list[dict]:
    known = known or {}
    return [known[code] if code in known else catchment_state(outdir, code) for code in codes]


def summary(outdir: str, codes: list[str], known: dict | None = None):
    """The summary DataFrame of `codes` (columns code, status, cal_*/val_* scores, n_iter, wall_time, error).

    `known` maps codes to rows already read (a running batch keeps them), the others are read from disk.
    """
    rows = _rows(outdir, codes, known)
    return summary_frame(rows).reindex(columns=_columns(rows))


def write_summary(outdir: str, codes: list[str], known: dict | None = None) -> list[dict]:
    """Rewrite `<outdir>/summary.csv` (see `summary`); return its rows.

    The file is replaced whole (a temporary file renamed) but not synced to disk: it is derived
    from the catchment folders, and rebuilt from them at the end of every run.
    """
    rows = _rows(outdir, codes, known)
    target = os.path.join(outdir, SUMMARY)
    partial = f"{target}.{socket.gethostname()}-{os.getpid()}.partial"
    try:
        with open(partial, "w", newline="", encoding="utf-8") as stream:
            writer = csv.DictWriter(stream, _columns(rows), extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(partial, target)
    finally:
        with contextlib.suppress(OSError):
            os.remove(partial)
    return rows


def running(outdir: str) -> set[str]:
    """Codes of the catchments being written now (a temporary folder of a live process, or of another host)."""
    codes = set()
    host = socket.gethostname()
    for name in os.listdir(outdir) if os.path.isdir(outdir) else ():
        parsed = parse_partial(name)
        if parsed is not None and (parsed[1] != host or _pid_alive(parsed[2])):
            codes.add(parsed[0])
    return codes


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _restore(outdir: str, name: str, code: str) -> bool:
    """Put back a result moved aside by `catchment.publish` when its process died before the new one
    took its place (so a killed --force run loses no finished catchment); whether it was put back."""
    row = _result(os.path.join(outdir, name))
    if row is None:
        return False
    target = os.path.join(outdir, code) if row["status"] == FINISHED else os.path.join(outdir, FAILED_DIR, code)
    if os.path.exists(target) or os.path.exists(os.path.join(outdir, code)):
        return False
    os.makedirs(os.path.dirname(target), exist_ok=True)
    os.rename(os.path.join(outdir, name), target)
    return True


def clean_partials(outdir: str, pid: int | None = None) -> list[str]:
    """Remove the temporary folders left by dead processes of this host (or by process `pid`).

    Folders of other hosts are left: a shard may be writing them on another node.
    """
    removed = []
    if not os.path.isdir(outdir):
        return removed
    host = socket.gethostname()
    for name in os.listdir(outdir):
        parsed = parse_partial(name)
        if parsed is None or parsed[1] != host:
            continue
        if (pid is not None and parsed[2] == pid) or (pid is None and not _pid_alive(parsed[2])):
            if name.endswith(".old") and _restore(outdir, name, parsed[0]):
                continue
            with contextlib.suppress(OSError):
                shutil.rmtree(os.path.join(outdir, name))
                removed.append(name)
    return removed


def to_do(outdir: str, codes: list[str], force: bool = False, retry_failed: bool = False) -> list[str]:
    """The catchments a run must do: all with `force`, else those not finished (failed ones only when retried)."""
    if force:
        return list(codes)
    states = {code: catchment_state(outdir, code)["status"] for code in codes}
    return [c for c in codes if states[c] == NOT_STARTED or (states[c] == FAILED and retry_failed)]
