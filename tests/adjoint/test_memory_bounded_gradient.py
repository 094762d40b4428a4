"""Gradients within a memory budget (setup adjoint_memory, smash.simulation.memory.plan_checkpoints):
nested checkpointing and a tape that spills its oldest bytes to a temporary file give the same
gradient bit for bit as the plain checkpointed adjoint, in memory and with streamed forcings, on 1
and 2 threads; the plan's memory does not grow with the number of steps."""

import functools
import os

import numpy as np
import pytest

import smash
from smash import _core, _testing
from smash.simulation import memory


@functools.cache
def _dataset(data_dir, name):
    return smash.factory.load_dataset(name, path=data_dir)


def _model(data_dir, name, chunk, **extra):
    setup, mesh = _dataset(data_dir, name)
    end = {"Lez": "2012-10-01", "Cance": "2014-09-25 00:00"}[name]
    model = smash.Model(dict(setup, read_descriptor=False, end_time=end, **extra), mesh)
    # The chunk fixes the order of a few additions (tests/adjoint/test_checkpointing.py): both runs share it.
    _testing.core_setup(model).checkpoint_steps = chunk
    return model


def _tape_budget(monkeypatch, model, tape):
    """The setup adjoint_memory that leaves `tape` bytes to the tape of `model`'s gradient: the budget
    bounds the whole process, here taken to hold nothing before the gradient (the resident memory of a
    test process varies with the tests before it)."""
    monkeypatch.setattr(memory, "resident_bytes", lambda: 0)
    return memory.gradient_run_bytes(model) + tape


def _gradient(model, ncpu):
    ret = model.backward_run(mapping="distributed", common_options={"ncpu": ncpu},
                             return_options={"cost": True, "grad": True})
    return ret.cost, ret.grad, _testing.tape_peak_bytes(), _core.tape_spilled_bytes()


@pytest.mark.parametrize("name, chunk, storage", [("Lez", 7, "memory"), ("Cance", 5, "memory"),
                                                  ("Cance", 5, "stream")])
@pytest.mark.parametrize("ncpu", [1, 2])
def test_nested_and_spilled_gradients_equal_the_plain_ones(data_dir, tmp_path, monkeypatch, name, chunk, storage,
                                                           ncpu):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)     # gettempdir() reads TMPDIR again
    window = {"forcing_window": chunk} if storage == "stream" else {}
    plain = _model(data_dir, name, chunk, forcing_storage=storage, **window)
    cost, grad, peak, spilled = _gradient(plain, ncpu)
    assert memory.gradient_plan(plain).changes is False and spilled == 0
    # A budget of a twentieth of the plain tape: segments of chunks, and the oldest snapshots on disk.
    bounded = _model(data_dir, name, chunk, forcing_storage=storage, **window)
    bounded.setup.adjoint_memory = _tape_budget(monkeypatch, bounded, peak / 20)
    plan = memory.gradient_plan(bounded)
    assert plan.chunk == chunk and plan.segment > chunk and plan.spills
    cost_b, grad_b, peak_b, spilled_b = _gradient(bounded, ncpu)
    assert cost_b == cost and np.array_equal(grad_b, grad) and np.abs(grad).max() > 0
    assert spilled_b > 0 and peak_b < peak / 2
    # The spill files were unlinked when made: nothing is left in the folder.
    assert os.listdir(tmp_path) == []
    # The core's own checkpointing settings are back.
    assert _testing.core_setup(bounded).checkpoint_segment_steps == 0
    assert _testing.core_setup(bounded).checkpoint_steps == chunk


def test_a_full_disk_is_refused_before_the_gradient_runs(data_dir, monkeypatch):
    model = _model(data_dir, "Lez", 7)
    model.setup.adjoint_memory = _tape_budget(monkeypatch, model, 20_000)
    assert memory.gradient_plan(model).spills
    monkeypatch.setattr("shutil.disk_usage", lambda path: type("Usage", (), {"free": 10})())
    with pytest.raises(OSError, match="free there: point TMPDIR"):
        model.backward_run(mapping="distributed")


def _constant_model(hydrological, routing, snow, ncell, end):
    """`ncell` cells in a line from 2020-01-01 to `end` under constant forcings: every day takes the
    same branches, so a chunk's tape is the same whatever the day."""
    from helpers import line_mesh

    model = smash.Model({"start_time": "2020-01-01", "end_time": end, "dt": 86400, "hydrological_module": hydrological,
                         "routing_module": routing, "snow_module": snow}, line_mesh(ncell))
    shape = (1, ncell, model.setup.ntime_step)
    model.atmos_data.prcp, model.atmos_data.pet = np.full(shape, 5.0, np.float32), np.full(shape, 2.0, np.float32)
    if snow != "zero":
        model.atmos_data.snow, model.atmos_data.temp = np.ones(shape, np.float32), np.ones(shape, np.float32)
    model.response_data.q = np.ones(model.response_data.q.shape, np.float32)
    return model


@pytest.mark.parametrize("snow, hydrological, routing", [("zero", "gr4", "lr"), ("zero", "grc", "kw"),
                                                         ("zero", "vic3l", "lr"), ("ssn", "gr6_mlp", "lag0")])
def test_a_snapshot_holds_the_states_and_what_the_next_step_reads_only(snow, hydrological, routing):
    # The tape's peak holds every chunk's snapshot and the last chunk's taped steps: a run of twice
    # the chunks of the same days adds ten snapshots (chunks of 3 days over 30 then 60 days).
    from smash.analysis.cost_options import build_cost_options

    from helpers import core_gradient

    ncell, peaks = 400, []
    for end in ("2020-01-31", "2020-03-01"):
        model = _constant_model(hydrological, routing, snow, ncell, end)
        _testing.core_setup(model).checkpoint_steps = 3
        _, options = build_cost_options(model, {"gauge": "all"})
        _testing.sync_parameters(model)
        core_gradient(model, options)
        peaks.append(_testing.tape_peak_bytes())
    measured = (peaks[1] - peaks[0]) / (10 * ncell)
    structure = model.structure
    # The states and the carried columns (a few bytes per snapshot besides, its bounds): counted by hand.
    carried = {"gr4": 1, "grc": 2, "vic3l": 0, "gr6_mlp": 1}[hydrological] + (2 if routing == "kw" else 0)
    assert memory.snapshot_bytes(structure) == 8 * (len(structure.rr_states) + carried)
    assert memory.snapshot_bytes(structure) <= measured < memory.snapshot_bytes(structure) + 1
    # Every flux, lateral inflow, discharge and liquid rain were saved before: at least 2.4 times more.
    everything = 8 * (len(structure.rr_states) + len(structure.fluxes) + 3)
    assert measured * 2.4 < everything


def test_the_plan_counts_the_smaller_snapshots():
    # France's gr4-lr, 720 hourly steps in chunks of 4 within 3 GB: at 40 bytes a snapshot now, segments
    # of 28 chunks (0.35 of the budget) and nothing spills. At 164 bytes (the plan before) neither 7
    # chunks a segment (0.35 of the budget) nor 12 (the fewest snapshots at once, 12 + 15) fit beside the
    # 1.16 GB of a chunk's tape; the master thread may hold 3 GB less the other thread's 0.58 GB, 2.42 GB,
    # of which 7/8 less its own 0.58 GB, 1.54 GB, is room for 10 snapshots of 148.6 MB: segments of 10.
    from smash.registry.records import Structure

    snap = memory.snapshot_bytes(Structure("zero", "gr4", "lr"))
    assert snap == 40
    now, before = (memory.plan_checkpoints(906_044, 720, memory.TAPE_STEP_BYTES, snap_bytes, 4, 3e9, ncpu=2,
                                           chunk_fixed=True) for snap_bytes in (snap, 164))
    assert (now.segment, before.segment) == (4 * 28, 4 * 10)
    assert now.spill_bytes == 0 < before.spill_bytes


FRANCE = dict(nac=906_044, step_bytes=memory.TAPE_STEP_BYTES, snap_bytes=40)


@pytest.mark.parametrize("budget", [2e9, 3e9, 8e9])
def test_the_plan_keeps_a_budget_whatever_the_number_of_steps(budget):
    plans = [memory.plan_checkpoints(nt=nt, chunk=memory.default_chunk(FRANCE["nac"], nt), budget=budget, ncpu=2,
                                     **FRANCE) for nt in (720, 2160, 8784)]
    for plan in plans:
        # In memory: the taped steps of one chunk, the snapshots of one segment's chunks and whatever
        # of the segments' snapshots the master thread's tape keeps.
        taped = FRANCE["nac"] * plan.chunk * FRANCE["step_bytes"]
        inner = FRANCE["nac"] * (plan.segment // plan.chunk) * FRANCE["snap_bytes"]
        assert plan.tape_bytes <= budget and taped + inner <= budget
        assert plan.spill_limit + taped / 2 <= budget
        # The master thread's working set stays in the part of its limit ad_stack.c keeps in memory
        # (down to segments of 2 chunks, when a chunk alone leaves no room).
        if plan.spills and plan.segment > 2 * plan.chunk:
            assert taped / 2 + inner <= memory.SPILL_KEEP * plan.spill_limit
    # The same chunks over a month, a quarter and a year, and once spilling, the same tape in memory (its
    # limit and the other thread's share of a chunk); only the disk grows.
    assert len({p.chunk for p in plans}) == 1
    assert len({p.tape_bytes for p in plans if p.spills}) <= 1
    assert plans[0].spill_bytes <= plans[1].spill_bytes <= plans[2].spill_bytes


def test_a_tape_within_the_budget_keeps_the_chunks_asked():
    plan = memory.plan_checkpoints(1000, 100, 300, 150, chunk=10, budget=1e9)
    assert (plan.chunk, plan.segment, plan.spill_limit) == (10, 0, 0)
    assert plan.tape_bytes == 1000 * (10 * 300 + 10 * 150)


@pytest.mark.parametrize("bad", [-1, "3GB", True, float("nan")])
def test_a_bad_adjoint_memory_is_refused(bad):
    from helpers import daily_setup, line_mesh

    with pytest.raises(ValueError, match=r"setup\['adjoint_memory'\] must be a number of bytes >= 0"):
        smash.Model(daily_setup(5, adjoint_memory=bad), line_mesh(3))


SPILL_FAILURE = """
import errno, json, os, resource, signal, sys
import numpy as np
import smash
from smash import _testing
from smash.simulation import memory

setup, mesh = smash.factory.load_dataset("Lez", path=os.environ["SMASH_DATA_DIR"])
model = smash.Model(dict(setup, read_descriptor=False, end_time="2012-10-01"), mesh)
_testing.core_setup(model).checkpoint_steps = 7
plain = model.backward_run(mapping="distributed", return_options={"grad": True})
memory.resident_bytes = lambda: 0      # the budget below is the run's arrays and 20 kB of tape
model.setup.adjoint_memory = memory.gradient_run_bytes(model) + 20_000
assert memory.gradient_plan(model).spills
# Files of the process may grow to 4 kB: the spill file's first write fails (EFBIG, the signal ignored).
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
try:
    model.backward_run(mapping="distributed", return_options={"grad": True})
    failure = None
except OSError as err:
    failure = {"errno": err.errno, "message": str(err), "filename": err.filename}
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
# The failure is cleared: the next gradient spills and gives the plain gradient.
again = model.backward_run(mapping="distributed", return_options={"grad": True})
print(json.dumps({"failure": failure, "equal": bool(np.array_equal(again.grad, plain.grad)),
                  "spilled": smash._core.tape_spilled_bytes()}))
"""


def test_a_disk_that_fills_during_the_gradient_raises_an_oserror(data_dir, tmp_path):
    # Past the check before the run, the spill file cannot grow (a file size limit stands for a disk
    # that filled up meanwhile): the tape keeps its bytes in memory, the gradient ends, and Python
    # gets an OSError naming the folder; the process goes on and its next gradient is right.
    import errno
    import json
    import subprocess
    import sys

    env = dict(os.environ, TMPDIR=str(tmp_path), SMASH_DATA_DIR=str(data_dir))
    proc = subprocess.run([sys.executable, "-c", SPILL_FAILURE], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["failure"] is not None and out["failure"]["errno"] == errno.EFBIG
    assert out["failure"]["filename"] == str(tmp_path)
    assert str(tmp_path) in out["failure"]["message"] and "could not be written" in out["failure"]["message"]
    assert out["equal"] and out["spilled"] > 0
    assert os.listdir(tmp_path) == []


PROCESS_PEAK = """
import json, sys
import numpy as np
import smash
from smash import _core
from smash.simulation import memory
from helpers import line_mesh

n = 100_000
model = smash.Model({"start_time": "2020-01-01", "end_time": "2020-03-01", "dt": 86400, "hydrological_module": "gr4",
                     "routing_module": "lr"}, line_mesh(n))
rng = np.random.default_rng(0)
shape = (1, n, model.setup.ntime_step)
model.atmos_data.prcp = rng.gamma(0.6, 10.0, size=shape).astype(np.float32)
model.atmos_data.pet = np.full(shape, 2.0, np.float32)
model.response_data.q = (1 + rng.random(model.response_data.q.shape)).astype(np.float32)
# What the process holds and the gradient's arrays, and 150 MB for the tape (it would take 290 MB).
budget = memory.resident_bytes() + memory.gradient_run_bytes(model) + 150e6
model.setup.adjoint_memory = budget
plan = memory.gradient_plan(model)
model.backward_run(mapping="distributed")
# The peak of this program's memory: VmHWM (getrusage's ru_maxrss keeps the forked parent's, across exec).
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
print(json.dumps({"budget": budget, "expected": plan.peak_bytes, "whole": plan.whole_bytes, "peak": peak,
                  "tape": _core.tape_peak_bytes()}))
"""


def test_the_budget_bounds_the_whole_process():
    # setup adjoint_memory bounds the process's resident memory during a gradient, not just its tape:
    # the peak (in a fresh process: building the model peaks lower) stays within the budget and
    # uses most of it, and the plan's expected peak bounds it.
    import json
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(os.path.dirname(__file__)),
                                                         os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", PROCESS_PEAK], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["whole"] > 1.5 * 150e6
    assert 0.75 * out["budget"] <= out["peak"] <= out["expected"] <= out["budget"], out


def test_a_spilling_plan_keeps_the_segment_being_reversed_in_memory():
    # France's chunks of 4 steps within 2 GB of tape on 2 threads: each thread's share of a chunk is
    # 580 MB (320 bytes a cell-step), the master's limit 2 GB less the other's share, 1.42 GB, of
    # which ad_stack.c keeps 7/8 in memory, 1.24 GB: room for the snapshots of 18 chunks (36.2 MB
    # each) beside the master's share. Of the 180 chunks, segments of k hold k + ceil(180 / k)
    # snapshots at once, 27 at least (k = 12 to 15): segments of 12 chunks, which the room holds.
    plan = memory.plan_checkpoints(906_044, 720, 320, 40, 4, 2e9, ncpu=2, chunk_fixed=True)
    assert plan.spills and plan.segment == 4 * 12
    assert min(k + -(-180 // k) for k in range(2, 180)) == 27 == 12 + 15 < 11 + 17
    # What spills: the segments' 15 snapshots less what the room keeps beside the 12 being reversed.
    room = 7 / 8 * (2e9 - 4 * 906_044 * 320 / 2) - 4 * 906_044 * 320 / 2
    assert plan.spill_bytes == 15 * 906_044 * 40 - int(room - 12 * 906_044 * 40)
    # Too small a budget for even that: segments of 2 chunks.
    assert memory.plan_checkpoints(906_044, 720, 320, 40, 4, 1.2e9, ncpu=2, chunk_fixed=True).segment == 8
