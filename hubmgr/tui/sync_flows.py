"""The app's push, pull, rollback, remote-browser, delete and gc flows: dialogs in, one ``Operation`` out.

A mixin of ``HubmgrApp``: these methods only open screens and hand operations to ``self.start``;
the worker that runs them is in ``app.py``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rich.text import Text

from .. import checkpoints, deploy, sync, trainer_run
from ..deploy_models import PullResult, RollbackResult
from ..models import SYNC_MODIFIED, SYNC_PUSHED, PushResult
from . import render
from .operations import Operation
from .rows import CheckpointRow, short_sha
from .screens.dialogs import ConfirmScreen, InputScreen, PushPlanScreen, TypedConfirmScreen
from .screens.forms import GcForm, GcFormScreen, PullForm, PullFormScreen, PushForm, PushFormScreen
from .screens.remote_browser import RemoteBrowserScreen

def _registry_name(name: str) -> str:
    """A checkpoint name as a local registry repo name (letters, digits, '.', '-', '_')."""
    cleaned = re.sub(r"[^\w.-]+", "-", Path(name).stem if "." in name else name).strip("-.")
    return cleaned or "model"


class SyncFlows:
    """Mixed into ``HubmgrApp`` (uses its ``start``, ``catalog``, ``remote_factory`` and screens)."""

    # push: form -> dry-run plan -> confirm -> push
    def action_push(self) -> None:
        row = self._need_selection()
        if row is None:
            return
        # Suggest where it went last time, else the embedded local registry under its own name.
        target = row.sync.remote or f"local:{_registry_name(row.name)}"
        run = Path(row.path).is_dir() and bool(trainer_run.checkpoint_dirs(Path(row.path)))
        self.push_screen(PushFormScreen(row.path, row.name, target=target, trainer_run=run), self._plan_push)

    def _push_kwargs(self, form: PushForm) -> dict[str, Any]:
        return dict(revision=form.revision, tag=form.tag, private=form.private, message=form.message,
                    create_pr=form.create_pr, catalog=self.catalog, remote=self.remote_factory(form.target),
                    checkpoint=form.checkpoint, best_by=form.best_by, include=form.include, exclude=form.exclude,
                    **self.action_options.get("push", {}))

    def _plan_push(self, form: PushForm | None) -> None:
        if form is None:
            return
        def call(progress, cancel) -> PushResult:
            kwargs = self._push_kwargs(form)  # opening a remote may fail: inside the worker
            return sync.push(form.path, form.target, dry_run=True, progress=progress, cancel=cancel, **kwargs)

        self.start(Operation("push plan", call, lambda r: "", reload_catalog=False,
                             after=lambda result: self._confirm_push(form, result)))

    def _confirm_push(self, form: PushForm, result: PushResult) -> None:
        def go(confirmed: bool | None) -> None:
            if confirmed:
                self._push(form)

        self.push_screen(PushPlanScreen(f"Push {Path(form.path).name} to {form.target}?", render.push_plan(result),
                                        confirm_label="Push"), go)

    def _push(self, form: PushForm) -> None:
        def call(progress, cancel) -> PushResult:
            kwargs = self._push_kwargs(form)
            return sync.push(form.path, form.target, dry_run=False, progress=progress, cancel=cancel, **kwargs)

        def summarize(result: PushResult) -> str:
            if not result.created_commit:
                return f"{Path(form.path).name}: nothing changed on {result.target} (@{short_sha(result.commit_sha)})"
            return (f"{Path(form.path).name} -> {result.target} @{short_sha(result.commit_sha)}, "
                    f"{len(result.files_uploaded)} files, {result.bytes_sent:,} bytes")

        self.start(Operation("push", call, summarize))

    def action_pull(self, spec: str = "") -> None:
        dests = self._known_deploy_dirs()
        dest = dests[0] if dests else str(self.workspace / "deploy")
        self.push_screen(PullFormScreen(spec=spec, dest=dest), self._pull)

    def _pull(self, form: PullForm | None) -> None:
        if form is None:
            return
        catalog = self.catalog

        def call(progress, cancel) -> PullResult:
            return sync.pull(form.spec, dest=form.dest, keep=form.keep, catalog=catalog,
                             remote=self.remote_factory(form.spec), progress=progress, cancel=cancel)

        def summarize(result: PullResult) -> str:
            reused = " (already there)" if result.reused else ""
            return f"{form.spec} -> {result.current or form.dest} @{short_sha(result.commit_sha)}{reused}"

        self.deploy_dirs.insert(0, form.dest)
        self.start(Operation("pull", call, summarize, after=self._forget_all_details))

    def action_rollback(self) -> None:
        pulls = self._known_deploy_dirs()
        self.push_screen(InputScreen("Rollback", "Deploy dir to switch back to its previous release",
                                     pulls[0] if pulls else "", ok_label="Rollback"), self._rollback)

    def _forget_all_details(self, result: Any = None) -> None:
        self.details.clear()
        main = self._main_screen()
        if main is not None and main.detail.row is not None:
            self.load_details(main.detail.row)

    def _known_deploy_dirs(self) -> list[str]:
        seen: list[str] = list(dict.fromkeys(self.deploy_dirs))
        for details in self.details.values():
            for pull in reversed(details.pulls):
                if pull.dest not in seen:
                    seen.append(pull.dest)
        return seen

    def _rollback(self, dest: str | None) -> None:
        if not dest:
            return

        def call(progress, cancel) -> RollbackResult:
            # verify: re-hash the release before it goes live (the progress bar and esc then mean something)
            return deploy.rollback(dest, verify=True, progress=progress, cancel=cancel)

        def summarize(result: RollbackResult) -> str:
            return f"{dest}: {short_sha(result.from_sha)} -> {short_sha(result.to_sha)}"

        self.start(Operation("rollback", call, summarize))

    def action_remotes(self) -> None:
        row = self.selected_row()
        spec = row.sync.remote if row is not None and row.sync.remote else ""

        def chosen(spec: str | None) -> None:
            if spec:
                self.action_pull(spec)

        self.push_screen(RemoteBrowserScreen(spec), chosen)

    # delete: confirm; if never pushed anywhere, a second explicit (typed) confirmation
    def action_delete(self) -> None:
        row = self._need_selection()
        if row is None:
            return
        body = Text.assemble("Delete ", (row.name, "bold"), f" ({row.kind}, {row.size_bytes:,} bytes) from disk?\n",
                             (row.path, "dim"))

        def first(confirmed: bool | None) -> None:
            if not confirmed:
                return
            if row.sync.state in (SYNC_PUSHED, SYNC_MODIFIED):
                self._delete(row)
                return
            self.push_screen(TypedConfirmScreen(
                "This checkpoint was never pushed anywhere",
                "Deleting it loses it for good: no remote holds a copy.", row.name), second)

        def second(confirmed: bool | None) -> None:
            if confirmed:
                self._delete(row)

        self.push_screen(ConfirmScreen("Delete checkpoint?", body, confirm_label="Delete", danger=True), first)

    def _delete(self, row: CheckpointRow) -> None:
        catalog = self.catalog

        def call(progress, cancel):
            return checkpoints.delete_checkpoint(row.path, catalog=catalog, cancel=cancel)

        self.marked.discard(row.path)
        self.start(Operation("delete", call, lambda r: f"deleted {row.name}"))

    # gc: options form -> the plan (a worker) -> confirm -> that very plan is carried out
    def action_gc(self) -> None:
        row = self._need_selection()
        if row is None:
            return
        path = Path(row.path)
        run = path.parent if path.name.startswith("checkpoint-") else path
        self.push_screen(GcFormScreen(str(run)), self._plan_gc)

    def _plan_gc(self, form: GcForm | None) -> None:
        if form is None:
            return
        catalog = self.catalog

        def call(progress, cancel):
            from ..gc import plan_gc

            return plan_gc([form.run_dir], keep_best=form.keep_best, keep_last=form.keep_last,
                           strip_optimizer=form.strip_optimizer, include_unpushed=form.include_unpushed,
                           catalog=catalog, progress=progress, cancel=cancel)

        self.start(Operation("gc plan", call, lambda r: "", reload_catalog=False, after=self._confirm_gc))

    def _confirm_gc(self, plan: Any) -> None:
        if not plan.deleted and not plan.stripped:
            self.push_screen(ConfirmScreen("Nothing to prune", render.gc_plan(plan), confirm_label="OK"))
            return

        def go(confirmed: bool | None) -> None:
            if confirmed:
                catalog = self.catalog

                def call(progress, cancel):
                    from ..gc import run_gc_plan

                    return run_gc_plan(plan, catalog=catalog, progress=progress, cancel=cancel)

                self.start(Operation("gc", call, lambda r: f"pruned {len(r.deleted)}, stripped {len(r.stripped)}, "
                                                           f"freed {r.bytes_freed:,} bytes"))

        self.push_screen(ConfirmScreen(f"Prune {Path(plan.runs[0]).name}?", render.gc_plan(plan),
                                       confirm_label="Prune", danger=bool(plan.deleted)), go)
