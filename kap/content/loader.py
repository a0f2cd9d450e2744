"""Reading a content pack from disk: parse, validate, and report every problem with its place.

`read_pack(path)` never touches the database; it returns a `PackBundle` or raises `PackInvalid`
holding every error found (file, field path, reason), so an author fixes them in one pass.
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


class _StrictLoader(yaml.SafeLoader):
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


def _read_yaml(path: Path, rel: str, errors: list[PackError]) -> object | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        errors.append(PackError(rel, "", "file does not exist"))
        return None
    except UnicodeDecodeError:
        errors.append(PackError(rel, "", "file is not UTF-8 text"))
        return None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        errors.append(PackError(rel, line, f"invalid YAML: {e.problem or e.context}"))
        return None
    except yaml.YAMLError as e:
        errors.append(PackError(rel, "", f"invalid YAML: {e}"))
        return None
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


def read_pack(folder: Path | str) -> PackBundle:
    folder = Path(folder)
    errors: list[PackError] = []
    if not folder.is_dir():
        raise PackInvalid([PackError(str(folder), "", "not a folder")])

    raw = _read_yaml(folder / "pack.yaml", "pack.yaml", errors)
    if raw is None:
        raise PackInvalid(errors)
    try:
        pack = PackSpec.model_validate(raw)
    except ValidationError as e:
        raise PackInvalid(_pydantic_errors("pack.yaml", e, raw)) from None

    instruments: list[InstrumentSpec] = []
    # Keys of instrument files that failed to parse: already reported, so references to them
    # from pages and safety rules are not reported a second time.
    broken: set[str] = set()
    by_key: dict[tuple[str, int], str] = {}
    for i, rel in enumerate(pack.instruments):
        # Files are named after their instrument; a file that fails is remembered by that name too.
        broken.add(Path(rel).stem)
        data = _read_yaml(folder / rel, rel, errors)
        if data is None:
            if not (folder / rel).exists():
                errors[-1] = PackError("pack.yaml", f"instruments.{i}", f"{rel} does not exist")
            continue
        broken.add(str(data.get("key")))
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
        ident = (spec.key, spec.version)
        if ident in by_key:
            errors.append(
                PackError(
                    rel,
                    "key",
                    f"duplicate instrument key {spec.key!r} version {spec.version}"
                    f" (also in {by_key[ident]})",
                )
            )
            continue
        by_key[ident] = rel
        instruments.append(spec)
        broken -= {spec.key, Path(rel).stem}

    keys = {s.key for s in instruments}
    pages: list[PageBundle] = []
    for order, ref in enumerate(pack.pages):
        path = folder / ref.file
        if not path.is_file():
            errors.append(
                PackError(
                    "pack.yaml", f"pages.{order}.file", f"Markdown page {ref.file} does not exist"
                )
            )
            continue
        body = path.read_text(encoding="utf-8")
        for j, key in enumerate(ref.instruments):
            if key not in keys and key not in broken:
                errors.append(
                    PackError(
                        "pack.yaml", f"pages.{order}.instruments.{j}", f"unknown instrument {key!r}"
                    )
                )
        for key in PLACEHOLDER.findall(body):
            if key not in ref.instruments:
                errors.append(
                    PackError(
                        ref.file, f"[[instrument {key}]]", "instrument not listed for this page"
                    )
                )
        pages.append(PageBundle(ref.slug, ref.title, order, body, list(ref.instruments)))

    slugs = {p.slug for p in pack.pages}
    for spec in instruments:
        if spec.page and spec.page not in slugs:
            errors.append(
                PackError(by_key[(spec.key, spec.version)], "page", f"unknown page {spec.page!r}")
            )

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

    if errors:
        raise PackInvalid(errors)

    inst_sums = {s.key: _checksum(s.model_dump(mode="json")) for s in instruments}
    checksum = _checksum(
        {
            "pack": pack.model_dump(mode="json"),
            "pages": [p.body for p in pages],
            "instruments": inst_sums,
        }
    )
    return PackBundle(pack, pages, instruments, checksum, inst_sums)
