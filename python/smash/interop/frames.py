"""A model's gauge series as a pandas DataFrame (`Model.to_dataframe`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from smash.interop.series import check_series_names, end_times, gauge_codes, gauge_series


def gauge_frame(model, variables=("qobs", "qsim")) -> pd.DataFrame:
    """Series per gauge as a DataFrame: index `time` (step end times), columns (variable, gauge code)."""
    names = check_series_names(model, variables)
    if int(model.mesh.ng) == 0:
        raise ValueError("The mesh has no gauge: there is no series per gauge to tabulate")
    codes = gauge_codes(model)
    data = np.concatenate([gauge_series(model, name).T for name in names], axis=1)
    columns = pd.MultiIndex.from_product([list(names), codes], names=["variable", "gauge"])
    return pd.DataFrame(data, index=pd.DatetimeIndex(end_times(model), name="time"), columns=columns)
