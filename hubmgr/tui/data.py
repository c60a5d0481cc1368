"""What the screens show, read through the core. Runs inside the app's workers (never on the UI thread).

Every function here calls a core function or a catalog read and returns a frozen value for the
widgets; errors come back as text the screens show, never silently dropped.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from ..checkpoints import info_from_dict, list_checkpoints
from ..errors import HubmgrError
from ..models import RegistryListing, RemoteListing
from .rows import CatalogSnapshot, CheckpointDetails, CheckpointRow, build_rows, column_widths

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..config import Settings
    from ..remotes import Remote

RemoteFactory = Callable[[str], "Remote"]


def error_text(exc: BaseException) -> str:
    """One line for the user: a HubmgrError's message and hint; anything else is a bug, said so."""
    if isinstance(exc, HubmgrError):
        return exc.message + (f" (hint: {exc.hint})" if exc.hint else "")
    return f"{type(exc).__name__}: {exc} (a bug in hubmgr; please report it)"


@contextmanager
def _cycle_collection_once() -> Iterator[None]:
    """Building 50,000 rows allocates millions of acyclic objects. Left on, cycle collection walks every
    live object (the previous snapshot's too) at each allocation burst, so loading grows faster than
    the rows; merely switched off and on, it walks all the new rows on the UI thread's next allocations.
    So: off while building, one full collection here in the worker, then on (measured at 50,000 rows:
    2.3-2.6 s of CPU before, 1.7-1.9 s after, none of it left to the UI thread)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.collect()
            gc.enable()


def read_snapshot(catalog: "Catalog") -> CatalogSnapshot:
    """The table: every checkpoint with the core's sync state, and the Best column `hubmgr ls` shows."""
    with _cycle_collection_once():
        listing = list_checkpoints(catalog=catalog)  # with the score column `ls` shows: one suite configuration
        rows = build_rows(listing.checkpoints, listing.scores if listing.score_label else None)
        # The column widths are measured here, in the worker, so the UI thread never formats every row.
        return CatalogSnapshot(rows=rows, score_label=listing.score_label or "", warnings=listing.warnings,
                               column_widths=column_widths(rows))


def _strip_front_matter(text: str) -> str:
    """Show the YAML metadata of a card as a code block instead of a stray rule."""
    if text.startswith("---\n"):
        end = text.find("\n---", 4)
        if end != -1:
            meta, body = text[4:end], text[end + 4:].lstrip("\n")
            return f"```yaml\n{meta}\n```\n\n{body}"
    return text


@dataclass(frozen=True)
class CardView:
    markdown: str | None = None
    source: str = ""
    error: str | None = None  # a template or metadata error of the preview


def read_card(row: CheckpointRow, catalog: "Catalog", *, preview: bool = False) -> CardView:
    """README.md of a model dir; without one (and ``preview``), what `card` would write, rendered in memory."""
    base = Path(row.path)
    if not base.is_dir():
        return CardView()
    readme = base / "README.md"
    if readme.is_file():
        return CardView(_strip_front_matter(readme.read_text(encoding="utf-8", errors="replace")), "README.md")
    if not preview:
        return CardView()
    from ..cards import render_card

    try:
        text = render_card(base, catalog=catalog)
    except Exception as exc:  # noqa: BLE001 - shown in the card tab; the rest of the pane still works
        return CardView(error=error_text(exc))
    return CardView(_strip_front_matter(text), "preview of what `card` would write (press w to write it)")


def read_details(catalog: "Catalog", row: CheckpointRow, *, card_preview: bool = False) -> CheckpointDetails:
    """Tensors, evals, conversions, pushes (also of its converted copies), pulls of those remotes, the card."""
    conversions = catalog.list_conversions(row.path)
    outputs = {c.output_path for c in conversions if c.source_path == row.path}
    pushes = catalog.list_pushes(row.path) + [p for out in sorted(outputs) for p in catalog.list_pushes(out)]
    pushed_to = {(p.remote, p.repo) for p in pushes}
    pulls = [p for p in catalog.list_pulls() if (p.remote, p.repo) in pushed_to]
    card = read_card(row, catalog, preview=card_preview)
    stored = catalog.get_checkpoint_dict(row.path)
    info = info_from_dict(stored) if stored is not None else row.info
    from ..lineage import lineage_of

    return CheckpointDetails(info=info, evals=catalog.list_evals(row.path), conversions=conversions, pushes=pushes,
                             pulls=pulls, card_markdown=card.markdown, card_source=card.source,
                             card_error=card.error, lineage=lineage_of(row.path, catalog=catalog))


@dataclass(frozen=True)
class BrowserListing:
    """What the remote browser shows: the local registry, and one remote's refs and commits when asked."""

    spec: str = ""
    registry: RegistryListing | None = None
    remote: RemoteListing | None = None
    registry_error: str | None = None
    error: str | None = None

    @property
    def registry_names(self) -> list[str]:
        repos = self.registry.repos if self.registry is not None else ()
        return [r.name.removeprefix("local:") for r in repos]

    @property
    def refs(self) -> tuple:
        return self.remote.refs if self.remote is not None else ()

    @property
    def commits(self) -> tuple:
        return self.remote.commits if self.remote is not None else ()


def read_remote_listing(spec: str, remote_factory: RemoteFactory, settings: "Settings | None") -> BrowserListing:
    """The registry (always) and ``spec``'s refs and commits (when given), through ``sync``'s use cases."""
    from ..sync import list_registry, list_remote

    registry, registry_error = None, None
    try:
        registry = list_registry(settings)
    except Exception as exc:  # noqa: BLE001 - the browser shows why the registry column is empty
        registry_error = error_text(exc)
    if not spec:
        return BrowserListing(registry=registry, registry_error=registry_error)
    try:
        listing = list_remote(spec, remote=remote_factory(spec))
    except Exception as exc:  # noqa: BLE001 - a remote failure (or bug) must not crash the browser
        return BrowserListing(spec, registry, registry_error=registry_error, error=error_text(exc))
    return BrowserListing(spec, registry, listing, registry_error=registry_error)
