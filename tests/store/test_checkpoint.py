"""Checkpoint settings: what resume checks a hand-edited config.toml against."""


def test_edited_settings_name_what_changes_the_computation_and_only_that():
    from ecosim.config import Config
    from ecosim.store.checkpoint import computed_settings, edited_settings

    ran = Config().with_overrides({"mutation.family_weights": "layer=2,node=1", "mutation.max_macs": 5e5})
    saved = computed_settings(ran)
    same = {  # the same bits: reordered weights, a reference layout pinned, resumable keys
        "mutation.family_weights": "node=1, layer=2",
        "mutation.max_macs": 500000,
        "training.conv_mode": "dense",
        "training.memory_format": "channels_first",
        "training.eval_split": "whole",
        "run.generations": 7,
        "resources.num_cpus": 1,
    }
    assert edited_settings(saved, ran.with_overrides(same)) == []
    split = "add_layer=1, remove_layer=1, node=1"  # the same weight per kind, written another way
    assert edited_settings(saved, ran.with_overrides({"mutation.family_weights": split})) == []
    edits = edited_settings(saved, ran.with_overrides({"training.conv_mode": "grouped", "run.seed": 5}))
    assert edits == [
        "run.seed = 5 (the run computed with 0)",
        "training.conv_mode = 'grouped' (the run computed with 'auto')",
    ]
    assert edited_settings(saved, ran.with_overrides({"mutation.family_weights": "layer=1,node=1"}))[0].startswith(
        "mutation.family_weights = 'layer=1,node=1' (the run computed with 'add_layer=1,add_node=0.5,"
    )
    assert edited_settings(None, ran.with_overrides({"run.seed": 5})) == []  # a checkpoint of ecosim < 0.7
