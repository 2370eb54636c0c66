"""A run's progress through its settle schedule (``ecosystem.settle``, issue 17): :class:`SettleProgress`
alone, without the policy. No Ray, no torch."""

from __future__ import annotations

import json
import logging

import pytest

from ecosim.evolution.records import CullCandidate
from ecosim.evolution.settle_progress import SettleProgress
from ecosim.evolution.settling import Settling

LOGGER = "ecosim.evolution.settling"


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


def test_without_a_schedule_every_decision_is_no():
    p = SettleProgress(None)
    assert not p.settled(5, 4, 1e12, 1e12) and not p.no_offspring(5, 4, 1e12, 1e12)
    assert not p.waits_for(5, 0, 1e12) and p.learning_rate_scale(5, 1e12) == 1.0
    assert not p.keeps_fittest and p.surplus(5, [CullCandidate(0, 0, 1, 0.5, 0.5, fitness=0.1)], None, 0.0) == []
    assert p.short_of_budget(9, 10.0) == "" and p.settled_from is None


def test_the_point_waits_for_the_generation_before_then_holds_and_is_announced_once(caplog):
    p = SettleProgress(Settling(generation=3, keep=4, end_generation=8))
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert not p.settled(3, 1, 0.0, 0.0)  # generation 2 not written: a species ran ahead
        assert p.no_offspring(3, 1, 0.0, 0.0)  # ... yet a generation point is known: no offspring
        assert not p.settled(2, 2, 0.0, 0.0)  # before the point
        assert p.settled(3, 2, 0.0, 0.0) and p.settled_from == 3
        assert p.settled(3, 2, 0.0, 0.0) and p.settled(7, 2, 0.0, 0.0) and not p.settled(2, 2, 0.0, 0.0)
    assert lines(caplog) == [
        "generation 3: settled (ecosystem.settle): no more offspring, the 4 fittest networks train on from generation 4"
    ]


def test_a_compute_point_is_judged_on_the_compute_written_and_names_the_next_part(caplog):
    """Settled on the compute written before the generation; the line names what the next generation
    trains, judged on the compute through the settle generation (here already part 1 of 3)."""
    p = SettleProgress(Settling(macs=100.0, keep=8, rungs=3, end_macs=400.0, lr_decay=0.5))
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert not p.settled(5, 4, 99.0, 150.0) and not p.settled(5, 4, None, 150.0)
        assert p.settled(5, 4, 110.0, 230.0)
    assert p.part_shown == 1
    assert lines(caplog) == [
        "generation 5: settled (ecosystem.settle): no more offspring, the 4 fittest networks train on from "
        "generation 6 at 0.25× the learning rate"
    ]


def test_near_a_compute_point_no_species_runs_ahead_into_a_generation_it_may_land_on():
    """The second helper's find (session 37): a species ran several generations ahead of a compute
    point that complete generations had not yet revealed, making offspring past it. With the last
    generation's compute (30 MACs), the compute logged (60) plus 30 for each open generation before
    the one to train reaches the point (100) from two open generations on."""
    p = SettleProgress(Settling(macs=100.0, keep=2, end_macs=300.0))
    assert not p.waits_for(5, 3, 60.0, 30.0)  # generation 4 open: 60 + 30 < 100
    assert p.waits_for(6, 3, 60.0, 30.0)  # generations 4 and 5 open: 60 + 60 >= 100
    assert not p.waits_for(6, 3, 60.0, None)  # unknown per-generation compute: as before 0.9.8
    assert not p.waits_for(6, 3, 60.0, 5.0) and not p.waits_for(4, 3, 99.0, 30.0)  # far enough, or next
    assert not SettleProgress(Settling(generation=9, keep=2, end_generation=12)).waits_for(6, 3, 60.0, 30.0)


def test_waiting_for_the_generation_before_starts_at_the_point():
    p = SettleProgress(Settling(macs=100.0, keep=2, end_macs=300.0))
    assert not p.waits_for(6, 3, 90.0)  # before the point: species run ahead
    assert p.waits_for(6, 3, 120.0) and not p.waits_for(4, 3, 120.0)  # generation 3 is written
    p.settled_from = 5
    assert p.waits_for(6, 3, None) and not p.waits_for(5, 3, None)  # settled: known whatever the compute


def test_the_learning_rate_drops_after_the_settle_generation_and_never_rises():
    p = SettleProgress(Settling(generation=2, keep=2, rungs=3, end_generation=8, lr_decay=0.5))
    assert p.learning_rate_scale(5, None) == 1.0  # not settled yet
    p.settled_from = 2
    assert [p.learning_rate_scale(g, None) for g in (2, 3, 4, 6)] == [1.0, 0.5, 0.25, 0.125]
    assert p.lowest_lr_scale == 0.125
    assert p.learning_rate_scale(3, None) == 0.125  # a resume moved the parts later: not back up


def test_surplus_keeps_the_fittest_of_the_stepped_species_and_announces_each_new_part(caplog):
    p = SettleProgress(Settling(generation=2, keep=4, rungs=2, end_generation=6))
    assert p.keeps_fittest
    assert p.settled(2, 1, 0.0, 0.0)
    cands = [CullCandidate(i, i % 2, 2, 0.5, 0.5, fitness=i / 10) for i in range(10)]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert [c.network_id for c in p.surplus(2, cands, None, None)] == [0, 1, 2, 3, 4, 5]  # 4 kept
        # asynchronous mode: only species 0 stepped; species 1's networks are not judged yet
        assert [c.network_id for c in p.surplus(2, cands, {0}, None)] == [0]  # 0, 2, 4, 6, 8: 4 kept
        assert [c.network_id for c in p.surplus(3, cands, None, None)] == list(range(8))  # part 1: 2 kept
        assert [c.network_id for c in p.surplus(4, cands, None, None)] == list(range(8))  # same part: no line
    assert lines(caplog) == [
        "generation 3: halved (ecosystem.settle_rungs): the 2 fittest networks train on from generation 4"
    ]
    assert p.part_shown == 1


def test_a_part_that_only_lowers_the_rate_gets_its_own_line(caplog):
    p = SettleProgress(Settling(generation=2, keep=2, rungs=3, end_generation=8, lr_decay=0.5))
    assert p.settled(2, 1, 0.0, 0.0)
    cands = [CullCandidate(i, 0, 2, 0.5, 0.5, fitness=i / 10) for i in range(3)]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        for g in range(2, 8):
            p.surplus(g, cands, None, None)
    assert lines(caplog) == [
        "generation 3: halved (ecosystem.settle_rungs): the fittest network trains on from generation 4 at 0.25× "
        "the learning rate",
        "generation 5: the learning rate drops (ecosystem.settle_lr_decay) to 0.125× from generation 6",
    ]  # generation 7: the next part would begin after the run's last generation, no line


def test_no_line_for_a_part_that_begins_after_the_last_generation(caplog):
    p = SettleProgress(Settling(generation=0, keep=8, rungs=3, end_generation=2))
    assert p.settled(0, -1, 0.0, 0.0)
    cands = [CullCandidate(i, 0, 2, 0.5, 0.5, fitness=i / 10) for i in range(10)]
    assert p.part_shown == 1  # the settle line named part 1 (generation 1): no halving line for it
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert len(p.surplus(0, cands, None, None)) == 6
        assert len(p.surplus(1, cands, None, None)) == 6  # part 2 would begin in generation 2: the run has ended
    assert lines(caplog) == [] and p.part_shown == 1


def test_the_last_generation_keeps_its_part_when_the_compute_budget_ends_the_run(caplog):
    """A part that would begin after the budget is spent halves nothing: the logged final
    population is the last part's keep (it was halved for a part that never began)."""
    p = SettleProgress(Settling(macs=100.0, keep=8, rungs=2, end_macs=300.0))
    assert p.settled(3, 2, 120.0, 150.0) and p.part_shown == 0
    cands = [CullCandidate(i, 0, 2, 0.5, 0.5, fitness=i / 10) for i in range(10)]
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert len(p.surplus(3, cands, None, 150.0)) == 2  # part 0: 8 kept
        assert len(p.surplus(4, cands, None, 190.0)) == 2  # the run goes on, still part 0
        assert len(p.surplus(5, cands, None, 310.0)) == 2  # the budget is spent: the run ends, 8 kept
    assert lines(caplog) == [] and p.part_shown == 0


def test_the_last_generation_keeps_its_part_when_the_generation_cap_ends_a_budgeted_run(caplog):
    """A compute-budgeted run that ``run.generations`` ends first (the review's find, session 37):
    its last generation is in part 0; part 1 would begin after it and halves nothing, no line."""
    from ecosim.config import EcosystemConfig, RunConfig

    eco = EcosystemConfig(settle=0.25, settle_keep=8, settle_rungs=2, population=16, max_population=20)
    s = Settling.of(RunConfig(generations=6, train_macs=1000), eco)
    assert s is not None and s.end_generation == 6
    p = SettleProgress(s)
    assert p.settled(3, 2, 300.0, 450.0)
    cands = [CullCandidate(i, 0, 2, 0.5, 0.5, fitness=i / 10) for i in range(10)]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert len(p.surplus(4, cands, None, 600.0, 450.0)) == 2  # part 0 (600 < 625): 8 kept
        assert len(p.surplus(5, cands, None, 750.0, 600.0)) == 2  # the cap ends the run: 8 kept, not 4
    assert lines(caplog) == []


def test_a_settle_point_on_the_last_generation_keeps_every_kept_network():
    p = SettleProgress(Settling(generation=3, keep=8, rungs=3, end_generation=4))
    assert p.settled(3, 2, 0.0, 0.0)
    cands = [CullCandidate(i, 0, 2, 0.5, 0.5, fitness=i / 10) for i in range(10)]
    assert len(p.surplus(3, cands, None, None)) == 2  # 8 kept (it halved to 2 before)
    assert SettleProgress(Settling(generation=3, keep=0, end_generation=4)).surplus(3, cands, None, None) == []


def test_asynchronous_steps_halve_only_at_the_generations_last_step(caplog):
    """Asynchronous mode (the review's find, session 37): a step before the generation's last keeps
    the current part's networks, whatever compute it has seen; the last step judges the next part,
    and the run's end, on the whole generation, so an end right after a part boundary halves nothing."""
    cands = [CullCandidate(i, i % 2, 2, 0.5, 0.5, fitness=i / 10) for i in range(20)]
    for last_step_spent, kept, said in ((310.0, 8, []), (250.0, 4, ["halved"])):
        p = SettleProgress(Settling(macs=100.0, keep=8, rungs=2, end_macs=300.0))
        assert p.settled(3, 2, 120.0, 150.0)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger=LOGGER):
            early = p.surplus(3, cands, {0}, 210.0, 150.0, complete=False)  # past the boundary, not the end
            assert len(early) == 2  # species 0's 10 networks: its 8 fittest stay
            left = [c for c in cands if c not in early]
            last = p.surplus(3, left, {0, 1}, last_step_spent, 150.0, complete=True)
        assert len(left) - len(last) == kept
        assert [m.split(" (")[0].split(": ")[1] for m in lines(caplog)] == said


def test_offspring_born_at_or_past_the_point_are_culled_untrained_earlier_ones_train_once():
    """Asynchronous mode with a compute point (the second helper's find, session 37): a species that ran
    ahead into the settle generation made offspring before the point was known; they are culled at
    the point, untrained. An offspring born before it (generation 2) still trains once."""
    p = SettleProgress(Settling(macs=100.0, keep=2, end_macs=300.0))
    assert p.settled(3, 2, 120.0, 150.0)
    trained = [CullCandidate(i, 0, 2, 0.5, 0.5, fitness=i / 10) for i in range(4)]
    early = CullCandidate(10, 1, 0, 0.5, 0.5, offspring=True, born_generation=2)
    late = CullCandidate(11, 1, 0, 0.5, 0.5, offspring=True, born_generation=3)
    culled = p.surplus(3, [*trained, early, late], None, 160.0, 150.0)
    assert [c.network_id for c in culled] == [0, 1, 11]


def test_a_resume_that_moves_the_point_later_stays_settled():
    p = SettleProgress(Settling(generation=7))
    p.settled_from = 3  # from the checkpoint of the shorter run
    assert p.settled(3, 2, 0.0, 0.0) and p.no_offspring(4, 2, 0.0, 0.0) and not p.settled(2, 1, 0.0, 0.0)


def test_the_budget_clause_names_what_the_schedule_missed():
    p = SettleProgress(Settling(macs=100.0, keep=8, rungs=3, end_macs=400.0))
    assert p.short_of_budget(9, 50.0) == "; the run never reached its settle point (100 MACs)"
    assert p.short_of_budget(9, 250.0) == "; the settle schedule ended in part 2 of 3 (part 3 never began)"
    assert p.short_of_budget(9, 350.0) == ""
    p.settled_from = 9
    assert p.short_of_budget(9, 250.0) == "; it settled in its last generation (9): no network trained after the point"


def test_the_state_round_trips_with_the_checkpoint_keys_and_older_states_default():
    p = SettleProgress(Settling(generation=2, keep=2, rungs=3, end_generation=8, lr_decay=0.5))
    p.settled_from, p.part_shown, p.lowest_lr_scale = 2, 1, 0.25
    state = p.to_json()
    assert json.dumps(state) == '{"settled_from": 2, "lowest_lr_scale": 0.25, "part_shown": 1}'
    again = SettleProgress(p.settling)
    again.restore(json.loads(json.dumps(state)))
    assert (again.settled_from, again.part_shown, again.lowest_lr_scale) == (2, 1, 0.25)
    older = SettleProgress(p.settling)
    older.restore({"next_network_id": 3})  # a state written before 0.9
    assert (older.settled_from, older.part_shown, older.lowest_lr_scale) == (None, 0, 1.0)
