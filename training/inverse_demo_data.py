"""The built-in inverse demo set ('builtin:inverse-demo'): short creative prompts, each with a guideline (a rubric)
as its reference, for inverse incentive training (DESIGN.md): the model writes the story inside the intermediate tag
and is scored on how well that story lets it predict the guideline inside the final tag.

Written for this project; small on purpose, so the `inverse` preset queues and trains out of the box on a laptop.
Columns prompt, guideline and split (the last 4 rows are test rows). Standard library only.
"""

from __future__ import annotations

TEST_ROWS = 4

_ROWS = (
    (
        "Write a four-sentence story about a lighthouse keeper who finds a letter in a bottle.",
        "A clear opening that names the keeper; the letter changes what the keeper does; a calm, hopeful ending.",
    ),
    (
        "Write a short fable about a tortoise who wants to learn to swim.",
        "Animal characters; one obstacle the tortoise must overcome; ends with a one-line moral about patience.",
    ),
    (
        "Write a story in five sentences about a child who loses a red balloon at a fair.",
        "Told from the child's point of view; the balloon is described with colour; the loss is resolved kindly.",
    ),
    (
        "Write a short story about a robot that learns to bake bread.",
        "The robot makes at least one mistake; smell and warmth appear; ends with the robot sharing bread.",
    ),
    (
        "Write a short ghost story set in a library, suitable for children.",
        "Gentle suspense and no violence; the ghost turns out to be friendly; the setting is described with sounds.",
    ),
    (
        "Write a story about two neighbours who argue over a tree on the border of their gardens.",
        "Both neighbours get a voice; the tree is described through the seasons; they reach a fair compromise.",
    ),
    (
        "Write a short story about a cat who guards a bakery at night.",
        "Playful tone; the cat notices one small intruder; the baker never learns what the cat did.",
    ),
    (
        "Write a story in the second person about waking up on a train you do not remember boarding.",
        "Uses 'you' throughout; builds curiosity with concrete details; ends on an open question.",
    ),
    (
        "Write a short story about an old map that leads a grandmother and her grandson to a hidden garden.",
        "Two generations work together; the map has a clear clue; the garden is described with colour and scent.",
    ),
    (
        "Write a story about a snowman who wants to see the summer.",
        "Bittersweet tone; the snowman meets a character who tells him about summer; ends with acceptance.",
    ),
    (
        "Write a short story about a street musician who plays one song for a stranger every evening.",
        "The song is never named; the stranger's reason is revealed at the end; quiet, warm mood.",
    ),
    (
        "Write a short adventure about a paper boat sailing down a rainy street.",
        "The boat faces three obstacles in order; vivid water imagery; the boat reaches a child at the end.",
    ),
    (
        "Write a story about a village where everyone forgets one word each morning.",
        "The rule of the village is explained early; one character finds a clever workaround; light humour.",
    ),
    (
        "Write a short story about a clockmaker who builds a clock that runs backwards.",
        "A precise workshop setting; the clock has one surprising effect; ends with a choice the clockmaker makes.",
    ),
    (
        "Write a story about a dog waiting at a bus stop every afternoon.",
        "Observed by a narrator who passes by; the reason for the waiting is revealed; a touching but not sad ending.",
    ),
    (
        "Write a short story about a girl who collects the sounds of her city in jars.",
        "At least three distinct sounds are named; a small conflict over one jar; ends with her sharing a sound.",
    ),
    (
        "Write a short story about a baker's apprentice who enters a cake contest.",
        "The apprentice doubts herself once; the cake is described in detail; she learns something beyond winning.",
    ),
    (
        "Write a story about a small island that moves a little every night.",
        "The islanders treat it as normal; one visitor is amazed; ends with the island arriving somewhere new.",
    ),
    (
        "Write a fable about a crow and a fox who both want the last cherry on a tree.",
        "Dialogue between the two animals; the cleverer plan wins; ends with a one-line moral about sharing.",
    ),
    (
        "Write a short story about a postwoman delivering a letter to a house that should not exist.",
        "A mysterious but calm mood; the house is described in detail; the letter's sender is revealed at the end.",
    ),
)


def inverse_demo_rows() -> list[dict[str, str]]:
    """The rows as prompt, guideline and split ("train", or "test" for the last TEST_ROWS)."""
    return [
        {"prompt": prompt, "guideline": guideline, "split": "test" if number >= len(_ROWS) - TEST_ROWS else "train"}
        for number, (prompt, guideline) in enumerate(_ROWS)
    ]
