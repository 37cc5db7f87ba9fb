"""Engagement: the events each lead produces before and after its cutoff.

Before the cutoff a lead climbs the funnel (IQL -> MQL -> SQL -> PQL) as far as its
hidden intent carries it within the 14 observation days; stage entry is ordered in
time and later stages are rarer. After the cutoff everybody gets nurture traffic
that fades; converters build up to a buying peak and convert some days after it,
then produce post-conversion events (onboarding, invoices).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from leadml import schema
from leadml.data.synth import vocab
from leadml.data.synth.draw import choice_by_group, expand, mix_table, sigmoid
from leadml.data.synth.timeline import CUTOFF_SECONDS, DAY, BoolArray, FloatArray, IntArray

EVENT_CODES: Final = (*schema.EVENT_TYPES, *schema.POST_CONVERSION_EVENTS)
"""Every event type the generator writes; events carry an index into this tuple."""
CODE: Final = {name: i for i, name in enumerate(EVENT_CODES)}
STAGE_OF_CODE: Final = np.array(
    [
        schema.STAGES.index(schema.EVENT_STAGE[e]) if e in schema.EVENT_STAGE else -1
        for e in EVENT_CODES
    ]
)
"""Stage index (0 = IQL .. 3 = PQL) of each event code, -1 for none."""
OBSERVATION_DAYS: Final = float(schema.STANDARD_OBSERVATION_DAYS)

PROGRESSION: Final = (1.3, -1.5, -2.6, -3.4)
"""Log-odds (at zero intent) of climbing to at least IQL, MQL, SQL, PQL before the cutoff."""
INTENT_SLOPE: Final = 1.2
STAGE_GAP_DAYS: Final = (0.3, 2.5, 3.0, 3.0)
"""Mean delay before entering each stage after the previous one."""
STAGE_RATE: Final = (3.0, 1.0, 0.35, 2.5)
"""Further events per stage reached over the observation period (times activity)."""
NURTURE_DAYS: Final = 45.0
"""Mean age (after the cutoff) of nurture traffic: engagement fades."""


@dataclass(frozen=True)
class EventLog:
    """Events as parallel arrays: lead index, seconds since START, event code."""

    lead: IntArray
    seconds: IntArray
    code: IntArray

    @staticmethod
    def build(lead: IntArray, offset_days: FloatArray, code: IntArray, base: IntArray) -> EventLog:
        """Events at `base[lead] + offset_days` (floored to whole seconds)."""
        seconds = base[lead] + np.floor(offset_days * DAY).astype(np.int64)
        return EventLog(lead, seconds, code.astype(np.int64))

    def select(self, keep: BoolArray) -> EventLog:
        """The events where `keep` is true."""
        return EventLog(self.lead[keep], self.seconds[keep], self.code[keep])

    @staticmethod
    def concat(logs: list[EventLog]) -> EventLog:
        """All events of several logs (unsorted)."""
        return EventLog(
            np.concatenate([log.lead for log in logs]),
            np.concatenate([log.seconds for log in logs]),
            np.concatenate([log.code for log in logs]),
        )

    @property
    def stage(self) -> IntArray:
        """Stage index of each event (-1 when it belongs to no stage)."""
        return np.asarray(STAGE_OF_CODE[self.code], dtype=np.int64)


@dataclass(frozen=True)
class Climb:
    """How far each lead got before its cutoff."""

    level: IntArray
    """Highest stage reached: 0 none, 1 IQL .. 4 PQL."""
    entry_days: FloatArray
    """Days after creation each stage was entered (n x 4), inf where not reached."""
    has_trial: BoolArray
    unsubscribed: BoolArray


def pre_cutoff_events(
    rng: np.random.Generator,
    created: IntArray,
    source: IntArray,
    intent: FloatArray,
    activity: FloatArray,
) -> tuple[EventLog, Climb]:
    """Events from 30 days before creation up to (not including) the standard cutoff."""
    n = len(created)
    horizon = OBSERVATION_DAYS
    mixes = [vocab.CREATION_EVENTS[s] for s in schema.LEAD_SOURCES]
    creation = choice_by_group(rng, source, mix_table(mixes, [None, *EVENT_CODES])) - 1
    created_stage = np.where(creation >= 0, STAGE_OF_CODE[np.maximum(creation, 0)] + 1, 0)
    shift = 0.8 * np.log(np.array([p.activity for p in vocab.PROFILES]))
    at_least = sigmoid(
        np.asarray(PROGRESSION)[None, :] + (INTENT_SLOPE * intent + shift[source])[:, None]
    )
    climbed = (rng.random(n)[:, None] < at_least).sum(axis=1)
    target = np.maximum(created_stage, climbed)
    stage_no = np.arange(1, 5)[None, :]
    gaps = rng.exponential(np.asarray(STAGE_GAP_DAYS), size=(n, 4))
    entry = np.cumsum(gaps * (stage_no > created_stage[:, None]), axis=1)
    reached = (stage_no <= target[:, None]) & (entry < horizon)
    entry = np.where(reached, entry, np.inf)

    logs = []
    first = np.flatnonzero(creation >= 0)
    logs.append(EventLog.build(first, np.zeros(len(first)), creation[first], created))
    lead, stage = np.nonzero(reached & (stage_no > created_stage[:, None]))
    entry_mix = mix_table([vocab.STAGE_ENTRY_EVENTS[s] for s in schema.STAGES], EVENT_CODES)
    code = choice_by_group(rng, stage, entry_mix)
    logs.append(EventLog.build(lead, entry[lead, stage], code, created))

    room = np.where(reached, horizon - entry, 0.0)
    counts = rng.poisson(activity[:, None] * np.asarray(STAGE_RATE)[None, :] * room / horizon)
    flat = expand(counts.ravel())
    lead, stage = np.divmod(flat, 4)
    repeat_mix = mix_table([vocab.STAGE_REPEAT_EVENTS[s] for s in schema.STAGES], EVENT_CODES)
    code = choice_by_group(rng, stage, repeat_mix)
    start = entry[lead, stage]
    offset = start + (horizon - start) * rng.random(len(flat)) ** 1.4
    logs.append(EventLog.build(lead, offset, code, created))

    share = np.array([p.pre_visits for p in vocab.PROFILES])[source]
    visitors = np.flatnonzero(rng.random(n) < share)
    lead = expand(1 + rng.poisson(1.2, len(visitors)))
    lead = visitors[lead]
    code = np.where(rng.random(len(lead)) < 0.7, CODE["page_view"], CODE["blog_view"])
    logs.append(EventLog.build(lead, -30.0 * rng.random(len(lead)) ** 0.8, code, created))

    quits = (target > 0) & (rng.random(n) < sigmoid(-2.5 - 0.8 * intent))
    quit_day = np.where(quits, rng.uniform(0.5, horizon, n), np.inf)
    unsub = np.flatnonzero(quits)
    logs.append(
        EventLog.build(unsub, quit_day[unsub], np.full(len(unsub), CODE["unsubscribe"]), created)
    )
    log = EventLog.concat(logs)
    email = np.isin(log.code, [CODE[e] for e in vocab.EMAIL_EVENTS])
    age = (log.seconds - created[log.lead]) / DAY
    log = log.select(~(email & (age > quit_day[log.lead])))
    climb = Climb(
        level=reached.sum(axis=1), entry_days=entry, has_trial=reached[:, 3], unsubscribed=quits
    )
    return log, climb


def post_cutoff_events(
    rng: np.random.Generator,
    created: IntArray,
    activity: FloatArray,
    climb: Climb,
    converted: IntArray,
    pre_converted: BoolArray,
) -> EventLog:
    """Events from the cutoff on: nurture, a buying peak before conversion, post-conversion.

    `converted` holds each lead's conversion time in seconds since START (-1: never).
    """
    n = len(created)
    cutoff = created + CUTOFF_SECONDS
    buys = converted >= 0
    trial_group = climb.has_trial.astype(np.int64)

    active = np.flatnonzero(~pre_converted)
    mean = activity[active] * (0.6 + 0.6 * climb.level[active])
    lead = active[expand(rng.poisson(mean))]
    nurture = [vocab.NURTURE_EVENTS, {**vocab.NURTURE_EVENTS, "trial_activity": 0.25}]
    code = choice_by_group(rng, trial_group[lead], mix_table(nurture, EVENT_CODES))
    offset = np.ceil(rng.exponential(NURTURE_DAYS * DAY, len(lead))).astype(np.int64)
    nurture_log = EventLog(lead, cutoff[lead] + offset, code)
    email = np.isin(code, [CODE[e] for e in vocab.EMAIL_EVENTS])
    nurture_log = nurture_log.select(~(email & climb.unsubscribed[lead]))

    buyers = np.flatnonzero(buys & ~pre_converted)
    lead = buyers[expand(2 + rng.poisson(2.0 + 1.5 * activity[buyers]))]
    lag = rng.gamma(2.0, 3.0, n)
    peak = converted - (lag * DAY).astype(np.int64)
    before = rng.random(len(lead)) < 0.7
    delta = np.where(
        before,
        -rng.exponential(6.0, len(lead)),
        rng.random(len(lead)) * lag[lead],
    )
    seconds = peak[lead] + np.floor(delta * DAY).astype(np.int64)
    buying = [vocab.BUYING_EVENTS, {**vocab.BUYING_EVENTS, "trial_activity": 0.3}]
    code = choice_by_group(rng, trial_group[lead], mix_table(buying, EVENT_CODES))
    buying_log = EventLog(lead, seconds, code)
    buying_log = buying_log.select((seconds >= cutoff[lead]) & (seconds < converted[lead]))

    customers = np.flatnonzero(buys)
    lead = customers[expand(1 + rng.poisson(1.5, len(customers)))]
    onboarding = EventLog.build(
        lead, rng.uniform(0.2, 14.0, len(lead)), np.full(len(lead), CODE["onboarding"]), converted
    )
    monthly = rng.random(len(customers)) < 0.6
    n_invoices = np.where(monthly, 24, 2)
    owner = expand(n_invoices)
    k = np.arange(len(owner)) - np.repeat(np.cumsum(n_invoices) - n_invoices, n_invoices)
    period = np.where(monthly[owner], 30.4, 365.0)
    lead = customers[owner]
    invoices = EventLog.build(
        lead, 2.0 + k * period, np.full(len(lead), CODE["invoice_paid"]), converted
    )
    log = EventLog.concat([nurture_log, buying_log, onboarding, invoices])
    # nurture stops at conversion: what follows is the customer journey
    after = buys[log.lead] & (log.seconds >= converted[log.lead])
    post = np.isin(log.code, [CODE[e] for e in schema.POST_CONVERSION_EVENTS])
    return log.select(~(after & ~post))
