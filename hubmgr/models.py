"""Frozen dataclasses shared by every layer.

Naming: ``*Info`` = facts about something, ``*Plan`` = intent, ``*Result`` = outcome.
Every ``*Result`` has ``to_dict()`` giving the stable JSON shape of ``--json``.
Sections below are owned by the feature that introduced them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Iterator


_FIELD_NAMES: dict[type, tuple[str, ...] | None] = {}  # per class: its dataclass fields, None if not one


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, tuples, paths -> plain JSON types."""
    if obj is None or type(obj) in (str, int, float, bool):
        return obj  # the bulk of every document: decided before any dataclass lookup
    cls = type(obj)
    if cls not in _FIELD_NAMES:
        is_instance = dataclasses.is_dataclass(obj) and not isinstance(obj, type)
        _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(obj)) if is_instance else None
    names = _FIELD_NAMES[cls]
    if names is not None:
        return {name: to_jsonable(getattr(obj, name)) for name in names}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)) or (isinstance(obj, Sequence) and not isinstance(obj, (str, bytes))):
        return [to_jsonable(v) for v in obj]  # a Sequence: stored.CheckpointSeq
    if hasattr(obj, "__fspath__"):
        return str(obj)
    return obj


class JsonMixin:
    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)


# --- checkpoints: discovery and inspection (issue 2) -------------------------

# Safety verdicts of a pickle (see pickle_safety.py).
VERDICT_SAFE = "safe"  # only allow-listed torch/collections globals
VERDICT_NEEDS_CODE = "needs_code"  # imports user classes such as __main__.Net
VERDICT_UNSAFE = "unsafe"  # os/subprocess/eval/exec or any non-allow-listed callable
VERDICT_NOT_PICKLE = "not_pickle"  # safetensors and other formats that cannot run code
VERDICT_UNKNOWN = "unknown"  # unreadable or corrupt


@dataclass(frozen=True)
class TensorInfo(JsonMixin):
    name: str
    dtype: str  # safetensors spelling: F32, F16, BF16, I64, BOOL, ...
    shape: tuple[int, ...]
    file: str | None = None  # relative file holding it (sharded models)


@dataclass(frozen=True)
class SafetyInfo(JsonMixin):
    verdict: str
    globals: tuple[str, ...] = ()  # every "module.name" the pickle imports
    offending: tuple[str, ...] = ()  # the ones that made the verdict not safe
    classes_needed: tuple[str, ...] = ()  # user classes a full-model pickle needs
    reasons: tuple[str, ...] = ()  # why it is not safe, e.g. "data.pkl: REDUCE calls os.system"
    per_file: dict[str, str] = field(default_factory=dict)  # dirs: verdict of every pickle file in it


@dataclass(frozen=True)
class FileInfo(JsonMixin):
    path: str  # relative to the checkpoint's path (or the file name)
    size_bytes: int
    sha256: str | None = None


# Sync states (decided by sync_state.py; `hubmgr ls` and the TUI show these words).
SYNC_LOCAL = "local only"  # no push or conversion recorded
SYNC_CONVERTED = "converted"  # a safetensors copy exists, never pushed
SYNC_PUSHED = "pushed"  # the last push (of it or of its converted copy) holds what is on disk
SYNC_MODIFIED = "modified"  # a file the last push recorded has other content on disk now (sha256)
SYNC_PULLED = "pulled"  # a release dir a pull wrote (DEST/releases/<sha>)


@dataclass(frozen=True)
class SyncState(JsonMixin):
    state: str  # one of the SYNC_* words above
    remote: str | None = None  # where the last push went (or the pull came from)
    commit_sha: str | None = None
    # pushed/pulled only: "signed" | "unverified" | "unsigned" | "INVALID" (see deploy.signature_badge)
    signature: str | None = None

    @property
    def text(self) -> str:
        """'pushed @1a2b3c4', 'modified @1a2b3c4', 'local only': the words of the table's sync column."""
        return f"{self.state} @{self.commit_sha[:7]}" if self.commit_sha else self.state

    @property
    def label(self) -> str:
        """The text plus the signature word on pushed and pulled rows: 'pushed @1a2b3c4 signed'."""
        return f"{self.text} {self.signature}" if self.signature else self.text


@dataclass(frozen=True)
class CheckpointInfo(JsonMixin):
    path: str  # absolute path of the dir or file
    name: str
    kind: str  # hf_model | trainer_checkpoint | state_dict | training_checkpoint | full_model_pickle | safetensors | lfs_pointer | unknown
    format: str  # safetensors | sharded_safetensors | torch_zip | torch_legacy | sharded_bin | lfs_pointer | unknown
    size_bytes: int
    params: int | None = None
    dtypes: tuple[str, ...] = ()
    step: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    best_metric: float | None = None
    model_type: str | None = None
    architecture: str | None = None
    has_tokenizer: bool = False
    safety: SafetyInfo = field(default_factory=lambda: SafetyInfo(VERDICT_UNKNOWN))
    files: tuple[FileInfo, ...] = ()
    tensors: tuple[TensorInfo, ...] = ()
    tied_groups: tuple[tuple[str, ...], ...] = ()  # names sharing one storage
    warnings: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # kind-specific facts (trainer state, class names...)
    sync_state: SyncState | None = None  # derived from the catalog's records (sync_state.py), never stored
    lineage: Any = None  # lineage.Lineage, filled by inspect (base model, data, code commit, parent, conversion)


@dataclass(frozen=True)
class ScanResult(JsonMixin):
    checkpoints: Sequence[CheckpointInfo]  # a tuple, or a stored.CheckpointSeq (unchanged ones parsed on access)
    warnings: tuple[str, ...] = ()
    files_hashed: int = 0
    bytes_hashed: int = 0
    forgotten: int = 0  # catalog entries under a rescanned root that vanished from disk
    roots: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return _without_tensors(to_jsonable(self))

    def json_chunks(self) -> Iterator[str]:
        return _checkpoints_document(self)


@dataclass(frozen=True)
class DeleteResult(JsonMixin):
    """``hubmgr rm`` / TUI delete: a checkpoint removed from disk and from the catalog."""

    path: str
    bytes_freed: int
    was_pushed: bool  # False: this was the only copy hubmgr knows of


@dataclass(frozen=True)
class CheckpointList(JsonMixin):
    """``hubmgr ls``: every catalogued checkpoint (tensor lists left out; see inspect)."""

    checkpoints: Sequence[CheckpointInfo]  # a tuple, or a stored.CheckpointSeq (parsed on access)
    warnings: tuple[str, ...] = ()
    # The "best" column: each checkpoint's best score of ONE suite configuration (scores.score_column).
    score_label: str | None = None  # "accuracy · arithmetic (digits=1,ops=+,n=60,seed=0)"; None: no own evals
    scores: dict[str, float] = field(default_factory=dict)  # path -> value

    def to_dict(self) -> dict[str, Any]:
        return _without_tensors(to_jsonable(self))

    def json_chunks(self) -> Iterator[str]:
        return _checkpoints_document(self)


def _checkpoints_document(result: Any) -> Iterator[str]:
    """``to_dict()`` as JSON text, one checkpoint a line, streamed: a stored ``CheckpointSeq`` yields
    its rows without parsing them (``ls --json`` of 50,000 checkpoints)."""
    seq = result.checkpoints
    texts = seq.json_texts() if hasattr(seq, "json_texts") else (json.dumps(summary_dict(c)) for c in seq)
    yield '{\n  "checkpoints": ['
    for i, text in enumerate(texts):
        yield ("\n    " if i == 0 else ",\n    ") + text
    yield "\n  ]" if seq else "]"
    for f in dataclasses.fields(result):
        if f.name != "checkpoints":
            yield f',\n  {json.dumps(f.name)}: ' + json.dumps(to_jsonable(getattr(result, f.name)), default=str)
    yield "\n}\n"


def summary_dict(info: CheckpointInfo) -> dict[str, Any]:
    """One entry of scan/ls JSON: ``info.to_dict()`` without its tensor list."""
    data = to_jsonable(info)
    data.pop("tensors", None)
    return data


def _without_tensors(data: dict[str, Any]) -> dict[str, Any]:
    """scan/ls JSON: checkpoint entries without the (empty) tensor lists; inspect has them."""
    for entry in data.get("checkpoints", []):
        entry.pop("tensors", None)
    return data


# --- convert (issue 3) -------------------------------------------------------


@dataclass(frozen=True)
class OutputFile(JsonMixin):
    path: str  # relative to ConvertResult.output's folder (dir outputs) or the file name
    size_bytes: int
    sha256: str
    tensors: int = 0  # tensors stored in it (0 for the index and copied config/tokenizer files)


@dataclass(frozen=True)
class TiedGroup(JsonMixin):
    """Names of one tensor (same storage bytes); only ``kept`` is written, as transformers expects."""

    kept: str
    dropped: tuple[str, ...]


@dataclass(frozen=True)
class ConvertResult(JsonMixin):
    source: str  # absolute path of the converted file or dir
    source_format: str  # torch_zip | torch_legacy | sharded_bin
    source_kind: str  # state_dict | training_checkpoint | full_model_pickle | hf_model
    output: str  # the .safetensors file or the output dir
    files: tuple[OutputFile, ...]  # every file written: weights, index, copied files
    tensors: int  # tensors written
    tensor_bytes: int
    verified: bool  # every tensor re-read with safetensors and compared bit for bit
    source_sha256: str | None = None  # the weights file (None for sharded sources: see source_files)
    source_files: tuple[OutputFile, ...] = ()  # the pickle files read, with their sha256
    source_key: str | None = None  # where the weights sat in a training checkpoint ("state_dict", ...)
    class_name: str | None = None  # root class of a full-model pickle (never imported)
    dtype: str | None = None  # --dtype target (F16/BF16), None = kept
    tied: tuple[TiedGroup, ...] = ()
    dropped: dict[str, str] = field(default_factory=dict)  # non-weight entries left out -> what they were
    metadata: dict[str, str] = field(default_factory=dict)  # safetensors __metadata__ written
    skipped_files: tuple[str, ...] = ()  # files of a model dir not copied (pickles such as training_args.bin)
    removed_temps: tuple[str, ...] = ()  # stale temp outputs of killed runs cleaned up
    warnings: tuple[str, ...] = ()
    conversion_id: int | None = None  # catalog row


# --- eval, cards, compare (issue 4) ------------------------------------------


@dataclass(frozen=True)
class EvalFailure(JsonMixin):
    """One problem the model got wrong: what it was asked and what it said."""

    prompt: str
    expected: str
    predicted: str | None  # the extracted answer (None: no number / empty)
    output: str  # the model's raw continuation after the prompt


@dataclass(frozen=True)
class EvalResult(JsonMixin):
    path: str  # the checkpoint dir evaluated
    suite: str  # arithmetic | jsonl | perplexity
    metrics: dict[str, float]  # accuracy (arithmetic), exact_match (jsonl), perplexity + loss (perplexity)
    n: int  # problems (or tokens scored, for perplexity)
    correct: int | None
    failures: tuple[EvalFailure, ...]  # a sample, at most ~10
    runtime_seconds: float
    params: dict[str, Any]  # what produced the score: suite, n, seed, digits, ops, data sha256, ...
    weights_sha256: str | None
    weights_file: str | None
    eval_ids: tuple[int, ...] = ()  # catalog rows written
    imported: "ImportedMetrics | None" = None  # Trainer metrics found next to the weights, stored too

    @property
    def accuracy(self) -> float | None:
        return self.metrics.get("accuracy", self.metrics.get("exact_match"))


@dataclass(frozen=True)
class ImportedMetric(JsonMixin):
    source: str  # trainer_state | all_results | eval_results
    metric: str
    value: float


@dataclass(frozen=True)
class ImportedMetrics(JsonMixin):
    path: str
    metrics: tuple[ImportedMetric, ...]
    sources: tuple[str, ...]  # files read
    weights_sha256: str | None
    recorded: int  # new catalog rows (identical ones already stored are skipped)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class CardSection(JsonMixin):
    name: str
    action: str  # added | refreshed | kept_user_edit


@dataclass(frozen=True)
class CardResult(JsonMixin):
    path: str  # the README.md written
    template: str
    metadata: dict[str, Any]
    sections: tuple[CardSection, ...]
    eval_results: int  # entries in model-index
    created: bool  # False: an existing card was merged
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class CompareRow(JsonMixin):
    label: str  # "arithmetic accuracy", "eval_loss (trainer_state)", "size", ...
    values: tuple[float | None, ...]  # one per checkpoint, None: not measured
    better: str | None  # "higher" | "lower" | None (informational rows)
    best: tuple[int, ...]  # indexes of the best value(s); empty when not comparable


@dataclass(frozen=True)
class CompareResult(JsonMixin):
    paths: tuple[str, ...]
    rows: tuple[CompareRow, ...]
    warnings: tuple[str, ...] = ()


# --- remotes, push, pull, deploy (issues 5 and 6) ----------------------------


@dataclass(frozen=True)
class PlanFile(JsonMixin):
    """One file of a push plan."""

    path: str  # posix, relative to the pushed folder (= path in the repo)
    size: int
    sha256: str | None
    reason: str  # new | changed | unchanged | deleted
    origin: str | None = None  # where it comes from when not the same path of the folder (generated, checkpoint-N/..)


@dataclass(frozen=True)
class LeftOut(JsonMixin):
    """A local file (or group, e.g. ``checkpoint-1/, checkpoint-2/``) a push does not send, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class PushPlan(JsonMixin):
    """What ``hubmgr push`` does (``--dry-run`` prints it; the real run executes this very plan).

    ``upload + skip`` is exactly what the remote holds afterwards among the pushed files (a card's
    Files table lists them); ``left_out`` is what the folder holds but the push does not send.
    """

    path: str  # the folder pushed
    target: str  # as displayed, e.g. local:demo@main
    remote: str  # remote name for the catalog (never a token)
    kind: str  # hub | git | local
    revision: str | None  # branch pushed to (None: the remote's default)
    base_commit: str | None  # the remote's commit the plan compares with (None: new repo/branch)
    upload: tuple[PlanFile, ...]
    skip: tuple[PlanFile, ...]
    delete: tuple[PlanFile, ...]
    bytes_to_upload: int
    bytes_skipped: int
    warnings: tuple[str, ...] = ()
    kept_remote: tuple[PlanFile, ...] = ()  # remote files not in the folder that the push leaves as they are
    source: str | None = None  # the dir the model comes from (a checkpoint-N dir with --checkpoint)
    checkpoint: str | None = None  # --checkpoint: the checkpoint dir picked
    checkpoint_reason: str | None = None  # why that one (metric, value, how the metric was chosen)
    left_out: tuple[LeftOut, ...] = ()
    bytes_hashed: int = 0  # read for sha256 by this push; unchanged files reuse the catalog's cached sha256

    @property
    def changes(self) -> bool:
        return bool(self.upload or self.delete)

    @property
    def files(self) -> tuple[PlanFile, ...]:
        """Every file the remote holds from this push (uploaded or already there), by path."""
        return tuple(sorted((*self.upload, *self.skip), key=lambda f: f.path))


@dataclass(frozen=True)
class PushResult(JsonMixin):
    path: str
    target: str
    remote: str
    revision: str | None
    tag: str | None
    commit_sha: str | None  # None only for a dry run against a new repo
    commit_url: str | None
    created_commit: bool  # False: nothing changed (or dry run)
    files_uploaded: tuple[str, ...]
    files_skipped: tuple[str, ...]
    files_deleted: tuple[str, ...]
    bytes_sent: int
    dry_run: bool
    plan: PushPlan
    card_written: bool = False
    converted: tuple[str, ...] = ()  # pickles converted to safetensors by --convert
    pr_url: str | None = None
    signed_by: str | None = None  # fingerprint of the key that signed the pushed files (--sign)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class RemoteListing(JsonMixin):
    """``hubmgr remote ls SPEC``: refs and recent commits of one remote repo."""

    remote: str
    refs: tuple  # RemoteRef
    commits: tuple  # RemoteCommit of the asked (or default) revision


@dataclass(frozen=True)
class RegistryRepo(JsonMixin):
    name: str  # local:NAME
    path: str
    branches: tuple[str, ...]
    tags: tuple[str, ...]
    head_sha: str | None


@dataclass(frozen=True)
class RegistryListing(JsonMixin):
    registry_dir: str
    repos: tuple[RegistryRepo, ...]



# --- guard (issue 6) ---------------------------------------------------------


# Severity of a file found by the guard.
GUARD_BLOCK = "block"  # over the host's limit: the push will be rejected
GUARD_WARN = "warn"  # over the warning size: the push passes, the host complains


@dataclass(frozen=True)
class GuardChange(JsonMixin):
    """One unpushed commit that adds, changes or deletes an oversized file."""

    commit: str
    path: str
    change: str  # added | modified | deleted


@dataclass(frozen=True)
class GuardBlob(JsonMixin):
    """One oversized file version (a git blob) in commits not yet pushed."""

    oid: str  # git blob id (of the pointer, for Git LFS files)
    size_bytes: int  # content size; for LFS files the size recorded in the pointer
    severity: str  # GUARD_BLOCK | GUARD_WARN
    paths: tuple[str, ...]
    added_in: tuple[str, ...]  # unpushed commits that add this exact content
    deleted_in: tuple[str, ...] = ()  # later unpushed commits that delete or replace it
    in_head: bool = False  # still in the latest commit (False: deleted, but history keeps it)
    lfs_oid: str | None = None  # sha256 of an LFS file (None for plain git blobs)
    changes: tuple[GuardChange, ...] = ()


@dataclass(frozen=True)
class GuardReport(JsonMixin):
    repo: str
    branch: str | None  # refs/heads/NAME, None when detached
    upstream: str | None  # refs/remotes/origin/main, None when the branch has none
    base_refs: tuple[str, ...]  # what counts as already pushed
    commits_checked: int
    objects_checked: int
    limit_bytes: int
    warn_bytes: int
    lfs_limit_bytes: int
    blocking: tuple[GuardBlob, ...]  # git blobs over the limit
    lfs_blocking: tuple[GuardBlob, ...]  # LFS files over the LFS cap
    warnings: tuple[GuardBlob, ...]
    ok: bool  # nothing blocking
    explanation: str  # plain words; empty when there is nothing to say
    fixes: tuple[str, ...] = ()  # commands that would fix it


@dataclass(frozen=True)
class GuardFixResult(JsonMixin):
    repo: str
    method: str  # lfs | hub
    branch: str
    paths: tuple[str, ...]  # what was moved out of plain git history
    old_head: str
    new_head: str
    commits_rewritten: int
    protected_refs: tuple[str, ...]  # pushed history left untouched
    after: GuardReport
    target: str | None = None  # --fix hub: where the weights went
    remote_commit: str | None = None
    pointer_file: str | None = None  # relative to the repo
    gitignore: str | None = None  # .gitignore updated (relative path)
    undo: str = ""  # how to get the old history back


@dataclass(frozen=True)
class GuardHookResult(JsonMixin):
    repo: str
    hook: str  # absolute path of the pre-push hook
    chained: str | None  # a previous hook it calls afterwards
    command: str  # what the hook runs


# -- scores and gc (issue 11) ---------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointScore(JsonMixin):
    path: str
    step: int | None
    value: float | None  # None: this checkpoint has no score of the metric/suite/configuration


@dataclass(frozen=True)
class BestCheckpoint(JsonMixin):
    """``scores.best_checkpoint``: the best checkpoint-N of a run by one metric of one suite configuration."""

    run_dir: str
    path: str
    step: int | None
    metric: str
    suite: str | None  # "trainer" for the Trainer's own evaluations
    config: str | None
    value: float
    better: str  # lower | higher
    reason: str  # one line for plans: what was compared and why that metric
    scores: tuple[CheckpointScore, ...] = ()


@dataclass(frozen=True)
class GcItem(JsonMixin):
    path: str
    step: int | None
    action: str  # delete | strip | keep
    reasons: tuple[str, ...]  # why it is kept (best, last, pushed, ...) or deleted
    bytes_freed: int  # delete: the whole dir; strip: the optimizer/scheduler/rng files
    score: float | None = None
    stripped_files: tuple[str, ...] = ()  # strip: relative names removed (the checkpoint can no longer resume)


@dataclass(frozen=True)
class GcResult(JsonMixin):
    """``hubmgr gc``: the plan, and after a real run what was done (same items, ``done=True``)."""

    runs: tuple[str, ...]
    items: tuple[GcItem, ...]
    metric: str | None  # what --keep-best ranked by (None when no run had scores)
    bytes_freed: int
    dry_run: bool
    done: bool
    warnings: tuple[str, ...] = ()

    @property
    def deleted(self) -> tuple[GcItem, ...]:
        return tuple(i for i in self.items if i.action == "delete")

    @property
    def stripped(self) -> tuple[GcItem, ...]:
        return tuple(i for i in self.items if i.action == "strip")
