"""Specification tests for tinygrad_attn.teach.tasks (tiny generated data sets)."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest

from tinygrad_attn.teach.tasks import (
    BANK_VOCAB,
    IGNORE_INDEX,
    MONEY_CUES,
    PAD_ID,
    RIVER_CUES,
    SEED_SENTENCE,
    SENSES,
    TASK_NAMES,
    BankTask,
    SequenceTask,
    bank_task_from_sentences,
    decode,
    encode,
    label_banks,
    make_bank_task,
    make_sequence_task,
    sequence_accuracy,
    token_accuracy,
)

L = 6  # prompt length used by most sequence tests


def full_string(task: SequenceTask, row: int) -> list[int]:
    """Rebuild the whole token string: the inputs plus the last target."""
    return [int(t) for t in task.inputs[row]] + [int(task.targets[row, -1])]


def scored_targets(task: SequenceTask, row: int) -> list[int]:
    return [int(t) for t in task.targets[row] if t != IGNORE_INDEX]


# ---------------------------------------------------------------------------
# sequence tasks: contents
# ---------------------------------------------------------------------------


def test_reverse_targets_are_the_reversed_prompt() -> None:
    task = make_sequence_task("reverse", 50, length=L, seed=3)
    for r in range(len(task)):
        prompt = [int(t) for t in task.inputs[r, :L]]
        expected = list(reversed(prompt))
        assert scored_targets(task, r) == expected
        assert full_string(task, r)[L + 1 :] == expected


def test_copy_targets_repeat_the_prompt() -> None:
    task = make_sequence_task("copy", 50, length=L, seed=3)
    for r in range(len(task)):
        assert scored_targets(task, r) == [int(t) for t in task.inputs[r, :L]]


def test_sort_targets_are_the_sorted_prompt() -> None:
    task = make_sequence_task("sort", 50, length=L, seed=3)
    for r in range(len(task)):
        assert scored_targets(task, r) == sorted(int(t) for t in task.inputs[r, :L])


def test_induction_second_half_repeats_first_half_of_distinct_symbols() -> None:
    task = make_sequence_task("induction", 50, length=L, seed=3)
    for r in range(len(task)):
        s = full_string(task, r)
        assert len(s) == 2 * L
        assert s[:L] == s[L:]
        assert len(set(s[:L])) == L
        # scored targets are the repeat minus its first token (that one needs counting, not looking back)
        assert scored_targets(task, r) == s[L + 1 :]


def test_induction_scored_token_is_what_followed_the_current_token_earlier() -> None:
    task = make_sequence_task("induction", 30, length=L, seed=4)
    for r in range(len(task)):
        row = [int(t) for t in task.inputs[r]]
        for i in range(task.block_size):
            if task.targets[r, i] == IGNORE_INDEX:
                continue
            earlier = row.index(row[i])  # first occurrence of the current token
            assert earlier < i
            assert task.targets[r, i] == row[earlier + 1]


@pytest.mark.parametrize("name", ["copy", "reverse", "sort"])
def test_separator_marks_where_the_answer_starts(name: str) -> None:
    task = make_sequence_task(name, 20, length=L, seed=0)
    sep = task.vocab.index("|")
    assert task.vocab[-1] == "|"
    assert (task.inputs[:, L] == sep).all()
    assert (task.inputs[:, :L] != sep).all() and (task.inputs[:, L + 1 :] != sep).all()
    assert task.answer_start == L


@pytest.mark.parametrize("name", TASK_NAMES)
def test_targets_are_inputs_shifted_by_one_where_scored(name: str) -> None:
    task = make_sequence_task(name, 40, length=L, seed=1)
    scored = task.targets != IGNORE_INDEX
    # every scored position except the last one can be checked against the next input
    np.testing.assert_array_equal(task.targets[:, :-1][scored[:, :-1]], task.inputs[:, 1:][scored[:, :-1]])


@pytest.mark.parametrize("name", TASK_NAMES)
def test_only_answer_positions_are_scored(name: str) -> None:
    task = make_sequence_task(name, 40, length=L, seed=1)
    assert (task.targets[:, :L] == IGNORE_INDEX).all()
    assert (task.targets[:, L:] != IGNORE_INDEX).all()
    expected_scored = L - 1 if name == "induction" else L
    assert ((task.targets != IGNORE_INDEX).sum(axis=1) == expected_scored).all()


@pytest.mark.parametrize("name", TASK_NAMES)
def test_shapes_dtypes_and_block_size(name: str) -> None:
    task = make_sequence_task(name, 17, length=5, n_symbols=7, seed=0)
    T = 2 * 5 - 1 if name == "induction" else 2 * 5
    assert task.inputs.shape == task.targets.shape == (17, T)
    assert task.inputs.dtype == task.targets.dtype == np.int64
    assert task.block_size == T and len(task) == 17 and task.name == name
    assert task.vocab == ("0", "1", "2", "3", "4", "5", "6", "|")
    assert task.vocab_size == 8
    assert task.inputs.min() >= 0 and task.inputs.max() < task.vocab_size


def test_more_than_ten_symbols_uses_multi_character_tokens() -> None:
    task = make_sequence_task("copy", 5, length=3, n_symbols=12, seed=0)
    assert task.vocab[10:] == ("10", "11", "|")
    assert len(task.decode(task.inputs[0]).split(" ")) == task.block_size


def test_sequence_arrays_are_read_only() -> None:
    task = make_sequence_task("copy", 5, seed=0)
    with pytest.raises(ValueError):
        task.inputs[0, 0] = 1
    with pytest.raises(ValueError):
        task.targets[0, 0] = 1


def test_decode_and_show_mark_unscored_positions_with_underscore() -> None:
    task = make_sequence_task("reverse", 3, length=3, seed=0)
    prompt = [task.vocab[t] for t in task.inputs[0, :3]]
    answer = list(reversed(prompt))
    assert task.decode(task.inputs[0]) == " ".join(prompt + ["|"] + answer[:-1])
    assert task.decode(task.targets[0]) == " ".join(["_"] * 3 + answer)
    lines = task.show(0).splitlines()
    assert lines[0].startswith("input :") and lines[1].startswith("target:")


def test_decode_rejects_ids_outside_the_vocabulary() -> None:
    task = make_sequence_task("copy", 3, length=3, seed=0)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        task.decode([0, 99])


# ---------------------------------------------------------------------------
# sequence tasks: determinism and held-out data
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", TASK_NAMES)
def test_same_seed_gives_identical_data(name: str) -> None:
    a = make_sequence_task(name, 30, seed=7)
    b = make_sequence_task(name, 30, seed=7)
    c = make_sequence_task(name, 30, seed=8)
    np.testing.assert_array_equal(a.inputs, b.inputs)
    np.testing.assert_array_equal(a.targets, b.targets)
    assert not np.array_equal(a.inputs, c.inputs)


def test_a_generator_can_be_passed_as_seed() -> None:
    a = make_sequence_task("sort", 10, seed=np.random.default_rng(5))
    b = make_sequence_task("sort", 10, seed=np.random.default_rng(5))
    np.testing.assert_array_equal(a.inputs, b.inputs)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_prompts_within_a_task_are_all_different(name: str) -> None:
    task = make_sequence_task(name, 1500, length=4, n_symbols=8, seed=0)
    prompts = {tuple(row) for row in task.inputs[:, :4].tolist()}
    assert len(prompts) == 1500


@pytest.mark.parametrize("name", TASK_NAMES)
def test_split_gives_disjoint_train_and_held_out_prompts(name: str) -> None:
    task = make_sequence_task(name, 3000, length=8, n_symbols=10, seed=0)
    train, held = task.split(2500)
    assert (len(train), len(held)) == (2500, 500)
    assert train.vocab == held.vocab == task.vocab and held.name == name
    train_prompts = {tuple(r) for r in train.inputs[:, :8].tolist()}
    held_prompts = {tuple(r) for r in held.inputs[:, :8].tolist()}
    assert train_prompts.isdisjoint(held_prompts)
    np.testing.assert_array_equal(np.concatenate([train.targets, held.targets]), task.targets)


def test_small_prompt_space_can_be_used_up_exactly() -> None:
    task = make_sequence_task("copy", 27, length=3, n_symbols=3, seed=0)
    prompts = sorted(tuple(r) for r in task.inputs[:, :3].tolist())
    expected = sorted((a, b, c) for a in range(3) for b in range(3) for c in range(3))
    assert prompts == expected


def test_asking_for_more_prompts_than_exist_is_rejected() -> None:
    with pytest.raises(ValueError, match="only 27 different prompts"):
        make_sequence_task("copy", 28, length=3, n_symbols=3)


def test_large_prompt_space_is_sampled_without_duplicates() -> None:
    task = make_sequence_task("reverse", 5000, length=12, n_symbols=10, seed=2)
    assert len({tuple(r) for r in task.inputs[:, :12].tolist()}) == 5000


# ---------------------------------------------------------------------------
# sequence tasks: errors for learners
# ---------------------------------------------------------------------------


def test_unknown_task_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="make_sequence_task") as info:
        make_sequence_task("revers", 10)
    for known in TASK_NAMES:
        assert known in str(info.value)


@pytest.mark.parametrize("n", [0, -3])
def test_n_must_be_positive(n: int) -> None:
    with pytest.raises(ValueError, match=r"make_sequence_task: n must be >= 1"):
        make_sequence_task("copy", n)


@pytest.mark.parametrize("length", [0, 1])
def test_length_too_small_is_rejected(length: int) -> None:
    with pytest.raises(ValueError, match="length must be >= 2"):
        make_sequence_task("reverse", 10, length=length)


def test_too_few_symbols_is_rejected() -> None:
    with pytest.raises(ValueError, match="n_symbols must be >= 2"):
        make_sequence_task("copy", 10, n_symbols=1)


def test_induction_needs_at_least_as_many_symbols_as_length() -> None:
    with pytest.raises(ValueError, match="induction"):
        make_sequence_task("induction", 10, length=11, n_symbols=10)


@pytest.mark.parametrize("kwargs", [{"n": 2.0}, {"n": True}, {"length": "8"}, {"seed": 1.5}, {"name": 3}])
def test_wrong_argument_types_raise_type_error(kwargs: dict) -> None:
    args = {"name": "copy", "n": 5, **kwargs}
    with pytest.raises(TypeError, match="make_sequence_task"):
        make_sequence_task(**args)


def test_split_rejects_sizes_that_leave_a_side_empty() -> None:
    task = make_sequence_task("copy", 10, seed=0)
    for bad in (0, 10, 11, -1):
        with pytest.raises(ValueError, match="split"):
            task.split(bad)


# ---------------------------------------------------------------------------
# accuracy helpers
# ---------------------------------------------------------------------------


def test_token_accuracy_counts_only_scored_positions() -> None:
    targets = np.array([[IGNORE_INDEX, 1, 2], [IGNORE_INDEX, 3, 4]])
    pred = np.array([[9, 1, 0], [9, 3, 4]])  # the 9s sit on ignored positions and must not count
    assert token_accuracy(pred, targets) == pytest.approx(3 / 4)
    assert sequence_accuracy(pred, targets) == pytest.approx(1 / 2)


def test_perfect_predictions_score_one() -> None:
    task = make_sequence_task("sort", 20, seed=0)
    pred = np.where(task.targets == IGNORE_INDEX, 0, task.targets)
    assert token_accuracy(pred, task.targets) == 1.0
    assert sequence_accuracy(pred, task.targets) == 1.0


def test_accuracy_shape_mismatch_suggests_argmax_for_logits() -> None:
    targets = np.zeros((2, 3), dtype=np.int64)
    with pytest.raises(ValueError, match="argmax"):
        token_accuracy(np.zeros((2, 3, 5)), targets)


def test_accuracy_rejects_float_predictions_and_empty_scoring() -> None:
    with pytest.raises(TypeError, match="token_accuracy"):
        token_accuracy(np.zeros((1, 2)), np.zeros((1, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="no scored position"):
        token_accuracy(np.zeros((1, 2), dtype=np.int64), np.full((1, 2), IGNORE_INDEX))


# ---------------------------------------------------------------------------
# bank task: vocabulary and the seed sentence
# ---------------------------------------------------------------------------

SEED_WORDS = (
    "i went to the bank and noticed my account was empty so i went to a river bank and cried"
).split()


def test_seed_sentence_encodes_with_money_then_river() -> None:
    ids = encode(SEED_SENTENCE)
    assert [BANK_VOCAB[i] for i in ids] == SEED_WORDS
    assert label_banks(SEED_SENTENCE) == ("money", "river")
    task = bank_task_from_sentences([SEED_SENTENCE])
    banks = [i for i, w in enumerate(SEED_WORDS) if w == "bank"]
    assert banks == [4, 17]
    assert [SENSES[task.targets[0, b]] for b in banks] == ["money", "river"]
    assert task.show(0).count("bank[money]") == 1 and task.show(0).count("bank[river]") == 1


def test_seed_sentence_cues_sit_after_then_before_their_bank() -> None:
    assert SEED_WORDS.index("account") > 4  # money cue comes after the first bank
    assert SEED_WORDS.index("river") == 16  # river cue comes right before the second bank


def test_encode_lowercases_and_drops_punctuation() -> None:
    assert decode(encode("I went to the BANK, and cried!")) == "i went to the bank and cried"
    assert encode("the bank").dtype == np.int64


def test_encode_names_unknown_words() -> None:
    with pytest.raises(ValueError, match="zebra"):
        encode("the zebra bank")
    with pytest.raises(TypeError, match="encode"):
        encode(42)  # type: ignore[arg-type]


def test_bank_vocabulary_is_small_and_well_formed() -> None:
    assert 40 <= len(BANK_VOCAB) <= 60
    assert BANK_VOCAB[PAD_ID] == "<pad>"
    assert len(set(BANK_VOCAB)) == len(BANK_VOCAB)
    assert SENSES == ("money", "river")
    assert set(MONEY_CUES).isdisjoint(RIVER_CUES)
    for cue in ("account", "money", "deposit", "loan", "cash", "teller"):
        assert cue in MONEY_CUES
    for cue in ("river", "water", "fish", "mud", "shore", "boat"):
        assert cue in RIVER_CUES


def test_bank_without_any_cue_cannot_be_labelled() -> None:
    with pytest.raises(ValueError, match="no cue"):
        label_banks("i went to the bank")
    with pytest.raises(TypeError, match="list of sentences"):
        bank_task_from_sentences(SEED_SENTENCE)


# ---------------------------------------------------------------------------
# bank task: generated data
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bank() -> BankTask:
    return make_bank_task(4000, seed=0)


def nearest_cue_sense(words: list[str], b: int) -> int:
    """Independent statement of the labelling rule: sense of the nearest cue word."""
    dist = {}
    for i, w in enumerate(words):
        if w in MONEY_CUES or w in RIVER_CUES:
            dist.setdefault(abs(i - b), set()).add(0 if w in MONEY_CUES else 1)
    closest = dist[min(dist)]
    assert len(closest) == 1, f"tie at {words}"
    return closest.pop()


def test_bank_shapes_dtypes_and_padding_mask(bank: BankTask) -> None:
    assert bank.inputs.shape == bank.targets.shape == bank.mask.shape == (4000, 32)
    assert bank.inputs.dtype == bank.targets.dtype == np.int64 and bank.mask.dtype == np.bool_
    assert bank.block_size == 32 and bank.vocab == BANK_VOCAB and bank.vocab_size == len(BANK_VOCAB)
    np.testing.assert_array_equal(bank.mask, bank.inputs != PAD_ID)
    # padding only at the end: once a row is masked out it stays masked out
    assert (np.diff(bank.mask.astype(int), axis=1) <= 0).all()
    assert bank.mask[:, 0].all()


def test_labels_sit_exactly_on_bank_words(bank: BankTask) -> None:
    is_bank = bank.inputs == BANK_VOCAB.index("bank")
    assert np.isin(bank.targets[is_bank], (0, 1)).all()
    assert (bank.targets[~is_bank] == IGNORE_INDEX).all()


def test_labels_follow_the_nearest_cue_word(bank: BankTask) -> None:
    for r in range(len(bank)):
        words = decode(bank.inputs[r]).split()
        for b, w in enumerate(words):
            if w == "bank":
                assert bank.targets[r, b] == nearest_cue_sense(words, b), words


def test_cues_come_both_before_and_after_at_varying_distances(bank: BankTask) -> None:
    side = Counter()
    distances = set()
    for r in range(len(bank)):
        words = decode(bank.inputs[r]).split()
        cues = [i for i, w in enumerate(words) if w in MONEY_CUES or w in RIVER_CUES]
        for b, w in enumerate(words):
            if w == "bank":
                c = min(cues, key=lambda i: abs(i - b))
                side["before" if c < b else "after"] += 1
                distances.add(abs(c - b))
    assert side["before"] > 0.25 * sum(side.values()) and side["after"] > 0.25 * sum(side.values())
    assert len(distances) >= 6


def test_some_sentences_have_two_banks_with_different_senses(bank: BankTask) -> None:
    n_banks = (bank.targets != IGNORE_INDEX).sum(axis=1)
    assert set(n_banks.tolist()) == {1, 2}
    two = bank.targets[n_banks == 2]
    senses = two[two != IGNORE_INDEX].reshape(-1, 2)
    assert (senses[:, 0] != senses[:, 1]).sum() > 100


def test_no_two_bank_sentences_when_asked() -> None:
    task = make_bank_task(300, seed=1, p_two_banks=0.0, max_len=16)
    assert ((task.targets != IGNORE_INDEX).sum(axis=1) == 1).all()
    assert task.block_size == 16


def test_senses_are_balanced_for_every_bank_position_and_sentence_length(bank: BankTask) -> None:
    lengths = bank.mask.sum(axis=1)
    by_position: dict[int, Counter] = defaultdict(Counter)
    by_length: dict[int, Counter] = defaultdict(Counter)
    for r, c in zip(*np.nonzero(bank.targets != IGNORE_INDEX)):
        y = int(bank.targets[r, c])
        by_position[int(c)][y] += 1
        by_length[int(lengths[r])][y] += 1
    for table in (by_position, by_length):
        for counts in table.values():
            assert counts[0] == counts[1]


def test_a_baseline_that_ignores_cue_words_is_at_chance(bank: BankTask) -> None:
    cue_ids = [BANK_VOCAB.index(w) for w in MONEY_CUES + RIVER_CUES]
    blind = np.where(np.isin(bank.inputs, cue_ids), -1, bank.inputs)  # every cue looks the same
    groups: dict[tuple, Counter] = defaultdict(Counter)
    for r, c in zip(*np.nonzero(bank.targets != IGNORE_INDEX)):
        groups[(tuple(blind[r].tolist()), int(c))][int(bank.targets[r, c])] += 1
    # the best any cue-blind rule can do is the majority label inside each group
    best = sum(max(cnt.values()) for cnt in groups.values()) / sum(sum(cnt.values()) for cnt in groups.values())
    assert best == pytest.approx(0.5)


def test_in_one_bank_sentences_the_cue_kind_is_the_label(bank: BankTask) -> None:
    money_ids = [BANK_VOCAB.index(w) for w in MONEY_CUES]
    river_ids = [BANK_VOCAB.index(w) for w in RIVER_CUES]
    one_bank = (bank.targets != IGNORE_INDEX).sum(axis=1) == 1
    labels = bank.targets[one_bank][bank.targets[one_bank] != IGNORE_INDEX]
    has_money = np.isin(bank.inputs[one_bank], money_ids).any(axis=1)
    has_river = np.isin(bank.inputs[one_bank], river_ids).any(axis=1)
    np.testing.assert_array_equal(labels == 0, has_money)
    np.testing.assert_array_equal(labels == 1, has_river)


def test_bank_task_is_deterministic_and_seed_dependent() -> None:
    a, b, c = make_bank_task(200, seed=3), make_bank_task(200, seed=3), make_bank_task(200, seed=4)
    np.testing.assert_array_equal(a.inputs, b.inputs)
    np.testing.assert_array_equal(a.targets, b.targets)
    assert not np.array_equal(a.inputs, c.inputs)


def test_bank_sentences_are_distinct_and_split_is_disjoint(bank: BankTask) -> None:
    rows = [tuple(r) for r in bank.inputs.tolist()]
    assert len(set(rows)) == len(rows)
    train, held = bank.split(3000)
    assert (len(train), len(held)) == (3000, 1000)
    assert {tuple(r) for r in train.inputs.tolist()}.isdisjoint(tuple(r) for r in held.inputs.tolist())
    np.testing.assert_array_equal(held.mask, bank.mask[3000:])


def test_every_generated_sentence_fits_max_len_and_is_labelled() -> None:
    task = make_bank_task(500, seed=2, max_len=20)
    assert task.block_size == 20
    assert ((task.targets != IGNORE_INDEX).sum(axis=1) >= 1).all()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"n": 0}, ValueError, "n must be >= 1"),
        ({"n": 1.5}, TypeError, "n must be an int"),
        ({"n": 10, "max_len": 5}, ValueError, "too short"),
        ({"n": 10, "max_len": 10}, ValueError, "p_two_banks=0"),
        ({"n": 10, "p_two_banks": 1.5}, ValueError, "p_two_banks"),
        ({"n": 10, "max_gap": 7}, ValueError, "max_gap"),
        ({"n": 10, "seed": "0"}, TypeError, "seed"),
    ],
)
def test_bank_task_rejects_bad_arguments(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message) as info:
        make_bank_task(**kwargs)
    assert "make_bank_task" in str(info.value)


def test_asking_for_more_bank_sentences_than_exist_is_rejected() -> None:
    # with 6 words and one bank there are only a few hundred different sentences
    with pytest.raises(ValueError, match="distinct sentences"):
        make_bank_task(2000, seed=0, max_len=6, p_two_banks=0.0)


def test_bank_arrays_are_read_only(bank: BankTask) -> None:
    for arr in (bank.inputs, bank.targets, bank.mask):
        with pytest.raises(ValueError):
            arr[0, 0] = arr[0, 0]
