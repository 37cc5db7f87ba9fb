"""Who the leads are: source, company, contact, firmographics, cost and campaign.

Companies are drawn first and shared by several leads (same industry, size, country
and e-mail domain). A few people register twice under a new lead id. The written
table is messy like a CRM export: missing values, odd spellings, free-text titles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadml import schema
from leadml.data.synth import vocab
from leadml.data.synth.draw import choice, choice_by_group, sigmoid
from leadml.data.synth.timeline import (
    DAY,
    SPAN_DAYS,
    START,
    BoolArray,
    FloatArray,
    IntArray,
    created_seconds,
    to_timestamps,
)
from leadml.data.synth.truth import Firmographics

SOURCES = schema.LEAD_SOURCES
COUNTRIES = tuple(schema.COUNTRY_REGION)
PROFILES = vocab.PROFILES
DUPLICATE_SHARE = 0.015
"""Share of leads that are a second registration of an earlier person."""
FUNCTION_SHARE = (0.25, 0.15, 0.15, 0.1, 0.08, 0.12, 0.1, 0.05)


@dataclass(frozen=True)
class LeadDraw:
    """The drawn leads: codes the rest of the generator needs, and the written table."""

    created: IntArray
    """Creation time, seconds since START, sorted."""
    source: IntArray
    """Index into schema.LEAD_SOURCES."""
    observed: Firmographics
    """Firmographics as written (with missing values): what a model can know."""
    hidden: Firmographics
    """The same before values went missing: drives behaviour, never the truth."""
    table: pa.Table
    """The leads table as exported (without converted_at)."""


def source_mix(day: IntArray) -> FloatArray:
    """Per-lead source weights by creation day: drifting shares, review sites only at the end."""
    t = day / SPAN_DAYS
    share = np.array([p.share for p in PROFILES])
    drift = np.array([p.drift for p in PROFILES])
    weights = share * (1.0 + np.outer(t, drift))
    new_source = SOURCES.index(vocab.NEW_SOURCE)
    weights[:, new_source] *= day >= SPAN_DAYS - vocab.NEW_SOURCE_DAYS
    return np.asarray(weights, dtype=np.float64)


def _draw_source(rng: np.random.Generator, created: IntArray) -> IntArray:
    cum = np.cumsum(source_mix(created // DAY), axis=1)
    u = rng.random(len(created)) * cum[:, -1]
    return np.asarray((u[:, None] >= cum).sum(axis=1), dtype=np.int64)


Companies = dict[str, np.ndarray]
"""The company table: employees (sorted), industry, revenue, country and name code."""


def _first_draws(rng: np.random.Generator, n: int) -> tuple[IntArray, IntArray, Companies]:
    """The first draws of `draw_leads`: creation times, sources and the company table."""
    created = created_seconds(rng, n)
    source = _draw_source(rng, created)
    return created, source, _companies(rng, n)


def company_table(rng: np.random.Generator, n: int) -> Companies:
    """The company table `draw_leads(rng, n)` draws (rng in the same state)."""
    return _first_draws(rng, n)[2]


def _companies(rng: np.random.Generator, n_leads: int) -> Companies:
    """A company table sorted by size; names are unique combinations of three word lists."""
    combos = len(vocab.COMPANY_PREFIXES) * len(vocab.COMPANY_CORES) * len(vocab.COMPANY_SUFFIXES)
    n = int(np.clip(n_leads // 5, 20, combos))
    employees = np.clip(np.round(np.exp(rng.normal(np.log(60.0), 1.5, n))), 1, 250_000)
    order = np.argsort(employees, kind="stable")
    employees = employees[order]
    industry = choice(rng, list(vocab.INDUSTRY_SHARE.values()), n)
    revenue_per_head = np.exp(rng.normal(np.log(180_000.0), 0.5, n))
    revenue = np.round(employees * revenue_per_head, -3)
    country = choice(rng, [vocab.COUNTRY_SHARE[c] for c in COUNTRIES], n)
    name = rng.permutation(combos)[:n]
    return {
        "employees": employees,
        "industry": industry,
        "revenue": revenue,
        "country": country,
        "name": name,
    }


def _pick(values: list[str], idx: IntArray, valid: BoolArray | None = None) -> pa.Array:
    """Strings from a small vocabulary by index (null where not valid)."""
    mask = None if valid is None else pa.array(~valid)
    taken = pa.array(values, type=pa.large_string()).take(pa.array(idx))
    return taken if mask is None else pc.if_else(mask, pa.scalar(None, pa.large_string()), taken)


def _join(*parts: pa.Array | str) -> pa.Array:
    arrays = [
        pa.scalar(p, pa.large_string()) if isinstance(p, str) else p.cast(pa.large_string())
        for p in parts
    ]
    return pc.binary_join_element_wise(*arrays, pa.scalar("", pa.large_string()))


def _digits(rng: np.random.Generator, n: int, width: int, low: int = 0) -> pa.Array:
    number = rng.integers(low, 10**width, n)
    return pc.utf8_lpad(pc.cast(pa.array(number), pa.large_string()), width, "0")


def _messy(
    rng: np.random.Generator,
    code: IntArray,
    levels: tuple[str, ...],
    spellings: dict[str, tuple[str, ...]],
    valid: BoolArray,
) -> pa.Array:
    """Canonical level names, with MESSY_SHARE of them in an alias spelling instead."""
    vocabulary = list(levels)
    offsets = []
    for level in levels:
        offsets.append(len(vocabulary))
        vocabulary.extend(spellings[level])
    n_spell = np.array([len(spellings[level]) for level in levels])
    safe = np.maximum(code, 0)
    alias = np.asarray(offsets)[safe] + (rng.random(len(code)) * n_spell[safe]).astype(np.int64)
    messy = rng.random(len(code)) < vocab.MESSY_SHARE
    return _pick(vocabulary, np.where(messy, alias, safe), valid)


def _people(rng: np.random.Generator, n: int) -> IntArray:
    """The person behind each lead: itself, or an earlier lead for people who register twice."""
    person = np.arange(n, dtype=np.int64)
    dup = np.flatnonzero(rng.random(n) < DUPLICATE_SHARE)
    dup = dup[dup > 0]
    back = 1 + np.floor(rng.exponential(max(1.0, 0.03 * n), len(dup))).astype(np.int64)
    person[dup] = np.maximum(dup - back, 0)
    while not np.array_equal(person, person[person]):  # a third registration: same person
        person = person[person]
    return person


def _job_titles(
    rng: np.random.Generator, seniority: IntArray, function: IntArray, small: BoolArray
) -> tuple[list[str], IntArray]:
    """A title vocabulary and each lead's index into it, consistent with seniority."""
    titles: list[str] = []
    offsets: list[int] = []
    for name in schema.SENIORITIES[:4]:
        offsets.append(len(titles))
        patterns = vocab.TITLE_PATTERNS[name]
        titles.extend(p.format(f=f) for f in vocab.FUNCTIONS for p in patterns)
    chief, founder = len(titles), len(titles) + len(vocab.C_LEVEL_TITLES)
    titles.extend((*vocab.C_LEVEL_TITLES, *vocab.FOUNDER_TITLES))
    n_pat = np.array([len(vocab.TITLE_PATTERNS[lv]) for lv in schema.SENIORITIES[:4]] + [1])
    level = np.minimum(seniority, 3)
    pattern = (rng.random(len(seniority)) * n_pat[level]).astype(np.int64)
    regular = np.asarray(offsets + [0])[level] + function * n_pat[level] + pattern
    n_founder = len(vocab.FOUNDER_TITLES)
    top = np.where(
        small & (rng.random(len(seniority)) < 0.7),
        founder + (rng.random(len(seniority)) * n_founder).astype(np.int64),
        chief + function,
    )
    return titles, np.where(seniority == 4, top, regular)


def _quarter_index(created: IntArray) -> IntArray:
    """Calendar quarter of each creation time, counted from the first quarter of START."""
    dates = pd.DatetimeIndex(START + pd.to_timedelta(np.arange(SPAN_DAYS + 1), unit="D"))
    by_day = (dates.year - START.year) * 4 + dates.quarter - 1
    return np.asarray(by_day, dtype=np.int64)[created // DAY]


def _campaigns(rng: np.random.Generator, created: IntArray, source: IntArray) -> pa.Array:
    """High-cardinality campaign names: quarter x source x theme (Zipf) x region."""
    n = len(created)
    share = np.array([p.campaign_share for p in PROFILES])
    has = rng.random(n) < share[source]
    quarter = np.maximum(_quarter_index(created) - (rng.random(n) < 0.15), 0)
    n_theme, n_region = 6, len(vocab.CAMPAIGN_REGIONS)
    theme = choice(rng, 1.0 / np.arange(1, n_theme + 1) ** 1.6, n)
    region = choice(rng, 1.0 / np.arange(1, n_region + 1) ** 1.5, n)
    regional = np.isin(source, [SOURCES.index(s) for s in ("paid_search", "social")])
    region = np.where(regional, region, n_region)
    code = ((quarter * len(SOURCES) + source) * n_theme + theme) * (n_region + 1) + region
    uniq, inverse = np.unique(code, return_inverse=True)
    names = []
    for c in uniq.tolist():  # one name per distinct campaign, not per lead
        rest, reg = divmod(c, n_region + 1)
        rest, th = divmod(rest, n_theme)
        q, src = divmod(rest, len(SOURCES))
        theme_name = vocab.CAMPAIGN_THEMES[(src * 3 + th) % len(vocab.CAMPAIGN_THEMES)]
        slug = SOURCES[src].replace("_", "-")
        tail = f"-{vocab.CAMPAIGN_REGIONS[reg]}" if reg < n_region else ""
        names.append(f"{START.year + q // 4}q{q % 4 + 1}-{slug}-{theme_name}{tail}")
    return _pick(names, inverse.astype(np.int64), has)


def _contacts(
    rng: np.random.Generator,
    first: IntArray,
    last: IntArray,
    domain: pa.Array,
    hidden: Firmographics,
    person: IntArray,
) -> dict[str, pa.Array]:
    """Name, e-mail (corporate or free-mail) and phone of each contact (same person, same)."""
    n = len(first)
    first_s = _pick(list(vocab.FIRST_NAMES), first)
    last_s = _pick(list(vocab.LAST_NAMES), last)
    lower_first, lower_last = pc.utf8_lower(first_s), pc.utf8_lower(last_s)
    initial = pc.utf8_slice_codeunits(lower_first, 0, 1)
    dotted = pa.array(rng.random(n) < 0.7)
    corporate = pc.if_else(dotted, _join(lower_first, ".", lower_last), _join(initial, lower_last))
    number = pc.cast(pa.array(rng.integers(1, 1000, n)), pa.large_string())
    sep = pc.if_else(pa.array(rng.random(n) < 0.5), ".", "")
    free_domain = _pick(
        list(vocab.FREE_MAIL_SHARE), choice(rng, list(vocab.FREE_MAIL_SHARE.values()), n)
    )
    email = pc.if_else(
        pa.array(hidden.free_mail),
        _join(lower_first, sep, lower_last, number, "@", free_domain),
        _join(corporate, "@", domain),
    )
    dial = [vocab.COUNTRY_PHONE[c] for c in COUNTRIES]
    phone = _join(
        _pick(dial, hidden.country), " ", _digits(rng, n, 3, 200), " ", _digits(rng, n, 7)
    )
    same = pa.array(person)
    return {
        schema.CONTACT_NAME: _join(first_s, " ", last_s),
        schema.EMAIL: _null_where(email.take(same), ~hidden.has_email),
        schema.PHONE: _null_where(phone.take(same), rng.random(n) < 0.12),
    }


def _null_where(values: pa.Array, missing: BoolArray) -> pa.Array:
    return pc.if_else(pa.array(missing), pa.scalar(None, values.type), values)


def _company_names(comp: Companies, company: IntArray) -> tuple[pa.Array, pa.Array]:
    """Company name and e-mail domain of each lead (built once per distinct company)."""
    uniq, inverse = np.unique(company, return_inverse=True)
    n_core, n_suffix = len(vocab.COMPANY_CORES), len(vocab.COMPANY_SUFFIXES)
    prefix, rest = np.divmod(comp["name"][uniq], n_core * n_suffix)
    core, suffix = np.divmod(rest, n_suffix)
    names, domains = [], []
    for p, c, s, k in zip(
        prefix.tolist(), core.tolist(), suffix.tolist(), comp["country"][uniq].tolist(), strict=True
    ):
        stem = f"{vocab.COMPANY_PREFIXES[p]} {vocab.COMPANY_CORES[c]}"
        names.append(f"{stem} {vocab.COMPANY_SUFFIXES[s]}")
        domains.append(f"{stem.replace(' ', '').lower()}.{vocab.COUNTRY_TLD[COUNTRIES[k]]}")
    idx = inverse.astype(np.int64)
    return _pick(names, idx), _pick(domains, idx)


def draw_leads(
    rng: np.random.Generator,
    n: int,
    *,
    first_id: int = 1,
    id_width: int | None = None,
    companies: Companies | None = None,
) -> LeadDraw:
    """Draw n leads created over the span, in creation order.

    Lead ids run from `first_id`, zero-padded to `id_width` digits (default: enough for
    n). `companies` (from `company_table`) replaces this draw's own company table, so that
    the chunks of one large funnel share one set of companies."""
    created, source, own = _first_draws(rng, n)
    comp = own if companies is None else companies
    n_comp = len(comp["employees"])
    tilt = np.array([p.size_tilt for p in PROFILES])[source]
    company = np.minimum((n_comp * rng.random(n) ** tilt).astype(np.int64), n_comp - 1)
    first = rng.integers(0, len(vocab.FIRST_NAMES), n)
    last = rng.integers(0, len(vocab.LAST_NAMES), n)
    function = choice(rng, FUNCTION_SHARE, n)
    # people who register twice keep who they are; channel and timing are new
    person = _people(rng, n)
    company, first, last, function = (arr[person] for arr in (company, first, last, function))
    hidden = _hidden_firmographics(rng, comp, company, source, person)
    small = hidden.employees < 20
    noisy = np.isin(source, [SOURCES.index("social"), SOURCES.index("purchased_list")])
    factor = np.where(noisy, 1.3, 1.0)
    present = {col: rng.random(n) >= share * factor for col, share in vocab.MISSING_SHARE.items()}
    observed = _observed(hidden, present)
    company_name, domain = _company_names(comp, company)
    titles, title_idx = _job_titles(rng, hidden.seniority, function, small)
    cost = np.array([p.cost_per_lead for p in PROFILES])[source]
    cost = np.round(cost * np.exp(rng.normal(0.0, 0.35, n)), 2)
    width = id_width or max(7, len(str(n)))
    number = pc.cast(pa.array(np.arange(first_id, first_id + n)), pa.large_string())
    columns = {
        schema.LEAD_ID: _join("L", pc.utf8_lpad(number, width, "0")),
        schema.CREATED_AT: to_timestamps(created),
        schema.LEAD_SOURCE: _messy(
            rng, source, SOURCES, vocab.SOURCE_SPELLINGS, np.ones(n, dtype=bool)
        ),
        schema.CAMPAIGN: _campaigns(rng, created, source),
        schema.COMPANY: _null_where(company_name, ~present[schema.COMPANY]),
        schema.INDUSTRY: _messy(
            rng,
            observed.industry,
            schema.INDUSTRIES,
            vocab.INDUSTRY_SPELLINGS,
            present[schema.INDUSTRY],
        ),
        schema.EMPLOYEES: _int_column(hidden.employees, present[schema.EMPLOYEES]),
        schema.ANNUAL_REVENUE: _int_column(hidden.annual_revenue, present[schema.ANNUAL_REVENUE]),
        schema.COUNTRY: _pick(list(COUNTRIES), hidden.country, present[schema.COUNTRY]),
        schema.JOB_TITLE: _pick(titles, title_idx, present[schema.JOB_TITLE]),
        schema.SENIORITY: _messy(
            rng,
            observed.seniority,
            schema.SENIORITIES,
            vocab.SENIORITY_SPELLINGS,
            present[schema.SENIORITY],
        ),
        **_contacts(rng, first, last, domain, hidden, person),
        schema.ACQUISITION_COST: pa.array(cost),
    }
    return LeadDraw(created, source, observed, hidden, pa.table(columns))


def _hidden_firmographics(
    rng: np.random.Generator,
    comp: Companies,
    company: IntArray,
    source: IntArray,
    person: IntArray,
) -> Firmographics:
    """Who each lead really is: its company's facts, a seniority (small companies have
    flatter ladders) and a free-mail address (likelier at small companies and the entry
    level); a person registering twice keeps theirs."""
    n = len(company)
    employees = comp["employees"][company]
    small = employees < 20
    seniority = choice_by_group(
        rng, small.astype(np.int64), [vocab.SENIORITY_SHARE, vocab.SENIORITY_SHARE_SMALL]
    )
    seniority = seniority[person]
    fm_base = np.array([p.free_mail for p in PROFILES])[source]
    fm_logit = fm_base - 0.9 * (np.log10(employees) - 1.5) + 0.3 * (seniority == 0)
    free_mail = rng.random(n) < sigmoid(fm_logit)
    return Firmographics(
        industry=comp["industry"][company],
        employees=employees.astype(np.float64),
        annual_revenue=comp["revenue"][company].astype(np.float64),
        country=comp["country"][company],
        seniority=seniority,
        free_mail=free_mail[person],
        has_email=rng.random(n) >= 0.02,
    )


def _observed(hidden: Firmographics, present: dict[str, BoolArray]) -> Firmographics:
    """The firmographics as written in the export: absent where `present` is False."""
    return Firmographics(
        industry=np.where(present[schema.INDUSTRY], hidden.industry, -1),
        employees=np.where(present[schema.EMPLOYEES], hidden.employees, np.nan),
        annual_revenue=np.where(present[schema.ANNUAL_REVENUE], hidden.annual_revenue, np.nan),
        country=np.where(present[schema.COUNTRY], hidden.country, -1),
        seniority=np.where(present[schema.SENIORITY], hidden.seniority, -1),
        free_mail=hidden.free_mail,
        has_email=hidden.has_email,
    )


def _int_column(values: FloatArray, valid: BoolArray) -> pa.Array:
    return pa.array(values.astype(np.int64), mask=~valid)
