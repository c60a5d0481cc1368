"""The one table of user actions. It feeds the key bindings, the footer, the help screen and the
command palette, so a key, its footer label and its palette title never disagree."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding

SCOPE_GLOBAL = "global"  # needs nothing selected
SCOPE_SELECTED = "selected"  # acts on the highlighted checkpoint
SCOPE_MARKED = "marked"  # acts on the marked checkpoints


@dataclass(frozen=True)
class Action:
    id: str  # the App's ``action_<id>`` method and the binding id
    key: str  # Textual key name(s), comma separated
    label: str  # short footer label
    title: str  # command palette title, "area: what"
    help: str  # one line for the help screen and the palette
    scope: str = SCOPE_GLOBAL
    footer: bool = True
    key_display: str | None = None

    @property
    def keys_shown(self) -> str:
        return self.key_display or self.key.split(",")[0]


ACTIONS: tuple[Action, ...] = (
    Action("rescan", "r", "Rescan", "rescan: workspace", "scan the workspace for checkpoints in the background"),
    Action("filter", "slash", "Filter", "filter: checkpoints by text", "type to filter the table; Esc clears",
           key_display="/"),
    Action("sort", "s", "Sort", "sort: by next column", "sort the table by the next column (click a header too)"),
    Action("sort_reverse", "S", "Reverse", "sort: reverse order", "reverse the sort order", footer=False),
    Action("mark", "space", "Mark", "mark: toggle selected checkpoint", "mark or unmark the checkpoint for compare",
           scope=SCOPE_SELECTED, footer=False),
    Action("convert", "c", "Convert", "convert: selected checkpoint", "convert to verified safetensors",
           scope=SCOPE_SELECTED),
    Action("eval", "e", "Eval", "eval: selected checkpoint", "run the arithmetic eval suite and store the score",
           scope=SCOPE_SELECTED),
    Action("card", "w", "Card", "card: write for selected checkpoint", "write README.md (model card) next to it",
           scope=SCOPE_SELECTED),
    Action("compare", "m", "Compare", "compare: marked checkpoints",
           "compare the marked checkpoints side by side (mark them with space)", scope=SCOPE_MARKED),
    Action("push", "p", "Push", "push: selected checkpoint", "push to a remote: form, dry-run plan, then confirm",
           scope=SCOPE_SELECTED),
    Action("pull", "l", "Pull", "pull: remote revision to a deploy dir", "pull a pinned revision into a deploy dir"),
    Action("rollback", "u", "Rollback", "rollback: deploy dir to previous release",
           "switch a deploy dir's current release back", footer=False),
    Action("remotes", "b", "Remotes", "remotes: browse repos, branches, tags, commits",
           "list a remote's repos and revisions and pull one"),
    Action("gc", "g", "GC", "gc: prune the selected run's checkpoints",
           "plan which checkpoint-N dirs of the run to delete or strip (best, last, pushed kept), then confirm",
           scope=SCOPE_SELECTED, footer=False),
    Action("delete", "d", "Delete", "delete: selected checkpoint from disk",
           "delete files after confirmation (twice if never pushed)", scope=SCOPE_SELECTED, footer=False),
    Action("cancel", "escape", "Cancel", "cancel: running operation", "stop the running operation (Esc)",
           footer=False, key_display="esc"),
    Action("help", "question_mark", "Help", "help: keys and actions", "show every key", key_display="?"),
    Action("quit", "q", "Quit", "quit: hubmgr", "leave the TUI"),
)

ACTIONS_BY_ID = {a.id: a for a in ACTIONS}


def bindings() -> list[Binding]:
    """Key bindings for the App, one per action (ids allow remapping later)."""
    return [Binding(a.key, a.id, a.label, show=a.footer, id=a.id, key_display=a.key_display) for a in ACTIONS]


# Keys that are not actions on checkpoints but are worth listing on the help screen.
EXTRA_KEYS: tuple[tuple[str, str], ...] = (
    ("up/down, pgup/pgdn", "move in the table"),
    ("enter", "focus the detail pane"),
    ("1-5", "detail tabs: Overview, Tensors, Model card, Evals, History"),
    ("tab / shift+tab", "move focus"),
    ("ctrl+p", "command palette (every action, by title)"),
)
