"""Fixed vocabularies and per-source profiles the synthetic funnel draws from.

Everything here is plain data (tuples and dicts in a fixed order), so that the
generator stays deterministic and its assumptions can be read in one place.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from leadml import schema


def _words(text: str) -> tuple[str, ...]:
    """Split a long space-separated word list (keeps big vocabularies compact)."""
    return tuple(text.split())


class SourceProfile(NamedTuple):
    """How leads from one source behave: volume, quality, cost and engagement."""

    share: float
    """Relative volume at the start of the span."""
    drift: float
    """Relative change of volume over the two-year span (+0.6 means 60% more by the end)."""
    intent: float
    """Shift of the hidden buying intent (quality)."""
    activity: float
    """Multiplier on how many events a lead produces (purchased lists rarely engage)."""
    cost_per_lead: float
    """Median acquisition cost in USD."""
    free_mail: float
    """Log-odds of a free-mail address for a 30-person company."""
    size_tilt: float
    """Exponent < 1 tilts the company choice towards larger companies."""
    campaign_share: float
    """Share of leads that carry a campaign name."""
    pre_visits: float
    """Share of leads with anonymous web visits stitched to them before creation."""


SOURCE_PROFILES: Final[dict[str, SourceProfile]] = {
    "organic_search": SourceProfile(0.17, 0.3, 0.0, 1.0, 12.0, -0.9, 1.0, 0.3, 0.35),
    "direct": SourceProfile(0.07, 0.1, 0.3, 1.1, 2.0, -0.9, 1.0, 0.0, 0.45),
    "email": SourceProfile(0.08, -0.2, 0.0, 1.2, 3.5, -1.0, 1.0, 0.95, 0.15),
    "paid_search": SourceProfile(0.15, 0.6, -0.1, 0.9, 55.0, -0.8, 1.0, 0.95, 0.25),
    "content_syndication": SourceProfile(0.08, -0.3, -0.6, 0.7, 38.0, -1.4, 0.9, 1.0, 0.02),
    "social": SourceProfile(0.09, 0.8, -0.4, 0.9, 28.0, -0.3, 1.2, 0.9, 0.2),
    "referral": SourceProfile(0.05, 0.2, 1.0, 1.1, 45.0, -1.5, 0.8, 0.5, 0.15),
    "review_site": SourceProfile(0.09, 0.0, 0.6, 1.1, 65.0, -1.1, 1.0, 0.8, 0.3),
    "webinar": SourceProfile(0.06, 0.0, 0.6, 1.2, 48.0, -1.2, 0.9, 1.0, 0.1),
    "event": SourceProfile(0.05, 0.0, 0.3, 0.8, 140.0, -1.8, 0.6, 1.0, 0.02),
    "outbound_call": SourceProfile(0.07, -0.2, -1.0, 0.5, 95.0, -2.2, 0.6, 0.9, 0.0),
    "purchased_list": SourceProfile(0.10, -0.6, -1.5, 0.15, 3.0, -2.5, 0.8, 1.0, 0.0),
}
PROFILES: Final = tuple(SOURCE_PROFILES[s] for s in schema.LEAD_SOURCES)
"""Profiles in schema.LEAD_SOURCES order, so a source index picks its profile."""
NEW_SOURCE: Final = "review_site"
NEW_SOURCE_DAYS: Final = 90
"""The new source appears only in the last this-many days of the span."""

# Event that creates the lead (the form it filled in), by source; None = no event
# (badge scans, cold calls and bought lists arrive without any engagement).
CREATION_EVENTS: Final[dict[str, dict[str | None, float]]] = {
    "organic_search": {
        "newsletter_signup": 0.3,
        "page_view": 0.22,
        "ebook_download": 0.18,
        "whitepaper_download": 0.08,
        "demo_request": 0.1,
        "trial_signup": 0.05,
        "blog_view": 0.07,
    },
    "direct": {
        "demo_request": 0.2,
        "trial_signup": 0.1,
        "newsletter_signup": 0.25,
        "page_view": 0.45,
    },
    "email": {"newsletter_signup": 0.45, "email_click": 0.4, "ebook_download": 0.15},
    "paid_search": {
        "page_view": 0.35,
        "newsletter_signup": 0.12,
        "ebook_download": 0.22,
        "whitepaper_download": 0.1,
        "demo_request": 0.12,
        "trial_signup": 0.05,
        "pricing_page_view": 0.04,
    },
    "content_syndication": {"whitepaper_download": 0.5, "ebook_download": 0.2, None: 0.3},
    "social": {
        "page_view": 0.35,
        "newsletter_signup": 0.3,
        "ebook_download": 0.25,
        "webinar_registration": 0.1,
    },
    "referral": {
        "demo_request": 0.3,
        "consultation_request": 0.2,
        "page_view": 0.3,
        "trial_signup": 0.05,
        None: 0.15,
    },
    "review_site": {
        "demo_request": 0.25,
        "trial_signup": 0.15,
        "pricing_page_view": 0.25,
        "page_view": 0.35,
    },
    "webinar": {"webinar_registration": 1.0},
    "event": {
        None: 0.6,
        "consultation_request": 0.1,
        "demo_request": 0.08,
        "newsletter_signup": 0.22,
    },
    "outbound_call": {None: 0.88, "consultation_request": 0.04, "email_open": 0.08},
    "purchased_list": {None: 1.0},
}

# First event when a lead enters a stage, and the mix of its further events there.
STAGE_ENTRY_EVENTS: Final[dict[str, dict[str, float]]] = {
    "IQL": {"page_view": 0.5, "blog_view": 0.3, "newsletter_signup": 0.2},
    "MQL": {
        "pricing_page_view": 0.3,
        "whitepaper_download": 0.2,
        "ebook_download": 0.25,
        "webinar_registration": 0.25,
    },
    "SQL": {"demo_request": 0.6, "quote_request": 0.2, "consultation_request": 0.2},
    "PQL": {"trial_signup": 1.0},
}
STAGE_REPEAT_EVENTS: Final[dict[str, dict[str, float]]] = {
    "IQL": {"page_view": 0.4, "blog_view": 0.22, "email_open": 0.28, "email_click": 0.1},
    "MQL": {
        "pricing_page_view": 0.3,
        "whitepaper_download": 0.12,
        "ebook_download": 0.13,
        "webinar_registration": 0.15,
        "webinar_attendance": 0.3,
    },
    "SQL": {"demo_request": 0.4, "quote_request": 0.35, "consultation_request": 0.25},
    "PQL": {"trial_activity": 1.0},
}
# After the cutoff: nurture traffic for everybody, a buying peak for converters.
NURTURE_EVENTS: Final[dict[str, float]] = {
    "email_open": 0.45,
    "page_view": 0.26,
    "blog_view": 0.15,
    "email_click": 0.1,
    "pricing_page_view": 0.015,
    "webinar_registration": 0.01,
    "ebook_download": 0.01,
    "demo_request": 0.004,
}
BUYING_EVENTS: Final[dict[str, float]] = {
    "page_view": 0.2,
    "pricing_page_view": 0.25,
    "webinar_attendance": 0.06,
    "whitepaper_download": 0.06,
    "demo_request": 0.12,
    "quote_request": 0.1,
    "consultation_request": 0.05,
    "email_click": 0.16,
}
EMAIL_EVENTS: Final = ("email_open", "email_click")

# --- firmographics ------------------------------------------------------------
INDUSTRY_SHARE: Final[dict[str, float]] = {
    "software": 0.18,
    "financial_services": 0.12,
    "healthcare": 0.10,
    "manufacturing": 0.12,
    "retail": 0.10,
    "education": 0.06,
    "professional_services": 0.12,
    "media": 0.05,
    "government": 0.04,
    "nonprofit": 0.04,
    "other": 0.07,
}
COUNTRY_SHARE: Final[dict[str, float]] = {
    "US": 0.38, "CA": 0.05, "MX": 0.02, "BR": 0.03, "AR": 0.01, "GB": 0.10,
    "DE": 0.09, "FR": 0.06, "NL": 0.04, "ES": 0.03, "IT": 0.03, "SE": 0.02,
    "ZA": 0.01, "AE": 0.01, "IN": 0.05, "AU": 0.04, "JP": 0.02, "SG": 0.01,
}  # fmt: skip
COUNTRY_PHONE: Final[dict[str, str]] = {
    "US": "+1", "CA": "+1", "MX": "+52", "BR": "+55", "AR": "+54", "GB": "+44",
    "DE": "+49", "FR": "+33", "NL": "+31", "ES": "+34", "IT": "+39", "SE": "+46",
    "ZA": "+27", "AE": "+971", "IN": "+91", "AU": "+61", "JP": "+81", "SG": "+65",
}  # fmt: skip
COUNTRY_TLD: Final[dict[str, str]] = {
    "US": "com", "CA": "ca", "MX": "com.mx", "BR": "com.br", "AR": "com.ar", "GB": "co.uk",
    "DE": "de", "FR": "fr", "NL": "nl", "ES": "es", "IT": "it", "SE": "se",
    "ZA": "co.za", "AE": "ae", "IN": "in", "AU": "com.au", "JP": "jp", "SG": "sg",
}  # fmt: skip
SENIORITY_SHARE: Final = (0.33, 0.30, 0.18, 0.11, 0.08)
SENIORITY_SHARE_SMALL: Final = (0.25, 0.22, 0.12, 0.08, 0.33)
"""Companies under 20 people: many founders and owners fill in the form themselves."""
FUNCTIONS: Final = (
    "Marketing", "Sales", "Engineering", "Operations", "Finance", "IT", "Product", "HR",
)  # fmt: skip
C_LEVEL_TITLES: Final = ("CMO", "CRO", "CTO", "COO", "CFO", "CIO", "CPO", "CHRO")
"""The chief title for each function, in FUNCTIONS order."""
FOUNDER_TITLES: Final = ("CEO", "Founder", "Owner", "Managing Director")
TITLE_PATTERNS: Final[dict[str, tuple[str, ...]]] = {
    "entry": ("{f} Specialist", "{f} Associate", "{f} Analyst", "{f} Coordinator"),
    "manager": ("{f} Manager", "Senior {f} Manager", "{f} Team Lead"),
    "director": ("Director of {f}", "Head of {f}", "{f} Director"),
    "vp": ("VP {f}", "Vice President, {f}", "SVP {f}"),
}
FREE_MAIL_SHARE: Final[dict[str, float]] = {
    "gmail.com": 0.45, "yahoo.com": 0.1, "hotmail.com": 0.1, "outlook.com": 0.1,
    "icloud.com": 0.05, "aol.com": 0.02, "live.com": 0.03, "gmx.de": 0.04, "web.de": 0.03,
    "proton.me": 0.02, "googlemail.com": 0.02, "qq.com": 0.02, "yandex.ru": 0.02,
}  # fmt: skip
# Column -> share of missing values (10-30% each, a little higher for social leads).
MISSING_SHARE: Final[dict[str, float]] = {
    schema.COMPANY: 0.11,
    schema.INDUSTRY: 0.17,
    schema.EMPLOYEES: 0.23,
    schema.ANNUAL_REVENUE: 0.27,
    schema.COUNTRY: 0.12,
    schema.JOB_TITLE: 0.14,
    schema.SENIORITY: 0.19,
}

FIRST_NAMES: Final = _words(
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Daniel Lisa Matthew Nancy "
    "Anthony Betty Mark Sandra Steven Ashley Paul Emily Andrew Donna Joshua Michelle Kevin "
    "Carol Brian Amanda George Melissa Timothy Deborah Jason Stephanie Ryan Rebecca Jacob "
    "Laura Gary Sharon Nicholas Cynthia Eric Kathleen Jonathan Amy Larry Angela Justin Anna "
    "Scott Emma Brandon Olivia Benjamin Sophie Samuel Hannah Lukas Lea Jonas Marie Felix "
    "Clara Pierre Camille Louis Chloe Lucas Ines Mateo Lucia Hugo Valentina Liam Aoife "
    "Arjun Priya Rahul Ananya Kenji Yuki Haruto Sakura Wei Mei Chen Ling Omar Layla Ahmed "
    "Fatima Thabo Naledi Lars Ingrid Erik Astrid Pedro Beatriz Joao Ana Diego Camila "
    "Santiago Martina Noah Mia Oliver Ava Ethan Isla Leon Zoe Max Nora Finn Ella Adam Eva"
)
LAST_NAMES: Final = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
    "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson "
    "White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott "
    "Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter "
    "Roberts Mueller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann "
    "Bernard Dubois Moreau Laurent Simon Michel Lefebvre Leroy Roux David Bertrand Morel "
    "Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco Silva Santos "
    "Oliveira Souza Pereira Costa Carvalho Almeida Ferreira Gomes Patel Sharma Singh Kumar "
    "Gupta Shah Mehta Iyer Reddy Nair Sato Suzuki Takahashi Tanaka Watanabe Ito Yamamoto "
    "Nakamura Kobayashi Kato Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou Andersson "
    "Johansson Karlsson Nilsson Eriksson Larsson Olsson Persson Jansen DeVries Bakker Visser "
    "Smit Meijer Bos Mulder DeBoer Dekker Murphy Kelly OBrien Walsh Byrne Ryan Doyle McCarthy "
    "Okafor Mensah Naidoo Dlamini Khumalo Haddad Khalil Mansour Nasser Cohen Levi Novak "
    "Kowalski Nowak Horvath Popescu Ivanov Petrov Smirnov Volkov Fernandes Castro Ortiz "
    "Morales Ruiz Alvarez Romero Vargas Molina Herrera Medina Aguilar Reyes Gutierrez Jimenez"
)
COMPANY_PREFIXES: Final = _words(
    "Acme Blue North Bright Iron Silver Red Green Summit Apex Nova Terra Vertex Polar Cedar "
    "Granite Harbor River Stone Oak Pine Maple Falcon Eagle Hawk Fox Wolf Lion Tiger Orbit "
    "Quantum Pixel Cloud Data Signal Vector Atlas Titan Zenith Crest Prime Core Fusion Delta "
    "Sigma Omega Alpha Beta Gamma Lumen Solar Lunar Stellar Cobalt Crimson Amber Onyx Jade "
    "Coral Sage Hudson Bay Metro Urban Rural Global Pacific Atlantic Nordic Alpine Sierra "
    "Mesa Canyon Prairie Meadow Willow Birch Aspen"
)
COMPANY_CORES: Final = _words(
    "Labs Systems Analytics Logistics Health Capital Foods Media Works Dynamics Solutions "
    "Networks Robotics Energy Ventures Partners Holdings Software Digital Retail Motors "
    "Pharma Bank Insurance Consulting Learning Studios Group Industries Technologies "
    "Security Payments Commerce Mobility Materials Devices Brands Markets Advisors Cloud "
    "Bio Foods Farms Textiles Print Freight Builders Clinic Finance Data"
)
COMPANY_SUFFIXES: Final = ("Inc", "LLC", "Ltd", "GmbH", "BV", "SA", "Corp", "Co")

# Messy spellings a CRM export really contains; every one resolves through schema aliases.
SOURCE_SPELLINGS: Final[dict[str, tuple[str, ...]]] = {
    "organic_search": ("Organic Search", "SEO", "Google Organic", "organic", "Organic"),
    "direct": ("Direct", "Direct Traffic", " direct"),
    "email": ("Email", "Newsletter", "Email Campaign", "E-mail"),
    "paid_search": ("Google Ads", " Paid Search", "PPC", "AdWords", "paid search", "CPC"),
    "content_syndication": ("Content Syndication", "Syndication"),
    "social": ("LinkedIn", "Facebook", "Social Media", "Twitter", "Social"),
    "referral": ("Referral", "Partner", "Word of Mouth", "Customer Referral"),
    "review_site": ("G2", "Capterra", "Review Site", "Reviews"),
    "webinar": ("Webinar", "Webinars", "WEBINAR"),
    "event": ("Trade Show", "Conference", "Events", "Event"),
    "outbound_call": ("Cold Call", "Outbound", "Outbound Call"),
    "purchased_list": ("Purchased List", "List Purchase", "Bought List"),
}
INDUSTRY_SPELLINGS: Final[dict[str, tuple[str, ...]]] = {
    "software": ("SaaS", "Tech", "Software ", "IT", "Technology"),
    "financial_services": ("Finance", "Banking", "FinTech", "Insurance", "Financial Services"),
    "healthcare": ("Health Care", "Pharma", "Healthcare"),
    "manufacturing": ("Manufacturing", " manufacturing"),
    "retail": ("E-commerce", "eCommerce", "Retail"),
    "education": ("Education",),
    "professional_services": ("Consulting", "Services", "Professional Services"),
    "media": ("Media",),
    "government": ("Public Sector", "Government"),
    "nonprofit": ("Non-Profit", "NGO"),
    "other": ("Other",),
}
SENIORITY_SPELLINGS: Final[dict[str, tuple[str, ...]]] = {
    "entry": ("Entry", "Junior", "Individual Contributor", "Staff", "Intern"),
    "manager": ("Manager", "Senior Manager"),
    "director": ("Director", "Head of", "Head"),
    "vp": ("VP", "Vice President", "SVP", "EVP"),
    "c_level": ("C-Suite", "CXO", "Executive", "Founder", "C-Level", "Owner"),
}
MESSY_SHARE: Final = 0.12
"""Share of category values written in one of the messy spellings above."""

CAMPAIGN_THEMES: Final = (
    "brand", "competitor", "retargeting", "lookalike", "data-governance", "ai-assistant",
    "pricing-guide", "roi-calculator", "state-of-industry", "customer-story", "product-launch",
    "free-trial", "security-webinar", "integration-tour", "analyst-report", "benchmark-2025",
    "onboarding-tips", "cfo-checklist", "migration-guide", "partner-spotlight",
)  # fmt: skip
CAMPAIGN_REGIONS: Final = ("us", "emea", "apac", "latam")
