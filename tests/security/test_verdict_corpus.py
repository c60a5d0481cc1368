"""Issue 13 points 1-5: verdicts checked against what really happens.

A corpus of hostile files (tests build it: ``hubmgr.testing.pickle_corpus``) plus real
``torch.save`` outputs. Ground truth comes from loading every file with the real loaders
(``torch.load(weights_only=False)``, ``numpy.load``, ``joblib.load``, ``pickle.load``) in one
throwaway subprocess, each load in its own empty directory: a payload only creates ``pwned``.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from hubmgr.formats.pickle_scan import grade_file
from hubmgr.formats.sniff import sniff_pickle
from hubmgr.models import VERDICT_NEEDS_CODE, VERDICT_SAFE, VERDICT_UNSAFE
from hubmgr.testing.pickle_corpus import MARKER, build_corpus, really_runs_code

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("corpus")
    samples = build_corpus(root / "files")
    truth = really_runs_code(samples, root / "truth")
    return root / "files", samples, truth


def _no_marker_anywhere(*roots: Path) -> list[Path]:
    return [p for root in roots for p in root.rglob(MARKER)]


def test_corpus_is_large_and_really_hostile(corpus) -> None:
    _, samples, truth = corpus
    malicious = [s for s in samples if s.malicious]
    families = Counter(s.family for s in malicious)
    assert len(malicious) >= 60 and len(families) >= 12, families
    # the payloads are real: most run code under torch.load(weights_only=False) or their own loader
    assert sum(truth[s.path] for s in malicious) >= 60
    assert not any(truth[s.path] for s in samples if not s.malicious)  # benign controls run nothing
    # every family has at least one member that really executes (else it would prove nothing)
    ran = {s.family for s in malicious if truth[s.path]}
    assert ran == set(families), set(families) - ran


def test_differential_no_executing_file_is_safe_or_needs_code(corpus) -> None:
    _, samples, truth = corpus
    wrong = []
    for sample in samples:
        verdict = grade_file(sample.path).safety.verdict
        if truth[sample.path] and verdict in (VERDICT_SAFE, VERDICT_NEEDS_CODE):
            wrong.append((sample.path.name, verdict))
    assert wrong == []


def test_every_hostile_file_is_unsafe_with_a_reason_and_controls_are_clean(corpus) -> None:
    _, samples, _ = corpus
    for sample in samples:
        safety = grade_file(sample.path).safety
        if sample.malicious:
            assert safety.verdict == VERDICT_UNSAFE and safety.reasons, (sample.path.name, safety)
        elif sample.family == "benign":
            assert safety.verdict == VERDICT_SAFE and not safety.reasons, (sample.path.name, safety)
        else:  # a full nn.Module of a __main__ class: needs its code, nothing else
            assert safety.verdict == VERDICT_NEEDS_CODE, (sample.path.name, safety)
            assert "__main__.CorpusNet" in safety.classes_needed and not safety.reasons


# file -> words its reasons must contain: each names the pickle (or container) torch would read
EXPECTED_REASONS = {
    "legacy_magic_p0.pt": "magic number: REDUCE calls os.system",
    "legacy_keys_p2.pt": "storage keys: REDUCE calls os.system",
    "legacy_sysinfo_p0.pt": "sys_info: REDUCE calls os.system",
    "tar_name_is_pickle.pt": "pickle object: REDUCE calls os.system",
    "tar_storages_member.pt": "storages count: REDUCE calls os.system",
    "zip_xdata_before_data.pt": "archive/data.pkl: REDUCE calls os.system",
    "zip_case_variant.pt": "archive/DATA.PKL: REDUCE calls os.system",
    "zip_duplicate_first_evil.pt": "duplicate member names",
    "zip_bad_crc.pt": "bad CRC",
    "zip_encrypted_flag.pt": "encrypted flag",
    "zip_local_name_differs.pt": "local header names",
    "dotted_torch_serialization_os.zip.pt": "torch.serialization.os.system through an attribute path",
    "build_plant_namespace.zip.pt": "NEWOBJ instantiates argparse.Namespace",
    "build_plant_ordereddict.zip.pt": "sets a const '__setstate__'",
    "reconstructor_popen.zip.pt": "copyreg._reconstructor with base subprocess.Popen",
    "from_type_v2_system.zip.pt": "_rebuild_from_type_v2 calls os.system",
    "inst_os_system.zip.pt": "INST calls os.system",
    "obj_no_args_partial.zip.pt": "OBJ calls the result of functools.partial",
    "timeit_timer.zip.pt": "REDUCE calls timeit.Timer",
    "array.npy": "object array: REDUCE calls os.system",
    "model.joblib": "decompressed pickle: REDUCE calls os.system",
}


def test_reasons_name_the_path_torch_takes(corpus) -> None:
    files, _, _ = corpus
    missing = {name: grade_file(files / name).safety.reasons for name, words in EXPECTED_REASONS.items()
               if not any(words in r for r in grade_file(files / name).safety.reasons)}
    assert missing == {}


def test_every_corpus_file_is_recognised_as_a_pickle_by_content(corpus) -> None:
    _, samples, _ = corpus
    assert [s.path.name for s in samples if sniff_pickle(s.path) is None] == []


def test_hubmgr_never_runs_a_payload(corpus, run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """scan, ls, inspect, convert and push over the whole corpus, from a cwd where payloads would land."""
    files, samples, _ = corpus
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    copy = tmp_path / "corpus"
    shutil.copytree(files, copy)
    scan = run_cli("-w", str(tmp_path), "scan", str(copy), "--json")
    assert scan.exit_code == 0, scan.stderr
    by_name = {Path(c["path"]).name: c["safety"] for c in scan.json()["checkpoints"]}
    assert set(by_name) == {s.path.name for s in samples}  # .npy .joblib .bak .bin.1 .pt2 .pth.tar too
    for sample in samples:
        if sample.malicious:
            assert by_name[sample.path.name]["verdict"] == VERDICT_UNSAFE, sample.path.name
    assert run_cli("-w", str(tmp_path), "ls").exit_code == 0
    for sample in samples:
        path = copy / sample.path.name
        run_cli("inspect", str(path))
        converted = run_cli("convert", str(path), "--out", str(tmp_path / "out" / f"{path.name}.safetensors"))
        if sample.malicious:
            assert converted.exit_code != 0, path.name
    pushed = run_cli("push", str(copy), "local:corpus")
    assert pushed.exit_code == 1 and "pickled weights or data" in pushed.stderr
    assert _no_marker_anywhere(work, tmp_path, copy) == []


def test_push_refuses_pickles_by_content_whatever_the_name(run_cli, tmp_path: Path, corpus) -> None:
    files, _, _ = corpus
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    (folder / "README.md").write_text("# m\n")
    for name in ("checkpoint.pth.tar", "weights.bak", "model.joblib", "array.npy", "pytorch_model.bin.1",
                 "model.pt2", "payload.pickle"):
        shutil.copy(files / name, folder / name)
        (folder / "notes.txt").write_text("plain text, not a pickle\n")
    run = run_cli("push", str(folder), "local:sniffed", "--json")
    assert run.exit_code == 1
    message = run.json()["error"]["message"]
    assert "checkpoint.pth.tar (pickle)" in message and "array.npy (npy_object)" in message
    assert "model.joblib (compressed_pickle)" in message and "notes.txt" not in message
    # the same files pass once excluded: the refusal is about them, not the folder
    names = [p.name for p in folder.iterdir() if p.suffix not in (".json", ".md", ".txt")]
    ok = run_cli("push", str(folder), "local:sniffed", "--json", *[a for n in names for a in ("--exclude", n)])
    assert ok.exit_code == 0, ok.stderr
