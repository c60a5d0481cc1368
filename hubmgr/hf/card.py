"""Model-card metadata the Hub way, through ``huggingface_hub.ModelCard`` / ``ModelCardData`` / ``EvalResult``.

``cards.py`` renders and merges cards; this module (the only one allowed to touch
``huggingface_hub``, DESIGN rule 3) builds the ``model-index`` block and checks a
finished card the way the Hub will read it: it must parse, its eval results must
come back identical, its license must be a Hub license id and its datasets non-empty.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from ..errors import HubmgrError

# License ids the Hub accepts in card metadata (https://huggingface.co/docs/hub/repositories-licenses).
HUB_LICENSES = frozenset("""
apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0 bigcode-openrail-m
afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5
cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0
cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0 cdla-permissive-1.0
cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1 eupl-1.2 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0
lgpl lgpl-2.1 lgpl-3.0 isc h-research intel-research lppl-1.3c ms-pl apple-ascl apple-amlr mpl-2.0 odc-by odbl
openrail++ osl-3.0 postgresql ofl-1.1 ncsa unlicense zlib pddl lgpl-lr deepfloyd-if-license
fair-noncommercial-research-license llama2 llama3 llama3.1 llama3.2 llama3.3 llama4 gemma unknown other
""".split())

_LANGUAGE = re.compile(r"^[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(?:/[A-Za-z0-9][\w.-]*)?$")


class CardError(HubmgrError):
    """A model card (or its metadata) the Hub would reject or misread."""


@dataclass(frozen=True)
class CardEval:
    """One ``model-index`` entry: a metric measured on a dataset for a task."""

    task_type: str
    task_name: str | None
    dataset_type: str
    dataset_name: str
    metric_type: str
    metric_value: float
    metric_name: str | None = None
    dataset_split: str | None = None
    dataset_config: str | None = None

    def key(self) -> tuple:
        return (self.task_type, self.dataset_type, self.dataset_name, self.dataset_config, self.dataset_split,
                self.metric_type, round(float(self.metric_value), 12), self.metric_name)


def check_license(license_id: str | None) -> None:
    if license_id is None:
        return
    if license_id not in HUB_LICENSES:
        close = sorted(x for x in HUB_LICENSES if x.startswith(license_id.lower()[:3]))[:6]
        raise CardError(
            f"license {license_id!r} is not a Hub license id (the Hub rejects the card on push)",
            f"use a lower-case id such as {', '.join(close) or 'apache-2.0, mit, cc-by-4.0'}; "
            "or 'other' with license_name/license_link",
        )


def check_datasets(datasets: list[Any] | None) -> None:
    for entry in datasets or []:
        if not isinstance(entry, str) or not entry.strip():
            raise CardError(f"datasets has an empty or non-text entry ({entry!r})",
                            "give Hub dataset ids like --dataset alice/arithmetic-5k, or none at all")
        if not _HUB_ID.match(entry.strip()):
            raise CardError(f"dataset {entry!r} is not a Hub dataset id", "write it as NAME or OWNER/NAME")


def check_languages(languages: list[Any] | None) -> None:
    for code in languages or []:
        if not isinstance(code, str) or not _LANGUAGE.match(code):
            raise CardError(f"language {code!r} is not an ISO 639 code", "use codes like en, fr or zh-Hans")


def looks_like_hub_id(value: str | None) -> bool:
    """True for ``gpt2`` or ``openai-community/gpt2``, false for local paths."""
    if not value or value.startswith((".", "/", "~")) or "\\" in value or value.count("/") > 1:
        return False
    return bool(_HUB_ID.match(value))


def model_index(model_name: str, evals: list[CardEval]) -> list[dict[str, Any]]:
    """The ``model-index`` metadata value, built by ``ModelCardData`` so it is exactly the Hub's shape."""
    from huggingface_hub import ModelCardData

    if not evals:
        return []
    data = ModelCardData(model_name=model_name, eval_results=[_to_hf(e) for e in evals])
    return data.to_dict().get("model-index", [])


def _to_hf(e: CardEval) -> Any:
    from huggingface_hub import EvalResult

    if not math.isfinite(float(e.metric_value)):
        raise CardError(f"metric {e.metric_type} on {e.dataset_name} is not a finite number ({e.metric_value})")
    return EvalResult(task_type=e.task_type, task_name=e.task_name, dataset_type=e.dataset_type,
                      dataset_name=e.dataset_name, dataset_split=e.dataset_split, dataset_config=e.dataset_config,
                      metric_type=e.metric_type, metric_value=float(e.metric_value), metric_name=e.metric_name)


def _from_hf(r: Any) -> CardEval:
    return CardEval(task_type=r.task_type, task_name=r.task_name, dataset_type=r.dataset_type,
                    dataset_name=r.dataset_name, metric_type=r.metric_type, metric_value=r.metric_value,
                    metric_name=r.metric_name, dataset_split=r.dataset_split, dataset_config=r.dataset_config)


def parse_card(text: str) -> tuple[dict[str, Any], list[CardEval]]:
    """(metadata dict, eval results) as ``huggingface_hub`` reads the card text."""
    from huggingface_hub import ModelCard

    try:
        card = ModelCard(text, ignore_metadata_errors=False)
    except (ValueError, TypeError, KeyError) as exc:
        raise CardError(f"the card does not parse as a Hub model card: {str(exc).splitlines()[0]}") from exc
    evals = [_from_hf(r) for r in (card.data.eval_results or [])]
    return card.data.to_dict(), evals


def validate_card(text: str, *, expected_evals: list[CardEval]) -> None:
    """Raise ``CardError`` unless ``text`` reads back with valid metadata and exactly ``expected_evals``."""
    metadata, evals = parse_card(text)
    license_id = metadata.get("license")
    check_license(license_id if isinstance(license_id, str) or license_id is None else str(license_id))
    datasets = metadata.get("datasets")
    check_datasets([datasets] if isinstance(datasets, str) else datasets)
    languages = metadata.get("language")
    check_languages([languages] if isinstance(languages, str) else languages)
    got = sorted(e.key() for e in evals)
    want = sorted(e.key() for e in expected_evals)
    if got != want:
        raise CardError(f"the card's model-index reads back as {len(got)} results instead of {len(want)}"
                        " (or with different values)", "this is a bug in the card template or hubmgr")
