"""Reading a content pack from disk: parse, validate, and report every problem with its place.

`read_pack(path)` never touches the database; it returns a `PackBundle` or raises `PackInvalid`
holding every error found (file, field path, reason), so an author fixes them in one pass. A pack's
translations (a folder per language, kap.content.translations) are read and checked with it.

A pack from someone the server does not trust (a clinic's upload, kap.content.uploads) is read
with `limits=UPLOAD_LIMITS`: its files must lie inside its folder, and its counts (instruments,
pages, items, options, values behind YAML aliases) are bounded, so that checking it takes time in
proportion to its size.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import ValidationError

from kap.content.specs import KINDS, InstrumentSpec, PackSpec
from kap.content.translations import (
    INSTRUMENT_TEXT,
    PACK_TEXT,
    PUBLISHED_ONLY,
    PUBLISHED_ONLY_TEXT,
    LanguageText,
    read_overlay,
)
from kap.lib import limits as _limits

PLACEHOLDER = re.compile(r"^\[\[instrument ([a-z0-9][a-z0-9-]*)\]\]$", re.MULTILINE)


@dataclass(frozen=True)
class PackError:
    file: str
    path: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        return f"{where}: {self.reason}"


class PackInvalid(Exception):
    def __init__(self, errors: list[PackError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


@dataclass
class PageBundle:
    slug: str
    title: str
    order: int
    body: str
    instruments: list[str]


@dataclass
class PackBundle:
    spec: PackSpec
    pages: list[PageBundle]
    instruments: list[InstrumentSpec]
    checksum: str = ""
    instrument_checksums: dict[str, str] = field(default_factory=dict)
    # Each translation of the pack (pack.yaml's `translations:`), by language.
    translations: dict[str, LanguageText] = field(default_factory=dict)


@dataclass(frozen=True)
class PackLimits:
    """Bounds on a pack read from an untrusted source (see kap.lib.limits for the numbers)."""

    instruments: int
    pages: int
    items: int  # items, and steps, of one instrument
    options: int  # options of one item, or an instrument's shared options
    yaml_values: int | None  # values in one YAML file once its aliases are expanded


UPLOAD_LIMITS = PackLimits(
    instruments=_limits.PACK_INSTRUMENTS,
    pages=_limits.PACK_PAGES,
    items=_limits.PACK_ITEMS,
    options=_limits.PACK_OPTIONS,
    yaml_values=_limits.PACK_YAML_VALUES,
)
# Far beyond any real pack: a few lines of aliases cannot make `kap content check` run for ever.
_CLI_YAML_VALUES = 50_000_000


# libyaml's parser where PyYAML was built with it: several times faster than the pure-Python one,
# which keeps checking an upload of PACK_UNPACKED_BYTES within seconds. The same for the CLI, so
# that `kap content check` and the web word every problem alike.
_SafeLoader = yaml.CSafeLoader if getattr(yaml, "__with_libyaml__", False) else yaml.SafeLoader


class _StrictLoader(_SafeLoader):  # type: ignore[misc, valid-type]
    """SafeLoader that refuses duplicate keys instead of silently keeping the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False):
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


# Values nested deeper than this are refused before they are built (building is recursive). A
# pack's deepest field (crisis_resources.US.resources.0.href) is six levels down.
_MAX_DEPTH = 50


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return node.value
    return []


def _expansion_problem(root: yaml.Node, most: int) -> str | None:
    """Why this document cannot be used as it stands, or None: too deep, or too many values.

    One pass over the parsed nodes (linear time). A document without aliases is a tree, and its
    size is its number of nodes. An alias is the same node again, so with aliases the text stays
    small while the values it stands for (what validation walks) can grow with every level:
    `a: &a [x, x]`, `b: &b [*a, *a]`, ...; those are counted as expanded (`_expanded_problem`)."""
    seen: set[int] = set()
    stack = [(root, 1)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > most:
            return f"more than {most:,} values"
        if depth > _MAX_DEPTH:
            return f"values nested more than {_MAX_DEPTH} levels deep"
        for child in _children(node):
            if id(child) in seen:
                return _expanded_problem(root, most)
            seen.add(id(child))
            stack.append((child, depth + 1))
    return None


def _expanded_problem(root: yaml.Node, most: int) -> str | None:
    """The same with aliases: each distinct node visited once, its expanded size and depth
    computed from its children's; an alias inside its own anchor is refused."""
    sizes: dict[int, tuple[int, int]] = {}  # node -> (expanded size, depth below it)
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        ident = id(node)
        if finished:
            on_path.discard(ident)
            below = [sizes[id(c)] for c in _children(node)]
            size = min(most + 1, 1 + sum(n for n, _ in below))
            depth = 1 + max((d for _, d in below), default=0)
            if size > most:
                return f"its anchors and aliases stand for more than {most:,} values"
            if depth > _MAX_DEPTH:
                return f"values nested more than {_MAX_DEPTH} levels deep"
            sizes[ident] = (size, depth)
            continue
        if ident in sizes:
            continue
        if ident in on_path:
            return "an alias refers to the value that holds it"
        on_path.add(ident)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in sizes)
    return None


def _read_yaml(
    path: Path, rel: str, errors: list[PackError], most_values: int = _CLI_YAML_VALUES
) -> object | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        errors.append(PackError(rel, "", "file does not exist"))
        return None
    except UnicodeDecodeError:
        errors.append(PackError(rel, "", "file is not UTF-8 text"))
        return None
    except (OSError, ValueError):
        errors.append(PackError(rel, "", "file cannot be read (is it a folder?)"))
        return None
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        problem = _expansion_problem(node, most_values) if node is not None else None
        if problem:
            errors.append(PackError(rel, "", f"invalid YAML: {problem}"))
            return None
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        errors.append(PackError(rel, line, f"invalid YAML: {e.problem or e.context}"))
        return None
    except yaml.YAMLError as e:
        errors.append(PackError(rel, "", f"invalid YAML: {e}"))
        return None
    except RecursionError:  # (the pure-Python parser, where libyaml is missing)
        errors.append(PackError(rel, "", f"invalid YAML: nested more than {_MAX_DEPTH} deep"))
        return None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        errors.append(PackError(rel, "", "expected a mapping of fields at the top level"))
        return None
    return data


def _pydantic_errors(rel: str, exc: ValidationError, data: dict) -> list[PackError]:
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        # Discriminated unions add the tag to the path; errors inside a validator have no field.
        path = ".".join(loc)
        reason = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            reason = "missing required field"
        elif err["type"] == "extra_forbidden":
            reason = "unknown field"
        out.append(PackError(rel, path, reason))
    return out


def _checksum(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def instrument_checksum(spec: InstrumentSpec) -> str:
    """The checksum an instrument is stored with (kap.content.sync compares them)."""
    return _checksum(spec.model_dump(mode="json"))


def _listed_files(raw: dict) -> list[tuple[int, str]]:
    """(position, file) of the instrument files pack.yaml lists, read even when pack.yaml has
    other problems, so that the instruments' own problems are reported in the same pass."""
    listed = raw.get("instruments")
    if not isinstance(listed, list):
        return []
    return [(i, rel) for i, rel in enumerate(listed) if isinstance(rel, str)]


def _inside(folder: Path, rel: str) -> bool:
    """Whether `rel` names something inside `folder` (no absolute path, `..` or link out)."""
    try:
        return (folder / rel).resolve().is_relative_to(folder.resolve())
    except (OSError, ValueError):
        return False


def _count_problems(rel: str, data: dict, limits: PackLimits) -> list[PackError]:
    """Counts over the limits, checked on the raw data before it is validated: validation checks
    every item's options, so items times options must stay bounded."""
    out = []
    for name in ("items", "steps"):
        values = data.get(name)
        if isinstance(values, list) and len(values) > limits.items:
            out.append(
                PackError(
                    rel,
                    name,
                    f"{len(values):,} {name}; an instrument may have at most {limits.items:,}",
                )
            )
    shared = data.get("options")
    if isinstance(shared, list) and len(shared) > limits.options:
        out.append(
            PackError(
                rel, "options", f"{len(shared):,} options; at most {limits.options:,} are allowed"
            )
        )
    items = data.get("items")
    if isinstance(items, list) and len(items) <= limits.items:
        for j, item in enumerate(items):
            options = item.get("options") if isinstance(item, dict) else None
            if isinstance(options, list) and len(options) > limits.options:
                out.append(
                    PackError(
                        rel,
                        f"items.{j}.options",
                        f"{len(options):,} options; at most {limits.options:,} are allowed",
                    )
                )
    return out


def read_pack(folder: Path | str, limits: PackLimits | None = None) -> PackBundle:
    """Every problem of the pack in `folder`, or its bundle. With `limits` (an untrusted pack),
    files outside the folder are refused and counts are bounded (see PackLimits)."""
    folder = Path(folder)
    errors: list[PackError] = []
    if not folder.is_dir():
        raise PackInvalid([PackError(str(folder), "", "not a folder")])
    most_values = limits.yaml_values if limits and limits.yaml_values else _CLI_YAML_VALUES

    raw = _read_yaml(folder / "pack.yaml", "pack.yaml", errors, most_values)
    if raw is None:
        raise PackInvalid(errors)
    pack: PackSpec | None
    try:
        pack = PackSpec.model_validate(raw)
    except ValidationError as e:
        errors.extend(_pydantic_errors("pack.yaml", e, raw))
        pack = None
    files = list(enumerate(pack.instruments)) if pack else _listed_files(raw)
    if limits is not None:
        over = []
        if len(files) > limits.instruments:
            over.append(
                PackError(
                    "pack.yaml",
                    "instruments",
                    f"{len(files):,} instruments; a pack may have at most {limits.instruments:,}",
                )
            )
        if pack is not None and len(pack.pages) > limits.pages:
            over.append(
                PackError(
                    "pack.yaml",
                    "pages",
                    f"{len(pack.pages):,} pages; a pack may have at most {limits.pages:,}",
                )
            )
        if over:
            raise PackInvalid(errors + over)

    instruments: list[InstrumentSpec] = []
    # Keys of instrument files that failed to parse: already reported, so references to them
    # from pages and safety rules are not reported a second time.
    broken: set[str] = set()
    by_key: dict[str, tuple[int, str]] = {}  # key -> (version, file)
    for i, rel in files:
        # Files are named after their instrument; a file that fails is remembered by that name too.
        broken.add(Path(rel).stem)
        if limits is not None and not _inside(folder, rel):
            errors.append(PackError("pack.yaml", f"instruments.{i}", f"{rel} is outside the pack"))
            continue
        data = _read_yaml(folder / rel, rel, errors, most_values)
        if data is None:
            if not (folder / rel).exists():
                errors[-1] = PackError("pack.yaml", f"instruments.{i}", f"{rel} does not exist")
            continue
        broken.add(str(data.get("key")))
        if limits is not None:
            too_many = _count_problems(rel, data, limits)
            if too_many:
                errors.extend(too_many)
                continue
        kind = data.get("kind")
        if kind is not None and kind not in KINDS:
            errors.append(
                PackError(
                    rel, "kind", f"unknown kind {kind!r} (expected one of {', '.join(KINDS)})"
                )
            )
            continue
        try:
            spec = InstrumentSpec.model_validate(data)
        except ValidationError as e:
            errors.extend(_pydantic_errors(rel, e, data))
            continue
        if spec.key in by_key:
            # One version of a key per pack: its checksum, its preview and what it stores are
            # all found by the key.
            version, other = by_key[spec.key]
            where = f"version {version} (also in {other})"
            if version != spec.version:
                where = f"(also in {other}, as version {version})"
            errors.append(PackError(rel, "key", f"duplicate instrument key {spec.key!r} {where}"))
            continue
        by_key[spec.key] = (spec.version, rel)
        instruments.append(spec)
        broken -= {spec.key, Path(rel).stem}

    if pack is None:
        # Pages, roles and safety rules are checked against pack.yaml, which has to be fixed first.
        raise PackInvalid(errors)

    keys = {s.key for s in instruments}
    pages: list[PageBundle] = []
    for order, ref in enumerate(pack.pages):
        path = folder / ref.file
        if limits is not None and not _inside(folder, ref.file):
            errors.append(
                PackError("pack.yaml", f"pages.{order}.file", f"{ref.file} is outside the pack")
            )
            continue
        if not path.is_file():
            errors.append(
                PackError(
                    "pack.yaml", f"pages.{order}.file", f"Markdown page {ref.file} does not exist"
                )
            )
            continue
        try:
            body = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            errors.append(PackError(ref.file, "", "file is not UTF-8 text"))
            continue
        except OSError:
            errors.append(PackError(ref.file, "", "file cannot be read"))
            continue
        listed = set(ref.instruments)
        for j, key in enumerate(ref.instruments):
            if key not in keys and key not in broken:
                errors.append(
                    PackError(
                        "pack.yaml", f"pages.{order}.instruments.{j}", f"unknown instrument {key!r}"
                    )
                )
        for key in PLACEHOLDER.findall(body):
            if key not in listed:
                errors.append(
                    PackError(
                        ref.file, f"[[instrument {key}]]", "instrument not listed for this page"
                    )
                )
        pages.append(PageBundle(ref.slug, ref.title, order, body, list(ref.instruments)))

    slugs = {p.slug for p in pack.pages}
    for spec in instruments:
        if spec.page and spec.page not in slugs:
            errors.append(PackError(by_key[spec.key][1], "page", f"unknown page {spec.page!r}"))

    specs = {s.key: s for s in instruments}
    for i, rule in enumerate(pack.safety_rules):
        target = specs.get(rule.instrument)
        if rule.instrument in broken:
            continue
        if target is None:
            errors.append(
                PackError(
                    "pack.yaml",
                    f"safety_rules.{i}.instrument",
                    f"unknown instrument {rule.instrument!r}",
                )
            )
        elif rule.item not in target.items_by_key:
            errors.append(
                PackError(
                    "pack.yaml",
                    f"safety_rules.{i}.item",
                    f"{rule.instrument} has no item {rule.item!r}",
                )
            )
        elif target.item_type(target.items_by_key[rule.item]) != "choice":
            errors.append(
                PackError(
                    "pack.yaml", f"safety_rules.{i}.item", "a safety rule needs a choice item"
                )
            )

    for path, key in pack.named_keys():
        if key in broken:
            continue
        if key not in specs:
            errors.append(PackError("pack.yaml", path, f"unknown instrument {key!r}"))
        elif path.startswith("measures.") and specs[key].scoring is None:
            errors.append(PackError("pack.yaml", path, f"{key} has no scoring to follow"))

    translations = _read_translations(
        folder, pack, pages, {s.key: (s, by_key[s.key][1]) for s in instruments}, errors, limits
    )

    if errors:
        raise PackInvalid(errors)

    inst_sums = {s.key: instrument_checksum(s) for s in instruments}
    summed = {
        "pack": pack.model_dump(mode="json"),
        "pages": [p.body for p in pages],
        "instruments": inst_sums,
    }
    if translations:  # (a pack without any keeps the checksum it had)
        summed["translations"] = {lang: t.as_json() for lang, t in translations.items()}
    return PackBundle(pack, pages, instruments, _checksum(summed), inst_sums, translations)


def _read_translations(
    folder: Path,
    pack: PackSpec,
    pages: list[PageBundle],
    specs: dict[str, tuple[InstrumentSpec, str]],
    errors: list[PackError],
    limits: PackLimits | None,
) -> dict[str, LanguageText]:
    """Each translation pack.yaml names, read from its folder (`es/`) and checked against the
    English: text only, and only where the English has text (kap.content.translations). What
    failed to load in English is not checked again in translation."""
    most_values = limits.yaml_values if limits and limits.yaml_values else _CLI_YAML_VALUES
    english = pack.model_dump(mode="json")
    loaded = {p.slug: p for p in pages}
    out: dict[str, LanguageText] = {}
    for lang, meta in pack.translations.items():
        base = folder / lang
        where = f"translations.{lang}"
        if (limits is not None and not _inside(folder, lang)) or not base.is_dir():
            errors.append(PackError("pack.yaml", where, f"no folder {lang}/ beside pack.yaml"))
            continue
        text = LanguageText(lang, meta.review)
        out[lang] = text
        if (base / "pack.yaml").exists():
            data = _read_yaml(base / "pack.yaml", f"{lang}/pack.yaml", errors, most_values)
            if data is not None:
                text.pack = _overlay(lang, "pack.yaml", PACK_TEXT, data, english, errors)
        for ref in pack.pages:
            page, rel = loaded.get(ref.slug), ref.file
            if page is None:
                continue
            body = _read_page(folder, base, rel, f"{lang}/{rel}", errors, limits)
            if body is None:
                continue
            theirs, ours = PLACEHOLDER.findall(page.body), PLACEHOLDER.findall(body)
            if theirs != ours:
                errors.append(
                    PackError(
                        f"{lang}/{rel}",
                        "",
                        "a translated page places the same instruments as the English, in the"
                        f" same order: {_placed(theirs)} in {rel}, {_placed(ours)} here",
                    )
                )
                continue
            text.bodies[ref.slug] = body
        for key, (spec, rel) in specs.items():
            path = base / rel
            if (limits is not None and not _inside(folder, f"{lang}/{rel}")) or not path.exists():
                continue
            data = _read_yaml(path, f"{lang}/{rel}", errors, most_values)
            if data is None:
                continue
            only = PUBLISHED_ONLY_TEXT if spec.translation == PUBLISHED_ONLY else ()
            theirs = spec.model_dump(mode="json")
            found = _overlay(lang, rel, INSTRUMENT_TEXT, data, theirs, errors, only)
            if found:
                text.instruments[key] = found
        expected = {"pack.yaml", *(ref.file for ref in pack.pages), *pack.instruments}
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(base).as_posix()
            if path.is_file() and not path.name.startswith(".") and rel not in expected:
                errors.append(
                    PackError(
                        f"{lang}/{rel}",
                        "",
                        f"translates no file of the pack (a translation mirrors one: {lang}/"
                        "pack.yaml, a page or an instrument file, at the same place)",
                    )
                )
    return out


def _overlay(
    lang: str, rel: str, node, data: dict, english: dict, errors: list[PackError], only=()
) -> dict[str, str]:
    """The texts of the overlay `lang`/`rel` of the English file `rel` (`english`, its data);
    each problem with it goes into `errors`."""
    found, problems = read_overlay(node, data, english, rel, only=only)
    errors.extend(PackError(f"{lang}/{rel}", p.path, p.reason) for p in problems)
    return found


def _placed(keys: list[str]) -> str:
    return ", ".join(f"[[instrument {k}]]" for k in keys) or "no instrument"


def _read_page(
    folder: Path, base: Path, rel: str, shown: str, errors: list[PackError], limits
) -> str | None:
    """A translated page's Markdown, or None when there is none (or it cannot be read)."""
    path = base / rel
    if limits is not None and not _inside(folder, f"{base.name}/{rel}"):
        return None
    if not path.exists():
        return None
    try:
        body = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        errors.append(PackError(shown, "", "file is not UTF-8 text"))
        return None
    except OSError:
        errors.append(PackError(shown, "", "file cannot be read"))
        return None
    if not body.strip():
        errors.append(PackError(shown, "", "the page is empty (leave it out to show the English)"))
        return None
    return body
