"""Mapping files: translate a registry's data dictionary into the canonical schema.

A mapping is a small YAML file (format in ``docs/mapping.md``)::

    version: 1
    columns: {PatNr: patient_id, Geschlecht: sex, OP_Datum: metastasectomy_date}
    codes: {sex: {w: female, m: male}}
    missing: {all: ["99", "unk", "."]}
    dates: {all: "%d.%m.%Y"}
    units: {dfi_months: days}

Unknown keys, unknown canonical fields and malformed entries are errors: a typo in a mapping
must never silently drop a column. The YAML is read with ``yaml.safe_load`` (no object
construction from input).
"""

from __future__ import annotations

import os
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from metsurv import schema
from metsurv._yaml import YAMLTooLarge, load_yaml
from metsurv.errors import CohortError

_TOP_KEYS = {"version", "description", "source", "columns", "codes", "missing", "dates", "units",
             "resections"}
_TABLE_KEYS = {"source", "columns", "codes", "missing", "dates"}
_SOURCE_KEYS = {"delimiter", "decimal", "encoding", "sheet", "timezone", "century_pivot"}
_DURATION_FIELDS = ("os_months", "dfs_months", "dfi_months", "entry_months")
#: ``codes: histology``: free-text histology -> histology_group (docs/mapping.md)
HISTOLOGY_TERMS = "histology"
#: ``codes: primary_site``: free-text primary site -> ``schema.PRIMARY_SITES`` (docs/mapping.md)
PRIMARY_SITE_TERMS = "primary_site"


@dataclass(frozen=True)
class TableMapping:
    """How to read one table (patients or resections) of a registry export."""

    source: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing: dict[str, tuple[str, ...]] = field(default_factory=dict)
    dates: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)

    def missing_codes(self, name: str) -> frozenset[str]:
        """Raw values that mean 'not recorded' for field ``name``, as ``schema.raw_key``
        compares them (an empty cell is always missing)."""
        values = (*self.missing.get("all", ()), *self.missing.get(name, ()))
        return frozenset(schema.raw_key(v) for v in values) | {""}

    def date_format(self, name: str) -> str | None:
        return self.dates.get(name, self.dates.get("all"))


@dataclass(frozen=True)
class Mapping:
    """A parsed, validated mapping file."""

    patients: TableMapping = field(default_factory=TableMapping)
    resections: TableMapping = field(default_factory=TableMapping)
    description: str = ""
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, recorded in the cohort's provenance."""

        def table(t: TableMapping) -> dict[str, Any]:
            return {
                "source": dict(t.source),
                "columns": dict(t.columns),
                "codes": {k: {str(a): b for a, b in v.items()} for k, v in t.codes.items()},
                "missing": {k: list(v) for k, v in t.missing.items()},
                "dates": dict(t.dates),
                "units": dict(t.units),
            }

        return {"path": self.path, "description": self.description,
                "patients": table(self.patients), "resections": table(self.resections)}


def _is_date_format(fmt: str) -> bool:
    """True when pandas accepts the format's directives (a bad one raises at parse time)."""
    import pandas as pd

    try:
        pd.to_datetime(pd.Series(["2001-01-01"]), format=fmt, errors="coerce")
    except ValueError:
        return False
    return True


def _fail(where: str, what: str) -> CohortError:
    return CohortError(f"{where}: {what}; fix the mapping file (format: docs/mapping.md).")


def _key_word(where: str, section: str, key: Any) -> str:
    """A key of a YAML mapping as text; a null key (``~:`` or an empty ``:``) is refused,
    since it names nothing (str() would turn it into a column called "None")."""
    if key is None:
        raise _fail(where, f"'{section}' has an empty (null) key; write the name before ':'")
    if isinstance(key, (list, dict, AbcMapping)):
        raise _fail(where, f"'{section}' has a list or mapping as a key; write one name")
    return str(key)


def _word(where: str, key: str, value: Any) -> str:
    """A value that must be one word (a field name, a unit, a code): a list or a mapping is
    refused by name instead of being compared or turned into text."""
    if not isinstance(value, str):
        raise _fail(where, f"{key} must be one name (text), not {value!r}")
    return value


def _check_keys(where: str, section: str, value: Any, allowed: set[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, AbcMapping):
        raise _fail(where, f"'{section}' must be a mapping of keys to values, not {value!r}")
    for key in value:
        _key_word(where, section, key)
    unknown = sorted(set(map(str, value)) - allowed)
    if unknown:
        raise _fail(where, f"unknown key(s) {unknown} in '{section}' (allowed: {sorted(allowed)})")
    return dict(value)


def _fields(table: str) -> dict[str, schema.Field]:
    return schema.PATIENTS if table == "patients" else schema.RESECTIONS


def _parse_table(where: str, raw: dict[str, Any], table: str, parent: TableMapping | None,
                 units: dict[str, str]) -> TableMapping:
    known = _fields(table)
    source = _check_keys(where, f"{table}.source", raw.get("source"), _SOURCE_KEYS)
    if "decimal" in source and source["decimal"] not in (".", ","):
        raise _fail(where, f"source.decimal must be '.' or ',', not {source['decimal']!r}")
    pivot = source.get("century_pivot")
    if "century_pivot" in source and (isinstance(pivot, bool) or not isinstance(pivot, int)
                                      or not 0 <= pivot <= 100):
        raise _fail(where, "source.century_pivot must be a whole number from 0 to 100 "
                    f"(two-digit years below it are 20xx, the others 19xx), not {pivot!r}")

    columns_raw = raw.get("columns") or {}
    if not isinstance(columns_raw, AbcMapping):
        raise _fail(where, f"'{table}.columns' must map registry columns to canonical fields")
    columns: dict[str, str] = {}
    for src, dst in columns_raw.items():
        _key_word(where, f"{table}.columns", src)
        _word(where, f"columns.{src}", dst)
        if str(dst) not in known:
            raise _fail(where, f"column {src!r} maps to {dst!r}, which is not a canonical "
                               f"{table} field")
        if str(dst) in columns.values():
            raise _fail(where, f"two registry columns map to the canonical field {dst!r}")
        columns[str(src)] = str(dst)

    codes_raw = raw.get("codes")
    codes: dict[str, dict[str, Any]] = dict(parent.codes) if parent else {}
    if codes_raw is not None:
        if not isinstance(codes_raw, AbcMapping):
            raise _fail(where, "'codes' must map canonical fields to code tables")
        for name, tbl in codes_raw.items():
            if table == "patients" and str(name) == HISTOLOGY_TERMS:
                codes[HISTOLOGY_TERMS] = _histology_terms(where, tbl)
                continue
            if table == "patients" and str(name) == PRIMARY_SITE_TERMS:
                codes[PRIMARY_SITE_TERMS] = _primary_site_terms(where, tbl)
                continue
            fld = known.get(str(name))
            if fld is None or fld.kind not in ("code", "bool"):
                raise _fail(where, f"'codes' names {name!r}, which is not a coded or yes/no field")
            if not isinstance(tbl, AbcMapping):
                raise _fail(where, f"codes.{name} must map registry values to canonical codes")
            for value in tbl:
                _key_word(where, f"codes.{name}", value)
            for code in tbl.values():
                if fld.kind == "code":
                    _word(where, f"codes.{name}", code)
                if fld.kind == "code" and code not in fld.codes:
                    raise _fail(where, f"codes.{name} maps to {code!r}; allowed: {list(fld.codes)}")
                if fld.kind == "bool" and not isinstance(code, bool):
                    raise _fail(where, f"codes.{name} must map to true or false, not {code!r}")
            codes[str(name)] = {schema.normalise_token(k): v for k, v in tbl.items()}

    missing_raw = raw.get("missing")
    missing: dict[str, tuple[str, ...]] = dict(parent.missing) if parent else {}
    if missing_raw is not None:
        if isinstance(missing_raw, list):  # a bare list is shorthand for {all: [...]}
            missing_raw = {"all": missing_raw}
        if not isinstance(missing_raw, AbcMapping):
            raise _fail(where, "'missing' must be a list or a mapping of field -> list of codes")
        for name, values in missing_raw.items():
            if name != "all" and name not in known:
                raise _fail(where, f"'missing' names {name!r}, which is not a canonical field")
            if not isinstance(values, list):
                values = [values]
            nested = [v for v in values if isinstance(v, (list, AbcMapping)) or v is None]
            if nested:
                raise _fail(where, f"missing.{name} must list codes (text or numbers), not "
                                   f"{nested[0]!r}")
            missing[str(name)] = tuple(str(v) for v in values)

    dates_raw = raw.get("dates")
    dates: dict[str, str] = dict(parent.dates) if parent else {}
    if dates_raw is not None:
        if isinstance(dates_raw, str):
            dates_raw = {"all": dates_raw}
        if not isinstance(dates_raw, AbcMapping):
            raise _fail(where, "'dates' must be a format string or a mapping field -> format")
        for name, fmt in dates_raw.items():
            if name != "all" and (name not in known or known[name].kind != "date"):
                raise _fail(where, f"'dates' names {name!r}, which is not a canonical date field")
            if not isinstance(fmt, str) or "%" not in fmt or not _is_date_format(fmt):
                raise _fail(where, f"dates.{name} is {fmt!r}; it must be a strptime format "
                                   "like '%d.%m.%Y'")
            dates[str(name)] = fmt
    return TableMapping(source=source, columns=columns, codes=codes, missing=missing,
                        dates=dates, units=units)


def _histology_terms(where: str, tbl: Any) -> dict[str, str]:
    """``codes: histology``: a registry's free-text histology -> ``histology_group`` code,
    keyed by ``schema.normalise_histology`` ("Ca. coli" and "CA COLI" are one term); two
    spellings of one term mapped to different groups are refused."""
    allowed = schema.PATIENTS["histology_group"].codes
    if not isinstance(tbl, AbcMapping):
        raise _fail(where, f"codes.{HISTOLOGY_TERMS} must map registry histology texts to "
                           f"histology groups ({', '.join(allowed)})")
    out: dict[str, str] = {}
    for text, group in tbl.items():
        _key_word(where, f"codes.{HISTOLOGY_TERMS}", text)
        _word(where, f"codes.{HISTOLOGY_TERMS}", group)
        if group not in allowed:
            raise _fail(where, f"codes.{HISTOLOGY_TERMS} maps {str(text)[:60]!r} to {group!r}; "
                               f"allowed: {list(allowed)}")
        key = schema.normalise_histology(text)
        if not key:
            raise _fail(where, f"codes.{HISTOLOGY_TERMS} has a key {str(text)[:60]!r} with no "
                               "letters or digits")
        if out.get(key, group) != group:
            raise _fail(where, f"codes.{HISTOLOGY_TERMS} maps {key!r} (ignoring case and "
                               f"punctuation) to both {out[key]!r} and {group!r}")
        out[key] = group
    return out


def _primary_site_terms(where: str, tbl: Any) -> dict[str, str]:
    """``codes: primary_site``: a registry's free-text primary site -> a canonical term of
    ``schema.PRIMARY_SITES``, keyed by ``schema.normalise_histology`` ("Ca. coli" and "CA
    COLI" are one key). A value is matched the same way ("head_and_neck" is "head and
    neck"); a value that is no canonical term, or two spellings of one key mapped to
    different sites, are refused."""
    name = f"codes.{PRIMARY_SITE_TERMS}"
    allowed = schema.PRIMARY_SITES
    canonical = {schema.normalise_histology(site): site for site in allowed}
    if not isinstance(tbl, AbcMapping):
        raise _fail(where, f"{name} must map registry primary-site texts to primary sites "
                           f"({', '.join(allowed)})")
    out: dict[str, str] = {}
    for text, site in tbl.items():
        _key_word(where, name, text)
        _word(where, name, site)
        term = canonical.get(schema.normalise_histology(site))
        if term is None:
            raise _fail(where, f"{name} maps {str(text)[:60]!r} to {site!r}, which is not a "
                               f"primary site; allowed: {list(allowed)}")
        key = schema.normalise_histology(text)
        if not key:
            raise _fail(where, f"{name} has a key {str(text)[:60]!r} with no letters or digits")
        if out.get(key, term) != term:
            raise _fail(where, f"{name} maps {key!r} (ignoring case and punctuation) to both "
                               f"{out[key]!r} and {term!r}")
        out[key] = term
    return out


def parse_mapping(data: Any, where: str = "mapping") -> Mapping:
    """Validate a mapping given as a dict (already parsed YAML)."""
    raw = _check_keys(where, "top level", data, _TOP_KEYS)
    if raw.get("version", 1) != 1:
        raise _fail(where, f"version {raw.get('version')!r} is not supported (use 1)")
    units_raw = _check_keys(where, "units", raw.get("units"), set(_DURATION_FIELDS))
    for name, unit in units_raw.items():
        if not isinstance(unit, str) or unit not in schema.DAYS_PER_UNIT:
            raise _fail(where, f"units.{name} is {unit!r}; use one of {list(schema.DAYS_PER_UNIT)}")
    patients = _parse_table(where, raw, "patients", None, units_raw)
    res_raw = _check_keys(where, "resections", raw.get("resections"), _TABLE_KEYS)
    resections = _parse_table(where, res_raw, "resections", patients, {})
    description = raw.get("description") or ""
    if not isinstance(description, str):
        raise _fail(where, f"'description' must be text, not {description!r}")
    return Mapping(patients=patients, resections=resections, description=description,
                   path=None)


def read_mapping(path: str | os.PathLike[str] | dict[str, Any] | Mapping | None) -> Mapping:
    """Read and validate a mapping file; ``None`` gives the identity mapping.

    >>> m = read_mapping({"version": 1, "columns": {"PatNr": "patient_id"}})
    >>> m.patients.columns
    {'PatNr': 'patient_id'}
    """
    if path is None:
        return Mapping()
    if isinstance(path, Mapping):
        return path
    if isinstance(path, dict):
        return parse_mapping(path)
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CohortError(f"{p.name}: mapping file not found at {p}; check the path.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CohortError(f"{p.name}: the mapping file cannot be read ({exc}); save it as "
                          "UTF-8 YAML.") from exc
    try:
        data = load_yaml(text)
    except YAMLTooLarge as exc:
        raise CohortError(f"{p.name}: the mapping is refused: {exc}.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise CohortError(f"{p.name}: the mapping is not valid YAML{at}; fix its syntax.") from exc
    if data is None:
        raise CohortError(f"{p.name}: the mapping file is empty; see docs/mapping.md.")
    mapping = parse_mapping(data, where=p.name)
    return Mapping(patients=mapping.patients, resections=mapping.resections,
                   description=mapping.description, path=str(p))
