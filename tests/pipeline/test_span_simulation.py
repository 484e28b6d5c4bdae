"""The span simulation's own logic, without running a pipeline: where it may write, and how it judges a run."""
import pytest

from components.typed_settings import ConfigError
from pipeline import span_simulation
from pipeline.span_simulation import RunFacts


def _facts(span, expect, **changes):
    facts = dict(span=span, expect=expect, exit_status=0, ingested_spans=list(range(span, max(0, span - 2), -1)),
                 warm_started_from="/m/1" if span > 1 else None, compared_with_blessed=span > 1, blessed=True,
                 new_version=str(100 + span), served_version=str(100 + span),
                 lineage_spans=list(range(span, max(0, span - 2), -1)), stopped_by_validation=False)
    facts.update(changes)
    return RunFacts(**facts)


def test_a_folder_it_did_not_make_is_never_emptied(tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not delete")
    with pytest.raises(ConfigError, match=r"a folder with files that this command did not make"):
        span_simulation.prepare_workdir(str(precious), fresh=True)
    assert (precious / "thesis.tex").read_text() == "do not delete"
    link = tmp_path / "link"
    link.symlink_to(precious)
    with pytest.raises(ConfigError, match=r"not a folder \(a symlink or a file\)"):
        span_simulation.prepare_workdir(str(link), fresh=True)


def test_its_own_workdir_is_emptied_only_when_asked(tmp_path):
    workdir = tmp_path / "sim"
    span_simulation.prepare_workdir(str(workdir), fresh=False)
    (workdir / "metadata.sqlite").write_text("old")
    with pytest.raises(ConfigError, match=r"holds an earlier simulation; add --fresh"):
        span_simulation.prepare_workdir(str(workdir), fresh=False)
    span_simulation.prepare_workdir(str(workdir), fresh=True)
    assert sorted(p.name for p in workdir.iterdir()) == [span_simulation.MARKER]


def test_runs_that_behave_as_scheduled_runs_must_have_no_problems():
    runs = [_facts(1, "pushed"), _facts(2, "pushed_if_not_worse"),
            _facts(3, "stopped", exit_status=1, new_version=None, served_version="102", blessed=None,
                   stopped_by_validation=True, lineage_spans=[])]
    for facts, served_before in zip(runs, (None, "101", "102")):
        facts.check(served_before, window=2)
        assert facts.problems == [], facts
    not_better = _facts(2, "pushed_if_not_worse", blessed=False, new_version=None, served_version="101")
    not_better.check("101", window=2)
    assert not_better.problems == []


@pytest.mark.parametrize("span, expect, changes, problem", [
    (1, "pushed", dict(new_version=None), "no version was pushed"),
    (2, "pushed_if_not_worse", dict(warm_started_from=None), "did not warm-start"),
    (2, "pushed_if_not_worse", dict(compared_with_blessed=False), "did not compare with the last blessed"),
    (2, "pushed_if_not_worse", dict(blessed=False), "blessed=False but new version=102"),
    (2, "pushed_if_not_worse", dict(ingested_spans=[2]), "read spans [2], expected [2, 1]"),
    (2, "pushed_if_not_worse", dict(lineage_spans=[2]), "lists spans [2]"),
    (3, "stopped", dict(exit_status=1), "was not stopped by data validation"),
    (3, "stopped", dict(exit_status=1, stopped_by_validation=True), "serving changed"),
])
def test_each_way_a_run_can_go_wrong_is_named(span, expect, changes, problem):
    facts = _facts(span, expect, **changes)
    facts.check("101" if span > 1 else None, window=2)
    assert any(problem in text for text in facts.problems), facts.problems
    assert problem in "\n".join(span_simulation.table([facts]))
