"""Messages and progress bars of batch jobs (issue 21): iterate lines through `logging` under `smash.`,
bars only on a terminal, so a redirected run writes plain lines (no carriage-return redraws)."""

import logging
import subprocess
import sys

import pytest

import smash

SCRIPT = """
import smash
setup, mesh = smash.factory.load_dataset("synthetic")
model = smash.Model(setup, mesh)
model.optimize(mapping="distributed", optimizer="lbfgsb", optimize_options={"termination_crit": {"maxiter": 3}})
model.optimize(optimize_options={"termination_crit": {"maxiter": 2}})
smash.multiple_forward_run(model, smash.factory.generate_samples(
    {"num_vars": 1, "names": ["cp"], "bounds": [[100.0, 300.0]]}, n=3, random_state=0))
model.forward_run(common_options={"verbose": True})
"""


@pytest.fixture
def restore_logging():
    yield
    smash.logs.configure()


def test_redirected_run_writes_lines_without_carriage_returns(tmp_path):
    log = tmp_path / "job.log"
    with open(log, "wb") as out:
        subprocess.run([sys.executable, "-c", SCRIPT], stdout=out, stderr=subprocess.STDOUT, check=True,
                       stdin=subprocess.DEVNULL)
    text = log.read_bytes().decode()
    assert "\r" not in text
    lines = text.splitlines()
    # Every iterate line whole, once: lbfgsb's 0..3 then sbs's 0..2, and each run's closing line.
    iterates = [int(line.split()[2]) for line in lines if line.startswith("    At iterate")]
    assert iterates == [0, 1, 2, 3, 0, 1, 2]
    assert sum(line.startswith("    STOP:") for line in lines) == 2
    assert sum(line.startswith("</> Forward Run (") for line in lines) == 1
    assert "Optimize (" not in text and "Multiple Forward Run" not in text  # no bar


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)

    def iterates(self):
        return [(r.name, r.levelno) for r in self.records if "At iterate" in r.getMessage()]


@pytest.fixture
def application_handler():
    """A handler of the application's own, on the root logger."""
    handler = _Collect()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


def test_iterate_lines_reach_the_application_handlers(capsys, application_handler, restore_logging):
    setup, mesh = smash.factory.load_dataset("synthetic")
    model = smash.Model(setup, mesh)
    model.optimize(optimize_options={"termination_crit": {"maxiter": 1}})
    # By default smash's messages are its own: on standard output, not passed to the application.
    assert capsys.readouterr().out.count("At iterate") == 2 and application_handler.iterates() == []
    smash.logs.configure(console=False, propagate=True)
    model.optimize(optimize_options={"termination_crit": {"maxiter": 1}})
    assert application_handler.iterates() == [("smash.optimize", logging.INFO)] * 2
    assert capsys.readouterr().out == ""  # console off: nothing on standard output
    application_handler.records.clear()
    # verbose=False: the lines are DEBUG records, dropped at the smash logger's level INFO, kept at DEBUG.
    quiet = {"verbose": False}
    model.optimize(optimize_options={"termination_crit": {"maxiter": 1}}, common_options=quiet)
    assert application_handler.iterates() == []
    smash.logs.configure(console=False, propagate=True, level="DEBUG")
    model.optimize(optimize_options={"termination_crit": {"maxiter": 1}}, common_options=quiet)
    assert application_handler.iterates() == [("smash.optimize", logging.DEBUG)] * 2

def test_console_shows_info_lines_and_a_warning_level_silences_them(capsys, restore_logging):
    setup, mesh = smash.factory.load_dataset("synthetic")
    model = smash.Model(setup, mesh)
    model.forward_run(common_options={"verbose": True})
    assert capsys.readouterr().out.startswith("</> Forward Run (")
    model.forward_run(common_options={"verbose": False})
    assert capsys.readouterr().out == ""
    smash.logs.configure(level="WARNING")
    model.optimize(optimize_options={"termination_crit": {"maxiter": 1}})
    assert capsys.readouterr().out == ""
