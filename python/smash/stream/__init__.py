"""Forcings streamed from disk a window of steps at a time (setup ``forcing_storage``).

A model whose forcings of the whole period would not fit in memory keeps only a window of steps
in the core: each chunk of the time loop (md_forward) asks for its window through a callback,
which copies it from a reader thread that read it from disk while the previous window was
computed. `storage` decides the mode and the window, `sources` reads windows (GeoTIFF folders,
NetCDF, Zarr, split into rain and snow with ``prcp_partitioning``; `saved`: a model file read back),
`window` serves them to the core during a run (each thread's run its own stream: several streamed
models run at once from several threads).
"""

from smash.stream.interception import estimate_interception
from smash.stream.sources import source_of, streamed_kinds_of
from smash.stream.storage import choose_storage, stream_windows, window_steps
from smash.stream.window import ForcingStream, StreamedSeries

__all__ = ["ForcingStream", "StreamedSeries", "choose_storage", "estimate_interception", "source_of",
           "stream_windows", "streamed_kinds_of", "window_steps"]
