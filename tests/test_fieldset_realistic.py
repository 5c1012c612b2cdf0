"""The realistic field set: deterministic by seed, tagged, written with its truth, scored per tag."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from edgedigits.evaluate import page_groups
from edgedigits.fieldset import write_pages
from edgedigits.fieldset_realistic import LEVELS, SKELETONS, render_realistic, stroke_digit


def test_same_seed_same_page_and_tags(mnist):
    first = render_realistic(np.random.default_rng(5), "hard", "strokes", mnist[1], frame=(640, 480))
    again = render_realistic(np.random.default_rng(5), "hard", "strokes", mnist[1], frame=(640, 480))
    assert first.jpeg == again.jpeg and first.tags == again.tags and first.lines == again.lines
    assert first.image.shape == (480, 640, 3)
    assert any(tag.startswith("paper:") for tag in first.tags) and any(tag.startswith("ink:") for tag in first.tags)
    assert all(line.replace(" ", "").isdigit() for line in first.lines)


@pytest.mark.parametrize("paper, ink", [("grid", "pencil"), ("ruled", "pencil"), ("blackboard", None), ("whiteboard", "pencil")])
def test_a_page_can_be_drawn_in_a_given_look(mnist, paper, ink):
    page = render_realistic(np.random.default_rng(2), "medium", "mnist", mnist[1], frame=(320, 240), paper=paper, ink=ink)
    expected_ink = {"blackboard": "chalk", "whiteboard": "marker"}.get(paper, ink)  # a board takes its own ink
    assert f"paper:{paper}" in page.tags and f"ink:{expected_ink}" in page.tags


def test_a_page_can_be_drawn_with_a_given_clutter_and_refuses_unknown_looks(mnist):
    page = render_realistic(np.random.default_rng(2), "easy", "mnist", mnist[1], frame=(320, 240), clutter="circle")
    assert "clutter:circle" in page.tags  # easy pages never draw clutter by themselves
    with pytest.raises(ValueError, match="grids"):
        render_realistic(np.random.default_rng(2), "easy", "mnist", mnist[1], frame=(320, 240), paper="grids")


@pytest.mark.parametrize("level", LEVELS)
def test_touching_pages_are_tagged(mnist, level):
    page = render_realistic(np.random.default_rng(1), level, "mnist", mnist[1], touching=True, frame=(320, 240))
    assert "touching" in page.tags and "apart" not in page.tags


def test_every_digit_has_a_stroke_skeleton_that_draws():
    rng = np.random.default_rng(0)
    for digit in range(10):
        assert digit in SKELETONS
        glyph = stroke_digit(rng, digit, 60, 5.0)
        assert 50 <= glyph.shape[0] <= 80 and glyph.max() == 255


def test_a_written_set_scores_per_level_and_tag(mnist, tmp_path):
    truth = write_pages(tmp_path, 3, seed=4, mnist_test=mnist[1], kind="realistic")
    records = [json.loads(line) for line in truth.read_text().splitlines()]
    assert [r["difficulty"] for r in records] == list(LEVELS)
    for record in records:
        image = cv2.imread(str(tmp_path / record["file"]))
        assert [image.shape[1], image.shape[0]] == record["size"]
        groups = page_groups(record)
        assert record["difficulty"] in groups and any(g.startswith("tag paper:") for g in groups)
        assert f"{record['difficulty']}/{'touching' if 'touching' in record['tags'] else 'apart'}" in groups


def test_unknown_kind_is_refused(mnist, tmp_path):
    with pytest.raises(ValueError, match="plain, realistic or close-up"):
        write_pages(tmp_path, 1, kind="glossy", mnist_test=mnist[1])


def test_close_up_pages_hold_one_short_number_a_third_of_the_frame_tall_or_more(mnist, tmp_path):
    """`--kind close-up`: one number of 1-2 digits (or a year), photographed from close by: its digits' ink at
    least about CLOSE_UP_SHARE's lower end of the frame's height (a year is written smaller to fit), tagged."""
    from edgedigits.fieldset_realistic import CLOSE_UP_SHARE

    _, (images, labels) = mnist
    for seed in range(6):
        page = render_realistic(np.random.default_rng(seed), LEVELS[seed % 3], "mnist", (images[:500], labels[:500]),
                                frame=(320, 240), with_target=True, close_up=True)
        assert "close-up" in page.tags and "layout:single" in page.tags
        (number,) = page.text.split("\n")
        assert number.isdigit() and (len(number) <= 2 or len(number) == 4)
        rows = np.flatnonzero(page.target.max(axis=1) > 127)
        assert rows[-1] - rows[0] >= (0.6 if len(number) == 4 else 0.8) * CLOSE_UP_SHARE[0] * page.target.shape[0]
    truth = write_pages(tmp_path, 3, seed=4, mnist_test=mnist[1], kind="close-up")
    assert all("close-up" in json.loads(line)["tags"] for line in truth.read_text().splitlines())


@pytest.mark.parametrize("level", LEVELS)
def test_target_pages_know_where_each_digit_lies(mnist, level):
    _, (images, labels) = mnist
    rng = np.random.default_rng(3)
    page = render_realistic(rng, level, "mnist", (images[:500], labels[:500]), with_target=True)
    assert len(page.centres) == len(page.text.replace(" ", "").replace("\n", ""))
    height, width = page.target.shape
    for x, y in page.centres:  # each centre lies in the frame, with the digit's own ink close by
        assert 0 <= x < width and 0 <= y < height
        near = page.target[max(0, int(y) - 6) : int(y) + 7, max(0, int(x) - 6) : int(x) + 7]
        assert near.max() > 127
    # asking for the target draws the same page
    plain = render_realistic(np.random.default_rng(3), level, "mnist", (images[:500], labels[:500]))
    np.testing.assert_array_equal(plain.image, page.image)
