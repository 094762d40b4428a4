"""Running the model: `Model`, its setup and containers, forward runs (single and multiple), memory
estimates, work split across threads and the sparse storage of forcings."""
