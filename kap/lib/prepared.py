"""A query that runs on nearly every page, compiled to SQL once per process.

Django builds and compiles a queryset's SQL anew each time it runs. For a small query with an OR
and a subquery, that is most of its cost (about 1.3 ms of Python against 0.1 ms in the database,
for the packs a person sees: kap.content.roles). `Prepared` builds the queryset once per database
vendor with stand-in values, keeps its SQL, and runs that SQL with the real values in their places:

    packs = Prepared(lambda person_id: Pack.objects.filter(...person_id...))
    packs(person.pk)  # a RawQuerySet of Pack, as the queryset would give (without select_related)

A `values_list()` queryset can be run for its rows instead, converted as the queryset would
convert them (dates on SQLite), and counted, or cut to its first rows by a parameter rather than
by a LIMIT written into the SQL:

    pairs = Prepared(lambda person_id: Insight.objects.filter(...).values_list("created_at", "pk"))
    pairs.count(person.pk); pairs.tuples(person.pk, limit=50)

And a queryset of instances can be run for them as its iteration would build them, the objects
of its select_related() and its annotations included: `Prepared(...).objects(person.pk)`.

The stand-ins are values no real argument takes (large negative integers; strings holding a NUL,
which no form field lets through), found among the compiled query's parameters: building fails
loudly if one is missing (Django inlined it, or the builder ignored it). Arguments are integers,
or strings where `kinds` says so.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.query import RawQuerySet, get_related_populators

# Stand-ins: far outside any primary key or choice value.
_STAND_IN = -(2**62)


class Prepared:
    def __init__(self, build: Callable[..., QuerySet], kinds: tuple[type, ...] = (int,)):
        if not set(kinds) <= {int, str}:
            raise TypeError("only int and str arguments are supported")
        self.build = build
        self.kinds = kinds
        self.arity = len(kinds)
        self._compiled: dict[str, tuple[type, str, tuple, list[int | None]]] = {}
        self._makers: dict[str, _Maker] = {}
        self._fetch_mode = None  # the queryset's, when it is compiled
        self._unordered: Prepared | None = None  # the same without its order, to count

    def _compile(self, alias: str):
        stand_ins = [
            _STAND_IN - n if kind is int else f"\x00stand-in {n}\x00"
            for n, kind in enumerate(self.kinds)
        ]
        queryset = self.build(*stand_ins).using(alias)
        if queryset._known_related_objects:  # (a related manager's queryset)
            raise ValueError("a queryset of a related manager is not supported")
        self._fetch_mode = queryset._fetch_mode
        compiler = queryset.query.get_compiler(using=alias)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:  # e.g. .none(): whatever the arguments, there is no row
            return queryset.model, None, (), [], compiler
        where = [stand_ins.index(p) if p in stand_ins else None for p in params]
        missing = set(range(self.arity)) - set(where)
        if missing:
            raise ValueError(f"argument(s) {sorted(missing)} are not parameters of the query")
        return queryset.model, sql, tuple(params), where, compiler

    def _filled(self, values: tuple, using: str):
        if len(values) != self.arity or not all(
            type(v) is kind for v, kind in zip(values, self.kinds, strict=False)
        ):
            raise TypeError(f"expected arguments of {self.kinds}, got {values!r}")
        vendor = connections[using].vendor
        found = self._compiled.get(vendor)
        if found is None:
            found = self._compiled[vendor] = self._compile(using)
        model, sql, params, where, compiler = found
        filled = [p if n is None else values[n] for p, n in zip(params, where, strict=True)]
        return model, sql, filled, compiler

    def __call__(self, *values: int | str, using: str = "default") -> RawQuerySet | QuerySet:
        model, sql, filled, _compiler = self._filled(values, using)
        if sql is None:
            return model._default_manager.none()
        return model._default_manager.using(using).raw(sql, filled)

    def tuples(self, *values: int | str, limit: int | None = None, using: str = "default"):
        """The rows of a `values_list()` queryset, as tuples converted as it would convert
        them; with `limit`, only the first that many (the SQL's order: give it an order_by)."""
        _model, sql, filled, compiler = self._filled(values, using)
        if sql is None:
            return []
        if limit is not None:
            sql, filled = f"{sql} LIMIT %s", [*filled, int(limit)]
        with connections[using].cursor() as cursor:
            cursor.execute(sql, filled)
            rows = cursor.fetchall()
        # The compiler kept from compiling only lends its converters (its connection's `ops`,
        # which hold no per-thread state), so any thread may use it.
        return list(compiler.results_iter([rows], tuple_expected=True))

    def count(self, *values: int | str, using: str = "default") -> int:
        """How many rows the queryset has: counted without its order (which would sort every
        row first), as the queryset's own count() does."""
        if self._unordered is None:
            build = self.build
            self._unordered = Prepared(lambda *v: build(*v).order_by(), self.kinds)
        _model, sql, filled, _compiler = self._unordered._filled(values, using)
        if sql is None:
            return 0
        with connections[using].cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM ({sql}) counted", filled)
            return cursor.fetchone()[0]

    def objects(self, *values: int | str, using: str = "default") -> list[Model]:
        """The instances the queryset gives, each with the objects of its select_related() and
        its annotations, built as iterating the queryset builds them."""
        model, sql, filled, compiler = self._filled(values, using)
        if sql is None:
            return []
        maker = self._makers.get(using)
        if maker is None:
            maker = self._makers[using] = _Maker(compiler, using, self._fetch_mode)
        with connections[using].cursor() as cursor:
            cursor.execute(sql, filled)
            rows = cursor.fetchall()
        return [maker.make(row) for row in compiler.results_iter([rows])]


class _Maker:
    """Makes a model instance of a compiled query's row, as Django's ModelIterable does: the
    model's columns, then what select_related() joined, then the annotations. What it holds is
    read from the compiler once, and never changed, so any thread may use it."""

    def __init__(self, compiler, using: str, fetch_mode):
        if fetch_mode.track_peers:
            raise ValueError("a fetch mode that tracks peers is not supported")
        select, info = compiler.select, compiler.klass_info
        fields = info["select_fields"]
        self.start, self.end = fields[0], fields[-1] + 1
        self.init_list = [f[0].target.attname for f in select[self.start : self.end]]
        self.model, self.using, self.fetch_mode = info["model"], using, fetch_mode
        self.related = get_related_populators(info, select, using, fetch_mode)
        self.annotations = list(compiler.annotation_col_map.items())

    def make(self, row) -> Model:
        obj = self.model.from_db(
            self.using, self.init_list, row[self.start : self.end], fetch_mode=self.fetch_mode
        )
        for populator in self.related:
            populator.populate(row, obj)
        for name, at in self.annotations:
            setattr(obj, name, row[at])
        return obj
