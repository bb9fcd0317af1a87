"""The load generator of the trials benchmark: trial-management systems recording cohorts.

Each simulated system has a connection of its own and a trial of its own (CRM), and records cohorts
of three at the dose the previous answer recommended. All of them run as asyncio tasks on gRPC's
asyncio client in one thread: the generator shares the machine with the server, and this costs it
far less CPU per call than a thread per client on the blocking client would.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import grpc

from dosefinding.v1 import outcomes_pb2
from dosefinding.v1 import trial_service_pb2 as tpb
from dosefinding.v1 import trial_service_pb2_grpc as tpb_grpc
from dosefinding_client import design_from_stages

COHORT_SIZE = 3
TOXICITY_RATE = 0.15
WARMUP_COHORTS = 3
TIMEOUT_SECONDS = 30.0
CRM = [{"stage": "crm", "skeleton": [0.05, 0.12, 0.25, 0.40, 0.55], "target": 0.25, "model": "empiric"}]


@dataclass
class TrialWriter:
    """One system: its connection, its trial, and the latency (seconds) of each call it made."""

    address: str
    index: int
    #: the prefix of the request ids of the measured calls (``x-request-id``), to find them in the server's log
    tag: str = ""
    latencies: list[float] = field(default_factory=list)
    #: how late (seconds) each paced call was sent after it was due: the load generator's own lateness
    lateness: list[float] = field(default_factory=list)

    async def open(self) -> None:
        """Connect, create the trial, and record a few cohorts (warm-up, not measured)."""
        self.channel = grpc.aio.insecure_channel(self.address, options=[("grpc.use_local_subchannel_pool", 1)])
        self.trials = tpb_grpc.TrialServiceStub(self.channel)
        self.random = random.Random(self.index)
        created = await self.trials.CreateTrial(tpb.CreateTrialRequest(
            protocol_id=f"BENCH-{self.index}", design=design_from_stages(CRM), idempotency_key=uuid.uuid4().hex),
            timeout=TIMEOUT_SECONDS)
        self.trial = created.trial
        decision = await self.trials.GetDecision(tpb.GetDecisionRequest(trial_id=self.trial.trial_id),
                                                 timeout=TIMEOUT_SECONDS)
        self.dose = decision.decision.recommended_dose
        self.number = 0
        for _ in range(WARMUP_COHORTS):
            await self.record()

    def next_request(self) -> tpb.RecordOutcomesRequest:
        """The next cohort, at the recommended dose, on the version last seen."""
        self.number += 1
        patients = [outcomes_pb2.PatientOutcome(patient_id=f"p{self.number}-{i}",
                                                toxicity=self.random.random() < TOXICITY_RATE)
                    for i in range(COHORT_SIZE)]
        return tpb.RecordOutcomesRequest(trial_id=self.trial.trial_id, expected_version=self.trial.version,
                                         idempotency_key=uuid.uuid4().hex, dose=self.dose, patients=patients)

    async def record(self, due: float | None = None) -> tuple[tpb.RecordOutcomesRequest, tpb.RecordOutcomesResponse]:
        """Record the next cohort; its latency counts from ``due`` (a ``perf_counter`` time) if given,
        else from when it was sent."""
        request = self.next_request()
        request_id = (("x-request-id", f"{self.tag}-{self.index}-{self.number}"),) if self.tag else ()
        started = time.perf_counter()
        answer = await self.trials.RecordOutcomes(request, timeout=TIMEOUT_SECONDS, metadata=request_id)
        self.latencies.append(time.perf_counter() - (started if due is None else due))
        if due is not None:
            self.lateness.append(started - due)
        self.trial, self.dose = answer.trial, answer.decision.recommended_dose
        return request, answer

    async def run(self, cohorts: int, began: float, interval: float | None, offset: float) -> None:
        """``cohorts`` calls: back to back, or one every ``interval`` seconds from ``began + offset``
        (paced: each latency counts from when its call was due)."""
        for number in range(cohorts):
            due = None
            if interval is not None:
                due = began + offset + interval * number
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
            await self.record(due)

    async def close(self) -> None:
        await self.channel.close()


@dataclass(frozen=True)
class Measured:
    """The measured part of a drive: every call's latency (seconds), how late each paced call was sent, its
    wall time, and the meter's readings just before its first call and just after its last (so that
    connecting, creating the trials and the warm-up cohorts fall outside them)."""

    latencies: list[float]
    lateness: list[float]
    seconds: float
    before: Any
    after: Any


async def drive(address: str, clients: int, cohorts: int, rate: float | None, tag: str = "",
                meter: Callable[[], Any] = lambda: None) -> Measured:
    """``clients`` systems, ``cohorts`` calls each, back to back or together at ``rate`` per second; the
    measured calls' request ids start with ``tag``, and ``meter`` is read around them (e.g. CPU time)."""
    writers = [TrialWriter(address, index) for index in range(clients)]
    await asyncio.gather(*(writer.open() for writer in writers))
    for writer in writers:
        writer.latencies.clear()
        writer.lateness.clear()
        writer.tag = tag
    interval = None if rate is None else clients / rate
    before = meter()
    began = time.perf_counter()
    await asyncio.gather(*(writer.run(cohorts, began, interval, (interval or 0.0) * index / clients)
                           for index, writer in enumerate(writers)))
    seconds = time.perf_counter() - began
    after = meter()
    await asyncio.gather(*(writer.close() for writer in writers))
    return Measured([latency for writer in writers for latency in writer.latencies],
                    [late for writer in writers for late in writer.lateness], seconds, before, after)


async def one_cohort(address: str) -> tuple[tpb.RecordOutcomesRequest, tpb.RecordOutcomesResponse]:
    """A trial with its warm-up cohorts and one more: that cohort's request and answer."""
    writer = TrialWriter(address, 99)
    await writer.open()
    try:
        return await writer.record()
    finally:
        await writer.close()
