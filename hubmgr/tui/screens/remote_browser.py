"""The remote pane: local registry repos, then a remote's branches, tags and commits; pull one."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Static

from ...errors import HubmgrError
from ...remotes import RemoteTarget, parse_target
from ..data import BrowserListing
from ..rows import short_sha


class RemoteBrowserScreen(ModalScreen[str | None]):
    """Dismisses with ``spec@revision`` to pull, or None."""

    BINDINGS = [Binding("escape", "cancel", "Close"), Binding("f5", "refresh", "Refresh")]

    def __init__(self, spec: str = "") -> None:
        super().__init__()
        self.spec = spec
        self.listing = BrowserListing()

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog browser"):
            yield Label("Remotes", classes="dialog-title")
            with Horizontal(classes="row"):
                yield Input(self.spec, placeholder="local:NAME, alice/model or a git URL; Enter lists it",
                            id="spec")
                yield Button("List", id="list")
            with Horizontal(id="browser-body"):
                with Vertical(id="registry-col"):
                    yield Label("Local registry")
                    yield DataTable(id="registry", cursor_type="row")
                with Vertical(id="refs-col"):
                    yield Label("Branches and tags")
                    yield DataTable(id="refs", cursor_type="row")
                with Vertical(id="commits-col"):
                    yield Label("Commits")
                    yield DataTable(id="commits", cursor_type="row")
            yield Static("", id="browser-status", classes="dim")
            with Horizontal(classes="buttons"):
                yield Button("Pull selected", id="pull", variant="primary")
                yield Button("Close", id="close")

    def on_mount(self) -> None:
        self.query_one("#registry", DataTable).add_column("repo", key="repo")
        refs = self.query_one("#refs", DataTable)
        for key in ("name", "kind", "sha"):
            refs.add_column(key, key=key)
        commits = self.query_one("#commits", DataTable)
        for key in ("sha", "date", "title"):
            commits.add_column(key, key=key)
        self.query_one("#spec", Input).focus()
        self.action_refresh()

    def action_refresh(self) -> None:
        self.spec = self.query_one("#spec", Input).value.strip()
        self.query_one("#browser-status", Static).update("listing...")
        self.app.list_remote(self.spec)

    def show_listing(self, listing: BrowserListing) -> None:
        """Called by the app when its worker has read the remote."""
        # The same remote listed again (a refresh, or a late worker): keep the cursor on the same ref/commit.
        keep = {t: self._cursor_key(t) for t in ("refs", "commits")} if listing.spec == self.listing.spec else {}
        self.listing = listing
        registry = self.query_one("#registry", DataTable)
        registry.clear()
        for name in listing.registry_names:
            registry.add_row(f"local:{name}", key=name)
        refs = self.query_one("#refs", DataTable)
        refs.clear()
        for ref in listing.refs:
            refs.add_row(ref.name, ref.kind, short_sha(ref.commit_sha), key=f"{ref.kind}:{ref.name}")
        commits = self.query_one("#commits", DataTable)
        commits.clear()
        for commit in listing.commits:
            commits.add_row(short_sha(commit.sha), (commit.date or "")[:16], commit.title, key=commit.sha)
        for table_id, key in keep.items():
            table = self.query_one(f"#{table_id}", DataTable)
            if key is not None and key in table.rows:
                table.move_cursor(row=table.get_row_index(key))
        status = listing.error or (f"{listing.spec}: {len(listing.refs)} refs, {len(listing.commits)} commits"
                                   if listing.spec else f"{len(listing.registry_names)} repos in the local registry")
        if listing.registry_error:
            status += f"\nlocal registry: {listing.registry_error}"
        self.query_one("#browser-status", Static).update(status)

    def _cursor_key(self, table_id: str):  # noqa: ANN202 - a textual RowKey or None
        table = self.query_one(f"#{table_id}", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_refresh()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "registry":
            self.query_one("#spec", Input).value = f"local:{event.row_key.value}"
            self.action_refresh()
        else:
            self._pull_from(event.data_table)

    def selected_revision(self) -> str | None:
        focused = self.focused
        order = [focused] if isinstance(focused, DataTable) else []
        order += [self.query_one("#refs", DataTable), self.query_one("#commits", DataTable)]
        for table in order:
            if table.id == "refs" and self.listing.refs and 0 <= table.cursor_row < len(self.listing.refs):
                return self.listing.refs[table.cursor_row].name
            if table.id == "commits" and self.listing.commits and 0 <= table.cursor_row < len(self.listing.commits):
                return self.listing.commits[table.cursor_row].sha
        return None

    def _pull_from(self, table: DataTable | None = None) -> None:
        if not self.listing.spec:
            self.query_one("#browser-status", Static).update("list a remote first")
            return
        if table is not None:
            self.set_focus(table)
        revision = self.selected_revision()
        try:
            target = parse_target(self.listing.spec)
        except HubmgrError as exc:
            self.query_one("#browser-status", Static).update(exc.message)
            return
        base = RemoteTarget(target.kind, target.location).display
        revision = revision or target.revision
        self.dismiss(f"{base}@{revision}" if revision else base)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "list":
            self.action_refresh()
        elif event.button.id == "pull":
            self._pull_from()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
