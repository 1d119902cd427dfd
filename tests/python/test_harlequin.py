"""harlequin, the terminal SQL IDE, with its ADBC adapter: started in tmux,
it browses the catalog tree and runs a query typed into its editor
(capture-pane shows what a person would see). harlequin-adbc 0.1.2 needs
DuckDB < 1.4 (it calls `.arrow().to_pylist()`), so it has a venv of its own,
which .ci/run makes in ~/.cache/floe-harlequin."""

import os
from pathlib import Path

import pytest

from terminal import Tmux

HARLEQUIN = Path(os.environ.get("FLOE_HARLEQUIN", Path.home() / ".cache" / "floe-harlequin" / "bin" / "harlequin"))


def test_harlequin_browses_and_queries(client_servers):
    if not HARLEQUIN.exists():
        pytest.fail(f"{HARLEQUIN} is missing: .ci/run installs harlequin and harlequin-adbc there")
    console = Tmux("floe-harlequin", f"{HARLEQUIN} -a adbc --driver-type flightsql grpc://{client_servers['plain'].address}")
    try:
        # The data catalog lists the catalog and its schemas.
        screen = console.wait_for("floe", seconds=90)
        console.type("SELECT species, count(*) AS n FROM default.flowers GROUP BY species ORDER BY species")
        console.press("C-j")
        screen = console.wait_for("virginica", seconds=90)
        assert "setosa" in screen and "versicolor" in screen
    finally:
        console.close()
