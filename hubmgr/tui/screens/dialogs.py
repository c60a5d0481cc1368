"""Small modal dialogs: confirm, typed confirm, error, text input, result viewer."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Markdown, Static

from ...units import printable


class ConfirmScreen(ModalScreen[bool]):
    """Yes/no. Cancel has the focus, so Enter alone never confirms by accident."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, body, *, confirm_label: str = "Confirm", danger: bool = False) -> None:
        super().__init__()
        self._title = title
        self._body = body
        self._confirm_label = confirm_label
        self._danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label(self._title, classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(self._body, id="confirm-body")
            with Horizontal(classes="buttons"):
                yield Button(self._confirm_label, id="confirm", variant="error" if self._danger else "primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm")

    def action_cancel(self) -> None:
        self.dismiss(False)


class PushPlanScreen(ConfirmScreen):
    """The dry-run plan of a push; nothing is sent until Push is pressed."""


class TypedConfirmScreen(ModalScreen[bool]):
    """An explicit confirmation: the user must type ``expected`` (e.g. the checkpoint's name)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, body: str, expected: str, *, confirm_label: str = "Delete") -> None:
        super().__init__()
        self._title = title
        self._body = body
        self.expected = expected
        self._confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label(self._title, classes="dialog-title danger")
            yield Static(self._body)
            yield Label(f"Type {self.expected!r} to confirm:")
            yield Input(id="typed", placeholder=self.expected)
            with Horizontal(classes="buttons"):
                yield Button(self._confirm_label, id="confirm", variant="error", disabled=True)
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#typed", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#confirm", Button).disabled = event.value != self.expected

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value == self.expected:
            self.dismiss(True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm" and self.query_one("#typed", Input).value == self.expected)

    def action_cancel(self) -> None:
        self.dismiss(False)


class _CloseableScreen(ModalScreen[None]):
    """A modal with one Close button (focused), closed by it or by the screen's close binding."""

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)


class ErrorScreen(_CloseableScreen):
    """A failed operation: the one-line message and the hint saying what to do next."""

    BINDINGS = [Binding("escape,enter", "close", "Close")]

    def __init__(self, title: str, message: str, hint: str | None) -> None:
        super().__init__()
        self._title = title
        self.message = message
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog error"):
            yield Label(self._title, classes="dialog-title danger")
            # Text, not markup: messages carry file, tensor and repo names from untrusted sources.
            yield Static(Text(printable(self.message)), id="error-message")
            if self.hint:
                yield Static(Text(f"hint: {printable(self.hint)}"), id="error-hint", classes="hint")
            with Horizontal(classes="buttons"):
                yield Button("Close", id="close", variant="primary")


class InputScreen(ModalScreen[str | None]):
    """One text field (e.g. the deploy dir to roll back)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, label: str, value: str = "", *, ok_label: str = "OK") -> None:
        super().__init__()
        self._title = title
        self._label = label
        self._value = value
        self._ok_label = ok_label

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label(self._title, classes="dialog-title")
            yield Label(self._label)
            yield Input(self._value, id="value")
            with Horizontal(classes="buttons"):
                yield Button(self._ok_label, id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#value", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(self.query_one("#value", Input).value.strip() or None if event.button.id == "ok" else None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ResultScreen(_CloseableScreen):
    """Shows a finished operation's report (compare table, pull summary) as Markdown or a renderable."""

    BINDINGS = [Binding("escape,q,enter", "close", "Close")]

    def __init__(self, title: str, body, *, markdown: bool = False) -> None:
        super().__init__()
        self._title = title
        self._body = body
        self._markdown = markdown

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog wide"):
            yield Label(self._title, classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Markdown(self._body, id="result-body") if self._markdown else Static(self._body,
                                                                                            id="result-body")
            with Horizontal(classes="buttons"):
                yield Button("Close", id="close", variant="primary")

