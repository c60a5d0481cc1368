"""The text of a model card: YAML front matter + Markdown body, hubmgr's marked sections, and the merge
that keeps what the user wrote (sections edited by hand, metadata keys hubmgr does not own)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from .hf.card import CardError
from .models import CardSection

# Metadata keys hubmgr writes; every other key of an existing card is the user's and kept.
OWNED_KEYS = ("license", "language", "library_name", "pipeline_tag", "tags", "base_model", "datasets", "model-index")

_BEGIN = re.compile(r"^<!-- hubmgr:begin (?P<name>[\w.-]+)(?: sha=(?P<sha>[0-9a-f]+))? -->[ \t]*$", re.M)
_END = "<!-- hubmgr:end {name} -->"
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(?P<yaml>.*?\n)?---[ \t]*(?:\n|\Z)", re.S)


def split_card(text: str) -> tuple[dict[str, Any], str]:
    """(metadata, body) of a card; no front matter gives ({}, text)."""
    import yaml

    m = _FRONT_MATTER.match(text)
    if not m:
        return {}, text
    try:
        data = yaml.safe_load(m.group("yaml") or "") or {}
    except yaml.YAMLError as exc:
        raise CardError(f"the existing card's YAML metadata does not parse: {str(exc).splitlines()[0]}",
                        "fix the block between the --- lines of README.md") from exc
    if not isinstance(data, dict):
        raise CardError("the existing card's metadata is not a YAML mapping", "fix the block between the --- lines")
    return data, text[m.end():]


def join_card(metadata: dict[str, Any], body: str) -> str:
    import yaml

    head = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True, default_flow_style=False) if metadata else ""
    return f"---\n{head}---\n\n{body.lstrip()}" if head else body


@dataclass
class _Segment:
    text: str  # for a section: its content between the markers
    name: str | None = None  # None: free text
    sha: str | None = None


def section_sha(content: str) -> str:
    return hashlib.sha256(content.strip().encode("utf-8")).hexdigest()[:12]


def parse_sections(body: str) -> list[_Segment]:
    segments: list[_Segment] = []
    pos = 0
    while True:
        m = _BEGIN.search(body, pos)
        if not m:
            break
        end_marker = _END.format(name=m.group("name"))
        end = body.find(end_marker, m.end())
        if end < 0:  # an unterminated marker is just text
            break
        segments.append(_Segment(body[pos:m.start()]))
        segments.append(_Segment(body[m.end():end].strip("\n"), m.group("name"), m.group("sha")))
        pos = end + len(end_marker)
    segments.append(_Segment(body[pos:]))
    return [s for s in segments if s.name is not None or s.text]


def format_sections(segments: list[_Segment]) -> str:
    parts = []
    for s in segments:
        if s.name is None:
            parts.append(s.text)
        else:
            sha = s.sha or section_sha(s.text)
            parts.append(f"<!-- hubmgr:begin {s.name} sha={sha} -->\n{s.text}\n{_END.format(name=s.name)}")
    return re.sub(r"\n{3,}", "\n\n", "".join(parts)).strip() + "\n"


def merge_body(old_body: str | None, new_body: str) -> tuple[str, list[CardSection]]:
    """Refresh our unedited sections in ``old_body``, keep everything the user wrote, add new sections."""
    fresh = [s for s in parse_sections(new_body)]
    fresh_sections = {s.name: s for s in fresh if s.name}
    if old_body is None:
        return format_sections(fresh), [CardSection(s.name, "added") for s in fresh if s.name]
    old = parse_sections(old_body)
    actions: list[CardSection] = []
    present: set[str] = set()
    for seg in old:
        if seg.name is None or seg.name not in fresh_sections:
            continue
        present.add(seg.name)
        edited = seg.sha is None or section_sha(seg.text) != seg.sha
        if edited:
            actions.append(CardSection(seg.name, "kept_user_edit"))
            continue
        seg.text, seg.sha = fresh_sections[seg.name].text, None
        actions.append(CardSection(seg.name, "refreshed"))
    order = [s.name for s in fresh if s.name]
    for index, name in enumerate(order):
        if name in present:
            continue
        # Insert after the closest preceding section of ours, else after the last one we have, else at the end.
        at = None
        for previous in reversed(order[:index]):
            at = next((i for i, s in enumerate(old) if s.name == previous), None)
            if at is not None:
                break
        new_seg = _Segment("\n\n", None), _Segment(fresh_sections[name].text, name)
        if at is None:
            old.extend([_Segment("\n\n"), new_seg[1]])
        else:
            old[at + 1:at + 1] = [new_seg[0], new_seg[1]]
        present.add(name)
        actions.append(CardSection(name, "added"))
    return format_sections(old), actions


def merge_metadata(old: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    """Our keys refreshed (tags united), the user's keys kept; a value we do not know keeps the user's."""
    merged = dict(old)
    for key in OWNED_KEYS:
        value = ours.get(key)
        if key == "tags":
            existing = old.get("tags") or []
            existing = [existing] if isinstance(existing, str) else list(existing)
            merged["tags"] = existing + [t for t in value or [] if t not in existing]
        elif value not in (None, [], ""):
            merged[key] = value
    # Keep a stable, readable order: our keys first as the Hub shows them, then the user's.
    ordered = {k: merged[k] for k in OWNED_KEYS if k in merged and k != "model-index"}
    ordered.update({k: v for k, v in merged.items() if k not in OWNED_KEYS})
    if "model-index" in merged:
        ordered["model-index"] = merged["model-index"]
    return ordered
