"""Trial states kept in memory: catching up by folding new events equals folding the whole history,
and a write that does not commit never shows."""

from __future__ import annotations

import random
from pathlib import Path

import grpc
import pytest

from dosefinding.v1 import outcomes_pb2
from dosefinding.v1 import trial_service_pb2 as tpb
from dosefinding_server.audit import records
from dosefinding_server.config import Config
from dosefinding_server.trials import model
from dosefinding_server.trials.cache import StateCache

from .support import OPEN_ENDED, cohort, connect, create, decision_now, key, record, refused, running


def history(seed: int, length: int = 30) -> list[model.Event]:
    """A random history: cohorts, corrections of earlier patients, and a closure at the end."""
    rnd = random.Random(seed)
    events = [model.Event("t", 1, model.CREATED, {"design_sha256": "0" * 64}, "2026-01-01T00:00:00.000000Z",
                          "a", 1)]
    patients: list[str] = []
    for version in range(2, length + 1):
        if patients and rnd.random() < 0.3:
            pid = rnd.choice(patients)
            payload = {"patient_id": pid, "corrected": {"patient_id": pid, "toxicity": rnd.random() < 0.5},
                       "reason": "r"}
            events.append(model.Event("t", version, model.CORRECTION, payload, "x", "b", version))
        else:
            dose = rnd.randint(1, 5)
            cohort_patients = [{"patient_id": f"p{version}-{i}", "dose": dose, "toxicity": rnd.random() < 0.3}
                               for i in range(rnd.randint(1, 3))]
            patients.extend(p["patient_id"] for p in cohort_patients)
            events.append(model.Event("t", version, model.COHORT, {"dose": dose, "patients": cohort_patients},
                                      "x", "b", version))
    events.append(model.Event("t", length + 1, model.CLOSED, {"reason": "end"}, "x", "a", length + 1))
    return events


def test_a_decision_is_kept_only_while_the_outcomes_stay_the_same() -> None:
    events = history(0, length=6)
    start = model.fold(events[:-1])
    assert start is not None
    start.outcomes()
    start.derived["decision"] = decision = object()
    assigned = model.Event("t", start.version + 1, model.ASSIGNED,
                           {"patient_id": "b-1", "phase": "backfill", "dose": 1}, "x", "b", 99)
    after_assignment = model.fold([assigned], start)
    assert after_assignment is not None and after_assignment.derived["decision"] is decision
    after_cohort = model.fold([model.Event("t", start.version + 1, model.COHORT,
                                           {"dose": 1, "patients": [{"patient_id": "n-1", "toxicity": True}]},
                                           "x", "b", 99)], start)
    assert after_cohort is not None and "decision" not in after_cohort.derived


@pytest.mark.parametrize("seed", range(5))
def test_catching_up_equals_folding_everything(seed: int) -> None:
    events = history(seed)
    whole = model.fold(events)
    assert whole is not None
    for split in range(1, len(events) + 1):
        start = model.fold(events[:split])
        assert start is not None
        start.outcomes()  # a cached state usually has its outcomes built: they are extended, not reused stale
        before = (start.version, dict(start.patients), start.outcomes())
        caught_up = model.fold(events[split:], start)
        assert caught_up == whole
        assert caught_up.outcomes() == whole.outcomes()
        assert (start.version, dict(start.patients), start.outcomes()) == before, "the start is not changed"


def test_folding_refuses_a_gap() -> None:
    events = history(1)
    start = model.fold(events[:3])
    with pytest.raises(ValueError, match="does not follow"):
        model.fold(events[4:], start)


def test_the_cache_keeps_the_newest_and_drops_the_least_recently_used() -> None:
    events = history(2)
    v3, v4 = model.fold(events[:3]), model.fold(events[:4])
    assert v3 is not None and v4 is not None
    cache = StateCache(capacity=2)
    cache.put(v4)
    cache.put(v3)
    assert cache.get("t") is v4
    for name in ("a", "b", "c"):
        cache.put(model.TrialState(name, {}, "", ""))
    assert len(cache) == 2 and cache.get("a") is None


def test_a_write_that_does_not_commit_leaves_no_trace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit append fails after the servicer computed the new state: the caller gets ABORTED, and
    readers and the next writer see the trial as it was (the state is cached only once durable)."""
    with running(Config(listen="127.0.0.1:0", data_dir=str(tmp_path), insecure=True)) as server, \
            connect(f"127.0.0.1:{server.port}") as client:
        trial = create(client, OPEN_ENDED).trial
        trial = record(client, trial, 1, cohort("a", [False, False, False])).trial
        before = decision_now(client, trial.trial_id)

        seal = records.AuditRecord.seal.__func__  # type: ignore[attr-defined]
        failing = {"armed": True}

        def fail_once(cls: type, seq: int, recorded_at: str, entry: records.AuditEntry, prev: bytes) -> object:
            if failing["armed"] and entry.method.endswith("/RecordOutcomes"):
                failing["armed"] = False
                raise records.InvalidEntry("injected failure")
            return seal(cls, seq, recorded_at, entry, prev)

        monkeypatch.setattr(records.AuditRecord, "seal", classmethod(fail_once))
        dose = before.decision.recommended_dose
        error = refused(record, client, trial, dose, cohort("b", [True, True, True]))
        assert error.code == grpc.StatusCode.ABORTED and not failing["armed"]

        after = decision_now(client, trial.trial_id)
        assert after.trial.version == trial.version and after.decision == before.decision
        shown = client.call(client.trials.GetTrial, tpb.GetTrialRequest(trial_id=trial.trial_id))
        assert [e.version for e in shown.events] == [1, 2] and shown.trial.num_patients == 3
        retried = record(client, trial, dose, [outcomes_pb2.PatientOutcome(patient_id="b-1")], idempotency_key=key())
        assert retried.trial.version == 3 and retried.trial.num_patients == 4


def test_trial_locks_are_shared_while_used_and_then_forgotten() -> None:
    from dosefinding_server.trials.locks import KeyedLocks

    locks = KeyedLocks()
    held = locks["trial-1"]
    assert locks["trial-1"] is held, "two writers of one trial get the same lock"
    for number in range(100):
        locks[f"made-up-{number}"]
    assert len(locks) == 1, "locks nobody holds are not kept"
    del held
    assert len(locks) == 0
