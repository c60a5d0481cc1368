"""Issue 13 point 11: the scrubber removes token values, not every word that starts with hf_."""

from __future__ import annotations

from hubmgr.hf.remote import scrub

TOKEN = "hf_" + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3f"  # the shape of a real user token (hf_ + 34)


def test_paths_and_names_starting_with_hf_are_kept() -> None:
    text = "cannot write /srv/hf_home/hub/models--a--b/blobs/x (hf_hub_download, hf_transfer, my_hf_model)"
    assert scrub(text) == text


def test_token_shaped_values_and_the_token_in_use_are_replaced() -> None:
    assert scrub(f"401 for Bearer {TOKEN}: bad") == "401 for Bearer hf_***: bad"
    assert scrub(f"url?token={TOKEN}&x=1") == "url?token=hf_***&x=1"
    in_use = "hf_hubmgrTEST_revokedTOKEN_33aa"  # not token-shaped: removed because it is the secret in use
    assert scrub(f"rejected {in_use} at /srv/hf_home", in_use) == "rejected *** at /srv/hf_home"
    assert scrub("nothing secret", None, "") == "nothing secret"
