"""The input contract of a served version: which fields a request row must carry and of which type,
taken from the version's recipe (its features) and the training table's schema at the version it was
trained on. A request that breaks it is rejected with one line naming the row, the field and what was
expected; nothing of it reaches the model or the inference table."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import polars as pl

from governance.features import FeatureSpec


class Rejection(StrEnum):
    """Why a request was refused (a label of the rejections metric)."""

    BAD_JSON = "bad_json"
    BODY_TOO_LARGE = "body_too_large"
    BATCH_TOO_LARGE = "batch_too_large"
    BAD_SHAPE = "bad_shape"
    MISSING_FIELD = "missing_field"
    EXTRA_FIELD = "extra_field"
    WRONG_TYPE = "wrong_type"
    NOT_FINITE = "not_finite"
    UNKNOWN_KEY = "unknown_key"  # a feature table holds no row for the entity key sent


_STATUS = {Rejection.BAD_JSON: 400, Rejection.BODY_TOO_LARGE: 413, Rejection.BATCH_TOO_LARGE: 413}


class RequestRejected(Exception):
    """A request that breaks the contract: its HTTP status and the one line that says why."""

    def __init__(self, reason: Rejection, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = _STATUS.get(reason, 422)


class FieldKind(StrEnum):
    NUMBER = "number"
    WHOLE_NUMBER = "whole number"
    BOOLEAN = "boolean"
    TEXT = "string"


@dataclass(frozen=True)
class Limits:
    max_rows: int = 1000
    max_bytes: int = 1 << 20


@dataclass(frozen=True)
class InputContract:
    """The fields of one version's request rows. Every field may be null (a missing value, imputed as
    in training); a number must be finite."""

    fields: Mapping[str, FieldKind]
    dtypes: Mapping[str, pl.DataType]  # the column each field becomes, as the model's inputs expect it
    limits: Limits

    @classmethod
    def of(
        cls,
        spec: FeatureSpec,
        training_schema: Mapping[str, pl.DataType],
        *,
        limits: Limits,
        keys: Sequence[str] = (),
    ) -> InputContract:
        """The fields of `spec`'s features, and of `keys` (the entity keys a version with feature
        tables looks its joined features up by; `spec` then holds only the features sent)."""
        fields: dict[str, FieldKind] = {}
        dtypes: dict[str, pl.DataType] = {}
        for name in keys:
            dtype = training_schema.get(name, pl.String())
            if dtype.is_integer():
                fields[name], dtypes[name] = FieldKind.WHOLE_NUMBER, pl.Int64()
            else:
                fields[name], dtypes[name] = FieldKind.TEXT, pl.String()
        for name in spec.numeric:  # booleans are numbers to the model (0/1), and booleans to a caller
            if training_schema.get(name) == pl.Boolean:
                fields[name], dtypes[name] = FieldKind.BOOLEAN, pl.Boolean()
            else:
                fields[name], dtypes[name] = FieldKind.NUMBER, pl.Float64()
        for name in spec.categorical:
            dtype = training_schema.get(name, pl.String())
            if dtype == pl.Boolean:
                fields[name], dtypes[name] = FieldKind.BOOLEAN, pl.Boolean()
            elif dtype.is_integer():
                fields[name], dtypes[name] = FieldKind.WHOLE_NUMBER, pl.Int64()
            else:
                fields[name], dtypes[name] = FieldKind.TEXT, pl.String()
        return cls(fields=fields, dtypes=dtypes, limits=limits)

    def parse(self, body: bytes) -> tuple[list[dict[str, Any]], pl.DataFrame]:
        """The request's rows, as sent and as the model's input frame; RequestRejected when it breaks
        the contract."""
        if len(body) > self.limits.max_bytes:
            raise RequestRejected(
                Rejection.BODY_TOO_LARGE,
                f"request body is {len(body)} bytes, above the limit of {self.limits.max_bytes}",
            )
        try:
            document = json.loads(body, parse_constant=_refuse_constant)
        except _NotFinite as constant:
            raise RequestRejected(
                Rejection.NOT_FINITE, f"{constant} is not a number this model accepts: send a finite number or null"
            ) from None
        except (ValueError, UnicodeDecodeError) as error:
            raise RequestRejected(Rejection.BAD_JSON, f"request body is not valid JSON: {error}") from None
        if not isinstance(document, dict) or set(document) != {"inputs"}:
            raise RequestRejected(
                Rejection.BAD_SHAPE, 'expected a JSON object {"inputs": [{...}, ...]} with no other key'
            )
        rows = document["inputs"]
        if not isinstance(rows, list) or not rows:
            raise RequestRejected(Rejection.BAD_SHAPE, '"inputs" must be a non-empty list of objects, one per row')
        if len(rows) > self.limits.max_rows:
            raise RequestRejected(
                Rejection.BATCH_TOO_LARGE, f"{len(rows)} rows in one request, above the limit of {self.limits.max_rows}"
            )
        columns = self._columns(rows)
        if columns is None:  # something is wrong: find the first row and field, and say what
            for index, row in enumerate(rows):
                self._check_row(index, row)
            columns = {name: [row[name] for row in rows] for name in self.fields}
        frame = pl.DataFrame(
            {name: pl.Series(name, values, dtype=self.dtypes[name], strict=False) for name, values in columns.items()}
        )
        return rows, frame

    def _columns(self, rows: list[Any]) -> dict[str, list[Any]] | None:
        """The rows' values by field, when every row keeps the contract (checked a column at a time, by
        the set of value types in it); None otherwise."""
        width = len(self.fields)
        if not all(type(row) is dict and len(row) == width for row in rows):
            return None
        try:
            columns = {name: [row[name] for row in rows] for name in self.fields}
        except KeyError:
            return None
        for name, kind in self.fields.items():
            values = columns[name]
            types = set(map(type, values))
            if not types <= _ACCEPTED[kind]:
                return None
            if float in types and not all(map(math.isfinite, (v for v in values if type(v) is float))):
                return None
        return columns

    def _check_row(self, index: int, row: object) -> None:
        if not isinstance(row, dict):
            raise RequestRejected(Rejection.BAD_SHAPE, f"row {index}: expected an object of fields, got {_kind(row)}")
        if len(row) != len(self.fields) or not all(name in row for name in self.fields):
            missing = [name for name in self.fields if name not in row]
            if missing:
                raise RequestRejected(
                    Rejection.MISSING_FIELD,
                    f"row {index}: field {missing[0]!r} is missing (expected fields: {self._expected()})",
                )
            extra = next(name for name in row if name not in self.fields)
            raise RequestRejected(
                Rejection.EXTRA_FIELD,
                f"row {index}: field {extra!r} is not an input of this model (expected fields: {self._expected()})",
            )
        for name, kind in self.fields.items():
            value = row[name]
            if value is None or _fits(kind, value):
                continue
            if isinstance(value, float) and not math.isfinite(value):
                raise RequestRejected(
                    Rejection.NOT_FINITE, f"row {index}: field {name!r} is {value}, expected a finite number or null"
                )
            shown = json.dumps(value, ensure_ascii=False)[:40]
            raise RequestRejected(
                Rejection.WRONG_TYPE,
                f"row {index}: field {name!r} is {shown} ({_kind(value)}), expected a {kind.value} or null",
            )

    def _expected(self) -> str:
        return ", ".join(f"{name} ({kind.value})" for name, kind in self.fields.items())


_ACCEPTED: dict[FieldKind, set[type]] = {
    FieldKind.NUMBER: {int, float, type(None)},
    FieldKind.WHOLE_NUMBER: {int, type(None)},
    FieldKind.BOOLEAN: {bool, type(None)},
    FieldKind.TEXT: {str, type(None)},
}


class _NotFinite(ValueError):
    pass


def _refuse_constant(constant: str) -> float:
    # Python's json reads NaN and Infinity, which JSON itself does not have: refuse them by name
    raise _NotFinite(constant)


def _fits(kind: FieldKind, value: object) -> bool:
    if isinstance(value, bool):
        return kind is FieldKind.BOOLEAN
    if kind is FieldKind.NUMBER:
        return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
    if kind is FieldKind.WHOLE_NUMBER:
        return isinstance(value, int)
    if kind is FieldKind.TEXT:
        return isinstance(value, str)
    return False


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"
