"""Exact match reads the generated tokens as the model wrote them, whatever the tokenizer's decode does.

Real tokenizers built with ``tokenizers``: a char-level WordLevel one without a decoder (whose
``decode`` inserts spaces: ``11`` -> ``1 1``), a BPE trained here, and tokenizers with a decoder.
"""

from __future__ import annotations

import pytest

from hubmgr.evaluate import extract_number, generated_text, normalise_answer
from hubmgr.testing.tiny_models import ALPHABET, SPECIAL_TOKENS, addition_examples, build_char_tokenizer


def _fast(tok):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>")


def _char_without_decoder():
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers

    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS + ALPHABET)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    return _fast(tok)


def _bpe(byte_level: bool):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token=None if byte_level else "<unk>"))
    if byte_level:  # GPT-2 style: spaces are part of the tokens, the ByteLevel decoder restores them
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    else:  # whitespace-split BPE with no decoder: decode joins the pieces with spaces
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        alphabet = []
    trainer = trainers.BpeTrainer(vocab_size=60, special_tokens=SPECIAL_TOKENS, initial_alphabet=alphabet,
                                  show_progress=False)
    lines = addition_examples(400, seed=3, digits=2) + [f"{a} - {b} = {a - b}" for a, b in ((3, 45), (50, 8))]
    tok.train_from_iterator(lines, trainer=trainer)
    return _fast(tok)


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_char_tokenizer_without_decoder_is_read_without_inserted_spaces() -> None:
    tok = _char_without_decoder()
    ids = _ids(tok, " 11 + 2") + [tok.eos_token_id, tok.pad_token_id]
    assert tok.decode(ids, skip_special_tokens=True) == "  1 1   +   2"  # what used to be scored
    assert extract_number(tok.decode(ids, skip_special_tokens=True)) == "1"
    assert generated_text(tok, ids) == " 11 + 2"
    assert extract_number(generated_text(tok, ids)) == "11"


@pytest.mark.parametrize("byte_level", [False, True], ids=["bpe-no-decoder", "bpe-bytelevel-decoder"])
def test_trained_bpe_tokenizer_multi_token_numbers(byte_level: bool) -> None:
    tok = _bpe(byte_level)
    for text in ("= 17", "= 105", "= -42"):
        ids = _ids(tok, text)
        got = generated_text(tok, ids + [tok.eos_token_id])
        assert extract_number(got) == text.split()[-1], (tok.convert_ids_to_tokens(ids), got)
    if byte_level:  # the decoder restores spaces exactly
        assert generated_text(tok, _ids(tok, " 12 + 3")) == " 12 + 3"
    else:  # a number split over several pieces stays one number
        pieces = tok.convert_ids_to_tokens(_ids(tok, "= 1059"))
        assert len(pieces) > 2
        assert extract_number(generated_text(tok, _ids(tok, "= 1059"))) == "1059"


def test_tokenizer_with_decoder_uses_it() -> None:
    tok = build_char_tokenizer()  # Fuse decoder
    ids = _ids(tok, " 11 + 2")
    assert generated_text(tok, ids) == tok.decode(ids, skip_special_tokens=True) == " 11 + 2"
    assert normalise_answer(generated_text(tok, ids + [tok.eos_token_id])) == "11 + 2"
