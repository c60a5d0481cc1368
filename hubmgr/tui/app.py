"""The hubmgr TUI application: owns the state and starts every worker.

Workers run core functions in threads (``@work(thread=True, exit_on_error=False)``) and post
messages (``messages.py``); handlers here update state and widgets. What the screens read comes
from ``data.py``; every action calls one core function with ``progress=`` and ``cancel=``.
"""

from __future__ import annotations

import itertools
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from rich.text import Text
from textual import work
from textual.app import App, SystemCommand
from textual.screen import Screen

from .. import cards, checkpoints, compare, convert, evaluate
from ..errors import CancelledError, HubmgrError, NotFoundError
from ..models import (SYNC_CONVERTED, SYNC_MODIFIED, SYNC_PUSHED, CardResult, CompareResult, ConvertResult,
                      EvalResult, ScanResult)
from ..progress import ProgressEvent, ProgressSink, Throttled, check_cancel
from ..units import printable
from ..remotes import open_remote
from . import render
from .actions import ACTIONS, ACTIONS_BY_ID, SCOPE_SELECTED, bindings
from .data import BrowserListing, RemoteFactory, error_text, read_details, read_remote_listing, read_snapshot
from .messages import (CatalogLoaded, DetailsLoaded, OperationFailed, OperationFinished, ProgressUpdated,
                       RemoteListed)
from .rows import SORTABLE, CatalogSnapshot, CheckpointDetails, CheckpointRow, filter_rows, sort_rows
from .screens.dialogs import ErrorScreen, ResultScreen
from .screens.help import HelpScreen
from .screens.main import MainScreen
from .operations import Operation
from .screens.remote_browser import RemoteBrowserScreen
from .sync_flows import SyncFlows

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..config import Settings

DETAIL_DELAY = 0.06  # seconds the cursor rests before the detail pane reloads
BUG_HINT = "this is a bug in hubmgr; please report it"


def _home_relative(path: Path) -> str:
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)


class HubmgrApp(SyncFlows, App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "hubmgr"
    BINDINGS = bindings()

    def __init__(self, workspace: Path, *, catalog: "Catalog", settings: "Settings | None" = None,
                 remote_factory: RemoteFactory | None = None, rescan_on_start: bool = True,
                 workspace_label: str | None = None, show_eta: bool = True,
                 scan_paths: Iterable[Path] | None = None,
                 progress_tap: Callable[[ProgressEvent], None] | None = None,
                 action_options: dict[str, dict[str, Any]] | None = None) -> None:
        super().__init__()
        # Extra keyword options per action for the core function, e.g. {"eval": {"n": 50}}.
        self.action_options = {k: dict(v) for k, v in (action_options or {}).items()}
        self.workspace = Path(workspace).resolve()
        self.catalog = catalog
        self.settings = settings
        # Tests inject a factory (e.g. a Hub remote with a token); by default the configured remotes.
        self.remote_factory: RemoteFactory = remote_factory or (lambda spec: open_remote(spec, settings))
        self.rescan_on_start = rescan_on_start
        self.workspace_label = workspace_label or _home_relative(self.workspace)
        self.show_eta = show_eta
        self.scan_paths = [Path(p) for p in (scan_paths or [self.workspace])]
        # Called in the worker thread with every raw progress event (logging, benchmarks, tests).
        self.progress_tap = progress_tap
        # state
        self.snapshot = CatalogSnapshot(rows=[])
        self.catalog_loaded = False
        self.filter_text = ""
        self.sort_column = "name"
        self.sort_reverse = False
        self.marked: set[str] = set()
        self.operations: dict[int, Operation] = {}
        self._op_ids = itertools.count(1)
        self._ops_lock = threading.Lock()
        self.notices: list[tuple[str, str]] = []  # (severity, text) of every notification, for tests
        self.results: dict[str, Any] = {}  # last result per operation name
        self.errors: list[tuple[str, str, str | None]] = []  # (operation, message, hint)
        self.last_remote_listing: BrowserListing | None = None
        self.details: dict[str, CheckpointDetails] = {}
        self.deploy_dirs: list[str] = []  # deploy dirs pulled into this session (rollback suggests them)
        self._detail_timer: Any = None

    # -- startup ---------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.push_screen(MainScreen(workspace=self.workspace, show_eta=self.show_eta))
        self.load_catalog(then_rescan=self.rescan_on_start)

    def _main_screen(self) -> MainScreen | None:
        for screen in self.screen_stack:
            # On exit the app removes the screen's widgets before its timers and queued messages stop:
            # a screen without its table is no longer one to update.
            if isinstance(screen, MainScreen) and screen.ready and screen.is_attached and screen.has_table:
                return screen
        return None

    # -- notifications ---------------------------------------------------------------------
    def tell(self, text: str, *, severity: str = "information", timeout: float | None = None) -> None:
        self.notices.append((severity, text))
        self.notify(printable(text), severity=severity, timeout=timeout or (8 if severity == "error" else 4),
                    markup=False)  # names in notices come from files and remotes: no markup, no raw ESC

    # -- workers: every thread this app starts is below -------------------------------------
    @work(thread=True, exit_on_error=False, group="catalog", exclusive=True)
    def load_catalog(self, then_rescan: bool = False) -> None:
        try:
            snapshot = read_snapshot(self.catalog)
        except HubmgrError as exc:
            self.post_message(OperationFailed(0, "catalog", exc.message, exc.hint))
            return
        except Exception as exc:  # noqa: BLE001 - never take the UI down
            self.post_message(OperationFailed(0, "catalog", f"{type(exc).__name__}: {exc}", BUG_HINT, bug=True))
            return
        self.post_message(CatalogLoaded(snapshot))
        if then_rescan:
            self.call_from_thread(self.start_rescan, background=True)

    @work(thread=True, exit_on_error=False, group="details", exclusive=True)
    def load_details(self, row: CheckpointRow, card_preview: bool = False) -> None:
        try:
            details = read_details(self.catalog, row, card_preview=card_preview)
        except Exception as exc:  # noqa: BLE001 - the pane says what failed; the app goes on
            details = CheckpointDetails(info=row.info, error=error_text(exc))
        self.post_message(DetailsLoaded(row.path, details))

    @work(thread=True, exit_on_error=False, group="remote", exclusive=True)
    def list_remote(self, spec: str) -> None:
        self.post_message(RemoteListed(read_remote_listing(spec, self.remote_factory, self.settings)))

    @work(thread=True, exit_on_error=False, group="ops")
    def run_operation(self, op: Operation) -> None:
        lock = threading.Lock()

        tap = self.progress_tap

        def report(event: ProgressEvent) -> None:
            with lock:
                op.tasks.add(event.task)
            self.post_message(ProgressUpdated(event))

        throttled: ProgressSink = Throttled(report, min_interval=0.05)

        def sink(event: ProgressEvent) -> None:
            if tap is not None:
                tap(event)
            throttled(event)

        try:
            check_cancel(op.cancel)
            result = op.call(progress=sink, cancel=op.cancel)
        except CancelledError as exc:
            self.post_message(OperationFailed(op.id, op.name, exc.message, exc.hint, cancelled=True))
        except HubmgrError as exc:
            self.post_message(OperationFailed(op.id, op.name, exc.message, exc.hint))
        except Exception as exc:  # a bug in a core function must not take the UI down
            self.post_message(OperationFailed(op.id, op.name, f"{type(exc).__name__}: {exc}", BUG_HINT, bug=True))
        else:
            try:
                summary, summary_error = op.summarize(result), None
            except Exception as exc:  # noqa: BLE001 - the work is done; say the summary broke, never "done"
                summary, summary_error = "", f"{type(exc).__name__}: {exc}"
            self.post_message(OperationFinished(op.id, op.name, result, summary, summary_error))

    # -- starting operations ---------------------------------------------------------------
    def start(self, op: Operation) -> Operation:
        with self._ops_lock:
            op.id = next(self._op_ids)
            self.operations[op.id] = op
        self.refresh_topbar()
        self.run_operation(op)
        return op

    def running(self, name: str | None = None) -> list[Operation]:
        return [op for op in self.operations.values() if name is None or op.name == name]

    def _end(self, op_id: int) -> Operation | None:
        with self._ops_lock:
            op = self.operations.pop(op_id, None)
        main = self._main_screen()
        if op is not None and main is not None:
            for task in list(op.tasks):
                main.progress.clear_tasks(task)
        self.refresh_topbar()
        return op

    # -- message handlers -------------------------------------------------------------------
    def on_catalog_loaded(self, message: CatalogLoaded) -> None:
        self.snapshot = message.snapshot
        self.catalog_loaded = True
        known = {r.path for r in self.snapshot.rows}
        self.marked &= known
        self.refresh_table()

    def on_details_loaded(self, message: DetailsLoaded) -> None:
        self.details[message.path] = message.details
        main = self._main_screen()
        if main is not None:
            main.detail.show_details(message.path, message.details)

    def on_remote_listed(self, message: RemoteListed) -> None:
        self.last_remote_listing = message.listing
        if isinstance(self.screen, RemoteBrowserScreen):
            self.screen.show_listing(message.listing)

    def on_progress_updated(self, message: ProgressUpdated) -> None:
        main = self._main_screen()
        if main is not None:
            main.progress.apply(message.event)

    def on_operation_finished(self, message: OperationFinished) -> None:
        op = self._end(message.op_id)
        self.results[message.name] = message.result
        if message.summary_error:
            self.errors.append((message.name, message.summary_error, BUG_HINT))
            self.tell(f"{message.name} finished, but its summary failed: {message.summary_error}", severity="warning")
        elif message.summary:
            self.tell(f"{message.name}: {message.summary}")
        if op is not None:
            if op.after is not None:
                try:
                    op.after(message.result)
                except Exception as exc:  # noqa: BLE001 - showing a result must not crash the app
                    self.errors.append((message.name, f"{type(exc).__name__}: {exc}", None))
                    self.push_screen(ErrorScreen(f"{message.name}: cannot show the result",
                                                 f"{type(exc).__name__}: {exc}", BUG_HINT))
            if op.reload_catalog:
                self.load_catalog()

    def on_operation_failed(self, message: OperationFailed) -> None:
        op = self._end(message.op_id)
        if message.cancelled:
            self.tell(f"{message.name}: cancelled", severity="warning")
            if op is not None and op.reload_catalog:
                self.load_catalog()
            return
        self.errors.append((message.name, message.message, message.hint))
        text = f"{message.name} failed: {message.message}"
        self.tell(text + (f" (hint: {message.hint})" if message.hint else ""), severity="error")
        if op is None or op.modal_errors:
            self.push_screen(ErrorScreen(f"{message.name} failed", message.message, message.hint))

    # -- table state ------------------------------------------------------------------------
    def visible_rows(self) -> list[CheckpointRow]:
        return sort_rows(filter_rows(self.snapshot.rows, self.filter_text), self.sort_column, self.sort_reverse)

    def refresh_table(self) -> None:
        main = self._main_screen()
        if main is None:
            return
        table = main.table
        current = table.selected.path if table.selected else None
        table.show(self.visible_rows(), self.marked, keep_path=current, widths=self.snapshot.column_widths)
        self.refresh_topbar()
        self.selection_changed()

    def refresh_topbar(self) -> None:
        main = self._main_screen()
        if main is None:
            return
        counts = self.snapshot.counts()
        shown = len(main.table.rows_shown) if main.is_mounted else 0
        text = Text.assemble(("hubmgr ", "bold"), (self.workspace_label, "bold cyan"), "  ")
        if not self.catalog_loaded:
            text.append("reading catalog...", style="dim")
        else:
            text.append(f"{counts['total']} checkpoints")
            if self.filter_text:
                text.append(f" ({shown} shown)", style="yellow")
            for key, style in (("unsafe", "red"), (SYNC_CONVERTED, "cyan"), (SYNC_PUSHED, "green"),
                               (SYNC_MODIFIED, "yellow")):
                label = "need care" if key == "unsafe" else key
                text.append(" · ")
                text.append(f"{counts[key]} {label}", style=style if counts[key] else "dim")
            if self.marked:
                text.append(f" · {len(self.marked)} marked", style="magenta")
            if self.snapshot.score_label:
                text.append(f" · best: {self.snapshot.score_label}", style="dim")
        arrow = "v" if self.sort_reverse else "^"
        text.append(f"   sort: {self.sort_column} {arrow}", style="dim")
        if self.filter_text:
            text.append(f"  filter: {self.filter_text!r}", style="yellow")
        ops = sorted({op.name for op in self.operations.values()})
        if ops:
            text.append("   running: " + ", ".join(ops) + " (esc cancels)", style="bold yellow")
        main.set_topbar(text)

    def set_filter(self, text: str) -> None:
        self.filter_text = text.strip()
        self.refresh_table()

    def sort_by(self, column: str) -> None:
        if column not in SORTABLE:
            return
        if column == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column, self.sort_reverse = column, False
        self.refresh_table()

    def selected_row(self) -> CheckpointRow | None:
        main = self._main_screen()
        return main.table.selected if main is not None else None

    def selection_changed(self) -> None:
        """The cursor moved. The detail pane follows after a short pause, so key repeat stays smooth."""
        if self._detail_timer is not None:
            self._detail_timer.stop()
        self._detail_timer = self.set_timer(DETAIL_DELAY, self.show_selected_details)

    def show_selected_details(self) -> None:
        self._detail_timer = None
        main = self._main_screen()
        if main is None:
            return
        row = main.table.selected
        if main.detail.row is not None and row is not None and main.detail.row.path == row.path \
                and main.detail.row.info is row.info:
            return
        main.detail.show_row(row)
        if row is not None:
            cached = self.details.get(row.path)
            if cached is not None:
                main.detail.show_details(row.path, cached)
            self.load_details(row, card_preview=main.detail.active == "card")

    def card_tab_opened(self) -> None:
        """The Model card tab became visible: render a preview if there is no README.md yet."""
        main = self._main_screen()
        if main is None or main.detail.row is None:
            return
        details = main.detail.details
        if details is not None and details.card_markdown is None and Path(main.detail.row.path).is_dir():
            self.load_details(main.detail.row, card_preview=True)

    # -- actions (one per entry of actions.ACTIONS) -----------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        spec = ACTIONS_BY_ID.get(action)
        if spec is None:
            return True
        if not isinstance(self.screen, MainScreen) and action not in ("quit",):
            return False
        if spec.scope == SCOPE_SELECTED and self.selected_row() is None:
            return None  # shown dimmed
        return True

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for spec in ACTIONS:
            if spec.id in ("quit", "help", "filter"):
                continue
            yield SystemCommand(spec.title, spec.help, lambda a=spec.id: self.run_action(a))

    def _need_selection(self) -> CheckpointRow | None:
        row = self.selected_row()
        if row is None:
            self.tell("select a checkpoint first", severity="warning")
        return row

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_filter(self) -> None:
        main = self._main_screen()
        if main is not None:
            main.open_filter()

    def action_sort(self) -> None:
        index = SORTABLE.index(self.sort_column) if self.sort_column in SORTABLE else -1
        self.sort_column, self.sort_reverse = SORTABLE[(index + 1) % len(SORTABLE)], False
        self.refresh_table()

    def action_sort_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self.refresh_table()

    def action_mark(self) -> None:
        row = self._need_selection()
        if row is None:
            return
        self.marked.symmetric_difference_update({row.path})
        main = self._main_screen()
        if main is not None:
            main.table.set_marked(row, row.path in self.marked)
        self.refresh_topbar()

    def action_cancel(self) -> None:
        ops = self.running()
        if not ops:
            self.tell("nothing is running", severity="information")
            return
        for op in ops:
            op.cancel.cancel()
        self.tell("cancelling " + ", ".join(sorted({op.name for op in ops})) + "...", severity="warning")

    def action_rescan(self) -> None:
        self.start_rescan(background=False)

    def start_rescan(self, *, background: bool) -> None:
        if self.running("rescan"):
            return
        paths, catalog = list(self.scan_paths), self.catalog

        def call(progress, cancel) -> ScanResult:
            return checkpoints.scan(paths, catalog=catalog, progress=progress, cancel=cancel)

        def summarize(result: ScanResult) -> str:
            found, warnings = len(result.checkpoints), len(result.warnings)
            return f"{found} checkpoints found" + (f", {warnings} warnings" if warnings else "")

        self.start(Operation("rescan", call, summarize, modal_errors=not background))

    def action_convert(self) -> None:
        row = self._need_selection()
        if row is None:
            return
        path, catalog, options = row.path, self.catalog, self.action_options.get("convert", {})

        def call(progress, cancel) -> ConvertResult:
            return convert.convert_checkpoint(path, catalog=catalog, progress=progress, cancel=cancel, **options)

        def summarize(result: ConvertResult) -> str:
            return f"{row.name} -> {result.output}"

        self.start(Operation("convert", call, summarize, after=lambda result: self._rescan_paths(result)))

    def _rescan_paths(self, result: ConvertResult) -> None:
        """After convert/pull a new checkpoint exists on disk: rescan so it appears."""
        if not self.running("rescan"):
            self.start_rescan(background=True)

    def action_eval(self) -> None:
        row = self._need_selection()
        if row is None:
            return
        path, catalog, options = row.path, self.catalog, self.action_options.get("eval", {})

        def call(progress, cancel) -> EvalResult:
            return evaluate.evaluate_checkpoint(path, catalog=catalog, progress=progress, cancel=cancel, **options)

        def summarize(result: EvalResult) -> str:
            text = ", ".join(f"{k} {v:.4g}" for k, v in result.metrics.items())
            return f"{row.name}: {text or 'evaluated'}" + (f" on {result.n}" if result.n else "")

        self.start(Operation("eval", call, summarize, after=lambda _: self._forget_details(path)))

    def action_card(self) -> None:
        row = self._need_selection()
        if row is None:
            return
        path, catalog = row.path, self.catalog

        def call(progress, cancel) -> CardResult:
            return cards.write_card(path, catalog=catalog, progress=progress, cancel=cancel)

        def summarize(result: CardResult) -> str:
            verb = "wrote" if result.created else "updated"
            return f"{verb} {Path(result.path).name} of {row.name} ({result.eval_results} eval results)"

        self.start(Operation("card", call, summarize, after=lambda _: self._forget_details(path)))

    def _forget_details(self, path: str) -> None:
        self.details.pop(path, None)
        main = self._main_screen()
        if main is not None and main.detail.row is not None and main.detail.row.path == path:
            self.load_details(main.detail.row)

    def action_compare(self) -> None:
        paths = [r.path for r in self.snapshot.rows if r.path in self.marked]
        if len(paths) < 2:
            self.tell("mark two or more checkpoints with space, then compare", severity="warning")
            return
        catalog = self.catalog

        def call(progress, cancel) -> CompareResult:
            return compare.compare_checkpoints(paths, catalog=catalog, progress=progress, cancel=cancel)

        self.start(Operation("compare", call, lambda r: f"{len(paths)} checkpoints compared",
                             after=self._show_compare, reload_catalog=False))

    def _show_compare(self, result: CompareResult) -> None:
        self.push_screen(ResultScreen(f"compare: {len(result.paths)} checkpoints", render.compare_table(result)))


def create_app(workspace: str | os.PathLike[str] | None = None, *,
               catalog: "Catalog | str | os.PathLike[str] | None" = None, settings: "Settings | None" = None,
               remote_factory: RemoteFactory | None = None, rescan_on_start: bool = True,
               workspace_label: str | None = None, show_eta: bool = True,
               progress_tap: Callable[[ProgressEvent], None] | None = None,
               action_options: dict[str, dict[str, Any]] | None = None) -> HubmgrApp:
    """Build the TUI from its services. Tests pass a temp catalog, settings and a local remote."""
    from .. import paths
    from ..catalog import Catalog

    ws = Path(workspace or Path.cwd()).expanduser().resolve()
    if not ws.is_dir():
        raise NotFoundError(f"workspace {ws} is not a directory", "give an existing directory")
    if catalog is None:
        catalog = Catalog(paths.catalog_path(ws))
    elif not isinstance(catalog, Catalog):
        catalog = Catalog(catalog)
    return HubmgrApp(ws, catalog=catalog, settings=settings, remote_factory=remote_factory,
                     rescan_on_start=rescan_on_start, workspace_label=workspace_label, show_eta=show_eta,
                     progress_tap=progress_tap, action_options=action_options)


def run(workspace: str | os.PathLike[str] | None = None, *, catalog_path: str | os.PathLike[str] | None = None) -> None:
    """Start the TUI in this terminal (``python tui.py [DIR]``, ``hubmgr tui [DIR]``)."""
    from .. import paths
    from ..catalog import Catalog

    ws = Path(workspace or Path.cwd()).expanduser().resolve()
    app = create_app(ws, catalog=Catalog(paths.catalog_path(ws, catalog_path)))
    app.run()


def main(argv: list[str] | None = None) -> None:
    """``python tui.py [DIR]``: one optional workspace argument; errors print like the CLI's."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-h", "--help"):
        print("usage: python tui.py [DIR]   (the hubmgr terminal UI; same as `hubmgr tui [DIR]`)")
        return
    try:
        run(args[0] if args else None)
    except HubmgrError as exc:
        print(f"error: {exc.message}" + (f"\nhint: {exc.hint}" if exc.hint else ""), file=sys.stderr)
        sys.exit(exc.exit_code)
