"""Realistic D&B Direct+ Monitoring notifications for a ``cmpelk`` registration.

Produces JSON-ready dicts shaped like the ``notifications[]`` items of a Pull response, without
``deliveryTimeStamp`` (the emulator stamps that at pull time).

Emulator choices ([E] in ``DNB_DIRECT_PLUS.md``):

* ``SEED`` notifications carry the whole data block in ``organization`` and have **no**
  ``elements`` key.
* ``DELETE``/``UNDELETE``/``TRANSFER``/``UNDER_REVIEW``/``REVIEWED``/``EXIT``/``ENTER``/``REMOVED``
  carry ``elements`` as ``[]`` or ``null`` (both occur in production).
* A few notifications carry an extra, harmless ``organization`` field (``countryISOAlpha2Code`` or
  ``primaryName``) so that consumers are exercised on unknown fields.
* D&B code values (``dnbCode``, ``typeDnBCode``) are plausible, not an authoritative code table.
"""

from __future__ import annotations

import copy
import json
import math
import numbers
import random
import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from monitoring_pipeline.dnb.models import NOTIFICATION_TYPES
from monitoring_pipeline.dnb.timestamps import format_seconds

__all__ = ["DEFAULT_TYPE_MIX", "NOTIFICATION_TYPES", "NotificationGenerator"]

DEFAULT_TYPE_MIX: dict[str, float] = {
    "UPDATE": 0.80,
    "SEED": 0.03,
    "DELETE": 0.02,
    "UNDELETE": 0.01,
    "TRANSFER": 0.03,
    "UNDER_REVIEW": 0.03,
    "REVIEWED": 0.03,
    "EXIT": 0.02,
    "ENTER": 0.02,
    "REMOVED": 0.01,
}

_DUNS_RE = re.compile(r"[0-9]{9}")
_TYPE_LIST = ", ".join(NOTIFICATION_TYPES)
_COMPACT = (",", ":")
# Probability that a non-SEED notification carries an extra, unknown-to-the-client field.
_EXTRA_FIELD_PROBABILITY = 0.05
# Element timestamps fall this far before `now` (seconds): "a little before".
_ELEMENT_AGE_SECONDS = (30, 36 * 3600)

_JSON = Any  # JSON-ready value: None, bool, int, float, str, list, dict


# --------------------------------------------------------------------------------------------------
# Reference data
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _City:
    name: str
    region: str
    region_abbr: str | None
    postal_prefix: str
    lat: float
    lon: float


@dataclass(frozen=True)
class _Country:
    iso2: str
    name: str
    currency: str
    isd: str
    tld: str
    language: tuple[str, int]
    cities: tuple[_City, ...]
    streets: tuple[str, ...]
    suffixes: tuple[str, ...]
    # (typeDescription, typeDnBCode, number template: '9' digit, 'A' letter, other literal)
    registrations: tuple[tuple[str, int, str], ...]
    phone_template: str
    postal_template: str
    house_first: bool


# fmt: off
_COUNTRIES: tuple[_Country, ...] = (
    _Country(
        "GB", "United Kingdom", "GBP", "44", "co.uk", ("English", 39),
        (
            _City("LONDON", "Greater London", None, "EC2", 51.515, -0.092),
            _City("LEEDS", "West Yorkshire", None, "LS1", 53.797, -1.546),
            _City("MANCHESTER", "Greater Manchester", None, "M2", 53.480, -2.243),
            _City("BRISTOL", "City of Bristol", None, "BS1", 51.454, -2.592),
            _City("EDINBURGH", "City of Edinburgh", None, "EH2", 55.953, -3.196),
        ),
        ("High Street", "Station Road", "Park Row", "King Street", "Victoria Road", "Mill Lane"),
        ("Ltd", "Limited", "PLC", "LLP", "Holdings Limited"),
        (
            ("Registered Number (GB)", 2541, "99999999"),
            ("VAT Registration Number (GB)", 2432, "GB999999999"),
        ),
        "01999 999999", " 9AA", True,
    ),
    _Country(
        "US", "United States", "USD", "1", "com", ("English", 39),
        (
            _City("NEW YORK", "New York", "NY", "100", 40.713, -74.006),
            _City("CHICAGO", "Illinois", "IL", "606", 41.878, -87.630),
            _City("AUSTIN", "Texas", "TX", "787", 30.267, -97.743),
            _City("SHORT HILLS", "New Jersey", "NJ", "070", 40.741, -74.327),
            _City("SEATTLE", "Washington", "WA", "981", 47.606, -122.332),
        ),
        ("Main St", "Market St", "Broadway", "Elm St", "Sylvan Way", "Commerce Dr"),
        ("Inc.", "LLC", "Corp.", "Corporation", "Co."),
        (("Federal Taxpayer Identification Number (US)", 6863, "99-9999999"),),
        "9999999999", "99", True,
    ),
    _Country(
        "DE", "Germany", "EUR", "49", "de", ("German", 40),
        (
            _City("BERLIN", "Berlin", "BE", "101", 52.520, 13.405),
            _City("MUENCHEN", "Bayern", "BY", "803", 48.137, 11.575),
            _City("HAMBURG", "Hamburg", "HH", "203", 53.551, 9.993),
            _City("KOELN", "Nordrhein-Westfalen", "NW", "506", 50.937, 6.960),
        ),
        ("Hauptstr.", "Bahnhofstr.", "Industriestr.", "Gartenweg", "Schillerstr."),
        ("GmbH", "AG", "GmbH & Co. KG", "SE"),
        (
            ("Commercial Register Number (DE)", 6867, "HRB 99999"),
            ("VAT Registration Number (DE)", 6866, "DE999999999"),
        ),
        "0999 999999", "99", False,
    ),
    _Country(
        "FR", "France", "EUR", "33", "fr", ("French", 41),
        (
            _City("PARIS", "Ile-de-France", None, "750", 48.857, 2.352),
            _City("LYON", "Auvergne-Rhone-Alpes", None, "690", 45.764, 4.836),
            _City("TOULOUSE", "Occitanie", None, "310", 43.605, 1.444),
        ),
        ("Rue de la Paix", "Avenue Victor Hugo", "Boulevard Voltaire", "Rue du Commerce"),
        ("SAS", "SA", "SARL", "SASU"),
        (
            ("Business Registry Identification Number (SIREN) (FR)", 2078, "999999999"),
            ("Establishment Identification Number (SIRET) (FR)", 2079, "99999999999999"),
        ),
        "0999999999", "99", True,
    ),
    _Country(
        "NL", "Netherlands", "EUR", "31", "nl", ("Dutch", 6),
        (
            _City("AMSTERDAM", "Noord-Holland", "NH", "10", 52.370, 4.895),
            _City("ROTTERDAM", "Zuid-Holland", "ZH", "30", 51.924, 4.478),
            _City("UTRECHT", "Utrecht", "UT", "35", 52.091, 5.122),
        ),
        ("Keizersgracht", "Stationsplein", "Dorpsstraat", "Kerkstraat", "Marktplein"),
        ("B.V.", "N.V.", "Holding B.V."),
        (("Chamber Of Commerce Number (NL)", 6256, "99999999"),),
        "0999999999", "99 AA", False,
    ),
    _Country(
        "IE", "Ireland", "EUR", "353", "ie", ("English", 39),
        (
            _City("DUBLIN", "Dublin", None, "D02", 53.350, -6.260),
            _City("CORK", "Cork", None, "T12", 51.899, -8.476),
            _City("GALWAY", "Galway", None, "H91", 53.271, -9.049),
        ),
        ("Grafton Street", "Main Street", "Harcourt Road", "Dock Road"),
        ("Limited", "DAC", "Unlimited Company", "PLC"),
        (("Companies Registration Office Number (IE)", 2523, "999999"),),
        "0999999999", " A999", True,
    ),
)

# fmt: on

_NAME_FIRST = (
    "Northwind",
    "Harbour",
    "Blue Ridge",
    "Acorn",
    "Summit",
    "Kestrel",
    "Meridian",
    "Oakfield",
    "Atlas",
    "Pioneer",
    "Silverline",
    "Redstone",
    "Evergreen",
    "Granite",
    "Lighthouse",
    "Nova",
    "Falcon",
    "Crescent",
    "Brightwater",
    "Ironbridge",
    "Westgate",
    "Highland",
    "Orchard",
    "Vantage",
)
_NAME_SECOND = (
    "Foods",
    "Logistics",
    "Packaging",
    "Ingredients",
    "Trading",
    "Engineering",
    "Systems",
    "Retail",
    "Distribution",
    "Beverages",
    "Chemicals",
    "Consulting",
    "Manufacturing",
    "Dairy",
    "Bakeries",
    "Fresh Produce",
    "Labelling",
    "Cold Chain",
    "Technologies",
    "Supplies",
)
_GIVEN_NAMES = (
    ("James", "M"),
    ("Sarah", "F"),
    ("Thomas", "M"),
    ("Emma", "F"),
    ("Lukas", "M"),
    ("Claire", "F"),
    ("Pieter", "M"),
    ("Aoife", "F"),
    ("Michael", "M"),
    ("Sophie", "F"),
    ("David", "M"),
    ("Anna", "F"),
    ("Jean", "M"),
    ("Laura", "F"),
    ("Robert", "M"),
    ("Julia", "F"),
    ("Sean", "M"),
    ("Marie", "F"),
)
_FAMILY_NAMES = (
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Müller",
    "Schmidt",
    "Martin",
    "Bernard",
    "de Vries",
    "Jansen",
    "Murphy",
    "O'Brien",
    "Walsh",
    "Johnson",
    "Williams",
    "Garcia",
    "Wilson",
    "Fischer",
)
_JOB_TITLES = (
    ("Chief Executive Officer", "A0A1"),
    ("Managing Director", "A0A6"),
    ("Director", "A1A6"),
    ("Chief Financial Officer", "A1A3"),
    ("Company Secretary", "A1A8"),
    ("Chairman", "A0A2"),
    ("Chief Operating Officer", "A1A2"),
    ("Finance Director", "A1A3"),
    ("Sales Director", "A2A1"),
    ("Operations Manager", "A2A4"),
    ("Head of Procurement", "A2A7"),
    ("Quality Manager", "A3A1"),
)
# (code, description, typeDescription, typeDnbCode)
_INDUSTRY_CODES: tuple[tuple[str, str, str, int], ...] = (
    ("1081", "Manufacture of sugar", "NACE Revision 2", 29104),
    ("1089", "Manufacture of other food products n.e.c.", "NACE Revision 2", 29104),
    ("4638", "Wholesale of other food, including fish, crustaceans and molluscs", "NACE Revision 2", 29104),
    ("5210", "Warehousing and storage", "NACE Revision 2", 29104),
    ("2099", "Food preparations, nec", "US Standard Industry Code 1987 - 4 digit", 399),
    ("5141", "Groceries, general line", "US Standard Industry Code 1987 - 4 digit", 399),
    ("4225", "General warehousing and storage", "US Standard Industry Code 1987 - 4 digit", 399),
    (
        "311999",
        "All Other Miscellaneous Food Manufacturing",
        "North American Industry Classification System 2022",
        30832,
    ),
    (
        "424490",
        "Other Grocery and Related Products Merchant Wholesalers",
        "North American Industry Classification System 2022",
        30832,
    ),
    (
        "493110",
        "General Warehousing and Storage",
        "North American Industry Classification System 2022",
        30832,
    ),
    ("20990000", "Food preparations, nec", "D&B Standard Industry Code", 3599),
    ("51410000", "Groceries, general line", "D&B Standard Industry Code", 3599),
    ("1426", "Food Manufacturing", "D&B Hoovers Industry Code", 25838),
    ("1470", "Grocery Wholesale", "D&B Hoovers Industry Code", 25838),
    ("10890", "Manufacture of other food products n.e.c.", "UK SIC 2007", 19295),
    ("46390", "Non-specialised wholesale of food, beverages and tobacco", "UK SIC 2007", 19295),
)
_RATINGS = ("5A1", "5A2", "4A1", "4A2", "3A2", "3A3", "2A2", "2A3", "1A2", "1A3", "A1", "B2", "DS", "--")
_OPERATING_ACTIVE = {"description": "Active", "dnbCode": 9074}
_OPERATING_OUT = {"description": "Out of Business", "dnbCode": 403}
_RELIABILITY = (("Actual", 9092), ("Estimated", 9093), ("Modelled", 9094))
_SCOPE = (("Consolidated", 9067), ("Individual", 9066), ("Headquarters Only (Employs Here)", 9068))
_UNIT_CODES = ("Single Units", "Thousand", "Million")


# --------------------------------------------------------------------------------------------------
# Fake-data helpers (one instance per Random, so SEED blocks can use their own per-DUNS Random)
# --------------------------------------------------------------------------------------------------


class _Faker:
    """Small builders of cmpelk-shaped values drawn from one ``random.Random``."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def pattern(self, template: str) -> str:
        """Fill a template: ``9`` → digit, ``A`` → upper-case letter, anything else literal."""
        rng = self.rng
        out = []
        for ch in template:
            if ch == "9":
                out.append(str(rng.randrange(10)))
            elif ch == "A":
                out.append(rng.choice(string.ascii_uppercase))
            else:
                out.append(ch)
        return "".join(out)

    def duns(self) -> str:
        # Old D&B numbers often start with "00"; a uniform draw alone would rarely show that.
        if self.rng.random() < 0.1:
            return f"00{self.rng.randrange(10**7):07d}"
        return f"{self.rng.randrange(10**9):09d}"

    def country(self) -> _Country:
        return self.rng.choice(_COUNTRIES)

    def company_name(self, country: _Country) -> str:
        rng = self.rng
        return f"{rng.choice(_NAME_FIRST)} {rng.choice(_NAME_SECOND)} {rng.choice(country.suffixes)}"

    def upper_name(self, country: _Country) -> str:
        return self.company_name(country).upper()

    def day(self, latest: date, max_days_back: int, min_days_back: int = 0) -> date:
        return latest - timedelta(days=self.rng.randint(min_days_back, max_days_back))

    def postal_code(self, country: _Country, city: _City) -> str:
        return city.postal_prefix + self.pattern(country.postal_template)

    def street_line(self, country: _Country) -> str:
        number = self.rng.randint(1, 250)
        street = self.rng.choice(country.streets)
        return f"{number} {street}" if country.house_first else f"{street} {number}"

    def address(self, country: _Country, *, full: bool, registered: bool = False) -> dict[str, _JSON]:
        """A ``primaryAddress``-shaped object; ``full`` adds the rarely-changing detail fields."""
        rng = self.rng
        city = rng.choice(country.cities)
        line2 = rng.choice((None, None, f"Unit {rng.randint(1, 40)}", "Business Park"))
        address: dict[str, _JSON] = {
            "addressCountry": {"name": country.name, "isoAlpha2Code": country.iso2},
            "addressLocality": {"name": city.name},
            "addressRegion": {"name": city.region, "abbreviatedName": city.region_abbr},
            "postalCode": self.postal_code(country, city),
            "streetAddress": {"line1": self.street_line(country), "line2": line2},
        }
        if full:
            address.update(
                {
                    "language": {"description": country.language[0], "dnbCode": country.language[1]},
                    "continentalRegion": {"name": "North America" if country.iso2 == "US" else "Europe"},
                    "minorTownName": None,
                    "addressCounty": {"name": city.region.upper()},
                    "postalCodePosition": {},
                    "streetNumber": None,
                    "streetName": None,
                    "postOfficeBox": {},
                    "latitude": round(city.lat + rng.uniform(-0.05, 0.05), 6),
                    "longitude": round(city.lon + rng.uniform(-0.05, 0.05), 6),
                    "geographicalPrecision": {"description": "Street Address Centroid", "dnbCode": 30257},
                    "isRegisteredAddress": registered,
                    "isResidentialAddress": None,
                    "statisticalArea": {},
                    "locationOwnership": {},
                    "premisesArea": {},
                    "isManufacturingLocation": rng.choice((None, True, False)),
                }
            )
        return address

    def telephone(self, country: _Country) -> dict[str, _JSON]:
        number = self.pattern(country.phone_template).replace(" ", "")
        return {"telephoneNumber": number, "isdCode": country.isd, "isUnreachable": False}

    def website(self, name: str, country: _Country) -> dict[str, _JSON]:
        stem = "".join(ch for ch in name.split(" ")[0].lower() if ch.isalnum()) or "company"
        stem += self.rng.choice(("", "group", "-" + name.split(" ")[1].lower().replace(" ", "")))
        domain = f"{stem}.{country.tld}"
        return {"url": f"www.{domain}", "domainName": domain}

    def industry_code(self, priority: int) -> dict[str, _JSON]:
        code, description, type_description, type_code = self.rng.choice(_INDUSTRY_CODES)
        return {
            "code": code,
            "description": description,
            "typeDescription": type_description,
            "typeDnBCode": type_code,
            "priority": priority,
        }

    def registration_number(self, country: _Country, preferred: bool) -> dict[str, _JSON]:
        type_description, type_code, template = self.rng.choice(country.registrations)
        return {
            "registrationNumber": self.pattern(template),
            "typeDescription": type_description,
            "typeDnBCode": type_code,
            "isPreferredRegistrationNumber": preferred,
        }

    def principal(self, *, detailed: bool) -> dict[str, _JSON]:
        rng = self.rng
        given, gender = rng.choice(_GIVEN_NAMES)
        family = rng.choice(_FAMILY_NAMES)
        title, mrc = rng.choice(_JOB_TITLES)
        person: dict[str, _JSON] = {
            "givenName": given,
            "familyName": family,
            "fullName": f"{given} {family}",
            "namePrefix": None,
            "nameSuffix": None,
            "gender": {"description": "Male", "dnbCode": 2}
            if gender == "M"
            else {"description": "Female", "dnbCode": 3},
            "jobTitles": [{"title": title}],
            "managementResponsibilities": [{"description": title, "mrcCode": mrc}],
        }
        if detailed:
            person.update(
                {
                    "middleName": rng.choice((None, "J.", "A.", "Marie")),
                    "isCurrent": True,
                    "startDate": self.day(date(2025, 12, 31), 9000).isoformat(),
                    "nationality": {"name": None, "isoAlpha2Code": None},
                    "birthDate": None,
                    "currentAssociations": [],
                    "isSigningAuthority": rng.random() < 0.4,
                    "positions": [{"description": rng.choice(("Director", "Secretary", "Officer"))}],
                    "responsibleAreas": [],
                }
            )
        return person

    def employees(self, country: _Country) -> list[dict[str, _JSON]]:
        rng = self.rng
        total = rng.choice((4, 12, 38, 120, 450, 2300, 18000))
        figures = []
        for (scope, scope_code), value in (
            (_SCOPE[0], total),
            (_SCOPE[2], max(1, int(total * rng.uniform(0.1, 0.9)))),
        ):
            reliability, reliability_code = rng.choice(_RELIABILITY)
            figures.append(
                {
                    "value": value,
                    "informationScopeDescription": scope,
                    "informationScopeDnBCode": scope_code,
                    "reliabilityDescription": reliability,
                    "reliabilityDnBCode": reliability_code,
                    "employeeCategories": [],
                }
            )
        return figures

    def financials(self, country: _Country, statement_to: date) -> list[dict[str, _JSON]]:
        rng = self.rng
        reliability, reliability_code = rng.choice(_RELIABILITY)
        return [
            {
                "financialStatementToDate": statement_to.isoformat(),
                "financialStatementDuration": "P1Y",
                "informationScopeDescription": "Consolidated",
                "informationScopeDnBCode": 9067,
                "reliabilityDescription": reliability,
                "reliabilityDnBCode": reliability_code,
                "unitCode": rng.choice(_UNIT_CODES),
                "accountantName": None,
                "yearlyRevenue": [
                    {"value": round(rng.uniform(2e5, 9e8), 0), "currency": country.currency},
                ],
            }
        ]

    def linkage_member(self, country: _Country, duns: str | None = None) -> dict[str, _JSON]:
        return {
            "duns": duns or self.duns(),
            "primaryName": self.upper_name(country),
            "primaryAddress": self.address(country, full=False),
        }

    def trading_summary(self, country: _Country, summary_date: date) -> dict[str, _JSON]:
        rng = self.rng
        return {
            "summaryDate": summary_date.isoformat(),
            "currency": country.currency,
            "totalExperiencesCount": rng.randint(1, 400),
            "totalExperiencesAmount": round(rng.uniform(1e3, 5e6), 2),
            "maximumHighCreditAmount": round(rng.uniform(1e3, 5e5), 2),
            "paydexScore": rng.randint(20, 80),
            "slowExperiencesPercentage": round(rng.uniform(0, 40), 1),
        }

    def rating(self) -> dict[str, _JSON]:
        return {"rating": self.rng.choice(_RATINGS)}


# --------------------------------------------------------------------------------------------------
# UPDATE element builders: (faker, country, today) -> (previous, current)
# --------------------------------------------------------------------------------------------------

_ElementBuilder = Callable[[_Faker, _Country, date], tuple[_JSON, _JSON]]


def _maybe_new(f: _Faker, previous: _JSON, current: _JSON, p_new: float = 0.25) -> tuple[_JSON, _JSON]:
    """Sometimes report a newly populated field (``previous: null``)."""
    return (None, current) if f.rng.random() < p_new else (previous, current)


def _distinct(make: Callable[[], _JSON]) -> tuple[_JSON, _JSON]:
    """Two draws from ``make`` that differ (an UPDATE never reports an unchanged value)."""
    previous = make()
    current = make()
    while current == previous:
        current = make()
    return previous, current


def _el_score_date(f: _Faker, c: _Country, today: date) -> tuple[_JSON, _JSON]:
    current = f.day(today, 3)
    return f.day(current, 60, 1).isoformat(), current.isoformat()


def _el_rating(f: _Faker, c: _Country, today: date) -> tuple[_JSON, _JSON]:
    return _distinct(lambda: f.rng.choice(_RATINGS))


def _el_failure_percentile(f: _Faker, c: _Country, today: date) -> tuple[_JSON, _JSON]:
    return _distinct(lambda: f.rng.randint(1, 100))


def _el_failure_class(f: _Faker, c: _Country, today: date) -> tuple[_JSON, _JSON]:
    return _distinct(lambda: f.rng.randint(1, 5))


def _el_primary_name(f: _Faker, c: _Country, today: date) -> tuple[_JSON, _JSON]:
    return _distinct(lambda: f.upper_name(c))


def _el_registered_name(f: _Faker, c: _Country, today: date) -> tuple[_JSON, _JSON]:
    previous, current = _distinct(lambda: f.company_name(c))
    return _maybe_new(f, previous, current, 0.2)


def _el_employees(f: _Faker, c: _Country, today: date) -> tuple[_JSON, _JSON]:
    previous = f.employees(c)
    current = copy.deepcopy(previous)
    old = previous[0]["value"]
    new = max(1, round(old * f.rng.uniform(0.7, 1.4)))
    current[0]["value"] = new if new != old else old + 1
    return _maybe_new(f, previous, current, 0.1)


def _el_financials(f: _Faker, c: _Country, today: date) -> tuple[_JSON, _JSON]:
    year_end = date(today.year - 1, 12, 31)
    return _maybe_new(f, f.financials(c, date(year_end.year - 1, 12, 31)), f.financials(c, year_end), 0.15)


def _el_primary_address(f: _Faker, c: _Country, today: date) -> tuple[_JSON, _JSON]:
    return _distinct(lambda: f.address(c, full=False))


def _el_registered_address(f: _Faker, c: _Country, today: date) -> tuple[_JSON, _JSON]:
    previous, current = _distinct(lambda: f.address(c, full=False))
    return _maybe_new(f, previous, current, 0.15)


def _el_telephone(f: _Faker, c: _Country, today: date) -> tuple[_JSON, _JSON]:
    roll = f.rng.random()
    if roll < 0.2:
        return [], [f.telephone(c)]
    if roll < 0.35:
        return [f.telephone(c)], []
    if roll < 0.45:
        return None, [f.telephone(c)]
    return [f.telephone(c)], [f.telephone(c)]


def _el_website(f: _Faker, c: _Country, today: date) -> tuple[_JSON, _JSON]:
    previous, current = _distinct(lambda: [f.website(f.company_name(c), c)])
    return _maybe_new(f, previous, current, 0.3)


def _el_email(f: _Faker, c: _Country, today: date) -> tuple[_JSON, _JSON]:
    domain = f.website(f.company_name(c), c)["domainName"]
    return _maybe_new(f, [{"address": f"info@{domain}"}], [{"address": f"contact@{domain}"}], 0.4)


def _el_business_trading(f: _Faker, c: _Country, today: date) -> tuple[_JSON, _JSON]:
    item = f.trading_summary(c, date(today.year, f.rng.randint(1, today.month), 1))
    # Spec example: a trading summary disappears (current []) or a new one appears (previous []).
    return ([item], []) if f.rng.random() < 0.5 else ([], [item])


def _el_global_ultimate(f: _Faker, c: _Country, today: date) -> tuple[_JSON, _JSON]:
    return f.linkage_member(f.country()), f.linkage_member(f.country())


def _el_parent(f: _Faker, c: _Country, today: date) -> tuple[_JSON, _JSON]:
    return _maybe_new(f, f.linkage_member(c), f.linkage_member(c), 0.2)


def _el_principals(f: _Faker, c: _Country, today: date) -> tuple[_JSON, _JSON]:
    previous = [f.principal(detailed=False) for _ in range(f.rng.randint(1, 3))]
    current = copy.deepcopy(previous)
    if len(current) > 1 and f.rng.random() < 0.5:
        current.pop(f.rng.randrange(len(current)))
    else:
        current.append(f.principal(detailed=False))
    return previous, current


def _el_industry_codes(f: _Faker, c: _Country, today: date) -> tuple[_JSON, _JSON]:
    previous = [f.industry_code(i + 1) for i in range(f.rng.randint(1, 3))]
    current = [*copy.deepcopy(previous), f.industry_code(len(previous) + 1)]
    return (current, previous) if f.rng.random() < 0.3 else (previous, current)


def _el_operating_status(f: _Faker, c: _Country, today: date) -> tuple[_JSON, _JSON]:
    if f.rng.random() < 0.7:
        return dict(_OPERATING_ACTIVE), dict(_OPERATING_OUT)
    return dict(_OPERATING_OUT), dict(_OPERATING_ACTIVE)


def _el_marketable(f: _Faker, c: _Country, today: date) -> tuple[_JSON, _JSON]:
    value = f.rng.random() < 0.5
    return value, not value


def _el_trade_styles(f: _Faker, c: _Country, today: date) -> tuple[_JSON, _JSON]:
    previous, current = _distinct(lambda: [{"name": f.upper_name(c), "priority": 1}])
    return _maybe_new(f, previous, current)


def _el_last_update(f: _Faker, c: _Country, today: date) -> tuple[_JSON, _JSON]:
    return f.day(today, 200, 1).isoformat(), today.isoformat()


# (element path, relative weight, builder). Assessment dates/ratings dominate in production feeds.
_ELEMENTS: tuple[tuple[str, float, _ElementBuilder], ...] = (
    ("organization.dnbAssessment.standardRating.scoreDate", 6.0, _el_score_date),
    ("organization.dnbAssessment.standardRating.rating", 3.0, _el_rating),
    ("organization.dnbAssessment.failureScore.nationalPercentile", 2.0, _el_failure_percentile),
    ("organization.dnbAssessment.failureScore.classScore", 1.5, _el_failure_class),
    ("organization.dunsControlStatus.lastUpdateDate", 2.0, _el_last_update),
    ("organization.primaryName", 1.0, _el_primary_name),
    ("organization.registeredName", 0.8, _el_registered_name),
    ("organization.tradeStyleNames", 0.8, _el_trade_styles),
    ("organization.numberOfEmployees", 2.0, _el_employees),
    ("organization.financials", 1.5, _el_financials),
    ("organization.primaryAddress", 1.5, _el_primary_address),
    ("organization.registeredAddress", 0.8, _el_registered_address),
    ("organization.telephone", 1.5, _el_telephone),
    ("organization.websiteAddress", 1.0, _el_website),
    ("organization.email", 0.6, _el_email),
    ("organization.businessTrading", 1.5, _el_business_trading),
    ("organization.corporateLinkage.globalUltimate", 0.8, _el_global_ultimate),
    ("organization.corporateLinkage.parent", 0.8, _el_parent),
    ("organization.mostSeniorPrincipals", 1.2, _el_principals),
    ("organization.industryCodes", 1.0, _el_industry_codes),
    ("organization.dunsControlStatus.operatingStatus", 0.5, _el_operating_status),
    ("organization.dunsControlStatus.isMarketable", 0.5, _el_marketable),
)
_ELEMENT_CUM_WEIGHTS: tuple[float, ...] = tuple(
    sum(weight for _, weight, _ in _ELEMENTS[: i + 1]) for i in range(len(_ELEMENTS))
)


# --------------------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------------------


def _check_duns(duns: str) -> str:
    if not isinstance(duns, str) or not _DUNS_RE.fullmatch(duns):
        raise ValueError(f"DUNS must be a 9-digit string, got {duns!r}")
    return duns


def _check_type(notification_type: str) -> str:
    if notification_type not in NOTIFICATION_TYPES:
        raise ValueError(f"unknown notification type {notification_type!r}; expected one of {_TYPE_LIST}")
    return notification_type


def _utc(now: datetime) -> datetime:
    # Naive datetimes are taken as UTC; astimezone() would otherwise read them as local time.
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def _cum_weights(types: Mapping[str, float]) -> tuple[list[str], list[float]]:
    """Validate a type mix and return (names, cumulative weights) over the positive entries."""
    names: list[str] = []
    cumulative: list[float] = []
    total = 0.0
    for name, weight in types.items():
        if name not in NOTIFICATION_TYPES:
            raise ValueError(f"unknown notification type {name!r} in types; expected one of {_TYPE_LIST}")
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
            raise ValueError(f"weight for type {name!r} must be a number, got {weight!r}")
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"weight for type {name!r} must be finite and >= 0, got {weight!r}")
        if weight > 0:
            total += float(weight)
            names.append(name)
            cumulative.append(total)
    if total <= 0:
        raise ValueError(f"types weights must have a positive total, got {dict(types)!r}")
    return names, cumulative


class NotificationGenerator:
    """Builds D&B Direct+ Monitoring notifications for a ``cmpelk`` registration.

    Deterministic for a given ``seed``. SEED data blocks are a function of (``seed``, DUNS), so a
    company looks the same every time it is seeded and building one does not disturb the main stream.
    """

    def __init__(self, seed: int | None = None, seed_block_kb: int = 40) -> None:
        if isinstance(seed_block_kb, bool) or not isinstance(seed_block_kb, int) or seed_block_kb < 0:
            raise ValueError(f"seed_block_kb must be an int >= 0, got {seed_block_kb!r}")
        self._rng = random.Random(seed)
        self._faker = _Faker(self._rng)
        self._seed_block_bytes = seed_block_kb * 1024
        self._block_salt = self._rng.getrandbits(64)

    # ---- public API -------------------------------------------------------------------------------

    def generate(
        self,
        count: int,
        now: datetime,
        types: Mapping[str, float] | None = None,
        duns: Sequence[str] | None = None,
    ) -> list[dict]:
        """`count` notifications as JSON-ready dicts WITHOUT deliveryTimeStamp.

        The emulator stamps ``deliveryTimeStamp`` at pull time. ``types`` maps type names to relative
        weights (default ``DEFAULT_TYPE_MIX``); ``duns`` restricts subjects to those DUNS.
        """
        if isinstance(count, bool) or not isinstance(count, int):
            raise ValueError(f"count must be an int, got {count!r}")
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        names, cumulative = _cum_weights(DEFAULT_TYPE_MIX if types is None else types)
        subjects: list[str] | None = None
        if duns is not None:
            if isinstance(duns, str):
                raise ValueError("duns must be a sequence of DUNS strings, not a single string")
            subjects = [_check_duns(d) for d in duns]
            if not subjects:
                raise ValueError("duns must not be empty when given")
        now = _utc(now)
        rng = self._rng
        kinds = rng.choices(names, cum_weights=cumulative, k=count)
        out: list[dict] = []
        for kind in kinds:
            subject = rng.choice(subjects) if subjects is not None else self._faker.duns()
            out.append(self._make(kind, subject, now))
        return out

    def make(self, notification_type: str, duns: str, now: datetime) -> dict:
        """One notification of ``notification_type`` for ``duns``."""
        return self._make(_check_type(notification_type), _check_duns(duns), _utc(now))

    def seed_block(self, duns: str) -> dict:
        """A whole cmpelk-like organization data block (~seed_block_kb KB of JSON)."""
        return self._seed_block(_check_duns(duns))

    def random_duns(self) -> str:
        """9 digits, leading zeros allowed and sometimes present."""
        return self._faker.duns()

    # ---- notification builders --------------------------------------------------------------------

    def _make(self, kind: str, duns: str, now: datetime) -> dict:
        if kind == "UPDATE":
            notification = {"type": kind, "organization": {"duns": duns}, "elements": self._elements(now)}
        elif kind == "SEED":
            return {"type": kind, "organization": self._seed_block(duns)}
        elif kind == "TRANSFER":
            organization = self._transfer_org(duns, now)
            notification = {"type": kind, "organization": organization, "elements": self._empty()}
        elif kind in ("DELETE", "UNDELETE"):
            status = _OPERATING_OUT if kind == "DELETE" else _OPERATING_ACTIVE
            organization = {"duns": duns, "dunsControlStatus": {"operatingStatus": dict(status)}}
            notification = {"type": kind, "organization": organization, "elements": self._empty()}
        else:
            notification = {"type": kind, "organization": {"duns": duns}, "elements": self._empty()}
        if self._rng.random() < _EXTRA_FIELD_PROBABILITY:
            self._add_extra_field(notification["organization"])
        return notification

    def _empty(self) -> list[Any] | None:
        return [] if self._rng.random() < 0.5 else None

    def _add_extra_field(self, organization: dict[str, Any]) -> None:
        country = self._faker.country()
        if self._rng.random() < 0.7:
            organization["countryISOAlpha2Code"] = country.iso2
        else:
            organization["primaryName"] = self._faker.upper_name(country)

    def _elements(self, now: datetime) -> list[dict[str, Any]]:
        rng = self._rng
        faker = self._faker
        country = faker.country()
        wanted = rng.choices((1, 2, 3, 4), weights=(50, 28, 14, 8))[0]
        picked: list[int] = []
        while len(picked) < wanted:
            index = rng.choices(range(len(_ELEMENTS)), cum_weights=_ELEMENT_CUM_WEIGHTS)[0]
            if index not in picked:
                picked.append(index)
        ages = sorted((rng.randint(*_ELEMENT_AGE_SECONDS) for _ in picked), reverse=True)
        elements = []
        for index, age in zip(picked, ages, strict=True):
            path, _, build = _ELEMENTS[index]
            moment = now - timedelta(seconds=age)
            previous, current = build(faker, country, moment.date())
            timestamp = format_seconds(moment)
            elements.append({"element": path, "previous": previous, "current": current, "timestamp": timestamp})
        return elements

    def _transfer_org(self, duns: str, now: datetime) -> dict[str, Any]:
        retained = self._faker.duns()
        while retained == duns:
            retained = self._faker.duns()
        transfer = {
            "transferDate": self._faker.day(now.date(), 20).isoformat(),
            "transferReason": {"description": "Duplicate Record Transfer", "dnbCode": 8852},
            "transferredFromDUNS": duns,
            "retainedDUNS": retained,
        }
        return {"duns": duns, "dunsControlStatus": {"dunsTransfers": [transfer]}}

    # ---- SEED data block --------------------------------------------------------------------------

    def _seed_block(self, duns: str) -> dict[str, Any]:
        # Per-DUNS Random: the same company every time, independent of the main stream's position.
        faker = _Faker(random.Random(f"{self._block_salt}:{duns}"))
        rng = faker.rng
        country = faker.country()
        name = faker.company_name(country)
        as_of = date(2026, 11, 1) - timedelta(days=rng.randint(0, 400))
        started = faker.day(as_of, 12000, 400)
        website = faker.website(name, country)
        global_ultimate = faker.linkage_member(faker.country())
        domestic_ultimate = faker.linkage_member(country)
        parent = faker.linkage_member(country, str(domestic_ultimate["duns"]))
        principals = [faker.principal(detailed=False) for _ in range(rng.randint(1, 3))]
        block: dict[str, Any] = {
            "duns": duns,
            "dunsControlStatus": {
                "operatingStatus": dict(_OPERATING_ACTIVE),
                "isMarketable": rng.random() < 0.9,
                "isTelephoneDisconnected": None,
                "isMailUndeliverable": False,
                "isDelisted": False,
                "firstReportDate": faker.day(as_of, 9000, 300).isoformat(),
                "lastUpdateDate": as_of.isoformat(),
            },
            "primaryName": name.upper(),
            "registeredName": name,
            "multilingualPrimaryName": [],
            "tradeStyleNames": [{"name": faker.upper_name(country), "priority": i + 1} for i in range(2)],
            "websiteAddress": [website],
            "telephone": [faker.telephone(country) for _ in range(rng.randint(1, 2))],
            "fax": [],
            "email": [{"address": f"info@{website['domainName']}"}],
            "primaryAddress": faker.address(country, full=True, registered=True),
            "registeredAddress": faker.address(country, full=False, registered=True),
            "mailingAddress": {},
            "countryISOAlpha2Code": country.iso2,
            "defaultCurrency": country.currency,
            "stockExchanges": [],
            "isStandalone": False,
            "isAgent": None,
            "isExporter": rng.random() < 0.3,
            "isImporter": rng.random() < 0.4,
            "registrationNumbers": [faker.registration_number(country, preferred=True)],
            "industryCodes": [faker.industry_code(i + 1) for i in range(4)],
            "businessEntityType": {"description": "Corporation", "dnbCode": 451},
            "legalForm": {"description": "Private Limited Company", "dnbCode": 1243, "startDate": None},
            "controlOwnershipDate": str(started.year),
            "controlOwnershipType": {"description": "Private", "dnbCode": 9057},
            "startDate": str(started.year),
            "incorporatedDate": started.isoformat(),
            "activities": [{"description": f"{name.split(' ')[1]} and related services", "language": {"dnbCode": 39}}],
            "numberOfEmployees": faker.employees(country),
            "financials": faker.financials(country, date(as_of.year - 1, 12, 31)),
            "mostSeniorPrincipals": principals,
            "currentPrincipals": [],
            "corporateLinkage": {
                "hierarchyLevel": 3,
                "globalUltimateFamilyTreeMembersCount": rng.randint(3, 900),
                "branchesCount": rng.randint(0, 25),
                "familytreeRolesPlayed": [{"description": "Subsidiary", "dnbCode": 9159}],
                "globalUltimate": global_ultimate,
                "domesticUltimate": domestic_ultimate,
                "parent": parent,
                "headQuarter": {},
            },
            "dnbAssessment": {
                "standardRating": {
                    "rating": rng.choice(_RATINGS),
                    "scoreDate": faker.day(as_of, 30).isoformat(),
                },
                "failureScore": {
                    "nationalPercentile": rng.randint(1, 100),
                    "classScore": rng.randint(1, 5),
                    "scoreDate": faker.day(as_of, 30).isoformat(),
                },
            },
            "businessTrading": [],
        }
        self._pad_block(block, faker, country, as_of)
        return block

    def _pad_block(self, block: dict[str, Any], faker: _Faker, country: _Country, as_of: date) -> None:
        """Grow the block's long lists until its compact JSON reaches the configured size."""
        size = len(json.dumps(block, separators=_COMPACT, ensure_ascii=False))
        target = self._seed_block_bytes
        rng = faker.rng
        principals: list[Any] = block["currentPrincipals"]
        trading: list[Any] = block["businessTrading"]
        industries: list[Any] = block["industryCodes"]
        registrations: list[Any] = block["registrationNumbers"]
        months_back = 0
        while size < target:
            roll = rng.random()
            entry: dict[str, Any]
            if roll < 0.55:
                entry = faker.principal(detailed=True)
                principals.append(entry)
            elif roll < 0.80:
                months_back += 1
                year, month = divmod(as_of.year * 12 + as_of.month - 1 - months_back, 12)
                entry = faker.trading_summary(country, date(year, month + 1, 1))
                trading.append(entry)
            elif roll < 0.92:
                entry = faker.industry_code(len(industries) + 1)
                industries.append(entry)
            else:
                entry = faker.registration_number(country, preferred=False)
                registrations.append(entry)
            # +1 for the separating comma; overshoots the target by at most one small entry.
            size += len(json.dumps(entry, separators=_COMPACT, ensure_ascii=False)) + 1
