"""CQL2 (OGC API Features Part 3) in text and JSON, compiled to SQL with bind parameters.

:func:`parse_text` and :func:`parse_json` give the same small syntax tree; :func:`compile_filter`
turns it into an SQL condition for PostGIS or GeoPackage.  Property names resolve through
the layer's whitelist and are quoted by us; every literal travels as a bind parameter
(``:p0``, ``:p1`` ...), so nothing a client sends is spliced into SQL.

Supported: ``AND OR NOT``, ``= <> < <= > >=``, ``[NOT] LIKE``, ``[NOT] BETWEEN``,
``[NOT] IN (...)``, ``IS [NOT] NULL``, ``TRUE``/``FALSE``, ``DATE('…')``/``TIMESTAMP('…')``,
and the spatial predicates ``S_INTERSECTS S_DISJOINT S_EQUALS S_TOUCHES S_WITHIN
S_OVERLAPS S_CROSSES S_CONTAINS`` with a WKT or ``BBOX(…)`` literal (text) or a GeoJSON
geometry or ``{"bbox": […]}`` (JSON).  On GeoPackage the spatial predicates use the R-tree
for the envelope and shapely (registered as SQL functions) for the exact test.

>>> tree = parse_text("land_use = 'ONT' AND area_m2 > 200")
>>> tree[0]
'and'
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import shapely
from shapely.geometry import box

from gis.errors import InputError
from gis.io import read_geojson_geometry

__all__ = ["SPATIAL_OPS", "Node", "SqlParts", "compile_filter", "parse_json", "parse_text"]

Node = tuple  # ("and", [..]) ("or", [..]) ("not", n) ("cmp", op, a, b) ("like", a, b, neg)
#             ("between", a, lo, hi, neg) ("in", a, [..], neg) ("isnull", a, neg)
#             ("spatial", op, a, b) ("bool", v) ("prop", name) ("lit", value) ("geom", shapely)

SPATIAL_OPS = ("s_intersects", "s_disjoint", "s_equals", "s_touches", "s_within",
               "s_overlaps", "s_crosses", "s_contains")
_CMP = {"=": "=", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_GEOM_WORDS = ("POINT", "LINESTRING", "POLYGON", "MULTIPOINT", "MULTILINESTRING", "MULTIPOLYGON",
               "GEOMETRYCOLLECTION")
_MAX_DEPTH = 50
_MAX_LEN = 20000


def _bad(msg: str) -> InputError:
    return InputError(f"invalid CQL2 filter: {msg}",
                      hint="see OGC API Features Part 3 (CQL2); e.g. land_use = 'ONT' AND area_m2 > 100")


# --- text ----------------------------------------------------------------------------

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<str>'(?:[^']|'')*')
    | (?P<num>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<qid>"(?:[^"]|"")+")
    | (?P<id>[A-Za-z_][A-Za-z0-9_.:]*)
    | (?P<op><>|<=|>=|=|<|>|\(|\)|,)
    )""", re.VERBOSE)


@dataclass
class _Tok:
    kind: str
    value: str
    start: int
    end: int


def _tokenize(src: str) -> list[_Tok]:
    toks, pos = [], 0
    while pos < len(src):
        if src[pos:].strip() == "":
            break
        m = _TOKEN.match(src, pos)
        if not m or m.end() == pos:
            raise _bad(f"unexpected character at position {pos}")
        kind = m.lastgroup
        toks.append(_Tok(kind, m.group(kind), m.start(kind), m.end()))
        pos = m.end()
    return toks


class _TextParser:
    def __init__(self, src: str) -> None:
        self.src = src
        self.toks = _tokenize(src)
        self.i = 0
        self.depth = 0

    def peek(self, k: int = 0) -> _Tok | None:
        return self.toks[self.i + k] if self.i + k < len(self.toks) else None

    def word(self, k: int = 0) -> str:
        t = self.peek(k)
        return t.value.upper() if t is not None and t.kind in ("id", "op") else ""

    def take(self, value: str | None = None) -> _Tok:
        t = self.peek()
        if t is None:
            raise _bad("unexpected end of filter")
        if value is not None and t.value.upper() != value:
            raise _bad(f"expected {value!r} at position {t.start}, found {t.value!r}")
        self.i += 1
        return t

    def parse(self) -> Node:
        node = self.or_expr()
        if self.peek() is not None:
            raise _bad(f"unexpected {self.peek().value!r} at position {self.peek().start}")
        return node

    def _nest(self) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _bad("too deeply nested")

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.word() == "OR":
            self.take()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else ("or", items)

    def and_expr(self) -> Node:
        items = [self.not_expr()]
        while self.word() == "AND":
            self.take()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else ("and", items)

    def not_expr(self) -> Node:
        if self.word() == "NOT":
            self.take()
            self._nest()
            return ("not", self.not_expr())
        return self.predicate()

    def predicate(self) -> Node:
        w = self.word()
        if w == "(":
            self.take()
            self._nest()
            node = self.or_expr()
            self.take(")")
            return node
        if w.lower() in SPATIAL_OPS and self.word(1) == "(":
            self.take()
            self.take("(")
            a = self.scalar()
            self.take(",")
            b = self.scalar()
            self.take(")")
            return ("spatial", w.lower(), a, b)
        if w in ("TRUE", "FALSE") and self.word(1) not in _CMP:
            self.take()
            return ("bool", w == "TRUE")
        left = self.scalar()
        w = self.word()
        if w in _CMP:
            self.take()
            return ("cmp", _CMP[w], left, self.scalar())
        neg = False
        if w == "NOT":
            self.take()
            neg, w = True, self.word()
        if w == "LIKE":
            self.take()
            return ("like", left, self.scalar(), neg)
        if w == "BETWEEN":
            self.take()
            lo = self.scalar()
            self.take("AND")
            return ("between", left, lo, self.scalar(), neg)
        if w == "IN":
            self.take()
            self.take("(")
            values = [self.scalar()]
            while self.word() == ",":
                self.take()
                values.append(self.scalar())
            self.take(")")
            return ("in", left, values, neg)
        if w == "IS" and not neg:
            self.take()
            isneg = False
            if self.word() == "NOT":
                self.take()
                isneg = True
            self.take("NULL")
            return ("isnull", left, isneg)
        t = self.peek()
        raise _bad(f"expected a comparison at position {t.start if t else len(self.src)}")

    def scalar(self) -> Node:
        t = self.peek()
        if t is None:
            raise _bad("unexpected end of filter")
        if t.kind == "str":
            self.take()
            return ("lit", t.value[1:-1].replace("''", "'"))
        if t.kind == "num":
            self.take()
            v = float(t.value)
            return ("lit", int(v) if re.fullmatch(r"[+-]?\d+", t.value) else v)
        if t.kind == "qid":
            self.take()
            return ("prop", t.value[1:-1].replace('""', '"'))
        if t.kind == "id":
            w = t.value.upper()
            if w in ("TRUE", "FALSE"):
                self.take()
                return ("lit", w == "TRUE")
            if w in ("DATE", "TIMESTAMP") and self.word(1) == "(":
                self.take()
                self.take("(")
                s = self.take()
                if s.kind != "str":
                    raise _bad(f"{w} needs a quoted value")
                self.take(")")
                return ("lit", _temporal(s.value[1:-1], w))
            if w == "BBOX" and self.word(1) == "(":
                self.take()
                self.take("(")
                nums = [self._number()]
                while self.word() == ",":
                    self.take()
                    nums.append(self._number())
                self.take(")")
                return ("geom", _bbox_geom(nums))
            if w in _GEOM_WORDS:
                return ("geom", self._wkt())
            self.take()
            return ("prop", t.value)
        raise _bad(f"unexpected {t.value!r} at position {t.start}")

    def _number(self) -> float:
        t = self.take()
        if t.kind != "num":
            raise _bad(f"expected a number at position {t.start}")
        return float(t.value)

    def _wkt(self) -> shapely.Geometry:
        start = self.peek().start
        self.take()
        if self.word() in ("Z", "M", "ZM"):
            self.take()
        if self.word() == "EMPTY":
            raise _bad("empty geometry literal")
        self.take("(")
        level = 1
        while level:
            t = self.take()
            level += {"(": 1, ")": -1}.get(t.value, 0)
            if t.kind not in ("num", "op"):
                raise _bad(f"unexpected {t.value!r} in geometry literal")
        text_ = self.src[start:self.toks[self.i - 1].end]
        try:
            geom = shapely.from_wkt(text_)
        except shapely.errors.ShapelyError:
            raise _bad("malformed geometry literal") from None
        return geom


def _temporal(value: str, kind: str) -> date | datetime:
    try:
        if kind == "DATE":
            return date.fromisoformat(value)
        return datetime.fromisoformat(value)  # Python 3.11 reads a trailing Z
    except ValueError:
        raise _bad(f"cannot read {kind.lower()} {value!r}") from None


def _bbox_geom(nums: list[float]) -> shapely.Geometry:
    if len(nums) == 6:
        nums = [nums[0], nums[1], nums[3], nums[4]]
    if len(nums) != 4 or nums[0] > nums[2] or nums[1] > nums[3]:
        raise _bad("a bbox is minx, miny, maxx, maxy with min <= max")
    return box(*nums)


def parse_text(src: str) -> Node:
    """Parse a CQL2 text filter."""
    if len(src) > _MAX_LEN:
        raise _bad("filter too long")
    if not src.strip():
        raise _bad("empty filter")
    return _TextParser(src).parse()


# --- JSON ----------------------------------------------------------------------------

def parse_json(src: str | dict) -> Node:
    """Parse a CQL2 JSON filter (a JSON string or the decoded object)."""
    if isinstance(src, str):
        if len(src) > _MAX_LEN:
            raise _bad("filter too long")
        try:
            src = json.loads(src)
        except ValueError:
            raise _bad("not valid JSON") from None
    return _json_pred(src, 0)


def _json_pred(obj: Any, depth: int) -> Node:
    if depth > _MAX_DEPTH:
        raise _bad("too deeply nested")
    if isinstance(obj, bool):
        return ("bool", obj)
    if not isinstance(obj, dict) or not isinstance(obj.get("op"), str) or not isinstance(obj.get("args"), list):
        raise _bad("each expression is an object with 'op' and 'args'")
    op, args = obj["op"].lower(), obj["args"]

    def arity(n: int) -> None:
        if len(args) != n:
            raise _bad(f"{op!r} takes {n} arguments")

    if op in ("and", "or"):
        if len(args) < 2:
            raise _bad(f"{op!r} takes at least two arguments")
        return (op, [_json_pred(a, depth + 1) for a in args])
    if op == "not":
        arity(1)
        return ("not", _json_pred(args[0], depth + 1))
    if op in _CMP:
        arity(2)
        return ("cmp", op, _json_scalar(args[0]), _json_scalar(args[1]))
    if op == "like":
        arity(2)
        return ("like", _json_scalar(args[0]), _json_scalar(args[1]), False)
    if op == "between":
        arity(3)
        return ("between", _json_scalar(args[0]), _json_scalar(args[1]), _json_scalar(args[2]), False)
    if op == "in":
        arity(2)
        if not isinstance(args[1], list) or not args[1]:
            raise _bad("'in' takes a value and a non-empty list")
        return ("in", _json_scalar(args[0]), [_json_scalar(v) for v in args[1]], False)
    if op == "isnull":
        arity(1)
        return ("isnull", _json_scalar(args[0]), False)
    if op in SPATIAL_OPS:
        arity(2)
        return ("spatial", op, _json_scalar(args[0]), _json_scalar(args[1]))
    raise _bad(f"unsupported operator {op!r}")


def _json_scalar(obj: Any) -> Node:
    if isinstance(obj, (bool, int, float, str)):
        return ("lit", obj)
    if isinstance(obj, dict):
        if set(obj) == {"property"} and isinstance(obj["property"], str):
            return ("prop", obj["property"])
        if set(obj) == {"date"} and isinstance(obj["date"], str):
            return ("lit", _temporal(obj["date"], "DATE"))
        if set(obj) == {"timestamp"} and isinstance(obj["timestamp"], str):
            return ("lit", _temporal(obj["timestamp"], "TIMESTAMP"))
        if set(obj) == {"bbox"} and isinstance(obj["bbox"], list):
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in obj["bbox"]):
                raise _bad("bbox values must be numbers")
            return ("geom", _bbox_geom([float(v) for v in obj["bbox"]]))
        if "type" in obj and ("coordinates" in obj or "geometries" in obj):
            try:
                return ("geom", read_geojson_geometry(obj))
            except InputError as exc:
                raise _bad(exc.message) from None
        if "op" in obj:
            raise _bad("functions are not supported as values")
    raise _bad(f"cannot read value {json.dumps(obj)[:60]}")


# --- compiling -----------------------------------------------------------------------

@dataclass
class SqlParts:
    """An SQL condition and its bind parameters (named ``p0``, ``p1`` ...)."""

    params: dict[str, Any] = field(default_factory=dict)

    def bind(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"


def compile_filter(node: Node, *, fields: dict[str, str], geom_col: str | None, dialect: str,
                   srid: int | None, to_storage: Callable[[shapely.Geometry], shapely.Geometry],
                   rtree: str | None, id_col: str, parts: SqlParts) -> str:
    """Compile a parsed filter into an SQL condition, adding its binds to ``parts``.

    ``fields`` is the whitelist (column -> JSON type); ``to_storage`` reprojects a
    geometry literal from the filter CRS into the store's CRS.
    """
    c = _Compiler(fields, geom_col, dialect, srid, to_storage, rtree, id_col, parts)
    return c.pred(node)


_GEOM_NAMES = ("geometry", "geom", "the_geom", "shape")


@dataclass
class _Compiler:
    fields: dict[str, str]
    geom_col: str | None
    dialect: str
    srid: int | None
    to_storage: Callable[[shapely.Geometry], shapely.Geometry]
    rtree: str | None
    id_col: str
    parts: SqlParts

    def pred(self, n: Node) -> str:
        kind = n[0]
        if kind in ("and", "or"):
            return "(" + f" {kind.upper()} ".join(self.pred(x) for x in n[1]) + ")"
        if kind == "not":
            return f"(NOT {self.pred(n[1])})"
        if kind == "bool":
            return "(1=1)" if n[1] else "(1=0)"
        if kind == "cmp":
            a, b = n[2], n[3]
            if a[0] == "lit" and b[0] == "prop":  # 5 < area_m2 -> area_m2 > 5
                a, b = b, a
                op = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(n[1], n[1])
            else:
                op = n[1]
            typ = self.type_of(a)
            return f"({self.value(a, typ)} {op} {self.value(b, typ)})"
        if kind == "like":
            typ = self.type_of(n[1])
            if typ != "string" or (n[2][0] == "lit" and not isinstance(n[2][1], str)):
                raise _bad("LIKE compares a text property with a text pattern")
            neg = "NOT " if n[3] else ""
            return f"({self.value(n[1], typ)} {neg}LIKE {self.value(n[2], 'string')})"
        if kind == "between":
            typ = self.type_of(n[1])
            neg = "NOT " if n[4] else ""
            return (f"({self.value(n[1], typ)} {neg}BETWEEN {self.value(n[2], typ)}"
                    f" AND {self.value(n[3], typ)})")
        if kind == "in":
            typ = self.type_of(n[1])
            neg = "NOT " if n[3] else ""
            vals = ", ".join(self.value(v, typ) for v in n[2])
            return f"({self.value(n[1], typ)} {neg}IN ({vals}))"
        if kind == "isnull":
            if n[1][0] != "prop":
                raise _bad("IS NULL needs a property")
            neg = "NOT " if n[2] else ""
            return f"({self.column(n[1][1])} IS {neg}NULL)"
        if kind == "spatial":
            return self.spatial(n[1], n[2], n[3])
        raise _bad("not a predicate")

    def is_geom_prop(self, n: Node) -> bool:
        return n[0] == "prop" and (n[1] in _GEOM_NAMES or n[1] == self.geom_col)

    def type_of(self, n: Node) -> str:
        if n[0] == "prop":
            if self.is_geom_prop(n):
                raise _bad("use a spatial predicate (S_INTERSECTS ...) on the geometry")
            return self.fields.get(n[1]) or ("integer" if n[1] == "id" else self._unknown(n[1]))
        if n[0] == "geom":
            raise _bad("a geometry can only be used in a spatial predicate")
        v = n[1]
        if isinstance(v, bool):
            return "boolean"
        if isinstance(v, (int, float)):
            return "number"
        if isinstance(v, (date, datetime)):
            return "date-time"
        return "string"

    def _unknown(self, name: str) -> str:
        raise _bad(f"unknown property {name[:64]!r}; see the collection's queryables")

    def column(self, name: str) -> str:
        if name == "id":
            return '"' + self.id_col + '"'
        if name not in self.fields:
            self._unknown(name)
        return '"' + name.replace('"', '""') + '"'

    def value(self, n: Node, typ: str) -> str:
        if n[0] == "prop":
            self.type_of(n)
            return self.column(n[1])
        if n[0] != "lit":
            raise _bad("a geometry can only be used in a spatial predicate")
        v = _coerce(n[1], typ)
        if typ == "integer" and isinstance(v, float):  # parcel_no > 5.5: compare as reals
            return f"CAST({self.parts.bind(v)} AS DOUBLE PRECISION)"
        return self.parts.bind(v)

    def spatial(self, op: str, a: Node, b: Node) -> str:
        if self.geom_col is None:
            raise _bad("this collection has no geometry")
        if self.is_geom_prop(b) and a[0] == "geom":
            a, b = b, a
            op = {"s_within": "s_contains", "s_contains": "s_within"}.get(op, op)
        if not (self.is_geom_prop(a) and b[0] == "geom"):
            raise _bad(f"{op.upper()} compares the geometry property with a geometry literal")
        geom = shapely.make_valid(self.to_storage(b[1]))  # a self-crossing ring must not reach GEOS as is
        col = '"' + self.geom_col + '"'
        if self.dialect == "postgresql":
            fn = {"s_intersects": "ST_Intersects", "s_disjoint": "ST_Disjoint", "s_equals": "ST_Equals",
                  "s_touches": "ST_Touches", "s_within": "ST_Within", "s_overlaps": "ST_Overlaps",
                  "s_crosses": "ST_Crosses", "s_contains": "ST_Contains"}[op]
            p = self.parts.bind(shapely.to_wkb(geom))
            return f"{fn}({col}, ST_GeomFromWKB({p}, {int(self.srid)}))"
        p = self.parts.bind(shapely.to_wkb(geom))
        exact = f"lr_{op}({col}, {p})"
        if op == "s_disjoint" or self.rtree is None:
            return exact
        minx, miny, maxx, maxy = geom.bounds
        rt = '"' + self.rtree + '"'
        pre = (f'"{self.id_col}" IN (SELECT id FROM {rt} WHERE minx <= {self.parts.bind(maxx)}'
               f" AND maxx >= {self.parts.bind(minx)} AND miny <= {self.parts.bind(maxy)}"
               f" AND maxy >= {self.parts.bind(miny)})")
        return f"({pre} AND {exact})"


def _coerce(v: Any, typ: str) -> Any:
    """Give a literal the Python type of the column it is compared with."""
    if typ == "integer":
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise _bad(f"{v!r} is not a number")
        return int(v) if float(v).is_integer() else float(v)
    if typ == "number":
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise _bad(f"{v!r} is not a number")
        return float(v)
    if typ == "boolean":
        if not isinstance(v, bool):
            raise _bad(f"{v!r} is not a boolean")
        return v
    if typ == "date-time":
        if isinstance(v, datetime):
            return v.replace(tzinfo=None) if v.tzinfo is None else v.astimezone().replace(tzinfo=None)
        if isinstance(v, date):
            return datetime(v.year, v.month, v.day)
        if isinstance(v, str):
            return _temporal(v, "TIMESTAMP")
        raise _bad(f"{v!r} is not a date")
    if isinstance(v, (date, datetime)):
        return v.isoformat()
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


# --- shapely predicates as SQLite functions (GeoPackage) --------------------------------

def sqlite_functions() -> dict[str, Callable[[bytes | None, bytes], int | None]]:
    """``lr_s_intersects(gpkg_blob, wkb)`` ... for the GeoPackage connection."""
    from gis.store import gpkg_geometry

    def make(name: str):
        pred = getattr(shapely, name.removeprefix("s_"))

        def fn(blob, wkb):
            if blob is None or wkb is None:
                return None
            return int(bool(pred(gpkg_geometry(blob), shapely.from_wkb(wkb))))
        return fn

    return {f"lr_{op}": make(op) for op in SPATIAL_OPS}
