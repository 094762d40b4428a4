"""The real-data study's catchment table (docs/examples/lez_cance_study/catchments.csv) holds the gauges
of the datasets as their gauge_attributes.csv give them, placed on the national flow directions where
the delineated area is close to the reported one."""


import numpy as np
import pandas as pd

import smash

from helpers import REPO_ROOT

STUDY = REPO_ROOT / "docs" / "examples" / "lez_cance_study" / "catchments.csv"


def test_catchments_are_the_dataset_gauges(data_dir):
    table = pd.read_csv(STUDY, dtype={"code": str})
    assert table.columns.tolist() == ["code", "x", "y", "area", "data_dir"]
    assert len(table) == 6 and table["code"].is_unique
    for name, rows in table.groupby("data_dir", sort=False):
        gauges = pd.read_csv(data_dir / name / "gauge_attributes.csv", dtype={"code": str})
        assert rows["code"].tolist() == gauges["code"].tolist(), name
        columns = ["x", "y", "area"]
        assert np.array_equal(rows[columns].to_numpy(float), gauges[columns].to_numpy(float)), name
    flwdir = smash.factory.load_dataset("flwdir", path=data_dir)
    for name, rows in table.groupby("data_dir", sort=False):
        mesh = smash.factory.generate_mesh(flwdir, x=rows["x"].tolist(), y=rows["y"].tolist(),
                                           area=(rows["area"] * 1e6).tolist(), code=rows["code"].tolist())
        assert mesh["code"].tolist() == rows["code"].tolist()
        # The README's delineated areas are within 11 % of the reported ones (V3517010: 28 vs 25.3 km2).
        relative = np.abs(np.asarray(mesh["area_dln"]) / 1e6 - rows["area"].to_numpy()) / rows["area"].to_numpy()
        assert np.all(relative < 0.11), (name, relative)
