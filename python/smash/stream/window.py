"""Serving windows of streamed forcings to the core during a run.

md_forward asks for the window of each chunk (md_forcing_stream) through a C callback that
`ForcingStream.session` registers for the run. The callback makes the core's arrays of the next
window (``<kind>_next``, (nac, window)) the current ones, swapped, not copied: a reader thread filled
them while the previous window was computed (the core releases the GIL while it runs). It then starts
reading the window it expects next into the arrays swapped out: the following one, or in the
adjoint's reverse sweep (which re-runs the chunks last to first) the preceding one.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import sys
import threading
import time
import weakref
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from smash import _core

# The callback's C type: void fetch(int t0, int t1), steps 1-based inclusive.
_FETCH_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_int)
# The core holds one window reader for the process: this dispatcher, which serves each request from the
# stream running in the calling thread (the core asks from the thread that called it, outside its
# OpenMP regions). So runs of different streamed models go on at once from several Python threads.
_SERVING: dict = {}           # thread ident -> the ForcingStream whose run that thread is in
_SERVING_LOCK = threading.Lock()


def _dispatch(t0: int, t1: int) -> None:
    stream = _SERVING.get(threading.get_ident())
    if stream is None:
        # A run on streamed forcings outside ForcingStream.session would compute on stale windows: stop, as
        # the core does when no reader is registered at all.
        sys.stderr.write("smash: streamed forcings asked for by a thread running no streamed session\n")
        sys.stderr.flush()
        os._exit(1)
    stream._fetch(t0, t1)


_DISPATCH = _FETCH_TYPE(_dispatch)


@contextlib.contextmanager
def _serving(stream):
    """Register `stream` as the server of this thread's run (the dispatcher registered with the core
    while any stream serves a run)."""
    ident = threading.get_ident()
    with _SERVING_LOCK:
        if not _SERVING:
            _core.set_forcing_fetch(ctypes.cast(_DISPATCH, ctypes.c_void_p).value)
        _SERVING[ident] = stream
    try:
        yield
    finally:
        with _SERVING_LOCK:
            del _SERVING[ident]
            if not _SERVING:
                _core.set_forcing_fetch(0)


def gradient_windows(ntime_step: int, window: int, segment: int = 0, chunk: int = 0) -> list[tuple[int, int]]:
    """The windows (t0, t1), 1-based inclusive, that md_forward asks for during a gradient, in order: one
    a checkpointed chunk it runs.

    The chunks of `chunk` steps (0, or one that does not divide `window`: the window) are checkpointed: the
    forward sweep runs them first to last, the reverse sweep re-runs them last to first (the first of those
    is the forward sweep's last, asked again). With segments of `segment` steps (nested checkpointing, whole
    chunks: md_forward::forward_loop), the forward sweep runs every chunk, then each segment, last to first,
    runs its chunks forward and back. A segment (or a run) of one chunk is taped as it runs: it asks for its
    window once. Each chunk asks for the window of `window` steps (from step 1 on) that holds it: a window
    of several chunks is asked for once by each of them, in a row."""
    window = max(1, min(window, ntime_step))
    if chunk <= 0 or chunk >= window or window % chunk:
        chunk = window
    seg = (segment // chunk) * chunk if segment > chunk else ntime_step

    def chunks(t0, t1):
        return [(c, min(c + chunk - 1, t1)) for c in range(t0, t1 + 1, chunk)]

    def reversed_segment(t0, t1):
        spans = chunks(t0, t1)
        return spans + spans[::-1] if len(spans) > 1 else spans

    segments = [(s0, min(s0 + seg - 1, ntime_step)) for s0 in range(1, ntime_step + 1, seg)]
    if len(segments) == 1:
        order = reversed_segment(1, ntime_step)
    else:
        order = [span for s0, s1 in segments for span in chunks(s0, s1)]
        for s0, s1 in reversed(segments):
            order += reversed_segment(s0, s1)
    if chunk == window:
        return order
    return [window_holding(t0, window, ntime_step) for t0, _ in order]


def window_holding(t: int, window: int, ntime_step: int) -> tuple[int, int]:
    """The window (t0, t1) of `window` steps, counted from step 1, that holds step `t` (1-based): the core
    reads step t at column t - t0 + 1 of its window arrays (md_forward::rainfall_runoff_step)."""
    t0 = (t - 1) // window * window + 1
    return t0, min(t0 + window - 1, ntime_step)


class ForcingStream:
    """The streamed forcings of a model (and of its copies, which share its core inputs).

    Parameters
    ----------
    source : object
        A reader with ``read(kind, first, count) -> (count, ncell) float32`` (smash.stream.sources).
    kinds : list of str
        The forcing kinds read from the source (the others stay missing, as in memory).
    ntime_step : int
        Steps of the period.
    windows : dict
        Steps per window of forward runs ("forward") and of gradients ("gradient").
    """

    def __init__(self, source, kinds, ntime_step: int, windows: dict):
        self.source, self.kinds, self.ntime_step = source, list(kinds), int(ntime_step)
        # Daily interannual PET handed to the core as the maps of each window's days, which it spreads over
        # the steps (md_input_data pet_by_day): the reader writes a map a day instead of one a step.
        self.pet_days = "pet" in self.kinds and hasattr(source, "reads_days") and source.reads_days("pet")
        self.windows = dict(windows)
        self.loaded = None          # (t0, t1) of the window in the core's arrays
        self._ahead = None          # ((t0, t1), future of its values)
        self._pool = None
        self._error = None
        self._gradient = False
        # Steps per segment of the next gradient's nested checkpointing (memory.gradient_checkpoints sets it;
        # 0: none) and per checkpointed chunk (0: its window; a window may hold several chunks), and during a
        # gradient the windows it asks for in order and how many it asked for.
        self.gradient_segment = 0
        self.gradient_chunk = 0
        self._order = None
        self._position = 0
        self._input = None
        self._last_chunk = None     # (t0, t1) the core asked for last in this run
        self._served = None         # weak reference to the core inputs `loaded` refers to
        self._prefetched = None     # weak reference to the core inputs `prefetch` read into
        # Held by the run this stream serves: a model and its copies share the stream (and maybe core inputs).
        self._busy = threading.Lock()
        self.reads = 0              # windows read from the source (tests, benchmarks)
        self.unpredicted = 0        # of those, read while the run waited: the read-ahead had another one
        self.wait_seconds = 0.0     # time runs spent waiting for windows in the callback (benchmarks)
        # Called with t0 before the window starting at step t0 is served (smash.stream.outputs writes
        # the previous window's returned series then).
        self.window_hook = None

    @classmethod
    def of(cls, setup: dict, mesh: dict, cells, kinds, windows: dict) -> ForcingStream:
        """The streamed forcings of a normalized `setup` on `mesh`'s flat `cells` (`kinds`: the structure's
        forcing kinds): its reader made by `smash.stream.sources.source_of`, remembered so that a pickled
        stream (a pickled model sent to a worker) opens the same files again instead of carrying forcings."""
        from smash.stream.saved import saved_file
        from smash.stream.sources import source_of, streamed_kinds_of

        source = source_of(setup, mesh, cells, kinds)
        windows = dict(windows)
        # A forward window of whole chunks of the precipitation store, starting on a chunk's first step, is
        # decoded straight into the core's arrays (smash.inputs.stores.StoreSeries._direct_chunks): rounded
        # down to them unless the setup chose it (forcing_window).
        chunk = source.window_multiple("prcp") if hasattr(source, "window_multiple") else None
        if chunk and not setup.get("forcing_window") and windows["forward"] >= chunk:
            windows["forward"] = windows["forward"] // chunk * chunk
        stream = cls(source, streamed_kinds_of(setup, kinds), setup["ntime_step"], windows)
        stream._recipe = (setup, mesh, np.asarray(cells), list(kinds), saved_file())
        return stream

    @classmethod
    def _remade(cls, setup, mesh, cells, kinds, saved, windows) -> ForcingStream:
        from smash.stream.saved import streaming_from

        if saved is None:
            return cls.of(setup, mesh, cells, kinds, windows)
        with streaming_from(saved):
            return cls.of(setup, mesh, cells, kinds, windows)

    def __getstate__(self):
        recipe = getattr(self, "_recipe", None)
        if recipe is None:
            raise TypeError("these streamed forcings were not made from a setup (ForcingStream.of): they cannot be "
                            "pickled")
        return {"recipe": recipe, "windows": self.windows}

    def __setstate__(self, state):
        made = ForcingStream._remade(*state["recipe"], state["windows"])
        self.__dict__.update(made.__dict__)

    # ------------------------------------------------------------ reading
    def read_steps(self, kind: str, first: int, count: int, ncell: int) -> np.ndarray:
        """(count, ncell) float32 values of steps first .. first + count - 1 (0-based) of `kind`
        (a kind not read is missing, -99, or 0 degC for temp, as the core's arrays start)."""
        if kind not in self.kinds:
            return np.full((count, ncell), 0.0 if kind == "temp" else -99.0, dtype=np.float32)
        return np.asarray(self.source.read(kind, first, count), dtype=np.float32)

    def _read_window(self, t0: int, t1: int, core=None) -> tuple[int, int]:
        """Read steps t0 .. t1 into the core's arrays of the next window (``<kind>_next``, made current by
        `_fetch`; `core`: the core inputs, by default the run's): in the reader thread, so the copy too
        overlaps the computation."""
        self.reads += 1
        n = t1 - t0 + 1
        core = self._input if core is None else core
        for kind in self.kinds:
            # The core's (nac, n) Fortran order is (n, nac) in C order: the readers write there directly.
            if kind == "pet" and self.pet_days:
                self.source.read_days(kind, t0 - 1, n, core.pet_next.T, core.pet_day_next, core.pet_share_next)
            elif kind == "prcp" and hasattr(self.source, "read_unchecked"):
                # The core takes NaN and infinite rain for missing itself (md_forward::rainfall_runoff_cells), as
                # a held array has it: a store's window needs no check (France: 7.6 ms of 28 a window).
                self.source.read_unchecked(kind, t0 - 1, n, out=core.prcp_next[:, :n].T)
            else:
                self.source.read(kind, t0 - 1, n, out=getattr(core, f"{kind}_next")[:, :n].T)
        return t0, t1

    def prefetch(self, core_input) -> None:
        """Read a forward run's first window into `core_input`'s next-window arrays now (a model's build calls
        it last, as the held mode reads the whole period there): the first run then starts on it instead of
        waiting for it (France: 0.4 s, a twentieth of a forward run over a month: the interannual PET's first
        maps and the store's first chunk, cold). In the calling thread, not a background one: a reader's
        warnings swap the process's warning filters, which the caller's code may be using meanwhile. A run
        that wants another window, or runs on other core inputs, reads its own; a failed read is left to the
        run, which reads the window again and reports the error."""
        if self._ahead is not None or not self._busy.acquire(blocking=False):
            return
        try:
            window = self.windows["forward"]
            if int(core_input.window_steps) != window:
                return
            span = window_holding(1, window, self.ntime_step)
            done = Future()     # as the run's read-ahead is held (_fetch takes its result)
            try:
                done.set_result(self._read_window(*span, core=core_input))
            except Exception:  # noqa: BLE001 - the run reads the window again and raises
                return
            self._ahead = (span, done)
            self._prefetched = weakref.ref(core_input)
        finally:
            self._busy.release()

    def store_chunk_steps(self) -> int:
        """Steps per time chunk of the precipitation store when the period starts on one, else 0: a gradient's
        window of whole chunks decodes each once a sweep (memory.gradient_plan)."""
        steps = self.source.chunk_steps("prcp") if hasattr(self.source, "chunk_steps") else None
        return int(steps or 0)

    def _window_of(self, t0: int) -> tuple[int, int]:
        return window_holding(t0, self.windows["gradient" if self._gradient else "forward"], self.ntime_step)

    def _read_ahead(self, t0: int) -> None:
        if not 1 <= t0 <= self.ntime_step:
            self._ahead = None
            return
        span = self._window_of(t0)
        if self._ahead is not None:
            if self._ahead[0] == span:
                return
            self._ahead[1].result()     # it writes the arrays the new read would: let it finish first
        self._ahead = (span, self._pool.submit(self._read_window, *span))

    # ------------------------------------------------------------ the callback
    def _fetch(self, t0: int, t1: int) -> None:
        """The core's request for steps t0 .. t1 (called from Fortran, GIL taken by ctypes)."""
        if self._error is not None:
            return
        started = time.perf_counter()
        try:
            if self.window_hook is not None:
                self.window_hook(t0)
            # The core asks for a chunk's steps; it reads them from the window that holds the chunk.
            span = self._window_of(t0)
            if t1 > span[1]:
                raise RuntimeError(f"steps {t0}-{t1} asked for straddle the streamed windows of "
                                   f"{span[1] - span[0] + 1} steps")
            # Asked again for the loaded window: the next chunk of a window of several, or in a gradient the
            # reverse sweep starting on the forward sweep's last chunk (after a gradient's reverse sweep a
            # forward run starts on its window too).
            again = self.loaded == span
            last, self._last_chunk = self._last_chunk, (t0, t1)
            backward = last is not None and (t0 < last[0] or (t0 == last[0] and self._gradient))
            if not again:
                ahead, self._ahead = self._ahead, None
                # The read ahead fills the next window's arrays: wait for it even when it read another window.
                done = ahead[1].result() if ahead is not None else None
                if done != span:
                    self.unpredicted += 1
                    self._read_window(*span)
                _core.swap_forcing_window(self._input)
                self.loaded = span
            t0, t1 = span
            following = self._following(span) if self._order is not None else None
            w = self.windows["gradient" if self._gradient else "forward"]
            if following is not None:
                self._read_ahead(following)     # the gradient's order: the nested sweeps jump back by segments
            elif backward:
                self._read_ahead(t0 - w)        # the reverse sweep: windows last to first
            elif t1 < self.ntime_step:
                self._read_ahead(t1 + 1)
            elif self._gradient:
                self._read_ahead(t0 - w)        # the forward sweep's last window: the reverse sweep follows
        except BaseException as error:  # noqa: BLE001 - re-raised by session() once the core returns
            self._error = error
        self.wait_seconds += time.perf_counter() - started

    def _following(self, span) -> int | None:
        """In a gradient, the first step of the window asked for after `span` that is not `span` again
        (gradient_windows), or None when `span` is not where the order expects it nor later in it."""
        order, i = self._order, self._position
        if i >= len(order) or order[i] != span:
            try:
                i = order.index(span, i)
            except ValueError:
                return None
        self._position = i + 1
        # The gradient's last window: 0, nothing to read ahead. (islice: no copy of the order at every window.)
        return next((later[0] for later in itertools.islice(order, i + 1, None) if later != span), 0)

    # ------------------------------------------------------------ a run
    @contextlib.contextmanager
    def session(self, core_input, gradient: bool):
        """Serve the windows of one run of the core on `core_input` (its forcing arrays sized for the
        run's window, re-allocated when a gradient follows forward runs or the reverse)."""
        if not self._busy.acquire(blocking=False):
            raise RuntimeError("This model's streamed forcings are serving a run in another thread: a model and its "
                               "copies (Model.copy, the models forward_run returns) share one window reader, so they "
                               "run one at a time. To run at once from several threads, build a model per thread "
                               "(smash.Model, or pickle.loads(pickle.dumps(model)), which opens the files again)")
        try:
            with _serving(self):
                yield from self._serve(core_input, gradient)
        finally:
            self._busy.release()

    def _taken_prefetch(self, core_input, window: int):
        """The window `prefetch` read, when it read it into `core_input`'s arrays for windows of `window` steps
        (this run's), else None."""
        ahead, self._ahead = self._ahead, None
        prefetched, self._prefetched = self._prefetched, None
        if ahead is None or prefetched() is not core_input or int(core_input.window_steps) != window:
            return None
        return ahead

    def _serve(self, core_input, gradient: bool):
        """The body of `session` (this stream's lock held, registered for this thread)."""
        self._gradient = bool(gradient)
        self._input = core_input
        window = self.windows["gradient" if gradient else "forward"]
        prefetched = self._taken_prefetch(core_input, window)
        served = self._served() if self._served is not None else None
        if served is not core_input:
            # Another model's inputs (a copy that took its own): its arrays hold another window.
            self.loaded = None
            self._served = weakref.ref(core_input)
        if int(core_input.window_steps) != window:
            _core.resize_forcing_window(core_input, window)
            self.loaded = None
        core_input.pet_by_day = self.pet_days
        self._error = None
        self._order = gradient_windows(self.ntime_step, window, self.gradient_segment, self.gradient_chunk) \
            if gradient else None
        self._position = 0
        self._last_chunk = None
        self._ahead = prefetched
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smash-forcing")
        try:
            yield self
        finally:
            if self._ahead is not None:
                self._ahead[1].cancel()
            self._ahead = None
            self._pool.shutdown(wait=True)
            self._pool = None
            self._input = None
            self._order = None
        if self._error is not None:
            error, self._error = self._error, None
            self.loaded = None
            raise RuntimeError("Reading the streamed forcings failed during the run; its results are "
                               "not usable") from error


class StreamedSeries:
    """The (nac, ntime_step) series of one streamed forcing, read from disk when indexed as
    ``series[:, steps]`` (a slice or an array of steps): what the model's gauge means and work
    estimate read, without the whole period in memory."""

    def __init__(self, stream: ForcingStream, kind: str, nac: int):
        self.stream, self.kind = stream, kind
        self.shape = (nac, stream.ntime_step)

    def __getitem__(self, index):
        rows, cols = index
        if not (isinstance(rows, slice) and rows == slice(None)):
            raise IndexError("a streamed forcing is indexed as series[:, steps]")
        nac, nt = self.shape
        if isinstance(cols, slice):
            first, stop, step = cols.indices(nt)
            if step != 1:
                raise IndexError("a streamed forcing takes slices of consecutive steps")
            return self.stream.read_steps(self.kind, first, max(0, stop - first), nac).T
        steps = np.asarray(cols, dtype=np.int64).ravel()
        out = np.empty((nac, steps.size), dtype=np.float32)
        for i, t in enumerate(steps):
            out[:, i] = self.stream.read_steps(self.kind, int(t), 1, nac)[0]
        return out
