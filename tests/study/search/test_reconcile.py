"""``reconcile``: Optuna trials a killed driver left RUNNING become FAIL, through the storage's public API only;
on the in-memory storage and on the SQLite storage a study really uses (``study.search.storage.open_storage``)."""
import optuna
import pytest
from optuna.trial import TrialState

from study.search.search import reconcile
from study.search.storage import open_storage


@pytest.fixture(params=["memory", "sqlite"])
def storage(request, tmp_path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if request.param == "memory":
        return optuna.storages.InMemoryStorage()
    return open_storage(f"sqlite:///{tmp_path / 'optuna.db'}")


def test_running_trials_become_fail_and_the_others_are_left_alone(storage):
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    done, pruned = study.ask(), study.ask()
    study.tell(done, 0.5)
    study.tell(pruned, state=TrialState.PRUNED)
    study.ask(), study.ask()  # asked, never told: what a killed driver leaves behind
    assert reconcile(storage, "s") == 2
    states = {t.number: t for t in optuna.load_study(study_name="s", storage=storage).get_trials()}
    assert [states[n].state for n in range(4)] == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL,
                                                  TrialState.FAIL]
    assert "reconciled" not in states[0].user_attrs and "reconciled" not in states[1].user_attrs
    assert "interrupted driver" in states[2].user_attrs["reconciled"]
    assert states[0].value == pytest.approx(0.5)
    assert reconcile(storage, "s") == 0  # nothing left to do


def test_only_the_named_study_is_touched(storage):
    optuna.create_study(study_name="s", storage=storage).ask()
    other = optuna.create_study(study_name="other", storage=storage)
    other.ask()
    assert reconcile(storage, "s") == 1
    assert other.get_trials()[0].state == TrialState.RUNNING


def test_an_unknown_study_is_an_error(storage):
    with pytest.raises(KeyError):
        reconcile(storage, "nope")
