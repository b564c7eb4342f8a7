"""The metacot command line."""

from __future__ import annotations

from metacot.cli import main


def test_hitting_time_prints_the_closed_form(capsys):
    assert main(["hitting-time", "line_of_cliques", "--K", "4", "--M", "16", "--eps", "0.01"]) == 0
    assert "exact E[tau] = 4819" in capsys.readouterr().out


def test_bad_parameters_give_a_clear_error_and_exit_code(capsys):
    assert main(["hitting-time", "line_of_cliques", "--K", "4", "--M", "1", "--eps", "0.01"]) == 2
    assert "M >= 2" in capsys.readouterr().err
