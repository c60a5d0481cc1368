"""Model cards: rendered from the shipped template, merged on re-runs, validated like the Hub reads them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hubmgr.cards import TemplateError, load_template, list_templates, write_card
from hubmgr.catalog import Catalog
from hubmgr.evaluate import evaluate_checkpoint
from hubmgr.formats.hashing import sha256_file
from hubmgr.hf.card import CardError


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return Catalog(tmp_path / "catalog.db")


@pytest.fixture
def model_dir(tiny_gpt2_trained_dir: Path, tmp_path: Path) -> Path:
    """A writable copy of the trained tiny model (cards are written into the model dir)."""
    return Path(shutil.copytree(tiny_gpt2_trained_dir, tmp_path / "arith-1k"))


def _hub_card(path: Path):
    from huggingface_hub import ModelCard

    return ModelCard.load(path)


def test_card_round_trips_with_its_eval_results(model_dir: Path, catalog: Catalog) -> None:
    scored = evaluate_checkpoint(model_dir, n=50, digits=1, ops="+", catalog=catalog)
    result = write_card(model_dir, license="apache-2.0", language="en", dataset="alice/arith-1k",
                        base_model="openai-community/gpt2", catalog=catalog)
    assert result.created and result.eval_results == 1 and result.template == "default.md.j2"
    card = _hub_card(model_dir / "README.md")
    data = card.data
    assert data.license == "apache-2.0" and data.language == ["en"] and data.datasets == ["alice/arith-1k"]
    assert data.library_name == "transformers" and data.pipeline_tag == "text-generation"
    assert data.base_model == "openai-community/gpt2" and "gpt2" in data.tags
    (ev,) = data.eval_results
    assert ev.metric_type == "accuracy" and ev.metric_value == scored.metrics["accuracy"]
    assert ev.task_type == "text-generation" and ev.dataset_type == "hubmgr/arithmetic"
    assert "n=50" in ev.dataset_name and "seed=0" in ev.dataset_name
    body = card.text
    # Body: what it is, training data, eval table, failures, usage, limitations, files with sizes and sha256.
    assert "GPT2LMHeadModel" in body and "Training examples: 1,000" in body
    assert f"| accuracy | {scored.metrics['accuracy']:.4g} | 50 |" in body
    failure = scored.failures[0]
    assert f"`{failure.prompt}` | `{failure.expected}` | `{failure.output.strip()}`" in body
    assert "AutoModelForCausalLM.from_pretrained" in body and "## Limitations" in body
    assert f"`model.safetensors` | 424.5 KB | `{sha256_file(model_dir / 'model.safetensors')}`" in body
    # Provenance comes from the run's all_results.json (1,000 training samples), recorded as lineage
    assert "## Provenance" in body and "1,000 training samples" in body
    assert [s.action for s in result.sections] == ["added"] * 8


def test_user_edits_survive_a_rerun_and_our_sections_refresh(model_dir: Path, catalog: Catalog) -> None:
    evaluate_checkpoint(model_dir, n=20, digits=1, ops="+", catalog=catalog)
    write_card(model_dir, license="mit", catalog=catalog)
    readme = model_dir / "README.md"
    text = readme.read_text()
    # The user: adds a metadata key and a tag, writes their own section, edits our limitations section.
    text = text.replace("license: mit\n", "license: mit\nwidget:\n- text: 5 + 3 =\n", 1)
    text = text.replace("- hubmgr\n", "- hubmgr\n- my-own-tag\n", 1)
    text = text.replace("<!-- hubmgr:begin training",
                        "## My notes\n\nTrained on my laptop.\n\n<!-- hubmgr:begin training")
    text = text.replace("- Greedy decoding was used for every score", "- Only tested on Tuesdays.\n- Greedy decoding")
    readme.write_text(text)

    second = evaluate_checkpoint(model_dir, n=40, digits=1, ops="+", seed=1, catalog=catalog)
    result = write_card(model_dir, catalog=catalog)  # no --license: the existing one stays
    actions = {s.name: s.action for s in result.sections}
    assert actions["limitations"] == "kept_user_edit" and actions["evaluation"] == "refreshed"
    assert any("kept hand-edited section(s) limitations" in w for w in result.warnings)
    assert not result.created
    new = readme.read_text()
    assert "## My notes\n\nTrained on my laptop." in new
    assert "Only tested on Tuesdays." in new
    assert new.index("## My notes") < new.index("## Training")  # where the user put it
    card = _hub_card(readme)
    assert card.data.license == "mit" and card.data.widget == [{"text": "5 + 3 ="}]
    assert "my-own-tag" in card.data.tags and "hubmgr" in card.data.tags
    assert len(card.data.eval_results) == 2  # both runs (different n/seed) are in model-index
    assert second.metrics["accuracy"] in [e.metric_value for e in card.data.eval_results]
    assert "n=40" in new and "seed=1" in new  # the evaluation table was refreshed

    # A third run changes nothing the user wrote; a deleted section of ours comes back.
    start = new.index("<!-- hubmgr:begin usage")
    end = new.index("<!-- hubmgr:end usage -->") + len("<!-- hubmgr:end usage -->")
    readme.write_text(new[:start] + new[end:])
    third = write_card(model_dir, catalog=catalog)
    assert {s.name: s.action for s in third.sections}["usage"] == "added"
    final = readme.read_text()
    assert "## How to use" in final and "Only tested on Tuesdays." in final and "## My notes" in final
    assert final.index("## How to use") > final.index("## Failure examples")


def test_invalid_metadata_is_rejected_and_nothing_is_written(model_dir: Path, catalog: Catalog) -> None:
    readme = model_dir / "README.md"
    with pytest.raises(CardError, match="license 'Apache 2' is not a Hub license id") as info:
        write_card(model_dir, license="Apache 2", catalog=catalog)
    assert "apache-2.0" in info.value.hint
    with pytest.raises(CardError, match="datasets has an empty"):
        write_card(model_dir, dataset="", catalog=catalog)
    with pytest.raises(CardError, match="not an ISO 639 code"):
        write_card(model_dir, language="English", catalog=catalog)
    assert not readme.exists()
    # An existing card with metadata the Hub would reject is not silently pushed along.
    readme.write_text("---\nlicense: GPL\ndatasets:\n- ''\n---\n\nhello\n")
    with pytest.raises(CardError, match="license 'GPL'"):
        write_card(model_dir, catalog=catalog)
    assert readme.read_text() == "---\nlicense: GPL\ndatasets:\n- ''\n---\n\nhello\n"
    readme.write_text("---\nlicense: mit\ndatasets:\n- ''\n---\n\nhello\n")
    with pytest.raises(CardError, match="datasets has an empty"):
        write_card(model_dir, catalog=catalog)
    readme.write_text("---\nlicense: [mit\n---\nhello\n")
    with pytest.raises(CardError, match="YAML metadata does not parse"):
        write_card(model_dir, catalog=catalog)


def test_bad_templates_name_the_template_and_line(model_dir: Path, tmp_path: Path, catalog: Catalog) -> None:
    broken = tmp_path / "broken.md.j2"
    broken.write_text("# {{ model_name }}\n\n{% if evals %}\nno endif here\n")
    with pytest.raises(TemplateError, match=r"broken.md.j2, line \d+: .*endif"):
        write_card(model_dir, template=str(broken), catalog=catalog)
    undefined = tmp_path / "undefined.md.j2"
    undefined.write_text("# {{ model_name }}\n\n{{ no_such_variable }}\n")
    with pytest.raises(TemplateError, match=r"undefined.md.j2, line 3: 'no_such_variable' is undefined") as info:
        write_card(model_dir, template=str(undefined), catalog=catalog)
    assert "model_name" in info.value.hint
    with pytest.raises(TemplateError, match="no card template named 'fancy'") as info:
        write_card(model_dir, template="fancy", catalog=catalog)
    assert "default" in info.value.hint
    assert not (model_dir / "README.md").exists()


def test_templates_ship_in_the_package_and_custom_ones_work(model_dir: Path, tmp_path: Path,
                                                            catalog: Catalog) -> None:
    assert "default" in list_templates()
    assert "hubmgr:begin evaluation" in load_template("default").source
    custom = tmp_path / "short.md.j2"
    custom.write_text("<!-- hubmgr:begin model -->\n# {{ model_name }}: {{ training.num_train_samples }}"
                      " examples\n<!-- hubmgr:end model -->\n")
    write_card(model_dir, template=str(custom), license="mit", catalog=catalog)
    assert "# arith-1k: 1000 examples" in (model_dir / "README.md").read_text()


def test_base_model_comes_from_config_when_it_is_a_hub_id(model_dir: Path, catalog: Catalog) -> None:
    config = json.loads((model_dir / "config.json").read_text())
    (model_dir / "config.json").write_text(json.dumps({**config, "_name_or_path": "openai-community/gpt2"}))
    result = write_card(model_dir, catalog=catalog)
    assert result.metadata["base_model"] == "openai-community/gpt2"
    (model_dir / "README.md").unlink()
    (model_dir / "config.json").write_text(json.dumps({**config, "_name_or_path": "/home/me/runs/base"}))
    result = write_card(model_dir, catalog=catalog)
    assert "base_model" not in result.metadata
    assert any("no evaluation results" in w for w in result.warnings)


def test_scores_of_other_weights_are_left_out(model_dir: Path, tiny_gpt2_dir: Path, catalog: Catalog) -> None:
    evaluate_checkpoint(model_dir, n=10, digits=1, ops="+", catalog=catalog)
    shutil.copy(tiny_gpt2_dir / "model.safetensors", model_dir / "model.safetensors")  # retrained in place
    result = write_card(model_dir, catalog=catalog)
    assert result.eval_results == 0 and "model-index" not in result.metadata
    assert any("measured on other weights" in w for w in result.warnings)


def test_hyperparameters_are_read_from_training_args_without_unpickling(model_dir: Path, catalog: Catalog) -> None:
    import torch
    from transformers import TrainingArguments

    args = TrainingArguments(output_dir=str(model_dir / "out"), learning_rate=3e-3, max_steps=300,
                             per_device_train_batch_size=32, seed=7, lr_scheduler_type="cosine", report_to=[])
    torch.save(args, model_dir / "training_args.bin")
    write_card(model_dir, catalog=catalog)
    body = (model_dir / "README.md").read_text()
    for row in ("| learning_rate | 0.003 |", "| max_steps | 300 |", "| per_device_train_batch_size | 32 |",
                "| seed | 7 |", "| lr_scheduler_type | cosine |"):
        assert row in body
    assert "num_train_epochs" not in body  # max_steps overrides it


def test_an_existing_hand_written_readme_is_kept_above_our_sections(model_dir: Path, catalog: Catalog) -> None:
    (model_dir / "README.md").write_text("# My model\n\nWritten by hand before hubmgr.\n")
    result = write_card(model_dir, license="mit", catalog=catalog)
    text = (model_dir / "README.md").read_text()
    assert not result.created and text.startswith("---\nlicense: mit\n")
    assert text.index("Written by hand before hubmgr.") < text.index("<!-- hubmgr:begin model")
    assert [s.action for s in result.sections] == ["added"] * 8  # model ... provenance ... files
    # The section order of the template is kept when they are all appended.
    assert text.index("## Training") < text.index("## Evaluation") < text.index("## Files")


def test_card_of_a_dir_whose_safetensors_header_lies_does_not_allocate_it(tmp_path, tiny_gpt2_dir):
    """A header claiming 2**62 bytes used to be read whole (MemoryError); now it is bounded."""
    import shutil

    from hubmgr.cards import _safetensors_params

    model = tmp_path / "model"
    shutil.copytree(tiny_gpt2_dir, model)
    assert _safetensors_params([model / "model.safetensors"]) == sum(
        p.numel() for p in __import__("safetensors.torch", fromlist=["load_file"]).load_file(
            str(model / "model.safetensors")).values())
    (model / "model.safetensors").write_bytes((2**62).to_bytes(8, "little") + b"{}")
    assert _safetensors_params([model / "model.safetensors"]) is None


def test_render_card_previews_exactly_what_write_card_writes(tmp_path, tiny_gpt2_dir):
    import shutil

    from hubmgr.cards import render_card, write_card
    from hubmgr.catalog import Catalog

    model = tmp_path / "model"
    shutil.copytree(tiny_gpt2_dir, model)
    catalog = Catalog(tmp_path / "catalog.db")
    preview = render_card(model, catalog=catalog)
    assert not (model / "README.md").exists()
    written = write_card(model, catalog=catalog)
    assert (model / "README.md").read_text(encoding="utf-8") == preview
    assert written.created
