"""Forms: push (then a dry-run plan to confirm), pull to a deploy dir, gc of a Trainer run."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static


@dataclass(frozen=True)
class PushForm:
    path: str
    target: str
    revision: str | None
    tag: str | None
    private: bool
    message: str
    create_pr: bool = False
    checkpoint: str | None = None  # Trainer run: best | last | N (push that checkpoint as the model)
    best_by: str | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


def _patterns(text: str) -> tuple[str, ...]:
    """'*.json, *.safetensors' or '*.json *.safetensors' -> ('*.json', '*.safetensors')."""
    return tuple(p for p in text.replace(",", " ").split() if p)


@dataclass(frozen=True)
class PullForm:
    spec: str
    dest: str
    keep: int = 3


class _Form(ModalScreen):
    """Enter or the submit button submits (``_submit`` dismisses with the form); Esc or Cancel gives None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    SUBMIT_ID = "submit"

    def _submit(self) -> None:
        raise NotImplementedError

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == self.SUBMIT_ID:
            self._submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class PushFormScreen(_Form):
    """Collects the push options. Submitting asks the app for a dry-run plan; nothing is sent yet."""

    SUBMIT_ID = "plan"

    def __init__(self, path: str, name: str, *, target: str = "", message: str = "",
                 trainer_run: bool = False) -> None:
        super().__init__()
        self.path = path
        self.checkpoint_name = name
        self._target = target
        self._message = message or f"Upload {name} with hubmgr"
        self.trainer_run = trainer_run  # offer the checkpoint choice (best | last | N)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog form"):
            yield Label(f"Push {self.checkpoint_name}", classes="dialog-title")
            yield Label("Target (Hub repo id alice/model, local:NAME, or a git URL)")
            yield Input(self._target, placeholder="local:my-model", id="target")
            with Horizontal(classes="row"):
                with Vertical():
                    yield Label("Revision (branch)")
                    yield Input(placeholder="main", id="revision")
                with Vertical():
                    yield Label("Tag")
                    yield Input(placeholder="v1", id="tag")
            if self.trainer_run:
                with Horizontal(classes="row"):
                    with Vertical():
                        yield Label("Checkpoint (empty: the final model)")
                        yield Input(placeholder="best, last or a step", id="checkpoint")
                    with Vertical():
                        yield Label("Best by metric")
                        yield Input(placeholder="metric_for_best_model", id="best_by")
            with Horizontal(classes="row"):
                with Vertical():
                    yield Label("Include (globs)")
                    yield Input(placeholder="*.json *.safetensors", id="include")
                with Vertical():
                    yield Label("Exclude (globs)")
                    yield Input(placeholder="*.md", id="exclude")
            yield Label("Commit message")
            yield Input(self._message, id="message")
            with Horizontal(classes="row"):
                yield Checkbox("Private repo (Hub)", id="private")
                yield Checkbox("Open a PR (Hub)", id="create_pr")
            yield Static("", id="form-error", classes="danger")
            with Horizontal(classes="buttons"):
                yield Button("Plan (dry run)", id="plan", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#target", Input).focus()

    def _value(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value.strip()

    def _submit(self) -> None:
        target = self._value("target")
        if not target:
            self.query_one("#form-error", Static).update("a target is required")
            self.query_one("#target", Input).focus()
            return
        self.dismiss(PushForm(
            path=self.path, target=target, revision=self._value("revision") or None,
            tag=self._value("tag") or None, private=self.query_one("#private", Checkbox).value,
            message=self._value("message") or f"Upload {self.checkpoint_name} with hubmgr",
            create_pr=self.query_one("#create_pr", Checkbox).value,
            checkpoint=(self._value("checkpoint") or None) if self.trainer_run else None,
            best_by=(self._value("best_by") or None) if self.trainer_run else None,
            include=_patterns(self._value("include")), exclude=_patterns(self._value("exclude")),
        ))



class PullFormScreen(_Form):
    """Pull a pinned revision of a remote into a deploy dir (releases/<sha>, atomic `current`)."""

    SUBMIT_ID = "pull"

    def __init__(self, spec: str = "", dest: str = "") -> None:
        super().__init__()
        self._spec = spec
        self._dest = dest

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog form"):
            yield Label("Pull to a deploy dir", classes="dialog-title")
            yield Label("Remote and revision (e.g. local:my-model@v1, alice/model@main)")
            yield Input(self._spec, placeholder="local:my-model@main", id="spec")
            yield Label("Deploy dir")
            yield Input(self._dest, placeholder="/srv/model", id="dest")
            yield Label("Releases to keep")
            yield Input("3", id="keep", type="integer")
            yield Static("", id="form-error", classes="danger")
            with Horizontal(classes="buttons"):
                yield Button("Pull", id="pull", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#spec" if not self._spec else "#pull", Input if not self._spec else Button).focus()

    def _submit(self) -> None:
        spec = self.query_one("#spec", Input).value.strip()
        dest = self.query_one("#dest", Input).value.strip()
        keep = self.query_one("#keep", Input).value.strip() or "3"
        if not spec or not dest:
            self.query_one("#form-error", Static).update("a remote and a deploy dir are required")
            return
        self.dismiss(PullForm(spec=spec, dest=dest, keep=max(1, int(keep))))



@dataclass(frozen=True)
class GcForm:
    run_dir: str
    keep_best: int = 1
    keep_last: int = 1
    strip_optimizer: bool = False
    include_unpushed: bool = False


class GcFormScreen(_Form):
    """Options of ``hubmgr gc`` for one run. Submitting shows the plan; nothing is deleted yet."""

    SUBMIT_ID = "plan"

    def __init__(self, run_dir: str) -> None:
        super().__init__()
        self.run_dir = run_dir

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog form"):
            yield Label(f"Prune checkpoints of {self.run_dir}", classes="dialog-title")
            with Horizontal(classes="row"):
                with Vertical():
                    yield Label("Keep best")
                    yield Input("1", id="keep_best", type="integer")
                with Vertical():
                    yield Label("Keep last")
                    yield Input("1", id="keep_last", type="integer")
            yield Checkbox("Strip optimizer state from kept (no resume)", id="strip_optimizer")
            yield Checkbox("Also delete never-pushed checkpoints", id="include_unpushed")
            with Horizontal(classes="buttons"):
                yield Button("Plan", id="plan", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#plan", Button).focus()

    def _submit(self) -> None:
        def count(widget_id: str) -> int:
            return max(0, int(self.query_one(f"#{widget_id}", Input).value.strip() or 0))

        self.dismiss(GcForm(self.run_dir, count("keep_best"), count("keep_last"),
                            self.query_one("#strip_optimizer", Checkbox).value,
                            self.query_one("#include_unpushed", Checkbox).value))

